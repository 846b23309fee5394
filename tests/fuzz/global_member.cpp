// libFuzzer harness: dist::global_member, a nodus node's part in Erlang's global, fed the
// messages a BEAM peer may send global_name_server (any term: the input is decoded as a sequence
// of terms, each 2-byte length-prefixed), between node up and node down of two peers. What it
// sends goes nowhere; it must never crash, whatever the order or the shapes.
#include <cstddef>
#include <cstdint>
#include <span>

#include <nodus/codec/etf/decode.hpp>
#include <nodus/dist/global_member.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static nodus::logger& log = [&]() -> nodus::logger& {
    static nodus::logger l;
    l.set_level(nodus::log_level::off);
    return l;
  }();
  nodus::dist::global_member::hooks h;
  h.send_to_name = [](const nodus::node_name&, std::string_view, const nodus::etf::term&) {};
  h.send_to_pid = [](const nodus::node_name&, const nodus::etf::pid&, const nodus::etf::term&) {};
  h.send_control = [](const nodus::node_name&, const nodus::etf::term&) {};
  h.connect = [](const nodus::node_name&) {};
  h.disconnect = [](const nodus::node_name&) {};
  h.is_native = [](const nodus::node_name&) { return false; };
  nodus::dist::global_member g(log, h);
  nodus::etf::pid self{nodus::etf::atom("n1@127.0.0.1"), 0, 0, 7};
  g.start(self);
  const auto e1 = nodus::node_name::parse("e1@127.0.0.1").value();
  const auto e2 = nodus::node_name::parse("e2@127.0.0.1").value();
  g.node_up(e1);
  g.node_up(e2);
  std::size_t at = 0;
  while (at + 2 <= size) {
    const std::size_t n = (std::size_t{data[at]} << 8) | data[at + 1];
    at += 2;
    if (n > size - at) break;
    auto t = nodus::etf::decode(
        std::span<const std::byte>(reinterpret_cast<const std::byte*>(data + at), n));
    at += n;
    if (!t) continue;
    // The first byte of the frame picks the sender; a reference in the term may end a monitor.
    const auto& peer = (n != 0 && (data[at - n] & 1) != 0) ? e2 : e1;
    g.on_message(peer, *t);
    if (const auto* r = t->as_reference()) (void)g.on_monitor_exit(peer, *r);
  }
  g.node_down(e1);
  (void)g.synced();
  g.node_down(e2);
  g.stop();
  return 0;
}

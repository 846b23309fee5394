// The fuzzers' seed corpora, written by nodus's own encoders: seeds DIR writes DIR/<harness>/N
// for each harness of tests/fuzz/ (etf_decode, erlang_frame, global_member, native_message).
// Built and run by tests/fuzz/run.sh.
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <nodus/codec/codec.hpp>
#include <nodus/codec/etf/encode.hpp>
#include <nodus/codec/etf/term.hpp>
#include <nodus/dist/erlang_frame.hpp>

#include "message.hpp"

namespace fs = std::filesystem;
namespace etf = nodus::etf;
using etf::atom;
using etf::term;

namespace {

using fuzz::everything;
using fuzz::point;

void write(const fs::path& dir, int n, const std::vector<std::byte>& bytes) {
  fs::create_directories(dir);
  std::ofstream out(dir / std::to_string(n), std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}
std::vector<std::byte> encoded(const term& t) {
  std::vector<std::byte> b;
  (void)etf::encode(t, b);
  return b;
}
// A length-prefixed sequence (2-byte big-endian lengths), as the sequence harnesses read.
void append_framed(std::vector<std::byte>& out, const std::vector<std::byte>& one) {
  out.push_back(std::byte(one.size() >> 8));
  out.push_back(std::byte(one.size() & 0xff));
  out.insert(out.end(), one.begin(), one.end());
}
term tuple(std::vector<term> items) { return term::tuple(std::move(items)); }
term a(const char* name) { return term(atom(name)); }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: seeds DIR\n";
    return 2;
  }
  const fs::path root = argv[1];
  const etf::pid e1{atom("e1@127.0.0.1"), 91, 0, 1733490000};
  const etf::pid n1{atom("n1@127.0.0.1"), 0, 0, 7};
  const etf::reference ref{atom("e1@127.0.0.1"), 1733490000, 3, {24574, 3518300162u, 3753052659u}};
  const std::vector<term> terms = {
      tuple({a("$gen_call"), tuple({term(e1), term::list({a("alias")}, term(ref))}), a("ping")}),
      tuple({term::list({a("alias")}, term(ref)), tuple({a("ok"), a("n1@127.0.0.1"), a("pong")})}),
      a("pong"),
      term::binary("0123456789abcdef"),
      term::list({term(1), term(2), term(300), term(-70000), term(1.5)}),
      term::list({term(1)}, term(2)),  // improper
      term::map({{a("key"), term(1)}, {term::binary("k"), term::nil()}}),
      term(etf::big_integer{false, std::vector<std::uint8_t>(32, 0xff)}),
      term(std::uint64_t(-1)),
      tuple({term(e1), term(ref), term(etf::port{atom("e1@127.0.0.1"), 5, 1})}),
      term(etf::bit_binary{{std::byte{0xa0}}, 3}),
  };
  int n = 0;
  for (const auto& t : terms) write(root / "etf_decode", n++, encoded(t));

  // BEAM frames: a call by name, a monitor, a send to a pid, a monitor exit, a link.
  auto frame = [](const term& control, const term* message) {
    return nodus::dist::erlang_frame_bytes(control, message).value();
  };
  const term call = terms[0];
  const std::vector<std::vector<std::byte>> frames = {
      frame(nodus::dist::reg_send_control(e1, atom("beam_facing")), &call),
      frame(nodus::dist::monitor_p_control(e1, a("beam_facing"), ref), nullptr),
      frame(nodus::dist::send_control(n1), &terms[1]),
      frame(nodus::dist::monitor_p_exit_control(a("box"), n1, ref, a("noproc")), nullptr),
      frame(tuple({term(1), term(e1), term(n1)}), nullptr),
  };
  n = 0;
  std::vector<std::byte> all;
  for (const auto& f : frames) {
    std::vector<std::byte> one;
    append_framed(one, f);
    write(root / "erlang_frame", n++, one);
    append_framed(all, f);
  }
  write(root / "erlang_frame", n++, all);
  // The same frames as pass-through frames (112).
  for (const auto& f : frames) {
    std::vector<std::byte> one;
    append_framed(one, nodus::dist::as_pass_through(f).value());
    write(root / "erlang_frame", n++, one);
  }

  // global_name_server's traffic from e1, in the order of a connect session (OTP 25 global.erl).
  const term tag = term(-576460752303423391);
  auto cast = [](term request) { return tuple({a("$gen_cast"), std::move(request)}); };
  auto gen_call = [&](term request) {
    return tuple({a("$gen_call"), tuple({term(e1), term(ref)}), std::move(request)});
  };
  const term lock_id = tuple({a("global"), term::list({term(e1), term(n1)})});
  const std::vector<term> session = {
      cast(tuple({a("init_connect"), tuple({term(8), tag}), a("e1@127.0.0.1"),
                  tuple({a("locker"), a("no_longer_a_pid"), term::map({}), term(e1)})})),
      tuple({a("init_connect_ack"), a("e1@127.0.0.1"), term(1), tag}),
      gen_call(tuple({a("set_lock"), lock_id})),
      cast(tuple({a("lock_set"), term(e1), a("true"), term::nil(), term(1)})),
      cast(
          tuple({a("exchange"), a("e1@127.0.0.1"),
                 term::list({tuple({a("g_box"), term(e1), a("resolve")})}), term::nil(), term(1)})),
      cast(tuple({a("resolved"), a("e1@127.0.0.1"), term::nil(),
                  term::list({tuple({a("e2@127.0.0.1"), term(8)})}), a("unused"), term::nil(),
                  term(1)})),
      gen_call(tuple({a("del_lock"), lock_id})),
      cast(tuple({a("new_nodes"), a("e1@127.0.0.1"), term::nil(), term::nil(),
                  term::list({tuple({a("e3@127.0.0.1"), term(8)})}), term::nil()})),
      cast(tuple({a("in_sync"), a("e2@127.0.0.1"), a("true")})),
      gen_call(tuple({a("register"), a("g_box"), term(e1), a("resolve")})),
      gen_call(a("get_known")),
      tuple({a("lost_connection"), a("e2@127.0.0.1"), term(5), term(1), a("e1@127.0.0.1")}),
      tuple({a("remove_connection"), a("e1@127.0.0.1")}),
      tuple({a("cancel_connect"), a("e1@127.0.0.1"), term(1)}),
  };
  std::vector<std::byte> whole;
  n = 0;
  for (const auto& m : session) {
    std::vector<std::byte> one;
    append_framed(one, encoded(m));
    write(root / "global_member", n++, one);
    append_framed(whole, encoded(m));
  }
  write(root / "global_member", n++, whole);

  // Native messages.
  const everything e{7,
                     true,
                     0.25,
                     "hello",
                     atom("news"),
                     e1,
                     {1, -2, 3},
                     {{"widget", 3, true}, {"", 0, false}},
                     {point{1, 2}, point{-3, 4}},
                     {atom("a"), atom("été")},
                     {"last", 9, true}};
  const everything empty{};
  n = 0;
  for (const auto* m : {&e, &empty}) {
    nodus::codec::gather_list out;
    nodus::codec::encode(*m, out);
    std::vector<std::byte> bytes;
    for (const auto& part : out.parts) bytes.insert(bytes.end(), part.begin(), part.end());
    write(root / "native_message", n++, bytes);
  }
  std::cout << "seeds written to " << root.string() << "\n";
  return 0;
}

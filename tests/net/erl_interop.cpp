// The handshake against a real Erlang node (Debian package erlang-base), over loopback TCP.
//
// How erl runs here, without any epmd: `-start_epmd false -erl_epmd_port P` makes the node listen
// on port P and assume every other node listens on P too (lib/kernel/src/erl_epmd.erl); with
// `-kernel inet_dist_use_interface {127,0,0,1}` it binds 127.0.0.1:P only. For erl to dial us we
// listen on 127.0.0.2:P (all of 127.0.0.0/8 is loopback on Linux): erl connects to
// nodus_b@127.0.0.2 at the same port P. erl reads commands on stdin ("connect NODE") and halts on
// end of input, and after 60 s in any case. Skipped (not failed) when `erl` is not installed.
#include <boost/test/unit_test.hpp>

#include <mutex>
#include <thread>

#include <nodus/nodus.hpp>

#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <asio/buffer.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "nodus/dist/erlang_frame.hpp"
#include "nodus/net/dist_flags.hpp"
#include "nodus/net/handshake.hpp"

#include "erl_child.hpp"

extern char** environ;

namespace hs = nodus::net::handshake;
namespace net = nodus::net;
using asio::ip::tcp;
using namespace std::chrono_literals;
using nodus::errc;
using nodus::node_name;
using namespace nodus::literals;

namespace {

using bytes = std::vector<std::byte>;
using clock_type = std::chrono::steady_clock;

constexpr auto step_timeout = 10s;  // bound of every single wait below

using erl_test::erl_installed;
using erl_test::erl_process;
using erl_test::erl_program;

std::string hex(std::span<const std::byte> b, std::size_t max = 64) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < b.size() && i < max; ++i) {
    const auto v = std::to_integer<unsigned>(b[i]);
    s += digits[v >> 4];
    s += digits[v & 15];
  }
  if (b.size() > max) s += "...";
  return s;
}

constexpr const char* erl_cookie = "nodus_interop_cookie";

// Runs `fn(handler)` as one asynchronous operation and waits for it at most `timeout`;
// asio::error::timed_out when it did not complete in time (it is then cancelled).
template <class Closable, class Start>
std::error_code run_bounded(asio::io_context& io, Closable& object, clock_type::duration timeout,
                            Start start) {
  std::optional<std::error_code> outcome;
  io.restart();
  start([&](std::error_code ec, auto&&...) { outcome = ec; });
  io.run_for(timeout);
  if (!outcome) {
    std::error_code ignored;
    object.cancel(ignored);
    io.restart();
    io.run();
    return asio::error::timed_out;
  }
  return *outcome;
}

std::error_code write_all(asio::io_context& io, tcp::socket& s, const bytes& data) {
  if (data.empty()) return {};
  return run_bounded(io, s, step_timeout,
                     [&](auto handler) { asio::async_write(s, asio::buffer(data), handler); });
}

// What running a handshake over a socket gave.
struct driven {
  std::error_code io_error;     // the socket error that ended it early (eof: the peer closed)
  std::vector<bytes> received;  // each handshake message body received, in order
  bytes leftover;               // bytes after the last handshake message (4-byte framed phase)
};

// Drives m over s until it finishes or the socket fails; the acceptor answers `decision` to the
// send_name, the initiator answers true to `alive`.
driven drive(asio::io_context& io, tcp::socket& s, hs::machine& m,
             hs::status decision = hs::status::ok) {
  driven d;
  bytes buffer;
  for (;;) {
    if (m.current() == hs::machine::state::awaiting_status_decision) m.reply_status(decision);
    if (m.current() == hs::machine::state::awaiting_alive_answer) m.answer_alive(true);
    if (auto ec = write_all(io, s, m.take_output())) {
      d.io_error = ec;
      break;
    }
    if (m.finished()) break;
    // Handle every complete message already buffered, else read more.
    if (auto f = hs::split_frame(buffer)) {
      d.received.emplace_back(f->body.begin(), f->body.end());
      (void)m.feed(f->body);  // the outcome is in m.current() / m.failure()
      buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(f->size));
      continue;
    }
    std::byte chunk[4096];
    std::size_t got = 0;
    const auto ec = run_bounded(io, s, step_timeout, [&](auto handler) {
      s.async_read_some(asio::buffer(chunk), [&got, handler](std::error_code e, std::size_t n) {
        got = n;
        handler(e);
      });
    });
    buffer.insert(buffer.end(), chunk, chunk + got);
    if (ec) {
      d.io_error = ec;
      break;
    }
  }
  d.leftover = std::move(buffer);
  return d;
}

// Reads post-handshake frames (4-byte length prefix) for about `window`; returns their bodies.
std::vector<bytes> read_frames(asio::io_context& io, tcp::socket& s, bytes& buffer,
                               clock_type::duration window) {
  std::vector<bytes> frames;
  const auto deadline = clock_type::now() + window;
  for (;;) {
    while (buffer.size() >= 4) {
      const std::size_t n = (std::to_integer<std::size_t>(buffer[0]) << 24) |
                            (std::to_integer<std::size_t>(buffer[1]) << 16) |
                            (std::to_integer<std::size_t>(buffer[2]) << 8) |
                            std::to_integer<std::size_t>(buffer[3]);
      if (buffer.size() - 4 < n) break;
      frames.emplace_back(buffer.begin() + 4, buffer.begin() + 4 + static_cast<std::ptrdiff_t>(n));
      buffer.erase(buffer.begin(), buffer.begin() + 4 + static_cast<std::ptrdiff_t>(n));
    }
    const auto now = clock_type::now();
    if (now >= deadline) break;
    std::byte chunk[4096];
    std::size_t got = 0;
    const auto ec = run_bounded(io, s, deadline - now, [&](auto handler) {
      s.async_read_some(asio::buffer(chunk), [&got, handler](std::error_code e, std::size_t n) {
        got = n;
        handler(e);
      });
    });
    buffer.insert(buffer.end(), chunk, chunk + got);
    if (ec) break;
  }
  return frames;
}

hs::options our_options(const char* name, std::string cookie) {
  hs::options o;
  o.self = node_name::parse(name).value();
  o.cookie = std::move(cookie);
  auto challenge = hs::random_challenge();
  BOOST_REQUIRE(challenge);
  o.challenge = *challenge;
  o.creation = 0x6e6f6475;  // "nodu"
  return o;
}

// A running `erl -name probe@127.0.0.1` reachable on 127.0.0.1:port, and our listener on
// 127.0.0.2:port for erl to dial. Construction fails the test (with erl's output) when erl does
// not come up within the step timeout.
struct erl_fixture {
  asio::io_context io;
  tcp::acceptor alt{io};  // 127.0.0.2:port
  unsigned short port = 0;
  std::optional<erl_process> erl;

  erl_fixture() {
    ::signal(SIGPIPE, SIG_IGN);  // a write to an erl that died must fail, not kill us
    for (int attempt = 0; attempt < 50 && port == 0; ++attempt) {
      tcp::acceptor probe(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
      const unsigned short p = probe.local_endpoint().port();
      std::error_code ec;
      alt.open(tcp::v4(), ec);
      if (!ec) alt.bind(tcp::endpoint(asio::ip::make_address("127.0.0.2"), p), ec);
      if (!ec) alt.listen(asio::socket_base::max_listen_connections, ec);
      if (ec) {
        alt.close(ec);
        continue;
      }
      port = p;  // `probe` closes here, just before erl binds 127.0.0.1:port
    }
    BOOST_REQUIRE_MESSAGE(port != 0, "no loopback port free on both 127.0.0.1 and 127.0.0.2");
    const std::string p = std::to_string(port);
    // clang-format off
    erl.emplace(std::vector<std::string>{
        "erl", "-name", "probe@127.0.0.1", "-setcookie", erl_cookie, "-noshell",
        "-start_epmd", "false", "-erl_epmd_port", p,
        "-kernel", "inet_dist_use_interface", "{127,0,0,1}",
        "-kernel", "inet_dist_listen_min", p, "-kernel", "inet_dist_listen_max", p,
        "-eval", erl_program});
    // clang-format on
    const auto ready = erl->wait_for("ready probe@127.0.0.1");
    BOOST_REQUIRE_MESSAGE(ready.has_value(), "erl did not start:\n" << erl->transcript());
    BOOST_TEST_MESSAGE("erl up on 127.0.0.1:" << port << ": " << *ready);
  }

  tcp::socket dial() {
    tcp::socket s(io);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));  // loopback: immediate
    return s;
  }

  // accept_bounded() -> the connection erl made to 127.0.0.2:port, or nullopt after the timeout.
  std::optional<tcp::socket> accept_bounded() {
    tcp::socket s(io);
    const auto ec =
        run_bounded(io, alt, step_timeout, [&](auto handler) { alt.async_accept(s, handler); });
    if (ec) return std::nullopt;
    return s;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(erl_interop)

BOOST_AUTO_TEST_CASE(we_dial_erl_with_the_right_cookie) {
  if (!erl_installed()) {
    BOOST_TEST_MESSAGE("erl is not installed (Debian: apt-get install erlang-base): skipped");
    return;
  }
  erl_fixture f;
  tcp::socket s = f.dial();
  auto a =
      hs::machine::initiator(our_options("nodus_a@127.0.0.1", erl_cookie), "probe@127.0.0.1"_node);
  const driven d = drive(f.io, s, a);
  BOOST_REQUIRE_MESSAGE(a.done(), "handshake state " << hs::to_string(a.current()) << ": "
                                                     << a.failure().message()
                                                     << " (io: " << d.io_error.message() << ")\n"
                                                     << f.erl->transcript());
  BOOST_TEST(!a.nodus_peer());
  BOOST_TEST(a.published());
  BOOST_TEST((a.peer_flags() & net::dflag_nodus) == 0u);
  BOOST_TEST((a.peer_flags() & net::dflags_mandatory_25) == net::dflags_mandatory_25);
  for (const bytes& body : d.received) BOOST_TEST_MESSAGE("erl sent (handshake) " << hex(body));
  BOOST_TEST_MESSAGE("erl flags: 0x" << std::hex << a.peer_flags() << std::dec << " = "
                                     << net::describe_dist_flags(a.peer_flags()));
  BOOST_TEST_MESSAGE("in use:    " << net::describe_dist_flags(a.flags()));

  // erl counts us as up; it sends its own traffic at once (4-byte frames).
  const auto up = f.erl->wait_for("nodeup nodus_a@127.0.0.1");
  BOOST_TEST(up.has_value(), "no nodeup from erl:\n" << f.erl->transcript());
  bytes pending = d.leftover;
  const auto frames = read_frames(f.io, s, pending, 500ms);
  std::size_t total = 0;
  for (const bytes& fr : frames) {
    total += fr.size();
    BOOST_TEST_MESSAGE("erl sent frame of " << fr.size() << " bytes: " << hex(fr, 24));
    // With DFLAG_DIST_HDR_ATOM_CACHE in use (nodus offers it), BEAM's messages start with the
    // distribution header (131 68, or 69 for a fragment); without it with 112 (pass through).
    // Empty frames are ticks.
    if (fr.empty()) continue;
    if ((a.flags() & net::dflag_dist_hdr_atom_cache) != 0) {
      BOOST_TEST(std::to_integer<int>(fr[0]) == 131);
      BOOST_TEST((fr.size() >= 2 &&
                  (std::to_integer<int>(fr[1]) == 68 || std::to_integer<int>(fr[1]) == 69)));
    } else {
      BOOST_TEST(std::to_integer<int>(fr[0]) == 112);
    }
  }
  BOOST_TEST_MESSAGE("erl sent " << frames.size() << " frames, " << total << " bytes");

  // Closing the connection: erl sees the node go down.
  s.close();
  BOOST_TEST(f.erl->wait_for("nodedown nodus_a@127.0.0.1").has_value(), "no nodedown from erl:\n"
                                                                            << f.erl->transcript());
}

// What erl sends when the distribution header is in use, read by dist::erlang_reader as a nodus
// node reads it: global's traffic at connect sets atom cache entries, and a 1 MB message comes in
// fragments that reassemble to the binary erl sent.
BOOST_AUTO_TEST_CASE(erl_uses_the_atom_cache_and_fragments_that_erlang_reader_reads) {
  if (!erl_installed()) return;
  erl_fixture f;
  tcp::socket s = f.dial();
  auto a =
      hs::machine::initiator(our_options("nodus_h@127.0.0.1", erl_cookie), "probe@127.0.0.1"_node);
  const driven d = drive(f.io, s, a);
  BOOST_REQUIRE_MESSAGE(a.done(), a.failure().message() << "\n" << f.erl->transcript());
  BOOST_REQUIRE((a.flags() & net::dflag_dist_hdr_atom_cache) != 0u);
  BOOST_REQUIRE((a.flags() & net::dflag_fragments) != 0u);
  BOOST_REQUIRE(f.erl->wait_for("nodeup nodus_h@127.0.0.1").has_value());
  BOOST_REQUIRE(f.erl->write_line("send nodus_h@127.0.0.1 1000000"));
  BOOST_REQUIRE(f.erl->wait_for("sent").has_value());

  nodus::dist::erlang_reader reader;
  bytes pending = d.leftover;
  std::optional<nodus::dist::erlang_frame> big;
  const auto deadline = clock_type::now() + step_timeout;
  while (!big && clock_type::now() < deadline) {
    for (const bytes& fr : read_frames(f.io, s, pending, 100ms)) {
      if (fr.empty()) continue;  // a tick
      auto r = reader.read(fr);
      BOOST_REQUIRE_MESSAGE(r.has_value(), r.error().message() << " in " << hex(fr));
      if (*r && (*r)->op == nodus::dist::erlang_op::reg_send &&
          (*r)->control.to_string(200).find("sink") != std::string::npos) {
        big = std::move(**r);
      }
    }
  }
  BOOST_REQUIRE_MESSAGE(big.has_value(), "erl's message to sink did not come");
  const auto* t = big->message.as_tuple();
  BOOST_REQUIRE(t != nullptr);
  BOOST_REQUIRE(t->size() == 2u);
  BOOST_TEST((*t)[0].is_atom("big"));
  const auto* bin = (*t)[1].as_binary();
  BOOST_REQUIRE(bin != nullptr);
  BOOST_TEST(bin->size() == 1000000u);
  BOOST_TEST((std::count(bin->begin(), bin->end(), std::byte{7}) == 1000000));
  BOOST_TEST_MESSAGE("erl's frames: " << reader.stats().frames << ", atom cache entries set "
                                      << reader.stats().atom_cache_sets << ", used again "
                                      << reader.stats().atom_cache_hits << ", fragmented "
                                      << reader.stats().fragmented);
  BOOST_TEST(reader.stats().atom_cache_sets > 0u);
  BOOST_TEST(reader.stats().fragmented >= 1u);
}

BOOST_AUTO_TEST_CASE(we_dial_erl_with_a_wrong_cookie) {
  if (!erl_installed()) {
    BOOST_TEST_MESSAGE("erl is not installed (Debian: apt-get install erlang-base): skipped");
    return;
  }
  erl_fixture f;
  {
    tcp::socket s = f.dial();
    auto w = hs::machine::initiator(our_options("nodus_w@127.0.0.1", "not_the_cookie"),
                                    "probe@127.0.0.1"_node);
    const driven d = drive(f.io, s, w);
    // erl checks our challenge reply, finds the digest wrong and closes: no ack ever comes.
    BOOST_TEST((w.current() == hs::machine::state::awaiting_challenge_ack));
    BOOST_TEST((d.io_error == asio::error::eof || d.io_error == asio::error::connection_reset),
               "io: " << d.io_error.message());
    const auto log = f.erl->wait_for("nodus_w@127.0.0.1");
    BOOST_TEST_MESSAGE("erl says: " << log.value_or("(nothing)"));
    BOOST_TEST(log.has_value());
    BOOST_TEST(!f.erl->seen("nodeup nodus_w").has_value());
  }
  // erl is unharmed: the right cookie still connects.
  tcp::socket s = f.dial();
  auto a = hs::machine::initiator(our_options("nodus_after@127.0.0.1", erl_cookie),
                                  "probe@127.0.0.1"_node);
  (void)drive(f.io, s, a);
  BOOST_TEST(a.done(), a.failure().message());
  BOOST_TEST(f.erl->wait_for("nodeup nodus_after@127.0.0.1").has_value(),
             "no nodeup from erl:\n"
                 << f.erl->transcript());
  BOOST_TEST(!f.erl->seen("nodeup nodus_w").has_value());
}

BOOST_AUTO_TEST_CASE(erl_dials_us_with_the_right_cookie) {
  if (!erl_installed()) {
    BOOST_TEST_MESSAGE("erl is not installed (Debian: apt-get install erlang-base): skipped");
    return;
  }
  erl_fixture f;
  BOOST_REQUIRE(f.erl->write_line("connect nodus_b@127.0.0.2"));
  auto s = f.accept_bounded();
  BOOST_REQUIRE_MESSAGE(s.has_value(), "erl did not dial us:\n" << f.erl->transcript());
  auto b = hs::machine::acceptor(our_options("nodus_b@127.0.0.2", erl_cookie));
  const driven d = drive(f.io, *s, b);
  BOOST_REQUIRE_MESSAGE(b.done(), "handshake state " << hs::to_string(b.current()) << ": "
                                                     << b.failure().message()
                                                     << " (io: " << d.io_error.message() << ")\n"
                                                     << f.erl->transcript());
  BOOST_TEST((b.peer() == "probe@127.0.0.1"_node));
  BOOST_TEST(!b.nodus_peer());
  BOOST_REQUIRE(!d.received.empty());
  BOOST_TEST_MESSAGE("erl send_name: " << hex(d.received.front()));
  BOOST_TEST_MESSAGE("erl flags: " << net::describe_dist_flags(b.peer_flags()));
  BOOST_TEST(f.erl->wait_for("connect nodus_b@127.0.0.2 true").has_value(),
             "erl's connect_node did not return true:\n"
                 << f.erl->transcript());
  BOOST_TEST(f.erl->wait_for("nodeup nodus_b@127.0.0.2").has_value());
  s->close();
  BOOST_TEST(f.erl->wait_for("nodedown nodus_b@127.0.0.2").has_value());
}

// A nodus node (the facade) and an Erlang node stay connected: the BEAM's own traffic right after
// the handshake (global's name sync, rex) and its ticks are tolerated, not a reason to disconnect.
BOOST_AUTO_TEST_CASE(a_nodus_node_and_an_erlang_node_stay_connected) {
  if (!erl_installed()) {
    BOOST_TEST_MESSAGE("erl is not installed (Debian: apt-get install erlang-base): skipped");
    return;
  }
  erl_fixture f;
  nodus::options o;
  o.name = "nodus_d@127.0.0.1"_node;
  o.cookie = erl_cookie;
  o.level = nodus::log_level::debug;
  nodus::node<> n{o};
  std::vector<std::string> log;
  std::mutex log_m;
  n.log().set_sink([&](const nodus::log_record& r) {
    std::lock_guard lock(log_m);
    log.emplace_back(r.message);
  });
  BOOST_REQUIRE(n.listen());
  n.run_in_background();
  BOOST_REQUIRE(n.connect("probe@127.0.0.1:" + std::to_string(f.port)));
  BOOST_TEST(f.erl->wait_for("nodeup nodus_d@127.0.0.1").has_value(), f.erl->transcript());
  BOOST_TEST((n.list() == std::vector<nodus::node_name>{"probe@127.0.0.1"_node}));
  // An observation window: erl's first messages arrive within it; the link must survive them.
  std::this_thread::sleep_for(1500ms);
  BOOST_TEST((n.list() == std::vector<nodus::node_name>{"probe@127.0.0.1"_node}));
  BOOST_TEST(!f.erl->seen("nodedown nodus_d@127.0.0.1").has_value());
  {
    std::lock_guard lock(log_m);
    for (const auto& l : log) BOOST_TEST(l.find("disconnecting") == std::string::npos, l);
  }
  BOOST_TEST(n.disconnect("probe@127.0.0.1"_node));
  BOOST_TEST(f.erl->wait_for("nodedown nodus_d@127.0.0.1").has_value());
  n.stop();
  BOOST_TEST(n.join().has_value());
}

BOOST_AUTO_TEST_CASE(erl_dials_us_with_a_wrong_cookie) {
  if (!erl_installed()) {
    BOOST_TEST_MESSAGE("erl is not installed (Debian: apt-get install erlang-base): skipped");
    return;
  }
  erl_fixture f;
  BOOST_REQUIRE(f.erl->write_line("connect nodus_c@127.0.0.2"));
  auto s = f.accept_bounded();
  BOOST_REQUIRE_MESSAGE(s.has_value(), "erl did not dial us:\n" << f.erl->transcript());
  auto b = hs::machine::acceptor(our_options("nodus_c@127.0.0.2", "not_the_cookie"));
  (void)drive(f.io, *s, b);
  BOOST_TEST((b.failure() == errc::bad_cookie), b.failure().message());
  BOOST_TEST(b.failure().reason().find("probe@127.0.0.1") != std::string::npos);
  BOOST_TEST_MESSAGE("our side says: " << b.failure().message());
  s->close();
  BOOST_TEST(f.erl->wait_for("connect nodus_c@127.0.0.2 false").has_value(),
             "erl's connect_node did not return false:\n"
                 << f.erl->transcript());
  BOOST_TEST(!f.erl->seen("nodeup nodus_c").has_value());
}

BOOST_AUTO_TEST_SUITE_END()

// nodus::net::connection over real loopback sockets: handshake, frames both ways, ticks, setup
// timeout, bad input. Every wait is bounded by run_until (the io_context runs in slices until a
// condition holds or a deadline passes); nothing sleeps to synchronise.
#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <asio/buffer.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "nodus/net/connection.hpp"
#include "nodus/net/handshake.hpp"

#include "../common/run_io.hpp"
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

using nodus::test::run_for;
using nodus::test::run_until;

net::connection_options options(const char* self, std::string cookie,
                                std::chrono::milliseconds ticktime = 60s) {
  net::connection_options o;
  o.handshake.self = node_name::parse(self).value();
  o.handshake.cookie = std::move(cookie);
  o.handshake.creation = 0x1234;
  o.handshake.challenge = hs::random_challenge().value();
  o.ticktime = ticktime;
  return o;
}

// padded(b) -> b followed by the zeros that make 4 + size a multiple of net::frame_alignment.
bytes padded(bytes b) {
  while ((net::frame_header_size + b.size()) % net::frame_alignment != 0) b.push_back(std::byte{0});
  return b;
}

bytes pattern(std::size_t n, unsigned seed) {
  bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::byte>((i * 131 + seed) & 0xff);
  return b;
}

// What one side of a connection saw.
struct observed {
  std::optional<node_name> up_peer;
  net::dist_flags up_flags = 0;
  int ups = 0;
  int downs = 0;
  nodus::error down;
  std::vector<bytes> frames;

  net::connection_handlers handlers() {
    net::connection_handlers h;
    h.on_up = [this](const node_name& p, net::dist_flags f) {
      ++ups;
      up_peer = p;
      up_flags = f;
    };
    h.on_frame = [this](std::span<const std::byte> f) { frames.emplace_back(f.begin(), f.end()); };
    h.on_down = [this](const nodus::error& e) {
      ++downs;
      down = e;
    };
    return h;
  }
};

// A listening socket on 127.0.0.1 with an ephemeral port.
struct listener {
  asio::io_context& io;
  tcp::acceptor acceptor{io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};

  [[nodiscard]] std::vector<tcp::endpoint> endpoints() const { return {acceptor.local_endpoint()}; }

  // accept_connection(opts, obs): a nodus acceptor for the next incoming connection.
  void accept_connection(net::connection_options opts, observed& obs,
                         std::shared_ptr<net::connection>& out) {
    acceptor.async_accept([&out, &obs, opts](std::error_code ec, tcp::socket s) mutable {
      BOOST_REQUIRE(!ec);
      out = net::connection::accept(std::move(s), std::move(opts), obs.handlers());
    });
  }

  // accept_raw(): a plain socket for the next incoming connection (bounded).
  tcp::socket accept_raw() {
    std::optional<tcp::socket> s;
    acceptor.async_accept([&](std::error_code ec, tcp::socket sock) {
      BOOST_REQUIRE(!ec);
      s.emplace(std::move(sock));
    });
    BOOST_REQUIRE(run_until(io, [&] { return s.has_value(); }));
    return std::move(*s);
  }
};

// raw_options(self, cookie): the handshake options of a peer that is not a nodus node (as a BEAM
// node: no dflag_nodus), so that frames are not padded.
net::handshake::options raw_options(const char* self, std::string cookie) {
  auto o = options(self, std::move(cookie)).handshake;
  o.flags &= ~net::dflag_nodus;
  return o;
}

// A peer made by hand: a plain socket that runs the initiator's handshake (on the same
// io_context), then does only what the test tells it to. It does not claim to be a nodus node.
struct raw_peer {
  tcp::socket s;
  hs::machine m;
  bytes buf;
  std::size_t used = 0;
  bool finished = false;
  std::error_code ec;

  raw_peer(asio::io_context& io, const char* self, const char* peer, std::string cookie)
      : s(io),
        m(hs::machine::initiator(raw_options(self, std::move(cookie)),
                                 node_name::parse(peer).value())) {}

  void handshake(const std::vector<tcp::endpoint>& at) {
    s.connect(at.front());  // loopback: immediate
    write_output();
    read();
    BOOST_REQUIRE(run_until(static_cast<asio::io_context&>(s.get_executor().context()),
                            [&] { return finished; }));
    BOOST_REQUIRE_MESSAGE(m.done(),
                          "raw handshake: " << m.failure().message() << " / " << ec.message());
  }

  void write_output() {
    if (!m.has_output()) return;
    asio::write(s, asio::buffer(m.take_output()));  // tiny; the peer reads it
  }

  void read() {
    buf.resize(used + 4096);
    s.async_read_some(
        asio::buffer(buf.data() + used, 4096), [this](std::error_code e, std::size_t n) {
          if (e) {
            ec = e;
            finished = true;
            return;
          }
          used += n;
          while (auto f = hs::split_frame(std::span<const std::byte>(buf.data(), used))) {
            (void)m.feed(f->body);
            buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(f->size));
            used -= f->size;
            write_output();
            if (m.finished()) {
              finished = true;
              return;
            }
          }
          read();
        });
  }

  // read_to_end(): everything the socket yields until EOF or an error (bounded); the bytes left
  // over from the handshake first.
  bytes read_to_end() {
    bytes all(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(used));
    bool done = false;
    std::function<void()> step;
    bytes chunk(4096);
    step = [&] {
      s.async_read_some(asio::buffer(chunk), [&](std::error_code e, std::size_t n) {
        all.insert(all.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
        if (e) {
          done = true;
          return;
        }
        step();
      });
    };
    step();
    BOOST_REQUIRE(run_until(static_cast<asio::io_context&>(s.get_executor().context()),
                            [&] { return done; }));
    return all;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(connection)

BOOST_AUTO_TEST_CASE(two_connections_handshake_and_exchange_frames) {
  asio::io_context io;
  listener l{io};
  observed a, b;
  std::shared_ptr<net::connection> ca, cb;
  l.accept_connection(options("b@127.0.0.1", "secret"), b, cb);
  ca = net::connection::dial(io.get_executor(), l.endpoints(), "b@127.0.0.1"_node,
                             options("a@127.0.0.1", "secret"), a.handlers());
  BOOST_REQUIRE(run_until(io, [&] { return a.ups == 1 && b.ups == 1; }));
  BOOST_TEST(a.up_peer->str() == "b@127.0.0.1");
  BOOST_TEST(b.up_peer->str() == "a@127.0.0.1");
  BOOST_TEST((a.up_flags & net::dflag_nodus) != 0u);
  BOOST_TEST(a.up_flags == b.up_flags);

  // Small frames both ways, an owned 1 MiB frame, and a gathered 1 MiB frame of two parts.
  const bytes small = pattern(5, 1);
  const bytes big = pattern(std::size_t{1} << 20, 7);
  auto shared_big = std::make_shared<const bytes>(pattern(std::size_t{1} << 20, 9));
  ca->send(small);
  cb->send(pattern(3, 2));
  ca->send(big);
  cb->send({asio::buffer(shared_big->data(), 1000),
            asio::buffer(shared_big->data() + 1000, shared_big->size() - 1000)},
           shared_big);
  ca->send(pattern(7, 3));
  BOOST_REQUIRE(run_until(io, [&] { return b.frames.size() == 3 && a.frames.size() == 2; }));
  // Between two nodus nodes frames arrive padded with zeros to a multiple of 16 bytes (the
  // 4-byte header included): the payload, then the padding.
  BOOST_TEST((b.frames[0] == padded(small)));
  BOOST_TEST((b.frames[1] == padded(big)));
  BOOST_TEST((b.frames[2] == padded(pattern(7, 3))));
  BOOST_TEST((a.frames[0] == padded(pattern(3, 2))));
  BOOST_TEST((a.frames[1] == padded(*shared_big)));
  BOOST_TEST(ca->native());
  BOOST_TEST(cb->native());

  // close() on one side: on_down once on each, with the reasons Erlang gives.
  ca->close();
  ca->close();
  BOOST_REQUIRE(run_until(io, [&] { return a.downs == 1 && b.downs == 1; }));
  BOOST_TEST((a.down == errc::nodedown));
  BOOST_TEST(a.down.reason().find("disconnect") == 0u, a.down.message());
  BOOST_TEST((b.down == errc::nodedown));
  BOOST_TEST(b.down.reason().find("connection_closed") == 0u, b.down.message());
  cb->close();
  cb->send(small);  // after on_down: dropped
  run_for(io, 50ms);
  BOOST_TEST(a.downs == 1);
  BOOST_TEST(b.downs == 1);
  // Nothing holds the connections once their operations finished.
  std::weak_ptr<net::connection> wa = ca, wb = cb;
  ca.reset();
  cb.reset();
  BOOST_REQUIRE(run_until(io, [&] { return wa.expired() && wb.expired(); }));
}

BOOST_AUTO_TEST_CASE(close_from_inside_on_frame_reports_down_once) {
  asio::io_context io;
  listener l{io};
  observed a, b;
  std::shared_ptr<net::connection> ca, cb;
  int frames_seen = 0;
  auto handlers_b = b.handlers();
  handlers_b.on_frame = [&](std::span<const std::byte>) {
    ++frames_seen;
    cb->close();  // re-entrant: on_down runs now, the frames after this one are not delivered
    cb->close();
  };
  l.acceptor.async_accept([&](std::error_code ec, tcp::socket s) {
    BOOST_REQUIRE(!ec);
    cb = net::connection::accept(std::move(s), options("b@127.0.0.1", "secret"), handlers_b);
  });
  ca = net::connection::dial(io.get_executor(), l.endpoints(), "b@127.0.0.1"_node,
                             options("a@127.0.0.1", "secret"), a.handlers());
  BOOST_REQUIRE(run_until(io, [&] { return a.ups == 1 && b.ups == 1; }));
  for (unsigned i = 0; i < 3; ++i) ca->send(pattern(10, i));  // one batch, likely one read
  BOOST_REQUIRE(run_until(io, [&] { return a.downs == 1 && b.downs == 1; }));
  BOOST_TEST(frames_seen == 1);
  BOOST_TEST(b.down.reason().find("disconnect") == 0u, b.down.message());
  cb.reset();  // safe once on_down ran
  ca.reset();
  run_for(io, 20ms);
}

BOOST_AUTO_TEST_CASE(wrong_cookie_is_bad_cookie_on_both_sides) {
  asio::io_context io;
  listener l{io};
  observed a, b;
  std::shared_ptr<net::connection> ca, cb;
  l.accept_connection(options("b@127.0.0.1", "secret"), b, cb);
  ca = net::connection::dial(io.get_executor(), l.endpoints(), "b@127.0.0.1"_node,
                             options("a@127.0.0.1", "not_the_secret"), a.handlers());
  BOOST_REQUIRE(run_until(io, [&] { return a.downs == 1 && b.downs == 1; }));
  BOOST_TEST(a.ups == 0);
  BOOST_TEST(b.ups == 0);
  BOOST_TEST((a.down == errc::bad_cookie), a.down.message());
  BOOST_TEST((b.down == errc::bad_cookie), b.down.message());
  BOOST_TEST(a.down.reason().find("b@127.0.0.1") != std::string::npos, a.down.message());
  BOOST_TEST(b.down.reason().find("a@127.0.0.1") != std::string::npos, b.down.message());
  BOOST_TEST_MESSAGE("initiator: " << a.down.message());
  BOOST_TEST_MESSAGE("acceptor:  " << b.down.message());
}

BOOST_AUTO_TEST_CASE(ticks_keep_an_idle_link_up) {
  asio::io_context io;
  listener l{io};
  observed a, b;
  std::shared_ptr<net::connection> ca, cb;
  l.accept_connection(options("b@127.0.0.1", "secret", 400ms), b, cb);
  ca = net::connection::dial(io.get_executor(), l.endpoints(), "b@127.0.0.1"_node,
                             options("a@127.0.0.1", "secret", 400ms), a.handlers());
  BOOST_REQUIRE(run_until(io, [&] { return a.ups == 1 && b.ups == 1; }));
  run_for(io, 1200ms);  // three tick times without traffic
  BOOST_TEST(a.downs == 0, a.down.message());
  BOOST_TEST(b.downs == 0, b.down.message());
  BOOST_TEST(a.frames.empty());  // ticks are not frames
  BOOST_TEST(b.frames.empty());
  ca->close();
  BOOST_REQUIRE(run_until(io, [&] { return a.downs == 1 && b.downs == 1; }));
}

BOOST_AUTO_TEST_CASE(a_silent_peer_is_down_after_ticktime) {
  asio::io_context io;
  listener l{io};
  observed b;
  std::shared_ptr<net::connection> cb;
  l.accept_connection(options("b@127.0.0.1", "cookie", 400ms), b, cb);
  raw_peer p(io, "raw@127.0.0.1", "b@127.0.0.1", "cookie");
  p.handshake(l.endpoints());
  BOOST_REQUIRE(run_until(io, [&] { return b.ups == 1; }));
  const auto start = clock_type::now();
  BOOST_REQUIRE(run_until(io, [&] { return b.downs == 1; }));
  const auto took = clock_type::now() - start;
  BOOST_TEST((b.down == errc::nodedown));
  BOOST_TEST(b.down.reason().find("net_tick_timeout") == 0u, b.down.message());
  BOOST_TEST(took >= 250ms);
  BOOST_TEST(took <= 5000ms);
  // What we sent the silent peer meanwhile: only ticks (zero-length frames), then EOF.
  const bytes got = p.read_to_end();
  BOOST_TEST(got.size() >= 8u);
  BOOST_TEST(got.size() % 4 == 0u);
  bool all_zero = true;
  for (std::byte x : got) all_zero = all_zero && x == std::byte{0};
  BOOST_TEST(all_zero);
}

BOOST_AUTO_TEST_CASE(a_frame_over_the_maximum_is_a_clean_disconnect) {
  asio::io_context io;
  listener l{io};
  observed b;
  std::shared_ptr<net::connection> cb;
  auto o = options("b@127.0.0.1", "cookie");
  o.max_frame_size = 1 << 20;
  l.accept_connection(o, b, cb);
  raw_peer p(io, "raw@127.0.0.1", "b@127.0.0.1", "cookie");
  p.handshake(l.endpoints());
  BOOST_REQUIRE(run_until(io, [&] { return b.ups == 1; }));
  // A frame of exactly the maximum passes; one byte more does not.
  bytes ok = {std::byte{0}, std::byte{0x10}, std::byte{0}, std::byte{0}};
  const bytes payload = pattern(std::size_t{1} << 20, 5);
  ok.insert(ok.end(), payload.begin(), payload.end());
  asio::write(p.s, asio::buffer(ok));
  BOOST_REQUIRE(run_until(io, [&] { return b.frames.size() == 1; }));
  BOOST_TEST((b.frames[0] == payload));
  const bytes too_big = {std::byte{0}, std::byte{0x10}, std::byte{0}, std::byte{1}};
  asio::write(p.s, asio::buffer(too_big));
  BOOST_REQUIRE(run_until(io, [&] { return b.downs == 1; }));
  BOOST_TEST((b.down == errc::frame_too_large), b.down.message());
  BOOST_TEST_MESSAGE(b.down.message());
  (void)p.read_to_end();  // the socket is closed: EOF comes (bounded)
  BOOST_TEST(b.frames.size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_peer_closing_mid_frame_is_connection_closed) {
  asio::io_context io;
  listener l{io};
  observed b;
  std::shared_ptr<net::connection> cb;
  l.accept_connection(options("b@127.0.0.1", "cookie"), b, cb);
  raw_peer p(io, "raw@127.0.0.1", "b@127.0.0.1", "cookie");
  p.handshake(l.endpoints());
  BOOST_REQUIRE(run_until(io, [&] { return b.ups == 1; }));
  const bytes half = {std::byte{0},   std::byte{0}, std::byte{0},
                      std::byte{100}, std::byte{1}, std::byte{2}};
  asio::write(p.s, asio::buffer(half));
  p.s.close();
  BOOST_REQUIRE(run_until(io, [&] { return b.downs == 1; }));
  BOOST_TEST((b.down == errc::nodedown));
  BOOST_TEST(b.down.reason().find("connection_closed") == 0u, b.down.message());
  BOOST_TEST(b.down.reason().find("middle of a frame") != std::string::npos, b.down.message());
  BOOST_TEST(b.frames.empty());
}

BOOST_AUTO_TEST_CASE(a_peer_that_sends_nothing_is_cut_at_the_setup_timeout) {
  asio::io_context io;
  listener l{io};
  observed b;
  std::shared_ptr<net::connection> cb;
  auto o = options("b@127.0.0.1", "cookie");
  o.setup_timeout = 300ms;
  l.accept_connection(o, b, cb);
  tcp::socket s(io);
  s.connect(l.endpoints().front());
  const auto start = clock_type::now();
  BOOST_REQUIRE(run_until(io, [&] { return b.downs == 1; }));
  const auto took = clock_type::now() - start;
  BOOST_TEST((b.down == errc::timeout), b.down.message());
  BOOST_TEST(b.down.reason().find("net_setuptime") == 0u, b.down.message());
  BOOST_TEST(took >= 250ms);
  BOOST_TEST(took <= 2s);
  BOOST_TEST(b.ups == 0);
  // Our side sees the socket closed.
  bool eof = false;
  bytes one(1);
  s.async_read_some(asio::buffer(one), [&](std::error_code e, std::size_t) { eof = !!e; });
  BOOST_TEST(run_until(io, [&] { return eof; }));
}

BOOST_AUTO_TEST_CASE(a_garbled_handshake_is_malformed) {
  asio::io_context io;
  listener l{io};
  observed b;
  std::shared_ptr<net::connection> cb;
  l.accept_connection(options("b@127.0.0.1", "cookie"), b, cb);
  tcp::socket s(io);
  s.connect(l.endpoints().front());
  const bytes junk = {std::byte{0}, std::byte{3}, std::byte{'X'}, std::byte{'Y'}, std::byte{'Z'}};
  asio::write(s, asio::buffer(junk));
  BOOST_REQUIRE(run_until(io, [&] { return b.downs == 1; }));
  BOOST_TEST((b.down == errc::malformed_frame), b.down.message());
  BOOST_TEST(b.ups == 0);
}

BOOST_AUTO_TEST_CASE(a_dial_to_a_closed_port_is_not_connected) {
  asio::io_context io;
  std::vector<tcp::endpoint> at;
  {
    listener l{io};
    at = l.endpoints();
  }  // the port is closed again
  observed a;
  auto ca = net::connection::dial(io.get_executor(), at, "b@127.0.0.1"_node,
                                  options("a@127.0.0.1", "cookie"), a.handlers());
  BOOST_REQUIRE(run_until(io, [&] { return a.downs == 1; }));
  BOOST_TEST((a.down == errc::not_connected), a.down.message());
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
// Against a real erl (Debian erlang-base), started without EPMD as in erl_interop.cpp: a
// connection stays up across tick periods with `-kernel net_ticktime 1` (child process helpers
// in erl_child.hpp).

namespace {

using erl_test::erl_installed;
using erl_test::erl_process;
using erl_test::erl_program;

}  // namespace

BOOST_AUTO_TEST_SUITE(connection_erl)

BOOST_AUTO_TEST_CASE(link_to_erl_survives_ticks) {
  if (!erl_installed()) {
    BOOST_TEST_MESSAGE("erl is not installed (Debian: apt-get install erlang-base): skipped");
    return;
  }
  ::signal(SIGPIPE, SIG_IGN);
  asio::io_context io;
  const unsigned short port = erl_test::free_port();  // free until erl binds it
  const std::string ps = std::to_string(port);
  // clang-format off
  erl_process erl(std::vector<std::string>{
      "erl", "-name", "probe@127.0.0.1", "-setcookie", "nodus_tick_cookie", "-noshell",
      "-start_epmd", "false", "-erl_epmd_port", ps,
      "-kernel", "inet_dist_use_interface", "{127,0,0,1}",
      "-kernel", "inet_dist_listen_min", ps, "-kernel", "inet_dist_listen_max", ps,
      "-kernel", "net_ticktime", "1",
      "-eval", erl_program});
  // clang-format on
  BOOST_REQUIRE_MESSAGE(erl.wait_for("ready probe@127.0.0.1").has_value(), "erl did not start:\n"
                                                                               << erl.transcript());

  observed a;
  auto o = options("nodus_t@127.0.0.1", "nodus_tick_cookie", 1000ms);
  auto ca = net::connection::dial(io.get_executor(),
                                  {tcp::endpoint(asio::ip::make_address("127.0.0.1"), port)},
                                  "probe@127.0.0.1"_node, o, a.handlers());
  BOOST_REQUIRE_MESSAGE(run_until(io, [&] { return a.ups == 1 || a.downs == 1; }),
                        "no handshake result");
  BOOST_REQUIRE_MESSAGE(a.ups == 1, a.down.message() << "\n" << erl.transcript());
  BOOST_TEST((a.up_flags & net::dflag_nodus) == 0u);
  BOOST_TEST(erl.wait_for("nodeup nodus_t@127.0.0.1").has_value(), erl.transcript());

  run_for(io, 2500ms);  // past two tick periods of 1 s: erl ticks us, we tick erl
  BOOST_TEST(a.downs == 0, a.down.message());
  BOOST_TEST(!erl.seen("nodedown").has_value(), erl.transcript());
  BOOST_TEST_MESSAGE("frames from erl: " << a.frames.size());
  // Messages (ticks are not delivered), with the distribution header: nodus offers it.
  BOOST_TEST((a.up_flags & net::dflag_dist_hdr_atom_cache) != 0u);
  for (const bytes& f : a.frames) BOOST_TEST((f.size() >= 2 && f[0] == std::byte{131}));

  ca->close();
  BOOST_REQUIRE(run_until(io, [&] { return a.downs == 1; }));
  BOOST_TEST(erl.wait_for("nodedown nodus_t@127.0.0.1").has_value(), erl.transcript());
}

BOOST_AUTO_TEST_SUITE_END()

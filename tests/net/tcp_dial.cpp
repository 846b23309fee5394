// nodus::net::tcp_dial over real loopback sockets. A lost SYN is made by a listener whose accept
// queue is full (backlog 0 and one connection not yet accepted): Linux drops a SYN that finds the
// queue full (tcp_conn_request, "LISTENOVERFLOWS"), and the client's kernel resends it only after
// its retransmission timeout (1 s). Every wait is bounded; nothing sleeps to synchronise.
#include <boost/test/unit_test.hpp>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>
#include <vector>

#include "nodus/net/tcp_dial.hpp"

#include "../common/run_io.hpp"

namespace net = nodus::net;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

using clock_type = nodus::test::clock_type;
using nodus::test::run_until;

long long ms_since(clock_type::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t).count();
}

struct outcome {
  std::error_code ec;
  bool connected = false;
  clock_type::time_point at;
};

// A listener on 127.0.0.1 whose accept queue (backlog 0) is filled by one connection: the next
// SYN to it is dropped until that connection is accepted.
struct full_listener {
  explicit full_listener(asio::io_context& io) : acceptor(io), filler(io), accepted(io) {
    acceptor.open(tcp::v4());
    acceptor.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    acceptor.listen(0);
    filler.connect(acceptor.local_endpoint());  // completes: the queue has room for one
  }
  tcp::endpoint endpoint() const { return acceptor.local_endpoint(); }
  void make_room() { acceptor.accept(accepted); }

  tcp::acceptor acceptor;
  tcp::socket filler;
  tcp::socket accepted;
};

// dial_through_full_queue(resend) -> ms from making room in the queue to the dial's connect; the
// dial starts 300 ms before the room is made, so its first SYN is dropped.
long long dial_through_full_queue(std::chrono::milliseconds resend, std::size_t& attempts) {
  asio::io_context io;
  full_listener l(io);
  std::optional<outcome> got;
  auto d = net::tcp_dial::start(io.get_executor(), {l.endpoint()}, resend,
                                [&](std::error_code ec, tcp::socket s) {
                                  got = outcome{ec, s.is_open(), clock_type::now()};
                                });
  const auto started = clock_type::now();
  BOOST_REQUIRE(!run_until(
      io, [&] { return got.has_value(); }, 300ms));
  l.make_room();
  const auto room = clock_type::now();
  BOOST_REQUIRE_MESSAGE(run_until(io, [&] { return got.has_value(); }), "the dial never ended");
  BOOST_TEST(!got->ec, got->ec.message());
  BOOST_TEST(got->connected);
  attempts = d->attempts();
  BOOST_TEST_MESSAGE("resend " << resend.count() << " ms: connected " << ms_since(room)
                               << " ms after the queue had room (" << ms_since(started)
                               << " ms after the dial started), " << attempts << " sockets");
  return std::chrono::duration_cast<std::chrono::milliseconds>(got->at - room).count();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tcp_dial)

// With resends every 100 ms, a SYN sent after the queue has room gets through within about
// 100 ms; the kernel alone resends the first SYN only 1 s after it (700 ms after the room). The
// second figure shows that the first SYN really was dropped (the test could not pass otherwise).
BOOST_AUTO_TEST_CASE(a_dropped_syn_is_sent_again_on_a_fresh_socket_without_the_kernels_backoff) {
  std::size_t attempts = 0;
  const long long with_resend = dial_through_full_queue(100ms, attempts);
  BOOST_TEST(with_resend < 250);
  BOOST_TEST(attempts >= 3u);
  BOOST_TEST(attempts <= 6u);  // one every 100 ms during ~400 ms

  const long long kernel_only = dial_through_full_queue(0ms, attempts);
  BOOST_TEST(kernel_only > 500);
  BOOST_TEST(attempts == 1u);
}

BOOST_AUTO_TEST_CASE(a_refused_connect_ends_the_dial_at_once) {
  asio::io_context io;
  tcp::endpoint closed;
  {
    tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    closed = a.local_endpoint();
  }  // nothing listens there now
  std::optional<outcome> got;
  const auto started = clock_type::now();
  auto d = net::tcp_dial::start(io.get_executor(), {closed}, 50ms,
                                [&](std::error_code ec, tcp::socket s) {
                                  got = outcome{ec, s.is_open(), clock_type::now()};
                                });
  BOOST_REQUIRE(run_until(io, [&] { return got.has_value(); }));
  BOOST_TEST(got->ec == asio::error::connection_refused, got->ec.message());
  BOOST_TEST(!got->connected);
  BOOST_TEST(ms_since(started) < 1000);
  BOOST_TEST(d->attempts() == 1u);
}

BOOST_AUTO_TEST_CASE(the_next_endpoint_is_tried_after_a_refusal) {
  asio::io_context io;
  tcp::endpoint closed;
  {
    tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    closed = a.local_endpoint();
  }
  tcp::acceptor open(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  std::optional<outcome> got;
  tcp::endpoint peer;
  auto d = net::tcp_dial::start(io.get_executor(), {closed, open.local_endpoint()}, 50ms,
                                [&](std::error_code ec, tcp::socket s) {
                                  got = outcome{ec, s.is_open(), clock_type::now()};
                                  if (!ec) peer = s.remote_endpoint();
                                });
  BOOST_REQUIRE(run_until(io, [&] { return got.has_value(); }));
  BOOST_TEST(!got->ec, got->ec.message());
  BOOST_TEST(got->connected);
  BOOST_TEST(peer == open.local_endpoint());
}

BOOST_AUTO_TEST_CASE(a_cancelled_dial_never_completes_and_closes_its_sockets) {
  asio::io_context io;
  full_listener l(io);
  bool called = false;
  auto d = net::tcp_dial::start(io.get_executor(), {l.endpoint()}, 20ms,
                                [&](std::error_code, tcp::socket) { called = true; });
  BOOST_REQUIRE(!run_until(
      io, [&] { return called; }, 200ms));
  BOOST_TEST(d->attempts() >= 4u);
  d->cancel();
  l.make_room();  // a SYN still pending would now connect
  BOOST_TEST(!run_until(
      io, [&] { return called; }, 300ms));
  // Once no handler is pending the dial is freed: only d holds it.
  BOOST_TEST(d.use_count() == 1);
}

BOOST_AUTO_TEST_SUITE_END()

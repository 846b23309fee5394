// Our client against our server over loopback: registration, PORT_PLEASE2, NAMES, a name in
// use, unregistration on close, and the client's errors (nobody there, silence, garbage).
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "nodus/epmd/client.hpp"
#include "nodus/epmd/server.hpp"

#include "common.hpp"

namespace epmd = nodus::epmd;
using asio::ip::tcp;
using nodus::errc;
using nodus::result;
using namespace std::chrono_literals;
using namespace epmd_test;

namespace {

tcp::endpoint loopback(std::uint16_t port) { return {asio::ip::make_address("127.0.0.1"), port}; }

std::unique_ptr<epmd::server> listen_on_free_port(asio::any_io_executor ex,
                                                  log_capture* log = nullptr) {
  epmd::server_options o;
  o.port = 0;
  if (log != nullptr) o.log = log->sink();
  auto s = epmd::server::listen(std::move(ex), std::move(o));
  BOOST_REQUIRE_MESSAGE(s, s.error().message());
  BOOST_REQUIRE(s.value()->port() != 0);
  return std::move(s.value());
}

result<std::uint16_t> port_please(asio::any_io_executor ex, std::uint16_t mapper, std::string name,
                                  std::chrono::milliseconds timeout = 3s) {
  awaited<result<std::uint16_t>> answer;
  epmd::async_port_please(std::move(ex), loopback(mapper), std::move(name), timeout,
                          [&](result<std::uint16_t> r) { answer.set(std::move(r)); });
  auto r = answer.wait();
  BOOST_REQUIRE_MESSAGE(r, "async_port_please never completed");
  return *r;
}

result<std::vector<epmd::node_entry>> names(asio::any_io_executor ex, std::uint16_t mapper) {
  awaited<result<std::vector<epmd::node_entry>>> answer;
  epmd::async_names(std::move(ex), loopback(mapper), 3s,
                    [&](result<std::vector<epmd::node_entry>> r) { answer.set(std::move(r)); });
  auto r = answer.wait();
  BOOST_REQUIRE_MESSAGE(r, "async_names never completed");
  return *r;
}

std::shared_ptr<epmd::agent> make_agent(asio::any_io_executor ex, std::string name,
                                        std::uint16_t node_port, std::uint16_t epmd_port) {
  epmd::agent_options o;
  o.name = std::move(name);
  o.node_port = node_port;
  o.epmd_port = epmd_port;
  o.serve = false;
  return epmd::agent::create(std::move(ex), std::move(o));
}

result<void> start(const std::shared_ptr<epmd::agent>& a) {
  awaited<result<void>> done;
  a->start([&](result<void> r) { done.set(std::move(r)); });
  auto r = done.wait();
  BOOST_REQUIRE_MESSAGE(r, "agent::start never completed");
  return *r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(epmd_client_server)

BOOST_AUTO_TEST_CASE(register_look_up_list_unregister) {
  log_capture log;  // outlives the io thread, which may still log
  io_thread io;
  auto server = listen_on_free_port(io.executor(), &log);
  const auto port = server->port();

  auto a1 = make_agent(io.executor(), "n1", 4501, port);
  auto a2 = make_agent(io.executor(), "n2", 4502, port);
  BOOST_REQUIRE(start(a1));
  BOOST_REQUIRE(start(a2));
  BOOST_TEST(a1->registered());
  BOOST_TEST(!a1->serving());
  BOOST_TEST(a1->creation() != 0u);

  BOOST_TEST((server->names() == std::vector<epmd::node_entry>{{"n1", 4501}, {"n2", 4502}}));

  const auto p1 = port_please(io.executor(), port, "n1");
  BOOST_REQUIRE_MESSAGE(p1, p1.error().message());
  BOOST_TEST(*p1 == 4501);
  const auto p2 = port_please(io.executor(), port, "n2");
  BOOST_REQUIRE(p2);
  BOOST_TEST(*p2 == 4502);

  const auto missing = port_please(io.executor(), port, "n3");
  BOOST_TEST(!missing);
  BOOST_TEST((missing.error() == errc::nodedown));
  BOOST_TEST(missing.error().message().find("'n3' is not registered") != std::string::npos,
             missing.error().message());

  auto listed = names(io.executor(), port);
  BOOST_REQUIRE_MESSAGE(listed, listed.error().message());
  std::sort(listed->begin(), listed->end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  BOOST_TEST((*listed == std::vector<epmd::node_entry>{{"n1", 4501}, {"n2", 4502}}));

  // Closing the registration connection unregisters the name.
  a1->stop();
  BOOST_TEST(!a1->registered());
  BOOST_REQUIRE_MESSAGE(log.wait_for("unregistered 'n1'"), log.all());
  BOOST_TEST((server->names() == std::vector<epmd::node_entry>{{"n2", 4502}}));
  const auto gone = port_please(io.executor(), port, "n1");
  BOOST_TEST((gone.error() == errc::nodedown));

  a2->stop();
  BOOST_REQUIRE(log.wait_for("unregistered 'n2'"));
  BOOST_TEST(server->names().empty());
  const auto none = names(io.executor(), port);
  BOOST_REQUIRE(none);
  BOOST_TEST(none->empty());
}

BOOST_AUTO_TEST_CASE(name_in_use_is_refused_and_the_holder_stays) {
  io_thread io;
  auto server = listen_on_free_port(io.executor());
  const auto port = server->port();
  auto holder = make_agent(io.executor(), "n1", 4501, port);
  BOOST_REQUIRE(start(holder));

  auto second = make_agent(io.executor(), "n1", 4999, port);
  const auto t0 = clock_type::now();
  const auto r = start(second);
  const auto took = clock_type::now() - t0;
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error() == errc::already_registered));
  const std::string expected = nodus::format(
      "the name 'n1' is already registered with the port mapper at 127.0.0.1:{}", port);
  BOOST_TEST(r.error().reason() == expected);
  BOOST_TEST((took >= 900ms));  // it retried for about a second first
  BOOST_TEST((took < 5s));
  BOOST_TEST(!second->registered());

  BOOST_TEST(holder->registered());
  const auto p = port_please(io.executor(), port, "n1");
  BOOST_REQUIRE(p);
  BOOST_TEST(*p == 4501);
  holder->stop();
  second->stop();
}

BOOST_AUTO_TEST_CASE(name_freed_within_a_second_is_taken) {
  // The first holder closes while the second agent is retrying: the second one gets the name.
  io_thread io;
  auto server = listen_on_free_port(io.executor());
  const auto port = server->port();
  raw_client holder(port);
  BOOST_REQUIRE(holder.send(alive2("n1", 4501)));
  BOOST_REQUIRE(holder.read_exactly(6).size() == 6u);

  auto second = make_agent(io.executor(), "n1", 4502, port);
  awaited<result<void>> done;
  second->start([&](result<void> r) { done.set(std::move(r)); });
  BOOST_TEST(!done.wait(200ms));  // still retrying while n1 is held
  holder.close();
  const auto r = done.wait();
  BOOST_REQUIRE(r);
  BOOST_TEST(r->has_value());
  BOOST_TEST(*port_please(io.executor(), port, "n1") == 4502);
  second->stop();
}

BOOST_AUTO_TEST_CASE(lookups_without_a_port_mapper) {
  io_thread io;
  const auto port = free_port();  // nothing listens there
  const auto p = port_please(io.executor(), port, "n1");
  BOOST_REQUIRE(!p);
  BOOST_TEST((p.error() == errc::not_connected));
  BOOST_TEST(p.error().reason().find("no port mapper answers at 127.0.0.1:" +
                                     std::to_string(port)) != std::string::npos,
             p.error().reason());
  const auto n = names(io.executor(), port);
  BOOST_REQUIRE(!n);
  BOOST_TEST((n.error() == errc::not_connected));

  auto a = make_agent(io.executor(), "n1", 4501, port);  // serve = false
  const auto r = start(a);
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error() == errc::not_connected));
  BOOST_TEST(r.error().reason().find("no port mapper answers") != std::string::npos,
             r.error().reason());
  BOOST_TEST(!a->registered());
}

BOOST_AUTO_TEST_CASE(lookups_time_out_on_a_silent_mapper) {
  io_thread io;
  // Something that accepts (the kernel does, from the backlog) and never answers.
  tcp::acceptor silent(io.io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = silent.local_endpoint().port();
  const auto t0 = clock_type::now();
  const auto p = port_please(io.executor(), port, "n1", 300ms);
  BOOST_REQUIRE(!p);
  BOOST_TEST((p.error() == errc::timeout));
  BOOST_TEST((clock_type::now() - t0 < 5s));

  epmd::agent_options o;
  o.name = "n1";
  o.epmd_port = port;
  o.serve = false;
  o.timeout = 300ms;
  auto a = epmd::agent::create(io.executor(), o);
  const auto r = start(a);
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error() == errc::timeout), r.error().message());
  silent.close();  // no operation of its own is in flight
}

BOOST_AUTO_TEST_CASE(bad_answers_are_malformed) {
  io_thread io;
  // A "port mapper" that answers every connection with the given bytes and closes.
  for (const bytes& answer : {bytes{'H', 'T', 'T', 'P'}, bytes{119}, bytes{119, 0, 1},
                              bytes{119, 0, 0, 1, 77, 0, 0, 6, 0, 6, 0, 9, 'x'}}) {
    tcp::acceptor fake(io.io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const auto port = fake.local_endpoint().port();
    std::thread responder([&] {
      std::error_code ec;
      tcp::socket s(io.io);
      fake.accept(s, ec);
      if (ec) return;
      std::uint8_t req[64];
      s.read_some(asio::buffer(req), ec);
      asio::write(s, asio::buffer(answer), ec);
      s.shutdown(tcp::socket::shutdown_both, ec);
    });
    const auto p = port_please(io.executor(), port, "n1");
    responder.join();
    BOOST_REQUIRE(!p);
    BOOST_TEST((p.error() == errc::malformed_frame), p.error().message());
    fake.close();
  }
}

BOOST_AUTO_TEST_CASE(invalid_names_fail_at_once) {
  io_thread io;
  const auto p = port_please(io.executor(), 1, std::string(300, 'a'));
  BOOST_TEST((p.error() == errc::malformed_frame));
  auto a = make_agent(io.executor(), "", 1, 1);
  const auto r = start(a);
  BOOST_TEST((r.error() == errc::invalid_node_name));
}

BOOST_AUTO_TEST_CASE(server_binding_a_taken_port_fails_clearly) {
  io_thread io;
  auto first = listen_on_free_port(io.executor());
  epmd::server_options o;
  o.port = first->port();
  auto second = epmd::server::listen(io.executor(), o);
  BOOST_REQUIRE(!second);
  BOOST_TEST((second.error() == errc::not_connected));
  BOOST_TEST(second.error().reason().find(":" + std::to_string(first->port())) != std::string::npos,
             second.error().reason());
  BOOST_TEST(second.error().reason().find("in use") != std::string::npos, second.error().reason());
  // Not even on one address family only.
  o.address = "127.0.0.1";
  BOOST_TEST(!epmd::server::listen(io.executor(), o));
  o.address = "not an address";
  BOOST_TEST((epmd::server::listen(io.executor(), o).error() == errc::not_connected));
}

BOOST_AUTO_TEST_CASE(server_close_unregisters_everyone) {
  io_thread io;
  auto server = listen_on_free_port(io.executor());
  raw_client c(server->port());
  BOOST_REQUIRE(c.send(alive2("n1", 4501)));
  BOOST_REQUIRE(c.read_exactly(6).size() == 6u);
  BOOST_TEST(server->names().size() == 1u);
  server->close();
  BOOST_TEST(server->names().empty());
  BOOST_TEST(c.closed_by_peer());
  // The port is free again.
  epmd::server_options o;
  o.port = server->port();
  auto again = epmd::server::listen(io.executor(), o);
  BOOST_TEST(again.has_value());
}

BOOST_AUTO_TEST_SUITE_END()

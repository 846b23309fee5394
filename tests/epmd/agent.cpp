// The agent: serving the port mapper when none answers, re-registering when the registration
// connection closes, and the takeover when the serving node goes (all nodes end up registered
// with one new server).
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
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

std::vector<epmd::node_entry> sorted_names(asio::any_io_executor ex, std::uint16_t port) {
  awaited<result<std::vector<epmd::node_entry>>> answer;
  epmd::async_names(std::move(ex), loopback(port), 3s,
                    [&](result<std::vector<epmd::node_entry>> r) { answer.set(std::move(r)); });
  auto r = answer.wait();
  BOOST_REQUIRE_MESSAGE(r, "async_names never completed");
  BOOST_REQUIRE_MESSAGE(*r, r->error().message());
  auto names = std::move(r->value());
  std::sort(names.begin(), names.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return names;
}

// A node's agent with a counter of its registrations.
struct node {
  node(asio::any_io_executor ex, std::string name, std::uint16_t node_port, std::uint16_t epmd_port,
       bool serve = true) {
    epmd::agent_options o;
    o.name = std::move(name);
    o.node_port = node_port;
    o.epmd_port = epmd_port;
    o.serve = serve;
    o.log = log.sink();
    agent = epmd::agent::create(std::move(ex), std::move(o));
    agent->on_registered([this] { registrations.bump(); });
  }
  ~node() { agent->stop(); }

  result<void> start() {
    awaited<result<void>> done;
    agent->start([&](result<void> r) { done.set(std::move(r)); });
    auto r = done.wait();
    BOOST_REQUIRE_MESSAGE(r, "agent::start never completed");
    return *r;
  }

  log_capture log;
  counter registrations;
  std::shared_ptr<epmd::agent> agent;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(epmd_agent)

BOOST_AUTO_TEST_CASE(serves_when_no_port_mapper_answers) {
  io_thread io;
  const auto port = free_port();
  node n1(io.executor(), "n1", 4501, port);
  const auto r = n1.start();
  BOOST_REQUIRE_MESSAGE(r, r.error().message() << "\n" << n1.log.all());
  BOOST_TEST(n1.agent->serving());
  BOOST_TEST(n1.agent->registered());
  BOOST_TEST(n1.agent->creation() != 0u);
  BOOST_TEST(n1.registrations.wait_for(1));  // on_registered follows start's callback
  BOOST_TEST((sorted_names(io.executor(), port) == std::vector<epmd::node_entry>{{"n1", 4501}}));

  // A second node finds the first one's server and does not serve.
  node n2(io.executor(), "n2", 4502, port);
  BOOST_REQUIRE(n2.start());
  BOOST_TEST(!n2.agent->serving());
  BOOST_TEST((sorted_names(io.executor(), port) ==
              std::vector<epmd::node_entry>{{"n1", 4501}, {"n2", 4502}}));

  // stop() closes the registration and the server.
  n1.agent->stop();
  BOOST_TEST(!n1.agent->registered());
  BOOST_REQUIRE(n2.registrations.wait_for(2));  // n2 took over, alone
  BOOST_TEST(n2.agent->serving());
  BOOST_TEST((sorted_names(io.executor(), port) == std::vector<epmd::node_entry>{{"n2", 4502}}));
  BOOST_TEST(n1.registrations.value() == 1);  // nothing after stop()
}

BOOST_AUTO_TEST_CASE(takeover_by_one_of_the_remaining_nodes) {
  io_thread io;
  const auto port = free_port();
  node n1(io.executor(), "n1", 4501, port);
  node n2(io.executor(), "n2", 4502, port);
  node n3(io.executor(), "n3", 4503, port);
  BOOST_REQUIRE(n1.start());
  BOOST_REQUIRE(n2.start());
  BOOST_REQUIRE(n3.start());
  BOOST_TEST(n1.agent->serving());
  BOOST_TEST(!n2.agent->serving());
  BOOST_TEST(!n3.agent->serving());
  const auto c2 = n2.agent->creation();

  n1.agent->stop();
  BOOST_REQUIRE_MESSAGE(n2.registrations.wait_for(2), n2.log.all());
  BOOST_REQUIRE_MESSAGE(n3.registrations.wait_for(2), n3.log.all());
  BOOST_TEST(n2.agent->registered());
  BOOST_TEST(n3.agent->registered());
  BOOST_TEST((n2.agent->serving() != n3.agent->serving()));  // exactly one serves now
  BOOST_TEST(n2.agent->creation() != c2);                    // a new registration
  BOOST_TEST((sorted_names(io.executor(), port) ==
              std::vector<epmd::node_entry>{{"n2", 4502}, {"n3", 4503}}));

  // Once more: the new server's node goes, the last one serves itself.
  node& server_node = n2.agent->serving() ? n2 : n3;
  node& last = n2.agent->serving() ? n3 : n2;
  server_node.agent->stop();
  BOOST_REQUIRE_MESSAGE(last.registrations.wait_for(3), last.log.all());
  BOOST_TEST(last.agent->serving());
  BOOST_TEST(sorted_names(io.executor(), port).size() == 1u);
}

BOOST_AUTO_TEST_CASE(re_registers_when_the_port_mapper_comes_back) {
  // serve = false: when the port mapper goes, the agent waits for one to come back.
  log_capture server_log;
  io_thread io;
  epmd::server_options o;
  o.port = free_port();
  o.log = server_log.sink();
  auto first = epmd::server::listen(io.executor(), o);
  BOOST_REQUIRE(first);
  node n1(io.executor(), "n1", 4501, o.port, /*serve=*/false);
  BOOST_REQUIRE(n1.start());
  BOOST_TEST((first.value()->names() == std::vector<epmd::node_entry>{{"n1", 4501}}));

  first.value()->close();  // "epmd killed"
  BOOST_REQUIRE(n1.log.wait_for("registering again"));
  BOOST_TEST(!n1.agent->serving());

  auto second = epmd::server::listen(io.executor(), o);
  BOOST_REQUIRE_MESSAGE(second, second.error().message());
  BOOST_REQUIRE_MESSAGE(n1.registrations.wait_for(2), n1.log.all());
  BOOST_TEST((second.value()->names() == std::vector<epmd::node_entry>{{"n1", 4501}}));
  BOOST_TEST(!n1.agent->serving());
}

BOOST_AUTO_TEST_CASE(no_callback_after_stop) {
  io_thread io;
  // A port mapper that accepts and never answers: start() cannot finish before its timeout.
  tcp::acceptor silent(io.io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  epmd::agent_options o;
  o.name = "n1";
  o.epmd_port = silent.local_endpoint().port();
  o.serve = false;
  o.timeout = 100ms;
  auto a = epmd::agent::create(io.executor(), o);
  counter calls;
  a->on_registered([&] { calls.bump(); });
  a->start([&](result<void>) { calls.bump(); });
  a->stop();
  BOOST_TEST(!calls.wait_for(1, 500ms));  // well past the timeout: nothing was called
  BOOST_TEST(!a->registered());
  silent.close();
}

BOOST_AUTO_TEST_CASE(stop_from_inside_a_callback) {
  io_thread io;
  const auto port = free_port();
  epmd::agent_options o;
  o.name = "n1";
  o.epmd_port = port;
  auto a = epmd::agent::create(io.executor(), o);
  awaited<bool> done;
  a->start([&](result<void> r) {
    a->stop();  // must not deadlock
    done.set(r.has_value());
  });
  const auto ok = done.wait();
  BOOST_REQUIRE(ok);
  BOOST_TEST(*ok);
  BOOST_TEST(!a->registered());
  // The embedded server went with it: the port is free.
  BOOST_TEST(wait_until([&] {
    epmd::server_options so;
    so.port = port;
    return epmd::server::listen(io.executor(), so).has_value();
  }));
}

BOOST_AUTO_TEST_SUITE_END()

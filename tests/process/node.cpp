// The node facade: identity, threads, start/stop life cycle (options: options.cpp).
#include <boost/test/unit_test.hpp>

#include <future>
#include <thread>

#include "common.hpp"

using namespace std::chrono_literals;
using test::events;

namespace {

struct who {};
struct where {
  nodus::node_name node;
  std::thread::id thread;
};
struct identity : nodus::server<identity, nodus::call<who, where>> {
  static constexpr nodus::fixed_string name = "identity";
  where handle_call(const who&) { return {self_node(), std::this_thread::get_id()}; }
  void terminate(const nodus::error& e) { events().add("identity terminate " + e.reason()); }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(node_facade)

BOOST_AUTO_TEST_CASE(an_unnamed_node_is_nonode_at_nohost_and_a_named_one_says_its_name) {
  {
    nodus::node<> node;
    BOOST_TEST(node.self().str() == "nonode@nohost");
  }
  nodus::options o;
  o.name = nodus::node_name::parse("n1@127.0.0.1").value();
  nodus::node<> node(o);
  BOOST_REQUIRE(node.spawn<identity>());
  node.run_in_background();
  auto r = node.call<identity>(who{});
  BOOST_REQUIRE(r);
  BOOST_TEST(r->node.str() == "n1@127.0.0.1");
}

BOOST_AUTO_TEST_CASE(run_uses_the_calling_thread_and_the_extra_threads) {
  nodus::options o;
  o.threads = 2;
  nodus::node<> node(o);
  BOOST_REQUIRE(node.spawn<identity>());
  std::promise<void> running;
  asio::post(node.io_context(), [&] { running.set_value(); });  // runs once run() runs
  nodus::result<void> run_result = nodus::errc::not_running;
  std::thread runner([&] { run_result = node.run(); });  // Boost.Test checks stay on this thread
  struct join_guard {
    nodus::node<>& n;
    std::thread& t;
    ~join_guard() {
      n.stop();
      if (t.joinable()) t.join();
    }
  } guard{node, runner};
  BOOST_REQUIRE((running.get_future().wait_for(10s) == std::future_status::ready));
  auto r = node.call<identity>(who{});
  BOOST_REQUIRE(r);
  BOOST_TEST((r->thread != std::this_thread::get_id()));
  node.stop();
  runner.join();
  BOOST_TEST(run_result);
}

BOOST_AUTO_TEST_CASE(calls_after_stop_fail_cleanly) {
  nodus::node<> node;
  BOOST_REQUIRE(node.spawn<identity>());
  node.run_in_background();
  BOOST_REQUIRE(node.call<identity>(who{}));
  node.stop();
  BOOST_TEST(node.join());
  auto r = node.call<identity>(who{});
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error() == nodus::errc::not_running));
  BOOST_TEST(!node.is_running<identity>());
}

BOOST_AUTO_TEST_CASE(a_node_destroyed_without_stop_terminates_its_servers) {
  events().clear();
  {
    nodus::node<> node;
    BOOST_REQUIRE(node.spawn<identity>());
    node.run_in_background();
    BOOST_REQUIRE(node.call<identity>(who{}));
  }  // ~node stops and joins
  BOOST_TEST(events().count("identity terminate shutdown") == 1);
}

BOOST_AUTO_TEST_CASE(the_node_logger_writes_elixir_shaped_lines_to_its_sink) {
  test::captured_log log;
  nodus::node<> node;
  log.attach(node.log());
  node.log().info("--- Node up: {}", nodus::node_name::parse("n2@127.0.0.1").value());
  node.log().debug("hidden at the default level");
  BOOST_TEST(log.contains("[info]  --- Node up: n2@127.0.0.1"));
  BOOST_TEST(!log.contains("hidden"));
}

BOOST_AUTO_TEST_SUITE_END()

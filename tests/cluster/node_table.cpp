// nodus::cluster::node_table over real loopback sockets, several tables in one process, each on
// its own io_context run by its own thread. Every wait is bounded (wait_until polls a condition
// up to a deadline); nothing sleeps to synchronise.
#include <boost/test/unit_test.hpp>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "nodus/cluster/node_table.hpp"

namespace cluster = nodus::cluster;
using nodus::node_name;
using namespace std::chrono_literals;

namespace {

using clock_type = std::chrono::steady_clock;
constexpr auto step_timeout = 10s;

// wait_until(done) -> done() became true within the timeout (polled every millisecond).
bool wait_until(const std::function<bool()>& done, clock_type::duration timeout = step_timeout) {
  const auto deadline = clock_type::now() + timeout;
  while (!done()) {
    if (clock_type::now() >= deadline) return false;
    std::this_thread::sleep_for(1ms);  // polling interval, not synchronisation
  }
  return true;
}

// One node: an io_context on its own thread, a node_table, and what its subscriptions saw.
struct test_node {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::optional<cluster::node_table> table;
  std::thread thread;

  std::mutex m;
  std::vector<node_name> ups;
  std::vector<std::pair<node_name, cluster::node_down_reason>> downs;

  test_node(const char* name, std::string cookie = "secret") {
    cluster::node_table_options o;
    o.self = node_name::parse(name).value();
    o.cookie = std::move(cookie);
    o.setup_timeout = 5000ms;
    o.ticktime = 4000ms;
    auto t = cluster::node_table::listen(io.get_executor(), std::move(o));
    BOOST_REQUIRE(t);
    table.emplace(std::move(t).value());
    table->on_node_up([this](const node_name& n) {
      std::lock_guard lock(m);
      ups.push_back(n);
    });
    table->on_node_down([this](const node_name& n, cluster::node_down_reason r) {
      std::lock_guard lock(m);
      downs.emplace_back(n, r);
    });
    thread = std::thread([this] { io.run(); });
  }

  ~test_node() {
    table.reset();
    work.reset();
    io.stop();
    thread.join();
  }

  test_node(const test_node&) = delete;
  test_node& operator=(const test_node&) = delete;

  [[nodiscard]] node_name name() const { return table->self(); }
  [[nodiscard]] std::string address() const {
    return std::string(name().str()) + ":" + std::to_string(table->port());
  }

  // connect_to(other) -> the completion's value, or nullopt if none came in time.
  std::optional<bool> connect_to(const test_node& other) {
    auto result = std::make_shared<std::atomic<int>>(-1);
    table->connect(other.address(), [result](bool ok) { *result = ok ? 1 : 0; });
    if (!wait_until([&] { return *result != -1; })) return std::nullopt;
    return *result == 1;
  }

  std::size_t up_count() {
    std::lock_guard lock(m);
    return ups.size();
  }
  std::size_t down_count() {
    std::lock_guard lock(m);
    return downs.size();
  }
};

bool lists_are(test_node& n, const std::vector<node_name>& want) { return n.table->list() == want; }

}  // namespace

BOOST_AUTO_TEST_CASE(parse_node_address_accepts_name_ip_port) {
  auto a = cluster::parse_node_address("n2@127.0.0.1:4500");
  BOOST_REQUIRE(a);
  BOOST_TEST(a->first.str() == "n2@127.0.0.1");
  BOOST_TEST(a->second.port() == 4500);
  BOOST_TEST(!cluster::parse_node_address("n2@127.0.0.1"));
  BOOST_TEST(!cluster::parse_node_address("n2@127.0.0.1:0"));
  BOOST_TEST(!cluster::parse_node_address("n2@localhost:4500"));
}

BOOST_AUTO_TEST_CASE(two_tables_connect_symmetric_and_node_up) {
  test_node a("a@127.0.0.1");
  test_node b("b@127.0.0.1");
  BOOST_TEST(a.table->port() != 0);
  auto r = a.connect_to(b);
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST(*r);
  BOOST_TEST(wait_until([&] { return lists_are(b, {a.name()}); }));
  BOOST_TEST(lists_are(a, {b.name()}));
  BOOST_TEST(wait_until([&] { return a.up_count() == 1 && b.up_count() == 1; }));
  // Connecting again is a no-op that answers true.
  BOOST_TEST(a.connect_to(b).value_or(false));
  BOOST_TEST(a.up_count() == 1);
}

BOOST_AUTO_TEST_CASE(disconnect_reports_reasons_on_both_sides) {
  test_node a("a@127.0.0.1");
  test_node b("b@127.0.0.1");
  BOOST_REQUIRE(a.connect_to(b).value_or(false));
  BOOST_REQUIRE(wait_until([&] { return lists_are(b, {a.name()}); }));
  BOOST_TEST(a.table->disconnect(b.name()));
  BOOST_REQUIRE(wait_until([&] { return a.down_count() == 1 && b.down_count() == 1; }));
  {
    std::lock_guard la(a.m);
    BOOST_TEST(a.downs[0].first.str() == b.name().str());
    BOOST_TEST(to_string(a.downs[0].second) == "disconnect");
  }
  {
    std::lock_guard lb(b.m);
    BOOST_TEST(b.downs[0].first.str() == a.name().str());
    BOOST_TEST(to_string(b.downs[0].second) == "connection_closed");
  }
  BOOST_TEST(a.table->list().empty());
  BOOST_TEST(b.table->list().empty());
  BOOST_TEST(!a.table->disconnect(b.name()));
}

BOOST_AUTO_TEST_CASE(wrong_cookie_is_refused_on_both_sides) {
  test_node a("a@127.0.0.1", "one");
  test_node b("b@127.0.0.1", "two");
  auto r = a.connect_to(b);
  BOOST_REQUIRE(r.has_value());
  BOOST_TEST(!*r);
  BOOST_TEST(a.table->list().empty());
  BOOST_TEST(b.table->list().empty());
  BOOST_TEST(a.up_count() == 0);
  BOOST_TEST(b.up_count() == 0);
}

BOOST_AUTO_TEST_CASE(unreachable_peer_reports_false) {
  test_node a("a@127.0.0.1");
  std::uint16_t free_port = 0;
  {
    test_node gone("gone@127.0.0.1");
    free_port = gone.table->port();
  }
  auto result = std::make_shared<std::atomic<int>>(-1);
  a.table->connect("gone@127.0.0.1:" + std::to_string(free_port),
                   [result](bool ok) { *result = ok ? 1 : 0; });
  BOOST_REQUIRE(wait_until([&] { return *result != -1; }));
  BOOST_TEST(*result == 0);
}

BOOST_AUTO_TEST_CASE(three_tables_form_a_full_mesh) {
  test_node a("a@127.0.0.1");
  test_node b("b@127.0.0.1");
  test_node c("c@127.0.0.1");
  BOOST_REQUIRE(a.connect_to(b).value_or(false));
  BOOST_REQUIRE(b.connect_to(c).value_or(false));
  BOOST_TEST(wait_until([&] { return lists_are(a, {b.name(), c.name()}); }));
  BOOST_TEST(wait_until([&] { return lists_are(b, {a.name(), c.name()}); }));
  BOOST_TEST(wait_until([&] { return lists_are(c, {a.name(), b.name()}); }));
  BOOST_TEST(a.down_count() == 0);
  BOOST_TEST(b.down_count() == 0);
  BOOST_TEST(c.down_count() == 0);
}

BOOST_AUTO_TEST_CASE(frames_reach_the_on_frame_hook) {
  test_node a("a@127.0.0.1");
  test_node b("b@127.0.0.1");
  std::mutex m;
  std::vector<std::pair<node_name, std::vector<std::byte>>> got;
  bool kept = false;
  b.table->on_frame([&](const node_name& p, std::span<const std::byte> f,
                        const std::shared_ptr<const void>& keep) {
    std::lock_guard lock(m);
    kept = keep != nullptr;
    got.emplace_back(p, std::vector<std::byte>(f.begin(), f.end()));
  });
  BOOST_REQUIRE(a.connect_to(b).value_or(false));
  BOOST_TEST(a.table->send(b.name(), {std::byte{1}, std::byte{2}, std::byte{3}}));
  BOOST_REQUIRE(wait_until([&] {
    std::lock_guard lock(m);
    return !got.empty();
  }));
  std::lock_guard lock(m);
  BOOST_TEST(got.size() == 1U);
  BOOST_TEST(got[0].first.str() == a.name().str());
  // Between nodus nodes a frame is padded with zeros to 16 bytes, its 4-byte header included.
  BOOST_TEST(got[0].second.size() == 12U);
  BOOST_TEST((got[0].second[0] == std::byte{1} && got[0].second[2] == std::byte{3}));
  BOOST_TEST((got[0].second[3] == std::byte{0} && got[0].second[11] == std::byte{0}));
  BOOST_TEST(kept);
}

// Both dial at the same moment, many times: each round ends with exactly one connection, both
// completions true, one node_up per side and no node_down (a losing attempt never was up).
BOOST_AUTO_TEST_CASE(simultaneous_connect_ends_with_one_connection) {
  for (int round = 0; round < 20; ++round) {
    test_node a("a@127.0.0.1");
    test_node b("b@127.0.0.1");
    auto ra = std::make_shared<std::atomic<int>>(-1);
    auto rb = std::make_shared<std::atomic<int>>(-1);
    std::thread ta([&] { a.table->connect(b.address(), [ra](bool ok) { *ra = ok ? 1 : 0; }); });
    std::thread tb([&] { b.table->connect(a.address(), [rb](bool ok) { *rb = ok ? 1 : 0; }); });
    ta.join();
    tb.join();
    BOOST_REQUIRE(wait_until([&] { return *ra != -1 && *rb != -1; }));
    BOOST_TEST(*ra == 1);
    BOOST_TEST(*rb == 1);
    BOOST_TEST(wait_until([&] { return lists_are(a, {b.name()}) && lists_are(b, {a.name()}); }));
    BOOST_TEST(a.up_count() == 1U);
    BOOST_TEST(b.up_count() == 1U);
    BOOST_TEST(a.down_count() == 0U);
    BOOST_TEST(b.down_count() == 0U);
  }
}

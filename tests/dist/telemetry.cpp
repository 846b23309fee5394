// Telemetry (node.telemetry(), core/telemetry.hpp) between nodus nodes that run in this process
// over loopback TCP: libcluster's connect events with their durations (ok, and error for a port
// nobody listens on), node up and down, a disconnect, a global name conflict when partitions
// merge; handlers detach, and one that throws does not stop the others.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <nodus/nodus.hpp>

#include "../common/ports.hpp"
#include "../common/wait.hpp"

using nodus::test::wait_until;

namespace {

struct t_server : nodus::server<t_server> {
  static constexpr nodus::fixed_string name = "t_server";
};

nodus::options node_options(const char* name) {
  nodus::options o;
  o.name = nodus::node_name::parse(name).value();
  o.cookie = "nodus_telemetry_cookie";
  o.epmd = false;
  o.cluster.form = false;
  return o;
}

struct t_node {
  explicit t_node(const char* name) : node(node_options(name)) {
    BOOST_REQUIRE(node.start(nodus::supervisor<nodus::one_for_one, t_server>{}));
    node.run_in_background();
  }
  ~t_node() {
    node.stop();
    (void)node.join();
  }
  std::string address() {
    return std::string(node.self().str()) + ":" + std::to_string(node.port());
  }
  nodus::node<> node;
};

// What a handler saw: "NAME NODE [DETAIL]", and the connects' durations.
struct recorder {
  std::mutex m;
  std::vector<std::string> seen;
  std::vector<std::chrono::nanoseconds> connect_durations;
  nodus::telemetry::handler handler() {
    return [this](const nodus::telemetry_event& e) {
      std::lock_guard lock(m);
      seen.push_back(std::string(e.name()) + " " + std::string(e.node.str()) +
                     (e.detail.empty() ? "" : " " + e.detail));
      if (e.what == nodus::telemetry_event::kind::connect_ok) {
        connect_durations.push_back(e.duration);
      }
    };
  }
  bool has(const std::string& line) {
    std::lock_guard lock(m);
    for (const auto& s : seen)
      if (s == line) return true;
    return false;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(telemetry)

BOOST_AUTO_TEST_CASE(connects_node_ups_and_downs_and_disconnects_are_events) {
  t_node a("ta@127.0.0.1"), b("tb@127.0.0.1");
  recorder r;
  // A handler that throws is logged and dropped; the others still get the event.
  (void)a.node.telemetry().attach(
      [](const nodus::telemetry_event&) { throw std::runtime_error("a faulty handler"); });
  const auto id = a.node.telemetry().attach(r.handler());
  BOOST_REQUIRE(a.node.connect(b.address()));
  BOOST_TEST(wait_until([&] { return r.has("nodus.node_up tb@127.0.0.1"); }));
  BOOST_TEST(r.has("libcluster.connect_node.ok tb@127.0.0.1"));
  {
    std::lock_guard lock(r.m);
    BOOST_REQUIRE_EQUAL(r.connect_durations.size(), 1u);
    BOOST_TEST(r.connect_durations[0].count() > 0);
  }
  // Nobody listens there: an error event.
  const nodus::test::closed_port nobody;
  BOOST_TEST(!a.node.connect("tz@127.0.0.1:" + std::to_string(nobody.port())));
  BOOST_TEST(wait_until([&] { return r.has("libcluster.connect_node.error tz@127.0.0.1"); }));
  BOOST_REQUIRE(a.node.disconnect(b.node.self()));
  BOOST_TEST(r.has("libcluster.disconnect_node tb@127.0.0.1 ok"));
  BOOST_TEST(wait_until([&] { return r.has("nodus.node_down tb@127.0.0.1 disconnect"); }));
  // Detached: nothing more.
  BOOST_TEST(a.node.telemetry().detach(id));
  BOOST_TEST(!a.node.telemetry().detach(id));
  const auto before = [&] {
    std::lock_guard lock(r.m);
    return r.seen.size();
  }();
  BOOST_REQUIRE(a.node.connect(b.address()));
  std::lock_guard lock(r.m);
  BOOST_TEST(r.seen.size() == before);
}

BOOST_AUTO_TEST_CASE(a_global_name_held_on_both_sides_of_a_merge_is_an_event) {
  t_node a("tc@127.0.0.1"), b("td@127.0.0.1");
  recorder r;
  (void)b.node.telemetry().attach(r.handler());
  BOOST_REQUIRE(a.node.global().register_name<t_server>("both"));
  BOOST_REQUIRE(
      b.node.global().register_name<t_server>("both", nodus::name_conflict_policy::notify_other));
  BOOST_REQUIRE(a.node.connect(b.address()));
  BOOST_TEST(wait_until([&] { return r.has("nodus.global.name_conflict tc@127.0.0.1 both"); }));
}

BOOST_AUTO_TEST_SUITE_END()

// Cluster-wide names (node.global(), dist/global_names.hpp) between nodus nodes that run in this
// process, each with its own threads, over loopback TCP: registration all or none (yes, no),
// racing registrations (one wins), calls through a global name, a name that goes with its
// server or its node, and names held on both sides of a partition resolved by each policy when
// it heals.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nodus/nodus.hpp>

#include "../common/wait.hpp"

using namespace std::chrono_literals;
using nodus::test::wait_until;

namespace {

namespace etf = nodus::etf;

struct whoami {};
struct its_node {
  nodus::node_name node;
};
struct boom {};
using protocol = nodus::protocol<whoami, its_node, boom>;

struct holder : nodus::server<holder, nodus::call<whoami, its_node>, nodus::cast<boom>> {
  static constexpr nodus::fixed_string name = "holder";
  its_node handle_call(const whoami&) { return {self_node()}; }
  void handle_cast(const boom&) { throw std::runtime_error("asked to crash"); }
};

using node_type = nodus::node<nodus::no_topology, protocol>;

nodus::options node_options(const char* name) {
  nodus::options o;
  o.name = nodus::node_name::parse(name).value();
  o.cookie = "nodus_global_cookie";
  o.epmd = false;
  o.cluster.form = false;
  return o;
}

struct holder_node {
  explicit holder_node(const char* name) : node(node_options(name)) {
    BOOST_REQUIRE(node.start(nodus::supervisor<nodus::one_for_one, holder>{}));
    node.run_in_background();
  }
  ~holder_node() {
    node.stop();
    (void)node.join();
  }
  std::string address() {
    return std::string(node.self().str()) + ":" + std::to_string(node.port());
  }
  std::optional<etf::pid> where(const char* name) { return node.global().whereis_name(name); }
  node_type node;
};

// connect_all(nodes): a full mesh, and every node sees every other.
void connect_all(const std::vector<holder_node*>& nodes) {
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    for (std::size_t j = i + 1; j < nodes.size(); ++j) {
      BOOST_REQUIRE(nodes[i]->node.connect(nodes[j]->address()));
    }
  }
  for (auto* n : nodes) {
    BOOST_REQUIRE(wait_until([&] { return n->node.list().size() == nodes.size() - 1; }));
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(global_names)

BOOST_AUTO_TEST_CASE(a_name_is_registered_on_every_node_or_on_none_and_goes_with_its_server) {
  holder_node a("gna@127.0.0.1"), b("gnb@127.0.0.1"), c("gnc@127.0.0.1");
  connect_all({&a, &b, &c});
  BOOST_REQUIRE(a.node.global().register_name<holder>("cleaner"));
  const auto pid = a.where("cleaner");
  BOOST_REQUIRE(pid.has_value());
  // Registered everywhere when register_name returns (yes).
  BOOST_TEST((b.where("cleaner") == pid));
  BOOST_TEST((c.where("cleaner") == pid));
  // A second registration anywhere is no.
  const auto r = b.node.global().register_name<holder>("cleaner");
  BOOST_REQUIRE(!r.has_value());
  BOOST_TEST((r.error() == nodus::errc::already_registered), r.error().message());
  // A process holds one name, as in Erlang's global (check_dupname), unless allowed more.
  const auto second = a.node.global().register_name<holder>("cleaner2");
  BOOST_REQUIRE(!second.has_value());
  BOOST_TEST((second.error() == nodus::errc::already_registered), second.error().message());
  BOOST_TEST(!b.where("cleaner2").has_value());
  a.node.global().allow_multiple_names(true);
  BOOST_TEST(a.node.global().register_name<holder>("cleaner2").has_value());
  BOOST_TEST((b.where("cleaner2") == pid));
  a.node.global().allow_multiple_names(false);
  BOOST_TEST(a.node.global().unregister_name("cleaner2"));
  // A typed call through the name, from a node that does not hold it.
  const auto answer = c.node.call<holder>(nodus::global_name{"cleaner"}, whoami{});
  BOOST_REQUIRE(answer.has_value());
  BOOST_TEST((answer->node == a.node.self()));
  const auto nobody = c.node.call<holder>(nodus::global_name{"nobody"}, whoami{});
  BOOST_REQUIRE(!nobody.has_value());
  BOOST_TEST((nobody.error() == nodus::errc::noproc));
  // Its server crashes: the name goes on every node (the restarted instance has a new pid and
  // holds nothing until it registers).
  BOOST_REQUIRE(a.node.cast<holder>(boom{}));
  for (auto* n : {&a, &b, &c}) {
    BOOST_TEST(wait_until([&] { return !n->where("cleaner").has_value(); }), n->node.self().str());
  }
  // b takes it now; then b goes down: it goes on a and c.
  BOOST_REQUIRE(b.node.global().register_name<holder>("cleaner"));
  BOOST_TEST((a.where("cleaner") == b.where("cleaner")));
  BOOST_REQUIRE(a.node.disconnect(b.node.self()));
  BOOST_REQUIRE(c.node.disconnect(b.node.self()));
  BOOST_TEST(wait_until([&] { return !a.where("cleaner") && !c.where("cleaner"); }));
  BOOST_TEST(b.where("cleaner").has_value());  // b keeps its own
  // unregister_name: only the holder's node can, and the name goes everywhere.
  BOOST_REQUIRE(a.node.global().register_name<holder>("solo"));
  BOOST_TEST(!c.node.global().unregister_name("solo"));
  BOOST_TEST(a.node.global().unregister_name("solo"));
  BOOST_TEST(wait_until([&] { return !c.where("solo").has_value(); }));
  // From a thread of the node, the blocking form refuses.
  std::promise<nodus::errc> from_node;
  asio::post(a.node.io_context(), [&] {
    auto e = a.node.global().register_name<holder>("x");
    from_node.set_value(e ? nodus::errc::ok : static_cast<nodus::errc>(e.error().code().value()));
  });
  BOOST_TEST((from_node.get_future().get() == nodus::errc::would_deadlock));
}

// Two nodes register one name at once, 20 times over: each time exactly one gets yes, and both
// nodes then agree on its pid.
BOOST_AUTO_TEST_CASE(racing_registrations_of_one_name_give_exactly_one_yes) {
  holder_node a("gra@127.0.0.1"), b("grb@127.0.0.1");
  connect_all({&a, &b});
  for (int round = 0; round < 20; ++round) {
    const std::string name = "race" + std::to_string(round);
    std::promise<void> go;
    auto start = go.get_future().share();
    auto on = [&](holder_node& n) {
      return std::async(std::launch::async, [&n, &name, start] {
        start.wait();
        return n.node.global().register_name<holder>(name);
      });
    };
    auto ra = on(a), rb = on(b);
    go.set_value();
    const auto x = ra.get(), y = rb.get();
    BOOST_TEST_CONTEXT("round " << round) {
      BOOST_TEST(x.has_value() != y.has_value());
      const auto& lost = x.has_value() ? y : x;
      if (!lost.has_value()) {
        BOOST_TEST((lost.error() == nodus::errc::already_registered), lost.error().message());
      }
      BOOST_TEST(wait_until([&] {
        return a.where(name.c_str()).has_value() && a.where(name.c_str()) == b.where(name.c_str());
      }));
      // The winner lets it go: its server may hold one name only (the next round's).
      BOOST_TEST((x.has_value() ? a : b).node.global().unregister_name(name));
      BOOST_TEST(wait_until([&] { return !a.where(name.c_str()) && !b.where(name.c_str()); }));
    }
  }
}

// A partition: each side registers the same name; when it heals, the node whose name sorts
// first keeps it (gpa), and the other's server is handled by the policy.
BOOST_AUTO_TEST_CASE(a_name_held_on_both_sides_of_a_partition_is_resolved_when_it_heals) {
  struct round_t {
    nodus::name_conflict_policy policy;
    const char* name;
  };
  for (const auto& [policy, name] :
       {round_t{nodus::name_conflict_policy::stop_other, "stop_other"},
        round_t{nodus::name_conflict_policy::notify_other, "notify_other"},
        round_t{nodus::name_conflict_policy::notify_both, "notify_both"}}) {
    BOOST_TEST_CONTEXT(name) {
      holder_node a("gpa@127.0.0.1"), b("gpb@127.0.0.1");
      std::atomic<int> told_a{0}, told_b{0};
      std::atomic<bool> b_told_nobody{false};
      BOOST_REQUIRE(a.node.global().register_name<holder>(
          "single", policy, [&](const nodus::name_conflict&) { ++told_a; }));
      BOOST_REQUIRE(b.node.global().register_name<holder>("single", policy,
                                                          [&](const nodus::name_conflict& c) {
                                                            b_told_nobody = c.kept_by_nobody;
                                                            ++told_b;
                                                          }));
      const auto pa = a.where("single");
      BOOST_REQUIRE(a.node.connect(b.address()));
      if (policy == nodus::name_conflict_policy::notify_both) {
        BOOST_TEST(wait_until([&] { return !a.where("single") && !b.where("single"); }));
        BOOST_TEST(wait_until([&] { return told_a == 1 && told_b == 1; }));
        BOOST_TEST(b_told_nobody.load());
        BOOST_TEST(a.node.is_running<holder>());
        BOOST_TEST(b.node.is_running<holder>());
      } else {
        BOOST_TEST(wait_until([&] { return a.where("single") == pa && b.where("single") == pa; }));
        if (policy == nodus::name_conflict_policy::stop_other) {
          BOOST_TEST(wait_until([&] { return !b.node.is_running<holder>(); }));
          BOOST_TEST(told_b == 0);
        } else {
          BOOST_TEST(wait_until([&] { return told_b == 1; }));
          BOOST_TEST(b.node.is_running<holder>());
        }
        BOOST_TEST(told_a == 0);
        BOOST_TEST(a.node.is_running<holder>());
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

// nodus::singleton<S> between real node processes (peer.cpp with --singleton: its tree has
// singleton<cleaner>, which says `singleton up|down NODE`): it runs on exactly one node, moves to
// another within the tick time and a bound when its node is killed, and after partitions heal
// runs exactly once again (none lost, none twice; 5 rounds, or NODUS_PARTITION_ROUNDS: the figure
// of 20 rounds is `NODUS_PARTITION_ROUNDS=20 tests/test_dist --run_test=singletons`). A partition
// here is a node stopped (SIGSTOP) past the tick time: its peers declare it down and close their
// links, and it finds them gone when it resumes (tests/formation/namespaces.cpp cuts real links).
#include <boost/test/unit_test.hpp>

#include <csignal>
#include <cstdlib>
#include <string>
#include <vector>

#include "cluster.hpp"

using namespace dist_test;

namespace {

// where(nodes) -> how many run the singleton, and whether every node's global name points at the
// same node, which is one of those that run it.
struct census {
  int running = 0;
  bool agreed = false;
  std::string holder;
};
census where(const std::vector<peer*>& nodes) {
  census c;
  std::string points_at;
  bool same = true;
  for (auto* n : nodes) {
    const auto a = n->request("single");  // "here|not NODE|nowhere"
    const auto space = a.find(' ');
    if (a.rfind("here", 0) == 0) {
      ++c.running;
      c.holder = n->name();
    }
    const auto at = space == std::string::npos ? std::string() : a.substr(space + 1);
    if (points_at.empty()) points_at = at;
    same = same && at == points_at;
  }
  c.agreed = same && c.running == 1 && points_at == c.holder;
  return c;
}

// settled(nodes, bound) -> the singleton runs exactly once and every node knows where, within
// bound.
bool settled(const std::vector<peer*>& nodes, clock_type::duration bound, census* last = nullptr) {
  census c;
  const bool ok = nodus::test::wait_until(
      [&] {
        c = where(nodes);
        return c.agreed;
      },
      bound, std::chrono::milliseconds(20));
  if (last != nullptr) *last = c;
  return ok;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(singletons)

BOOST_AUTO_TEST_CASE(a_singleton_runs_once_and_moves_when_its_node_is_killed) {
  peer a("sa", {"--singleton"}), b("sb", {"--singleton"}), c("sc", {"--singleton"});
  require_started({&a, &b, &c});
  BOOST_TEST_REQUIRE(b.request("connect " + a.address()) == "true");
  BOOST_TEST_REQUIRE(c.request("connect " + a.address()) == "true");
  BOOST_TEST_REQUIRE(c.request("connect " + b.address()) == "true");
  std::vector<peer*> all{&a, &b, &c};
  census now;
  BOOST_TEST_REQUIRE(settled(all, step_timeout, &now), "running on " << now.running);
  peer* holder = now.holder == a.name() ? &a : now.holder == b.name() ? &b : &c;
  std::vector<peer*> rest;
  for (auto* n : all)
    if (n != holder) rest.push_back(n);
  std::vector<int> ups;
  for (auto* n : rest) ups.push_back(n->count("singleton up"));
  // kill -9: the others see it down after the tick time (1 s here) and one of them takes over.
  const auto killed_at = clock_type::now();
  holder->signal(SIGKILL);
  census after;
  BOOST_TEST(settled(rest, tick_bound + std::chrono::seconds(2), &after),
             "running on " << after.running);
  const auto took = ms_since(killed_at);
  BOOST_TEST_MESSAGE("singleton failover after kill -9: " << took << " ms (tick time 1000 ms)");
  BOOST_TEST(took < ms(tick_bound + std::chrono::seconds(1)));
  // Exactly one of them started it (each ran it alone at start-up, before they connected: each
  // was a cluster of one then).
  int started = 0;
  for (std::size_t i = 0; i < rest.size(); ++i) started += rest[i]->count("singleton up") - ups[i];
  BOOST_TEST(started == 1);
  // A holder that hangs (SIGSTOP: its links stay open, as when its host is cut off): the last
  // node takes over once it declares it down, after the tick time (1 s).
  peer* second = after.holder == rest[0]->name() ? rest[0] : rest[1];
  peer* last = second == rest[0] ? rest[1] : rest[0];
  const auto frozen_at = clock_type::now();
  second->signal(SIGSTOP);
  BOOST_TEST(settled({last}, tick_bound + std::chrono::seconds(2)));
  const auto took_frozen = ms_since(frozen_at);
  BOOST_TEST_MESSAGE("singleton failover from a hung node: " << took_frozen
                                                             << " ms (tick time 1000 ms)");
  BOOST_TEST(took_frozen < ms(tick_bound + std::chrono::seconds(1)));
  second->signal(SIGKILL);
}

// partition_rounds() -> how many partition-and-heal rounds to run: NODUS_PARTITION_ROUNDS, or 5
// (about 1.3 s each; CI runs the test suite three times).
int partition_rounds() {
  const char* v = std::getenv("NODUS_PARTITION_ROUNDS");
  const int n = v == nullptr ? 0 : std::atoi(v);
  return n > 0 && n <= 1000 ? n : 5;
}

BOOST_AUTO_TEST_CASE(partitions_heal_with_the_singleton_neither_lost_nor_doubled) {
  const int rounds = partition_rounds();
  peer a("pa", {"--singleton"}), b("pb", {"--singleton"}), c("pc", {"--singleton"});
  require_started({&a, &b, &c});
  BOOST_TEST_REQUIRE(b.request("connect " + a.address()) == "true");
  BOOST_TEST_REQUIRE(c.request("connect " + a.address()) == "true");
  BOOST_TEST_REQUIRE(c.request("connect " + b.address()) == "true");
  const std::vector<peer*> all{&a, &b, &c};
  BOOST_TEST_REQUIRE(settled(all, step_timeout));
  int lost = 0, doubled = 0;
  for (int round = 0; round < rounds; ++round) {
    // A partition: one node (in turn) stops (SIGSTOP) past the tick time, so that the two others
    // declare it down and close their links, as for a host cut off; resumed, it finds them gone.
    // Each side then runs its own (a split brain, as Erlang's would); the heal (it connects
    // again) must leave exactly one.
    peer* cut = all[round % 3];
    std::vector<peer*> others;
    for (auto* n : all)
      if (n != cut) others.push_back(n);
    cut->signal(SIGSTOP);
    for (auto* o : others) {
      BOOST_TEST_REQUIRE(o->expect("event down " + cut->name(), tick_bound), o->transcript());
    }
    BOOST_TEST(settled(others, step_timeout));
    cut->signal(SIGCONT);
    BOOST_TEST_REQUIRE(
        cut->expect_all({"event down " + others[0]->name(), "event down " + others[1]->name()},
                        tick_bound),
        cut->transcript());
    BOOST_TEST(settled({cut}, step_timeout), cut->transcript());
    for (auto* o : others) BOOST_TEST_REQUIRE(cut->request("connect " + o->address()) == "true");
    census healed;
    if (!settled(all, step_timeout, &healed)) {
      if (healed.running == 0) ++lost;
      if (healed.running > 1) ++doubled;
      BOOST_TEST_MESSAGE("round " << round << ": running on " << healed.running);
    }
  }
  BOOST_TEST_MESSAGE(rounds << " partition-and-heal rounds: " << lost << " lost, " << doubled
                            << " doubled");
  BOOST_TEST(lost == 0);
  BOOST_TEST(doubled == 0);
}

BOOST_AUTO_TEST_SUITE_END()

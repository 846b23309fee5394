// nodus::distributed_supervisor between real node processes (peer.cpp with --dsup: its tree has
// the distributed supervisor `jobs`, whose children `job` say `job up NAME NODE COUNT`): a child
// runs where the placement policy says and answers from every node; the children of a node
// killed with -9 restart on the survivors (temporary ones are forgotten); a node that joins takes
// the children placed on it, with their state; partitions that heal (a node stopped past the tick
// time, as tests/dist/singleton.cpp does) leave every child running exactly once (3 rounds, or
// NODUS_PARTITION_ROUNDS).
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cluster.hpp"

using namespace dist_test;

namespace {

// job_at: where a job answered from, and its count.
struct job_at {
  std::string node;
  unsigned long long count = 0;
};

// dcall(p, child) -> where child answers a call from p (through its global name), if it does.
std::optional<job_at> dcall(peer& p, const std::string& child, const char* cmd = "dcall") {
  const auto a = p.request(std::string(cmd) + " " + child);
  char node[256] = {};
  unsigned long long id = 0, count = 0;
  if (std::sscanf(a.c_str(), "ok %255s %llu %llu", node, &id, &count) != 3) return std::nullopt;
  return job_at{node, count};
}

// words(answer) -> the names of a `dtable - NAMES` or `dlocal - NAMES` answer.
std::vector<std::string> words(const std::string& answer) {
  std::istringstream in(answer);
  std::vector<std::string> out;
  std::string w;
  if (!(in >> w) || w != "-") return {"(bad answer: " + answer + ")"};
  while (in >> w) out.push_back(w);
  return out;
}

// members_settle(nodes, n): every node counts n members, within bound.
bool members_settle(const std::vector<peer*>& nodes, std::size_t n,
                    clock_type::duration bound = step_timeout) {
  return nodus::test::wait_until(
      [&] {
        for (auto* p : nodes) {
          const auto a = p->request("dmembers");
          if (static_cast<std::size_t>(std::count(a.begin(), a.end(), ',')) + 1 != n) return false;
        }
        return true;
      },
      bound, std::chrono::milliseconds(20));
}

// answers_from(p, child, node, bound[, count]) -> child answers p from node (with that count, if
// given) within bound.
bool answers_from(peer& p, const std::string& child, const std::string& node,
                  clock_type::duration bound = step_timeout,
                  std::optional<unsigned long long> count = std::nullopt) {
  return nodus::test::wait_until(
      [&] {
        auto at = dcall(p, child);
        return at && at->node == node && (!count || at->count == *count);
      },
      bound, std::chrono::milliseconds(20));
}

// instances(nodes) -> how many nodes run each job (from their `dlocal`).
std::map<std::string, int> instances(const std::vector<peer*>& nodes) {
  std::map<std::string, int> out;
  for (auto* p : nodes) {
    for (const auto& w : words(p->request("dlocal"))) ++out[w];
  }
  return out;
}

void connect_all(const std::vector<peer*>& nodes) {
  for (std::size_t i = 1; i < nodes.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      BOOST_TEST_REQUIRE(nodes[i]->request("connect " + nodes[j]->address()) == "true");
    }
  }
}

std::string job_name(int i) { return "job/" + std::to_string(i); }

}  // namespace

BOOST_AUTO_TEST_SUITE(distributed_supervisors)

BOOST_AUTO_TEST_CASE(children_run_where_the_policy_places_them_and_answer_from_every_node) {
  peer a("da", {"--dsup"}), b("db", {"--dsup"}), c("dc", {"--dsup"});
  require_started({&a, &b, &c});
  const std::vector<peer*> all{&a, &b, &c};
  connect_all(all);
  BOOST_TEST_REQUIRE(members_settle(all, 3));
  std::map<std::string, int> per_node;
  for (int i = 0; i < 9; ++i) {
    const auto child = job_name(i);
    const auto place = a.request("dplace " + child);
    BOOST_TEST_REQUIRE(a.request("dstart " + child + " " + std::to_string(i) + " p") ==
                       "ok " + place);
    ++per_node[place];
    // Every member places it alike, and it answers every node from there.
    for (auto* p : all) {
      BOOST_TEST(p->request("dplace " + child) == place);
      BOOST_TEST(answers_from(*p, child, place), child << " from " << p->name());
    }
  }
  BOOST_TEST_MESSAGE("9 children over 3 members: "
                     << per_node[a.name()] << " on " << a.name() << ", " << per_node[b.name()]
                     << " on " << b.name() << ", " << per_node[c.name()] << " on " << c.name());
  // Each runs exactly once, and each member has the whole table.
  for (const auto& [child, n] : instances(all)) BOOST_TEST(n == 1, child << " runs " << n);
  BOOST_TEST(instances(all).size() == 9u);
  for (auto* p : all) BOOST_TEST(words(p->request("dtable")).size() == 9u);
  // A name in the table is refused.
  BOOST_TEST(b.request("dstart job/0 0 p").rfind("error", 0) == 0);
}

BOOST_AUTO_TEST_CASE(the_children_of_a_killed_node_restart_on_the_survivors_but_temporary_ones) {
  peer a("ka", {"--dsup"}), b("kb", {"--dsup"}), c("kc", {"--dsup"});
  require_started({&a, &b, &c});
  connect_all({&a, &b, &c});
  BOOST_TEST_REQUIRE(members_settle({&a, &b, &c}, 3));
  // Three jobs that the policy places on c (permanent, transient, temporary), one elsewhere.
  std::vector<std::string> on_c;
  std::string elsewhere;
  for (int i = 0; on_c.size() < 3 || elsewhere.empty(); ++i) {
    BOOST_TEST_REQUIRE(i < 200);
    const auto child = job_name(i);
    if (a.request("dplace " + child) == c.name()) {
      on_c.push_back(child);
    } else if (elsewhere.empty()) {
      elsewhere = child;
    }
  }
  const char kinds[] = {'p', 't', 'x'};
  for (std::size_t i = 0; i < 3; ++i) {
    BOOST_TEST_REQUIRE(a.request("dstart " + on_c[i] + " " + std::to_string(i) + " " + kinds[i]) ==
                       "ok " + c.name());
  }
  BOOST_TEST_REQUIRE(a.request("dstart " + elsewhere + " 9 p").rfind("ok", 0) == 0);
  for (const auto& child : on_c) BOOST_TEST_REQUIRE(answers_from(a, child, c.name()));
  const auto other = *dcall(a, elsewhere);
  BOOST_TEST_REQUIRE(dcall(a, elsewhere, "dbump").has_value());
  const int ups_before = a.count("job up " + on_c[0]) + b.count("job up " + on_c[0]);

  const auto killed_at = clock_type::now();
  c.signal(SIGKILL);
  // The permanent and the transient job run again on the survivor the policy now picks.
  BOOST_TEST_REQUIRE(members_settle({&a, &b}, 2, tick_bound + step_timeout));
  for (std::size_t i = 0; i < 2; ++i) {
    const auto place = a.request("dplace " + on_c[i]);
    BOOST_TEST(place != c.name());
    BOOST_TEST(answers_from(a, on_c[i], place, tick_bound + step_timeout, 0), on_c[i]);
    BOOST_TEST(answers_from(b, on_c[i], place), on_c[i]);
  }
  const auto took = ms_since(killed_at);
  BOOST_TEST_MESSAGE("children restarted on a survivor "
                     << took << " ms after kill -9 (tick time 1000 ms)");
  BOOST_TEST(took < ms(tick_bound + std::chrono::seconds(2)));
  // Exactly one survivor started each.
  BOOST_TEST(a.count("job up " + on_c[0]) + b.count("job up " + on_c[0]) == ups_before + 1);
  // The temporary one is forgotten everywhere.
  BOOST_TEST(nodus::test::wait_until(
      [&] {
        return words(a.request("dtable")).size() == 3 && words(b.request("dtable")).size() == 3;
      },
      step_timeout, std::chrono::milliseconds(20)));
  BOOST_TEST(!dcall(a, on_c[2]).has_value());
  BOOST_TEST(instances({&a, &b}).count(on_c[2]) == 0u);
  // The job that did not run on c was left alone, state and all.
  auto still = dcall(a, elsewhere);
  BOOST_TEST_REQUIRE(still.has_value());
  BOOST_TEST(still->node == other.node);
  BOOST_TEST(still->count == 1u);
}

BOOST_AUTO_TEST_CASE(restart_types_hold_across_the_cluster) {
  peer a("ra", {"--dsup"}), b("rb", {"--dsup"});
  require_started({&a, &b});
  connect_all({&a, &b});
  BOOST_TEST_REQUIRE(members_settle({&a, &b}, 2));
  BOOST_TEST_REQUIRE(a.request("dstart p/1 1 p").rfind("ok", 0) == 0);
  BOOST_TEST_REQUIRE(a.request("dstart t/1 2 t").rfind("ok", 0) == 0);
  BOOST_TEST_REQUIRE(a.request("dstart x/1 3 x").rfind("ok", 0) == 0);
  for (const auto* child : {"p/1", "t/1", "x/1"}) {
    BOOST_TEST_REQUIRE(answers_from(b, child, a.request(std::string("dplace ") + child)));
  }
  // A crash: the permanent and the transient restart where they were (fresh state).
  for (const auto* child : {"p/1", "t/1"}) {
    const std::string where = dcall(b, child)->node;
    BOOST_TEST_REQUIRE(dcall(b, child, "dbump").has_value());
    BOOST_TEST_REQUIRE(b.request(std::string("dcrash ") + child) == "ok");
    BOOST_TEST(answers_from(b, child, where, step_timeout, 0), child);
  }
  // A normal stop: the transient is forgotten, the permanent restarts.
  BOOST_TEST_REQUIRE(b.request("dquit t/1") == "ok");
  BOOST_TEST_REQUIRE(b.request("dquit p/1") == "ok");
  BOOST_TEST(nodus::test::wait_until(
      [&] {
        return words(a.request("dtable")) == std::vector<std::string>{"p/1", "x/1"} &&
               words(b.request("dtable")) == std::vector<std::string>{"p/1", "x/1"};
      },
      step_timeout, std::chrono::milliseconds(20)));
  BOOST_TEST(answers_from(a, "p/1", a.request("dplace p/1")));
  // A crash of a temporary one: forgotten.
  BOOST_TEST_REQUIRE(b.request("dcrash x/1") == "ok");
  BOOST_TEST(nodus::test::wait_until(
      [&] {
        return words(a.request("dtable")) == std::vector<std::string>{"p/1"} &&
               words(b.request("dtable")) == std::vector<std::string>{"p/1"};
      },
      step_timeout, std::chrono::milliseconds(20)));
  BOOST_TEST(!dcall(a, "x/1").has_value());
}

BOOST_AUTO_TEST_CASE(a_node_that_joins_takes_the_children_placed_on_it_with_their_state) {
  peer a("ja", {"--dsup"}), b("jb", {"--dsup"});
  require_started({&a, &b});
  connect_all({&a, &b});
  BOOST_TEST_REQUIRE(members_settle({&a, &b}, 2));
  constexpr int n = 12;
  for (int i = 0; i < n; ++i) {
    const auto child = job_name(i);
    BOOST_TEST_REQUIRE(
        a.request("dstart " + child + " " + std::to_string(i) + " p").rfind("ok", 0) == 0);
    BOOST_TEST_REQUIRE(answers_from(b, child, a.request("dplace " + child)));
    for (int k = 0; k <= i % 4; ++k) BOOST_TEST_REQUIRE(dcall(b, child, "dbump").has_value());
  }
  std::map<std::string, std::string> before;
  for (int i = 0; i < n; ++i) before[job_name(i)] = dcall(a, job_name(i))->node;

  peer c("jc", {"--dsup"});
  require_started({&c});
  const auto joined_at = clock_type::now();
  BOOST_TEST_REQUIRE(c.request("connect " + a.address()) == "true");
  BOOST_TEST_REQUIRE(c.request("connect " + b.address()) == "true");
  BOOST_TEST_REQUIRE(members_settle({&a, &b, &c}, 3));
  int moved = 0;
  for (int i = 0; i < n; ++i) {
    const auto child = job_name(i);
    const auto place = c.request("dplace " + child);
    BOOST_TEST(a.request("dplace " + child) == place);
    if (place == c.name()) ++moved;
    // There, with the count it had: moved with its state, or left alone.
    const unsigned long long count = static_cast<unsigned long long>(i % 4 + 1);
    BOOST_TEST(answers_from(a, child, place, step_timeout, count),
               child << " placed on " << place << " with count " << count
                     << " answers: " << a.request("dcall " + child));
    BOOST_TEST(answers_from(c, child, place, step_timeout, count), child);
    if (place != c.name()) BOOST_TEST(place == before[child]);  // rendezvous: only c's move
  }
  const auto took = ms_since(joined_at);
  BOOST_TEST_MESSAGE(moved << " of " << n << " children moved to the joining node with their "
                           << "state, all answering from their new home " << took
                           << " ms after it connected");
  BOOST_TEST(moved > 0);
  for (const auto& [child, k] : instances({&a, &b, &c})) BOOST_TEST(k == 1, child << " runs " << k);
  BOOST_TEST(instances({&a, &b, &c}).size() == static_cast<std::size_t>(n));
}

BOOST_AUTO_TEST_CASE(partitions_heal_with_no_child_lost_or_doubled) {
  peer a("pda", {"--dsup"}), b("pdb", {"--dsup"}), c("pdc", {"--dsup"});
  require_started({&a, &b, &c});
  const std::vector<peer*> all{&a, &b, &c};
  connect_all(all);
  BOOST_TEST_REQUIRE(members_settle(all, 3));
  constexpr int n = 6;
  for (int i = 0; i < n; ++i) {
    BOOST_TEST_REQUIRE(
        a.request("dstart " + job_name(i) + " " + std::to_string(i) + " p").rfind("ok", 0) == 0);
  }
  // settled(nodes): every job runs on exactly one of nodes, where their policy places it, and
  // answers there from each of them.
  auto settled = [&](const std::vector<peer*>& nodes) {
    return nodus::test::wait_until(
        [&] {
          const auto runs = instances(nodes);
          if (runs.size() != static_cast<std::size_t>(n)) return false;
          for (const auto& [child, k] : runs)
            if (k != 1) return false;
          for (int i = 0; i < n; ++i) {
            const auto place = nodes[0]->request("dplace " + job_name(i));
            for (auto* p : nodes) {
              auto at = dcall(*p, job_name(i));
              if (!at || at->node != place) return false;
            }
          }
          return true;
        },
        step_timeout + tick_bound, std::chrono::milliseconds(50));
  };
  BOOST_TEST_REQUIRE(settled(all));
  const char* env = std::getenv("NODUS_PARTITION_ROUNDS");
  const int rounds = env != nullptr ? std::atoi(env) : 3;
  int lost = 0, doubled = 0, unreachable = 0;
  for (int round = 0; round < rounds; ++round) {
    peer* cut = all[round % 3];
    std::vector<peer*> others;
    for (auto* p : all)
      if (p != cut) others.push_back(p);
    cut->signal(SIGSTOP);
    for (auto* o : others) {
      BOOST_TEST_REQUIRE(o->expect("event down " + cut->name(), tick_bound), o->transcript());
    }
    BOOST_TEST(
        settled(others),  // the cut node's jobs restarted on this side
        "members: " << others[0]->request("dmembers") << " / " << others[1]->request("dmembers"));
    cut->signal(SIGCONT);
    BOOST_TEST_REQUIRE(
        cut->expect_all({"event down " + others[0]->name(), "event down " + others[1]->name()},
                        tick_bound),
        cut->transcript());
    BOOST_TEST(settled({cut}));  // and on its side, all of them (a split brain)
    for (auto* o : others) BOOST_TEST_REQUIRE(cut->request("connect " + o->address()) == "true");
    if (!settled(all)) {
      const auto runs = instances(all);
      for (int i = 0; i < n; ++i) {
        const auto it = runs.find(job_name(i));
        if (it == runs.end()) ++lost;
        if (it != runs.end() && it->second > 1) ++doubled;
      }
      // And every node reaches every one (a node's copy of the global names that missed a
      // name after a merge: see the README's "Cluster-wide names").
      std::string calls;
      for (int i = 0; i < n; ++i) {
        for (auto* p : all) {
          if (!dcall(*p, job_name(i))) {
            ++unreachable;
            calls += "\n" + p->name() + " dcall " + job_name(i) + ": " +
                     p->request("dcall " + job_name(i));
          }
        }
      }
      BOOST_TEST_MESSAGE("round " << round << ": not settled within the bound" << calls);
    }
  }
  BOOST_TEST_MESSAGE(rounds << " partition-and-heal rounds: " << lost << " lost, " << doubled
                            << " doubled, " << unreachable << " calls that found no holder");
  BOOST_TEST(lost == 0);
  BOOST_TEST(doubled == 0);
  BOOST_TEST(unreachable == 0);
}

BOOST_AUTO_TEST_SUITE_END()

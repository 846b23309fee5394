// Cluster formation through the port mapper, with real node processes on loopback: the
// epmd_strategy in random start orders and with late joiners, a node killed and restarted, the
// libcluster log line for an unreachable node, run-time host lists, local_epmd_strategy,
// erlang_hosts_strategy, start-up that waits for the cluster, and the real epmd and erl.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "../common/ports.hpp"
#include "../common/process.hpp"
#include "../common/programs.hpp"
#include "../dist/cluster.hpp"

namespace {

using dist_test::peer;
using dist_test::require_lists;
using dist_test::require_started;
using dist_test::self_exe;
// free_port(): each test gets its own port mapper port, so tests never meet another's nodes (nor
// port 4369).
using nodus::test::free_port;
using namespace std::chrono_literals;

// node_argv(name, epmd_port, topology, extra) -> the command line of a formation peer.
std::vector<std::string> node_argv(const std::string& name, int epmd_port,
                                   const std::string& topology,
                                   const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv{
      self_exe(),   "--peer", "--name",         name,   "--cookie",    "formation",
      "--port",     "0",      "--net-ticktime", "1000", "--epmd-port", std::to_string(epmd_port),
      "--topology", topology};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

std::unique_ptr<peer> start_node(const std::string& short_name, int epmd_port,
                                 const std::string& topology = "epmd",
                                 const std::vector<std::string>& extra = {}) {
  const std::string name = short_name + "@127.0.0.1";
  return std::make_unique<peer>(name, node_argv(name, epmd_port, topology, extra),
                                peer::launch::node);
}

std::vector<peer*> ptrs(const std::vector<std::unique_ptr<peer>>& ps) {
  std::vector<peer*> out;
  for (const auto& p : ps) out.push_back(p.get());
  return out;
}

// require_mesh(peers): each peer reports `event up` for every other one and lists exactly them.
void require_mesh(const std::vector<peer*>& peers) {
  for (auto* p : peers) {
    std::vector<std::string> ups;
    for (const auto* q : peers)
      if (q != p) ups.push_back("event up " + q->name());
    BOOST_REQUIRE_MESSAGE(p->expect_all(ups, 10s), "missing node_up" << p->transcript());
  }
  require_lists(peers);
}

// real_epmd: the port mapper of Debian's erlang-base, on its own port, killed at the end.
class real_epmd {
 public:
  explicit real_epmd(int port) : port_(port), path_(nodus::test::epmd_path()) {
    if (path_.empty()) return;
    proc_.emplace(std::vector<std::string>{path_, "-port", std::to_string(port)});
  }
  [[nodiscard]] bool available() const { return !path_.empty(); }
  // names() -> what `epmd -port P -names` prints (bounded).
  [[nodiscard]] std::string names() const {
    return nodus::test::run({path_, "-port", std::to_string(port_), "-names"}).output;
  }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  int port_;
  std::string path_;
  std::optional<nodus::test::child_process> proc_;  // SIGKILL to its group at the end
};

}  // namespace

BOOST_AUTO_TEST_SUITE(epmd_topology)

BOOST_AUTO_TEST_CASE(nodes_started_in_random_orders_end_in_a_full_mesh) {
  const auto seed = static_cast<unsigned>(std::random_device{}());
  BOOST_TEST_MESSAGE("seed " << seed);
  std::mt19937 rng(seed);
  for (int round = 0; round < 3; ++round) {
    const int epmd_port = free_port();
    std::vector<std::string> names{"n1", "n2", "n3", "n4"};
    std::shuffle(names.begin(), names.end(), rng);
    BOOST_TEST_CONTEXT("round " << round << " order " << names[0] << "," << names[1] << ","
                                << names[2] << "," << names[3] << " seed " << seed) {
      std::vector<std::unique_ptr<peer>> nodes;
      for (const auto& n : names) nodes.push_back(start_node(n, epmd_port));
      require_started(ptrs(nodes));
      require_mesh(ptrs(nodes));
      // A late joiner (n5 is in the static host list too) meets everyone.
      nodes.push_back(start_node("n5", epmd_port));
      require_started(ptrs(nodes));
      for (std::size_t i = 0; i + 1 < nodes.size(); ++i) {
        BOOST_REQUIRE_MESSAGE(nodes[i]->expect("event up n5@127.0.0.1", 10s),
                              nodes[i]->transcript());
      }
      require_lists(ptrs(nodes));
    }
  }
}

BOOST_AUTO_TEST_CASE(a_node_killed_and_restarted_is_seen_down_then_up_on_every_node) {
  const int epmd_port = free_port();
  std::vector<std::unique_ptr<peer>> nodes;
  for (const char* n : {"n1", "n2", "n3"}) nodes.push_back(start_node(n, epmd_port));
  require_started(ptrs(nodes));
  require_mesh(ptrs(nodes));
  // n1 started first and serves the port mapper: killing it also makes the others take over.
  BOOST_TEST(nodes[0]->request("serving") == "yes");
  for (int round = 0; round < 2; ++round) {
    nodes[0]->signal(SIGKILL);
    BOOST_REQUIRE_EQUAL(nodes[0]->wait_exit(), 128 + SIGKILL);
    for (std::size_t i = 1; i < nodes.size(); ++i) {
      BOOST_REQUIRE_MESSAGE(nodes[i]->expect("event down n1@127.0.0.1", 5s),
                            nodes[i]->transcript());
    }
    nodes[0] = start_node("n1", epmd_port);
    BOOST_REQUIRE_MESSAGE(nodes[0]->ready(), nodes[0]->transcript());
    for (std::size_t i = 1; i < nodes.size(); ++i) {
      BOOST_REQUIRE_MESSAGE(nodes[i]->expect("event up n1@127.0.0.1", 10s), nodes[i]->transcript());
    }
    BOOST_REQUIRE_MESSAGE(
        nodes[0]->expect_all({"event up n2@127.0.0.1", "event up n3@127.0.0.1"}, 10s),
        nodes[0]->transcript());
    require_lists(ptrs(nodes));
  }
}

BOOST_AUTO_TEST_CASE(an_unreachable_node_is_logged_once_like_libcluster_then_joins_when_it_starts) {
  const int epmd_port = free_port();
  // At debug level the retries show too (at debug); the warning is said once per outage.
  auto n1 = start_node("n1", epmd_port, "epmd", {"--log-level", "debug"});
  BOOST_REQUIRE_MESSAGE(n1->ready(), n1->transcript());
  BOOST_REQUIRE_MESSAGE(
      n1->expect_line({"[warn]", "[nodus:example] unable to connect to n2@127.0.0.1"}),
      n1->transcript());
  // Two retries later (every 300 ms) ...
  BOOST_REQUIRE(n1->expect_line({"[debug]", "unable to connect to n2@127.0.0.1"}));
  BOOST_REQUIRE(n1->expect_line({"[debug]", "unable to connect to n2@127.0.0.1"}));
  auto n2 = start_node("n2", epmd_port);
  BOOST_REQUIRE_MESSAGE(n2->ready(), n2->transcript());
  BOOST_REQUIRE_MESSAGE(n1->expect("event up n2@127.0.0.1", 10s), n1->transcript());
  BOOST_REQUIRE_MESSAGE(n2->expect("event up n1@127.0.0.1", 10s), n2->transcript());
  // ... n2's failure was still a warning once only; n3 (never started) is still retried.
  BOOST_REQUIRE(n1->expect_line({"[debug]", "unable to connect to n3@127.0.0.1"}));
  const int warnings = n1->count("[warn]  [nodus:example] unable to connect to n2@127.0.0.1");
  BOOST_TEST(warnings == 1, n1->transcript());
}

BOOST_AUTO_TEST_CASE(a_host_list_given_at_run_time_replaces_or_extends_the_types_list) {
  const int epmd_port = free_port();
  // m1 and m2 are in no static list: --cluster-hosts replaces it, "+..." adds to it.
  auto m1 = start_node("m1", epmd_port, "epmd", {"--cluster-hosts", "m1@127.0.0.1,m2@127.0.0.1"});
  auto m2 = start_node("m2", epmd_port, "epmd", {"--cluster-hosts", "+m1@127.0.0.1"});
  require_started({m1.get(), m2.get()});
  require_mesh({m1.get(), m2.get()});
  BOOST_TEST(m1->count("unable to connect to n1@127.0.0.1") == 0);  // replaced: not tried
}

BOOST_AUTO_TEST_CASE(local_epmd_strategy_connects_every_node_registered_on_this_host) {
  const int epmd_port = free_port();
  std::vector<std::unique_ptr<peer>> nodes;
  for (const char* n : {"a1", "a2", "a3"}) nodes.push_back(start_node(n, epmd_port, "local"));
  require_started(ptrs(nodes));
  require_mesh(ptrs(nodes));
}

BOOST_AUTO_TEST_CASE(erlang_hosts_strategy_connects_the_names_registered_on_the_listed_hosts) {
  const int epmd_port = free_port();
  char dir_template[] = "/tmp/nodus-hosts-XXXXXX";
  const char* dir = ::mkdtemp(dir_template);
  BOOST_REQUIRE(dir != nullptr);
  const std::string file = std::string(dir) + "/hosts.erlang";
  {
    std::ofstream out(file);
    // A comment, a malformed term (skipped, logged) and our host.
    out << "% the hosts of the cluster\nbad term.\n'127.0.0.1'.\n";
  }
  std::vector<std::unique_ptr<peer>> nodes;
  for (const char* n : {"b1", "b2", "b3"}) {
    nodes.push_back(start_node(n, epmd_port, "hosts_file", {"--cluster-hosts-file", file}));
  }
  require_started(ptrs(nodes));
  require_mesh(ptrs(nodes));
  BOOST_TEST(nodes[0]->count("skipped 1 malformed term(s)") >= 1, nodes[0]->transcript());
  std::remove(file.c_str());
  ::rmdir(dir);
}

BOOST_AUTO_TEST_CASE(a_second_node_with_a_taken_name_fails_to_start_and_the_first_keeps_it) {
  const int epmd_port = free_port();
  auto first = start_node("n1", epmd_port);
  BOOST_REQUIRE_MESSAGE(first->ready(), first->transcript());
  auto second = start_node("n1", epmd_port);
  BOOST_TEST(!second->ready());
  BOOST_TEST(second->start_line().find("start-failed") == 0u, second->transcript());
  BOOST_TEST(second->start_line().find("'n1' is already registered") != std::string::npos,
             second->transcript());
  BOOST_TEST(second->wait_exit() == 3);
  // The first one still answers lookups: a node started now finds it.
  auto n2 = start_node("n2", epmd_port);
  BOOST_REQUIRE_MESSAGE(n2->ready(), n2->transcript());
  BOOST_REQUIRE_MESSAGE(n2->expect("event up n1@127.0.0.1", 10s), n2->transcript());
}

BOOST_AUTO_TEST_CASE(start_can_wait_for_the_first_round_of_connects) {
  const int epmd_port = free_port();
  auto n1 = start_node("n1", epmd_port);
  BOOST_REQUIRE_MESSAGE(n1->ready(), n1->transcript());
  // n2 prints `ready` only after start() returned: with --cluster-wait its list already has n1.
  auto n2 = start_node("n2", epmd_port, "epmd", {"--cluster-wait", "3000"});
  BOOST_REQUIRE_MESSAGE(n2->ready(), n2->transcript());
  BOOST_TEST(n2->request("list") == "n1@127.0.0.1");
}

BOOST_AUTO_TEST_CASE(nodes_register_with_the_real_epmd_and_real_erl_finds_ours) {
  const int epmd_port = free_port();
  real_epmd epmd(epmd_port);
  if (!epmd.available()) {
    BOOST_TEST_MESSAGE("skipped: no epmd (Debian erlang-base)");
    return;
  }
  BOOST_REQUIRE(nodus::test::accepts(static_cast<std::uint16_t>(epmd_port), 5s));
  auto n1 = start_node("n1", epmd_port);
  auto n2 = start_node("n2", epmd_port);
  require_started({n1.get(), n2.get()});
  require_mesh({n1.get(), n2.get()});
  // The real epmd answered, so no node serves one itself, and it lists both.
  BOOST_TEST(n1->request("serving") == "no");
  BOOST_TEST(n2->request("serving") == "no");
  const auto names = epmd.names();
  BOOST_TEST(names.find("name n1 at port " + std::to_string(n1->port())) != std::string::npos,
             names);
  BOOST_TEST(names.find("name n2 at port " + std::to_string(n2->port())) != std::string::npos,
             names);
}

BOOST_AUTO_TEST_CASE(real_erl_looks_up_and_connects_to_a_node_through_our_port_mapper) {
  const int epmd_port = free_port();
  auto n1 = start_node("n1", epmd_port);
  BOOST_REQUIRE_MESSAGE(n1->ready(), n1->transcript());
  BOOST_REQUIRE(n1->request("serving") == "yes");
  const std::string erl = nodus::test::find_program("erl");
  if (erl.empty()) {
    BOOST_TEST_MESSAGE("skipped: no erl (Debian erlang-base)");
    return;
  }
  // erl asks our embedded port mapper for n1's port (ERL_EPMD_PORT), then handshakes with it.
  peer probe("probe@127.0.0.1",
             {"/usr/bin/env", "ERL_EPMD_PORT=" + std::to_string(epmd_port), erl, "-name",
              "probe@127.0.0.1", "-setcookie", "formation", "-noshell", "-eval",
              "io:format(\"result ~p~n\", [net_kernel:connect_node('n1@127.0.0.1')]), "
              "io:format(\"names ~p~n\", [erl_epmd:names(\"127.0.0.1\")]), halt()."},
             peer::launch::program);
  BOOST_REQUIRE_MESSAGE(probe.expect("result true", 20s), probe.transcript());
  BOOST_REQUIRE_MESSAGE(probe.expect_line({"names", "\"n1\""}, 5s), probe.transcript());
  BOOST_REQUIRE_MESSAGE(n1->expect("event up probe@127.0.0.1", 5s), n1->transcript());
}

BOOST_AUTO_TEST_SUITE_END()

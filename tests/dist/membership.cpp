// Membership across real node processes on loopback: the mesh, list() on every node, node_up /
// node_down when a node joins, quits, is killed or falls silent, hidden nodes, sync_nodes_*.
#include <boost/test/unit_test.hpp>

#include <csignal>

#include "cluster.hpp"

using namespace dist_test;

BOOST_AUTO_TEST_SUITE(membership)

BOOST_AUTO_TEST_CASE(five_nodes_joining_one_by_one_form_a_mesh_with_symmetric_lists) {
  peer n1("n1"), n2("n2"), n3("n3"), n4("n4"), n5("n5");
  const std::vector<peer*> all{&n1, &n2, &n3, &n4, &n5};
  require_started(all);
  for (auto* p : all) BOOST_TEST(p->request("list") == "");

  // Each newcomer connects to one member only (not always the same); the mesh does the rest.
  BOOST_TEST(n2.request("connect " + n1.address()) == "true");
  require_up_events({&n1, &n2});
  BOOST_TEST(n3.request("connect " + n2.address()) == "true");
  require_joined({&n1, &n2}, n3);
  BOOST_TEST(n4.request("connect " + n1.address()) == "true");
  require_joined({&n1, &n2, &n3}, n4);
  BOOST_TEST(n5.request("connect " + n3.address()) == "true");
  require_joined({&n1, &n2, &n3, &n4}, n5);
  require_lists(all);
  for (auto* p : all) {
    BOOST_TEST(p->request("hidden") == "");
    // One node_up per peer: a mesh built from several directions reports each node once.
    for (auto* q : all)
      if (q != p) BOOST_TEST(p->count("event up " + q->name()) == 1, p->transcript());
  }
}

BOOST_AUTO_TEST_CASE(a_three_node_mesh_forms_from_one_connect) {
  peer n1("n1"), n2("n2"), n3("n3");
  require_started({&n1, &n2, &n3});
  BOOST_TEST_REQUIRE(n1.request("connect " + n2.address()) == "true");
  require_up_events({&n1, &n2});
  // One connect, from n3 to n1: n3 learns n2 from n1 and connects to it; nobody asks n2.
  BOOST_TEST_REQUIRE(n3.request("connect " + n1.address()) == "true");
  require_joined({&n1, &n2}, n3);
  require_lists({&n1, &n2, &n3});
}

BOOST_AUTO_TEST_CASE(a_node_that_quits_is_down_on_every_other_node) {
  peer n1("n1"), n2("n2"), n3("n3"), n4("n4");
  const std::vector<peer*> all{&n1, &n2, &n3, &n4};
  require_started(all);
  for (auto* p : {&n2, &n3, &n4}) BOOST_TEST(p->request("connect " + n1.address()) == "true");
  require_up_events(all);

  BOOST_TEST(n4.request("quit") == "ok");
  BOOST_TEST(n4.wait_exit() == 0, n4.transcript());
  for (auto* p : {&n1, &n2, &n3}) {
    BOOST_TEST(p->expect("event down n4@127.0.0.1 connection_closed"), p->transcript());
  }
  require_lists({&n1, &n2, &n3});
}

BOOST_AUTO_TEST_CASE(a_node_killed_with_sigkill_is_down_on_every_other_node_within_the_tick_bound) {
  peer n1("n1"), n2("n2"), n3("n3"), n4("n4");
  const std::vector<peer*> all{&n1, &n2, &n3, &n4};
  require_started(all);
  for (auto* p : {&n2, &n3, &n4}) BOOST_TEST(p->request("connect " + n1.address()) == "true");
  require_up_events(all);

  const auto killed_at = clock_type::now();
  n3.signal(SIGKILL);
  for (auto* p : {&n1, &n2, &n4}) {
    const auto left = tick_bound - (clock_type::now() - killed_at);
    BOOST_TEST(p->expect("event down n3@127.0.0.1", left), p->transcript());
  }
  BOOST_TEST(n3.wait_exit() == 128 + SIGKILL);
  require_lists({&n1, &n2, &n4});

  // A node killed and started again under the same name comes back up everywhere.
  peer again("n3");
  require_started({&again});
  BOOST_TEST(again.request("connect " + n2.address()) == "true");
  require_joined({&n1, &n2, &n4}, again);
  require_lists({&n1, &n2, &again, &n4});
}

BOOST_AUTO_TEST_CASE(a_silent_node_is_down_after_the_tick_time_and_an_idle_one_is_not) {
  peer n1("n1"), n2("n2");
  require_started({&n1, &n2});
  BOOST_TEST_REQUIRE(n1.request("connect " + n2.address()) == "true");
  require_up_events({&n1, &n2});

  // Idle for more than twice the tick time: the ticks keep the connection up.
  BOOST_TEST(!n1.expect("event down", 2500ms), n1.transcript());
  BOOST_TEST(n1.request("list") == n2.name());

  // A stopped process keeps its sockets open but sends no ticks: down after about the tick time.
  const auto stopped_at = clock_type::now();
  n2.signal(SIGSTOP);
  BOOST_TEST(n1.expect("event down n2@127.0.0.1 net_tick_timeout", tick_bound), n1.transcript());
  // Not before the peer could have missed a tick.
  BOOST_TEST(ms_since(stopped_at) >= 500);
  BOOST_TEST(n1.request("list") == "");
  n2.signal(SIGKILL);
  BOOST_TEST(n2.wait_exit() == 128 + SIGKILL);
}

BOOST_AUTO_TEST_CASE(a_hidden_node_is_in_list_hidden_only_and_not_meshed) {
  peer n1("n1"), n2("n2", {"--hidden"}), n3("n3");
  require_started({&n1, &n2, &n3});
  BOOST_TEST_REQUIRE(n3.request("connect " + n1.address()) == "true");
  require_up_events({&n1, &n3});

  // n2 (hidden) connects to n1, which has a visible peer (n3) that n2 would mesh with if visible.
  BOOST_TEST_REQUIRE(n2.request("connect " + n1.address()) == "true");
  // Calls work over the hidden connection both ways; they also order us after the connection's
  // set-up frames on both sides.
  BOOST_TEST(n2.request("call " + n1.name()) == "ok " + n1.name());
  BOOST_TEST(n1.request("call " + n2.name()) == "ok " + n2.name());

  BOOST_TEST(n1.request("list") == n3.name());
  BOOST_TEST(n1.request("hidden") == n2.name());
  BOOST_TEST(n2.request("list") == "");
  BOOST_TEST(n2.request("hidden") == n1.name());
  BOOST_TEST(n2.request("connected") == n1.name());
  // Not meshed: n3 does not know n2, and n2 only n1.
  BOOST_TEST(n3.request("call " + n1.name()) == "ok " + n1.name());
  BOOST_TEST(n3.request("connected") == n1.name());
  BOOST_TEST(n3.request("hidden") == "");
  BOOST_TEST(n2.request("call " + n3.name()).rfind("error", 0) == 0);
  // No node_up for a hidden connection (monitor_nodes reports visible nodes), on either side.
  BOOST_TEST(n1.count("event up " + n2.name()) == 0, n1.transcript());
  BOOST_TEST(n2.count("event up") == 0, n2.transcript());
  BOOST_TEST(n3.count("event up " + n2.name()) == 0, n3.transcript());
}

BOOST_AUTO_TEST_CASE(a_missing_mandatory_sync_node_fails_start_up_naming_it) {
  peer n1("n1");
  require_started({&n1});
  closed_port nobody;
  const std::string missing = "n9@127.0.0.1:" + std::to_string(nobody.port());
  peer n2("n2",
          {"--sync-nodes-mandatory", n1.address() + "," + missing, "--sync-nodes-timeout", "1000"});
  BOOST_TEST(!n2.ready());
  BOOST_TEST(n2.start_line().rfind("start-failed ", 0) == 0, n2.transcript());
  BOOST_TEST(n2.start_line().find("n9@127.0.0.1") != std::string::npos, n2.transcript());
  BOOST_TEST(n2.start_line().find(n1.name()) == std::string::npos, n2.transcript());
  BOOST_TEST(n2.wait_exit() == 3, n2.transcript());
}

BOOST_AUTO_TEST_CASE(sync_nodes_connect_before_start_up_and_a_missing_optional_one_is_skipped) {
  peer n1("n1"), n2("n2");
  require_started({&n1, &n2});
  closed_port nobody;
  const std::string missing = "n9@127.0.0.1:" + std::to_string(nobody.port());
  const auto started_at = clock_type::now();
  peer n3("n3", {"--sync-nodes-mandatory", n1.address(), "--sync-nodes-optional",
                 n2.address() + "," + missing, "--sync-nodes-timeout", "1000"});
  const auto took = ms_since(started_at);
  require_started({&n3});
  // Connected before its servers started, so n3 itself saw no node_up; the others did.
  BOOST_TEST(n3.request("list") == n1.name() + "," + n2.name());
  BOOST_TEST(n1.expect("event up " + n3.name()), n1.transcript());
  BOOST_TEST(n2.expect("event up " + n3.name()), n2.transcript());
  // It waited for the missing optional node, but not much longer than the timeout.
  BOOST_TEST(took >= 900);
  BOOST_TEST(took < 4000);
}

BOOST_AUTO_TEST_SUITE_END()

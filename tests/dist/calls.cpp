// Calls between real node processes: call and multi_call across nodes, and a call to a node that
// dies failing with nodedown at once rather than at its timeout.
#include <boost/test/unit_test.hpp>

#include <csignal>

#include "cluster.hpp"

using namespace dist_test;

BOOST_AUTO_TEST_SUITE(calls)

BOOST_AUTO_TEST_CASE(call_and_multi_call_reach_every_node_of_the_mesh) {
  peer n1("n1"), n2("n2"), n3("n3");
  const std::vector<peer*> all{&n1, &n2, &n3};
  require_started(all);
  BOOST_TEST_REQUIRE(n2.request("connect " + n1.address()) == "true");
  BOOST_TEST_REQUIRE(n3.request("connect " + n1.address()) == "true");
  require_up_events(all);

  for (auto* from : all) {
    BOOST_TEST_CONTEXT("from " << from->name()) {
      for (auto* to : all) {
        // The reply names the node that answered (and the call itself, checked by the peer).
        BOOST_TEST(from->request("call " + to->name()) == "ok " + to->name(), from->transcript());
      }
      std::string expected;
      for (auto* to : all)
        if (to != from) expected += " " + to->name() + ":ok";
      BOOST_TEST(" " + from->request("multi") == expected, from->transcript());
    }
  }

  // A node that is not connected: nodedown at once, naming it.
  const auto r = n1.request("call n9@127.0.0.1");
  BOOST_TEST(r.rfind("error ", 0) == 0);
  BOOST_TEST(r.find("n9@127.0.0.1") != std::string::npos, r);
}

BOOST_AUTO_TEST_CASE(a_call_to_a_node_that_is_killed_fails_with_nodedown_at_once) {
  peer n1("n1"), n2("n2");
  require_started({&n1, &n2});
  BOOST_TEST_REQUIRE(n1.request("connect " + n2.address()) == "true");
  require_up_events({&n1, &n2});
  // n2's ping server keeps `hold` calls unanswered; the call's own timeout is 20 s.
  BOOST_TEST_REQUIRE(n1.request("hold " + n2.name()) == "sent");
  BOOST_TEST_REQUIRE(n1.request("call " + n2.name()) == "ok " + n2.name());  // the hold is there
  const auto killed_at = clock_type::now();
  n2.signal(SIGKILL);
  BOOST_TEST(n1.expect("held n2@127.0.0.1 error node is down (nodedown)", tick_bound),
             n1.transcript());
  BOOST_TEST(ms_since(killed_at) < ms(tick_bound));
}

BOOST_AUTO_TEST_CASE(a_call_to_a_hidden_node_that_is_killed_fails_with_nodedown_at_once) {
  peer n1("n1"), n2("n2", {"--hidden"});
  require_started({&n1, &n2});
  BOOST_TEST_REQUIRE(n2.request("connect " + n1.address()) == "true");
  // connect() answers once n2 has the connection up; n1 has it too once a call from n2 came.
  BOOST_TEST_REQUIRE(n2.request("call " + n1.name()) == "ok " + n1.name());
  BOOST_TEST_REQUIRE(n1.request("hold " + n2.name()) == "sent");
  BOOST_TEST_REQUIRE(n1.request("call " + n2.name()) == "ok " + n2.name());
  const auto killed_at = clock_type::now();
  n2.signal(SIGKILL);
  BOOST_TEST(n1.expect("held n2@127.0.0.1 error node is down (nodedown)", tick_bound),
             n1.transcript());
  BOOST_TEST(ms_since(killed_at) < ms(tick_bound));
  BOOST_TEST(n1.request("hidden") == "");
}

BOOST_AUTO_TEST_SUITE_END()

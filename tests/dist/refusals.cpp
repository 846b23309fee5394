// Connections that must not come up (wrong cookie, another protocol), and connects that race:
// simultaneous connects end with one connection.
#include <boost/test/unit_test.hpp>

#include <csignal>

#include "cluster.hpp"

using namespace dist_test;

namespace {

// require_unconnected(a, b): no connection on either side, no node_up anywhere.
void require_unconnected(peer& a, peer& b) {
  for (auto* p : {&a, &b}) {
    BOOST_TEST_CONTEXT(p->name()) {
      BOOST_TEST(p->request("connected") == "");
      BOOST_TEST(p->count("event up") == 0, p->transcript());
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(refusals)

BOOST_AUTO_TEST_CASE(a_wrong_cookie_is_refused_with_a_log_line_naming_the_peer_on_both_sides) {
  peer n1("n1", {}, "cookie-one"), n2("n2", {}, "cookie-two");
  require_started({&n1, &n2});
  BOOST_TEST(n2.request("connect " + n1.address()) == "false");
  // Each side says why, naming the other (at error level: this is not a routine miss).
  auto here = n2.expect_line({"log ", "[error]", n1.name()});
  BOOST_TEST_REQUIRE(here.has_value(), n2.transcript());
  BOOST_TEST(here->find("cookie") != std::string::npos, *here);
  auto there = n1.expect_line({"log ", "[error]", n2.name()});
  BOOST_TEST_REQUIRE(there.has_value(), n1.transcript());
  BOOST_TEST(there->find("cookie") != std::string::npos, *there);
  require_unconnected(n1, n2);
  // The other way round fails the same way.
  BOOST_TEST(n1.request("connect " + n2.address()) == "false");
  BOOST_TEST(n1.expect_line({"log ", "[error]", n2.name(), "cookie"}).has_value(), n1.transcript());
  require_unconnected(n1, n2);
}

BOOST_AUTO_TEST_CASE(nodes_built_from_different_protocols_refuse_each_other_clearly) {
  peer n1("n1"), n2("n2", {"--alt-protocol"});
  require_started({&n1, &n2});
  BOOST_TEST(n2.request("connect " + n1.address()) == "false");
  for (auto [p, other] : {std::pair{&n1, &n2}, std::pair{&n2, &n1}}) {
    auto line = p->expect_line({"log ", "[error]", other->name(), "protocol"});
    BOOST_TEST(line.has_value(), p->transcript());
  }
  require_unconnected(n1, n2);
  // A call cannot sneak through either.
  BOOST_TEST(n2.request("call " + n1.name()).rfind("error ", 0) == 0);
}

BOOST_AUTO_TEST_CASE(simultaneous_connects_end_with_one_connection) {
  // At debug level the nodes log the dial they drop when the handshakes cross.
  peer n1("n1", {"--log-level", "debug"}), n2("n2", {"--log-level", "debug"});
  require_started({&n1, &n2});
  constexpr int rounds = 4;
  for (int round = 1; round <= rounds; ++round) {
    BOOST_TEST_CONTEXT("round " << round) {
      // Both commands are written before either answer is read: the dials cross.
      BOOST_TEST_REQUIRE(n1.send("connect " + n2.address()));
      BOOST_TEST_REQUIRE(n2.send("connect " + n1.address()));
      BOOST_TEST(n1.answer("connect") == "true", n1.transcript());
      BOOST_TEST(n2.answer("connect") == "true", n2.transcript());
      require_up_events({&n1, &n2});
      require_lists({&n1, &n2});
      // Round trips both ways, so that a second node_up would have come by now.
      BOOST_TEST(n1.request("call " + n2.name()) == "ok " + n2.name());
      BOOST_TEST(n2.request("call " + n1.name()) == "ok " + n1.name());
      BOOST_TEST(n1.count("event up " + n2.name()) == round, n1.transcript());
      BOOST_TEST(n2.count("event up " + n1.name()) == round, n2.transcript());
      BOOST_TEST(n1.count("event down") == round - 1, n1.transcript());

      // Apart again for the next round: disconnect on n1, the connection closing on n2.
      BOOST_TEST_REQUIRE(n1.request("disconnect " + n2.name()) == "true");
      BOOST_TEST_REQUIRE(n1.expect("event down " + n2.name() + " disconnect"), n1.transcript());
      BOOST_TEST_REQUIRE(n2.expect("event down " + n1.name() + " connection_closed"),
                         n2.transcript());
      BOOST_TEST(n1.request("connected") == "");
      BOOST_TEST(n2.request("connected") == "");
    }
  }
  BOOST_TEST_MESSAGE("simultaneous connects: the handshakes crossed "
                     << n1.count("peer answered nok") + n2.count("peer answered nok")
                     << " time(s) in " << rounds << " rounds");
}

BOOST_AUTO_TEST_SUITE_END()

// Supervision trees: strategies, restart intensity, nesting, start failures, shutdown order.
#include <boost/test/unit_test.hpp>

#include <stdexcept>
#include <string>

#include "common.hpp"

using namespace std::chrono_literals;
using test::events;

namespace {

struct bump {};
struct state {
  int bumps;
  int incarnation;
};
struct fail {};
struct quit {};  // the worker stops itself normally

// How many times each worker type has been started (its incarnation), across the test binary.
template <class Tag>
int next_incarnation() {
  static std::atomic<int> n{0};
  return ++n;
}

// worker<Tag>: a server named Tag::name counting bumps; `fail` crashes it.
template <class Tag>
struct worker
    : nodus::server<worker<Tag>, nodus::call<bump, state>, nodus::cast<fail>, nodus::cast<quit>> {
  static constexpr nodus::fixed_string name = Tag::name;
  int bumps = 0;
  int incarnation = next_incarnation<Tag>();
  void init() { events().add(std::string("init ") + std::string(name.view())); }
  void terminate(const nodus::error&) {
    events().add(std::string("terminate ") + std::string(name.view()));
  }
  state handle_call(const bump&) { return {++bumps, incarnation}; }
  void handle_cast(const fail&) { throw std::runtime_error("crash requested"); }
  void handle_cast(const quit&) { this->stop(); }
};
struct tag_a {
  static constexpr nodus::fixed_string name = "a";
};
struct tag_b {
  static constexpr nodus::fixed_string name = "b";
};
struct tag_c {
  static constexpr nodus::fixed_string name = "c";
};
struct tag_d {
  static constexpr nodus::fixed_string name = "d";
};
using a = worker<tag_a>;
using b = worker<tag_b>;
using c = worker<tag_c>;
using d = worker<tag_d>;

struct broken : nodus::server<broken, nodus::call<bump, state>> {
  static constexpr nodus::fixed_string name = "broken";
  void init() { throw std::runtime_error("cannot start"); }
  state handle_call(const bump&) { return {}; }
};

nodus::options two_threads() {
  nodus::options o;
  o.threads = 2;
  return o;
}

// bumps<S>(node) -> S's bump count after one more bump (its state survives iff > 1).
template <class S, class N>
state bump_once(N& node) {
  auto r = node.template call<S>(bump{});
  BOOST_REQUIRE_MESSAGE(r.has_value(), r.error().message());
  return *r;
}

// crash<S>(node, inits): crashes S and waits until `init S` has been seen `inits` times.
template <class S, class N>
void crash_and_wait(N& node, const std::string& wait_for, int count) {
  BOOST_REQUIRE(node.template cast<S>(fail{}));
  BOOST_REQUIRE(events().wait_count(wait_for, count));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(supervisors)

BOOST_AUTO_TEST_CASE(one_for_one_restarts_only_the_crashed_child_with_fresh_state) {
  events().clear();
  test::captured_log log;
  nodus::node<> node(two_threads());
  log.attach(node.log());
  BOOST_REQUIRE(node.start(nodus::supervisor<nodus::one_for_one, a, b>{}));
  node.run_in_background();
  bump_once<a>(node);
  const auto a1 = bump_once<a>(node);
  bump_once<b>(node);
  BOOST_TEST(a1.bumps == 2);
  crash_and_wait<a>(node, "init a", 2);
  const auto a2 = bump_once<a>(node);
  BOOST_TEST(a2.bumps == 1);  // fresh state
  BOOST_TEST(a2.incarnation != a1.incarnation);
  BOOST_TEST(bump_once<b>(node).bumps == 2);  // b untouched
  BOOST_TEST(events().count("init b") == 1);
  BOOST_TEST(log.contains("restarting 'a'"));
}

BOOST_AUTO_TEST_CASE(one_for_all_restarts_every_child) {
  events().clear();
  nodus::node<> node(two_threads());
  BOOST_REQUIRE(node.start(nodus::supervisor<nodus::one_for_all, a, b, c>{}));
  node.run_in_background();
  bump_once<a>(node);
  bump_once<c>(node);
  crash_and_wait<b>(node, "init c", 2);
  BOOST_TEST(bump_once<a>(node).bumps == 1);
  BOOST_TEST(bump_once<b>(node).bumps == 1);
  BOOST_TEST(bump_once<c>(node).bumps == 1);
  // the others were stopped in reverse order, then all started in order
  auto ev = events().snapshot();
  std::vector<std::string> tail(ev.end() - 5, ev.end());
  BOOST_TEST(tail == (std::vector<std::string>{"terminate c", "terminate a", "init a", "init b",
                                               "init c"}));
}

BOOST_AUTO_TEST_CASE(rest_for_one_restarts_the_crashed_child_and_those_after_it) {
  events().clear();
  nodus::node<> node(two_threads());
  BOOST_REQUIRE(node.start(nodus::supervisor<nodus::rest_for_one, a, b, c>{}));
  node.run_in_background();
  bump_once<a>(node);
  bump_once<b>(node);
  bump_once<c>(node);
  crash_and_wait<b>(node, "init c", 2);
  BOOST_TEST(bump_once<a>(node).bumps == 2);  // before b: kept
  BOOST_TEST(bump_once<b>(node).bumps == 1);
  BOOST_TEST(bump_once<c>(node).bumps == 1);
  BOOST_TEST(events().count("init a") == 1);
  BOOST_TEST(events().count("terminate c") == 1);
}

BOOST_AUTO_TEST_CASE(past_the_restart_intensity_the_supervisor_stops_and_says_why) {
  events().clear();
  test::captured_log log;
  nodus::node<> node(two_threads());
  log.attach(node.log());
  BOOST_REQUIRE(node.start(
      nodus::supervisor<nodus::one_for_one, nodus::restart_intensity<2, 60000>, a, b>{}));
  node.run_in_background();
  crash_and_wait<a>(node, "init a", 2);
  crash_and_wait<a>(node, "init a", 3);
  BOOST_REQUIRE(node.cast<a>(fail{}));  // third crash within the period: too many
  auto r = node.join();                 // the node stops by itself
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error() == nodus::errc::supervisor_gave_up));
  const auto msg = r.error().message();
  BOOST_TEST(msg.find("'a'") != std::string::npos, msg);
  BOOST_TEST(msg.find("crash requested") != std::string::npos, msg);
  BOOST_TEST(msg.find("2 restarts") != std::string::npos, msg);
  BOOST_TEST(events().count("terminate b") == 1);  // the other children were stopped
  BOOST_TEST(log.contains("[error] " + msg));
}

BOOST_AUTO_TEST_CASE(nested_supervisors_restart_their_own_subtree) {
  events().clear();
  using inner = nodus::supervisor<nodus::one_for_all, nodus::restart_intensity<1, 60000>, b, c>;
  test::captured_log log;
  nodus::node<> node(two_threads());
  log.attach(node.log());
  BOOST_REQUIRE(node.start(nodus::supervisor<nodus::one_for_one, a, inner, d>{}));
  node.run_in_background();
  bump_once<a>(node);
  bump_once<b>(node);
  bump_once<d>(node);
  // b crashes: the inner one_for_all restarts b and c; a and d keep their state.
  crash_and_wait<b>(node, "init c", 2);
  BOOST_TEST(bump_once<a>(node).bumps == 2);
  BOOST_TEST(bump_once<b>(node).bumps == 1);
  BOOST_TEST(bump_once<d>(node).bumps == 2);
  // A second crash exceeds the inner intensity (1 restart): the inner supervisor gives up, and
  // the top one_for_one restarts the inner supervisor as a whole, with fresh children.
  crash_and_wait<c>(node, "init c", 3);
  BOOST_TEST(log.contains("reached its maximum restart intensity"));
  BOOST_TEST(bump_once<b>(node).bumps == 1);
  BOOST_TEST(bump_once<c>(node).bumps == 1);
  BOOST_TEST(bump_once<a>(node).bumps == 3);
  BOOST_TEST(bump_once<d>(node).bumps == 3);
  BOOST_TEST(events().count("init a") == 1);
  BOOST_TEST(events().count("init d") == 1);
}

BOOST_AUTO_TEST_CASE(a_child_that_fails_to_start_fails_the_start_and_stops_the_others) {
  events().clear();
  nodus::node<> node;
  auto r = node.start(nodus::supervisor<nodus::one_for_one, a, b, broken, c>{});
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error() == nodus::errc::init_failed));
  BOOST_TEST(r.error().message().find("'broken'") != std::string::npos, r.error().message());
  BOOST_TEST(r.error().message().find("cannot start") != std::string::npos);
  BOOST_TEST((events().snapshot() ==
              std::vector<std::string>{"init a", "init b", "terminate b", "terminate a"}));
  BOOST_TEST(!node.is_running<a>());
}

BOOST_AUTO_TEST_CASE(node_stop_terminates_children_in_reverse_start_order) {
  events().clear();
  {
    nodus::node<> node(two_threads());
    BOOST_REQUIRE(node.start(nodus::supervisor<nodus::one_for_one, a,
                                               nodus::supervisor<nodus::one_for_all, b, c>, d>{}));
    node.run_in_background();
    bump_once<d>(node);
    node.stop();
    BOOST_TEST(node.join());
  }
  BOOST_TEST((events().snapshot() ==
              std::vector<std::string>{"init a", "init b", "init c", "init d", "terminate d",
                                       "terminate c", "terminate b", "terminate a"}));
}

BOOST_AUTO_TEST_CASE(run_returns_when_stopped_from_a_handler_thread) {
  events().clear();
  nodus::node<> node;
  BOOST_REQUIRE(node.start(nodus::supervisor<nodus::one_for_one, a>{}));
  std::atomic<bool> seen_init{false};
  std::thread stopper([&] {  // no Boost.Test checks off the main thread
    seen_init = events().wait_count("init a", 1);
    node.stop();
  });
  BOOST_TEST(node.run());  // returns once stop() has run the shutdown
  stopper.join();
  BOOST_TEST(seen_init.load());
  BOOST_TEST(events().count("terminate a") == 1);
}

// Restart types (OTP's permanent, transient, temporary).

BOOST_AUTO_TEST_CASE(a_permanent_child_is_restarted_after_a_normal_stop_too) {
  events().clear();
  nodus::node<> node(two_threads());
  BOOST_REQUIRE(node.start(nodus::supervisor<nodus::one_for_one, nodus::permanent<a>>{}));
  node.run_in_background();
  BOOST_REQUIRE(node.cast<a>(quit{}));
  BOOST_REQUIRE(events().wait_count("init a", 2));
  BOOST_TEST(bump_once<a>(node).bumps == 1);
}

BOOST_AUTO_TEST_CASE(a_transient_child_is_restarted_after_a_crash_not_after_a_normal_stop) {
  events().clear();
  test::captured_log log;
  nodus::node<> node(two_threads());
  log.attach(node.log());
  BOOST_REQUIRE(node.start(nodus::supervisor<nodus::one_for_all, a, nodus::transient<b>, c>{}));
  node.run_in_background();
  crash_and_wait<b>(node, "init c", 2);  // a crash: restarted, with its siblings (one_for_all)
  BOOST_TEST(events().count("init b") == 2);
  BOOST_REQUIRE(node.cast<b>(quit{}));  // a normal exit: neither it nor its siblings restart
  BOOST_REQUIRE(log.wait_for("'b' ended (normal) and is not restarted"));
  BOOST_TEST(!node.is_running<b>());
  auto gone = node.call<b>(bump{});
  BOOST_TEST((!gone && gone.error() == nodus::errc::noproc));
  BOOST_TEST(events().count("init a") == 2);
  BOOST_TEST(events().count("init c") == 2);
  // A sibling's crash restarts those that run; b, down, stays down.
  crash_and_wait<a>(node, "init c", 3);
  BOOST_TEST(events().count("init a") == 3);
  BOOST_TEST(events().count("init b") == 2);
  BOOST_TEST(!node.is_running<b>());
}

BOOST_AUTO_TEST_CASE(a_temporary_child_is_never_restarted_and_its_exit_restarts_no_sibling) {
  events().clear();
  test::captured_log log;
  nodus::node<> node(two_threads());
  log.attach(node.log());
  BOOST_REQUIRE(node.start(nodus::supervisor<nodus::one_for_all, a, nodus::temporary<b>, c>{}));
  node.run_in_background();
  bump_once<a>(node);
  BOOST_REQUIRE(node.cast<b>(fail{}));  // even a crash
  BOOST_REQUIRE(log.wait_for("'b' ended (server crashed"));
  BOOST_TEST(!node.is_running<b>());
  BOOST_TEST(bump_once<a>(node).bumps == 2);  // a kept its state: not restarted
  BOOST_TEST(events().count("init a") == 1);
  BOOST_TEST(events().count("init c") == 1);
  BOOST_TEST(events().count("init b") == 1);
}

BOOST_AUTO_TEST_CASE(a_temporary_child_stopped_by_a_siblings_restart_is_not_started_again) {
  events().clear();
  nodus::node<> node(two_threads());
  BOOST_REQUIRE(node.start(nodus::supervisor<nodus::rest_for_one, a, nodus::temporary<b>, c>{}));
  node.run_in_background();
  crash_and_wait<a>(node, "init c", 2);  // rest_for_one: b and c are stopped, a and c restart
  BOOST_TEST(events().count("terminate b") == 1);
  BOOST_TEST(events().count("init b") == 1);
  BOOST_TEST(!node.is_running<b>());
  BOOST_TEST(bump_once<c>(node).bumps == 1);
}

BOOST_AUTO_TEST_CASE(only_restarts_count_towards_the_restart_intensity) {
  events().clear();
  test::captured_log log;
  nodus::node<> node(two_threads());
  log.attach(node.log());
  BOOST_REQUIRE(node.start(nodus::supervisor<nodus::one_for_one, nodus::restart_intensity<1, 60000>,
                                             a, nodus::transient<b>, nodus::temporary<c>>{}));
  node.run_in_background();
  BOOST_REQUIRE(node.cast<b>(quit{}));  // not restarted: not counted
  BOOST_REQUIRE(node.cast<c>(fail{}));  // not restarted: not counted
  BOOST_REQUIRE(log.wait_for("'b' ended"));
  BOOST_REQUIRE(log.wait_for("'c' ended"));
  crash_and_wait<a>(node, "init a", 2);  // the first restart: within the intensity
  BOOST_TEST(bump_once<a>(node).bumps == 1);
  BOOST_REQUIRE(node.cast<a>(fail{}));  // the second: one too many
  auto r = node.join();
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error() == nodus::errc::supervisor_gave_up));
}

BOOST_AUTO_TEST_SUITE_END()

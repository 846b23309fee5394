// Dynamic supervisors: children started at run time with arguments, run-time names and restart
// types; terminate_child, which_children, max_children, the restart intensity.
#include <boost/test/unit_test.hpp>

#include <stdexcept>
#include <string>
#include <utility>

#include <nodus/process/dynamic_supervisor.hpp>

#include "common.hpp"

using namespace std::chrono_literals;
using test::events;

namespace {

struct progress {};
struct report {
  std::string url;
  int id = 0;
  int calls = 0;
};
struct crash {};
struct done {};  // the child stops itself normally

// download: a child constructed from (url, id) at every start, named at run time.
struct download : nodus::server<download, nodus::call<progress, report>, nodus::cast<crash>,
                                nodus::cast<done>> {
  static constexpr nodus::fixed_string name = "download";
  download(std::string u, int i) : url(std::move(u)), id(i) {}
  void init() { events().add("init " + std::string(self_name())); }
  void terminate(const nodus::error&) { events().add("terminate " + std::string(self_name())); }
  report handle_call(const progress&) { return {url, id, ++calls}; }
  void handle_cast(const crash&) { throw std::runtime_error("download failed"); }
  void handle_cast(const done&) { stop(); }
  std::string url;
  int id;
  int calls = 0;
};

using tree = nodus::supervisor<nodus::one_for_one, nodus::dynamic_supervisor<"downloads">>;

nodus::options two_threads() {
  nodus::options o;
  o.threads = 2;
  return o;
}

template <class N>
report progress_of(N& node, const std::string& child) {
  auto r = node.template call<download>(nodus::local_name{child}, progress{});
  BOOST_REQUIRE_MESSAGE(r.has_value(), r.error().message());
  return *r;
}

std::vector<std::string> names_of(const std::vector<nodus::child_info>& cs) {
  std::vector<std::string> out;
  for (const auto& c : cs) out.push_back(c.name);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(dynamic_supervisors)

BOOST_AUTO_TEST_CASE(children_start_with_arguments_under_run_time_names) {
  events().clear();
  nodus::node<> node(two_threads());
  BOOST_REQUIRE(node.start(tree{}));
  node.run_in_background();
  auto sup = node.dynamic_supervisor("downloads");
  BOOST_REQUIRE(sup.start_child<download>("download/1", std::string("http://a"), 1));
  BOOST_REQUIRE(sup.start_child<download>("download/2", std::string("http://b"), 2));
  const auto r1 = progress_of(node, "download/1");
  BOOST_TEST(r1.url == "http://a");
  BOOST_TEST(r1.id == 1);
  BOOST_TEST(progress_of(node, "download/2").url == "http://b");
  BOOST_TEST(progress_of(node, "download/1").calls == 2);  // each its own state
  // By its type's name: nothing runs (the children have their own names).
  auto by_type = node.call<download>(progress{});
  BOOST_TEST((!by_type && by_type.error() == nodus::errc::noproc));
  BOOST_TEST(node.cast<download>(nodus::local_name{"download/2"}, done{}));
  BOOST_REQUIRE(events().wait_count("terminate download/2", 1));
  // A name taken on the node is refused.
  auto again = sup.start_child<download>("download/1", std::string("http://c"), 3);
  BOOST_TEST((!again && again.error() == nodus::errc::already_registered));
  // No dynamic supervisor of that name.
  auto none = node.dynamic_supervisor("uploads").start_child<download>("u/1", std::string(), 0);
  BOOST_TEST((!none && none.error() == nodus::errc::noproc));
}

BOOST_AUTO_TEST_CASE(each_child_has_its_restart_type) {
  events().clear();
  test::captured_log log;
  nodus::node<> node(two_threads());
  log.attach(node.log());
  BOOST_REQUIRE(node.start(tree{}));
  node.run_in_background();
  auto sup = node.dynamic_supervisor("downloads");
  using nodus::restart_type;
  BOOST_REQUIRE(sup.start_child<download>("p", restart_type::permanent, std::string("u-p"), 1));
  BOOST_REQUIRE(sup.start_child<download>("t", restart_type::transient, std::string("u-t"), 2));
  BOOST_REQUIRE(sup.start_child<download>("x", restart_type::temporary, std::string("u-x"), 3));
  BOOST_TEST(sup.count_children() == 3u);
  progress_of(node, "p");
  // permanent: restarted after a crash, from the same arguments, with fresh state
  BOOST_REQUIRE(node.cast<download>(nodus::local_name{"p"}, crash{}));
  BOOST_REQUIRE(events().wait_count("init p", 2));
  const auto p = progress_of(node, "p");
  BOOST_TEST(p.url == "u-p");
  BOOST_TEST(p.calls == 1);
  // transient: restarted after a crash, forgotten after a normal exit
  BOOST_REQUIRE(node.cast<download>(nodus::local_name{"t"}, crash{}));
  BOOST_REQUIRE(events().wait_count("init t", 2));
  BOOST_REQUIRE(node.cast<download>(nodus::local_name{"t"}, done{}));
  BOOST_REQUIRE(log.wait_for("'t' ended (normal) and is not restarted"));
  // temporary: forgotten even after a crash
  BOOST_REQUIRE(node.cast<download>(nodus::local_name{"x"}, crash{}));
  BOOST_REQUIRE(log.wait_for("'x' ended (server crashed"));
  BOOST_TEST(events().count("init x") == 1);
  BOOST_TEST((names_of(sup.which_children()) == std::vector<std::string>{"p"}));
  auto gone = node.call<download>(nodus::local_name{"x"}, progress{});
  BOOST_TEST((!gone && gone.error() == nodus::errc::noproc));
  // A forgotten child's name is free again.
  BOOST_TEST(sup.start_child<download>("x", std::string("u-x2"), 4));
  BOOST_TEST(progress_of(node, "x").url == "u-x2");
}

BOOST_AUTO_TEST_CASE(terminate_child_stops_it_for_good) {
  events().clear();
  nodus::node<> node(two_threads());
  BOOST_REQUIRE(node.start(tree{}));
  node.run_in_background();
  auto sup = node.dynamic_supervisor("downloads");
  BOOST_REQUIRE(sup.start_child<download>("a", std::string("u"), 1));
  BOOST_REQUIRE(sup.start_child<download>("b", std::string("u"), 2));
  BOOST_REQUIRE(sup.terminate_child("a"));
  BOOST_TEST(events().count("terminate a") == 1);
  BOOST_TEST(events().count("init a") == 1);  // not restarted
  BOOST_TEST((names_of(sup.which_children()) == std::vector<std::string>{"b"}));
  auto unknown = sup.terminate_child("a");
  BOOST_TEST((!unknown && unknown.error() == nodus::errc::noproc));
  const auto cs = sup.which_children();
  BOOST_REQUIRE(cs.size() == 1u);
  BOOST_TEST(cs[0].running);
  BOOST_TEST((cs[0].restart == nodus::restart_type::permanent));
}

BOOST_AUTO_TEST_CASE(max_children_refuses_one_too_many) {
  events().clear();
  nodus::node<> node(two_threads());
  BOOST_REQUIRE(node.start(
      nodus::supervisor<nodus::one_for_one,
                        nodus::dynamic_supervisor<"downloads", nodus::max_children<2>>>{}));
  node.run_in_background();
  auto sup = node.dynamic_supervisor("downloads");
  BOOST_REQUIRE(sup.start_child<download>("a", std::string("u"), 1));
  BOOST_REQUIRE(sup.start_child<download>("b", std::string("u"), 2));
  auto third = sup.start_child<download>("c", std::string("u"), 3);
  BOOST_TEST((!third && third.error() == nodus::errc::max_children));
  BOOST_TEST(events().count("init c") == 0);
  BOOST_REQUIRE(sup.terminate_child("a"));
  BOOST_TEST(sup.start_child<download>("c", std::string("u"), 3));
}

BOOST_AUTO_TEST_CASE(past_its_intensity_it_stops_its_children_and_restarts_empty) {
  events().clear();
  test::captured_log log;
  nodus::node<> node(two_threads());
  log.attach(node.log());
  BOOST_REQUIRE(
      node.start(nodus::supervisor<
                 nodus::one_for_one,
                 nodus::dynamic_supervisor<"downloads", nodus::restart_intensity<1, 60000>>>{}));
  node.run_in_background();
  auto sup = node.dynamic_supervisor("downloads");
  BOOST_REQUIRE(sup.start_child<download>("a", std::string("u"), 1));
  BOOST_REQUIRE(sup.start_child<download>("b", std::string("u"), 2));
  BOOST_REQUIRE(node.cast<download>(nodus::local_name{"a"}, crash{}));
  BOOST_REQUIRE(events().wait_count("init a", 2));  // one restart: within the intensity
  BOOST_REQUIRE(node.cast<download>(nodus::local_name{"a"}, crash{}));
  BOOST_REQUIRE(log.wait_for("restarting dynamic_supervisor 'downloads'"));
  BOOST_TEST(log.contains("reached its maximum restart intensity"));
  BOOST_TEST(events().count("terminate b") == 1);
  BOOST_TEST(sup.which_children().empty());
  BOOST_TEST(sup.start_child<download>("a", std::string("u"), 1));  // running again, empty
  BOOST_TEST(events().count("init b") == 1);
}

BOOST_AUTO_TEST_SUITE_END()

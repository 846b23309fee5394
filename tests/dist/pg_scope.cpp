// dist::pg_scope on its own, its transport recording what it would send: the exact terms of
// OTP's pg protocol, and the cases a real erl does not easily make (a peer naming another node's
// scope, a sync that replaces another, bounds, a monitor that fires). tests/dist/groups.cpp runs
// the scopes against real nodes.
#include <boost/test/unit_test.hpp>

#include <string>
#include <utility>
#include <vector>

#include <nodus/codec/etf/term.hpp>
#include <nodus/dist/pg_scope.hpp>

namespace {

namespace etf = nodus::etf;
using etf::atom;
using etf::term;

term a(const char* name) { return term(atom(name)); }

struct recorder final : nodus::dist::pg_transport {
  std::vector<std::string> sent;  // "name PEER MSG", "pid PID MSG", "monitor PID"
  std::vector<nodus::node_name> up;
  void pg_send_name(const nodus::node_name& peer, std::string_view scope, const term& m) override {
    sent.push_back("name " + std::string(peer.str()) + " " + std::string(scope) + " " +
                   m.to_string());
  }
  void pg_send_pid(const etf::pid& to, const term& m) override {
    sent.push_back("pid " + term(to).to_string() + " " + m.to_string());
  }
  bool pg_monitor(const etf::pid& to, const etf::reference&) override {
    sent.push_back("monitor " + term(to).to_string());
    return true;
  }
  void pg_demonitor(const etf::pid& to, const etf::reference&) override {
    sent.push_back("demonitor " + term(to).to_string());
  }
  [[nodiscard]] std::vector<nodus::node_name> pg_peers() const override { return up; }
  std::vector<std::string> take() { return std::exchange(sent, {}); }
};

struct fixture {
  nodus::logger log;
  recorder t;
  const etf::pid self{atom("n1@127.0.0.1"), 0, 1, 7};
  const etf::pid e1_scope{atom("e1@127.0.0.1"), 40, 0, 3};
  const etf::pid e1_p{atom("e1@127.0.0.1"), 41, 0, 3};
  const etf::pid e1_q{atom("e1@127.0.0.1"), 42, 0, 3};
  const etf::pid mine{atom("n1@127.0.0.1"), 5, 1, 7};
  const nodus::node_name e1 = nodus::node_name::parse("e1@127.0.0.1").value();
  nodus::dist::pg_scope s{log, "pg", self};
  std::vector<std::string> events;
  fixture() {
    log.set_level(nodus::log_level::off);
    t.up.push_back(e1);
    s.attach(&t, self);
    (void)s.monitor_scope([this](const nodus::group_event& e) {
      events.push_back(std::string(e.what == nodus::group_event::kind::join ? "join " : "leave ") +
                       e.group.to_string() + " " + std::to_string(e.pids.size()));
    });
  }
  void discovered() {  // e1's scope discovers this one
    s.on_message(e1, term::tuple({a("discover"), term(e1_scope)}));
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(pg_scope_alone)

BOOST_FIXTURE_TEST_CASE(discovery_sends_the_terms_of_otp_s_pg, fixture) {
  // attach: {discover, Self} to the scope's name on every connected node.
  BOOST_TEST((t.take() ==
              std::vector<std::string>{"name e1@127.0.0.1 pg {discover,<'n1@127.0.0.1'.0.1>}"}));
  const etf::pid one[] = {mine};
  s.join(a("g"), one);
  BOOST_TEST(t.take().empty());  // no peer known yet
  discovered();
  BOOST_TEST((t.take() == std::vector<std::string>{
                              "pid <'e1@127.0.0.1'.40.0> {'$gen_cast',{sync,<'n1@127.0.0.1'.0.1>,"
                              "[{g,[<'n1@127.0.0.1'.5.1>]}]}}",
                              "monitor <'e1@127.0.0.1'.40.0>",
                              "pid <'e1@127.0.0.1'.40.0> {discover,<'n1@127.0.0.1'.0.1>}"}));
  discovered();  // known now: only a sync
  BOOST_TEST(t.take().size() == 1u);
  // A join and a leave go to the known peer; a leave of a group it is not in sends nothing.
  s.join(a("h"), one);
  BOOST_TEST((t.take() ==
              std::vector<std::string>{"pid <'e1@127.0.0.1'.40.0> {join,<'n1@127.0.0.1'.0.1>,h,"
                                       "<'n1@127.0.0.1'.5.1>}"}));
  BOOST_TEST(!s.leave(a("nope"), one));
  BOOST_TEST(t.take().empty());
  // Its end: one leave with every group it was in.
  s.join(a("g"), one);
  (void)t.take();
  s.member_exited(mine);
  BOOST_TEST(
      (t.take() == std::vector<std::string>{"pid <'e1@127.0.0.1'.40.0> {leave,<'n1@127.0.0.1'.0.1>,"
                                            "<'n1@127.0.0.1'.5.1>,[g,h,g]}"}));
  BOOST_TEST(s.which_groups().empty());
}

BOOST_FIXTURE_TEST_CASE(a_peer_s_sync_join_and_leave_change_only_what_it_contributed, fixture) {
  // Before its discover: a join is ignored.
  s.on_message(e1, term::tuple({a("join"), term(e1_scope), a("g"), term(e1_p)}));
  BOOST_TEST(s.members(a("g")).empty());
  discovered();
  s.on_message(
      e1, term::tuple({a("join"), term(e1_scope), a("g"), term::list({term(e1_p), term(e1_p)})}));
  BOOST_TEST(s.members(a("g")).size() == 2u);
  BOOST_TEST(s.local_members(a("g")).empty());
  // A leave naming a group it never announced is ignored (OTP's scope would crash); one of the
  // two occurrences goes.
  s.on_message(e1, term::tuple({a("leave"), term(e1_scope), term(e1_p), term::list({a("x")})}));
  s.on_message(e1, term::tuple({a("leave"), term(e1_scope), term(e1_p), term::list({a("g")})}));
  BOOST_TEST(s.members(a("g")).size() == 1u);
  // A sync replaces everything: h comes, g goes (new groups first, as pg.erl's handle_sync).
  s.on_message(
      e1,
      term::tuple({a("$gen_cast"),
                   term::tuple({a("sync"), term(e1_scope),
                                term::list({term::tuple({a("h"), term::list({term(e1_q)})})})})}));
  BOOST_TEST(s.members(a("g")).empty());
  BOOST_TEST(s.members(a("h")).size() == 1u);
  // A scope pid of another node than the sender's is not believed.
  const nodus::node_name e2 = nodus::node_name::parse("e2@127.0.0.1").value();
  (void)t.take();
  s.on_message(e2, term::tuple({a("discover"), term(e1_scope)}));
  BOOST_TEST(t.take().empty());
  // The node goes: its members go.
  s.node_down(e1);
  BOOST_TEST(s.which_groups().empty());
  BOOST_TEST((events == std::vector<std::string>{"join g 2", "leave g 1", "join h 1", "leave g 1",
                                                 "leave h 1"}));
}

BOOST_FIXTURE_TEST_CASE(a_fired_monitor_drops_the_peer_and_bounds_refuse_a_flood, fixture) {
  discovered();
  s.on_message(e1, term::tuple({a("join"), term(e1_scope), a("g"), term(e1_p)}));
  BOOST_TEST(s.peers().size() == 1u);
  // The monitor's reference: this scope's mark, its serial, the first monitor.
  etf::reference ref;
  ref.node = self.node;
  ref.creation = self.creation;
  ref.word_count = 3;
  ref.words = {0x2a6e7, 1, 1, 0, 0};
  BOOST_TEST(s.on_monitor_exit(ref));
  BOOST_TEST(s.peers().empty());
  BOOST_TEST(s.members(a("g")).empty());
  // A sync of more pids than a peer may contribute changes nothing.
  discovered();
  std::vector<term> many(nodus::dist::pg_scope::max_members + 1, term(e1_p));
  s.on_message(
      e1, term::tuple(
              {a("$gen_cast"),
               term::tuple({a("sync"), term(e1_scope),
                            term::list({term::tuple({a("g"), term::list(std::move(many))})})})}));
  BOOST_TEST(s.members(a("g")).empty());
  // Anything else is ignored.
  s.on_message(e1, term::tuple({a("what"), a("is"), a("this")}));
  s.on_message(e1, a("hello"));
  BOOST_TEST(s.peers().size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

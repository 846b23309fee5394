// Process groups (nodus::groups, dist/pg_scope.hpp) between nodus nodes and with a real Erlang
// node's pg (Debian erlang-base, kernel 8.5: OTP 25): joins and leaves seen on every node,
// members that go with their server or their node, notifications, publishing to a group, and
// an Erlang scope that lives through all of it. The nodus nodes run in this process (each with
// its own threads, talking over loopback TCP); erl is a child process. The erl cases are skipped
// (not failed) when `erl` is not installed.
#include <boost/hana/define_struct.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nodus/nodus.hpp>

#include "../common/wait.hpp"
#include "../net/erl_child.hpp"

using namespace std::chrono_literals;
using nodus::test::wait_until;

namespace {

namespace etf = nodus::etf;

struct g_note {
  static constexpr nodus::fixed_string etf_tag = "note";
  BOOST_HANA_DEFINE_STRUCT(g_note, (std::string, text));
};
struct g_get {
  static constexpr nodus::fixed_string etf_tag = "get";
};
struct g_count {
  static constexpr nodus::fixed_string etf_tag = "count";
  BOOST_HANA_DEFINE_STRUCT(g_count, (int, n));
};
struct g_crash {
  static constexpr nodus::fixed_string etf_tag = "crash";
};
using protocol = nodus::protocol<g_note, g_get, g_count, g_crash>;

etf::term workers() { return etf::term(etf::atom("workers")); }

// member: joins workers (scope pg) in init(); counts the notes it gets.
struct member : nodus::server<member, nodus::call<g_get, g_count>, nodus::cast<g_crash>,
                              nodus::info<g_note>> {
  static constexpr nodus::fixed_string name = "member";
  int notes = 0;
  void init() {
    if (auto r = groups().join(workers(), self_pid()); !r)
      throw std::runtime_error(r.error().message());
  }
  g_count handle_call(const g_get&) { return {notes}; }
  void handle_cast(const g_crash&) { throw std::runtime_error("asked to crash"); }
  void handle_info(const g_note&) { ++notes; }
};

constexpr const char* cookie = "nodus_pg_cookie";

nodus::options node_options(const char* name) {
  nodus::options o;
  o.name = nodus::node_name::parse(name).value();
  o.cookie = cookie;
  o.epmd = false;
  o.cluster.form = false;
  return o;
}

using node_type = nodus::node<nodus::no_topology, protocol>;

// A node running member.
struct member_node {
  explicit member_node(const char* name) : node(node_options(name)) {
    BOOST_REQUIRE(node.start(nodus::supervisor<nodus::one_for_one, member>{}));
    node.run_in_background();
  }
  ~member_node() {
    node.stop();
    (void)node.join();
  }
  std::string address() {
    return std::string(node.self().str()) + ":" + std::to_string(node.port());
  }
  etf::pid member_pid() {
    auto m = node.groups().local_members(workers());
    return m.empty() ? etf::pid{} : m.front();
  }
  node_type node;
};

// Events a subscription got, in order, as "join N" / "leave N" (N pids).
struct event_log {
  std::mutex m;
  std::vector<std::string> seen;
  nodus::group_callback callback() {
    return [this](const nodus::group_event& e) {
      std::lock_guard lock(m);
      seen.push_back((e.what == nodus::group_event::kind::join ? "join " : "leave ") +
                     std::to_string(e.pids.size()));
    };
  }
  std::vector<std::string> take() {
    std::lock_guard lock(m);
    return seen;
  }
};

bool contains(const std::vector<etf::pid>& pids, const etf::pid& p) {
  return std::find(pids.begin(), pids.end(), p) != pids.end();
}

// An erl node listening on 127.0.0.1 at a free port with no port mapper, running
// erl_test::eval_program; start_pg: with the kernel's default pg scope.
struct erl_node {
  erl_node(const std::string& name, bool start_pg) : port(std::to_string(erl_test::free_port())) {
    // clang-format off
    std::vector<std::string> argv{
        "erl", "-name", name, "-setcookie", cookie, "-noshell",
        "-start_epmd", "false", "-erl_epmd_port", port,
        "-kernel", "inet_dist_use_interface", "{127,0,0,1}",
        "-kernel", "inet_dist_listen_min", port, "-kernel", "inet_dist_listen_max", port};
    // clang-format on
    if (start_pg) argv.insert(argv.end(), {"-kernel", "start_pg", "true"});
    argv.insert(argv.end(), {"-eval", erl_test::eval_program(60000)});
    erl.emplace(argv);
    BOOST_REQUIRE_MESSAGE(erl->wait_for("ready " + name).has_value(), erl->transcript());
    address = name + ":" + port;
  }
  // eval(expression) -> what erl printed for it ({ok,Value} or {Class,Reason}).
  std::string eval(const std::string& e) {
    auto r = erl_test::eval(*erl, e, 15s);
    if (!r) BOOST_FAIL("no result from erl for " << e << ":\n" << erl->transcript());
    return r.value_or("");
  }
  std::string port;
  std::string address;  // for node::connect
  std::optional<erl_test::erl_process> erl;
};
}  // namespace

BOOST_AUTO_TEST_SUITE(groups)

// On one node alone: join, leave, a second join counted twice, and a server's members gone with
// its instance (its restart joins again with a new pid). A node without a name has no groups.
BOOST_AUTO_TEST_CASE(a_lone_node_keeps_its_groups_and_a_crashed_member_leaves_them) {
  node_type unnamed;
  BOOST_REQUIRE(!unnamed.start(nodus::supervisor<nodus::one_for_one, member>{}));  // init joins
  BOOST_TEST(unnamed.groups().members(workers()).empty());
  node_type node(node_options("pgl@127.0.0.1"));
  BOOST_REQUIRE(node.start(nodus::supervisor<nodus::one_for_one, member>{}));
  node.run_in_background();
  auto g = node.groups();
  const auto first = g.local_members(workers());
  BOOST_REQUIRE_EQUAL(first.size(), 1u);
  BOOST_TEST(g.join<member>(workers()).has_value());
  BOOST_TEST(g.members(workers()).size() == 2u);
  BOOST_TEST(g.leave<member>(workers()));
  BOOST_TEST(g.members(workers()).size() == 1u);
  BOOST_TEST(!g.leave(etf::term(etf::atom("nobody_here")), first.front()));  // not_joined
  BOOST_TEST(g.publish(workers(), g_note{"hi"}) == 1u);
  BOOST_TEST(node.call<member>(g_get{})->n == 1);
  event_log events;
  (void)g.monitor(workers(), events.callback());
  BOOST_REQUIRE(node.cast<member>(g_crash{}));
  // The crash takes the old pid out; the restarted instance joins with a new one.
  BOOST_TEST(wait_until([&] {
    const auto now = g.members(workers());
    return now.size() == 1 && !(now.front() == first.front());
  }));
  // The callbacks run after the change is visible: wait for both.
  BOOST_TEST(wait_until([&] { return events.take().size() == 2; }));
  BOOST_TEST((events.take() == std::vector<std::string>{"leave 1", "join 1"}));
  // A pid that is no running server of this node does not join.
  const auto r = g.join(workers(), first.front());
  BOOST_REQUIRE(!r.has_value());
  BOOST_TEST((r.error() == nodus::errc::noproc));
  node.stop();
  BOOST_TEST(node.join().has_value());
  BOOST_TEST(g.members(workers()).empty());  // stopped: every member left
}

// Two nodus nodes: each sees the other's member once connected, publishes to both, gets join
// and leave notifications, and loses the other's members when the link goes.
BOOST_AUTO_TEST_CASE(nodus_nodes_share_their_groups_and_drop_a_lost_node_s_members) {
  member_node a("pga@127.0.0.1"), b("pgb@127.0.0.1");
  event_log events;
  auto [id, now] = a.node.groups().monitor(workers(), events.callback());
  BOOST_TEST(now.size() == 1u);
  BOOST_REQUIRE(a.node.connect(b.address()));
  const etf::pid pa = a.member_pid(), pb = b.member_pid();
  for (auto* n : {&a, &b}) {
    BOOST_TEST(wait_until([&] { return n->node.groups().members(workers()).size() == 2; }),
               n->node.self().str());
  }
  BOOST_TEST(contains(a.node.groups().members(workers()), pb));
  BOOST_TEST(contains(b.node.groups().members(workers()), pa));
  BOOST_TEST(a.node.groups().local_members(workers()).size() == 1u);
  // To each member, local and remote, as Pid ! Msg.
  BOOST_TEST(a.node.groups().publish(workers(), g_note{"all"}) == 2u);
  BOOST_TEST(wait_until([&] { return b.node.call<member>(g_get{})->n == 1; }));
  BOOST_TEST(a.node.call<member>(g_get{})->n == 1);
  BOOST_TEST(a.node.groups().publish_local(workers(), g_note{"here"}) == 1u);
  BOOST_TEST(a.node.call<member>(g_get{})->n == 2);
  // b's member crashes: it leaves on a too, and its restart joins again.
  BOOST_REQUIRE(b.node.cast<member>(g_crash{}));
  BOOST_TEST(wait_until([&] {
    const auto m = a.node.groups().members(workers());
    return m.size() == 2 && !contains(m, pb);
  }));
  // The link goes: b's member is gone from a, a's from b.
  BOOST_REQUIRE(a.node.disconnect(b.node.self()));
  BOOST_TEST(wait_until([&] { return a.node.groups().members(workers()).size() == 1; }));
  BOOST_TEST(wait_until([&] { return b.node.groups().members(workers()).size() == 1; }));
  BOOST_TEST(wait_until([&] { return events.take().size() == 4; }));
  BOOST_TEST((events.take() == std::vector<std::string>{"join 1", "leave 1", "join 1", "leave 1"}));
  BOOST_TEST(a.node.groups().demonitor(id));
}

// A real Erlang node's pg (scope pg, started by the kernel): the nodus member and an Erlang
// process see each other in workers, messages reach both ways through the group, Erlang's
// pg:monitor sees the nodus member come and go, an Erlang member that exits leaves on the nodus
// side, a lost link drops the members on both sides, and Erlang's scope process never dies.
BOOST_AUTO_TEST_CASE(a_nodus_node_and_erlang_s_pg_share_a_group_both_ways) {
  if (!erl_test::erl_installed()) return;
  erl_node e("pge@127.0.0.1", true);
  auto eval = [&](const std::string& x) { return e.eval(x); };
  // The Erlang scope's pid, to check at the end that it never died; an Erlang member that keeps
  // the notes it gets (a get waits for the first: it comes from another node, the get from this
  // one).
  BOOST_REQUIRE(eval("register(scope0, spawn(fun() -> receive _ -> ok end end)), "
                     "persistent_term:put(scope0, whereis(pg)).") == "{ok,ok}");
  BOOST_REQUIRE(eval("register(emember, spawn(fun() -> L = fun L(Acc) -> receive {get, P} -> "
                     "A = case Acc of [] -> receive {note, _} = N -> [N] after 5000 -> [] end; "
                     "_ -> Acc end, P ! {notes, lists:reverse(A)}, L(A); stop -> ok; "
                     "M -> L([M | Acc]) end end, L([]) end)), "
                     "pg:join(workers, whereis(emember)).") == "{ok,ok}");
  // A subscriber on the Erlang side that keeps pg:monitor's events.
  BOOST_REQUIRE(eval("register(watcher, spawn(fun() -> {Ref, _} = pg:monitor(workers), "
                     "L = fun L(Acc) -> receive {get, P} -> P ! {events, lists:reverse(Acc)}, "
                     "L(Acc); {Ref, What, workers, Pids} -> L([{What, length(Pids)} | Acc]) end "
                     "end, L([]) end)), ok.") == "{ok,ok}");

  member_node n("pgn@127.0.0.1");
  BOOST_REQUIRE_MESSAGE(n.node.connect(e.address), e.erl->transcript());
  const etf::pid mine = n.member_pid();
  // Both sides see both members.
  BOOST_TEST(wait_until([&] { return n.node.groups().members(workers()).size() == 2; }),
             e.erl->transcript());
  BOOST_TEST(eval("lists:member(node(), [node(P) || P <- pg:get_members(workers)]) andalso "
                  "lists:member('pgn@127.0.0.1', [node(P) || P <- pg:get_members(workers)]).") ==
             "{ok,true}");
  // Erlang sends to the nodus member through the group; nodus publishes to the Erlang member.
  BOOST_TEST(eval("[P ! {note, <<\"from erl\">>} || P <- pg:get_members(workers), "
                  "node(P) =/= node()], ok.") == "{ok,ok}");
  BOOST_TEST(wait_until([&] { return n.node.call<member>(g_get{})->n == 1; }));
  BOOST_TEST(n.node.groups().publish(workers(), g_note{"from nodus"}) == 2u);
  BOOST_TEST(
      eval("emember ! {get, self()}, receive {notes, N} -> N =:= [{note, <<\"from nodus\">>}] "
           "after 5000 -> none end.") == "{ok,true}");
  // The nodus member crashes: Erlang's pg loses it and gets the restarted one; its monitor saw
  // the nodus member join, leave and join.
  BOOST_REQUIRE(n.node.cast<member>(g_crash{}));
  BOOST_TEST(wait_until([&] {
    const auto m = n.node.groups().local_members(workers());
    return m.size() == 1 && !(m.front() == mine);
  }));
  BOOST_TEST(eval("length(pg:get_members(workers)).") == "{ok,2}");
  BOOST_TEST(eval("watcher ! {get, self()}, receive {events, E} -> E after 5000 -> none end.") ==
             "{ok,[{join,1},{leave,1},{join,1}]}");
  // The Erlang member exits: it leaves on the nodus side.
  BOOST_REQUIRE(eval("emember ! stop, ok.") == "{ok,ok}");
  BOOST_TEST(wait_until([&] { return n.node.groups().members(workers()).size() == 1; }));
  // A second Erlang member joins twice (counted twice), leaves once.
  BOOST_REQUIRE(eval("register(twice, spawn(fun() -> receive stop -> ok end end)), "
                     "pg:join(workers, [whereis(twice), whereis(twice)]).") == "{ok,ok}");
  BOOST_TEST(wait_until([&] { return n.node.groups().members(workers()).size() == 3; }));
  BOOST_REQUIRE(eval("pg:leave(workers, whereis(twice)).") == "{ok,ok}");
  BOOST_TEST(wait_until([&] { return n.node.groups().members(workers()).size() == 2; }));
  // The link goes: each side drops the other's members.
  BOOST_REQUIRE(eval("erlang:disconnect_node('pgn@127.0.0.1').") == "{ok,true}");
  BOOST_TEST(wait_until([&] { return n.node.groups().members(workers()).size() == 1; }));
  BOOST_TEST(eval("length(pg:get_members(workers)).") == "{ok,1}");
  // Back again: the scopes discover each other anew.
  BOOST_REQUIRE(n.node.connect(e.address));
  BOOST_TEST(wait_until([&] { return n.node.groups().members(workers()).size() == 2; }));
  BOOST_TEST(eval("length(pg:get_members(workers)).") == "{ok,2}");
  // Erlang's scope lived through all of it.
  BOOST_TEST(eval("whereis(pg) =:= persistent_term:get(scope0).") == "{ok,true}",
             e.erl->transcript());
}

// Malformed pg messages from an Erlang process change nothing and bring nothing down: a join
// from a scope that never discovered, a sync that is not a list, a leave of a group never
// announced, an unknown message.
BOOST_AUTO_TEST_CASE(pg_messages_of_the_wrong_shape_change_nothing) {
  if (!erl_test::erl_installed()) return;
  erl_node e("pgf@127.0.0.1", false);
  member_node n("pgm@127.0.0.1");
  BOOST_REQUIRE(n.node.connect(e.address));
  auto eval = [&](const std::string& x) { return e.eval(x); };
  const std::string to = "{pg, 'pgm@127.0.0.1'} ! ";
  BOOST_REQUIRE(eval(to + "{join, self(), workers, [self()]}, " + to +
                     "{leave, self(), self(), "
                     "[nobody]}, " +
                     to + "{'$gen_cast', {sync, self(), not_a_list}}, " + to +
                     "{what, is, this}, " + to + "{join, self(), workers, not_pids}, ok.") ==
                "{ok,ok}");
  // The fake scope now discovers properly, and gets the nodus scope's sync and discover back.
  BOOST_TEST(eval(to + "{discover, self()}, receive {'$gen_cast', {sync, S, G}} -> "
                       "{node(S), [{K, length(V)} || {K, V} <- G]} after 5000 -> none end.") ==
             "{ok,{'pgm@127.0.0.1',[{workers,1}]}}");
  BOOST_TEST(n.node.groups().members(workers()).size() == 1u);  // nothing joined before
  // A leave of a group it never announced is ignored; its join then counts.
  BOOST_REQUIRE(eval(to + "{leave, self(), self(), [nobody]}, " + to +
                     "{join, self(), workers, [self(), self()]}, ok.") == "{ok,ok}");
  BOOST_TEST(wait_until([&] { return n.node.groups().members(workers()).size() == 3; }));
  BOOST_TEST(n.node.groups().local_members(workers()).size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

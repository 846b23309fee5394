// dist::global_member on its own, its hooks recording what it would send: the steps of a
// connect session that real erl nodes cannot easily be made to take (tests/dist/beam.cpp runs
// the session against real ones).
#include <boost/test/unit_test.hpp>

#include <string>
#include <utility>
#include <vector>

#include <nodus/codec/etf/term.hpp>
#include <nodus/dist/global_member.hpp>

namespace {

namespace etf = nodus::etf;
using etf::atom;
using etf::term;

term a(const char* name) { return term(atom(name)); }
term cast(term request) { return term::tuple({a("$gen_cast"), std::move(request)}); }

struct recorder {
  std::vector<std::pair<std::string, std::string>> sent;  // {peer, message}
  std::vector<std::string> dialled;
  nodus::logger log;
  nodus::dist::global_member g;
  recorder() : g(log, hooks()) { log.set_level(nodus::log_level::off); }
  nodus::dist::global_member::hooks hooks() {
    nodus::dist::global_member::hooks h;
    h.send_to_name = [this](const nodus::node_name& p, std::string_view, const term& m) {
      sent.emplace_back(std::string(p.str()), m.to_string());
    };
    h.send_to_pid = [this](const nodus::node_name& p, const etf::pid&, const term& m) {
      sent.emplace_back(std::string(p.str()), m.to_string());
    };
    h.send_control = [](const nodus::node_name&, const term&) {};
    h.connect = [this](const nodus::node_name& p) { dialled.emplace_back(p.str()); };
    h.disconnect = [](const nodus::node_name&) {};
    h.is_native = [](const nodus::node_name&) { return false; };
    return h;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(global_member_alone)

// A session with e1, whose resolved names e2 as known: e2 is dialled to be told in_sync; when it
// cannot be reached it leaves this node's partition (get_known no longer lists it).
BOOST_AUTO_TEST_CASE(a_reported_node_that_cannot_be_reached_leaves_the_partition) {
  recorder r;
  const etf::pid self{atom("n1@127.0.0.1"), 0, 0, 7};
  const etf::pid e1_pid{atom("e1@127.0.0.1"), 5, 0, 3};
  const auto e1 = nodus::node_name::parse("e1@127.0.0.1").value();
  const auto e2 = nodus::node_name::parse("e2@127.0.0.1").value();
  r.g.start(self);
  r.g.node_up(e1);
  BOOST_REQUIRE(!r.sent.empty());
  BOOST_TEST(r.sent[0].second.find("init_connect") != std::string::npos);
  const term his_tag(-42);
  r.g.on_message(
      e1, cast(term::tuple({a("init_connect"), term::tuple({term(8), his_tag}), a("e1@127.0.0.1"),
                            term::tuple({a("locker"), a("x"), term::nil(), term(e1_pid)})})));
  r.g.on_message(e1,
                 cast(term::tuple({a("lock_set"), term(e1_pid), a("true"), term::nil(), term(1)})));
  r.g.on_message(
      e1, cast(term::tuple({a("exchange"), a("e1@127.0.0.1"), term::nil(), term::nil(), term(1)})));
  r.g.on_message(e1, cast(term::tuple({a("resolved"), a("e1@127.0.0.1"), term::nil(),
                                       term::list({term::tuple({a("e2@127.0.0.1"), term(8)})}),
                                       a("unused"), term::nil(), term(1)})));
  BOOST_TEST((r.g.synced() == std::vector<nodus::node_name>{e1}));
  BOOST_TEST((r.dialled == std::vector<std::string>{"e2@127.0.0.1"}));
  // This node answered lock_set, sent its (empty) names, then resolved, each with e1's tag.
  std::string to_e1;
  for (const auto& [p, m] : r.sent) to_e1 += m + "\n";
  BOOST_TEST(
      to_e1.find("{'$gen_cast',{lock_set,<'n1@127.0.0.1'.0.0>,true,[],-42}}") != std::string::npos,
      to_e1);
  BOOST_TEST(to_e1.find("{'$gen_cast',{exchange,'n1@127.0.0.1',[],[],-42}}") != std::string::npos,
             to_e1);
  BOOST_TEST(to_e1.find("{'$gen_cast',{resolved,'n1@127.0.0.1',[],[],unused,[],-42}}") !=
                 std::string::npos,
             to_e1);
  auto known = [&] {
    r.sent.clear();
    r.g.on_message(
        e1, term::tuple({a("$gen_call"), term::tuple({term(e1_pid), a("t")}), a("get_known")}));
    return r.sent.empty() ? std::string() : r.sent.back().second;
  };
  BOOST_TEST(known() == "{t,['e1@127.0.0.1','e2@127.0.0.1']}");
  r.g.unreachable(e2);
  BOOST_TEST(known() == "{t,['e1@127.0.0.1']}");
  // e2 dials this node after all: it gets its in_sync, and is in the partition again.
  r.sent.clear();
  r.g.node_up(e2);
  BOOST_REQUIRE(r.sent.size() == 1u);
  BOOST_TEST(r.sent[0].first == "e2@127.0.0.1");
  BOOST_TEST(r.sent[0].second == "{'$gen_cast',{in_sync,'n1@127.0.0.1',true}}");
  BOOST_TEST(known() == "{t,['e1@127.0.0.1','e2@127.0.0.1']}");
  // Once e1 is gone, nothing of it is kept.
  r.g.node_down(e1);
  BOOST_TEST(r.g.synced().empty());
}

BOOST_AUTO_TEST_SUITE_END()

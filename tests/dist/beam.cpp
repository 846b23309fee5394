// A nodus node and a real Erlang node (Debian erlang-base) in one cluster: the Erlang side pings
// the nodus node and calls, casts and sends to a nodus server with gen_server, in terms that the
// server reads as its own C++ types; the nodus side calls, casts and sends to Erlang processes
// declared as nodus::remote_server types. Skipped (not failed) when `erl` is not installed.
//
// erl listens on 127.0.0.1:P without any port mapper (-start_epmd false -erl_epmd_port P); the
// nodus node dials it at that port, so that erl then reaches the nodus node over that connection.
// erl evaluates one Erlang expression per line of its stdin and prints `result {ok, Value}` (or
// `result {Class, Reason}`) for each; it halts at the end of its input, and after 60 s in any case.
#include <boost/hana/define_struct.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdint>
#include <future>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <nodus/nodus.hpp>

#include "../net/erl_child.hpp"

using namespace std::chrono_literals;

namespace {

// The messages, as Erlang terms: ping, {ok, Node, pong}, {add, N}, get, {count, N}, {note, Text},
// crash.
struct b_ping {
  static constexpr nodus::fixed_string etf_tag = "ping";
};
struct b_pong {
  static constexpr nodus::fixed_string etf_tag = "ok";
  BOOST_HANA_DEFINE_STRUCT(b_pong, (nodus::node_name, node),
                           (nodus::etf::atom_constant<"pong">, answer));
};
struct b_add {
  static constexpr nodus::fixed_string etf_tag = "add";
  BOOST_HANA_DEFINE_STRUCT(b_add, (int, by));
};
struct b_get {
  static constexpr nodus::fixed_string etf_tag = "get";
};
struct b_count {
  static constexpr nodus::fixed_string etf_tag = "count";
  BOOST_HANA_DEFINE_STRUCT(b_count, (int, n));
};
struct b_note {
  static constexpr nodus::fixed_string etf_tag = "note";
  BOOST_HANA_DEFINE_STRUCT(b_note, (std::string, text));
};
struct b_crash {
  static constexpr nodus::fixed_string etf_tag = "crash";
};
using protocol = nodus::protocol<b_ping, b_pong, b_add, b_get, b_count, b_note, b_crash>;

// Erlang's own servers, called from nodus. rex (every node runs it, rpc's gen_server) answers
// {call, M, F, Args, GroupLeader} with apply(M, F, Args).
struct rpc_call {
  static constexpr nodus::fixed_string etf_tag = "call";
  BOOST_HANA_DEFINE_STRUCT(rpc_call, (nodus::etf::atom, module), (nodus::etf::atom, function),
                           (std::vector<std::vector<int>>, args), (nodus::etf::atom, group_leader));
};
rpc_call reverse(std::vector<int> list) {
  return {nodus::etf::atom("lists"),
          nodus::etf::atom("reverse"),
          {std::move(list)},
          nodus::etf::atom("user")};
}
using rex = nodus::remote_server<"rex", nodus::call<rpc_call, std::vector<int>>>;
// The same server, with a reply type the reply does not fit.
using rex_misread = nodus::remote_server<"rex", nodus::call<rpc_call, b_count>>;
// A process the test registers in erl as box: it keeps what it receives, answers {get, From}
// with the list, and never answers a call.
using box = nodus::remote_server<"box", nodus::cast<b_add>, nodus::info<b_note>,
                                 nodus::call<b_get, b_count>>;
using nobody = nodus::remote_server<"nobody", nodus::call<b_ping, b_pong>>;
constexpr const char* spawn_box =
    "register(box, spawn(fun() -> B = fun B(Acc) -> receive {get, P} -> P ! lists:reverse(Acc), "
    "B(Acc); M -> B([M | Acc]) end end, B([]) end)).";

// The server Erlang calls: counts casts (by N) and notes (1000 each).
struct beam_facing
    : nodus::server<beam_facing, nodus::call<b_ping, b_pong>, nodus::call<b_get, b_count>,
                    nodus::call<b_crash, b_count>, nodus::cast<b_add>, nodus::info<b_note>> {
  static constexpr nodus::fixed_string name = "beam_facing";
  int count = 0;
  b_pong handle_call(const b_ping&) { return {self_node(), {}}; }
  b_count handle_call(const b_get&) { return {count}; }
  b_count handle_call(const b_crash&) { throw std::runtime_error("asked to crash"); }
  void handle_cast(const b_add& a) { count += a.by; }
  void handle_info(const b_note& n) { count += n.text == "hello" ? 1000 : -1; }
};

constexpr const char* cookie = "nodus_beam_cookie";

constexpr const char* repl = R"erl(
io:format("ready ~s~n", [node()]),
{ok, _} = timer:apply_after(60000, erlang, halt, [3]),
L = fun L() ->
  case io:get_line("") of
    eof -> erlang:halt(0);
    {error, _} -> erlang:halt(0);
    Line ->
      R = try
            {ok, Toks, _} = erl_scan:string(Line),
            {ok, Exprs} = erl_parse:parse_exprs(Toks),
            {value, V, _} = erl_eval:exprs(Exprs, []),
            {ok, V}
          catch C:E -> {C, E}
          end,
      io:format("result ~w~n", [R]),
      L()
  end
end,
L().
)erl";

// A nodus node connected to a fresh erl node.
struct beam_fixture {
  beam_fixture() {
    if (!erl_test::erl_installed()) return;
    unsigned short port = 0;
    {
      asio::io_context io;
      asio::ip::tcp::acceptor probe(io, {asio::ip::make_address("127.0.0.1"), 0});
      port = probe.local_endpoint().port();
    }  // closed just before erl binds it
    const std::string ps = std::to_string(port);
    // clang-format off
    erl.emplace(std::vector<std::string>{
        "erl", "-name", "erl1@127.0.0.1", "-setcookie", cookie, "-noshell",
        "-start_epmd", "false", "-erl_epmd_port", ps,
        "-kernel", "inet_dist_use_interface", "{127,0,0,1}",
        "-kernel", "inet_dist_listen_min", ps, "-kernel", "inet_dist_listen_max", ps,
        "-eval", repl});
    // clang-format on
    BOOST_REQUIRE_MESSAGE(erl->wait_for("ready erl1@127.0.0.1").has_value(),
                          "erl did not start:\n"
                              << erl->transcript());
    nodus::options o;
    o.name = nodus::node_name::parse("n1@127.0.0.1").value();
    o.cookie = cookie;
    o.epmd = false;
    o.cluster.form = false;
    node.emplace(o);
    BOOST_REQUIRE(node->start(nodus::supervisor<nodus::one_for_one, beam_facing>{}));
    node->run_in_background();
    BOOST_REQUIRE_MESSAGE(node->connect("erl1@127.0.0.1:" + ps), erl->transcript());
  }
  ~beam_fixture() {
    if (node) {
      node->stop();
      (void)node->join();
    }
  }

  // eval(expression) -> what erl printed for it, after "result " ({ok,Value} or {Class,Reason}).
  std::string eval(const std::string& expression) {
    BOOST_REQUIRE(erl->write_line(expression));
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto line = erl->next_line(deadline - std::chrono::steady_clock::now());
      if (!line) break;
      if (line->rfind("result ", 0) == 0) return line->substr(7);
    }
    BOOST_FAIL("no result from erl for " << expression << ":\n" << erl->transcript());
    return {};
  }

  std::optional<erl_test::child_process> erl;
  std::optional<nodus::node<nodus::no_topology, protocol>> node;
};

// micros_of(result) -> N of "{ok,{N,...}}" (a timer:tc result).
long micros_of(const std::string& r) {
  const auto at = r.find("{ok,{");
  return at == std::string::npos ? -1 : std::stol(r.substr(at + 5));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(beam)

BOOST_AUTO_TEST_CASE(an_erlang_node_pings_calls_casts_and_sends_to_a_nodus_server) {
  if (!erl_test::erl_installed()) {
    BOOST_TEST_MESSAGE("erl is not installed (Debian: apt-get install erlang-base): skipped");
    return;
  }
  beam_fixture f;
  const std::string n1 = "'n1@127.0.0.1'";
  // net_adm:ping asks net_kernel is_auth (Node.ping in Elixir).
  BOOST_TEST(f.eval("net_adm:ping(" + n1 + ").") == "{ok,pong}", f.erl->transcript());
  BOOST_TEST(f.eval("lists:member(" + n1 + ", nodes()).") == "{ok,true}");
  // gen_server:call: the request read as b_ping, the reply b_pong written as {ok, Node, pong}.
  BOOST_TEST(f.eval("gen_server:call({beam_facing, " + n1 + "}, ping, 5000).") ==
                 "{ok,{ok,'n1@127.0.0.1',pong}}",
             f.erl->transcript());
  // cast {add, N} and a plain message {note, <<"hello">>} (an info), in order before the call.
  BOOST_TEST(f.eval("gen_server:cast({beam_facing, " + n1 + "}, {add, 5}).") == "{ok,ok}");
  BOOST_TEST(f.eval("{beam_facing, " + n1 + "} ! {note, <<\"hello\">>}.") ==
             "{ok,{note,<<104,101,108,108,111>>}}");
  BOOST_TEST(
      f.eval("gen_server:call({beam_facing, " + n1 + "}, get, 5000).") == "{ok,{count,1005}}",
      f.erl->transcript());
}

BOOST_AUTO_TEST_CASE(a_call_to_a_name_nobody_registered_fails_with_noproc_at_once) {
  if (!erl_test::erl_installed()) return;
  beam_fixture f;
  const auto r =
      f.eval("timer:tc(fun() -> catch gen_server:call({nobody, 'n1@127.0.0.1'}, ping, 5000) end).");
  BOOST_TEST(r.find("{'EXIT',{noproc,") != std::string::npos, r);
  const long micros = micros_of(r);
  BOOST_TEST(micros >= 0);
  BOOST_TEST(micros < 1'000'000, "took " << micros << " us, the call's timeout is 5 s");
}

BOOST_AUTO_TEST_CASE(a_call_the_server_cannot_take_fails_the_caller_and_the_server_lives_on) {
  if (!erl_test::erl_installed()) return;
  beam_fixture f;
  const std::string to = "{beam_facing, 'n1@127.0.0.1'}";
  // A request no handler takes: the caller fails at once with bad_call, the server stays.
  auto r = f.eval("timer:tc(fun() -> catch gen_server:call(" + to + ", {what, 1}, 5000) end).");
  BOOST_TEST(r.find("{'EXIT',{{bad_call,") != std::string::npos, r);
  BOOST_TEST(micros_of(r) < 1'000'000, r);
  // A handler that throws: the caller fails with the crash, the supervisor restarts the server.
  r = f.eval("catch gen_server:call(" + to + ", crash, 5000).");
  BOOST_TEST(r.find("{'EXIT',{{server_crashed,") != std::string::npos, r);
  // The restarted instance answers (the supervisor may need a moment: poll, bounded).
  std::string again;
  for (int i = 0; i < 50; ++i) {
    again = f.eval("catch gen_server:call(" + to + ", ping, 5000).");
    if (again == "{ok,{ok,'n1@127.0.0.1',pong}}") break;
  }
  BOOST_TEST(again == "{ok,{ok,'n1@127.0.0.1',pong}}", f.erl->transcript());
}

BOOST_AUTO_TEST_CASE(a_nodus_node_calls_casts_and_sends_to_erlang_processes) {
  if (!erl_test::erl_installed()) return;
  beam_fixture f;
  const auto erl1 = nodus::node_name::parse("erl1@127.0.0.1").value();
  // A gen_server:call to rex: monitor, '$gen_call', the reply read as std::vector<int>.
  auto r = f.node->call<rex>(erl1, reverse({1000, 2, 3}), 5s);
  BOOST_REQUIRE_MESSAGE(r.has_value(), r.error().message() << "\n" << f.erl->transcript());
  BOOST_TEST((*r == std::vector<int>{3, 2, 1000}));
  // Many in a row, and several at once (each has its own reference).
  for (int i = 0; i < 50; ++i) {
    auto again = f.node->call<rex>(erl1, reverse({i, 7}), 5s);
    BOOST_REQUIRE(again.has_value());
    BOOST_TEST((*again == std::vector<int>{7, i}));
  }
  const auto all = f.node->multi_call<rex>({erl1, erl1, erl1}, reverse({4, 5}), 5s);
  for (const auto& [n, one] : all) BOOST_TEST((one && *one == std::vector<int>{5, 4}));
  // A reply that does not fit the declared reply type: a clear error, the link stays.
  auto misread = f.node->call<rex_misread>(erl1, reverse({1}), 5s);
  BOOST_REQUIRE(!misread.has_value());
  BOOST_TEST((misread.error() == nodus::errc::malformed_frame), misread.error().message());
  BOOST_TEST(f.node->call<rex>(erl1, reverse({9}), 5s).has_value());
  // Each call's monitor of rex is taken down after its reply (DEMONITOR_P), as gen_server:call
  // does: none of the 55 is left on rex.
  std::string monitors;
  for (int i = 0; i < 50; ++i) {
    monitors = f.eval("{monitored_by, M} = process_info(whereis(rex), monitored_by), length(M).");
    if (monitors == "{ok,0}") break;
  }
  BOOST_TEST(monitors == "{ok,0}", f.erl->transcript());

  // cast wraps the message as gen_server:cast does, send does not; both arrive in order.
  BOOST_TEST(f.eval(spawn_box) == "{ok,true}", f.erl->transcript());
  BOOST_TEST(f.node->cast<box>(erl1, b_add{5}).has_value());
  BOOST_TEST(f.node->send<box>(erl1, b_note{"hi"}).has_value());
  std::string got;
  for (int i = 0; i < 50; ++i) {
    got = f.eval("box ! {get, self()}, receive X -> X after 2000 -> timeout end.");
    if (got != "{ok,[]}" && got != "{ok,[{'$gen_cast',{add,5}}]}") break;
  }
  BOOST_TEST(got == "{ok,[{'$gen_cast',{add,5}},{note,<<104,105>>}]}", f.erl->transcript());
}

BOOST_AUTO_TEST_CASE(a_call_to_an_erlang_name_nobody_registered_fails_with_noproc_at_once) {
  if (!erl_test::erl_installed()) return;
  beam_fixture f;
  const auto erl1 = nodus::node_name::parse("erl1@127.0.0.1").value();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = f.node->call<nobody>(erl1, b_ping{}, 5s);
  const auto took = std::chrono::steady_clock::now() - t0;
  BOOST_REQUIRE(!r.has_value());
  BOOST_TEST((r.error() == nodus::errc::noproc), r.error().message());
  BOOST_TEST(r.error().message().find("nobody") != std::string::npos, r.error().message());
  BOOST_TEST(took < 1s, "took " << std::chrono::duration<double>(took).count()
                                << " s, the call's timeout is 5 s");
}

BOOST_AUTO_TEST_CASE(a_call_to_an_erlang_process_fails_at_its_timeout_and_with_nodedown) {
  if (!erl_test::erl_installed()) return;
  beam_fixture f;
  const auto erl1 = nodus::node_name::parse("erl1@127.0.0.1").value();
  BOOST_TEST(f.eval(spawn_box) == "{ok,true}", f.erl->transcript());
  // box keeps the '$gen_call' and never answers: the call's own timeout.
  auto r = f.node->call<box>(erl1, b_get{}, 300ms);
  BOOST_REQUIRE(!r.has_value());
  BOOST_TEST((r.error() == nodus::errc::timeout), r.error().message());
  // A call in flight when the node goes: nodedown now, not at the timeout.
  auto pending = std::async(std::launch::async, [&] {
    const auto t0 = std::chrono::steady_clock::now();
    auto rr = f.node->call<box>(erl1, b_get{}, 20s);
    return std::make_pair(std::move(rr), std::chrono::steady_clock::now() - t0);
  });
  // The call's frames are out before erl halts: box holds two calls when it answers {get, ...}.
  std::string held;
  for (int i = 0; i < 50; ++i) {
    held = f.eval("box ! {get, self()}, receive X -> length(X) after 2000 -> timeout end.");
    if (held == "{ok,2}") break;
  }
  BOOST_REQUIRE_MESSAGE(held == "{ok,2}", held << "\n" << f.erl->transcript());
  BOOST_REQUIRE(f.erl->write_line("erlang:halt(0)."));
  BOOST_REQUIRE(pending.wait_for(10s) == std::future_status::ready);
  auto [down, took] = pending.get();
  BOOST_REQUIRE(!down.has_value());
  BOOST_TEST((down.error() == nodus::errc::nodedown), down.error().message());
  BOOST_TEST(took < 10s);
}

BOOST_AUTO_TEST_SUITE_END()

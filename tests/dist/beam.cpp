// A nodus node and a real Erlang node (Debian erlang-base) in one cluster: the Erlang side pings
// the nodus node and calls, casts and sends to a nodus server with gen_server, in terms that the
// server reads as its own C++ types; the nodus side calls, casts and sends to Erlang processes
// declared as nodus::remote_server types. Skipped (not failed) when `erl` is not installed.
//
// erl listens on 127.0.0.1:P without any port mapper (-start_epmd false -erl_epmd_port P); the
// nodus node dials it at that port, so that erl then reaches the nodus node over that connection.
// erl runs erl_test::eval_program: one Erlang expression per line of its stdin.
#include <boost/hana/define_struct.hpp>
#include <boost/test/unit_test.hpp>

#include <poll.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <future>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>

#include <nodus/dist/erlang_frame.hpp>
#include <nodus/net/dist_flags.hpp>
#include <nodus/net/handshake.hpp>
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
// {echo, Binary}: answered with itself.
struct b_echo {
  static constexpr nodus::fixed_string etf_tag = "echo";
  BOOST_HANA_DEFINE_STRUCT(b_echo, (std::vector<std::byte>, data));
};
// whoami, answered with the instance's pid (asked by local calls in these tests).
struct b_whoami {
  static constexpr nodus::fixed_string etf_tag = "whoami";
};
struct b_me {
  static constexpr nodus::fixed_string etf_tag = "me";
  BOOST_HANA_DEFINE_STRUCT(b_me, (nodus::etf::pid, pid));
};
// {tell, Node}: beam_facing sends {me, Pid} to the process registered as inbox on Node.
struct b_tell {
  static constexpr nodus::fixed_string etf_tag = "tell";
  BOOST_HANA_DEFINE_STRUCT(b_tell, (nodus::node_name, to));
};
using inbox = nodus::remote_server<"inbox", nodus::info<b_me>>;
// {subscribe, Pid}: a pid in a protocol type (it travels in native frames too); beam_facing
// answers by sending {note, <<"subscribed">>} to Pid.
struct b_sub {
  static constexpr nodus::fixed_string etf_tag = "subscribe";
  BOOST_HANA_DEFINE_STRUCT(b_sub, (nodus::etf::pid, who));
};
using protocol =
    nodus::protocol<b_ping, b_pong, b_add, b_get, b_count, b_note, b_crash, b_echo, b_tell, b_sub>;

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
// A process the test registers in erl as slow: it answers each '$gen_call' with its request,
// one second late.
using slow = nodus::remote_server<"slow", nodus::call<b_count, b_count>>;
constexpr const char* spawn_slow =
    "register(slow, spawn(fun() -> L = fun L() -> receive {'$gen_call', {P, T}, M} -> "
    "timer:sleep(1000), P ! {T, M}, L() end end, L() end)).";
constexpr const char* spawn_box =
    "register(box, spawn(fun() -> B = fun B(Acc) -> receive {get, P} -> P ! lists:reverse(Acc), "
    "B(Acc); M -> B([M | Acc]) end end, B([]) end)).";

// The server Erlang calls: counts casts (by N) and notes (1000 each).
struct beam_facing
    : nodus::server<beam_facing, nodus::call<b_ping, b_pong>, nodus::call<b_get, b_count>,
                    nodus::call<b_crash, b_count>, nodus::call<b_echo, b_echo>,
                    nodus::call<b_whoami, b_me>, nodus::cast<b_add>, nodus::cast<b_tell>,
                    nodus::cast<b_sub>, nodus::info<b_note>> {
  static constexpr nodus::fixed_string name = "beam_facing";
  int count = 0;
  b_pong handle_call(const b_ping&) { return {self_node(), {}}; }
  b_count handle_call(const b_get&) { return {count}; }
  b_count handle_call(const b_crash&) { throw std::runtime_error("asked to crash"); }
  b_echo handle_call(const b_echo& e) { return e; }
  b_me handle_call(const b_whoami&) { return {self_pid()}; }
  void handle_cast(const b_tell& t) { (void)send<inbox>(t.to, b_me{self_pid()}); }
  void handle_cast(const b_add& a) { count += a.by; }
  void handle_cast(const b_sub& s) { (void)send(s.who, b_note{"subscribed"}); }
  void handle_info(const b_note& n) { count += n.text == "hello" ? 1000 : -1; }
};

constexpr const char* cookie = "nodus_beam_cookie";

// start_erl(erl, name, ip_tuple, port): erl as name, listening on ip_tuple ("{127,0,0,1}") at
// port with no port mapper (it takes every node to be at port), running
// erl_test::eval_program; waits until it is ready.
void start_erl(std::optional<erl_test::erl_process>& erl, const std::string& name,
               const std::string& ip_tuple, unsigned short port) {
  const std::string ps = std::to_string(port);
  // clang-format off
  erl.emplace(std::vector<std::string>{
      "erl", "-name", name, "-setcookie", cookie, "-noshell",
      "-start_epmd", "false", "-erl_epmd_port", ps,
      "-kernel", "inet_dist_use_interface", ip_tuple,
      "-kernel", "inet_dist_listen_min", ps, "-kernel", "inet_dist_listen_max", ps,
      "-eval", erl_test::eval_program(60000)});
  // clang-format on
  BOOST_REQUIRE_MESSAGE(erl->wait_for("ready " + name).has_value(), "erl did not start:\n"
                                                                        << erl->transcript());
}

// A nodus node connected to a fresh erl node.
struct beam_fixture {
  beam_fixture() {
    if (!erl_test::erl_installed()) return;
    const unsigned short port = erl_test::free_port();
    const std::string ps = std::to_string(port);
    start_erl(erl, "erl1@127.0.0.1", "{127,0,0,1}", port);
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
    auto r = erl_test::eval(*erl, expression, 15s);
    if (!r) BOOST_FAIL("no result from erl for " << expression << ":\n" << erl->transcript());
    return r.value_or("");
  }

  // pong_again() -> whether beam_facing answers ping again after a crash: the supervisor may
  // need a moment, so erl polls (bounded: 50 calls).
  bool pong_again() {
    for (int i = 0; i < 50; ++i) {
      if (eval("catch gen_server:call({beam_facing, 'n1@127.0.0.1'}, ping, 5000).") ==
          "{ok,{ok,'n1@127.0.0.1',pong}}") {
        return true;
      }
    }
    return false;
  }

  std::optional<erl_test::erl_process> erl;
  std::optional<nodus::node<nodus::no_topology, protocol>> node;
};

// A BEAM peer made by hand: a blocking socket that runs the initiator's handshake without the
// nodus flag (so the node takes it for an Erlang node), then sends the frames a test gives it.
struct raw_beam_peer {
  asio::io_context io;
  asio::ip::tcp::socket s{io};
  std::vector<std::byte> buf;  // received, not consumed

  // read_within(t) -> bytes read, 0 when the node closed the connection, nothing at the deadline.
  std::optional<std::size_t> read_within(std::chrono::milliseconds t) {
    pollfd p{s.native_handle(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<long>(t.count(), 0))) <= 0) return std::nullopt;
    std::array<std::byte, 4096> chunk{};
    std::error_code ec;
    const std::size_t n = s.read_some(asio::buffer(chunk), ec);
    if (ec) return 0;  // end of stream, or reset: closed either way
    buf.insert(buf.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
    return n;
  }

  // handshake(port, cookie, flags): as raw@127.0.0.1 offering flags (by default nodus's own
  // without the nodus bit: a BEAM node that reads the distribution header).
  bool handshake(std::uint16_t port, const char* peer_cookie,
                 nodus::net::dist_flags flags = nodus::net::dflags_nodus_default &
                                                ~nodus::net::dflag_nodus) {
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    nodus::net::handshake::options o;
    o.self = nodus::node_name::parse("raw@127.0.0.1").value();
    o.cookie = peer_cookie;
    o.flags = flags;
    o.creation = 7;
    o.challenge = 0x5eed;
    auto m = nodus::net::handshake::machine::initiator(
        o, nodus::node_name::parse("n1@127.0.0.1").value());
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    for (;;) {
      if (m.has_output()) asio::write(s, asio::buffer(m.take_output()));
      while (!m.finished()) {
        auto f = nodus::net::handshake::split_frame(buf);
        if (!f) break;
        (void)m.feed(f->body);
        buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(f->size));
        if (m.has_output()) asio::write(s, asio::buffer(m.take_output()));
      }
      if (m.finished()) return m.done();
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      auto n = read_within(left);
      if (!n || *n == 0) return false;
    }
  }

  // send(control, message, framing): one frame (the distribution header or 112, control, message).
  void send(const nodus::etf::term& control, const nodus::etf::term* message,
            nodus::dist::erlang_framing framing = nodus::dist::erlang_framing::dist_header) {
    auto body = nodus::dist::erlang_frame_bytes(control, message, framing).value();
    send_raw(body);
  }
  void send_raw(const std::vector<std::byte>& body) {
    const auto n = static_cast<std::uint32_t>(body.size());
    const std::array<std::byte, 4> len{std::byte(n >> 24), std::byte(n >> 16), std::byte(n >> 8),
                                       std::byte(n)};
    asio::write(s, std::array{asio::buffer(len), asio::buffer(body)});
  }

  // next_frame(t) -> the next frame that is not a tick nor for global_name_server (the node's
  // global session, which this peer does not run), or nothing (closed, or the deadline).
  std::optional<std::vector<std::byte>> next_frame(std::chrono::milliseconds t) {
    constexpr std::string_view global = "global_name_server";
    auto for_global = [&](const std::vector<std::byte>& f) {
      return std::search(f.begin(), f.end(), global.begin(), global.end(), [](std::byte x, char c) {
               return x == static_cast<std::byte>(c);
             }) != f.end();
    };
    const auto deadline = std::chrono::steady_clock::now() + t;
    for (;;) {
      while (buf.size() >= 4) {
        const std::size_t n = (std::to_integer<std::size_t>(buf[0]) << 24) |
                              (std::to_integer<std::size_t>(buf[1]) << 16) |
                              (std::to_integer<std::size_t>(buf[2]) << 8) |
                              std::to_integer<std::size_t>(buf[3]);
        if (buf.size() < 4 + n) break;
        std::vector<std::byte> f(buf.begin() + 4, buf.begin() + 4 + static_cast<std::ptrdiff_t>(n));
        buf.erase(buf.begin(), buf.begin() + 4 + static_cast<std::ptrdiff_t>(n));
        if (n != 0 && !for_global(f)) return f;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      auto got = read_within(left);
      if (!got || *got == 0) return std::nullopt;
    }
  }

  // closed_within(t): the node closed the connection within t (what it sends before is skipped).
  bool closed_within(std::chrono::milliseconds t) {
    const auto deadline = std::chrono::steady_clock::now() + t;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      auto got = read_within(left);
      if (!got) return false;
      if (*got == 0) return true;
      buf.clear();
    }
  }
};

// n1@127.0.0.1 running beam_facing without a port mapper or formation, for raw_beam_peer to dial.
struct raw_fixture {
  static nodus::options options() {
    nodus::options o;
    o.name = nodus::node_name::parse("n1@127.0.0.1").value();
    o.cookie = cookie;
    o.epmd = false;
    o.cluster.form = false;
    return o;
  }
  raw_fixture() : node(options()) {
    BOOST_REQUIRE(node.start(nodus::supervisor<nodus::one_for_one, beam_facing>{}));
    node.run_in_background();
  }
  ~raw_fixture() {
    node.stop();
    (void)node.join();
  }
  nodus::node<nodus::no_topology, protocol> node;
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

BOOST_AUTO_TEST_CASE(a_16_mib_binary_crosses_both_ways) {
  if (!erl_test::erl_installed()) return;
  beam_fixture f;
  // erl -> nodus in the request, in fragments (erts splits a big message when the peer offers
  // DFLAG_FRAGMENTS; tests/net/erl_interop.cpp sees it), nodus -> erl in the reply, one frame
  // (16 MiB is under the default maximum frame of 64 MiB).
  BOOST_TEST(f.eval("B = binary:copy(<<7, 1, 2, 3>>, 4194304), {echo, R} = gen_server:call("
                    "{beam_facing, 'n1@127.0.0.1'}, {echo, B}, 60000), {byte_size(R), R =:= B}.") ==
                 "{ok,{16777216,true}}",
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
  // The restarted instance answers.
  BOOST_TEST(f.pong_again(), f.erl->transcript());
}

// erlang:monitor(process, {Name, Node}) on a running nodus server is kept until the server ends:
// its crash fires 'DOWN' with the crash, a monitor taken down is forgotten, and the node's stop
// fires the monitors with shutdown before the connection goes.
BOOST_AUTO_TEST_CASE(erlang_monitors_of_a_nodus_server_fire_when_it_exits) {
  if (!erl_test::erl_installed()) return;
  beam_fixture f;
  const std::string to = "{beam_facing, 'n1@127.0.0.1'}";
  // Quiet while it runs, then 'DOWN' with the crash (the call that crashed it fails with it too).
  auto r = f.eval("M = erlang:monitor(process, " + to +
                  "), Q = receive {'DOWN', M, _, _, _} -> early after 300 -> quiet end, "
                  "_ = (catch gen_server:call(" +
                  to +
                  ", crash, 5000)), D = receive {'DOWN', M, process, Who, R} -> {Who, R} after "
                  "5000 -> no_down end, {Q, D}.");
  BOOST_TEST(r.find("{ok,{quiet,{{beam_facing,'n1@127.0.0.1'},{server_crashed,<<") == 0, r);
  // A monitor taken down before the next crash: no 'DOWN' for it (erlang:demonitor's flush would
  // hide one; here the mailbox is looked at instead).
  BOOST_REQUIRE_MESSAGE(f.pong_again(), f.erl->transcript());
  r = f.eval("M = erlang:monitor(process, " + to + "), true = erlang:demonitor(M), _ = (catch " +
             "gen_server:call(" + to +
             ", crash, 5000)), receive {'DOWN', M, _, _, _} -> down after 300 -> none end.");
  BOOST_TEST(r == "{ok,none}");
  BOOST_REQUIRE_MESSAGE(f.pong_again(), f.erl->transcript());
  // A process that monitors the server and then calls it (so the monitor is in place); the node
  // stops: 'DOWN' with shutdown.
  r = f.eval("P = self(), register(watcher, spawn(fun() -> M = erlang:monitor(process, " + to +
             "), {ok, _, pong} = gen_server:call(" + to +
             ", ping, 5000), P ! ready, receive {'DOWN', M, _, _, R} -> receive {get, Q} -> Q ! "
             "{down, R} end end end)), receive ready -> ok after 5000 -> no_ready end.");
  BOOST_REQUIRE(r == "{ok,ok}");
  f.node->stop();
  (void)f.node->join();
  f.node.reset();
  r = f.eval("watcher ! {get, self()}, receive {down, R} -> R after 5000 -> no_down end.");
  BOOST_TEST(r == "{ok,shutdown}", f.erl->transcript());
}

// A nodus server hands its pid to an Erlang process ({me, Pid} to inbox); Erlang calls, casts and
// sends to the server through it, and a monitor of it fires with the crash, naming the pid.
BOOST_AUTO_TEST_CASE(erlang_reaches_and_monitors_a_nodus_server_through_its_pid) {
  if (!erl_test::erl_installed()) return;
  beam_fixture f;
  const std::string me =
      "begin catch register(inbox, self()), gen_server:cast({beam_facing, 'n1@127.0.0.1'}, {tell, "
      "node()}), receive {me, Me} -> Me after 5000 -> no_pid end end";
  BOOST_TEST(f.eval("P = " + me + ", {node(P), gen_server:call(P, ping, 5000)}.") ==
                 "{ok,{'n1@127.0.0.1',{ok,'n1@127.0.0.1',pong}}}",
             f.erl->transcript());
  BOOST_TEST(f.eval("P = " + me +
                    ", gen_server:cast(P, {add, 2}), P ! {note, <<\"hello\">>}, "
                    "gen_server:call(P, get, 5000).") == "{ok,{count,1002}}",
             f.erl->transcript());
  BOOST_TEST(f.eval("P = " + me +
                    ", M = erlang:monitor(process, P), _ = (catch gen_server:call(P, crash, 5000)),"
                    " receive {'DOWN', M, process, P, R} -> {down, element(1, R)} after 5000 -> "
                    "no_down end.") == "{ok,{down,server_crashed}}",
             f.erl->transcript());
}

// A pid in a protocol type: an Erlang process casts {subscribe, self()} and the server sends to
// that pid (server::send(pid, msg)); node::send(pid, msg) reaches a server of this node by its
// pid; a pid of a node that is not connected is nodedown.
BOOST_AUTO_TEST_CASE(a_server_sends_to_the_pid_an_erlang_process_gave_it) {
  if (!erl_test::erl_installed()) return;
  beam_fixture f;
  const std::string note = f.eval(
      "gen_server:cast({beam_facing, 'n1@127.0.0.1'}, {subscribe, self()}), "
      "receive {note, T} -> T =:= <<\"subscribed\">> after 5000 -> none end.");
  BOOST_TEST(note == "{ok,true}", note << "\n" << f.erl->transcript());
  const auto me = f.node->call<beam_facing>(b_whoami{});
  BOOST_REQUIRE(me.has_value());
  BOOST_REQUIRE(f.node->send(me->pid, b_note{"hello"}).has_value());
  const auto c = f.node->call<beam_facing>(b_get{});
  BOOST_REQUIRE(c.has_value());
  BOOST_TEST(c->n == 1000);
  const nodus::etf::pid far{nodus::etf::atom("zz@127.0.0.9"), 1, 0, 1};
  const auto r = f.node->send(far, b_note{"lost"});
  BOOST_REQUIRE(!r.has_value());
  BOOST_TEST((r.error() == nodus::errc::nodedown), r.error().message());
}

// Erlang's global on the BEAM side with a nodus node connected: the nodus node takes part in
// global's connect session, so global:sync() returns and both sides count each other as synced;
// names register, resolve and go, and global locks, which lock every connected node, are held on
// the nodus node too (each bounded: a hang is a failure).
BOOST_AUTO_TEST_CASE(erlang_s_global_syncs_with_a_nodus_node_and_locks_on_it) {
  if (!erl_test::erl_installed()) return;
  beam_fixture f;
  auto bounded = [&](const std::string& e) {
    return f.eval("Self = self(), spawn(fun() -> Self ! {r, catch " + e +
                  "} end), receive {r, R} -> R after 5000 -> hang end.");
  };
  BOOST_TEST(f.eval("net_adm:ping('n1@127.0.0.1').") == "{ok,pong}");
  BOOST_TEST(bounded("global:sync()") == "{ok,ok}", f.erl->transcript());
  // rpc's feature request is answered (no erpc), and an rpc call fails at once (notsup), as to
  // any node without spawn_request.
  BOOST_TEST(bounded("begin {rex, 'n1@127.0.0.1'} ! {self(), features_request}, receive "
                     "{features_reply, N, L} -> {N, L} after 5000 -> none end end") ==
             "{ok,{'n1@127.0.0.1',[]}}");
  BOOST_TEST(bounded("element(1, rpc:call('n1@127.0.0.1', erlang, node, []))") == "{ok,badrpc}");
  BOOST_TEST(bounded("lists:member('n1@127.0.0.1', gen_server:call(global_name_server, "
                     "get_synced))") == "{ok,true}");
  BOOST_TEST(bounded("gen_server:call({global_name_server, 'n1@127.0.0.1'}, get_synced)") ==
             "{ok,['erl1@127.0.0.1']}");
  BOOST_TEST(bounded("begin P = spawn(fun() -> receive stop -> ok end end), yes = "
                     "global:register_name(g_box, P), P =:= global:whereis_name(g_box) end") ==
             "{ok,true}");
  BOOST_TEST(bounded("lists:member(g_box, global:registered_names())") == "{ok,true}");
  BOOST_TEST(bounded("global:trans({g_lock, self()}, fun() -> locked end)") == "{ok,locked}");
  // The process ends: global drops its name (global's own monitor: polled, bounded by the wait).
  BOOST_TEST(bounded("begin global:send(g_box, stop), W = fun W() -> case "
                     "global:whereis_name(g_box) of undefined -> gone; _ -> timer:sleep(5), W() "
                     "end end, W() end") == "{ok,gone}");
  // A lock held on the nodus node: another requester is refused there, the holder's release
  // lets it in; a holder that dies without releasing loses it (the nodus node monitors it).
  const std::string n1 = "['n1@127.0.0.1']";
  BOOST_TEST(f.eval("S = self(), register(lk_holder, spawn(fun() -> S ! {held, global:set_lock("
                    "{res, holder}, " +
                    n1 +
                    ", 0)}, receive release -> global:del_lock({res, "
                    "holder}, " +
                    n1 +
                    "), receive die -> ok end end end)), receive {held, L} -> "
                    "L after 5000 -> hang end.") == "{ok,true}");
  BOOST_TEST(bounded("global:set_lock({res, other}, " + n1 + ", 0)") == "{ok,false}");
  BOOST_TEST(bounded("global:set_lock({res, holder}, " + n1 + ", 0)") == "{ok,true}");
  BOOST_TEST(
      bounded("begin lk_holder ! release, W = fun W(0) -> false; W(N) -> case global:set_lock("
              "{res, other}, " +
              n1 + ", 0) of true -> global:del_lock({res, other}, " + n1 +
              "), true; false -> timer:sleep(10), W(N - 1) end end, W(200) end") == "{ok,true}");
  BOOST_TEST(f.eval("S = self(), register(lk_dier, spawn(fun() -> S ! {held, global:set_lock("
                    "{res2, dier}, " +
                    n1 +
                    ", 0)}, receive die -> ok end end)), receive {held, L} "
                    "-> L after 5000 -> hang end.") == "{ok,true}");
  BOOST_TEST(bounded("global:set_lock({res2, other}, " + n1 + ", 0)") == "{ok,false}");
  BOOST_TEST(
      bounded(
          "begin exit(whereis(lk_dier), kill), W = fun W(0) -> false; W(N) -> case global:set_lock("
          "{res2, other}, " +
          n1 +
          ", 0) of true -> true; false -> timer:sleep(10), "
          "W(N - 1) end end, W(200) end") == "{ok,true}");
}

// Two erl nodes and a nodus node on three loopback addresses, each listening on the same port P
// (erl's -erl_epmd_port P: every node is at P, no port mapper). e1 and e2 form a partition; n1
// joins it through e1 alone: e1's global tells e2 (new_nodes), e2 connects to n1 and both sync
// with it. Then n1 drops e1: global takes the partition apart as OTP 25 does
// (prevent_overlapping_partitions): n1 reports the loss to e2, e1 reports its own, and e2 ends
// connected to neither side.
BOOST_AUTO_TEST_CASE(a_nodus_node_joins_a_global_partition_and_keeps_it_from_overlapping) {
  if (!erl_test::erl_installed()) return;
  const unsigned short port = erl_test::free_port();
  const std::string ps = std::to_string(port);
  std::optional<erl_test::erl_process> e1;
  std::optional<erl_test::erl_process> e2;
  start_erl(e1, "e1@127.0.0.1", "{127,0,0,1}", port);
  start_erl(e2, "e2@127.0.0.2", "{127,0,0,2}", port);
  auto eval = [](std::optional<erl_test::erl_process>& erl, const std::string& e) {
    return erl_test::eval(*erl,
                          "Self = self(), spawn(fun() -> Self ! {r, catch " + e +
                              "} end), receive {r, R} -> R after 8000 -> hang end.",
                          15s)
        .value_or("no result");
  };
  // until(erl, e): e, polled every 20 ms until it is true (at most 5 s).
  auto until = [&](std::optional<erl_test::erl_process>& erl, const std::string& e) {
    return eval(erl, "begin W = fun W(0) -> false; W(N) -> case " + e +
                         " of true -> true; _ -> timer:sleep(20), W(N - 1) end end, W(250) end");
  };
  BOOST_REQUIRE_EQUAL(eval(e1, "net_adm:ping('e2@127.0.0.2')"), "{ok,pong}");
  BOOST_REQUIRE_EQUAL(eval(e1, "global:sync()"), "{ok,ok}");

  nodus::options o;
  o.name = nodus::node_name::parse("n1@127.0.0.3").value();
  o.cookie = cookie;
  o.port = port;
  o.epmd = false;
  o.cluster.form = false;
  nodus::node<nodus::no_topology, protocol> n1(o);
  BOOST_REQUIRE(n1.start(nodus::supervisor<nodus::one_for_one, beam_facing>{}));
  n1.run_in_background();
  BOOST_REQUIRE_MESSAGE(n1.connect("e1@127.0.0.1:" + ps), e1->transcript());

  BOOST_TEST(eval(e1, "global:sync()") == "{ok,ok}", e1->transcript());
  BOOST_TEST(until(e2, "lists:member('n1@127.0.0.3', nodes())") == "{ok,true}", e2->transcript());
  BOOST_TEST(eval(e2, "global:sync()") == "{ok,ok}", e2->transcript());
  BOOST_TEST(eval(e2, "gen_server:call(global_name_server, get_synced)") ==
             "{ok,['n1@127.0.0.3','e1@127.0.0.1']}");
  BOOST_TEST(eval(e1,
                  "lists:sort(gen_server:call({global_name_server, 'n1@127.0.0.3'}, "
                  "get_synced))") == "{ok,['e1@127.0.0.1','e2@127.0.0.2']}");
  // A name registered on e1 reaches e2 with the nodus node in the partition.
  BOOST_TEST(eval(e1,
                  "begin P = spawn(fun() -> receive stop -> ok end end), "
                  "global:register_name(g_two, P) end") == "{ok,yes}");
  BOOST_TEST(eval(e2, "is_pid(global:whereis_name(g_two))") == "{ok,true}");

  const auto e1_name = nodus::node_name::parse("e1@127.0.0.1").value();
  BOOST_REQUIRE(n1.disconnect(e1_name));
  BOOST_TEST(until(e2, "nodes() =:= []") == "{ok,true}", e2->transcript());
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (n1.list().size() != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  BOOST_TEST(n1.list().empty());
  n1.stop();
  (void)n1.join();
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
  // Its monitor is taken down after the timeout, as gen.erl does (within the sweep's 500 ms).
  BOOST_TEST(f.eval("W = fun W(0) -> still_monitored; W(N) -> case process_info(whereis(box), "
                    "monitored_by) of {monitored_by, []} -> none; _ -> timer:sleep(20), W(N - 1) "
                    "end end, W(250).") == "{ok,none}",
             f.erl->transcript());
  // A reply that comes after its call's timeout is dropped: the next call gets its own reply,
  // and the late one's monitor is taken down too.
  BOOST_TEST(f.eval(spawn_slow) == "{ok,true}", f.erl->transcript());
  auto late = f.node->call<slow>(erl1, b_count{1}, 300ms);
  BOOST_REQUIRE(!late.has_value());
  BOOST_TEST((late.error() == nodus::errc::timeout), late.error().message());
  auto own = f.node->call<slow>(erl1, b_count{2}, 10s);
  BOOST_REQUIRE_MESSAGE(own.has_value(), own.error().message());
  BOOST_TEST(own->n == 2);
  std::string monitors;
  for (int i = 0; i < 50; ++i) {
    monitors = f.eval("{monitored_by, M} = process_info(whereis(slow), monitored_by), length(M).");
    if (monitors == "{ok,0}") break;
  }
  BOOST_TEST(monitors == "{ok,0}", f.erl->transcript());
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

BOOST_AUTO_TEST_CASE(malformed_frames_from_a_beam_peer_close_its_link_and_nothing_else) {
  raw_fixture fixture;
  auto& node = fixture.node;
  namespace etf = nodus::etf;
  const etf::pid raw_pid{etf::atom("raw@127.0.0.1"), 1, 0, 7};
  const auto ref = etf::reference{etf::atom("raw@127.0.0.1"), 7, 3, {1, 2, 3, 0, 0}};

  // Bytes that are no term after the pass-through byte: the link is closed.
  {
    raw_beam_peer p;
    BOOST_REQUIRE(p.handshake(node.port(), cookie));
    p.send_raw({std::byte{112}, std::byte{131}, std::byte{255}, std::byte{1}});
    BOOST_TEST(p.closed_within(5s));
  }
  // A control message without the fields of its operation (REG_SEND of two elements): closed.
  {
    raw_beam_peer p;
    BOOST_REQUIRE(p.handshake(node.port(), cookie));
    p.send(etf::term::tuple({etf::term(6), etf::term(raw_pid)}), nullptr);
    BOOST_TEST(p.closed_within(5s));
  }
  // A nesting deeper than the limit, and a length that the bytes do not hold: closed.
  {
    raw_beam_peer p;
    BOOST_REQUIRE(p.handshake(node.port(), cookie));
    std::vector<std::byte> deep{std::byte{112}, std::byte{131}};
    for (int i = 0; i < 2000; ++i) deep.insert(deep.end(), {std::byte{104}, std::byte{1}});
    deep.push_back(std::byte{106});
    p.send_raw(deep);
    BOOST_TEST(p.closed_within(5s));
  }
  {
    raw_beam_peer p;
    BOOST_REQUIRE(p.handshake(node.port(), cookie));
    // BINARY_EXT claiming 4 GiB - 1 bytes in a 10-byte frame.
    p.send_raw({std::byte{112}, std::byte{131}, std::byte{109}, std::byte{0xff}, std::byte{0xff},
                std::byte{0xff}, std::byte{0xff}, std::byte{1}, std::byte{2}, std::byte{3}});
    BOOST_TEST(p.closed_within(5s));
  }
  // A well-formed message no handler takes is dropped with a log line, the link stays: the same
  // peer's gen_server call then gets its reply, {Tag, {ok, Node, pong}}, sent to its pid.
  {
    raw_beam_peer p;
    BOOST_REQUIRE(p.handshake(node.port(), cookie));
    const etf::term reg_send =
        etf::term::tuple({etf::term(6), etf::term(raw_pid), etf::term(etf::atom()),
                          etf::term(etf::atom("beam_facing"))});
    const etf::term stray = etf::term::tuple({etf::term(etf::atom("what")), etf::term(1)});
    p.send(reg_send, &stray);
    const etf::term call = etf::term::tuple({etf::term(etf::atom("$gen_call")),
                                             etf::term::tuple({etf::term(raw_pid), etf::term(ref)}),
                                             etf::term(etf::atom("ping"))});
    p.send(reg_send, &call);
    auto f = p.next_frame(5s);
    BOOST_REQUIRE_MESSAGE(f.has_value(), "no reply: the link was closed or the call was lost");
    auto fr = nodus::dist::parse_erlang_frame(*f);
    BOOST_REQUIRE_MESSAGE(fr.has_value(), fr.error().message());
    BOOST_TEST((fr->op == nodus::dist::erlang_op::send));
    BOOST_TEST(fr->control.to_string(200).find("raw@127.0.0.1") != std::string::npos);
    BOOST_TEST(
        fr->message.to_string(200) ==
        etf::term::tuple({etf::term(ref), etf::term::tuple({etf::term(etf::atom("ok")),
                                                            etf::term(etf::atom("n1@127.0.0.1")),
                                                            etf::term(etf::atom("pong"))})})
            .to_string(200));
    BOOST_TEST(!p.closed_within(200ms));
  }
  // The node lived through all of it.
  BOOST_TEST(node.call<beam_facing>(b_ping{}).has_value());
}

// A BEAM peer's frames in each form a nodus node reads: a call whose atoms set the atom cache and
// whose message comes in three fragments, the same call again through the cache, a peer that
// did not offer the header (pass-through frames both ways), and a reference to a cache entry never
// set (malformed: the link is closed). Written by hand, as erts would write them.
BOOST_AUTO_TEST_CASE(a_beam_peer_s_atom_cache_fragments_and_pass_through_frames_reach_a_server) {
  raw_fixture fixture;
  auto& node = fixture.node;
  namespace etf = nodus::etf;
  using bytes = std::vector<std::byte>;
  const etf::pid raw_pid{etf::atom("raw@127.0.0.1"), 1, 0, 7};
  const auto ref = etf::reference{etf::atom("raw@127.0.0.1"), 7, 3, {1, 2, 3, 0, 0}};
  const std::string pong =
      etf::term::tuple({etf::term(ref), etf::term::tuple({etf::term(etf::atom("ok")),
                                                          etf::term(etf::atom("n1@127.0.0.1")),
                                                          etf::term(etf::atom("pong"))})})
          .to_string(200);
  auto put = [](bytes& out, std::initializer_list<unsigned> v) {
    for (unsigned b : v) out.push_back(static_cast<std::byte>(b));
  };
  auto put_text = [](bytes& out, std::string_view t) {
    for (char c : t) out.push_back(static_cast<std::byte>(c));
  };
  auto put_term = [](bytes& out, const etf::term& t) {
    (void)etf::encode(t, out, etf::encode_options{false});
  };
  auto put_be64 = [](bytes& out, std::uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<std::byte>(v >> shift));
  };
  // {6, Pid, '', ref 0}, then {ref 1, {Pid, Ref}, ref 2}: refs beam_facing, '$gen_call', ping.
  bytes control;
  put(control, {104, 4, 97, 6});
  put_term(control, etf::term(raw_pid));
  put(control, {119, 0, 82, 0});
  bytes message;
  put(message, {104, 3, 82, 1, 104, 2});
  put_term(message, etf::term(raw_pid));
  put_term(message, etf::term(ref));
  put(message, {82, 2});
  {
    raw_beam_peer p;
    BOOST_REQUIRE(p.handshake(node.port(), cookie));
    // Three new entries: 1 and 2 of segment 0, 3 of segment 1 (flags 8, 8, 9; no LongAtoms).
    bytes first;
    put(first, {131, 69});
    put_be64(first, 77);
    put_be64(first, 3);
    put(first, {3, 0x88, 0x09, 1, 11});
    put_text(first, "beam_facing");
    put(first, {2, 9});
    put_text(first, "$gen_call");
    put(first, {3, 4});
    put_text(first, "ping");
    first.insert(first.end(), control.begin(), control.end());
    first.insert(first.end(), message.begin(), message.begin() + 5);
    for (const auto& [frag, from, to] :
         {std::tuple{2u, 5u, 12u}, std::tuple{1u, 12u, unsigned(message.size())}}) {
      p.send_raw(first);
      first.clear();
      put(first, {131, 70});
      put_be64(first, 77);
      put_be64(first, frag);
      first.insert(first.end(), message.begin() + from, message.begin() + to);
    }
    p.send_raw(first);
    auto f = p.next_frame(5s);
    BOOST_REQUIRE_MESSAGE(f.has_value(), "no reply to the fragmented call");
    BOOST_TEST(std::to_integer<int>((*f)[0]) == 131);  // the header form back
    auto fr = nodus::dist::parse_erlang_frame(*f);
    BOOST_REQUIRE_MESSAGE(fr.has_value(), fr.error().message());
    BOOST_TEST(fr->message.to_string(200) == pong);
    // The same call, its atoms from the cache (flags 0, 0, 1).
    bytes again;
    put(again, {131, 68, 3, 0x00, 0x01, 1, 2, 3});
    again.insert(again.end(), control.begin(), control.end());
    again.insert(again.end(), message.begin(), message.end());
    p.send_raw(again);
    f = p.next_frame(5s);
    BOOST_REQUIRE_MESSAGE(f.has_value(), "no reply to the call through the atom cache");
    fr = nodus::dist::parse_erlang_frame(*f);
    BOOST_REQUIRE_MESSAGE(fr.has_value(), fr.error().message());
    BOOST_TEST(fr->message.to_string(200) == pong);
    // Entry 3 of segment 0 was never set: the link is closed.
    bytes unset;
    put(unset, {131, 68, 3, 0x00, 0x00, 1, 2, 3});
    unset.insert(unset.end(), control.begin(), control.end());
    unset.insert(unset.end(), message.begin(), message.end());
    p.send_raw(unset);
    BOOST_TEST(p.closed_within(5s));
  }
  {
    raw_beam_peer p;  // offers neither the header nor fragments
    BOOST_REQUIRE(p.handshake(node.port(), cookie,
                              nodus::net::dflags_nodus_default & ~nodus::net::dflag_nodus &
                                  ~nodus::net::dflag_dist_hdr_atom_cache &
                                  ~nodus::net::dflag_fragments));
    const etf::term reg_send =
        etf::term::tuple({etf::term(6), etf::term(raw_pid), etf::term(etf::atom()),
                          etf::term(etf::atom("beam_facing"))});
    const etf::term call = etf::term::tuple({etf::term(etf::atom("$gen_call")),
                                             etf::term::tuple({etf::term(raw_pid), etf::term(ref)}),
                                             etf::term(etf::atom("ping"))});
    p.send(reg_send, &call, nodus::dist::erlang_framing::pass_through);
    auto f = p.next_frame(5s);
    BOOST_REQUIRE_MESSAGE(f.has_value(), "no reply to the pass-through call");
    BOOST_TEST(std::to_integer<int>((*f)[0]) == 112);
    auto fr = nodus::dist::parse_erlang_frame(*f);
    BOOST_REQUIRE_MESSAGE(fr.has_value(), fr.error().message());
    BOOST_TEST(fr->message.to_string(200) == pong);
  }
  BOOST_TEST(node.call<beam_facing>(b_ping{}).has_value());
}

// A server instance's pid (self_pid: {node, its number, its generation, the node's creation})
// from a BEAM peer: a call to it is answered, a monitor of it fires with the crash and names the
// pid; after the restart the old pid takes nothing (a monitor of it fires noproc at once, a call
// to it is dropped) and the new instance has another pid.
// What a peer sends global_name_server in a shape global never sends is ignored (or, for a
// call, answered as global would: set_lock of no lock id is refused); the link stays.
BOOST_AUTO_TEST_CASE(global_messages_of_the_wrong_shape_change_nothing) {
  raw_fixture fixture;
  namespace etf = nodus::etf;
  const etf::pid raw_pid{etf::atom("raw@127.0.0.1"), 1, 0, 7};
  auto t = [](std::initializer_list<etf::term> items) { return etf::term::tuple(items); };
  auto a = [](const char* name) { return etf::term(etf::atom(name)); };
  auto ref = [](std::uint32_t n) {
    return etf::reference{etf::atom("raw@127.0.0.1"), 7, 3, {n, 9, 9, 0, 0}};
  };
  raw_beam_peer p;
  BOOST_REQUIRE(p.handshake(fixture.node.port(), cookie));
  const etf::term to_global = t({etf::term(6), etf::term(raw_pid), a(""), a("global_name_server")});
  const std::vector<etf::term> junk = {
      t({a("$gen_cast"), t({a("init_connect"), a("bad"), etf::term(1), etf::term(2)})}),
      t({a("$gen_cast"), t({a("init_connect"), t({etf::term(8)}), a("x"), etf::term(2)})}),
      t({a("$gen_cast"), t({a("lock_set"), etf::term(1), a("true"), etf::term::nil(), a("x")})}),
      t({a("$gen_cast"), t({a("exchange"), etf::term(1), etf::term(2), etf::term(3), a("x")})}),
      t({a("$gen_cast"), t({a("resolved"), etf::term(1), etf::term(2), etf::term(3), etf::term(4),
                            etf::term(5), etf::term(6)})}),
      t({a("$gen_cast"),
         t({a("new_nodes"), a("x"), etf::term(1), etf::term(2), a("no_list"), etf::term(3)})}),
      t({a("$gen_cast"),
         t({a("new_nodes"), a("x"), etf::term(1), etf::term(2),
            etf::term::list({etf::term(1), etf::term::binary("n"), a("not a node name"),
                             t({a("raw@127.0.0.1"), a("x")})}),
            etf::term(3)})}),
      t({a("$gen_cast"), a("no_tuple")}),
      t({a("lost_connection"), etf::term(1), etf::term(2), etf::term(3), etf::term(4)}),
      t({a("lost_connection"), a("a@127.0.0.9"), etf::term(1), a("x"), a("b@127.0.0.9")}),
      t({a("remove_connection"), etf::term(42)}),
      t({a("init_connect_ack"), a("x"), etf::term(1), etf::term(2)}),
      t({a("cancel_connect"), a("x"), etf::term(1)}),
      etf::term::nil(),
      t({a("$gen_call"), a("no_from"), a("get_known")}),
  };
  for (const auto& m : junk) p.send(to_global, &m);
  // Calls: set_lock of no lock id is refused; get_protocol_version answers global's version.
  const etf::term bad_lock =
      t({a("$gen_call"), t({etf::term(raw_pid), etf::term(ref(1))}), t({a("set_lock"), a("x")})});
  p.send(to_global, &bad_lock);
  auto f = p.next_frame(5s);
  BOOST_REQUIRE_MESSAGE(f.has_value(), "no reply to set_lock");
  auto fr = nodus::dist::parse_erlang_frame(*f);
  BOOST_REQUIRE_MESSAGE(fr.has_value(), fr.error().message());
  BOOST_TEST(fr->message.to_string(200) == t({etf::term(ref(1)), a("false")}).to_string(200));
  const etf::term version =
      t({a("$gen_call"), t({etf::term(raw_pid), etf::term(ref(2))}), a("get_protocol_version")});
  p.send(to_global, &version);
  f = p.next_frame(5s);
  BOOST_REQUIRE_MESSAGE(f.has_value(), "no reply to get_protocol_version");
  fr = nodus::dist::parse_erlang_frame(*f);
  BOOST_REQUIRE_MESSAGE(fr.has_value(), fr.error().message());
  BOOST_TEST(fr->message.to_string(200) == t({etf::term(ref(2)), etf::term(8)}).to_string(200));
  BOOST_TEST(fixture.node.list().size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_server_s_pid_takes_calls_and_monitors_from_a_beam_peer) {
  raw_fixture fixture;
  auto& node = fixture.node;
  namespace etf = nodus::etf;
  const auto me = node.call<beam_facing>(b_whoami{});
  BOOST_REQUIRE(me.has_value());
  const etf::pid server = me->pid;
  BOOST_TEST(server.node.str() == "n1@127.0.0.1");
  BOOST_TEST(server.id != 0u);
  BOOST_TEST(server.serial == 1u);
  BOOST_TEST(server.creation != 0u);
  const etf::pid raw_pid{etf::atom("raw@127.0.0.1"), 1, 0, 7};
  auto ref = [](std::uint32_t n) {
    return etf::reference{etf::atom("raw@127.0.0.1"), 7, 3, {n, 2, 3, 0, 0}};
  };
  auto control = [](std::initializer_list<etf::term> items) { return etf::term::tuple(items); };
  auto gen_call = [&](const etf::reference& tag, const char* request) {
    return control({etf::term(etf::atom("$gen_call")),
                    control({etf::term(raw_pid), etf::term(tag)}), etf::term(etf::atom(request))});
  };
  raw_beam_peer p;
  BOOST_REQUIRE(p.handshake(node.port(), cookie));
  // A monitor of the pid, then a call through it (SEND_SENDER to the pid).
  p.send(control({etf::term(19), etf::term(raw_pid), etf::term(server), etf::term(ref(1))}),
         nullptr);
  const etf::term ping = gen_call(ref(2), "ping");
  p.send(control({etf::term(22), etf::term(raw_pid), etf::term(server)}), &ping);
  auto f = p.next_frame(5s);
  BOOST_REQUIRE_MESSAGE(f.has_value(), "no reply to the call through the pid");
  auto fr = nodus::dist::parse_erlang_frame(*f);
  BOOST_REQUIRE_MESSAGE(fr.has_value(), fr.error().message());
  BOOST_TEST(fr->message.to_string(200).find("{ok,'n1@127.0.0.1',pong}") != std::string::npos);
  // Crash it through its pid: the monitor fires, naming the pid, with the crash; so does the
  // crashing call's own (its tag's reference), naming the server.
  const etf::term crash = gen_call(ref(3), "crash");
  p.send(control({etf::term(22), etf::term(raw_pid), etf::term(server)}), &crash);
  std::string down;
  bool call_failed = false;
  for (int i = 0; i < 4 && (down.empty() || !call_failed); ++i) {
    f = p.next_frame(5s);
    if (!f) break;
    fr = nodus::dist::parse_erlang_frame(*f);
    BOOST_REQUIRE_MESSAGE(fr.has_value(), fr.error().message());
    const auto& c = *fr->control.as_tuple();
    if (fr->op != nodus::dist::erlang_op::monitor_p_exit) continue;
    if (c[3] == etf::term(ref(1))) down = fr->control.to_string(300);
    if (c[3] == etf::term(ref(3))) call_failed = true;
  }
  BOOST_TEST(call_failed);
  BOOST_TEST(down.find("{21,<'n1@127.0.0.1'.") == 0, down);
  BOOST_TEST(down.find("{server_crashed,<<") != std::string::npos, down);
  // The old pid: a monitor fires noproc at once; the restarted instance has a new pid.
  p.send(control({etf::term(19), etf::term(raw_pid), etf::term(server), etf::term(ref(4))}),
         nullptr);
  f = p.next_frame(5s);
  BOOST_REQUIRE(f.has_value());
  fr = nodus::dist::parse_erlang_frame(*f);
  BOOST_REQUIRE(fr.has_value());
  BOOST_TEST(fr->control.to_string(300).find("noproc") != std::string::npos,
             fr->control.to_string(300));
  nodus::result<b_me> again = nodus::error(nodus::errc::noproc);
  for (int i = 0; i < 100 && !again; ++i) {
    again = node.call<beam_facing>(b_whoami{});
    if (!again) std::this_thread::sleep_for(10ms);  // the supervisor restarts it
  }
  BOOST_REQUIRE(again.has_value());
  BOOST_TEST(again->pid.serial != server.serial);
  BOOST_TEST(again->pid.id == server.id);
  // A call to the old pid is dropped; one to the new pid is answered.
  p.send(control({etf::term(22), etf::term(raw_pid), etf::term(server)}), &ping);
  const etf::term ping5 = gen_call(ref(5), "ping");
  p.send(control({etf::term(22), etf::term(raw_pid), etf::term(again->pid)}), &ping5);
  f = p.next_frame(5s);
  BOOST_REQUIRE(f.has_value());
  fr = nodus::dist::parse_erlang_frame(*f);
  BOOST_REQUIRE(fr.has_value());
  BOOST_TEST(fr->message.to_string(300).find(etf::term(ref(5)).to_string(100)) == 1u,
             fr->message.to_string(300));
}

// A nodus call to a BEAM server goes out as gen.erl sends it since OTP 24: MONITOR_P of the name,
// then {'$gen_call', {Pid, [alias|Ref]}, Request}; the server's reply to the alias (ALIAS_SEND,
// as gen:reply sends it) completes the call, and the monitor is taken down.
BOOST_AUTO_TEST_CASE(a_nodus_call_to_a_beam_server_takes_its_reply_to_the_alias) {
  raw_fixture fixture;
  auto& node = fixture.node;
  namespace etf = nodus::etf;
  using raw_ping = nodus::remote_server<"raw_ping", nodus::call<b_ping, b_pong>>;
  raw_beam_peer p;
  BOOST_REQUIRE(p.handshake(node.port(), cookie));
  const auto raw = nodus::node_name::parse("raw@127.0.0.1").value();
  // The peer's side of the handshake ends first: wait (bounded) until the node counts it up.
  const auto until = std::chrono::steady_clock::now() + 5s;
  auto listed = [&] {
    const auto l = node.list();
    return std::find(l.begin(), l.end(), raw) != l.end();
  };
  while (!listed() && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(5ms);
  BOOST_REQUIRE(listed());
  auto reply =
      std::async(std::launch::async, [&] { return node.call<raw_ping>(raw, b_ping{}, 5s); });
  auto f = p.next_frame(5s);
  BOOST_REQUIRE(f.has_value());
  auto monitor = nodus::dist::parse_erlang_frame(*f);
  BOOST_REQUIRE_MESSAGE(monitor.has_value(), monitor.error().message());
  BOOST_TEST((monitor->op == nodus::dist::erlang_op::monitor_p));
  f = p.next_frame(5s);
  BOOST_REQUIRE(f.has_value());
  auto call = nodus::dist::parse_erlang_frame(*f);
  BOOST_REQUIRE_MESSAGE(call.has_value(), call.error().message());
  BOOST_TEST((call->op == nodus::dist::erlang_op::reg_send));
  // {'$gen_call', {Pid, [alias|Ref]}, ping}, Ref the monitor's reference.
  const auto* m = call->message.as_tuple();
  BOOST_REQUIRE(m != nullptr);
  BOOST_REQUIRE(m->size() == 3u);
  const etf::term& tag = (*(*m)[1].as_tuple())[1];
  BOOST_TEST(tag.to_string(200).rfind("[alias|#Ref<", 0) == 0u, tag.to_string(200));
  const etf::term& mref = (*monitor->control.as_tuple())[3];
  BOOST_TEST(tag.to_string(200) == "[alias|" + mref.to_string(200) + "]");
  const etf::term from = (*(*m)[1].as_tuple())[0];
  // gen:reply: Alias ! {Tag, Reply}, an ALIAS_SEND {33, FromPid, Alias}.
  const etf::pid raw_pid{etf::atom("raw@127.0.0.1"), 1, 0, 7};
  const etf::term answer = etf::term::tuple(
      {tag, etf::term::tuple({etf::term(etf::atom("ok")), etf::term(etf::atom("raw@127.0.0.1")),
                              etf::term(etf::atom("pong"))})});
  p.send(etf::term::tuple({etf::term(33), etf::term(raw_pid), mref}), &answer);
  const auto r = reply.get();
  BOOST_REQUIRE_MESSAGE(r.has_value(), r.error().message());
  BOOST_TEST(r->node.str() == "raw@127.0.0.1");
  f = p.next_frame(5s);
  BOOST_REQUIRE(f.has_value());
  auto demonitor = nodus::dist::parse_erlang_frame(*f);
  BOOST_REQUIRE(demonitor.has_value());
  BOOST_TEST((demonitor->op == nodus::dist::erlang_op::demonitor_p));
  BOOST_TEST(((*demonitor->control.as_tuple())[3] == mref));
  BOOST_TEST(from.as_pid() != nullptr);
}

// As in Erlang, a registered node's incarnation is the creation its port mapper gave (here the
// one the node serves itself, on a free port): the registration's log line names it, and a
// server's pid carries it.
BOOST_AUTO_TEST_CASE(a_registered_node_takes_the_port_mapper_s_creation) {
  nodus::options o = raw_fixture::options();
  o.epmd = true;
  o.epmd_port = erl_test::free_port();
  nodus::node<nodus::no_topology, protocol> node(o);
  std::mutex m;
  std::string registered;
  node.log().set_sink([&](const nodus::log_record& r) {
    const std::string line = nodus::logger::format_line(r);
    if (line.find("registered 'n1'") != std::string::npos &&
        line.find("(creation ") != std::string::npos) {
      std::lock_guard lock(m);
      registered = line;
    }
  });
  BOOST_REQUIRE(node.start(nodus::supervisor<nodus::one_for_one, beam_facing>{}));
  node.run_in_background();
  const auto me = node.call<beam_facing>(b_whoami{});
  BOOST_REQUIRE(me.has_value());
  std::string line;
  {
    std::lock_guard lock(m);
    line = registered;
  }
  const auto at = line.find("(creation ");
  BOOST_REQUIRE_MESSAGE(at != std::string::npos, "no registration line with its creation");
  BOOST_TEST(me->pid.creation == std::stoul(line.substr(at + 10)), line);
  node.stop();
  (void)node.join();
}

BOOST_AUTO_TEST_SUITE_END()

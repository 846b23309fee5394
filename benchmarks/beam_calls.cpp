// benchmarks/beam_calls: calls and casts between nodus and Erlang nodes, each direction beside the
// same exchange between two Erlang nodes and between two nodus nodes, in one run on loopback.
//
//   beam_calls [--quick] [--reps N]
//
// Nodes: e1 and e2 (erl, Debian erlang-base), n1 and n2 (nodus, in this process, one thread
// each), on 127.0.0.1 with a port mapper of their own (erl's epmd on a free port, ERL_EPMD_PORT).
// Servers: `bench` on n1 and n2 (a nodus server: ping -> pong, {add, N} cast, get -> {count, N}),
// `echo` on e2 (a registered erl process that answers every '$gen_call' with its request and
// drops anything else). Rows:
//   call round trip:  erl -> nodus (e1 calls bench on n1), erl -> erl (e1 calls echo on e2),
//                     nodus -> erl (n1 calls echo on e2), nodus -> nodus (n1 calls bench on n2)
//   casts:            the same pairs, N casts of {add, 1} then one call that answers after them
// erl's side runs its loops in erl_eval (typed at erl's prompt, not compiled): the cost of that
// loop, measured alone, is printed; it is the same for both erl rows. nodus' calls chain
// async_call from the previous reply's completion; its casts come from the main thread.
// Exits 0 with a message when erl is not installed.
#include <boost/hana/define_struct.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nodus/nodus.hpp>

#include "common/ports.hpp"
#include "net/erl_child.hpp"

using namespace std::chrono_literals;

namespace {

struct b_ping {
  static constexpr nodus::fixed_string etf_tag = "ping";
};
struct b_pong {
  static constexpr nodus::fixed_string etf_tag = "pong";
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
  BOOST_HANA_DEFINE_STRUCT(b_count, (long, n));
};
using protocol = nodus::protocol<b_ping, b_pong, b_add, b_get, b_count>;

struct bench : nodus::server<bench, nodus::call<b_ping, b_pong>, nodus::call<b_get, b_count>,
                             nodus::cast<b_add>> {
  static constexpr nodus::fixed_string name = "bench";
  long count = 0;
  b_pong handle_call(const b_ping&) { return {}; }
  b_count handle_call(const b_get&) { return {count}; }
  void handle_cast(const b_add& a) { count += a.by; }
};
using echo = nodus::remote_server<"echo", nodus::call<b_ping, b_ping>, nodus::cast<b_add>>;
using node_type = nodus::node<nodus::no_topology, protocol>;

constexpr const char* cookie = "nodus_beam_bench";

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "beam_calls: %s\n", why.c_str());
  std::exit(1);
}

struct erl_node {
  explicit erl_node(const std::string& name) {
    child.emplace(std::vector<std::string>{"erl", "-name", name + "@127.0.0.1", "-setcookie",
                                           cookie, "-noshell", "-kernel", "inet_dist_use_interface",
                                           "{127,0,0,1}", "-eval", erl_test::eval_program(600000)});
    if (!child->wait_for("ready " + name + "@127.0.0.1", 60s)) {
      fail("erl " + name + " did not start:\n" + child->transcript());
    }
  }
  // eval(expression) -> what erl printed for it, after "result ".
  std::string eval(const std::string& expression) {
    auto r = erl_test::eval(*child, expression, 120s);
    if (!r) fail("no result from erl for " + expression + ":\n" + child->transcript());
    return *r;
  }
  // eval_number(expression) -> the integer of "{ok,N}".
  long eval_number(const std::string& expression) {
    const auto r = eval(expression);
    if (r.rfind("{ok,", 0) != 0) fail(expression + " -> " + r);
    return std::stol(r.substr(4));
  }
  std::optional<erl_test::erl_process> child;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// erl_calls(e, to, n) -> ns per gen_server:call(To, ping) in a loop of n on e.
std::string erl_call_loop(const std::string& to, long n) {
  return "F = fun(_, 0) -> ok; (G, K) -> gen_server:call(" + to +
         ", ping), G(G, K - 1) end, T0 = erlang:monotonic_time(nanosecond), F(F, " +
         std::to_string(n) + "), (erlang:monotonic_time(nanosecond) - T0) div " +
         std::to_string(n) + ".";
}
std::string erl_cast_loop(const std::string& to, long n, const std::string& last_call) {
  return "F = fun(_, 0) -> ok; (G, K) -> gen_server:cast(" + to +
         ", {add, 1}), G(G, K - 1) end, T0 = erlang:monotonic_time(nanosecond), F(F, " +
         std::to_string(n) + "), _ = gen_server:call(" + to + ", " + last_call +
         "), (erlang:monotonic_time(nanosecond) - T0) div " + std::to_string(n) + ".";
}

// nodus_calls<S>(node, to, n) -> ns per call, each sent from the previous reply's completion.
template <class S, class Req>
double nodus_calls(node_type& node, const nodus::node_name& to, Req req, long n) {
  std::promise<void> done;
  long left = n;
  std::string error;
  std::function<void(nodus::result<nodus::reply_t<S, Req>>)> next;
  next = [&](nodus::result<nodus::reply_t<S, Req>> r) {
    if (!r) {
      error = r.error().message();
      done.set_value();
    } else if (--left == 0) {
      done.set_value();
    } else {
      node.async_call<S>(to, req, 10s, next);
    }
  };
  const auto t0 = std::chrono::steady_clock::now();
  node.async_call<S>(to, req, 10s, next);
  if (done.get_future().wait_for(120s) != std::future_status::ready) fail("nodus calls hung");
  const auto t = std::chrono::steady_clock::now() - t0;
  if (!error.empty()) fail("nodus call: " + error);
  return std::chrono::duration<double, std::nano>(t).count() / static_cast<double>(n);
}

// nodus_casts<S>(node, to, n, last) -> ns per cast: n casts, then the call last.
template <class S, class Last>
double nodus_casts(node_type& node, const nodus::node_name& to, long n, Last last) {
  const auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < n; ++i) {
    if (auto r = node.cast<S>(to, b_add{1}); !r) fail("nodus cast: " + r.error().message());
  }
  if (auto r = node.call<S>(to, last, 60s); !r) fail("nodus call: " + r.error().message());
  const auto t = std::chrono::steady_clock::now() - t0;
  return std::chrono::duration<double, std::nano>(t).count() / static_cast<double>(n);
}

std::string fixed(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}
std::string us(double ns) { return fixed("%.2f us", ns / 1000.0); }
std::string rate(double ns) { return fixed("%.1f k/s", 1e6 / ns); }

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  int reps = 3;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--quick" || a == "--smoke") {
      quick = true;
      reps = 1;
    } else if (a == "--reps" && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: beam_calls [--quick] [--reps N]\n");
      return 2;
    }
  }
  if (!erl_test::erl_installed()) {
    std::puts(
        "beam_calls: erl is not installed (Debian: apt-get install erlang-base); nothing to "
        "measure");
    return 0;
  }
  const long calls = quick ? 200 : 4000;
  const long casts = quick ? 2000 : 50000;

  // A port mapper of our own: erl starts epmd on ERL_EPMD_PORT; the nodus nodes use it too.
  const unsigned short epmd_port = nodus::test::free_port();
  const std::string epmd = std::to_string(epmd_port);
  ::setenv("ERL_EPMD_PORT", epmd.c_str(), 1);
  struct epmd_killer {
    std::string port;
    ~epmd_killer() { (void)std::system(("epmd -port " + port + " -kill >/dev/null 2>&1").c_str()); }
  } kill_epmd{epmd};

  erl_node e1("e1");
  erl_node e2("e2");
  auto make = [&](const char* name) {
    nodus::options o;
    o.name = nodus::node_name::parse(name).value();
    o.cookie = cookie;
    o.epmd_port = epmd_port;
    o.cluster.form = false;
    o.level = nodus::log_level::warn;
    return o;
  };
  node_type n1(make("n1@127.0.0.1"));
  node_type n2(make("n2@127.0.0.1"));
  if (!n1.start(nodus::supervisor<nodus::one_for_one, bench>{}) ||
      !n2.start(nodus::supervisor<nodus::one_for_one, bench>{})) {
    fail("nodus nodes did not start");
  }
  n1.run_in_background();
  n2.run_in_background();
  const auto e2n = nodus::node_name::parse("e2@127.0.0.1").value();
  if (!n1.connect("e1@127.0.0.1") || !n1.connect("e2@127.0.0.1") || !n1.connect("n2@127.0.0.1")) {
    fail("n1 could not connect:\n" + e1.child->transcript());
  }
  if (e2.eval("register(echo, spawn(fun() -> L = fun L() -> receive {'$gen_call', {P, T}, M} -> "
              "P ! {T, M}, L(); _ -> L() end end, L() end)).") != "{ok,true}") {
    fail("echo did not start on e2");
  }
  if (e1.eval("net_adm:ping('e2@127.0.0.1').") != "{ok,pong}") fail("e1 cannot reach e2");

  const std::string to_n1 = "{bench, 'n1@127.0.0.1'}";
  const std::string to_e2 = "{echo, 'e2@127.0.0.1'}";
  // Warm-up of every path.
  (void)e1.eval_number(erl_call_loop(to_n1, 100));
  (void)e1.eval_number(erl_call_loop(to_e2, 100));
  (void)nodus_calls<echo>(n1, e2n, b_ping{}, 100);
  (void)nodus_calls<bench>(n1, n2.self(), b_ping{}, 100);

  std::vector<double> c_en, c_ee, c_ne, c_nn, k_en, k_ee, k_ne, k_nn, loop;
  for (int r = 0; r < reps; ++r) {
    c_en.push_back(static_cast<double>(e1.eval_number(erl_call_loop(to_n1, calls))));
    c_ee.push_back(static_cast<double>(e1.eval_number(erl_call_loop(to_e2, calls))));
    c_ne.push_back(nodus_calls<echo>(n1, e2n, b_ping{}, calls));
    c_nn.push_back(nodus_calls<bench>(n1, n2.self(), b_ping{}, calls));
    k_en.push_back(static_cast<double>(e1.eval_number(erl_cast_loop(to_n1, casts, "get"))));
    k_ee.push_back(static_cast<double>(e1.eval_number(erl_cast_loop(to_e2, casts, "ping"))));
    k_ne.push_back(nodus_casts<echo>(n1, e2n, casts, b_ping{}));
    k_nn.push_back(nodus_casts<bench>(n1, n2.self(), casts, b_get{}));
    loop.push_back(static_cast<double>(
        e1.eval_number("F = fun(_, 0) -> ok; (G, K) -> erlang:node(), G(G, K - 1) end, T0 = "
                       "erlang:monotonic_time(nanosecond), F(F, " +
                       std::to_string(casts) + "), (erlang:monotonic_time(nanosecond) - T0) div " +
                       std::to_string(casts) + ".")));
  }
  // The count of n1's bench: every erl cast arrived (reps x casts, plus none lost).
  auto count = n1.call<bench>(b_get{});
  const long expected = static_cast<long>(reps) * casts;
  if (!count || count->n != expected) {
    fail(nodus::format("n1's bench counted {} casts from erl, expected {}", count ? count->n : -1,
                       expected));
  }

  std::printf(
      "nodus <-> Erlang calls and casts: e1, e2 erl (OTP %ld, 2 schedulers each), n1, n2 nodus "
      "(one "
      "thread each), 127.0.0.1, 2 CPUs, unpinned; median of %d repetitions; %ld calls, %ld casts "
      "per figure\n\n",
      e1.eval_number("list_to_integer(erlang:system_info(otp_release))."), reps, calls, casts);
  std::printf("%-24s  %-16s  %12s  %14s\n", "measure", "direction", "per op", "vs erl -> erl");
  std::printf("%-24s  %-16s  %12s  %14s\n", "------------------------", "----------------",
              "------------", "--------------");
  const double ee = median(c_ee);
  const double kee = median(k_ee);
  auto row = [](const char* m, const char* d, const std::string& v, double ratio) {
    std::printf("%-24s  %-16s  %12s  %13.2fx\n", m, d, v.c_str(), ratio);
  };
  row("call round trip", "erl -> nodus", us(median(c_en)), median(c_en) / ee);
  row("call round trip", "erl -> erl", us(ee), 1.0);
  row("call round trip", "nodus -> erl", us(median(c_ne)), median(c_ne) / ee);
  row("call round trip", "nodus -> nodus", us(median(c_nn)), median(c_nn) / ee);
  row("casts (rate)", "erl -> nodus", rate(median(k_en)), kee / median(k_en));
  row("casts (rate)", "erl -> erl", rate(kee), 1.0);
  row("casts (rate)", "nodus -> erl", rate(median(k_ne)), kee / median(k_ne));
  row("casts (rate)", "nodus -> nodus", rate(median(k_nn)), kee / median(k_nn));
  std::printf(
      "\nratios: call times / erl -> erl's (below 1: faster), cast rates / erl -> erl's (above 1: "
      "faster)\nerl's loops run in erl_eval: %s per iteration of an empty loop (erlang:node()), "
      "inside both erl rows' figures\nevery cast from erl arrived at n1 (%ld counted)\n",
      us(median(loop)).c_str(), expected);
  n1.stop();
  n2.stop();
  (void)n1.join();
  (void)n2.join();
  return 0;
}

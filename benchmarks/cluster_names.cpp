// benchmarks/cluster_names: cluster-wide names and process groups, nodus next to Erlang, in one
// run on loopback (issue 12):
//
//   register_name      the latency of registering a cluster-wide name with N connected nodes:
//                      nodus node.global().register_name (blocking, from the main thread; and
//                      async_register_name started and completed on the node's thread, as in a
//                      server) vs Erlang's global:register_name/2 (from a process of the first
//                      erl node)
//   pg join -> visible the time from a join on the first node until the member is visible on
//                      the last one (pg:monitor / groups().monitor event there, which fires once
//                      get_members / members() has it): nodus groups().join (from the main
//                      thread, and from the node's thread) vs pg:join; and a mixed pair, a nodus
//                      join seen by erl's pg and an erl join seen by nodus
//
//   cluster_names                    N = 2, 8, 16; 200 registrations and 200 pg rounds per N and
//                                    system, in 4 interleaved blocks; 100 mixed rounds each way
//   cluster_names --quick            N = 2, 8; 40 of each (--smoke is the same)
//   cluster_names --sizes 2,4 --names 100 --rounds 100 --mixed 50 --blocks 2
//   cluster_names --busy-poll 50     options.busy_poll (microseconds) on every nodus node
//
// nodus: up to 16 nodes in this process (c1..c16@127.0.0.1, one thread each, no port mapper,
// ephemeral ports), each running the server `holder`; the first N form a mesh (c1 connects to
// each, they connect to each other; the mesh grows from one N to the next). Registrations name
// holder's pid on c1; pg joins are holder's on c1, watched on cN. Times are steady_clock in this
// process. nodus's global lets one pid hold several names; Erlang's does not, so there each name
// gets a new process.
//
// Erlang: up to 16 erl nodes eK@127.0.0.K (Debian erlang-base), without a port mapper: every node
// listens on one shared port P on its own loopback address (-erl_epmd_port P), so that nothing
// connects them but mesh/1 below; kernel's pg scope started (-kernel start_pg true). Each runs
// erl_test::eval_program (one expression a line on its stdin, "result {ok,V}" back) and loads
// the module cluster_names_peer (embedded below, compiled at start-up with compile:forms). The
// measuring loops run inside e1, compiled: register_names/2 times global:register_name with
// erlang:monotonic_time; pg_rounds/3 takes os:system_time (CLOCK_REALTIME) before pg:join on e1
// and a watcher process on eN takes it when its pg:monitor event arrives. The mixed pair is a
// nodus node nx@127.0.0.1 and an erl node ex@127.0.0.17, connected only to each other; their
// times are CLOCK_REALTIME on both sides.
//
// Every wait is bounded (a registration 15 s, a pg event 5 s, an erl expression 120 s, a mesh
// 30 s). The erl nodes halt when their stdin closes (this process ends, however it ends) or after
// 10 minutes; they are killed (their process groups) at exit, on failure and on SIGINT / SIGTERM
// / SIGHUP. Without erl, the nodus figures are printed and the Erlang columns say n/a.
#include <sched.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nodus/nodus.hpp>

#include "common/ports.hpp"
#include "common/process.hpp"
#include "net/erl_child.hpp"

using namespace std::chrono_literals;

namespace {

namespace etf = nodus::etf;
using bench_clock = std::chrono::steady_clock;

// ---- the nodus side -----------------------------------------------------------------------------

struct cn_ping {};
struct cn_pong {};
using protocol = nodus::protocol<cn_ping, cn_pong>;

// holder: the server whose pid holds the names and joins the groups.
struct holder : nodus::server<holder, nodus::call<cn_ping, cn_pong>> {
  static constexpr nodus::fixed_string name = "holder";
  cn_pong handle_call(const cn_ping&) { return {}; }
};
using node_type = nodus::node<nodus::no_topology, protocol>;

constexpr const char* cookie = "nodus_cluster_names_bench";

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "cluster_names: %s\n", why.c_str());
  std::fflush(stdout);
  std::fflush(stderr);
  nodus::test::kill_live_children();
  std::_Exit(1);  // the nodus nodes' threads still run: no destructors
}

extern "C" void on_fatal_signal(int sig) {
  nodus::test::kill_live_children();
  ::_exit(128 + sig);
}

struct bench_node {
  bench_node(const std::string& name, long busy_poll_us) : node(make_options(name, busy_poll_us)) {
    if (!node.start(nodus::supervisor<nodus::one_for_one, holder>{})) {
      fail("nodus node " + name + " did not start");
    }
    node.run_in_background();
    // One holder takes every name here (Erlang's side registers a fresh process per name): let
    // it hold several, as kernel's global_multi_name_action = allow would. Without it a second
    // name for one pid is refused (dist/global_names.hpp).
    node.global().allow_multiple_names(true);
  }
  ~bench_node() {
    node.stop();
    (void)node.join();
  }
  static nodus::options make_options(const std::string& name, long busy_poll_us) {
    nodus::options o;
    o.name = nodus::node_name::parse(name).value();
    o.cookie = cookie;
    o.epmd = false;
    o.cluster.form = false;
    o.threads = 1;
    o.busy_poll = std::chrono::microseconds(busy_poll_us);
    o.level = nodus::log_level::warn;
    return o;
  }
  std::string address() {
    return std::string(node.self().str()) + ":" + std::to_string(node.port());
  }
  bool sees(const nodus::node_name& other) {
    const auto l = node.list();
    return std::find(l.begin(), l.end(), other) != l.end();
  }
  node_type node;
};

// wait_until(pred, bound) -> pred() held within bound (polled every 2 ms).
template <class Pred>
bool wait_until(Pred pred, bench_clock::duration bound) {
  const auto deadline = bench_clock::now() + bound;
  while (!pred()) {
    if (bench_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// mesh(nodes, n): the first n nodes in one mesh: c1 connects to each, and the nodes connect to
// the rest themselves (as Erlang's do); a pair still apart after 5 s is connected here. Every one
// of them then sees the n - 1 others.
void mesh(std::vector<std::unique_ptr<bench_node>>& nodes, std::size_t n) {
  auto connect = [&](std::size_t i, std::size_t j) {
    if (nodes[i]->sees(nodes[j]->node.self())) return;
    if (!nodes[i]->node.connect(nodes[j]->address())) {
      fail(nodus::format("{} could not connect to {}", nodes[i]->node.self(),
                         nodes[j]->node.self()));
    }
  };
  auto meshed = [&] {
    for (std::size_t i = 0; i < n; ++i) {
      if (nodes[i]->node.list().size() < n - 1) return false;
    }
    return true;
  };
  for (std::size_t j = 1; j < n; ++j) connect(0, j);
  if (wait_until(meshed, 5s)) return;
  for (std::size_t i = 1; i < n; ++i) {
    for (std::size_t j = i + 1; j < n; ++j) connect(i, j);
  }
  if (!wait_until(meshed, 30s)) {
    std::string seen;
    for (std::size_t i = 0; i < n; ++i) seen += " " + std::to_string(nodes[i]->node.list().size());
    fail(nodus::format("no mesh of {} nodus nodes: they see{}", n, seen));
  }
}

long long realtime_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
double since_ns(bench_clock::time_point t0, bench_clock::time_point t1) {
  return std::chrono::duration<double, std::nano>(t1 - t0).count();
}

// register_blocking(node, name) -> ns for node.global().register_name<holder>(name).
double register_blocking(bench_node& n, const std::string& name) {
  const auto t0 = bench_clock::now();
  auto r = n.node.global().register_name<holder>(name);
  const auto t1 = bench_clock::now();
  if (!r) fail("nodus register_name(" + name + "): " + r.error().message());
  return since_ns(t0, t1);
}

// register_async(node, pid, name) -> ns from async_register_name to its completion, both on the
// node's thread (as from a server's handler): started from a handler posted there.
double register_async(bench_node& n, const etf::pid& pid, const std::string& name) {
  struct outcome {
    bench_clock::time_point t0, t1;
    std::string error;
    bool ok = false;
  };
  auto done = std::make_shared<std::promise<void>>();
  auto out = std::make_shared<outcome>();
  auto f = done->get_future();
  asio::post(n.node.io_context(), [&n, pid, name, done, out] {
    out->t0 = bench_clock::now();
    n.node.global().async_register_name(name, pid, nodus::name_conflict_policy::stop_other, {},
                                        [done, out](nodus::result<void> r) {
                                          out->t1 = bench_clock::now();
                                          out->ok = r.has_value();
                                          if (!r) out->error = r.error().message();
                                          done->set_value();
                                        });
  });
  if (f.wait_for(15s) != std::future_status::ready) fail("nodus async_register_name hung");
  if (!out->ok) fail("nodus async_register_name(" + name + "): " + out->error);
  return since_ns(out->t0, out->t1);
}

// What a groups().monitor subscription saw of one group: the first join (steady and realtime
// clocks) and whether a leave came.
struct group_watch {
  struct state {
    std::mutex m;
    std::condition_variable cv;
    std::optional<bench_clock::time_point> joined;
    long long joined_realtime = 0;
    bool left = false;
  };
  std::shared_ptr<state> s = std::make_shared<state>();

  nodus::group_callback callback() const {
    return [s = s](const nodus::group_event& e) {
      const auto t = bench_clock::now();
      const auto rt = realtime_ns();
      std::lock_guard lock(s->m);
      if (e.what == nodus::group_event::kind::join) {
        if (!s->joined) {
          s->joined = t;
          s->joined_realtime = rt;
        }
      } else {
        s->left = true;
      }
      s->cv.notify_all();
    };
  }
  bool wait_joined(bench_clock::duration bound) const {
    std::unique_lock lock(s->m);
    return s->cv.wait_for(lock, bound, [&] { return s->joined.has_value(); });
  }
  bool wait_left(bench_clock::duration bound) const {
    std::unique_lock lock(s->m);
    return s->cv.wait_for(lock, bound, [&] { return s->left; });
  }
};

etf::term group_term(std::string_view tag, long n, long block, long i) {
  return etf::term::tuple(
      {etf::term(etf::atom(tag)), etf::term(n), etf::term(block), etf::term(i)});
}

// pg_round(a, b, group, on_node) -> ns from a's join (from this thread, or on_node: from a
// handler posted to a's thread, as a server would) to b's event; then a leaves and b sees it go.
double pg_round(bench_node& a, bench_node& b, const etf::term& group, bool on_node = false) {
  group_watch w;
  auto [id, now] = b.node.groups().monitor(group, w.callback());
  if (!now.empty()) fail("pg group " + group.to_string(100) + " is not empty");
  bench_clock::time_point t0;
  if (on_node) {
    std::promise<std::string> joined;
    asio::post(a.node.io_context(), [&] {
      t0 = bench_clock::now();
      auto r = a.node.groups().join<holder>(group);
      joined.set_value(r ? std::string() : r.error().message());
    });
    auto f = joined.get_future();
    if (f.wait_for(15s) != std::future_status::ready) fail("c1's thread did not run the join");
    if (auto e = f.get(); !e.empty()) fail("nodus groups().join: " + e);
  } else {
    t0 = bench_clock::now();
    if (auto r = a.node.groups().join<holder>(group); !r) {
      fail("nodus groups().join: " + r.error().message());
    }
  }
  if (!w.wait_joined(5s)) fail("nodus: the join of " + group.to_string(100) + " never arrived");
  const double ns = since_ns(t0, *w.s->joined);
  if (!a.node.groups().leave<holder>(group)) fail("nodus groups().leave: not joined");
  if (!w.wait_left(5s)) fail("nodus: the leave of " + group.to_string(100) + " never arrived");
  (void)b.node.groups().demonitor(id);
  return ns;
}

// ---- the Erlang side ----------------------------------------------------------------------------

// The module every erl node loads. Loops run here, compiled, not in erl_eval.
constexpr std::string_view erlang_module = R"erl(
-module(cluster_names_peer).
-export([mesh/1, connect_to/1, register_names/2, pg_rounds/3, watcher/1,
         watch/1, seen/1, gone/1, join_stamp/1, leave/1]).

%% mesh(Nodes) -> ok once every node of Nodes sees the others and global is in sync on each.
mesh(Nodes) ->
  Others = [N || N <- Nodes, N =/= node()],
  [true = net_kernel:connect_node(N) || N <- Others],
  [ok = rpc:call(N, cluster_names_peer, connect_to, [Nodes]) || N <- Others],
  wait_mesh(Nodes, erlang:monotonic_time(millisecond) + 30000),
  [ok = rpc:call(N, global, sync, []) || N <- Nodes],
  ok.

connect_to(Nodes) ->
  [net_kernel:connect_node(N) || N <- Nodes, N =/= node()],
  ok.

wait_mesh(Nodes, Deadline) ->
  Want = length(Nodes) - 1,
  Seen = [length(rpc:call(N, erlang, nodes, [])) || N <- Nodes],
  case lists:all(fun(L) -> L >= Want end, Seen) of
    true -> ok;
    false ->
      case erlang:monotonic_time(millisecond) > Deadline of
        true -> exit({no_mesh, Seen});
        false -> timer:sleep(10), wait_mesh(Nodes, Deadline)
      end
  end.

%% register_names(Tag, Count) -> [Ns]: global:register_name({Tag, I}, P) for I in 1..Count,
%% each timed, each P a new process (global gives a pid one name at most) that waits forever.
register_names(Tag, Count) ->
  [register_one({Tag, I}) || I <- lists:seq(1, Count)].

register_one(Name) ->
  P = spawn(fun() -> receive stop -> ok end end),
  T0 = erlang:monotonic_time(nanosecond),
  yes = global:register_name(Name, P),
  erlang:monotonic_time(nanosecond) - T0.

%% pg_rounds(Node, Tag, Count) -> [Ns]: per round, a watcher on Node monitors group {Tag, I};
%% this process joins it; Ns = the watcher's os:system_time at the join event - ours before
%% pg:join. Then it leaves, and the watcher sees that too.
pg_rounds(Node, Tag, Count) ->
  W = spawn(Node, cluster_names_peer, watcher, [self()]),
  R = [pg_round(W, {Tag, I}) || I <- lists:seq(1, Count)],
  W ! stop,
  R.

pg_round(W, G) ->
  W ! {watch, G, self()},
  receive {watching, G} -> ok after 5000 -> exit({no_watcher, G}) end,
  T0 = os:system_time(nanosecond),
  ok = pg:join(G, self()),
  T1 = receive {seen, G, T} -> T after 5000 -> exit({not_seen, G}) end,
  ok = pg:leave(G, self()),
  receive {gone, G} -> ok after 5000 -> exit({not_gone, G}) end,
  T1 - T0.

%% watcher(Parent): monitors one group at a time for whoever asks ({watch, G, From}); tells From
%% {watching, G}, then {seen, G, os:system_time(nanosecond)} at the first join event and
%% {gone, G} at the first leave. Ends on stop, or after a minute without a request.
watcher(Parent) ->
  receive
    {watch, G, From} ->
      {Ref, _} = pg:monitor(G),
      From ! {watching, G},
      receive {Ref, join, G, _} -> From ! {seen, G, os:system_time(nanosecond)}
      after 10000 -> ok end,
      receive {Ref, leave, G, _} -> From ! {gone, G}
      after 10000 -> ok end,
      pg:demonitor(Ref),
      watcher(Parent);
    stop -> ok
  after 60000 -> ok
  end.

%% For the mixed pair, one call a line from the driver: watch(G) starts watching G here (a
%% registered watcher), seen(G) -> the time of its join event, gone(G) -> ok at its leave;
%% join_stamp(G) -> os:system_time(nanosecond) just before this process joins G; leave(G).
watch(G) ->
  W = case whereis(cnp_watcher) of
        undefined ->
          P = spawn(cluster_names_peer, watcher, [self()]),
          true = register(cnp_watcher, P),
          P;
        P -> P
      end,
  W ! {watch, G, self()},
  receive {watching, G} -> ok after 5000 -> no_watcher end.

seen(G) -> receive {seen, G, T} -> T after 5000 -> timeout end.

gone(G) -> receive {gone, G} -> ok after 5000 -> timeout end.

join_stamp(G) ->
  T0 = os:system_time(nanosecond),
  ok = pg:join(G, self()),
  T0.

leave(G) -> pg:leave(G, self()).
)erl";

std::string to_hex(std::string_view s) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() * 2);
  for (const unsigned char c : s) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

// load_expression() -> an expression that compiles erlang_module (passed as hex: no quoting) with
// compile:forms and loads it.
std::string load_expression() {
  return "Src = binary_to_list(binary:decode_hex(<<\"" + to_hex(erlang_module) +
         "\">>)), {ok, Toks, _} = erl_scan:string(Src), "
         "Split = fun S([], [], Acc) -> lists:reverse(Acc); "
         "S([{dot, _} = D | T], Cur, Acc) -> S(T, [], [lists:reverse([D | Cur]) | Acc]); "
         "S([Tok | T], Cur, Acc) -> S(T, [Tok | Cur], Acc) end, "
         "Forms = [begin {ok, F} = erl_parse:parse_form(Ts), F end || Ts <- Split(Toks, [], [])], "
         "{ok, Mod, Bin} = compile:forms(Forms, [return_errors]), "
         "{module, Mod} = code:load_binary(Mod, \"cluster_names_peer.erl\", Bin), Mod.";
}

// An erl node eK@127.0.0.K (or ex@...), listening on the shared port.
class erl_node {
 public:
  erl_node(std::string short_name, int address, unsigned short port)
      : name_(std::move(short_name) + "@127.0.0." + std::to_string(address)) {
    const std::string p = std::to_string(port);
    const std::string iface = "{127,0,0," + std::to_string(address) + "}";
    // clang-format off
    child_.emplace(std::vector<std::string>{
        "erl", "-name", name_, "-setcookie", cookie, "-noshell",
        "-start_epmd", "false", "-erl_epmd_port", p,
        "-kernel", "inet_dist_use_interface", iface,
        "-kernel", "inet_dist_listen_min", p, "-kernel", "inet_dist_listen_max", p,
        "-kernel", "start_pg", "true",
        "-eval", erl_test::eval_program(600000)});
    // clang-format on
  }
  const std::string& name() const { return name_; }
  std::string atom() const { return "'" + name_ + "'"; }
  void wait_ready() {
    if (!child_->wait_for("ready " + name_, 60s)) {
      fail("erl " + name_ + " did not start:\n" + child_->transcript());
    }
  }
  // send(expression) / result() : an expression's evaluation, in two halves (to run several erl
  // nodes' at once).
  void send(const std::string& expression) {
    last_ = expression;
    if (!child_->write_line(expression)) fail("erl " + name_ + " does not read its input");
  }
  std::string result(std::chrono::seconds bound = 120s) {
    const auto deadline = erl_test::clock_type::now() + bound;
    while (erl_test::clock_type::now() < deadline) {
      auto line = child_->next_line(deadline - erl_test::clock_type::now());
      if (!line) break;
      if (line->rfind("result ", 0) == 0) {
        auto r = line->substr(7);
        if (r.rfind("{ok,", 0) != 0)
          fail("erl " + name_ + ": " + last_.substr(0, 200) + " -> " + r);
        return r.substr(4, r.size() - 5);  // V of {ok,V}
      }
    }
    fail("no answer from erl " + name_ + " to " + last_.substr(0, 200) + ":\n" +
         child_->transcript());
  }
  std::string eval(const std::string& expression, std::chrono::seconds bound = 120s) {
    send(expression);
    return result(bound);
  }

 private:
  std::string name_;
  std::string last_;
  std::optional<erl_test::erl_process> child_;
};

// numbers("[1,2,3]") -> {1, 2, 3}.
std::vector<double> numbers(const std::string& list) {
  std::vector<double> out;
  std::size_t i = 0;
  while (i < list.size()) {
    while (i < list.size() && (list[i] == '[' || list[i] == ',' || list[i] == ']')) ++i;
    if (i >= list.size()) break;
    std::size_t used = 0;
    out.push_back(static_cast<double>(std::stoll(list.substr(i), &used)));
    i += used;
  }
  return out;
}

// ---- figures ------------------------------------------------------------------------------------

struct summary {
  double median = 0;
  double p90 = 0;
  std::size_t count = 0;
};

std::optional<summary> summarize(std::vector<double> v) {
  if (v.empty()) return std::nullopt;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    auto k = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
    return v[std::min(v.size() - 1, k == 0 ? 0 : k - 1)];
  };
  return summary{at(0.5), at(0.9), v.size()};
}

std::string us(std::optional<summary> s, bool p90) {
  if (!s) return "n/a";
  char buf[32];
  const double v = (p90 ? s->p90 : s->median) / 1000.0;
  std::snprintf(buf, sizeof buf, v < 10 ? "%.2f us" : v < 100 ? "%.1f us" : "%.0f us", v);
  return buf;
}

std::string ratio(std::optional<summary> a, std::optional<summary> b, bool p90) {
  if (!a || !b) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fx", p90 ? a->p90 / b->p90 : a->median / b->median);
  return buf;
}

struct settings {
  std::vector<int> sizes{2, 8, 16};
  long names = 200;    // registrations per N and system
  long rounds = 200;   // pg rounds per N and system
  long mixed = 100;    // mixed rounds each way
  long blocks = 4;     // interleaved blocks the counts are split into
  long warmup = 10;    // untimed of each, per N
  long busy_poll = 0;  // options.busy_poll of every nodus node, microseconds
};

struct row_figures {
  std::vector<double> nodus_blocking, nodus_async, erl_register, nodus_pg, nodus_pg_on_node, erl_pg;
};

std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string one;
  f >> one;
  return one.empty() ? "?" : one;
}

int cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  return ::sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
}

std::vector<int> parse_sizes(const std::string& s) {
  std::vector<int> out;
  for (const auto& item : nodus::detail::split_list(s)) {
    const int n = std::atoi(item.c_str());
    if (n < 2 || n > 16) {
      std::fprintf(stderr, "cluster_names: sizes are 2 to 16, not %s\n", item.c_str());
      std::exit(2);
    }
    out.push_back(n);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  settings cfg;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto number = [&]() -> long {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "cluster_names: %s needs a value\n", argv[i]);
        std::exit(2);
      }
      return std::max(1L, std::atol(argv[++i]));
    };
    if (a == "--quick" || a == "--smoke") {
      cfg.sizes = {2, 8};
      cfg.names = cfg.rounds = cfg.mixed = 40;
      cfg.blocks = 2;
      cfg.warmup = 5;
    } else if (a == "--sizes" && i + 1 < argc) {
      cfg.sizes = parse_sizes(argv[++i]);
    } else if (a == "--names") {
      cfg.names = number();
    } else if (a == "--rounds") {
      cfg.rounds = number();
    } else if (a == "--mixed") {
      cfg.mixed = number();
    } else if (a == "--blocks") {
      cfg.blocks = number();
    } else if (a == "--busy-poll" && i + 1 < argc) {
      cfg.busy_poll = std::max(0L, std::atol(argv[++i]));
    } else {
      std::fprintf(stderr,
                   "usage: cluster_names [--quick] [--sizes 2,8,16] [--names N] [--rounds N] "
                   "[--mixed N] [--blocks N] [--busy-poll US]\n");
      return 2;
    }
  }
  std::sort(cfg.sizes.begin(), cfg.sizes.end());
  cfg.sizes.erase(std::unique(cfg.sizes.begin(), cfg.sizes.end()), cfg.sizes.end());
  const auto max_size = static_cast<std::size_t>(cfg.sizes.back());
  ::signal(SIGPIPE, SIG_IGN);
  for (const int sig : {SIGINT, SIGTERM, SIGHUP}) ::signal(sig, on_fatal_signal);
  const auto started = bench_clock::now();
  const std::string load_before = load_average();

  // Erlang: every node at once, then the module on each.
  const bool with_erl = erl_test::erl_installed();
  std::vector<std::unique_ptr<erl_node>> erl;
  std::unique_ptr<erl_node> ex, ey, ez;
  std::string otp = "?";
  unsigned short erl_port = 0;
  if (with_erl) {
    erl_port = nodus::test::free_port();
    for (std::size_t k = 1; k <= max_size; ++k) {
      erl.push_back(
          std::make_unique<erl_node>("e" + std::to_string(k), static_cast<int>(k), erl_port));
    }
    ex = std::make_unique<erl_node>("ex", 17, erl_port);
    ey = std::make_unique<erl_node>("ey", 18, erl_port);
    ez = std::make_unique<erl_node>("ez", 19, erl_port);
    for (auto& e : erl) e->wait_ready();
    for (auto* e : {ex.get(), ey.get(), ez.get()}) e->wait_ready();
    const auto load = load_expression();
    for (auto& e : erl) e->send(load);
    for (auto* e : {ex.get(), ey.get(), ez.get()}) e->send(load);
    for (auto& e : erl) (void)e->result();
    for (auto* e : {ex.get(), ey.get(), ez.get()}) (void)e->result();
    otp = erl.front()->eval("list_to_integer(erlang:system_info(otp_release)).");
  } else {
    std::puts("cluster_names: erl is not installed (Debian: erlang-base); nodus figures only");
  }

  std::vector<std::unique_ptr<bench_node>> nodes;
  for (std::size_t k = 1; k <= max_size; ++k) {
    nodes.push_back(
        std::make_unique<bench_node>("c" + std::to_string(k) + "@127.0.0.1", cfg.busy_poll));
  }
  auto nx = std::make_unique<bench_node>("nx@127.0.0.1", cfg.busy_poll);
  std::optional<etf::pid> c1_holder;

  std::vector<std::pair<int, row_figures>> rows;
  for (const int n : cfg.sizes) {
    const auto size = static_cast<std::size_t>(n);
    std::fprintf(stderr, "cluster_names: N = %d ...\n", n);
    mesh(nodes, size);
    std::string erl_nodes;
    if (with_erl) {
      for (std::size_t k = 0; k < size; ++k) erl_nodes += (k ? "," : "") + erl[k]->atom();
      (void)erl.front()->eval("cluster_names_peer:mesh([" + erl_nodes + "]).");
    }
    bench_node& a = *nodes.front();
    bench_node& b = *nodes[size - 1];
    const std::string last_erl = with_erl ? erl[size - 1]->atom() : "";
    auto erl_register = [&](const std::string& tag, long count) {
      return numbers(erl.front()->eval("cluster_names_peer:register_names(" + tag + ", " +
                                       std::to_string(count) + ")."));
    };
    auto erl_pg = [&](const std::string& tag, long count) {
      return numbers(erl.front()->eval("cluster_names_peer:pg_rounds(" + last_erl + ", " + tag +
                                       ", " + std::to_string(count) + ")."));
    };
    const std::string ns = std::to_string(n);

    // Warm-up: new connections, the first names and groups.
    for (long i = 0; i < cfg.warmup; ++i) {
      (void)register_blocking(a, nodus::format("w{}_{}", n, i));
      (void)pg_round(a, b, group_term("w", n, 0, i));
      (void)pg_round(a, b, group_term("w", n, 1, i), true);
    }
    if (!c1_holder) c1_holder = a.node.global().whereis_name(nodus::format("w{}_0", n));
    if (!c1_holder) fail("c1's holder has no name after the warm-up");
    for (long i = 0; i < cfg.warmup; ++i) {
      (void)register_async(a, *c1_holder, nodus::format("wa{}_{}", n, i));
    }
    if (with_erl) {
      (void)erl_register("{w, " + ns + "}", cfg.warmup);
      (void)erl_pg("{w, " + ns + "}", cfg.warmup);
    }

    row_figures f;
    for (long blk = 0; blk < cfg.blocks; ++blk) {
      const long names = cfg.names / cfg.blocks + (blk < cfg.names % cfg.blocks ? 1 : 0);
      const long rounds = cfg.rounds / cfg.blocks + (blk < cfg.rounds % cfg.blocks ? 1 : 0);
      const std::string tag = "{r, " + ns + ", " + std::to_string(blk) + "}";
      for (long i = 0; i < names; ++i) {
        f.nodus_blocking.push_back(register_blocking(a, nodus::format("r{}_{}_{}", n, blk, i)));
      }
      for (long i = 0; i < names; ++i) {
        f.nodus_async.push_back(
            register_async(a, *c1_holder, nodus::format("a{}_{}_{}", n, blk, i)));
      }
      if (with_erl) {
        auto v = erl_register(tag, names);
        f.erl_register.insert(f.erl_register.end(), v.begin(), v.end());
      }
      for (long i = 0; i < rounds; ++i) {
        f.nodus_pg.push_back(pg_round(a, b, group_term("r", n, blk, i)));
      }
      for (long i = 0; i < rounds; ++i) {
        f.nodus_pg_on_node.push_back(pg_round(a, b, group_term("t", n, blk, i), true));
      }
      if (with_erl) {
        auto v = erl_pg(tag, rounds);
        f.erl_pg.insert(f.erl_pg.end(), v.begin(), v.end());
      }
    }
    rows.emplace_back(n, std::move(f));
  }

  // The mixed pair: nx (nodus) and ex (erl), connected only to each other; and its baseline, the
  // pair ey, ez (erl), driven the same way: one expression a line from here.
  std::vector<double> nodus_to_erl, erl_to_nodus, erl_to_erl;
  if (with_erl) {
    std::fprintf(stderr, "cluster_names: mixed pair ...\n");
    if (!nx->node.connect(ex->name() + ":" + std::to_string(erl_port))) {
      fail("nx could not connect to " + ex->name());
    }
    if (ey->eval("net_kernel:connect_node(" + ez->atom() + ").") != "true") {
      fail("ey could not connect to ez");
    }
    // Two pg scopes know each other once a join on one side shows on the other.
    const etf::term probe(etf::atom("cn_probe"));
    if (!nx->node.groups().join<holder>(probe)) fail("nx could not join cn_probe");
    (void)ey->eval("pg:join(cn_probe, self()).");
    for (auto* e : {ex.get(), ez.get()}) {
      if (!wait_until([&] { return e->eval("length(pg:get_members(cn_probe)).") == "1"; }, 10s)) {
        fail(e->name() + "'s pg never saw its peer's member");
      }
    }
    (void)nx->node.groups().leave<holder>(probe);
    (void)ey->eval("pg:leave(cn_probe, self()).");
    auto to_erl = [&](long blk, long i) {
      const auto group = group_term("x", 0, blk, i);
      const std::string g = group.to_string(100);
      if (ex->eval("cluster_names_peer:watch(" + g + ").") != "ok") fail("ex: no watcher");
      const long long t0 = realtime_ns();
      if (auto r = nx->node.groups().join<holder>(group); !r) {
        fail("nx groups().join: " + r.error().message());
      }
      const auto seen = ex->eval("cluster_names_peer:seen(" + g + ").");
      if (seen == "timeout") fail("ex never saw nx join " + g);
      (void)nx->node.groups().leave<holder>(group);
      if (ex->eval("cluster_names_peer:gone(" + g + ").") != "ok") {
        fail("ex never saw nx leave " + g);
      }
      return static_cast<double>(std::stoll(seen) - t0);
    };
    auto to_nodus = [&](long blk, long i) {
      const auto group = group_term("y", 0, blk, i);
      const std::string g = group.to_string(100);
      group_watch w;
      auto [id, now] = nx->node.groups().monitor(group, w.callback());
      const long long t0 = std::stoll(ex->eval("cluster_names_peer:join_stamp(" + g + ")."));
      if (!w.wait_joined(5s)) fail("nx never saw ex join " + g);
      (void)ex->eval("cluster_names_peer:leave(" + g + ").");
      if (!w.wait_left(5s)) fail("nx never saw ex leave " + g);
      (void)nx->node.groups().demonitor(id);
      return static_cast<double>(w.s->joined_realtime - t0);
    };
    auto erl_pair = [&](long blk, long i) {
      const std::string g = group_term("z", 0, blk, i).to_string(100);
      if (ez->eval("cluster_names_peer:watch(" + g + ").") != "ok") fail("ez: no watcher");
      const long long t0 = std::stoll(ey->eval("cluster_names_peer:join_stamp(" + g + ")."));
      const auto seen = ez->eval("cluster_names_peer:seen(" + g + ").");
      if (seen == "timeout") fail("ez never saw ey join " + g);
      (void)ey->eval("cluster_names_peer:leave(" + g + ").");
      if (ez->eval("cluster_names_peer:gone(" + g + ").") != "ok") {
        fail("ez never saw ey leave " + g);
      }
      return static_cast<double>(std::stoll(seen) - t0);
    };
    for (long i = 0; i < cfg.warmup; ++i) {
      (void)to_erl(-1, i);
      (void)to_nodus(-1, i);
      (void)erl_pair(-1, i);
    }
    for (long blk = 0; blk < cfg.blocks; ++blk) {
      const long rounds = cfg.mixed / cfg.blocks + (blk < cfg.mixed % cfg.blocks ? 1 : 0);
      for (long i = 0; i < rounds; ++i) nodus_to_erl.push_back(to_erl(blk, i));
      for (long i = 0; i < rounds; ++i) erl_to_nodus.push_back(to_nodus(blk, i));
      for (long i = 0; i < rounds; ++i) erl_to_erl.push_back(erl_pair(blk, i));
    }
  }
  const double seconds = std::chrono::duration<double>(bench_clock::now() - started).count();

  // ---- the tables ----
  std::printf(
      "cluster-wide names and pg: nodus nodes c1..cN (in this process, one thread each) vs erl "
      "nodes e1..eN (OTP %s, default schedulers), 127.0.0.x, %d CPUs, unpinned, load average "
      "%s before the run; %ld registrations and %ld pg rounds per figure in %ld interleaved "
      "blocks; %.1f s in all\n\n",
      otp.c_str(), cpus(), load_before.c_str(), cfg.names, cfg.rounds, cfg.blocks, seconds);
  if (cfg.busy_poll > 0) {
    std::printf("nodus nodes run with options.busy_poll = %ld us\n\n", cfg.busy_poll);
  }
  for (const char* v : {"ERL_FLAGS", "ERL_AFLAGS", "ERL_ZFLAGS"}) {
    if (const char* e = std::getenv(v); e != nullptr && *e != '\0') {
      std::printf("erl nodes run with %s=%s\n\n", v, e);
    }
  }
  std::printf("%-26s %3s  %12s %12s  %12s %12s  %8s %8s\n", "measure", "N", "nodus median",
              "nodus p90", "erl median", "erl p90", "median", "p90");
  std::printf("%-26s %3s  %12s %12s  %12s %12s  %8s %8s\n", "--------------------------", "---",
              "------------", "------------", "------------", "------------", "--------",
              "--------");
  auto row = [](const char* what, int n, std::optional<summary> x, std::optional<summary> e) {
    std::printf("%-26s %3d  %12s %12s  %12s %12s  %8s %8s\n", what, n, us(x, false).c_str(),
                us(x, true).c_str(), us(e, false).c_str(), us(e, true).c_str(),
                ratio(x, e, false).c_str(), ratio(x, e, true).c_str());
  };
  for (const auto& [n, f] : rows) {
    const auto er = summarize(f.erl_register);
    row("register_name, blocking", n, summarize(f.nodus_blocking), er);
    row("register_name, on c1", n, summarize(f.nodus_async), er);
    row("pg join -> visible", n, summarize(f.nodus_pg), summarize(f.erl_pg));
    row("pg join -> visible, on c1", n, summarize(f.nodus_pg_on_node), summarize(f.erl_pg));
  }
  std::printf(
      "\nratios: nodus time / erl time (below 1: nodus is faster). nodus: the blocking "
      "register_name and the join from the main thread; \"on c1\": async_register_name and the "
      "join from c1's thread (as in a server), timed there. Erlang: global:register_name/2 and "
      "pg:join in a process of e1. pg: from the join on c1 / e1 to the pg monitor event on cN / "
      "eN\n");
  if (with_erl) {
    std::printf(
        "\nmixed: pairs connected only to each other, driven from here one step at a time (the "
        "watching node idles between steps); %ld rounds each\n\n",
        cfg.mixed);
    std::printf("%-36s  %12s %12s  %12s\n", "pg join -> visible", "median", "p90", "vs erl->erl");
    std::printf("%-36s  %12s %12s  %12s\n", "------------------------------------", "------------",
                "------------", "------------");
    const auto base = summarize(erl_to_erl);
    for (const auto& [what, v] : {std::pair<const char*, const std::vector<double>*>{
                                      "nodus join on nx, seen on erl ex", &nodus_to_erl},
                                  {"erl join on ex, seen on nodus nx", &erl_to_nodus},
                                  {"erl join on ey, seen on erl ez", &erl_to_erl}}) {
      const auto s = summarize(*v);
      std::printf("%-36s  %12s %12s  %12s\n", what, us(s, false).c_str(), us(s, true).c_str(),
                  ratio(s, base, false).c_str());
    }
  }
  std::fflush(stdout);
  nx.reset();
  nodes.clear();
  return 0;
}

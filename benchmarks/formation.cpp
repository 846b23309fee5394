// Benchmark: cluster formation on one machine. Real processes on 127.0.0.1: the time from the
// last node's start to a full mesh, for N nodus nodes (epmd_strategy, every node given the whole
// host list at run time) next to N Erlang nodes (erl, kernel's sync_nodes_optional), in the same
// run; and the time from a late joiner's start to every node seeing it, when N - 1 nodes have
// already formed their mesh.
//
//   formation                        full run: 5 repetitions; nodus N = 2, 8, 16, 32; Erlang
//                                    N = 2, 8 (~30 s on the 2-core VM)
//   formation --quick                2 repetitions, nodus N up to 16 (--smoke is the same)
//   formation --reps R               repetitions (median shown)
//   formation --sizes 2,8 --erlang-sizes 2      other cluster sizes (Erlang: 0 for none)
//   formation --only nodus|erlang    one system only
//   formation --interval MS          nodus: --cluster-interval for every node (default: the
//                                    topology's polling_interval<1000>)
//   formation --verbose              every measurement on stderr as it ends
//
// The process started by the user is a driver; --node, --noop and --exec-guarded are the modes
// of its children (see node_main, noop_main, exec_guarded_main). Per repetition and size it starts
// the nodes as fast as it can (posix_spawn, one process group each, stdout and stderr piped back,
// stdin a pipe whose end is the child's signal to stop), reads their lines and kills and reaps them
// all. Every child prints CLOCK_REALTIME timestamps in microseconds (Erlang: os:system_time
// (microsecond), the same clock), so the driver compares them with its own wall clock:
//
//   all-start    t0 = the wall clock just before the last node is spawned; the figure is the
//                latest "mesh" timestamp (a node saw N - 1 others) minus t0.
//   late joiner  N - 1 nodes are started and formed (every one printed "mesh"), then after a
//                quiet 200 ms, t0 = just before the joiner is spawned; the figure is the latest
//                of the joiner's "mesh" and each other node's "up <joiner>", minus t0.
//
// nodus: the nodes are this binary (`formation --node --peers K <nodus flags>`): a
// nodus::node<topology, protocol> with topology = epmd_strategy<hosts<>, polling_interval<1000>>,
// started with an empty supervisor; the host list comes from --cluster-hosts (all N names), the
// port mapper port from --epmd-port (a fresh free port per measurement, no port mapper running:
// the first node serves nodus' embedded one, the others register with it). A node prints "mesh"
// from its node_up callback once it has seen K distinct nodes up.
//
// Erlang: a real `epmd -port P` per measurement (started first, killed after), ERL_EPMD_PORT=P in
// the nodes' environment; each node is `erl -name eK@127.0.0.1 -setcookie C -noshell -kernel
// sync_nodes_optional [others] -kernel sync_nodes_timeout 10000 -eval PROGRAM`: kernel connects to
// the listed nodes while it boots and waits (up to the timeout) until they are all up, then the
// program prints "mesh" once nodes() has N - 1 entries, and "up NODE" for each nodeup after that.
// The late joiner has no sync_nodes_optional: its program calls net_kernel:connect_node on each
// node in turn (the formed nodes list only each other: listing the absent joiner would stall
// their boot for the whole sync_nodes_timeout).
//
// Baselines, measured in the same run: the start of a trivial child (`formation --noop` prints
// its clock first thing in main: exec and dynamic linking), a lone nodus node (spawn to start()
// returned: listen + serving the port mapper), `erl -noshell` (spawn to -eval running: VM boot)
// and a distributed `erl -name` (the same with net_kernel and epmd registration).
//
// Figures hold for this machine and this run only: compare the ratios, not absolute times.
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <nodus/nodus.hpp>

#include "common/ports.hpp"
#include "common/process.hpp"
#include "common/programs.hpp"

namespace {

using nodus::test::child_process;
using nodus::test::kill_live_children;
using nodus::test::process_options;

using bench_clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// ---- settings ---------------------------------------------------------------------------------

struct settings {
  int reps = 5;                           // repetitions of every measurement
  std::vector<int> sizes{2, 8, 16, 32};   // nodus cluster sizes
  std::vector<int> erlang_sizes{2, 8};    // Erlang cluster sizes
  std::chrono::seconds guard{20};         // bound of one measurement
  std::chrono::milliseconds settle{200};  // quiet time before a late joiner starts
  long interval_ms = 0;                   // nodus --cluster-interval; 0: the topology's
  int sync_nodes_timeout_ms = 10'000;     // Erlang kernel sync_nodes_timeout
};

settings quick_settings() {
  settings s;
  s.reps = 2;
  s.sizes = {2, 8, 16};
  return s;
}

// Children that outlive the driver (killed hard) end themselves after this long.
constexpr std::chrono::seconds orphan_guard{120};

constexpr const char* cookie = "nodus_bench_formation";

// realtime_us() -> CLOCK_REALTIME in microseconds: the clock Erlang's os:system_time(microsecond)
// reads, so that timestamps of nodus nodes, Erlang nodes and the driver compare.
long long realtime_us() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<long long>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

// ---- process bookkeeping (driver side) --------------------------------------------------------

// The children (nodes and port mappers) are child_processes: a fatal error or a signal ends them
// all with kill_live_children().

extern "C" void on_fatal_signal(int sig) {
  kill_live_children();
  ::_exit(128 + sig);
}

std::string program_name = "formation";

[[noreturn]] void fail(std::string_view what) {
  std::fprintf(stderr, "%s: %.*s\n", program_name.c_str(), static_cast<int>(what.size()),
               what.data());
  kill_live_children();
  std::exit(1);
}

// child_options(extra) -> how a child is started: stdin a pipe held by the driver (closing it
// tells a node to end), stdout and stderr one pipe read by the driver; the environment ours
// without the variables that would change what a node does (NODUS_CLUSTER_*, ERL_EPMD_PORT),
// plus the given ones. Its destructor kills its group and reaps it.
process_options child_options(std::vector<std::string> extra = {}) {
  return process_options()
      .stdin_pipe()
      .env(std::move(extra))
      .env_drop({"NODUS_CLUSTER_", "ERL_EPMD_PORT="});
}

// stamp(child, "mesh") -> the timestamp of its first line "mesh TS"; stamp(child, "up",
// "n3@127.0.0.1") that of "up n3@127.0.0.1 TS" (of the lines read so far).
std::optional<long long> stamp(const child_process& child, std::string_view key,
                               std::string_view node = {}) {
  std::string prefix(key);
  prefix += ' ';
  if (!node.empty()) {
    prefix += node;
    prefix += ' ';
  }
  for (const auto& l : child.lines()) {
    if (l.compare(0, prefix.size(), prefix) != 0) continue;
    char* end = nullptr;
    const long long v = std::strtoll(l.c_str() + prefix.size(), &end, 10);
    if (end != l.c_str() + prefix.size() && v > 0) return v;
  }
  return std::nullopt;
}

using fleet = std::vector<std::unique_ptr<child_process>>;

// wait_until(children, done, deadline): reads the children's output until done() holds (true),
// the deadline passes or every child closed its output (false).
template <class Pred>
bool wait_until(fleet& children, Pred done, bench_clock::time_point deadline) {
  std::vector<pollfd> fds;
  for (;;) {
    for (auto& c : children) c->read_output();
    if (done()) return true;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - bench_clock::now());
    if (left.count() <= 0) return false;
    fds.clear();
    for (auto& c : children) {
      if (c->out_fd() >= 0) fds.push_back({c->out_fd(), POLLIN, 0});
    }
    if (fds.empty()) return false;
    if (::poll(fds.data(), fds.size(), static_cast<int>(left.count()) + 1) < 0 && errno != EINTR) {
      return false;
    }
  }
}

// stop_all(children): kills every child first, then reaps them (faster than one by one).
void stop_all(fleet& children) {
  for (auto& c : children) c->kill_group();
  children.clear();
}

// ---- the children -----------------------------------------------------------------------------

// Children end themselves when the driver dies or after orphan_guard.
void guard_child() {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() == 1) std::_Exit(1);
  ::alarm(static_cast<unsigned>(orphan_guard.count()));
}

std::mutex out_mutex;

// say(line): one whole line on stdout, flushed (from any thread).
void say(const std::string& line) {
  std::lock_guard lock(out_mutex);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

// The protocol's one message type (never sent: formation needs none, a protocol needs a type).
struct formation_probe {
  static constexpr std::string_view nodus_name = "nodus.bench.formation.probe";
  std::uint32_t n;
};
using probe_protocol = nodus::protocol<formation_probe>;

// Every node gets the same topology; the host list (empty here) comes at run time
// (--cluster-hosts).
using bench_topology =
    nodus::topology<nodus::epmd_strategy<nodus::hosts<>, nodus::polling_interval<1000>>>;
using bench_node = nodus::node<bench_topology, probe_protocol>;

// --node --peers K <nodus flags>: a nodus node. Prints "main TS" (first thing), "started TS PORT"
// once start() returned and its thread runs, "up NODE TS" / "down NODE TS" for each node_up /
// node_down, "mesh TS" once K distinct nodes are up (counted from node_up events: the callback
// runs when a node is up, whatever list() says at that instant), its log as "log ...", and
// "error ..." when it cannot start. Ends when its stdin closes.
int node_main(int argc, char** argv) {
  const long long main_us = realtime_us();
  guard_child();
  auto opts = nodus::options::from_args(argc - 1, argv + 1);
  if (!opts) {
    say("error " + opts.error().message());
    return 2;
  }
  long peers = -1;
  for (std::size_t i = 0; i < opts->rest.size(); ++i) {
    if (opts->rest[i] == "--peers" && i + 1 < opts->rest.size()) {
      peers = std::strtol(opts->rest[++i].c_str(), nullptr, 10);
    } else {
      say("error unknown argument " + opts->rest[i]);
      return 2;
    }
  }
  if (peers < 0) {
    say("error --peers K is missing");
    return 2;
  }
  say("main " + std::to_string(main_us));
  // What the node's callbacks use, declared first so that it outlives the node.
  std::mutex m;
  std::set<std::string> up;
  bool meshed = false;
  bench_node node{std::move(*opts)};
  node.log().set_sink(
      [](const nodus::log_record& r) { say("log " + nodus::logger::format_line(r)); });
  auto check_mesh = [&](long long now_us) {  // with m held
    if (!meshed && up.size() >= static_cast<std::size_t>(peers)) {
      meshed = true;
      say("mesh " + std::to_string(now_us));
    }
  };
  node.on_node_up([&](const nodus::node_up& e) {
    const long long now_us = realtime_us();
    std::lock_guard lock(m);
    const std::string name(e.node.str());
    up.insert(name);
    say("up " + name + " " + std::to_string(now_us));
    check_mesh(now_us);
  });
  node.on_node_down([&](const nodus::node_down& e) {
    const long long now_us = realtime_us();
    std::lock_guard lock(m);
    const std::string name(e.node.str());
    up.erase(name);
    say("down " + name + " " + std::to_string(now_us));
  });
  if (auto r = node.start(nodus::supervisor<nodus::one_for_one>{}); !r) {
    say("error start: " + r.error().message());
    return 3;
  }
  node.run_in_background();
  {
    const long long now_us = realtime_us();
    std::lock_guard lock(m);
    say("started " + std::to_string(now_us) + " " + std::to_string(node.port()));
    check_mesh(now_us);  // K = 0: a node alone is its whole mesh
  }
  char buf[256];
  for (;;) {
    const ssize_t n = ::read(0, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EINTR)) break;
  }
  node.stop();
  (void)node.join();
  return 0;
}

// --exec-guarded PARENT PROGRAM ARGS...: PROGRAM (found on PATH) in this process, killed when its
// parent (the driver, pid PARENT) ends: the parent-death signal outlives execve.
int exec_guarded_main(int argc, char** argv) {
  if (argc < 4) return 2;
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (std::to_string(::getppid()) != argv[2]) return 1;  // the driver is gone already
  ::execvp(argv[3], argv + 3);
  std::fprintf(stderr, "cannot run %s: %s\n", argv[3], std::strerror(errno));
  return 127;
}

// --noop: prints "main TS" and ends: what starting a process of this binary costs.
int noop_main() {
  const long long main_us = realtime_us();
  std::printf("main %lld\n", main_us);
  std::fflush(stdout);
  return 0;
}

// ---- Erlang -----------------------------------------------------------------------------------

// erl_list(names) -> "['e1@127.0.0.1','e2@127.0.0.1']" (an Erlang list of quoted atoms).
std::string erl_list(const std::vector<std::string>& names) {
  std::string out = "[";
  for (std::size_t i = 0; i < names.size(); ++i) out += (i ? ",'" : "'") + names[i] + "'";
  return out + "]";
}

// erl_program(peers, connect) -> the -eval program of a node: prints "main TS" (boot done,
// sync_nodes included), ends on end of its stdin (and after orphan_guard), subscribes to nodeup
// and nodedown, calls net_kernel:connect_node on each of connect in turn, prints "mesh TS" once
// nodes() has peers entries, then "up NODE TS" / "down NODE TS" for every change. Variables
// carry an F prefix so that no pattern in a fun matches one bound outside by accident.
std::string erl_program(int peers, const std::vector<std::string>& connect) {
  const std::string guard_ms = std::to_string(orphan_guard.count() * 1000);
  return "io:format(\"main ~b~n\", [os:system_time(microsecond)]), "
         "spawn(fun() -> _ = io:get_line(\"\"), erlang:halt(0) end), "
         "spawn(fun() -> timer:sleep(" +
         guard_ms +
         "), erlang:halt(3) end), "
         "ok = net_kernel:monitor_nodes(true), "
         "lists:foreach(fun(FC) -> net_kernel:connect_node(FC) end, " +
         erl_list(connect) +
         "), "
         "FPeers = " +
         std::to_string(peers) +
         ", "
         "FCheck = fun(FDone) -> FDone orelse (length(nodes()) >= FPeers andalso "
         "  begin io:format(\"mesh ~b~n\", [os:system_time(microsecond)]), true end) end, "
         "FLoop = fun FL(FDone) -> "
         "  receive "
         "    {nodeup, FUp} -> "
         "      io:format(\"up ~s ~b~n\", [FUp, os:system_time(microsecond)]), FL(FCheck(FDone)); "
         "    {nodedown, FDn} -> "
         "      io:format(\"down ~s ~b~n\", [FDn, os:system_time(microsecond)]), FL(FDone) "
         "  end "
         "end, "
         "FLoop(FCheck(false)).";
}

// erl_args(name, sync, peers, connect) -> argv of an erl node (distribution on 127.0.0.1 only).
std::vector<std::string> erl_args(const std::string& name, const std::vector<std::string>& sync,
                                  int peers, const std::vector<std::string>& connect,
                                  int sync_timeout_ms) {
  std::vector<std::string> a{"erl",        "-name",    name,      "-setcookie",
                             cookie,       "-noshell", "-kernel", "inet_dist_use_interface",
                             "{127,0,0,1}"};
  if (!sync.empty()) {
    for (const auto& s : {std::string("sync_nodes_optional"), std::string("sync_nodes_timeout")}) {
      a.push_back("-kernel");
      a.push_back(s);
      a.push_back(s == "sync_nodes_optional" ? erl_list(sync) : std::to_string(sync_timeout_ms));
    }
  }
  a.push_back("-eval");
  a.push_back(erl_program(peers, connect));
  return a;
}

// A real epmd on 127.0.0.1:port for one measurement, killed (with its group) at the end. It runs
// under `formation --exec-guarded`, so that it also ends when the driver is killed hard.
class epmd_process {
 public:
  epmd_process(const std::string& self_exe, unsigned short port, const process_options& env)
      : proc_({self_exe, "--exec-guarded", std::to_string(::getpid()), "epmd", "-port",
               std::to_string(port), "-address", "127.0.0.1"},
              env) {
    const auto deadline = bench_clock::now() + 5s;
    while (!nodus::test::accepts_now(port)) {
      proc_.read_output();
      if (bench_clock::now() >= deadline || !proc_.output_open()) {
        fail("epmd did not listen on port " + std::to_string(port) + "\n" + proc_.transcript(10));
      }
      ::usleep(2'000);
    }
  }

 private:
  child_process proc_;
};

// ---- measurements -----------------------------------------------------------------------------

struct context {
  settings s;
  std::string self_exe;
  bool erlang = false;   // erl and epmd are installed and wanted
  bool verbose = false;  // --verbose: every measurement on stderr as it ends
  int failures = 0;
};

// outcome: one measurement; figure in milliseconds, or nullopt when it failed (reported).
struct outcome {
  std::optional<double> ms;
  std::optional<double> last_started_ms;  // nodus all-start: the last node's start() returned
  std::optional<double> spawn_ms;         // spawning all nodes took this long
  // late joiner: from the joiner's own code running ("started" of a nodus node: start()
  // returned; "main" of an erl node: -eval started, after boot) to the figure's end
  std::optional<double> after_start_ms;
};

// note(c, rep, what, o) -> o, after printing it on stderr when verbose.
outcome note(const context& c, int rep, const std::string& what, outcome o) {
  if (c.verbose) {
    if (o.ms) {
      std::fprintf(stderr, "rep %d: %s: %.1f ms\n", rep + 1, what.c_str(), *o.ms);
    } else {
      std::fprintf(stderr, "rep %d: %s: failed\n", rep + 1, what.c_str());
    }
  }
  return o;
}

std::vector<std::string> names(const char* prefix, int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i <= to; ++i) out.push_back(prefix + std::to_string(i) + "@127.0.0.1");
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

double ms_between(long long from_us, long long to_us) {
  return static_cast<double>(to_us - from_us) / 1000.0;
}

// report_failure(what, children, why): prints why and the transcripts of the children that did
// not report (at most 4).
void report_failure(context& c, const std::string& what, fleet& children,
                    const std::vector<bool>& missing, const std::string& why) {
  std::fprintf(stderr, "%s: %s: %s\n", program_name.c_str(), what.c_str(), why.c_str());
  int shown = 0;
  for (std::size_t i = 0; i < children.size() && shown < 4; ++i) {
    if (i < missing.size() && !missing[i]) continue;
    std::fprintf(stderr, "node %zu:\n%s", i + 1, children[i]->transcript(12).c_str());
    ++shown;
  }
  ++c.failures;
}

std::vector<std::string> nodus_args(const context& c, const std::string& name, int peers,
                                    unsigned short epmd_port, const std::string& hosts) {
  // clang-format off
  std::vector<std::string> a{
      c.self_exe, "--node", "--peers", std::to_string(peers), "--name", name, "--cookie", cookie,
      "--port", "0", "--epmd-port", std::to_string(epmd_port), "--log-level", "warn",
      "--cluster-hosts", hosts};
  // clang-format on
  if (c.s.interval_ms > 0) {
    a.push_back("--cluster-interval");
    a.push_back(std::to_string(c.s.interval_ms));
  }
  return a;
}

// measure_all_start(nodus or Erlang, n): starts n nodes back to back; from the last spawn to the
// latest "mesh".
outcome measure_all_start(context& c, bool erlang, int n) {
  const auto deadline = bench_clock::now() + c.s.guard;
  const unsigned short port = nodus::test::free_port();
  const process_options env =
      child_options(erlang ? std::vector<std::string>{"ERL_EPMD_PORT=" + std::to_string(port)}
                           : std::vector<std::string>{});
  std::optional<epmd_process> epmd;
  if (erlang) epmd.emplace(c.self_exe, port, env);
  const auto all = names(erlang ? "e" : "n", 1, n);
  const std::string hosts = join(all);
  // Everything the spawns need is built before the first one.
  std::vector<std::vector<std::string>> argvs;
  for (int i = 0; i < n; ++i) {
    if (erlang) {
      std::vector<std::string> others;
      for (int j = 0; j < n; ++j) {
        if (j != i) others.push_back(all[j]);
      }
      argvs.push_back(erl_args(all[i], others, n - 1, {}, c.s.sync_nodes_timeout_ms));
    } else {
      argvs.push_back(nodus_args(c, all[i], n - 1, port, hosts));
    }
  }
  fleet children;
  const long long first_us = realtime_us();
  long long t0_us = first_us;
  for (int i = 0; i < n; ++i) {
    if (i == n - 1) t0_us = realtime_us();
    children.push_back(std::make_unique<child_process>(argvs[i], env));
  }
  const bool ok = wait_until(
      children,
      [&] {
        return std::all_of(children.begin(), children.end(),
                           [](const auto& ch) { return stamp(*ch, "mesh").has_value(); });
      },
      deadline);
  outcome o;
  o.spawn_ms = ms_between(first_us, t0_us);
  if (!ok) {
    std::vector<bool> missing;
    for (auto& ch : children) missing.push_back(!stamp(*ch, "mesh"));
    report_failure(
        c, std::string(erlang ? "erlang" : "nodus") + " all-start, N = " + std::to_string(n),
        children, missing,
        bench_clock::now() >= deadline
            ? "no full mesh within " + std::to_string(c.s.guard.count()) + " s"
            : std::string("nodes ended before the mesh formed"));
    stop_all(children);
    return o;
  }
  long long latest = 0;
  for (auto& ch : children) latest = std::max(latest, *stamp(*ch, "mesh"));
  o.ms = ms_between(t0_us, latest);
  if (auto s = stamp(*children.back(), "started")) o.last_started_ms = ms_between(t0_us, *s);
  stop_all(children);
  return o;
}

// measure_late_joiner(nodus or Erlang, n): n - 1 nodes formed, then one more; from its spawn to
// the latest of its "mesh" and every other node's "up <joiner>".
outcome measure_late_joiner(context& c, bool erlang, int n) {
  const auto deadline = bench_clock::now() + c.s.guard;
  const unsigned short port = nodus::test::free_port();
  const process_options env =
      child_options(erlang ? std::vector<std::string>{"ERL_EPMD_PORT=" + std::to_string(port)}
                           : std::vector<std::string>{});
  std::optional<epmd_process> epmd;
  if (erlang) epmd.emplace(c.self_exe, port, env);
  const auto all = names(erlang ? "e" : "n", 1, n);
  const std::string hosts = join(all);
  const std::string& joiner = all.back();
  auto args_of = [&](int i) {
    if (!erlang) return nodus_args(c, all[i], i == n - 1 ? n - 1 : n - 2, port, hosts);
    if (i == n - 1) {  // connects to the others from its program
      return erl_args(joiner, {}, n - 1, std::vector<std::string>(all.begin(), all.end() - 1),
                      c.s.sync_nodes_timeout_ms);
    }
    std::vector<std::string> others;
    for (int j = 0; j < n - 1; ++j) {
      if (j != i) others.push_back(all[j]);
    }
    return erl_args(all[i], others, n - 2, {}, c.s.sync_nodes_timeout_ms);
  };
  const std::string what =
      std::string(erlang ? "erlang" : "nodus") + " late joiner, N = " + std::to_string(n);
  fleet children;
  for (int i = 0; i < n - 1; ++i) {
    children.push_back(std::make_unique<child_process>(args_of(i), env));
  }
  auto all_meshed = [&] {
    return std::all_of(children.begin(), children.end(),
                       [](const auto& ch) { return stamp(*ch, "mesh").has_value(); });
  };
  outcome o;
  if (!wait_until(children, all_meshed, deadline)) {
    std::vector<bool> missing;
    for (auto& ch : children) missing.push_back(!stamp(*ch, "mesh"));
    report_failure(c, what, children, missing, "the first N - 1 nodes did not form their mesh");
    stop_all(children);
    return o;
  }
  // A quiet moment, so that whatever the first n - 1 nodes' formation set going has finished.
  wait_until(
      children, [] { return false; }, std::min(deadline, bench_clock::now() + c.s.settle));
  const auto joiner_args = args_of(n - 1);
  const long long t0_us = realtime_us();
  children.push_back(std::make_unique<child_process>(joiner_args, env));
  const bool ok = wait_until(
      children,
      [&] {
        if (!stamp(*children.back(), "mesh")) return false;
        for (std::size_t i = 0; i + 1 < children.size(); ++i) {
          if (!stamp(*children[i], "up", joiner)) return false;
        }
        return true;
      },
      deadline);
  if (!ok) {
    std::vector<bool> missing;
    for (std::size_t i = 0; i + 1 < children.size(); ++i) {
      missing.push_back(!stamp(*children[i], "up", joiner));
    }
    missing.push_back(!stamp(*children.back(), "mesh"));
    report_failure(
        c, what, children, missing,
        bench_clock::now() >= deadline
            ? "the joiner was not seen by all within " + std::to_string(c.s.guard.count()) + " s"
            : std::string("nodes ended before the joiner was seen"));
    stop_all(children);
    return o;
  }
  long long latest = *stamp(*children.back(), "mesh");
  for (std::size_t i = 0; i + 1 < children.size(); ++i) {
    latest = std::max(latest, *stamp(*children[i], "up", joiner));
  }
  o.ms = ms_between(t0_us, latest);
  if (auto s = stamp(*children.back(), erlang ? "main" : "started")) {
    o.after_start_ms = ms_between(*s, latest);
  }
  stop_all(children);
  return o;
}

enum baseline_id { b_noop, b_nodus_alone, b_erl_plain, b_erl_dist, baseline_count };
constexpr const char* baseline_names[baseline_count] = {
    "process start: `formation --noop`, spawn -> first line of main",
    "one nodus node: spawn -> start() returned (listen, serve the port mapper)",
    "erl -noshell: spawn -> -eval runs (VM boot)",
    "erl -name (epmd running): spawn -> -eval runs (VM boot + distribution)"};

// measure_baseline(which): one process alone; from its spawn to the line that marks it.
outcome measure_baseline(context& c, baseline_id which) {
  const auto deadline = bench_clock::now() + c.s.guard;
  const unsigned short port = nodus::test::free_port();
  const bool erlang = which == b_erl_plain || which == b_erl_dist;
  const process_options env =
      child_options(erlang ? std::vector<std::string>{"ERL_EPMD_PORT=" + std::to_string(port)}
                           : std::vector<std::string>{});
  std::optional<epmd_process> epmd;
  if (which == b_erl_dist) epmd.emplace(c.self_exe, port, env);
  std::vector<std::string> argv;
  const char* key = "main";
  switch (which) {
    case b_noop: argv = {c.self_exe, "--noop"}; break;
    case b_nodus_alone:
      argv = nodus_args(c, "b1@127.0.0.1", 0, port, "b1@127.0.0.1");
      key = "started";
      break;
    case b_erl_plain:
      argv = {"erl", "-noshell", "-eval",
              "io:format(\"main ~b~n\", [os:system_time(microsecond)]), erlang:halt(0)."};
      break;
    default: argv = erl_args("b1@127.0.0.1", {}, 0, {}, c.s.sync_nodes_timeout_ms); break;
  }
  fleet children;
  const long long t0_us = realtime_us();
  children.push_back(std::make_unique<child_process>(argv, env));
  outcome o;
  if (!wait_until(
          children, [&] { return stamp(*children[0], key).has_value(); }, deadline)) {
    report_failure(c, baseline_names[which], children, {true}, "no line from the child");
    stop_all(children);
    return o;
  }
  o.ms = ms_between(t0_us, *stamp(*children[0], key));
  stop_all(children);
  return o;
}

// ---- statistics and output --------------------------------------------------------------------

struct stats {
  std::vector<double> v;
  int failed = 0;
  void add(const std::optional<double>& x) {
    if (x) {
      v.push_back(*x);
    } else {
      ++failed;
    }
  }
  [[nodiscard]] bool empty() const { return v.empty(); }
  [[nodiscard]] double median() const {
    auto s = v;
    std::sort(s.begin(), s.end());
    const auto n = s.size();
    return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  }
  [[nodiscard]] double min() const { return *std::min_element(v.begin(), v.end()); }
  [[nodiscard]] double max() const { return *std::max_element(v.begin(), v.end()); }
};

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string ms_text(double v) { return fixed(v, v >= 100 ? 0 : 1) + " ms"; }

// cell(st) -> "12.3 ms", "12.3 ms (1 failed)", "failed" or "n/a" (not measured).
std::string cell(const stats& st) {
  if (st.empty()) return st.failed > 0 ? "failed" : "n/a";
  std::string out = ms_text(st.median());
  if (st.failed > 0) out += " (" + std::to_string(st.failed) + " failed)";
  return out;
}

std::string ratio(const stats& a, const stats& b) {
  if (a.empty() || b.empty() || b.median() <= 0) return "n/a";
  const double r = a.median() / b.median();
  return fixed(r, r >= 10 ? 1 : 2) + "x";
}

std::string spread(const stats& st) {
  if (st.empty()) return "-";
  return ms_text(st.min()) + " .. " + ms_text(st.max());
}

std::string load_average() {
  std::string out = "?";
  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
    double a = 0, b = 0, c = 0;
    if (std::fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3) {
      out = fixed(a, 2) + " " + fixed(b, 2) + " " + fixed(c, 2);
    }
    std::fclose(f);
  }
  return out;
}

void print_table(const std::vector<std::vector<std::string>>& rows, std::size_t text_columns) {
  std::vector<std::size_t> w(rows.at(0).size(), 0);
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], r[i].size());
  }
  auto line = [&](const std::vector<std::string>& r) {
    std::string out;
    for (std::size_t i = 0; i < r.size(); ++i) {
      const std::string pad(w[i] - r[i].size(), ' ');
      out += i < text_columns ? r[i] + pad : pad + r[i];  // text left, figures right
      if (i + 1 < r.size()) out += "  ";
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    std::printf("%s\n", out.c_str());
  };
  line(rows[0]);
  std::string rule;
  for (std::size_t i = 0; i < w.size(); ++i) {
    rule += std::string(w[i], '-') + (i + 1 < w.size() ? "  " : "");
  }
  std::printf("%s\n", rule.c_str());
  for (std::size_t i = 1; i < rows.size(); ++i) line(rows[i]);
}

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: %s [--quick | --smoke] [--reps R] [--sizes N,N,..] [--erlang-sizes N,..] "
               "[--only nodus|erlang] [--interval MS] [--verbose]\n",
               program_name.c_str());
  std::exit(2);
}

std::optional<long> to_long(std::string_view s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const std::string t(s);
  const long v = std::strtol(t.c_str(), &end, 10);
  if (end == nullptr || *end != '\0' || v < 0) return std::nullopt;
  return v;
}

// sizes_of("2,8,16") -> {2, 8, 16}; "0" -> {} (none); nullopt when malformed or out of 2..64.
std::optional<std::vector<int>> sizes_of(std::string_view text) {
  std::vector<int> out;
  if (text == "0") return out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const auto v = to_long(text.substr(0, comma));
    if (!v || *v < 2 || *v > 64) return std::nullopt;
    out.push_back(static_cast<int>(*v));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  if (out.empty()) return std::nullopt;
  return out;
}

// formation_main(argc, argv): the driver, or a child in the mode its first argument names.
int formation_main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  if (argc >= 2 && std::string_view(argv[1]) == "--noop") return noop_main();
  if (argc >= 2 && std::string_view(argv[1]) == "--exec-guarded") {
    return exec_guarded_main(argc, argv);
  }
  if (argc >= 2 && std::string_view(argv[1]) == "--node") {
    program_name = "formation --node";
    return node_main(argc, argv);
  }
  context c;
  std::string_view only;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const std::string_view next = i + 1 < argc ? argv[i + 1] : "";
    if (a == "--quick" || a == "--smoke") {
      const settings q = quick_settings();
      c.s.reps = q.reps;
      c.s.sizes = q.sizes;
    } else if (a == "--reps" && to_long(next).value_or(0) >= 1) {
      c.s.reps = static_cast<int>(*to_long(next));
      ++i;
    } else if (a == "--sizes" && sizes_of(next) && !sizes_of(next)->empty()) {
      c.s.sizes = *sizes_of(next);
      ++i;
    } else if (a == "--erlang-sizes" && sizes_of(next)) {
      c.s.erlang_sizes = *sizes_of(next);
      ++i;
    } else if (a == "--only" && (next == "nodus" || next == "erlang")) {
      only = next;
      ++i;
    } else if (a == "--verbose") {
      c.verbose = true;
    } else if (a == "--interval" && to_long(next).value_or(0) >= 1) {
      c.s.interval_ms = *to_long(next);
      ++i;
    } else {
      usage();
    }
  }
  const bool want_nodus = only.empty() || only == "nodus";
  const bool want_erlang = only.empty() || only == "erlang";
  std::string erl_note;
  if (want_erlang) {
    c.erlang = nodus::test::on_path("erl") && nodus::test::on_path("epmd");
    if (!c.erlang) {
      erl_note = "erl or epmd is not on PATH (Debian: apt-get install erlang-base): Erlang n/a";
    }
  }
  for (const int sig : {SIGINT, SIGTERM, SIGHUP}) ::signal(sig, on_fatal_signal);
  c.self_exe = nodus::test::self_exe();

  // Every size, in increasing order, with what is measured for it.
  std::set<int> all_sizes;
  if (want_nodus) all_sizes.insert(c.s.sizes.begin(), c.s.sizes.end());
  if (c.erlang) all_sizes.insert(c.s.erlang_sizes.begin(), c.s.erlang_sizes.end());
  auto nodus_at = [&](int n) {
    return want_nodus && std::find(c.s.sizes.begin(), c.s.sizes.end(), n) != c.s.sizes.end();
  };
  auto erlang_at = [&](int n) {
    return c.erlang &&
           std::find(c.s.erlang_sizes.begin(), c.s.erlang_sizes.end(), n) != c.s.erlang_sizes.end();
  };
  struct row {
    int n = 0;
    stats nodus_all, nodus_late, erlang_all, erlang_late;
    stats nodus_started, nodus_spawn, erlang_spawn, nodus_late_run, erlang_late_run;
  };
  std::vector<row> rows;
  for (const int n : all_sizes) rows.push_back(row{n, {}, {}, {}, {}, {}, {}, {}, {}, {}});
  std::array<stats, baseline_count> base;

  // Repetitions outermost, then the baselines and the sizes: drift hits every column alike.
  const auto started = bench_clock::now();
  for (int r = 0; r < c.s.reps; ++r) {
    if (want_nodus) {
      for (const auto b : {b_noop, b_nodus_alone}) {
        base[b].add(note(c, r, baseline_names[b], measure_baseline(c, b)).ms);
      }
    }
    if (c.erlang) {
      for (const auto b : {b_erl_plain, b_erl_dist}) {
        base[b].add(note(c, r, baseline_names[b], measure_baseline(c, b)).ms);
      }
    }
    for (auto& row : rows) {
      const std::string at = ", N = " + std::to_string(row.n);
      if (nodus_at(row.n)) {
        const auto a = note(c, r, "nodus all-start" + at, measure_all_start(c, false, row.n));
        row.nodus_all.add(a.ms);
        if (a.ms) {
          row.nodus_started.add(a.last_started_ms);
          row.nodus_spawn.add(a.spawn_ms);
        }
        const auto l = note(c, r, "nodus late joiner" + at, measure_late_joiner(c, false, row.n));
        row.nodus_late.add(l.ms);
        if (l.ms && l.after_start_ms) row.nodus_late_run.add(l.after_start_ms);
      }
      if (erlang_at(row.n)) {
        const auto a = note(c, r, "erlang all-start" + at, measure_all_start(c, true, row.n));
        row.erlang_all.add(a.ms);
        if (a.ms) row.erlang_spawn.add(a.spawn_ms);
        const auto l = note(c, r, "erlang late joiner" + at, measure_late_joiner(c, true, row.n));
        row.erlang_late.add(l.ms);
        if (l.ms && l.after_start_ms) row.erlang_late_run.add(l.after_start_ms);
      }
    }
  }
  const double total_s = std::chrono::duration<double>(bench_clock::now() - started).count();

  std::printf("nodus cluster formation benchmark: real processes on 127.0.0.1, %u CPUs online\n",
              std::thread::hardware_concurrency());
  std::printf("load average at the end: %s (other work makes figures noisier)\n",
              load_average().c_str());
  if (want_nodus) {
    std::printf(
        "nodus: epmd_strategy<hosts<>, polling_interval<%ld>>, --cluster-hosts = all N names, "
        "embedded port mapper (the first node serves it), one thread per node\n",
        c.s.interval_ms > 0 ? c.s.interval_ms : 1000L);
  }
  if (c.erlang) {
    std::printf(
        "erlang: real epmd, all-start: -kernel sync_nodes_optional [others] sync_nodes_timeout "
        "%d; late joiner: net_kernel:connect_node of each formed node from -eval\n",
        c.s.sync_nodes_timeout_ms);
    for (const char* v : {"ERL_FLAGS", "ERL_AFLAGS", "ERL_ZFLAGS"}) {
      if (const char* e = std::getenv(v)) std::printf("erlang: %s=\"%s\" applies\n", v, e);
    }
  }
  if (!erl_note.empty()) std::printf("%s\n", erl_note.c_str());
  std::printf(
      "median of %d repetitions; all-start: last node's spawn -> every node sees N - 1 others; "
      "late joiner: joiner's spawn -> it sees N - 1 others and every other node sees it\n",
      c.s.reps);
  std::printf("figures are for this machine and this run only; compare ratios, not times\n\n");

  std::vector<std::vector<std::string>> table{{"N", "nodus all-start", "nodus late joiner",
                                               "erlang all-start", "erlang late joiner",
                                               "erlang/nodus all-start", "erlang/nodus late"}};
  for (const auto& row : rows) {
    table.push_back({std::to_string(row.n), cell(row.nodus_all), cell(row.nodus_late),
                     cell(row.erlang_all), cell(row.erlang_late),
                     ratio(row.erlang_all, row.nodus_all), ratio(row.erlang_late, row.nodus_late)});
  }
  print_table(table, 1);

  std::printf("\nbaselines (median, same run):\n");
  std::vector<std::vector<std::string>> btable{{"baseline", "median", "min .. max"}};
  for (int b = 0; b < baseline_count; ++b) {
    if (base[b].empty() && base[b].failed == 0) continue;
    btable.push_back({baseline_names[b], cell(base[b]), spread(base[b])});
  }
  if (btable.size() > 1) print_table(btable, 1);

  std::printf("\ntargets (issue 4):\n");
  for (const auto& row : rows) {
    if (row.n == 2 && !row.nodus_late.empty()) {
      const double v = row.nodus_late.median();
      std::printf(
          "  2 nodes formed < 50 ms from the second node's start: late joiner %s, "
          "all-start %s: %s\n",
          ms_text(v).c_str(), cell(row.nodus_all).c_str(), v < 50 ? "met" : "NOT met");
    }
    if (row.n == 32 && !row.nodus_all.empty()) {
      const double v = row.nodus_all.median();
      std::printf("  32 nodes in a full mesh < 2 s: all-start %s, late joiner %s: %s\n",
                  ms_text(v).c_str(), cell(row.nodus_late).c_str(), v < 2000 ? "met" : "NOT met");
    }
  }

  std::printf("\nspread over repetitions (min .. max) and where the time goes (medians):\n");
  for (const auto& row : rows) {
    std::vector<std::string> parts;
    auto measured = [](const stats& st) { return !st.empty() || st.failed > 0; };
    if (measured(row.nodus_all) || measured(row.nodus_late)) {
      parts.push_back("nodus all-start " + spread(row.nodus_all) + ", late " +
                      spread(row.nodus_late));
    }
    if (measured(row.erlang_all) || measured(row.erlang_late)) {
      parts.push_back("erlang all-start " + spread(row.erlang_all) + ", late " +
                      spread(row.erlang_late));
    }
    std::string l = "  N = " + std::to_string(row.n) + ":";
    for (std::size_t i = 0; i < parts.size(); ++i) l += (i == 0 ? " " : "; ") + parts[i];
    std::printf("%s\n", l.c_str());
    if (!row.nodus_started.empty()) {
      std::printf(
          "         nodus: spawning the %d nodes took %s; the last one's start() "
          "returned %s after its spawn\n",
          row.n, ms_text(row.nodus_spawn.median()).c_str(),
          ms_text(row.nodus_started.median()).c_str());
    }
    if (!row.erlang_spawn.empty()) {
      std::printf("         erlang: spawning the %d nodes took %s\n", row.n,
                  ms_text(row.erlang_spawn.median()).c_str());
    }
    if (!row.nodus_late_run.empty() || !row.erlang_late_run.empty()) {
      std::string l2 =
          "         late joiner, from its own code running (nodus: start() returned; "
          "erlang: -eval started) to seen by all:";
      if (!row.nodus_late_run.empty()) l2 += " nodus " + ms_text(row.nodus_late_run.median());
      if (!row.erlang_late_run.empty()) {
        l2 += std::string(row.nodus_late_run.empty() ? " " : ", ") + "erlang " +
              ms_text(row.erlang_late_run.median());
      }
      std::printf("%s\n", l2.c_str());
    }
  }
  std::printf("ratios erlang/nodus divide the medians (above 1: nodus is faster)\n");
  std::printf("total run time %.1f s\n", total_s);
  if (c.failures != 0) {
    std::fprintf(stderr, "%s: %d measurement(s) failed (see above)\n", program_name.c_str(),
                 c.failures);
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return formation_main(argc, argv);
  } catch (const std::exception& e) {
    fail(e.what());  // a child that cannot be started, no free port: the children end too
  }
}

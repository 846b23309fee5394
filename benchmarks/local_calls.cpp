// Benchmark: the local runtime (calls and casts between servers of one node), each figure next to
// a plain Asio baseline measured in the same run.
//
//   local_calls            full run: 7 repetitions of every measure (~10-20 s)
//   local_calls --quick    short run (--smoke is the same; the smoke test, under 2 s)
//   local_calls --only call|blocking|cast   one group of measures only, e.g. to profile it
//
// What each line measures (median over the repetitions):
//   call round trip, async_call   node.async_call with a plain callback, each call started from
//                                 the previous one's completion; the node runs on the calling
//                                 thread (options.threads = 1). Baseline: on another io_context,
//                                 one thread, post a handler that posts a reply handler back.
//     ... reactor on              the same nodus figure against the same post round trip on an
//                                 io_context holding a steady_timer (as a node's does): Asio then
//                                 calls epoll_wait(0) between handlers, which a node always pays.
//   call round trip, server       a server calls another from a handler (server::call) and starts
//                                 the next call from the reply continuation.
//   blocking call, cross-thread   node.call<S>() from main, the node on a background thread.
//                                 Baseline: post to an io_context run by another thread, wait on a
//                                 std::promise (what node.call does); also with the reactor on.
//   cast throughput               server source, on cast go{n}, casts n messages to server sink.
//                                 Baseline: one handler posts n handlers incrementing a counter.
//
// Repetitions are interleaved (nodus, baseline, nodus, baseline, ...) so that a machine whose
// speed drifts during the run affects both alike; each repetition starts with its own warm-up.
// Figures hold for this machine and this run only: compare the ratios, not absolute times.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <sched.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <nodus/node.hpp>

namespace {

using bench_clock = std::chrono::steady_clock;

// ---- settings and statistics ------------------------------------------------------------------

struct settings {
  int reps = 7;                              // repetitions of every measure
  long round_trips = 200'000;                // one-thread round trips per repetition
  long cross_round_trips = 20'000;           // cross-thread round trips per repetition, at most
  std::chrono::milliseconds cross_cap{200};  // ... and at most this long per repetition
  long casts = 200'000;                      // messages per repetition
  long warm_up_divisor = 10;                 // each repetition first runs 1/10 of its count
};

settings quick_settings() {
  settings s;
  s.reps = 3;
  s.round_trips = 5'000;
  s.cross_round_trips = 500;
  s.cross_cap = std::chrono::milliseconds(30);
  s.casts = 5'000;
  return s;
}

// One repetition: `ops` operations in `ns` nanoseconds.
struct sample {
  double ns = 0;
  long ops = 0;
};

double elapsed_ns(bench_clock::time_point a, bench_clock::time_point b) {
  return std::chrono::duration<double, std::nano>(b - a).count();
}

// stats: one figure per repetition; the table shows the median.
struct stats {
  std::vector<double> v;
  [[nodiscard]] double median() const {
    auto s = v;
    std::sort(s.begin(), s.end());
    const auto n = s.size();
    return n == 0 ? 0 : n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  }
  [[nodiscard]] double min() const { return *std::min_element(v.begin(), v.end()); }
  [[nodiscard]] double max() const { return *std::max_element(v.begin(), v.end()); }
};

[[noreturn]] void fail(std::string_view what) {
  std::fprintf(stderr, "local_calls: %.*s\n", static_cast<int>(what.size()), what.data());
  std::exit(1);
}

// timed_ops: a warm-up of `warm` operations, then `n` timed ones; op_done() after each.
struct timed_ops {
  timed_ops(long count, long warm_up) : n(count), warm(warm_up) {}
  long n;
  long warm;
  long done = 0;
  bench_clock::time_point t0;
  sample out;

  // op_done() -> false after the last timed operation.
  bool op_done() {
    ++done;
    if (done == warm) t0 = bench_clock::now();
    if (done < warm + n) return true;
    out = {elapsed_ns(t0, bench_clock::now()), n};
    return false;
  }
};

timed_ops round_trip_ops(const settings& s) {
  return timed_ops(s.round_trips, std::max(1L, s.round_trips / s.warm_up_divisor));
}

// ---- the servers ------------------------------------------------------------------------------

struct ping {
  std::uint64_t seq;
};
struct pong {
  std::uint64_t seq;
};
struct go {
  long n;
};
struct note {
  long i;
};
struct start_chain {};

struct echo_server : nodus::server<echo_server, nodus::call<ping, pong>> {
  static constexpr nodus::fixed_string name = "bench_echo";
  pong handle_call(const ping& p) { return {p.seq + 1}; }
};

nodus::options one_thread() {
  nodus::options o;
  o.threads = 1;
  o.level = nodus::log_level::warn;
  return o;
}

// ---- call round trip on one thread: node.async_call -------------------------------------------

struct call_chain {
  nodus::node<>* node;
  timed_ops ops;
  std::uint64_t seq = 0;
};

// The completion handler of one call starts the next call.
struct next_call {
  call_chain* c;
  void operator()(nodus::result<pong> r) const {
    if (!r) fail("call failed: " + r.error().message());
    if (r->seq != c->seq + 1) fail("call: wrong reply");
    c->seq = r->seq;
    if (!c->ops.op_done()) {
      c->node->stop();
      return;
    }
    c->node->async_call<echo_server>(ping{c->seq}, next_call{c});
  }
};

sample nodus_round_trips(const settings& s) {
  nodus::node<> node(one_thread());
  if (!node.spawn<echo_server>()) fail("spawn echo_server");
  call_chain c{&node, round_trip_ops(s)};
  asio::post(node.io_context(),
             [&c] { c.node->async_call<echo_server>(ping{c.seq}, next_call{&c}); });
  if (!node.run()) fail("node.run");
  return c.ops.out;
}

// ---- call round trip on one thread: server to server ------------------------------------------

// client_server calls echo_server from a handler (server::call) and starts the next call from the
// reply continuation, which runs in client_server's context.
struct client_server : nodus::server<client_server, nodus::cast<start_chain>> {
  static constexpr nodus::fixed_string name = "bench_client";
  explicit client_server(call_chain* c) : c_(c) {}
  void handle_cast(const start_chain&) { next(); }
  void next() {
    call<echo_server>(ping{c_->seq}, [this](nodus::result<pong> r) {
      if (!r) fail("server call failed: " + r.error().message());
      if (r->seq != c_->seq + 1) fail("server call: wrong reply");
      c_->seq = r->seq;
      if (!c_->ops.op_done()) {
        c_->node->stop();
        return;
      }
      next();
    });
  }
  call_chain* c_;
};

sample nodus_server_round_trips(const settings& s) {
  nodus::node<> node(one_thread());
  call_chain c{&node, round_trip_ops(s)};
  if (!node.spawn<echo_server>()) fail("spawn echo_server");
  if (!node.spawn<client_server>(&c)) fail("spawn client_server");
  if (!node.cast<client_server>(start_chain{})) fail("cast start_chain");
  if (!node.run()) fail("node.run");
  return c.ops.out;
}

// ---- baseline: post round trip on one thread --------------------------------------------------

struct post_chain {
  asio::io_context* io;
  timed_ops ops;
};
struct post_reply {
  post_chain* c;
  void operator()() const;
};
struct post_request {
  post_chain* c;
  void operator()() const { asio::post(*c->io, post_reply{c}); }
};
void post_reply::operator()() const {
  if (c->ops.op_done()) asio::post(*c->io, post_request{c});  // else nothing is left: run() returns
}

// reactor_on: a steady_timer exists on the io_context (as in every node, whose call timeouts and
// server timers are steady_timers). Asio then runs its reactor (epoll_wait with a zero timeout)
// between handlers whenever the queue is short, which is most of what a lone round trip costs.
sample post_round_trips(const settings& s, bool reactor_on) {
  asio::io_context io;
  std::optional<asio::steady_timer> timer;
  if (reactor_on) timer.emplace(io);
  post_chain c{&io, round_trip_ops(s)};
  asio::post(io, post_request{&c});
  io.run();
  return c.ops.out;
}

// ---- blocking call from another thread --------------------------------------------------------

// Up to s.cross_round_trips round trips `one()`, bounded by s.cross_cap, after a warm-up.
template <class F>
sample cross_thread(const settings& s, F one) {
  for (long i = 0; i < std::max(1L, s.cross_round_trips / s.warm_up_divisor / 4); ++i) one();
  const auto t0 = bench_clock::now();
  const auto deadline = t0 + s.cross_cap;
  long i = 0;
  while (i < s.cross_round_trips) {
    one();
    ++i;
    if ((i & 15) == 0 && bench_clock::now() >= deadline) break;
  }
  return {elapsed_ns(t0, bench_clock::now()), i};
}

sample nodus_blocking_calls(const settings& s) {
  nodus::node<> node(one_thread());
  if (!node.spawn<echo_server>()) fail("spawn echo_server");
  node.run_in_background();
  std::uint64_t seq = 0;
  auto out = cross_thread(s, [&] {
    auto r = node.call<echo_server>(ping{seq});
    if (!r || r->seq != seq + 1) fail("blocking call failed");
    seq = r->seq;
  });
  node.stop();
  if (!node.join()) fail("node.join");
  return out;
}

sample post_blocking_round_trips(const settings& s, bool reactor_on) {
  asio::io_context io;
  std::optional<asio::steady_timer> timer;
  if (reactor_on) timer.emplace(io);
  auto work = asio::make_work_guard(io);
  std::thread t([&] { io.run(); });
  std::uint64_t seq = 0;
  auto out = cross_thread(s, [&] {
    auto p = std::make_shared<std::promise<std::uint64_t>>();
    auto f = p->get_future();
    asio::post(io, [p, seq] { p->set_value(seq + 1); });
    seq = f.get();
  });
  work.reset();
  t.join();
  return out;
}

// ---- cast throughput on one thread ------------------------------------------------------------

// What the sink reports to at the end of each batch of casts.
struct cast_harness {
  long expected = 0;
  std::function<void()> on_batch_done;  // runs in sink's context after a batch's last message
};

struct sink_server : nodus::server<sink_server, nodus::cast<note>> {
  static constexpr nodus::fixed_string name = "bench_sink";
  explicit sink_server(cast_harness* h) : h_(h) {}
  void handle_cast(const note& m) {
    if (m.i != received_) fail("sink: a cast arrived out of order");
    if (++received_ == h_->expected) {
      received_ = 0;
      h_->on_batch_done();
    }
  }
  cast_harness* h_;
  long received_ = 0;
};

struct source_server : nodus::server<source_server, nodus::cast<go>> {
  static constexpr nodus::fixed_string name = "bench_source";
  void handle_cast(const go& g) {
    for (long i = 0; i < g.n; ++i)
      if (!cast<sink_server>(note{i})) fail("source: cast to sink failed");
  }
};

// A warm-up batch, then the timed batch: from casting go{n} to the sink handling the n-th note.
sample nodus_casts(const settings& s) {
  nodus::node<> node(one_thread());
  cast_harness h;
  h.expected = std::max(1L, s.casts / s.warm_up_divisor);
  bench_clock::time_point t0;
  sample out;
  bool warm = true;
  h.on_batch_done = [&] {
    if (!warm) {
      out = {elapsed_ns(t0, bench_clock::now()), s.casts};
      node.stop();
      return;
    }
    warm = false;
    h.expected = s.casts;
    t0 = bench_clock::now();
    if (!node.cast<source_server>(go{s.casts})) fail("cast go");
  };
  if (!node.spawn<sink_server>(&h)) fail("spawn sink_server");
  if (!node.spawn<source_server>()) fail("spawn source_server");
  if (!node.cast<source_server>(go{h.expected})) fail("cast go");
  if (!node.run()) fail("node.run");
  return out;
}

// The same shape with plain posts: one handler posts n handlers incrementing a counter.
sample post_casts(const settings& s) {
  asio::io_context io;
  sample out;
  for (const long n : {std::max(1L, s.casts / s.warm_up_divisor), s.casts}) {
    long count = 0;
    bench_clock::time_point t0;
    asio::post(io, [&] {
      t0 = bench_clock::now();
      for (long i = 0; i < n; ++i)
        asio::post(io, [&] {
          if (++count == n) out = {elapsed_ns(t0, bench_clock::now()), n};
        });
    });
    io.run();
    io.restart();
    if (count != n) fail("post fan-out lost handlers");
  }
  return out;
}

// ---- output -----------------------------------------------------------------------------------

int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
  return CPU_COUNT(&set);
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}
// load_average() -> "1.02 0.87 0.50" (1, 5, 15 minutes), or "?" where /proc is absent.
std::string load_average() {
  std::string out = "?";
  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
    double a = 0, b = 0, c = 0;
    if (std::fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3)
      out = fixed(a, 2) + " " + fixed(b, 2) + " " + fixed(c, 2);
    std::fclose(f);
  }
  return out;
}

// human(v): 1234567 -> "1.23 M".
std::string human(double v) {
  if (v >= 1e9) return fixed(v / 1e9, 2) + " G";
  if (v >= 1e6) return fixed(v / 1e6, 2) + " M";
  if (v >= 1e3) return fixed(v / 1e3, 2) + " k";
  return fixed(v, 0) + " ";
}

struct row {
  std::string measure, nodus, baseline, ratio;
};

void print_table(const std::vector<row>& rows) {
  std::size_t w[4] = {7, 5, 8, 5};
  for (const auto& r : rows) {
    w[0] = std::max(w[0], r.measure.size());
    w[1] = std::max(w[1], r.nodus.size());
    w[2] = std::max(w[2], r.baseline.size());
    w[3] = std::max(w[3], r.ratio.size());
  }
  auto line = [&](const row& r) {
    std::printf("%-*s | %*s | %*s | %*s\n", static_cast<int>(w[0]), r.measure.c_str(),
                static_cast<int>(w[1]), r.nodus.c_str(), static_cast<int>(w[2]), r.baseline.c_str(),
                static_cast<int>(w[3]), r.ratio.c_str());
  };
  line({"measure", "nodus", "baseline", "ratio"});
  std::printf("%s-+-%s-+-%s-+-%s\n", std::string(w[0], '-').c_str(), std::string(w[1], '-').c_str(),
              std::string(w[2], '-').c_str(), std::string(w[3], '-').c_str());
  for (const auto& r : rows) line(r);
}

// A measure: a function run once per repetition, its per-repetition figures.
struct measure {
  // per_second_unit: report operations per second in this unit ("msg/s") instead of ns per
  // operation.
  explicit measure(std::function<sample()> f, std::string per_second_unit = {})
      : run(std::move(f)), rate(!per_second_unit.empty()), unit(std::move(per_second_unit)) {}
  std::function<sample()> run;
  bool rate;
  std::string unit;
  stats figures;
  void once() {
    const sample x = run();
    if (x.ops <= 0 || x.ns <= 0) fail("a measure produced no sample");
    figures.v.push_back(rate ? static_cast<double>(x.ops) * 1e9 / x.ns
                             : x.ns / static_cast<double>(x.ops));
  }
  [[nodiscard]] std::string text(double v) const {
    return rate ? human(v) + unit : fixed(v, 0) + " ns";
  }
  [[nodiscard]] std::string spread() const {
    return text(figures.min()) + " .. " + text(figures.max());
  }
};

}  // namespace

int main(int argc, char** argv) {
  settings s;
  std::string_view only;  // empty: every group
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const std::string_view next = i + 1 < argc ? argv[i + 1] : "";
    if (a == "--quick" || a == "--smoke") {
      s = quick_settings();
    } else if (a == "--only" && (next == "call" || next == "blocking" || next == "cast")) {
      only = next;
      ++i;
    } else {
      std::fprintf(stderr, "usage: %s [--quick | --smoke] [--only call|blocking|cast]\n", argv[0]);
      return 2;
    }
  }
  auto wanted = [&](std::string_view g) { return only.empty() || only == g; };

  measure call{[&] { return nodus_round_trips(s); }};
  measure server_call{[&] { return nodus_server_round_trips(s); }};
  measure post_rt{[&] { return post_round_trips(s, false); }};
  measure post_rt_reactor{[&] { return post_round_trips(s, true); }};
  measure blocking{[&] { return nodus_blocking_calls(s); }};
  measure post_blocking{[&] { return post_blocking_round_trips(s, false); }};
  measure post_blocking_reactor{[&] { return post_blocking_round_trips(s, true); }};
  measure casts{[&] { return nodus_casts(s); }, "msg/s"};
  measure posts{[&] { return post_casts(s); }, "posts/s"};

  std::vector<measure*> order;  // one repetition of each, in this order, s.reps times
  if (wanted("call")) order.insert(order.end(), {&call, &post_rt, &server_call, &post_rt_reactor});
  if (wanted("blocking"))
    order.insert(order.end(), {&blocking, &post_blocking, &post_blocking_reactor});
  if (wanted("cast")) order.insert(order.end(), {&casts, &posts});

  const auto started = bench_clock::now();
  for (int r = 0; r < s.reps; ++r)
    for (auto* m : order) m->once();
  const double total_s = elapsed_ns(started, bench_clock::now()) / 1e9;

  std::vector<row> rows;
  std::vector<std::string> spreads;
  auto add = [&](std::string what, std::string key, const measure& n, const measure& b) {
    const double ratio = n.figures.median() / b.figures.median();
    rows.push_back({std::move(what), n.text(n.figures.median()), b.text(b.figures.median()),
                    fixed(ratio, 2) + "x"});
    spreads.push_back(std::move(key) + n.spread() + " | " + b.spread());
  };
  if (wanted("call")) {
    add("call round trip, 1 thread: async_call vs post+post", "  async_call:       ", call,
        post_rt);
    add("  same, baseline with Asio's reactor on (a timer exists)", "  ... reactor on:   ", call,
        post_rt_reactor);
    add("call round trip, 1 thread: server->server call vs post+post",
        "  server->server:   ", server_call, post_rt);
  }
  if (wanted("blocking")) {
    add("blocking call, cross-thread: node.call vs post+promise", "  blocking call:    ", blocking,
        post_blocking);
    add("  same, baseline with Asio's reactor on (a timer exists)",
        "  ... reactor on:   ", blocking, post_blocking_reactor);
  }
  if (wanted("cast"))
    add("cast throughput, 1 thread: server->server cast vs post", "  cast throughput:  ", casts,
        posts);

  const int cpus = usable_cpus();
  std::printf("nodus local runtime benchmark: %u CPUs online, %d usable by this process%s\n",
              std::thread::hardware_concurrency(), cpus, cpus == 1 ? " (pinned)" : "");
  std::printf(
      "load average at the end: %s (other work makes figures noisier; ratios hold better than "
      "times)\n",
      load_average().c_str());
  std::printf("figures are for this machine and this run only; compare ratios, not times\n");
  std::printf(
      "median of %d interleaved repetitions, each after a warm-up: %ld round trips, %ld "
      "casts; cross-thread: up to %ld round trips or %lld ms\n\n",
      s.reps, s.round_trips, s.casts, s.cross_round_trips,
      static_cast<long long>(s.cross_cap.count()));
  print_table(rows);
  std::printf("\nspread over repetitions (min .. max), nodus | baseline:\n");
  for (const auto& line : spreads) std::printf("%s\n", line.c_str());
  std::printf(
      "ratio: nodus time / baseline time for round trips (lower is better), nodus rate / "
      "baseline rate for throughput (higher is better)\n");
  std::printf("total run time %.1f s\n", total_s);
  return 0;
}

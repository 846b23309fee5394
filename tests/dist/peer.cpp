// The node program of the multi-process tests (see peer.hpp). Everything it prints goes to stdout,
// one line at a time under one mutex: command answers, `event up|down ...` from a server that
// monitors nodes, `held ...` when an asynchronous call ends, and the node's log as `log ...`.
#include "peer.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>

#include <nodus/nodus.hpp>

namespace dist_test {

// Messages (in a named namespace: their wire ids come from their type names).
struct ping {
  std::uint32_t seq;
};
struct pong {
  nodus::node_name node;
  std::uint32_t seq;
};
struct hold {  // a call the ping server never answers: it shows how the caller learns of a nodedown
  std::uint32_t seq;
};
struct extra {  // only in the alternative protocol
  std::uint64_t value;
};
struct chunk {  // what `flood` casts: a sequence number and a kibibyte in all
  std::uint32_t seq;
  std::array<std::uint8_t, 1020> fill;
};
struct sink_query {};  // to the sink, after the casts: what came, in order or not
struct sink_report {
  std::uint64_t count;
  std::uint32_t next;  // the sequence number it expects next
  bool ordered;        // every chunk came with the number expected
};

struct blob {  // what `big` sends: as many bytes as asked for (past the maximum frame size)
  BOOST_HANA_DEFINE_STRUCT(blob, (std::vector<std::uint8_t>, bytes));
};
struct blob_size {  // the answer to a blob: how many bytes came
  std::uint64_t size;
};
struct blob_ask {  // what `bigreply` asks for: a blob of this many bytes as the reply
  std::uint64_t size;
};

// The children of the distributed supervisor (--dsup).
struct job_query {};  // -> job_state
struct job_bump {};   // -> job_state, after counting one more
struct job_state {
  nodus::node_name node;
  std::uint64_t id;
  std::uint64_t count;
};
struct job_quit {};   // cast: the job stops itself normally
struct job_crash {};  // cast: the job crashes

using protocol = nodus::protocol<ping, pong, hold, chunk, sink_query, sink_report, blob, blob_size,
                                 blob_ask, job_query, job_bump, job_state, job_quit, job_crash>;
using alt_protocol =
    nodus::protocol<ping, pong, hold, chunk, sink_query, sink_report, blob, blob_size, blob_ask,
                    job_query, job_bump, job_state, job_quit, job_crash, extra>;

namespace {

using namespace std::chrono_literals;

std::mutex out_mutex;

// say(line): one whole line to stdout, flushed (the test reads it through a pipe).
void say(const std::string& line) {
  std::lock_guard lock(out_mutex);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

// observer: prints the node_up / node_down it gets from monitor_nodes().
struct observer
    : nodus::server<observer, nodus::info<nodus::node_up>, nodus::info<nodus::node_down>> {
  static constexpr nodus::fixed_string name = "observer";
  void init() { monitor_nodes(); }
  void handle_info(const nodus::node_up& e) { say(nodus::format("event up {}", e.node)); }
  void handle_info(const nodus::node_down& e) {
    say(nodus::format("event down {} {}", e.node, e.reason));
  }
};

// ping_server: answers ping with its node, a blob with its size; keeps hold calls unanswered
// until it stops.
struct ping_server : nodus::server<ping_server, nodus::call<ping, pong>, nodus::call<hold, pong>,
                                   nodus::call<blob, blob_size>, nodus::call<blob_ask, blob>> {
  static constexpr nodus::fixed_string name = "ping";
  pong handle_call(const ping& p) { return {self_node(), p.seq}; }
  blob_size handle_call(const blob& b) { return {b.bytes.size()}; }
  blob handle_call(const blob_ask& a) {
    blob b;
    b.bytes.assign(a.size, std::uint8_t{0xa5});
    return b;
  }
  void handle_call(const hold&, nodus::caller<pong>& c) { held.push_back(std::move(c)); }
  std::vector<nodus::caller<pong>> held;
};

// cleaner: the cluster's singleton (--singleton): says when it starts and ends here.
struct cleaner : nodus::server<cleaner> {
  static constexpr nodus::fixed_string name = "cleaner";
  void init() { say(nodus::format("singleton up {}", self_node())); }
  void terminate(const nodus::error&) { say(nodus::format("singleton down {}", self_node())); }
};
bool with_singleton = false;  // --singleton: the tree has nodus::singleton<cleaner>

// job: a child of the distributed supervisor `jobs` (--dsup), built from its id; its count moves
// with it (handoff). Says `job up NAME NODE COUNT` and `job down NAME NODE`.
struct job : nodus::server<job, nodus::call<job_query, job_state>, nodus::call<job_bump, job_state>,
                           nodus::cast<job_quit>, nodus::cast<job_crash>> {
  static constexpr nodus::fixed_string name = "job";
  using start_args = std::tuple<std::uint64_t>;
  explicit job(std::uint64_t i) : id(i) {}
  void init() { say(nodus::format("job up {} {} {}", self_name(), self_node(), count)); }
  void terminate(const nodus::error&) {
    say(nodus::format("job down {} {}", self_name(), self_node()));
  }
  job_state handle_call(const job_query&) { return {self_node(), id, count}; }
  job_state handle_call(const job_bump&) { return {self_node(), id, ++count}; }
  void handle_cast(const job_quit&) { stop(); }
  void handle_cast(const job_crash&) { throw std::runtime_error("job crash requested"); }
  std::uint64_t handoff_state() const { return count; }
  void take_handoff(std::uint64_t c) { count = c; }
  std::uint64_t id;
  std::uint64_t count = 0;
};
using jobs = nodus::distributed_supervisor<"jobs", job>;
bool with_dsup = false;  // --dsup: the tree has the distributed supervisor `jobs`

// sink: takes the chunks of `flood` and checks that they come numbered 0, 1, 2, ...
struct sink : nodus::server<sink, nodus::cast<chunk>, nodus::call<sink_query, sink_report>> {
  static constexpr nodus::fixed_string name = "sink";
  void handle_cast(const chunk& c) {
    if (c.seq != next) ordered = false;
    next = c.seq + 1;
    ++count;
  }
  sink_report handle_call(const sink_query&) { return {count, next, ordered}; }
  std::uint64_t count = 0;
  std::uint32_t next = 0;
  bool ordered = true;
};

// rss_kib() -> the resident set of this process, in KiB (/proc/self/statm).
std::size_t rss_kib() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * (static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)) / 1024) : 0;
}

// flood(node, to, ms, wait): casts numbered chunks to the sink of `to` as fast as it can for ms
// milliseconds (or until an error other than busy), waiting while `to` is busy (wait) or counting
// the casts refused with busy (a wait that ends with the flood is not counted); then asks the
// sink what came. Prints `flood-progress T ACKED
// REFUSED RSS_KIB` every 250 ms and `flood done ...` at the end.
// stream: `stream NODE COUNT` casts COUNT numbered chunks to the sink of NODE from a thread of
// the node (which must not block): a cast refused with busy waits with async_wait_writable and
// is sent again. Prints `stream done sent=N waits=W received=...` (what the sink got, asked after
// the last cast).
template <class Node>
struct streamer : std::enable_shared_from_this<streamer<Node>> {
  streamer(Node& n, nodus::node_name t, std::uint32_t count) : node(n), to(t), total(count) {}
  void go() {
    chunk c{};
    for (; next < total; ++next) {
      c.seq = next;
      auto r = node.template cast<sink>(to, c);
      if (r) continue;
      if (r.error() != nodus::errc::busy) return finish("error " + r.error().message());
      ++waits;
      node.async_wait_writable(to, [self = this->shared_from_this()](nodus::result<void> w) {
        if (!w) return self->finish("error waiting: " + w.error().message());
        self->go();
      });
      return;
    }
    node.async_wait_writable(to, [self = this->shared_from_this()](nodus::result<void> w) {
      if (!w) return self->finish("error waiting: " + w.error().message());
      self->node.template async_call<sink>(
          self->to, sink_query{}, std::chrono::milliseconds(20000),
          [self](nodus::result<sink_report> q) {
            self->finish(
                q ? nodus::format("{} next={} ordered={}", q->count, q->next, q->ordered ? 1 : 0)
                  : "error " + q.error().message());
          });
    });
  }
  void finish(const std::string& received) {
    say(nodus::format("stream done sent={} waits={} received={}", next, waits, received));
  }
  Node& node;
  nodus::node_name to;
  std::uint32_t total;
  std::uint32_t next = 0;
  std::uint64_t waits = 0;
};

template <class Node>
void flood(Node& node, nodus::node_name to, long ms, bool wait) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const auto deadline = start + std::chrono::milliseconds(ms);
  std::atomic<std::uint64_t> acked{0}, refused{0};
  std::atomic<bool> done{false};
  const std::size_t rss_start = rss_kib();
  std::atomic<std::size_t> rss_max{rss_start};
  std::thread sampler([&] {
    auto next_print = start;
    while (!done.load()) {
      const std::size_t r = rss_kib();
      if (r > rss_max.load()) rss_max.store(r);
      if (clock::now() >= next_print) {
        say(nodus::format(
            "flood-progress {} {} {} {}",
            std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start).count(),
            acked.load(), refused.load(), r));
        next_print += 250ms;
      }
      std::this_thread::sleep_for(20ms);  // a sampling period, not a synchronisation
    }
  });
  std::string failure = "none";
  chunk c{};
  std::uint32_t seq = 0;
  while (clock::now() < deadline) {
    c.seq = seq;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()) + 1ms;
    auto r = wait ? node.template cast<sink>(to, c, nodus::wait_if_busy{left})
                  : node.template cast<sink>(to, c);
    if (r) {
      ++seq;
      acked.store(seq);
    } else if (r.error() == nodus::errc::busy) {
      if (wait && clock::now() >= deadline) break;  // waited until the end of the flood
      refused.fetch_add(1);
      std::this_thread::yield();
    } else {
      failure = r.error().message();
      break;
    }
  }
  done.store(true);
  sampler.join();
  std::string received = "none";
  if (failure == "none") {
    auto q = node.template call<sink>(to, sink_query{}, std::chrono::milliseconds(20000));
    received = q ? nodus::format("{} next={} ordered={}", q->count, q->next, q->ordered ? 1 : 0)
                 : "error " + q.error().message();
  }
  say(nodus::format(
      "flood done acked={} refused={} rss_start_kib={} rss_max_kib={} ms={} "
      "failure={} received={}",
      acked.load(), refused.load(), rss_start, rss_max.load(),
      std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start).count(), failure,
      received));
}

// storm(node, to, total, inflight, mark): `total` calls of ping to `to`, `inflight` of them in
// flight at any time (a new one as soon as one ends), each with a 30 s timeout, so that a call
// that never ends shows as hung rather than as a timeout. Prints `storm mark ISSUED DONE` once
// `mark` calls ended, `storm full N` once N (= inflight) calls are in flight after the mark (the
// test stops `to` at the mark, so that nothing ends and the storm fills up, then kills it),
// `storm steady N` once, full, no call ended for 100 ms (the replies that had left `to` before it
// stopped are all taken: a slow node may still be reading them when it is first full), and,
// when every call ended or 15 s after the last
// was issued, `storm done issued= ok= nodedown= timeout= busy= other= wrong= hung=
// inflight_at_down= max_ms= down_to_last_ms= ms= first_other=`: the counts by outcome (wrong: a
// reply that was not this call's), the calls in flight when the first nodedown came, the longest
// call, and the time from the first nodedown to the end of the last call.
template <class Node>
void storm(Node& node, nodus::node_name to, std::uint64_t total, std::uint64_t inflight,
           std::uint64_t mark) {
  using clock = std::chrono::steady_clock;
  struct state {
    std::mutex m;
    std::condition_variable cv;
    std::uint64_t in_flight = 0, done = 0, ok = 0, nodedown = 0, timeout = 0, busy = 0, other = 0,
                  wrong = 0, inflight_at_down = 0;
    clock::duration max_call{};
    std::optional<clock::time_point> first_down;
    clock::time_point last_end{};
    std::string first_other = "none";
  };
  auto st = std::make_shared<state>();
  const auto start = clock::now();
  bool marked = false, full = false, steady = false;
  for (std::uint64_t i = 0; i < total; ++i) {
    {
      std::unique_lock lock(st->m);
      while (st->in_flight >= inflight) {
        const bool quiet = st->cv.wait_for(lock, 100ms) == std::cv_status::timeout;
        if (quiet && full && !steady && st->in_flight == inflight) {
          steady = true;
          say(nodus::format("storm steady {}", st->in_flight));
        }
      }
      ++st->in_flight;
      if (!marked && st->done >= mark) {
        marked = true;
        say(nodus::format("storm mark {} {}", i, st->done));
      }
      if (marked && !full && st->in_flight == inflight) {
        full = true;
        say(nodus::format("storm full {}", st->in_flight));
      }
    }
    const auto seq = static_cast<std::uint32_t>(i + 1);
    const auto issued = clock::now();
    node.template async_call<ping_server>(
        to, ping{seq}, std::chrono::milliseconds(30000),
        [st, seq, issued, to](nodus::result<pong> r) {
          const auto now = clock::now();
          std::lock_guard lock(st->m);
          if (r) {
            ++(r->seq == seq && r->node == to ? st->ok : st->wrong);
          } else if (r.error() == nodus::errc::nodedown) {
            if (!st->first_down) {
              st->first_down = now;
              st->inflight_at_down = st->in_flight;
            }
            ++st->nodedown;
          } else if (r.error() == nodus::errc::timeout) {
            ++st->timeout;
          } else if (r.error() == nodus::errc::busy) {
            ++st->busy;
          } else {
            if (st->other++ == 0) st->first_other = r.error().message();
          }
          st->max_call = std::max(st->max_call, now - issued);
          st->last_end = now;
          --st->in_flight;
          ++st->done;
          st->cv.notify_all();
        });
  }
  std::unique_lock lock(st->m);
  st->cv.wait_for(lock, 15s, [&] { return st->in_flight == 0; });
  auto ms = [](clock::duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  };
  say(nodus::format(
      "storm done issued={} ok={} nodedown={} timeout={} busy={} other={} wrong={} hung={} "
      "inflight_at_down={} max_ms={} down_to_last_ms={} ms={} first_other={}",
      total, st->ok, st->nodedown, st->timeout, st->busy, st->other, st->wrong, st->in_flight,
      st->inflight_at_down, ms(st->max_call),
      st->first_down ? ms(st->last_end - *st->first_down) : -1, ms(clock::now() - start),
      st->first_other));
}

// latency(node, to, ms): blocking calls of ping to `to`, one after the other, for ms
// milliseconds; prints `lat n=N errors=E median_us= p99_us= max_us= first_error=`.
template <class Node>
void latency(Node& node, nodus::node_name to, long ms) {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + std::chrono::milliseconds(ms);
  std::vector<long long> us;
  std::uint64_t errors = 0;
  std::string first_error = "none";
  std::uint32_t seq = 0;
  while (clock::now() < deadline) {
    const auto t = clock::now();
    auto r = node.template call<ping_server>(to, ping{++seq}, std::chrono::milliseconds(5000));
    us.push_back(std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - t).count());
    if (!r || r->seq != seq) {
      if (errors++ == 0) first_error = r ? "a reply to another call" : r.error().message();
    }
  }
  std::sort(us.begin(), us.end());
  auto at = [&](double q) {
    return us.empty() ? -1 : us[std::min(us.size() - 1, static_cast<std::size_t>(q * us.size()))];
  };
  say(nodus::format("lat n={} errors={} median_us={} p99_us={} max_us={} first_error={}", us.size(),
                    errors, at(0.5), at(0.99), us.empty() ? -1 : us.back(), first_error));
}

// open_fds() -> how many descriptors this process has open (/proc/self/fd).
long open_fds() {
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  long n = 0;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n - 1;  // the directory's own descriptor
}

std::string join(const std::vector<nodus::node_name>& nodes) {
  std::string out;
  for (const auto& n : nodes) {
    if (!out.empty()) out += ',';
    out += n.str();
  }
  return out;
}

template <class Protocol>
int run_node(nodus::options opts) {
  nodus::node<nodus::no_topology, Protocol> node{std::move(opts)};
  node.log().set_sink(
      [](const nodus::log_record& r) { say("log " + nodus::logger::format_line(r)); });
  auto started =
      with_singleton ? node.start(nodus::supervisor<nodus::one_for_one, observer, ping_server, sink,
                                                    nodus::singleton<cleaner>>{})
      : with_dsup
          ? node.start(nodus::supervisor<nodus::one_for_one, observer, ping_server, sink, jobs>{})
          : node.start(nodus::supervisor<nodus::one_for_one, observer, ping_server, sink>{});
  if (auto r = std::move(started); !r) {
    say("start-failed " + r.error().message());
    return 3;
  }
  node.run_in_background();
  say(nodus::format("ready {} {}", node.self(), node.port()));

  std::uint32_t seq = 0;
  std::thread flooding;
  std::thread storming;
  std::string line;
  while (std::getline(std::cin, line)) {
    const auto space = line.find(' ');
    const std::string cmd = line.substr(0, space);
    const std::string arg = space == std::string::npos ? "" : line.substr(space + 1);
    auto parse = [&]() -> std::optional<nodus::node_name> {
      auto n = nodus::node_name::parse(arg);
      if (!n) {
        say(cmd + " error bad node name '" + arg + "'");
        return std::nullopt;
      }
      return *n;
    };
    // node_and_number(usage) -> NODE and N of an argument "NODE N"; nothing (after saying
    // `CMD error usage: USAGE`) when it is not one.
    auto node_and_number =
        [&](const char* usage) -> std::optional<std::pair<nodus::node_name, unsigned long long>> {
      char to[256] = {};
      unsigned long long n = 0;
      if (std::sscanf(arg.c_str(), "%255s %llu", to, &n) == 2) {
        if (auto name = nodus::node_name::parse(to)) return std::pair{*name, n};
      }
      say(cmd + " error usage: " + usage);
      return std::nullopt;
    };
    // timed_call(to, request, size): one call to the ping server with a 10 s timeout; says
    // `CMD ok SIZE ms=T` (SIZE: size(reply)) or `CMD error MESSAGE ms=T`.
    auto timed_call = [&](const nodus::node_name& to, auto request, auto size) {
      const auto t = std::chrono::steady_clock::now();
      auto r =
          node.template call<ping_server>(to, std::move(request), std::chrono::milliseconds(10000));
      const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - t)
                            .count();
      say(r ? nodus::format("{} ok {} ms={}", cmd, size(*r), took)
            : nodus::format("{} error {} ms={}", cmd, r.error().message(), took));
    };
    // The distributed supervisor (--dsup): job_reply(cmd, r) says `CMD ok NODE ID COUNT` or
    // `CMD error MESSAGE`.
    auto job_reply = [&](const nodus::result<job_state>& r) {
      say(r ? nodus::format("{} ok {} {} {}", cmd, r->node, r->id, r->count)
            : nodus::format("{} error {}", cmd, r.error().message()));
    };
    if (cmd == "dstart") {
      // dstart NAME ID p|t|x: starts a job (permanent, transient, temporary); says where.
      char child[256] = {};
      unsigned long long id = 0;
      char kind = 'p';
      if (std::sscanf(arg.c_str(), "%255s %llu %c", child, &id, &kind) != 3) {
        say("dstart error usage: dstart NAME ID p|t|x");
        continue;
      }
      const auto restart = kind == 't'   ? nodus::restart_type::transient
                           : kind == 'x' ? nodus::restart_type::temporary
                                         : nodus::restart_type::permanent;
      auto r = node.template distributed_supervisor<jobs>().template start_child<job>(
          child, restart, std::uint64_t{id});
      say(r ? nodus::format("dstart ok {}", *r) : "dstart error " + r.error().message());
    } else if (cmd == "dcall") {
      job_reply(node.template call<job>(nodus::global_name{arg}, job_query{}));
    } else if (cmd == "dbump") {
      job_reply(node.template call<job>(nodus::global_name{arg}, job_bump{}));
    } else if (cmd == "dquit" || cmd == "dcrash") {
      auto r = cmd == "dquit" ? node.template cast<job>(nodus::global_name{arg}, job_quit{})
                              : node.template cast<job>(nodus::global_name{arg}, job_crash{});
      say(r ? cmd + " ok" : cmd + " error " + r.error().message());
    } else if (cmd == "dplace") {
      // dplace NAME: where the policy places NAME over the members this node knows.
      say("dplace " + std::string(nodus::detail::distributed_node::place(
                                      arg, node.template distributed_supervisor<jobs>().members())
                                      .str()));
    } else if (cmd == "dmembers") {
      say("dmembers " + join(node.template distributed_supervisor<jobs>().members()));
    } else if (cmd == "dtable") {
      // dtable: `dtable - NAMES`: the names in this member's table, sorted.
      std::string out = "dtable -";  // (a word, so that an empty table still answers `dtable -`)
      for (const auto& c : node.template distributed_supervisor<jobs>().which_children()) {
        out += ' ';
        out += c.name;
      }
      say(out);
    } else if (cmd == "dlocal") {
      // dlocal: `dlocal - NAMES`: the jobs that run on this node.
      std::string out = "dlocal -";
      for (const auto& c : node.dynamic_supervisor("jobs").which_children()) {
        out += ' ';
        out += c.name;
      }
      say(out);
    } else if (cmd == "single") {
      // single: whether the singleton runs here, and the node its global name points to.
      auto at = node.global().node_of("cleaner");
      say(nodus::format("single {} {}", node.template is_running<cleaner>() ? "here" : "not",
                        at ? std::string(at->str()) : std::string("nowhere")));
    } else if (cmd == "connect") {
      say(nodus::format("connect {}", node.connect(arg) ? "true" : "false"));
    } else if (cmd == "disconnect") {
      if (auto n = parse())
        say(nodus::format("disconnect {}", node.disconnect(*n) ? "true" : "false"));
    } else if (cmd == "list") {
      say("list " + join(node.list()));
    } else if (cmd == "hidden") {
      say("hidden " + join(node.list(nodus::node_kind::hidden)));
    } else if (cmd == "connected") {
      say("connected " + join(node.list(nodus::node_kind::connected)));
    } else if (cmd == "call") {
      if (auto n = parse()) {
        auto r = node.template call<ping_server>(*n, ping{++seq});
        if (!r) {
          say("call error " + r.error().message());
        } else if (r->seq != seq) {
          say(nodus::format("call error the reply of call {} came to call {}", r->seq, seq));
        } else {
          say(nodus::format("call ok {}", r->node));
        }
      }
    } else if (cmd == "multi") {
      const auto nodes = node.list();
      std::string out = "multi";
      for (const auto& [n, r] : node.template multi_call<ping_server>(nodes, ping{++seq})) {
        const bool ok = r && r->node == n && r->seq == seq;
        out += nodus::format(" {}:{}", n, ok ? "ok" : "error");
      }
      say(out);
    } else if (cmd == "hold") {
      // Asynchronous: `hold sent` now, `held NODE ok|error MESSAGE` when the call ends.
      if (auto n = parse()) {
        node.template async_call<ping_server>(
            *n, hold{++seq}, std::chrono::milliseconds(20000), [n = *n](nodus::result<pong> r) {
              say(nodus::format("held {} {}", n,
                                r ? std::string("ok") : "error " + r.error().message()));
            });
        say("hold sent");
      }
    } else if (cmd == "stream") {
      if (auto a = node_and_number("stream NODE COUNT")) {
        auto s = std::make_shared<streamer<decltype(node)>>(node, a->first,
                                                            static_cast<std::uint32_t>(a->second));
        asio::post(node.io_context(), [s] { s->go(); });
        say("stream started");
      }
    } else if (cmd == "flood") {
      // flood NODE MS fail|wait: in the background; `flood started` now, `flood done ...` later.
      char to[256] = {};
      char mode[8] = {};
      long ms = 0;
      auto n = std::sscanf(arg.c_str(), "%255s %ld %7s", to, &ms, mode);
      auto name = nodus::node_name::parse(to);
      if (n != 3 || !name || flooding.joinable()) {
        say("flood error usage: flood NODE MS fail|wait, one at a time");
      } else {
        flooding = std::thread([&node, to = *name, ms, w = std::string_view(mode) == "wait"] {
          flood(node, to, ms, w);
        });
        say("flood started");
      }
    } else if (cmd == "storm") {
      // storm NODE TOTAL INFLIGHT MARK: in the background; `storm started` now, `storm mark ...`
      // and `storm done ...` later.
      char to[256] = {};
      unsigned long long total = 0, inflight = 0, mark = 0;
      auto n = std::sscanf(arg.c_str(), "%255s %llu %llu %llu", to, &total, &inflight, &mark);
      auto name = nodus::node_name::parse(to);
      if (n != 4 || !name || inflight == 0 || storming.joinable()) {
        say("storm error usage: storm NODE TOTAL INFLIGHT MARK, one at a time");
      } else {
        storming = std::thread(
            [&node, to = *name, total, inflight, mark] { storm(node, to, total, inflight, mark); });
        say("storm started");
      }
    } else if (cmd == "lat") {
      // lat NODE MS: blocking calls for MS ms; answers `lat n=...` at the end.
      if (auto a = node_and_number("lat NODE MS")) {
        latency(node, a->first, static_cast<long>(a->second));
      }
    } else if (cmd == "big") {
      // big NODE BYTES: one call carrying a blob of BYTES bytes; `big ok SIZE` or `big error ...`.
      if (auto a = node_and_number("big NODE BYTES")) {
        blob b;
        b.bytes.assign(a->second, std::uint8_t{0x5a});
        timed_call(a->first, std::move(b), [](const auto& reply) { return reply.size; });
      }
    } else if (cmd == "bigreply") {
      // bigreply NODE BYTES: one call whose reply is a blob of BYTES bytes; `bigreply ok SIZE` or
      // `bigreply error ...`.
      if (auto a = node_and_number("bigreply NODE BYTES")) {
        timed_call(a->first, blob_ask{a->second},
                   [](const auto& reply) { return reply.bytes.size(); });
      }
    } else if (cmd == "fds") {
      // fds: `fds open=N soft=S hard=H`: descriptors open and RLIMIT_NOFILE.
      rlimit l{};
      ::getrlimit(RLIMIT_NOFILE, &l);
      say(nodus::format("fds open={} soft={} hard={}", open_fds(),
                        static_cast<unsigned long long>(l.rlim_cur),
                        static_cast<unsigned long long>(l.rlim_max)));
    } else if (cmd == "cpu") {
      // cpu: `cpu MS`: the CPU time (user + system) this process used so far.
      rusage u{};
      ::getrusage(RUSAGE_SELF, &u);
      const long long us = (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000LL +
                           u.ru_utime.tv_usec + u.ru_stime.tv_usec;
      say(nodus::format("cpu {}", us / 1000));
    } else if (cmd == "quit") {
      break;
    } else {
      say("unknown command '" + line + "'");
    }
  }
  if (flooding.joinable()) flooding.join();
  if (storming.joinable()) storming.join();
  node.stop();
  const auto r = node.join();
  say(r ? std::string("quit ok") : "quit error " + r.error().message());
  return 0;
}

}  // namespace

int run_peer(int argc, char* argv[]) {
  // A safety net for a test runner that hangs: no peer outlives two minutes.
  std::thread([] {
    std::this_thread::sleep_for(120s);
    std::_Exit(4);
  }).detach();
  // argv[1] ("--peer") plays the program name for from_args.
  auto opts = nodus::options::from_args(argc - 1, argv + 1);
  if (!opts) {
    say("start-failed " + opts.error().message());
    return 2;
  }
  bool alt = false;
  for (std::size_t i = 0; i < opts->rest.size(); ++i) {
    const auto& a = opts->rest[i];
    if (a == "--alt-protocol") {
      alt = true;
    } else if (a == "--singleton") {
      with_singleton = true;
    } else if (a == "--dsup") {
      with_dsup = true;
    } else if ((a == "--nofile" || a == "--nofile-soft") && i + 1 < opts->rest.size()) {
      // --nofile N: RLIMIT_NOFILE soft and hard N (the node cannot raise it); --nofile-soft N:
      // the soft limit N only (as a shell's default of 1024 under a higher hard limit). Set before
      // the node starts.
      rlimit l{};
      ::getrlimit(RLIMIT_NOFILE, &l);
      l.rlim_cur = std::stoul(opts->rest[++i]);
      if (a == "--nofile") l.rlim_max = l.rlim_cur;
      if (::setrlimit(RLIMIT_NOFILE, &l) != 0) {
        say("start-failed setrlimit " + a);
        return 2;
      }
    } else {
      say("start-failed unknown argument " + a);
      return 2;
    }
  }
  return alt ? run_node<alt_protocol>(std::move(*opts)) : run_node<protocol>(std::move(*opts));
}

}  // namespace dist_test

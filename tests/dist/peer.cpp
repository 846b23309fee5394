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
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <unistd.h>

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

using protocol = nodus::protocol<ping, pong, hold, chunk, sink_query, sink_report>;
using alt_protocol = nodus::protocol<ping, pong, hold, chunk, sink_query, sink_report, extra>;

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

// ping_server: answers ping with its node; keeps hold calls unanswered until it stops.
struct ping_server : nodus::server<ping_server, nodus::call<ping, pong>, nodus::call<hold, pong>> {
  static constexpr nodus::fixed_string name = "ping";
  pong handle_call(const ping& p) { return {self_node(), p.seq}; }
  void handle_call(const hold&, nodus::caller<pong>& c) { held.push_back(std::move(c)); }
  std::vector<nodus::caller<pong>> held;
};

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
  if (auto r = node.start(nodus::supervisor<nodus::one_for_one, observer, ping_server, sink>{});
      !r) {
    say("start-failed " + r.error().message());
    return 3;
  }
  node.run_in_background();
  say(nodus::format("ready {} {}", node.self(), node.port()));

  std::uint32_t seq = 0;
  std::thread flooding;
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
    if (cmd == "connect") {
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
    } else if (cmd == "quit") {
      break;
    } else {
      say("unknown command '" + line + "'");
    }
  }
  if (flooding.joinable()) flooding.join();
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
  for (const auto& a : opts->rest) {
    if (a == "--alt-protocol") {
      alt = true;
    } else {
      say("start-failed unknown argument " + a);
      return 2;
    }
  }
  return alt ? run_node<alt_protocol>(std::move(*opts)) : run_node<protocol>(std::move(*opts));
}

}  // namespace dist_test

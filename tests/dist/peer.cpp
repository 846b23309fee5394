// The node program of the multi-process tests (see peer.hpp). Everything it prints goes to stdout,
// one line at a time under one mutex: command answers, `event up|down ...` from a server that
// monitors nodes, `held ...` when an asynchronous call ends, and the node's log as `log ...`.
#include "peer.hpp"

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

using protocol = nodus::protocol<ping, pong, hold>;
using alt_protocol = nodus::protocol<ping, pong, hold, extra>;

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
  if (auto r = node.start(nodus::supervisor<nodus::one_for_one, observer, ping_server>{}); !r) {
    say("start-failed " + r.error().message());
    return 3;
  }
  node.run_in_background();
  say(nodus::format("ready {} {}", node.self(), node.port()));

  std::uint32_t seq = 0;
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
    } else if (cmd == "quit") {
      break;
    } else {
      say("unknown command '" + line + "'");
    }
  }
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

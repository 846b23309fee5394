// The node program of the formation tests: `test_formation --peer --topology KIND <node flags>`.
// KIND picks one of the topologies below; the flags are nodus::options::from_args's (cluster
// settings included). Prints `ready NAME PORT` once started (or `start-failed MESSAGE`), then
// `event up|down NODE ...` for each node it sees come and go, its log as `log ...`, and answers
// `list` and `quit` read from stdin.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <nodus/cluster/dns_poll.hpp>
#include <nodus/cluster/dns_srv.hpp>
#include <nodus/cluster/gossip.hpp>
#include <nodus/cluster/topology.hpp>
#include <nodus/node.hpp>
#include <nodus/nodus.hpp>

namespace formation_test {

namespace {

using namespace std::chrono_literals;

struct ping {};
struct pong {
  nodus::node_name node;
};
using protocol = nodus::protocol<ping, pong>;

// The topologies, as a program would declare them; intervals are short for the tests.
using epmd_topology = nodus::topology<nodus::named<
    "example", nodus::epmd_strategy<nodus::hosts<"n1@127.0.0.1", "n2@127.0.0.1", "n3@127.0.0.1",
                                                 "n4@127.0.0.1", "n5@127.0.0.1">,
                                    nodus::polling_interval<300>>>>;
using local_topology = nodus::topology<nodus::local_epmd_strategy<nodus::polling_interval<300>>>;
using hosts_file_topology =
    nodus::topology<nodus::erlang_hosts_strategy<nodus::polling_interval<300>>>;
using gossip_topology = nodus::topology<nodus::gossip_strategy<nodus::polling_interval<200>>>;
using dns_topology = nodus::topology<
    nodus::dns_poll_strategy<nodus::node_basename<"n">, nodus::polling_interval<200>>>;
using dns_srv_topology = nodus::topology<
    nodus::dns_srv_strategy<nodus::node_basename<"n">, nodus::polling_interval<200>>>;

std::mutex out_mutex;

void say(const std::string& line) {
  std::lock_guard lock(out_mutex);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

struct observer
    : nodus::server<observer, nodus::info<nodus::node_up>, nodus::info<nodus::node_down>> {
  static constexpr nodus::fixed_string name = "observer";
  void init() { monitor_nodes(); }
  void handle_info(const nodus::node_up& e) { say(nodus::format("event up {}", e.node)); }
  void handle_info(const nodus::node_down& e) {
    say(nodus::format("event down {} {}", e.node, e.reason));
  }
};

struct ping_server : nodus::server<ping_server, nodus::call<ping, pong>> {
  static constexpr nodus::fixed_string name = "ping";
  pong handle_call(const ping&) { return {self_node()}; }
};

template <class Topology>
int run_node(nodus::options opts) {
  nodus::node<Topology, protocol> node{std::move(opts)};
  node.log().set_sink(
      [](const nodus::log_record& r) { say("log " + nodus::logger::format_line(r)); });
  if (auto r = node.start(nodus::supervisor<nodus::one_for_one, observer, ping_server>{}); !r) {
    say("start-failed " + r.error().message());
    return 3;
  }
  node.run_in_background();
  say(nodus::format("ready {} {}", node.self(), node.port()));
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line == "list") {
      std::string out;
      for (const auto& n : node.list()) out += (out.empty() ? "" : ",") + std::string(n.str());
      say("list " + out);
    } else if (line == "connected") {
      std::string out;
      for (const auto& n : node.list(nodus::node_kind::connected))
        out += (out.empty() ? "" : ",") + std::string(n.str());
      say("connected " + out);
    } else if (line == "serving") {
      say(std::string("serving ") + (node.serves_port_mapper() ? "yes" : "no"));
    } else if (line == "ping") {
      std::string out = "ping";
      for (auto& [n, r] : node.template multi_call<ping_server>(node.list(), ping{})) {
        out += nodus::format(" {}:{}", n, r && r->node == n ? "ok" : "error");
      }
      say(out);
    } else if (line == "quit") {
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
  auto opts = nodus::options::from_args(argc - 1, argv + 1);
  if (!opts) {
    say("start-failed " + opts.error().message());
    return 2;
  }
  std::string kind = "epmd";
  for (std::size_t i = 0; i < opts->rest.size(); ++i) {
    if (opts->rest[i] == "--topology" && i + 1 < opts->rest.size()) {
      kind = opts->rest[++i];
    } else {
      say("start-failed unknown argument " + opts->rest[i]);
      return 2;
    }
  }
  if (kind == "epmd") return run_node<epmd_topology>(std::move(*opts));
  if (kind == "local") return run_node<local_topology>(std::move(*opts));
  if (kind == "hosts_file") return run_node<hosts_file_topology>(std::move(*opts));
  if (kind == "gossip") return run_node<gossip_topology>(std::move(*opts));
  if (kind == "dns") return run_node<dns_topology>(std::move(*opts));
  if (kind == "dns_srv") return run_node<dns_srv_topology>(std::move(*opts));
  if (kind == "none") return run_node<nodus::no_topology>(std::move(*opts));
  say("start-failed unknown topology " + kind);
  return 2;
}

}  // namespace formation_test

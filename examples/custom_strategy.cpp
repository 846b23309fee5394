// examples/custom_strategy.cpp: a cluster formation strategy of your own. A strategy is any type
// with a label and a function that lists the nodes it wants; the node dials them, retries them
// every interval, and logs like libcluster. Here: the nodes listed one per line in a file (say a
// mounted Kubernetes ConfigMap), re-read every 500 ms.
//
//   printf 'a@127.0.0.1\nb@127.0.0.1\n' > /tmp/peers
//   PEERS_FILE=/tmp/peers ./custom_strategy --name a@127.0.0.1 --cookie c
//   PEERS_FILE=/tmp/peers ./custom_strategy --name b@127.0.0.1 --cookie c
//
// A strategy that pushes instead (it has its own sockets or timers, like gossip) defines
// `void start(std::shared_ptr<nodus::cluster::strategy_context>)` and `void stop()`, and calls
// ctx->set_nodes(...) / ctx->add_nodes(...) when it learns something
// (include/nodus/cluster/strategy.hpp).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <nodus/nodus.hpp>

// The strategy: a label for its log lines, an interval, and nodes(ctx).
struct file_strategy {
  static constexpr std::string_view label = "peers-file";
  static constexpr std::chrono::milliseconds interval{500};
  // Set this to true for nodes that leave the list to be disconnected (as DNS polling does).
  static constexpr bool disconnect_vanished = false;

  // nodes(ctx) -> "name@host" (port from host's port mapper) or "name@ip:port" entries. Called
  // on a strand of the node every interval; it must not block for long.
  std::vector<std::string> nodes(nodus::cluster::strategy_context& ctx) {
    const char* path = std::getenv("PEERS_FILE");
    std::ifstream in(path != nullptr ? path : "peers.txt");
    if (!in) {
      ctx.log(nodus::log_level::debug, "no peers file yet");
      return {};
    }
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line[0] != '#') out.push_back(line);
    }
    return out;
  }
};

using topology = nodus::topology<file_strategy>;

struct hello {};
using protocol = nodus::protocol<hello>;

struct observer
    : nodus::server<observer, nodus::info<nodus::node_up>, nodus::info<nodus::node_down>> {
  static constexpr nodus::fixed_string name = "observer";
  void init() { monitor_nodes(); }
  void handle_info(const nodus::node_up& e) { log().info("--- Node up: {}", e.node); }
  void handle_info(const nodus::node_down& e) { log().info("--- Node down: {}", e.node); }
};

using node_type = nodus::node<topology, protocol>;

namespace {

// smoke(): two nodes in this process find each other through a peers file written after they
// started (their ports are ephemeral, so the file names them with name@ip:port).
int smoke() {
  char dir_template[] = "/tmp/nodus-peers-XXXXXX";
  const char* dir = ::mkdtemp(dir_template);
  if (dir == nullptr) return 1;
  const std::string file = std::string(dir) + "/peers";
  ::setenv("PEERS_FILE", file.c_str(), 1);  // before any node thread runs
  auto make = [](const char* name) {
    nodus::options o;
    o.name = nodus::node_name::parse(name).value();
    o.cookie = "smoke";
    o.epmd = false;  // the file gives the ports
    return o;
  };
  node_type a{make("a@127.0.0.1")};
  node_type b{make("b@127.0.0.1")};
  if (!a.start(nodus::supervisor<nodus::one_for_one, observer>{}) ||
      !b.start(nodus::supervisor<nodus::one_for_one, observer>{})) {
    return 1;
  }
  a.run_in_background();
  b.run_in_background();
  {
    const std::string tmp = file + ".tmp";
    std::ofstream(tmp) << nodus::format("a@127.0.0.1:{}\nb@127.0.0.1:{}\n", a.port(), b.port());
    std::rename(tmp.c_str(), file.c_str());  // the strategy never reads a half-written file
  }
  bool ok = false;
  for (int i = 0; i < 500 && !ok; ++i) {  // 5 s at most
    ok = a.list().size() == 1 && b.list().size() == 1;
    if (!ok) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::puts(ok ? "formed" : "not formed within 5 s");
  a.stop();
  b.stop();
  (void)a.join();
  (void)b.join();
  std::remove(file.c_str());
  ::rmdir(dir);
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string_view(argv[1]) == "--smoke") return smoke();
  auto opts = nodus::options::from_args(argc, argv);
  if (opts && opts->help_requested) {
    std::fputs(nodus::options::help(argv[0]).c_str(), stdout);
    return 0;
  }
  if (!opts || opts->name.empty()) {
    std::fprintf(stderr, "custom_strategy: %s\n",
                 opts ? "give --name NAME@HOST --cookie C" : opts.error().message().c_str());
    return 2;
  }
  node_type node{*opts};
  if (auto r = node.start(nodus::supervisor<nodus::one_for_one, observer>{}); !r) {
    std::fprintf(stderr, "custom_strategy: %s\n", r.error().message().c_str());
    return 1;
  }
  node.run_in_background();
  std::puts("press enter to quit");
  std::string line;
  std::getline(std::cin, line);
  node.stop();
  return node.join() ? 0 : 1;
}

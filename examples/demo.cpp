// examples/demo.cpp: one node, two named servers under a one_for_one supervisor: calls, a cast,
// a periodic timer, and the supervisor restarting a server that crashed, with fresh state.
//
//   ./demo [--threads N] [--log-level debug]
//
// A node of local servers: it includes nodus/node.hpp only, and so compiles no network code (see
// examples/simple_cluster.cpp for distributed nodes).
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <thread>

#include <nodus/node.hpp>

using namespace std::chrono_literals;

struct ping {};
struct pong {
  nodus::node_name node;
  int count;  // how many pings this instance has answered
};
struct crash {};
struct tick {};

// ping_server: SimpleCluster.Ping of the walkthrough, plus a way to crash it.
struct ping_server : nodus::server<ping_server, nodus::call<ping, pong>, nodus::cast<crash>> {
  static constexpr nodus::fixed_string name = "ping";
  int pings = 0;  // the state: lost when the server crashes

  pong handle_call(const ping&, nodus::caller<pong>& from) {
    log().info("--- Receiving ping from {}", from);
    return {self_node(), ++pings};
  }
  void handle_cast(const crash&) { throw std::runtime_error("asked to crash"); }
};

// heartbeat: a periodic timer, like :timer.send_interval.
struct heartbeat : nodus::server<heartbeat, nodus::info<tick>> {
  static constexpr nodus::fixed_string name = "heartbeat";
  int beats = 0;
  void init() { send_interval(200ms, tick{}); }
  void handle_info(const tick&) { log().debug("heartbeat {}", ++beats); }
};

namespace {
// ping(node): calls ping and prints the reply the way the walkthrough does.
nodus::result<pong> ping_once(nodus::node<>& node) {
  auto r = node.call<ping_server>(ping{});
  if (r) {
    node.log().info("[{{:ok, :\"{}\", :pong}}] (answered {} pings)", r->node, r->count);
  } else {
    node.log().warn("ping failed: {}", r.error().message());
  }
  return r;
}
}  // namespace

int main(int argc, char** argv) try {
  auto opts = nodus::options::from_args(argc, argv);  // --smoke is left in opts->rest
  if (!opts) {
    std::fprintf(stderr, "demo: %s\n", opts.error().message().c_str());
    return 2;
  }
  if (opts->help_requested) {  // every flag, from the parser's own table
    std::fputs(nodus::options::help(argv[0]).c_str(), stdout);
    return 0;
  }
  nodus::node<> node(*opts);
  if (auto r = node.start(nodus::supervisor<nodus::one_for_one, heartbeat, ping_server>{}); !r) {
    node.log().error("start failed: {}", r.error().message());
    return 1;
  }
  node.run_in_background();
  node.log().info("node {} runs {}", node.self(), node.registered());

  for (int i = 0; i < 3; ++i)
    if (!ping_once(node)) return 1;

  node.log().info("casting crash to 'ping': the supervisor restarts it with fresh state");
  (void)node.cast<ping_server>(crash{});
  // The restart is asynchronous: until it is done, calls fail with noproc (as in Erlang).
  nodus::result<pong> after = nodus::errc::noproc;
  for (int attempt = 0; attempt < 200 && !after; ++attempt) {
    after = node.call<ping_server>(ping{});
    if (!after) std::this_thread::sleep_for(5ms);
  }
  if (!after || after->count != 1) {
    node.log().error("ping did not come back fresh: {}", after.error().message());
    return 1;
  }
  node.log().info("[{{:ok, :\"{}\", :pong}}] (answered {} pings: a fresh instance)", after->node,
                  after->count);

  node.stop();
  auto exit = node.join();
  node.log().info("node stopped: {}", exit ? "normal" : exit.error().message());
  return exit ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "demo: %s\n", e.what());
  return 1;
}

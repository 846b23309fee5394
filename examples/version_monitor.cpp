// examples/version_monitor.cpp: part 4 of the series ("the distributed application version
// monitor"): every node reports the version it runs (its version_server); a monitor that runs
// once in the cluster (nodus::singleton) asks every node with a multi-call at each node up and
// node down, retries the nodes that did not answer after a second, logs when the versions are
// out of sync, and announces a new major version once every node runs it, as a rolling deploy
// shows it.
//
//   ./version_monitor --name n1@127.0.0.1 --cookie demo --app-version 1.0.0   (n2, n3 likewise)
//   ./version_monitor --smoke                                 (two nodes in this process)
//
// The cluster forms by itself as in simple_cluster (examples/topologies.hpp).
// tests/examples/version_monitor.sh runs a rolling deploy from 1.0.0 to 2.0.0 with three nodes.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include <nodus/nodus.hpp>

#include "topologies.hpp"

using namespace std::chrono_literals;

struct get_version {};
struct version_info {
  nodus::node_name node;
  int major;
  int minor;
  int patch;
  int announced;  // the last major version announced to this node (-1: none)
};
struct announce {  // the monitor tells every node which major version it announced
  int major;
};
using protocol = nodus::protocol<get_version, version_info, announce>;

namespace {
version_info this_version{};  // --app-version, set before the node starts

std::string text(const version_info& v) {
  return nodus::format("{}.{}.{}", v.major, v.minor, v.patch);
}
}  // namespace

// version_server: on every node; answers the version this node runs, and keeps the last major
// version the monitor announced, so that a monitor that moves to another node picks it up (its
// hand-off).
struct version_server
    : nodus::server<version_server, nodus::call<get_version, version_info>, nodus::cast<announce>> {
  static constexpr nodus::fixed_string name = "version_server";
  int announced = -1;
  version_info handle_call(const get_version&) {
    auto v = this_version;
    v.node = self_node();
    v.announced = announced;
    return v;
  }
  void handle_cast(const announce& a) { announced = std::max(announced, a.major); }
};

struct recheck {};  // retry the nodes that did not answer (after 1 s)

// version_monitor: the singleton. The last major version it announced is kept by every node's
// version_server too: an instance that starts on another node takes it from their answers.
struct version_monitor : nodus::server<version_monitor, nodus::info<nodus::node_up>,
                                       nodus::info<nodus::node_down>, nodus::info<recheck>> {
  static constexpr nodus::fixed_string name = "version_monitor";
  std::map<nodus::node_name, version_info> versions;  // of the nodes that answered
  std::set<nodus::node_name> waiting;                 // asked, no answer yet
  std::set<nodus::node_name> failed;                  // did not answer: asked again in 1 s
  int announced_major = -1;
  bool retry_armed = false;

  void init() {
    monitor_nodes();
    log().info("--- VersionMonitor started on {}", self_node());
    ask_all();
  }
  void handle_info(const nodus::node_up&) { ask_all(); }
  void handle_info(const nodus::node_down& e) {
    versions.erase(e.node);
    waiting.erase(e.node);
    failed.erase(e.node);
    ask_all();
  }
  void handle_info(const recheck&) {
    retry_armed = false;
    ask_all();
  }

  // ask_all(): GenServer.multi_call over this node and Node.list(): one call per node, answers
  // as they come.
  void ask_all() {
    auto all = nodes();
    all.push_back(self_node());
    for (const auto& n : all) {
      if (!waiting.insert(n).second) continue;  // already asked
      call<version_server>(n, get_version{}, [this, n](nodus::result<version_info> r) {
        waiting.erase(n);
        failed.erase(n);
        if (r) {
          versions[n] = *r;
          announced_major = std::max(announced_major, r->announced);
          // A node that came back (a fresh version_server) learns what was announced, so that
          // the knowledge outlives every node of a rolling deploy.
          if (r->announced < announced_major) {
            (void)cast<version_server>(n, announce{announced_major});
          }
        } else {
          versions.erase(n);
          failed.insert(n);
          log().warn("--- VersionMonitor: {} did not answer ({}); retrying in 1 s", n,
                     r.error().message());
          if (!retry_armed) {
            retry_armed = true;
            send_after(1s, recheck{});
          }
        }
        if (waiting.empty()) judge();
      });
    }
  }

  // judge(): every node asked has answered: in sync or not (not before the nodes that did not
  // answer are asked again).
  void judge() {
    if (versions.empty() || !failed.empty()) return;
    std::set<std::string> distinct;
    std::string all;
    for (const auto& [n, v] : versions) {
      distinct.insert(text(v));
      all += nodus::format("{}{} {}", all.empty() ? "" : ", ", n, text(v));
    }
    if (distinct.size() > 1) {
      log().warn("--- VersionMonitor: versions out of sync: {}", all);
      return;
    }
    const int major = versions.begin()->second.major;
    if (major > announced_major) {
      if (announced_major >= 0) {
        log().info("--- VersionMonitor: new major version {} runs on every node: {}", major, all);
      } else {
        log().info("--- VersionMonitor: every node runs {}", text(versions.begin()->second));
      }
      announced_major = major;
      for (const auto& [n, v] : versions) (void)cast<version_server>(n, announce{major});
    }
  }
};

// observer: the walkthrough's node up / node down lines.
struct observer
    : nodus::server<observer, nodus::info<nodus::node_up>, nodus::info<nodus::node_down>> {
  static constexpr nodus::fixed_string name = "observer";
  void init() { monitor_nodes(); }
  void handle_info(const nodus::node_up& e) { log().info("--- Node up: {}", e.node); }
  void handle_info(const nodus::node_down& e) { log().info("--- Node down: {}", e.node); }
};

using tree = nodus::supervisor<nodus::one_for_one, observer, version_server,
                               nodus::singleton<version_monitor>>;

namespace {

bool parse_version(std::string_view s, version_info& v) {
  return std::sscanf(std::string(s).c_str(), "%d.%d.%d", &v.major, &v.minor, &v.patch) == 3;
}

// smoke(): two nodes in this process, both 1.0.0: the monitor runs once and finds them in sync.
int smoke() {
  this_version = {{}, 1, 0, 0, -1};
  auto options = [](const char* name) {
    nodus::options o;
    o.name = nodus::node_name::parse(name).value();
    o.cookie = "smoke";
    o.epmd = false;
    o.cluster.form = false;
    o.level = nodus::log_level::warn;
    return o;
  };
  nodus::node<nodus::no_topology, protocol> a(options("v1@127.0.0.1")), b(options("v2@127.0.0.1"));
  if (!a.start(tree{}) || !b.start(tree{})) return 1;
  a.run_in_background();
  b.run_in_background();
  if (!b.connect(std::string(a.self().str()) + ":" + std::to_string(a.port()))) return 1;
  for (int i = 0; i < 500; ++i) {
    if (a.is_running<version_monitor>() != b.is_running<version_monitor>()) {
      auto r = a.call<version_server>(b.self(), get_version{});
      if (r && r->major == 1) {
        std::puts("version_monitor --smoke: ok");
        return 0;
      }
    }
    std::this_thread::sleep_for(10ms);
  }
  std::fputs("version_monitor --smoke: the monitor does not run exactly once\n", stderr);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string_view(argv[1]) == "--smoke") return smoke();
  auto opts = nodus::options::from_args(argc, argv);
  if (!opts) {
    std::fprintf(stderr, "version_monitor: %s\n", opts.error().message().c_str());
    return 2;
  }
  if (opts->help_requested) {
    std::fputs(nodus::options::help(argv[0]).c_str(), stdout);
    std::puts("  --app-version X.Y.Z   the version this node runs (default 1.0.0)");
    return 0;
  }
  this_version = {{}, 1, 0, 0, -1};
  for (std::size_t i = 0; i < opts->rest.size(); ++i) {
    if (opts->rest[i] == "--app-version" && i + 1 < opts->rest.size() &&
        parse_version(opts->rest[i + 1], this_version)) {
      ++i;
    } else {
      std::fprintf(stderr, "version_monitor: unknown or bad argument '%s'\n",
                   opts->rest[i].c_str());
      return 2;
    }
  }
  nodus::node<example_topology, protocol> node(*opts);
  if (auto r = node.start(tree{}); !r) {
    node.log().error("start failed: {}", r.error().message());
    return 1;
  }
  node.log().info("listening on port {} (version {})", node.port(), text(this_version));
  return node.run() ? 0 : 1;
}

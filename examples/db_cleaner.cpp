// examples/db_cleaner.cpp: part 2 of the series ("the periodic singleton process"): every node
// of the cluster runs the same supervision tree, and the database cleaner in it runs on exactly
// one node (nodus::singleton, over the cluster-wide names). Every 2 seconds it starts a cleaning
// task that takes up to a second and logs how many records it "deleted". Kill the node that runs
// it and another node takes over; start it again and the cleaner stays where it is.
//
//   ./db_cleaner --name n1@127.0.0.1 --cookie demo     (and n2, n3 in other terminals)
//   ./db_cleaner --smoke                               (two nodes in this process, for ctest)
//
// The cluster forms by itself as in simple_cluster (examples/topologies.hpp: the Epmd strategy
// over n1, n2, n3 @127.0.0.1). tests/examples/db_cleaner.sh kills the cleaner's node and checks
// that it resumes elsewhere.
#include <chrono>
#include <cstdio>
#include <random>
#include <string_view>
#include <thread>

#include <nodus/nodus.hpp>

#include "topologies.hpp"

using namespace std::chrono_literals;

struct clean {};  // the 2-second tick
struct cleaned {  // a cleaning task's end
  int records;
};

// db_cleaner: SimpleCluster.DatabaseCleaner. Its state (the runs so far) starts afresh on the node
// that takes over, as the Elixir one does.
struct db_cleaner : nodus::server<db_cleaner, nodus::info<clean>, nodus::info<cleaned>> {
  static constexpr nodus::fixed_string name = "db_cleaner";
  std::minstd_rand rng{std::random_device{}()};
  int runs = 0;

  void init() {
    log().info("--- DatabaseCleaner started on {}", self_node());
    send_interval(2s, clean{});
  }
  // The task: up to a second of "work" (a timer, so that the server stays responsive), then the
  // count of deleted records.
  void handle_info(const clean&) {
    send_after(std::chrono::milliseconds(rng() % 1000), cleaned{static_cast<int>(rng() % 10)});
  }
  void handle_info(const cleaned& c) {
    log().info("--- DatabaseCleaner: deleted {} records (run {} on {})", c.records, ++runs,
               self_node());
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

using tree = nodus::supervisor<nodus::one_for_one, observer, nodus::singleton<db_cleaner>>;

namespace {

// smoke(): two nodes in this process: the cleaner runs once, on one of them; stopping that node
// moves it to the other.
int smoke() {
  auto options = [](const char* name) {
    nodus::options o;
    o.name = nodus::node_name::parse(name).value();
    o.cookie = "smoke";
    o.epmd = false;
    o.cluster.form = false;
    o.level = nodus::log_level::warn;
    return o;
  };
  auto a = std::make_unique<nodus::node<>>(options("c1@127.0.0.1"));
  nodus::node<> b(options("c2@127.0.0.1"));
  if (!a->start(tree{}) || !b.start(tree{})) return 1;
  a->run_in_background();
  b.run_in_background();
  if (!b.connect(std::string(a->self().str()) + ":" + std::to_string(a->port()))) return 1;
  auto settled = [&](auto&& ok) {
    for (int i = 0; i < 500; ++i) {
      if (ok()) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  };
  // Each ran it alone before they met; once merged, one keeps it.
  if (!settled([&] { return a->is_running<db_cleaner>() != b.is_running<db_cleaner>(); })) {
    std::fputs("db_cleaner --smoke: the cleaner does not run exactly once\n", stderr);
    return 1;
  }
  const bool on_a = a->is_running<db_cleaner>();
  if (on_a) {
    a->stop();
    (void)a->join();
    a.reset();
  } else {
    b.stop();
    (void)b.join();
  }
  if (on_a && !settled([&] { return b.is_running<db_cleaner>(); })) {
    std::fputs("db_cleaner --smoke: the cleaner did not move to c2\n", stderr);
    return 1;
  }
  if (!on_a && !settled([&] { return a->is_running<db_cleaner>(); })) {
    std::fputs("db_cleaner --smoke: the cleaner did not move to c1\n", stderr);
    return 1;
  }
  std::puts("db_cleaner --smoke: ok");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string_view(argv[1]) == "--smoke") return smoke();
  auto opts = nodus::options::from_args(argc, argv);
  if (!opts) {
    std::fprintf(stderr, "db_cleaner: %s\n", opts.error().message().c_str());
    return 2;
  }
  if (opts->help_requested) {
    std::fputs(nodus::options::help(argv[0]).c_str(), stdout);
    return 0;
  }
  nodus::node<example_topology> node(*opts);
  if (auto r = node.start(tree{}); !r) {
    node.log().error("start failed: {}", r.error().message());
    return 1;
  }
  node.log().info("listening on port {}", node.port());
  return node.run() ? 0 : 1;
}

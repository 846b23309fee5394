// examples/simple_cluster.cpp: the walkthrough's SimpleCluster in C++: named nodes that find each
// other (the topology of examples/topologies.hpp, libcluster's part), watch each other come and
// go, and call each other's Ping server.
//
//   ./simple_cluster --name n1@127.0.0.1 --cookie secret
//   ./simple_cluster --name n2@127.0.0.1 --cookie secret      # any order: they meet
//
// Each node registers with the port mapper (EPMD) on port 4369, and serves one itself when none
// runs. Then type at the prompt (the iex session of the walkthrough):
//   connect n3@127.0.0.1   Node.connect (also name@ip:port)  -> true / false
//   list                   Node.list           -> the connected node names
//   ping                   SimpleCluster.Ping.ping: one {ok, NODE, pong} line per node
//   quit
// Elixir nodes running the walkthrough's application (examples/elixir/walkthrough.exs) are members
// like any other: `connect e1@127.0.0.1`, then `ping` reaches their SimpleCluster.Ping too.
// Other options: `simple_cluster --help` lists them all (--cluster-hosts A,B, --cluster-interval
// MS, --net-ticktime MS, --sync-nodes-optional A,B, --sync-nodes-timeout MS, --hidden,
// --log-level ...).
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>

#include <boost/hana/define_struct.hpp>
#include <nodus/nodus.hpp>

#include "topologies.hpp"

// The walkthrough's messages, :ping and {:ok, node(), :pong}: native messages between nodus
// nodes, and these Erlang terms (etf_tag: the leading atom) with Elixir nodes.
struct ping {
  static constexpr nodus::fixed_string etf_tag = "ping";
};
struct pong {
  static constexpr nodus::fixed_string etf_tag = "ok";
  BOOST_HANA_DEFINE_STRUCT(pong, (nodus::node_name, node),
                           (nodus::etf::atom_constant<"pong">, answer));
};
using protocol = nodus::protocol<ping, pong>;

// SimpleCluster.Ping: answers {ok, node(), pong}. Registered under the Elixir module's name, so
// that an Elixir node running the walkthrough (examples/elixir/walkthrough.exs) and this program
// call each other's Ping.
struct ping_server : nodus::server<ping_server, nodus::call<ping, pong>> {
  static constexpr nodus::fixed_string name = "Elixir.SimpleCluster.Ping";
  pong handle_call(const ping&, nodus::caller<pong>& from) {
    log().info("--- Receiving ping from {}", from);
    return {self_node(), {}};
  }
};

// SimpleCluster.Observer: :net_kernel.monitor_nodes(true) and a log line per event.
struct observer
    : nodus::server<observer, nodus::info<nodus::node_up>, nodus::info<nodus::node_down>> {
  static constexpr nodus::fixed_string name = "observer";
  void init() { monitor_nodes(); }
  void handle_info(const nodus::node_up& e) { log().info("--- Node up: {}", e.node); }
  void handle_info(const nodus::node_down& e) {
    log().info("--- Node down: {} ({})", e.node, e.reason);
  }
};

using node_type = nodus::node<example_topology, protocol>;

namespace {

void print(const std::string& line) {
  std::fputs((line + "\n").c_str(), stdout);
  std::fflush(stdout);
}

// ping_all(node): SimpleCluster.Ping.ping: calls Ping on every connected node.
void ping_all(node_type& node) {
  const auto nodes = node.list();
  if (nodes.empty()) print("[]");
  for (auto& [peer, r] : node.multi_call<ping_server>(nodes, ping{})) {
    if (r) {
      print(nodus::format("{{ok, {}, pong}}", r->node));
    } else {
      print(nodus::format("{{error, {}, {}}}", peer, r.error().message()));
    }
  }
}

// smoke(): two nodes in this process tell the story once: connect, list, ping, node down.
int smoke() {
  auto make = [](const char* name) {
    nodus::options o;
    o.name = nodus::node_name::parse(name).value();
    o.cookie = "smoke";
    o.epmd = false;          // the smoke test may run beside other nodes; it gives n2's port
    o.cluster.form = false;  // and sends nothing beyond loopback (no gossip, no DNS)
    return o;
  };
  node_type n1{make("n1@127.0.0.1")};
  node_type n2{make("n2@127.0.0.1")};
  if (!n1.start(nodus::supervisor<nodus::one_for_one, observer, ping_server>{}) ||
      !n2.start(nodus::supervisor<nodus::one_for_one, observer, ping_server>{})) {
    return 1;
  }
  n1.run_in_background();
  n2.run_in_background();
  const bool connected = n1.connect(nodus::format("n2@127.0.0.1:{}", n2.port()));
  print(connected ? "true" : "false");
  ping_all(n1);
  const auto replies = n1.multi_call<ping_server>(n1.list(), ping{});
  const bool ok = connected && n1.list().size() == 1 && n2.list().size() == 1 &&
                  replies.size() == 1 && replies[0].second && replies[0].second->node == n2.self();
  (void)n1.disconnect(n2.self());
  n1.stop();
  n2.stop();
  (void)n1.join();
  (void)n2.join();
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string_view(argv[1]) == "--smoke") return smoke();
  auto opts = nodus::options::from_args(argc, argv);
  if (!opts) {
    std::fprintf(stderr, "simple_cluster: %s\n", opts.error().message().c_str());
    return 2;
  }
  if (opts->help_requested) {  // every flag, from the parser's own table
    std::fputs(nodus::options::help(argv[0]).c_str(), stdout);
    return 0;
  }
  std::string connect_to;
  for (std::size_t i = 0; i < opts->rest.size(); ++i) {
    if (opts->rest[i] == "--connect" && i + 1 < opts->rest.size()) connect_to = opts->rest[++i];
  }
  if (opts->name.empty()) {
    std::fprintf(stderr, "simple_cluster: give --name NAME@HOST (and --cookie)\n");
    return 2;
  }
  node_type node{*opts};
  if (auto r = node.start(nodus::supervisor<nodus::one_for_one, observer, ping_server>{}); !r) {
    std::fprintf(stderr, "simple_cluster: %s\n", r.error().message().c_str());
    return 1;
  }
  node.run_in_background();
  node.log().info("{} listening on port {}", node.self(), node.port());
  if (!connect_to.empty()) print(node.connect(connect_to) ? "true" : "false");

  std::string line;
  while (std::getline(std::cin, line)) {
    const std::string_view l = line;
    if (l == "quit" || l == "q") break;
    if (l.rfind("connect ", 0) == 0) {
      print(node.connect(l.substr(8)) ? "true" : "false");
    } else if (l == "list") {
      std::string out = "[";
      for (const auto& n : node.list()) out += (out.size() > 1 ? ", " : "") + std::string(n.str());
      print(out + "]");
    } else if (l == "ping") {
      ping_all(node);
    } else if (!l.empty()) {
      print("commands: connect NAME@HOST[:PORT] | list | ping | quit");
    }
  }
  node.stop();
  auto r = node.join();
  return r ? 0 : 1;
}

// examples/download_requester.cpp: part 3 of the series ("the distributed download requester"):
// any node accepts a download request; a worker on the node the request's id hashes to moves it
// through pending, processing (with its progress) and ready with a file URL; every step is
// published on the user's topic (a process group, as Phoenix.PubSub's pg adapter does) and kept
// by every node's store, a replicated map with a time to live; a terminal view shows each of a
// user's downloads with a progress bar, live, and recovers them from the stores when it restarts.
// When a worker's node goes down, its unfinished downloads start again on the node they now hash
// to.
//
//   ./download_requester --name n1@127.0.0.1 --cookie demo            (n2 likewise)
//   ./download_requester --name n3@127.0.0.1 --cookie demo --watch alice
//   then type on n1's standard input:   request alice https://example.org/report.pdf
//   ./download_requester --smoke                               (two nodes in this process)
//
// Options after the node's own (--help lists those): --watch USER (the view), --step-ms N (the
// time of each of the ten processing steps, 200), --ttl-ms N (how long a store keeps a download
// after its last change, 60000). The cluster forms by itself as in simple_cluster
// (examples/topologies.hpp). tests/examples/download_requester.sh runs three processes.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

#include <nodus/nodus.hpp>

#include "topologies.hpp"

using namespace std::chrono_literals;

// A download's state, as the worker publishes it and every store keeps it. The newest wins:
// (attempt, step) grows with every change, attempt with every restart on another node.
enum : int { pending = 0, processing = 1, ready = 2 };
struct download {
  static constexpr nodus::fixed_string etf_tag = "download";
  BOOST_HANA_DEFINE_STRUCT(download, (std::string, id), (std::string, user), (std::string, url),
                           (int, status), (int, progress), (std::string, file_url),
                           (std::string, worker), (int, attempt), (int, step));
};
struct request_download {  // to a node's requester: any node accepts
  BOOST_HANA_DEFINE_STRUCT(request_download, (std::string, user), (std::string, url));
};
struct accepted {
  BOOST_HANA_DEFINE_STRUCT(accepted, (std::string, id), (std::string, worker));
};
struct start_download {  // to the worker of the node the id hashes to
  BOOST_HANA_DEFINE_STRUCT(start_download, (download, d));
};
struct get_snapshot {};  // a store's whole map
struct snapshot {
  BOOST_HANA_DEFINE_STRUCT(snapshot, (std::vector<download>, downloads));
};
using protocol =
    nodus::protocol<download, request_download, accepted, start_download, get_snapshot, snapshot>;

namespace {

int step_ms = 200;     // --step-ms
int ttl_ms = 60000;    // --ttl-ms
std::string watched;   // --watch USER
std::size_t rendered;  // lines the view drew last (a terminal redraws over them)

nodus::etf::term store_group() { return nodus::etf::term(nodus::etf::atom("download_store")); }
nodus::etf::term topic(const std::string& user) { return nodus::etf::term::binary("user:" + user); }

bool newer(const download& a, const download& b) {
  return std::tie(a.attempt, a.step) > std::tie(b.attempt, b.step);
}

// owner(id, nodes) -> the node a download runs on: rendezvous (highest random weight) hashing of
// the id over the nodes, so that every node picks the same one from the same list, and a node
// that goes away moves only its own downloads.
nodus::node_name owner(const std::string& id, std::vector<nodus::node_name> nodes) {
  std::sort(nodes.begin(), nodes.end());
  std::size_t best = 0;
  const nodus::node_name* pick = nullptr;
  for (const auto& n : nodes) {
    const std::size_t w = std::hash<std::string>{}(id + "/" + std::string(n.str()));
    if (pick == nullptr || w > best) {
      best = w;
      pick = &n;
    }
  }
  return *pick;
}

}  // namespace

// download_worker: on every node; moves a download through its steps with timers and publishes
// each to the stores and to the user's topic.
struct tick {
  std::string id;
};
struct download_worker
    : nodus::server<download_worker, nodus::cast<start_download>, nodus::info<tick>> {
  static constexpr nodus::fixed_string name = "download_worker";
  std::map<std::string, download> running;

  void handle_cast(const start_download& s) {
    download d = s.d;
    d.worker = std::string(self_node().str());
    d.status = pending;
    d.progress = 0;
    d.step += 1;
    running[d.id] = d;
    publish(d);
    send_after(std::chrono::milliseconds(step_ms), tick{d.id});
  }
  void handle_info(const tick& t) {
    auto it = running.find(t.id);
    if (it == running.end()) return;
    download& d = it->second;
    d.step += 1;
    d.progress = std::min(100, d.status == pending ? 0 : d.progress + 10);
    d.status = processing;
    if (d.progress == 100) {
      d.status = ready;
      d.file_url = "https://files.example.org/" + d.id + "/" + d.url.substr(d.url.rfind('/') + 1);
    }
    publish(d);
    if (d.status == ready) {
      log().info("--- download {} ready: {}", d.id, d.file_url);
      running.erase(it);
    } else {
      send_after(std::chrono::milliseconds(step_ms), tick{t.id});
    }
  }
  void publish(const download& d) {
    (void)groups().publish(store_group(), d);
    (void)groups().publish(topic(d.user), d);
  }
};

// download_store: on every node, a replica of every download (the newest state wins), dropped
// ttl_ms after its last change. At each node up it merges that node's store (a restarted node
// recovers everything; a healed partition converges). At a node down, it starts the unfinished
// downloads of that node's worker again where they now hash to.
struct expire {};
struct download_store : nodus::server<download_store, nodus::call<get_snapshot, snapshot>,
                                      nodus::info<download>, nodus::info<expire>,
                                      nodus::info<nodus::node_up>, nodus::info<nodus::node_down>> {
  static constexpr nodus::fixed_string name = "download_store";
  struct entry {
    download d;
    std::chrono::steady_clock::time_point changed;
  };
  std::map<std::string, entry> downloads;

  void init() {
    if (auto r = groups().join(store_group(), self_pid()); !r) {
      log().warn("download_store: no replication ({})", r.error().message());
    }
    monitor_nodes();
    send_interval(std::chrono::milliseconds(std::max(50, std::min(ttl_ms / 4, 1000))), expire{});
    for (const auto& n : nodes()) fetch(n);
  }
  snapshot handle_call(const get_snapshot&) {
    snapshot s;
    for (const auto& [id, e] : downloads) s.downloads.push_back(e.d);
    return s;
  }
  void handle_info(const download& d) { merge(d); }
  void handle_info(const expire&) {
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(downloads, [&](const auto& kv) {
      return now - kv.second.changed > std::chrono::milliseconds(ttl_ms);
    });
  }
  void handle_info(const nodus::node_up& e) { fetch(e.node); }
  void handle_info(const nodus::node_down& e) {
    auto alive = nodes();
    alive.push_back(self_node());
    for (const auto& [id, en] : downloads) {
      if (en.d.status == ready || en.d.worker != e.node.str()) continue;
      if (owner(id, alive) != self_node()) continue;  // another survivor restarts it
      download again = en.d;
      again.attempt += 1;
      again.step = 0;
      log().warn("--- download {}: its worker {} went down; starting it again here", id, e.node);
      (void)cast<download_worker>(start_download{again});
    }
  }

  void fetch(const nodus::node_name& n) {
    call<download_store>(n, get_snapshot{}, [this](nodus::result<snapshot> r) {
      if (!r) return;
      for (const auto& d : r->downloads) merge(d);
    });
  }
  void merge(const download& d) {
    auto it = downloads.find(d.id);
    if (it != downloads.end() && !newer(d, it->second.d)) return;
    downloads[d.id] = {d, std::chrono::steady_clock::now()};
  }
};

// download_requester: on every node; gives a request an id and sends it to its worker.
struct download_requester
    : nodus::server<download_requester, nodus::call<request_download, accepted>> {
  static constexpr nodus::fixed_string name = "download_requester";
  int counter = 0;
  accepted handle_call(const request_download& r) {
    download d{};
    d.id =
        nodus::format("{}-{}", self_node().str().substr(0, self_node().str().find('@')), ++counter);
    d.user = r.user;
    d.url = r.url;
    auto all = nodes();
    all.push_back(self_node());
    const auto to = owner(d.id, all);
    if (auto s = cast<download_worker>(to, start_download{d}); !s) {
      log().error("download {}: {} did not take it ({})", d.id, to, s.error().message());
      return {d.id, ""};
    }
    return {d.id, std::string(to.str())};
  }
};

// view: with --watch USER, the user's downloads with progress bars, live (the topic), and what
// the stores hold when it starts and at each node up (so a restarted view recovers them).
struct redraw {};
struct view
    : nodus::server<view, nodus::info<download>, nodus::info<redraw>, nodus::info<nodus::node_up>> {
  static constexpr nodus::fixed_string name = "view";
  std::map<std::string, download> mine;
  std::map<std::string, std::string> shown;  // the line each download showed last

  void init() {
    if (watched.empty()) return;
    if (auto r = groups().join(topic(watched), self_pid()); !r) {
      log().warn("view: cannot subscribe ({})", r.error().message());
    }
    monitor_nodes();
    send_interval(std::chrono::milliseconds(std::max(100, std::min(ttl_ms / 4, 1000))), redraw{});
    fetch(self_node());
    for (const auto& n : nodes()) fetch(n);
  }
  void handle_info(const download& d) { merge(d); }
  void handle_info(const nodus::node_up& e) { fetch(e.node); }
  void handle_info(const redraw&) {
    // The stores keep what the view shows: what they dropped (time to live) leaves the view.
    call<download_store>(get_snapshot{}, [this](nodus::result<snapshot> r) {
      if (!r) return;
      std::erase_if(mine, [&](const auto& kv) {
        const bool kept = std::any_of(r->downloads.begin(), r->downloads.end(),
                                      [&](const download& d) { return d.id == kv.first; });
        if (!kept) std::printf("[view] %s expired\n", kv.first.c_str());
        return !kept;
      });
      draw();
    });
  }

  void fetch(const nodus::node_name& n) {
    call<download_store>(n, get_snapshot{}, [this](nodus::result<snapshot> r) {
      if (!r) return;
      for (const auto& d : r->downloads) merge(d);
    });
  }
  void merge(const download& d) {
    if (d.user != watched) return;
    auto it = mine.find(d.id);
    if (it != mine.end() && !newer(d, it->second)) return;
    mine[d.id] = d;
    draw();
  }
  // draw(): on a terminal, the whole table over the last one; otherwise (a log, a test) one line
  // per download whose line changed.
  void draw() {
    static const bool tty = ::isatty(STDOUT_FILENO) == 1;
    std::string out;
    std::size_t lines = 0;
    for (const auto& [id, d] : mine) {
      const int filled = d.progress / 5;
      const char* what = d.status == ready     ? "ready"
                         : d.status == pending ? "pending"
                                               : "processing";
      std::string line =
          nodus::format("[view] {} {} [{}{}] {}% {} on {}{}", d.user, id,
                        std::string(static_cast<std::size_t>(filled), '#'),
                        std::string(static_cast<std::size_t>(20 - filled), '-'), d.progress, what,
                        d.worker, d.status == ready ? " -> " + d.file_url : "");
      if (tty) {
        out += line + "\033[K\n";
        ++lines;
      } else if (shown[id] != line) {
        out += line + "\n";
      }
      shown[id] = line;
    }
    if (tty) {
      if (rendered > 0) std::printf("\033[%zuA", rendered);
      for (std::size_t i = lines; i < rendered; ++i) out += "\033[K\n";
      rendered = std::max(lines, rendered);
    }
    std::fputs(out.c_str(), stdout);
    std::fflush(stdout);
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

using tree = nodus::supervisor<nodus::one_for_one, observer, download_store, download_worker,
                               download_requester, view>;

namespace {

// smoke(): two nodes in this process: a request on one is processed, and both stores end with it
// ready.
int smoke() {
  step_ms = 10;
  auto options = [](const char* name) {
    nodus::options o;
    o.name = nodus::node_name::parse(name).value();
    o.cookie = "smoke";
    o.epmd = false;
    o.cluster.form = false;
    o.level = nodus::log_level::warn;
    return o;
  };
  nodus::node<nodus::no_topology, protocol> a(options("d1@127.0.0.1")), b(options("d2@127.0.0.1"));
  if (!a.start(tree{}) || !b.start(tree{})) return 1;
  a.run_in_background();
  b.run_in_background();
  if (!b.connect(std::string(a.self().str()) + ":" + std::to_string(a.port()))) return 1;
  nodus::result<accepted> ok = nodus::error(nodus::errc::noproc);
  for (int i = 0; i < 200 && (!ok || ok->worker.empty()); ++i) {
    if (a.groups().members(store_group()).size() == 2) {
      ok = a.call<download_requester>(request_download{"smoke", "https://example.org/a.txt"});
    }
    if (!ok || ok->worker.empty()) std::this_thread::sleep_for(10ms);
  }
  if (!ok || ok->worker.empty()) {
    std::fputs("download_requester --smoke: the request was not accepted\n", stderr);
    return 1;
  }
  for (int i = 0; i < 500; ++i) {
    auto sa = a.call<download_store>(get_snapshot{});
    auto sb = b.call<download_store>(get_snapshot{});
    auto done = [&](const nodus::result<snapshot>& s) {
      return s && s->downloads.size() == 1 && s->downloads[0].status == ready;
    };
    if (done(sa) && done(sb)) {
      std::puts("download_requester --smoke: ok");
      return 0;
    }
    std::this_thread::sleep_for(10ms);
  }
  std::fputs("download_requester --smoke: the download did not become ready on both nodes\n",
             stderr);
  return 1;
}

bool int_arg(const std::vector<std::string>& rest, std::size_t& i, int& out) {
  if (i + 1 >= rest.size()) return false;
  try {
    out = std::stoi(rest[i + 1]);
  } catch (...) {
    return false;
  }
  ++i;
  return out > 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string_view(argv[1]) == "--smoke") return smoke();
  auto opts = nodus::options::from_args(argc, argv);
  if (!opts) {
    std::fprintf(stderr, "download_requester: %s\n", opts.error().message().c_str());
    return 2;
  }
  if (opts->help_requested) {
    std::fputs(nodus::options::help(argv[0]).c_str(), stdout);
    std::puts("  --watch USER          show USER's downloads with progress bars");
    std::puts("  --step-ms N           time of each of the ten processing steps (200)");
    std::puts(
        "  --ttl-ms N            how long a store keeps a download after its last change "
        "(60000)");
    std::puts("Standard input: `request USER URL` lines; each is accepted by this node.");
    return 0;
  }
  const auto& rest = opts->rest;
  for (std::size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == "--watch" && i + 1 < rest.size()) {
      watched = rest[++i];
    } else if (rest[i] == "--step-ms" && int_arg(rest, i, step_ms)) {
    } else if (rest[i] == "--ttl-ms" && int_arg(rest, i, ttl_ms)) {
    } else {
      std::fprintf(stderr, "download_requester: unknown or bad argument '%s'\n", rest[i].c_str());
      return 2;
    }
  }
  nodus::node<example_topology, protocol> node(*opts);
  if (auto r = node.start(tree{}); !r) {
    node.log().error("start failed: {}", r.error().message());
    return 1;
  }
  node.log().info("listening on port {}", node.port());
  node.run_in_background();
  // `request USER URL` lines from standard input, until it ends; then the node runs on.
  for (std::string line; std::getline(std::cin, line);) {
    char user[64] = {}, url[512] = {};
    if (std::sscanf(line.c_str(), "request %63s %511s", user, url) != 2) {
      if (!line.empty()) std::fprintf(stderr, "download_requester: expected `request USER URL`\n");
      continue;
    }
    auto r = node.call<download_requester>(request_download{user, url});
    if (r && !r->worker.empty()) {
      std::printf("accepted %s on %s\n", r->id.c_str(), r->worker.c_str());
    } else {
      std::printf("refused %s\n", r ? r->id.c_str() : r.error().message().c_str());
    }
    std::fflush(stdout);
  }
  return node.join() ? 0 : 1;
}

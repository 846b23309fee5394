// nodus/node.hpp: the node facade: nodus::node<Topology, Protocol> owns the io_context, the name
// registry, the top supervisor and the threads that run them.
//
//   nodus::node<> node{opts};
//   node.start(nodus::supervisor<nodus::one_for_one, observer, ping_server>{});
//   auto r = node.call<ping_server>(ping{});        // blocking; result<pong>
//   node.run();                                     // until stop() or the top supervisor gives up
#pragma once

#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <algorithm>
#include <functional>

#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>

#include "nodus/cluster/events.hpp"
#include "nodus/cluster/formation.hpp"
#include "nodus/cluster/node_table.hpp"
#include "nodus/cluster/strategy.hpp"
#include "nodus/core/error.hpp"
#include "nodus/core/format.hpp"
#include "nodus/core/log.hpp"
#include "nodus/core/node_name.hpp"
#include "nodus/epmd/client.hpp"
#include "nodus/fwd.hpp"
#include "nodus/message/protocol.hpp"
#include "nodus/process/detail/remote.hpp"
#include "nodus/process/detail/runtime.hpp"
#include "nodus/process/interface.hpp"
#include "nodus/process/server.hpp"
#include "nodus/process/supervisor.hpp"

namespace nodus {

namespace detail {
// waiter<T>: a one-shot slot a blocking caller waits on (a lighter std::promise/std::future).
template <class T>
class waiter {
 public:
  void set(T v) {
    {
      std::lock_guard lock(m_);
      if (done_) return;
      value_.emplace(std::move(v));
      done_ = true;
    }
    cv_.notify_all();
  }
  void abandon() {
    {
      std::lock_guard lock(m_);
      if (done_) return;
      done_ = true;
    }
    cv_.notify_all();
  }
  [[nodiscard]] bool ready() {
    std::lock_guard lock(m_);
    return done_;
  }
  // wait() -> the value, or nothing when the setter was dropped unset.
  std::optional<T> wait() {
    std::unique_lock lock(m_);
    cv_.wait(lock, [this] { return done_; });
    return std::move(value_);
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::optional<T> value_;
  bool done_ = false;
};
// waiter_setter<T>: the handler side (copyable); the first call sets the waiter, and the waiter
// is abandoned once every copy is gone unset (as a broken std::promise).
template <class T>
class waiter_setter {
  struct guard {
    std::shared_ptr<waiter<T>> w;
    ~guard() {
      if (w) w->abandon();
    }
  };

 public:
  explicit waiter_setter(std::shared_ptr<waiter<T>> w) : g_(std::make_shared<guard>()) {
    g_->w = std::move(w);
  }
  void operator()(T v) const { g_->w->set(std::move(v)); }

 private:
  std::shared_ptr<guard> g_;
};
}  // namespace detail

// no_topology: a node that forms no cluster by itself (the default Topology).
struct no_topology {};

// options: the run-time settings of a node.
struct options {
  node_name name;  // empty: a node that is not distributed, named nonode@nohost like Erlang's
  std::string cookie;
  unsigned threads = 1;                          // threads that run the node
  std::chrono::milliseconds call_timeout{5000};  // default timeout of call (GenServer's 5 s)
  log_level level = log_level::info;

  // Distribution (used when name is set).
  std::string address;     // where to listen; empty: the name's host if it is an IP, else 0.0.0.0
  std::uint16_t port = 0;  // TCP port to listen on; 0: an ephemeral one (see node::port())
  bool hidden = false;     // a hidden node: not in others' list(), never meshed (erl -hidden)
  std::chrono::milliseconds net_ticktime{60000};  // a silent peer is down after this (Erlang 60 s)
  std::chrono::milliseconds net_setuptime{7000};  // bound of a connection's handshake (7 s)
  std::size_t max_frame_size = std::size_t{64} << 20;  // a longer frame: the peer is disconnected
  // Nodes start() connects to before starting the servers (kernel's sync_nodes_*), as
  // "name@host:port" (or a name whose port is known); start() fails naming a missing mandatory
  // one after sync_nodes_timeout; optional ones are only waited for.
  std::vector<std::string> sync_nodes_optional;
  std::vector<std::string> sync_nodes_mandatory;
  std::chrono::milliseconds sync_nodes_timeout{0};

  // The port mapper (EPMD). A named node registers its name and port with the port mapper of
  // its host, and serves one itself when none answers (see epmd::agent); connect("n2@host")
  // asks host's port mapper for n2's port. false: no registration and no lookups (peers are
  // then given as "name@ip:port", or learnt from the mesh).
  bool epmd = true;
  // The port mapper's TCP port on every host; 0: $ERL_EPMD_PORT, else 4369 (as Erlang).
  std::uint16_t epmd_port = 0;

  // Run-time settings of the topology's strategies (hosts, DNS name, interval, secret, ...).
  cluster_options cluster;

  // from_args(argc, argv): --name NAME@HOST, --cookie C, --threads N, --call-timeout MS,
  // --log-level debug|info|warn|error|off, --address IP, --port P, --hidden, --net-ticktime MS,
  // --net-setuptime MS, --max-frame-size BYTES, --sync-nodes-optional A,B,..,
  // --sync-nodes-mandatory A,B,.., --sync-nodes-timeout MS, --epmd-port P, --no-epmd, and the
  // cluster settings: --no-cluster, --cluster-hosts [+]A,B,.. (replace, or add with a leading '+'),
  // --cluster-hosts-file PATH, --cluster-dns NAME, --cluster-dns-basename B,
  // --cluster-interval MS, --cluster-secret S, --cluster-wait MS, --gossip-group ADDR,
  // --gossip-port P, --gossip-if ADDR, --gossip-ttl N. Other arguments are left for the program
  // (see `rest`). Fails with a message naming the bad argument.
  [[nodiscard]] static result<options> from_args(int argc, const char* const* argv);
  std::vector<std::string> rest;  // arguments from_args did not consume, in order
};

namespace detail {
inline result<unsigned long long> parse_number(std::string_view flag, std::string_view text) {
  unsigned long long v = 0;
  const auto* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || p != end)
    return error(std::make_error_code(std::errc::invalid_argument),
                 format("{} expects a number, got '{}'", flag, text));
  return v;
}
}  // namespace detail

namespace detail {
inline std::vector<std::string> split_list(std::string_view list) {
  std::vector<std::string> out;
  while (!list.empty()) {
    const auto comma = list.find(',');
    if (comma != 0) out.emplace_back(list.substr(0, comma));
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return out;
}

// cluster_flag(o, flag, value): one --cluster-*, --gossip-* or --epmd-port flag (also used for
// the NODUS_CLUSTER_* environment variables).
inline result<void> cluster_flag(options& o, std::string_view a, std::string_view v) {
  auto bad = [](std::string msg) {
    return error(std::make_error_code(std::errc::invalid_argument), std::move(msg));
  };
  auto& c = o.cluster;
  if (a == "--cluster-hosts") {
    if (!v.empty() && v.front() == '+') {
      c.extra_hosts = split_list(v.substr(1));
    } else {
      c.hosts = split_list(v);
    }
  } else if (a == "--cluster-hosts-file") {
    c.hosts_file = std::string(v);
  } else if (a == "--cluster-dns") {
    c.dns_query = std::string(v);
  } else if (a == "--cluster-dns-basename") {
    c.dns_basename = std::string(v);
  } else if (a == "--cluster-secret") {
    c.secret = std::string(v);
  } else if (a == "--gossip-group") {
    c.gossip_group = std::string(v);
  } else if (a == "--gossip-if") {
    c.gossip_if = std::string(v);
  } else if (a == "--cluster-interval" || a == "--cluster-wait" || a == "--gossip-port" ||
             a == "--gossip-ttl" || a == "--epmd-port") {
    auto n = parse_number(a, v);
    if (!n) return n.error();
    if (a == "--cluster-interval") {
      if (*n == 0) return bad("--cluster-interval expects a positive number of milliseconds");
      c.interval = std::chrono::milliseconds(static_cast<long long>(*n));
    } else if (a == "--cluster-wait") {
      c.startup_wait = std::chrono::milliseconds(static_cast<long long>(*n));
    } else if (a == "--gossip-ttl") {
      if (*n > 255) return bad("--gossip-ttl expects 0 to 255");
      c.gossip_ttl = static_cast<int>(*n);
    } else {
      if (*n == 0 || *n > 65535) return bad(format("{} expects 1 to 65535", a));
      (a == "--epmd-port" ? o.epmd_port : c.gossip_port) = static_cast<std::uint16_t>(*n);
    }
  } else {
    return bad(format("unknown option {}", a));
  }
  return {};
}

// apply_cluster_env(o): the NODUS_CLUSTER_* environment variables, for settings not set
// already (flags and code win).
inline void apply_cluster_env(options& o, logger& log) {
  const struct {
    const char* env;
    const char* flag;
    bool set;
  } vars[] = {
      {"NODUS_CLUSTER_HOSTS", "--cluster-hosts",
       o.cluster.hosts.has_value() || !o.cluster.extra_hosts.empty()},
      {"NODUS_CLUSTER_HOSTS_FILE", "--cluster-hosts-file", !o.cluster.hosts_file.empty()},
      {"NODUS_CLUSTER_DNS", "--cluster-dns", !o.cluster.dns_query.empty()},
      {"NODUS_CLUSTER_DNS_BASENAME", "--cluster-dns-basename", !o.cluster.dns_basename.empty()},
      {"NODUS_CLUSTER_INTERVAL", "--cluster-interval", o.cluster.interval.count() != 0},
      {"NODUS_CLUSTER_SECRET", "--cluster-secret", o.cluster.secret.has_value()},
      {"NODUS_CLUSTER_WAIT", "--cluster-wait", o.cluster.startup_wait.count() != 0},
  };
  for (const auto& v : vars) {
    if (v.set) continue;
    const char* value = std::getenv(v.env);
    if (value == nullptr || *value == '\0') continue;
    if (auto r = cluster_flag(o, v.flag, value); !r) {
      log.warn("ignoring {}: {}", v.env, r.error().message());
    }
  }
}
}  // namespace detail

inline result<options> options::from_args(int argc, const char* const* argv) {
  options o;
  auto bad = [](std::string msg) {
    return error(std::make_error_code(std::errc::invalid_argument), std::move(msg));
  };
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> std::optional<std::string_view> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string_view(argv[++i]);
    };
    if (a == "--hidden") {
      o.hidden = true;
      continue;
    }
    if (a == "--no-epmd") {
      o.epmd = false;
      continue;
    }
    if (a == "--no-cluster") {
      o.cluster.form = false;
      continue;
    }
    if (a.rfind("--cluster-", 0) == 0 || a.rfind("--gossip-", 0) == 0 || a == "--epmd-port") {
      auto v = value();
      if (!v) return bad(format("{} needs a value", a));
      if (auto r = detail::cluster_flag(o, a, *v); !r) return r.error();
      continue;
    }
    if (a == "--address" || a == "--port" || a == "--net-ticktime" || a == "--net-setuptime" ||
        a == "--max-frame-size" || a == "--sync-nodes-optional" || a == "--sync-nodes-mandatory" ||
        a == "--sync-nodes-timeout") {
      auto v = value();
      if (!v) return bad(format("{} needs a value", a));
      auto split = detail::split_list;
      if (a == "--address") {
        o.address = std::string(*v);
      } else if (a == "--sync-nodes-optional") {
        o.sync_nodes_optional = split(*v);
      } else if (a == "--sync-nodes-mandatory") {
        o.sync_nodes_mandatory = split(*v);
      } else {
        auto n = detail::parse_number(a, *v);
        if (!n) return n.error();
        if (a == "--port") {
          if (*n > 65535) return bad("--port expects 0 to 65535");
          o.port = static_cast<std::uint16_t>(*n);
        } else if (a == "--max-frame-size") {
          if (*n < 1024) return bad("--max-frame-size expects at least 1024");
          o.max_frame_size = static_cast<std::size_t>(*n);
        } else {
          if (*n == 0 && a != "--sync-nodes-timeout")
            return bad(format("{} expects a positive number of milliseconds", a));
          const std::chrono::milliseconds ms(static_cast<long long>(*n));
          if (a == "--net-ticktime") {
            o.net_ticktime = ms;
          } else if (a == "--net-setuptime") {
            o.net_setuptime = ms;
          } else {
            o.sync_nodes_timeout = ms;
          }
        }
      }
      continue;
    }
    if (a == "--name" || a == "--cookie" || a == "--threads" || a == "--call-timeout" ||
        a == "--log-level") {
      auto v = value();
      if (!v) return bad(format("{} needs a value", a));
      if (a == "--name") {
        auto n = node_name::parse(*v);
        if (!n) return n.error();
        o.name = *n;
      } else if (a == "--cookie") {
        o.cookie = std::string(*v);
      } else if (a == "--threads") {
        auto n = detail::parse_number(a, *v);
        if (!n) return n.error();
        if (*n == 0 || *n > 256) return bad("--threads expects 1 to 256");
        o.threads = static_cast<unsigned>(*n);
      } else if (a == "--call-timeout") {
        auto n = detail::parse_number(a, *v);
        if (!n) return n.error();
        o.call_timeout = std::chrono::milliseconds(static_cast<long long>(*n));
      } else {
        const std::string_view l = *v;
        if (l == "debug")
          o.level = log_level::debug;
        else if (l == "info")
          o.level = log_level::info;
        else if (l == "warn")
          o.level = log_level::warn;
        else if (l == "error")
          o.level = log_level::error;
        else if (l == "off")
          o.level = log_level::off;
        else
          return bad(format("--log-level expects debug, info, warn, error or off, got '{}'", l));
      }
    } else {
      o.rest.emplace_back(a);
    }
  }
  return o;
}

// node<Topology, Protocol>: one node. Thread-safe unless noted. Topology and Protocol are where
// cluster formation and the wire protocol plug in; a node of one process needs neither.
template <class Topology, class Protocol>
class node {
 public:
  using topology_type = Topology;
  using protocol_type = Protocol;

  explicit node(options opts = {})
      : opts_(std::move(opts)),
        work_(asio::make_work_guard(io_)),
        rt_(io_, opts_.name.empty() ? node_name::parse("nonode@nohost").value() : opts_.name, log_,
            opts_.call_timeout) {
    log_.set_level(opts_.level);
    static_assert(
        std::is_same_v<Topology, no_topology> || requires { Topology::runners(); },
        "node<Topology, Protocol>: Topology is nodus::no_topology or a "
        "nodus::topology<Strategies...>");
    if (opts_.epmd_port == 0) opts_.epmd_port = epmd::port_from_env();
    detail::apply_cluster_env(opts_, log_);
    if (!opts_.name.empty()) {
      dist_ = std::make_unique<detail::distribution>(rt_);
      rt_.set_dist(dist_.get());
    }
  }
  node(const node&) = delete;
  node& operator=(const node&) = delete;
  // ~node(): stops the node (servers get terminate) and joins its threads.
  ~node() {
    try {
      stop();
      join_threads();
      std::lock_guard lock(m_);
      top_.reset();
      spawned_.clear();
    } catch (...) {  // only allocation or thread failures get here; a destructor must not throw
    }
  }

  // start(spec): starts the top supervisor and its children, in order; fails (and starts
  // nothing) when a child fails to start. Not from a thread of this node.
  //
  // A named node first listens (listen()) and syncs with options.sync_nodes_* (bounded by
  // options.sync_nodes_timeout; a missing mandatory node fails start with errc::nodedown naming
  // it).
  //
  // Then the topology's strategies start (start_cluster()): after the servers, so that a server
  // that monitors nodes sees the first node_up; before them when options.cluster.startup_wait is
  // set, and start() waits (at most that long) until every strategy ran its first round of
  // connects, for programs that must not start work on an empty cluster.
  template <class Strategy, class... Children>
  result<void> start(const supervisor<Strategy, Children...>& spec) {
    if (auto r = listen(); !r) return r;
    const bool form = opts_.cluster.form;
    const bool wait_cluster = form && opts_.cluster.startup_wait.count() > 0;
    if (wait_cluster) {
      start_cluster();
      wait_first_round();
    }
    if (auto r = sync_nodes(); !r) return r;
    if (auto r = start_tree(spec); !r) return r;
    if (form && !wait_cluster) start_cluster();
    return {};
  }

  // start_cluster(): starts the topology's strategies (start() calls it); idempotent. A node
  // without a name or without a topology has nothing to do.
  void start_cluster() {
    if constexpr (!std::is_same_v<Topology, no_topology>) {
      auto* t = table();
      if (t == nullptr) return;
      std::lock_guard lock(m_);
      if (formation_) return;
      cluster::formation_hooks h;
      h.self = rt_.self();
      h.node_port = t->port();
      h.epmd_port = opts_.epmd_port;
      h.settings = opts_.cluster;
      h.connect = [this](const cluster::node_target& target, std::function<void(bool)> done) {
        start_connect_target(target, std::move(done));
      };
      h.disconnect = [this](const node_name& n) { return disconnect(n); };
      h.is_connected = [this](const node_name& n) {
        auto* tt = table();
        return tt != nullptr && tt->is_connected(n);
      };
      h.log = [this](log_level level, const std::string& line) { log_.log(level, "{}", line); };
      formation_ = std::make_unique<cluster::formation>(io_, std::move(h));
      for (auto& r : Topology::runners()) formation_->add(std::move(r));
      formation_->start();
    }
  }

  // cluster_formed() -> every strategy of the topology ran its first round of connects (true
  // without a topology).
  [[nodiscard]] bool cluster_formed() const {
    std::lock_guard lock(m_);
    return !formation_ || formation_->first_round_done();
  }

  // epmd_agent() -> this node's registration with its host's port mapper (nullptr when
  // options.epmd is false or before listen()).
  [[nodiscard]] std::shared_ptr<epmd::agent> epmd_agent() const {
    std::lock_guard lock(m_);
    return epmd_;
  }

 private:
  template <class Strategy, class... Children>
  result<void> start_tree(const supervisor<Strategy, Children...>& spec) {
    {
      std::lock_guard lock(m_);
      if (top_) return error(errc::already_registered, "the node already has a top supervisor");
      top_ = detail::make_supervisor(rt_, spec);
      top_->on_exit = [this](const error& e) { on_top_exit(e); };
    }
    auto* top = top_.get();
    auto r = on_supervision(
        [top](std::function<void(result<void>)> done) { top->start(std::move(done)); });
    if (!r) {
      std::lock_guard lock(m_);
      top_.reset();
    }
    return r;
  }

  // wait_first_round(): until the strategies ran their first round, or startup_wait passed.
  void wait_first_round() {
    const auto deadline = std::chrono::steady_clock::now() + opts_.cluster.startup_wait;
    while (!cluster_formed() && std::chrono::steady_clock::now() < deadline) {
      if (running_threads_.load() == 0) {
        if (io_.stopped()) io_.restart();
        io_.run_one_for(std::chrono::milliseconds(10));
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));  // a bounded poll
      }
    }
    if (!cluster_formed()) {
      log_.warn("{}: the cluster's first round of connects did not finish within {}", rt_.self(),
                opts_.cluster.startup_wait);
    }
  }

 public:
  // listen(): a named node opens its TCP listener (options.address / port) so that other nodes can
  // connect; start() calls it. Idempotent. Errors: errc::not_connected naming the address when
  // it cannot bind; a node without a name has nothing to do.
  result<void> listen() {
    if (!dist_) return {};
    cluster::node_table_options o;
    o.self = opts_.name;
    o.cookie = opts_.cookie;
    o.address = opts_.address;
    if (o.address.empty()) {
      std::error_code ec;
      (void)asio::ip::make_address(std::string(opts_.name.host()), ec);
      o.address = ec ? "0.0.0.0" : std::string(opts_.name.host());
    }
    o.port = opts_.port;
    o.creation =
        static_cast<std::uint32_t>(std::chrono::system_clock::now().time_since_epoch().count()) |
        1u;
    o.setup_timeout = opts_.net_setuptime;
    o.ticktime = opts_.net_ticktime;
    o.max_frame_size = opts_.max_frame_size;
    o.hidden = opts_.hidden;
    o.protocol_fingerprint = Protocol::fingerprint;
    if (auto r = dist_->listen(std::move(o)); !r) return r;
    return register_epmd();
  }

  // port() -> the TCP port this node listens on (0 before listen() or without a name).
  [[nodiscard]] std::uint16_t port() const {
    auto* t = table();
    return t != nullptr ? t->port() : 0;
  }

  // async_connect(node, token): Node.connect: completes with true once node is connected (at
  // once when it is already, or is this node), false when it cannot be (nobody listening, wrong
  // cookie, a different protocol, setup timeout). node is "name@host:port", or a name whose port
  // this node learnt (from the mesh). Completion signature void(bool).
  template <class Token>
  auto async_connect(std::string_view target, Token&& token) {
    return asio::async_initiate<Token, void(bool)>(
        [this](auto handler, std::string text) {
          auto done = [h = std::make_shared<decltype(handler)>(std::move(handler))](bool ok) {
            auto ex = asio::get_associated_executor(*h);
            asio::post(ex, [h, ok]() mutable { std::move (*h)(ok); });
          };
          start_connect(text, std::move(done));
        },
        token, std::string(target));
  }

  // connect(node) -> bool: blocking async_connect, for main() and tests (false from a thread of
  // this node, where it would deadlock; use async_connect there).
  bool connect(std::string_view target) {
    if (rt_.in_node_thread()) {
      log_.error("connect({}) from a thread of {} would deadlock; use async_connect", target,
                 rt_.self());
      return false;
    }
    auto w = std::make_shared<detail::waiter<bool>>();
    start_connect(std::string(target), detail::waiter_setter<bool>(w));
    pump_until_ready(*w);
    auto r = w->wait();
    return r && *r;
  }
  bool connect(const node_name& to) { return connect(to.str()); }

  // disconnect(node) -> true when a connection to node was up and is now closed (node_down with
  // reason disconnect follows here, connection_closed there).
  bool disconnect(const node_name& to) {
    auto* t = table();
    return t != nullptr && t->disconnect(to);
  }

  // list(which) -> the connected nodes, sorted: visible ones by default (Node.list()), or
  // node_list::hidden / node_list::connected.
  [[nodiscard]] std::vector<node_name> list(
      cluster::node_list which = cluster::node_list::visible) const {
    auto* t = table();
    return t != nullptr ? t->list(which) : std::vector<node_name>{};
  }

  // on_node_up(cb) / on_node_down(cb): callback subscriptions to visible nodes coming and going
  // (the typed alternative to a server's monitor_nodes()). cb runs on a thread of the node; it
  // must not block.
  void on_node_up(std::function<void(const node_up&)> cb) {
    if (dist_) dist_->on_node_up(std::move(cb));
  }
  void on_node_down(std::function<void(const node_down&)> cb) {
    if (dist_) dist_->on_node_down(std::move(cb));
  }

  // spawn<S>(args...): starts an unsupervised server constructed from args (copied; a crash ends
  // it for good). Not from a thread of this node.
  template <class S, class... Args>
  result<void> spawn(Args&&... args) {
    auto c = std::make_unique<detail::cell<S>>(
        rt_, [... a = std::decay_t<Args>(static_cast<Args&&>(args))] {
          return std::make_unique<S>(a...);
        });
    auto* cell = c.get();
    auto r = on_supervision(
        [cell](const std::function<void(result<void>)>& done) { done(cell->start()); });
    if (r) {
      std::lock_guard lock(m_);
      spawned_.push_back(std::move(c));
    }
    return r;
  }

  // run(): runs the node on this thread and options.threads - 1 more until stop(); returns the
  // top supervisor's exit error when it gave up, success otherwise.
  result<void> run() {
    std::vector<std::thread> extra;
    running_threads_.fetch_add(static_cast<int>(opts_.threads));
    for (unsigned i = 1; i < opts_.threads; ++i) extra.emplace_back([this] { run_io(); });
    run_io();
    for (auto& t : extra) t.join();
    return exit_result();
  }

  // run_in_background(): starts options.threads threads that run the node until stop().
  void run_in_background() {
    std::lock_guard lock(m_);
    running_threads_.fetch_add(static_cast<int>(opts_.threads));
    for (unsigned i = 0; i < opts_.threads; ++i) threads_.emplace_back([this] { run_io(); });
  }

  // stop(): stops every server (in reverse start order), fails outstanding calls with
  // errc::shutdown, then lets the node's threads return. Idempotent; returns at once.
  void stop() {
    if (stopping_.exchange(true)) return;
    asio::post(rt_.supervision(), [this] { shutdown(); });
    if (running_threads_.load() == 0) {
      // Nobody runs the node: run the shutdown here.
      if (io_.stopped()) io_.restart();
      io_.run();
    }
  }

  // join(): waits for the threads of run_in_background() (after stop() or a supervisor giving
  // up) and returns like run().
  result<void> join() {
    join_threads();
    return exit_result();
  }

  // async_call<S>(msg[, timeout], token): calls the local server S. Completion signature:
  // void(nodus::result<Reply>). The handler runs on its associated executor (by default the
  // node's io_context). Fails with noproc when S is not running, server_crashed (with the reason)
  // when it crashes first, timeout after timeout (default options.call_timeout).
  template <class S, class Req, class Token>
  auto async_call(Req&& msg, std::chrono::milliseconds timeout, Token&& token) {
    using P = reply_t<S, std::remove_cvref_t<Req>>;
    return asio::async_initiate<Token, void(result<P>)>(
        [this, timeout](auto handler, auto&& m) {
          detail::start_call<S>(rt_, static_cast<decltype(m)&&>(m), timeout, std::move(handler));
        },
        token, static_cast<Req&&>(msg));
  }
  template <class S, class Req, class Token>
  requires(!std::is_convertible_v<Token, std::chrono::milliseconds>) auto async_call(
      Req&& msg, Token&& token) {
    return async_call<S>(static_cast<Req&&>(msg), opts_.call_timeout, static_cast<Token&&>(token));
  }

  // call<S>(msg[, timeout]) -> result<Reply>: blocking call, for main() and tests; fails with
  // errc::would_deadlock from a thread of this node and errc::not_running when no thread runs it.
  template <class S, class Req>
  result<reply_t<S, std::remove_cvref_t<Req>>> call(Req&& msg,
                                                    std::chrono::milliseconds timeout = {}) {
    using P = reply_t<S, std::remove_cvref_t<Req>>;
    if (rt_.in_node_thread())
      return error(errc::would_deadlock,
                   format("blocking call to '{}' from a thread of {}; use async_call",
                          S::name.view(), rt_.self()));
    if (running_threads_.load() == 0)
      return error(errc::not_running, format("no thread runs {}", rt_.self()));
    auto w = std::make_shared<detail::waiter<result<P>>>();
    detail::start_call<S>(rt_, static_cast<Req&&>(msg),
                          timeout.count() == 0 ? opts_.call_timeout : timeout,
                          detail::waiter_setter<result<P>>(w));
    if (auto r = w->wait()) return std::move(*r);
    return error(errc::shutdown, "the node stopped before the call completed");
  }

  // async_call<S>(node, msg[, timeout], token): calls S on node ({name, node} in Erlang), or
  // locally when node is this node. As async_call<S>(msg, ...), plus: errc::nodedown at once when
  // node is not connected or goes down before replying; the reply of a call that timed out is
  // dropped. msg may be a std::shared_ptr / unique_ptr to the message (sent without a copy).
  template <class S, class Req, class Token>
  auto async_call(const node_name& to, Req&& msg, std::chrono::milliseconds timeout,
                  Token&& token) {
    using P = reply_t<S, detail::message_type_t<Req>>;
    return asio::async_initiate<Token, void(result<P>)>(
        [this, to, timeout](auto handler, auto&& m) {
          this->template start_any_call<S>(to, static_cast<decltype(m)&&>(m), timeout,
                                           std::move(handler));
        },
        token, static_cast<Req&&>(msg));
  }
  template <class S, class Req, class Token>
  requires(!std::is_convertible_v<Token, std::chrono::milliseconds>) auto async_call(
      const node_name& to, Req&& msg, Token&& token) {
    return async_call<S>(to, static_cast<Req&&>(msg), opts_.call_timeout,
                         static_cast<Token&&>(token));
  }

  // call<S>(node, msg[, timeout]) -> result<Reply>: blocking remote call (see async_call).
  template <class S, class Req>
  result<reply_t<S, detail::message_type_t<Req>>> call(const node_name& to, Req&& msg,
                                                       std::chrono::milliseconds timeout = {}) {
    using P = reply_t<S, detail::message_type_t<Req>>;
    if (auto e = blocking_error<S>()) return *e;
    auto w = std::make_shared<detail::waiter<result<P>>>();
    start_any_call<S>(to, static_cast<Req&&>(msg),
                      timeout.count() == 0 ? opts_.call_timeout : timeout,
                      detail::waiter_setter<result<P>>(w));
    if (auto r = w->wait()) return std::move(*r);
    return error(errc::shutdown, "the node stopped before the call completed");
  }

  // multi_call<S>(nodes, msg[, timeout]) -> one (node, result) per node, in the order of nodes:
  // calls S on every node at once and waits for all (gen_server:multi_call; the seed's
  // Ping.ping over Node.list()). Blocking, like call.
  template <class S, class Req>
  std::vector<std::pair<node_name, result<reply_t<S, detail::message_type_t<Req>>>>> multi_call(
      const std::vector<node_name>& nodes, const Req& msg, std::chrono::milliseconds timeout = {}) {
    using R = detail::message_type_t<Req>;
    using P = reply_t<S, R>;
    std::vector<std::pair<node_name, result<P>>> out;
    out.reserve(nodes.size());
    if (auto e = blocking_error<S>()) {
      for (const auto& n : nodes) out.emplace_back(n, *e);
      return out;
    }
    auto shared = detail::share(R(detail::unshare(msg)));
    std::vector<std::shared_ptr<detail::waiter<result<P>>>> ws;
    for (const auto& n : nodes) {
      auto w = std::make_shared<detail::waiter<result<P>>>();
      ws.push_back(w);
      start_any_call<S>(n, std::shared_ptr<const R>(shared),
                        timeout.count() == 0 ? opts_.call_timeout : timeout,
                        detail::waiter_setter<result<P>>(w));
    }
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      auto r = ws[i]->wait();
      out.emplace_back(nodes[i],
                       r ? std::move(*r) : result<P>(error(errc::shutdown, "the node stopped")));
    }
    return out;
  }

  // cast<S>(node, msg) / send<S>(node, msg): to S on node (or locally); errc::nodedown when node
  // is not connected. Like Erlang's, delivery is not confirmed.
  template <class S, class M>
  result<void> cast(const node_name& to, M&& msg) {
    [[maybe_unused]] constexpr bool declared =
        detail::checked_cast<S, detail::message_type_t<M>>::ok;
    if (to == rt_.self()) return cast<S>(detail::unshare(static_cast<M&&>(msg)));
    return detail::send_remote<S, nodus::cast>(rt_, to, static_cast<M&&>(msg));
  }
  template <class S, class M>
  result<void> send(const node_name& to, M&& msg) {
    [[maybe_unused]] constexpr bool declared =
        detail::checked_info<S, detail::message_type_t<M>>::ok;
    if (to == rt_.self()) return send<S>(detail::unshare(static_cast<M&&>(msg)));
    return detail::send_remote<S, nodus::info>(rt_, to, static_cast<M&&>(msg));
  }

  // cast<S>(msg): queues msg for S's handle_cast; noproc when S is not running.
  template <class S, class M>
  result<void> cast(M&& msg) {
    [[maybe_unused]] constexpr bool declared =
        detail::checked_cast<S, std::remove_cvref_t<M>>::ok;  // reports an undeclared message
    return detail::enqueue<S, nodus::cast>(rt_, static_cast<M&&>(msg));
  }
  // send<S>(msg): queues msg for S's handle_info; noproc when S is not running.
  template <class S, class M>
  result<void> send(M&& msg) {
    [[maybe_unused]] constexpr bool declared =
        detail::checked_info<S, std::remove_cvref_t<M>>::ok;  // reports an undeclared message
    return detail::enqueue<S, nodus::info>(rt_, static_cast<M&&>(msg));
  }

  // whereis<S>() -> whether S runs here now.
  template <class S>
  [[nodiscard]] bool whereis() const {
    auto* c = rt_.whereis(S::name.view());
    return c != nullptr && c->running();
  }
  // registered() -> the names registered on this node, sorted.
  [[nodiscard]] std::vector<std::string> registered() const { return rt_.registered(); }

  [[nodiscard]] const node_name& self() const noexcept { return rt_.self(); }
  // alive() -> this node has a name (is distributed), as Node.alive?/0.
  [[nodiscard]] bool alive() const noexcept { return dist_ != nullptr; }
  [[nodiscard]] logger& log() noexcept { return log_; }
  [[nodiscard]] asio::io_context& io_context() noexcept { return io_; }
  [[nodiscard]] const options& opts() const noexcept { return opts_; }

 private:
  [[nodiscard]] cluster::node_table* table() const { return dist_ ? dist_->table() : nullptr; }

  template <class S>
  std::optional<error> blocking_error() const {
    if (rt_.in_node_thread())
      return error(errc::would_deadlock,
                   format("blocking call to '{}' from a thread of {}; use async_call",
                          S::name.view(), rt_.self()));
    if (running_threads_.load() == 0)
      return error(errc::not_running, format("no thread runs {}", rt_.self()));
    return std::nullopt;
  }

  template <class S, class Req, class Handler>
  void start_any_call(const node_name& to, Req&& msg, std::chrono::milliseconds timeout,
                      Handler&& h) {
    if (to == rt_.self()) {
      detail::start_call<S>(rt_, detail::unshare(static_cast<Req&&>(msg)), timeout,
                            static_cast<Handler&&>(h));
    } else {
      detail::start_remote_call<S>(rt_, to, static_cast<Req&&>(msg), timeout,
                                   static_cast<Handler&&>(h));
    }
  }

  // start_connect(text, done): done(bool) once, from a thread of the node (or here).
  template <class Done>
  void start_connect(const std::string& text, Done done) {
    if (table() == nullptr) {
      log_.error("connect({}): {} is not distributed (no name) or not listening", text, rt_.self());
      done(false);
      return;
    }
    auto target = cluster::detail::parse_target(text);
    if (!target) {
      log_.error("connect({}): {}", text, target.error().message());
      done(false);
      return;
    }
    start_connect_target(*target, std::move(done));
  }

  // start_connect_target(target, done): dials target at its endpoint, or at the port its host's
  // port mapper gives (falling back on a port learnt from the mesh).
  void start_connect_target(const cluster::node_target& target, std::function<void(bool)> done) {
    auto* t = table();
    if (t == nullptr) {
      done(false);
      return;
    }
    const node_name& n = target.name;
    if (target.endpoint) {
      t->connect(n, *target.endpoint, std::move(done));
      return;
    }
    if (n == rt_.self() || t->is_connected(n)) {
      done(true);
      return;
    }
    auto fallback = [this, n](std::function<void(bool)> d, asio::ip::address addr,
                              const std::string& why) {
      auto* tt = table();
      const auto port = tt != nullptr ? tt->known_port(n) : 0;
      if (port == 0) {
        log_.debug("connect({}): {}", n, why);
        d(false);
        return;
      }
      tt->connect(n, asio::ip::tcp::endpoint(addr, port), std::move(d));
    };
    cluster::detail::resolve_host(
        io_.get_executor(), std::string(n.host()),
        [this, n, done = std::move(done), fallback](result<asio::ip::address> a) mutable {
          if (!a) {
            log_.debug("connect({}): {}", n, a.error().message());
            done(false);
            return;
          }
          if (!opts_.epmd) {
            fallback(std::move(done), *a, "no port known for it (no EPMD); give \"name@ip:port\"");
            return;
          }
          epmd::async_port_please(io_.get_executor(), asio::ip::tcp::endpoint(*a, opts_.epmd_port),
                                  std::string(n.alive()), opts_.net_setuptime,
                                  [this, n, addr = *a, done = std::move(done),
                                   fallback](result<std::uint16_t> port) mutable {
                                    if (!port) {
                                      fallback(std::move(done), addr, port.error().message());
                                      return;
                                    }
                                    auto* tt = table();
                                    if (tt == nullptr) {
                                      done(false);
                                      return;
                                    }
                                    tt->connect(n, asio::ip::tcp::endpoint(addr, *port),
                                                std::move(done));
                                  });
        });
  }

  // register_epmd(): options.epmd: registers with the host's port mapper (serving one when none
  // answers), waiting for the answer.
  result<void> register_epmd() {
    if (!opts_.epmd || !dist_) return {};
    {
      std::lock_guard lock(m_);
      if (epmd_) return {};
    }
    epmd::agent_options o;
    o.name = std::string(rt_.self().alive());
    o.node_port = port();
    o.epmd_port = opts_.epmd_port;
    o.log = [this](log_level level, const std::string& line) { log_.log(level, "{}", line); };
    auto agent = epmd::agent::create(io_.get_executor(), std::move(o));
    auto w = std::make_shared<detail::waiter<result<void>>>();
    agent->start(detail::waiter_setter<result<void>>(w));
    pump_until_ready(*w);
    auto r = w->wait();
    if (!r) return error(errc::shutdown, "the node stopped while registering with EPMD");
    if (!*r) {
      agent->stop();
      return std::move(*r);
    }
    std::lock_guard lock(m_);
    epmd_ = std::move(agent);
    return {};
  }

  // pump_until_ready(w): waits for w; runs the node here meanwhile when no thread runs it.
  template <class W>
  void pump_until_ready(W& w) {
    if (running_threads_.load() != 0) return;
    if (io_.stopped()) io_.restart();
    while (!w.ready()) io_.run_one_for(std::chrono::milliseconds(50));
  }

  // sync_nodes(): connects to options.sync_nodes_* until all are up or the timeout passes
  // (retrying every 100 ms, since the others may still be starting).
  result<void> sync_nodes() {
    std::vector<std::string> all = opts_.sync_nodes_mandatory;
    all.insert(all.end(), opts_.sync_nodes_optional.begin(), opts_.sync_nodes_optional.end());
    if (all.empty() || !dist_) return {};
    const auto deadline = std::chrono::steady_clock::now() + opts_.sync_nodes_timeout;
    std::vector<bool> up(all.size(), false);
    for (;;) {
      std::vector<std::shared_ptr<detail::waiter<bool>>> ws(all.size());
      for (std::size_t i = 0; i < all.size(); ++i) {
        if (up[i]) continue;
        ws[i] = std::make_shared<detail::waiter<bool>>();
        start_connect(all[i], detail::waiter_setter<bool>(ws[i]));
      }
      for (std::size_t i = 0; i < all.size(); ++i) {
        if (!ws[i]) continue;
        pump_until_ready(*ws[i]);
        auto r = ws[i]->wait();
        up[i] = r && *r;
      }
      const bool done = std::find(up.begin(), up.end(), false) == up.end();
      if (done || std::chrono::steady_clock::now() >= deadline) break;
      const auto pause = std::min<std::chrono::steady_clock::duration>(
          std::chrono::milliseconds(100), deadline - std::chrono::steady_clock::now());
      if (running_threads_.load() == 0) {
        if (io_.stopped()) io_.restart();
        io_.run_for(pause);
      } else {
        std::this_thread::sleep_for(pause);  // a retry interval, not a synchronisation
      }
    }
    for (std::size_t i = 0; i < opts_.sync_nodes_mandatory.size(); ++i) {
      if (!up[i]) {
        return error(errc::nodedown, format("sync_nodes_mandatory: {} did not connect within {}",
                                            all[i], opts_.sync_nodes_timeout));
      }
    }
    return {};
  }

  // on_supervision(f): runs f(done) on the supervision strand and waits for done(result).
  template <class F>
  result<void> on_supervision(F f) {
    if (rt_.in_node_thread())
      return error(errc::would_deadlock, "starting servers from a thread of the node");
    auto w = std::make_shared<detail::waiter<result<void>>>();
    asio::post(rt_.supervision(),
               [f = std::move(f), w]() mutable { f(detail::waiter_setter<result<void>>(w)); });
    if (running_threads_.load() == 0) {
      if (io_.stopped()) io_.restart();
      while (!w->ready()) io_.run_one();
    }
    if (auto r = w->wait()) return std::move(*r);
    return error(errc::shutdown, "the node stopped while starting");
  }

  // run_io(): one thread's share; the spawner counted it in running_threads_ beforehand.
  void run_io() {
    io_.run();
    running_threads_.fetch_sub(1);
  }

  void join_threads() {
    std::vector<std::thread> ts;
    {
      std::lock_guard lock(m_);
      ts.swap(threads_);
    }
    for (auto& t : ts)
      if (t.joinable()) t.join();
  }

  result<void> exit_result() {
    std::lock_guard lock(m_);
    if (exit_) return *exit_;
    return {};
  }

  void on_top_exit(const error& e) {
    {
      std::lock_guard lock(m_);
      exit_ = e;
    }
    log_.error("{} stops: {}", rt_.self(), e.message());
    stopping_ = true;
    shutdown();
  }

  // shutdown(): on the supervision strand: stop the unsupervised servers, then the tree.
  void shutdown() { stop_spawned(0); }

  void stop_spawned(std::size_t done_count) {
    detail::cell_base* c = nullptr;
    {
      std::lock_guard lock(m_);
      if (done_count < spawned_.size()) c = spawned_[spawned_.size() - 1 - done_count].get();
    }
    if (c != nullptr) {
      c->stop(error(errc::shutdown, "shutdown"),
              [this, done_count] { stop_spawned(done_count + 1); });
      return;
    }
    detail::supervisor_node* top = nullptr;
    {
      std::lock_guard lock(m_);
      top = top_.get();
    }
    if (top != nullptr) {
      top->stop([this] { finish(); });
    } else {
      finish();
    }
  }

  // finish(): close the connections, fail outstanding calls and let io_context::run() return
  // once idle.
  void finish() {
    std::shared_ptr<epmd::agent> agent;
    {
      std::lock_guard lock(m_);
      if (formation_) formation_->stop();
      agent = epmd_;
    }
    if (agent) agent->stop();
    if (dist_) dist_->shutdown();
    rt_.timeouts().shutdown();
    work_.reset();
  }

  options opts_;
  logger log_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  detail::runtime rt_;
  std::unique_ptr<detail::distribution> dist_;  // outlives the servers (declared before them)
  mutable std::mutex m_;
  std::shared_ptr<epmd::agent> epmd_;              // registration with the port mapper
  std::unique_ptr<cluster::formation> formation_;  // the topology's strategies
  std::unique_ptr<detail::supervisor_node> top_;
  std::vector<std::unique_ptr<detail::cell_base>> spawned_;
  std::vector<std::thread> threads_;
  std::optional<error> exit_;
  std::atomic<int> running_threads_{0};
  std::atomic<bool> stopping_{false};
};

}  // namespace nodus

// nodus/cluster/topology.hpp: cluster formation declared as types, libcluster's topologies in
// C++: `using topology = nodus::topology<nodus::epmd_strategy<nodus::hosts<"n1@127.0.0.1",
// "n2@127.0.0.1">>>;` and the strategies that go through the port mapper (EPMD): epmd_strategy,
// local_epmd_strategy, erlang_hosts_strategy. gossip_strategy and dns_poll_strategy have their
// own headers.
#pragma once

#include <array>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include "nodus/cluster/formation.hpp"
#include "nodus/cluster/strategy.hpp"
#include "nodus/core/fixed_string.hpp"
#include "nodus/core/format.hpp"
#include "nodus/core/node_name.hpp"
#include "nodus/detail/node_core.hpp"
#include "nodus/epmd/client.hpp"

namespace nodus {

// topology<Strategies...>: the strategies a node runs to form its cluster, each one like an
// entry of libcluster's `topologies` list. Give it as the node's first template argument:
// `nodus::node<topology, protocol>`. Strategies run side by side; a node is dialled when any
// strategy wants it.
template <class... Strategies>
struct topology {
  static_assert(sizeof...(Strategies) > 0,
                "nodus::topology<> needs at least one strategy; use nodus::no_topology for a node "
                "that forms no cluster by itself");
  // Completes each strategy type here, so that its own checks fire where the topology is used.
  static_assert(((sizeof(Strategies) > 0) && ...));
  // runners() -> one engine runner per strategy (the node calls it when it starts its cluster).
  static std::vector<std::unique_ptr<cluster::strategy_runner>> runners() {
    std::vector<std::unique_ptr<cluster::strategy_runner>> out;
    (out.push_back(cluster::detail::make_runner<Strategies>()), ...);
    return out;
  }
};

// hosts<"n1@127.0.0.1", "n2@127.0.0.1">: a static list of node names, each checked at compile
// time (an invalid name fails to compile, saying what is wrong). A name may end in ":port" when
// the node's port is fixed and the port mapper is not to be asked.
template <fixed_string... Names>
struct hosts {
  static constexpr std::array<std::string_view, sizeof...(Names)> names{Names.view()...};
  // Each name through node_name::from, whose static_asserts say what is wrong with a bad one.
  static constexpr bool valid = ((node_name::from<Names>(), true) && ... && true);
};

namespace cluster::detail {

template <class T>
struct is_hosts : std::false_type {};
template <fixed_string... Names>
struct is_hosts<hosts<Names...>> : std::true_type {};

// hosts_list<Options...>(): the names of the first hosts<...> option.
template <class... Options>
std::vector<std::string> hosts_list() {
  std::vector<std::string> out;
  [[maybe_unused]] bool found = false;
  (
      [&] {
        if constexpr (is_hosts<Options>::value) {
          if (!found) {
            for (auto n : Options::names) out.emplace_back(n);
            found = true;
          }
        }
      }(),
      ...);
  return out;
}

// names_on_hosts(ctx, hosts, cb): asks the port mapper of each host for its registered names;
// cb(nodes "name@host" for every host that answered; the hosts that did not).
inline void names_on_hosts(
    const std::shared_ptr<strategy_context>& ctx, std::vector<std::string> hosts,
    std::function<void(std::vector<node_target>, std::vector<std::string>)> cb) {
  struct gather {
    std::vector<node_target> found;
    std::vector<std::string> failed;
    std::size_t pending = 0;
    std::function<void(std::vector<node_target>, std::vector<std::string>)> cb;
  };
  auto g = std::make_shared<gather>();
  g->cb = std::move(cb);
  g->pending = hosts.size();
  if (hosts.empty()) {
    asio::post(ctx->executor(), [g] { g->cb({}, {}); });
    return;
  }
  auto ex = ctx->executor();
  const auto timeout = std::min<std::chrono::milliseconds>(
      std::chrono::milliseconds(3000), effective_interval(*ctx, default_interval));
  for (auto& h : hosts) {
    auto finish = [g, ex](std::vector<node_target> nodes, std::string failed) {
      asio::post(ex, [g, nodes = std::move(nodes), failed = std::move(failed)]() mutable {
        for (auto& n : nodes) g->found.push_back(std::move(n));
        if (!failed.empty()) g->failed.push_back(std::move(failed));
        if (--g->pending == 0) g->cb(std::move(g->found), std::move(g->failed));
      });
    };
    resolve_host(ex, h, [ctx, ex, h, timeout, finish](result<asio::ip::address> a) {
      if (!a) {
        finish({}, h);
        return;
      }
      epmd::async_names(ex, asio::ip::tcp::endpoint(*a, ctx->epmd_port()), timeout,
                        [h, finish](result<std::vector<epmd::node_entry>> r) {
                          if (!r) {
                            finish({}, h);
                            return;
                          }
                          std::vector<node_target> nodes;
                          for (const auto& e : *r) {
                            auto n = node_name::parse(e.name + "@" + h);
                            if (n) nodes.push_back(node_target{*n, std::nullopt});
                          }
                          finish(std::move(nodes), {});
                        });
    });
  }
}

// A strategy that polls with a function of (ctx, done(targets)) every interval.
template <class Derived>
class polling_base {
 public:
  void start(std::shared_ptr<strategy_context> ctx) {
    s_ = std::make_shared<state>();
    s_->ctx = std::move(ctx);
    s_->timer.emplace(s_->ctx->executor());
    s_->every = effective_interval(*s_->ctx, Derived::interval);
    asio::post(s_->ctx->executor(), [s = s_] { tick(s); });
  }
  void stop() {
    if (s_) asio::post(s_->ctx->executor(), [s = s_] { s->timer->cancel(); });
  }

 private:
  struct state {
    std::shared_ptr<strategy_context> ctx;
    std::optional<asio::steady_timer> timer;
    std::chrono::milliseconds every{};
  };
  static void tick(const std::shared_ptr<state>& s) {
    if (s->ctx->stopped()) return;
    Derived::poll(s->ctx, [s](std::vector<node_target> nodes) {
      if (s->ctx->stopped()) return;
      s->ctx->set_nodes(std::move(nodes), false);
      s->timer->expires_after(s->every);
      s->timer->async_wait([s](std::error_code ec) {
        if (!ec) tick(s);
      });
    });
  }
  std::shared_ptr<state> s_;
};

}  // namespace cluster::detail

// epmd_strategy<hosts<...>, Options...>: libcluster's Cluster.Strategy.Epmd: connects to the
// listed nodes (their ports from each host's port mapper), logs a node it cannot reach
// ("[nodus:epmd] unable to connect to n2@127.0.0.1") and retries it every polling interval
// (nodus::polling_interval<Ms>; 5 s by default); a node that went down and comes back is
// reconnected. Run-time: cluster_options::hosts replaces the list, extra_hosts adds to it.
template <class Hosts, class... Options>
struct epmd_strategy {
  static_assert(cluster::detail::is_hosts<Hosts>::value,
                "epmd_strategy's first argument lists the nodes: "
                "nodus::epmd_strategy<nodus::hosts<\"n1@127.0.0.1\", \"n2@127.0.0.1\">>");
  static_assert(Hosts::valid);
  static constexpr std::string_view label = "epmd";
  static constexpr std::chrono::milliseconds interval =
      cluster::detail::interval_of<Options...>(cluster::detail::default_interval);

  [[nodiscard]] std::vector<std::string> nodes(cluster::strategy_context& ctx) const {
    std::vector<std::string> out;
    if (ctx.settings().hosts) {
      out = *ctx.settings().hosts;
    } else {
      out = cluster::detail::hosts_list<Hosts>();
    }
    for (const auto& e : ctx.settings().extra_hosts) out.push_back(e);
    return out;
  }
};

// local_epmd_strategy<Options...>: libcluster's Cluster.Strategy.LocalEpmd: every node
// registered with this host's port mapper (named name@<this node's host>), polled every
// interval (nodus::polling_interval<Ms>; 5 s by default).
template <class... Options>
struct local_epmd_strategy : cluster::detail::polling_base<local_epmd_strategy<Options...>> {
  static constexpr std::string_view label = "local_epmd";
  static constexpr std::chrono::milliseconds interval =
      cluster::detail::interval_of<Options...>(cluster::detail::default_interval);

  static void poll(const std::shared_ptr<cluster::strategy_context>& ctx,
                   std::function<void(std::vector<cluster::node_target>)> done) {
    cluster::detail::names_on_hosts(
        ctx, {std::string(ctx->self().host())},
        [ctx, done = std::move(done)](std::vector<cluster::node_target> nodes,
                                      std::vector<std::string> failed) {
          if (!failed.empty()) {
            ctx->log(log_level::warn, format("the port mapper of {} did not answer", failed[0]));
          }
          done(std::move(nodes));
        });
  }
};

// hosts_file<"path">: erlang_hosts_strategy's file (default: .hosts.erlang in the working
// directory, then in $HOME, as net_adm:host_file/0).
template <fixed_string Path>
struct hosts_file {
  static constexpr std::string_view value = Path.view();
};

namespace cluster::detail {

template <class T>
struct is_hosts_file : std::false_type {};
template <fixed_string P>
struct is_hosts_file<hosts_file<P>> : std::true_type {};

template <class... Options>
std::string hosts_file_of() {
  std::string r;
  (
      [&] {
        if constexpr (is_hosts_file<Options>::value) {
          if (r.empty()) r = std::string(Options::value);
        }
      }(),
      ...);
  return r;
}

// parse_hosts_erlang(text) -> the host names of a .hosts.erlang file: Erlang terms, each a quoted
// atom ('host') or a bare atom, ended by '.'; %-comments are skipped. Malformed terms are
// skipped (the second value counts them).
inline std::pair<std::vector<std::string>, std::size_t> parse_hosts_erlang(std::string_view t) {
  std::vector<std::string> out;
  std::size_t bad = 0;
  std::size_t i = 0;
  auto skip_space = [&] {
    for (;;) {
      while (i < t.size() && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) ++i;
      if (i < t.size() && t[i] == '%') {
        while (i < t.size() && t[i] != '\n') ++i;
        continue;
      }
      return;
    }
  };
  for (;;) {
    skip_space();
    if (i >= t.size()) break;
    std::string host;
    bool ok = true;
    if (t[i] == '\'') {
      const auto end = t.find('\'', i + 1);
      if (end == std::string_view::npos) break;
      host = std::string(t.substr(i + 1, end - i - 1));
      i = end + 1;
    } else {
      const auto start = i;
      while (i < t.size() && t[i] != '.' && t[i] != ' ' && t[i] != '\n' && t[i] != '\t' &&
             t[i] != '\r') {
        ++i;
      }
      host = std::string(t.substr(start, i - start));
      // A bare atom: a lower-case letter, then letters, digits, _ and @ (a dotted host needs
      // quotes).
      ok = !host.empty() && host[0] >= 'a' && host[0] <= 'z';
    }
    skip_space();
    if (i < t.size() && t[i] == '.') {
      ++i;
    } else {
      // Skip to the end of the bad term: a '.' followed by white space or the end, outside
      // quotes (Erlang's end of a term).
      ok = false;
      while (i < t.size()) {
        if (t[i] == '\'') {
          const auto end = t.find('\'', i + 1);
          i = end == std::string_view::npos ? t.size() : end + 1;
          continue;
        }
        if (t[i] == '.' && (i + 1 == t.size() || t[i + 1] == ' ' || t[i + 1] == '\n' ||
                            t[i + 1] == '\t' || t[i + 1] == '\r' || t[i + 1] == '%')) {
          ++i;
          break;
        }
        ++i;
      }
    }
    if (ok && !host.empty() && host.size() <= 255) {
      out.push_back(std::move(host));
    } else {
      ++bad;
    }
  }
  return {std::move(out), bad};
}

}  // namespace cluster::detail

// erlang_hosts_strategy<Options...>: libcluster's Cluster.Strategy.ErlangHosts: the hosts of a
// .hosts.erlang file (nodus::hosts_file<"path">, or cluster_options::hosts_file at run time),
// each host's registered names from its port mapper, connected as name@host; the file is read
// again every interval (nodus::polling_interval<Ms>; 5 s by default). A missing file or a host
// whose port mapper does not answer is logged and retried, never fatal.
template <class... Options>
struct erlang_hosts_strategy : cluster::detail::polling_base<erlang_hosts_strategy<Options...>> {
  static constexpr std::string_view label = "erlang_hosts";
  static constexpr std::chrono::milliseconds interval =
      cluster::detail::interval_of<Options...>(cluster::detail::default_interval);

  static void poll(const std::shared_ptr<cluster::strategy_context>& ctx,
                   std::function<void(std::vector<cluster::node_target>)> done) {
    std::vector<std::string> candidates;
    if (!ctx->settings().hosts_file.empty()) {
      candidates.push_back(ctx->settings().hosts_file);
    } else if (auto p = cluster::detail::hosts_file_of<Options...>(); !p.empty()) {
      candidates.push_back(std::move(p));
    } else {
      candidates.emplace_back(".hosts.erlang");
      if (const char* home = std::getenv("HOME")) {
        candidates.push_back(std::string(home) + "/.hosts.erlang");
      }
    }
    std::string text;
    bool read = false;
    for (const auto& c : candidates) {
      std::ifstream in(c, std::ios::binary);
      if (!in) continue;
      text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      read = true;
      break;
    }
    if (!read) {
      ctx->log(log_level::warn, format("no hosts file found (looked for {})", candidates[0]));
      done({});
      return;
    }
    auto [hosts, bad] = cluster::detail::parse_hosts_erlang(text);
    if (bad != 0)
      ctx->log(log_level::warn, format("hosts file: skipped {} malformed term(s)", bad));
    cluster::detail::names_on_hosts(
        ctx, std::move(hosts),
        [ctx, done = std::move(done)](std::vector<cluster::node_target> nodes,
                                      std::vector<std::string> failed) {
          for (const auto& h : failed) {
            ctx->log(log_level::debug, format("the port mapper of {} did not answer", h));
          }
          done(std::move(nodes));
        });
  }
};

namespace detail {

// topology_formation: the formation engine of a node's topology, as the node core keeps it.
class topology_formation final : public formation_handle {
 public:
  topology_formation(asio::io_context& io, cluster::formation_hooks h) : engine(io, std::move(h)) {}
  void stop() override { engine.stop(); }
  [[nodiscard]] bool first_round_done() const override { return engine.first_round_done(); }
  cluster::formation engine;
};

// make_formation(core, runners) -> the started formation of runners on core's distribution.
inline std::unique_ptr<formation_handle> make_formation(
    node_core& core, std::vector<std::unique_ptr<cluster::strategy_runner>> runners) {
  cluster::formation_hooks h;
  h.self = core.self();
  h.node_port = core.port();
  h.epmd_port = core.opts().epmd_port;
  h.settings = core.opts().cluster;
  h.connect = [&core](const cluster::node_target& t, std::function<void(bool)> done) {
    auto* d = core.dist();
    if (d == nullptr) {
      done(false);
    } else if (t.endpoint) {
      d->connect_at(t.name, t.endpoint->address().to_string(), t.endpoint->port(), std::move(done));
    } else {
      d->connect_at(t.name, {}, 0, std::move(done));
    }
  };
  h.disconnect = [&core](const node_name& n) { return core.disconnect(n); };
  h.is_connected = [&core](const node_name& n) { return core.is_connected(n); };
  h.log = [&core](log_level level, const std::string& line) { core.log().log(level, "{}", line); };
  auto f = std::make_unique<topology_formation>(core.io(), std::move(h));
  for (auto& r : runners) f->engine.add(std::move(r));
  f->engine.start();
  return f;
}

template <class Topology>
std::unique_ptr<formation_handle> start_formation(node_core& core) {
  return make_formation(core, Topology::runners());
}

}  // namespace detail

}  // namespace nodus

// nodus/cluster/topology.hpp: cluster formation declared as types, libcluster's topologies in
// C++: `using topology = nodus::topology<nodus::epmd_strategy<nodus::hosts<"n1@127.0.0.1",
// "n2@127.0.0.1">>>;` and the strategies that go through the port mapper (EPMD): epmd_strategy,
// local_epmd_strategy, erlang_hosts_strategy. gossip_strategy and dns_poll_strategy have their
// own headers. The strategies' type-independent parts are compiled once
// (cluster/impl/topology.ipp).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "nodus/cluster/formation.hpp"
#include "nodus/cluster/strategy.hpp"
#include "nodus/config.hpp"
#include "nodus/core/fixed_string.hpp"
#include "nodus/core/node_name.hpp"
#include "nodus/detail/node_core.hpp"

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
  // runners() -> how to make one engine runner per strategy (the node makes them when it starts
  // its cluster).
  static std::span<const cluster::detail::runner_maker> runners() noexcept { return makers; }

 private:
  static constexpr cluster::detail::runner_maker makers[] = {
      &cluster::detail::new_runner<Strategies>...};
};

// hosts<"n1@127.0.0.1", "n2@127.0.0.1">: a static list of node names, each checked at compile
// time (an invalid name fails to compile, saying what is wrong). A name may end in ":port" when
// the node's port is fixed and the port mapper is not to be asked.
template <fixed_string... Names>
struct hosts {
  static constexpr std::array<std::string_view, sizeof...(Names)> names{Names.view()...};
  // Each name through node_name::from, whose static_asserts say what is wrong with a bad one.
  static constexpr bool valid =
      ((static_cast<void>(node_name::from<Names>()), true) && ... && true);
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
NODUS_DECL void names_on_hosts(
    const std::shared_ptr<strategy_context>& ctx, std::vector<std::string> hosts,
    std::function<void(std::vector<node_target>, std::vector<std::string>)> cb);

// local_epmd_poll(ctx, done): done(every node registered with this host's port mapper).
NODUS_DECL void local_epmd_poll(const std::shared_ptr<strategy_context>& ctx,
                                poll_loop::done_fn done);

// erlang_hosts_poll(ctx, file, done): done(the nodes of the hosts listed in the hosts file: the
// run-time cluster_options::hosts_file, else file (the type's hosts_file<>), else .hosts.erlang
// in the working directory, then in $HOME).
NODUS_DECL void erlang_hosts_poll(const std::shared_ptr<strategy_context>& ctx, std::string file,
                                  poll_loop::done_fn done);

// A strategy that polls with a function of (ctx, done(targets)) every interval.
template <class Derived>
class polling_base {
 public:
  void start(std::shared_ptr<strategy_context> ctx) {
    loop_.start(std::move(ctx), Derived::interval, false, &Derived::poll);
  }
  void stop() { loop_.stop(); }

 private:
  poll_loop loop_;
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
                   cluster::detail::poll_loop::done_fn done) {
    cluster::detail::local_epmd_poll(ctx, std::move(done));
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
NODUS_DECL std::pair<std::vector<std::string>, std::size_t> parse_hosts_erlang(std::string_view t);

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
                   cluster::detail::poll_loop::done_fn done) {
    cluster::detail::erlang_hosts_poll(ctx, cluster::detail::hosts_file_of<Options...>(),
                                       std::move(done));
  }
};

namespace detail {

// start_formation(core, runners): starts a formation of the runners on core's distribution (the
// node keeps it).
NODUS_DECL void start_formation(node_core& core,
                                std::span<const cluster::detail::runner_maker> runners);

template <class Topology>
void start_formation(node_core& core) {
  start_formation(core, Topology::runners());
}

}  // namespace detail

}  // namespace nodus

#if defined(NODUS_HEADER_ONLY)
#include "nodus/cluster/impl/topology.ipp"
#endif

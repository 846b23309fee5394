// nodus/cluster/dns_srv.hpp: dns_srv_strategy, libcluster's Cluster.Strategy.Kubernetes.DNSSRV:
// poll the SRV records of a name (a Kubernetes headless service in front of a StatefulSet) and
// keep connected to basename@<target> for every target host they name.
#pragma once

#include <chrono>
#include <memory>
#include <string_view>
#include <type_traits>

#include "nodus/cluster/dns_poll.hpp"
#include "nodus/cluster/strategy.hpp"
#include "nodus/config.hpp"
#include "nodus/core/fixed_string.hpp"

namespace nodus {

// srv_query<"nodus-headless.default.svc.cluster.local">: a dns_srv_strategy option: the DNS name
// whose SRV records to poll. A name without a final dot goes through the resolver's search list
// (resolv.conf's search and ndots), as getaddrinfo does. --cluster-dns-srv /
// NODUS_CLUSTER_DNS_SRV override it at run time.
template <fixed_string Name>
struct srv_query {
  static_assert(!Name.empty(),
                "nodus::srv_query<\"\"> needs a DNS name, e.g. "
                "\"nodus-headless.default.svc.cluster.local\"");
  static constexpr std::string_view value = Name.view();
};

namespace cluster::detail {

template <class T>
struct is_srv_query : std::false_type {};
template <fixed_string N>
struct is_srv_query<srv_query<N>> : std::true_type {};

// start_dns_srv_poller(ctx, query, basename, interval) -> a poller of the SRV records of query on
// ctx's executor (the first poll at once, posted), or null when there is nothing to poll (logged
// as an error, and an empty first round). The run-time settings srv_query, dns_basename and
// interval win over the type's query, basename and interval. Stop it with stop_dns_poller.
[[nodiscard]] NODUS_DECL std::shared_ptr<dns_poller> start_dns_srv_poller(
    std::shared_ptr<strategy_context> ctx, std::string_view query, std::string_view basename,
    std::chrono::milliseconds interval);

}  // namespace cluster::detail

// dns_srv_strategy<Options...>: libcluster's Cluster.Strategy.Kubernetes.DNSSRV. Every interval
// (the first poll at once) it asks the system resolver (res_nsearch: resolv.conf's servers,
// search list and timeouts; TCP when an answer is truncated) for the SRV records (RFC 2782) of the
// query, and wants basename@<target> for each distinct target host but this node's own: in
// Kubernetes, app@nodus-0.nodus-headless.default.svc.cluster.local for each pod of a StatefulSet
// behind a headless service (so each node must be named after its pod's FQDN). The port of each
// node is asked from the port mapper on its host (the SRV records' ports are not used, as
// libcluster does not).
// As libcluster's (lib/strategy/kubernetes_dns_srv.ex, load/1), a node whose target left an
// answer is disconnected (set_nodes with disconnect_vanished). Unlike libcluster's, which counts
// a failed lookup as an empty answer and so disconnects every node, a failed lookup changes
// nothing, as in dns_poll_strategy: a warning, then debug lines while it keeps failing. An answer
// without SRV records (NXDOMAIN, or the name holds other records only) and a malformed answer
// (every length, count and compression pointer is checked: detail/srv_answer.hpp) count as
// failed lookups. A target that is not a host name is skipped with a warning; the target "."
// (RFC 2782: "decidedly not available") names no node.
// Options: srv_query<"name">, node_basename<"base">, polling_interval<Ms> (default 5000 ms); the
// run-time settings srv_query (--cluster-dns-srv), dns_basename (--cluster-dns-basename) and
// interval win over them. Without a query or a basename it logs an error and does nothing. Each
// lookup is bounded by the interval clamped to 1..5 s, and runs on a thread of its own, as
// dns_poll_strategy's do.
// start() once, stop() from any thread; after stop() no handler touches this object.
// In header-only mode this header brings <resolv.h> (and its arpa/nameser.h macros: T_SRV, C_IN,
// QUERY, ...) into the TU that includes it; separate compilation keeps it in the library.
template <class... Options>
struct dns_srv_strategy {
  static_assert(((cluster::detail::is_srv_query<Options>::value ||
                  cluster::detail::is_node_basename<Options>::value ||
                  cluster::detail::is_polling_interval<Options>::value) &&
                 ...),
                "nodus::dns_srv_strategy<...> takes only nodus::srv_query<\"name\">, "
                "nodus::node_basename<\"base\"> and nodus::polling_interval<Ms>");
  static_assert((0 + ... + int{cluster::detail::is_srv_query<Options>::value}) <= 1,
                "nodus::dns_srv_strategy<...> takes at most one nodus::srv_query<...>");
  static_assert((0 + ... + int{cluster::detail::is_node_basename<Options>::value}) <= 1,
                "nodus::dns_srv_strategy<...> takes at most one nodus::node_basename<...>");

  static constexpr std::string_view label = "dns_srv";
  // The types' query, basename ("" when not given) and interval.
  static constexpr std::string_view query =
      cluster::detail::text_option<cluster::detail::is_srv_query, Options...>();
  static constexpr std::string_view basename =
      cluster::detail::text_option<cluster::detail::is_node_basename, Options...>();
  static constexpr std::chrono::milliseconds interval =
      cluster::detail::interval_of<Options...>(cluster::detail::default_interval);
  static_assert(interval.count() > 0, "nodus::dns_srv_strategy needs a polling_interval above 0");

  // start(ctx): begins polling on ctx's executor (may be called from any thread, once).
  void start(std::shared_ptr<cluster::strategy_context> ctx) {
    if (poller_ || !ctx) return;
    poller_ = cluster::detail::start_dns_srv_poller(std::move(ctx), query, basename, interval);
  }

  // stop(): ends polling; a lookup still running is ignored when it returns.
  void stop() {
    if (poller_) cluster::detail::stop_dns_poller(*poller_);
  }

 private:
  std::shared_ptr<cluster::detail::dns_poller> poller_;
};

}  // namespace nodus

#if defined(NODUS_HEADER_ONLY)
#include "nodus/cluster/impl/dns_srv.ipp"
#endif

// nodus/cluster/dns_poll.hpp: dns_poll_strategy, libcluster's Cluster.Strategy.DNSPoll: poll a DNS
// name (a headless service, say) and keep connected to basename@<address> for every address it
// resolves to.
#pragma once

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include "nodus/cluster/strategy.hpp"
#include "nodus/config.hpp"
#include "nodus/core/fixed_string.hpp"
#include "nodus/core/node_name.hpp"

namespace nodus {

// dns_query<"nodes.example">: a dns_poll_strategy option: the DNS name to poll (its A and AAAA
// records). --cluster-dns / NODUS_CLUSTER_DNS override it at run time.
template <fixed_string Name>
struct dns_query {
  static_assert(!Name.empty(), "nodus::dns_query<\"\"> needs a DNS name, e.g. \"nodes.example\"");
  static constexpr std::string_view value = Name.view();
};

// node_basename<"app">: a dns_poll_strategy option: the name part of the nodes it finds, which are
// named app@<address>. --cluster-dns-basename / NODUS_CLUSTER_DNS_BASENAME override it at run time.
template <fixed_string Base>
struct node_basename {
  static_assert(!Base.empty(), "nodus::node_basename<\"\"> needs the name part of the nodes");
  static_assert(std::all_of(Base.begin(), Base.end(), nodus::detail::is_node_alive_char),
                "nodus::node_basename<...> is the part before '@' of a node name: only A-Z a-z "
                "0-9 _ - are allowed there");
  static constexpr std::string_view value = Base.view();
};

namespace cluster::detail {

template <class T>
struct is_dns_query : std::false_type {};
template <fixed_string N>
struct is_dns_query<dns_query<N>> : std::true_type {};

template <class T>
struct is_node_basename : std::false_type {};
template <fixed_string B>
struct is_node_basename<node_basename<B>> : std::true_type {};

// option_text<Is, O>() -> O::value when Is<O> recognises O, else "".
template <template <class> class Is, class O>
constexpr std::string_view option_text() {
  if constexpr (Is<O>::value) {
    return O::value;
  } else {
    return {};
  }
}

// text_option<Is, Options...>() -> the value of the first option Is<> recognises, else "" (the
// values themselves are never empty).
template <template <class> class Is, class... Options>
constexpr std::string_view text_option() {
  std::string_view r;
  ((r.empty() ? void(r = option_text<Is, Options>()) : void()), ...);
  return r;
}

// What a dns_poller does, from the strategy's types and the run-time settings.
struct dns_poll_config {
  std::string query;
  std::string basename;
  std::chrono::milliseconds interval{0};
  std::string_view what = "addresses";  // what a lookup finds, for the log ("3 addresses")
};

// dns_poller: the state of one running dns_poll_strategy, shared with its asynchronous handlers.
// Defined in impl/dns_poll.ipp: opaque here, so that this header needs neither <netdb.h> nor
// <thread>.
class dns_poller;

// start_dns_poller(ctx, query, basename, interval) -> a poller polling on ctx's executor (the first
// poll at once, posted), or null when there is nothing to poll (logged as an error, and an empty
// first round). The run-time settings dns_query, dns_basename and interval win over the type's
// query, basename and interval.
[[nodiscard]] NODUS_DECL std::shared_ptr<dns_poller> start_dns_poller(
    std::shared_ptr<strategy_context> ctx, std::string_view query, std::string_view basename,
    std::chrono::milliseconds interval);

// stop_dns_poller(poller): cancels the timers; later completions (a lookup under way included)
// do nothing.
NODUS_DECL void stop_dns_poller(dns_poller& poller);

}  // namespace cluster::detail

// dns_poll_strategy<Options...>: libcluster's Cluster.Strategy.DNSPoll. Every interval (the first
// poll at once) it resolves the query with the system resolver (getaddrinfo: /etc/hosts, then DNS
// A and AAAA records), and wants basename@<address> for each distinct address but this node's own
// (set_nodes with disconnect_vanished: a node whose address left the answer is disconnected; the
// port of each node is asked from the port mapper on its address).
// Options: dns_query<"name">, node_basename<"base">, polling_interval<Ms> (default 5000 ms); the
// run-time settings dns_query, dns_basename and interval win over them. Without a query or a
// basename it logs an error and does nothing.
// A failed lookup changes nothing (no node added, none disconnected), so a DNS outage never tears
// the cluster down; it is logged (a warning, then debug lines while it keeps failing), and the
// first one closes the first round with an empty set_nodes if no lookup succeeded yet. A name
// without any record counts as failed too: getaddrinfo reports it as "host not found", the same
// as a name that a broken or half-updated server lost for a moment. So the last nodes stay
// wanted when a name is deleted; an answer with other addresses is what replaces them. Each
// lookup is bounded by the interval clamped to 1..5 s; an answer after that is ignored, and no
// new lookup starts while the old one still runs. Each lookup runs getaddrinfo on a thread of its
// own, so a silent DNS server never delays the node's other work nor its stop.
// start() once, stop() from any thread; after stop() no handler touches this object.
template <class... Options>
struct dns_poll_strategy {
  static_assert(((cluster::detail::is_dns_query<Options>::value ||
                  cluster::detail::is_node_basename<Options>::value ||
                  cluster::detail::is_polling_interval<Options>::value) &&
                 ...),
                "nodus::dns_poll_strategy<...> takes only nodus::dns_query<\"name\">, "
                "nodus::node_basename<\"base\"> and nodus::polling_interval<Ms>");
  static_assert((0 + ... + int{cluster::detail::is_dns_query<Options>::value}) <= 1,
                "nodus::dns_poll_strategy<...> takes at most one nodus::dns_query<...>");
  static_assert((0 + ... + int{cluster::detail::is_node_basename<Options>::value}) <= 1,
                "nodus::dns_poll_strategy<...> takes at most one nodus::node_basename<...>");

  static constexpr std::string_view label = "dns";
  // The types' query, basename ("" when not given) and interval.
  static constexpr std::string_view query =
      cluster::detail::text_option<cluster::detail::is_dns_query, Options...>();
  static constexpr std::string_view basename =
      cluster::detail::text_option<cluster::detail::is_node_basename, Options...>();
  static constexpr std::chrono::milliseconds interval =
      cluster::detail::interval_of<Options...>(cluster::detail::default_interval);
  static_assert(interval.count() > 0, "nodus::dns_poll_strategy needs a polling_interval above 0");

  // start(ctx): begins polling on ctx's executor (may be called from any thread, once).
  void start(std::shared_ptr<cluster::strategy_context> ctx) {
    if (poller_ || !ctx) return;
    poller_ = cluster::detail::start_dns_poller(std::move(ctx), query, basename, interval);
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
#include "nodus/cluster/impl/dns_poll.ipp"
#endif

// nodus/cluster/impl/dns_poll.ipp: the type-independent part of dns_poll_strategy: the poller,
// its lookups (getaddrinfo on a thread of their own) and timers (see cluster/dns_poll.hpp). The
// poller serves dns_srv_strategy too, with a lookup of SRV records (cluster/impl/dns_srv.ipp).
// Included by that header in header-only mode, by nodus/impl/src.hpp otherwise.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/ip/address.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include "nodus/cluster/detail/host_lookup.hpp"
#include "nodus/cluster/dns_poll.hpp"
#include "nodus/cluster/strategy.hpp"
#include "nodus/core/error.hpp"
#include "nodus/core/format.hpp"
#include "nodus/core/log.hpp"
#include "nodus/core/node_name.hpp"

namespace nodus::cluster::detail {

// What one lookup of a dns_poller found: the hosts to name nodes after (address texts, or host
// names), and lines about the records it had to skip (logged as warnings).
struct dns_hosts {
  std::vector<std::string> hosts;
  std::vector<std::string> skipped;
};

// A blocking lookup of the query (run on a thread of its own); failing when the name has no
// record of the kind asked.
using dns_lookup = std::function<result<dns_hosts>(const std::string& query)>;

// lookup_address_hosts(query) -> the distinct addresses of query (getaddrinfo: A and AAAA), in
// text form, in address order. An IPv6 address in its text form, as libcluster does
// (:inet.ntoa): app@fd00::1.
inline result<dns_hosts> lookup_address_hosts(const std::string& query) {
  auto addresses = lookup_addresses(query);
  if (!addresses) return addresses.error();
  std::sort(addresses->begin(), addresses->end());
  addresses->erase(std::unique(addresses->begin(), addresses->end()), addresses->end());
  dns_hosts out;
  for (const auto& a : *addresses) out.hosts.push_back(a.to_string());
  return out;
}

// The state of one running dns_poll_strategy (or dns_srv_strategy), shared with its asynchronous
// handlers (so a handler that runs after stop() touches only this, never the strategy object).
// Everything but start() and stop() runs on the context's executor (a strand).
class dns_poller : public std::enable_shared_from_this<dns_poller> {
 public:
  dns_poller(std::shared_ptr<strategy_context> ctx, dns_poll_config config, dns_lookup lookup)
      : ctx_(std::move(ctx)),
        config_(std::move(config)),
        lookup_(std::move(lookup)),
        // A lookup gets as long as the interval, but at least 1 s (a slow resolver must not fail
        // every lookup of a short interval) and at most 5 s (glibc's default per-try timeout).
        lookup_timeout_(std::clamp(config_.interval, std::chrono::milliseconds(1000),
                                   std::chrono::milliseconds(5000))),
        next_poll_(ctx_->executor()),
        guard_(ctx_->executor()) {}

  // start(): the first poll at once (posted), then one per interval after each lookup ends.
  void start() {
    asio::post(ctx_->executor(), [self = shared_from_this()] { self->poll(); });
  }

  // stop(): cancels the timers; later completions (a lookup under way included) do nothing.
  void stop() {
    asio::post(ctx_->executor(), [self = shared_from_this()] {
      self->stopped_ = true;
      self->next_poll_.cancel();
      self->guard_.cancel();
    });
  }

 private:
  [[nodiscard]] bool halted() const { return stopped_ || ctx_->stopped(); }

  void poll() {
    if (halted()) return;
    if (in_flight_) {
      // The previous lookup outlived its guard and still occupies the resolver: do not queue
      // another one behind it (they would pile up while the server stays silent).
      failed("the previous lookup has not returned yet");
      schedule();
      return;
    }
    in_flight_ = true;
    const std::uint64_t id = ++lookup_id_;
    ctx_->log(log_level::debug, format("polling {}", config_.query));
    auto self = shared_from_this();
    // The lookup (getaddrinfo, res_nsearch) on a thread of its own, not on Asio's resolver
    // thread: a lookup blocked by a silent DNS server (up to attempts x timeout of resolv.conf)
    // then never holds up the node's io_context, so a node stops at once whatever the DNS does
    // (detail/host_lookup.hpp). An answer after stop() finds the poller halted.
    async_blocking<dns_hosts>(
        ctx_->executor(), "look up '" + config_.query + "'",
        [lookup = lookup_, query = config_.query] { return lookup(query); },
        [weak = weak_from_this(), id](result<dns_hosts> answer) {
          if (auto poller = weak.lock()) poller->resolved(id, std::move(answer));
        });
    guard_.expires_after(lookup_timeout_);
    guard_.async_wait([self, id](const std::error_code& ec) {
      if (!ec) self->timed_out(id);
    });
  }

  void resolved(std::uint64_t id, result<dns_hosts> answer) {
    in_flight_ = false;
    if (halted() || settled_ == id) return;  // stopped, or a late answer after its guard fired
    settled_ = id;
    guard_.cancel();
    if (!answer) {
      failed(answer.error().reason());
    } else {
      answered(std::move(*answer));
    }
    schedule();
  }

  void timed_out(std::uint64_t id) {
    if (halted() || settled_ == id) return;
    settled_ = id;
    failed(format("no answer within {} ms", lookup_timeout_.count()));
    schedule();
  }

  void answered(dns_hosts answer) {
    for (auto& line : answer.skipped) ctx_->log(log_level::warn, std::move(line));
    std::vector<node_target> targets;
    targets.reserve(answer.hosts.size());
    for (const auto& host : answer.hosts) {
      auto name = node_name::parse(format("{}@{}", config_.basename, host));
      if (!name) {
        ctx_->log(log_level::warn, format("ignoring {}: {}", host, name.error().reason()));
        continue;
      }
      if (*name == ctx_->self()) continue;
      targets.push_back(node_target{*name, std::nullopt});
    }
    if (failures_ > 0) {
      ctx_->log(log_level::info, format("lookup of {} answers again ({} {})", config_.query,
                                        answer.hosts.size(), config_.what));
    }
    failures_ = 0;
    answered_once_ = true;
    ctx_->set_nodes(std::move(targets), /*disconnect_vanished=*/true);
  }

  // A failed lookup changes nothing: no node is added and none is disconnected, whatever the
  // reason (timeout, no server, or "no such host"); only the first round is closed, once.
  void failed(const std::string& reason) {
    ++failures_;
    ctx_->log(failures_ == 1 ? log_level::warn : log_level::debug,
              format("lookup of {} failed: {}", config_.query, reason));
    if (!answered_once_ && !first_round_closed_) {
      first_round_closed_ = true;
      ctx_->set_nodes({}, /*disconnect_vanished=*/false);
    }
  }

  void schedule() {
    if (halted()) return;
    next_poll_.expires_after(config_.interval);
    next_poll_.async_wait([self = shared_from_this()](const std::error_code& ec) {
      if (!ec) self->poll();
    });
  }

  std::shared_ptr<strategy_context> ctx_;
  dns_poll_config config_;
  dns_lookup lookup_;
  std::chrono::milliseconds lookup_timeout_;
  asio::steady_timer next_poll_;
  asio::steady_timer guard_;
  std::uint64_t lookup_id_ = 0;  // the id of the latest lookup
  std::uint64_t settled_ = 0;    // the id of the latest lookup answered or timed out
  bool in_flight_ = false;       // a lookup thread runs (even after its guard fired)
  bool answered_once_ = false;
  bool first_round_closed_ = false;
  bool stopped_ = false;
  std::size_t failures_ = 0;  // failed lookups in a row
};

// make_dns_poller(ctx, strategy, flag, config, lookup) -> a started poller, or null (logged as
// an error, with an empty first round) when config lacks a query or a valid basename. strategy
// and flag name the strategy and its query's flag in that error.
inline std::shared_ptr<dns_poller> make_dns_poller(std::shared_ptr<strategy_context> ctx,
                                                   std::string_view strategy, std::string_view flag,
                                                   dns_poll_config config, dns_lookup lookup) {
  if (config.query.empty() || config.basename.empty()) {
    ctx->log(log_level::error, format("{} needs a query ({}) and a basename "
                                      "(--cluster-dns-basename); it does nothing",
                                      strategy, flag));
    ctx->set_nodes({}, false);  // an empty first round, so that start-up need not wait for it
    return nullptr;
  }
  if (!std::all_of(config.basename.begin(), config.basename.end(),
                   nodus::detail::is_node_alive_char)) {
    ctx->log(log_level::error, format("{}: invalid basename \"{}\": the part before '@' of a node "
                                      "name allows only A-Z a-z 0-9 _ -; it does nothing",
                                      strategy, config.basename));
    ctx->set_nodes({}, false);
    return nullptr;
  }
  auto poller = std::make_shared<dns_poller>(std::move(ctx), std::move(config), std::move(lookup));
  poller->start();
  return poller;
}

NODUS_DECL std::shared_ptr<dns_poller> start_dns_poller(std::shared_ptr<strategy_context> ctx,
                                                        std::string_view query,
                                                        std::string_view basename,
                                                        std::chrono::milliseconds interval) {
  const cluster_options& s = ctx->settings();
  dns_poll_config config{s.dns_query.empty() ? std::string(query) : s.dns_query,
                         s.dns_basename.empty() ? std::string(basename) : s.dns_basename,
                         effective_interval(*ctx, interval), "addresses"};
  return make_dns_poller(std::move(ctx), "dns_poll_strategy", "--cluster-dns", std::move(config),
                         lookup_address_hosts);
}

NODUS_DECL void stop_dns_poller(dns_poller& poller) { poller.stop(); }

}  // namespace nodus::cluster::detail

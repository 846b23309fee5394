// nodus/cluster/strategy.hpp: what a cluster formation strategy sees of its node (the
// strategy_context), the run-time settings that extend or override a topology's static
// configuration (cluster_options), and the static option types strategies share.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/ip/basic_endpoint.hpp>

#include "nodus/cluster/cluster_options.hpp"
#include "nodus/core/fixed_string.hpp"
#include "nodus/core/log.hpp"
#include "nodus/core/node_name.hpp"

// asio::ip::tcp is only named here (its endpoint type): <asio/ip/tcp.hpp>, with sockets, resolvers
// and iostreams, is for the files that use them.
namespace asio::ip {
class tcp;
}  // namespace asio::ip

namespace nodus {

namespace cluster {

// One node a strategy wants connected: by name (its port looked up with the port mapper of
// its host, EPMD), or at a known endpoint (a gossip heartbeat says where it listens).
struct node_target {
  node_name name;
  std::optional<asio::ip::basic_endpoint<asio::ip::tcp>> endpoint;  // asio::ip::tcp::endpoint
};

// What a strategy sees of its node. One context per strategy instance, shared (hold the
// shared_ptr in asynchronous handlers). Thread-safe; calls after the node stopped the strategy
// do nothing.
class strategy_context {
 public:
  virtual ~strategy_context() = default;

  // self() -> this node's name.
  [[nodiscard]] virtual const node_name& self() const = 0;
  // label() -> the strategy's name in log lines ("example" in "[nodus:example] ...").
  [[nodiscard]] virtual std::string_view label() const = 0;
  // executor() -> a strand of the node's io_context, for this strategy's own I/O and timers.
  [[nodiscard]] virtual asio::any_io_executor executor() const = 0;
  // settings() -> the node's run-time cluster settings.
  [[nodiscard]] virtual const cluster_options& settings() const = 0;
  // node_port() -> the TCP port this node's distribution listens on.
  [[nodiscard]] virtual std::uint16_t node_port() const = 0;
  // epmd_port() -> the port mapper port of every host (options::epmd_port).
  [[nodiscard]] virtual std::uint16_t epmd_port() const = 0;
  // stopped() -> the node stopped this strategy: end timers and sockets.
  [[nodiscard]] virtual bool stopped() const = 0;

  // set_nodes(nodes): the whole set of nodes this strategy wants now. Nodes not connected are
  // dialled at once (failures logged, retried at the next set_nodes); when
  // disconnect_vanished, a connected node that left the set (and no other strategy wants) is
  // disconnected. The first call ends the strategy's first round once its dials completed.
  virtual void set_nodes(std::vector<node_target> nodes, bool disconnect_vanished = false) = 0;
  // add_nodes(nodes): nodes to connect now, without forgetting the others (gossip).
  virtual void add_nodes(std::vector<node_target> nodes) = 0;
  // log(level, line): line prefixed "[nodus:label] " into the node's log.
  virtual void log(log_level level, std::string line) = 0;
};

}  // namespace cluster

// named<"example", S>: strategy S under the label "example", as a libcluster topology's key; the
// label starts each of its log lines ("[nodus:example] unable to connect to n2@127.0.0.1").
template <fixed_string Label, class Strategy>
struct named : Strategy {
  static constexpr std::string_view label = Label.view();
  using strategy_type = Strategy;
};

// polling_interval<Ms>: a strategy option: how often it polls, sends heartbeats or retries nodes
// it could not connect (libcluster's polling_interval; default 5000 ms).
template <unsigned Ms>
struct polling_interval {
  static constexpr std::chrono::milliseconds value{Ms};
};

namespace cluster::detail {

// option_value<Template, Default, Options...>: the value of the first option that is an
// instance of Template, else Default.
template <class T>
struct is_polling_interval : std::false_type {};
template <unsigned Ms>
struct is_polling_interval<polling_interval<Ms>> : std::true_type {};

template <class... Options>
constexpr std::chrono::milliseconds interval_of(std::chrono::milliseconds fallback) {
  std::chrono::milliseconds r = fallback;
  [[maybe_unused]] bool found = false;
  (
      [&] {
        if constexpr (is_polling_interval<Options>::value) {
          if (!found) {
            r = Options::value;
            found = true;
          }
        }
      }(),
      ...);
  return r;
}

inline constexpr std::chrono::milliseconds default_interval{5000};

// effective_interval(ctx, static) -> the run-time override when set, else the type's.
inline std::chrono::milliseconds effective_interval(const strategy_context& ctx,
                                                    std::chrono::milliseconds from_type) {
  return ctx.settings().interval.count() > 0 ? ctx.settings().interval : from_type;
}

}  // namespace cluster::detail

}  // namespace nodus

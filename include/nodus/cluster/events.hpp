// nodus/cluster/events.hpp: what a node learns about its peers: node_up and node_down, the typed
// info messages of monitor_nodes (Erlang's {nodeup, Node} and {nodedown, Node, Info}).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "nodus/core/node_name.hpp"

namespace nodus {

namespace cluster {

// Why a peer went down, as Erlang's monitor_nodes reasons (net_kernel nodedown_reason).
enum class node_down_reason : std::uint8_t {
  connection_closed,  // the peer closed the connection, or it broke
  net_tick_timeout,   // nothing from the peer for net_ticktime
  disconnect,         // disconnect() on this node
};

// to_string(r) -> "connection_closed", "net_tick_timeout" or "disconnect".
[[nodiscard]] constexpr std::string_view to_string(node_down_reason r) noexcept {
  switch (r) {
    case node_down_reason::net_tick_timeout: return "net_tick_timeout";
    case node_down_reason::disconnect: return "disconnect";
    case node_down_reason::connection_closed: break;
  }
  return "connection_closed";
}

inline void nodus_format(std::string& out, node_down_reason r) { out += to_string(r); }

}  // namespace cluster

using cluster::node_down_reason;

// Which connected nodes node::list() returns (Erlang's Node.list/1 argument).
enum class node_kind : std::uint8_t {
  visible,    // published nodes, part of the mesh (Node.list())
  hidden,     // connections to or from hidden nodes (Node.list(:hidden))
  connected,  // both (Node.list(:connected))
};

// node_up: a visible node connected (before any message from it arrives).
struct node_up {
  node_name node;
};

// node_down: a visible node disconnected (after the last message from it arrived).
struct node_down {
  node_name node;
  node_down_reason reason = node_down_reason::connection_closed;
};

}  // namespace nodus

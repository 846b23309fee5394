// nodus/cluster/events.hpp: what a node learns about its peers: node_up and node_down, the typed
// info messages of monitor_nodes (Erlang's {nodeup, Node} and {nodedown, Node, Info}).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "nodus/core/node_name.hpp"
#include "nodus/net/down_reason.hpp"

namespace nodus {

namespace cluster {
using nodus::node_down_reason;  // the older spelling
}  // namespace cluster

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

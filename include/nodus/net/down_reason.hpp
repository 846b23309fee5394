// nodus/net/down_reason.hpp: why a connection to a peer went down, as Erlang's monitor_nodes
// reasons (net_kernel's nodedown_reason). The connection says it as it goes down; it travels
// as this enum to node_down, never as text parsed back.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace nodus {

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

}  // namespace nodus

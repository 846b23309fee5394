// nodus/epmd/port.hpp: the port mapper's port (the default, and ERL_EPMD_PORT), apart from the
// protocol (epmd/protocol.hpp) so that the node core reads it without parsing the protocol.
#pragma once

#include <cstdint>
#include <cstdlib>

namespace nodus::epmd {

// "By default the EPMD listens on port 4369." (erl_dist_protocol)
inline constexpr std::uint16_t default_port = 4369;

// port_from_env() -> ERL_EPMD_PORT if it is set to a valid port (1..65535, decimal digits only),
// else default_port. ERL_EPMD_PORT is the variable erl and epmd read for the same purpose.
[[nodiscard]] inline std::uint16_t port_from_env() {
  const char* text = std::getenv("ERL_EPMD_PORT");
  if (text == nullptr || *text == '\0') return default_port;
  unsigned long value = 0;
  for (const char* p = text; *p != '\0'; ++p) {
    if (*p < '0' || *p > '9') return default_port;
    value = value * 10 + static_cast<unsigned long>(*p - '0');
    if (value > 65535) return default_port;
  }
  return value == 0 ? default_port : static_cast<std::uint16_t>(value);
}

}  // namespace nodus::epmd

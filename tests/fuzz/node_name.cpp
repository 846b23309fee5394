// libFuzzer harness: node names from outside (core/node_name.hpp, node_name::parse) and the
// "name@host:port" targets a node is given (cluster/node_table.hpp parse_node_address,
// cluster/formation.hpp parse_target). parse agrees with is_valid and keeps the text; an address
// splits at its last ':' into a name and an IP endpoint; a target is one or the other.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nodus/cluster/formation.hpp>
#include <nodus/cluster/node_table.hpp>
#include <nodus/core/node_name.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto name = nodus::node_name::parse(text);
  if (name.has_value() != nodus::node_name::is_valid(text)) std::abort();
  if (name) {
    if (name->str() != text || name->size() != size) std::abort();
    const auto at = text.find('@');
    if (name->alive() != text.substr(0, at) || name->host() != text.substr(at + 1)) std::abort();
  } else if (name.error().reason().empty()) {
    std::abort();
  }
  const auto address = nodus::cluster::parse_node_address(text);
  if (address) {
    const auto colon = text.rfind(':');
    const auto digits = text.substr(colon + 1);
    unsigned long port = 0;
    for (const char c : digits) {
      if (c < '0' || c > '9') std::abort();
      port = port * 10 + static_cast<unsigned long>(c - '0');
      if (port > 65535) std::abort();
    }
    if (address->first.str() != text.substr(0, colon) || port == 0 ||
        address->second.port() != port) {
      std::abort();
    }
  }
  const auto target = nodus::cluster::detail::parse_target(text);
  if (target.has_value() != (address.has_value() || name.has_value())) std::abort();
  if (target && address && target->name != address->first) std::abort();
  if (target && !address && (target->name != *name || target->endpoint)) std::abort();
  return 0;
}

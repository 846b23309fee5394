// EXPECT-ERROR: invalid_node_name_literal_has_no_at_sign
// A node name literal without '@' must not compile ("n1" is not name@host).
#include <nodus/core/node_name.hpp>

// GCC: the literal is consteval, so even a run-time variable is checked at compile time.
// clang: the literal is constexpr (see NODUS_NODE_LITERAL_SPECIFIER), checked in constant contexts.
#if defined(__clang__)
#define CONTEXT constexpr
#else
#define CONTEXT
#endif

using namespace nodus::literals;

int main() {
  CONTEXT const auto name = "n1"_node;
  return static_cast<int>(name.size());
}

// EXPECT-ERROR: nodus: a message type must not be a pointer
// A pointer as a message type must not compile: an address means nothing on another node.
#include <nodus/message/protocol.hpp>

namespace app {
struct ping {};
}  // namespace app

using bad = nodus::protocol<app::ping*>;
static_assert(bad::size == 1);

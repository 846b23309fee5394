// EXPECT-ERROR: nodus::protocol: a message type is listed twice
// A message type listed twice in one protocol must not compile.
#include <nodus/message/protocol.hpp>

namespace app {
struct ping {};
struct pong {};
}  // namespace app

using bad = nodus::protocol<app::ping, app::pong, app::ping>;
static_assert(bad::size == 3);

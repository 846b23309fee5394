// EXPECT-ERROR: nodus::protocol::id_of<T>: T is not a message type of this protocol
// Asking a protocol for the id of a type it does not list must not compile.
#include <nodus/message/protocol.hpp>

namespace app {
struct ping {};
struct pong {};
}  // namespace app

using proto = nodus::protocol<app::ping>;
static_assert(proto::id_of<app::pong>() != 0);

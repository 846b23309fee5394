// EXPECT-ERROR: nodus: a member of a reflected message type must not be a pointer
// A reflected message whose member is a pointer must not compile.
#include <nodus/message/protocol.hpp>

#include <string>

namespace app {
struct note {
  BOOST_HANA_DEFINE_STRUCT(note, (std::string, title), (const char*, body));
};
}  // namespace app

using bad = nodus::protocol<app::note>;
static_assert(bad::size == 1);

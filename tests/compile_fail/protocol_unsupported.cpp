// EXPECT-ERROR: a message type must be trivially copyable \(it travels as its bytes\) or a
// A message type that is neither trivially copyable nor a reflected struct must not compile.
#include <nodus/message/protocol.hpp>

#include <string>

namespace app {
struct ping {};
struct greeting {  // holds a std::string but is not reflected (no BOOST_HANA_DEFINE_STRUCT)
  std::string text;
};
}  // namespace app

using bad = nodus::protocol<app::ping, app::greeting>;
static_assert(bad::size == 2);

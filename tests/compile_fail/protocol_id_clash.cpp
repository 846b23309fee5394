// EXPECT-ERROR: nodus::protocol: two message types have the same wire id
// Two message types with one wire id (here: the same nodus_name tag) must not compile.
#include <nodus/message/protocol.hpp>

#include <string_view>

namespace app {
struct order {
  static constexpr std::string_view nodus_name = "shop.order";
};
struct invoice {
  static constexpr std::string_view nodus_name = "shop.order";  // copy-pasted tag
};
}  // namespace app

using bad = nodus::protocol<app::order, app::invoice>;
static_assert(bad::size == 2);

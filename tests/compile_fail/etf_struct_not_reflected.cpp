// EXPECT-ERROR: nodus::etf: a struct travels as a tuple of its members: reflect it
// A struct with members but no reflection has no Erlang term: encoding it must not compile.
#include <nodus/codec/etf/typed.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace app {
struct greeting {  // not reflected: nodus::etf cannot see its members
  std::string text;
};
}  // namespace app

int main() {
  std::vector<std::byte> out;
  return nodus::etf::encode(app::greeting{"hi"}, out).has_value() ? 0 : 1;
}

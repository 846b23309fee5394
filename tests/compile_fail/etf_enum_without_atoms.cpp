// EXPECT-ERROR: nodus::etf: an enum travels as an atom; name the atoms of its enumerators
// An enum member without etf_atoms: decoding a struct holding it must not compile.
#include <nodus/codec/etf/typed.hpp>

namespace app {
enum class color { red, green };
struct paint {
  BOOST_HANA_DEFINE_STRUCT(paint, (color, c), (int, coats));
};
}  // namespace app

int main() { return nodus::etf::from_term<app::paint>(nodus::etf::term()).has_value() ? 0 : 1; }

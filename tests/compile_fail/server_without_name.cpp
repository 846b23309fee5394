// EXPECT-ERROR: the server type must declare its registered name
// A server without `static constexpr nodus::fixed_string name`.
#include <nodus/node.hpp>

struct ping {};
struct pong {};
struct anonymous : nodus::server<anonymous, nodus::call<ping, pong>> {
  pong handle_call(const ping&) { return {}; }
};

int main() {
  nodus::node<> node;
  (void)node.spawn<anonymous>();
}

// EXPECT-ERROR: a child has one restart type
// A supervisor child wrapped in two restart types.
#include <nodus/node.hpp>

struct ping {};
struct worker : nodus::server<worker, nodus::call<ping, int>> {
  static constexpr nodus::fixed_string name = "worker";
  int handle_call(const ping&) { return 1; }
};

int main() {
  nodus::node<> node;
  (void)node.start(
      nodus::supervisor<nodus::one_for_one, nodus::transient<nodus::temporary<worker>>>{});
}

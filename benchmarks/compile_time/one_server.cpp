// Compile-time probe: the smallest useful nodus program, one local server on a node with no
// networking (no options, no cluster): what a TU pays for <nodus/node.hpp>, a server type and a
// call. Timed by benchmarks/compile_time.sh against bare.cpp.
#include <nodus/node.hpp>

struct get {};
struct value {
  int count;
};
struct add {
  int by;
};

struct counter : nodus::server<counter, nodus::call<get, value>, nodus::cast<add>> {
  static constexpr nodus::fixed_string name = "counter";
  int count = 0;
  value handle_call(const get&) { return {count}; }
  void handle_cast(const add& a) { count += a.by; }
};

int main() {
  nodus::node<> node;
  if (!node.start(nodus::supervisor<nodus::one_for_one, counter>{})) return 1;
  node.run_in_background();
  auto r = node.call<counter>(get{});
  node.stop();
  return node.join() && r ? 0 : 1;
}

// A program built against nodus as a user builds it (meson): a supervised server, a call and a
// cast; exits 0 when the reply arrived and the usage requirements (C++20, standalone Asio) did.
#include <cstdio>

#include <nodus/nodus.hpp>

#ifndef ASIO_STANDALONE
#error "nodus must define ASIO_STANDALONE for its users"
#endif
static_assert(__cplusplus >= 202002L, "nodus must bring C++20");

struct add {
  int n;
};
struct total {};

struct counter : nodus::server<counter, nodus::cast<add>, nodus::call<total, int>> {
  static constexpr nodus::fixed_string name = "counter";
  int sum = 0;
  void handle_cast(const add& a) { sum += a.n; }
  int handle_call(const total&) { return sum; }
};

int main() {
  nodus::node<> node;
  if (!node.start(nodus::supervisor<nodus::one_for_one, counter>{})) return 1;
  node.run_in_background();
  for (int i = 1; i <= 10; ++i) (void)node.cast<counter>(add{i});
  auto r = node.call<counter>(total{});
  std::printf("nodus consumer (meson): total = %d\n", r ? *r : -1);
  node.stop();
  return r && *r == 55 && node.join() ? 0 : 1;
}

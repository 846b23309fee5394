// A program built against nodus as a user builds it (meson), header-only or against the compiled
// library (nodus::compiled / nodus_compiled_dep): a supervised server, a call and a cast, and a
// named node listening on loopback (its distribution comes from the headers or the library);
// exits 0 when the reply arrived, the node listened and the usage requirements (C++20,
// standalone Asio) held.
#include <cstdio>
#include <string>

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
  if (!r || *r != 55 || !node.join()) return 1;

  nodus::options o;
  o.name = nodus::node_name::parse("consumer@127.0.0.1").value();
  o.cookie = "consumer";
  o.epmd = false;  // no port mapper: nothing but a listener on loopback
  nodus::node<> named(o);
  if (auto l = named.listen(); !l) {
    std::printf("nodus consumer: listen failed: %s\n", l.error().message().c_str());
    return 1;
  }
  std::printf("nodus consumer: %s listens on port %u%s\n", std::string(named.self().str()).c_str(),
              static_cast<unsigned>(named.port()),
#if defined(NODUS_SEPARATE_COMPILATION)
              " (compiled mode)");
#else
              " (header-only)");
#endif
  return named.port() != 0 ? 0 : 1;
}

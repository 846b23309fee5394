// Compile-time probe: a typical user TU of the local runtime (DESIGN.md's sketch minus the
// networking): two servers, a supervisor, a call, a cast, a log line. Used by
// benchmarks/compile_time.sh while examples/demo.cpp does not exist.
#if __has_include(<nodus/nodus.hpp>)
#include <nodus/nodus.hpp>
#else
#include <nodus/node.hpp>
#endif

#include <string>

namespace {

struct ping {};
struct pong {
  int count;
};
struct note {
  std::string text;
};
struct tick {};

struct ping_server : nodus::server<ping_server, nodus::call<ping, pong>, nodus::cast<note>> {
  static constexpr nodus::fixed_string name = "ping";
  int pings = 0;
  pong handle_call(const ping&) { return {++pings}; }
  void handle_cast(const note& n) { log().info("note: {}", n.text); }
};

struct observer : nodus::server<observer, nodus::handles<nodus::info<tick>>> {
  static constexpr nodus::fixed_string name = "observer";
  void init() { send_after(std::chrono::milliseconds(10), tick{}); }
  void handle_info(const tick&) { log().info("--- tick on {}", self_node()); }
};

}  // namespace

int main(int argc, char** argv) {
  auto opts = nodus::options::from_args(argc, argv);
  if (!opts) return 2;
  nodus::node<> node{*opts};
  if (!node.start(nodus::supervisor<nodus::one_for_one, observer, ping_server>{})) return 1;
  node.run_in_background();
  auto r = node.call<ping_server>(ping{});
  if (r) node.log().info("pong {}", r->count);
  (void)node.cast<ping_server>(note{"hello"});
  node.stop();
  return node.join() ? 0 : 1;
}

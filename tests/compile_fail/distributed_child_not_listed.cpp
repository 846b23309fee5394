// EXPECT-ERROR: is not one of the child types Spec lists
// start_child<S> of a distributed supervisor whose spec does not list S (a remote member could
// not build it).
#include <nodus/nodus.hpp>

struct ping {};
struct listed : nodus::server<listed, nodus::call<ping, int>> {
  static constexpr nodus::fixed_string name = "listed";
  int handle_call(const ping&) { return 1; }
};
struct other : nodus::server<other, nodus::call<ping, int>> {
  static constexpr nodus::fixed_string name = "other";
  int handle_call(const ping&) { return 2; }
};
using jobs = nodus::distributed_supervisor<"jobs", listed>;

int main() {
  nodus::node<> node;
  (void)node.distributed_supervisor<jobs>().start_child<other>("other/1");
}

// EXPECT-ERROR: every child must be a server type
// A supervisor child that is neither a server nor a supervisor.
#include <nodus/node.hpp>

struct not_a_server {};

int main() {
  nodus::node<> node;
  (void)node.start(nodus::supervisor<nodus::one_for_one, not_a_server>{});
}

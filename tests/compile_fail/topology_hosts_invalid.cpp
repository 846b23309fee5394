// EXPECT-ERROR: nodus: invalid node name: no '@'; write name@host
// A host list is checked at compile time: a name without '@' says what is wrong.
#include <nodus/cluster/topology.hpp>
#include <nodus/node.hpp>

using topology = nodus::topology<nodus::epmd_strategy<nodus::hosts<"n1@127.0.0.1", "n2">>>;

int main() {
  nodus::node<topology> node;
  (void)node;
}

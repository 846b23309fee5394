// EXPECT-ERROR: a nodus strategy needs either start
// A topology of something that is not a strategy names what a strategy must provide.
#include <nodus/cluster/topology.hpp>
#include <nodus/node.hpp>

struct not_a_strategy {
  static constexpr std::string_view label = "oops";
};
using topology = nodus::topology<not_a_strategy>;

int main() {
  nodus::node<topology> node;
  (void)node.start(nodus::supervisor<nodus::one_for_one>{});
}

// test_formation: cluster formation with real node processes. This executable is both the test
// runner and, with --peer as its first argument, the node program the tests start (peer.cpp).
#define BOOST_TEST_MODULE nodus_formation
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include <csignal>
#include <string_view>

namespace formation_test {
int run_peer(int argc, char* argv[]);
}  // namespace formation_test

int main(int argc, char* argv[]) {
  if (argc > 1 && std::string_view(argv[1]) == "--peer")
    return formation_test::run_peer(argc, argv);
  // A write to a peer that died fails (EPIPE) instead of killing the runner.
  std::signal(SIGPIPE, SIG_IGN);
  return boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
}

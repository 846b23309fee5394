// test_dist: multi-process tests. This executable is both the test runner and, with --peer as its
// first argument, the node program the tests start as child processes (peer.cpp).
#define BOOST_TEST_MODULE nodus_dist
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include <csignal>
#include <string_view>

#include "peer.hpp"

int main(int argc, char* argv[]) {
  if (argc > 1 && std::string_view(argv[1]) == "--peer") return dist_test::run_peer(argc, argv);
  // A write to a peer that died fails (EPIPE) instead of killing the runner.
  std::signal(SIGPIPE, SIG_IGN);
  // BOOST_TEST_MODULE (with the dynamic library) has defined init_unit_test().
  return boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
}

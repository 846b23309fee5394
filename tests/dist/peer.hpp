// The node program of the multi-process tests: what a child started as `test_dist --peer ...` runs.
#pragma once

namespace dist_test {

// run_peer(argc, argv): argv[1] is "--peer"; the rest are nodus::options::from_args flags plus
// --alt-protocol (a node built from another nodus::protocol). Prints `ready NAME PORT` once
// started (or `start-failed MESSAGE` and returns 3), then answers the commands read from stdin,
// one line each; returns 0 after `quit` or the end of stdin.
int run_peer(int argc, char* argv[]);

}  // namespace dist_test

// Compile-time baseline: the two heavy dependencies of nodus, included whole, and nothing else.
// benchmarks/compile_time.sh compares a typical nodus TU against this one.
#include <asio.hpp>
#include <boost/hana.hpp>

int main() { return 0; }

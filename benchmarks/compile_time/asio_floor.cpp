// Compile-time floor: the least that any header-only runtime on Asio compiles into a TU: an
// io_context run on a thread, a strand, a steady_timer wait and a post (what a nodus node uses
// with no networking). Not nodus: benchmarks/compile_time.sh times it beside bare.cpp to show
// how much of a header-only nodus TU is Asio's own code, instantiated once it is used.
#include <asio.hpp>
#include <boost/hana.hpp>

#include <chrono>
#include <system_error>
#include <thread>

int main() {
  asio::io_context ctx;
  auto strand = asio::make_strand(ctx);
  asio::steady_timer t(strand);
  t.expires_after(std::chrono::milliseconds(1));
  t.async_wait([](std::error_code) {});
  asio::post(strand, [] {});
  std::thread th([&] { ctx.run(); });
  th.join();
}

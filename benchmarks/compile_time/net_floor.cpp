// Compile-time floor of a distributed TU: asio_floor.cpp plus one use each of what a
// header-only distribution compiles of Asio: a TCP acceptor, connect, read and write, a
// resolver, a TLS stream's handshake, read and write. Not nodus: benchmarks/compile_time.sh
// times it beside bare.cpp and simple_cluster (its peak memory is the floor under a header-only
// simple_cluster's).
#include <asio.hpp>
#include <asio/ssl.hpp>
#include <boost/hana.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <memory>
#include <system_error>
#include <thread>

using asio::ip::tcp;

int main() {
  asio::io_context ctx;
  auto strand = asio::make_strand(ctx);
  asio::steady_timer t(strand);
  t.expires_after(std::chrono::milliseconds(1));
  t.async_wait([](std::error_code) {});
  asio::post(strand, [] {});
  tcp::acceptor acc(ctx, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto sock = std::make_shared<tcp::socket>(ctx);
  acc.async_accept(*sock, [sock](std::error_code) {});
  tcp::socket c(ctx);
  c.async_connect(acc.local_endpoint(), [](std::error_code) {});
  std::array<char, 64> buf{};
  c.async_read_some(asio::buffer(buf), [](std::error_code, std::size_t) {});
  asio::async_write(c, asio::buffer(buf), [](std::error_code, std::size_t) {});
  asio::async_read(c, asio::buffer(buf), [](std::error_code, std::size_t) {});
  tcp::resolver res(ctx);
  res.async_resolve("localhost", "1", [](std::error_code, const tcp::resolver::results_type&) {});
  asio::ssl::context sctx(asio::ssl::context::tls);
  asio::ssl::stream<tcp::socket> s(ctx, sctx);
  s.async_handshake(asio::ssl::stream_base::client, [](std::error_code) {});
  s.async_read_some(asio::buffer(buf), [](std::error_code, std::size_t) {});
  asio::async_write(s, asio::buffer(buf), [](std::error_code, std::size_t) {});
  std::thread th([&] { ctx.run(); });
  th.join();
}

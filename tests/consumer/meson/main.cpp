// A program built against nodus as a user builds it; exits 0 when the usage requirements arrived.
#include <asio/version.hpp>
#include <iostream>
#include <nodus/core/error.hpp>
#include <string_view>
#include <system_error>

#ifndef ASIO_STANDALONE
#error "nodus_dep must define ASIO_STANDALONE"
#endif
static_assert(__cplusplus >= 202002L, "the consumer must build with C++20");

int main() {
  const std::error_code ec = nodus::errc::nodedown;
  std::cout << "nodus consumer (meson): " << ec.category().name() << ": " << ec.message()
            << " (Asio " << ASIO_VERSION << ")\n";
  return std::string_view{ec.category().name()} == "nodus" ? 0 : 1;
}

// Shared helpers of the ETF tests: byte buffers from numbers or hex, and printing for Boost.Test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <span>

#include <nodus/codec/etf/decode.hpp>
#include <nodus/codec/etf/encode.hpp>
#include <nodus/codec/etf/tags.hpp>
#include <nodus/codec/etf/term.hpp>
#include <nodus/core/node_name.hpp>

namespace etf_test {

using bytes = std::vector<std::byte>;

// b({131, 97, 1}) -> those bytes.
inline bytes b(std::initializer_list<int> values) {
  bytes out;
  out.reserve(values.size());
  for (const int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

// cat(x, y) -> the bytes of x, then those of y.
inline bytes cat(bytes x, const bytes& y) {
  x.insert(x.end(), y.begin(), y.end());
  return x;
}

// a("ok") -> the atom ok, as a term.
inline nodus::etf::term a(std::string_view name) {
  return nodus::etf::term(nodus::etf::atom(name));
}

// from_hex("8361") -> {131, 97}; an odd digit count or a non-hex digit gives an empty buffer.
inline bytes from_hex(std::string_view hex) {
  const auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  bytes out;
  if (hex.size() % 2 != 0) return out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = digit(hex[i]);
    const int lo = digit(hex[i + 1]);
    if (hi < 0 || lo < 0) return {};
    out.push_back(static_cast<std::byte>(hi * 16 + lo));
  }
  return out;
}

inline std::string to_hex(std::span<const std::byte> data) {
  constexpr const char* digits = "0123456789ABCDEF";
  std::string out;
  out.reserve(2 * data.size());
  for (const std::byte v : data) {
    out += digits[static_cast<unsigned>(v) >> 4];
    out += digits[static_cast<unsigned>(v) & 15];
  }
  return out;
}

// "131,97,1", for messages.
inline std::string to_list(std::span<const std::byte> data) {
  std::string out;
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (i != 0) out += ',';
    out += std::to_string(static_cast<unsigned>(data[i]));
  }
  return out;
}

// encoded(t) -> t's encoding with the version byte (the test fails loudly if it cannot encode).
inline bytes encoded(const nodus::etf::term& t, bool version = true) {
  auto r = nodus::etf::encode(t, nodus::etf::encode_options{version});
  return r ? std::move(*r) : bytes{};
}

}  // namespace etf_test

// Boost.Test prints values through these (found by ADL) when a check fails.
namespace nodus {
template <class T>
std::ostream& boost_test_print_type(std::ostream& os, const result<T>& r) {
  return os << (r.has_value() ? std::string("ok") : "error: " + r.error().message());
}
inline std::ostream& boost_test_print_type(std::ostream& os, const error& e) {
  return os << e.message();
}
inline std::ostream& boost_test_print_type(std::ostream& os, const node_name& n) {
  return os << n.str();
}
}  // namespace nodus

namespace nodus::etf {
inline std::ostream& boost_test_print_type(std::ostream& os, const term& t) {
  return os << t.to_string(400);
}
inline std::ostream& boost_test_print_type(std::ostream& os, const atom& a) {
  return os << term(a).to_string();
}
}  // namespace nodus::etf

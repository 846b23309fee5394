// nodus/message/detail/fnv1a.hpp: the 64-bit FNV-1a hash, usable at compile time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace nodus::detail {

// FNV-1a, 64 bits. Constants from the FNV reference (Fowler/Noll/Vo,
// http://www.isthe.com/chongo/tech/comp/fnv/ and draft-eastlake-fnv): offset basis
// 14695981039346656037 (0xcbf29ce484222325), prime 1099511628211 (0x100000001b3).
// For each byte: hash ^= byte; hash *= prime (mod 2^64).
struct fnv1a64 {
  static constexpr std::uint64_t offset_basis = 14695981039346656037ULL;
  static constexpr std::uint64_t prime = 1099511628211ULL;

  std::uint64_t state = offset_basis;

  constexpr void add_byte(unsigned char b) noexcept {
    state ^= static_cast<std::uint64_t>(b);
    state *= prime;
  }
  constexpr void add(std::string_view text) noexcept {
    for (const char c : text) add_byte(static_cast<unsigned char>(c));
  }
  // Adds the 8 bytes of v, least significant first, so the result does not depend on the host.
  constexpr void add_u64(std::uint64_t v) noexcept {
    for (int i = 0; i < 8; ++i) add_byte(static_cast<unsigned char>((v >> (8 * i)) & 0xffU));
  }
  // Sink interface of the schema writer (see message/schema.hpp).
  constexpr void put(std::string_view text) noexcept { add(text); }
};

// fnv1a(text) -> 64-bit FNV-1a of the bytes of text.
[[nodiscard]] constexpr std::uint64_t fnv1a(std::string_view text) noexcept {
  fnv1a64 h;
  h.add(text);
  return h.state;
}

}  // namespace nodus::detail

// nodus/codec/gather_list.hpp: the pieces of encoded messages, in order, for a gathered write.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <nodus/config.hpp>

namespace nodus::codec {

namespace detail {

// Zero bytes that padding pieces point at (no piece is longer than the largest alignment, 16).
alignas(16) inline constexpr std::byte zero_bytes[16] = {};

// padding(pos, align) -> zero bytes to add at pos to reach a multiple of align (a power of two).
[[nodiscard]] constexpr std::size_t padding(std::size_t pos, std::size_t align) noexcept {
  return (align - pos % align) % align;
}

}  // namespace detail

// The pieces of one or more encoded messages, in order, without a copy of their payload: spans
// into the messages themselves, into static zero bytes (padding) and into the list's own storage
// (u64 lengths and counts). Keep the messages alive and unchanged while the pieces are in use.
// Move-only: moving keeps every piece valid, a copy could not. clear() keeps the storage for the
// next message. Not thread-safe.
struct gather_list {
  // The pieces, in order; adjacent pieces that are contiguous in memory are merged.
  std::vector<std::span<const std::byte>> parts;
  // The total number of bytes of all pieces.
  std::size_t size = 0;

  gather_list() = default;
  gather_list(const gather_list&) = delete;
  gather_list& operator=(const gather_list&) = delete;
  gather_list(gather_list&&) noexcept = default;
  gather_list& operator=(gather_list&&) noexcept = default;
  ~gather_list() = default;

  // Forgets every piece; the list may be reused (its storage is kept).
  void clear() noexcept {
    parts.clear();
    size = 0;
    slots_used_ = 0;
  }

  // append(bytes): adds a piece pointing at bytes (not copied: keep them alive).
  NODUS_DECL void append(std::span<const std::byte> bytes);

  // append_u64(v): adds v as 8 little-endian bytes, stored in the list itself.
  NODUS_DECL void append_u64(std::uint64_t v);

  // append_zeros(n): adds n zero bytes (padding); n <= 16.
  NODUS_DECL void append_zeros(std::size_t n);

 private:
  // Lengths live in fixed chunks, so that a new one never moves those that pieces point at.
  static constexpr std::size_t chunk_slots = 32;
  std::vector<std::unique_ptr<std::uint64_t[]>> chunks_;
  std::size_t slots_used_ = 0;
};

}  // namespace nodus::codec

#if defined(NODUS_HEADER_ONLY)
#include <nodus/codec/impl/gather_list.ipp>
#endif

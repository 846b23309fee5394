// nodus/codec/copy_stats.hpp: a process-wide count of the payload bytes nodus copies.
//
// The codec adds to it wherever it copies payload bytes (decoding into an owning message, a view's
// to_owned() over a buffer); the transport and the runtime add theirs through the same counter.
// Encoding and views over a buffer copy nothing, so a test or benchmark can prove zero copy by
// reading the counter around them.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace nodus::codec {
namespace detail {

inline std::atomic<std::uint64_t> copied_bytes_total{0};

// count_copy(n): records that n payload bytes were copied. Thread-safe (relaxed atomic).
inline void count_copy(std::size_t n) noexcept {
  if (n != 0) copied_bytes_total.fetch_add(n, std::memory_order_relaxed);
}

}  // namespace detail

// The payload bytes copied by nodus in this process so far. Thread-safe (a relaxed atomic: exact
// once the copying threads are done, a lower bound while they run).
[[nodiscard]] inline std::uint64_t copied_bytes() noexcept {
  return detail::copied_bytes_total.load(std::memory_order_relaxed);
}

}  // namespace nodus::codec

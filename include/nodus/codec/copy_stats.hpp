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
#include <mutex>
#include <vector>

#include <nodus/config.hpp>

namespace nodus::codec {
namespace detail {

// The counters: one per thread (no atomic read-modify-write, no shared cache line on the message
// path), summed on demand; a thread's count moves to `retired` when it exits.
struct copy_counters {
  std::mutex m;
  std::vector<const std::atomic<std::uint64_t>*> live;
  std::uint64_t retired = 0;
};
// counters() -> the counters of the process.
NODUS_DECL copy_counters& counters();

class thread_copy_counter {
 public:
  NODUS_DECL thread_copy_counter();
  thread_copy_counter(const thread_copy_counter&) = delete;
  thread_copy_counter& operator=(const thread_copy_counter&) = delete;
  NODUS_DECL ~thread_copy_counter();
  // add(n): only the owning thread writes, so a load and a store do.
  void add(std::uint64_t n) noexcept {
    n_.store(n_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

 private:
  std::atomic<std::uint64_t> n_{0};
};
// The calling thread's counter. Its initialisation runs code (it registers with counters()), so in
// separate compilation it is defined once, in impl/copy_stats.ipp.
#if defined(NODUS_HEADER_ONLY)
inline thread_local thread_copy_counter this_thread_copies;
#else
extern thread_local thread_copy_counter this_thread_copies;
#endif

// count_copy(n): records that n payload bytes were copied. Thread-safe.
inline void count_copy(std::size_t n) noexcept {
  if (n != 0) this_thread_copies.add(n);
}

}  // namespace detail

// The payload bytes copied by nodus in this process so far. Thread-safe: exact once the copying
// threads are done (or synchronized with the caller), a lower bound while they run.
[[nodiscard]] NODUS_DECL std::uint64_t copied_bytes() noexcept;

}  // namespace nodus::codec

#if defined(NODUS_HEADER_ONLY)
#include <nodus/codec/impl/copy_stats.ipp>
#endif

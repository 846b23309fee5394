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

namespace nodus::codec {
namespace detail {

// The counters: one per thread (no atomic read-modify-write, no shared cache line on the message
// path), summed on demand; a thread's count moves to `retired` when it exits.
struct copy_counters {
  std::mutex m;
  std::vector<const std::atomic<std::uint64_t>*> live;
  std::uint64_t retired = 0;
};
inline copy_counters& counters() {
  static copy_counters c;  // never destroyed before the threads that count (a function static)
  return c;
}

class thread_copy_counter {
 public:
  thread_copy_counter() {
    auto& c = counters();
    std::lock_guard lock(c.m);
    c.live.push_back(&n_);
  }
  thread_copy_counter(const thread_copy_counter&) = delete;
  thread_copy_counter& operator=(const thread_copy_counter&) = delete;
  ~thread_copy_counter() {
    auto& c = counters();
    std::lock_guard lock(c.m);
    c.retired += n_.load(std::memory_order_relaxed);
    std::erase(c.live, &n_);
  }
  // add(n): only the owning thread writes, so a load and a store do.
  void add(std::uint64_t n) noexcept {
    n_.store(n_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

 private:
  std::atomic<std::uint64_t> n_{0};
};
inline thread_local thread_copy_counter this_thread_copies;

// count_copy(n): records that n payload bytes were copied. Thread-safe.
inline void count_copy(std::size_t n) noexcept {
  if (n != 0) this_thread_copies.add(n);
}

}  // namespace detail

// The payload bytes copied by nodus in this process so far. Thread-safe: exact once the copying
// threads are done (or synchronized with the caller), a lower bound while they run.
[[nodiscard]] inline std::uint64_t copied_bytes() noexcept {
  auto& c = detail::counters();
  std::lock_guard lock(c.m);
  std::uint64_t sum = c.retired;
  for (const auto* n : c.live) sum += n->load(std::memory_order_relaxed);
  return sum;
}

}  // namespace nodus::codec

// tests/common/alloc_probe.hpp: an allocation probe, the largest single allocation while armed, to
// prove that a decoder allocates nothing before the bytes it reads justify it.
//
// It replaces the global (non-aligned) operator new and delete of the test executable: include it
// in exactly one .cpp file of that executable.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace probe {
inline std::atomic<bool> armed{false};
inline std::atomic<std::size_t> largest{0};

inline void note(std::size_t n) noexcept {
  if (!armed.load(std::memory_order_relaxed)) return;
  std::size_t seen = largest.load(std::memory_order_relaxed);
  while (n > seen && !largest.compare_exchange_weak(seen, n, std::memory_order_relaxed)) {
  }
}
inline void* allocate(std::size_t n) {
  note(n);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
inline void* allocate(std::size_t n, const std::nothrow_t&) noexcept {
  note(n);
  return std::malloc(n == 0 ? 1 : n);
}

// While alive, records the largest allocation made (by this thread or any other).
class scope {
 public:
  scope() noexcept {
    largest.store(0, std::memory_order_relaxed);
    armed.store(true, std::memory_order_relaxed);
  }
  scope(const scope&) = delete;
  scope& operator=(const scope&) = delete;
  ~scope() { armed.store(false, std::memory_order_relaxed); }
  [[nodiscard]] std::size_t largest_allocation() const noexcept {
    return largest.load(std::memory_order_relaxed);
  }
};
}  // namespace probe

void* operator new(std::size_t n) { return probe::allocate(n); }
void* operator new[](std::size_t n) { return probe::allocate(n); }
void* operator new(std::size_t n, const std::nothrow_t& t) noexcept {
  return probe::allocate(n, t);
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept {
  return probe::allocate(n, t);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

// nodus/codec/impl/copy_stats.ipp: the copy counters' registry and their sum (see
// codec/copy_stats.hpp). Included by that header in header-only mode, by nodus/impl/src.hpp
// otherwise.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "nodus/codec/copy_stats.hpp"

namespace nodus::codec {
namespace detail {

NODUS_DECL copy_counters& counters() {
  static copy_counters c;  // never destroyed before the threads that count (a function static)
  return c;
}

NODUS_DECL thread_copy_counter::thread_copy_counter() {
  auto& c = counters();
  std::lock_guard lock(c.m);
  c.live.push_back(&n_);
}

NODUS_DECL thread_copy_counter::~thread_copy_counter() {
  auto& c = counters();
  std::lock_guard lock(c.m);
  c.retired += n_.load(std::memory_order_relaxed);
  std::erase(c.live, &n_);
}

#if !defined(NODUS_HEADER_ONLY)
thread_local thread_copy_counter this_thread_copies;
#endif

}  // namespace detail

NODUS_DECL std::uint64_t copied_bytes() noexcept {
  auto& c = detail::counters();
  std::lock_guard lock(c.m);
  std::uint64_t sum = c.retired;
  for (const auto* n : c.live) sum += n->load(std::memory_order_relaxed);
  return sum;
}

}  // namespace nodus::codec

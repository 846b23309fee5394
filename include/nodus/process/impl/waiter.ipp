// nodus/process/impl/waiter.ipp: waiter_core (see process/detail/waiter.hpp). Included by that
// header in header-only mode, by nodus/impl/src.hpp otherwise.
#pragma once

#include "nodus/process/detail/waiter.hpp"

namespace nodus::detail {

NODUS_DECL void waiter_core::wait_done() {
  std::unique_lock lock(m_);
  while (!done_) cv_.wait(lock);
}

NODUS_DECL bool waiter_core::ready() {
  std::lock_guard lock(m_);
  return done_;
}

NODUS_DECL void waiter_core::release() noexcept {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

NODUS_DECL void waiter_core::drop_setter() noexcept {
  if (setters_.fetch_sub(1, std::memory_order_acq_rel) == 1) abandon();
  release();
}

NODUS_DECL void waiter_core::set_with(void (*put)(waiter_core&, void*), void* v) {
  {
    std::lock_guard lock(m_);
    if (done_) return;
    put(*this, v);
    done_ = true;
  }
  cv_.notify_all();
}

NODUS_DECL void waiter_core::abandon() noexcept {
  {
    std::lock_guard lock(m_);
    if (done_) return;
    done_ = true;
  }
  cv_.notify_all();
}

}  // namespace nodus::detail

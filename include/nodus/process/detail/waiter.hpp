// nodus/process/detail/waiter.hpp: waiter<T>, a one-shot slot a blocking caller waits on (a
// lighter std::promise / std::future), and its setter for completion handlers.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

namespace nodus::detail {
// waiter<T>: a one-shot slot a blocking caller waits on (a lighter std::promise/std::future).
template <class T>
class waiter {
 public:
  void set(T v) {
    {
      std::lock_guard lock(m_);
      if (done_) return;
      value_.emplace(std::move(v));
      done_ = true;
    }
    cv_.notify_all();
  }
  void abandon() {
    {
      std::lock_guard lock(m_);
      if (done_) return;
      done_ = true;
    }
    cv_.notify_all();
  }
  [[nodiscard]] bool ready() {
    std::lock_guard lock(m_);
    return done_;
  }
  // wait() -> the value, or nothing when the setter was dropped unset.
  std::optional<T> wait() {
    std::unique_lock lock(m_);
    cv_.wait(lock, [this] { return done_; });
    return std::move(value_);
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::optional<T> value_;
  bool done_ = false;
};
// waiter_setter<T>: the handler side (copyable); the first call sets the waiter, and the waiter
// is abandoned once every copy is gone unset (as a broken std::promise).
template <class T>
class waiter_setter {
  struct guard {
    std::shared_ptr<waiter<T>> w;
    ~guard() {
      if (w) w->abandon();
    }
  };

 public:
  explicit waiter_setter(std::shared_ptr<waiter<T>> w) : g_(std::make_shared<guard>()) {
    g_->w = std::move(w);
  }
  void operator()(T v) const { g_->w->set(std::move(v)); }

 private:
  std::shared_ptr<guard> g_;
};
}  // namespace nodus::detail

// nodus/process/detail/waiter.hpp: waiter<T>, a one-shot slot a blocking caller waits on (a
// lighter std::promise / std::future), its owning handle waiter_ptr<T>, and its setter for
// completion handlers. The lock, the wait and the reference counts are not templates
// (waiter_core, compiled once in process/impl/waiter.ipp): per value type, a TU compiles only the
// slot's set and take, and no std::shared_ptr.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <utility>

#include "nodus/config.hpp"

namespace nodus::detail {

// waiter_core: the part of waiter<T> that does not depend on T. Reference-counted: by its
// waiter_ptr (the blocking caller) and by each waiter_setter; the last one deletes it.
class waiter_core {
 public:
  waiter_core(const waiter_core&) = delete;
  waiter_core& operator=(const waiter_core&) = delete;

  // wait_done(): blocks until the slot is set, or abandoned by its last setter.
  NODUS_DECL void wait_done();
  // ready() -> set or abandoned.
  [[nodiscard]] NODUS_DECL bool ready();

  // The reference counts (see waiter_ptr, waiter_setter). Thread-safe.
  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  NODUS_DECL void release() noexcept;
  void add_setter() noexcept {
    add_ref();
    setters_.fetch_add(1, std::memory_order_relaxed);
  }
  // drop_setter(): the last setter gone unset abandons the slot (as a broken std::promise).
  NODUS_DECL void drop_setter() noexcept;

 protected:
  waiter_core() = default;
  virtual ~waiter_core() = default;
  // set_with(put, v): put(*this, v) fills the slot and the waiter is done, unless it already is
  // (then v is ignored).
  NODUS_DECL void set_with(void (*put)(waiter_core&, void*), void* v);

 private:
  NODUS_DECL void abandon() noexcept;

  std::mutex m_;
  std::condition_variable cv_;
  bool done_ = false;
  std::atomic<int> refs_{1};
  std::atomic<int> setters_{0};
};

// waiter<T>: the slot. Made by waiter_ptr<T>.
template <class T>
class waiter final : public waiter_core {
 public:
  void set(T v) { set_with(&put, &v); }
  // take() -> the value, or nothing when the last setter went unset; after wait_done().
  std::optional<T> take() { return std::move(value_); }

 private:
  static void put(waiter_core& w, void* v) {
    static_cast<waiter&>(w).value_.emplace(std::move(*static_cast<T*>(v)));
  }
  std::optional<T> value_;
};

// waiter_ptr<T>: the blocking caller's handle: makes the slot, waits on it.
template <class T>
class waiter_ptr {
 public:
  waiter_ptr() : w_(new waiter<T>()) {}
  waiter_ptr(waiter_ptr&& o) noexcept : w_(std::exchange(o.w_, nullptr)) {}
  waiter_ptr& operator=(waiter_ptr&&) = delete;
  ~waiter_ptr() {
    if (w_ != nullptr) w_->release();
  }
  // wait() -> the value, or nothing when every setter was dropped unset.
  std::optional<T> wait() {
    w_->wait_done();
    return w_->take();
  }
  // ready() -> set, or abandoned by its last setter.
  [[nodiscard]] bool ready() const { return w_->ready(); }
  [[nodiscard]] waiter<T>& get() const noexcept { return *w_; }

 private:
  waiter<T>* w_;
};

// waiter_setter<T>: the handler side (copyable); the first call sets the waiter, and the waiter
// is abandoned once every copy is gone unset.
template <class T>
class waiter_setter {
 public:
  explicit waiter_setter(const waiter_ptr<T>& w) noexcept : w_(&w.get()) { w_->add_setter(); }
  waiter_setter(const waiter_setter& o) noexcept : w_(o.w_) { w_->add_setter(); }
  waiter_setter(waiter_setter&& o) noexcept : w_(std::exchange(o.w_, nullptr)) {}
  waiter_setter& operator=(const waiter_setter&) = delete;
  waiter_setter& operator=(waiter_setter&&) = delete;
  ~waiter_setter() {
    if (w_ != nullptr) w_->drop_setter();
  }
  void operator()(T v) const { w_->set(std::move(v)); }

 private:
  waiter<T>* w_;
};

}  // namespace nodus::detail

#if defined(NODUS_HEADER_ONLY)
#include "nodus/process/impl/waiter.ipp"
#endif

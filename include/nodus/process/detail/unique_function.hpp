// nodus/process/detail/unique_function.hpp: a move-only void() callable (std::move_only_function
// is C++23 and absent from GCC 12 in C++20 mode), and box<T>, a light owning pointer.
#pragma once

#include <type_traits>
#include <utility>

namespace nodus::detail {

// box<T>: owns one T on the heap, as std::unique_ptr<T> does, with a fraction of its functions
// (each std::unique_ptr<T>, with its tuple and deleter, costs a TU some 30 functions at -O0).
template <class T>
class box {
 public:
  box() = default;
  explicit box(T* p) noexcept : p_(p) {}
  box(box&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  box& operator=(box&& o) noexcept {
    box(static_cast<box&&>(o)).swap(*this);
    return *this;
  }
  ~box() { delete p_; }
  void swap(box& o) noexcept { std::swap(p_, o.p_); }
  void reset() noexcept { box().swap(*this); }
  [[nodiscard]] T* get() const noexcept { return p_; }
  T* operator->() const noexcept { return p_; }
  T& operator*() const noexcept { return *p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }
  // release() -> the object, which the caller now owns.
  [[nodiscard]] T* release() noexcept { return std::exchange(p_, nullptr); }

 private:
  T* p_ = nullptr;
};

// instance_maker: makes a server's instances, a new one (owned by the caller) at each call: from
// a plain function (of<T>(): a default-constructed T) or from any callable returning a T* or a
// box<T> (a server built from copies of start_child's arguments). Not a template, so that a
// server type costs a TU no std::function; the cell that holds it knows T.
class instance_maker {
  struct base {
    virtual ~base() = default;
    virtual void* make() = 0;
  };
  template <class F>
  struct impl final : base {
    explicit impl(F&& f) : f_(static_cast<F&&>(f)) {}
    void* make() override {
      if constexpr (std::is_pointer_v<decltype(f_())>) {
        return f_();
      } else {
        return f_().release();
      }
    }
    F f_;
  };

 public:
  template <class T>
  [[nodiscard]] static instance_maker of() {
    instance_maker m;
    m.fn_ = []() -> void* { return new T(); };
    return m;
  }
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, instance_maker>>>
  explicit instance_maker(F&& f) : p_(new impl<std::decay_t<F>>(static_cast<F&&>(f))) {}

  // operator()() -> a new instance, as a pointer to the maker's T; throws what T's constructor
  // throws.
  [[nodiscard]] void* operator()() { return fn_ != nullptr ? fn_() : p_->make(); }

 private:
  instance_maker() = default;
  void* (*fn_)() = nullptr;
  box<base> p_;
};

// unique_function: owns any move-only callable taking no arguments and returning void.
class unique_function {
  struct base {
    virtual ~base() = default;
    virtual void call() = 0;
  };
  template <class F>
  struct impl final : base {
    explicit impl(F&& f) : f_(static_cast<F&&>(f)) {}
    void call() override { f_(); }
    F f_;
  };

 public:
  unique_function() = default;
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, unique_function>>>
  unique_function(F&& f)  // NOLINT(google-explicit-constructor)
      : p_(new impl<std::decay_t<F>>(static_cast<F&&>(f))) {}

  void operator()() { p_->call(); }
  explicit operator bool() const noexcept { return static_cast<bool>(p_); }

 private:
  box<base> p_;
};

}  // namespace nodus::detail

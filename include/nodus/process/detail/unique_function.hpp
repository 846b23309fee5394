// nodus/process/detail/unique_function.hpp: a move-only void() callable (std::move_only_function
// is C++23 and absent from GCC 12 in C++20 mode).
#pragma once

#include <memory>
#include <type_traits>
#include <utility>

namespace nodus::detail {

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
      : p_(std::make_unique<impl<std::decay_t<F>>>(static_cast<F&&>(f))) {}

  void operator()() { p_->call(); }
  explicit operator bool() const noexcept { return p_ != nullptr; }

 private:
  std::unique_ptr<base> p_;
};

}  // namespace nodus::detail

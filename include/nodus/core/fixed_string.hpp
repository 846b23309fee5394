// nodus/core/fixed_string.hpp: a string held by value, usable as a template argument.
#pragma once

#include <cstddef>
#include <string_view>

namespace nodus {

// A compile-time string of N chars (plus a terminating NUL), usable as a class-type template
// argument: `template <nodus::fixed_string S> struct x {};` then `x<"ping">`. It is a structural
// type, so its only data member is public; use view() rather than touching data_.
template <std::size_t N>
struct fixed_string {
  // The characters and a terminating NUL. Public only because template arguments require it.
  char data_[N + 1]{};

  constexpr fixed_string() noexcept = default;
  // From a string literal: fixed_string s = "ping"; (N is deduced as 4). Implicit on purpose.
  // NOLINTNEXTLINE(google-explicit-constructor)
  constexpr fixed_string(const char (&text)[N + 1]) noexcept {
    for (std::size_t i = 0; i < N; ++i) data_[i] = text[i];
    data_[N] = '\0';
  }

  [[nodiscard]] constexpr std::string_view view() const noexcept { return {data_, N}; }
  [[nodiscard]] static constexpr std::size_t size() noexcept { return N; }
  [[nodiscard]] static constexpr bool empty() noexcept { return N == 0; }
  // c_str() -> the NUL-terminated characters.
  [[nodiscard]] constexpr const char* c_str() const noexcept { return data_; }
  [[nodiscard]] constexpr const char* begin() const noexcept { return data_; }
  [[nodiscard]] constexpr const char* end() const noexcept { return data_ + N; }
  constexpr operator std::string_view() const noexcept { return view(); }  // NOLINT
};

// fixed_string{"ping"} deduces fixed_string<4>.
template <std::size_t M>
fixed_string(const char (&)[M]) -> fixed_string<M - 1>;

// Equal when the characters are equal, whatever the capacities.
template <std::size_t N, std::size_t M>
[[nodiscard]] constexpr bool operator==(const fixed_string<N>& a,
                                        const fixed_string<M>& b) noexcept {
  return a.view() == b.view();
}

// Equal to a string_view (or a string literal) with the same characters.
template <std::size_t N>
[[nodiscard]] constexpr bool operator==(const fixed_string<N>& a, std::string_view b) noexcept {
  return a.view() == b;
}

}  // namespace nodus

// nodus/core/format.hpp: a small `{}` formatter (GCC 12 has no <format>), used by the logger.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include "nodus/config.hpp"
#include "nodus/core/error.hpp"

namespace nodus {

namespace detail {

// Stops ordinary lookup here, so that nodus_format below is found by ADL only.
void nodus_format() = delete;

// A type with a user-provided `void nodus_format(std::string&, const T&)` found by ADL.
template <class T>
concept has_nodus_format = requires(std::string& out, const T& value) {
  nodus_format(out, value);
};

// std::chrono::duration, recognised by its shape so that this header need not include <chrono>
// (GCC 12's <chrono> pulls in <sstream>).
template <class T>
concept duration_like = requires(const T& d) {
  typename T::rep;
  typename T::period;
  T::period::num;
  T::period::den;
  d.count();
};

template <class T>
concept range_like = requires(const T& r) {
  std::begin(r);
  std::end(r);
};

template <class T>
inline constexpr bool is_pair_v = false;
template <class A, class B>
inline constexpr bool is_pair_v<std::pair<A, B>> = true;

template <class T>
inline constexpr bool is_result_v = false;
template <class T>
inline constexpr bool is_result_v<result<T>> = true;

template <class T>
inline constexpr bool is_char_like_v = std::is_same_v<T, wchar_t> || std::is_same_v<T, char8_t> ||
                                       std::is_same_v<T, char16_t> || std::is_same_v<T, char32_t>;

template <class T>
inline constexpr bool dependent_false_v = false;

template <class T>
void format_value(std::string& out, const T& value);

template <class I>
void format_integer(std::string& out, I value) {
  if constexpr (is_char_like_v<I>) {
    format_integer(out, static_cast<unsigned long long>(value));
  } else if constexpr (sizeof(I) > sizeof(long long)) {
    char buf[48];
    const auto r = std::to_chars(buf, buf + sizeof buf, value);
    out.append(buf, r.ptr);
  } else {
    char buf[24];  // 20 digits and a sign for 64 bits
    using wide = std::conditional_t<std::is_signed_v<I>, long long, unsigned long long>;
    const auto r = std::to_chars(buf, buf + sizeof buf, static_cast<wide>(value));
    out.append(buf, r.ptr);
  }
}

// Shortest representation that reads back to the same value ("0.1", "1e+20", "inf", "nan").
template <class F>
void format_float(std::string& out, F value) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, value);
  if (r.ec == std::errc{}) out.append(buf, r.ptr);
}

// "0x" and the address in hex.
NODUS_DECL void format_pointer(std::string& out, const volatile void* p);

// "250ms": the count, then the unit of std::format's chrono formatting (us instead of the micro
// sign).
template <class D>
void format_duration(std::string& out, const D& d) {
  format_value(out, d.count());
  constexpr auto num = D::period::num;
  constexpr auto den = D::period::den;
  if constexpr (num == 1 && den == 1000000000) {
    out += "ns";
  } else if constexpr (num == 1 && den == 1000000) {
    out += "us";
  } else if constexpr (num == 1 && den == 1000) {
    out += "ms";
  } else if constexpr (num == 1 && den == 1) {
    out += "s";
  } else if constexpr (num == 60 && den == 1) {
    out += "min";
  } else if constexpr (num == 3600 && den == 1) {
    out += "h";
  } else if constexpr (num == 86400 && den == 1) {
    out += "d";
  } else {
    out += '[';
    format_integer(out, num);
    if constexpr (den != 1) {
      out += '/';
      format_integer(out, den);
    }
    out += "]s";
  }
}

// Appends value to out; see nodus::format for the supported types.
template <class T>
void format_value(std::string& out, const T& value) {
  if constexpr (has_nodus_format<T>) {
    nodus_format(out, value);
  } else if constexpr (std::is_same_v<T, bool>) {
    out += value ? "true" : "false";
  } else if constexpr (std::is_same_v<T, char>) {
    out += value;
  } else if constexpr (std::is_enum_v<T>) {
    if constexpr (std::is_error_code_enum_v<T>) {
      out += make_error_code(value).message();
    } else if constexpr (std::is_error_condition_enum_v<T>) {
      out += make_error_condition(value).message();
    } else {
      format_integer(out, static_cast<std::underlying_type_t<T>>(value));
    }
  } else if constexpr (std::is_integral_v<T>) {
    format_integer(out, value);
  } else if constexpr (std::is_floating_point_v<T>) {
    format_float(out, value);
  } else if constexpr (std::is_same_v<T, std::nullptr_t>) {
    out += "0x0";
  } else if constexpr (std::is_same_v<T, const char*> || std::is_same_v<T, char*>) {
    if (value != nullptr) {
      out += value;
    } else {
      out += "(null)";
    }
  } else if constexpr (std::is_array_v<T> &&
                       std::is_same_v<std::remove_cv_t<std::remove_extent_t<T>>, char>) {
    // A char array (a string literal): up to its first NUL, never past its end.
    std::size_t n = 0;
    while (n < std::extent_v<T> && value[n] != '\0') ++n;
    out.append(value, n);
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    out += static_cast<std::string_view>(value);
  } else if constexpr (std::is_same_v<T, std::error_code> ||
                       std::is_same_v<T, std::error_condition>) {
    out += value.message();
  } else if constexpr (std::is_same_v<T, nodus::error>) {
    out += value.message();
  } else if constexpr (is_result_v<T>) {
    if (!value.has_value()) {
      out += "error: ";
      out += value.error().message();
    } else if constexpr (std::is_void_v<typename T::value_type>) {
      out += "ok";
    } else {
      format_value(out, value.value());
    }
  } else if constexpr (duration_like<T>) {
    format_duration(out, value);
  } else if constexpr (std::is_pointer_v<T> && !std::is_function_v<std::remove_pointer_t<T>>) {
    format_pointer(out, value);
  } else if constexpr (is_pair_v<T>) {
    out += '(';
    format_value(out, value.first);
    out += ", ";
    format_value(out, value.second);
    out += ')';
  } else if constexpr (range_like<T>) {
    out += '[';
    bool first = true;
    for (const auto& element : value) {
      if (!first) out += ", ";
      first = false;
      format_value(out, element);
    }
    out += ']';
  } else {
    static_assert(dependent_false_v<T>,
                  "nodus::format cannot format this argument type: give the type a "
                  "`void nodus_format(std::string& out, const T& value)` in its namespace "
                  "(found by argument-dependent lookup)");
  }
}

// One argument, type-erased so that the format-string loop is compiled once.
struct format_arg {
  const void* value;
  void (*append)(std::string&, const void*);
};

template <class T>
void append_erased(std::string& out, const void* value) {
  format_value(out, *static_cast<const T*>(value));
}

// The format-string loop: `{...}` takes the next argument, `{{` and `}}` are braces.
NODUS_DECL void vformat_to(std::string& out, std::string_view fmt, const format_arg* args,
                           std::size_t count);

}  // namespace detail

// format_to(out, "{} is {}", a, b): appends the formatted text to out.
// `{}` takes the next argument (text inside the braces is ignored, so `{:x}` acts as `{}`);
// `{{` and `}}` write one brace. A placeholder with no argument left is written as is; extra
// arguments are ignored; an unterminated `{` and the text after it are written as is.
// Supported arguments, in the order they are tried: a type with an ADL-found
// `void nodus_format(std::string&, const T&)`, bool, char, enums (error-code enums by message,
// others as their number), integers and floating point (std::to_chars), strings (const char*,
// char arrays, anything convertible to std::string_view), std::error_code, nodus::error,
// nodus::result (value, "ok" or "error: ..."), std::chrono::duration ("250ms"), pointers ("0x..."),
// std::pair ("(a, b)"), ranges ("[a, b]"). Never throws except std::bad_alloc or what a user's
// nodus_format throws.
template <class... Args>
void format_to(std::string& out, std::string_view fmt, const Args&... args) {
  if constexpr (sizeof...(Args) == 0) {
    detail::vformat_to(out, fmt, nullptr, 0);
  } else {
    const detail::format_arg erased[] = {
        detail::format_arg{static_cast<const void*>(&args), &detail::append_erased<Args>}...};
    detail::vformat_to(out, fmt, erased, sizeof...(Args));
  }
}

// format("{} is {}", a, b) -> the formatted string; see format_to.
template <class... Args>
[[nodiscard]] std::string format(std::string_view fmt, const Args&... args) {
  std::string out;
  out.reserve(fmt.size() + 16 * sizeof...(Args));
  format_to(out, fmt, args...);
  return out;
}

}  // namespace nodus

#if defined(NODUS_HEADER_ONLY)
#include "nodus/core/impl/format.ipp"
#endif

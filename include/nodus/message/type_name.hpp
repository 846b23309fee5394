// nodus/message/type_name.hpp: the name of a type as text, spelled the same by GCC and clang.
#pragma once

#include <cstddef>
#include <string_view>

#if !defined(__GNUC__) && !defined(__clang__)
#error "nodus::type_name needs __PRETTY_FUNCTION__ (GCC or clang)"
#endif

namespace nodus {
namespace detail {

// GCC 12: "constexpr auto nodus::detail::raw_type_name() [with T = ns::ping]"
// clang 14: "auto nodus::detail::raw_type_name() [T = ns::ping]"
// The return type is `auto` on purpose: a named return type (std::string_view) makes GCC append
// "; std::string_view = std::basic_string_view<char>" to the text.
template <class T>
constexpr auto raw_type_name() noexcept {
  return std::string_view{__PRETTY_FUNCTION__};
}

// The part of raw_type_name<T>() that names T.
[[nodiscard]] constexpr std::string_view trim_pretty_function(std::string_view pretty) noexcept {
  constexpr std::string_view marker = "T = ";
  const std::size_t begin = pretty.find(marker) + marker.size();
  const std::size_t end = pretty.rfind(']');
  return pretty.substr(begin, end - begin);
}

[[nodiscard]] constexpr bool is_identifier_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

[[nodiscard]] constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

[[nodiscard]] constexpr bool is_integer_suffix(char c) noexcept {
  return c == 'u' || c == 'U' || c == 'l' || c == 'L';
}

struct type_spelling {
  std::string_view from;
  std::string_view to;
};

// GCC spellings rewritten to clang's, which are also the usual C++ ones. `std::__cxx11::` is
// libstdc++'s inline namespace; clang never prints inline namespaces, GCC does.
inline constexpr type_spelling gcc_type_spellings[] = {
    {"{anonymous}", "(anonymous namespace)"},
    {"long long unsigned int", "unsigned long long"},
    {"long long int", "long long"},
    {"long unsigned int", "unsigned long"},
    {"long int", "long"},
    {"short unsigned int", "unsigned short"},
    {"short int", "short"},
    {"__cxx11::", ""},
};

// Writes the canonical spelling of `in` to `out` (when not null) and returns its length.
// Rules: the GCC spellings above become clang's; integer literals lose clang's U/L suffixes; a
// space is kept only after a comma or between two identifier characters, so "a<b<int> >",
// "int *", "T &", "void (int)", "v<5UL>" become "a<b<int>>", "int*", "T&", "void(int)", "v<5>"
// whichever compiler printed them.
constexpr std::size_t normalize_type_name(std::string_view in, char* out) noexcept {
  std::size_t n = 0;
  char last = '\0';
  auto emit = [&](char c) {
    if (out != nullptr) out[n] = c;
    ++n;
    last = c;
  };
  std::size_t i = 0;
  while (i < in.size()) {
    const bool at_word_start = i == 0 || !is_identifier_char(in[i - 1]);
    bool replaced = false;
    if (at_word_start) {
      for (const type_spelling& s : gcc_type_spellings) {
        if (in.substr(i, s.from.size()) != s.from) continue;
        const std::size_t after = i + s.from.size();
        if (is_identifier_char(s.from.back()) && after < in.size() && is_identifier_char(in[after]))
          continue;
        for (const char c : s.to) emit(c);
        i = after;
        replaced = true;
        break;
      }
    }
    if (replaced) continue;
    if (at_word_start && is_digit(in[i])) {  // a number: clang adds U/L suffixes, GCC does not
      std::size_t end = i;
      while (end < in.size() && is_digit(in[end])) emit(in[end++]);
      std::size_t suffix = end;
      while (suffix < in.size() && is_integer_suffix(in[suffix])) ++suffix;
      i = (suffix < in.size() && is_identifier_char(in[suffix])) ? end : suffix;
      continue;
    }
    const char c = in[i];
    if (c == ' ') {
      const bool next_ident = i + 1 < in.size() && is_identifier_char(in[i + 1]);
      if (last == ',' || (is_identifier_char(last) && next_ident)) emit(c);
    } else {
      emit(c);
    }
    ++i;
  }
  return n;
}

template <std::size_t N>
struct name_buffer {
  char data[N + 1] = {};
};

template <class T>
struct type_name_storage {
  static constexpr std::string_view raw = trim_pretty_function(raw_type_name<T>());
  static constexpr std::size_t size = normalize_type_name(raw, nullptr);
  static constexpr name_buffer<size> make() noexcept {
    name_buffer<size> b;
    normalize_type_name(raw, b.data);
    return b;
  }
  static constexpr name_buffer<size> value = make();
};

}  // namespace detail

// type_name<T>() -> the name of T as written in the source with its namespaces: "ns::ping",
// "ping", "ns::box<ns::ping>", "ns::box<unsigned long>". GCC 12 and clang 14 give the same text
// for types in named namespaces. They still differ for types inside an inline namespace (clang
// omits it), local classes and lambdas: give such message types a `nodus_name`.
template <class T>
[[nodiscard]] constexpr std::string_view type_name() noexcept {
  return {detail::type_name_storage<T>::value.data, detail::type_name_storage<T>::size};
}

}  // namespace nodus

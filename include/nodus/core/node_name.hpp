// nodus/core/node_name.hpp: the name of a node, `name@host`, validated by Erlang's rules.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <type_traits>

#include "nodus/config.hpp"
#include "nodus/core/error.hpp"
#include "nodus/core/fixed_string.hpp"

namespace nodus {

namespace detail {

// The rules, as Erlang/OTP applies them when a node starts distribution
// (lib/kernel/src/net_kernel.erl, create_name/3; identical in the 2018 sources and in OTP 27):
//   split_node/1         splits the name at its FIRST '@' (so the host part may contain '@');
//   valid_name_head/1    the part before '@' must match "^[0-9A-Za-z_\\-]+$";
//   validate_hostname/1  the part after '@' must match "^[!-\u00FF]*$" (code points 0x21-0xFF).
// A node name is an atom, and atoms hold at most 255 characters
// (erts/emulator/beam/atom.h: MAX_ATOM_CHARACTERS 255).
// nodus requires a non-empty host (Erlang would substitute the local host name) and keeps the
// host part to printable ASCII '!'..'~': a strict subset of Erlang's rule, so every name nodus
// accepts is accepted by Erlang too, and bytes equal characters for the 255 limit.

// What is wrong with a candidate node name; `none` when it is valid.
enum class node_name_problem : unsigned char {
  none,
  empty,
  too_long,
  no_at,
  empty_alive,
  empty_host,
  bad_alive_char,
  bad_host_char,
};

// The outcome of check_node_name: the problem, where the '@' is, where the bad character is.
struct node_name_check {
  node_name_problem problem = node_name_problem::none;
  std::size_t at = 0;
  std::size_t bad_pos = 0;
};

// True for the characters Erlang allows before the '@': [0-9A-Za-z_-].
[[nodiscard]] constexpr bool is_node_alive_char(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
         c == '-';
}

// True for the characters nodus allows after the '@': printable ASCII except space.
[[nodiscard]] constexpr bool is_node_host_char(char c) noexcept { return c >= '!' && c <= '~'; }

// check_node_name(text) -> the first problem found in text, in a fixed order (usable at compile
// time).
[[nodiscard]] constexpr node_name_check check_node_name(std::string_view text) noexcept {
  using p = node_name_problem;
  if (text.empty()) return {p::empty, 0, 0};
  if (text.size() > 255) return {p::too_long, 0, 0};
  // An index loop rather than text.find: GCC 12 with -fsanitize=undefined cannot constant-fold
  // string_view::find over a template parameter object (node_name::from<"...">).
  std::size_t at = 0;
  while (at < text.size() && text[at] != '@') ++at;
  if (at == text.size()) return {p::no_at, 0, 0};
  if (at == 0) return {p::empty_alive, at, 0};
  if (at + 1 == text.size()) return {p::empty_host, at, 0};
  for (std::size_t i = 0; i < at; ++i) {
    if (!is_node_alive_char(text[i])) return {p::bad_alive_char, at, i};
  }
  for (std::size_t i = at + 1; i < text.size(); ++i) {
    if (!is_node_host_char(text[i])) return {p::bad_host_char, at, i};
  }
  return {p::none, at, 0};
}

// Appends c readably: printable ASCII as itself, anything else as \xNN.
NODUS_DECL void append_escaped_char(std::string& out, char c);

// Appends text in double quotes, escaped, cut after 40 bytes (a reason must stay readable).
NODUS_DECL void append_quoted(std::string& out, std::string_view text);

// The reason text of an invalid_node_name error, naming the input and what is wrong with it.
NODUS_DECL std::string node_name_reason(std::string_view text, const node_name_check& c);

// Reached only for an invalid "..."_node literal. They are not constexpr, so reaching one while
// the literal is evaluated at compile time is the compile error, and the function's name is the
// message. Where the literal may run at run time (clang, see NODUS_NODE_LITERAL_SPECIFIER), they
// print the problem and abort: an invalid literal is a programming error.
[[noreturn]] NODUS_DECL void invalid_node_name_literal(const char* what) noexcept;
[[noreturn]] inline void invalid_node_name_literal_is_empty() noexcept {
  invalid_node_name_literal("it is empty; write name@host");
}
[[noreturn]] inline void invalid_node_name_literal_is_longer_than_255_bytes() noexcept {
  invalid_node_name_literal("longer than 255 bytes");
}
[[noreturn]] inline void invalid_node_name_literal_has_no_at_sign_expected_name_at_host() noexcept {
  invalid_node_name_literal("no '@'; write name@host");
}
[[noreturn]] inline void invalid_node_name_literal_has_an_empty_name_before_at_sign() noexcept {
  invalid_node_name_literal("the name part before '@' is empty");
}
[[noreturn]] inline void invalid_node_name_literal_has_an_empty_host_after_at_sign() noexcept {
  invalid_node_name_literal("the host part after '@' is empty");
}
[[noreturn]] inline void
invalid_node_name_literal_name_allows_only_letters_digits_underscore_dash() noexcept {
  invalid_node_name_literal("the name part allows only A-Z a-z 0-9 _ -");
}
[[noreturn]] inline void
invalid_node_name_literal_host_allows_only_printable_ascii_except_space() noexcept {
  invalid_node_name_literal("the host part allows only printable ASCII except space");
}

}  // namespace detail

// How "..."_node is declared: consteval, except under clang, whose consteval user-defined literals
// are unreliable (clang 14 leaves calls to them inside templates unresolved, a link error:
// llvm/llvm-project#54578; later versions hit "trying to emit a call to an immediate function",
// see intel/compile-time-init-build#742). Under clang the literal is constexpr: checked at compile
// time wherever it is constant-evaluated, and at run time (message, abort) elsewhere.
#if defined(__clang__)
#define NODUS_NODE_LITERAL_SPECIFIER constexpr
#else
#define NODUS_NODE_LITERAL_SPECIFIER consteval
#endif

class node_name;
inline namespace literals {
[[nodiscard]] NODUS_NODE_LITERAL_SPECIFIER node_name operator""_node(const char* text,
                                                                     std::size_t size) noexcept;
}  // namespace literals

// The name of a node, `alive@host` ("n1@127.0.0.1"), always valid unless empty
// (default-constructed). Fixed capacity (255 bytes, Erlang's atom limit), no heap, trivially
// copyable: it can travel in a message as its bytes. Build one with parse() at run time or the
// "..."_node literal at compile time.
class node_name {
 public:
  // The longest name, in bytes (Erlang's MAX_ATOM_CHARACTERS).
  static constexpr std::size_t max_size = 255;

  // An empty name: empty() is true, str() is "".
  constexpr node_name() noexcept = default;

  // parse(text) -> the node name, or errc::invalid_node_name with a reason naming text and what is
  // wrong (empty, no '@', empty name or host part, too long, a character Erlang does not allow).
  [[nodiscard]] NODUS_DECL static result<node_name> parse(std::string_view text) noexcept;

  // is_valid(text) -> whether parse(text) would succeed; usable in constant expressions.
  [[nodiscard]] static constexpr bool is_valid(std::string_view text) noexcept {
    return detail::check_node_name(text).problem == detail::node_name_problem::none;
  }

  // from<"n1@127.0.0.1">() -> the node name, checked at compile time: an invalid one fails a
  // static_assert that says what is wrong. For templates over fixed_string (hosts<"n1@h", ...>).
  template <fixed_string Text>
  [[nodiscard]] static constexpr node_name from() noexcept {
    using p = detail::node_name_problem;
    constexpr detail::node_name_check c = detail::check_node_name(Text.view());
    static_assert(c.problem != p::empty, "nodus: invalid node name: it is empty; write name@host");
    static_assert(c.problem != p::too_long,
                  "nodus: invalid node name: longer than 255 bytes (Erlang's atom limit)");
    static_assert(c.problem != p::no_at, "nodus: invalid node name: no '@'; write name@host");
    static_assert(c.problem != p::empty_alive,
                  "nodus: invalid node name: the name part before '@' is empty");
    static_assert(c.problem != p::empty_host,
                  "nodus: invalid node name: the host part after '@' is empty");
    static_assert(c.problem != p::bad_alive_char,
                  "nodus: invalid node name: the name part before '@' allows only A-Z a-z 0-9 _ -");
    static_assert(c.problem != p::bad_host_char,
                  "nodus: invalid node name: the host part after '@' allows only printable ASCII "
                  "except space");
    return node_name(Text.view(), c.at);
  }

  // str() -> the whole name, "n1@127.0.0.1"; a view into this object.
  [[nodiscard]] constexpr std::string_view str() const noexcept { return {data_, size_}; }
  // alive() -> the part before the '@', "n1".
  [[nodiscard]] constexpr std::string_view alive() const noexcept { return {data_, at_}; }
  // host() -> the part after the first '@', "127.0.0.1".
  [[nodiscard]] constexpr std::string_view host() const noexcept {
    if (size_ == 0) return {};
    return {data_ + at_ + 1, static_cast<std::size_t>(size_ - at_ - 1)};
  }
  [[nodiscard]] constexpr bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] constexpr std::size_t size() const noexcept { return size_; }

  friend constexpr bool operator==(const node_name& a, const node_name& b) noexcept {
    return a.str() == b.str();
  }
  friend constexpr bool operator==(const node_name& a, std::string_view b) noexcept {
    return a.str() == b;
  }
  // Ordered as their strings are.
  friend constexpr std::strong_ordering operator<=>(const node_name& a,
                                                    const node_name& b) noexcept {
    return a.str().compare(b.str()) <=> 0;
  }

 private:
  friend NODUS_NODE_LITERAL_SPECIFIER node_name literals::operator""_node(const char*,
                                                                          std::size_t) noexcept;

  // text is valid and its first '@' is at `at`.
  constexpr node_name(std::string_view text, std::size_t at) noexcept
      : size_(static_cast<std::uint8_t>(text.size())), at_(static_cast<std::uint8_t>(at)) {
    for (std::size_t i = 0; i < text.size(); ++i) data_[i] = text[i];
  }

  char data_[max_size]{};
  std::uint8_t size_ = 0;
  std::uint8_t at_ = 0;
};

static_assert(std::is_trivially_copyable_v<node_name>, "node_name must stay trivially copyable");

// Formatting hook found by ADL (used by nodus::format and the logger): appends str().
inline void nodus_format(std::string& out, const node_name& name) { out += name.str(); }

inline namespace literals {

// "n1@127.0.0.1"_node -> a node_name checked at compile time: an invalid literal does not compile,
// and the error names a function of nodus::detail that says what is wrong (under clang, see
// NODUS_NODE_LITERAL_SPECIFIER). A raw literal operator, not a template over fixed_string: clang 14
// crashes printing diagnostics that involve such a template, e.g. std::vector{"a@b"_node}.
NODUS_NODE_LITERAL_SPECIFIER node_name operator""_node(const char* text,
                                                       std::size_t size) noexcept {
  using p = detail::node_name_problem;
  const std::string_view name(text, size);
  const detail::node_name_check c = detail::check_node_name(name);
  switch (c.problem) {  // see detail::invalid_node_name_literal
    case p::none: break;
    case p::empty: detail::invalid_node_name_literal_is_empty(); break;
    case p::too_long: detail::invalid_node_name_literal_is_longer_than_255_bytes(); break;
    case p::no_at: detail::invalid_node_name_literal_has_no_at_sign_expected_name_at_host(); break;
    case p::empty_alive:
      detail::invalid_node_name_literal_has_an_empty_name_before_at_sign();
      break;
    case p::empty_host: detail::invalid_node_name_literal_has_an_empty_host_after_at_sign(); break;
    case p::bad_alive_char:
      detail::invalid_node_name_literal_name_allows_only_letters_digits_underscore_dash();
      break;
    case p::bad_host_char:
      detail::invalid_node_name_literal_host_allows_only_printable_ascii_except_space();
      break;
  }
  return node_name(name, c.at);
}

}  // namespace literals

}  // namespace nodus

// Hashes a node_name as its string.
template <>
struct std::hash<nodus::node_name> {
  [[nodiscard]] std::size_t operator()(const nodus::node_name& name) const noexcept {
    return std::hash<std::string_view>{}(name.str());
  }
};

#if defined(NODUS_HEADER_ONLY)
#include "nodus/core/impl/node_name.ipp"
#endif

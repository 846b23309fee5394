// nodus/core/impl/node_name.ipp: parsing node names at run time and the reasons given for invalid
// ones (see core/node_name.hpp). Included by that header in header-only mode, by
// nodus/impl/src.hpp otherwise.
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "nodus/core/node_name.hpp"

namespace nodus {

namespace detail {

NODUS_DECL void append_escaped_char(std::string& out, char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) {
    out += c;
    return;
  }
  constexpr const char* hex = "0123456789abcdef";
  out += "\\x";
  out += hex[u >> 4];
  out += hex[u & 0x0f];
}

NODUS_DECL void append_quoted(std::string& out, std::string_view text) {
  constexpr std::size_t shown = 40;
  out += '"';
  for (std::size_t i = 0; i < text.size() && i < shown; ++i) {
    if (text[i] == '"' || text[i] == '\\') out += '\\';
    append_escaped_char(out, text[i]);
  }
  if (text.size() > shown) out += "...";
  out += '"';
}

NODUS_DECL std::string node_name_reason(std::string_view text, const node_name_check& c) {
  std::string r;
  append_quoted(r, text);
  switch (c.problem) {
    case node_name_problem::none: r += " is valid"; break;
    case node_name_problem::empty: r += " is empty; expected name@host"; break;
    case node_name_problem::too_long:
      r += " is ";
      r += std::to_string(text.size());
      r += " bytes long; a node name has at most 255 (Erlang's atom limit)";
      break;
    case node_name_problem::no_at: r += " has no '@'; expected name@host"; break;
    case node_name_problem::empty_alive: r += " has an empty name part before '@'"; break;
    case node_name_problem::empty_host: r += " has an empty host part after '@'"; break;
    case node_name_problem::bad_alive_char:
    case node_name_problem::bad_host_char: {
      const bool alive = c.problem == node_name_problem::bad_alive_char;
      r += " has character '";
      append_escaped_char(r, text[c.bad_pos]);
      r += "' at offset ";
      r += std::to_string(c.bad_pos);
      r += alive ? " in its name part; allowed there: A-Z a-z 0-9 _ -"
                 : " in its host part; allowed there: printable ASCII except space";
      break;
    }
  }
  return r;
}

NODUS_DECL void invalid_node_name_literal(const char* what) noexcept {
  std::fputs("nodus: invalid \"...\"_node literal: ", stderr);
  std::fputs(what, stderr);
  std::fputs("\n", stderr);
  std::abort();
}

}  // namespace detail

NODUS_DECL result<node_name> node_name::parse(std::string_view text) noexcept {
  const detail::node_name_check c = detail::check_node_name(text);
  if (c.problem != detail::node_name_problem::none) {
    return nodus::error(errc::invalid_node_name, detail::node_name_reason(text, c));
  }
  return node_name(text, c.at);
}

}  // namespace nodus

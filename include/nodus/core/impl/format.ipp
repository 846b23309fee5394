// nodus/core/impl/format.ipp: the formatter's format-string loop and pointer formatting (see
// core/format.hpp). Included by that header in header-only mode, by nodus/impl/src.hpp otherwise.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "nodus/core/format.hpp"

namespace nodus::detail {

NODUS_DECL void format_pointer(std::string& out, const volatile void* p) {
  char buf[2 + 2 * sizeof(std::uintptr_t)];
  const auto r = std::to_chars(buf, buf + sizeof buf, reinterpret_cast<std::uintptr_t>(p), 16);
  out += "0x";
  out.append(buf, r.ptr);
}

NODUS_DECL void vformat_to(std::string& out, std::string_view fmt, const format_arg* args,
                           std::size_t count) {
  std::size_t next = 0;
  std::size_t i = 0;
  while (i < fmt.size()) {
    const char c = fmt[i];
    if (c == '{') {
      if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
        out += '{';
        i += 2;
        continue;
      }
      const std::size_t close = fmt.find('}', i + 1);
      if (close == std::string_view::npos) {  // unterminated: the rest is plain text
        out.append(fmt.substr(i));
        return;
      }
      if (next < count) {
        args[next].append(out, args[next].value);
        ++next;
      } else {  // no argument left: keep the placeholder as written
        out.append(fmt.substr(i, close + 1 - i));
      }
      i = close + 1;
    } else if (c == '}') {  // "}}" or a lone '}': one brace
      out += '}';
      i += (i + 1 < fmt.size() && fmt[i + 1] == '}') ? 2 : 1;
    } else {
      std::size_t stop = fmt.find_first_of("{}", i);
      if (stop == std::string_view::npos) stop = fmt.size();
      out.append(fmt.substr(i, stop - i));
      i = stop;
    }
  }
}

}  // namespace nodus::detail

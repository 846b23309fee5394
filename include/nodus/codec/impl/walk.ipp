// nodus/codec/impl/walk.ipp: the checking reader's padding and faults, and the text of a fault
// (see codec/detail/walk.hpp). Included by that header in header-only mode, by nodus/impl/src.hpp
// otherwise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "nodus/codec/detail/walk.hpp"

namespace nodus::codec::detail {

NODUS_DECL bool reader::fail(fault f, std::size_t where, std::uint64_t v) noexcept {
  what = f;
  at = where;
  value = v;
  left = remaining();
  return false;
}

NODUS_DECL bool reader::align(std::size_t alignment) noexcept {
  const std::size_t pad = padding(pos, alignment);
  if (!need(pad)) return false;
  for (std::size_t i = 0; i < pad; ++i) {
    const auto b = std::to_integer<std::uint64_t>(data[pos + i]);
    if (b != 0) return fail(fault::nonzero_padding, pos + i, b);
  }
  pos += pad;
  return true;
}

NODUS_DECL std::string describe_fault(const reader& r, std::string_view type) {
  using std::to_string;
  std::string s{type};
  if (!r.member.empty()) {
    s += ", member '";
    s += r.member;
    s += '\'';
  }
  s += ": ";
  switch (r.what) {
    case fault::none: s += "no fault"; break;
    case fault::misaligned:
      s += "the buffer is not aligned to " + to_string(r.value) + " bytes (its address is " +
           to_string(reinterpret_cast<std::uintptr_t>(r.data) % r.value) + " past a multiple)";
      break;
    case fault::truncated:
      s += "truncated: " + to_string(r.value) + " bytes needed at offset " + to_string(r.at) +
           ", " + to_string(r.size - r.at) + " left";
      break;
    case fault::length_over:
      s += "string length " + to_string(r.value) + " at offset " + to_string(r.at) +
           " exceeds the " + to_string(r.left) + " bytes left";
      break;
    case fault::count_over:
      s += "element count " + to_string(r.value) + " at offset " + to_string(r.at) +
           " cannot fit in the " + to_string(r.left) + " bytes left";
      break;
    case fault::bad_bool:
      s += "bool at offset " + to_string(r.at) + " holds " + to_string(r.value) + ", not 0 or 1";
      break;
    case fault::nonzero_padding:
      s += "padding byte at offset " + to_string(r.at) + " holds " + to_string(r.value) + ", not 0";
      break;
    case fault::bad_text:
      s += "the " + to_string(r.value) + " bytes of text at offset " + to_string(r.at) +
           " do not make a valid value of the member's type (an atom: UTF-8, at most 255 "
           "characters)";
      break;
    case fault::trailing:
      s += to_string(r.value) + " trailing bytes after the message, which ends at offset " +
           to_string(r.at);
      break;
  }
  return s;
}

}  // namespace nodus::codec::detail

// nodus/codec/etf/impl/typed.ipp: the parts of the typed mapping that do not depend on the C++
// type: conversions and error messages (see nodus/codec/etf/typed.hpp and nodus/config.hpp).
#pragma once

#include "nodus/codec/etf/typed.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nodus::etf::detail {

NODUS_DECL void put_enum_failure(writer& w, std::string_view type, long long value) {
  w.fail(std::string(type) + " value " + std::to_string(value) + " has no atom in its etf_atoms");
}

NODUS_DECL bool mismatch(read_context& ctx, std::string_view type, std::string_view expected,
                         const term& got, std::string_view detail) {
  ctx.problem = "expected ";
  ctx.problem += type;
  ctx.problem += " (";
  ctx.problem += expected;
  ctx.problem += "), got ";
  ctx.problem += got.to_string(80);
  if (!detail.empty()) {
    ctx.problem += ": ";
    ctx.problem += detail;
  }
  return false;
}

NODUS_DECL void at_element(read_context& ctx, std::size_t index, std::string_view field) {
  std::string where = "element " + std::to_string(index);
  if (!field.empty()) {
    where += " (";
    where += field;
    where += ')';
  }
  ctx.path.push_back(std::move(where));
}

NODUS_DECL void at_list_element(read_context& ctx, std::size_t index) {
  ctx.path.push_back("list element " + std::to_string(index));
}

NODUS_DECL void at_map_key(read_context& ctx, const term& key, bool value) {
  ctx.path.push_back((value ? "the value under key " : "key ") + key.to_string(40));
}

NODUS_DECL nodus::error read_failure(const read_context& ctx, std::string_view type,
                                     const term& whole) {
  std::string r = "etf: cannot read ";
  r += type;
  r += " from ";
  r += whole.to_string(120);
  if (!ctx.path.empty()) {
    r += ": at ";
    for (std::size_t i = ctx.path.size(); i-- > 0;) {
      r += ctx.path[i];
      if (i != 0) r += " / ";
    }
  }
  r += ": ";
  r += ctx.problem;
  return {errc::malformed_frame, std::move(r)};
}

NODUS_DECL std::string integer_range(std::int64_t min, std::uint64_t max) {
  return "an integer in " + std::to_string(min) + ".." + std::to_string(max);
}

NODUS_DECL std::string tuple_shape(std::string_view tag, std::size_t arity) {
  std::string r;
  if (tag.empty()) return "a tuple of " + std::to_string(arity) + " elements";
  if (arity == 0) {
    r = "the atom ";
    nodus_format(r, atom(tag));
    return r;
  }
  r = "a tuple {";
  nodus_format(r, atom(tag));
  r += ", ...} of " + std::to_string(arity) + " elements";
  return r;
}

NODUS_DECL std::string enum_expectation(std::span<const std::string_view> names) {
  std::string r = "one of the atoms ";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i != 0) r += ", ";
    nodus_format(r, atom(names[i]));
  }
  return r;
}

NODUS_DECL bool term_to_int64(const term& t, std::int64_t& out) noexcept {
  if (const std::int64_t* v = t.as_integer()) {
    out = *v;
    return true;
  }
  return false;  // a big_integer is beyond int64
}

NODUS_DECL bool term_to_uint64(const term& t, std::uint64_t& out) noexcept {
  if (const std::int64_t* v = t.as_integer()) {
    if (*v < 0) return false;
    out = static_cast<std::uint64_t>(*v);
    return true;
  }
  const big_integer* b = t.as_big_integer();
  if (b == nullptr || b->negative || b->magnitude.size() > 8) return false;
  std::uint64_t v = 0;
  for (std::size_t i = b->magnitude.size(); i-- > 0;) v = (v << 8) | b->magnitude[i];
  out = v;
  return true;
}

NODUS_DECL bool term_to_double(const term& t, double& out) noexcept {
  if (const double* f = t.as_float()) {
    out = *f;
    return true;
  }
  constexpr std::int64_t exact = std::int64_t{1} << 53;  // every integer up to 2^53 is a double
  if (const std::int64_t* v = t.as_integer(); v != nullptr && *v >= -exact && *v <= exact) {
    out = static_cast<double>(*v);
    return true;
  }
  return false;
}

NODUS_DECL bool term_to_string(const term& t, std::string& out) {
  if (const std::vector<std::byte>* b = t.as_binary()) {
    out.assign(reinterpret_cast<const char*>(b->data()), b->size());
    return true;
  }
  const std::vector<term>* items = t.as_list();
  if (items == nullptr || t.list_tail() != nullptr) return false;
  // A charlist: Unicode code points, written out as UTF-8.
  std::string s;
  s.reserve(items->size());
  for (const term& e : *items) {
    const std::int64_t* c = e.as_integer();
    if (c == nullptr || *c < 0 || *c > 0x10FFFF || (*c >= 0xD800 && *c <= 0xDFFF)) return false;
    const auto u = static_cast<std::uint32_t>(*c);
    if (u < 0x80) {
      s += static_cast<char>(u);
    } else if (u < 0x800) {
      s += static_cast<char>(0xC0 | (u >> 6));
      s += static_cast<char>(0x80 | (u & 0x3F));
    } else if (u < 0x10000) {
      s += static_cast<char>(0xE0 | (u >> 12));
      s += static_cast<char>(0x80 | ((u >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (u & 0x3F));
    } else {
      s += static_cast<char>(0xF0 | (u >> 18));
      s += static_cast<char>(0x80 | ((u >> 12) & 0x3F));
      s += static_cast<char>(0x80 | ((u >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (u & 0x3F));
    }
  }
  out = std::move(s);
  return true;
}

NODUS_DECL bool term_to_node_name(const term& t, nodus::node_name& out, std::string& why) {
  const atom* a = t.as_atom();
  if (a == nullptr) return false;
  result<nodus::node_name> n = nodus::node_name::parse(a->str());
  if (!n) {
    why = n.error().reason();
    return false;
  }
  out = *n;
  return true;
}

}  // namespace nodus::etf::detail

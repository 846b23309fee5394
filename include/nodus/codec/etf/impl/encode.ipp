// nodus/codec/etf/impl/encode.ipp: the encoder of etf::term and its pieces (see
// nodus/codec/etf/encode.hpp and nodus/config.hpp).
#pragma once

#include "nodus/codec/etf/encode.hpp"

#include <bit>
#include <cmath>
#include <limits>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "nodus/codec/etf/tags.hpp"

namespace nodus::etf {

namespace detail {

NODUS_DECL void writer::u16(std::uint16_t v) {
  u8(static_cast<std::uint8_t>(v >> 8));
  u8(static_cast<std::uint8_t>(v));
}

NODUS_DECL void writer::u32(std::uint32_t v) {
  const std::byte b[4] = {static_cast<std::byte>(v >> 24), static_cast<std::byte>(v >> 16),
                          static_cast<std::byte>(v >> 8), static_cast<std::byte>(v)};
  out_.insert(out_.end(), b, b + 4);
}

NODUS_DECL void writer::u64(std::uint64_t v) {
  u32(static_cast<std::uint32_t>(v >> 32));
  u32(static_cast<std::uint32_t>(v));
}

NODUS_DECL void writer::bytes(std::span<const std::byte> data) {
  out_.insert(out_.end(), data.begin(), data.end());
}

NODUS_DECL void writer::patch_u32(std::size_t at, std::uint32_t v) noexcept {
  for (std::size_t i = 0; i < 4; ++i) out_[at + i] = static_cast<std::byte>(v >> (24 - 8 * i));
}

NODUS_DECL void writer::fail(std::string reason) {
  if (!failed_) {
    failed_ = true;
    reason_ = std::move(reason);
  }
}

NODUS_DECL result<void> writer::finish() {
  if (!failed_) return {};
  out_.resize(start_);
  return nodus::error(std::make_error_code(std::errc::invalid_argument),
                      "etf: cannot encode: " + reason_);
}

// A count that must fit the 4 bytes of its field.
inline bool fits_u32(writer& w, std::size_t n, const char* what) {
  if (n <= std::numeric_limits<std::uint32_t>::max()) return true;
  w.fail(std::string(what) + " of " + std::to_string(n) + ": more than 4 bytes can count");
  return false;
}

// SMALL_BIG_EXT of a magnitude up to 8 bytes (an int64 beyond 32 bits, or a uint64).
inline void put_small_big(writer& w, bool negative, std::uint64_t magnitude) {
  std::uint8_t n = 0;
  for (std::uint64_t m = magnitude; m != 0; m >>= 8) ++n;
  w.u8(tag::small_big);
  w.u8(n);
  w.u8(negative ? 1 : 0);
  for (std::uint8_t i = 0; i < n; ++i) w.u8(static_cast<std::uint8_t>(magnitude >> (8 * i)));
}

NODUS_DECL void put_integer(writer& w, std::int64_t v) {
  if (v >= 0 && v <= 255) {
    w.u8(tag::small_integer);
    w.u8(static_cast<std::uint8_t>(v));
  } else if (v >= std::numeric_limits<std::int32_t>::min() &&
             v <= std::numeric_limits<std::int32_t>::max()) {
    w.u8(tag::integer);
    w.u32(static_cast<std::uint32_t>(static_cast<std::int32_t>(v)));
  } else {
    const bool negative = v < 0;
    // |v| without overflow for INT64_MIN: 0 - (unsigned)v.
    const std::uint64_t m =
        negative ? std::uint64_t{0} - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
    put_small_big(w, negative, m);
  }
}

NODUS_DECL void put_unsigned(writer& w, std::uint64_t v) {
  if (v <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    put_integer(w, static_cast<std::int64_t>(v));
  } else {
    put_small_big(w, false, v);
  }
}

NODUS_DECL void put_big_integer(writer& w, const big_integer& v) {
  const std::size_t n = v.magnitude.size();
  if (n <= 255) {
    w.u8(tag::small_big);
    w.u8(static_cast<std::uint8_t>(n));
  } else {
    if (!fits_u32(w, n, "a bignum")) return;
    w.u8(tag::large_big);
    w.u32(static_cast<std::uint32_t>(n));
  }
  w.u8(v.negative ? 1 : 0);
  w.bytes(std::as_bytes(std::span(v.magnitude)));
}

NODUS_DECL void put_float(writer& w, double v) {
  if (!std::isfinite(v)) {
    w.fail(std::isnan(v) ? "a float that is NaN: Erlang floats are finite"
                         : "an infinite float: Erlang floats are finite");
    return;
  }
  w.u8(tag::new_float);
  w.u64(std::bit_cast<std::uint64_t>(v));
}

NODUS_DECL void put_atom(writer& w, std::string_view name) {
  if (name.size() <= 255) {
    w.u8(tag::small_atom_utf8);
    w.u8(static_cast<std::uint8_t>(name.size()));
  } else {
    w.u8(tag::atom_utf8);
    w.u16(static_cast<std::uint16_t>(name.size()));  // at most 255 characters of 4 bytes
  }
  w.bytes(std::as_bytes(std::span(name.data(), name.size())));
}

NODUS_DECL void put_tuple_header(writer& w, std::size_t arity) {
  if (arity <= 255) {
    w.u8(tag::small_tuple);
    w.u8(static_cast<std::uint8_t>(arity));
  } else if (fits_u32(w, arity, "a tuple")) {
    w.u8(tag::large_tuple);
    w.u32(static_cast<std::uint32_t>(arity));
  }
}

NODUS_DECL void put_list_header(writer& w, std::size_t count) {
  if (!fits_u32(w, count, "a list")) return;
  w.u8(tag::list);
  w.u32(static_cast<std::uint32_t>(count));
}

NODUS_DECL void put_nil(writer& w) { w.u8(tag::nil); }

NODUS_DECL void put_string_header(writer& w, std::size_t count) {
  w.u8(tag::string);
  w.u16(static_cast<std::uint16_t>(count));
}

NODUS_DECL void put_binary(writer& w, std::span<const std::byte> data) {
  if (!fits_u32(w, data.size(), "a binary")) return;
  w.u8(tag::binary);
  w.u32(static_cast<std::uint32_t>(data.size()));
  w.bytes(data);
}

NODUS_DECL void put_map_header(writer& w, std::size_t count) {
  if (!fits_u32(w, count, "a map")) return;
  w.u8(tag::map);
  w.u32(static_cast<std::uint32_t>(count));
}

NODUS_DECL void put_pid(writer& w, const pid& p) {
  w.u8(tag::new_pid);
  put_atom(w, p.node.str());
  w.u32(p.id);
  w.u32(p.serial);
  w.u32(p.creation);
}

NODUS_DECL void put_reference(writer& w, const reference& r) {
  const auto id = r.id();
  w.u8(tag::newer_reference);
  w.u16(static_cast<std::uint16_t>(id.size()));
  put_atom(w, r.node.str());
  w.u32(r.creation);
  for (const std::uint32_t word : id) w.u32(word);
}

NODUS_DECL void put_port(writer& w, const port& p) {
  const bool v4 = p.id > std::numeric_limits<std::uint32_t>::max();
  w.u8(v4 ? tag::v4_port : tag::new_port);
  put_atom(w, p.node.str());
  if (v4) {
    w.u64(p.id);
  } else {
    w.u32(static_cast<std::uint32_t>(p.id));
  }
  w.u32(p.creation);
}

// A proper list that term_to_binary writes as STRING_EXT: 1 to 65535 integers 0..255
// (erts/emulator/beam/external.c, is_external_string).
inline bool is_byte_string(const std::vector<term>& items) noexcept {
  if (items.empty() || items.size() > 0xFFFF) return false;
  for (const term& e : items) {
    const std::int64_t* v = e.as_integer();
    if (v == nullptr || *v < 0 || *v > 255) return false;
  }
  return true;
}

NODUS_DECL void put_term(writer& w, const term& t) {
  switch (t.type()) {
    case kind::integer: put_integer(w, *t.as_integer()); return;
    case kind::big_integer: put_big_integer(w, *t.as_big_integer()); return;
    case kind::float_: put_float(w, *t.as_float()); return;
    case kind::atom: put_atom(w, t.as_atom()->str()); return;
    case kind::tuple:
      put_tuple_header(w, t.as_tuple()->size());
      for (const term& e : *t.as_tuple()) put_term(w, e);
      return;
    case kind::list: {
      const std::vector<term>& items = *t.as_list();
      const term* tail = t.list_tail();
      if (items.empty() && tail == nullptr) {
        put_nil(w);
      } else if (tail == nullptr && is_byte_string(items)) {
        put_string_header(w, items.size());
        for (const term& e : items) w.u8(static_cast<std::uint8_t>(*e.as_integer()));
      } else {
        put_list_header(w, items.size());
        for (const term& e : items) put_term(w, e);
        if (tail != nullptr) {
          put_term(w, *tail);
        } else {
          put_nil(w);
        }
      }
      return;
    }
    case kind::binary: put_binary(w, *t.as_binary()); return;
    case kind::bit_binary: {
      const bit_binary& b = *t.as_bit_binary();
      if (!fits_u32(w, b.bytes.size(), "a bitstring")) return;
      w.u8(tag::bit_binary);
      w.u32(static_cast<std::uint32_t>(b.bytes.size()));
      w.u8(b.bits);
      w.bytes(b.bytes);
      return;
    }
    case kind::map:
      put_map_header(w, t.as_map()->size());
      for (const map_entry& e : *t.as_map()) {
        put_term(w, e.key);
        put_term(w, e.value);
      }
      return;
    case kind::pid: put_pid(w, *t.as_pid()); return;
    case kind::reference: put_reference(w, *t.as_reference()); return;
    case kind::port: put_port(w, *t.as_port()); return;
    case kind::external_fun:
    case kind::fun: w.bytes(t.opaque_bytes()); return;
  }
}

}  // namespace detail

NODUS_DECL result<void> encode(const term& t, std::vector<std::byte>& out,
                               const encode_options& options) {
  detail::writer w(out);
  if (options.version_byte) w.u8(tag::version);
  detail::put_term(w, t);
  return w.finish();
}

NODUS_DECL result<std::vector<std::byte>> encode(const term& t, const encode_options& options) {
  std::vector<std::byte> out;
  if (auto r = encode(t, out, options); !r) return r.error();
  return out;
}

}  // namespace nodus::etf

// nodus/codec/etf/encode.hpp: etf::term to the external term format.
//
// The encodings are those a BEAM node (OTP 26 and later; OTP 25 with minor_version 2) writes, so
// a term decoded from a BEAM node re-encodes to the same bytes: the smallest integer encoding
// (SMALL_INTEGER_EXT 0..255, INTEGER_EXT for 32 bits, SMALL_BIG_EXT / LARGE_BIG_EXT beyond),
// NEW_FLOAT_EXT, SMALL_ATOM_UTF8_EXT / ATOM_UTF8_EXT, SMALL_TUPLE_EXT / LARGE_TUPLE_EXT,
// NIL_EXT, STRING_EXT for a proper list of 1 to 65535 integers 0..255 (as term_to_binary does),
// LIST_EXT otherwise, BINARY_EXT, BIT_BINARY_EXT, MAP_EXT in the term's order, NEW_PID_EXT,
// NEWER_REFERENCE_EXT, NEW_PORT_EXT (V4_PORT_EXT when the ID needs more than 32 bits), and funs
// as they were received. Nothing is compressed.
//
// The one term that cannot be encoded is a float that is NaN or infinite (Erlang has none):
// encode() then fails with std::errc::invalid_argument and leaves the output as it was.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nodus/codec/etf/term.hpp"
#include "nodus/config.hpp"
#include "nodus/core/error.hpp"

namespace nodus::etf {

struct encode_options {
  // Start with the version byte 131, as term_to_binary does. Terms that follow a distribution
  // header go without it.
  bool version_byte = true;
};

// encode(t, out): appends the encoding of t to out.
[[nodiscard]] NODUS_DECL result<void> encode(const term& t, std::vector<std::byte>& out,
                                             const encode_options& options = {});

// encode(t) -> the encoding of t in a new buffer.
[[nodiscard]] NODUS_DECL result<std::vector<std::byte>> encode(const term& t,
                                                               const encode_options& options = {});

namespace detail {

// Appends to a byte vector, big-endian, and keeps the first error met.
class writer {
 public:
  explicit writer(std::vector<std::byte>& out) noexcept : out_(out), start_(out.size()) {}
  void u8(std::uint8_t v) { out_.push_back(static_cast<std::byte>(v)); }
  NODUS_DECL void u16(std::uint16_t v);
  NODUS_DECL void u32(std::uint32_t v);
  NODUS_DECL void u64(std::uint64_t v);
  NODUS_DECL void bytes(std::span<const std::byte> data);
  // size() -> the buffer's size; patch_u32(at, v) overwrites 4 bytes written before.
  [[nodiscard]] std::size_t size() const noexcept { return out_.size(); }
  NODUS_DECL void patch_u32(std::size_t at, std::uint32_t v) noexcept;
  // fail(reason): the encoding fails; the first reason is kept.
  NODUS_DECL void fail(std::string reason);
  // finish() -> ok, or the error, and then the buffer as it was when this writer was made.
  [[nodiscard]] NODUS_DECL result<void> finish();

 private:
  std::vector<std::byte>& out_;
  std::size_t start_;
  bool failed_ = false;
  std::string reason_;
};

// The pieces of an encoding, shared by etf::term and the typed encoding (typed.hpp).
NODUS_DECL void put_integer(writer& w, std::int64_t v);
NODUS_DECL void put_unsigned(writer& w, std::uint64_t v);
NODUS_DECL void put_big_integer(writer& w, const big_integer& v);
NODUS_DECL void put_float(writer& w, double v);
// put_atom(w, name): name must be valid atom text (check_atom_text).
NODUS_DECL void put_atom(writer& w, std::string_view name);
NODUS_DECL void put_tuple_header(writer& w, std::size_t arity);
// put_list_header(w, n): n > 0 elements follow, then the tail (put_nil for a proper list).
NODUS_DECL void put_list_header(writer& w, std::size_t count);
NODUS_DECL void put_nil(writer& w);
// put_string_header(w, n): STRING_EXT of n (1..65535) bytes, which follow.
NODUS_DECL void put_string_header(writer& w, std::size_t count);
NODUS_DECL void put_binary(writer& w, std::span<const std::byte> data);
NODUS_DECL void put_map_header(writer& w, std::size_t count);
NODUS_DECL void put_pid(writer& w, const pid& p);
NODUS_DECL void put_reference(writer& w, const reference& r);
NODUS_DECL void put_port(writer& w, const port& p);
NODUS_DECL void put_term(writer& w, const term& t);

}  // namespace detail

}  // namespace nodus::etf

#if defined(NODUS_HEADER_ONLY)
#include "nodus/codec/etf/impl/encode.ipp"
#endif

// nodus/codec/etf/decode.hpp: checked decoding of the external term format into etf::term.
//
// Takes every tag a BEAM node sends (nodus/codec/etf/tags.hpp), old ones included (FLOAT_EXT,
// Latin-1 atoms, PID_EXT, REFERENCE_EXT, PORT_EXT, ...), compressed terms (zlib), and atom cache
// references through a table the caller gives. The leading version byte 131 is optional: 131 is
// no tag, so a term with it and one without (as they follow a distribution header) both decode.
//
// Bounded: a length or count is believed only when the bytes left can hold it (N elements need at
// least N bytes) before anything is allocated; nesting is limited (max_depth); a compressed term
// declares its size, which must be at most max_decompressed_size and one that deflate can reach
// from the bytes given (at most 1032 times their size). STRING_EXT decodes, as in Erlang, to a
// list of integers.
//
// Errors are errc::malformed_frame, with a reason that names the tag, what is wrong and the
// offset: "etf: offset 9: LIST_EXT (108) of 4294967295 elements, but 3 bytes are left".
#pragma once

#include <cstddef>
#include <span>

#include "nodus/codec/etf/term.hpp"
#include "nodus/config.hpp"
#include "nodus/core/error.hpp"

namespace nodus::etf {

struct decode_options {
  // The deepest nesting accepted (a term in a tuple in a list is at depth 3).
  std::size_t max_depth = 512;
  // The largest size a compressed term (tag 80) may declare and decompress to, in bytes.
  std::size_t max_decompressed_size = std::size_t{64} << 20;
  // The atoms ATOM_CACHE_REF (82) refers to, by index: the distribution header's atom cache
  // references, resolved by its reader. Empty: an atom cache reference is an error.
  std::span<const atom> atom_cache = {};
};

// decode(bytes) -> the one term bytes hold (131 first or not); trailing bytes are an error.
[[nodiscard]] NODUS_DECL result<term> decode(std::span<const std::byte> bytes,
                                             const decode_options& options = {});

// A term read from the front of a buffer, and how many bytes it took.
struct decoded_prefix {
  term value;
  std::size_t size = 0;
};

// decode_prefix(bytes) -> the term at the front of bytes and its size, the rest left unread: for
// terms back to back, as a distribution message's control term and payload.
[[nodiscard]] NODUS_DECL result<decoded_prefix> decode_prefix(std::span<const std::byte> bytes,
                                                              const decode_options& options = {});

}  // namespace nodus::etf

#if defined(NODUS_HEADER_ONLY)
#include "nodus/codec/etf/impl/decode.ipp"
#endif

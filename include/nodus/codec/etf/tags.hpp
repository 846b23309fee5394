// nodus/codec/etf/tags.hpp: the tags of Erlang's external term format, in one place.
//
// Source: the Erlang/OTP document "External Term Format" (erts/doc/guides/erl_ext_dist.md, formerly
// erts/doc/src/erl_ext_dist.xml), checked against Erlang/OTP 25.2 (`term_to_binary` and
// `binary_to_term` on this machine). Every integer field is big-endian. Each tag below names its
// section of that document and the layout after the tag byte.
#pragma once

#include <cstdint>
#include <string_view>

namespace nodus::etf::tag {

// The version byte that starts a term encoded on its own ("131 Tag Data"). Terms that follow a
// distribution header omit it ("the first byte containing the version number (131) is omitted").
inline constexpr std::uint8_t version = 131;

// COMPRESSED: UncompressedSize:4, then zlib-compressed "Tag Data" (only at the top of a term).
inline constexpr std::uint8_t compressed = 80;

// ATOM_CACHE_REF: AtomCacheReferenceIndex:1, into the distribution header's atom cache refs.
inline constexpr std::uint8_t atom_cache_ref = 82;
// SMALL_INTEGER_EXT: Int:1, unsigned.
inline constexpr std::uint8_t small_integer = 97;
// INTEGER_EXT: Int:4, signed.
inline constexpr std::uint8_t integer = 98;
// FLOAT_EXT: 31 bytes of "%.20e" text (minor version 0; superseded by NEW_FLOAT_EXT).
inline constexpr std::uint8_t float_ = 99;
// PORT_EXT: Node (an atom), ID:4, Creation:1.
inline constexpr std::uint8_t port = 102;
// NEW_PORT_EXT: Node, ID:4, Creation:4.
inline constexpr std::uint8_t new_port = 89;
// V4_PORT_EXT: Node, ID:8, Creation:4 (OTP 24; mandatory with DFLAG_V4_NC in OTP 26).
inline constexpr std::uint8_t v4_port = 120;
// PID_EXT: Node, ID:4, Serial:4, Creation:1.
inline constexpr std::uint8_t pid = 103;
// NEW_PID_EXT: Node, ID:4, Serial:4, Creation:4.
inline constexpr std::uint8_t new_pid = 88;
// SMALL_TUPLE_EXT: Arity:1, Elements.
inline constexpr std::uint8_t small_tuple = 104;
// LARGE_TUPLE_EXT: Arity:4, Elements.
inline constexpr std::uint8_t large_tuple = 105;
// MAP_EXT: Arity:4, then Arity key-value pairs K1, V1, ... ("duplicate keys are not allowed").
inline constexpr std::uint8_t map = 116;
// NIL_EXT: the empty list [].
inline constexpr std::uint8_t nil = 106;
// STRING_EXT: Length:2, Characters: a list of Length integers 0..255.
inline constexpr std::uint8_t string = 107;
// LIST_EXT: Length:4, Elements, Tail (NIL_EXT for a proper list).
inline constexpr std::uint8_t list = 108;
// BINARY_EXT: Len:4, Data.
inline constexpr std::uint8_t binary = 109;
// SMALL_BIG_EXT: n:1, Sign:1 (0 positive), d(0) ... d(n-1), least significant byte first.
inline constexpr std::uint8_t small_big = 110;
// LARGE_BIG_EXT: n:4, Sign:1, d(0) ... d(n-1).
inline constexpr std::uint8_t large_big = 111;
// NEW_FUN_EXT: Size:4 (of the whole, Size included), Arity:1, Uniq:16, Index:4, NumFree:4,
// Module (an atom), OldIndex, OldUniq (SMALL_INTEGER_EXT or INTEGER_EXT), Pid, NumFree terms.
inline constexpr std::uint8_t new_fun = 112;
// EXPORT_EXT: Module, Function (atoms), Arity (SMALL_INTEGER_EXT).
inline constexpr std::uint8_t export_ = 113;
// NEW_REFERENCE_EXT: Len:2, Node, Creation:1, Len ID words of 4.
inline constexpr std::uint8_t new_reference = 114;
// REFERENCE_EXT (deprecated): Node, ID:4, Creation:1.
inline constexpr std::uint8_t reference = 101;
// NEWER_REFERENCE_EXT: Len:2 ("not larger than 5"), Node, Creation:4, Len ID words of 4.
inline constexpr std::uint8_t newer_reference = 90;
// SMALL_ATOM_EXT (deprecated): Len:1, Latin-1 characters.
inline constexpr std::uint8_t small_atom = 115;
// ATOM_EXT (deprecated): Len:2 (at most 255), Latin-1 characters.
inline constexpr std::uint8_t atom = 100;
// ATOM_UTF8_EXT: Len:2, UTF-8 bytes.
inline constexpr std::uint8_t atom_utf8 = 118;
// SMALL_ATOM_UTF8_EXT: Len:1, UTF-8 bytes.
inline constexpr std::uint8_t small_atom_utf8 = 119;
// BIT_BINARY_EXT: Len:4, Bits:1 (bits used in the last byte, 1..8, from the most significant).
inline constexpr std::uint8_t bit_binary = 77;
// NEW_FLOAT_EXT: 8 bytes of IEEE 754 double (finite only).
inline constexpr std::uint8_t new_float = 70;

// Tags nodus refuses, with the document's reason.
// FUN_EXT (removed): "not emitted since OTP R8, and not decoded since OTP 23".
inline constexpr std::uint8_t fun = 117;
// LOCAL_EXT: "an alternative local external term format" (OTP 26), for one node's own decoder.
inline constexpr std::uint8_t local = 121;

// name(t) -> "SMALL_TUPLE_EXT (104)" for a known tag, "" otherwise (error messages).
[[nodiscard]] constexpr std::string_view name(std::uint8_t t) noexcept {
  switch (t) {
    case compressed: return "COMPRESSED (80)";
    case atom_cache_ref: return "ATOM_CACHE_REF (82)";
    case small_integer: return "SMALL_INTEGER_EXT (97)";
    case integer: return "INTEGER_EXT (98)";
    case float_: return "FLOAT_EXT (99)";
    case port: return "PORT_EXT (102)";
    case new_port: return "NEW_PORT_EXT (89)";
    case v4_port: return "V4_PORT_EXT (120)";
    case pid: return "PID_EXT (103)";
    case new_pid: return "NEW_PID_EXT (88)";
    case small_tuple: return "SMALL_TUPLE_EXT (104)";
    case large_tuple: return "LARGE_TUPLE_EXT (105)";
    case map: return "MAP_EXT (116)";
    case nil: return "NIL_EXT (106)";
    case string: return "STRING_EXT (107)";
    case list: return "LIST_EXT (108)";
    case binary: return "BINARY_EXT (109)";
    case small_big: return "SMALL_BIG_EXT (110)";
    case large_big: return "LARGE_BIG_EXT (111)";
    case new_fun: return "NEW_FUN_EXT (112)";
    case export_: return "EXPORT_EXT (113)";
    case new_reference: return "NEW_REFERENCE_EXT (114)";
    case reference: return "REFERENCE_EXT (101)";
    case newer_reference: return "NEWER_REFERENCE_EXT (90)";
    case small_atom: return "SMALL_ATOM_EXT (115)";
    case atom: return "ATOM_EXT (100)";
    case atom_utf8: return "ATOM_UTF8_EXT (118)";
    case small_atom_utf8: return "SMALL_ATOM_UTF8_EXT (119)";
    case bit_binary: return "BIT_BINARY_EXT (77)";
    case new_float: return "NEW_FLOAT_EXT (70)";
    case fun: return "FUN_EXT (117)";
    case local: return "LOCAL_EXT (121)";
    case version: return "the version byte (131)";
    default: return {};
  }
}

}  // namespace nodus::etf::tag

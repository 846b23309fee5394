// nodus/codec/etf/impl/decode.ipp: the checked decoder of the external term format (see
// nodus/codec/etf/decode.hpp and nodus/config.hpp). Field layouts: nodus/codec/etf/tags.hpp.
#pragma once

#include "nodus/codec/etf/decode.hpp"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "nodus/codec/etf/detail/term_access.hpp"
#include "nodus/codec/etf/encode.hpp"
#include "nodus/codec/etf/tags.hpp"

namespace nodus::etf {

namespace detail {

// "SMALL_TUPLE_EXT (104)", or "tag 68" for a byte that is no term tag.
inline std::string describe_tag(std::uint8_t t) {
  const std::string_view n = tag::name(t);
  return n.empty() ? "tag " + std::to_string(t) : std::string(n);
}

inline std::string plural(std::size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// The largest factor by which deflate expands data: 1032 (zlib's technical details, "the
// maximum compression ratio"). A declared size beyond it cannot be real.
inline constexpr std::size_t deflate_max_ratio = 1032;

// Reads one term from bytes, checking everything; the first problem found is kept.
class decoder {
 public:
  decoder(std::span<const std::byte> bytes, std::size_t pos, const decode_options& options,
          std::string_view where) noexcept
      : bytes_(bytes), pos_(pos), options_(options), where_(where) {}

  [[nodiscard]] std::size_t offset() const noexcept { return pos_; }
  [[nodiscard]] std::size_t left() const noexcept { return bytes_.size() - pos_; }

  // fail(at, what) -> false, keeping "etf: offset <at>: <what>".
  bool fail(std::size_t at, const std::string& what) {
    if (problem_.empty()) {
      problem_ = "etf: offset " + std::to_string(at) + std::string(where_) + ": " + what;
    }
    return false;
  }
  [[nodiscard]] nodus::error error() const { return {errc::malformed_frame, problem_}; }

  // read(out, depth) -> whether a valid term was read into out, a default term ([]) in which it
  // is built in place (see term_access); depth 1 is the top.
  bool read(term& out, std::size_t depth) {
    const std::size_t at = pos_;
    if (left() == 0) return fail(at, "truncated: a term was expected, the input ends");
    if (depth > options_.max_depth) {
      return fail(at, "terms nested deeper than " + std::to_string(options_.max_depth) +
                          " (decode_options::max_depth)");
    }
    const std::uint8_t t = u8();
    switch (t) {
      case tag::small_integer:
        if (!need(at, t, 1, "its value")) return false;
        term_access::set_integer(out, u8());
        return true;
      case tag::integer:
        if (!need(at, t, 4, "its value")) return false;
        term_access::set_integer(out, static_cast<std::int32_t>(u32()));
        return true;
      case tag::small_big:
      case tag::large_big: return read_big(out, t, at);
      case tag::new_float: return read_new_float(out, t, at);
      case tag::float_: return read_old_float(out, t, at);
      case tag::atom:
      case tag::small_atom:
      case tag::atom_utf8:
      case tag::small_atom_utf8:
      case tag::atom_cache_ref: return read_atom_body(term_access::make_atom(out), t, at);
      case tag::small_tuple:
      case tag::large_tuple: return read_tuple(out, t, at, depth);
      case tag::nil: return true;  // out is [] already
      case tag::string: return read_string(out, t, at);
      case tag::list: return read_list(out, t, at, depth);
      case tag::binary: return read_binary(out, t, at);
      case tag::bit_binary: return read_bit_binary(out, t, at);
      case tag::map: return read_map(out, t, at, depth);
      case tag::pid:
      case tag::new_pid: return read_pid_body(term_access::make_pid(out), t, at);
      case tag::reference:
      case tag::new_reference:
      case tag::newer_reference: return read_reference(out, t, at);
      case tag::port:
      case tag::new_port:
      case tag::v4_port: return read_port(out, t, at);
      case tag::export_: return read_export(out, t, at);
      case tag::new_fun: return read_fun(out, t, at, depth);
      case tag::compressed:
        return fail(at, "COMPRESSED (80) inside a term: only a whole term may be compressed");
      case tag::fun:
        return fail(at, "FUN_EXT (117) is the fun encoding removed in OTP 23; not decoded");
      case tag::local:
        return fail(at, "LOCAL_EXT (121) is a node's local format, not decoded from a peer");
      case tag::version: return fail(at, "a second version byte (131) where a term was expected");
      default: return fail(at, "unknown tag " + std::to_string(t));
    }
  }

 private:
  // read_atom_term(out, owner, owner_at, role) -> reads an atom (any atom encoding or a cache
  // reference) that is part of the term owner at owner_at; role names it ("node").
  bool read_atom_term(atom& out, std::uint8_t owner, std::size_t owner_at, const char* role) {
    const std::size_t at = pos_;
    if (left() == 0) {
      return fail(owner_at,
                  describe_tag(owner) + " is truncated: its " + role + " (an atom) is missing");
    }
    const std::uint8_t t = u8();
    if (t != tag::atom && t != tag::small_atom && t != tag::atom_utf8 &&
        t != tag::small_atom_utf8 && t != tag::atom_cache_ref) {
      return fail(at, "the " + std::string(role) + " of " + describe_tag(owner) + " at offset " +
                          std::to_string(owner_at) + " must be an atom, not " + describe_tag(t));
    }
    return read_atom_body(out, t, at);
  }

  // Big-endian reads of bytes that need() has checked, through a local pointer: a compiler must
  // assume that a std::byte store may alias pos_, not a load from a pointer it already holds.
  std::uint8_t u8() noexcept { return static_cast<std::uint8_t>(bytes_[pos_++]); }
  std::uint16_t u16() noexcept {
    const std::byte* p = bytes_.data() + pos_;
    pos_ += 2;
    return static_cast<std::uint16_t>((std::to_integer<unsigned>(p[0]) << 8) |
                                      std::to_integer<unsigned>(p[1]));
  }
  std::uint32_t u32() noexcept {
    const std::byte* p = bytes_.data() + pos_;
    pos_ += 4;
    return (std::to_integer<std::uint32_t>(p[0]) << 24) |
           (std::to_integer<std::uint32_t>(p[1]) << 16) |
           (std::to_integer<std::uint32_t>(p[2]) << 8) | std::to_integer<std::uint32_t>(p[3]);
  }
  std::uint64_t u64() noexcept {
    const std::uint64_t hi = u32();
    return (hi << 32) | u32();
  }
  std::span<const std::byte> take(std::size_t n) noexcept {
    const auto s = bytes_.subspan(pos_, n);
    pos_ += n;
    return s;
  }

  // need(at, t, n, what) -> whether n bytes are left for what (part of the term t at at). The
  // check is inlined, the message built out of line (truncated).
  bool need(std::size_t at, std::uint8_t t, std::size_t n, const char* what) {
    return left() >= n || truncated(at, t, n, what);
  }
  bool truncated(std::size_t at, std::uint8_t t, std::size_t n, const char* what) {
    return fail(at, describe_tag(t) + " is truncated: " + what + " needs " +
                        plural(n, "byte", "bytes") + ", " + std::to_string(left()) + " left");
  }

  // A count of items, each at least min_size bytes, plus extra bytes after them, must fit in
  // what is left: checked before anything is allocated.
  bool plausible(std::size_t at, std::uint8_t t, std::uint64_t count, const char* items,
                 std::size_t min_size, std::size_t extra) {
    const std::uint64_t needed = count * min_size + extra;  // count < 2^32: no overflow
    return needed <= left() || implausible(at, t, count, items);
  }
  bool implausible(std::size_t at, std::uint8_t t, std::uint64_t count, const char* items) {
    return fail(at, describe_tag(t) + " of " + std::to_string(count) + " " + items + ", but only " +
                        plural(left(), "byte is", "bytes are") + " left");
  }

  bool read_atom_body(atom& out, std::uint8_t t, std::size_t at) {
    std::size_t n = 0;
    switch (t) {
      case tag::atom_cache_ref: {
        if (!need(at, t, 1, "its index")) return false;
        const std::uint8_t index = u8();
        if (options_.atom_cache.empty()) {
          return fail(at, "ATOM_CACHE_REF (82) to entry " + std::to_string(index) +
                              ", but no atom cache was given (decode_options::atom_cache)");
        }
        if (index >= options_.atom_cache.size()) {
          return fail(at, "ATOM_CACHE_REF (82) to entry " + std::to_string(index) +
                              ", but the atom cache has " +
                              plural(options_.atom_cache.size(), "entry", "entries"));
        }
        out = options_.atom_cache[index];
        return true;
      }
      case tag::atom:
      case tag::atom_utf8:
        if (!need(at, t, 2, "its length")) return false;
        n = u16();
        break;
      default:  // small_atom, small_atom_utf8
        if (!need(at, t, 1, "its length")) return false;
        n = u8();
        break;
    }
    if (!need(at, t, n, "its text")) return false;
    const auto text = take(n);
    const std::string_view chars(reinterpret_cast<const char*>(text.data()), text.size());
    if (t == tag::atom || t == tag::small_atom) {  // Latin-1: one byte is one character
      if (n > atom::max_characters) {
        return fail(at, describe_tag(t) + " of " + std::to_string(n) +
                            " characters; an atom has at most 255");
      }
      std::string utf8;
      utf8.reserve(2 * n);
      for (const char c : chars) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x80) {
          utf8 += c;
        } else {
          utf8 += static_cast<char>(0xC0 | (u >> 6));
          utf8 += static_cast<char>(0x80 | (u & 0x3F));
        }
      }
      term_access::set_text(out, std::move(utf8));
      return true;
    }
    const atom_check c = check_atom_text(chars);
    if (c.problem == atom_problem::invalid_utf8) {
      return fail(at, describe_tag(t) + " is not valid UTF-8 (at byte " + std::to_string(c.offset) +
                          " of its text)");
    }
    if (c.problem == atom_problem::too_long) {
      return fail(at, describe_tag(t) + " of more than 255 characters; an atom has at most 255");
    }
    term_access::set_text(out, chars);
    return true;
  }

  bool read_big(term& out, std::uint8_t t, std::size_t at) {
    std::size_t n = 0;
    if (t == tag::small_big) {
      if (!need(at, t, 1, "its length")) return false;
      n = u8();
    } else {
      if (!need(at, t, 4, "its length")) return false;
      n = u32();
    }
    if (!need(at, t, 1 + n, "its sign and digits")) return false;
    // "0 if the bignum is positive and 1 if it is negative"; Erlang takes any other value as
    // negative too.
    const bool negative = u8() != 0;
    const auto raw = take(n);  // least significant first
    const auto* first = reinterpret_cast<const std::uint8_t*>(raw.data());
    std::size_t used = n;
    while (used != 0 && first[used - 1] == 0) --used;
    // Normalised as term(big_integer) does, without allocating when it fits in int64.
    if (std::int64_t v = 0; detail::int64_of_magnitude(negative, {first, used}, v)) {
      term_access::set_integer(out, v);
      return true;
    }
    big_integer b;
    b.negative = negative;
    b.magnitude.assign(first, first + used);  // one pass, no zero fill
    term_access::set(out, term(std::move(b)));
    return true;
  }

  bool read_new_float(term& out, std::uint8_t t, std::size_t at) {
    if (!need(at, t, 8, "its value")) return false;
    const double v = std::bit_cast<double>(u64());
    if (!std::isfinite(v)) {
      return fail(at, "NEW_FLOAT_EXT (70) holds NaN or an infinity; Erlang floats are finite");
    }
    term_access::set_float(out, v);
    return true;
  }

  // FLOAT_EXT: 31 bytes of text written with "%.20e", NUL-padded.
  bool read_old_float(term& out, std::uint8_t t, std::size_t at) {
    if (!need(at, t, 31, "its text")) return false;
    const auto raw = take(31);
    const char* text = reinterpret_cast<const char*>(raw.data());
    const std::size_t len = std::find(text, text + 31, '\0') - text;
    double v = 0;
    const auto r = std::from_chars(text, text + len, v);
    if (len == 0 || r.ec != std::errc() || r.ptr != text + len || !std::isfinite(v)) {
      return fail(at, "FLOAT_EXT (99) text is not a finite number");
    }
    term_access::set_float(out, v);
    return true;
  }

  bool read_tuple(term& out, std::uint8_t t, std::size_t at, std::size_t depth) {
    std::size_t arity = 0;
    if (t == tag::small_tuple) {
      if (!need(at, t, 1, "its arity")) return false;
      arity = u8();
    } else {
      if (!need(at, t, 4, "its arity")) return false;
      arity = u32();
    }
    if (!plausible(at, t, arity, "elements", 1, 0)) return false;
    std::vector<term>& items = term_access::make_tuple(out);
    items.resize(arity);
    for (term& e : items) {
      if (!read(e, depth + 1)) return false;
    }
    return true;
  }

  bool read_string(term& out, std::uint8_t t, std::size_t at) {
    if (!need(at, t, 2, "its length")) return false;
    const std::size_t n = u16();
    if (!need(at, t, n, "its characters")) return false;
    std::vector<term>& items = term_access::make_list(out);
    items.reserve(n);
    for (const std::byte b : take(n)) items.emplace_back(std::to_integer<std::int64_t>(b));
    return true;
  }

  bool read_list(term& out, std::uint8_t t, std::size_t at, std::size_t depth) {
    if (!need(at, t, 4, "its length")) return false;
    const std::size_t n = u32();
    if (!plausible(at, t, n, "elements and a tail", 1, 1)) return false;
    std::vector<term>& items = term_access::make_list(out);
    items.resize(n);
    // Integers, what long lists hold most, are read here without a call to read(); anything
    // else, a truncated integer too, goes through read() and its checks and messages.
    const bool leaves = depth < options_.max_depth;  // elements at depth + 1 are allowed
    for (term& e : items) {
      if (leaves && left() >= 5 && bytes_[pos_] == std::byte{tag::integer}) {
        ++pos_;
        term_access::set_integer(e, static_cast<std::int32_t>(u32()));
        continue;
      }
      if (leaves && left() >= 2 && bytes_[pos_] == std::byte{tag::small_integer}) {
        ++pos_;
        term_access::set_integer(e, u8());
        continue;
      }
      if (!read(e, depth + 1)) return false;
    }
    term tail;
    if (!read(tail, depth + 1)) return false;
    if (!tail.is_nil()) {  // an improper list, or one tail spliced in: term::list's forms
      std::vector<term> elements = std::move(items);  // leaves out a default term again
      term_access::set(out, term::list(std::move(elements), std::move(tail)));
    }
    return true;
  }

  bool read_binary(term& out, std::uint8_t t, std::size_t at) {
    if (!need(at, t, 4, "its length")) return false;
    const std::size_t n = u32();
    if (!need(at, t, n, "its data")) return false;
    const auto data = take(n);
    term_access::make_binary(out).assign(data.begin(), data.end());
    return true;
  }

  bool read_bit_binary(term& out, std::uint8_t t, std::size_t at) {
    if (!need(at, t, 5, "its length and bit count")) return false;
    const std::size_t n = u32();
    const std::uint8_t bits = u8();
    // As binary_to_term: Bits is 1..8 for data of at least one byte, 0 for none.
    if (n == 0 ? bits != 0 : (bits == 0 || bits > 8)) {
      return fail(at, "BIT_BINARY_EXT (77) of " + plural(n, "byte", "bytes") + " uses " +
                          std::to_string(bits) + " bits of its last byte (expected " +
                          (n == 0 ? "0)" : "1 to 8)"));
    }
    if (!need(at, t, n, "its data")) return false;
    const auto data = take(n);
    term_access::set(out, term(bit_binary{std::vector<std::byte>(data.begin(), data.end()), bits}));
    return true;
  }

  bool read_map(term& out, std::uint8_t t, std::size_t at, std::size_t depth) {
    if (!need(at, t, 4, "its arity")) return false;
    const std::size_t n = u32();
    if (!plausible(at, t, n, "key-value pairs", 2, 0)) return false;
    std::vector<map_entry>& entries = term_access::make_map(out);
    entries.resize(n);
    for (map_entry& e : entries) {
      if (!read(e.key, depth + 1) || !read(e.value, depth + 1)) return false;
    }
    return unique_keys(entries, at);
  }

  // "Duplicate keys are not allowed within the same map" (MAP_EXT).
  bool unique_keys(const std::vector<map_entry>& entries, std::size_t at) {
    const auto duplicate = [&](const term& key) {
      return fail(at, "MAP_EXT (116) has the key " + key.to_string(80) + " twice");
    };
    if (entries.size() <= 8) {
      for (std::size_t i = 0; i < entries.size(); ++i) {
        for (std::size_t j = i + 1; j < entries.size(); ++j) {
          if (entries[i].key == entries[j].key) return duplicate(entries[i].key);
        }
      }
      return true;
    }
    std::vector<std::pair<std::size_t, std::size_t>> index;  // (hash of the key, position)
    index.reserve(entries.size());
    for (std::size_t i = 0; i < entries.size(); ++i)
      index.emplace_back(hash_value(entries[i].key), i);
    std::sort(index.begin(), index.end());
    for (std::size_t i = 0; i < index.size(); ++i) {
      for (std::size_t j = i + 1; j < index.size() && index[j].first == index[i].first; ++j) {
        const term& key = entries[index[i].second].key;
        if (key == entries[index[j].second].key) return duplicate(key);
      }
    }
    return true;
  }

  // PID_EXT: Node, ID:4, Serial:4, Creation:1. NEW_PID_EXT: Creation:4.
  bool read_pid_body(pid& p, std::uint8_t t, std::size_t at) {
    if (!read_atom_term(p.node, t, at, "node")) return false;
    const bool old = t == tag::pid;
    if (!need(at, t, old ? 9 : 12, "its ID, Serial and Creation")) return false;
    p.id = u32();
    p.serial = u32();
    p.creation = old ? u8() : u32();
    return true;
  }

  // REFERENCE_EXT: Node, ID:4, Creation:1. NEW_REFERENCE_EXT: Len:2, Node, Creation:1, ID words.
  // NEWER_REFERENCE_EXT: Len:2 (at most 5), Node, Creation:4, ID words.
  bool read_reference(term& out, std::uint8_t t, std::size_t at) {
    std::size_t words = 1;
    if (t != tag::reference) {
      if (!need(at, t, 2, "its length")) return false;
      words = u16();
      if (words > reference::max_words) {
        return fail(at, describe_tag(t) + " of " + std::to_string(words) +
                            " ID words; a reference has at most 5");
      }
    }
    reference& r = term_access::make_reference(out);
    if (!read_atom_term(r.node, t, at, "node")) return false;
    if (t == tag::reference) {
      if (!need(at, t, 5, "its ID and Creation")) return false;
      r.words[0] = u32();
      r.creation = u8();
    } else {
      const std::size_t creation = t == tag::new_reference ? 1 : 4;
      if (!need(at, t, creation + 4 * words, "its Creation and ID words")) return false;
      r.creation = creation == 1 ? u8() : u32();
      for (std::size_t i = 0; i < words; ++i) r.words[i] = u32();
    }
    r.word_count = static_cast<std::uint8_t>(words);
    return true;
  }

  // PORT_EXT: Node, ID:4, Creation:1. NEW_PORT_EXT: Node, ID:4, Creation:4.
  // V4_PORT_EXT: Node, ID:8, Creation:4.
  bool read_port(term& out, std::uint8_t t, std::size_t at) {
    port& p = term_access::make_port(out);
    if (!read_atom_term(p.node, t, at, "node")) return false;
    const std::size_t size = t == tag::port ? 5 : t == tag::new_port ? 8 : 12;
    if (!need(at, t, size, "its ID and Creation")) return false;
    p.id = t == tag::v4_port ? u64() : u32();
    p.creation = t == tag::port ? u8() : u32();
    return true;
  }

  // OldIndex, OldUniq of NEW_FUN_EXT and Arity of EXPORT_EXT: SMALL_INTEGER_EXT or INTEGER_EXT.
  bool read_small_int(std::int64_t& v, std::uint8_t owner, std::size_t owner_at, const char* role) {
    const std::size_t at = pos_;
    if (left() != 0 && bytes_[pos_] == std::byte{tag::small_integer} && left() >= 2) {
      pos_ += 1;
      v = u8();
      return true;
    }
    if (left() != 0 && bytes_[pos_] == std::byte{tag::integer} && left() >= 5) {
      pos_ += 1;
      v = static_cast<std::int32_t>(u32());
      return true;
    }
    return fail(at, "the " + std::string(role) + " of " + describe_tag(owner) + " at offset " +
                        std::to_string(owner_at) + " must be a SMALL_INTEGER_EXT or INTEGER_EXT");
  }

  // EXPORT_EXT: Module, Function, Arity. Kept as its encoding, atoms written out in UTF-8.
  bool read_export(term& out, std::uint8_t t, std::size_t at) {
    atom module;
    atom function;
    std::int64_t arity = 0;
    if (!read_atom_term(module, t, at, "module") || !read_atom_term(function, t, at, "function") ||
        !read_small_int(arity, t, at, "arity")) {
      return false;
    }
    if (arity < 0 || arity > 255) {
      return fail(at, "EXPORT_EXT (113) of arity " + std::to_string(arity) + " (0..255)");
    }
    std::vector<std::byte> bytes;
    writer w(bytes);
    w.u8(tag::export_);
    put_atom(w, module.str());
    put_atom(w, function.str());
    put_integer(w, arity);
    term_access::set(out, term_access::opaque(kind::external_fun, std::move(bytes)));
    return true;
  }

  // NEW_FUN_EXT: Size:4, Arity:1, Uniq:16, Index:4, NumFree:4, Module, OldIndex, OldUniq, Pid,
  // NumFree terms. Every part is checked; it is kept as its encoding, written out again as a BEAM
  // node writes it (so that atom cache references inside are resolved).
  bool read_fun(term& out, std::uint8_t t, std::size_t at, std::size_t depth) {
    if (!need(at, t, 4 + 1 + 16 + 4 + 4, "its Size, Arity, Uniq, Index and NumFree")) return false;
    const std::size_t start = pos_;  // Size counts itself
    const std::size_t size = u32();
    const std::uint8_t arity = u8();
    const auto uniq = take(16);
    const std::uint32_t index = u32();
    const std::uint32_t num_free = u32();
    if (size < 4 + 1 + 16 + 4 + 4 || size > bytes_.size() - start) {
      return fail(at, "NEW_FUN_EXT (112) of Size " + std::to_string(size) + ", but " +
                          plural(bytes_.size() - start, "byte is", "bytes are") + " left");
    }
    atom module;
    std::int64_t old_index = 0;
    std::int64_t old_uniq = 0;
    pid creator;
    if (!read_atom_term(module, t, at, "module") || !read_small_int(old_index, t, at, "OldIndex") ||
        !read_small_int(old_uniq, t, at, "OldUniq")) {
      return false;
    }
    const std::size_t pid_at = pos_;
    if (left() == 0 ||
        (bytes_[pos_] != std::byte{tag::new_pid} && bytes_[pos_] != std::byte{tag::pid})) {
      return fail(pid_at, "the Pid of NEW_FUN_EXT (112) at offset " + std::to_string(at) +
                              " must be a PID_EXT or NEW_PID_EXT");
    }
    const std::uint8_t pid_tag = u8();
    if (!read_pid_body(creator, pid_tag, pid_at)) return false;
    if (!plausible(at, t, num_free, "free variables", 1, 0)) return false;
    std::vector<term> free(num_free);
    for (term& v : free) {
      if (!read(v, depth + 1)) return false;
    }
    if (pos_ - start != size) {
      return fail(at, "NEW_FUN_EXT (112) says its Size is " + std::to_string(size) +
                          " bytes, but its fields take " + std::to_string(pos_ - start));
    }
    std::vector<std::byte> bytes;
    writer w(bytes);
    w.u8(tag::new_fun);
    w.u32(0);  // Size, patched below
    w.u8(arity);
    w.bytes(uniq);
    w.u32(index);
    w.u32(num_free);
    put_atom(w, module.str());
    put_integer(w, old_index);
    put_integer(w, old_uniq);
    put_pid(w, creator);
    for (const term& v : free) put_term(w, v);
    w.patch_u32(1, static_cast<std::uint32_t>(bytes.size() - 1));
    term_access::set(out, term_access::opaque(kind::fun, std::move(bytes)));
    return true;
  }

  std::span<const std::byte> bytes_;
  std::size_t pos_;
  const decode_options& options_;
  std::string_view where_;
  std::string problem_;
};

// decode_compressed(bytes, at, options, out) -> the size of the compressed term (COMPRESSED, 80)
// at bytes[at], "131 80 UncompressedSize:4 zlib data", the data inflating to "Tag Data" of
// exactly UncompressedSize bytes; the term is read into out, a default term.
inline result<std::size_t> decode_compressed(std::span<const std::byte> bytes, std::size_t at,
                                             const decode_options& options, term& out) {
  decoder d(bytes, at, options, "");
  const std::size_t data = at + 5;
  if (bytes.size() < data) {
    d.fail(at, "COMPRESSED (80) is truncated: its UncompressedSize needs 4 bytes");
    return d.error();
  }
  std::size_t size = 0;
  for (std::size_t i = at + 1; i < data; ++i)
    size = (size << 8) | static_cast<std::uint8_t>(bytes[i]);
  const std::size_t available = bytes.size() - data;
  if (size == 0) {
    d.fail(at, "COMPRESSED (80) declares an UncompressedSize of 0: no room for a term");
    return d.error();
  }
  if (size > options.max_decompressed_size) {
    d.fail(at, "COMPRESSED (80) declares " + std::to_string(size) +
                   " bytes, more than decode_options::max_decompressed_size (" +
                   std::to_string(options.max_decompressed_size) + ")");
    return d.error();
  }
  if (size / deflate_max_ratio > available) {
    d.fail(at, "COMPRESSED (80) declares " + std::to_string(size) + " bytes, more than " +
                   plural(available, "compressed byte", "compressed bytes") + " can inflate to");
    return d.error();
  }
  std::vector<std::byte> plain(size);
  z_stream z{};
  if (inflateInit(&z) != Z_OK) {
    d.fail(at, "COMPRESSED (80): zlib could not start inflating");
    return d.error();
  }
  // zlib takes a non-const pointer but does not write through next_in.
  z.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(bytes.data() + data));
  z.avail_in = static_cast<uInt>(std::min<std::size_t>(available, UINT_MAX));
  z.next_out = reinterpret_cast<Bytef*>(plain.data());
  z.avail_out = static_cast<uInt>(size);  // a 4-byte field: fits
  const int rc = inflate(&z, Z_FINISH);
  const std::size_t used = z.total_in;
  const std::size_t produced = z.total_out;
  const bool output_full = z.avail_out == 0;
  const std::string zlib_message = z.msg != nullptr ? z.msg : "";
  inflateEnd(&z);
  if (rc == Z_STREAM_END && produced != size) {
    d.fail(at, "COMPRESSED (80) inflates to " + std::to_string(produced) +
                   " bytes, not the declared " + std::to_string(size));
    return d.error();
  }
  if (rc != Z_STREAM_END) {
    if ((rc == Z_OK || rc == Z_BUF_ERROR) && output_full) {
      d.fail(at, "COMPRESSED (80) inflates to more than the declared " + std::to_string(size) +
                     " bytes");
    } else if (rc == Z_OK || rc == Z_BUF_ERROR) {
      d.fail(at, "COMPRESSED (80) is truncated: its zlib data ends early");
    } else {
      d.fail(at, "COMPRESSED (80) holds invalid zlib data" +
                     (zlib_message.empty() ? std::string() : " (" + zlib_message + ")"));
    }
    return d.error();
  }
  decoder inner(plain, 0, options, " of the decompressed term");
  if (!inner.read(out, 1)) return inner.error();
  if (inner.offset() != plain.size()) {
    inner.fail(inner.offset(), "the compressed term ends after " + std::to_string(inner.offset()) +
                                   " of its " + std::to_string(size) + " bytes");
    return inner.error();
  }
  return data + used;
}

// read_front(bytes, options, out) -> how many bytes the term at the front of bytes takes (131
// first or not, compressed or not); the term is read into out, a default term.
inline result<std::size_t> read_front(std::span<const std::byte> bytes,
                                      const decode_options& options, term& out) {
  std::size_t at = 0;
  if (!bytes.empty() && bytes[0] == std::byte{tag::version}) at = 1;
  decoder d(bytes, at, options, "");
  if (bytes.empty()) {
    d.fail(0, "no term: the input is empty");
    return d.error();
  }
  if (at < bytes.size() && bytes[at] == std::byte{tag::compressed}) {
    return decode_compressed(bytes, at, options, out);
  }
  if (!d.read(out, 1)) return d.error();
  return d.offset();
}

}  // namespace detail

// Both build the term where it is returned from, and return one object: no move of the term.
NODUS_DECL result<decoded_prefix> decode_prefix(std::span<const std::byte> bytes,
                                                const decode_options& options) {
  result<decoded_prefix> r;
  if (const result<std::size_t> size = detail::read_front(bytes, options, r->value)) {
    r->size = *size;
  } else {
    r = size.error();
  }
  return r;
}

NODUS_DECL result<term> decode(std::span<const std::byte> bytes, const decode_options& options) {
  result<term> r;
  if (const result<std::size_t> size = detail::read_front(bytes, options, *r); !size) {
    r = size.error();
  } else if (*size != bytes.size()) {
    r = nodus::error(errc::malformed_frame,
                     "etf: offset " + std::to_string(*size) + ": " +
                         detail::plural(bytes.size() - *size, "byte", "bytes") + " after the term");
  }
  return r;
}

}  // namespace nodus::etf

// nodus/codec/etf/impl/term.ipp: etf::term's life cycle, equality, hash and Erlang-syntax printer
// (see nodus/codec/etf/term.hpp and nodus/config.hpp).
#pragma once

#include "nodus/codec/etf/term.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nodus/codec/etf/detail/term_access.hpp"
#include "nodus/codec/etf/tags.hpp"

namespace nodus::etf {

namespace detail {

// The reason an atom text is refused: "\"...\" is not valid UTF-8 at byte 3".
NODUS_DECL std::string atom_text_problem(std::string_view utf8, const atom_check& c) {
  std::string r = "the atom text \"";
  for (std::size_t i = 0; i < utf8.size() && i < 40; ++i) {
    const auto u = static_cast<unsigned char>(utf8[i]);
    if (u >= 0x20 && u < 0x7f && u != '"' && u != '\\') {
      r += utf8[i];
    } else {
      constexpr const char* hex = "0123456789abcdef";
      r += "\\x";
      r += hex[u >> 4];
      r += hex[u & 0x0f];
    }
  }
  if (utf8.size() > 40) r += "...";
  r += '"';
  if (c.problem == atom_problem::invalid_utf8) {
    r += " is not valid UTF-8 at byte " + std::to_string(c.offset);
  } else {
    r += " has more than 255 characters, the most an atom may have";
  }
  return r;
}

}  // namespace detail

NODUS_DECL std::string_view kind_name(kind k) noexcept {
  switch (k) {
    case kind::integer:
    case kind::big_integer: return "integer";
    case kind::float_: return "float";
    case kind::atom: return "atom";
    case kind::tuple: return "tuple";
    case kind::list: return "list";
    case kind::binary: return "binary";
    case kind::bit_binary: return "bitstring";
    case kind::map: return "map";
    case kind::pid: return "pid";
    case kind::reference: return "reference";
    case kind::port: return "port";
    case kind::external_fun:
    case kind::fun: return "fun";
  }
  return "term";
}

// ---- atom -------------------------------------------------------------------------------------

NODUS_DECL atom::atom(std::string_view utf8) {
  const detail::atom_check c = detail::check_atom_text(utf8);
  if (c.problem != detail::atom_problem::none) {
    throw std::invalid_argument("nodus::etf::atom: " + detail::atom_text_problem(utf8, c));
  }
  text_.assign(utf8);
}

NODUS_DECL result<atom> atom::make(std::string_view utf8) {
  const detail::atom_check c = detail::check_atom_text(utf8);
  if (c.problem != detail::atom_problem::none) {
    return nodus::error(std::make_error_code(std::errc::invalid_argument),
                        detail::atom_text_problem(utf8, c));
  }
  return detail::term_access::checked_atom(std::string(utf8));
}

// ---- construction -------------------------------------------------------------------------------

NODUS_DECL term::term(integer_tag, std::int64_t value) noexcept
    : kind_(kind::integer), int_(value) {}

NODUS_DECL term::term(integer_tag, std::uint64_t value) : kind_(kind::integer), int_(0) {
  if (value <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    int_ = static_cast<std::int64_t>(value);
    return;
  }
  auto* big = new big_integer{false, std::vector<std::uint8_t>(8)};
  for (std::size_t i = 0; i < 8; ++i)
    big->magnitude[i] = static_cast<std::uint8_t>(value >> (8 * i));
  big_ = big;
  kind_ = kind::big_integer;
}

NODUS_DECL term::term(atom value) noexcept : kind_(kind::atom), atom_(std::move(value)) {}

NODUS_DECL term::term(big_integer value) : kind_(kind::integer), int_(0) {
  auto& m = value.magnitude;
  while (!m.empty() && m.back() == 0) m.pop_back();
  if (detail::int64_of_magnitude(value.negative, m, int_)) return;
  big_ = new big_integer(std::move(value));
  kind_ = kind::big_integer;
}

NODUS_DECL term::term(bit_binary value) : term() {
  if (value.bits == 0 && !value.bytes.empty()) {
    throw std::invalid_argument(
        "nodus::etf::term: a bit_binary uses 1 to 8 bits of its last byte, not 0");
  }
  if (value.bits >= 8 || value.bytes.empty()) {
    std::vector<std::byte> bytes = std::move(value.bytes);
    destroy();
    ::new (&bytes_) std::vector<std::byte>(std::move(bytes));
    kind_ = kind::binary;
    return;
  }
  value.bytes.back() &= static_cast<std::byte>(0xFF << (8 - value.bits));
  auto* p = new etf::bit_binary(std::move(value));
  destroy();
  bits_ = p;
  kind_ = kind::bit_binary;
}

NODUS_DECL term::term(pid value) : term() {
  auto* p = new etf::pid(std::move(value));
  destroy();
  pid_ = p;
  kind_ = kind::pid;
}

NODUS_DECL term::term(reference value) : term() {
  if (value.word_count > reference::max_words) {
    throw std::invalid_argument("nodus::etf::term: a reference has at most 5 ID words");
  }
  auto* p = new etf::reference(std::move(value));
  destroy();
  ref_ = p;
  kind_ = kind::reference;
}

NODUS_DECL term::term(port value) : term() {
  auto* p = new etf::port(std::move(value));
  destroy();
  port_ = p;
  kind_ = kind::port;
}

NODUS_DECL term term::tuple(std::vector<term> elements) {
  term t;
  t.destroy();
  ::new (&t.items_) std::vector<term>(std::move(elements));
  t.kind_ = kind::tuple;
  return t;
}

NODUS_DECL term term::list(std::vector<term> elements, term tail) {
  // [a|[b|c]] is [a,b|c]: splice list tails in, so that equal lists have one form.
  if (tail.kind_ == kind::list) {
    if (elements.empty()) return tail;
    elements.reserve(elements.size() + tail.list_.items.size());
    for (term& e : tail.list_.items) elements.push_back(std::move(e));
    term* rest = std::exchange(tail.list_.tail, nullptr);
    term t;
    t.list_.items = std::move(elements);
    t.list_.tail = rest;
    return t;
  }
  if (elements.empty()) return tail;  // [|x] is x, as binary_to_term has it
  auto* owned = new term(std::move(tail));
  term t;
  t.list_.items = std::move(elements);
  t.list_.tail = owned;
  return t;
}

NODUS_DECL term term::binary(std::vector<std::byte> bytes) {
  term t;
  t.destroy();
  ::new (&t.bytes_) std::vector<std::byte>(std::move(bytes));
  t.kind_ = kind::binary;
  return t;
}

NODUS_DECL term term::binary(std::string_view bytes) {
  const auto* p = reinterpret_cast<const std::byte*>(bytes.data());
  return binary(std::vector<std::byte>(p, p + bytes.size()));
}

NODUS_DECL term term::map(std::vector<map_entry> entries) {
  term t;
  t.destroy();
  ::new (&t.entries_) std::vector<map_entry>(std::move(entries));
  t.kind_ = kind::map;
  return t;
}

// ---- life cycle ---------------------------------------------------------------------------------

NODUS_DECL void term::destroy() noexcept {
  switch (kind_) {
    case kind::integer:
    case kind::float_: break;
    case kind::atom: atom_.~atom(); break;
    case kind::tuple: items_.~vector(); break;
    case kind::list:
      delete list_.tail;
      list_.~list_rep();
      break;
    case kind::binary: bytes_.~vector(); break;
    case kind::map: entries_.~vector(); break;
    case kind::big_integer: delete big_; break;
    case kind::bit_binary: delete bits_; break;
    case kind::pid: delete pid_; break;
    case kind::reference: delete ref_; break;
    case kind::port: delete port_; break;
    case kind::external_fun:
    case kind::fun: delete opaque_; break;
  }
}

// Precondition: this holds no member that needs destroying (an integer).
NODUS_DECL void term::copy_from(const term& o) {
  switch (o.kind_) {
    case kind::integer: int_ = o.int_; break;
    case kind::float_: float_ = o.float_; break;
    case kind::atom: ::new (&atom_) etf::atom(o.atom_); break;
    case kind::tuple: ::new (&items_) std::vector<term>(o.items_); break;
    case kind::list: {
      term* tail = o.list_.tail != nullptr ? new term(*o.list_.tail) : nullptr;
      try {
        ::new (&list_) list_rep{o.list_.items, tail};
      } catch (...) {
        delete tail;
        throw;
      }
      break;
    }
    case kind::binary: ::new (&bytes_) std::vector<std::byte>(o.bytes_); break;
    case kind::map: ::new (&entries_) std::vector<map_entry>(o.entries_); break;
    case kind::big_integer: big_ = new big_integer(*o.big_); break;
    case kind::bit_binary: bits_ = new etf::bit_binary(*o.bits_); break;
    case kind::pid: pid_ = new etf::pid(*o.pid_); break;
    case kind::reference: ref_ = new etf::reference(*o.ref_); break;
    case kind::port: port_ = new etf::port(*o.port_); break;
    case kind::external_fun:
    case kind::fun: opaque_ = new opaque_rep(*o.opaque_); break;
  }
  kind_ = o.kind_;
}

// Precondition as copy_from; leaves o as [].
NODUS_DECL void term::move_from(term& o) noexcept {
  switch (o.kind_) {
    case kind::integer: int_ = o.int_; break;
    case kind::float_: float_ = o.float_; break;
    case kind::atom: ::new (&atom_) etf::atom(std::move(o.atom_)); break;
    case kind::tuple: ::new (&items_) std::vector<term>(std::move(o.items_)); break;
    case kind::list:
      ::new (&list_) list_rep{std::move(o.list_.items), std::exchange(o.list_.tail, nullptr)};
      break;
    case kind::binary: ::new (&bytes_) std::vector<std::byte>(std::move(o.bytes_)); break;
    case kind::map: ::new (&entries_) std::vector<map_entry>(std::move(o.entries_)); break;
    case kind::big_integer: big_ = std::exchange(o.big_, nullptr); break;
    case kind::bit_binary: bits_ = std::exchange(o.bits_, nullptr); break;
    case kind::pid: pid_ = std::exchange(o.pid_, nullptr); break;
    case kind::reference: ref_ = std::exchange(o.ref_, nullptr); break;
    case kind::port: port_ = std::exchange(o.port_, nullptr); break;
    case kind::external_fun:
    case kind::fun: opaque_ = std::exchange(o.opaque_, nullptr); break;
  }
  kind_ = o.kind_;
  o.destroy();
  ::new (&o.list_) list_rep();
  o.kind_ = kind::list;
}

NODUS_DECL term::term(const term& other) : kind_(kind::integer), int_(0) { copy_from(other); }

NODUS_DECL term::term(term&& other) noexcept : kind_(kind::integer), int_(0) { move_from(other); }

NODUS_DECL term& term::operator=(const term& other) {
  if (this != &other) {
    term copy(other);  // first: other may live inside this term
    destroy();
    kind_ = kind::integer;
    move_from(copy);
  }
  return *this;
}

NODUS_DECL term& term::operator=(term&& other) noexcept {
  if (this != &other) {
    term taken(std::move(other));  // first: other may live inside this term
    destroy();
    kind_ = kind::integer;
    move_from(taken);
  }
  return *this;
}

// ---- access -----------------------------------------------------------------------------------

NODUS_DECL std::span<const std::byte> term::opaque_bytes() const noexcept {
  if (kind_ != kind::external_fun && kind_ != kind::fun) return {};
  return opaque_->bytes;
}

NODUS_DECL const term* term::find(const term& key) const noexcept {
  if (kind_ != kind::map) return nullptr;
  for (const map_entry& e : entries_) {
    if (e.key == key) return &e.value;
  }
  return nullptr;
}

// ---- equality and hash --------------------------------------------------------------------------

namespace detail {

// Maps are equal with the same entries in any order; keys are unique in each.
NODUS_DECL bool map_entries_equal(const std::vector<map_entry>& a,
                                  const std::vector<map_entry>& b) {
  if (a.size() != b.size()) return false;
  if (std::equal(a.begin(), a.end(), b.begin())) return true;  // the common case: same order
  std::vector<std::pair<std::size_t, std::size_t>> index;      // (hash of b's key, position)
  index.reserve(b.size());
  for (std::size_t i = 0; i < b.size(); ++i) index.emplace_back(hash_value(b[i].key), i);
  std::sort(index.begin(), index.end());
  for (const map_entry& e : a) {
    const std::size_t h = hash_value(e.key);
    auto it =
        std::lower_bound(index.begin(), index.end(), std::pair<std::size_t, std::size_t>(h, 0));
    bool found = false;
    for (; it != index.end() && it->first == h; ++it) {
      const map_entry& other = b[it->second];
      if (other.key == e.key) {
        if (!(other.value == e.value)) return false;
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

inline std::size_t hash_mix(std::size_t h, std::uint64_t v) noexcept {
  h ^= static_cast<std::size_t>(v) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h;
}

inline std::size_t hash_bytes(const void* data, std::size_t size) noexcept {
  return std::hash<std::string_view>{}(std::string_view(static_cast<const char*>(data), size));
}

}  // namespace detail

NODUS_DECL bool operator==(const term& a, const term& b) {
  if (a.kind_ != b.kind_) return false;
  switch (a.kind_) {
    case kind::integer: return a.int_ == b.int_;
    case kind::float_:
      return std::bit_cast<std::uint64_t>(a.float_) == std::bit_cast<std::uint64_t>(b.float_);
    case kind::atom: return a.atom_ == b.atom_;
    case kind::tuple: return a.items_ == b.items_;
    case kind::list:
      if (!(a.list_.items == b.list_.items)) return false;
      if (a.list_.tail == nullptr || b.list_.tail == nullptr) return a.list_.tail == b.list_.tail;
      return *a.list_.tail == *b.list_.tail;
    case kind::binary: return a.bytes_ == b.bytes_;
    case kind::map: return detail::map_entries_equal(a.entries_, b.entries_);
    case kind::big_integer: return *a.big_ == *b.big_;
    case kind::bit_binary: return *a.bits_ == *b.bits_;
    case kind::pid: return *a.pid_ == *b.pid_;
    case kind::reference:
      return a.ref_->node == b.ref_->node && a.ref_->creation == b.ref_->creation &&
             std::ranges::equal(a.ref_->id(), b.ref_->id());
    case kind::port: return *a.port_ == *b.port_;
    case kind::external_fun:
    case kind::fun: return a.opaque_->bytes == b.opaque_->bytes;
  }
  return false;
}

NODUS_DECL std::size_t hash_value(const term& t) noexcept {
  using detail::hash_bytes;
  using detail::hash_mix;
  std::size_t h = static_cast<std::size_t>(t.type()) * 0x100000001b3ULL;
  switch (t.type()) {
    case kind::integer: return hash_mix(h, static_cast<std::uint64_t>(*t.as_integer()));
    case kind::float_: return hash_mix(h, std::bit_cast<std::uint64_t>(*t.as_float()));
    case kind::atom: return hash_mix(h, std::hash<atom>{}(*t.as_atom()));
    case kind::tuple:
      for (const term& e : *t.as_tuple()) h = hash_mix(h, hash_value(e));
      return h;
    case kind::list:
      for (const term& e : *t.as_list()) h = hash_mix(h, hash_value(e));
      if (const term* tail = t.list_tail()) h = hash_mix(h, hash_value(*tail));
      return h;
    case kind::binary: return hash_mix(h, hash_bytes(t.as_binary()->data(), t.as_binary()->size()));
    case kind::map: {
      std::size_t sum = 0;  // commutative: equal maps in any order hash alike
      for (const map_entry& e : *t.as_map())
        sum += hash_mix(hash_value(e.key), hash_value(e.value));
      return hash_mix(h, sum);
    }
    case kind::big_integer: {
      const big_integer& b = *t.as_big_integer();
      return hash_mix(hash_mix(h, b.negative), hash_bytes(b.magnitude.data(), b.magnitude.size()));
    }
    case kind::bit_binary: {
      const bit_binary& b = *t.as_bit_binary();
      return hash_mix(hash_mix(h, b.bits), hash_bytes(b.bytes.data(), b.bytes.size()));
    }
    case kind::pid: {
      const pid& p = *t.as_pid();
      h = hash_mix(h, std::hash<atom>{}(p.node));
      return hash_mix(hash_mix(hash_mix(h, p.id), p.serial), p.creation);
    }
    case kind::reference: {
      const reference& r = *t.as_reference();
      h = hash_mix(hash_mix(h, std::hash<atom>{}(r.node)), r.creation);
      for (const std::uint32_t w : r.id()) h = hash_mix(h, w);
      return h;
    }
    case kind::port: {
      const port& p = *t.as_port();
      return hash_mix(hash_mix(hash_mix(h, std::hash<atom>{}(p.node)), p.id), p.creation);
    }
    case kind::external_fun:
    case kind::fun:
      return hash_mix(h, hash_bytes(t.opaque_bytes().data(), t.opaque_bytes().size()));
  }
  return h;
}

// ---- printing in Erlang syntax ------------------------------------------------------------------

namespace detail {

// Erlang's reserved words print quoted as atoms (erl_scan:reserved_word/1).
constexpr std::string_view erlang_reserved_words[] = {
    "after", "and",  "andalso", "band",   "begin",   "bnot", "bor", "bsl",  "bsr",
    "bxor",  "case", "catch",   "cond",   "div",     "end",  "fun", "if",   "let",
    "not",   "of",   "or",      "orelse", "receive", "rem",  "try", "when", "xor"};

NODUS_DECL bool atom_needs_quotes(std::string_view s) noexcept {
  if (s.empty() || s[0] < 'a' || s[0] > 'z') return true;
  for (const char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '@';
    if (!ok) return true;
  }
  for (const std::string_view w : erlang_reserved_words) {
    if (s == w) return true;
  }
  return false;
}

// Appends c as Erlang writes it inside quotes ('\n', "\e", '\001'); bytes >= 0x80 as they are.
inline void append_escaped(std::string& out, unsigned char c, char quote) {
  switch (c) {
    case '\n': out += "\\n"; return;
    case '\r': out += "\\r"; return;
    case '\t': out += "\\t"; return;
    case '\v': out += "\\v"; return;
    case '\b': out += "\\b"; return;
    case '\f': out += "\\f"; return;
    case 27: out += "\\e"; return;
    case '\\': out += "\\\\"; return;
    default: break;
  }
  if (c == static_cast<unsigned char>(quote)) {
    out += '\\';
    out += quote;
  } else if (c < 0x20 || c == 0x7f) {
    out += '\\';
    out += static_cast<char>('0' + (c >> 6));
    out += static_cast<char>('0' + ((c >> 3) & 7));
    out += static_cast<char>('0' + (c & 7));
  } else {
    out += static_cast<char>(c);
  }
}

NODUS_DECL void append_atom(std::string& out, std::string_view name) {
  if (!atom_needs_quotes(name)) {
    out += name;
    return;
  }
  out += '\'';
  for (const char c : name) append_escaped(out, static_cast<unsigned char>(c), '\'');
  out += '\'';
}

// Characters io_lib prints a list or binary as text for: printable ASCII and the usual escapes.
constexpr bool is_printable_char(std::int64_t c) noexcept {
  return (c >= 0x20 && c < 0x7f) || (c >= 8 && c <= 13) || c == 27;
}

template <class U>
void append_unsigned(std::string& out, U v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

NODUS_DECL void append_integer(std::string& out, std::int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// A bignum in decimal: repeated division of base-10^9 limbs.
NODUS_DECL void append_big_integer(std::string& out, const big_integer& b) {
  std::vector<std::uint32_t> limbs;  // base 2^32, least significant first
  for (std::size_t i = 0; i < b.magnitude.size(); i += 4) {
    std::uint32_t w = 0;
    for (std::size_t k = 0; k < 4 && i + k < b.magnitude.size(); ++k)
      w |= static_cast<std::uint32_t>(b.magnitude[i + k]) << (8 * k);
    limbs.push_back(w);
  }
  std::vector<std::uint32_t> chunks;  // base 10^9, least significant first
  while (!limbs.empty()) {
    std::uint64_t rem = 0;
    for (std::size_t i = limbs.size(); i-- > 0;) {
      const std::uint64_t cur = (rem << 32) | limbs[i];
      limbs[i] = static_cast<std::uint32_t>(cur / 1000000000u);
      rem = cur % 1000000000u;
    }
    chunks.push_back(static_cast<std::uint32_t>(rem));
    while (!limbs.empty() && limbs.back() == 0) limbs.pop_back();
  }
  if (b.negative) out += '-';
  if (chunks.empty()) {
    out += '0';
    return;
  }
  append_unsigned(out, chunks.back());
  for (std::size_t i = chunks.size() - 1; i-- > 0;) {
    char buf[10];
    const auto r = std::to_chars(buf, buf + sizeof buf, chunks[i]);
    out.append(9 - static_cast<std::size_t>(r.ptr - buf), '0');
    out.append(buf, r.ptr);
  }
}

// A float as Erlang prints one: the shortest text that reads back, always with a fraction
// ("1.0", "0.1", "1.0e10", "1.5e-7").
NODUS_DECL void append_float(std::string& out, double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  const std::string_view text(buf, static_cast<std::size_t>(r.ptr - buf));
  const std::size_t e = text.find('e');
  const std::string_view mantissa = text.substr(0, e);
  out += mantissa;
  if (mantissa.find('.') == std::string_view::npos) out += ".0";
  if (e != std::string_view::npos) {
    out += 'e';
    std::string_view exp = text.substr(e + 1);
    if (!exp.empty() && exp[0] == '+') exp.remove_prefix(1);
    if (!exp.empty() && exp[0] == '-') {
      out += '-';
      exp.remove_prefix(1);
    }
    while (exp.size() > 1 && exp[0] == '0') exp.remove_prefix(1);
    out += exp;
  }
}

// A small reader of the encodings nodus keeps for funs (they are written by the encoder, but
// read defensively).
struct opaque_reader {
  std::span<const std::byte> bytes;
  std::size_t pos = 0;
  bool ok = true;

  std::uint32_t uint(std::size_t n) {
    if (!ok || bytes.size() - pos < n) {
      ok = false;
      return 0;
    }
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<std::uint8_t>(bytes[pos + i]);
    pos += n;
    return v;
  }
  std::string_view atom_text() {
    const std::uint32_t t = uint(1);
    const std::uint32_t n = t == tag::small_atom_utf8 ? uint(1) : t == tag::atom_utf8 ? uint(2) : 0;
    if (!ok || (t != tag::small_atom_utf8 && t != tag::atom_utf8) || bytes.size() - pos < n) {
      ok = false;
      return {};
    }
    const std::string_view s(reinterpret_cast<const char*>(bytes.data() + pos), n);
    pos += n;
    return s;
  }
  std::int64_t integer() {
    const std::uint32_t t = uint(1);
    if (t == tag::small_integer) return uint(1);
    if (t == tag::integer) return static_cast<std::int32_t>(uint(4));
    ok = false;
    return 0;
  }
};

class printer {
 public:
  printer(std::string& out, std::size_t limit) : out_(out), limit_(limit) {}

  void print(const term& t) {
    if (full()) return;
    switch (t.type()) {
      case kind::integer: append_integer(out_, *t.as_integer()); break;
      case kind::big_integer: append_big_integer(out_, *t.as_big_integer()); break;
      case kind::float_: append_float(out_, *t.as_float()); break;
      case kind::atom: append_atom(out_, t.as_atom()->str()); break;
      case kind::tuple: sequence('{', *t.as_tuple(), nullptr, '}'); break;
      case kind::list: list(*t.as_list(), t.list_tail()); break;
      case kind::binary: binary(*t.as_binary(), 8); break;
      case kind::bit_binary: binary(t.as_bit_binary()->bytes, t.as_bit_binary()->bits); break;
      case kind::map: map(*t.as_map()); break;
      case kind::pid: {
        const pid& p = *t.as_pid();
        out_ += '<';
        append_atom(out_, p.node.str());
        out_ += '.';
        append_unsigned(out_, p.id);
        out_ += '.';
        append_unsigned(out_, p.serial);
        out_ += '>';
        break;
      }
      case kind::reference: {  // words from the last, as Erlang prints #Ref<0.3.2.1>
        const reference& r = *t.as_reference();
        out_ += "#Ref<";
        append_atom(out_, r.node.str());
        const auto id = r.id();
        for (std::size_t i = id.size(); i-- > 0;) {
          out_ += '.';
          append_unsigned(out_, id[i]);
        }
        out_ += '>';
        break;
      }
      case kind::port:
        out_ += "#Port<";
        append_atom(out_, t.as_port()->node.str());
        out_ += '.';
        append_unsigned(out_, t.as_port()->id);
        out_ += '>';
        break;
      case kind::external_fun: external_fun(t.opaque_bytes()); break;
      case kind::fun: fun(t.opaque_bytes()); break;
    }
  }

 private:
  [[nodiscard]] bool full() const noexcept { return out_.size() >= limit_; }

  void sequence(char open, const std::vector<term>& items, const term* tail, char close) {
    out_ += open;
    for (std::size_t i = 0; i < items.size() && !full(); ++i) {
      if (i != 0) out_ += ',';
      print(items[i]);
    }
    if (tail != nullptr && !full()) {
      out_ += '|';
      print(*tail);
    }
    out_ += close;
  }

  void list(const std::vector<term>& items, const term* tail) {
    bool text = !items.empty() && tail == nullptr;
    for (std::size_t i = 0; i < items.size() && text; ++i) {
      const std::int64_t* c = items[i].as_integer();
      text = c != nullptr && is_printable_char(*c);
    }
    if (!text) {
      sequence('[', items, tail, ']');
      return;
    }
    out_ += '"';
    for (std::size_t i = 0; i < items.size() && !full(); ++i)
      append_escaped(out_, static_cast<unsigned char>(*items[i].as_integer()), '"');
    out_ += '"';
  }

  void binary(const std::vector<std::byte>& bytes, unsigned bits) {
    out_ += "<<";
    const bool text =
        bits == 8 && !bytes.empty() && std::all_of(bytes.begin(), bytes.end(), [](std::byte b) {
          return is_printable_char(static_cast<std::uint8_t>(b));
        });
    if (text) {
      out_ += '"';
      for (std::size_t i = 0; i < bytes.size() && !full(); ++i)
        append_escaped(out_, static_cast<unsigned char>(bytes[i]), '"');
      out_ += '"';
    } else {
      for (std::size_t i = 0; i < bytes.size() && !full(); ++i) {
        if (i != 0) out_ += ',';
        const auto b = static_cast<std::uint8_t>(bytes[i]);
        if (i + 1 == bytes.size() && bits < 8) {
          append_unsigned(out_, static_cast<unsigned>(b >> (8 - bits)));
          out_ += ':';
          append_unsigned(out_, bits);
        } else {
          append_unsigned(out_, static_cast<unsigned>(b));
        }
      }
    }
    out_ += ">>";
  }

  void map(const std::vector<map_entry>& entries) {
    out_ += "#{";
    for (std::size_t i = 0; i < entries.size() && !full(); ++i) {
      if (i != 0) out_ += ',';
      print(entries[i].key);
      out_ += " => ";
      print(entries[i].value);
    }
    out_ += '}';
  }

  // fun M:F/A (EXPORT_EXT: 113, Module, Function, Arity).
  void external_fun(std::span<const std::byte> bytes) {
    opaque_reader r{bytes, 1};
    const std::string_view m = r.atom_text();
    const std::string_view f = r.atom_text();
    const std::int64_t arity = r.integer();
    if (!r.ok) {
      out_ += "#Fun<?>";
      return;
    }
    out_ += "fun ";
    append_atom(out_, m);
    out_ += ':';
    append_atom(out_, f);
    out_ += '/';
    append_integer(out_, arity);
  }

  // #Fun<Module.OldIndex.OldUniq>, as Erlang prints a fun (NEW_FUN_EXT: the module after 29 bytes
  // of tag, Size, Arity, Uniq, Index and NumFree).
  void fun(std::span<const std::byte> bytes) {
    opaque_reader r{bytes, 30};
    const std::string_view m = r.atom_text();
    const std::int64_t index = r.integer();
    const std::int64_t uniq = r.integer();
    out_ += "#Fun<";
    if (r.ok) {
      append_atom(out_, m);
      out_ += '.';
      append_integer(out_, index);
      out_ += '.';
      append_integer(out_, uniq);
    } else {
      out_ += '?';
    }
    out_ += '>';
  }

  std::string& out_;
  std::size_t limit_;
};

}  // namespace detail

NODUS_DECL std::string term::to_string(std::size_t max_size) const {
  std::string out;
  detail::printer(out, max_size).print(*this);
  if (out.size() > max_size) {
    std::size_t cut = max_size;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out.resize(cut);
    out += "...";
  }
  return out;
}

NODUS_DECL void nodus_format(std::string& out, const term& t) {
  detail::printer(out, std::string::npos).print(t);
}

NODUS_DECL void nodus_format(std::string& out, const atom& a) { detail::append_atom(out, a.str()); }

}  // namespace nodus::etf

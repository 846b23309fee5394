// nodus/codec/etf/term.hpp: Erlang terms whose shape is known only at run time.
//
// etf::term holds any term a BEAM node sends: integers (int64, or a bignum as sign + magnitude),
// floats, atoms, tuples, lists (proper or improper), binaries, bit binaries, maps (in the order
// they were decoded or built), pids, references, ports, and external funs (`fun M:F/A`) and funs,
// which stay opaque: their encoding, re-emitted as it is. A term is a value: copies are deep,
// == compares values as Erlang's =:= does (maps whatever their order; floats by their bits, so
// 0.0 and -0.0 differ as in OTP 27), and to_string() prints Erlang syntax for logs and test
// messages: {ok,'n1@127.0.0.1',pong}, <<"abc">>, #{a => 1}, "abc" for a list of printable
// characters as io_lib does; pids, references and ports show their node's name where Erlang shows
// a local number (<n1@h.80.0>, #Ref<n1@h.3.2.1>, #Port<n1@h.5>).
//
// Canonical forms, the same that binary_to_term gives: a bignum that fits in int64 is an integer,
// a bit binary whose last byte is whole is a binary, a list whose tail is a list is one list, a
// list of no elements with a tail is that tail. The Latin-1 atoms of old encoders become UTF-8.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/hana/adapt_struct.hpp>

#include "nodus/config.hpp"
#include "nodus/core/error.hpp"

namespace nodus::etf {

namespace detail {

// What is wrong with a text as an atom's name.
enum class atom_problem : std::uint8_t { none, invalid_utf8, too_long };

struct atom_check {
  atom_problem problem = atom_problem::none;
  std::size_t offset = 0;      // of the first byte that is not valid UTF-8
  std::size_t characters = 0;  // counted up to the problem
};

// check_atom_text(utf8) -> whether utf8 can name an atom: well-formed UTF-8 (no overlong forms, no
// surrogates, at most U+10FFFF) of at most 255 characters (erl_ext_dist: "The maximum number of
// allowed characters in an atom is 255"). Usable at compile time.
[[nodiscard]] constexpr atom_check check_atom_text(std::string_view utf8) noexcept {
  std::size_t i = 0;
  std::size_t chars = 0;
  while (i < utf8.size()) {
    const auto b = static_cast<unsigned char>(utf8[i]);
    std::size_t len = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (b < 0x80) {
      len = 1;
    } else if (b >= 0xC2 && b <= 0xDF) {
      len = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
      len = 3;
      if (b == 0xE0) lo = 0xA0;  // no overlong forms
      if (b == 0xED) hi = 0x9F;  // no surrogates
    } else if (b >= 0xF0 && b <= 0xF4) {
      len = 4;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;  // at most U+10FFFF
    } else {
      return {atom_problem::invalid_utf8, i, chars};
    }
    if (utf8.size() - i < len) return {atom_problem::invalid_utf8, i, chars};
    for (std::size_t k = 1; k < len; ++k) {
      const auto c = static_cast<unsigned char>(utf8[i + k]);
      if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF))
        return {atom_problem::invalid_utf8, i, chars};
    }
    i += len;
    if (++chars > 255) return {atom_problem::too_long, i, chars};
  }
  return {atom_problem::none, 0, chars};
}

// True when check_atom_text finds nothing wrong.
[[nodiscard]] constexpr bool is_atom_text(std::string_view utf8) noexcept {
  return check_atom_text(utf8).problem == atom_problem::none;
}

// int64_of_magnitude(negative, digits, out) -> whether the bignum of these digits (least
// significant first, no zero digit last) fits in int64; out is its value then. A term holds
// such a bignum as an integer (term(big_integer), the decoder).
[[nodiscard]] constexpr bool int64_of_magnitude(bool negative, std::span<const std::uint8_t> digits,
                                                std::int64_t& out) noexcept {
  if (digits.size() > 8) return false;
  std::uint64_t u = 0;
  for (std::size_t i = digits.size(); i-- > 0;) u = (u << 8) | digits[i];
  constexpr std::uint64_t max = 0x7fff'ffff'ffff'ffffu;  // INT64_MAX
  if (!negative && u <= max) {
    out = static_cast<std::int64_t>(u);
    return true;
  }
  if (negative && u <= max + 1) {
    out = u == max + 1 ? -static_cast<std::int64_t>(max) - 1 : -static_cast<std::int64_t>(u);
    return true;
  }
  return false;
}

struct term_access;

}  // namespace detail

// An atom: its name as UTF-8, at most 255 characters (Erlang's limit). Ordered and compared as
// its bytes, which is Erlang's order of atoms (by code point).
class atom {
 public:
  static constexpr std::size_t max_characters = 255;

  // The empty atom ''.
  atom() = default;
  // atom("ok"): throws std::invalid_argument when the text cannot name an atom (invalid UTF-8 or
  // more than 255 characters): for names written in the program. For text from outside, make().
  NODUS_DECL explicit atom(std::string_view utf8);
  // make(utf8) -> the atom, or std::errc::invalid_argument saying what is wrong with the text.
  [[nodiscard]] NODUS_DECL static result<atom> make(std::string_view utf8);

  // str() -> the name, UTF-8 (a view into this object).
  [[nodiscard]] std::string_view str() const noexcept { return text_; }
  [[nodiscard]] bool empty() const noexcept { return text_.empty(); }

  // Between nodus nodes (native frames) an atom travels as its text, checked on the way in: a
  // wire string (nodus/message/reflect.hpp).
  static constexpr bool nodus_wire_string = true;
  static constexpr std::string_view wire_schema = "atom";
  [[nodiscard]] static constexpr bool wire_text_ok(std::string_view utf8) noexcept {
    return detail::is_atom_text(utf8);
  }
  [[nodiscard]] static atom from_wire_text(std::string_view checked) {
    atom a;
    a.text_.assign(checked);
    return a;
  }
  [[nodiscard]] std::string_view wire_text() const noexcept { return text_; }

  friend bool operator==(const atom& a, const atom& b) noexcept { return a.text_ == b.text_; }
  friend bool operator==(const atom& a, std::string_view b) noexcept { return a.text_ == b; }
  friend std::strong_ordering operator<=>(const atom& a, const atom& b) noexcept {
    return a.text_.compare(b.text_) <=> 0;
  }

 private:
  friend struct detail::term_access;
  std::string text_;
};

// A bignum, an integer beyond int64: its sign and its magnitude in base 256, least significant
// byte first, without high zero bytes (SMALL_BIG_EXT / LARGE_BIG_EXT's digits).
struct big_integer {
  bool negative = false;
  std::vector<std::uint8_t> magnitude;
  friend bool operator==(const big_integer&, const big_integer&) = default;
};

// A bitstring whose length in bits is not a multiple of 8 (BIT_BINARY_EXT): the bytes, and how
// many bits of the last one are used, counted from its most significant bit (1..7; the unused low
// bits are zero).
struct bit_binary {
  std::vector<std::byte> bytes;
  std::uint8_t bits = 8;
  friend bool operator==(const bit_binary&, const bit_binary&) = default;
};

// A process identifier (NEW_PID_EXT): its node, and ID, Serial and Creation as the node set them.
struct pid {
  atom node;
  std::uint32_t id = 0;
  std::uint32_t serial = 0;
  std::uint32_t creation = 0;
  friend bool operator==(const pid&, const pid&) = default;
};

// A reference (NEWER_REFERENCE_EXT): its node, Creation, and up to 5 ID words, uninterpreted, in
// wire order. Words past word_count are zero.
struct reference {
  static constexpr std::size_t max_words = 5;
  atom node;
  std::uint32_t creation = 0;
  std::uint8_t word_count = 0;
  std::array<std::uint32_t, max_words> words{};
  [[nodiscard]] std::span<const std::uint32_t> id() const noexcept {
    return {words.data(), word_count};
  }
  friend bool operator==(const reference&, const reference&) = default;
};

// A port identifier (V4_PORT_EXT, or NEW_PORT_EXT when ID fits in 32 bits).
struct port {
  atom node;
  std::uint64_t id = 0;
  std::uint32_t creation = 0;
  friend bool operator==(const port&, const port&) = default;
};

// What a term is. A list includes [] (nil).
enum class kind : std::uint8_t {
  integer,
  big_integer,
  float_,
  atom,
  tuple,
  list,
  binary,
  bit_binary,
  map,
  pid,
  reference,
  port,
  external_fun,  // fun M:F/A (EXPORT_EXT), opaque
  fun,           // a closure (NEW_FUN_EXT), opaque
};

// "integer", "float", "tuple", ... (Erlang's type names; "fun" for both funs).
[[nodiscard]] NODUS_DECL std::string_view kind_name(kind k) noexcept;

struct map_entry;

// Any Erlang term (see the top of this file). The default term is [] (nil).
class term {
 public:
  term() noexcept : kind_(kind::list), list_() {}
  // term(42), term(-1ll), term(std::uint64_t(-1)) (a bignum beyond INT64_MAX). Not bool: true and
  // false are atoms, see the bool constructor.
  template <class I>
  requires(std::is_integral_v<I> && !std::is_same_v<I, bool>) term(I value)
  noexcept(std::is_signed_v<I> || sizeof(I) < sizeof(std::int64_t))  // NOLINT
      : term(integer_tag{}, value) {}
  // term(true) is the atom true, term(false) the atom false (only a real bool converts here).
  template <class B>
  requires std::is_same_v<B, bool> term(B value)
      : term(atom(value ? "true" : "false")) {}  // NOLINT(google-explicit-constructor)
  term(double value) noexcept : kind_(kind::float_), float_(value) {}  // NOLINT
  NODUS_DECL term(atom value) noexcept;                                // NOLINT
  NODUS_DECL term(big_integer value);                                  // NOLINT
  NODUS_DECL term(bit_binary value);                                   // NOLINT
  NODUS_DECL term(pid value);                                          // NOLINT
  NODUS_DECL term(reference value);                                    // NOLINT
  NODUS_DECL term(port value);                                         // NOLINT
  term(const char*) = delete;  // an atom, a binary or a charlist? Say which.

  // tuple({a, b}) -> {a,b}.
  [[nodiscard]] NODUS_DECL static term tuple(std::vector<term> elements);
  // list({a, b}) -> [a,b]; list({a}, b) -> [a|b] (a list tail is spliced in: [a|[b]] is [a,b]).
  [[nodiscard]] NODUS_DECL static term list(std::vector<term> elements, term tail = term());
  // binary(bytes) -> <<...>>; binary("abc") -> <<"abc">> (Elixir's "abc").
  [[nodiscard]] NODUS_DECL static term binary(std::vector<std::byte> bytes);
  [[nodiscard]] NODUS_DECL static term binary(std::string_view bytes);
  // map({{k, v}, ...}) -> #{k => v, ...}, in this order. Keys should differ: a BEAM node refuses
  // a map with a key twice (the decoder does too).
  [[nodiscard]] NODUS_DECL static term map(std::vector<map_entry> entries);
  // nil() -> [].
  [[nodiscard]] static term nil() noexcept { return {}; }

  NODUS_DECL term(const term& other);
  NODUS_DECL term(term&& other) noexcept;  // leaves other as []
  NODUS_DECL term& operator=(const term& other);
  NODUS_DECL term& operator=(term&& other) noexcept;
  // An integer or a float holds nothing to free: destroying one costs no call (a list of
  // numbers is freed at the cost of its vector).
  ~term() {
    if (kind_ != kind::integer && kind_ != kind::float_) destroy();
  }

  [[nodiscard]] kind type() const noexcept { return kind_; }
  [[nodiscard]] bool is_integer() const noexcept {
    return kind_ == kind::integer || kind_ == kind::big_integer;
  }
  [[nodiscard]] bool is_atom() const noexcept { return kind_ == kind::atom; }
  // is_atom("ok") -> this is the atom ok.
  [[nodiscard]] bool is_atom(std::string_view name) const noexcept {
    return kind_ == kind::atom && atom_.str() == name;
  }
  [[nodiscard]] bool is_tuple() const noexcept { return kind_ == kind::tuple; }
  [[nodiscard]] bool is_list() const noexcept { return kind_ == kind::list; }
  // is_nil() -> this is [] (the empty list).
  [[nodiscard]] bool is_nil() const noexcept {
    return kind_ == kind::list && list_.items.empty() && list_.tail == nullptr;
  }
  [[nodiscard]] bool is_binary() const noexcept { return kind_ == kind::binary; }
  [[nodiscard]] bool is_map() const noexcept { return kind_ == kind::map; }

  // The accessors below return nullptr when the term is of another kind.
  // as_integer() -> the value of an integer that fits in int64 (every other is a big_integer).
  [[nodiscard]] const std::int64_t* as_integer() const noexcept {
    return kind_ == kind::integer ? &int_ : nullptr;
  }
  [[nodiscard]] const big_integer* as_big_integer() const noexcept {
    return kind_ == kind::big_integer ? big_ : nullptr;
  }
  [[nodiscard]] const double* as_float() const noexcept {
    return kind_ == kind::float_ ? &float_ : nullptr;
  }
  [[nodiscard]] const etf::atom* as_atom() const noexcept {
    return kind_ == kind::atom ? &atom_ : nullptr;
  }
  // as_tuple() -> the elements of a tuple.
  [[nodiscard]] const std::vector<term>* as_tuple() const noexcept {
    return kind_ == kind::tuple ? &items_ : nullptr;
  }
  [[nodiscard]] std::vector<term>* as_tuple() noexcept {
    return kind_ == kind::tuple ? &items_ : nullptr;
  }
  // as_list() -> the elements of a list (none for []); list_tail() gives an improper list's tail.
  [[nodiscard]] const std::vector<term>* as_list() const noexcept {
    return kind_ == kind::list ? &list_.items : nullptr;
  }
  [[nodiscard]] std::vector<term>* as_list() noexcept {
    return kind_ == kind::list ? &list_.items : nullptr;
  }
  // list_tail() -> the tail of an improper list ([a|b] -> b); nullptr for a proper list.
  [[nodiscard]] const term* list_tail() const noexcept {
    return kind_ == kind::list ? list_.tail : nullptr;
  }
  [[nodiscard]] const std::vector<std::byte>* as_binary() const noexcept {
    return kind_ == kind::binary ? &bytes_ : nullptr;
  }
  [[nodiscard]] std::vector<std::byte>* as_binary() noexcept {
    return kind_ == kind::binary ? &bytes_ : nullptr;
  }
  [[nodiscard]] const etf::bit_binary* as_bit_binary() const noexcept {
    return kind_ == kind::bit_binary ? bits_ : nullptr;
  }
  [[nodiscard]] const std::vector<map_entry>* as_map() const noexcept {
    return kind_ == kind::map ? &entries_ : nullptr;
  }
  [[nodiscard]] std::vector<map_entry>* as_map() noexcept {
    return kind_ == kind::map ? &entries_ : nullptr;
  }
  [[nodiscard]] const etf::pid* as_pid() const noexcept {
    return kind_ == kind::pid ? pid_ : nullptr;
  }
  [[nodiscard]] const etf::reference* as_reference() const noexcept {
    return kind_ == kind::reference ? ref_ : nullptr;
  }
  [[nodiscard]] const etf::port* as_port() const noexcept {
    return kind_ == kind::port ? port_ : nullptr;
  }
  // opaque_bytes() -> the encoding of an external fun or a fun, tag included (as a BEAM node
  // sends it, atoms resolved from the atom cache); empty for other terms.
  [[nodiscard]] NODUS_DECL std::span<const std::byte> opaque_bytes() const noexcept;
  // find(key) -> the value under key in a map (a linear search); nullptr when absent or not a
  // map.
  [[nodiscard]] NODUS_DECL const term* find(const term& key) const noexcept;

  // to_string() -> the term in Erlang syntax; cut after max_size bytes, ending in "...".
  [[nodiscard]] NODUS_DECL std::string to_string(std::size_t max_size = std::string::npos) const;

  // Compares as Erlang's =:= (see the top of this file). May allocate, for maps in different
  // orders.
  friend NODUS_DECL bool operator==(const term& a, const term& b);

 private:
  friend struct detail::term_access;
  struct integer_tag {};
  struct list_rep {
    std::vector<term> items;
    term* tail = nullptr;  // owned; nullptr: a proper list
  };
  struct opaque_rep {
    std::vector<std::byte> bytes;
  };

  NODUS_DECL term(integer_tag, std::int64_t value) noexcept;
  NODUS_DECL term(integer_tag, std::uint64_t value);
  template <class I>
  term(integer_tag t, I value) noexcept(std::is_signed_v<I> || sizeof(I) < sizeof(std::int64_t))
      : term(t,
             static_cast<std::conditional_t<std::is_signed_v<I> || sizeof(I) < sizeof(std::int64_t),
                                            std::int64_t, std::uint64_t>>(value)) {}
  NODUS_DECL void destroy() noexcept;
  NODUS_DECL void copy_from(const term& other);
  NODUS_DECL void move_from(term& other) noexcept;

  kind kind_;
  union {
    std::int64_t int_;
    double float_;
    etf::atom atom_;
    std::vector<term> items_;  // tuple
    list_rep list_;
    std::vector<std::byte> bytes_;    // binary
    std::vector<map_entry> entries_;  // map
    big_integer* big_;                // the rare kinds live on the heap: a term stays 40 bytes
    etf::bit_binary* bits_;
    etf::pid* pid_;
    etf::reference* ref_;
    etf::port* port_;
    opaque_rep* opaque_;  // external_fun, fun
  };
};

// One key => value of a map.
struct map_entry {
  term key;
  term value;
  friend bool operator==(const map_entry&, const map_entry&) = default;
};

// hash_value(t) -> a hash consistent with ==, for unordered containers and duplicate keys.
[[nodiscard]] NODUS_DECL std::size_t hash_value(const term& t) noexcept;

// Formatting hooks found by ADL (nodus::format and the logger): Erlang syntax.
NODUS_DECL void nodus_format(std::string& out, const term& t);
NODUS_DECL void nodus_format(std::string& out, const atom& a);

}  // namespace nodus::etf

template <>
struct std::hash<nodus::etf::atom> {
  [[nodiscard]] std::size_t operator()(const nodus::etf::atom& a) const noexcept {
    return std::hash<std::string_view>{}(a.str());
  }
};

// A pid is a reflected struct, so that it travels in native frames too (its node atom as text,
// then its three numbers): a message type may hold one, and a nodus node may pass a BEAM
// process's pid to another. (A reference may not yet: its word count must be checked first.)
BOOST_HANA_ADAPT_STRUCT(nodus::etf::pid, node, id, serial, creation);

template <>
struct std::hash<nodus::etf::term> {
  [[nodiscard]] std::size_t operator()(const nodus::etf::term& t) const noexcept {
    return nodus::etf::hash_value(t);
  }
};

#if defined(NODUS_HEADER_ONLY)
#include "nodus/codec/etf/impl/term.ipp"
#endif

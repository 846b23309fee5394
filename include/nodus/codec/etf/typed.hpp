// nodus/codec/etf/typed.hpp: C++ values to Erlang terms and back, the mapping chosen at compile
// time by the value's type.
//
//   C++                                   Erlang term (Elixir)
//   signed and unsigned integers          integer (decoding checks the range of the C++ type)
//   double, float                         float (decoding also takes an integer that fits exactly)
//   bool                                  the atom true or false
//   std::string                           binary ("text"); decoding also takes a charlist
//   etf::atom, nodus::node_name           atom (a node_name is checked to be name@host)
//   etf::atom_constant<"pong">            the atom pong, and only it (an empty type)
//   an enum with etf_atoms (see below)    one atom per enumerator
//   etf::pid, etf::reference, etf::port   pid, reference, port
//   std::optional<T>                      nil (Elixir's nil: the peers nodus talks to in DESIGN are
//                                         Elixir's; Erlang's `undefined` is not taken as empty,
//                                         so that std::optional<etf::atom> stays unambiguous)
//   std::vector<std::byte>                binary
//   std::vector<T>                        proper list (STRING_EXT when all are integers 0..255)
//   std::map<K, V>                        map
//   std::tuple<Ts...>, std::pair<A, B>    tuple
//   a reflected struct (BOOST_HANA_...)   tuple of its members in order, after its tag atom if it
//                                         declares `static constexpr nodus::fixed_string etf_tag`
//   an empty struct with an etf_tag       just the tag atom (Elixir's :ping is `struct ping {
//                                         static constexpr nodus::fixed_string etf_tag = "ping";
//                                         }`)
//   etf::term                             any term, as it is
//
// The walkthrough's reply {:ok, node(), :pong}:
//   struct pong {
//     static constexpr nodus::fixed_string etf_tag = "ok";
//     BOOST_HANA_DEFINE_STRUCT(pong, (nodus::node_name, node),
//                              (nodus::etf::atom_constant<"pong">, answer));
//   };
//
// Enums name their atoms at compile time, by a constexpr function found by ADL (no scan of
// enumerator values: nothing to instantiate per value, and atoms may differ from C++ names):
//   enum class level { low, high };
//   constexpr auto etf_atoms(level) {
//     return nodus::etf::enum_atoms(level::low, "low", level::high, "high");
//   }
//
// A type with no mapping fails to compile with a sentence saying so. Decoding a term that does
// not fit the type fails with errc::malformed_frame naming the C++ type, where the term differs
// and the term (shortened): "etf: cannot read app::pong from {ok,n1,pong}: at element 2 (node):
// expected nodus::node_name (an atom name@host), got n1: \"n1\" has no '@'; expected name@host".
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "nodus/codec/etf/decode.hpp"
#include "nodus/codec/etf/encode.hpp"
#include "nodus/codec/etf/tags.hpp"
#include "nodus/codec/etf/term.hpp"
#include "nodus/config.hpp"
#include "nodus/core/error.hpp"
#include "nodus/core/fixed_string.hpp"
#include "nodus/core/node_name.hpp"
#include "nodus/message/reflect.hpp"
#include "nodus/message/type_name.hpp"

namespace nodus::etf {

// atom_constant<"pong">: a member that is always the atom pong: encodes as it, decodes only it.
template <fixed_string Name>
struct atom_constant {
  static_assert(detail::is_atom_text(Name.view()),
                "nodus::etf::atom_constant<Name>: Name must be UTF-8 of at most 255 characters");
  static constexpr bool is_etf_atom_constant = true;
  [[nodiscard]] static constexpr std::string_view name() noexcept { return Name.view(); }
  friend constexpr bool operator==(atom_constant, atom_constant) noexcept { return true; }
};

// One enumerator and the atom it travels as.
template <class E>
struct enum_atom {
  E value{};
  std::string_view name;
};

namespace detail {
template <class E, std::size_t N>
constexpr void fill_enum_atoms(std::array<enum_atom<E>, N>&, std::size_t) noexcept {}
template <class E, std::size_t N, class... More>
constexpr void fill_enum_atoms(std::array<enum_atom<E>, N>& out, std::size_t i, E value,
                               std::string_view name, More... more) noexcept {
  out[i] = enum_atom<E>{value, name};
  fill_enum_atoms(out, i + 1, more...);
}
}  // namespace detail

// enum_atoms(E::a, "a", E::b, "b", ...) -> the table an etf_atoms(E) function returns.
template <class E, class... More>
requires std::is_enum_v<E>
[[nodiscard]] constexpr auto enum_atoms(E value, std::string_view name, More... more) noexcept {
  static_assert(sizeof...(More) % 2 == 0,
                "nodus::etf::enum_atoms(E::a, \"a\", E::b, \"b\", ...) takes pairs of an "
                "enumerator and the name of its atom");
  std::array<enum_atom<E>, 1 + sizeof...(More) / 2> out{};
  detail::fill_enum_atoms(out, 0, value, name, more...);
  return out;
}

// encode(value, out): appends value's term to out (see the table above); fails only for a float
// that is not finite or an enum value without an atom, leaving out as it was.
template <class T>
[[nodiscard]] result<void> encode(const T& value, std::vector<std::byte>& out,
                                  const encode_options& options = {});
// encode(value) -> value's term encoded in a new buffer.
template <class T>
[[nodiscard]] result<std::vector<std::byte>> encode(const T& value,
                                                    const encode_options& options = {});
// decode<T>(bytes) -> the T that the term in bytes maps to; errc::malformed_frame if the bytes
// are not one valid term (decode.hpp) or the term does not fit T (see the top of this file).
template <class T>
[[nodiscard]] result<T> decode(std::span<const std::byte> bytes,
                               const decode_options& options = {});
// from_term<T>(t) -> the T that t maps to, as decode<T>.
template <class T>
[[nodiscard]] result<T> from_term(const term& t);
// to_term(value) -> value's term, as a dynamic etf::term (encoded, then decoded).
template <class T>
[[nodiscard]] result<term> to_term(const T& value);

namespace detail {

// ---- what a type maps to ----------------------------------------------------------------------

// Stops ordinary lookup: etf_atoms is found by ADL only, next to the enum.
void etf_atoms() = delete;
template <class E>
concept has_etf_atoms = requires(E e) {
  etf_atoms(e);
};

template <class T>
concept has_etf_tag = requires {
  std::string_view(T::etf_tag);
};

template <class T>
struct is_std_vector_of : std::false_type {};
template <class E, class A>
struct is_std_vector_of<std::vector<E, A>> : std::true_type {};
template <class T>
struct is_std_map : std::false_type {};
template <class K, class V, class C, class A>
struct is_std_map<std::map<K, V, C, A>> : std::true_type {};
template <class T>
struct is_std_optional : std::false_type {};
template <class U>
struct is_std_optional<std::optional<U>> : std::true_type {};
template <class T>
struct is_std_tuple : std::false_type {};
template <class... Ts>
struct is_std_tuple<std::tuple<Ts...>> : std::true_type {};
template <class A, class B>
struct is_std_tuple<std::pair<A, B>> : std::true_type {};

enum class shape : std::uint8_t {
  dynamic,  // etf::term
  boolean,
  integer,
  floating,
  string,
  atom,
  node_name,
  atom_constant,
  enumeration,
  pid,
  reference,
  port,
  optional,
  binary,  // std::vector<std::byte>
  list,
  map,
  tuple,
  record,    // a reflected struct
  tag_only,  // an empty struct with an etf_tag
  // refused:
  pointer,
  view,
  enum_without_atoms,
  struct_not_reflected,
  unsupported,
};

template <class T>
constexpr shape shape_of() noexcept {
  if constexpr (std::is_same_v<T, term>) {
    return shape::dynamic;
  } else if constexpr (std::is_same_v<T, bool>) {
    return shape::boolean;
  } else if constexpr (std::is_integral_v<T>) {
    return shape::integer;
  } else if constexpr (std::is_floating_point_v<T>) {
    return sizeof(T) <= sizeof(double) ? shape::floating : shape::unsupported;
  } else if constexpr (std::is_same_v<T, std::string>) {
    return shape::string;
  } else if constexpr (std::is_same_v<T, etf::atom>) {
    return shape::atom;
  } else if constexpr (std::is_same_v<T, nodus::node_name>) {
    return shape::node_name;
  } else if constexpr (requires { T::is_etf_atom_constant; }) {
    return shape::atom_constant;
  } else if constexpr (std::is_enum_v<T>) {
    return has_etf_atoms<T> ? shape::enumeration : shape::enum_without_atoms;
  } else if constexpr (std::is_same_v<T, etf::pid>) {
    return shape::pid;
  } else if constexpr (std::is_same_v<T, etf::reference>) {
    return shape::reference;
  } else if constexpr (std::is_same_v<T, etf::port>) {
    return shape::port;
  } else if constexpr (is_std_optional<T>::value) {
    return shape::optional;
  } else if constexpr (std::is_same_v<T, std::vector<std::byte>>) {
    return shape::binary;
  } else if constexpr (is_std_vector_of<T>::value) {
    return shape::list;
  } else if constexpr (is_std_map<T>::value) {
    return shape::map;
  } else if constexpr (is_std_tuple<T>::value) {
    return shape::tuple;
  } else if constexpr (std::is_pointer_v<T> || std::is_member_pointer_v<T> ||
                       std::is_null_pointer_v<T>) {
    return shape::pointer;
  } else if constexpr (nodus::detail::is_non_owning_view<T>::value) {
    return shape::view;
  } else if constexpr (is_reflected_v<T>) {
    return shape::record;
  } else if constexpr (std::is_class_v<T> && std::is_empty_v<T> && has_etf_tag<T>) {
    return shape::tag_only;
  } else if constexpr (requires(const T& v) {
                         v.begin();
                         v.end();
                       }) {
    return shape::unsupported;  // a container other than std::vector and std::map
  } else if constexpr (std::is_class_v<T>) {
    return shape::struct_not_reflected;
  } else {
    return shape::unsupported;
  }
}

// Instantiated for every type encoded or decoded: a type without a mapping fails here, with a
// sentence; the compiler's "required from" lines name the type and where it is used.
template <class T>
struct typed_check {
  static constexpr shape s = shape_of<T>();
  static_assert(s != shape::pointer,
                "nodus::etf: a pointer has no Erlang term (an address means nothing on another "
                "node); send the value");
  static_assert(s != shape::view,
                "nodus::etf: std::string_view and std::span have no Erlang term to decode into (a "
                "view does not own its data); use std::string or std::vector");
  static_assert(s != shape::enum_without_atoms,
                "nodus::etf: an enum travels as an atom; name the atoms of its enumerators with a "
                "function found by ADL: constexpr auto etf_atoms(E) { return "
                "nodus::etf::enum_atoms(E::a, \"a\", E::b, \"b\"); }");
  static_assert(s != shape::struct_not_reflected,
                "nodus::etf: a struct travels as a tuple of its members: reflect it "
                "(BOOST_HANA_DEFINE_STRUCT or BOOST_HANA_ADAPT_STRUCT), or make it empty with a "
                "`static constexpr nodus::fixed_string etf_tag` to travel as that atom");
  static_assert(s != shape::unsupported,
                "nodus::etf: this C++ type has no Erlang term mapping; use an integer, double, "
                "bool, std::string, etf::atom, atom_constant, node_name, an enum with etf_atoms, "
                "etf::pid/reference/port, std::optional, std::vector, std::map, std::tuple, a "
                "reflected struct or etf::term");
  static constexpr bool ok = s < shape::pointer;
};

// mappable<T>() -> T, and every type inside it (a record's members, a container's elements),
// has a mapping: what typed_check refuses gives false here, without an error. For code that
// offers a type to BEAM peers only when it can travel as a term.
template <class T>
constexpr bool mappable() noexcept;
template <class... Fields>
constexpr bool fields_mappable(nodus::detail::field_list<Fields...>*) noexcept {
  return (mappable<typename Fields::type>() && ...);
}
template <class... Ts>
constexpr bool elements_mappable(std::tuple<Ts...>*) noexcept {
  return (mappable<Ts>() && ...);
}
template <class A, class B>
constexpr bool elements_mappable(std::pair<A, B>*) noexcept {
  return mappable<A>() && mappable<B>();
}
template <class T>
constexpr bool mappable() noexcept {
  constexpr shape s = shape_of<T>();
  if constexpr (s >= shape::pointer) {
    return false;
  } else if constexpr (s == shape::optional || s == shape::list) {
    return mappable<typename T::value_type>();
  } else if constexpr (s == shape::map) {
    return mappable<typename T::key_type>() && mappable<typename T::mapped_type>();
  } else if constexpr (s == shape::tuple) {
    return elements_mappable(static_cast<T*>(nullptr));
  } else if constexpr (s == shape::record) {
    if constexpr (nodus::detail::fields_from<T, nodus::detail::hana_accessors_t<T>>::known) {
      return fields_mappable(static_cast<nodus::detail::fields_t<T>*>(nullptr));
    } else {
      return false;
    }
  } else {
    return true;
  }
}

// The etf_atoms table of an enum, checked once.
template <class E>
struct enum_table {
  static constexpr auto entries = etf_atoms(E{});
  static constexpr bool valid() noexcept {
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (!is_atom_text(entries[i].name)) return false;
      for (std::size_t j = i + 1; j < entries.size(); ++j) {
        if (entries[i].value == entries[j].value || entries[i].name == entries[j].name)
          return false;
      }
    }
    return true;
  }
  static_assert(valid(),
                "nodus::etf: etf_atoms(E) must name each enumerator once, each with its own atom "
                "of at most 255 characters of UTF-8");
};

// The name of T in messages: type_name<T>(), but std::string for libstdc++'s basic_string<char>.
template <class T>
constexpr std::string_view display_name() noexcept {
  if constexpr (std::is_same_v<T, std::string>) {
    return "std::string";
  } else {
    return type_name<T>();
  }
}

// The tag of a tagged struct, checked.
template <class T>
constexpr std::string_view tag_of() noexcept {
  constexpr std::string_view tag{T::etf_tag};
  static_assert(is_atom_text(tag), "nodus::etf: etf_tag must be UTF-8 of at most 255 characters");
  return tag;
}

// ---- encoding -----------------------------------------------------------------------------------

template <class T>
void put_value(writer& w, const T& v);

NODUS_DECL void put_enum_failure(writer& w, std::string_view type, long long value);

template <class T>
void put_list(writer& w, const T& v) {
  using E = typename T::value_type;
  if (v.empty()) {
    put_nil(w);
    return;
  }
  if constexpr (std::is_integral_v<E> && !std::is_same_v<E, bool>) {
    bool bytes = v.size() <= 0xFFFF;  // as term_to_binary: STRING_EXT when it can
    for (std::size_t i = 0; i < v.size() && bytes; ++i) {
      if constexpr (std::is_signed_v<E>) bytes = v[i] >= 0;
      if constexpr (sizeof(E) > 1) bytes = bytes && v[i] <= 255;
    }
    if (bytes) {
      put_string_header(w, v.size());
      for (std::size_t i = 0; i < v.size(); ++i) w.u8(static_cast<std::uint8_t>(v[i]));
      return;
    }
  }
  put_list_header(w, v.size());
  for (std::size_t i = 0; i < v.size(); ++i) put_value<E>(w, v[i]);
  put_nil(w);
}

template <class T>
void put_record(writer& w, const T& v) {
  constexpr bool tagged = has_etf_tag<T>;
  constexpr std::size_t fields = field_count_v<T>;
  if constexpr (tagged && fields == 0) {
    put_atom(w, tag_of<T>());
  } else {
    put_tuple_header(w, fields + (tagged ? 1 : 0));
    if constexpr (tagged) put_atom(w, tag_of<T>());
    for_each_field(v, [&w](std::string_view, const auto& member) { put_value(w, member); });
  }
}

template <class T>
void put_value(writer& w, const T& v) {
  constexpr shape s = typed_check<T>::s;
  if constexpr (!typed_check<T>::ok) {
    return;
  } else if constexpr (s == shape::dynamic) {
    put_term(w, v);
  } else if constexpr (s == shape::boolean) {
    put_atom(w, v ? "true" : "false");
  } else if constexpr (s == shape::integer) {
    if constexpr (std::is_signed_v<T>) {
      put_integer(w, static_cast<std::int64_t>(v));
    } else {
      put_unsigned(w, static_cast<std::uint64_t>(v));
    }
  } else if constexpr (s == shape::floating) {
    put_float(w, static_cast<double>(v));
  } else if constexpr (s == shape::string) {
    put_binary(w, std::as_bytes(std::span(v.data(), v.size())));
  } else if constexpr (s == shape::atom || s == shape::node_name) {
    put_atom(w, v.str());
  } else if constexpr (s == shape::atom_constant) {
    put_atom(w, T::name());
  } else if constexpr (s == shape::enumeration) {
    for (const auto& e : enum_table<T>::entries) {
      if (e.value == v) {
        put_atom(w, e.name);
        return;
      }
    }
    put_enum_failure(w, type_name<T>(), static_cast<long long>(v));
  } else if constexpr (s == shape::pid) {
    put_pid(w, v);
  } else if constexpr (s == shape::reference) {
    put_reference(w, v);
  } else if constexpr (s == shape::port) {
    put_port(w, v);
  } else if constexpr (s == shape::optional) {
    if (v.has_value()) {
      put_value(w, *v);
    } else {
      put_atom(w, "nil");
    }
  } else if constexpr (s == shape::binary) {
    put_binary(w, v);
  } else if constexpr (s == shape::list) {
    put_list(w, v);
  } else if constexpr (s == shape::map) {
    put_map_header(w, v.size());
    for (const auto& [key, value] : v) {
      put_value(w, key);
      put_value(w, value);
    }
  } else if constexpr (s == shape::tuple) {
    put_tuple_header(w, std::tuple_size_v<T>);
    std::apply([&w](const auto&... e) { (put_value(w, e), ...); }, v);
  } else if constexpr (s == shape::record) {
    put_record(w, v);
  } else if constexpr (s == shape::tag_only) {
    put_atom(w, tag_of<T>());
  }
}

// ---- decoding -----------------------------------------------------------------------------------

// Where a read failed and why: filled from the innermost term outwards.
struct read_context {
  std::vector<std::string> path;  // innermost first: "list element 3", "element 2 (node)"
  std::string problem;
};

// mismatch(ctx, type, expected, got) -> false, with "expected <type> (<expected>), got <got>".
NODUS_DECL bool mismatch(read_context& ctx, std::string_view type, std::string_view expected,
                         const term& got, std::string_view detail = {});
NODUS_DECL void at_element(read_context& ctx, std::size_t index, std::string_view field);
NODUS_DECL void at_list_element(read_context& ctx, std::size_t index);
NODUS_DECL void at_map_key(read_context& ctx, const term& key, bool value);
NODUS_DECL nodus::error read_failure(const read_context& ctx, std::string_view type,
                                     const term& whole);
NODUS_DECL std::string integer_range(std::int64_t min, std::uint64_t max);
NODUS_DECL std::string tuple_shape(std::string_view tag, std::size_t arity);
NODUS_DECL std::string enum_expectation(std::span<const std::string_view> names);
// The conversions that do not depend on the C++ type.
NODUS_DECL bool term_to_int64(const term& t, std::int64_t& out) noexcept;
NODUS_DECL bool term_to_uint64(const term& t, std::uint64_t& out) noexcept;
NODUS_DECL bool term_to_double(const term& t, double& out) noexcept;
NODUS_DECL bool term_to_string(const term& t, std::string& out);
NODUS_DECL bool term_to_node_name(const term& t, nodus::node_name& out, std::string& why);

template <class T>
bool read_value(const term& t, T& out, read_context& ctx);

// held_as<T>(t) -> t's value when t is the kind T maps to (atom, pid, reference, port, binary).
template <class T>
const T* held_as(const term& t) noexcept {
  if constexpr (std::is_same_v<T, etf::atom>) {
    return t.as_atom();
  } else if constexpr (std::is_same_v<T, etf::pid>) {
    return t.as_pid();
  } else if constexpr (std::is_same_v<T, etf::reference>) {
    return t.as_reference();
  } else if constexpr (std::is_same_v<T, etf::port>) {
    return t.as_port();
  } else {
    return t.as_binary();
  }
}
template <class T>
constexpr std::string_view held_kind() noexcept {
  if constexpr (std::is_same_v<T, etf::atom>) {
    return "an atom";
  } else if constexpr (std::is_same_v<T, etf::pid>) {
    return "a pid";
  } else if constexpr (std::is_same_v<T, etf::reference>) {
    return "a reference";
  } else if constexpr (std::is_same_v<T, etf::port>) {
    return "a port";
  } else {
    return "a binary";
  }
}

template <class T>
bool read_list(const term& t, T& out, read_context& ctx) {
  const std::vector<term>* items = t.as_list();
  if (items == nullptr || t.list_tail() != nullptr) {
    return mismatch(ctx, type_name<T>(), "a proper list", t);
  }
  out.clear();
  out.reserve(items->size());
  for (std::size_t i = 0; i < items->size(); ++i) {
    typename T::value_type e{};
    if (!read_value((*items)[i], e, ctx)) {
      at_list_element(ctx, i + 1);
      return false;
    }
    out.push_back(std::move(e));
  }
  return true;
}

template <class T>
bool read_map(const term& t, T& out, read_context& ctx) {
  const std::vector<map_entry>* entries = t.as_map();
  if (entries == nullptr) return mismatch(ctx, type_name<T>(), "a map", t);
  out.clear();
  for (const map_entry& e : *entries) {
    typename T::key_type key{};
    typename T::mapped_type value{};
    if (!read_value(e.key, key, ctx)) {
      at_map_key(ctx, e.key, false);
      return false;
    }
    if (!read_value(e.value, value, ctx)) {
      at_map_key(ctx, e.key, true);
      return false;
    }
    if (!out.emplace(std::move(key), std::move(value)).second) {
      return mismatch(ctx, type_name<T>(), "a map whose keys stay distinct in C++", t,
                      "two keys read as the same C++ key");
    }
  }
  return true;
}

template <class T>
bool read_tuple(const term& t, T& out, read_context& ctx) {
  constexpr std::size_t n = std::tuple_size_v<T>;
  const std::vector<term>* items = t.as_tuple();
  if (items == nullptr || items->size() != n) {
    return mismatch(ctx, type_name<T>(), tuple_shape({}, n), t);
  }
  return std::apply(
      [&](auto&... e) {
        std::size_t i = 0;
        const auto one = [&](auto& element) {
          if (!read_value((*items)[i], element, ctx)) {
            at_element(ctx, i + 1, {});
            return false;
          }
          ++i;
          return true;
        };
        return (one(e) && ...);
      },
      out);
}

template <class T>
bool read_record(const term& t, T& out, read_context& ctx) {
  constexpr bool tagged = has_etf_tag<T>;
  constexpr std::size_t fields = field_count_v<T>;
  std::string_view tag_name;
  if constexpr (tagged) tag_name = tag_of<T>();
  if constexpr (tagged && fields == 0) {
    return t.is_atom(tag_name) || mismatch(ctx, type_name<T>(), tuple_shape(tag_name, 0), t);
  } else {
    constexpr std::size_t first = tagged ? 1 : 0;
    const std::vector<term>* items = t.as_tuple();
    if (items == nullptr || items->size() != fields + first ||
        (tagged && !(*items)[0].is_atom(tag_name))) {
      return mismatch(ctx, type_name<T>(), tuple_shape(tag_name, fields + first), t);
    }
    std::size_t i = first;
    bool ok = true;
    for_each_field(out, [&](std::string_view name, auto& member) {
      if (ok && !read_value((*items)[i], member, ctx)) {
        at_element(ctx, i + 1, name);
        ok = false;
      }
      ++i;
    });
    return ok;
  }
}

template <class T>
bool read_value(const term& t, T& out, read_context& ctx) {
  static_assert(!std::is_const_v<T>,
                "nodus::etf: a member of a decoded type must not be const: the decoder writes "
                "into it");
  constexpr shape s = typed_check<T>::s;
  if constexpr (!typed_check<T>::ok) {
    return false;
  } else if constexpr (s == shape::dynamic) {
    out = t;
    return true;
  } else if constexpr (s == shape::boolean) {
    if (t.is_atom("true") || t.is_atom("false")) {
      out = t.is_atom("true");
      return true;
    }
    return mismatch(ctx, "bool", "the atom true or false", t);
  } else if constexpr (s == shape::integer) {
    using limits = std::numeric_limits<T>;
    constexpr auto min = static_cast<std::int64_t>(limits::min());
    constexpr auto max = static_cast<std::uint64_t>(limits::max());
    if constexpr (std::is_signed_v<T>) {
      std::int64_t v = 0;
      if (term_to_int64(t, v) && v >= min && (v < 0 || static_cast<std::uint64_t>(v) <= max)) {
        out = static_cast<T>(v);
        return true;
      }
    } else {
      std::uint64_t v = 0;
      if (term_to_uint64(t, v) && v <= max) {
        out = static_cast<T>(v);
        return true;
      }
    }
    return mismatch(ctx, type_name<T>(), integer_range(min, max), t);
  } else if constexpr (s == shape::floating) {
    double v = 0;
    if (term_to_double(t, v) &&
        (sizeof(T) == sizeof(double) ||
         (v <= std::numeric_limits<T>::max() && v >= std::numeric_limits<T>::lowest()))) {
      out = static_cast<T>(v);
      return true;
    }
    return mismatch(ctx, type_name<T>(), "a float, or an integer it holds exactly", t);
  } else if constexpr (s == shape::string) {
    return term_to_string(t, out) ||
           mismatch(ctx, "std::string", "a binary, or a charlist of Unicode code points", t);
  } else if constexpr (s == shape::atom || s == shape::pid || s == shape::reference ||
                       s == shape::port || s == shape::binary) {
    if (const T* held = held_as<T>(t)) {
      out = *held;
      return true;
    }
    return mismatch(ctx, display_name<T>(), held_kind<T>(), t);
  } else if constexpr (s == shape::node_name) {
    std::string why;
    return term_to_node_name(t, out, why) ||
           mismatch(ctx, "nodus::node_name", "an atom name@host", t, why);
  } else if constexpr (s == shape::atom_constant) {
    return t.is_atom(T::name()) ||
           mismatch(ctx, "nodus::etf::atom_constant", tuple_shape(T::name(), 0), t);
  } else if constexpr (s == shape::enumeration) {
    if (const etf::atom* a = t.as_atom()) {
      for (const auto& e : enum_table<T>::entries) {
        if (a->str() == e.name) {
          out = e.value;
          return true;
        }
      }
    }
    constexpr auto names = [] {
      std::array<std::string_view, enum_table<T>::entries.size()> n{};
      for (std::size_t i = 0; i < n.size(); ++i) n[i] = enum_table<T>::entries[i].name;
      return n;
    }();
    return mismatch(ctx, type_name<T>(), enum_expectation(names), t);
  } else if constexpr (s == shape::optional) {
    if (t.is_atom("nil")) {
      out.reset();
      return true;
    }
    return read_value(t, out.emplace(), ctx);
  } else if constexpr (s == shape::list) {
    return read_list(t, out, ctx);
  } else if constexpr (s == shape::map) {
    return read_map(t, out, ctx);
  } else if constexpr (s == shape::tuple) {
    return read_tuple(t, out, ctx);
  } else if constexpr (s == shape::record) {
    return read_record(t, out, ctx);
  } else if constexpr (s == shape::tag_only) {
    return t.is_atom(tag_of<T>()) || mismatch(ctx, type_name<T>(), tuple_shape(tag_of<T>(), 0), t);
  }
}

}  // namespace detail

template <class T>
result<void> encode(const T& value, std::vector<std::byte>& out, const encode_options& options) {
  detail::writer w(out);
  if constexpr (detail::typed_check<T>::ok) {
    if (options.version_byte) w.u8(tag::version);
    detail::put_value(w, value);
  }
  return w.finish();
}

template <class T>
result<std::vector<std::byte>> encode(const T& value, const encode_options& options) {
  std::vector<std::byte> out;
  if (auto r = etf::encode(value, out, options); !r) return r.error();
  return out;
}

template <class T>
result<T> from_term(const term& t) {
  static_assert(std::is_default_constructible_v<T>,
                "nodus::etf::from_term<T> / decode<T>: T must be default constructible (the "
                "decoder builds it, then fills it)");
  detail::read_context ctx;
  T out{};
  if (!detail::read_value(t, out, ctx))
    return detail::read_failure(ctx, detail::display_name<T>(), t);
  return out;
}

template <class T>
result<T> decode(std::span<const std::byte> bytes, const decode_options& options) {
  result<term> t = etf::decode(bytes, options);
  if (!t) return t.error();
  return from_term<T>(*t);
}

// mappable_v<T>: T travels as a term (every type inside it too); false, without an error, for
// the types encode and decode refuse at compile time.
template <class T>
inline constexpr bool mappable_v = detail::mappable<T>();

template <class T>
result<term> to_term(const T& value) {
  std::vector<std::byte> bytes;
  if (auto r = etf::encode(value, bytes, encode_options{false}); !r) return r.error();
  return etf::decode(bytes, decode_options{std::numeric_limits<std::size_t>::max()});
}

}  // namespace nodus::etf

#if defined(NODUS_HEADER_ONLY)
#include "nodus/codec/etf/impl/typed.ipp"
#endif

// nodus/codec/detail/layout.hpp: how the codec sees a type: its kind on the wire and the
// compile-time properties of its encoding.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nodus/message/reflect.hpp>

namespace nodus::codec::detail {

static_assert(std::endian::native == std::endian::little,
              "nodus::codec supports little-endian hosts only for now: the wire is little-endian "
              "and trivially copyable values travel as their own bytes (a big-endian port would "
              "have to swap them on the way in and out)");

using nodus::is_wire_string_v;
using nodus::detail::field_list;
using nodus::detail::fields_t;

// Payloads start at an address aligned to this (the transport guarantees it); no piece may need
// more.
inline constexpr std::size_t max_alignment = 16;
// u64 lengths and counts: 8 bytes, 8-aligned.
inline constexpr std::size_t length_size = 8;

// The shape of a type on the wire (DESIGN section 4).
enum class kind : unsigned char {
  bytes,           // trivially copyable: its own sizeof bytes, aligned to its alignof
  string,          // std::string or a wire string (etf::atom): u64 length, then the chars
  trivial_vector,  // std::vector<E>, E trivially copyable: u64 count, then the elements' bytes
  vector,          // std::vector<E>, E not trivially copyable: u64 count, then each element
  array,           // std::array / C array of elements that are not trivially copyable
  record,          // reflected struct that is not trivially copyable: its members in order
};

// The element type and extent of std::array and C arrays.
template <class U>
struct array_of {
  using element = void;
  static constexpr std::size_t extent = 0;
};
template <class E, std::size_t N>
struct array_of<std::array<E, N>> {
  using element = E;
  static constexpr std::size_t extent = N;
};
template <class E, std::size_t N>
struct array_of<E[N]> {
  using element = E;
  static constexpr std::size_t extent = N;
};

template <class U>
[[nodiscard]] constexpr kind kind_of() noexcept {
  if constexpr (std::is_trivially_copyable_v<U>) {
    return kind::bytes;
  } else if constexpr (std::is_same_v<U, std::string> || is_wire_string_v<U>) {
    return kind::string;
  } else if constexpr (nodus::detail::is_std_vector<U>::value) {
    return std::is_trivially_copyable_v<typename U::value_type> ? kind::trivial_vector
                                                                : kind::vector;
  } else if constexpr (nodus::detail::is_std_array<U>::value || std::is_bounded_array_v<U>) {
    return kind::array;
  } else {
    return kind::record;
  }
}

// wire_text(v) -> the chars of a string-kind value.
template <class U>
[[nodiscard]] std::string_view wire_text(const U& v) noexcept {
  if constexpr (is_wire_string_v<U>) {
    return v.wire_text();
  } else {
    return std::string_view{v};
  }
}

// kind_v<U> -> the kind of U (U a valid message type or member type).
template <class U>
inline constexpr kind kind_v = kind_of<U>();

// What the codec must know about a type's encoding, computed once per type.
struct type_props {
  std::size_t align = 1;        // the largest alignment any piece needs
  std::size_t min_size = 0;     // the fewest bytes an encoding takes (padding not counted)
  bool has_bool = false;        // kind::bytes only: holds bools the codec checks (0 or 1)
  bool empty_elements = false;  // has a vector of elements that may encode to zero bytes
};

template <class U>
[[nodiscard]] constexpr type_props props_of() noexcept;

// props_v<U> -> the type_props of U.
template <class U>
inline constexpr type_props props_v = props_of<U>();

[[nodiscard]] constexpr std::size_t max_of(std::size_t a, std::size_t b) noexcept {
  return a < b ? b : a;
}

template <class... Fs>
[[nodiscard]] constexpr type_props fields_props(field_list<Fs...>) noexcept {
  const type_props each[] = {props_v<typename Fs::type>..., type_props{}};
  type_props p;
  for (const type_props& f : each) {
    p.align = max_of(p.align, f.align);
    p.min_size += f.min_size;
    p.has_bool = p.has_bool || f.has_bool;
    p.empty_elements = p.empty_elements || f.empty_elements;
  }
  return p;
}

template <class U>
[[nodiscard]] constexpr type_props props_of() noexcept {
  constexpr kind k = kind_v<U>;
  if constexpr (k == kind::bytes) {
    // Bools are checked where the codec can see them: a bool, arrays of them, and the members of
    // reflected trivially copyable structs. Those inside other types travel unchecked.
    bool has_bool = false;
    if constexpr (std::is_same_v<U, bool>) {
      has_bool = true;
    } else if constexpr (array_of<U>::extent > 0) {
      has_bool = props_v<typename array_of<U>::element>.has_bool;
    } else if constexpr (is_reflected_v<U>) {
      has_bool = fields_props(fields_t<U>{}).has_bool;
    }
    return {alignof(U), sizeof(U), has_bool, false};
  } else if constexpr (k == kind::string) {
    return {length_size, length_size, false, false};
  } else if constexpr (k == kind::trivial_vector) {
    return {max_of(length_size, alignof(typename U::value_type)), length_size, false, false};
  } else if constexpr (k == kind::vector) {
    constexpr type_props e = props_v<typename U::value_type>;
    return {max_of(length_size, e.align), length_size, false, e.empty_elements || e.min_size == 0};
  } else if constexpr (k == kind::array) {
    constexpr type_props e = props_v<typename array_of<U>::element>;
    return {e.align, e.min_size * array_of<U>::extent, false, e.empty_elements};
  } else {
    type_props p = fields_props(fields_t<U>{});
    p.has_bool = false;
    return p;
  }
}

// codec_check<T>::ok -> T can be encoded; otherwise instantiating it reports why, in a sentence
// (first the message layer's reasons, then the codec's own).
template <class T, bool IsMessage = nodus::detail::message_check<T>::ok>
struct codec_check {
  static constexpr bool ok = false;
};
template <class T>
struct codec_check<T, true> {
  static constexpr type_props props = props_v<T>;
  static_assert(props.align <= max_alignment,
                "nodus::codec: a message must not contain a type aligned to more than 16 bytes "
                "(alignas(32) or more): payloads are only 16-byte aligned on the receiver");
  static_assert(!props.empty_elements,
                "nodus::codec: a std::vector (or array) in a message holds elements that may "
                "encode to zero bytes (a reflected struct with no members that is not trivially "
                "copyable): the decoder could not bound their count by the frame size; give the "
                "element a member or make it trivially copyable");
  static constexpr bool ok = props.align <= max_alignment && !props.empty_elements;
};

// field_at_t<I, field_list<Fs...>> -> the I-th field, without recursive instantiation.
template <std::size_t I, class F>
struct indexed_field {
  using type = F;
};
template <class Indices, class... Fs>
struct field_indexer;
template <std::size_t... Is, class... Fs>
struct field_indexer<std::index_sequence<Is...>, Fs...> : indexed_field<Is, Fs>... {};
template <std::size_t I, class F>
indexed_field<I, F> select_field(const indexed_field<I, F>&);

template <std::size_t I, class List>
struct field_at;
template <std::size_t I, class... Fs>
struct field_at<I, field_list<Fs...>> {
  using type = typename decltype(select_field<I>(
      field_indexer<std::index_sequence_for<Fs...>, Fs...>{}))::type;
};
template <std::size_t I, class List>
using field_at_t = typename field_at<I, List>::type;

// field_index(field_list<Fs...>{}, name) -> the position of the member called name, or the
// number of members when there is none.
template <class... Fs>
[[nodiscard]] constexpr std::size_t field_index(field_list<Fs...>, std::string_view name) noexcept {
  const std::string_view names[] = {Fs::name..., std::string_view{}};
  for (std::size_t i = 0; i < sizeof...(Fs); ++i) {
    if (names[i] == name) return i;
  }
  return sizeof...(Fs);
}

}  // namespace nodus::codec::detail

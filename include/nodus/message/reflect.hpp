// nodus/message/reflect.hpp: which types can be messages, and the members of reflected structs.
//
// A message type is either trivially copyable (it travels as its bytes) or a Boost.Hana Struct
// (BOOST_HANA_DEFINE_STRUCT inside the struct, or BOOST_HANA_ADAPT_STRUCT at global scope) whose
// members are supported: arithmetic, enum, bool, std::string, std::vector<supported> (not
// std::vector<bool>), std::array<supported, N>, C arrays of supported, nested reflected structs,
// nodus::etf::atom and nodus::etf::pid (see is_wire_string_v), and other trivially copyable
// types. Pointers, std::string_view and std::span are refused wherever nodus can see them: they
// mean nothing on another node. Members of a reflected struct
// must not be const, and a reflected struct that is not trivially copyable must be default
// constructible (the decoder builds it, then fills its members). Base classes of a reflected
// struct are not reflected, and a struct may not contain itself (even through a vector).
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/hana/accessors.hpp>
#include <boost/hana/adapt_struct.hpp>
#include <boost/hana/concept/struct.hpp>
#include <boost/hana/define_struct.hpp>

namespace nodus {

// A wire string: a class that travels in native frames as a string of its text, as
// std::string does (nodus::etf::atom is one). It declares
//   static constexpr bool nodus_wire_string = true;
//   static constexpr bool wire_text_ok(std::string_view) noexcept;  // checks text from outside
//   static T from_wire_text(std::string_view);   // text that wire_text_ok accepted
//   std::string_view wire_text() const noexcept;
//   static constexpr std::string_view wire_schema;  // its name in protocol fingerprints
template <class T>
inline constexpr bool is_wire_string_v = requires {
  requires T::nodus_wire_string;
};

// True for a Boost.Hana Struct: a class with BOOST_HANA_DEFINE_STRUCT or BOOST_HANA_ADAPT_STRUCT.
template <class T>
inline constexpr bool is_reflected_v =
    std::conjunction_v<std::is_class<T>, boost::hana::Struct<std::remove_cv_t<T>>>;

namespace detail {

template <class... Ts>
struct field_list {};

template <class List>
struct field_list_size;
template <class... Ts>
struct field_list_size<field_list<Ts...>> : std::integral_constant<std::size_t, sizeof...(Ts)> {};

template <class T>
struct is_std_vector : std::false_type {};
template <class E>
struct is_std_vector<std::vector<E>> : std::true_type {};

template <class T>
struct is_std_array : std::false_type {};
template <class E, std::size_t N>
struct is_std_array<std::array<E, N>> : std::true_type {};

// Non-owning views: their bytes are an address, meaningless on another node.
template <class T>
struct is_non_owning_view : std::false_type {};
template <class C, class Traits>
struct is_non_owning_view<std::basic_string_view<C, Traits>> : std::true_type {};
template <class E, std::size_t N>
struct is_non_owning_view<std::span<E, N>> : std::true_type {};

// One member of the reflected struct T, from a pair of Hana's accessors (name, accessor).
template <class T, class Pair>
struct field;

template <class T, char... Name, class Accessor>
struct field<T, boost::hana::pair<boost::hana::string<Name...>, Accessor>> {
  static constexpr char chars[sizeof...(Name) + 1] = {Name..., '\0'};
  // The member's name as declared.
  static constexpr std::string_view name{chars, sizeof...(Name)};
  using access_result = decltype(std::declval<const Accessor&>()(std::declval<T&>()));
  // The member's type without cv or reference.
  using type = std::remove_cvref_t<access_result>;
  static constexpr bool by_reference = std::is_lvalue_reference_v<access_result>;
  static constexpr bool is_const = std::is_const_v<std::remove_reference_t<access_result>> ||
                                   std::is_volatile_v<std::remove_reference_t<access_result>>;
  // get(obj) -> the member of obj (a reference, const when obj is const).
  template <class Obj>
  static constexpr decltype(auto) get(Obj&& obj) {
    return Accessor{}(static_cast<Obj&&>(obj));
  }
};

template <class T, class Accessors>
struct fields_from {
  static constexpr bool known = false;
  using type = field_list<>;
};

template <class T, class Pair>
concept field_pair = requires {
  field<T, Pair>::name;
};

template <class T, class... Pairs>
struct fields_from<T, boost::hana::tuple<Pairs...>> {
  static constexpr bool known = (field_pair<T, Pairs> && ...);
  using type = field_list<field<T, Pairs>...>;
};

template <class T>
using hana_accessors_t = std::remove_cvref_t<decltype(boost::hana::accessors<T>())>;

// detail::fields_t<T> -> field_list<field<T, ...>...> of the reflected struct T, in declaration
// order.
template <class T>
using fields_t = typename fields_from<T, hana_accessors_t<T>>::type;

// Why a type is or is not a valid message; the protocol turns each reason into a sentence.
enum class message_status {
  ok,
  reference,
  pointer,
  cv_qualified,
  not_object,
  view,
  not_move_constructible,
  unsupported,
  unknown_accessors,
  member_by_value,
  const_member,
  member_pointer,
  member_view,
  member_vector_bool,
  member_unsupported,
  not_default_constructible,
};

template <class S>
constexpr message_status struct_status() noexcept;

// The status of a member (or element) of type U, seen from inside a reflected struct.
template <class U>
constexpr message_status field_status() noexcept {
  if constexpr (std::is_pointer_v<U> || std::is_member_pointer_v<U> || std::is_null_pointer_v<U>) {
    return message_status::member_pointer;
  } else if constexpr (is_non_owning_view<U>::value) {
    return message_status::member_view;
  } else if constexpr (std::is_arithmetic_v<U> || std::is_enum_v<U> ||
                       std::is_same_v<U, std::string> || is_wire_string_v<U>) {
    return message_status::ok;
  } else if constexpr (is_std_vector<U>::value) {
    if constexpr (std::is_same_v<typename U::value_type, bool>) {
      return message_status::member_vector_bool;
    } else {
      return field_status<typename U::value_type>();
    }
  } else if constexpr (is_std_array<U>::value) {
    return field_status<typename U::value_type>();
  } else if constexpr (std::is_bounded_array_v<U>) {
    return field_status<std::remove_extent_t<U>>();
  } else if constexpr (is_reflected_v<U>) {
    return struct_status<U>();
  } else {
    return std::is_trivially_copyable_v<U> ? message_status::ok
                                           : message_status::member_unsupported;
  }
}

template <class F>
constexpr message_status one_field_status() noexcept {
  if constexpr (!F::by_reference) {
    return message_status::member_by_value;
  } else if constexpr (F::is_const) {
    return message_status::const_member;
  } else {
    return field_status<typename F::type>();
  }
}

template <class... Fs>
constexpr message_status first_bad_field(field_list<Fs...>) noexcept {
  const message_status all[] = {one_field_status<Fs>()..., message_status::ok};
  for (const message_status s : all) {
    if (s != message_status::ok) return s;
  }
  return message_status::ok;
}

// The status of the reflected struct S: the first bad member, else its own requirements.
template <class S>
constexpr message_status struct_status() noexcept {
  if constexpr (!fields_from<S, hana_accessors_t<S>>::known) {
    return message_status::unknown_accessors;
  } else {
    const message_status members = first_bad_field(fields_t<S>{});
    if (members != message_status::ok) return members;
    if (!std::is_trivially_copyable_v<S> && !std::is_default_constructible_v<S>)
      return message_status::not_default_constructible;
    return message_status::ok;
  }
}

// The status of T as a message type.
template <class T>
constexpr message_status message_status_of() noexcept {
  if constexpr (std::is_reference_v<T>) {
    return message_status::reference;
  } else if constexpr (std::is_pointer_v<T> || std::is_member_pointer_v<T> ||
                       std::is_null_pointer_v<T>) {
    return message_status::pointer;
  } else if constexpr (std::is_const_v<T> || std::is_volatile_v<T>) {
    return message_status::cv_qualified;
  } else if constexpr (!std::is_object_v<T> || std::is_array_v<T>) {
    return message_status::not_object;
  } else if constexpr (is_non_owning_view<T>::value) {
    return message_status::view;
  } else {
    message_status s = message_status::ok;
    if constexpr (is_reflected_v<T>) {
      s = struct_status<T>();
    } else if constexpr (!std::is_trivially_copyable_v<T>) {
      s = message_status::unsupported;
    }
    if (s == message_status::ok && !std::is_move_constructible_v<T>)
      s = message_status::not_move_constructible;
    return s;
  }
}

template <class T>
inline constexpr bool never_true_v = false;

// Instantiating message_check<T> reports, with a sentence, why T cannot be a message.
// The type in question is named in the compiler's "required from" line.
template <class T>
struct message_check {
  static constexpr message_status status = message_status_of<T>();
  static_assert(status != message_status::reference,
                "nodus: a message type must not be a reference; name the type itself");
  static_assert(status != message_status::pointer,
                "nodus: a message type must not be a pointer: an address means nothing on "
                "another node; send the value");
  static_assert(status != message_status::cv_qualified,
                "nodus: a message type must not be const or volatile; name the plain type");
  static_assert(status != message_status::not_object,
                "nodus: a message type must be a complete object type, not void, a function "
                "or a C array (wrap an array in a struct or use std::array)");
  static_assert(status != message_status::view,
                "nodus: a message type must not be std::string_view or std::span: a view does "
                "not own its data; send std::string or std::vector");
  static_assert(status != message_status::unsupported,
                "nodus: a message type must be trivially copyable (it travels as its bytes) or a "
                "reflected struct (BOOST_HANA_DEFINE_STRUCT / BOOST_HANA_ADAPT_STRUCT) whose "
                "members are supported; this one is neither");
  static_assert(status != message_status::not_move_constructible,
                "nodus: a message type must be move constructible (messages are moved into "
                "mailboxes)");
  static_assert(status != message_status::unknown_accessors,
                "nodus: a reflected message type must use BOOST_HANA_DEFINE_STRUCT or "
                "BOOST_HANA_ADAPT_STRUCT (nodus cannot read the members of other Hana Structs)");
  static_assert(status != message_status::member_by_value,
                "nodus: every member of a reflected message type must be reachable by reference "
                "(BOOST_HANA_ADAPT_ADT is not supported)");
  static_assert(status != message_status::const_member,
                "nodus: a member of a reflected message type must not be const or volatile: the "
                "decoder writes into it");
  static_assert(status != message_status::member_pointer,
                "nodus: a member of a reflected message type must not be a pointer: an address "
                "means nothing on another node");
  static_assert(status != message_status::member_view,
                "nodus: a member of a reflected message type must not be std::string_view or "
                "std::span: a view does not own its data; use std::string or std::vector");
  static_assert(status != message_status::member_vector_bool,
                "nodus: std::vector<bool> is not supported in messages (its bits are not "
                "contiguous bools); use std::vector<std::uint8_t>");
  static_assert(status != message_status::member_unsupported,
                "nodus: a member of a reflected message type has an unsupported type; use "
                "arithmetic, enum, bool, std::string, std::vector<T>, std::array<T, N>, a "
                "reflected struct or a trivially copyable type");
  static_assert(status != message_status::not_default_constructible,
                "nodus: a reflected message type that is not trivially copyable must be default "
                "constructible: the decoder builds it, then fills its members");
  static constexpr bool ok = status == message_status::ok;
};

}  // namespace detail

// True when T can be a message (see the top of this file).
template <class T>
inline constexpr bool is_message_v = detail::message_status_of<T>() == detail::message_status::ok;

// True for a message that travels as its own bytes (a trivially copyable message type).
template <class T>
inline constexpr bool is_trivial_message_v = is_message_v<T>&& std::is_trivially_copyable_v<T>;

// The number of members of the reflected struct T.
template <class T>
requires is_reflected_v<T>
inline constexpr std::size_t field_count_v = detail::field_list_size<detail::fields_t<T>>::value;

// for_each_field(obj, f): calls f(name, member) for each member of the reflected struct obj, in
// declaration order; name is a std::string_view, member a reference (const when obj is const).
template <class T, class F>
requires is_reflected_v<std::remove_cvref_t<T>>
constexpr void for_each_field(T&& obj, F&& f) {
  [&]<class... Fs>(detail::field_list<Fs...>) {
    (static_cast<void>(f(Fs::name, Fs::get(obj))), ...);
  }(detail::fields_t<std::remove_cvref_t<T>>{});
}

}  // namespace nodus

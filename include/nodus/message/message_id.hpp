// nodus/message/message_id.hpp: the stable wire id of a message type.
#pragma once

#include <concepts>
#include <cstdint>
#include <string_view>

#include <nodus/message/detail/fnv1a.hpp>
#include <nodus/message/type_name.hpp>

namespace nodus {

// A type that names itself on the wire with a tag, e.g.
//   struct ping { static constexpr std::string_view nodus_name = "app.ping"; };
// The tag keeps the wire id when the C++ type is renamed or moved to another namespace.
// Anything convertible to std::string_view, or with a view() member (a fixed_string), will do.
template <class T>
concept has_nodus_name = requires {
  T::nodus_name;
  requires std::convertible_to<decltype(T::nodus_name), std::string_view> || requires {
    { T::nodus_name.view() } -> std::convertible_to<std::string_view>;
  };
};

namespace detail {

template <class T>
[[nodiscard]] constexpr std::string_view message_name() noexcept {
  if constexpr (has_nodus_name<T>) {
    if constexpr (std::convertible_to<decltype(T::nodus_name), std::string_view>) {
      constexpr std::string_view tag = T::nodus_name;
      static_assert(!tag.empty(), "nodus: a message type's nodus_name must not be empty");
      return tag;
    } else {
      constexpr std::string_view tag = T::nodus_name.view();
      static_assert(!tag.empty(), "nodus: a message type's nodus_name must not be empty");
      return tag;
    }
  } else {
    return type_name<T>();
  }
}

// Id 0 is reserved (no message); a hash that happens to be 0 becomes 1.
[[nodiscard]] constexpr std::uint64_t message_id_of(std::string_view name) noexcept {
  const std::uint64_t h = fnv1a(name);
  return h == 0 ? 1 : h;
}

}  // namespace detail

// The text a message type's wire id is computed from: its nodus_name tag, else type_name<T>().
template <class T>
inline constexpr std::string_view message_name_v = detail::message_name<T>();

// The wire id of a message type: 64-bit FNV-1a of message_name_v<T>, never 0. It does not depend
// on the compiler or on the position of T in a protocol.
template <class T>
inline constexpr std::uint64_t message_id_v = detail::message_id_of(message_name_v<T>);

// The reserved id: no message type has it.
inline constexpr std::uint64_t no_message_id = 0;

}  // namespace nodus

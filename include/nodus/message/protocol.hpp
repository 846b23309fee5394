// nodus/message/protocol.hpp: the compile-time message registry, protocol<Ts...>.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include <nodus/message/detail/fnv1a.hpp>
#include <nodus/message/message_id.hpp>
#include <nodus/message/reflect.hpp>
#include <nodus/message/schema.hpp>

namespace nodus {

template <class... Ts>
struct protocol;

namespace detail {

// pack_element_t<I, Ts...> -> the I-th type of Ts, without recursive instantiation.
template <std::size_t I, class T>
struct pack_indexed {
  using type = T;
};
template <class Indices, class... Ts>
struct pack_indexer;
template <std::size_t... Is, class... Ts>
struct pack_indexer<std::index_sequence<Is...>, Ts...> : pack_indexed<Is, Ts>... {};
template <std::size_t I, class T>
pack_indexed<I, T> select_pack_indexed(const pack_indexed<I, T>&);
template <std::size_t I, class... Ts>
using pack_element_t = typename decltype(select_pack_indexed<I>(
    pack_indexer<std::index_sequence_for<Ts...>, Ts...>{}))::type;

struct equal_pair {
  bool found = false;
  std::size_t first = 0;
  std::size_t second = 0;
};

// The first pair of positions i < j with equal ids, if any (a constexpr loop, not templates).
template <std::size_t N>
constexpr equal_pair find_equal_ids(const std::array<std::uint64_t, N>& ids) noexcept {
  for (std::size_t i = 0; i + 1 < ids.size(); ++i) {
    for (std::size_t j = i + 1; j < ids.size(); ++j) {
      if (ids[i] == ids[j]) return {true, i, j};
    }
  }
  return {};
}

// Instantiated with the two types whose ids are equal; says which of the two mistakes it is.
template <class A, class B>
struct duplicate_or_clash {
  static_assert(!std::is_same_v<A, B>,
                "nodus::protocol: a message type is listed twice; list each message type once");
  static_assert(std::is_same_v<A, B>,
                "nodus::protocol: two message types have the same wire id (the same nodus_name, "
                "or the same type name); give one of them a distinct "
                "`static constexpr std::string_view nodus_name`");
  static constexpr bool ok = true;
};

template <bool Found, std::size_t I, std::size_t J, class... Ts>
struct unique_ids_check {
  static constexpr bool ok = true;
};
template <std::size_t I, std::size_t J, class... Ts>
struct unique_ids_check<true, I, J, Ts...> {
  static constexpr bool ok =
      duplicate_or_clash<pack_element_t<I, Ts...>, pack_element_t<J, Ts...>>::ok;
};

template <class... Ts>
struct variant_of {
  using type = std::variant<Ts...>;
};
template <>
struct variant_of<> {
  using type = std::monostate;
};

// Fingerprint: FNV-1a over a version tag, the count, then (id, schema hash) pairs sorted by id,
// each number as 8 little-endian bytes. Sorting makes it independent of the order of Ts.
template <std::size_t N>
constexpr std::uint64_t protocol_fingerprint(std::array<std::uint64_t, N> ids,
                                             std::array<std::uint64_t, N> schemas) noexcept {
  for (std::size_t i = 1; i < ids.size(); ++i) {
    for (std::size_t j = i; j > 0 && ids[j - 1] > ids[j]; --j) {
      std::swap(ids[j - 1], ids[j]);
      std::swap(schemas[j - 1], schemas[j]);
    }
  }
  fnv1a64 h;
  h.add("nodus.protocol.1");
  h.add_u64(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    h.add_u64(ids[i]);
    h.add_u64(schemas[i]);
  }
  return h.state;
}

template <class... Ps>
struct protocol_cat_impl {
  static_assert(never_true_v<protocol_cat_impl>,
                "nodus::protocol_cat<Ps...> joins nodus::protocol<...> types only");
  using type = protocol<>;
};
template <>
struct protocol_cat_impl<> {
  using type = protocol<>;
};
template <class... Ts>
struct protocol_cat_impl<protocol<Ts...>> {
  using type = protocol<Ts...>;
};
template <class... As, class... Bs, class... Rest>
struct protocol_cat_impl<protocol<As...>, protocol<Bs...>, Rest...>
    : protocol_cat_impl<protocol<As..., Bs...>, Rest...> {};

}  // namespace detail

// The set of message types a program may send: the compile-time message registry.
// Each type has a stable wire id (message_id_v) and the protocol a fingerprint that two nodes
// compare at connect time. Misuse is a compile error with a sentence: a type listed twice, two
// types with one id, a type that cannot be a message (see message/reflect.hpp).
template <class... Ts>
struct protocol {
 private:
  static constexpr bool messages_valid_ = (detail::message_check<Ts>::ok && ...);

 public:
  // The number of message types.
  static constexpr std::size_t size = sizeof...(Ts);

  // The wire ids of Ts, in the order Ts are listed.
  static constexpr std::array<std::uint64_t, sizeof...(Ts)> ids = {message_id_v<Ts>...};

  // The texts the ids come from (nodus_name or type name), in the order Ts are listed.
  static constexpr std::array<std::string_view, sizeof...(Ts)> names = {message_name_v<Ts>...};

 private:
  static constexpr detail::equal_pair equal_ids_ = detail::find_equal_ids(ids);
  static constexpr bool report_equal_ids_ = messages_valid_ && equal_ids_.found;
  static_assert(
      detail::unique_ids_check<report_equal_ids_, equal_ids_.first, equal_ids_.second, Ts...>::ok);

 public:
  // True when T is one of the message types.
  template <class T>
  static constexpr bool contains = (std::is_same_v<T, Ts> || ...);

  // id_of<T>() -> the wire id of T; a compile error when T is not in the protocol.
  template <class T>
  [[nodiscard]] static constexpr std::uint64_t id_of() noexcept {
    static_assert(contains<T>,
                  "nodus::protocol::id_of<T>: T is not a message type of this protocol; add it "
                  "to the nodus::protocol<...> list");
    return message_id_v<T>;
  }

  // Identifies the protocol: equal for the same set of types in any order, different when a
  // type's id or schema changes. Two nodes with different fingerprints do not speak the same
  // messages.
  static constexpr std::uint64_t fingerprint =
      detail::protocol_fingerprint<sizeof...(Ts)>({message_id_v<Ts>...}, {schema_hash_v<Ts>...});

  // std::variant of every message type (std::monostate for the empty protocol).
  using variant = typename detail::variant_of<Ts...>::type;

  // visit_id(id, f) -> calls f(std::type_identity<T>{}) for the message type T whose wire id is
  // id and returns true; returns false for an unknown id (f is not called). No allocation.
  template <class F>
  static constexpr bool visit_id([[maybe_unused]] std::uint64_t id, [[maybe_unused]] F&& f) {
    return ((id == message_id_v<Ts> && (static_cast<void>(f(std::type_identity<Ts>{})), true)) ||
            ...);
  }
};

// True for nodus::protocol<Ts...>.
template <class T>
inline constexpr bool is_protocol_v = false;
template <class... Ts>
inline constexpr bool is_protocol_v<protocol<Ts...>> = true;

// protocol_cat<P1, P2, ...> -> protocol<types of P1..., types of P2..., ...>. A type present in
// two of them is an error (listed twice), as in a single protocol.
template <class... Ps>
using protocol_cat = typename detail::protocol_cat_impl<Ps...>::type;

}  // namespace nodus

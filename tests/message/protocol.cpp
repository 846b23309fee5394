// Tests of nodus::protocol: wire ids, fingerprints, visit_id, joins.
#include <nodus/message/protocol.hpp>

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace pt {

struct ping {};
struct pong {
  std::uint64_t stamp;
};
struct status {
  BOOST_HANA_DEFINE_STRUCT(status, (std::string, node), (std::vector<std::uint32_t>, load));
};

// An explicit tag: renaming or moving the type keeps its wire id.
namespace old_place {
struct order {
  static constexpr std::string_view nodus_name = "shop.order";
  BOOST_HANA_DEFINE_STRUCT(order, (std::uint32_t, qty), (std::string, sku));
};
}  // namespace old_place
namespace new_place {
struct order_v2 {
  static constexpr std::string_view nodus_name = "shop.order";
  BOOST_HANA_DEFINE_STRUCT(order_v2, (std::uint32_t, qty), (std::string, sku));
};
// Same tag, a member's type changed.
struct order_wide {
  static constexpr std::string_view nodus_name = "shop.order";
  BOOST_HANA_DEFINE_STRUCT(order_wide, (std::uint64_t, qty), (std::string, sku));
};
// Same tag, a member renamed.
struct order_renamed {
  static constexpr std::string_view nodus_name = "shop.order";
  BOOST_HANA_DEFINE_STRUCT(order_renamed, (std::uint32_t, quantity), (std::string, sku));
};
}  // namespace new_place

// A tag given as something with view(), the way a fixed_string would be.
struct tiny_fixed_string {
  const char* text;
  std::size_t size;
  [[nodiscard]] constexpr std::string_view view() const { return {text, size}; }
};
struct tagged_by_view {
  static constexpr tiny_fixed_string nodus_name{"tag.by.view", 11};
};

// Two same-named structs in two namespaces, without tags.
namespace a {
struct item {
  BOOST_HANA_DEFINE_STRUCT(item, (std::int32_t, count));
};
}  // namespace a
namespace b {
struct item {
  BOOST_HANA_DEFINE_STRUCT(item, (std::int64_t, count));
};
}  // namespace b

}  // namespace pt

namespace {

using nodus::message_id_v;
using nodus::protocol;

using p3 = protocol<pt::ping, pt::pong, pt::status>;
using p3_permuted = protocol<pt::status, pt::ping, pt::pong>;
using empty = protocol<>;

// Which types visit_id called f with.
template <class P>
std::vector<std::string_view> visited(std::uint64_t id) {
  std::vector<std::string_view> seen;
  const bool found = P::visit_id(
      id, [&](auto t) { seen.push_back(nodus::type_name<typename decltype(t)::type>()); });
  BOOST_TEST(found == !seen.empty());
  return seen;
}

}  // namespace

// The protocol's interface is usable in constant expressions.
static_assert(p3::size == 3);
static_assert(p3::contains<pt::ping> && p3::contains<pt::status>);
static_assert(!p3::contains<pt::a::item> && !p3::contains<const pt::ping>);
static_assert(p3::id_of<pt::pong>() == message_id_v<pt::pong>);
static_assert(p3::ids[0] == message_id_v<pt::ping>);
static_assert(p3::names[2] == "pt::status");
static_assert(std::is_same_v<p3::variant, std::variant<pt::ping, pt::pong, pt::status>>);
static_assert(std::is_same_v<empty::variant, std::monostate>);
static_assert(empty::size == 0);
static_assert(!empty::visit_id(1, [](auto) {}));
static_assert(p3::visit_id(message_id_v<pt::status>, [](auto) {}));
static_assert(nodus::is_protocol_v<p3> && nodus::is_protocol_v<empty> &&
              !nodus::is_protocol_v<int>);
static_assert(
    std::is_same_v<nodus::protocol_cat<protocol<pt::ping>, protocol<pt::pong, pt::status>>,
                   protocol<pt::ping, pt::pong, pt::status>>);
static_assert(std::is_same_v<nodus::protocol_cat<>, empty>);
static_assert(std::is_same_v<nodus::protocol_cat<p3, empty, protocol<pt::a::item>>,
                             protocol<pt::ping, pt::pong, pt::status, pt::a::item>>);

BOOST_AUTO_TEST_SUITE(protocol_suite)

BOOST_AUTO_TEST_CASE(ids_are_fnv1a_of_the_type_name_on_every_compiler) {
  // Values computed outside C++ (FNV-1a 64 of the text); equal under GCC and clang.
  BOOST_TEST(message_id_v<pt::ping> == 0x3e65e1b4313ffc55ULL);
  BOOST_TEST(nodus::message_name_v<pt::ping> == "pt::ping");
  BOOST_TEST(message_id_v<pt::status> == nodus::detail::fnv1a("pt::status"));
  BOOST_TEST(message_id_v<pt::a::item> != message_id_v<pt::b::item>);
  BOOST_TEST(message_id_v<pt::ping> != nodus::no_message_id);
}

BOOST_AUTO_TEST_CASE(ids_do_not_depend_on_the_position) {
  BOOST_TEST(p3::id_of<pt::ping>() == p3_permuted::id_of<pt::ping>());
  BOOST_TEST(p3::id_of<pt::pong>() == p3_permuted::id_of<pt::pong>());
  BOOST_TEST(p3::id_of<pt::status>() == p3_permuted::id_of<pt::status>());
  BOOST_TEST(protocol<pt::pong>::id_of<pt::pong>() == p3::id_of<pt::pong>());
}

BOOST_AUTO_TEST_CASE(an_explicit_tag_overrides_the_type_name) {
  using pt::new_place::order_v2;
  using pt::old_place::order;
  BOOST_TEST(nodus::message_name_v<order> == "shop.order");
  BOOST_TEST(message_id_v<order> == 0x814cce8dc5ccd897ULL);
  BOOST_TEST(message_id_v<order> == message_id_v<order_v2>);
  BOOST_TEST(message_id_v<order> != nodus::detail::fnv1a(nodus::type_name<order>()));
  BOOST_TEST(nodus::message_name_v<pt::tagged_by_view> == "tag.by.view");
  BOOST_TEST(message_id_v<pt::tagged_by_view> == nodus::detail::fnv1a("tag.by.view"));
  // Renamed and moved, same layout: the peer sees the same protocol.
  BOOST_TEST((protocol<pt::ping, order>::fingerprint == protocol<order_v2, pt::ping>::fingerprint));
}

BOOST_AUTO_TEST_CASE(fingerprint_ignores_order) {
  BOOST_TEST(p3::fingerprint == p3_permuted::fingerprint);
  BOOST_TEST(p3::fingerprint == (protocol<pt::pong, pt::status, pt::ping>::fingerprint));
  BOOST_TEST(p3::fingerprint != empty::fingerprint);
  BOOST_TEST(p3::fingerprint != (protocol<pt::ping, pt::pong>::fingerprint));
}

BOOST_AUTO_TEST_CASE(fingerprint_follows_the_documented_algorithm) {
  // FNV-1a over "nodus.protocol.1", then count, id, schema hash as little-endian u64s,
  // computed outside C++ for protocol<pt::ping> (schema "bytes<1,1>") and protocol<>.
  BOOST_TEST(nodus::schema_text<pt::ping>() == "bytes<1,1>");
  BOOST_TEST(protocol<pt::ping>::fingerprint == 0xdde5705a7903556bULL);
  BOOST_TEST(empty::fingerprint == 0xa1942fa5e6f30869ULL);
}

BOOST_AUTO_TEST_CASE(fingerprint_changes_with_a_member_type_or_name) {
  using pt::new_place::order_renamed;
  using pt::new_place::order_wide;
  using pt::old_place::order;
  // Same ids (same tag), different schemas.
  BOOST_TEST(message_id_v<order> == message_id_v<order_wide>);
  BOOST_TEST(
      (protocol<pt::ping, order>::fingerprint != protocol<pt::ping, order_wide>::fingerprint));
  BOOST_TEST(
      (protocol<pt::ping, order>::fingerprint != protocol<pt::ping, order_renamed>::fingerprint));
  // Same-named structs in two namespaces: different ids and schemas.
  BOOST_TEST(protocol<pt::a::item>::fingerprint != protocol<pt::b::item>::fingerprint);
}

BOOST_AUTO_TEST_CASE(visit_id_finds_each_type) {
  BOOST_TEST(visited<p3>(message_id_v<pt::ping>) == std::vector<std::string_view>{"pt::ping"});
  BOOST_TEST(visited<p3>(message_id_v<pt::pong>) == std::vector<std::string_view>{"pt::pong"});
  BOOST_TEST(visited<p3>(message_id_v<pt::status>) == std::vector<std::string_view>{"pt::status"});
  for (const std::uint64_t id : p3::ids) BOOST_TEST(visited<p3>(id).size() == 1U);
}

BOOST_AUTO_TEST_CASE(visit_id_rejects_unknown_ids) {
  BOOST_TEST(visited<p3>(nodus::no_message_id).empty());
  BOOST_TEST(visited<p3>(12345).empty());
  BOOST_TEST(visited<p3>(message_id_v<pt::a::item>).empty());
  BOOST_TEST(visited<empty>(message_id_v<pt::ping>).empty());
}

BOOST_AUTO_TEST_CASE(visit_id_can_build_the_variant) {
  p3::variant v;
  const bool found = p3::visit_id(p3::id_of<pt::status>(), [&](auto t) {
    using T = typename decltype(t)::type;
    v.emplace<T>();
  });
  BOOST_TEST(found);
  BOOST_TEST(std::holds_alternative<pt::status>(v));
}

BOOST_AUTO_TEST_SUITE_END()

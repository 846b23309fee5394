// Tests of the message traits (is_message_v & co.), reflection and schemas.
#include <nodus/message/reflect.hpp>
#include <nodus/message/schema.hpp>

#include <boost/hana/adapt_adt.hpp>
#include <boost/test/unit_test.hpp>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rt {

struct empty {};
struct pod {
  std::int32_t a;
  double b;
};
enum class level : std::uint8_t { low, high };
enum plain_enum { plain_a };

struct point {
  BOOST_HANA_DEFINE_STRUCT(point, (std::int32_t, x), (std::int32_t, y));
};
struct record {
  BOOST_HANA_DEFINE_STRUCT(record, (std::uint32_t, id), (std::string, name),
                           (std::vector<std::string>, tags));
};
struct everything {
  BOOST_HANA_DEFINE_STRUCT(everything, (bool, flag), (char, letter), (std::int8_t, i8),
                           (std::uint16_t, u16), (std::int64_t, i64), (float, f), (double, d),
                           (level, lvl), (std::string, text), (std::vector<point>, points),
                           (std::array<std::uint8_t, 4>, quad), (pod, raw), (point, origin),
                           (std::vector<std::vector<std::int32_t>>, grid));
};
struct adapted {  // adapted from outside, with a C array
  std::uint16_t port;
  char host[8];
};

// Unsupported
struct opaque {  // neither trivially copyable nor reflected
  std::string s;
};
struct with_pointer {
  BOOST_HANA_DEFINE_STRUCT(with_pointer, (int*, p));
};
struct with_view {
  BOOST_HANA_DEFINE_STRUCT(with_view, (std::string_view, v), (std::string, s));
};
struct with_span {
  BOOST_HANA_DEFINE_STRUCT(with_span, (std::span<const int>, v), (std::string, s));
};
struct with_vector_bool {
  BOOST_HANA_DEFINE_STRUCT(with_vector_bool, (std::vector<bool>, bits));
};
struct with_const {
  BOOST_HANA_DEFINE_STRUCT(with_const, (const int, c), (std::string, s));
};
struct with_opaque {
  BOOST_HANA_DEFINE_STRUCT(with_opaque, (opaque, o));
};
struct with_deep_pointer {  // the pointer is two levels down
  BOOST_HANA_DEFINE_STRUCT(with_deep_pointer, (std::vector<std::array<const char*, 2>>, names));
};
struct no_default {
  explicit no_default(int v) : s(std::to_string(v)) {}
  BOOST_HANA_DEFINE_STRUCT(no_default, (std::string, s));
};
class by_getter {  // adapted with BOOST_HANA_ADAPT_ADT: members reached through getters
 public:
  [[nodiscard]] std::string name() const { return name_; }

 private:
  std::string name_;
};
struct pair_member {
  BOOST_HANA_DEFINE_STRUCT(pair_member, (std::pair<int, std::string>, p));
};

// Same names, another layout, to see schemas change.
namespace v1 {
struct item {
  BOOST_HANA_DEFINE_STRUCT(item, (std::int32_t, count), (std::string, label));
};
}  // namespace v1
namespace v2 {  // a member's type changed
struct item {
  BOOST_HANA_DEFINE_STRUCT(item, (std::int64_t, count), (std::string, label));
};
}  // namespace v2
namespace v3 {  // a member renamed
struct item {
  BOOST_HANA_DEFINE_STRUCT(item, (std::int32_t, amount), (std::string, label));
};
}  // namespace v3
namespace v4 {  // members reordered
struct item {
  BOOST_HANA_DEFINE_STRUCT(item, (std::string, label), (std::int32_t, count));
};
}  // namespace v4
namespace v5 {  // the same as v1
struct item {
  BOOST_HANA_DEFINE_STRUCT(item, (std::int32_t, count), (std::string, label));
};
}  // namespace v5

}  // namespace rt

BOOST_HANA_ADAPT_STRUCT(rt::adapted, port, host);
BOOST_HANA_ADAPT_ADT(rt::by_getter, (name, [](const auto& g) { return g.name(); }));

namespace {

using nodus::is_message_v;
using nodus::is_reflected_v;
using nodus::is_trivial_message_v;
using nodus::schema_text;
using status = nodus::detail::message_status;

template <class T>
constexpr status status_of = nodus::detail::message_status_of<T>();

}  // namespace

// Reflection
static_assert(is_reflected_v<rt::point>);
static_assert(is_reflected_v<rt::record>);
static_assert(is_reflected_v<rt::adapted>);
static_assert(!is_reflected_v<rt::pod>);
static_assert(!is_reflected_v<int>);
static_assert(!is_reflected_v<std::string>);
static_assert(nodus::field_count_v<rt::point> == 2);
static_assert(nodus::field_count_v<rt::everything> == 14);

// Trivially copyable types travel as bytes; reflected ones may or may not.
static_assert(is_message_v<rt::empty> && is_trivial_message_v<rt::empty>);
static_assert(is_message_v<rt::pod> && is_trivial_message_v<rt::pod>);
static_assert(is_message_v<rt::point> && is_trivial_message_v<rt::point>);
static_assert(is_message_v<rt::adapted> && is_trivial_message_v<rt::adapted>);
static_assert(is_message_v<rt::record> && !is_trivial_message_v<rt::record>);
static_assert(is_message_v<rt::everything> && !is_trivial_message_v<rt::everything>);
static_assert(is_message_v<int> && is_message_v<rt::level>);

// Not messages, each for its reason.
static_assert(status_of<rt::opaque> == status::unsupported);
static_assert(status_of<std::string> == status::unsupported);
static_assert(status_of<std::vector<int>> == status::unsupported);
static_assert(status_of<rt::pod*> == status::pointer);
static_assert(status_of<rt::pod&> == status::reference);
static_assert(status_of<rt::pod&&> == status::reference);
static_assert(status_of<const rt::pod> == status::cv_qualified);
static_assert(status_of<volatile rt::pod> == status::cv_qualified);
static_assert(status_of<void> == status::not_object);
static_assert(status_of<void()> == status::not_object);
static_assert(status_of<rt::pod[2]> == status::not_object);
static_assert(status_of<std::string_view> == status::view);
static_assert(status_of<std::span<int>> == status::view);
static_assert(status_of<rt::with_pointer> == status::member_pointer);
static_assert(status_of<rt::with_view> == status::member_view);
static_assert(status_of<rt::with_span> == status::member_view);
static_assert(status_of<rt::with_vector_bool> == status::member_vector_bool);
static_assert(status_of<rt::with_const> == status::const_member);
static_assert(status_of<rt::with_opaque> == status::member_unsupported);
static_assert(status_of<rt::with_deep_pointer> == status::member_pointer);
static_assert(status_of<rt::no_default> == status::not_default_constructible);
static_assert(status_of<rt::pair_member> == status::member_unsupported);
static_assert(is_reflected_v<rt::by_getter>);
static_assert(status_of<rt::by_getter> == status::member_by_value);
static_assert(!is_message_v<rt::with_pointer> && !is_trivial_message_v<rt::with_pointer>);
static_assert(!is_message_v<rt::pod*> && !is_trivial_message_v<rt::pod*>);
static_assert(!is_message_v<std::string_view> && !is_trivial_message_v<std::string_view>);

// Schemas are compile-time constants.
static_assert(schema_text<rt::point>() == "struct<8,4>{x:i32,y:i32}");
static_assert(nodus::schema_hash_v<rt::point> == nodus::detail::fnv1a("struct<8,4>{x:i32,y:i32}"));

BOOST_AUTO_TEST_SUITE(reflect_suite)

BOOST_AUTO_TEST_CASE(schema_texts_describe_kinds_sizes_and_names) {
  BOOST_TEST(schema_text<rt::empty>() == "bytes<1,1>");
  BOOST_TEST(schema_text<rt::pod>() == "bytes<16,8>");
  BOOST_TEST(schema_text<std::int32_t>() == "i32");
  BOOST_TEST(schema_text<std::uint64_t>() == "u64");
  BOOST_TEST(schema_text<rt::level>() == "enum<u8>");
  BOOST_TEST(schema_text<rt::record>() == "struct{id:u32,name:string,tags:vector<string>}");
  BOOST_TEST(schema_text<rt::adapted>() == "struct<10,2>{port:u16,host:array<char,8>}");
  BOOST_TEST(schema_text<rt::everything>() ==
             "struct{flag:bool,letter:char,i8:i8,u16:u16,i64:i64,f:f32,d:f64,lvl:enum<u8>,"
             "text:string,points:vector<struct<8,4>{x:i32,y:i32}>,quad:array<u8,4>,"
             "raw:bytes<16,8>,origin:struct<8,4>{x:i32,y:i32},grid:vector<vector<i32>>}");
}

BOOST_AUTO_TEST_CASE(schema_hash_is_fnv1a_of_the_text) {
  BOOST_TEST(nodus::schema_hash_v<rt::record> == nodus::detail::fnv1a(schema_text<rt::record>()));
  BOOST_TEST(nodus::schema_hash_v<rt::everything> ==
             nodus::detail::fnv1a(schema_text<rt::everything>()));
  // FNV-1a test vectors from the FNV reference: "" -> offset basis, "a" -> 0xaf63dc4c8601ec8c.
  BOOST_TEST(nodus::detail::fnv1a("") == 0xcbf29ce484222325ULL);
  BOOST_TEST(nodus::detail::fnv1a("a") == 0xaf63dc4c8601ec8cULL);
}

BOOST_AUTO_TEST_CASE(schema_changes_with_member_type_name_or_order) {
  BOOST_TEST(schema_text<rt::v1::item>() == "struct{count:i32,label:string}");
  BOOST_TEST(nodus::schema_hash_v<rt::v1::item> == nodus::schema_hash_v<rt::v5::item>);
  BOOST_TEST(nodus::schema_hash_v<rt::v1::item> != nodus::schema_hash_v<rt::v2::item>);
  BOOST_TEST(nodus::schema_hash_v<rt::v1::item> != nodus::schema_hash_v<rt::v3::item>);
  BOOST_TEST(nodus::schema_hash_v<rt::v1::item> != nodus::schema_hash_v<rt::v4::item>);
}

BOOST_AUTO_TEST_CASE(for_each_field_visits_members_in_order) {
  rt::record r{7, "seven", {"a", "b"}};
  std::vector<std::string> names;
  nodus::for_each_field(r, [&](std::string_view name, auto& member) {
    names.emplace_back(name);
    if constexpr (std::is_same_v<std::remove_cvref_t<decltype(member)>, std::string>) member += "!";
  });
  BOOST_TEST(names == (std::vector<std::string>{"id", "name", "tags"}));
  BOOST_TEST(r.name == "seven!");

  const rt::point p{3, 4};
  std::int32_t sum = 0;
  nodus::for_each_field(p, [&](std::string_view, const std::int32_t& v) { sum += v; });
  BOOST_TEST(sum == 7);
}

BOOST_AUTO_TEST_SUITE_END()

// Zero copy: encode points into the message, views point into the buffer, and every copy the
// codec does make is counted.
#include "common.hpp"

#include <boost/test/unit_test.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace {

using nodus::codec::copied_bytes;
using nodus::codec::decode;
using nodus::codec::encode;
using nodus::codec::gather_list;
using nodus::codec::make_view;
using nodus::codec::sequence_view;
using nodus::codec::view;

// Two members adjacent in the object and on the wire, then a string.
struct adjacent {
  BOOST_HANA_DEFINE_STRUCT(adjacent, (std::int32_t, x), (std::int32_t, y), (std::string, text));
};

// 1 MiB that travels as its bytes.
struct mebibyte {
  std::array<std::uint32_t, (1U << 20) / 4> words;
};

// What view<T>::get hands out, by member kind.
static_assert(std::is_same_v<decltype(std::declval<view<ct::everything>>().get<"i64">()),
                             const std::int64_t&>);
static_assert(
    std::is_same_v<decltype(std::declval<view<ct::everything>>().get<"text">()), std::string_view>);
static_assert(std::is_same_v<decltype(std::declval<view<ct::everything>>().get<"points">()),
                             std::span<const ct::point>>);
static_assert(std::is_same_v<decltype(std::declval<view<ct::everything>>().get<"origin">()),
                             const ct::point&>);
static_assert(std::is_same_v<decltype(std::declval<view<ct::everything>>().get<"nested">()),
                             view<ct::inner>>);
static_assert(std::is_same_v<decltype(std::declval<view<ct::everything>>().get<"tags">()),
                             sequence_view<std::string>>);
static_assert(std::is_same_v<decltype(std::declval<view<ct::everything>>().get<"pair">()),
                             sequence_view<std::string>>);
static_assert(std::is_same_v<decltype(std::declval<view<ct::everything>>().get<"grid">()),
                             sequence_view<std::vector<std::int32_t>>>);
static_assert(
    std::is_same_v<decltype(std::declval<view<ct::adapted>>().get<"host">()), const char (&)[6]>);
static_assert(std::is_same_v<decltype(std::declval<view<ct::pod>>().get()), const ct::pod&>);

// Reads every member of two views of an everything and checks they hand out equal values.
void check_same(const view<ct::everything>& a, const view<ct::everything>& b) {
  BOOST_TEST(a.get<"flag">() == b.get<"flag">());
  BOOST_TEST(a.get<"letter">() == b.get<"letter">());
  BOOST_TEST(a.get<"i8">() == b.get<"i8">());
  BOOST_TEST(a.get<"u16">() == b.get<"u16">());
  BOOST_TEST(a.get<"i64">() == b.get<"i64">());
  BOOST_TEST(a.get<"f">() == b.get<"f">());
  BOOST_TEST(a.get<"d">() == b.get<"d">());
  BOOST_TEST((a.get<"hue">() == b.get<"hue">()));
  BOOST_TEST(a.get<"text">() == b.get<"text">());
  BOOST_TEST((std::vector<ct::point>(a.get<"points">().begin(), a.get<"points">().end()) ==
              std::vector<ct::point>(b.get<"points">().begin(), b.get<"points">().end())));
  BOOST_TEST(a.get<"quint">() == b.get<"quint">());
  BOOST_TEST((a.get<"raw">() == b.get<"raw">()));
  BOOST_TEST((a.get<"origin">() == b.get<"origin">()));
  BOOST_TEST_REQUIRE(a.get<"grid">().size() == b.get<"grid">().size());
  for (std::size_t i = 0; i < a.get<"grid">().size(); ++i) {
    const std::span<const std::int32_t> x = a.get<"grid">()[i];
    const std::span<const std::int32_t> y = b.get<"grid">()[i];
    BOOST_TEST(std::vector<std::int32_t>(x.begin(), x.end()) ==
               std::vector<std::int32_t>(y.begin(), y.end()));
  }
  BOOST_TEST_REQUIRE(a.get<"tags">().size() == b.get<"tags">().size());
  auto bt = b.get<"tags">().begin();
  for (const std::string_view t : a.get<"tags">()) BOOST_TEST(t == *bt++);
  BOOST_TEST(a.get<"nested">().get<"label">() == b.get<"nested">().get<"label">());
  BOOST_TEST(a.get<"nested">().get<1>().size() == b.get<"nested">().get<1>().size());
  BOOST_TEST_REQUIRE(a.get<"children">().size() == b.get<"children">().size());
  for (std::size_t i = 0; i < a.get<"children">().size(); ++i) {
    const view<ct::inner> x = a.get<"children">()[i];
    const view<ct::inner> y = b.get<"children">()[i];
    BOOST_TEST(x.get<"label">() == y.get<"label">());
    BOOST_TEST((x.to_owned() == y.to_owned()));
  }
  BOOST_TEST(a.get<"pair">()[0] == b.get<"pair">()[0]);
  BOOST_TEST(a.get<"pair">()[1] == b.get<"pair">()[1]);
  BOOST_TEST((a.get<"bits">() == b.get<"bits">()));
  BOOST_TEST_REQUIRE(a.get<"wides">().size() == b.get<"wides">().size());
  for (std::size_t i = 0; i < a.get<"wides">().size(); ++i)
    BOOST_TEST((a.get<"wides">()[i] == b.get<"wides">()[i]));
  BOOST_TEST(a.get<"empty_text">().empty());
  BOOST_TEST(b.get<"empty_text">().empty());
  BOOST_TEST(a.get<"empty_numbers">().empty());
  BOOST_TEST(b.get<"empty_numbers">().empty());
  BOOST_TEST_REQUIRE(a.get<"flag_list">().size() == b.get<"flag_list">().size());
  for (std::size_t i = 0; i < a.get<"flag_list">().size(); ++i)
    BOOST_TEST((a.get<"flag_list">()[i] == b.get<"flag_list">()[i]));
  BOOST_TEST((a.to_owned() == b.to_owned()));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(zero_copy_suite)

BOOST_AUTO_TEST_CASE(encode_copies_nothing_and_points_into_the_message) {
  const ct::everything e = ct::sample_everything();
  gather_list gl;
  const std::uint64_t before = copied_bytes();
  encode(e, gl);
  BOOST_TEST(copied_bytes() == before);
  // Trivially copyable members, string chars and vector elements are pieces of the object.
  BOOST_TEST(ct::covers(gl, &e.flag, sizeof e.flag));
  BOOST_TEST(ct::covers(gl, &e.i64, sizeof e.i64));
  BOOST_TEST(ct::covers(gl, &e.d, sizeof e.d));
  BOOST_TEST(ct::covers(gl, &e.raw, sizeof e.raw));
  BOOST_TEST(ct::covers(gl, &e.origin, sizeof e.origin));
  BOOST_TEST(ct::covers(gl, &e.quint, sizeof e.quint));
  BOOST_TEST(ct::covers(gl, &e.bits, sizeof e.bits));
  BOOST_TEST(ct::covers(gl, e.text.data(), e.text.size()));
  BOOST_TEST(ct::covers(gl, e.points.data(), e.points.size() * sizeof(ct::point)));
  BOOST_TEST(ct::covers(gl, e.wides.data(), e.wides.size() * sizeof(ct::wide)));
  BOOST_TEST(ct::covers(gl, e.grid[0].data(), e.grid[0].size() * sizeof(std::int32_t)));
  BOOST_TEST(ct::covers(gl, e.tags[2].data(), e.tags[2].size()));
  BOOST_TEST(ct::covers(gl, e.nested.label.data(), e.nested.label.size()));
  BOOST_TEST(ct::covers(gl, e.children[2].numbers.data(), 3 * sizeof(std::int32_t)));
  BOOST_TEST(ct::covers(gl, e.pair[1].data(), e.pair[1].size()));
  // Every piece is the object's, static zero padding or an 8-byte length: never a copy of a
  // string or vector's contents.
  std::size_t in_object = 0;
  for (const auto& part : gl.parts) {
    const auto* p = reinterpret_cast<const char*>(part.data());
    const auto* o = reinterpret_cast<const char*>(&e);
    if (p >= o && p + part.size() <= o + sizeof e) in_object += part.size();
  }
  BOOST_TEST(in_object > 0U);
}

BOOST_AUTO_TEST_CASE(encode_of_a_trivially_copyable_message_is_one_piece_of_the_object) {
  const auto big = std::make_unique<mebibyte>();
  big->words[12345] = 0xCAFEF00D;
  gather_list gl;
  const std::uint64_t before = copied_bytes();
  encode(*big, gl);
  BOOST_TEST(copied_bytes() == before);
  BOOST_TEST_REQUIRE(gl.parts.size() == 1U);
  BOOST_TEST(static_cast<const void*>(gl.parts[0].data()) == static_cast<const void*>(big.get()));
  BOOST_TEST(gl.parts[0].size() == sizeof(mebibyte));
}

BOOST_AUTO_TEST_CASE(members_adjacent_in_the_object_and_on_the_wire_are_one_piece) {
  const adjacent a{1, 2, "xyz"};
  gather_list gl;
  encode(a, gl);
  // x and y (8 bytes of the object), the length (list storage), the chars (the string's).
  BOOST_TEST_REQUIRE(gl.parts.size() == 3U);
  BOOST_TEST(static_cast<const void*>(gl.parts[0].data()) == static_cast<const void*>(&a.x));
  BOOST_TEST(gl.parts[0].size() == 8U);
  BOOST_TEST(gl.parts[1].size() == 8U);
  BOOST_TEST(static_cast<const void*>(gl.parts[2].data()) ==
             static_cast<const void*>(a.text.data()));
  BOOST_TEST(gl.size == 19U);
}

BOOST_AUTO_TEST_CASE(decode_counts_the_bytes_it_copies) {
  const ct::small s{1, "hello", {1, 2, 3}, true};
  const ct::buffer b = ct::encoded(s);
  std::uint64_t before = copied_bytes();
  const auto d = decode<ct::small>(b.span());
  BOOST_TEST_REQUIRE(d.has_value());
  BOOST_TEST(copied_bytes() - before == 1U + 5U + 3U * 2U + 1U);  // tag, chars, values, flag

  const ct::inner i{"label", {1, 2}};
  const ct::buffer bi = ct::encoded(i);
  before = copied_bytes();
  const auto di = decode<ct::inner>(bi.span());
  BOOST_TEST_REQUIRE(di.has_value());
  BOOST_TEST(copied_bytes() - before == 5U + 2U * 4U);

  const ct::pod p{1, 2.0};
  const ct::buffer bp = ct::encoded(p);
  before = copied_bytes();
  const auto dp = decode<ct::pod>(bp.span());
  BOOST_TEST_REQUIRE(dp.has_value());
  BOOST_TEST(copied_bytes() - before == sizeof(ct::pod));

  // A failed decode copies nothing.
  before = copied_bytes();
  BOOST_TEST(!decode<ct::small>(b.span().first(b.size() - 1)).has_value());
  BOOST_TEST(copied_bytes() == before);
}

BOOST_AUTO_TEST_CASE(view_over_the_bytes_of_a_mebibyte_struct_copies_nothing) {
  const auto big = std::make_unique<mebibyte>();
  for (std::size_t i = 0; i < big->words.size(); i += 4096)
    big->words[i] = static_cast<std::uint32_t>(i);
  const ct::buffer b = ct::encoded(*big);
  const std::uint64_t before = copied_bytes();
  const view<mebibyte> v{b.span(), b.owner()};
  BOOST_TEST(v.over_bytes());
  BOOST_TEST(static_cast<const void*>(&v.get()) == static_cast<const void*>(b.data()));
  BOOST_TEST(static_cast<const void*>(&v->words[8192]) ==
             static_cast<const void*>(b.data() + 8192 * 4));
  BOOST_TEST(v->words[4096 * 3] == 4096U * 3);
  const auto made = make_view<mebibyte>(b.span(), b.owner());
  BOOST_TEST_REQUIRE(made.has_value());
  BOOST_TEST(static_cast<const void*>(&(*made).get()) == static_cast<const void*>(b.data()));
  BOOST_TEST(copied_bytes() == before);
}

BOOST_AUTO_TEST_CASE(view_of_a_trivially_copyable_message_to_owned_is_counted_over_bytes) {
  const ct::pod p{5, 6.5};
  const ct::buffer b = ct::encoded(p);
  const view<ct::pod> over_bytes{b.span()};
  const view<ct::pod> over_object{p};
  BOOST_TEST(!over_object.over_bytes());
  BOOST_TEST(&over_object.get() == &p);
  std::uint64_t before = copied_bytes();
  BOOST_TEST((over_object.to_owned() == p));
  BOOST_TEST(copied_bytes() == before);
  BOOST_TEST((over_bytes.to_owned() == p));
  BOOST_TEST(copied_bytes() - before == sizeof(ct::pod));
  BOOST_TEST(over_bytes->a == 5);
  BOOST_TEST((*over_bytes).b == 6.5);
}

BOOST_AUTO_TEST_CASE(view_over_bytes_points_into_the_buffer_and_copies_nothing) {
  const ct::everything e = ct::sample_everything();
  const ct::buffer b = ct::encoded(e);
  const std::span<const std::byte> bytes = b.span();
  const std::uint64_t before = copied_bytes();
  const view<ct::everything> v{bytes};
  BOOST_TEST(v.over_bytes());
  BOOST_TEST(ct::inside(bytes, &v.get<"i64">(), sizeof(std::int64_t)));
  BOOST_TEST(ct::inside(bytes, &v.get<"raw">(), sizeof(ct::pod)));
  const std::string_view text = v.get<"text">();
  BOOST_TEST(text == e.text);
  BOOST_TEST(ct::inside(bytes, text.data(), text.size()));
  const std::span<const ct::point> points = v.get<"points">();
  BOOST_TEST(points.size() == e.points.size());
  BOOST_TEST(ct::inside(bytes, points.data(), points.size_bytes()));
  BOOST_TEST((points[1] == e.points[1]));
  const std::span<const ct::wide> wides = v.get<"wides">();
  BOOST_TEST(reinterpret_cast<std::uintptr_t>(wides.data()) % alignof(ct::wide) == 0U);
  BOOST_TEST((wides[0] == e.wides[0]));
  const view<ct::inner> nested = v.get<"nested">();
  BOOST_TEST(nested.over_bytes());
  BOOST_TEST(ct::inside(bytes, nested.get<"label">().data(), 4));
  const std::span<const std::int32_t> numbers = nested.get<"numbers">();
  BOOST_TEST(ct::inside(bytes, numbers.data(), numbers.size_bytes()));
  for (const std::string_view tag : v.get<"tags">())
    BOOST_TEST(ct::inside(bytes, tag.data(), tag.size()));
  for (const view<ct::inner> child : v.get<"children">()) {
    BOOST_TEST(child.over_bytes());
    BOOST_TEST(ct::inside(bytes, child.get<"label">().data(), child.get<"label">().size()));
  }
  const std::span<const std::int32_t> row = v.get<"grid">()[2];
  BOOST_TEST_REQUIRE(row.size() == 1U);
  BOOST_TEST(ct::inside(bytes, row.data(), sizeof(std::int32_t)));
  BOOST_TEST(row[0] == 4);
  BOOST_TEST(copied_bytes() == before);

  // to_owned copies, and counts what it copies.
  const auto owned_nested = nested.to_owned();
  BOOST_TEST((owned_nested == e.nested));
  BOOST_TEST(copied_bytes() - before == e.nested.label.size() + 3 * sizeof(std::int32_t));
}

BOOST_AUTO_TEST_CASE(view_over_an_object_and_over_its_bytes_agree) {
  const ct::everything e = ct::sample_everything();
  const ct::buffer b = ct::encoded(e);
  const view<ct::everything> over_object{e};
  const view<ct::everything> over_bytes{b.span()};
  BOOST_TEST(!over_object.over_bytes());
  BOOST_TEST(over_bytes.over_bytes());
  check_same(over_object, over_bytes);
  BOOST_TEST((over_object.to_owned() == e));
  BOOST_TEST((over_bytes.to_owned() == e));
  // Over an object, members are the object's own.
  BOOST_TEST(&over_object.get<"i64">() == &e.i64);
  BOOST_TEST(over_object.get<"text">().data() == e.text.data());
  BOOST_TEST(over_object.get<"points">().data() == e.points.data());
  BOOST_TEST(over_object.get<"tags">()[1].data() == e.tags[1].data());

  const ct::everything empty{};
  const ct::buffer be = ct::encoded(empty);
  check_same(view<ct::everything>{empty}, view<ct::everything>{be.span()});
}

BOOST_AUTO_TEST_CASE(view_of_c_arrays_agrees_over_object_and_bytes) {
  const ct::adapted a{443, "abcde", {"x", "yz"}};
  const ct::buffer b = ct::encoded(a);
  const view<ct::adapted> vo{a};
  const view<ct::adapted> vb{b.span()};
  BOOST_TEST(vo.get<"port">() == vb.get<"port">());
  BOOST_TEST(std::string_view(vo.get<"host">()) == "abcde");
  BOOST_TEST(std::string_view(vb.get<"host">()) == "abcde");
  BOOST_TEST(ct::inside(b.span(), &vb.get<"host">(), 6));
  BOOST_TEST(vb.get<"names">().size() == 2U);
  BOOST_TEST(vb.get<"names">()[1] == "yz");
  BOOST_TEST(vo.get<"names">()[1] == "yz");
}

BOOST_AUTO_TEST_CASE(get_by_index_and_by_name_agree) {
  const ct::small s{9, "name", {4, 5}, true};
  const ct::buffer b = ct::encoded(s);
  const view<ct::small> v{b.span()};
  BOOST_TEST(&v.get<0>() == &v.get<"tag">());
  BOOST_TEST(v.get<1>().data() == v.get<"name">().data());
  BOOST_TEST(v.get<2>().data() == v.get<"values">().data());
  BOOST_TEST(&v.get<3>() == &v.get<"flag">());
  BOOST_TEST(v.get<"name">() == "name");
  BOOST_TEST(v.get<"values">()[1] == 5U);
}

BOOST_AUTO_TEST_CASE(views_are_cheap_copies_that_keep_the_buffer_alive) {
  const ct::everything e = ct::sample_everything();
  std::optional<view<ct::everything>> v;
  std::optional<view<ct::inner>> nested;
  {
    const ct::buffer b = ct::encoded(e);
    v.emplace(b.span(), b.owner());
    nested.emplace(v->get<"nested">());
  }  // the buffer object is gone; the views hold the storage
  const view<ct::everything> copy = *v;
  v.reset();
  BOOST_TEST(copy.get<"text">() == e.text);
  BOOST_TEST(nested->get<"label">() == e.nested.label);
  BOOST_TEST((copy.to_owned() == e));
}

BOOST_AUTO_TEST_CASE(view_over_bytes_that_do_not_validate_is_refused) {
  const ct::small s{1, "x", {}, false};
  const ct::buffer b = ct::encoded(s);
  const std::span<const std::byte> cut = b.span().first(b.size() - 1);
  BOOST_CHECK_THROW(view<ct::small>{cut}, std::invalid_argument);
  BOOST_CHECK_THROW(view<ct::pod>{cut}, std::invalid_argument);
  const auto made = make_view<ct::small>(cut);
  BOOST_TEST_REQUIRE(!made.has_value());
  BOOST_TEST((made.error() == nodus::errc::malformed_frame));
  const auto good = make_view<ct::small>(b.span());
  BOOST_TEST_REQUIRE(good.has_value());
  BOOST_TEST((*good).get<"name">() == "x");
}

BOOST_AUTO_TEST_SUITE_END()

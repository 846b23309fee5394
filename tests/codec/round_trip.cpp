// Round trips through encode / decode / view, and the pinned wire layout.
#include "common.hpp"

#include <nodus/codec/etf/term.hpp>
#include <nodus/message/schema.hpp>

#include <boost/test/unit_test.hpp>

#include <array>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace {

struct holder {
  BOOST_HANA_DEFINE_STRUCT(holder, (std::uint8_t, b), (std::vector<ct::wide>, wides));
};
struct wides_only {
  BOOST_HANA_DEFINE_STRUCT(wides_only, (std::vector<ct::wide>, wides));
};

using nodus::codec::decode;
using nodus::codec::encode;
using nodus::codec::encoded_size;
using nodus::codec::gather_list;
using nodus::codec::validate;
using nodus::codec::view;

// Encodes value, checks the size and the checks, decodes it and returns the decoded value.
template <class T>
T round_trip(const T& value) {
  gather_list gl;
  encode(value, gl);
  BOOST_TEST(gl.size == encoded_size(value));
  const ct::buffer b = ct::flatten(gl);
  BOOST_TEST(validate<T>(b.span()).has_value());
  auto decoded = decode<T>(b.span());
  BOOST_TEST_REQUIRE(decoded.has_value(), decoded.error().message());
  return std::move(decoded).value();
}

// A trivially copyable value: one piece, its own bytes, and the same value back.
template <class T>
void check_trivial(const T& value) {
  gather_list gl;
  encode(value, gl);
  BOOST_TEST_REQUIRE(gl.parts.size() == 1U);
  BOOST_TEST(gl.size == sizeof(T));
  BOOST_TEST(static_cast<const void*>(gl.parts[0].data()) == static_cast<const void*>(&value));
  const ct::buffer b = ct::flatten(gl);
  BOOST_TEST(std::memcmp(b.data(), &value, sizeof(T)) == 0);
  const auto decoded = decode<T>(b.span());
  BOOST_TEST_REQUIRE(decoded.has_value(), decoded.error().message());
  BOOST_TEST((*decoded == value));
  const view<T> v{b.span()};
  BOOST_TEST((v.get() == value));
  BOOST_TEST(static_cast<const void*>(&v.get()) == static_cast<const void*>(b.data()));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(round_trip_suite)

BOOST_AUTO_TEST_CASE(trivially_copyable_messages_travel_as_their_bytes) {
  check_trivial(std::int32_t{-42});
  check_trivial(std::numeric_limits<std::uint64_t>::max());
  check_trivial(3.25);
  check_trivial(true);
  check_trivial(false);
  check_trivial(ct::color::green);
  check_trivial(ct::pod{-1, 0.5});
  check_trivial(ct::point{3, -4});
  check_trivial(ct::flags{7, true, {false, true, false}});
  check_trivial(ct::wide{0x0102030405060708ULL, ~0ULL});
  check_trivial(std::array<std::int16_t, 3>{1, -2, 3});
}

BOOST_AUTO_TEST_CASE(reflected_struct_with_every_kind_of_member_round_trips) {
  const ct::everything e = ct::sample_everything();
  BOOST_TEST((round_trip(e) == e));
}

BOOST_AUTO_TEST_CASE(empty_strings_and_vectors_round_trip) {
  const ct::everything e{};  // every string and vector empty
  BOOST_TEST((round_trip(e) == e));
  const ct::small s{};
  BOOST_TEST((round_trip(s) == s));
  const ct::words w{{"", "", ""}};
  BOOST_TEST((round_trip(w) == w));
  const ct::words none{};
  BOOST_TEST((round_trip(none) == none));
}

BOOST_AUTO_TEST_CASE(a_struct_without_reflected_members_encodes_to_nothing) {
  const ct::nothing_visible n{};
  gather_list gl;
  encode(n, gl);
  BOOST_TEST(gl.size == 0U);
  BOOST_TEST(gl.parts.empty());
  BOOST_TEST(validate<ct::nothing_visible>({}).has_value());
  BOOST_TEST(decode<ct::nothing_visible>({}).has_value());
  BOOST_TEST(view<ct::nothing_visible>{std::span<const std::byte>{}}.to_owned().hidden.empty());
  const ct::buffer one(1);
  BOOST_TEST(!validate<ct::nothing_visible>(one.span()).has_value());
}

BOOST_AUTO_TEST_CASE(adapted_struct_with_c_arrays_round_trips) {
  const ct::adapted a{8080, "host5", {"first", "second"}};
  BOOST_TEST((round_trip(a) == a));
  // port (2) + host (6) + two strings (8 + 5, pad 3, 8 + 6)
  BOOST_TEST(encoded_size(a) == 2U + 6U + 8U + 5U + 3U + 8U + 6U);
}

BOOST_AUTO_TEST_CASE(long_strings_and_vectors_round_trip) {
  ct::inner big;
  big.label.assign(100000, 'x');
  big.numbers.resize(50000);
  for (std::size_t i = 0; i < big.numbers.size(); ++i)
    big.numbers[i] = static_cast<std::int32_t>(i * 7);
  BOOST_TEST((round_trip(big) == big));
}

BOOST_AUTO_TEST_CASE(wire_layout_of_a_small_struct_is_pinned) {
  const ct::small s{0xAB, "hi", {1, 0x0203}, true};
  const std::vector<std::uint8_t> expected = {
      0xAB,                                // tag: u8 at 0
      0,    0,    0,    0,    0, 0, 0,     // pad to 8
      2,    0,    0,    0,    0, 0, 0, 0,  // name: u64 length 2 (little-endian)
      'h',  'i',                           // the chars, no terminator
      0,    0,    0,    0,    0, 0,        // pad to 24
      2,    0,    0,    0,    0, 0, 0, 0,  // values: u64 count 2
      0x01, 0x00, 0x03, 0x02,              // two u16, little-endian (already 2-aligned)
      0x01,                                // flag: bool true
  };
  BOOST_TEST(ct::encoded(s).to_vector() == expected, boost::test_tools::per_element());
  BOOST_TEST(encoded_size(s) == expected.size());
}

BOOST_AUTO_TEST_CASE(vector_elements_are_aligned_to_their_own_alignment) {
  // count at 0..8, zero padding to 16 (alignof(wide)), one wide at 16..32.
  const std::vector<std::uint8_t> alone = ct::encoded(wides_only{{{5, 6}}}).to_vector();
  BOOST_TEST_REQUIRE(alone.size() == 32U);
  BOOST_TEST(alone[0] == 1U);
  for (std::size_t i = 8; i < 16; ++i) BOOST_TEST(alone[i] == 0U);
  BOOST_TEST(alone[16] == 5U);
  BOOST_TEST(alone[24] == 6U);
  // b at 0, padding to 8, count at 8..16 (already 16-aligned after it), one wide at 16..32.
  const std::vector<std::uint8_t> after = ct::encoded(holder{1, {{5, 6}}}).to_vector();
  BOOST_TEST_REQUIRE(after.size() == 32U);
  BOOST_TEST(after[8] == 1U);
  BOOST_TEST(after[16] == 5U);
  BOOST_TEST(after[24] == 6U);
}

BOOST_AUTO_TEST_CASE(messages_appended_to_one_list_align_from_their_own_start) {
  const ct::small first{1, "abc", {7}, false};
  const ct::small second{2, "de", {8, 9}, true};
  gather_list gl;
  encode(first, gl);
  const std::size_t first_size = gl.size;
  encode(second, gl);
  const std::vector<std::uint8_t> all = ct::flatten(gl).to_vector();
  std::vector<std::uint8_t> expected = ct::encoded(first).to_vector();
  const std::vector<std::uint8_t> tail = ct::encoded(second).to_vector();
  expected.insert(expected.end(), tail.begin(), tail.end());
  BOOST_TEST(all == expected, boost::test_tools::per_element());
  BOOST_TEST(first_size == encoded_size(first));
}

BOOST_AUTO_TEST_CASE(clear_makes_a_list_reusable) {
  const ct::small s{3, "reuse", {1, 2, 3}, true};
  const ct::everything e = ct::sample_everything();
  gather_list gl;
  encode(e, gl);
  BOOST_TEST(gl.size == encoded_size(e));
  gl.clear();
  BOOST_TEST(gl.size == 0U);
  BOOST_TEST(gl.parts.empty());
  encode(s, gl);
  BOOST_TEST(ct::flatten(gl).to_vector() == ct::encoded(s).to_vector());
}

BOOST_AUTO_TEST_CASE(a_moved_gather_list_keeps_its_pieces_valid) {
  ct::words w;
  for (int i = 0; i < 100; ++i) w.list.push_back(std::to_string(i));  // 101 lengths: 4 chunks
  gather_list gl;
  encode(w, gl);
  const std::vector<std::uint8_t> before = ct::flatten(gl).to_vector();
  gather_list moved = std::move(gl);
  BOOST_TEST(ct::flatten(moved).to_vector() == before);
  const auto decoded = decode<ct::words>(ct::flatten(moved).span());
  BOOST_TEST_REQUIRE(decoded.has_value());
  BOOST_TEST((*decoded == w));
}

BOOST_AUTO_TEST_SUITE_END()

// Erlang atoms and pids in native frames: an atom travels as its text, a pid as its node's text
// and its three numbers, so a message type can carry a BEAM process's pid between nodus nodes.
namespace {
struct with_beam_ids {
  BOOST_HANA_DEFINE_STRUCT(with_beam_ids, (nodus::etf::pid, who), (nodus::etf::atom, topic),
                           (std::vector<nodus::etf::atom>, tags), (std::uint32_t, after));
};
}  // namespace

BOOST_AUTO_TEST_CASE(atoms_and_pids_round_trip_in_native_frames) {
  namespace etf = nodus::etf;
  const with_beam_ids m{{etf::atom("e1@127.0.0.1"), 93, 0, 1733490000},
                        etf::atom("news"),
                        {etf::atom(""), etf::atom("Elixir.SimpleCluster.Ping"), etf::atom("été")},
                        7};
  const ct::buffer b = ct::encoded(m);
  auto back = nodus::codec::decode<with_beam_ids>(b.span());
  BOOST_REQUIRE_MESSAGE(back.has_value(), back.error().message());
  BOOST_TEST((back->who == m.who));
  BOOST_TEST((back->topic == m.topic));
  BOOST_TEST((back->tags == m.tags));
  BOOST_TEST(back->after == 7u);
  // A view reads an atom as its text, without a copy.
  auto v = nodus::codec::make_view<with_beam_ids>(b.span()).value();
  BOOST_TEST(v.get<"topic">() == "news");
  // Protocols tell an atom from a string (a peer with std::string there is another protocol).
  BOOST_TEST(nodus::schema_text<with_beam_ids>().find("atom") != std::string_view::npos);
}

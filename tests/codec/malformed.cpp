// Bad input: truncations, lying lengths and counts, trailing bytes, misaligned buffers, bad
// padding and bools, and a seeded random-mutation loop. Checked under ASan + UBSan as well.
#include "common.hpp"

#include <nodus/codec/etf/term.hpp>
#include <nodus/message/schema.hpp>

#include "../common/alloc_probe.hpp"

#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

using nodus::errc;
using nodus::codec::decode;
using nodus::codec::encode;
using nodus::codec::gather_list;
using nodus::codec::make_view;
using nodus::codec::validate;

constexpr std::uint64_t u64_max = std::numeric_limits<std::uint64_t>::max();

// Checks that validate, decode and make_view all reject bytes with malformed_frame, and returns
// the reason validate gives.
template <class T>
std::string rejected(std::span<const std::byte> bytes) {
  const auto v = validate<T>(bytes);
  const auto d = decode<T>(bytes);
  const auto m = make_view<T>(bytes);
  BOOST_TEST(!v.has_value());
  BOOST_TEST(!d.has_value());
  BOOST_TEST(!m.has_value());
  BOOST_TEST((v.error() == errc::malformed_frame));
  BOOST_TEST((d.error() == errc::malformed_frame));
  BOOST_TEST((m.error() == errc::malformed_frame));
  BOOST_TEST(d.error().reason() == v.error().reason());
  BOOST_TEST(m.error().reason() == v.error().reason());
  return v.error().reason();
}

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// Every proper prefix of the encoding of value (each in an allocation of exactly its size) is
// rejected.
template <class T>
void check_truncations(const T& value) {
  const ct::buffer full = ct::encoded(value);
  BOOST_TEST_REQUIRE(validate<T>(full.span()).has_value());
  for (std::size_t n = 0; n < full.size(); ++n) {
    const ct::buffer cut = ct::copy_of(full.span().first(n));
    BOOST_TEST_CONTEXT("prefix of " << n << " of " << full.size() << " bytes") {
      const std::string reason = rejected<T>(cut.span());
      BOOST_TEST(contains(reason, nodus::type_name<T>()));
    }
  }
}

// The pinned sample of small: name length at 8, chars at 16, values count at 24, values at 32,
// flag at 36; 37 bytes.
const ct::small pinned{0xAB, "hi", {1, 0x0203}, true};

}  // namespace

BOOST_AUTO_TEST_SUITE(malformed_suite)

BOOST_AUTO_TEST_CASE(every_truncation_is_rejected) {
  check_truncations(ct::sample_everything());
  check_truncations(ct::everything{});
  check_truncations(pinned);
  check_truncations(ct::adapted{1, "abc", {"d", "efg"}});
  check_truncations(ct::words{{"a", "", "bcd"}});
  check_truncations(ct::counts{{1, 2, 3}});
  check_truncations(ct::pod{1, 2.0});
  check_truncations(ct::flags{1, true, {true, true, false}});
  check_truncations(ct::wide{1, 2});
}

BOOST_AUTO_TEST_CASE(reasons_name_the_type_the_member_and_the_fault) {
  const ct::buffer b = ct::encoded(pinned);
  BOOST_TEST_REQUIRE(b.size() == 37U);

  const std::string cut = rejected<ct::small>(b.span().first(17));
  BOOST_TEST(contains(cut, "ct::small"));
  BOOST_TEST(contains(cut, "member 'name'"));

  ct::buffer m = ct::copy_of(b.span());
  ct::put_u64(m.writable(), 8, u64_max);
  const std::string huge = rejected<ct::small>(m.span());
  BOOST_TEST(contains(huge, "member 'name'"));
  BOOST_TEST(contains(huge, "string length 18446744073709551615 at offset 8"));
}

BOOST_AUTO_TEST_CASE(string_lengths_past_the_end_are_rejected) {
  const ct::buffer b = ct::encoded(pinned);
  // After the length (which ends at 16) there are 21 bytes.
  for (const std::uint64_t length :
       {u64_max, u64_max - 15, std::uint64_t{1} << 63, std::uint64_t{22}, std::uint64_t{1000}}) {
    ct::buffer m = ct::copy_of(b.span());
    ct::put_u64(m.writable(), 8, length);
    BOOST_TEST_CONTEXT("length " << length) {
      BOOST_TEST(contains(rejected<ct::small>(m.span()), "string length"));
    }
  }
  // A length that fits but swallows the members after it: those are then missing.
  ct::buffer m = ct::copy_of(b.span());
  ct::put_u64(m.writable(), 8, 21);
  BOOST_TEST(contains(rejected<ct::small>(m.span()), "truncated"));
}

BOOST_AUTO_TEST_CASE(element_counts_past_the_end_are_rejected) {
  const ct::buffer b = ct::encoded(pinned);
  // values: count at 24, then 5 bytes (two u16 and the flag): at most 2 elements fit.
  for (const std::uint64_t count : {u64_max, (std::uint64_t{1} << 63) + 1, std::uint64_t{3}}) {
    ct::buffer m = ct::copy_of(b.span());
    ct::put_u64(m.writable(), 24, count);
    BOOST_TEST_CONTEXT("count " << count) {
      const std::string reason = rejected<ct::small>(m.span());
      BOOST_TEST(contains(reason, "element count"));
      BOOST_TEST(contains(reason, "member 'values'"));
    }
  }
}

BOOST_AUTO_TEST_CASE(count_times_size_overflow_is_rejected) {
  // 2^61 + 1 eight-byte elements: count * 8 wraps around to 8, which is exactly what follows.
  const ct::buffer b = ct::encoded(ct::counts{{42}});
  BOOST_TEST_REQUIRE(b.size() == 16U);
  ct::buffer m = ct::copy_of(b.span());
  ct::put_u64(m.writable(), 0, (std::uint64_t{1} << 61) + 1);
  BOOST_TEST(contains(rejected<ct::counts>(m.span()), "element count"));
}

BOOST_AUTO_TEST_CASE(huge_counts_are_rejected_before_any_large_allocation) {
  // words: a count of 2^40 strings with nothing behind it.
  ct::buffer w(8);
  ct::put_u64(w.writable(), 0, std::uint64_t{1} << 40);
  // counts: 2^61 + 1 elements (count * 8 overflows).
  ct::buffer c(16);
  ct::put_u64(c.writable(), 0, (std::uint64_t{1} << 61) + 1);
  // small: a string of u64 max chars.
  ct::buffer s = ct::copy_of(ct::encoded(pinned).span());
  ct::put_u64(s.writable(), 8, u64_max);
  // words: 1000 strings announced, one there.
  ct::buffer one = ct::encoded(ct::words{{"only"}});
  ct::put_u64(one.writable(), 0, 1000);

  probe::scope probe;
  BOOST_TEST(!decode<ct::words>(w.span()).has_value());
  BOOST_TEST(!decode<ct::counts>(c.span()).has_value());
  BOOST_TEST(!decode<ct::small>(s.span()).has_value());
  BOOST_TEST(!decode<ct::words>(one.span()).has_value());
  BOOST_TEST(!make_view<ct::words>(one.span()).has_value());
  // Only the reason texts were allocated.
  BOOST_TEST(probe.largest_allocation() < 1024U);
}

BOOST_AUTO_TEST_CASE(trailing_bytes_are_rejected) {
  const ct::buffer b = ct::encoded(pinned);
  ct::buffer longer(b.size() + 1);
  std::memcpy(longer.data(), b.data(), b.size());
  const std::string reason = rejected<ct::small>(longer.span());
  BOOST_TEST(contains(reason, "1 trailing bytes"));
  BOOST_TEST(!contains(reason, "member"));

  const ct::buffer p = ct::encoded(ct::pod{1, 2.0});
  ct::buffer pod_longer(p.size() + 8);
  std::memcpy(pod_longer.data(), p.data(), p.size());
  BOOST_TEST(contains(rejected<ct::pod>(pod_longer.span()), "8 trailing bytes"));
}

BOOST_AUTO_TEST_CASE(misaligned_buffers_are_rejected) {
  const ct::everything e = ct::sample_everything();  // holds 16-aligned wides
  for (const std::size_t offset : {1U, 2U, 4U, 8U}) {
    const ct::buffer b = ct::encoded(e, offset);
    BOOST_TEST_CONTEXT("offset " << offset) {
      BOOST_TEST(contains(rejected<ct::everything>(b.span()), "not aligned to 16 bytes"));
    }
  }
  // small needs 8-byte alignment only (its u64 lengths).
  BOOST_TEST(validate<ct::small>(ct::encoded(pinned, 8).span()).has_value());
  BOOST_TEST(contains(rejected<ct::small>(ct::encoded(pinned, 4).span()), "not aligned to 8"));
  BOOST_TEST(contains(rejected<ct::pod>(ct::encoded(ct::pod{1, 2.0}, 4).span()), "not aligned"));
}

BOOST_AUTO_TEST_CASE(nonzero_padding_is_rejected) {
  ct::buffer b = ct::encoded(pinned);
  b.data()[3] = std::byte{1};  // between tag (at 0) and the name's length (at 8)
  BOOST_TEST(contains(rejected<ct::small>(b.span()), "padding byte at offset 3"));
}

BOOST_AUTO_TEST_CASE(bools_other_than_0_and_1_are_rejected) {
  ct::buffer b = ct::encoded(pinned);
  b.data()[36] = std::byte{2};
  BOOST_TEST(contains(rejected<ct::small>(b.span()), "bool at offset 36 holds 2"));

  // Inside a reflected trivially copyable struct (flags: level at 0, on at 1, bits at 2..4).
  ct::buffer f = ct::encoded(ct::flags{1, true, {false, false, false}});
  f.data()[3] = std::byte{0xFF};
  BOOST_TEST(contains(rejected<ct::flags>(f.span()), "bool at offset 3 holds 255"));
  ct::buffer g = ct::encoded(ct::flags{1, true, {false, false, false}});
  g.data()[1] = std::byte{7};
  BOOST_TEST(contains(rejected<ct::flags>(g.span()), "bool at offset 1 holds 7"));

  // A bool message.
  ct::buffer t = ct::encoded(true);
  t.data()[0] = std::byte{3};
  BOOST_TEST(contains(rejected<bool>(t.span()), "bool at offset 0"));

  // In the elements of a vector of trivially copyable structs.
  const ct::everything e = ct::sample_everything();
  ct::buffer v = ct::encoded(e);
  const ct::buffer original = ct::copy_of(v.span());
  const auto fl = nodus::codec::view<ct::everything>{original.span()}.get<"flag_list">();
  const auto* second_on = reinterpret_cast<const std::byte*>(&fl[1].on);
  const auto at = static_cast<std::size_t>(second_on - original.data());
  v.data()[at] = std::byte{2};
  BOOST_TEST(contains(rejected<ct::everything>(v.span()), "member 'flag_list'"));
}

BOOST_AUTO_TEST_CASE(empty_input_is_rejected_unless_the_message_is_empty) {
  BOOST_TEST(contains(rejected<ct::small>({}), "truncated"));
  BOOST_TEST(contains(rejected<ct::pod>({}), "truncated"));
}

BOOST_AUTO_TEST_CASE(random_mutations_never_crash_and_accepted_bytes_are_canonical) {
  // Seeded and bounded: the same 20000 mutations on every run.
  std::mt19937_64 rng(0x6e6f647573ULL);
  struct sample {
    std::vector<std::byte> bytes;
    int type;  // 0 everything, 1 small, 2 adapted, 3 words, 4 counts
  };
  std::vector<sample> samples;
  const auto add = [&](const auto& value, int type) {
    const ct::buffer b = ct::encoded(value);
    samples.push_back({std::vector<std::byte>(b.data(), b.data() + b.size()), type});
  };
  add(ct::sample_everything(), 0);
  add(ct::everything{}, 0);
  add(pinned, 1);
  add(ct::adapted{7, "abcde", {"first", ""}}, 2);
  add(ct::words{{"a", "bb", "", "dddd"}}, 3);
  add(ct::counts{{1, 2, 3, 4}}, 4);

  const auto interesting = [&](std::size_t size) -> std::uint64_t {
    const std::uint64_t values[] = {0,
                                    1,
                                    2,
                                    7,
                                    8,
                                    size,
                                    size - 1,
                                    size + 1,
                                    size / 2,
                                    std::uint64_t{1} << 32,
                                    (std::uint64_t{1} << 61) + 1,
                                    std::uint64_t{1} << 63,
                                    u64_max,
                                    u64_max - 7};
    return values[rng() % std::size(values)];
  };

  std::size_t accepted = 0;
  std::size_t rejected_count = 0;
  std::size_t disagreements = 0;
  std::size_t not_canonical = 0;
  constexpr int iterations = 20000;
  for (int iteration = 0; iteration < iterations; ++iteration) {
    const sample& s = samples[rng() % samples.size()];
    std::vector<std::byte> m = s.bytes;
    const int mutations = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < mutations; ++k) {
      switch (rng() % 5) {
        case 0:  // a random byte
          if (!m.empty()) m[rng() % m.size()] = static_cast<std::byte>(rng());
          break;
        case 1:  // a flipped bit
          if (!m.empty()) m[rng() % m.size()] ^= static_cast<std::byte>(1U << (rng() % 8));
          break;
        case 2:  // an interesting u64 where lengths and counts live
          if (m.size() >= 8) {
            const std::size_t at = (rng() % (m.size() / 8)) * 8;
            const std::uint64_t v = interesting(m.size());
            std::memcpy(m.data() + at, &v, sizeof v);
          }
          break;
        case 3:  // cut
          m.resize(m.empty() ? 0 : rng() % m.size());
          break;
        default: {  // extend (two draws, in a fixed order on every compiler)
          const std::size_t extra = 1 + rng() % 16;
          const auto fill = static_cast<std::byte>(rng() % 2);
          m.resize(m.size() + extra, fill);
          break;
        }
      }
    }
    const ct::buffer b = ct::copy_of(m);
    const auto check = [&](auto tag) {
      using T = typename decltype(tag)::type;
      const auto v = validate<T>(b.span());
      const auto d = decode<T>(b.span());
      const auto mv = make_view<T>(b.span(), b.owner());
      if (v.has_value() != d.has_value() || v.has_value() != mv.has_value()) ++disagreements;
      if (!v.has_value()) {
        ++rejected_count;
        if (!(v.error() == errc::malformed_frame) || v.error().reason().empty()) ++disagreements;
        return;
      }
      ++accepted;
      // Accepted bytes are the one encoding of what they decode to (zero padding, exact
      // lengths), through decode and through the view.
      if (!d.has_value() || !mv.has_value()) return;
      if (ct::encoded(*d).to_vector() != b.to_vector()) ++not_canonical;
      const T owned = (*mv).to_owned();
      if (ct::encoded(owned).to_vector() != b.to_vector()) ++not_canonical;
    };
    switch (s.type) {
      case 0: check(std::type_identity<ct::everything>{}); break;
      case 1: check(std::type_identity<ct::small>{}); break;
      case 2: check(std::type_identity<ct::adapted>{}); break;
      case 3: check(std::type_identity<ct::words>{}); break;
      default: check(std::type_identity<ct::counts>{}); break;
    }
  }
  BOOST_TEST_MESSAGE("random mutations: " << accepted << " accepted, " << rejected_count
                                          << " rejected");
  BOOST_TEST(disagreements == 0U);
  BOOST_TEST(not_canonical == 0U);
  BOOST_TEST(accepted + rejected_count == static_cast<std::size_t>(iterations));
  BOOST_TEST(accepted > 100U);  // the loop reaches the decoders, not only the first check
  BOOST_TEST(rejected_count > 100U);
}

BOOST_AUTO_TEST_SUITE_END()

// An atom's text from a peer is checked as Erlang checks one: valid UTF-8, at most 255
// characters; anything else is refused with the member named.
namespace {
struct named_atom {
  BOOST_HANA_DEFINE_STRUCT(named_atom, (nodus::etf::atom, name));
};
}  // namespace

BOOST_AUTO_TEST_CASE(atom_text_that_is_not_an_atom_is_rejected) {
  for (const std::string& text :
       {std::string("\xff\xfe"), std::string("a\xc3"), std::string(256, 'x')}) {
    ct::buffer b(8 + text.size());
    ct::put_u64(b.writable(), 0, text.size());
    std::memcpy(b.data() + 8, text.data(), text.size());
    const std::string reason = rejected<named_atom>(b.span());
    BOOST_TEST(contains(reason, "member 'name'"), reason);
    BOOST_TEST(contains(reason, "an atom"), reason);
  }
  // 255 characters of two bytes each is still an atom.
  std::string ok;
  for (int i = 0; i < 255; ++i) ok += "\xc3\xa9";
  ct::buffer b(8 + ok.size());
  ct::put_u64(b.writable(), 0, ok.size());
  std::memcpy(b.data() + 8, ok.data(), ok.size());
  auto back = nodus::codec::decode<named_atom>(b.span());
  BOOST_REQUIRE(back.has_value());
  BOOST_TEST(back->name.str() == ok);
}

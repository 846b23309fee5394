// Bad input: every truncation of a corpus of valid terms, lying lengths (with an allocation
// probe), unknown and refused tags, nesting and decompression bombs, atoms that are not UTF-8 or
// too long, and a seeded random-mutation loop. Run under ASan + UBSan as well.
#include "common.hpp"

#include "../common/alloc_probe.hpp"

#include <zlib.h>

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

using etf_test::a;
using etf_test::b;
using etf_test::bytes;
using etf_test::cat;
using etf_test::encoded;
using etf_test::to_list;
using nodus::errc;
using nodus::etf::atom;
using nodus::etf::decode;
using nodus::etf::decode_options;
using nodus::etf::decode_prefix;
using nodus::etf::term;

// Checks that decode and decode_prefix refuse bytes with malformed_frame; returns the reason.
// Builds no message unless a check fails: an allocation probe may be watching.
std::string refused(const bytes& input, const decode_options& options = {}) {
  const auto d = decode(input, options);
  const auto p = decode_prefix(input, options);
  if (d.has_value() || p.has_value()) {
    BOOST_ERROR("decoded, but should be refused: " << to_list(input));
    return "(decoded)";
  }
  BOOST_TEST((d.error() == errc::malformed_frame));
  BOOST_TEST(d.error().reason().rfind("etf: offset ", 0) == 0u);
  return d.error().reason();
}

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// A term with every kind in it, encoded as nodus writes it.
term every_kind() {
  std::vector<term> many(300, term(7));
  return term::tuple({1, -1, 300, std::int64_t{1} << 40, term(std::uint64_t(-1)), 1.5, a("ok"),
                      a("\xce\xb1"), term::tuple(std::move(many)), term::list({1, 2}, a("t")),
                      term::list({97, 98}), term::list({1000}), term::binary("bin"),
                      term(nodus::etf::bit_binary{{std::byte{1}, std::byte{0x80}}, 1}),
                      term::map({{a("k"), term::list({a("v")})}, {2, term::nil()}}),
                      term(nodus::etf::pid{atom("n@h"), 1, 2, 3}),
                      term(nodus::etf::reference{atom("n@h"), 4, 3, {5, 6, 7, 0, 0}}),
                      term(nodus::etf::port{atom("n@h"), std::uint64_t{1} << 33, 1})});
}

// Valid encodings: each of them, cut anywhere, must be refused.
std::vector<bytes> corpus() {
  std::vector<bytes> c;
  c.push_back(encoded(every_kind()));
  c.push_back(b({131, 113, 119, 5, 'l', 'i', 's', 't', 's', 119, 3, 'm', 'a', 'p', 97, 2}));
  c.push_back(b({131, 103, 100, 0, 3, 'n', '@', 'h', 0, 0, 0, 1, 0, 0, 0, 2, 3}));
  c.push_back(b({131, 101, 115, 3, 'n', '@', 'h', 0, 0, 0, 1, 2}));
  c.push_back(b({131, 114, 0, 2, 115, 3, 'n', '@', 'h', 2, 0, 0, 0, 1, 0, 0, 0, 2}));
  c.push_back(b({131, 102, 100, 0, 3, 'n', '@', 'h', 0, 0, 0, 1, 2}));
  bytes old_float = b({131, 99, '1', '.', '5'});
  old_float.resize(2 + 31);
  c.push_back(old_float);
  c.push_back(b({131, 80, 0,  0,  2,  94, 120, 156, 203, 97, 96, 96, 72,  73,  97, 96,
                 78,  76, 74, 30, 37, 71, 73,  234, 146, 89, 0,  81, 160, 156, 79}));
  return c;
}

// term_to_binary(T, [compressed]) done here: 131, 80, size, zlib of the uncompressed term.
bytes compress_term(const bytes& plain_with_version, std::uint32_t declared) {
  const bytes plain(plain_with_version.begin() + 1, plain_with_version.end());
  uLongf size = compressBound(static_cast<uLong>(plain.size()));
  bytes z(size);
  const int rc = compress2(reinterpret_cast<Bytef*>(z.data()), &size,
                           reinterpret_cast<const Bytef*>(plain.data()),
                           static_cast<uLong>(plain.size()), Z_BEST_COMPRESSION);
  BOOST_REQUIRE(rc == Z_OK);
  z.resize(size);
  return cat(b({131, 80, static_cast<int>(declared >> 24), static_cast<int>((declared >> 16) & 255),
                static_cast<int>((declared >> 8) & 255), static_cast<int>(declared & 255)}),
             z);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(etf_malformed)

BOOST_AUTO_TEST_CASE(every_truncation_of_a_valid_term_is_refused) {
  std::size_t cases = 0;
  for (const bytes& whole : corpus()) {
    BOOST_REQUIRE(decode(whole).has_value());
    for (std::size_t n = 0; n < whole.size(); ++n) {
      refused(bytes(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(n)));
      ++cases;
    }
  }
  BOOST_TEST_MESSAGE(cases << " truncations refused");
  BOOST_TEST(refused({}) == "etf: offset 0: no term: the input is empty");
  BOOST_TEST(refused(b({131})) == "etf: offset 1: truncated: a term was expected, the input ends");
  BOOST_TEST(refused(b({131, 104, 2, 97, 1})) ==
             "etf: offset 5: truncated: a term was expected, the input ends");
  BOOST_TEST(refused(b({131, 98, 0, 0})) ==
             "etf: offset 1: INTEGER_EXT (98) is truncated: its value needs 4 bytes, 2 left");
}

BOOST_AUTO_TEST_CASE(lying_lengths_are_refused_before_any_allocation) {
  const std::vector<bytes> liars = {
      b({131, 108, 255, 255, 255, 255, 97, 1, 106}),      // LIST_EXT of 2^32-1 elements
      b({131, 105, 255, 255, 255, 255, 97, 1}),           // LARGE_TUPLE_EXT
      b({131, 116, 255, 255, 255, 255, 97, 1, 97, 1}),    // MAP_EXT
      b({131, 109, 255, 255, 255, 255, 1, 2, 3}),         // BINARY_EXT
      b({131, 77, 255, 255, 255, 255, 3, 1}),             // BIT_BINARY_EXT
      b({131, 111, 255, 255, 255, 255, 0, 1}),            // LARGE_BIG_EXT
      b({131, 107, 255, 255, 97}),                        // STRING_EXT
      b({131, 118, 255, 255, 'a'}),                       // ATOM_UTF8_EXT
      b({131, 104, 255, 97, 1}),                          // SMALL_TUPLE_EXT
      cat(b({131, 112, 255, 255, 255, 255}), bytes(25)),  // NEW_FUN_EXT
      b({131, 80, 255, 255, 255, 255, 120, 156}),         // COMPRESSED (over the default limit)
      b({131, 80, 0, 16, 0, 0, 120, 156, 3, 0}),          // COMPRESSED beyond deflate's 1032:1
  };
  for (const bytes& liar : liars) {
    probe::scope probe;
    const std::string reason = refused(liar);
    BOOST_TEST_INFO(reason);
    BOOST_TEST(probe.largest_allocation() < 1024u);
  }
  BOOST_TEST(refused(liars[0]) ==
             "etf: offset 1: LIST_EXT (108) of 4294967295 elements and a tail, but only 3 bytes "
             "are left");
  BOOST_TEST(refused(liars[2]) ==
             "etf: offset 1: MAP_EXT (116) of 4294967295 key-value pairs, but only 4 bytes are "
             "left");
  BOOST_TEST(contains(refused(liars[11]), "declares 1048576 bytes, more than 4 compressed bytes"));
  // A huge count that the bytes could hold as far as lengths go, but whose elements are not there.
  BOOST_TEST(refused(b({131, 104, 3, 97, 1, 97})) ==
             "etf: offset 5: SMALL_INTEGER_EXT (97) is truncated: its value needs 1 byte, 0 left");
}

BOOST_AUTO_TEST_CASE(unknown_and_refused_tags) {
  std::size_t unknown = 0;
  for (int t = 0; t < 256; ++t) {
    const auto name = nodus::etf::tag::name(static_cast<std::uint8_t>(t));
    if (!name.empty()) continue;
    ++unknown;
    BOOST_TEST(refused(b({131, t, 0, 0, 0, 0})) ==
               "etf: offset 1: unknown tag " + std::to_string(t));
  }
  BOOST_TEST(unknown == 256u - 33u);
  BOOST_TEST(
      contains(refused(b({131, 117, 0, 0, 0, 0})), "FUN_EXT (117) is the fun encoding removed"));
  BOOST_TEST(contains(refused(b({131, 121, 0, 0, 0, 0})), "LOCAL_EXT (121)"));
  BOOST_TEST(contains(refused(b({131, 104, 1, 80, 0, 0, 0, 1, 1})),
                      "offset 3: COMPRESSED (80) inside a term"));
  BOOST_TEST(contains(refused(b({131, 131, 97, 1})), "a second version byte (131)"));
  BOOST_TEST(contains(refused(b({131, 82, 0})), "but no atom cache was given"));
  const std::vector<atom> cache{atom("a")};
  BOOST_TEST(contains(refused(b({131, 82, 1}), decode_options{512, 1024, cache}),
                      "ATOM_CACHE_REF (82) to entry 1, but the atom cache has 1 entry"));
  BOOST_TEST(refused(b({131, 88, 97, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3})) ==
             "etf: offset 2: the node of NEW_PID_EXT (88) at offset 1 must be an atom, not "
             "SMALL_INTEGER_EXT (97)");
  BOOST_TEST(contains(refused(b({131, 113, 119, 1, 'm', 119, 1, 'f', 119, 1, 'a'})),
                      "the arity of EXPORT_EXT (113) at offset 1 must be a SMALL_INTEGER_EXT"));
}

BOOST_AUTO_TEST_CASE(values_a_beam_node_refuses) {
  // NaN and infinity; FLOAT_EXT text that is no number.
  BOOST_TEST(contains(refused(b({131, 70, 127, 240, 0, 0, 0, 0, 0, 0})), "NaN or an infinity"));
  BOOST_TEST(contains(refused(b({131, 70, 127, 248, 0, 0, 0, 0, 0, 1})), "NaN or an infinity"));
  bytes text = b({131, 99, '1', '.', '5', ' ', 'x'});
  text.resize(2 + 31);
  BOOST_TEST(contains(refused(text), "FLOAT_EXT (99) text is not a finite number"));
  bytes inf = b({131, 99, 'i', 'n', 'f'});
  inf.resize(2 + 31);
  refused(inf);
  refused(cat(b({131, 99}), bytes(31)));  // no text at all
  // Bit counts: 1..8 for data, 0 for none.
  BOOST_TEST(contains(refused(b({131, 77, 0, 0, 0, 1, 0, 255})), "uses 0 bits of its last byte"));
  BOOST_TEST(contains(refused(b({131, 77, 0, 0, 0, 1, 9, 255})), "(expected 1 to 8)"));
  BOOST_TEST(contains(refused(b({131, 77, 0, 0, 0, 0, 3})), "(expected 0)"));
  // A map with a key twice, small and large.
  BOOST_TEST(refused(b({131, 116, 0, 0, 0, 2, 97, 1, 97, 1, 97, 1, 97, 2})) ==
             "etf: offset 1: MAP_EXT (116) has the key 1 twice");
  bytes big_map = b({131, 116, 0, 0, 0, 40});
  for (int i = 0; i < 40; ++i) big_map = cat(big_map, b({97, i == 39 ? 17 : i, 106}));
  BOOST_TEST(contains(refused(big_map), "has the key 17 twice"));
  // References of more than 5 words.
  BOOST_TEST(contains(refused(b({131, 90, 0, 6, 119, 1, 'n', 0, 0, 0, 1})),
                      "NEWER_REFERENCE_EXT (90) of 6 ID words; a reference has at most 5"));
  // NEW_FUN_EXT whose Size does not match its fields.
  bytes fun = b({131, 112, 0, 0, 0, 0, 2});
  fun.resize(fun.size() + 16);
  fun = cat(fun, b({0,   0, 0,   1, 0, 0, 0, 0, 119, 1, 'm', 97, 4, 97, 5, 88,
                    119, 1, 'n', 0, 0, 0, 1, 0, 0,   0, 2,   0,  0, 0,  3, 106}));
  fun[5] = static_cast<std::byte>(fun.size() - 2);  // claims the trailing 106 too
  BOOST_TEST(contains(refused(fun), "says its Size is"));
  fun[5] = static_cast<std::byte>(fun.size() - 3);
  fun.pop_back();
  BOOST_TEST(decode(fun).has_value());
}

BOOST_AUTO_TEST_CASE(atoms_must_be_utf8_of_at_most_255_characters) {
  BOOST_TEST(refused(b({131, 119, 2, 0xff, 0xff})) ==
             "etf: offset 1: SMALL_ATOM_UTF8_EXT (119) is not valid UTF-8 (at byte 0 of its text)");
  refused(b({131, 118, 0, 2, 192, 128}));       // overlong
  refused(b({131, 118, 0, 3, 237, 160, 128}));  // a surrogate
  refused(b({131, 119, 1, 0xce}));              // cut in a character
  bytes too_long = b({131, 118, 1, 0});
  too_long.resize(too_long.size() + 256, std::byte{'a'});
  BOOST_TEST(contains(refused(too_long), "of more than 255 characters"));
  bytes latin = b({131, 100, 1, 0});
  latin.resize(latin.size() + 256, std::byte{0xe9});
  BOOST_TEST(contains(refused(latin), "ATOM_EXT (100) of 256 characters; an atom has at most 255"));
  bytes ok255 = b({131, 100, 0, 255});
  ok255.resize(ok255.size() + 255, std::byte{0xe9});
  BOOST_TEST(decode(ok255).has_value());
}

BOOST_AUTO_TEST_CASE(nesting_bombs) {
  // 100000 nested one-element tuples: refused at the limit, without exhausting the stack.
  bytes bomb = b({131});
  for (int i = 0; i < 100000; ++i) bomb.insert(bomb.end(), {std::byte{104}, std::byte{1}});
  bomb.push_back(std::byte{106});
  BOOST_TEST(contains(refused(bomb), "terms nested deeper than 512"));
  // Lists nested in list tails count too.
  bytes tails = b({131});
  for (int i = 0; i < 1000; ++i) tails = cat(tails, b({108, 0, 0, 0, 1, 97, 1}));
  tails.push_back(std::byte{106});
  BOOST_TEST(contains(refused(tails), "nested deeper than 512"));
  // The limit is an option.
  bytes deep = b({131});
  for (int i = 0; i < 600; ++i) deep = cat(deep, b({104, 1}));
  deep.push_back(std::byte{106});
  BOOST_TEST(contains(refused(deep), "offset 1025: terms nested deeper than 512"));
  decode_options more;
  more.max_depth = 601;
  const auto t = decode(deep, more);
  BOOST_REQUIRE(t.has_value());
  BOOST_TEST(t->is_tuple());
  BOOST_TEST(to_list(encoded(*t)) == to_list(deep));
  decode_options tight;
  tight.max_depth = 1;
  BOOST_TEST(decode(b({131, 97, 1}), tight).has_value());
  BOOST_TEST(
      contains(refused(b({131, 104, 1, 97, 1}), tight), "offset 3: terms nested deeper than 1"));
  decode_options deeper;
  deeper.max_depth = 1001;  // the last of the 1000 lists at depth 1000, its tail [] at 1001
  const auto spliced = decode(tails, deeper);
  BOOST_REQUIRE(spliced.has_value());
  BOOST_TEST(*spliced == term::list(std::vector<term>(1000, term(1))));
}

BOOST_AUTO_TEST_CASE(decompression_bombs) {
  // 8 MiB of zeros in a binary compresses to about 8 KiB.
  bytes plain = b({131, 109, 0, 128, 0, 0});
  plain.resize(plain.size() + (8u << 20));
  const bytes bomb = compress_term(plain, static_cast<std::uint32_t>(plain.size() - 1));
  BOOST_TEST_MESSAGE("an 8 MiB binary compresses to " << bomb.size() << " bytes");
  BOOST_TEST(bomb.size() < 16384u);
  BOOST_TEST(decode(bomb).has_value());  // under the default limit of 64 MiB
  decode_options small;
  small.max_decompressed_size = 1 << 20;
  {
    probe::scope probe;
    BOOST_TEST(contains(refused(bomb, small),
                        "declares 8388613 bytes, more than decode_options::max_decompressed_size "
                        "(1048576)"));
    BOOST_TEST(probe.largest_allocation() < 1024u);
  }
  // A size that lies either way.
  BOOST_TEST(contains(refused(compress_term(plain, 1000)),
                      "inflates to more than the declared 1000 bytes"));
  BOOST_TEST(contains(refused(compress_term(encoded(term(5)), 3)),
                      "inflates to 2 bytes, not the declared 3"));
  BOOST_TEST(contains(refused(compress_term(encoded(term(5)), 0)), "UncompressedSize of 0"));
  // Data after the term inside, and data that is not zlib.
  BOOST_TEST(
      contains(refused(compress_term(b({131, 97, 5, 97, 6}), 4)),
               "offset 2 of the decompressed term: the compressed term ends after 2 of its 4"));
  BOOST_TEST(contains(refused(b({131, 80, 0, 0, 0, 2, 1, 2, 3, 4, 5, 6})), "invalid zlib data"));
  BOOST_TEST(contains(refused(b({131, 80, 0, 0})), "its UncompressedSize needs 4 bytes"));
  // A bad term inside: its offset is counted in the decompressed bytes.
  BOOST_TEST(refused(compress_term(b({131, 104, 2, 97, 1, 99}), 5)) ==
             "etf: offset 4 of the decompressed term: FLOAT_EXT (99) is truncated: its text needs "
             "31 bytes, 0 left");
}

BOOST_AUTO_TEST_CASE(random_mutations_never_crash_and_what_decodes_re_encodes) {
  const std::uint32_t seed = 20240611;
  BOOST_TEST_MESSAGE("mutation seed " << seed);
  std::mt19937 rng(seed);
  std::size_t decoded = 0;
  std::size_t total = 0;
  for (const bytes& whole : corpus()) {
    for (int round = 0; round < 400; ++round) {
      bytes m = whole;
      const int edits = 1 + static_cast<int>(rng() % 3);
      for (int e = 0; e < edits; ++e) {
        m[rng() % m.size()] = static_cast<std::byte>(rng() % 256);
      }
      ++total;
      const auto t = decode(m);
      if (!t.has_value()) {
        BOOST_TEST((t.error() == errc::malformed_frame));
        continue;
      }
      ++decoded;
      // Whatever decodes encodes (unless it holds NaN, which decoding refuses) and decodes back
      // to an equal term.
      const auto again = nodus::etf::encode(*t);
      BOOST_REQUIRE(again.has_value());
      const auto back = decode(*again);
      BOOST_REQUIRE(back.has_value());
      BOOST_TEST_INFO("seed " << seed << ", input " << to_list(m));
      BOOST_TEST(*back == *t);
    }
  }
  BOOST_TEST_MESSAGE(total << " mutations, " << decoded << " still decoded");
}

BOOST_AUTO_TEST_SUITE_END()

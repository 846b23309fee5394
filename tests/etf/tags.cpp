// Every tag of erl_ext_dist both ways: the bytes a BEAM node writes (taken from Erlang/OTP 25's
// term_to_binary) decode to the expected term, and the term encodes to the bytes nodus writes
// (the same bytes, except for the tags a BEAM node no longer writes, which encode as their
// successors).
#include "common.hpp"

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
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
using nodus::etf::big_integer;
using nodus::etf::decode;
using nodus::etf::decode_options;
using nodus::etf::decode_prefix;
using nodus::etf::kind;
using nodus::etf::term;

// The input decodes to expected, and expected encodes to canonical (to the input when omitted).
void both_ways(const bytes& input, const term& expected, const bytes& canonical = {}) {
  const auto d = decode(input);
  BOOST_TEST_INFO("input " << to_list(input));
  BOOST_REQUIRE(d.has_value());
  BOOST_TEST(*d == expected);
  const bytes& out = canonical.empty() ? input : canonical;
  BOOST_TEST(to_list(encoded(*d)) == to_list(out));
  // Without the version byte too.
  const bytes bare(input.begin() + 1, input.end());
  const auto d2 = decode(bare);
  BOOST_REQUIRE(d2.has_value());
  BOOST_TEST(*d2 == expected);
  BOOST_TEST(to_list(encoded(*d2, false)) == to_list(bytes(out.begin() + 1, out.end())));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(etf_tags)

BOOST_AUTO_TEST_CASE(integers) {
  both_ways(b({131, 97, 5}), 5);  // SMALL_INTEGER_EXT
  both_ways(b({131, 97, 255}), 255);
  both_ways(b({131, 98, 0, 0, 1, 0}), 256);  // INTEGER_EXT
  both_ways(b({131, 98, 255, 255, 255, 255}), -1);
  both_ways(b({131, 98, 128, 0, 0, 0}), std::numeric_limits<std::int32_t>::min());
  both_ways(b({131, 110, 4, 0, 0, 0, 0, 128}), std::int64_t{1} << 31);  // SMALL_BIG_EXT
  both_ways(b({131, 110, 4, 1, 1, 0, 0, 128}), -(std::int64_t{1} << 31) - 1);
  both_ways(b({131, 110, 8, 0, 255, 255, 255, 255, 255, 255, 255, 127}),
            std::numeric_limits<std::int64_t>::max());
  both_ways(b({131, 110, 8, 1, 0, 0, 0, 0, 0, 0, 0, 128}),
            std::numeric_limits<std::int64_t>::min());
  both_ways(b({131, 110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}),
            term(big_integer{false, {0, 0, 0, 0, 0, 0, 0, 0, 1}}));  // 2^64
  both_ways(b({131, 110, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9}),
            term(big_integer{false, {1, 2, 3, 4, 5, 6, 7, 8, 9}}));
  BOOST_TEST(decode(b({131, 110, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9}))->to_string() ==
             "166599134359138271745");
  // LARGE_BIG_EXT: 2^2040, 256 digits.
  bytes large = b({131, 111, 0, 0, 1, 0, 0});
  large.resize(large.size() + 255);
  large.push_back(std::byte{1});
  std::vector<std::uint8_t> digits(256);
  digits.back() = 1;
  both_ways(large, term(big_integer{false, digits}));
  // Forms a BEAM node never writes, taken as binary_to_term takes them: a bignum with high zero
  // digits or that fits in 32 bits, and any sign byte but 0 as negative.
  both_ways(b({131, 110, 2, 0, 5, 0}), 5, b({131, 97, 5}));
  both_ways(b({131, 110, 0, 1}), 0, b({131, 97, 0}));
  both_ways(b({131, 110, 1, 2, 5}), -5, b({131, 98, 255, 255, 255, 251}));
  both_ways(b({131, 110, 10, 0, 255, 255, 255, 255, 255, 255, 255, 127, 0, 0}),
            std::numeric_limits<std::int64_t>::max(),
            b({131, 110, 8, 0, 255, 255, 255, 255, 255, 255, 255, 127}));
  both_ways(b({131, 110, 9, 1, 0, 0, 0, 0, 0, 0, 0, 128, 0}),
            std::numeric_limits<std::int64_t>::min(),
            b({131, 110, 8, 1, 0, 0, 0, 0, 0, 0, 0, 128}));
  both_ways(b({131, 110, 9, 1, 1, 0, 0, 0, 0, 0, 0, 128, 0}),
            term(big_integer{true, {1, 0, 0, 0, 0, 0, 0, 128}}),
            b({131, 110, 8, 1, 1, 0, 0, 0, 0, 0, 0, 128}));  // -(2^63 + 1): a bignum
}

BOOST_AUTO_TEST_CASE(floats) {
  both_ways(b({131, 70, 63, 248, 0, 0, 0, 0, 0, 0}), 1.5);  // NEW_FLOAT_EXT
  both_ways(b({131, 70, 128, 0, 0, 0, 0, 0, 0, 0}), -0.0);
  both_ways(b({131, 70, 126, 55, 228, 60, 136, 0, 117, 156}), 1.0e300);
  // FLOAT_EXT (99): 31 bytes of "%.20e" text; encodes as NEW_FLOAT_EXT.
  const std::string text = "1.50000000000000000000e+00";
  bytes old = b({131, 99});
  for (const char c : text) old.push_back(static_cast<std::byte>(c));
  old.resize(2 + 31);
  both_ways(old, 1.5, b({131, 70, 63, 248, 0, 0, 0, 0, 0, 0}));
  bytes short_text = b({131, 99, '-', '2', '.', '5'});
  short_text.resize(2 + 31);
  both_ways(short_text, -2.5, b({131, 70, 192, 4, 0, 0, 0, 0, 0, 0}));
}

BOOST_AUTO_TEST_CASE(atoms) {
  both_ways(b({131, 119, 3, 'a', 'b', 'c'}), a("abc"));  // SMALL_ATOM_UTF8_EXT
  both_ways(b({131, 119, 0}), a(""));
  both_ways(b({131, 100, 0, 3, 'a', 'b', 'c'}), a("abc"), b({131, 119, 3, 'a', 'b', 'c'}));  // ATOM
  both_ways(b({131, 115, 3, 'a', 'b', 'c'}), a("abc"), b({131, 119, 3, 'a', 'b', 'c'}));  // SMALL
  // Latin-1 becomes UTF-8: 'äö' (OTP 25 writes ATOM_EXT 228,246; minor_version 2 writes UTF-8).
  both_ways(b({131, 100, 0, 2, 228, 246}), a("\xc3\xa4\xc3\xb6"),
            b({131, 119, 4, 195, 164, 195, 182}));
  both_ways(b({131, 115, 2, 228, 246}), a("\xc3\xa4\xc3\xb6"),
            b({131, 119, 4, 195, 164, 195, 182}));
  both_ways(b({131, 118, 0, 2, 206, 177}), a("\xce\xb1"), b({131, 119, 2, 206, 177}));  // UTF8
  // 255 emoji: 1020 bytes, ATOM_UTF8_EXT both ways.
  std::string emoji;
  bytes long_atom = b({131, 118, 3, 252});
  for (int i = 0; i < 255; ++i) {
    emoji += "\xf0\x9f\x98\x80";
    for (const int c : {0xf0, 0x9f, 0x98, 0x80}) long_atom.push_back(static_cast<std::byte>(c));
  }
  both_ways(long_atom, a(emoji));
  // 255 Latin-1 characters of two UTF-8 bytes each: SMALL_ATOM_UTF8_EXT cannot hold 510 bytes.
  bytes latin = b({131, 100, 0, 255});
  bytes utf8 = b({131, 118, 1, 254});
  for (int i = 0; i < 255; ++i) {
    latin.push_back(std::byte{0xe9});
    utf8.push_back(std::byte{0xc3});
    utf8.push_back(std::byte{0xa9});
  }
  both_ways(latin, *decode(utf8), utf8);
}

BOOST_AUTO_TEST_CASE(atom_cache_references) {
  const std::vector<atom> cache{atom("ok"), atom("n1@127.0.0.1")};
  const decode_options options{512, 1 << 20, cache};
  const auto t = decode(b({131, 104, 2, 82, 0, 82, 1}), options);
  BOOST_REQUIRE(t.has_value());
  BOOST_TEST(*t == term::tuple({a("ok"), a("n1@127.0.0.1")}));
  // Pids and references name their node with one as well.
  const auto p = decode(b({88, 82, 1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 1}), options);
  BOOST_REQUIRE(p.has_value());
  BOOST_REQUIRE(p->as_pid() != nullptr);
  BOOST_TEST(p->as_pid()->node == "n1@127.0.0.1");
}

BOOST_AUTO_TEST_CASE(tuples_lists_strings) {
  both_ways(b({131, 104, 2, 97, 1, 97, 2}), term::tuple({1, 2}));  // SMALL_TUPLE_EXT
  both_ways(b({131, 104, 0}), term::tuple({}));
  bytes large = b({131, 105, 0, 0, 1, 0});  // LARGE_TUPLE_EXT of 256 zeros
  for (int i = 0; i < 256; ++i) large = cat(large, b({97, 0}));
  both_ways(large, term::tuple(std::vector<term>(256, term(0))));
  both_ways(b({131, 106}), term::nil());                                 // NIL_EXT
  both_ways(b({131, 107, 0, 3, 97, 98, 99}), term::list({97, 98, 99}));  // STRING_EXT
  both_ways(b({131, 107, 0, 0}), term::nil(), b({131, 106}));
  both_ways(b({131, 108, 0, 0, 0, 2, 97, 1, 98, 0, 0, 1, 0, 106}), term::list({1, 256}));  // LIST
  both_ways(b({131, 108, 0, 0, 0, 2, 97, 1, 97, 2, 97, 3}), term::list({1, 2}, term(3)));
  both_ways(b({131, 108, 0, 0, 0, 1, 119, 1, 'x', 106}), term::list({a("x")}));
  // A list of bytes written as LIST_EXT is the same list, and encodes as STRING_EXT.
  both_ways(b({131, 108, 0, 0, 0, 1, 97, 7, 106}), term::list({7}), b({131, 107, 0, 1, 7}));
  // Forms binary_to_term accepts: a list of no elements is its tail; a list tail is spliced.
  both_ways(b({131, 108, 0, 0, 0, 0, 97, 1}), 1, b({131, 97, 1}));
  both_ways(b({131, 108, 0, 0, 0, 1, 119, 1, 'a', 108, 0, 0, 0, 1, 119, 1, 'b', 106}),
            term::list({a("a"), a("b")}), b({131, 108, 0, 0, 0, 2, 119, 1, 'a', 119, 1, 'b', 106}));
  // 65535 bytes still fit STRING_EXT (as term_to_binary writes them); 65536 need LIST_EXT.
  const term s65535 = term::list(std::vector<term>(65535, term(1)));
  BOOST_TEST(to_list(std::span<const std::byte>(encoded(s65535)).first(4)) == "131,107,255,255");
  const term s65536 = term::list(std::vector<term>(65536, term(1)));
  BOOST_TEST(to_list(std::span<const std::byte>(encoded(s65536)).first(6)) == "131,108,0,1,0,0");
  BOOST_TEST(*decode(encoded(s65536)) == s65536);
}

BOOST_AUTO_TEST_CASE(binaries_and_maps) {
  both_ways(b({131, 109, 0, 0, 0, 3, 1, 2, 3}),  // BINARY_EXT
            term::binary(std::vector<std::byte>{std::byte{1}, std::byte{2}, std::byte{3}}));
  both_ways(b({131, 109, 0, 0, 0, 0}), term::binary(""));
  both_ways(b({131, 77, 0, 0, 0, 2, 3, 1, 64}),  // BIT_BINARY_EXT <<1,2:3>>
            term(nodus::etf::bit_binary{{std::byte{1}, std::byte{64}}, 3}));
  // binary_to_term's forms: 8 bits used is a binary; no data and 0 bits is <<>>; unused low bits
  // are dropped.
  both_ways(b({131, 77, 0, 0, 0, 1, 8, 255}), term::binary("\xff"), b({131, 109, 0, 0, 0, 1, 255}));
  both_ways(b({131, 77, 0, 0, 0, 0, 0}), term::binary(""), b({131, 109, 0, 0, 0, 0}));
  both_ways(b({131, 77, 0, 0, 0, 1, 3, 255}), term(nodus::etf::bit_binary{{std::byte{0xe0}}, 3}),
            b({131, 77, 0, 0, 0, 1, 3, 224}));
  const term m = term::map({{a("a"), 1}, {a("b"), 2}});  // MAP_EXT, in the order decoded
  both_ways(b({131, 116, 0, 0, 0, 2, 119, 1, 'a', 97, 1, 119, 1, 'b', 97, 2}), m);
  both_ways(b({131, 116, 0, 0, 0, 2, 119, 1, 'b', 97, 2, 119, 1, 'a', 97, 1}), m,
            b({131, 116, 0, 0, 0, 2, 119, 1, 'b', 97, 2, 119, 1, 'a', 97, 1}));
  both_ways(b({131, 116, 0, 0, 0, 0}), term::map({}));
  // OTP 25's {a, [1,2|3], #{a => 1}, <<1,2:3>>} with minor_version 2.
  both_ways(b({131, 104, 4, 119, 1,   97, 108, 0,  0, 0,  2, 97, 1, 97, 2, 97, 3, 116,
               0,   0,   0, 1,   119, 1,  97,  97, 1, 77, 0, 0,  0, 2,  3, 1,  64}),
            term::tuple({a("a"), term::list({1, 2}, term(3)), term::map({{a("a"), 1}}),
                         term(nodus::etf::bit_binary{{std::byte{1}, std::byte{64}}, 3})}));
}

BOOST_AUTO_TEST_CASE(pids_references_ports) {
  const bytes node = b({119, 10, 'o', 't', 'h', 'e', 'r', '@', 'h', 'o', 's', 't'});
  const atom other("other@host");
  const term p(nodus::etf::pid{other, 1, 2, 3});
  const bytes new_pid = cat(cat(b({131, 88}), node), b({0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3}));
  both_ways(new_pid, p);                                                                 // NEW_PID
  both_ways(cat(cat(b({131, 103}), node), b({0, 0, 0, 1, 0, 0, 0, 2, 3})), p, new_pid);  // PID
  // A node written as ATOM_EXT, as OTP 25's term_to_binary(self()) does.
  both_ways(b({131, 88,  100, 0, 13, 'n', 'o', 'n', 'o', 'd', 'e', '@', 'n', 'o', 'h',
               'o', 's', 't', 0, 0,  0,   9,   0,   0,   0,   0,   0,   0,   0,   0}),
            term(nodus::etf::pid{atom("nonode@nohost"), 9, 0, 0}),
            b({131, 88,  119, 13, 'n', 'o', 'n', 'o', 'd', 'e', '@', 'n', 'o', 'h', 'o',
               's', 't', 0,   0,  0,   9,   0,   0,   0,   0,   0,   0,   0,   0}));

  nodus::etf::reference r{other, 7, 3, {1, 2, 3, 0, 0}};
  const bytes newer =
      cat(cat(b({131, 90, 0, 3}), node), b({0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3}));
  both_ways(newer, term(r));  // NEWER
  nodus::etf::reference five{other, 7, 5, {1, 2, 3, 4, 5}};
  both_ways(cat(cat(b({131, 90, 0, 5}), node),
                b({0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5})),
            term(five));
  nodus::etf::reference none{other, 7, 0, {}};
  both_ways(cat(cat(b({131, 90, 0, 0}), node), b({0, 0, 0, 7})), term(none));
  r.creation = 2;
  both_ways(
      cat(cat(b({131, 114, 0, 3}), node), b({2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3})),  // NEW
      term(r),
      cat(cat(b({131, 90, 0, 3}), node), b({0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3})));
  nodus::etf::reference one{other, 2, 1, {1, 0, 0, 0, 0}};
  both_ways(cat(cat(b({131, 101}), node), b({0, 0, 0, 1, 2})), term(one),  // REFERENCE_EXT
            cat(cat(b({131, 90, 0, 1}), node), b({0, 0, 0, 2, 0, 0, 0, 1})));

  const term port(nodus::etf::port{other, 5, 3});
  const bytes new_port = cat(cat(b({131, 89}), node), b({0, 0, 0, 5, 0, 0, 0, 3}));
  both_ways(new_port, port);                                                     // NEW_PORT
  both_ways(cat(cat(b({131, 102}), node), b({0, 0, 0, 5, 3})), port, new_port);  // PORT
  both_ways(cat(cat(b({131, 120}), node), b({0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 3})), port,
            new_port);  // V4_PORT_EXT with a 32-bit ID: NEW_PORT_EXT, as OTP 25 writes it
  both_ways(cat(cat(b({131, 120}), node), b({0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 3})),
            term(nodus::etf::port{other, std::uint64_t{1} << 40, 3}));  // V4_PORT_EXT
}

BOOST_AUTO_TEST_CASE(funs_stay_opaque) {
  // fun lists:map/2: EXPORT_EXT, as OTP 25 writes it with minor_version 2 ...
  const bytes utf8 = b({131, 113, 119, 5, 'l', 'i', 's', 't', 's', 119, 3, 'm', 'a', 'p', 97, 2});
  const auto e = decode(utf8);
  BOOST_REQUIRE(e.has_value());
  BOOST_TEST((e->type() == kind::external_fun));
  BOOST_TEST(e->to_string() == "fun lists:map/2");
  BOOST_TEST(to_list(encoded(*e)) == to_list(utf8));
  // ... and with Latin-1 atoms and an INTEGER_EXT arity: the same fun.
  const auto old = decode(
      b({131, 113, 100, 0, 5, 'l', 'i', 's', 't', 's', 100, 0, 3, 'm', 'a', 'p', 98, 0, 0, 0, 2}));
  BOOST_REQUIRE(old.has_value());
  BOOST_TEST(*old == *e);

  // A hand-made NEW_FUN_EXT: no free variables, Uniq 0..15, atoms in UTF-8.
  bytes made = b({131, 112, 0, 0, 0, 0, 2});
  for (int i = 0; i < 16; ++i) made.push_back(static_cast<std::byte>(i));
  made = cat(made, b({0,  0,   0, 1,   0,   0,   0, 0, 119, 1, 'm', 97, 4, 98, 0, 1, 0, 0,
                      88, 119, 3, 'n', '@', 'h', 0, 0, 0,   1, 0,   0,  0, 2,  0, 0, 0, 3}));
  made[5] = static_cast<std::byte>(made.size() - 2);  // Size: all but 131 and the tag
  const auto f = decode(made);
  BOOST_REQUIRE(f.has_value());
  BOOST_TEST((f->type() == kind::fun));
  BOOST_TEST(f->to_string() == "#Fun<m.4.65536>");
  BOOST_TEST(to_list(encoded(*f)) == to_list(made));
  BOOST_TEST(to_list(f->opaque_bytes()) == to_list(std::span(made).subspan(1)));
}

BOOST_AUTO_TEST_CASE(compressed_terms_decode) {
  // term_to_binary(lists:duplicate(100, abc), [compressed]) in OTP 25.
  const bytes z = b({131, 80, 0,  0,  2,  94, 120, 156, 203, 97, 96, 96, 72,  73,  97, 96,
                     78,  76, 74, 30, 37, 71, 73,  234, 146, 89, 0,  81, 160, 156, 79});
  const auto t = decode(z);
  BOOST_REQUIRE(t.has_value());
  BOOST_TEST(*t == term::list(std::vector<term>(100, a("abc"))));
  const auto p = decode_prefix(cat(z, b({97, 1})));
  BOOST_REQUIRE(p.has_value());
  BOOST_TEST(p->size == z.size());
  BOOST_TEST(!decode(cat(z, b({0}))).has_value());  // decode() takes exactly one term
}

BOOST_AUTO_TEST_CASE(terms_back_to_back) {
  // A distribution message: control term and payload, without version bytes.
  const bytes two = b({104, 2, 97, 2, 119, 1, 'x', 119, 4, 'p', 'i', 'n', 'g'});
  const auto first = decode_prefix(two);
  BOOST_REQUIRE(first.has_value());
  BOOST_TEST(first->size == 7u);
  BOOST_TEST(first->value == term::tuple({2, a("x")}));
  const auto second = decode_prefix(std::span(two).subspan(first->size));
  BOOST_REQUIRE(second.has_value());
  BOOST_TEST(second->size == 6u);
  BOOST_TEST(second->value == a("ping"));
  const auto whole = decode(two);
  BOOST_REQUIRE(!whole.has_value());
  BOOST_TEST(whole.error().reason() == "etf: offset 7: 6 bytes after the term");
}

BOOST_AUTO_TEST_CASE(encoding_a_nan_fails_and_leaves_the_buffer_alone) {
  bytes out = b({1, 2});
  const auto r =
      nodus::etf::encode(term::tuple({1, std::numeric_limits<double>::quiet_NaN()}), out);
  BOOST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().reason() ==
             "etf: cannot encode: a float that is NaN: Erlang floats are finite");
  BOOST_TEST(to_list(out) == "1,2");
  BOOST_TEST(!nodus::etf::encode(term(std::numeric_limits<double>::infinity())).has_value());
}

BOOST_AUTO_TEST_SUITE_END()

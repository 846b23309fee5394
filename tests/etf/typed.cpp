// The compile-time mapping of C++ types to terms: encode<T>, decode<T>, from_term, to_term.
#include "common.hpp"

#include <nodus/codec/etf.hpp>

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace app {

// Elixir's :ping.
struct ping {
  static constexpr nodus::fixed_string etf_tag = "ping";
};

// The walkthrough's reply {:ok, node(), :pong}.
struct pong {
  static constexpr nodus::fixed_string etf_tag = "ok";
  BOOST_HANA_DEFINE_STRUCT(pong, (nodus::node_name, node),
                           (nodus::etf::atom_constant<"pong">, answer));
};

// The same reply without a tag: the atoms as members.
struct pong_untagged {
  BOOST_HANA_DEFINE_STRUCT(pong_untagged, (nodus::etf::atom_constant<"ok">, ok),
                           (nodus::node_name, node), (nodus::etf::atom_constant<"pong">, answer));
};

enum class level : std::uint8_t { low, high, very_high };
constexpr auto etf_atoms(level) {
  return nodus::etf::enum_atoms(level::low, "low", level::high, "high", level::very_high,
                                "very-high");
}

struct point {
  BOOST_HANA_DEFINE_STRUCT(point, (int, x), (int, y));
};

using counts = std::map<std::string, int>;
using labelled = std::tuple<int, std::string>;

struct everything {
  BOOST_HANA_DEFINE_STRUCT(everything, (bool, flag), (std::int8_t, i8), (std::uint64_t, u64),
                           (double, d), (std::string, text), (nodus::etf::atom, name), (level, lvl),
                           (std::optional<int>, maybe), (std::vector<point>, points),
                           (counts, tally), (labelled, pair), (std::vector<std::byte>, raw),
                           (std::vector<std::uint8_t>, small), (nodus::etf::term, any),
                           (nodus::etf::pid, from), (std::vector<bool>, bits), (float, f));
};

}  // namespace app

namespace {

using etf_test::a;
using etf_test::b;
using etf_test::bytes;
using etf_test::to_list;
using nodus::errc;
using nodus::etf::atom;
using nodus::etf::decode;
using nodus::etf::encode;
using nodus::etf::from_term;
using nodus::etf::term;
using nodus::etf::to_term;
using namespace nodus::literals;

template <class T>
std::string encoded_list(const T& value) {
  const auto r = encode(value);
  return r ? to_list(*r) : "error: " + r.error().message();
}

// The reason from_term<T>(t) gives (or "ok").
template <class T>
std::string why_not(const term& t) {
  const auto r = from_term<T>(t);
  if (r.has_value()) return "ok";
  BOOST_TEST((r.error() == errc::malformed_frame));
  return r.error().reason();
}

app::everything sample() {
  app::everything e;
  e.flag = true;
  e.i8 = -5;
  e.u64 = std::numeric_limits<std::uint64_t>::max();
  e.d = 2.5;
  e.text = "h\xc3\xa9llo";
  e.name = atom("n1@127.0.0.1");
  e.lvl = app::level::very_high;
  e.maybe = 42;
  e.points = {{1, 2}, {-3, 4}};
  e.tally = {{"a", 1}, {"b", 2}};
  e.pair = {7, "seven"};
  e.raw = {std::byte{0}, std::byte{255}};
  e.small = {1, 2, 3};
  e.any = term::tuple({a("x"), term::list({1}, 2)});
  e.from = nodus::etf::pid{atom("n1@127.0.0.1"), 80, 0, 3};
  e.bits = {true, false};
  e.f = 0.5f;
  return e;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(etf_typed)

BOOST_AUTO_TEST_CASE(walkthrough_ping_and_pong) {
  BOOST_TEST(encoded_list(app::ping{}) == "131,119,4,112,105,110,103");  // :ping
  BOOST_TEST(decode<app::ping>(b({131, 100, 0, 4, 'p', 'i', 'n', 'g'})).has_value());
  BOOST_TEST(why_not<app::ping>(a("pang")) ==
             "etf: cannot read app::ping from pang: expected app::ping (the atom ping), got pang");

  const app::pong reply{"n2@127.0.0.1"_node, {}};
  const term expected = term::tuple({a("ok"), a("n2@127.0.0.1"), a("pong")});
  BOOST_TEST(*to_term(reply) == expected);
  BOOST_TEST(to_term(reply)->to_string() == "{ok,'n2@127.0.0.1',pong}");
  BOOST_TEST(encoded_list(reply) == to_list(etf_test::encoded(expected)));
  const auto back = from_term<app::pong>(expected);
  BOOST_REQUIRE(back.has_value());
  BOOST_TEST(back->node == "n2@127.0.0.1"_node);
  // The untagged spelling is the same term.
  BOOST_TEST(*to_term(app::pong_untagged{{}, "n2@127.0.0.1"_node, {}}) == expected);
  BOOST_TEST(from_term<app::pong_untagged>(expected).has_value());

  BOOST_TEST(why_not<app::pong>(term::tuple({a("ok"), a("n2"), a("pong")})) ==
             "etf: cannot read app::pong from {ok,n2,pong}: at element 2 (node): expected "
             "nodus::node_name (an atom name@host), got n2: \"n2\" has no '@'; expected name@host");
  BOOST_TEST(why_not<app::pong>(term::tuple({a("ok"), a("n2@h"), a("pang")})) ==
             "etf: cannot read app::pong from {ok,n2@h,pang}: at element 3 (answer): expected "
             "nodus::etf::atom_constant (the atom pong), got pang");
  BOOST_TEST(why_not<app::pong>(term::tuple({a("error"), a("nodedown")})) ==
             "etf: cannot read app::pong from {error,nodedown}: expected app::pong (a tuple "
             "{ok, ...} of 3 elements), got {error,nodedown}");
}

BOOST_AUTO_TEST_CASE(integers_are_range_checked) {
  BOOST_TEST(encoded_list(std::uint8_t{200}) == "131,97,200");
  BOOST_TEST(encoded_list(-1) == "131,98,255,255,255,255");
  BOOST_TEST(encoded_list(std::numeric_limits<std::uint64_t>::max()) ==
             "131,110,8,0,255,255,255,255,255,255,255,255");
  BOOST_TEST(*decode<std::uint64_t>(*encode(std::numeric_limits<std::uint64_t>::max())) ==
             std::numeric_limits<std::uint64_t>::max());
  BOOST_TEST(*decode<std::int64_t>(*encode(std::numeric_limits<std::int64_t>::min())) ==
             std::numeric_limits<std::int64_t>::min());
  BOOST_TEST(why_not<std::uint8_t>(term(300)) ==
             "etf: cannot read unsigned char from 300: expected unsigned char (an integer in "
             "0..255), got 300");
  BOOST_TEST(why_not<std::int8_t>(term(-129)) != "ok");
  BOOST_TEST(why_not<std::uint32_t>(term(-1)) != "ok");
  BOOST_TEST(why_not<std::int64_t>(term(std::uint64_t{1} << 63)) != "ok");
  BOOST_TEST(why_not<int>(term(1.0)) != "ok");
  BOOST_TEST(why_not<int>(a("one")) ==
             "etf: cannot read int from one: expected int (an integer in "
             "-2147483648..2147483647), got one");
}

BOOST_AUTO_TEST_CASE(floats_bools_strings) {
  BOOST_TEST(encoded_list(1.5) == "131,70,63,248,0,0,0,0,0,0");
  BOOST_TEST(*from_term<double>(term(3)) == 3.0);  // an integer that a double holds exactly
  BOOST_TEST(why_not<double>(term(std::int64_t{1} << 60)) != "ok");
  BOOST_TEST(why_not<float>(term(1e300)) != "ok");
  BOOST_TEST(!encode(std::numeric_limits<double>::quiet_NaN()).has_value());

  BOOST_TEST(encoded_list(true) == "131,119,4,116,114,117,101");
  BOOST_TEST(*from_term<bool>(a("false")) == false);
  BOOST_TEST(why_not<bool>(a("yes")) ==
             "etf: cannot read bool from yes: expected bool (the atom true or false), got yes");

  BOOST_TEST(encoded_list(std::string("abc")) == "131,109,0,0,0,3,97,98,99");
  // A charlist of code points becomes UTF-8: 'héllo' and an emoji.
  BOOST_TEST(*from_term<std::string>(term::list({104, 233, 108, 108, 111, 0x1F600})) ==
             "h\xc3\xa9llo\xf0\x9f\x98\x80");
  BOOST_TEST(*from_term<std::string>(term::nil()) == "");
  BOOST_TEST(why_not<std::string>(term::list({0xD800})) != "ok");  // a surrogate
  BOOST_TEST(why_not<std::string>(term::list({97}, a("t"))) != "ok");
  BOOST_TEST(why_not<std::string>(a("abc")) ==
             "etf: cannot read std::string from abc: expected std::string (a binary, or a charlist "
             "of Unicode code points), got abc");
}

BOOST_AUTO_TEST_CASE(enums_are_atoms) {
  BOOST_TEST(*to_term(app::level::very_high) == a("very-high"));
  BOOST_TEST((*from_term<app::level>(a("high")) == app::level::high));
  BOOST_TEST(why_not<app::level>(a("medium")) ==
             "etf: cannot read app::level from medium: expected app::level (one of the atoms low, "
             "high, 'very-high'), got medium");
  const auto bad = encode(static_cast<app::level>(7));
  BOOST_REQUIRE(!bad.has_value());
  BOOST_TEST(bad.error().reason() ==
             "etf: cannot encode: app::level value 7 has no atom in its etf_atoms");
}

BOOST_AUTO_TEST_CASE(containers) {
  BOOST_TEST(*to_term(std::optional<int>()) == a("nil"));
  BOOST_TEST(*to_term(std::optional<int>(5)) == term(5));
  BOOST_TEST(!from_term<std::optional<int>>(a("nil"))->has_value());
  BOOST_TEST(**from_term<std::optional<int>>(term(5)) == 5);

  BOOST_TEST(encoded_list(std::vector<int>{}) == "131,106");
  BOOST_TEST(encoded_list(std::vector<std::uint8_t>{1, 2, 3}) == "131,107,0,3,1,2,3");
  BOOST_TEST(encoded_list(std::vector<int>{1, 300}) == "131,108,0,0,0,2,97,1,98,0,0,1,44,106");
  BOOST_TEST(encoded_list(std::vector<int>{-1}) == "131,108,0,0,0,1,98,255,255,255,255,106");
  BOOST_TEST(encoded_list(std::vector<std::byte>{std::byte{7}}) == "131,109,0,0,0,1,7");
  BOOST_TEST(why_not<std::vector<std::byte>>(term::list({7})) ==
             "etf: cannot read std::vector<std::byte> from [7]: expected std::vector<std::byte> (a "
             "binary), got [7]");
  BOOST_TEST(why_not<nodus::etf::pid>(term(1)) ==
             "etf: cannot read nodus::etf::pid from 1: expected nodus::etf::pid (a pid), got 1");
  BOOST_TEST((*from_term<std::vector<int>>(term::list({1, 2})) == std::vector<int>{1, 2}));
  BOOST_TEST(why_not<std::vector<int>>(term::list({1, a("x")})) ==
             "etf: cannot read std::vector<int> from [1,x]: at list element 2: expected int (an "
             "integer in -2147483648..2147483647), got x");
  BOOST_TEST(why_not<std::vector<int>>(term::list({1}, term(2))) != "ok");

  const app::counts c{{"a", 1}, {"b", 2}};
  const term m = *to_term(c);
  BOOST_TEST(m == term::map({{term::binary("b"), 2}, {term::binary("a"), 1}}));
  BOOST_TEST(m.to_string() == "#{<<\"a\">> => 1,<<\"b\">> => 2}");
  BOOST_TEST((*from_term<app::counts>(m) == c));
  BOOST_TEST(why_not<app::counts>(term::map({{term::binary("a"), a("one")}})) !=
             "ok");  // "... at the value under key <<"a">> ..."
  BOOST_TEST(why_not<app::counts>(term::map({{term::binary("a"), a("one")}}))
                 .find("at the value under key <<\"a\">>") != std::string::npos);

  const app::labelled t{7, "seven"};
  BOOST_TEST(to_term(t)->to_string() == "{7,<<\"seven\">>}");
  BOOST_TEST((*from_term<app::labelled>(*to_term(t)) == t));
  BOOST_TEST((*from_term<std::pair<int, int>>(term::tuple({1, 2})) == std::pair<int, int>{1, 2}));
  BOOST_TEST(why_not<app::labelled>(term::tuple({1})) != "ok");
}

BOOST_AUTO_TEST_CASE(a_struct_of_everything_round_trips) {
  const app::everything e = sample();
  const auto bytes_out = encode(e);
  BOOST_REQUIRE(bytes_out.has_value());
  const auto back = decode<app::everything>(*bytes_out);
  BOOST_REQUIRE(back.has_value());
  BOOST_TEST(back->flag);
  BOOST_TEST(back->i8 == -5);
  BOOST_TEST(back->u64 == e.u64);
  BOOST_TEST(back->d == 2.5);
  BOOST_TEST(back->text == e.text);
  BOOST_TEST(back->name == e.name);
  BOOST_TEST((back->lvl == app::level::very_high));
  BOOST_TEST(*back->maybe == 42);
  BOOST_TEST(back->points.size() == 2u);
  BOOST_TEST(back->points[1].x == -3);
  BOOST_TEST((back->tally == e.tally));
  BOOST_TEST((back->pair == e.pair));
  BOOST_TEST((back->raw == e.raw));
  BOOST_TEST((back->small == e.small));
  BOOST_TEST(back->any == e.any);
  BOOST_TEST((back->from == e.from));
  BOOST_TEST((back->bits == e.bits));
  BOOST_TEST(back->f == 0.5f);
  // Typed and dynamic encodings agree byte for byte.
  const auto dynamic = to_term(e);
  BOOST_REQUIRE(dynamic.has_value());
  BOOST_TEST(to_list(etf_test::encoded(*dynamic)) == to_list(*bytes_out));
  BOOST_TEST(dynamic->to_string() ==
             "{true,-5,18446744073709551615,2.5,<<104,195,169,108,108,111>>,'n1@127.0.0.1',"
             "'very-high',42,[{1,2},{-3,4}],#{<<\"a\">> => 1,<<\"b\">> => 2},{7,<<\"seven\">>},"
             "<<0,255>>,[1,2,3],{x,[1|2]},<'n1@127.0.0.1'.80.0>,[true,false],0.5}");
  // A wrong member deep inside is reported with its path.
  term changed = *dynamic;
  (*(*changed.as_tuple())[8].as_list())[1] = term::tuple({-3, a("four")});
  BOOST_TEST(why_not<app::everything>(changed).find(
                 "at element 9 (points) / list element 2 / element 2 (y): expected int (an integer "
                 "in -2147483648..2147483647), got four") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(decode_reports_bad_bytes_and_without_version_byte_works) {
  const auto r = decode<int>(b({131, 98, 0}));
  BOOST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().reason() ==
             "etf: offset 1: INTEGER_EXT (98) is truncated: its value needs 4 bytes, 1 left");
  const auto bare = encode(app::ping{}, nodus::etf::encode_options{false});
  BOOST_TEST(to_list(*bare) == "119,4,112,105,110,103");
  BOOST_TEST(decode<app::ping>(*bare).has_value());
  bytes out = b({9});
  BOOST_TEST(encode(42, out).has_value());
  BOOST_TEST(to_list(out) == "9,131,97,42");
}

BOOST_AUTO_TEST_SUITE_END()

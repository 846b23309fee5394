// etf::term and etf::atom: construction, canonical forms, equality, hash and the printer.
#include "common.hpp"

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include <nodus/core/format.hpp>

namespace {

using etf_test::a;
using nodus::etf::atom;
using nodus::etf::big_integer;
using nodus::etf::bit_binary;
using nodus::etf::kind;
using nodus::etf::map_entry;
using nodus::etf::term;

}  // namespace

BOOST_AUTO_TEST_SUITE(etf_term)

BOOST_AUTO_TEST_CASE(atoms_are_checked_utf8_of_at_most_255_characters) {
  BOOST_TEST(atom("ok").str() == "ok");
  BOOST_TEST(atom().str().empty());
  BOOST_TEST(atom("\xce\xb1\xce\xb2").str() == "\xce\xb1\xce\xb2");           // αβ
  BOOST_TEST(atom(std::string(255, 'a')).str().size() == 255u);               // 255 characters
  BOOST_TEST(atom::make(std::string(255 * 2, '\xc3')).has_value() == false);  // not UTF-8
  std::string long_utf8;
  for (int i = 0; i < 255; ++i) long_utf8 += "\xf0\x9f\x98\x80";  // 255 emoji, 1020 bytes
  BOOST_TEST(atom::make(long_utf8).has_value());
  BOOST_TEST(!atom::make(long_utf8 + "a").has_value());
  BOOST_TEST(!atom::make(std::string(256, 'a')).has_value());
  const auto bad = atom::make("a\xff");
  BOOST_REQUIRE(!bad.has_value());
  BOOST_TEST(bad.error().code() == std::make_error_code(std::errc::invalid_argument));
  BOOST_TEST(bad.error().reason().find("not valid UTF-8 at byte 1") != std::string::npos);
  BOOST_CHECK_THROW(atom("\xed\xa0\x80"), std::invalid_argument);      // a surrogate
  BOOST_CHECK_THROW(atom("\xc0\x80"), std::invalid_argument);          // overlong NUL
  BOOST_CHECK_THROW(atom("\xf4\x90\x80\x80"), std::invalid_argument);  // beyond U+10FFFF
  BOOST_TEST((atom("a") < atom("b")));
  BOOST_TEST(atom("pong") == "pong");
}

BOOST_AUTO_TEST_CASE(default_is_nil_and_kinds_are_reported) {
  const term nil;
  BOOST_TEST(nil.is_nil());
  BOOST_TEST(nil.is_list());
  BOOST_TEST((nil.type() == kind::list));
  BOOST_TEST(term(7).is_integer());
  BOOST_TEST(*term(7).as_integer() == 7);
  BOOST_TEST(term(true).is_atom("true"));
  BOOST_TEST(term(false).is_atom("false"));
  BOOST_TEST(*term(1.5).as_float() == 1.5);
  BOOST_TEST(term(1.5).as_integer() == nullptr);
  BOOST_TEST(nodus::etf::kind_name(kind::bit_binary) == "bitstring");
  BOOST_TEST(nodus::etf::kind_name(kind::external_fun) == "fun");
}

BOOST_AUTO_TEST_CASE(integers_beyond_int64_are_bignums_and_bignums_that_fit_are_integers) {
  const term max_u64(std::numeric_limits<std::uint64_t>::max());
  BOOST_REQUIRE(max_u64.as_big_integer() != nullptr);
  BOOST_TEST(max_u64.as_big_integer()->magnitude.size() == 8u);
  BOOST_TEST(!max_u64.as_big_integer()->negative);
  BOOST_TEST(max_u64.to_string() == "18446744073709551615");

  // A bignum with high zero bytes, and one that fits: normalised.
  BOOST_TEST(*term(big_integer{false, {5, 0, 0}}).as_integer() == 5);
  BOOST_TEST(*term(big_integer{true, {5}}).as_integer() == -5);
  BOOST_TEST(*term(big_integer{true, {}}).as_integer() == 0);
  BOOST_TEST(*term(big_integer{true, {0, 0, 0, 0, 0, 0, 0, 0x80}}).as_integer() ==
             std::numeric_limits<std::int64_t>::min());
  BOOST_TEST(term(big_integer{false, {0, 0, 0, 0, 0, 0, 0, 0x80}}).as_big_integer() != nullptr);
  const term big(big_integer{true, {0, 0, 0, 0, 0, 0, 0, 0, 1}});  // -(2^64)
  BOOST_TEST(big.to_string() == "-18446744073709551616");
  BOOST_TEST(term(big_integer{false, {0, 0, 0, 0, 0, 0, 0, 0, 0, 1}}).to_string() ==
             "4722366482869645213696");  // 2^72
}

BOOST_AUTO_TEST_CASE(lists_take_the_canonical_form) {
  const term proper = term::list({1, 2});
  BOOST_TEST(proper.list_tail() == nullptr);
  const term improper = term::list({1}, a("b"));
  BOOST_REQUIRE(improper.list_tail() != nullptr);
  BOOST_TEST(improper.list_tail()->is_atom("b"));
  // [1|[2]] is [1,2]; [1|[2|c]] is [1,2|c]; [|x] is x; [|[]] is [].
  BOOST_TEST(term::list({1}, term::list({2})) == proper);
  BOOST_TEST(term::list({1}, term::list({2}, a("c"))) == term::list({1, 2}, a("c")));
  BOOST_TEST(term::list({}, a("x")) == a("x"));
  BOOST_TEST(term::list({}, term()).is_nil());
}

BOOST_AUTO_TEST_CASE(bit_binaries_take_the_canonical_form) {
  const term whole(bit_binary{{std::byte{1}, std::byte{2}}, 8});
  BOOST_TEST(whole.is_binary());
  const term partial(bit_binary{{std::byte{1}, std::byte{0xff}}, 3});
  BOOST_REQUIRE(partial.as_bit_binary() != nullptr);
  BOOST_TEST(static_cast<int>(partial.as_bit_binary()->bytes[1]) == 0xe0);  // low bits cleared
  BOOST_TEST(partial.to_string() == "<<1,7:3>>");
  BOOST_TEST(term(bit_binary{{}, 0}).is_binary());
  BOOST_CHECK_THROW(term(bit_binary{{std::byte{1}}, 0}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(copies_are_deep_and_moves_leave_nil) {
  term t = term::tuple({a("ok"), term::list({1, 2}, a("t")), term::binary("xyz"),
                        term(big_integer{false, {1, 2, 3, 4, 5, 6, 7, 8, 9}}),
                        term(nodus::etf::pid{atom("n@h"), 1, 2, 3})});
  term copy = t;
  BOOST_TEST(copy == t);
  (*copy.as_tuple())[0] = a("changed");
  BOOST_TEST(!(copy == t));
  BOOST_TEST(t.to_string() == "{ok,[1,2|t],<<\"xyz\">>,166599134359138271745,<n@h.1.2>}");
  term moved = std::move(copy);
  BOOST_TEST(copy.is_nil());  // NOLINT(bugprone-use-after-move): moved-from is []
  BOOST_TEST(moved.as_tuple()->size() == 5u);
  // Assigning a part of a term to the term itself.
  moved = (*moved.as_tuple())[1];
  BOOST_TEST(moved == term::list({1, 2}, a("t")));
  moved = std::move((*moved.as_list())[0]);
  BOOST_TEST(moved == term(1));
}

BOOST_AUTO_TEST_CASE(equality_is_erlangs_exact_equality) {
  BOOST_TEST(!(term(1) == term(1.0)));  // 1 =/= 1.0
  BOOST_TEST(!(term(0.0) == term(-0.0)));
  BOOST_TEST(term(0.5) == term(0.5));
  BOOST_TEST(!(term::list({97}) == term::binary("a")));
  // Maps are equal whatever the order of their entries.
  const term m1 = term::map({{a("a"), 1}, {a("b"), 2}, {3, term::nil()}});
  const term m2 = term::map({{3, term::nil()}, {a("b"), 2}, {a("a"), 1}});
  const term m3 = term::map({{3, term::nil()}, {a("b"), 2}, {a("a"), 2}});
  BOOST_TEST(m1 == m2);
  BOOST_TEST(!(m1 == m3));
  BOOST_TEST(nodus::etf::hash_value(m1) == nodus::etf::hash_value(m2));
  BOOST_TEST(*m1.find(a("b")) == term(2));
  BOOST_TEST(m1.find(a("c")) == nullptr);
  std::unordered_set<term> set{term(1), term(1.0), a("x"), m1};
  BOOST_TEST(set.count(m2) == 1u);
  BOOST_TEST(set.size() == 4u);
  nodus::etf::reference r1{atom("n@h"), 1, 2, {7, 8, 0, 0, 0}};
  nodus::etf::reference r2 = r1;
  BOOST_TEST(term(r1) == term(r2));
  r2.word_count = 3;
  BOOST_TEST(!(term(r1) == term(r2)));
}

BOOST_AUTO_TEST_CASE(printer_writes_erlang_syntax) {
  BOOST_TEST(term::tuple({a("ok"), a("n1@127.0.0.1"), a("pong")}).to_string() ==
             "{ok,'n1@127.0.0.1',pong}");
  BOOST_TEST(term::binary("abc").to_string() == "<<\"abc\">>");
  BOOST_TEST(term::binary(std::vector<std::byte>{std::byte{1}, std::byte{200}}).to_string() ==
             "<<1,200>>");
  BOOST_TEST(term::binary("").to_string() == "<<>>");
  BOOST_TEST(term::map({{a("a"), 1}, {a("b"), term::list({97, 98, 10})}}).to_string() ==
             "#{a => 1,b => \"ab\\n\"}");
  BOOST_TEST(term::map({}).to_string() == "#{}");
  BOOST_TEST(term::tuple({}).to_string() == "{}");
  BOOST_TEST(term::nil().to_string() == "[]");
  BOOST_TEST(term::list({1, a("x")}).to_string() == "[1,x]");
  BOOST_TEST(a("").to_string() == "''");
  BOOST_TEST(a("Caps").to_string() == "'Caps'");
  BOOST_TEST(a("it's").to_string() == "'it\\'s'");
  BOOST_TEST(a("and").to_string() == "'and'");
  BOOST_TEST(a("a@b_1").to_string() == "a@b_1");
  BOOST_TEST(term(1.0).to_string() == "1.0");
  BOOST_TEST(term(0.1).to_string() == "0.1");
  BOOST_TEST(term(1e10).to_string() == "1.0e10");
  BOOST_TEST(term(1.5e-7).to_string() == "1.5e-7");
  BOOST_TEST(term(-0.0).to_string() == "-0.0");
  BOOST_TEST(term(-12).to_string() == "-12");
  nodus::etf::reference r{atom("n@h"), 1, 3, {1, 2, 3, 0, 0}};
  BOOST_TEST(term(r).to_string() == "#Ref<n@h.3.2.1>");
  BOOST_TEST(term(nodus::etf::port{atom("n@h"), 5, 1}).to_string() == "#Port<n@h.5>");
  // Cut, on a character boundary.
  const term long_list = term::list(std::vector<term>(100, term(1234)));
  BOOST_TEST(long_list.to_string(20) == "[1234,1234,1234,1234...");
  BOOST_TEST(term::list(std::vector<term>(100, term(123))).to_string(6) == "\"{{{{{...");
  BOOST_TEST(a("\xce\xb1\xce\xb1\xce\xb1").to_string(4) == "'\xce\xb1...");
  // The logger's formatter finds the hooks.
  BOOST_TEST(nodus::format("got {} from {}", term::tuple({a("ok"), 1}), atom("n1@h")) ==
             "got {ok,1} from n1@h");
  BOOST_TEST(term(nodus::etf::pid{atom("n1@127.0.0.1"), 1, 2, 3}).to_string() ==
             "<'n1@127.0.0.1'.1.2>");
}

BOOST_AUTO_TEST_SUITE_END()

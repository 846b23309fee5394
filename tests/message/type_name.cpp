// Tests of nodus::type_name: the same text under GCC and clang.
#include <nodus/message/type_name.hpp>

#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

struct global_ping {};

namespace ns {
struct ping {};
struct outer {
  struct inner {};
};
template <class T>
struct box {};
template <class A, class B>
struct two {};
template <std::size_t N>
struct sized {};
enum class color { red, green };
template <color C>
struct painted {};
template <auto V>
struct value {};
}  // namespace ns

namespace a::b::c {
struct deep {};
}  // namespace a::b::c

namespace {
struct hidden {};
}  // namespace

using nodus::type_name;

// All of these are compile-time constants.
static_assert(type_name<ns::ping>() == "ns::ping");
static_assert(type_name<global_ping>() == "global_ping");
static_assert(type_name<int>() == "int");

namespace {

// GCC's spelling and clang's spelling of one type, through the normalization.
std::string normalized(std::string_view raw) {
  std::string out(nodus::detail::normalize_type_name(raw, nullptr), '\0');
  const std::size_t n = nodus::detail::normalize_type_name(raw, out.data());
  BOOST_TEST(n == out.size());
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(type_name_suite)

BOOST_AUTO_TEST_CASE(user_types_keep_their_namespaces) {
  BOOST_TEST(type_name<ns::ping>() == "ns::ping");
  BOOST_TEST(type_name<global_ping>() == "global_ping");
  BOOST_TEST(type_name<ns::outer>() == "ns::outer");
  BOOST_TEST(type_name<ns::outer::inner>() == "ns::outer::inner");
  BOOST_TEST(type_name<a::b::c::deep>() == "a::b::c::deep");
  BOOST_TEST(type_name<ns::color>() == "ns::color");
}

BOOST_AUTO_TEST_CASE(templates_are_spelled_alike) {
  BOOST_TEST(type_name<ns::box<ns::ping>>() == "ns::box<ns::ping>");
  BOOST_TEST(type_name<ns::box<ns::box<int>>>() == "ns::box<ns::box<int>>");
  BOOST_TEST((type_name<ns::two<int, ns::ping>>() == "ns::two<int, ns::ping>"));
  BOOST_TEST(type_name<ns::sized<3>>() == "ns::sized<3>");
  BOOST_TEST(type_name<ns::painted<ns::color::green>>() == "ns::painted<ns::color::green>");
  BOOST_TEST(type_name<ns::box<const int*>>() == "ns::box<const int*>");
  BOOST_TEST(type_name<ns::box<ns::ping&>>() == "ns::box<ns::ping&>");
  BOOST_TEST(type_name<ns::box<int[3]>>() == "ns::box<int[3]>");
  BOOST_TEST(type_name<ns::box<void(int)>>() == "ns::box<void(int)>");
  BOOST_TEST(type_name<ns::value<5UL>>() == "ns::value<5>");
  BOOST_TEST(type_name<ns::value<-5LL>>() == "ns::value<-5>");
  BOOST_TEST(type_name<ns::value<'x'>>() == "ns::value<'x'>");
  BOOST_TEST(type_name<ns::value<true>>() == "ns::value<true>");
}

BOOST_AUTO_TEST_CASE(builtin_types_use_the_short_spelling) {
  BOOST_TEST(type_name<long>() == "long");
  BOOST_TEST(type_name<unsigned long>() == "unsigned long");
  BOOST_TEST(type_name<long long>() == "long long");
  BOOST_TEST(type_name<unsigned long long>() == "unsigned long long");
  BOOST_TEST(type_name<short>() == "short");
  BOOST_TEST(type_name<unsigned short>() == "unsigned short");
  BOOST_TEST(type_name<unsigned>() == "unsigned int");
  BOOST_TEST(type_name<signed char>() == "signed char");
  BOOST_TEST(type_name<long double>() == "long double");
  BOOST_TEST((type_name<ns::two<long, unsigned short>>() == "ns::two<long, unsigned short>"));
}

BOOST_AUTO_TEST_CASE(standard_types_lose_libstdcxx_inline_namespace) {
  BOOST_TEST(type_name<std::string>() == "std::basic_string<char>");
  BOOST_TEST(type_name<ns::box<std::vector<std::string>>>() ==
             "ns::box<std::vector<std::basic_string<char>>>");
}

BOOST_AUTO_TEST_CASE(anonymous_namespace_is_spelled_like_clang) {
  BOOST_TEST(type_name<hidden>() == "(anonymous namespace)::hidden");
}

// Both compilers' raw spellings go through the same normalization, whichever compiled this test.
BOOST_AUTO_TEST_CASE(gcc_and_clang_spellings_normalize_alike) {
  struct both {
    std::string_view gcc, clang, expected;
  };
  const both cases[] = {
      {"ns::box<ns::box<int> >", "ns::box<ns::box<int>>", "ns::box<ns::box<int>>"},
      {"{anonymous}::anon", "(anonymous namespace)::anon", "(anonymous namespace)::anon"},
      {"long int", "long", "long"},
      {"long unsigned int", "unsigned long", "unsigned long"},
      {"long long int", "long long", "long long"},
      {"long long unsigned int", "unsigned long long", "unsigned long long"},
      {"short int", "short", "short"},
      {"short unsigned int", "unsigned short", "unsigned short"},
      {"ns::box<const int*>", "ns::box<const int *>", "ns::box<const int*>"},
      {"ns::box<ns::ping&>", "ns::box<ns::ping &>", "ns::box<ns::ping&>"},
      {"ns::box<int [3]>", "ns::box<int[3]>", "ns::box<int[3]>"},
      {"ns::box<void(int)>", "ns::box<void (int)>", "ns::box<void(int)>"},
      {"ns::box<int* const>", "ns::box<int *const>", "ns::box<int*const>"},
      {"std::__cxx11::basic_string<char>", "std::basic_string<char>", "std::basic_string<char>"},
      {"ns::value<5>", "ns::value<5UL>", "ns::value<5>"},
      {"ns::value<-5>", "ns::value<-5LL>", "ns::value<-5>"},
      {"ns::two<long int, short unsigned int>", "ns::two<long, unsigned short>",
       "ns::two<long, unsigned short>"},
  };
  for (const both& c : cases) {
    BOOST_TEST(normalized(c.gcc) == c.expected);
    BOOST_TEST(normalized(c.clang) == c.expected);
  }
}

BOOST_AUTO_TEST_CASE(words_that_merely_contain_a_spelling_are_kept) {
  BOOST_TEST(normalized("ns::long_int_holder") == "ns::long_int_holder");
  BOOST_TEST(normalized("ns::my_long int") == "ns::my_long int");
  BOOST_TEST(normalized("ns::box<long double>") == "ns::box<long double>");
  BOOST_TEST(normalized("ns::box<long integer>") == "ns::box<long integer>");
  BOOST_TEST(normalized("ns::v1ul::x") == "ns::v1ul::x");
  BOOST_TEST(normalized("ns::box<3ul_tag>") == "ns::box<3ul_tag>");
}

BOOST_AUTO_TEST_SUITE_END()

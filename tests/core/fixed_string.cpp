#include <nodus/core/fixed_string.hpp>

#include <boost/test/unit_test.hpp>

#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

namespace {

template <nodus::fixed_string... Hosts>
struct hosts {
  static constexpr std::size_t count = sizeof...(Hosts);
};

template <nodus::fixed_string Text>
constexpr std::string_view view_of() {
  return Text.view();
}

template <nodus::fixed_string Text>
struct tag {};

struct ping_server {
  static constexpr nodus::fixed_string name = "ping";
};

using cluster = hosts<"n1@127.0.0.1", "n2@127.0.0.1">;

}  // namespace

// Compile-time properties: deduction, template arguments, constexpr members.
static_assert(std::is_same_v<decltype(nodus::fixed_string{"ping"}), nodus::fixed_string<4>>);
static_assert(
    std::is_same_v<std::remove_const_t<decltype(ping_server::name)>, nodus::fixed_string<4>>);
static_assert(cluster::count == 2);
static_assert(hosts<>::count == 0);
static_assert(view_of<"n1@127.0.0.1">() == "n1@127.0.0.1");
static_assert(std::is_same_v<tag<"a">, tag<"a">>);
static_assert(!std::is_same_v<tag<"a">, tag<"b">>);
static_assert(!std::is_same_v<tag<"a">, tag<"ab">>);
static_assert(ping_server::name.view() == "ping");
static_assert(ping_server::name.size() == 4);
static_assert(!ping_server::name.empty());
static_assert(nodus::fixed_string{""}.empty());
static_assert(nodus::fixed_string{""}.size() == 0);
static_assert(ping_server::name == "ping");
static_assert("ping" == ping_server::name);
static_assert(ping_server::name != "pong");
static_assert(ping_server::name != "pin");
static_assert(ping_server::name == nodus::fixed_string{"ping"});
static_assert(ping_server::name != nodus::fixed_string{"pingpong"});
static_assert(nodus::fixed_string{"pingpong"} != ping_server::name);
static_assert(std::is_trivially_copyable_v<nodus::fixed_string<4>>);
static_assert(std::is_convertible_v<nodus::fixed_string<4>, std::string_view>);
static_assert(sizeof(nodus::fixed_string<4>) == 5);

BOOST_AUTO_TEST_SUITE(fixed_string)

BOOST_AUTO_TEST_CASE(accessors) {
  constexpr nodus::fixed_string s = "n1@127.0.0.1";
  BOOST_TEST(s.size() == 12u);
  BOOST_TEST(s.view() == "n1@127.0.0.1");
  BOOST_TEST(std::strlen(s.c_str()) == 12u);
  BOOST_TEST(s.c_str()[12] == '\0');
  BOOST_TEST(std::string(s.begin(), s.end()) == "n1@127.0.0.1");
  const std::string_view v = s;  // implicit conversion
  BOOST_TEST(v == "n1@127.0.0.1");
}

BOOST_AUTO_TEST_CASE(comparisons) {
  constexpr nodus::fixed_string a = "ping";
  constexpr nodus::fixed_string b = "ping";
  constexpr nodus::fixed_string c = "pong";
  constexpr nodus::fixed_string d = "pingpong";
  BOOST_TEST((a == b));
  BOOST_TEST((a != c));
  BOOST_TEST((a != d));
  BOOST_TEST((d != a));
  const std::string_view sv = "ping";
  const std::string str = "ping";
  BOOST_TEST((a == sv));
  BOOST_TEST((sv == a));
  BOOST_TEST((a == std::string_view(str)));
  BOOST_TEST((c != sv));
  BOOST_TEST((sv != c));
}

BOOST_AUTO_TEST_CASE(embedded_nul_is_part_of_the_string) {
  constexpr nodus::fixed_string s = "a\0b";
  BOOST_TEST(s.size() == 3u);
  BOOST_TEST((s.view() == std::string_view("a\0b", 3)));
}

BOOST_AUTO_TEST_SUITE_END()

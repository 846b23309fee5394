#include <nodus/core/fixed_string.hpp>
#include <nodus/core/format.hpp>
#include <nodus/core/log.hpp>

#include <boost/test/unit_test.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

using nodus::format;

namespace test_ns {

struct point {
  int x;
  int y;
};
void nodus_format(std::string& out, const point& p) { nodus::format_to(out, "<{},{}>", p.x, p.y); }

// A range with its own hook: the hook wins.
struct tagged_list {
  std::vector<int> items;
  [[nodiscard]] auto begin() const { return items.begin(); }
  [[nodiscard]] auto end() const { return items.end(); }
};
void nodus_format(std::string& out, const tagged_list& l) {
  out += "tagged:";
  out += std::to_string(l.items.size());
}

enum class color { red = 3, green = 7 };
enum class small : char { a = 65 };

}  // namespace test_ns

BOOST_AUTO_TEST_SUITE(format_suite)

BOOST_AUTO_TEST_CASE(placeholders_in_order) {
  BOOST_TEST(format("{} + {} = {}", 1, 2, 3) == "1 + 2 = 3");
  BOOST_TEST(format("no placeholders") == "no placeholders");
  BOOST_TEST(format("") == "");
  BOOST_TEST(format("{}", "only") == "only");
  BOOST_TEST(format("{}{}", "a", "b") == "ab");
  BOOST_TEST(format("--- Node up: {}", "n2@127.0.0.1") == "--- Node up: n2@127.0.0.1");
}

BOOST_AUTO_TEST_CASE(escapes) {
  BOOST_TEST(format("{{}}") == "{}");
  BOOST_TEST(format("{{{}}}", 5) == "{5}");
  BOOST_TEST(format("a{{b") == "a{b");
  BOOST_TEST(format("a}}b") == "a}b");
  BOOST_TEST(format("{{}}", 1) == "{}");  // no placeholder: the argument is unused
}

BOOST_AUTO_TEST_CASE(text_inside_braces_is_ignored) {
  BOOST_TEST(format("{:x}", 255) == "255");
  BOOST_TEST(format("{0} {1}", "a", "b") == "a b");
  BOOST_TEST(format("{:>10}|", "r") == "r|");
  BOOST_TEST(format("{a{b}", 1) == "1");
}

BOOST_AUTO_TEST_CASE(too_few_and_too_many_arguments) {
  BOOST_TEST(format("{} {}", 1) == "1 {}");
  BOOST_TEST(format("{}") == "{}");
  BOOST_TEST(format("{:x} {}") == "{:x} {}");  // a placeholder with no argument stays as written
  BOOST_TEST(format("{}", 1, 2, 3) == "1");
  BOOST_TEST(format("x", 1) == "x");
}

BOOST_AUTO_TEST_CASE(malformed_formats_are_written_as_is) {
  BOOST_TEST(format("a {", 1) == "a {");
  BOOST_TEST(format("a {b", 1) == "a {b");
  BOOST_TEST(format("a } b", 1) == "a } b");
  BOOST_TEST(format("}", 1) == "}");
  BOOST_TEST(format("{", 1) == "{");
  BOOST_TEST(format("}{", 1) == "}{");
  BOOST_TEST(format("{}}", 1) == "1}");
  BOOST_TEST(format("{{}", 1) == "{}");
  BOOST_TEST(format("{}{", 1, 2) == "1{");
}

BOOST_AUTO_TEST_CASE(every_short_format_is_safe) {
  // All format strings of up to 7 characters over "{}:a": no crash, no UB (run under sanitizers),
  // and plain text survives.
  const char alphabet[] = {'{', '}', ':', 'a'};
  std::string fmt;
  std::size_t checked = 0;
  for (std::size_t len = 0; len <= 7; ++len) {
    std::size_t combos = 1;
    for (std::size_t i = 0; i < len; ++i) combos *= 4;
    for (std::size_t c = 0; c < combos; ++c) {
      fmt.clear();
      for (std::size_t i = 0, v = c; i < len; ++i, v /= 4) fmt += alphabet[v % 4];
      const std::string r0 = format(fmt);
      const std::string r2 = format(fmt, 12, "xy");
      BOOST_TEST(r0.size() <= fmt.size());
      BOOST_TEST(r2.size() <= fmt.size() + 4);
      if (fmt.find_first_of("{}") == std::string::npos) BOOST_TEST(r0 == fmt);
      ++checked;
    }
  }
  BOOST_TEST(checked == 21845u);
}

BOOST_AUTO_TEST_CASE(format_to_appends) {
  std::string out = "prefix ";
  nodus::format_to(out, "{}-{}", 1, 2);
  nodus::format_to(out, "!");
  BOOST_TEST(out == "prefix 1-2!");
}

BOOST_AUTO_TEST_CASE(booleans_and_characters) {
  BOOST_TEST(format("{} {}", true, false) == "true false");
  BOOST_TEST(format("{}", 'x') == "x");
  BOOST_TEST(format("{}", static_cast<signed char>(-5)) == "-5");
  BOOST_TEST(format("{}", static_cast<unsigned char>(200)) == "200");
  BOOST_TEST(format("{}", u'A') == "65");
}

BOOST_AUTO_TEST_CASE(integers) {
  BOOST_TEST(format("{}", 0) == "0");
  BOOST_TEST(format("{}", -42) == "-42");
  BOOST_TEST(format("{}", static_cast<short>(-7)) == "-7");
  BOOST_TEST(format("{}", 42u) == "42");
  BOOST_TEST(format("{}", std::numeric_limits<std::int64_t>::min()) == "-9223372036854775808");
  BOOST_TEST(format("{}", std::numeric_limits<std::int64_t>::max()) == "9223372036854775807");
  BOOST_TEST(format("{}", std::numeric_limits<std::uint64_t>::max()) == "18446744073709551615");
  BOOST_TEST(format("{}", std::size_t{12}) == "12");
}

BOOST_AUTO_TEST_CASE(floating_point) {
  BOOST_TEST(format("{}", 0.5) == "0.5");
  BOOST_TEST(format("{}", 1.0) == "1");
  BOOST_TEST(format("{}", -2.25) == "-2.25");
  BOOST_TEST(format("{}", 0.1) == "0.1");
  BOOST_TEST(format("{}", 0.1f) == "0.1");
  BOOST_TEST(format("{}", 1e20) == "1e+20");
  BOOST_TEST(format("{}", 1.5L) == "1.5");
  BOOST_TEST(format("{}", std::numeric_limits<double>::infinity()) == "inf");
  BOOST_TEST(format("{}", -std::numeric_limits<double>::infinity()) == "-inf");
  BOOST_TEST(format("{}", std::numeric_limits<double>::quiet_NaN()) == "nan");
  BOOST_TEST(format("{}", std::numeric_limits<double>::max()) == "1.7976931348623157e+308");
}

BOOST_AUTO_TEST_CASE(strings) {
  const char* cstr = "c-string";
  const char* null_cstr = nullptr;
  char buffer[16] = "ab";
  char* mutable_cstr = buffer;
  const std::string s = "std::string";
  const std::string_view sv = "view";
  constexpr nodus::fixed_string fs = "fixed";
  BOOST_TEST(format("{}", cstr) == "c-string");
  BOOST_TEST(format("{}", null_cstr) == "(null)");
  BOOST_TEST(format("{}", buffer) == "ab");  // stops at the first NUL
  BOOST_TEST(format("{}", mutable_cstr) == "ab");
  BOOST_TEST(format("{}", s) == "std::string");
  BOOST_TEST(format("{}", sv) == "view");
  BOOST_TEST(format("{}", fs) == "fixed");
  BOOST_TEST(format("{}", "literal") == "literal");
  BOOST_TEST(format("{}", "") == "");
  BOOST_TEST(format("{}", std::string_view("a\0b", 3)) == std::string("a\0b", 3));
  const char unterminated[3] = {'x', 'y', 'z'};
  BOOST_TEST(format("{}", unterminated) == "xyz");  // never reads past the array
  BOOST_TEST(format("{}", "{}") == "{}");           // arguments are not re-parsed
}

BOOST_AUTO_TEST_CASE(errors) {
  BOOST_TEST(format("{}", std::make_error_code(std::errc::timed_out)) ==
             std::make_error_code(std::errc::timed_out).message());
  BOOST_TEST(format("{}", std::error_code(nodus::errc::nodedown)) == "node is down (nodedown)");
  BOOST_TEST(format("{}", nodus::errc::timeout) == "call timed out");
  BOOST_TEST(format("{}", std::errc::timed_out) ==
             std::make_error_condition(std::errc::timed_out).message());
  BOOST_TEST(format("{}", nodus::error(nodus::errc::server_crashed, "boom")) ==
             "server crashed: boom");
  BOOST_TEST(format("{}", nodus::error(nodus::errc::noproc)) ==
             "no server registered under that name (noproc)");
}

BOOST_AUTO_TEST_CASE(results) {
  const nodus::result<int> ok = 5;
  const nodus::result<int> bad = nodus::errc::timeout;
  const nodus::result<void> vok;
  const nodus::result<void> vbad = nodus::errc::nodedown;
  BOOST_TEST(format("{}", ok) == "5");
  BOOST_TEST(format("{}", bad) == "error: call timed out");
  BOOST_TEST(format("{}", vok) == "ok");
  BOOST_TEST(format("{}", vbad) == "error: node is down (nodedown)");
}

BOOST_AUTO_TEST_CASE(durations) {
  using namespace std::chrono_literals;
  BOOST_TEST(format("{}", 7ns) == "7ns");
  BOOST_TEST(format("{}", 250us) == "250us");
  BOOST_TEST(format("{}", 5000ms) == "5000ms");
  BOOST_TEST(format("{}", 3s) == "3s");
  BOOST_TEST(format("{}", 2min) == "2min");
  BOOST_TEST(format("{}", 1h) == "1h");
  BOOST_TEST(format("{}", -3s) == "-3s");
  BOOST_TEST(format("{}", std::chrono::duration<double>(1.5)) == "1.5s");
  BOOST_TEST(format("{}", std::chrono::duration<int, std::ratio<1, 100>>(3)) == "3[1/100]s");
  BOOST_TEST(format("{}", std::chrono::duration<int, std::ratio<2>>(3)) == "3[2]s");
  BOOST_TEST(format("timeout after {}", std::chrono::milliseconds(5000)) == "timeout after 5000ms");
}

BOOST_AUTO_TEST_CASE(pointers) {
  int x = 0;
  const int* p = &x;
  char expected[32];
  std::snprintf(expected, sizeof expected, "0x%llx",
                static_cast<unsigned long long>(reinterpret_cast<std::uintptr_t>(p)));
  BOOST_TEST(format("{}", p) == expected);
  BOOST_TEST(format("{}", static_cast<const void*>(p)) == expected);
  BOOST_TEST(format("{}", nullptr) == "0x0");
  BOOST_TEST(format("{}", static_cast<void*>(nullptr)) == "0x0");
}

BOOST_AUTO_TEST_CASE(ranges) {
  BOOST_TEST(format("{}", std::vector<int>{1, 2, 3}) == "[1, 2, 3]");
  BOOST_TEST(format("{}", std::vector<int>{}) == "[]");
  BOOST_TEST(format("{}", std::vector<std::string>{"a", "b"}) == "[a, b]");
  BOOST_TEST(format("{}", std::vector<std::vector<int>>{{1}, {2, 3}}) == "[[1], [2, 3]]");
  BOOST_TEST(format("{}", std::array<double, 2>{0.5, 2}) == "[0.5, 2]");
  const int raw[3] = {4, 5, 6};
  BOOST_TEST(format("{}", raw) == "[4, 5, 6]");
  BOOST_TEST(format("{}", std::vector<bool>{true, false}) == "[true, false]");
  BOOST_TEST(format("{}", std::map<int, std::string>{{1, "a"}, {2, "b"}}) == "[(1, a), (2, b)]");
  BOOST_TEST(format("{}", std::pair<int, const char*>{1, "x"}) == "(1, x)");
}

BOOST_AUTO_TEST_CASE(user_types_and_enums) {
  BOOST_TEST(format("p={}", test_ns::point{1, -2}) == "p=<1,-2>");
  BOOST_TEST(format("{}", std::vector<test_ns::point>{{1, 2}, {3, 4}}) == "[<1,2>, <3,4>]");
  BOOST_TEST(format("{}", test_ns::tagged_list{{1, 2, 3}}) == "tagged:3");  // the hook comes first
  BOOST_TEST(format("{}", test_ns::color::green) == "7");
  BOOST_TEST(format("{}", test_ns::small::a) == "65");
  BOOST_TEST(format("{}", nodus::log_level::warn) == "warn");
}

BOOST_AUTO_TEST_SUITE_END()

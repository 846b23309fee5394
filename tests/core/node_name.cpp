#include <nodus/core/fixed_string.hpp>
#include <nodus/core/format.hpp>
#include <nodus/core/node_name.hpp>

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <vector>

using nodus::node_name;
using namespace nodus::literals;

// Compile-time: the literal is validated and usable in constant expressions.
namespace {
constexpr node_name n1 = "n1@127.0.0.1"_node;
constexpr node_name from_text = node_name::from<"ping-server_2@host.example.com">();
// The way a topology turns its fixed_string template arguments into node names.
template <nodus::fixed_string... Hosts>
struct hosts {
  static constexpr node_name nodes[sizeof...(Hosts)] = {node_name::from<Hosts>()...};
};
using cluster = hosts<"n1@127.0.0.1", "n2@127.0.0.1">;
}  // namespace
static_assert(n1.str() == "n1@127.0.0.1");
static_assert(n1.alive() == "n1");
static_assert(n1.host() == "127.0.0.1");
static_assert(n1.size() == 12);
static_assert(!n1.empty());
static_assert(from_text.alive() == "ping-server_2");
static_assert(from_text.host() == "host.example.com");
static_assert(cluster::nodes[1] == "n2@127.0.0.1"_node);
static_assert(cluster::nodes[1].host() == "127.0.0.1");
static_assert("a@b@c"_node.host() == "b@c");
static_assert("n1@127.0.0.1"_node == "n1@127.0.0.1"_node);
static_assert("n1@127.0.0.1"_node < "n2@127.0.0.1"_node);
static_assert(node_name{}.empty());
static_assert(node_name::is_valid("n1@h"));
static_assert(!node_name::is_valid(""));
static_assert(!node_name::is_valid("n1"));
static_assert(!node_name::is_valid("n1@"));
static_assert(!node_name::is_valid("@h"));
static_assert(!node_name::is_valid("n.1@h"));
static_assert(!node_name::is_valid("n1@h h"));

// The type is a plain value: it can travel in a message as its bytes.
static_assert(std::is_trivially_copyable_v<node_name>);
static_assert(std::is_standard_layout_v<node_name>);
static_assert(std::is_nothrow_default_constructible_v<node_name>);
static_assert(sizeof(node_name) == node_name::max_size + 2);
static_assert(node_name::max_size == 255);
static_assert(!std::is_convertible_v<std::string_view, node_name>);
static_assert(!std::is_convertible_v<const char*, node_name>);
static_assert(!std::is_convertible_v<node_name, std::string_view>);

namespace {

// Parses text, expects failure, and returns the error.
nodus::error parse_error(std::string_view text) {
  auto r = node_name::parse(text);
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST((r.code() == nodus::errc::invalid_node_name));
  BOOST_TEST((r.error() == nodus::errc::invalid_node_name));
  return r.error();
}

bool contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(node_name_suite)

BOOST_AUTO_TEST_CASE(parse_valid) {
  auto r = node_name::parse("n1@127.0.0.1");
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(r->str() == "n1@127.0.0.1");
  BOOST_TEST(r->alive() == "n1");
  BOOST_TEST(r->host() == "127.0.0.1");
  BOOST_TEST(r->size() == 12u);
  BOOST_TEST(!r->empty());
  BOOST_TEST((*r == "n1@127.0.0.1"_node));
  BOOST_TEST((*r == std::string_view("n1@127.0.0.1")));
}

BOOST_AUTO_TEST_CASE(parse_accepts_what_erlang_accepts) {
  // Alive part [0-9A-Za-z_-]+, host part printable non-space ASCII, split at the first '@'.
  for (std::string_view text : {"a@b", "A-Z_a-z_0-9@host", "-@h", "_@h", "9@h", "n1@localhost",
                                "n1@host-1.example.com", "n1@::1", "n1@[::1]", "n1@!~", "a@b@c"}) {
    BOOST_TEST_CONTEXT(text) {
      auto r = node_name::parse(text);
      BOOST_TEST_REQUIRE(r.has_value());
      BOOST_TEST(r->str() == text);
      BOOST_TEST(r->alive() == text.substr(0, text.find('@')));
      BOOST_TEST(r->host() == text.substr(text.find('@') + 1));
    }
  }
  auto r = node_name::parse("a@b@c");
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(r->alive() == "a");
  BOOST_TEST(r->host() == "b@c");
}

BOOST_AUTO_TEST_CASE(parse_empty) {
  const auto e = parse_error("");
  BOOST_TEST(contains(e.reason(), "\"\" is empty"));
  BOOST_TEST(e.message() == "invalid node name: \"\" is empty; expected name@host");
}

BOOST_AUTO_TEST_CASE(parse_without_at) {
  const auto e = parse_error("n1");
  BOOST_TEST(e.reason() == "\"n1\" has no '@'; expected name@host");
}

BOOST_AUTO_TEST_CASE(parse_empty_host) {
  const auto e = parse_error("n1@");
  BOOST_TEST(e.reason() == "\"n1@\" has an empty host part after '@'");
}

BOOST_AUTO_TEST_CASE(parse_empty_name_part) {
  BOOST_TEST(parse_error("@h").reason() == "\"@h\" has an empty name part before '@'");
  BOOST_TEST(parse_error("@").reason() == "\"@\" has an empty name part before '@'");
  BOOST_TEST(parse_error("@@").reason() == "\"@@\" has an empty name part before '@'");
}

BOOST_AUTO_TEST_CASE(parse_length_limit) {
  const std::string ok = std::string(250, 'a') + "@host";  // 255 bytes
  BOOST_TEST_REQUIRE(ok.size() == 255u);
  auto r = node_name::parse(ok);
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(r->str() == ok);
  BOOST_TEST(r->host() == "host");

  const std::string too_long = std::string(251, 'a') + "@host";  // 256 bytes
  const auto e = parse_error(too_long);
  BOOST_TEST(contains(e.reason(), "is 256 bytes long; a node name has at most 255"));
  // The input is named, but cut to keep the message readable.
  BOOST_TEST(contains(e.reason(), "\"" + std::string(40, 'a') + "...\""));
  BOOST_TEST(e.reason().size() < 150u);
}

BOOST_AUTO_TEST_CASE(parse_bad_name_characters) {
  BOOST_TEST(parse_error("n.1@h").reason() ==
             "\"n.1@h\" has character '.' at offset 1 in its name part; "
             "allowed there: A-Z a-z 0-9 _ -");
  BOOST_TEST(contains(parse_error("n 1@h").reason(), "character ' ' at offset 1 in its name"));
  BOOST_TEST(contains(parse_error("n+@h").reason(), "character '+' at offset 1 in its name"));
  BOOST_TEST(
      contains(parse_error("\xc3\xb1@h").reason(), "character '\\xc3' at offset 0 in its name"));
  BOOST_TEST(contains(parse_error("n1\n@h").reason(), "character '\\x0a' at offset 2 in its name"));
}

BOOST_AUTO_TEST_CASE(parse_bad_host_characters) {
  BOOST_TEST(parse_error("n1@h h").reason() ==
             "\"n1@h h\" has character ' ' at offset 4 in its host part; "
             "allowed there: printable ASCII except space");
  BOOST_TEST(contains(parse_error("n1@\th").reason(), "character '\\x09' at offset 3 in its host"));
  BOOST_TEST(
      contains(parse_error("n1@h\x7f").reason(), "character '\\x7f' at offset 4 in its host"));
  BOOST_TEST(
      contains(parse_error("n1@h\xc3\xa9").reason(), "character '\\xc3' at offset 4 in its host"));
  const std::string with_nul("n1@h\0x", 6);
  BOOST_TEST(contains(parse_error(with_nul).reason(), "character '\\x00' at offset 4 in its host"));
}

BOOST_AUTO_TEST_CASE(reason_escapes_quotes) {
  const auto e = parse_error("a\"b");
  BOOST_TEST(e.reason() == "\"a\\\"b\" has no '@'; expected name@host");
}

BOOST_AUTO_TEST_CASE(default_constructed_is_empty) {
  const node_name n;
  BOOST_TEST(n.empty());
  BOOST_TEST(n.size() == 0u);
  BOOST_TEST(n.str().empty());
  BOOST_TEST(n.alive().empty());
  BOOST_TEST(n.host().empty());
  BOOST_TEST((n == node_name{}));
  BOOST_TEST((n != "n1@h"_node));
  BOOST_TEST((n < "n1@h"_node));
}

BOOST_AUTO_TEST_CASE(copies_are_plain_bytes) {
  const node_name a = "n2@127.0.0.1"_node;
  node_name b;
  std::memcpy(static_cast<void*>(&b), &a, sizeof a);
  BOOST_TEST((a == b));
  BOOST_TEST(b.host() == "127.0.0.1");
  node_name c = a;
  c = "x@y"_node;
  BOOST_TEST(c.str() == "x@y");
  BOOST_TEST(a.str() == "n2@127.0.0.1");
}

BOOST_AUTO_TEST_CASE(ordering_is_by_string) {
  std::vector<node_name> v = {"n3@h"_node, "n1@h"_node, "n10@h"_node, "a@z"_node};
  std::sort(v.begin(), v.end());
  std::vector<std::string> s;
  s.reserve(v.size());
  for (const auto& n : v) s.emplace_back(n.str());
  BOOST_TEST(s == (std::vector<std::string>{"a@z", "n10@h", "n1@h", "n3@h"}),
             boost::test_tools::per_element());
  BOOST_TEST(("n1@a"_node < "n1@b"_node));
  BOOST_TEST(("n1@b"_node > "n1@a"_node));
  BOOST_TEST(("n1@a"_node <= "n1@a"_node));
  BOOST_TEST((("n1@a"_node <=> "n1@a"_node) == std::strong_ordering::equal));
  BOOST_TEST(("n1@h"_node < "n1@hh"_node));
}

BOOST_AUTO_TEST_CASE(literals_in_containers) {
  // These once crashed clang 14 with a literal operator template; keep them compiling.
  const std::vector<node_name> v = {"n1@h"_node, "n2@h"_node};
  const std::vector<std::pair<int, node_name>> p = {{1, "n1@h"_node}};
  BOOST_TEST(v.size() == 2u);
  BOOST_TEST(p[0].second.str() == "n1@h");
  const auto lambda = [] { return "n3@h"_node; };
  BOOST_TEST(lambda().alive() == "n3");
}

BOOST_AUTO_TEST_CASE(hash) {
  const node_name a = "n1@127.0.0.1"_node;
  BOOST_TEST(std::hash<node_name>{}(a) == std::hash<std::string_view>{}("n1@127.0.0.1"));
  std::unordered_set<node_name> set;
  set.insert(a);
  set.insert(*node_name::parse("n1@127.0.0.1"));
  set.insert("n2@127.0.0.1"_node);
  BOOST_TEST(set.size() == 2u);
  BOOST_TEST(set.count("n2@127.0.0.1"_node) == 1u);
}

BOOST_AUTO_TEST_CASE(formats_through_the_adl_hook) {
  BOOST_TEST(nodus::format("--- Node up: {}", "n2@127.0.0.1"_node) == "--- Node up: n2@127.0.0.1");
  std::string out = "x";
  nodus_format(out, "a@b"_node);  // found by ADL
  BOOST_TEST(out == "xa@b");
  const std::vector<node_name> nodes = {"n1@h"_node, "n2@h"_node};
  BOOST_TEST(nodus::format("{}", nodes) == "[n1@h, n2@h]");
  BOOST_TEST(nodus::format("[{}]", node_name{}) == "[]");
}

BOOST_AUTO_TEST_SUITE_END()

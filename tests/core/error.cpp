#include <nodus/core/error.hpp>

#include <boost/test/unit_test.hpp>

#include <memory>
#include <string>
#include <system_error>
#include <type_traits>

// GCC 12 at -O2 reports a false -Wmaybe-uninitialized in std::variant's destructor (the
// error alternative's std::string) when this whole file is inlined together; not a nodus bug.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

using nodus::errc;
using nodus::result;

static_assert(std::is_error_code_enum_v<errc>);
static_assert(std::is_convertible_v<errc, std::error_code>);
static_assert(std::is_convertible_v<errc, nodus::error>);
static_assert(std::is_convertible_v<errc, result<int>>);
static_assert(std::is_convertible_v<errc, result<void>>);
static_assert(std::is_same_v<result<int>::value_type, int>);
static_assert(std::is_same_v<result<void>::value_type, void>);

BOOST_AUTO_TEST_SUITE(error_suite)

BOOST_AUTO_TEST_CASE(errc_values_are_stable) {
  BOOST_TEST(static_cast<int>(errc::ok) == 0);
  BOOST_TEST(static_cast<int>(errc::timeout) == 1);
  BOOST_TEST(static_cast<int>(errc::noproc) == 2);
  BOOST_TEST(static_cast<int>(errc::nodedown) == 3);
  BOOST_TEST(static_cast<int>(errc::invalid_node_name) == 11);
  BOOST_TEST(static_cast<int>(errc::bad_cookie) == 12);
  BOOST_TEST(static_cast<int>(errc::not_running) == 18);
  BOOST_TEST(static_cast<int>(errc::mailbox_full) == 19);
  BOOST_TEST(static_cast<int>(errc::busy) == 20);
  BOOST_TEST(static_cast<int>(errc::tls_failed) == 21);
  BOOST_TEST(static_cast<int>(errc::max_children) == 22);
}

BOOST_AUTO_TEST_CASE(category) {
  const std::error_category& cat = nodus::error_category();
  BOOST_TEST(std::string(cat.name()) == "nodus");
  BOOST_TEST((&cat == &nodus::error_category()));
  for (int v = 0; v <= 22; ++v) {
    BOOST_TEST_CONTEXT("value " << v) {
      const std::string m = cat.message(v);
      BOOST_TEST(!m.empty());
      BOOST_TEST(m != "unknown nodus error");
    }
  }
  BOOST_TEST(cat.message(23) == "unknown nodus error");
  BOOST_TEST(cat.message(-1) == "unknown nodus error");
  BOOST_TEST(cat.message(1) == "call timed out");
}

BOOST_AUTO_TEST_CASE(error_code_interop) {
  const std::error_code ec = errc::nodedown;
  BOOST_TEST((ec.category() == nodus::error_category()));
  BOOST_TEST(ec.value() == 3);
  BOOST_TEST(ec.message() == "node is down (nodedown)");
  BOOST_TEST((ec == errc::nodedown));
  BOOST_TEST((ec != errc::noproc));
  BOOST_TEST((nodus::make_error_code(errc::timeout) == std::error_code(errc::timeout)));
  // Same value, other category: not equal.
  BOOST_TEST((std::error_code(1, std::generic_category()) != errc::timeout));
}

BOOST_AUTO_TEST_CASE(error_value) {
  const nodus::error none;
  BOOST_TEST(!none);
  BOOST_TEST(none.reason().empty());

  const nodus::error plain = errc::timeout;
  BOOST_TEST(static_cast<bool>(plain));
  BOOST_TEST(plain.message() == "call timed out");
  BOOST_TEST((plain == errc::timeout));
  BOOST_TEST((errc::timeout == plain));
  BOOST_TEST((plain != errc::noproc));

  const nodus::error crashed(errc::server_crashed, "handler threw: bad state");
  BOOST_TEST(crashed.reason() == "handler threw: bad state");
  BOOST_TEST(crashed.message() == "server crashed: handler threw: bad state");
  BOOST_TEST((crashed.code() == errc::server_crashed));
  // Equality compares codes only.
  BOOST_TEST((crashed == nodus::error(errc::server_crashed, "other")));
  BOOST_TEST((crashed != nodus::error(errc::timeout, "handler threw: bad state")));

  const nodus::error sys(std::make_error_code(std::errc::connection_refused), "n2@h");
  BOOST_TEST((sys.code() == std::errc::connection_refused));
  BOOST_TEST(sys.message() ==
             std::make_error_code(std::errc::connection_refused).message() + ": n2@h");

  // errc::ok is a "no error" value.
  BOOST_TEST(!nodus::error(errc::ok));
}

BOOST_AUTO_TEST_CASE(result_with_value) {
  result<int> r = 42;
  BOOST_TEST(r.has_value());
  BOOST_TEST(static_cast<bool>(r));
  BOOST_TEST(r.value() == 42);
  BOOST_TEST(*r == 42);
  BOOST_TEST(r.value_or(7) == 42);
  BOOST_TEST(!r.error());
  BOOST_TEST(!r.code());
  *r = 43;
  BOOST_TEST(r.value() == 43);

  const result<std::string> s = std::string("pong");
  BOOST_TEST(s->size() == 4u);
  BOOST_TEST(s.value() == "pong");

  result<int> d;  // default: a value-initialised T
  BOOST_TEST(d.has_value());
  BOOST_TEST(*d == 0);
}

BOOST_AUTO_TEST_CASE(result_with_error) {
  result<int> r = errc::timeout;
  BOOST_TEST(!r.has_value());
  BOOST_TEST(!r);
  BOOST_TEST((r.code() == errc::timeout));
  BOOST_TEST((r.error() == errc::timeout));
  BOOST_TEST(r.value_or(7) == 7);

  result<int> with_reason = nodus::error(errc::noproc, "ping on n2@h");
  BOOST_TEST(with_reason.error().reason() == "ping on n2@h");
  BOOST_TEST(with_reason.error().message() ==
             "no server registered under that name (noproc): ping on n2@h");

  result<int> from_code = std::make_error_code(std::errc::timed_out);
  BOOST_TEST(!from_code);
  BOOST_TEST((from_code.code() == std::errc::timed_out));
}

BOOST_AUTO_TEST_CASE(result_move_only) {
  result<std::unique_ptr<int>> r = std::make_unique<int>(5);
  BOOST_TEST_REQUIRE(r.has_value());
  std::unique_ptr<int> p = std::move(r).value();
  BOOST_TEST(*p == 5);

  result<std::unique_ptr<int>> e = errc::shutdown;
  BOOST_TEST((e.code() == errc::shutdown));

  result<std::string> s = std::string("abc");
  std::string taken = *std::move(s);
  BOOST_TEST(taken == "abc");
}

BOOST_AUTO_TEST_CASE(result_void) {
  const result<void> ok;
  BOOST_TEST(ok.has_value());
  BOOST_TEST(static_cast<bool>(ok));
  ok.value();
  BOOST_TEST(!ok.error());
  BOOST_TEST(!ok.code());

  const result<void> bad = nodus::error(errc::bad_cookie, "from n2@h");
  BOOST_TEST(!bad.has_value());
  BOOST_TEST((bad.code() == errc::bad_cookie));
  BOOST_TEST(bad.error().message() == "cookie mismatch: from n2@h");

  const result<void> from_errc = errc::nodedown;
  BOOST_TEST((from_errc.error() == errc::nodedown));
  const result<void> from_code = std::error_code(errc::malformed_frame);
  BOOST_TEST((from_code.code() == errc::malformed_frame));
}

BOOST_AUTO_TEST_SUITE_END()

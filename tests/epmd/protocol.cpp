// EPMD protocol encode/decode in isolation: byte layouts from erl_dist_protocol and from what
// Debian's epmd (OTP 25) sends, truncated and oversized inputs.
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "nodus/epmd/protocol.hpp"

namespace epmd = nodus::epmd;
using nodus::errc;
using bytes = std::vector<std::uint8_t>;

namespace {

bytes text_bytes(std::string_view s) { return bytes(s.begin(), s.end()); }

bytes cat(bytes a, const bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A scoped environment variable.
struct env_var {
  env_var(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~env_var() {
    if (old_.empty()) {
      ::unsetenv(name_);
    } else {
      ::setenv(name_, old_.c_str(), 1);
    }
  }
  const char* name_;
  std::string old_;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(epmd_protocol)

BOOST_AUTO_TEST_CASE(port_from_env_reads_erl_epmd_port) {
  {
    const env_var v("ERL_EPMD_PORT", nullptr);
    BOOST_TEST(epmd::port_from_env() == 4369);
  }
  {
    const env_var v("ERL_EPMD_PORT", "14369");
    BOOST_TEST(epmd::port_from_env() == 14369);
  }
  for (const char* bad : {"", "0", "65536", "12a", "-5", " 80", "999999999999999999999"}) {
    const env_var v("ERL_EPMD_PORT", bad);
    BOOST_TEST(epmd::port_from_env() == 4369, "ERL_EPMD_PORT='" << bad << "'");
  }
}

BOOST_AUTO_TEST_CASE(alive2_request_layout) {
  epmd::node_info n;
  n.name = "n1";
  n.port = 4501;
  // As erl (OTP 25) sends it, seen on the wire to Debian's epmd:
  // 00 0f | 78 11 95 4d 00 00 06 00 06 00 02 6e 31 00 00
  const bytes expected{0x00, 0x0f, 0x78, 0x11, 0x95, 0x4d, 0x00, 0x00, 0x06,
                       0x00, 0x06, 0x00, 0x02, 'n',  '1',  0x00, 0x00};
  const auto encoded = epmd::encode_alive2_request(n);
  BOOST_REQUIRE(encoded);
  BOOST_TEST(*encoded == expected, boost::test_tools::per_element());

  const auto length = epmd::request_length(std::span<const std::uint8_t, 2>(expected.data(), 2));
  BOOST_REQUIRE(length);
  BOOST_TEST(*length == 15u);
  const auto decoded = epmd::decode_alive2_request(std::span(expected).subspan(2));
  BOOST_REQUIRE(decoded);
  BOOST_TEST((*decoded == n));
}

BOOST_AUTO_TEST_CASE(alive2_request_round_trip_with_extra) {
  epmd::node_info n;
  n.name = "dörte";  // UTF-8 names are allowed
  n.port = 65535;
  n.node_type = epmd::node_type_hidden;
  n.highest_version = 6;
  n.lowest_version = 5;
  n.extra = std::string("\0\1x", 3);
  const auto encoded = epmd::encode_alive2_request(n);
  BOOST_REQUIRE(encoded);
  const auto decoded = epmd::decode_alive2_request(std::span(*encoded).subspan(2));
  BOOST_REQUIRE(decoded);
  BOOST_TEST((*decoded == n));
}

BOOST_AUTO_TEST_CASE(alive2_request_refuses_bad_names) {
  epmd::node_info n;
  n.port = 1;
  for (const std::string& bad :
       {std::string(), std::string(256, 'a'), std::string("a\0b", 3), std::string("\xff\xfe"),
        std::string("\xc0\x80"), std::string("\xed\xa0\x80"), std::string("ab\xe2\x82")}) {
    n.name = bad;
    const auto r = epmd::encode_alive2_request(n);
    BOOST_TEST(!r);
    BOOST_TEST((r.error() == errc::malformed_frame));
  }
  n.name = std::string(255, 'a');
  BOOST_TEST(epmd::encode_alive2_request(n).has_value());
  n.name = "x";
  n.extra = std::string(513, 'e');
  BOOST_TEST(!epmd::encode_alive2_request(n));
}

BOOST_AUTO_TEST_CASE(alive2_request_decode_rejects_truncated_and_overrunning) {
  epmd::node_info n;
  n.name = "node";
  n.port = 7;
  n.extra = "xy";
  const auto whole = epmd::encode_alive2_request(n).value();
  const auto body = std::span(whole).subspan(2);
  // Every truncation fails, never reads past the end (ASan checks the last part).
  for (std::size_t len = 0; len < body.size(); ++len) {
    const bytes cut(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(len));
    const auto r = epmd::decode_alive2_request(cut);
    BOOST_TEST(!r, "truncated to " << len);
    BOOST_TEST((r.error() == errc::malformed_frame));
  }
  // Trailing bytes.
  BOOST_TEST(!epmd::decode_alive2_request(cat(bytes(body.begin(), body.end()), {0})));
  // Nlen larger than the request.
  bytes big_nlen(body.begin(), body.end());
  big_nlen[9] = 0xff;
  big_nlen[10] = 0xff;
  BOOST_TEST(!epmd::decode_alive2_request(big_nlen));
  // Elen larger than the rest.
  bytes big_elen(body.begin(), body.end());
  big_elen[11 + 4] = 0x01;
  BOOST_TEST(!epmd::decode_alive2_request(big_elen));
  // Wrong code.
  bytes wrong(body.begin(), body.end());
  wrong[0] = 121;
  BOOST_TEST(!epmd::decode_alive2_request(wrong));
}

BOOST_AUTO_TEST_CASE(request_length_bounds) {
  const bytes zero{0, 0};
  const bytes max{0x04, 0x00};  // 1024
  const bytes over{0x04, 0x01};
  const bytes huge{0xff, 0xff};
  BOOST_TEST((epmd::request_length(std::span<const std::uint8_t, 2>(zero.data(), 2)).error() ==
              errc::malformed_frame));
  BOOST_TEST(*epmd::request_length(std::span<const std::uint8_t, 2>(max.data(), 2)) == 1024u);
  BOOST_TEST((epmd::request_length(std::span<const std::uint8_t, 2>(over.data(), 2)).error() ==
              errc::frame_too_large));
  BOOST_TEST((epmd::request_length(std::span<const std::uint8_t, 2>(huge.data(), 2)).error() ==
              errc::frame_too_large));
}

BOOST_AUTO_TEST_CASE(port_please2_request) {
  const auto r = epmd::encode_port_please2_request("n1");
  BOOST_REQUIRE(r);
  BOOST_TEST(*r == (bytes{0, 3, 122, 'n', '1'}), boost::test_tools::per_element());
  BOOST_TEST(*epmd::decode_port_please2_request(bytes{122, 'n', '1'}) == "n1");
  BOOST_TEST(*epmd::decode_port_please2_request(bytes{122, 'n', '1', 0}) == "n1");  // as epmd
  BOOST_TEST(!epmd::decode_port_please2_request(bytes{122}));
  BOOST_TEST(!epmd::decode_port_please2_request(bytes{122, 0}));
  BOOST_TEST(!epmd::decode_port_please2_request(bytes{122, 'a', 0, 'b'}));
  BOOST_TEST(!epmd::decode_port_please2_request(bytes{}));
  BOOST_TEST(!epmd::decode_port_please2_request(bytes{110, 'n'}));
  BOOST_TEST(!epmd::decode_port_please2_request(cat({122}, bytes(256, 'a'))));
  BOOST_TEST(!epmd::encode_port_please2_request(""));
  BOOST_TEST(!epmd::encode_port_please2_request(std::string(256, 'a')));
}

BOOST_AUTO_TEST_CASE(simple_requests) {
  BOOST_TEST(epmd::encode_request(epmd::request_code::names) == (bytes{0, 1, 110}),
             boost::test_tools::per_element());
  BOOST_TEST(epmd::encode_request(epmd::request_code::kill) == (bytes{0, 1, 107}),
             boost::test_tools::per_element());
  BOOST_TEST(epmd::encode_request(epmd::request_code::dump) == (bytes{0, 1, 100}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(alive2_responses) {
  // Debian's epmd (OTP 25) answered a version-6 registration with 76 00 6b 05 2a 01 and a
  // version-5 one with 79 00 00 01.
  const bytes x{0x76, 0x00, 0x6b, 0x05, 0x2a, 0x01};
  const auto rx = epmd::decode_alive2_response(x);
  BOOST_REQUIRE(rx);
  BOOST_TEST(rx->extended);
  BOOST_TEST(rx->result == 0);
  BOOST_TEST(rx->creation == 0x6b052a01u);
  BOOST_TEST(epmd::encode_alive2_response(*rx) == x, boost::test_tools::per_element());

  const bytes old{0x79, 0x00, 0x00, 0x01};
  const auto ro = epmd::decode_alive2_response(old);
  BOOST_REQUIRE(ro);
  BOOST_TEST(!ro->extended);
  BOOST_TEST(ro->creation == 1u);
  BOOST_TEST(epmd::encode_alive2_response(*ro) == old, boost::test_tools::per_element());

  // Refusal as epmd sends it: 76 01 00 00 00 63.
  const auto refused = epmd::decode_alive2_response(bytes{0x76, 0x01, 0, 0, 0, 0x63});
  BOOST_REQUIRE(refused);
  BOOST_TEST(refused->result == 1);

  BOOST_TEST(epmd::alive2_response_size(118) == 6u);
  BOOST_TEST(epmd::alive2_response_size(121) == 4u);
  BOOST_TEST(epmd::alive2_response_size(119) == 0u);
  BOOST_TEST(!epmd::decode_alive2_response(bytes{}));
  BOOST_TEST(!epmd::decode_alive2_response(bytes{0x76, 0, 0, 0, 0}));
  BOOST_TEST(!epmd::decode_alive2_response(bytes{0x76, 0, 0, 0, 0, 0, 0}));
  BOOST_TEST(!epmd::decode_alive2_response(bytes{0x79, 0, 0}));
  BOOST_TEST(!epmd::decode_alive2_response(bytes{0x77, 0, 0, 0}));
}

BOOST_AUTO_TEST_CASE(port2_responses) {
  // Debian's epmd answered PORT_PLEASE2_REQ "n1" with this, then closed:
  const bytes ok{0x77, 0x00, 0x11, 0x95, 0x4d, 0x00, 0x00, 0x06,
                 0x00, 0x06, 0x00, 0x02, 'n',  '1',  0x00, 0x00};
  const auto r = epmd::decode_port2_response(ok);
  BOOST_REQUIRE(r);
  BOOST_TEST(r->result == 0);
  BOOST_TEST(r->node.port == 4501);
  BOOST_TEST(r->node.node_type == 77);
  BOOST_TEST(r->node.name == "n1");
  BOOST_TEST(epmd::encode_port2_response(r->node) == ok, boost::test_tools::per_element());

  const auto err = epmd::decode_port2_response(bytes{0x77, 0x01});
  BOOST_REQUIRE(err);
  BOOST_TEST(err->result == 1);
  BOOST_TEST(epmd::encode_port2_error() == (bytes{0x77, 0x01}), boost::test_tools::per_element());

  for (std::size_t len = 0; len < ok.size(); ++len) {
    if (len == 2) continue;  // [119, 0] alone is a truncated success, checked below
    const bytes cut(ok.begin(), ok.begin() + static_cast<std::ptrdiff_t>(len));
    BOOST_TEST(!epmd::decode_port2_response(cut), "truncated to " << len);
  }
  BOOST_TEST(!epmd::decode_port2_response(bytes{0x77, 0x00}));
  BOOST_TEST(!epmd::decode_port2_response(cat(ok, {0})));
  BOOST_TEST(!epmd::decode_port2_response(bytes{0x77, 0x01, 0x00}));
  bytes overrun = ok;
  overrun[10] = 0xff;
  BOOST_TEST(!epmd::decode_port2_response(overrun));
  BOOST_TEST(!epmd::decode_port2_response(bytes{0x76, 0x01}));
}

BOOST_AUTO_TEST_CASE(names_responses) {
  // Debian's epmd on port 14369 (0x3821) answered NAMES_REQ with this:
  const bytes answer = cat(bytes{0x00, 0x00, 0x38, 0x21},
                           text_bytes("name n5 at port 4502\nname n1 at port 4501\n"));
  const auto r = epmd::decode_names_response(answer);
  BOOST_REQUIRE(r);
  BOOST_TEST(r->epmd_port == 14369u);
  BOOST_REQUIRE(r->nodes.size() == 2u);
  BOOST_TEST((r->nodes[0] == epmd::node_entry{"n5", 4502}));
  BOOST_TEST((r->nodes[1] == epmd::node_entry{"n1", 4501}));

  BOOST_TEST(epmd::names_line({"n1", 4501}) == "name n1 at port 4501\n");
  BOOST_TEST(epmd::encode_names_header(14369) == (bytes{0, 0, 0x38, 0x21}),
             boost::test_tools::per_element());
  // A name with spaces in it still parses (the port is after the last " at port ").
  const auto spaced =
      epmd::decode_names_response(cat(bytes{0, 0, 0, 1}, text_bytes("name a b at port 1\n")));
  BOOST_REQUIRE(spaced);
  BOOST_TEST(spaced->nodes.at(0).name == "a b");

  const auto empty = epmd::decode_names_response(bytes{0, 0, 0x11, 0x11});
  BOOST_REQUIRE(empty);
  BOOST_TEST(empty->nodes.empty());

  for (const char* bad : {"name n1 at port 4501", "name n1 at port \n", "name n1 at port 70000\n",
                          "name n1 at port 12x\n", "nam n1 at port 1\n", "name  at port 1\n",
                          "name n1 at port 1234567\n", "\n"}) {
    BOOST_TEST(!epmd::decode_names_response(cat(bytes{0, 0, 0, 1}, text_bytes(bad))), bad);
  }
  BOOST_TEST(!epmd::decode_names_response(bytes{0, 0, 1}));
}

BOOST_AUTO_TEST_SUITE_END()

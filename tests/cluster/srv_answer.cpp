// cluster::detail::parse_srv_answer: the SRV records of DNS responses built byte by byte here
// (RFC 1035 4.1, RFC 2782), well-formed and malformed: compression pointers (backwards, forwards,
// loops), truncation at every length, counts larger than the message, RDATA that overruns or does
// not fill, names over 255 bytes, reserved label types, error RCODEs and flags.
#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nodus/cluster/detail/srv_answer.hpp"

namespace {

using nodus::errc;
using nodus::cluster::detail::parse_srv_answer;
using nodus::cluster::detail::srv_record;

using bytes = std::vector<std::uint8_t>;

void u16(bytes& b, unsigned v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v & 0xFF));
}

// A DNS message under construction.
struct message {
  bytes b;

  // header(flags, qd, an, ns, ar): ID 0x1234; flags 0x8180 is a response (QR), RD, RA, NOERROR.
  static message header(unsigned flags, unsigned qd, unsigned an, unsigned ns = 0,
                        unsigned ar = 0) {
    message m;
    u16(m.b, 0x1234);
    u16(m.b, flags);
    for (unsigned c : {qd, an, ns, ar}) u16(m.b, c);
    return m;
  }
  // name("a.b.c"): its labels and the zero label ("" is the root alone).
  message& name(std::string_view text) {
    std::size_t pos = 0;
    while (pos < text.size()) {
      const auto dot = text.find('.', pos);
      const auto label = text.substr(pos, dot == std::string_view::npos ? dot : dot - pos);
      b.push_back(static_cast<std::uint8_t>(label.size()));
      b.insert(b.end(), label.begin(), label.end());
      if (dot == std::string_view::npos) break;
      pos = dot + 1;
    }
    b.push_back(0);
    return *this;
  }
  // labels("a.b"): labels without the zero label (a pointer or more follows).
  message& labels(std::string_view text) {
    name(text);
    b.pop_back();
    return *this;
  }
  message& pointer(unsigned offset) {
    u16(b, 0xC000 | offset);
    return *this;
  }
  message& question(std::string_view qname, unsigned type = 33) {
    name(qname);
    u16(b, type);
    u16(b, 1);
    return *this;
  }
  // rr_fixed(type, rdlength): TYPE, CLASS IN, TTL 30, RDLENGTH (after the owner name).
  message& rr_fixed(unsigned type, unsigned rdlength, unsigned klass = 1) {
    u16(b, type);
    u16(b, klass);
    u16(b, 0);
    u16(b, 30);
    u16(b, rdlength);
    return *this;
  }
  // srv(owner_pointer, prio, weight, port, target): an SRV record, its owner a pointer to the
  // question's name, its target uncompressed.
  message& srv(unsigned prio, unsigned weight, unsigned port, std::string_view target) {
    pointer(12);
    const std::size_t wire = target.empty() ? 1 : target.size() + 2;
    rr_fixed(33, 6 + static_cast<unsigned>(wire));
    u16(b, prio);
    u16(b, weight);
    u16(b, port);
    name(target);
    return *this;
  }
  [[nodiscard]] std::span<const std::uint8_t> span() const { return b; }
};

constexpr std::string_view service = "nodus.default.svc.cluster.local";

// expect_malformed(m, needle): parse fails with malformed_frame, its reason holding needle.
void expect_malformed(const bytes& m, std::string_view needle) {
  const auto r = parse_srv_answer(m);
  BOOST_REQUIRE_MESSAGE(!r, "parsed a malformed answer");
  BOOST_TEST((r.error().code() == errc::malformed_frame), r.error().message());
  BOOST_TEST(r.error().reason().find("malformed DNS answer: ") == 0u, r.error().reason());
  BOOST_TEST(r.error().reason().find(needle) != std::string::npos, r.error().reason());
}

message two_targets() {
  auto m = message::header(0x8180, 1, 3).question(service);
  m.srv(10, 50, 4369, "nodus-0.nodus.default.svc.cluster.local");
  // A CNAME record in between: skipped (its RDATA: a pointer to the question's name).
  m.pointer(12).rr_fixed(5, 2).pointer(12);
  // The second target compressed: "nodus-1" then a pointer to the question's name.
  m.pointer(12).rr_fixed(33, 6 + 8 + 2);
  u16(m.b, 10);
  u16(m.b, 50);
  u16(m.b, 0);
  m.labels("nodus-1").pointer(12);
  return m;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(srv_answer)

BOOST_AUTO_TEST_CASE(reads_srv_records_and_skips_other_types) {
  const auto m = two_targets();
  const auto r = parse_srv_answer(m.span());
  BOOST_REQUIRE_MESSAGE(r, r.error().message());
  BOOST_REQUIRE_EQUAL(r->size(), 2u);
  const srv_record first{10, 50, 4369, "nodus-0.nodus.default.svc.cluster.local", true};
  const srv_record second{10, 50, 0, "nodus-1.nodus.default.svc.cluster.local", true};
  BOOST_TEST((r->at(0) == first));
  BOOST_TEST((r->at(1) == second));
}

BOOST_AUTO_TEST_CASE(an_answer_without_records_is_empty_and_the_root_target_is_no_host) {
  const auto none = message::header(0x8180, 1, 0).question(service);
  const auto r = parse_srv_answer(none.span());
  BOOST_REQUIRE(r);
  BOOST_TEST(r->empty());

  auto root = message::header(0x8180, 1, 1).question(service);
  root.srv(0, 0, 0, "");
  const auto rr = parse_srv_answer(root.span());
  BOOST_REQUIRE_MESSAGE(rr, rr.error().message());
  BOOST_REQUIRE_EQUAL(rr->size(), 1u);
  BOOST_TEST(rr->front().target.empty());
  BOOST_TEST(!rr->front().host_name);
}

BOOST_AUTO_TEST_CASE(a_target_with_other_bytes_is_no_host_name) {
  for (std::string_view label : {std::string_view("a b"), std::string_view("a\0b", 3),
                                 std::string_view("a.b"), std::string_view("\xc3\xa9")}) {
    auto m = message::header(0x8180, 1, 1).question(service);
    m.pointer(12).rr_fixed(33, 6 + 1 + static_cast<unsigned>(label.size()) + 2);
    for (int i = 0; i < 3; ++i) u16(m.b, 1);
    m.b.push_back(static_cast<std::uint8_t>(label.size()));
    m.b.insert(m.b.end(), label.begin(), label.end());
    m.pointer(12);
    const auto r = parse_srv_answer(m.span());
    BOOST_REQUIRE_MESSAGE(r, r.error().message());
    BOOST_REQUIRE_EQUAL(r->size(), 1u);
    BOOST_TEST(!r->front().host_name, r->front().target);
  }
}

BOOST_AUTO_TEST_CASE(every_truncation_fails_cleanly) {
  const auto whole = two_targets();
  for (std::size_t n = 0; n < whole.b.size(); ++n) {
    const bytes cut(whole.b.begin(), whole.b.begin() + static_cast<std::ptrdiff_t>(n));
    const auto r = parse_srv_answer(cut);
    BOOST_TEST(!r, "a cut at " << n << " bytes parsed");
    if (!r) BOOST_TEST((r.error().code() == errc::malformed_frame), r.error().message());
  }
  expect_malformed({}, "shorter than a DNS header (0 bytes)");
}

BOOST_AUTO_TEST_CASE(compression_pointers_only_go_backwards) {
  // The question's name a pointer to itself.
  auto self = message::header(0x8180, 1, 0).pointer(12);
  self.b.resize(self.b.size() + 4);  // QTYPE, QCLASS
  expect_malformed(self.b, "a loop");
  // A pointer forward (to the byte after it).
  auto forward = message::header(0x8180, 1, 0).pointer(14);
  forward.b.resize(forward.b.size() + 5);
  expect_malformed(forward.b, "points forward");
  // A chain: the owner name's labels, then a pointer back to their own start.
  auto chain = message::header(0x8180, 1, 1).question(service);
  const auto owner = static_cast<unsigned>(chain.b.size());
  chain.labels("x").pointer(owner);
  chain.rr_fixed(33, 7);
  chain.b.resize(chain.b.size() + 7);
  expect_malformed(chain.b, "a loop");
  // A pointer that goes back, but only into its own name's labels: "a", "b", then a pointer to
  // "b" (a rule of "behind the pointer" alone would loop on "b" for ever).
  auto into_own = message::header(0x8180, 1, 0).labels("a.b").pointer(14);
  expect_malformed(into_own.b, "a loop");
  // Legal chains: a name that points back to a name that points further back.
  auto chains = message::header(0x8180, 3, 0).question("x.y");  // offsets 12..20
  chains.labels("z").pointer(14);                               // 21: "z", then "y"
  chains.b.resize(chains.b.size() + 4);
  chains.pointer(21);  // 29: "z" (and "y" through the pointer after it)
  chains.b.resize(chains.b.size() + 4);
  const auto ok = parse_srv_answer(chains.b);
  BOOST_TEST(ok.has_value(), (ok ? std::string() : ok.error().message()));
}

BOOST_AUTO_TEST_CASE(counts_that_the_message_cannot_hold_fail) {
  auto m = message::header(0x8180, 1, 0xFFFF).question(service);
  m.srv(0, 0, 0, "a.test");
  expect_malformed(m.b, "records, more than its");
  auto q = message::header(0x8180, 0xFFFF, 0);
  expect_malformed(q.b, "65535 questions");
}

BOOST_AUTO_TEST_CASE(rdata_must_hold_the_srv_fields_exactly) {
  // RDATA longer than the rest of the message.
  auto over = message::header(0x8180, 1, 1).question(service);
  over.pointer(12).rr_fixed(33, 400);
  over.b.resize(over.b.size() + 20);
  expect_malformed(over.b, "runs past the end of the message");
  // Too short for priority, weight, port and a name.
  auto small = message::header(0x8180, 1, 1).question(service);
  small.pointer(12).rr_fixed(33, 6);
  small.b.resize(small.b.size() + 6);
  expect_malformed(small.b, "6 bytes of RDATA (7 at least)");
  // A target that goes on past RDLENGTH, and one that ends before it.
  auto overrun = message::header(0x8180, 1, 1).question(service);
  overrun.pointer(12).rr_fixed(33, 8);
  for (int i = 0; i < 3; ++i) u16(overrun.b, 1);
  overrun.name("abc");
  expect_malformed(overrun.b, "overruns its RDATA");
  auto underfill = message::header(0x8180, 1, 1).question(service);
  underfill.pointer(12).rr_fixed(33, 6 + 5 + 3);
  for (int i = 0; i < 3; ++i) u16(underfill.b, 1);
  underfill.name("abc");
  underfill.b.resize(underfill.b.size() + 3);
  expect_malformed(underfill.b, "does not fill its RDATA");
}

BOOST_AUTO_TEST_CASE(names_over_255_bytes_and_reserved_labels_fail) {
  std::string long_name;
  for (int i = 0; i < 5; ++i) long_name += std::string(60, 'a') + ".";
  long_name.pop_back();  // 5 x 61 + 1 = 306 bytes on the wire
  expect_malformed(message::header(0x8180, 1, 0).question(long_name).b, "longer than 255 bytes");
  auto extended = message::header(0x8180, 1, 0);
  extended.b.push_back(0x41);  // RFC 6891's obsolete extended label type
  extended.b.resize(extended.b.size() + 8);
  expect_malformed(extended.b, "label type 1");
}

BOOST_AUTO_TEST_CASE(flags_and_rcodes) {
  auto with = [](unsigned flags) {
    auto m = message::header(flags, 1, 1).question(service);
    m.srv(0, 0, 0, "a.test");
    return m.b;
  };
  expect_malformed(with(0x0100), "a query, not a response");
  expect_malformed(with(0x8980), "opcode 1");
  expect_malformed(with(0x8380), "truncated (TC set)");
  const auto nx = parse_srv_answer(with(0x8183));
  BOOST_REQUIRE(!nx);
  BOOST_TEST((nx.error().code() == errc::not_connected));
  BOOST_TEST(nx.error().reason() == "the DNS server answered NXDOMAIN (no such name)");
  const auto odd = parse_srv_answer(with(0x818B));
  BOOST_REQUIRE(!odd);
  BOOST_TEST(odd.error().reason() == "the DNS server answered RCODE 11");
}

BOOST_AUTO_TEST_SUITE_END()

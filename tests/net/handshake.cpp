// Tests of the distribution handshake codec, cookie digest and state machine, in isolation.
#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "nodus/net/dist_flags.hpp"
#include "nodus/net/handshake.hpp"

namespace hs = nodus::net::handshake;
namespace net = nodus::net;
using nodus::errc;
using nodus::node_name;
using namespace nodus::literals;

namespace {

using bytes = std::vector<std::byte>;

bytes from_hex(std::string_view hex) {
  bytes out;
  auto nibble = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::byte>(nibble(hex[i]) * 16 + nibble(hex[i + 1])));
  }
  return out;
}

bytes from_text(std::string_view text) {
  bytes out;
  for (char c : text) out.push_back(static_cast<std::byte>(c));
  return out;
}

// The body of the single framed message in framed.
bytes body_of(const bytes& framed) {
  auto f = hs::split_frame(framed);
  BOOST_REQUIRE(f.has_value());
  BOOST_REQUIRE_EQUAL(f->size, framed.size());
  return {f->body.begin(), f->body.end()};
}

hs::digest digest_from_hex(std::string_view hex) {
  const bytes b = from_hex(hex);
  hs::digest d{};
  BOOST_REQUIRE_EQUAL(b.size(), d.size());
  for (std::size_t i = 0; i < d.size(); ++i) d[i] = b[i];
  return d;
}

hs::options opts(node_name self, std::string cookie, std::uint32_t challenge,
                 net::dist_flags flags = net::dflags_nodus_default) {
  hs::options o;
  o.self = self;
  o.cookie = std::move(cookie);
  o.flags = flags;
  o.creation = 0x1000 + challenge % 7;
  o.challenge = challenge;
  return o;
}

// Moves every complete message from `from`'s output into `to`; returns the results of feed.
// Stops when `to` finishes.
void pump(hs::machine& from, hs::machine& to, std::vector<nodus::error>* errors = nullptr) {
  bytes wire = from.take_output();
  std::span<const std::byte> rest(wire);
  while (auto f = hs::split_frame(rest)) {
    if (to.finished()) break;
    auto r = to.feed(f->body);
    if (!r && errors != nullptr) errors->push_back(r.error());
    rest = rest.subspan(f->size);
  }
  BOOST_CHECK(rest.empty());
}

// The flags an OTP 25.2.3 node sent us in send_name (tests/net/erl_interop.cpp saw them).
constexpr net::dist_flags otp25_flags = 0x0000000d07df7fbdULL;

}  // namespace

BOOST_AUTO_TEST_SUITE(dist_flags)

BOOST_AUTO_TEST_CASE(values_match_erlang) {
  // erl_dist_protocol "Distribution Flags" and erts/emulator/beam/dist.h.
  BOOST_TEST(net::dflag_published == 0x1u);
  BOOST_TEST(net::dflag_extended_references == 0x4u);
  BOOST_TEST(net::dflag_utf8_atoms == 0x10000u);
  BOOST_TEST(net::dflag_big_creation == 0x40000u);
  BOOST_TEST(net::dflag_handshake_23 == 0x1000000u);
  BOOST_TEST(net::dflag_mandatory_25_digest == 0x4000000u);
  BOOST_TEST(net::dflag_spawn == (std::uint64_t{1} << 32));
  BOOST_TEST(net::dflag_name_me == (std::uint64_t{1} << 33));
  BOOST_TEST(net::dflag_v4_nc == (std::uint64_t{1} << 34));
  BOOST_TEST(net::dflag_alias == (std::uint64_t{1} << 35));
  BOOST_TEST(net::dflag_nodus == (std::uint64_t{1} << 60));
  BOOST_TEST(net::dflag_nodus_terms == (std::uint64_t{1} << 61));
  // dist.h DFLAG_DIST_MANDATORY_25 spelled out as a number.
  BOOST_TEST(net::dflags_mandatory_25 == 0x1070f94u);
  // ... plus DIST_MONITOR (0x8) and DIST_MONITOR_NAME (0x20): nodus answers MONITOR_P; and
  // DIST_HDR_ATOM_CACHE (0x2000) and FRAGMENTS (0x800000): nodus reads the distribution header;
  // ALIAS (1 << 35): nodus takes ALIAS_SEND; NODUS (1 << 60) and NODUS_TERMS (1 << 61).
  BOOST_TEST(net::dflags_nodus_default == 0x3000000c07872fbdULL);
}

BOOST_AUTO_TEST_CASE(otp25_sends_all_mandatory_flags_but_not_ours) {
  BOOST_TEST((otp25_flags & net::dflags_mandatory_25) == net::dflags_mandatory_25);
  BOOST_TEST((otp25_flags & net::dflags_mandatory_26) == net::dflags_mandatory_26);
  BOOST_TEST((otp25_flags & net::dflag_mandatory_25_digest) != 0u);
  BOOST_TEST((otp25_flags & net::dflag_nodus) == 0u);
  BOOST_TEST((otp25_flags & net::dflag_nodus_terms) == 0u);
  BOOST_TEST((net::dflags_nodus_default & net::dflag_nodus) != 0u);
  BOOST_TEST((net::dflags_nodus_default & net::dflag_dist_hdr_atom_cache) != 0u);
  BOOST_TEST((net::dflags_nodus_default & net::dflag_fragments) != 0u);
}

BOOST_AUTO_TEST_CASE(expand_mandatory_25) {
  BOOST_TEST(net::expand_mandatory_25(net::dflag_mandatory_25_digest) ==
             (net::dflag_mandatory_25_digest | net::dflags_mandatory_25));
  BOOST_TEST(net::expand_mandatory_25(net::dflag_published) == net::dflag_published);
}

BOOST_AUTO_TEST_CASE(describe) {
  BOOST_TEST(net::describe_dist_flags(0) == "0");
  BOOST_TEST(net::describe_dist_flags(net::dflag_published | net::dflag_handshake_23 |
                                      net::dflag_nodus | (std::uint64_t{1} << 45)) ==
             "PUBLISHED|HANDSHAKE_23|BIT45|NODUS");
  BOOST_TEST(net::dflag_name(3) == "");
  BOOST_TEST(net::describe_dist_flags(otp25_flags).find("MANDATORY_25_DIGEST") !=
             std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(digest)

BOOST_AUTO_TEST_CASE(matches_erlang_gen_digest) {
  // Reference values from Erlang/OTP 25.2.3:
  //   erlang:md5([Cookie | integer_to_list(Challenge)])
  struct ref {
    std::uint32_t challenge;
    std::string_view cookie;
    std::string_view md5;
  };
  for (const ref& r : {ref{1234567890, "nodus_cookie", "b8ee10754ccc9c71b4ca6ef2131da75c"},
                       ref{0, "C", "9c5959e6f08f10d0edbadf5be1f33c53"},
                       ref{4294967295u, "secret", "5dfd181e69aa587cc812eb333e6536b6"}}) {
    auto d = hs::make_digest(r.challenge, r.cookie);
    BOOST_REQUIRE(d);
    BOOST_TEST(hs::digest_equal(*d, digest_from_hex(r.md5)));
  }
}

BOOST_AUTO_TEST_CASE(compare_is_exact) {
  auto a = hs::make_digest(7, "x");
  BOOST_REQUIRE(a);
  hs::digest b = *a;
  BOOST_TEST(hs::digest_equal(*a, b));
  b[15] ^= std::byte{1};
  BOOST_TEST(!hs::digest_equal(*a, b));
  auto c = hs::make_digest(7, "y");
  BOOST_REQUIRE(c);
  BOOST_TEST(!hs::digest_equal(*a, *c));
}

BOOST_AUTO_TEST_CASE(random_challenges_differ) {
  auto a = hs::random_challenge();
  auto b = hs::random_challenge();
  auto c = hs::random_challenge();
  BOOST_REQUIRE(a && b && c);
  BOOST_TEST(!(*a == *b && *b == *c));  // 2^-64 odds of a false failure
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(codec)

BOOST_AUTO_TEST_CASE(decodes_real_otp25_send_name) {
  // Captured from `erl -name probe@127.0.0.1` (OTP 25.2.3) dialling us.
  const bytes wire = from_hex("001e4e0000000d07df7fbdee96f784000f70726f6265403132372e302e302e31");
  auto f = hs::split_frame(wire);
  BOOST_REQUIRE(f.has_value());
  BOOST_TEST(f->size == wire.size());
  auto m = hs::decode_name(f->body);
  BOOST_REQUIRE(m);
  BOOST_TEST(m->flags == otp25_flags);
  BOOST_TEST(m->creation == 0xee96f784u);
  BOOST_TEST(m->name.str() == "probe@127.0.0.1");
  // And we encode the same bytes.
  bytes again;
  hs::encode(*m, again);
  BOOST_TEST(again == wire);
}

BOOST_AUTO_TEST_CASE(round_trips) {
  {
    bytes w;
    hs::encode(hs::name_message{net::dflags_nodus_default, 42, "a@h"_node}, w);
    BOOST_TEST(w == from_hex("00124e3000000c07872fbd0000002a0003614068"));
    auto m = hs::decode_name(body_of(w));
    BOOST_REQUIRE(m);
    BOOST_TEST(m->flags == net::dflags_nodus_default);
    BOOST_TEST(m->creation == 42u);
    BOOST_TEST((m->name == "a@h"_node));
  }
  for (hs::status s :
       {hs::status::ok, hs::status::ok_simultaneous, hs::status::nok, hs::status::not_allowed,
        hs::status::alive, hs::status::alive_true, hs::status::alive_false}) {
    bytes w;
    hs::encode(hs::status_message{s, {}, 0}, w);
    bytes expected = from_text(std::string("s") + std::string(hs::to_string(s)));
    BOOST_TEST(body_of(w) == expected);
    auto m = hs::decode_status(body_of(w));
    BOOST_REQUIRE(m);
    BOOST_TEST((m->code == s));
  }
  {
    bytes w;
    hs::encode(hs::status_message{hs::status::named, "x@h"_node, 9}, w);
    BOOST_TEST(body_of(w) == from_hex("736e616d65643a000378406800000009"));
    auto m = hs::decode_status(body_of(w));
    BOOST_REQUIRE(m);
    BOOST_TEST((m->code == hs::status::named));
    BOOST_TEST((m->name == "x@h"_node));
    BOOST_TEST(m->creation == 9u);
  }
  {
    bytes w;
    hs::encode(hs::challenge_message{0x0102030405060708ULL, 0xdeadbeef, 7, "b@h"_node}, w);
    BOOST_TEST(w == from_hex("00164e0102030405060708deadbeef000000070003624068"));
    auto m = hs::decode_challenge(body_of(w));
    BOOST_REQUIRE(m);
    BOOST_TEST(m->flags == 0x0102030405060708ULL);
    BOOST_TEST(m->challenge == 0xdeadbeefu);
    BOOST_TEST(m->creation == 7u);
    BOOST_TEST((m->name == "b@h"_node));
  }
  {
    bytes w;
    hs::encode(hs::complement_message{0xd, 0x11223344}, w);
    BOOST_TEST(w == from_hex("0009630000000d11223344"));
    auto m = hs::decode_complement(body_of(w));
    BOOST_REQUIRE(m);
    BOOST_TEST(m->flags_high == 0xdu);
    BOOST_TEST(m->creation == 0x11223344u);
  }
  const hs::digest d = digest_from_hex("000102030405060708090a0b0c0d0e0f");
  {
    bytes w;
    hs::encode(hs::challenge_reply_message{0x01020304, d}, w);
    BOOST_TEST(w == from_hex("00157201020304000102030405060708090a0b0c0d0e0f"));
    auto m = hs::decode_challenge_reply(body_of(w));
    BOOST_REQUIRE(m);
    BOOST_TEST(m->challenge == 0x01020304u);
    BOOST_TEST((m->sum == d));
  }
  {
    bytes w;
    hs::encode(hs::challenge_ack_message{d}, w);
    BOOST_TEST(w == from_hex("001161000102030405060708090a0b0c0d0e0f"));
    auto m = hs::decode_challenge_ack(body_of(w));
    BOOST_REQUIRE(m);
    BOOST_TEST((m->sum == d));
  }
}

BOOST_AUTO_TEST_CASE(extra_bytes_after_name_are_ignored) {
  // "Any extra data after the node Name must be accepted and ignored."
  bytes w;
  hs::encode(hs::name_message{net::dflags_nodus_default, 1, "a@h"_node}, w);
  bytes body = body_of(w);
  body.push_back(std::byte{0x99});
  BOOST_TEST(hs::decode_name(body).has_value());
  w.clear();
  hs::encode(hs::challenge_message{net::dflags_nodus_default, 1, 2, "a@h"_node}, w);
  body = body_of(w);
  body.push_back(std::byte{0x99});
  BOOST_TEST(hs::decode_challenge(body).has_value());
}

BOOST_AUTO_TEST_CASE(split_frame_waits_for_whole_message) {
  bytes w;
  hs::encode(hs::status_message{hs::status::ok, {}, 0}, w);
  hs::encode(hs::status_message{hs::status::nok, {}, 0}, w);
  for (std::size_t n = 0; n < 5; ++n) {
    BOOST_TEST(!hs::split_frame(std::span<const std::byte>(w).first(n)).has_value());
  }
  auto f = hs::split_frame(w);
  BOOST_REQUIRE(f.has_value());
  BOOST_TEST(f->size == 5u);
  BOOST_TEST(f->body.size() == 3u);
  auto g = hs::split_frame(std::span<const std::byte>(w).subspan(f->size));
  BOOST_REQUIRE(g.has_value());
  BOOST_TEST(g->size == 6u);
  // A zero-length message splits (the decoders reject it).
  const bytes zero = from_hex("0000");
  auto z = hs::split_frame(zero);
  BOOST_REQUIRE(z.has_value());
  BOOST_TEST(z->body.empty());
  BOOST_TEST((hs::decode_status(z->body).code() == errc::malformed_frame));
}

BOOST_AUTO_TEST_CASE(every_truncation_is_malformed) {
  const hs::digest d{};
  std::vector<bytes> bodies;
  bytes w;
  hs::encode(hs::name_message{net::dflags_nodus_default, 1, "abc@host"_node}, w);
  bodies.push_back(body_of(w));
  w.clear();
  hs::encode(hs::challenge_message{net::dflags_nodus_default, 1, 2, "abc@host"_node}, w);
  bodies.push_back(body_of(w));
  w.clear();
  hs::encode(hs::complement_message{1, 2}, w);
  bodies.push_back(body_of(w));
  w.clear();
  hs::encode(hs::challenge_reply_message{1, d}, w);
  bodies.push_back(body_of(w));
  w.clear();
  hs::encode(hs::challenge_ack_message{d}, w);
  bodies.push_back(body_of(w));
  w.clear();
  hs::encode(hs::status_message{hs::status::named, "abc@host"_node, 3}, w);
  bodies.push_back(body_of(w));

  auto check = [](std::span<const std::byte> b, std::size_t which) -> std::error_code {
    switch (which) {
      case 0: return hs::decode_name(b).code();
      case 1: return hs::decode_challenge(b).code();
      case 2: return hs::decode_complement(b).code();
      case 3: return hs::decode_challenge_reply(b).code();
      case 4: return hs::decode_challenge_ack(b).code();
      default: return hs::decode_status(b).code();
    }
  };
  for (std::size_t which = 0; which < bodies.size(); ++which) {
    const bytes& full = bodies[which];
    BOOST_TEST(!check(full, which));
    for (std::size_t n = 0; n < full.size(); ++n) {
      const auto code = check(std::span<const std::byte>(full).first(n), which);
      // A cut named: status may stop inside "named:" and read as an unknown status: also
      // malformed. Every prefix is an error, never a value.
      BOOST_TEST((code == errc::malformed_frame), "message " << which << " cut at " << n);
    }
  }
}

BOOST_AUTO_TEST_CASE(fixed_size_messages_reject_extra_bytes) {
  bytes w;
  hs::encode(hs::challenge_reply_message{1, hs::digest{}}, w);
  bytes b = body_of(w);
  b.push_back(std::byte{0});
  auto r = hs::decode_challenge_reply(b);
  BOOST_TEST((r.code() == errc::malformed_frame));
  BOOST_TEST(r.error().reason().find("oversized") != std::string::npos);
  w.clear();
  hs::encode(hs::challenge_ack_message{hs::digest{}}, w);
  b = body_of(w);
  b.push_back(std::byte{0});
  BOOST_TEST((hs::decode_challenge_ack(b).code() == errc::malformed_frame));
  w.clear();
  hs::encode(hs::complement_message{}, w);
  b = body_of(w);
  b.push_back(std::byte{0});
  BOOST_TEST((hs::decode_complement(b).code() == errc::malformed_frame));
  // A body longer than a 2-byte length can announce.
  bytes huge(70000, std::byte{'s'});
  BOOST_TEST((hs::decode_status(huge).code() == errc::malformed_frame));
  BOOST_TEST((hs::decode_name(huge).code() == errc::malformed_frame));
}

BOOST_AUTO_TEST_CASE(bad_contents) {
  // Wrong tag.
  auto r = hs::decode_challenge_ack(from_text("r0123456789abcdef"));
  BOOST_TEST((r.code() == errc::malformed_frame));
  BOOST_TEST(r.error().reason().find("got tag 'r'") != std::string::npos);
  // Non-printable tag.
  BOOST_TEST(hs::decode_status(from_hex("01")).error().reason().find("\\x01") != std::string::npos);
  // Unknown status.
  auto s = hs::decode_status(from_text("sokay"));
  BOOST_TEST((s.code() == errc::malformed_frame));
  BOOST_TEST(s.error().reason().find("\"okay\"") != std::string::npos);
  BOOST_TEST((hs::decode_status(from_text("s")).code() == errc::malformed_frame));
  BOOST_TEST((hs::decode_status(from_text("sok ")).code() == errc::malformed_frame));
  // Name length beyond the body.
  auto n = hs::decode_name(from_hex("4e00000000010000000000000100ff614068"));
  BOOST_TEST((n.code() == errc::malformed_frame));
  BOOST_TEST(n.error().reason().find("name length 255") != std::string::npos);
  // Invalid node names: no '@', empty, bad character.
  for (std::string_view name_hex : {"0003616263", "0000", "000461204068"}) {
    auto m = hs::decode_name(
        from_hex(std::string("4e000000000100000000000001") + std::string(name_hex)));
    BOOST_TEST((m.code() == errc::malformed_frame));
    BOOST_TEST(m.error().reason().find("invalid node name") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(unsupported_forms_are_protocol_mismatch) {
  // Old send_name: | 'n' | Version=5:2 | Flags:4 | Name |
  auto old = hs::decode_name(from_hex("6e000507df7fbd614068"));
  BOOST_TEST((old.code() == errc::protocol_mismatch));
  BOOST_TEST(old.error().reason().find("old send_name") != std::string::npos);
  // Even a cut one is recognised as the old form.
  BOOST_TEST((hs::decode_name(from_hex("6e")).code() == errc::protocol_mismatch));
  // Dynamic name request: name is a host only.
  bytes w;
  const net::dist_flags f = net::dflags_nodus_default | net::dflag_name_me;
  hs::encode(hs::name_message{f, 0, "a@h"_node}, w);
  auto m = hs::decode_name(body_of(w));
  BOOST_TEST((m.code() == errc::protocol_mismatch));
  BOOST_TEST(m.error().reason().find("NAME_ME") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(random_bytes_never_crash) {
  // Bounded fuzzing: decoders must return a value or an error for anything (the sanitizer build
  // turns any out-of-bounds read into a failure).
  std::mt19937 rng(12345);
  const char tags[] = {'N', 'n', 's', 'r', 'a', 'c', 'x'};
  for (int i = 0; i < 20000; ++i) {
    bytes b(rng() % 40);
    for (auto& x : b) x = static_cast<std::byte>(rng());
    if (!b.empty() && rng() % 4 != 0) b[0] = static_cast<std::byte>(tags[rng() % sizeof tags]);
    if (b.size() > 14 && rng() % 2 == 0) {  // a plausible name length
      b[13] = std::byte{0};
      b[14] = static_cast<std::byte>(rng() % 30);
    }
    (void)hs::decode_name(b);
    (void)hs::decode_status(b);
    (void)hs::decode_challenge(b);
    (void)hs::decode_complement(b);
    (void)hs::decode_challenge_reply(b);
    (void)hs::decode_challenge_ack(b);
    (void)hs::split_frame(b);
    auto m = hs::machine::acceptor(opts("b@h"_node, "c", 1));
    (void)m.feed(b);
  }
  BOOST_TEST(true);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(machine)

BOOST_AUTO_TEST_CASE(both_sides_connect) {
  auto a = hs::machine::initiator(opts("a@h"_node, "cookie", 111), "b@h"_node);
  auto b = hs::machine::acceptor(opts("b@h"_node, "cookie", 222));
  BOOST_TEST((a.current() == hs::machine::state::awaiting_status));
  BOOST_TEST(a.has_output());
  pump(a, b);  // send_name
  BOOST_TEST((b.current() == hs::machine::state::awaiting_status_decision));
  BOOST_TEST((b.peer() == "a@h"_node));
  BOOST_TEST(!b.has_output());
  b.reply_status(hs::status::ok);
  pump(b, a);  // status + challenge
  BOOST_TEST((a.current() == hs::machine::state::awaiting_challenge_ack));
  pump(a, b);  // challenge_reply
  BOOST_TEST(b.done());
  pump(b, a);  // challenge_ack
  BOOST_TEST(a.done());
  for (const hs::machine* m : {&a, &b}) {
    BOOST_TEST(m->nodus_peer());
    BOOST_TEST(m->published());
    BOOST_TEST(m->flags() == net::dflags_nodus_default);
    BOOST_TEST(!m->failure());
  }
  BOOST_TEST((a.peer() == "b@h"_node));
  BOOST_TEST(a.peer_creation() == 0x1000u + 222 % 7);
  BOOST_TEST(b.peer_creation() == 0x1000u + 111 % 7);
  BOOST_CHECK_THROW((void)a.feed(bytes{}), std::logic_error);
}

BOOST_AUTO_TEST_CASE(beam_peer_is_not_nodus_and_hidden_wins) {
  // The peer advertises what OTP 25 does (no nodus bit); we are hidden (no PUBLISHED).
  auto a = hs::machine::initiator(
      opts("a@h"_node, "k", 1, net::dflags_nodus_default & ~net::dflag_published), "b@h"_node);
  auto b = hs::machine::acceptor(opts("b@h"_node, "k", 2, otp25_flags));
  pump(a, b);
  b.reply_status(hs::status::ok);
  pump(b, a);
  pump(a, b);
  pump(b, a);
  BOOST_REQUIRE(a.done() && b.done());
  BOOST_TEST(!a.nodus_peer());
  BOOST_TEST(!b.nodus_peer());
  BOOST_TEST(!a.published());
  BOOST_TEST(a.flags() == b.flags());
  BOOST_TEST(a.peer_flags() == otp25_flags);
}

BOOST_AUTO_TEST_CASE(wrong_cookie_is_refused_without_a_reply) {
  auto a = hs::machine::initiator(opts("a@h"_node, "right", 5), "b@h"_node);
  auto b = hs::machine::acceptor(opts("b@h"_node, "wrong", 6));
  pump(a, b);
  b.reply_status(hs::status::ok);
  pump(b, a);
  std::vector<nodus::error> errors;
  pump(a, b, &errors);
  BOOST_TEST((b.current() == hs::machine::state::failed));
  BOOST_REQUIRE_EQUAL(errors.size(), 1u);
  BOOST_TEST((errors[0] == errc::bad_cookie));
  BOOST_TEST((b.failure() == errc::bad_cookie));
  BOOST_TEST(b.failure().reason().find("a@h") != std::string::npos);
  BOOST_TEST(!b.has_output());  // B just closes; A never gets an ack
  BOOST_TEST((a.current() == hs::machine::state::awaiting_challenge_ack));
}

BOOST_AUTO_TEST_CASE(forged_ack_is_refused) {
  auto a = hs::machine::initiator(opts("a@h"_node, "c", 5), "b@h"_node);
  auto b = hs::machine::acceptor(opts("b@h"_node, "c", 6));
  pump(a, b);
  b.reply_status(hs::status::ok);
  pump(b, a);
  bytes ack;
  hs::encode(hs::challenge_ack_message{hs::digest{}}, ack);
  auto r = a.feed(body_of(ack));
  BOOST_TEST((r.code() == errc::bad_cookie));
  BOOST_TEST((a.current() == hs::machine::state::failed));
}

BOOST_AUTO_TEST_CASE(simultaneous_connect_leaves_one_connection) {
  // n1 dials n2 while n2 dials n1; each acceptor sees its own pending attempt.
  for (bool swap : {false, true}) {
    const node_name x = swap ? "n2@h"_node : "n1@h"_node;
    const node_name y = swap ? "n1@h"_node : "n2@h"_node;
    auto x_dials = hs::machine::initiator(opts(x, "c", 1), y);
    auto y_accepts = hs::machine::acceptor(opts(y, "c", 2));
    auto y_dials = hs::machine::initiator(opts(y, "c", 3), x);
    auto x_accepts = hs::machine::acceptor(opts(x, "c", 4));
    pump(x_dials, y_accepts);
    pump(y_dials, x_accepts);
    y_accepts.reply_status(hs::resolve_simultaneous(y, x));
    x_accepts.reply_status(hs::resolve_simultaneous(x, y));
    for (int i = 0; i < 4; ++i) {
      pump(y_accepts, x_dials);
      pump(x_dials, y_accepts);
      pump(x_accepts, y_dials);
      pump(y_dials, x_accepts);
    }
    const int done = x_dials.done() + y_accepts.done() + y_dials.done() + x_accepts.done();
    BOOST_TEST(done == 2);  // one connection, both of its ends
    // The greater name's own attempt wins (net_kernel: MyNode > Node -> nok).
    const bool n2_dial_wins = (x == "n2@h"_node) ? x_dials.done() : y_dials.done();
    BOOST_TEST(n2_dial_wins);
    const int superseded = (x_dials.current() == hs::machine::state::superseded) +
                           (y_dials.current() == hs::machine::state::superseded) +
                           (x_accepts.current() == hs::machine::state::superseded) +
                           (y_accepts.current() == hs::machine::state::superseded);
    BOOST_TEST(superseded == 2);
  }
  BOOST_TEST((hs::resolve_simultaneous("b@h"_node, "a@h"_node) == hs::status::nok));
  BOOST_TEST((hs::resolve_simultaneous("a@h"_node, "b@h"_node) == hs::status::ok_simultaneous));
}

BOOST_AUTO_TEST_CASE(alive_answered_true_continues_false_stops) {
  for (bool keep : {true, false}) {
    auto a = hs::machine::initiator(opts("a@h"_node, "c", 1), "b@h"_node);
    auto b = hs::machine::acceptor(opts("b@h"_node, "c", 2));
    pump(a, b);
    b.reply_status(hs::status::alive);
    pump(b, a);
    BOOST_TEST((a.current() == hs::machine::state::awaiting_alive_answer));
    a.answer_alive(keep);
    std::vector<nodus::error> errors;
    pump(a, b, &errors);
    if (keep) {
      pump(b, a);
      pump(a, b);
      pump(b, a);
      BOOST_TEST(a.done());
      BOOST_TEST(b.done());
    } else {
      BOOST_TEST((a.current() == hs::machine::state::failed));
      BOOST_TEST((b.current() == hs::machine::state::failed));
      BOOST_REQUIRE_EQUAL(errors.size(), 1u);
      BOOST_TEST((errors[0] == errc::not_connected));
    }
  }
}

BOOST_AUTO_TEST_CASE(not_allowed_and_nok_stop_the_initiator) {
  for (hs::status s : {hs::status::not_allowed, hs::status::nok}) {
    auto a = hs::machine::initiator(opts("a@h"_node, "c", 1), "b@h"_node);
    auto b = hs::machine::acceptor(opts("b@h"_node, "c", 2));
    pump(a, b);
    b.reply_status(s);
    std::vector<nodus::error> errors;
    pump(b, a, &errors);
    BOOST_REQUIRE_EQUAL(errors.size(), 1u);
    BOOST_TEST((errors[0] == errc::not_connected));
    BOOST_TEST(a.finished());
    BOOST_TEST(b.finished());
    BOOST_TEST(!a.done());
    const auto expected =
        s == hs::status::nok ? hs::machine::state::superseded : hs::machine::state::failed;
    BOOST_TEST((a.current() == expected));
    BOOST_TEST((b.current() == expected));
  }
}

BOOST_AUTO_TEST_CASE(missing_mandatory_flags_are_refused) {
  // B refuses an initiator without HANDSHAKE_23 and tells it not_allowed.
  auto a = hs::machine::initiator(
      opts("a@h"_node, "c", 1,
           net::dflags_nodus_default & ~net::dflag_handshake_23 & ~net::dflag_mandatory_25_digest),
      "b@h"_node);
  auto b = hs::machine::acceptor(opts("b@h"_node, "c", 2));
  std::vector<nodus::error> errors;
  pump(a, b, &errors);
  BOOST_REQUIRE_EQUAL(errors.size(), 1u);
  BOOST_TEST((errors[0] == errc::protocol_mismatch));
  BOOST_TEST(errors[0].reason().find("HANDSHAKE_23") != std::string::npos);
  BOOST_TEST(errors[0].reason().find("a@h") != std::string::npos);
  pump(b, a);
  BOOST_TEST((a.failure() == errc::not_connected));
  // A aborts against an acceptor lacking them (nothing sent).
  auto a2 = hs::machine::initiator(opts("a@h"_node, "c", 1), "b@h"_node);
  auto b2 = hs::machine::acceptor(opts("b@h"_node, "c", 2, net::dflag_published));
  pump(a2, b2);
  b2.reply_status(hs::status::ok);
  errors.clear();
  pump(b2, a2, &errors);
  BOOST_REQUIRE_EQUAL(errors.size(), 1u);
  BOOST_TEST((errors[0] == errc::protocol_mismatch));
  BOOST_TEST(errors[0].reason().find("b@h") != std::string::npos);
  BOOST_TEST(!a2.has_output());
}

BOOST_AUTO_TEST_CASE(old_name_form_gets_not_allowed) {
  auto b = hs::machine::acceptor(opts("b@h"_node, "c", 2));
  auto r = b.feed(from_hex("6e000507df7fbd614068"));
  BOOST_TEST((r.code() == errc::protocol_mismatch));
  const bytes out = b.take_output();
  BOOST_TEST(body_of(out) == from_text("snot_allowed"));
}

BOOST_AUTO_TEST_CASE(challenge_from_another_node_is_refused) {
  auto a = hs::machine::initiator(opts("a@h"_node, "c", 1), "b@h"_node);
  auto c = hs::machine::acceptor(opts("c@h"_node, "c", 2));
  pump(a, c);
  c.reply_status(hs::status::ok);
  std::vector<nodus::error> errors;
  pump(c, a, &errors);
  BOOST_REQUIRE_EQUAL(errors.size(), 1u);
  BOOST_TEST((errors[0] == errc::not_connected));
  BOOST_TEST(errors[0].reason().find("c@h") != std::string::npos);
  BOOST_TEST(!a.has_output());
}

BOOST_AUTO_TEST_CASE(unexpected_messages_fail_cleanly) {
  bytes reply;
  hs::encode(hs::challenge_reply_message{1, hs::digest{}}, reply);
  // Acceptor expecting send_name gets a reply.
  auto b = hs::machine::acceptor(opts("b@h"_node, "c", 2));
  BOOST_TEST((b.feed(body_of(reply)).code() == errc::malformed_frame));
  BOOST_TEST(b.failure().reason().find("handshake from a peer not yet named") != std::string::npos);
  // Initiator expecting a status gets a reply; one expecting a challenge gets a status.
  auto a = hs::machine::initiator(opts("a@h"_node, "c", 1), "b@h"_node);
  BOOST_TEST((a.feed(body_of(reply)).code() == errc::malformed_frame));
  auto a2 = hs::machine::initiator(opts("a@h"_node, "c", 1), "b@h"_node);
  BOOST_TEST(a2.feed(from_text("sok")).has_value());
  BOOST_TEST((a2.feed(from_text("sok")).code() == errc::malformed_frame));
  // "true" is not an answer to send_name.
  auto a3 = hs::machine::initiator(opts("a@h"_node, "c", 1), "b@h"_node);
  BOOST_TEST((a3.feed(from_text("strue")).code() == errc::malformed_frame));
  // The peer talks while it should wait for our status.
  auto b2 = hs::machine::acceptor(opts("b@h"_node, "c", 2));
  auto a4 = hs::machine::initiator(opts("a@h"_node, "c", 1), "b@h"_node);
  pump(a4, b2);
  BOOST_TEST((b2.feed(body_of(reply)).code() == errc::malformed_frame));
}

BOOST_AUTO_TEST_CASE(misuse_throws) {
  auto a = hs::machine::initiator(opts("a@h"_node, "c", 1), "b@h"_node);
  BOOST_CHECK_THROW(a.reply_status(hs::status::ok), std::logic_error);
  BOOST_CHECK_THROW(a.answer_alive(true), std::logic_error);
  auto b = hs::machine::acceptor(opts("b@h"_node, "c", 2));
  pump(a, b);
  BOOST_CHECK_THROW(b.reply_status(hs::status::named), std::logic_error);
  BOOST_CHECK_THROW(b.reply_status(hs::status::alive_true), std::logic_error);
  b.reply_status(hs::status::not_allowed);
  BOOST_CHECK_THROW((void)b.feed(bytes{}), std::logic_error);
}

BOOST_AUTO_TEST_SUITE_END()

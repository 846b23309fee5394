// dist::erlang_reader: the distribution header of a BEAM peer's frames (erl_ext_dist,
// "Distribution Header"): atom cache references that set and use the connection's cache, the
// LongAtoms flag, fragmented messages (69 / 70) interleaved and reassembled, and every way a
// header can be wrong (each is errc::malformed_frame). Frames are written by hand here, byte by
// byte where the encoder has no say (ATOM_CACHE_REF); the example of erl_ext_dist's "Distribution
// Header for fragmented messages" is checked with its own header bytes.
#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include <nodus/codec/etf/encode.hpp>
#include <nodus/dist/erlang_frame.hpp>

namespace {

namespace etf = nodus::etf;
namespace dist = nodus::dist;
using bytes = std::vector<std::byte>;

void put(bytes& out, std::initializer_list<unsigned> values) {
  for (unsigned v : values) out.push_back(static_cast<std::byte>(v));
}
void put(bytes& out, std::string_view text) {
  for (char c : text) out.push_back(static_cast<std::byte>(c));
}
void put(bytes& out, const bytes& more) { out.insert(out.end(), more.begin(), more.end()); }
void put_be64(bytes& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<std::byte>(v >> shift));
}
// A term after a distribution header: no version byte.
bytes term_bytes(const etf::term& t) { return etf::encode(t, etf::encode_options{false}).value(); }

const etf::pid sender{etf::atom("raw@127.0.0.1"), 85, 0, 2};
// {6, Sender, '', Name}: REG_SEND, whose Message follows.
etf::term reg_send(std::string_view name) {
  return etf::term::tuple(
      {etf::term(6), etf::term(sender), etf::term(etf::atom()), etf::term(etf::atom(name))});
}

std::string message_of(const nodus::result<std::optional<dist::erlang_frame>>& r) {
  if (!r) return "error: " + r.error().message();
  if (!*r) return "<incomplete>";
  return (*r)->message.to_string(400);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(erlang_frame)

BOOST_AUTO_TEST_CASE(atom_cache_entries_are_set_then_referred_to_with_long_atoms_too) {
  dist::erlang_reader r;
  const bytes control = term_bytes(reg_send("sink"));
  // One reference, new, in segment 3 (flag 8 | 3), with LongAtoms (the half byte after it: 1):
  // InternalSegmentIndex 7, a 2-byte length, "ping". The message is ATOM_CACHE_REF 0.
  bytes a;
  put(a, {131, 68, 1, 0x1b, 7, 0, 4});
  put(a, "ping");
  put(a, control);
  put(a, {82, 0});
  BOOST_TEST(message_of(r.read(a)) == "ping");
  // The same entry again, not new (flag 3), short lengths: it is still "ping".
  bytes b;
  put(b, {131, 68, 1, 0x03, 7});
  put(b, control);
  put(b, {82, 0});
  BOOST_TEST(message_of(r.read(b)) == "ping");
  // Entry 9 of segment 2 was never set.
  bytes c;
  put(c, {131, 68, 1, 0x02, 9});
  put(c, control);
  put(c, {82, 0});
  const auto bad = r.read(c);
  BOOST_REQUIRE(!bad);
  BOOST_TEST((bad.error() == nodus::errc::malformed_frame));
  BOOST_TEST(bad.error().message().find("never set") != std::string::npos, bad.error().message());
  BOOST_TEST(r.stats().atom_cache_sets == 1u);
  BOOST_TEST(r.stats().atom_cache_hits == 1u);
  // A term may not refer past the header's references.
  bytes d;
  put(d, {131, 68, 1, 0x03, 7});
  put(d, control);
  put(d, {82, 1});
  BOOST_TEST(!r.read(d));
}

// erl_ext_dist's example: {call, <0.245.2>, {set_get_state, <<0:1024>>}} to the process
// registered as reg, in two fragments, with five atom cache references of which the first two
// (the two node names) are already in the cache.
BOOST_AUTO_TEST_CASE(the_fragmented_example_of_erl_ext_dist_reassembles) {
  dist::erlang_reader r;
  // Put the two node names in the cache first: entry 10 of segment 4 and entry 5 of segment 0
  // (flags: 8 | 4 and 8 | 0; no LongAtoms).
  bytes first;
  put(first, {131, 68, 2, 0x8c, 0x00, 10, 12});
  put(first, "n1@127.0.0.1");
  put(first, {5, 13});
  put(first, "raw@127.0.0.1");
  put(first, term_bytes(reg_send("sink")));
  put(first, {106});  // []
  BOOST_TEST(message_of(r.read(first)) == "[]");

  bytes start;
  put(start, {131, 69});
  put_be64(start, 0x000002a800000553);  // SequenceId
  put_be64(start, 2);                   // FragmentId: two fragments
  // The example's atom cache part, as the document gives it.
  put(start, {5, 4, 137, 9, 10, 5, 236, 3});
  put(start, "reg");
  put(start, {9, 4});
  put(start, "call");
  put(start, {238, 13});
  put(start, "set_get_state");
  // {6, <0.85.0> (PID_EXT, node ref 0), ref 1, ref 2 (reg)}
  put(start, {104, 4, 97, 6, 103, 82, 0, 0, 0, 0, 85, 0, 0, 0, 0, 2, 82, 1, 82, 2});
  // {ref 3 (call), <0.245.2>, {ref 4 (set_get_state), <<0:1024>>}}: 100 of the binary's bytes
  put(start,
      {104, 3, 82, 3, 103, 82, 0, 0, 0, 0, 245, 0, 0, 0, 2, 2, 104, 2, 82, 4, 109, 0, 0, 0, 128});
  start.insert(start.end(), 100, std::byte{0});
  bytes rest;
  put(rest, {131, 70});
  put_be64(rest, 0x000002a800000553);
  put_be64(rest, 1);
  rest.insert(rest.end(), 28, std::byte{0});

  const auto none = r.read(start);
  BOOST_REQUIRE_MESSAGE(none.has_value(), none.error().message());
  BOOST_TEST(!none->has_value());
  const auto whole = r.read(rest);
  BOOST_REQUIRE_MESSAGE(whole.has_value(), whole.error().message());
  BOOST_REQUIRE(whole->has_value());
  const auto& fr = **whole;
  BOOST_TEST((fr.op == dist::erlang_op::reg_send));
  BOOST_TEST(fr.control.to_string(200) == "{6,<'n1@127.0.0.1'.85.0>,'raw@127.0.0.1',reg}");
  const std::string msg = fr.message.to_string(2000);
  BOOST_TEST(msg.rfind("{call,<'n1@127.0.0.1'.245.2>,{set_get_state,<<0,0,", 0) == 0, msg);
  const auto* t = fr.message.as_tuple();
  BOOST_REQUIRE(t != nullptr);
  const auto* inner = (*t)[2].as_tuple();
  BOOST_REQUIRE(inner != nullptr);
  const auto* bin = (*inner)[1].as_binary();
  BOOST_REQUIRE(bin != nullptr);
  BOOST_TEST(bin->size() == 128u);
  BOOST_TEST(r.stats().atom_cache_sets == 5u);
  BOOST_TEST(r.stats().atom_cache_hits == 2u);
  BOOST_TEST(r.stats().fragmented == 1u);
}

namespace {
// fragments(seq, body, n) -> body (a control message and a message, no header) in n fragments:
// a 69 with no atom cache reference, then 70s.
std::vector<bytes> fragments(std::uint64_t seq, const bytes& body, std::size_t n) {
  std::vector<bytes> out;
  const std::size_t piece = (body.size() + n - 1) / n;
  for (std::size_t i = 0; i < n; ++i) {
    bytes f;
    put(f, {131, i == 0 ? 69u : 70u});
    put_be64(f, seq);
    put_be64(f, n - i);
    if (i == 0) put(f, {0});
    const std::size_t from = std::min(body.size(), i * piece);
    const std::size_t to = std::min(body.size(), from + piece);
    f.insert(f.end(), body.begin() + static_cast<std::ptrdiff_t>(from),
             body.begin() + static_cast<std::ptrdiff_t>(to));
    out.push_back(std::move(f));
  }
  return out;
}

bytes body_of(std::string_view name, const etf::term& message) {
  bytes b = term_bytes(reg_send(name));
  put(b, term_bytes(message));
  return b;
}
}  // namespace

BOOST_AUTO_TEST_CASE(interleaved_sequences_reassemble_each_in_its_order) {
  dist::erlang_reader r;
  const etf::term m1 = etf::term::tuple(
      {etf::term(etf::atom("one")), etf::term::binary(std::vector<std::byte>(300, std::byte{1}))});
  const etf::term m2 = etf::term::tuple(
      {etf::term(etf::atom("two")), etf::term::binary(std::vector<std::byte>(90, std::byte{2}))});
  const auto s1 = fragments(1, body_of("a", m1), 3);
  const auto s2 = fragments(2, body_of("b", m2), 2);
  BOOST_TEST(message_of(r.read(s1[0])) == "<incomplete>");
  BOOST_TEST(message_of(r.read(s2[0])) == "<incomplete>");
  BOOST_TEST(message_of(r.read(s1[1])) == "<incomplete>");
  BOOST_TEST(message_of(r.read(s2[1])) == m2.to_string(400));
  BOOST_TEST(message_of(r.read(s1[2])) == m1.to_string(400));
  BOOST_TEST(r.stats().fragmented == 2u);
  // A single fragment (FragmentId 1 in the 69) is a whole message.
  const auto one = fragments(3, body_of("c", m2), 1);
  BOOST_TEST(message_of(r.read(one[0])) == m2.to_string(400));
}

BOOST_AUTO_TEST_CASE(fragments_out_of_sequence_or_past_a_bound_are_malformed) {
  const etf::term m = etf::term::binary(std::vector<std::byte>(200, std::byte{3}));
  const auto s = fragments(9, body_of("a", m), 3);
  auto refused = [](dist::erlang_reader& r, const bytes& f, std::string_view why) {
    const auto got = r.read(f);
    BOOST_TEST_CONTEXT("expected: " << why) {
      BOOST_REQUIRE(!got);
      BOOST_TEST((got.error() == nodus::errc::malformed_frame));
      BOOST_TEST(got.error().message().find(why) != std::string::npos, got.error().message());
    }
  };
  {
    dist::erlang_reader r;  // a continuation of a sequence that never started
    refused(r, s[1], "never started");
  }
  {
    dist::erlang_reader r;  // fragment 1 where 2 was expected
    BOOST_TEST(message_of(r.read(s[0])) == "<incomplete>");
    refused(r, s[2], "where 2 was expected");
  }
  {
    dist::erlang_reader r;  // the same sequence started twice
    BOOST_TEST(message_of(r.read(s[0])) == "<incomplete>");
    refused(r, s[0], "started again");
  }
  {
    dist::erlang_reader r;  // FragmentId 0
    bytes f = s[0];
    for (std::size_t i = 10; i < 18; ++i) f[i] = std::byte{0};
    refused(r, f, "FragmentId 0");
  }
  {
    dist::erlang_limits l;  // more bytes held than the bound
    l.max_message_size = 150;
    dist::erlang_reader r(l);
    BOOST_TEST(message_of(r.read(s[0])) == "<incomplete>");
    refused(r, s[1], "past the bound");
  }
  {
    dist::erlang_limits l;  // more sequences at once than the bound
    l.max_sequences = 1;
    dist::erlang_reader r(l);
    BOOST_TEST(message_of(r.read(s[0])) == "<incomplete>");
    refused(r, fragments(10, body_of("a", m), 2)[0], "in progress at once");
  }
  {
    dist::erlang_reader r;  // cut short, an unknown header tag, neither 112 nor 131
    refused(r, bytes(s[0].begin(), s[0].begin() + 12), "cut short");
    bytes f = s[0];
    f[1] = std::byte{71};
    refused(r, f, "header tag 71");
    refused(r, bytes{std::byte{7}, std::byte{1}}, "neither");
    refused(r, bytes{std::byte{131}, std::byte{68}, std::byte{3}, std::byte{0x88}}, "cut short");
    refused(r, bytes{}, "empty");
  }
}

BOOST_AUTO_TEST_CASE(frames_built_with_the_header_rewrite_to_pass_through_and_read_alike) {
  const etf::term control = reg_send("sink");
  const etf::term message = etf::term::tuple({etf::term(etf::atom("note")), etf::term(42)});
  const bytes h = dist::erlang_frame_bytes(control, &message).value();
  BOOST_TEST(std::to_integer<int>(h[0]) == 131);
  BOOST_TEST(std::to_integer<int>(h[1]) == 68);
  BOOST_TEST(std::to_integer<int>(h[2]) == 0);
  const bytes p =
      dist::erlang_frame_bytes(control, &message, dist::erlang_framing::pass_through).value();
  BOOST_TEST(std::to_integer<int>(p[0]) == 112);
  BOOST_TEST(dist::as_pass_through(h).value() == p);
  const auto a = dist::parse_erlang_frame(h);
  const auto b = dist::parse_erlang_frame(p);
  BOOST_REQUIRE(a.has_value());
  BOOST_REQUIRE(b.has_value());
  BOOST_TEST(a->message.to_string(200) == message.to_string(200));
  BOOST_TEST(b->message.to_string(200) == message.to_string(200));
  BOOST_TEST(a->control.to_string(200) == b->control.to_string(200));
  // A control message alone (MONITOR_P_EXIT): no message to give its version byte.
  const etf::reference ref{etf::atom("raw@127.0.0.1"), 2, 3, {1, 2, 3, 0, 0}};
  const etf::term exit = dist::monitor_p_exit_control(etf::term(etf::atom("sink")), sender, ref,
                                                      etf::term(etf::atom("noproc")));
  const bytes e = dist::erlang_frame_bytes(exit, nullptr).value();
  BOOST_TEST(dist::as_pass_through(e).value() ==
             dist::erlang_frame_bytes(exit, nullptr, dist::erlang_framing::pass_through).value());
  BOOST_TEST(!dist::as_pass_through(bytes{std::byte{112}, std::byte{131}, std::byte{106}}));
}

BOOST_AUTO_TEST_SUITE_END()

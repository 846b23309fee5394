// nodus/net/handshake.hpp: the Erlang distribution handshake (version 6) as a pure codec, its
// cookie digest, and a state machine for both sides. No sockets: bytes in, bytes out.
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "nodus/core/error.hpp"
#include "nodus/core/node_name.hpp"
#include "nodus/net/detail/openssl.hpp"
#include "nodus/net/detail/wire.hpp"
#include "nodus/net/dist_flags.hpp"

// Source of every number below, unless said otherwise: the Erlang document erl_dist_protocol,
// section "Distribution Handshake" (erlang/otp erts/doc/guides/erl_dist_protocol.md), and its
// implementation lib/kernel/src/dist_util.erl (send_name, recv_name_new, send_challenge,
// recv_challenge_new, recv_complement, send_challenge_reply, recv_challenge_reply,
// send_challenge_ack, recv_challenge_ack, recv_status, send_status). Checked against a real
// Erlang/OTP 25.2.3 node (tests/net/erl_interop.cpp).

namespace nodus::net::handshake {

// The protocol version this handshake speaks. OTP 23 introduced it, OTP 25 dropped version 5
// (erl_dist_protocol: "From OTP 25 support for the older protocol was dropped"; ALIVE2_REQ:
// "HighestVersion ... The value in OTP 23 and later is 6").
inline constexpr std::uint16_t version = 6;

// "Every message in the handshake starts with a 16-bit big-endian integer, which contains the
// message length (not counting the two initial bytes) ... after the handshake, the distribution
// switches to 4 byte packet headers."
inline constexpr std::size_t length_prefix_size = 2;
// The largest body a 2-byte length can announce.
inline constexpr std::size_t max_body_size = 0xffff;

// Message tags, the first byte of each body.
inline constexpr char tag_name = 'N';             // send_name, new form (version 6)
inline constexpr char tag_old_name = 'n';         // send_name, old form (version 5): rejected
inline constexpr char tag_status = 's';           // send_status / recv_status
inline constexpr char tag_challenge = 'N';        // send_challenge, new form (version 6)
inline constexpr char tag_complement = 'c';       // send_complement (after an old 'n' only)
inline constexpr char tag_challenge_reply = 'r';  // send_challenge_reply
inline constexpr char tag_challenge_ack = 'a';    // send_challenge_ack

// The size of an MD5 digest: "A digest is a (16 bytes) MD5 hash of the cookie (as text)
// concatenated with the challenge (as text)."
inline constexpr std::size_t digest_size = 16;

// A cookie digest: md5(cookie ++ decimal text of a challenge).
using digest = std::array<std::byte, digest_size>;

// The status B sends A after send_name ("3) recv_status/send_status"), and A's answer to `alive`
// ("3B": "true" or "false"). On the wire each is 's' followed by the text given by to_string().
enum class status : std::uint8_t {
  ok,               // "ok": the handshake continues
  ok_simultaneous,  // "ok_simultaneous": continues; B drops its own attempt to A
  nok,              // "nok": stops; B's own attempt to A wins (simultaneous connect)
  not_allowed,      // "not_allowed": refused (disallowed node, missing mandatory flags)
  alive,            // "alive": B already has a connection to A; A must answer true/false
  named,            // "named:": the name B gives A that set DFLAG_NAME_ME (not used by nodus)
  alive_true,       // "true": A's answer to alive: continue, the old connection is gone
  alive_false,      // "false": A's answer to alive: stop, the old connection is current
};

// to_string(s) -> the status text on the wire ("ok", "ok_simultaneous", ..., "named:").
[[nodiscard]] constexpr std::string_view to_string(status s) noexcept {
  switch (s) {
    case status::ok: return "ok";
    case status::ok_simultaneous: return "ok_simultaneous";
    case status::nok: return "nok";
    case status::not_allowed: return "not_allowed";
    case status::alive: return "alive";
    case status::named: return "named:";
    case status::alive_true: return "true";
    case status::alive_false: return "false";
  }
  return "?";
}

// Formatting hook found by ADL: a status formats as its wire text.
inline void nodus_format(std::string& out, status s) { out += to_string(s); }

// send_name, new form: | 'N' | Flags:8 | Creation:4 | Nlen:2 | Name:Nlen |
// "Any extra data after the node Name must be accepted and ignored."
struct name_message {
  dist_flags flags = 0;
  std::uint32_t creation = 0;
  node_name name;
};

// A status: | 's' | Status |, and for named: | 's' | "named:" | Nlen:2 | Name | Creation:4 |.
// name and creation are meaningful for status::named only.
struct status_message {
  status code = status::ok;
  node_name name;
  std::uint32_t creation = 0;
};

// send_challenge, new form: | 'N' | Flags:8 | Challenge:4 | Creation:4 | Nlen:2 | Name:Nlen |
// (extra data after Name accepted and ignored).
struct challenge_message {
  dist_flags flags = 0;
  std::uint32_t challenge = 0;
  std::uint32_t creation = 0;
  node_name name;
};

// send_complement: | 'c' | FlagsHigh:4 | Creation:4 |. Only follows an old 'n' send_name, which
// nodus rejects; the codec is here for completeness.
struct complement_message {
  std::uint32_t flags_high = 0;
  std::uint32_t creation = 0;
};

// send_challenge_reply: | 'r' | Challenge:4 | Digest:16 |
struct challenge_reply_message {
  std::uint32_t challenge = 0;
  digest sum{};
};

// send_challenge_ack: | 'a' | Digest:16 |
struct challenge_ack_message {
  digest sum{};
};

// ---------------------------------------------------------------------------------------------
// Cookie digest

// make_digest(challenge, cookie) -> md5(cookie ++ decimal text of challenge), as Erlang's
// dist_util:gen_digest/2: erlang:md5([atom_to_list(Cookie) | integer_to_list(Challenge)]).
// Errors: std::errc::function_not_supported when OpenSSL offers no MD5 (FIPS-only provider).
[[nodiscard]] inline result<digest> make_digest(std::uint32_t challenge, std::string_view cookie) {
  std::string text(cookie);
  char digits[10];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, challenge);
  (void)ec;  // 10 digits hold every std::uint32_t
  text.append(digits, end);
  unsigned char sum[digest_size];
  if (!detail::md5_digest(text.data(), text.size(), sum)) {
    return nodus::error(std::make_error_code(std::errc::function_not_supported),
                        "OpenSSL could not compute MD5 (EVP_MD_fetch(\"MD5\") or EVP_Digest "
                        "failed; is only a FIPS provider loaded?)");
  }
  digest out;
  for (std::size_t i = 0; i < digest_size; ++i) out[i] = static_cast<std::byte>(sum[i]);
  return out;
}

// digest_equal(a, b) -> a == b, compared in constant time (CRYPTO_memcmp).
[[nodiscard]] inline bool digest_equal(const digest& a, const digest& b) noexcept {
  return detail::equal_constant_time(a.data(), b.data(), digest_size);
}

// random_challenge() -> a random 32-bit challenge from OpenSSL's CSPRNG ("the challenges are
// expected to be random numbers"). Errors: std::errc::io_error if RAND_bytes fails.
[[nodiscard]] inline result<std::uint32_t> random_challenge() {
  unsigned char b[4];
  if (!detail::random_bytes(b, 4)) {
    return nodus::error(std::make_error_code(std::errc::io_error), "OpenSSL RAND_bytes failed");
  }
  return static_cast<std::uint32_t>((std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) |
                                    (std::uint32_t{b[2]} << 8) | std::uint32_t{b[3]});
}

// ---------------------------------------------------------------------------------------------
// Framing

// One complete handshake message inside a byte stream.
struct frame {
  std::span<const std::byte> body;  // the message without its 2-byte length
  std::size_t size = 0;             // bytes it takes in the stream, length prefix included
};

// split_frame(bytes) -> the first complete handshake message at the start of bytes, or nullopt
// while fewer bytes than its length prefix announces have arrived. Bytes after it are untouched
// (after the last handshake message they belong to the 4-byte framed phase).
[[nodiscard]] inline std::optional<frame> split_frame(std::span<const std::byte> bytes) noexcept {
  if (bytes.size() < length_prefix_size) return std::nullopt;
  const std::size_t n = (std::size_t{std::to_integer<std::uint8_t>(bytes[0])} << 8) |
                        std::size_t{std::to_integer<std::uint8_t>(bytes[1])};
  if (bytes.size() - length_prefix_size < n) return std::nullopt;
  return frame{bytes.subspan(length_prefix_size, n), length_prefix_size + n};
}

// Over TLS the handshake's messages carry 4-byte lengths, not 2: inet_tls_dist opens its sockets
// with {packet, 4} and keeps it through the handshake (OTP 25, ssl-10.8.7, inet_tls_dist.erl:
// listen and do_setup_connect).
inline constexpr std::size_t tls_length_prefix_size = 4;

// tls_message_length(bytes) -> the body length that the 4-byte prefix at the start of bytes
// announces; nullopt while fewer than 4 bytes have arrived. A length over max_body_size is for
// the caller to refuse before it waits for that many bytes.
[[nodiscard]] inline std::optional<std::size_t> tls_message_length(
    std::span<const std::byte> bytes) noexcept {
  if (bytes.size() < tls_length_prefix_size) return std::nullopt;
  std::size_t n = 0;
  for (std::size_t i = 0; i < tls_length_prefix_size; ++i) {
    n = (n << 8) | std::to_integer<std::uint8_t>(bytes[i]);
  }
  return n;
}

// split_tls_frame(bytes) -> as split_frame, for 4-byte lengths (see tls_message_length).
[[nodiscard]] inline std::optional<frame> split_tls_frame(
    std::span<const std::byte> bytes) noexcept {
  const auto length = tls_message_length(bytes);
  if (!length) return std::nullopt;
  const std::size_t n = *length;
  if (bytes.size() - tls_length_prefix_size < n) return std::nullopt;
  return frame{bytes.subspan(tls_length_prefix_size, n), tls_length_prefix_size + n};
}

// widen_prefixes(out) -> out, messages with 2-byte lengths (as the machine writes them), with
// 4-byte lengths instead (as they go over TLS).
[[nodiscard]] inline std::vector<std::byte> widen_prefixes(std::span<const std::byte> out) {
  std::vector<std::byte> wide;
  wide.reserve(out.size() + 8);
  for (std::size_t i = 0; i + length_prefix_size <= out.size();) {
    const std::size_t n = (std::size_t{std::to_integer<std::uint8_t>(out[i])} << 8) |
                          std::to_integer<std::uint8_t>(out[i + 1]);
    const std::size_t end = std::min(out.size(), i + length_prefix_size + n);
    wide.insert(wide.end(), {std::byte{0}, std::byte{0}, out[i], out[i + 1]});
    wide.insert(wide.end(), out.begin() + static_cast<std::ptrdiff_t>(i + length_prefix_size),
                out.begin() + static_cast<std::ptrdiff_t>(end));
    i = end;
  }
  return wide;
}

namespace detail {

// Appends one framed message: a 2-byte length, then what write_body appends.
template <class WriteBody>
void append_framed(std::vector<std::byte>& out, WriteBody&& write_body) {
  const std::size_t start = out.size();
  out.resize(start + length_prefix_size);
  static_cast<WriteBody&&>(write_body)(out);
  const std::size_t n = out.size() - start - length_prefix_size;
  // Every message nodus builds is far below the limit (a name has at most 255 bytes).
  if (n > max_body_size) throw std::length_error("nodus: handshake message exceeds 65535 bytes");
  out[start] = static_cast<std::byte>(n >> 8);
  out[start + 1] = static_cast<std::byte>(n & 0xff);
}

inline void put_name(std::vector<std::byte>& out, const node_name& name) {
  net::detail::put_u16(out, static_cast<std::uint16_t>(name.size()));
  net::detail::put_text(out, name.str());
}

// A readable form of a tag byte for error reasons: 'N', or \xNN.
inline std::string quoted_tag(std::byte b) {
  std::string s = "'";
  nodus::detail::append_escaped_char(s, static_cast<char>(b));
  s += '\'';
  return s;
}

inline nodus::error malformed(std::string reason) {
  return {errc::malformed_frame, std::move(reason)};
}

// Checks the common shape of a body: within the size limit, not empty, the expected tag.
inline result<void> check_head(std::span<const std::byte> body, char tag, std::string_view what) {
  if (body.size() > max_body_size) {
    return malformed(std::string(what) + " of " + std::to_string(body.size()) +
                     " bytes is oversized; a handshake message has at most 65535");
  }
  if (body.empty())
    return malformed("empty handshake message where " + std::string(what) + " was expected");
  if (body[0] != static_cast<std::byte>(tag)) {
    return malformed("expected " + std::string(what) + " (tag " +
                     quoted_tag(static_cast<std::byte>(tag)) + "), got tag " + quoted_tag(body[0]));
  }
  return {};
}

inline nodus::error truncated(std::string_view what, std::size_t size, std::size_t needed) {
  return malformed("truncated " + std::string(what) + ": " + std::to_string(size) +
                   " bytes, needs at least " + std::to_string(needed));
}

// Reads Nlen:2 and Name:Nlen as a valid node name.
inline result<node_name> read_name(net::detail::byte_reader& r, std::string_view what) {
  std::uint16_t n = 0;
  if (!r.read_u16(n)) return malformed("truncated " + std::string(what) + ": no name length");
  std::span<const std::byte> text;
  if (!r.read_bytes(n, text)) {
    return malformed("truncated " + std::string(what) + ": name length " + std::to_string(n) +
                     " exceeds the " + std::to_string(r.remaining()) + " bytes left");
  }
  auto name = node_name::parse(net::detail::as_text(text));
  if (!name) {
    return malformed(std::string(what) + " carries an invalid node name: " + name.error().reason());
  }
  return std::move(name).value();
}

// The body must end here (fixed-size messages; Erlang matches their exact length).
inline result<void> check_end(const net::detail::byte_reader& r, std::string_view what,
                              std::size_t expected) {
  if (r.remaining() != 0) {
    return malformed("oversized " + std::string(what) + ": " +
                     std::to_string(r.position() + r.remaining()) + " bytes, expected exactly " +
                     std::to_string(expected));
  }
  return {};
}

inline digest read_digest(std::span<const std::byte> bytes) noexcept {
  digest d;
  for (std::size_t i = 0; i < digest_size; ++i) d[i] = bytes[i];
  return d;
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Encoding: each appends one complete message, 2-byte length prefix included, to out.

// encode(m, out): send_name, new 'N' form.
inline void encode(const name_message& m, std::vector<std::byte>& out) {
  detail::append_framed(out, [&](std::vector<std::byte>& o) {
    net::detail::put_u8(o, static_cast<std::uint8_t>(tag_name));
    net::detail::put_u64(o, m.flags);
    net::detail::put_u32(o, m.creation);
    detail::put_name(o, m.name);
  });
}

// encode(m, out): a status; m.name and m.creation are written for status::named only.
inline void encode(const status_message& m, std::vector<std::byte>& out) {
  detail::append_framed(out, [&](std::vector<std::byte>& o) {
    net::detail::put_u8(o, static_cast<std::uint8_t>(tag_status));
    net::detail::put_text(o, to_string(m.code));
    if (m.code == status::named) {
      detail::put_name(o, m.name);
      net::detail::put_u32(o, m.creation);
    }
  });
}

// encode(m, out): send_challenge, new 'N' form.
inline void encode(const challenge_message& m, std::vector<std::byte>& out) {
  detail::append_framed(out, [&](std::vector<std::byte>& o) {
    net::detail::put_u8(o, static_cast<std::uint8_t>(tag_challenge));
    net::detail::put_u64(o, m.flags);
    net::detail::put_u32(o, m.challenge);
    net::detail::put_u32(o, m.creation);
    detail::put_name(o, m.name);
  });
}

// encode(m, out): send_complement.
inline void encode(const complement_message& m, std::vector<std::byte>& out) {
  detail::append_framed(out, [&](std::vector<std::byte>& o) {
    net::detail::put_u8(o, static_cast<std::uint8_t>(tag_complement));
    net::detail::put_u32(o, m.flags_high);
    net::detail::put_u32(o, m.creation);
  });
}

// encode(m, out): send_challenge_reply.
inline void encode(const challenge_reply_message& m, std::vector<std::byte>& out) {
  detail::append_framed(out, [&](std::vector<std::byte>& o) {
    net::detail::put_u8(o, static_cast<std::uint8_t>(tag_challenge_reply));
    net::detail::put_u32(o, m.challenge);
    net::detail::put_bytes(o, m.sum);
  });
}

// encode(m, out): send_challenge_ack.
inline void encode(const challenge_ack_message& m, std::vector<std::byte>& out) {
  detail::append_framed(out, [&](std::vector<std::byte>& o) {
    net::detail::put_u8(o, static_cast<std::uint8_t>(tag_challenge_ack));
    net::detail::put_bytes(o, m.sum);
  });
}

// ---------------------------------------------------------------------------------------------
// Decoding: each takes one message body (without its 2-byte length, see split_frame).
// Errors: errc::malformed_frame with a reason for truncated, oversized or otherwise malformed
// input; errc::protocol_mismatch for well-formed messages nodus does not support.

// decode_name(body) -> a send_name. The old 'n' form (version 5, sent by OTP 23/24 nodes that
// do not use epmd) and DFLAG_NAME_ME (dynamic names) are rejected with errc::protocol_mismatch.
[[nodiscard]] inline result<name_message> decode_name(std::span<const std::byte> body) {
  constexpr std::string_view what = "send_name";
  if (!body.empty() && body[0] == static_cast<std::byte>(tag_old_name) &&
      body.size() <= max_body_size) {
    return nodus::error(errc::protocol_mismatch,
                        "old send_name ('n', distribution protocol version 5, sent by OTP 23/24 "
                        "nodes that do not use epmd) is not supported; nodus speaks version 6 "
                        "only (OTP 23 or later, using epmd or a known port)");
  }
  if (auto h = detail::check_head(body, tag_name, what); !h) return h.error();
  net::detail::byte_reader r(body.subspan(1));
  name_message m;
  if (!r.read_u64(m.flags) || !r.read_u32(m.creation)) {
    return detail::truncated(what, body.size(), 1 + 8 + 4 + 2);
  }
  if ((m.flags & dflag_name_me) != 0) {
    return nodus::error(errc::protocol_mismatch,
                        "send_name asks for a dynamic node name (DFLAG_NAME_ME), which nodus "
                        "does not support");
  }
  auto name = detail::read_name(r, what);
  if (!name) return name.error();
  m.name = *name;
  return m;  // extra bytes after the name: accepted and ignored
}

// decode_status(body) -> a status, including "true"/"false" (the answer to alive) and "named:".
[[nodiscard]] inline result<status_message> decode_status(std::span<const std::byte> body) {
  constexpr std::string_view what = "status";
  if (auto h = detail::check_head(body, tag_status, what); !h) return h.error();
  const std::string_view text = net::detail::as_text(body.subspan(1));
  constexpr std::string_view named_prefix = to_string(status::named);
  if (text.substr(0, named_prefix.size()) == named_prefix) {
    net::detail::byte_reader r(body.subspan(1 + named_prefix.size()));
    auto name = detail::read_name(r, "named: status");
    if (!name) return name.error();
    status_message m{status::named, *name, 0};
    if (!r.read_u32(m.creation)) return detail::malformed("truncated named: status: no creation");
    return m;  // "Any extra data after the node Creation must be accepted and ignored."
  }
  for (const status s : {status::ok, status::ok_simultaneous, status::nok, status::not_allowed,
                         status::alive, status::alive_true, status::alive_false}) {
    if (text == to_string(s)) return status_message{s, {}, 0};
  }
  std::string reason = "unknown status ";
  nodus::detail::append_quoted(reason, text);
  return detail::malformed(std::move(reason));
}

// decode_challenge(body) -> a send_challenge (new 'N' form).
[[nodiscard]] inline result<challenge_message> decode_challenge(std::span<const std::byte> body) {
  constexpr std::string_view what = "challenge";
  if (auto h = detail::check_head(body, tag_challenge, what); !h) return h.error();
  net::detail::byte_reader r(body.subspan(1));
  challenge_message m;
  if (!r.read_u64(m.flags) || !r.read_u32(m.challenge) || !r.read_u32(m.creation)) {
    return detail::truncated(what, body.size(), 1 + 8 + 4 + 4 + 2);
  }
  auto name = detail::read_name(r, what);
  if (!name) return name.error();
  m.name = *name;
  return m;  // extra bytes after the name: accepted and ignored
}

// decode_complement(body) -> a send_complement (exactly 9 bytes).
[[nodiscard]] inline result<complement_message> decode_complement(std::span<const std::byte> body) {
  constexpr std::string_view what = "complement";
  if (auto h = detail::check_head(body, tag_complement, what); !h) return h.error();
  net::detail::byte_reader r(body.subspan(1));
  complement_message m;
  if (!r.read_u32(m.flags_high) || !r.read_u32(m.creation)) {
    return detail::truncated(what, body.size(), 9);
  }
  if (auto e = detail::check_end(r, what, 9); !e) return e.error();
  return m;
}

// decode_challenge_reply(body) -> a challenge_reply (exactly 21 bytes).
[[nodiscard]] inline result<challenge_reply_message> decode_challenge_reply(
    std::span<const std::byte> body) {
  constexpr std::string_view what = "challenge_reply";
  if (auto h = detail::check_head(body, tag_challenge_reply, what); !h) return h.error();
  net::detail::byte_reader r(body.subspan(1));
  challenge_reply_message m;
  std::span<const std::byte> sum;
  if (!r.read_u32(m.challenge) || !r.read_bytes(digest_size, sum)) {
    return detail::truncated(what, body.size(), 1 + 4 + digest_size);
  }
  if (auto e = detail::check_end(r, what, 1 + 4 + digest_size); !e) return e.error();
  m.sum = detail::read_digest(sum);
  return m;
}

// decode_challenge_ack(body) -> a challenge_ack (exactly 17 bytes).
[[nodiscard]] inline result<challenge_ack_message> decode_challenge_ack(
    std::span<const std::byte> body) {
  constexpr std::string_view what = "challenge_ack";
  if (auto h = detail::check_head(body, tag_challenge_ack, what); !h) return h.error();
  net::detail::byte_reader r(body.subspan(1));
  std::span<const std::byte> sum;
  if (!r.read_bytes(digest_size, sum)) return detail::truncated(what, body.size(), 1 + digest_size);
  if (auto e = detail::check_end(r, what, 1 + digest_size); !e) return e.error();
  return challenge_ack_message{detail::read_digest(sum)};
}

// ---------------------------------------------------------------------------------------------
// Simultaneous connect

// resolve_simultaneous(self, peer) -> the status an accepting node answers when a send_name from
// peer arrives while its own connection attempt to peer is still pending: `nok` when self's name
// is greater (its own attempt wins, the incoming one stops), else `ok_simultaneous` (it must
// abandon its own attempt and go on with the incoming one). Exactly one connection survives.
// Rule: lib/kernel/src/net_kernel.erl, handle_info({AcceptPid, {accept_pending, MyNode, Node,
// ...}}): `MyNode > Node -> nok_pending; true -> ok_pending` (atoms compare by their text; node
// names accepted by nodus are ASCII, so that is byte order, as node_name's operator<=>).
[[nodiscard]] inline status resolve_simultaneous(const node_name& self,
                                                 const node_name& peer) noexcept {
  return self > peer ? status::nok : status::ok_simultaneous;
}

// ---------------------------------------------------------------------------------------------
// State machine

// What a node brings to a handshake.
struct options {
  node_name self;                             // our full node name
  std::string cookie;                         // the shared secret (Erlang's cookie)
  dist_flags flags = dflags_nodus_default;    // the capability flags we advertise
  dist_flags required = dflags_mandatory_25;  // flags the peer must have, else refused
  std::uint32_t creation = 0;                 // our incarnation; nonzero, as Erlang nodes use
  std::uint32_t challenge = 0;                // our challenge: random_challenge() per handshake
};

// One handshake, on one side, as a pure state machine: feed it each received message body, send
// what take_output() returns, and stop when finished(). Erlang's two sides (dist_util.erl
// handshake_we_started / handshake_other_started):
//
//   initiator (A)                              acceptor (B)
//   send_name            ----------------->    feed(name); owner calls reply_status(s)
//   feed(status)         <-----------------    status [+ challenge if ok/ok_simultaneous]
//   (alive: owner calls answer_alive(bool) -> status true/false ----> feed)
//   feed(challenge)
//   challenge_reply      ----------------->    feed(reply): digest checked
//   feed(ack): checked   <-----------------    challenge_ack; B done
//   A done
//
// No timeouts in here: the owner bounds the whole handshake (Erlang's net_setuptime). After done
// the byte stream switches to 4-byte length prefixes; the peer may send such frames right after
// its last handshake message (a BEAM node does), so keep any bytes split_frame did not consume.
// Not thread-safe; one machine per connection. Calling a member in a state where it does not
// apply is a programming error and throws std::logic_error.
class machine {
 public:
  enum class role : std::uint8_t { initiator, acceptor };
  enum class state : std::uint8_t {
    awaiting_name,             // B: waits for send_name
    awaiting_status_decision,  // B: the owner must call reply_status (peer() is known)
    awaiting_status,           // A: waits for the status
    awaiting_alive_answer,     // A: got `alive`; the owner must call answer_alive
    awaiting_alive_reply,      // B: sent `alive`; waits for "true"/"false"
    awaiting_challenge,        // A: waits for the challenge
    awaiting_challenge_reply,  // B: waits for the challenge reply
    awaiting_challenge_ack,    // A: waits for the challenge ack
    done,                      // connected: peer(), flags() etc. are final
    superseded,                // stopped by a simultaneous connect (nok): the other one wins
    failed,                    // stopped; failure() says why
  };

  // initiator(o, peer) -> side A dialling peer; take_output() holds its send_name.
  [[nodiscard]] static machine initiator(options o, const node_name& peer) {
    machine m(std::move(o), role::initiator, state::awaiting_status);
    m.peer_ = peer;
    encode(name_message{m.opts_.flags, m.opts_.creation, m.opts_.self}, m.out_);
    return m;
  }

  // acceptor(o) -> side B of an accepted connection; it waits for send_name.
  [[nodiscard]] static machine acceptor(options o) {
    return machine(std::move(o), role::acceptor, state::awaiting_name);
  }

  // feed(body) -> handles one received message body (see split_frame); may queue output.
  // Errors (the machine is then failed or superseded, failure() holds the same error; send any
  // output, then close): errc::malformed_frame (bad or unexpected message), errc::bad_cookie
  // (digest mismatch: wrong cookie), errc::protocol_mismatch (old 'n' form, missing mandatory
  // flags, dynamic names), errc::not_connected (refused: not_allowed, nok, alive/false, or the
  // dialled address answered with another node's name).
  result<void> feed(std::span<const std::byte> body) {
    switch (state_) {
      case state::awaiting_name: return on_name(body);
      case state::awaiting_status: return on_status(body);
      case state::awaiting_alive_reply: return on_alive_reply(body);
      case state::awaiting_challenge: return on_challenge(body);
      case state::awaiting_challenge_reply: return on_challenge_reply(body);
      case state::awaiting_challenge_ack: return on_challenge_ack(body);
      case state::awaiting_status_decision:
      case state::awaiting_alive_answer:
        return fail(detail::malformed("peer sent a message (tag " + tag_text(body) +
                                      ") while it should wait for our status"));
      case state::done:
      case state::superseded:
      case state::failed: break;
    }
    throw std::logic_error("nodus: handshake::machine::feed after the handshake finished");
  }

  // reply_status(s): B's answer to send_name, in awaiting_status_decision: ok (a new peer),
  // ok_simultaneous / nok (a simultaneous connect, see resolve_simultaneous), not_allowed, or
  // alive (a connection to peer() is already up). Queues the status (and the challenge).
  void reply_status(status s) {
    if (state_ != state::awaiting_status_decision) {
      throw std::logic_error(
          "nodus: handshake::machine::reply_status outside of "
          "awaiting_status_decision");
    }
    switch (s) {
      case status::ok:
      case status::ok_simultaneous:
        encode(status_message{s, {}, 0}, out_);
        send_challenge();
        return;
      case status::nok:
        encode(status_message{s, {}, 0}, out_);
        supersede("we answered nok: our own connection attempt to " + std::string(peer_.str()) +
                  " wins the simultaneous connect");
        return;
      case status::not_allowed:
        encode(status_message{s, {}, 0}, out_);
        (void)fail(nodus::error(errc::not_connected,
                                "we refused " + std::string(peer_.str()) + " (not_allowed)"));
        return;
      case status::alive:
        encode(status_message{s, {}, 0}, out_);
        state_ = state::awaiting_alive_reply;
        return;
      case status::named:
      case status::alive_true:
      case status::alive_false: break;
    }
    throw std::logic_error(
        "nodus: handshake::machine::reply_status takes ok, ok_simultaneous, "
        "nok, not_allowed or alive");
  }

  // answer_alive(keep): A's answer to `alive`, in awaiting_alive_answer. keep = true ("true")
  // when we have no live connection to peer() (ours broke; B should drop its old one); false
  // ends this handshake.
  void answer_alive(bool keep) {
    if (state_ != state::awaiting_alive_answer) {
      throw std::logic_error(
          "nodus: handshake::machine::answer_alive outside of "
          "awaiting_alive_answer");
    }
    encode(status_message{keep ? status::alive_true : status::alive_false, {}, 0}, out_);
    if (keep) {
      state_ = state::awaiting_challenge;
    } else {
      (void)fail(nodus::error(errc::not_connected,
                              "we answered false to alive: our connection "
                              "to " +
                                  std::string(peer_.str()) + " is still current"));
    }
  }

  // take_output() -> the framed bytes to send now (possibly empty); the queue is emptied.
  [[nodiscard]] std::vector<std::byte> take_output() noexcept { return std::exchange(out_, {}); }
  [[nodiscard]] bool has_output() const noexcept { return !out_.empty(); }

  [[nodiscard]] state current() const noexcept { return state_; }
  [[nodiscard]] role side() const noexcept { return role_; }
  [[nodiscard]] bool done() const noexcept { return state_ == state::done; }
  // finished() -> done, superseded or failed: feed no more messages.
  [[nodiscard]] bool finished() const noexcept {
    return state_ == state::done || state_ == state::superseded || state_ == state::failed;
  }
  // failure() -> why the handshake stopped (superseded or failed); empty otherwise.
  [[nodiscard]] const nodus::error& failure() const noexcept { return failure_; }

  // peer() -> the other node: the one dialled (A), or the one named in send_name (B, from
  // awaiting_status_decision on); empty before that.
  [[nodiscard]] const node_name& peer() const noexcept { return peer_; }
  // peer_flags() -> the flags the peer advertised, expanded by expand_mandatory_25.
  [[nodiscard]] dist_flags peer_flags() const noexcept { return peer_flags_; }
  // flags() -> the flags in use on this connection: ours & the peer's (dist_util adjust_flags).
  [[nodiscard]] dist_flags flags() const noexcept { return opts_.flags & peer_flags_; }
  [[nodiscard]] std::uint32_t peer_creation() const noexcept { return peer_creation_; }
  // nodus_peer() -> both sides set dflag_nodus: native frames may be used.
  [[nodiscard]] bool nodus_peer() const noexcept { return (flags() & dflag_nodus) != 0; }
  // published() -> both sides are visible (DFLAG_PUBLISHED); false: a hidden connection.
  [[nodiscard]] bool published() const noexcept { return (flags() & dflag_published) != 0; }

 private:
  machine(options o, role r, state s) : opts_(std::move(o)), role_(r), state_(s) {}

  static std::string tag_text(std::span<const std::byte> body) {
    return body.empty() ? std::string("none, empty") : detail::quoted_tag(body[0]);
  }

  // "handshake with n2@h: ", or "handshake from a peer not yet named: " before send_name.
  std::string context() const {
    if (peer_.empty()) return "handshake from a peer not yet named: ";
    return "handshake with " + std::string(peer_.str()) + ": ";
  }

  result<void> fail(const nodus::error& e) {
    failure_ = nodus::error(e.code(), context() + e.reason());
    state_ = state::failed;
    return failure_;
  }

  void supersede(const std::string& why) {
    failure_ = nodus::error(errc::not_connected, context() + "simultaneous connect: " + why);
    state_ = state::superseded;
  }

  // Refuses a peer lacking required flags; B tells it not_allowed first, as Erlang does
  // (dist_util check_dflags).
  result<void> check_required() {
    const dist_flags missing = opts_.required & ~peer_flags_;
    if (missing == 0) return {};
    if (role_ == role::acceptor) encode(status_message{status::not_allowed, {}, 0}, out_);
    return fail(nodus::error(errc::protocol_mismatch, "peer lacks mandatory distribution flags " +
                                                          describe_dist_flags(missing)));
  }

  void send_challenge() {
    encode(challenge_message{opts_.flags, opts_.challenge, opts_.creation, opts_.self}, out_);
    state_ = state::awaiting_challenge_reply;
  }

  result<void> on_name(std::span<const std::byte> body) {
    auto m = decode_name(body);
    if (!m) {
      // A peer we cannot serve is told so; a garbled one is just dropped.
      if (m.error() == errc::protocol_mismatch) {
        encode(status_message{status::not_allowed, {}, 0}, out_);
      }
      return fail(m.error());
    }
    peer_ = m->name;
    peer_flags_ = expand_mandatory_25(m->flags);
    peer_creation_ = m->creation;
    if (auto r = check_required(); !r) return r;
    state_ = state::awaiting_status_decision;
    return {};
  }

  result<void> on_status(std::span<const std::byte> body) {
    auto m = decode_status(body);
    if (!m) return fail(m.error());
    switch (m->code) {
      case status::ok:
      case status::ok_simultaneous: state_ = state::awaiting_challenge; return {};
      case status::nok:
        supersede("peer answered nok: its own connection attempt to us wins");
        return failure_;
      case status::not_allowed:
        return fail(nodus::error(errc::not_connected, "peer refused us (not_allowed)"));
      case status::alive: state_ = state::awaiting_alive_answer; return {};
      case status::named:
        return fail(nodus::error(errc::protocol_mismatch,
                                 "peer sent named: but we did not ask for a dynamic name"));
      case status::alive_true:
      case status::alive_false: break;
    }
    return fail(detail::malformed("unexpected status \"" + std::string(to_string(m->code)) +
                                  "\" in answer to send_name"));
  }

  result<void> on_alive_reply(std::span<const std::byte> body) {
    auto m = decode_status(body);
    if (!m) return fail(m.error());
    if (m->code == status::alive_true) {
      send_challenge();
      return {};
    }
    if (m->code == status::alive_false) {
      return fail(nodus::error(errc::not_connected,
                               "peer answered false to alive: its existing connection to us "
                               "is current"));
    }
    return fail(detail::malformed("expected \"true\" or \"false\" in answer to alive, got \"" +
                                  std::string(to_string(m->code)) + "\""));
  }

  result<void> on_challenge(std::span<const std::byte> body) {
    auto m = decode_challenge(body);
    if (!m) return fail(m.error());
    if (m->name != peer_) {
      return fail(nodus::error(errc::not_connected, "the node at that address is " +
                                                        std::string(m->name.str()) +
                                                        ", not the one we dialled"));
    }
    peer_flags_ = expand_mandatory_25(m->flags);
    peer_creation_ = m->creation;
    if (auto r = check_required(); !r) return r;
    auto sum = make_digest(m->challenge, opts_.cookie);
    if (!sum) return fail(sum.error());
    encode(challenge_reply_message{opts_.challenge, *sum}, out_);
    state_ = state::awaiting_challenge_ack;
    return {};
  }

  result<void> on_challenge_reply(std::span<const std::byte> body) {
    auto m = decode_challenge_reply(body);
    if (!m) return fail(m.error());
    auto expected = make_digest(opts_.challenge, opts_.cookie);
    if (!expected) return fail(expected.error());
    if (!digest_equal(*expected, m->sum)) {
      return fail(nodus::error(errc::bad_cookie,
                               "its challenge reply does not match our cookie "
                               "(the nodes have different cookies)"));
    }
    auto ack = make_digest(m->challenge, opts_.cookie);
    if (!ack) return fail(ack.error());
    encode(challenge_ack_message{*ack}, out_);
    state_ = state::done;
    return {};
  }

  result<void> on_challenge_ack(std::span<const std::byte> body) {
    auto m = decode_challenge_ack(body);
    if (!m) return fail(m.error());
    auto expected = make_digest(opts_.challenge, opts_.cookie);
    if (!expected) return fail(expected.error());
    if (!digest_equal(*expected, m->sum)) {
      return fail(nodus::error(errc::bad_cookie,
                               "its challenge ack does not match our cookie "
                               "(the nodes have different cookies)"));
    }
    state_ = state::done;
    return {};
  }

  options opts_;
  role role_;
  state state_;
  node_name peer_;
  dist_flags peer_flags_ = 0;
  std::uint32_t peer_creation_ = 0;
  std::vector<std::byte> out_;
  nodus::error failure_;
};

// to_string(s) -> the state's name ("awaiting_challenge", "done", ...), for log lines.
[[nodiscard]] constexpr std::string_view to_string(machine::state s) noexcept {
  using st = machine::state;
  switch (s) {
    case st::awaiting_name: return "awaiting_name";
    case st::awaiting_status_decision: return "awaiting_status_decision";
    case st::awaiting_status: return "awaiting_status";
    case st::awaiting_alive_answer: return "awaiting_alive_answer";
    case st::awaiting_alive_reply: return "awaiting_alive_reply";
    case st::awaiting_challenge: return "awaiting_challenge";
    case st::awaiting_challenge_reply: return "awaiting_challenge_reply";
    case st::awaiting_challenge_ack: return "awaiting_challenge_ack";
    case st::done: return "done";
    case st::superseded: return "superseded";
    case st::failed: return "failed";
  }
  return "?";
}

}  // namespace nodus::net::handshake

// The two sides the handshake harness plays, and seeds.cpp runs against each other: their options
// (fixed challenges, so a recorded peer's replies carry the right digests), and the owner's part
// (reply_status, answer_alive) as the harness's first input byte chooses it.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include <nodus/net/handshake.hpp>

namespace fuzz {

namespace hs = nodus::net::handshake;

// The first input byte: bit 0 the side the harness plays (0: initiator n1, dialling n2;
// 1: acceptor n2), bits 1-3 the acceptor's reply_status (mod 5), bit 4 the initiator's
// answer_alive, bit 5 no required flags (every peer's flags accepted), bit 6 a late owner: the
// peer's next message arrives before the decision, bit 7 the stream as over TLS (4-byte lengths,
// inet_tls_dist).
struct handshake_mode {
  bool acceptor = false;
  hs::status reply = hs::status::ok;
  bool keep = true;
  bool lenient = false;
  bool late = false;
  bool tls = false;  // messages with 4-byte lengths, as over TLS (handshake::split_tls_frame)

  static handshake_mode from(std::uint8_t b) {
    static constexpr std::array<hs::status, 5> replies = {
        hs::status::ok, hs::status::ok_simultaneous, hs::status::nok, hs::status::not_allowed,
        hs::status::alive};
    return {(b & 1) != 0,    replies[((b >> 1) & 7) % replies.size()],
            (b & 0x10) != 0, (b & 0x20) != 0,
            (b & 0x40) != 0, (b & 0x80) != 0};
  }
  [[nodiscard]] std::uint8_t byte() const {
    std::uint8_t r = 0;
    switch (reply) {
      case hs::status::ok_simultaneous: r = 1; break;
      case hs::status::nok: r = 2; break;
      case hs::status::not_allowed: r = 3; break;
      case hs::status::alive: r = 4; break;
      default: break;
    }
    return static_cast<std::uint8_t>((acceptor ? 1 : 0) | (r << 1) | (keep ? 0x10 : 0) |
                                     (lenient ? 0x20 : 0) | (late ? 0x40 : 0) | (tls ? 0x80 : 0));
  }
};

inline hs::options handshake_options(bool acceptor, bool lenient) {
  hs::options o;
  o.self = nodus::node_name::parse(acceptor ? "n2@127.0.0.1" : "n1@127.0.0.1").value();
  o.cookie = "fuzzcookie";
  o.creation = acceptor ? 2 : 1;
  o.challenge = acceptor ? 0x22222222u : 0x11111111u;
  if (lenient) o.required = 0;
  return o;
}

inline hs::machine handshake_machine(const handshake_mode& m) {
  if (m.acceptor) return hs::machine::acceptor(handshake_options(true, m.lenient));
  return hs::machine::initiator(handshake_options(false, m.lenient),
                                nodus::node_name::parse("n2@127.0.0.1").value());
}

// pending(h) -> the machine waits for the owner's decision.
inline bool pending(const hs::machine& h) {
  return h.current() == hs::machine::state::awaiting_status_decision ||
         h.current() == hs::machine::state::awaiting_alive_answer;
}

// The owner's part after a feed: a decision where the machine waits for one.
inline void handshake_owner(hs::machine& h, const handshake_mode& m) {
  if (h.current() == hs::machine::state::awaiting_status_decision) h.reply_status(m.reply);
  if (h.current() == hs::machine::state::awaiting_alive_answer) h.answer_alive(m.keep);
}

}  // namespace fuzz

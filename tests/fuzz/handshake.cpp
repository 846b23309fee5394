// libFuzzer harness: net::handshake::machine, the Erlang distribution handshake, on either side
// (net/handshake.hpp). The first input byte picks the side, the owner's decisions and the length
// prefixes (2 bytes, or 4 as over TLS; see handshake.hpp); the rest is the peer's byte stream,
// cut into messages by split_frame (split_tls_frame) and fed in order until the machine
// finishes, as a connection does. Every message is also given to each decoder: what one decodes
// encodes to the same bytes (trailing bytes a decoder ignores aside). The machine must never throw:
// a peer's bytes are never a programming error.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include <nodus/net/handshake.hpp>

#include "handshake.hpp"

namespace hs = nodus::net::handshake;

namespace {

// encode(decoded) is the framed body's first bytes (the length prefix aside).
template <class Message>
void same_bytes(const Message& m, std::span<const std::byte> body) {
  std::vector<std::byte> again;
  hs::encode(m, again);
  const std::span<const std::byte> b(again);
  if (b.size() < 2 || b.size() - 2 > body.size() ||
      !std::equal(b.begin() + 2, b.end(), body.begin())) {
    std::abort();
  }
}

void decode_all(std::span<const std::byte> body) {
  if (auto m = hs::decode_name(body)) same_bytes(*m, body);
  if (auto m = hs::decode_status(body)) same_bytes(*m, body);
  if (auto m = hs::decode_challenge(body)) same_bytes(*m, body);
  if (auto m = hs::decode_complement(body)) same_bytes(*m, body);
  if (auto m = hs::decode_challenge_reply(body)) same_bytes(*m, body);
  if (auto m = hs::decode_challenge_ack(body)) same_bytes(*m, body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto mode = fuzz::handshake_mode::from(data[0]);
  auto h = fuzz::handshake_machine(mode);
  (void)h.take_output();
  std::span<const std::byte> stream(reinterpret_cast<const std::byte*>(data + 1), size - 1);
  while (!h.finished()) {
    if (const auto n = mode.tls ? hs::tls_message_length(stream) : std::nullopt;
        n && *n > hs::max_body_size) {
      break;  // as a connection does: a length over a handshake message's limit is refused unread
    }
    const auto f = mode.tls ? hs::split_tls_frame(stream) : hs::split_frame(stream);
    if (!f) break;
    if (f->size > stream.size() ||
        f->body.data() + f->body.size() > stream.data() + stream.size()) {
      std::abort();  // a message never reaches past the bytes it was cut from
    }
    stream = stream.subspan(f->size);
    decode_all(f->body);
    auto r = h.feed(f->body);
    // Accepted: it goes on or is done; refused: it stopped, and says why.
    if (r ? (h.finished() && !h.done()) : (!h.finished() || h.done() || !h.failure())) {
      std::abort();
    }
    if (r && !(mode.late && fuzz::pending(h))) fuzz::handshake_owner(h, mode);
    (void)h.take_output();
  }
  if (fuzz::pending(h)) fuzz::handshake_owner(h, mode);  // a late owner, after the last message
  // The initiator is connected to the node it dialled, never another.
  if (h.done() && !mode.acceptor && h.peer().str() != "n2@127.0.0.1") std::abort();
  (void)hs::to_string(h.current());
  return 0;
}

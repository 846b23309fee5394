// nodus/dist/native_frame.hpp: the native frame format between two nodus nodes (the one
// documented place): what a frame carries, its header, how it is parsed and built.
//
// A connection between two nodus nodes (both advertise net::dflag_nodus in the handshake) carries
// frames of `4-byte big-endian length | body` as Erlang's distribution does ("Protocol between
// Connected Nodes" in erl_dist_protocol). Between nodus nodes every frame, length included, is a
// multiple of net::frame_alignment (16) bytes: the sender pads the body with zeros, and a tick is
// a frame of 12 zero bytes rather than an empty one, so that every body starts 4 bytes after a
// 16-byte boundary of the receive buffer (net/connection.hpp does the padding and the ticks).
// A body whose first byte is 0xF0 is a control frame of the mesh (hello, peer list:
// cluster/node_table.hpp); every other body is a native frame:
//
// clang-format off
//   offset  size  field                           all integers little-endian
//   0       1     kind (frame_kind, 1..6)
//   1       1     target name length L (0 for replies; term: 0 when it goes to a pid)
//   2       2     zero
//   4       8     word1: message id (call, cast, info) or call id (reply, reply_error);
//                 term without a name: the pid's number
//   12      8     word2: call id (call) or error code (reply_error); term without a name: the
//                 pid's serial; else zero
//   20      8     payload length N
//   28      L     target name (a registered server name), then zeros up to header_size(L)
//   ...     N     payload: the message (codec/), the error reason text (reply_error), or one
//                 Erlang term (term: the external term format, version byte 131 or not)
//   ...           zeros up to the frame alignment (fewer than 16)
// clang-format on
//
// A call, cast or info frame's target may name a server instance rather than a registered name
// (a call to a global name goes to the process that holds it, as Erlang's {global, Name}): 9
// bytes, 0x01 then the pid's number and serial (4 bytes each, little-endian); no registered name
// starts with byte 1 (pid_target, parse_pid_target).
//
// header_size(L) = 28 + round_up(L, 16) is 12 modulo 16, so that the payload starts 16-byte
// aligned in the receive buffer: a trivially copyable message is used where it landed.
//
// A term frame carries a message that is an Erlang term, as a BEAM node's REG_SEND or SEND
// would: to the process registered under the target name (a server, taking it as an info
// message, or a process group scope: dist/pg_scope.hpp), or, without a name, to the pid
// {receiver, word1, word2, receiver's creation} (node::send(pid, msg) to a nodus node's server).
// Term frames go only to a peer that set net::dflag_nodus_terms in the handshake (a nodus node
// from before them would drop the link on an unknown kind); to another, a send fails with
// errc::protocol_mismatch.
//
// A connection whose peer is not a nodus node (a BEAM node) gets no native frames: it speaks
// Erlang's distribution messages and external term format (dist/erlang_frame.hpp), chosen per
// peer at the handshake.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "nodus/core/error.hpp"
#include "nodus/core/format.hpp"

namespace nodus::dist {

// What a native frame carries.
enum class frame_kind : std::uint8_t {
  call = 1,
  reply = 2,
  reply_error = 3,
  cast = 4,
  info = 5,
  term = 6
};

inline constexpr std::size_t fixed_header_size = 28;
inline constexpr std::size_t max_target_length = 255;
inline constexpr std::size_t max_header_size = fixed_header_size + max_target_length + 1;

// header_size(L) -> the header's size with a target name of L bytes (12 modulo 16).
[[nodiscard]] constexpr std::size_t header_size(std::size_t target_len) noexcept {
  return fixed_header_size + (target_len + 15) / 16 * 16;
}
static_assert(header_size(0) % 16 == 12 && header_size(17) % 16 == 12);

// A frame of at most this many bytes may go out copied into the connection's run of small frames
// (net::connection::small_frame_max; checked where both are visible).
inline constexpr std::size_t copied_frame_max = 2048;

inline void put_le64(std::byte* at, std::uint64_t v) noexcept {
  for (int i = 0; i < 8; ++i) at[i] = static_cast<std::byte>((v >> (8 * i)) & 0xff);
}
[[nodiscard]] inline std::uint64_t get_le64(const std::byte* at) noexcept {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= std::to_integer<std::uint64_t>(at[i]) << (8 * i);
  return v;
}

// One received native frame, parsed; views into the received bytes.
struct native_frame {
  frame_kind kind{};
  std::uint64_t word1 = 0;  // see the layout above; read it through the accessors
  std::uint64_t word2 = 0;
  std::string_view target;  // the server's name (empty for replies)
  std::span<const std::byte> payload;

  [[nodiscard]] bool is_reply() const noexcept {
    return kind == frame_kind::reply || kind == frame_kind::reply_error;
  }
  // message_id() -> the message's type id (call, cast, info).
  [[nodiscard]] std::uint64_t message_id() const noexcept {
    return is_reply() || kind == frame_kind::term ? 0 : word1;
  }
  // call_id() -> the call this frame starts (call) or answers (reply, reply_error); 0 otherwise.
  [[nodiscard]] std::uint64_t call_id() const noexcept {
    return kind == frame_kind::call ? word2 : is_reply() ? word1 : 0;
  }
  // error_code() -> the errc value of a reply_error.
  [[nodiscard]] std::uint64_t error_code() const noexcept {
    return kind == frame_kind::reply_error ? word2 : 0;
  }
};

// parse(body) -> the parsed frame; errc::malformed_frame saying what is wrong.
[[nodiscard]] inline result<native_frame> parse(std::span<const std::byte> f) {
  auto bad = [&](std::string_view what) {
    return error(errc::malformed_frame, format("native frame of {} bytes: {}", f.size(), what));
  };
  if (f.size() < fixed_header_size) return bad("shorter than its header");
  native_frame w;
  const auto kind = std::to_integer<unsigned>(f[0]);
  if (kind < 1 || kind > 6) return bad(format("unknown kind {}", kind));
  w.kind = static_cast<frame_kind>(kind);
  if (f[2] != std::byte{0} || f[3] != std::byte{0}) return bad("bytes 2-3 are not zero");
  const std::size_t name_len = std::to_integer<std::size_t>(f[1]);
  if (w.is_reply() && name_len != 0) return bad("a reply names a target");
  const std::size_t header = header_size(name_len);
  if (f.size() < header) return bad("shorter than its header and name");
  // The zeros after the name and after the payload (fewer than 16 each): a peer that writes
  // anything else there does not speak this format.
  auto zeros = [&](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i) {
      if (f[i] != std::byte{0}) return false;
    }
    return true;
  };
  if (!zeros(fixed_header_size + name_len, header)) return bad("the name's padding is not zero");
  w.word1 = get_le64(f.data() + 4);
  w.word2 = get_le64(f.data() + 12);
  const std::uint64_t len = get_le64(f.data() + 20);
  if (len > f.size() - header) return bad(format("payload length {} past the end", len));
  if (f.size() - header - len >= 16) return bad("bytes after the payload");
  if (!zeros(header + static_cast<std::size_t>(len), f.size())) {
    return bad("the padding after the payload is not zero");
  }
  w.target =
      std::string_view(reinterpret_cast<const char*>(f.data() + fixed_header_size), name_len);
  w.payload = f.subspan(header, static_cast<std::size_t>(len));
  return w;
}

// pid_target(number, serial) -> the target bytes that name the instance {number, serial} of a
// server of the receiving node; parse_pid_target(target) -> them back, when target is one.
struct pid_target_bytes {
  std::array<char, 9> bytes{};
  [[nodiscard]] std::string_view view() const noexcept { return {bytes.data(), bytes.size()}; }
};
[[nodiscard]] inline pid_target_bytes pid_target(std::uint32_t number,
                                                 std::uint32_t serial) noexcept {
  pid_target_bytes t;
  t.bytes[0] = '\x01';
  for (int i = 0; i < 4; ++i) {
    t.bytes[1 + i] = static_cast<char>((number >> (8 * i)) & 0xff);
    t.bytes[5 + i] = static_cast<char>((serial >> (8 * i)) & 0xff);
  }
  return t;
}
struct pid_target_value {
  std::uint32_t number = 0;
  std::uint32_t serial = 0;
};
[[nodiscard]] inline bool parse_pid_target(std::string_view target,
                                           pid_target_value& out) noexcept {
  if (target.size() != 9 || target[0] != '\x01') return false;
  out = {};
  for (int i = 0; i < 4; ++i) {
    out.number |= static_cast<std::uint32_t>(static_cast<unsigned char>(target[1 + i])) << (8 * i);
    out.serial |= static_cast<std::uint32_t>(static_cast<unsigned char>(target[5 + i])) << (8 * i);
  }
  return true;
}

// The header of an outgoing frame (owned by the send until it is written).
struct frame_header {
  std::array<std::byte, max_header_size> bytes;  // [0, size) written by set(), the rest unused
  std::size_t size = 0;

  // call(target, message id, call id, payload length), and so on for each kind.
  void call(std::string_view target, std::uint64_t message_id, std::uint64_t call_id,
            std::uint64_t payload_len) noexcept {
    set(frame_kind::call, target, message_id, call_id, payload_len);
  }
  void message(frame_kind k, std::string_view target, std::uint64_t message_id,
               std::uint64_t payload_len) noexcept {
    set(k, target, message_id, 0, payload_len);
  }
  void reply(std::uint64_t call_id, std::uint64_t payload_len) noexcept {
    set(frame_kind::reply, {}, call_id, 0, payload_len);
  }
  void reply_error(std::uint64_t call_id, std::uint64_t code, std::uint64_t reason_len) noexcept {
    set(frame_kind::reply_error, {}, call_id, code, reason_len);
  }
  [[nodiscard]] std::span<const std::byte> view() const noexcept { return {bytes.data(), size}; }

  // set(kind, target, word1, word2, payload length): the raw layout (target at most 255 bytes).
  void set(frame_kind k, std::string_view target, std::uint64_t w1, std::uint64_t w2,
           std::uint64_t payload_len) noexcept {
    bytes[0] = static_cast<std::byte>(k);
    bytes[1] = static_cast<std::byte>(target.size());
    bytes[2] = bytes[3] = std::byte{0};
    put_le64(bytes.data() + 4, w1);
    put_le64(bytes.data() + 12, w2);
    put_le64(bytes.data() + 20, payload_len);
    size = header_size(target.size());
    if (!target.empty()) {
      std::memcpy(bytes.data() + fixed_header_size, target.data(), target.size());
    }
    const std::size_t name_end = fixed_header_size + target.size();
    std::memset(bytes.data() + name_end, 0, size - name_end);
  }
};

}  // namespace nodus::dist

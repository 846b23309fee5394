// nodus/dist/erlang_frame.hpp: the frames between a nodus node and a BEAM node (Erlang, Elixir),
// the second wire protocol of dist/ beside the native one (dist/native_frame.hpp), chosen per peer
// at the handshake: a peer that does not set net::dflag_nodus speaks this.
//
// A nodus node does not offer DFLAG_DIST_HDR_ATOM_CACHE nor DFLAG_FRAGMENTS (net/dist_flags.hpp),
// so a BEAM peer sends every message as a pass-through frame (erl_dist_protocol, "Protocol
// between Connected Nodes"):
//
// clang-format off
//   4-byte big-endian length | 112 | ControlMessage | Message (only for the sends and the payload exits)
// clang-format on
//
// ControlMessage and Message are each one term in the external format, with their version byte
// 131. ControlMessage is a tuple whose first element is the operation (erl_dist_protocol, "Control
// Messages"; the numbers below are that document's). Frames that carry something else (the
// distribution header, 131 68, which this node did not ask for) are refused as malformed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "nodus/codec/etf/decode.hpp"
#include "nodus/codec/etf/encode.hpp"
#include "nodus/codec/etf/term.hpp"
#include "nodus/config.hpp"
#include "nodus/core/error.hpp"

namespace nodus::dist {

// The pass-through type byte (erl_dist_protocol: "Type ... Equal to 112 (pass through)").
inline constexpr std::byte pass_through{112};

// Control message operations (erl_dist_protocol, "Control Messages").
enum class erlang_op : std::uint8_t {
  link = 1,                     // {1, FromPid, ToPid}
  send = 2,                     // {2, Unused, ToPid}, Message
  exit = 3,                     // {3, FromPid, ToPid, Reason}
  unlink = 4,                   // {4, FromPid, ToPid} (before the new link protocol)
  node_link = 5,                // {5}
  reg_send = 6,                 // {6, FromPid, Unused, ToName}, Message
  group_leader = 7,             // {7, FromPid, ToPid}
  exit2 = 8,                    // {8, FromPid, ToPid, Reason}
  send_tt = 12,                 // {12, Unused, ToPid, TraceToken}, Message
  exit_tt = 13,                 // {13, FromPid, ToPid, TraceToken, Reason}
  reg_send_tt = 16,             // {16, FromPid, Unused, ToName, TraceToken}, Message
  exit2_tt = 18,                // {18, FromPid, ToPid, TraceToken, Reason}
  monitor_p = 19,               // {19, FromPid, ToProc, Ref}: ToProc a pid or a registered name
  demonitor_p = 20,             // {20, FromPid, ToProc, Ref}
  monitor_p_exit = 21,          // {21, FromProc, ToPid, Ref, Reason}
  send_sender = 22,             // {22, FromPid, ToPid}, Message
  send_sender_tt = 23,          // {23, FromPid, ToPid, TraceToken}, Message
  payload_exit = 24,            // {24, FromPid, ToPid}, Reason
  payload_exit_tt = 25,         // {25, FromPid, ToPid, TraceToken}, Reason
  payload_exit2 = 26,           // {26, FromPid, ToPid}, Reason
  payload_exit2_tt = 27,        // {27, FromPid, ToPid, TraceToken}, Reason
  payload_monitor_p_exit = 28,  // {28, FromProc, ToPid, Ref}, Reason
  spawn_request = 29,           // {29, ReqId, From, GroupLeader, {M, F, A}, OptList}, ArgList
  spawn_request_tt = 30,
  spawn_reply = 31,  // {31, ReqId, To, Flags, Result}
  spawn_reply_tt = 32,
  alias_send = 33,     // {33, FromPid, Alias}, Message
  alias_send_tt = 34,  // {34, FromPid, Alias, Token}, Message
  unlink_id = 35,      // {35, Id, FromPid, ToPid}
  unlink_id_ack = 36,  // {36, Id, FromPid, ToPid}
};

// has_message(op) -> a Message (or a payload exit's Reason) follows the control message.
[[nodiscard]] constexpr bool has_message(erlang_op op) noexcept {
  switch (op) {
    case erlang_op::send:
    case erlang_op::reg_send:
    case erlang_op::send_tt:
    case erlang_op::reg_send_tt:
    case erlang_op::send_sender:
    case erlang_op::send_sender_tt:
    case erlang_op::payload_exit:
    case erlang_op::payload_exit_tt:
    case erlang_op::payload_exit2:
    case erlang_op::payload_exit2_tt:
    case erlang_op::payload_monitor_p_exit:
    case erlang_op::spawn_request:
    case erlang_op::spawn_request_tt:
    case erlang_op::alias_send:
    case erlang_op::alias_send_tt: return true;
    default: return false;
  }
}

// One frame from a BEAM node, parsed.
struct erlang_frame {
  erlang_op op{};
  etf::term control;  // the control tuple, op first
  etf::term message;  // the Message (or Reason) when has_message(op); [] otherwise
};

// Bounds of what a BEAM peer may send, beyond the frame size (net::connection_options).
struct erlang_limits {
  std::size_t max_depth = 512;                                // term nesting
  std::size_t max_decompressed_size = std::size_t{64} << 20;  // a compressed term, inflated
};

// parse_erlang_frame(bytes) -> the frame; errc::malformed_frame saying what is wrong (not a
// pass-through frame, a control message that is no tuple of a known operation with its arity,
// a missing or a trailing message).
[[nodiscard]] NODUS_DECL result<erlang_frame> parse_erlang_frame(std::span<const std::byte> f,
                                                                 const erlang_limits& limits = {});

// erlang_frame_bytes(control, message) -> a pass-through frame's body: 112, control, then message
// when given (nullptr: none). Fails only for a term that cannot be encoded (a float that is not
// finite).
[[nodiscard]] NODUS_DECL result<std::vector<std::byte>> erlang_frame_bytes(
    const etf::term& control, const etf::term* message);

// The control messages a nodus node sends.
[[nodiscard]] NODUS_DECL etf::term send_control(const etf::pid& to);  // {2, '', To}
[[nodiscard]] NODUS_DECL etf::term monitor_p_exit_control(const etf::term& from_proc,
                                                          const etf::pid& to,
                                                          const etf::reference& ref,
                                                          const etf::term& reason);
[[nodiscard]] NODUS_DECL etf::term exit_control(const etf::pid& from, const etf::pid& to,
                                                const etf::term& reason);
// {6, From, '', ToName}: a message to the process registered as to_name.
[[nodiscard]] NODUS_DECL etf::term reg_send_control(const etf::pid& from, const etf::atom& to_name);
// {19, From, ToProc, Ref} / {20, From, ToProc, Ref}: From monitors (stops monitoring) ToProc.
[[nodiscard]] NODUS_DECL etf::term monitor_p_control(const etf::pid& from, const etf::term& to_proc,
                                                     const etf::reference& ref);
[[nodiscard]] NODUS_DECL etf::term demonitor_p_control(const etf::pid& from,
                                                       const etf::term& to_proc,
                                                       const etf::reference& ref);
[[nodiscard]] NODUS_DECL etf::term unlink_id_ack_control(const etf::term& id, const etf::pid& from,
                                                         const etf::pid& to);

}  // namespace nodus::dist

#if defined(NODUS_HEADER_ONLY)
#include "nodus/dist/impl/erlang_frame.ipp"
#endif

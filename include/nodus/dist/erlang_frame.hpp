// nodus/dist/erlang_frame.hpp: the frames between a nodus node and a BEAM node (Erlang, Elixir),
// the second wire protocol of dist/ beside the native one (dist/native_frame.hpp), chosen per peer
// at the handshake: a peer that does not set net::dflag_nodus speaks this.
//
// A nodus node offers DFLAG_DIST_HDR_ATOM_CACHE and DFLAG_FRAGMENTS (net/dist_flags.hpp), as
// every OTP node since R13 / OTP 22 does, so a BEAM peer's frames start with the distribution
// header (erl_dist_protocol, "Protocol between Connected Nodes"; erl_ext_dist, "Distribution
// Header"):
//
// clang-format off
//   4-byte big-endian length | 131 68 | NumberOfAtomCacheRefs | Flags | AtomCacheRefs | ControlMessage | Message
//   4-byte big-endian length | 131 69 | SequenceId (8) | FragmentId (8) | NumberOfAtomCacheRefs | Flags | AtomCacheRefs | ControlMessage | start of Message
//   4-byte big-endian length | 131 70 | SequenceId (8) | FragmentId (8) | more of Message
// clang-format on
//
// The terms after a header have no version byte; their atoms may be ATOM_CACHE_REF (82) indexes
// into the header's references, which name entries of the connection's atom cache (8 segments of
// 256) or set them. A fragmented message starts with 69, whose FragmentId is the number of
// fragments, and goes on with 70s counting down to 1; fragments of different sequences may
// interleave. A peer that does not offer the header (an old or a minimal implementation: the
// flags in use are both sides' intersection) sends pass-through frames instead:
//
// clang-format off
//   4-byte big-endian length | 112 | ControlMessage | Message (only for the sends and the payload exits)
// clang-format on
//
// with a version byte 131 before each term. erlang_reader reads both, keeping the atom cache and
// the fragments of one connection. What this node sends is built in the header form with no atom
// cache reference (131 68 0): as fast to write as a pass-through frame, and as_pass_through()
// rewrites it for a peer that did not offer the header.
//
// ControlMessage is a tuple whose first element is the operation (erl_dist_protocol, "Control
// Messages"; the numbers below are that document's); Message is the message of a send or the
// reason of a payload exit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
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
inline constexpr std::byte pass_through_type{112};
// The distribution header's tags, after the version byte 131 (erl_ext_dist, "Distribution
// Header"): a whole message, the first fragment of one, a further fragment.
inline constexpr std::byte dist_header_tag{68};
inline constexpr std::byte dist_frag_header_tag{69};
inline constexpr std::byte dist_frag_cont_tag{70};

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
  // A fragmented message, reassembled, and all the fragments a connection holds at once.
  std::size_t max_message_size = std::size_t{64} << 20;
  // Fragmented messages in progress at once on one connection (one per sending process).
  std::size_t max_sequences = 1024;
};

// The frames of one BEAM connection, read in the order they came: the connection's atom cache
// and its fragmented messages in progress. Not thread-safe: a connection's frames are read one at
// a time. Any error (a malformed header or term, a reference to an atom cache entry never set, a
// fragment out of sequence, a bound passed) is errc::malformed_frame, and the connection cannot
// go on: its state may no longer match the peer's.
class erlang_reader {
 public:
  // The atom cache's entries: 8 segments of 256 (erl_ext_dist, "Normal Distribution Header").
  static constexpr std::size_t atom_cache_size = 2048;

  explicit erlang_reader(erlang_limits limits = {}) : limits_(limits) {}

  // read(bytes) -> the frame, once complete: nothing for a fragment that is not the last of its
  // message. Takes pass-through frames (112) and distribution headers (131 68 / 69 / 70).
  [[nodiscard]] NODUS_DECL result<std::optional<erlang_frame>> read(std::span<const std::byte> f);

  // What this connection's frames made use of, for tests and statistics.
  struct counters {
    std::uint64_t frames = 0;           // frames read, fragments included
    std::uint64_t atom_cache_sets = 0;  // new atom cache entries
    std::uint64_t atom_cache_hits = 0;  // references to an entry set before
    std::uint64_t fragmented = 0;       // messages that came in more than one fragment
  };
  [[nodiscard]] const counters& stats() const noexcept { return stats_; }

 private:
  struct sequence {
    std::vector<std::byte> bytes;  // the control message and the message so far
    std::vector<etf::atom> refs;   // the first fragment's atom cache references
    std::uint64_t next = 0;        // the FragmentId expected next
  };
  result<void> read_header(std::span<const std::byte> f, std::size_t& at,
                           std::vector<etf::atom>& refs);
  // parse_body(body, refs, size): the control message and message after the header (or 112) of
  // a frame (or reassembled message) of size bytes.
  result<erlang_frame> parse_body(std::span<const std::byte> body, std::span<const etf::atom> refs,
                                  std::size_t size) const;

  erlang_limits limits_;
  std::unique_ptr<etf::atom[]> cache_;  // 2048 entries (8 segments of 256), made on first use
  std::vector<bool> cached_;
  std::map<std::uint64_t, sequence> sequences_;
  std::size_t buffered_ = 0;  // bytes held by sequences_
  std::vector<etf::atom> refs_;
  counters stats_;
};

// parse_erlang_frame(bytes) -> the frame, for one frame on its own (no atom cache entry set
// before it, not a fragment); errc::malformed_frame saying what is wrong (neither a pass-through
// frame nor a distribution header, a control message that is no tuple of a known operation with
// its arity, a missing or a trailing message).
[[nodiscard]] NODUS_DECL result<erlang_frame> parse_erlang_frame(std::span<const std::byte> f,
                                                                 const erlang_limits& limits = {});

// How a frame to a BEAM peer starts: the distribution header (131 68 0: no atom cache reference)
// or, for a peer that did not offer it, the pass-through byte 112.
enum class erlang_framing : std::uint8_t { dist_header, pass_through };

// erlang_frame_bytes(control, message, framing) -> a frame's body: the header (or 112), control,
// then message when given (nullptr: none). Fails only for a term that cannot be encoded (a float
// that is not finite). Code that appends a message itself writes it without a version byte after
// a dist_header frame (etf::encode_options{false}).
[[nodiscard]] NODUS_DECL result<std::vector<std::byte>> erlang_frame_bytes(
    const etf::term& control, const etf::term* message,
    erlang_framing framing = erlang_framing::dist_header);

// as_pass_through(frame) -> the same frame for a peer without the distribution header: a frame
// erlang_frame_bytes built with erlang_framing::dist_header, rewritten to 112 and terms with their
// version byte. Errors: malformed_frame for bytes that are no such frame.
[[nodiscard]] NODUS_DECL result<std::vector<std::byte>> as_pass_through(
    std::span<const std::byte> frame);

// errc_atom(code) -> the atom a BEAM process sees for a nodus error code: Erlang's own where there
// is one (normal for ok, noproc, timeout, shutdown, nodedown), else the code's name
// (server_crashed, ...).
[[nodiscard]] NODUS_DECL std::string_view errc_atom(errc code) noexcept;

// erlang_reason(e) -> the exit reason a BEAM process sees for e (a failed call, a monitor's
// 'DOWN'): the code's atom (noproc, timeout, shutdown, ...), with the reason text when there is
// one: {server_crashed, <<"...">>}.
[[nodiscard]] NODUS_DECL etf::term erlang_reason(const error& e);

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

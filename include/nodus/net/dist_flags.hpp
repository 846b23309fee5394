// nodus/net/dist_flags.hpp: the capability flags of the Erlang distribution handshake.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace nodus::net {

// A set of distribution capability flags: the 64-bit `Flags` field of the version-6 handshake.
using dist_flags = std::uint64_t;

// The flag bits. Sources (checked against each other):
//  - the Erlang document erl_dist_protocol, section "Distribution Flags" (erlang/otp
//    erts/doc/guides/erl_dist_protocol.md; before OTP 27 erts/doc/src/erl_dist_protocol.xml);
//  - erts/emulator/beam/dist.h and lib/kernel/include/dist.hrl, the definitions the runtime uses.
// One disagreement: the document lists DFLAG_MANDATORY_25_DIGEST as (1 bsl 36), but dist.h,
// dist.hrl and erl_interface all define it as 16#4000000 (bit 26), and an OTP 25.2.3 node sends
// bit 26 (seen here: its send_name flags are 0x0000000d07df7fbd). The code is right; we use bit 26.
inline constexpr dist_flags dflag_published = 0x1;                 // visible node, part of the mesh
inline constexpr dist_flags dflag_atom_cache = 0x2;                // obsolete
inline constexpr dist_flags dflag_extended_references = 0x4;       // mandatory
inline constexpr dist_flags dflag_dist_monitor = 0x8;              // remote process monitors
inline constexpr dist_flags dflag_fun_tags = 0x10;                 // mandatory
inline constexpr dist_flags dflag_dist_monitor_name = 0x20;        // monitors of registered names
inline constexpr dist_flags dflag_hidden_atom_cache = 0x40;        // obsolete
inline constexpr dist_flags dflag_new_fun_tags = 0x80;             // mandatory (NEW_FUN_EXT)
inline constexpr dist_flags dflag_extended_pids_ports = 0x100;     // mandatory
inline constexpr dist_flags dflag_export_ptr_tag = 0x200;          // mandatory (EXPORT_EXT)
inline constexpr dist_flags dflag_bit_binaries = 0x400;            // mandatory (BIT_BINARY_EXT)
inline constexpr dist_flags dflag_new_floats = 0x800;              // mandatory (NEW_FLOAT_EXT)
inline constexpr dist_flags dflag_unicode_io = 0x1000;             // (no text in the document)
inline constexpr dist_flags dflag_dist_hdr_atom_cache = 0x2000;    // distribution header + cache
inline constexpr dist_flags dflag_small_atom_tags = 0x4000;        // SMALL_ATOM_EXT
inline constexpr dist_flags dflag_utf8_atoms = 0x10000;            // mandatory (ATOM_UTF8_EXT)
inline constexpr dist_flags dflag_map_tag = 0x20000;               // mandatory (MAP_EXT)
inline constexpr dist_flags dflag_big_creation = 0x40000;          // mandatory (32-bit creation)
inline constexpr dist_flags dflag_send_sender = 0x80000;           // SEND_SENDER control message
inline constexpr dist_flags dflag_big_seqtrace_labels = 0x100000;  // any term as seqtrace label
inline constexpr dist_flags dflag_exit_payload = 0x400000;         // PAYLOAD_EXIT* messages
inline constexpr dist_flags dflag_fragments = 0x800000;            // fragmented messages
inline constexpr dist_flags dflag_handshake_23 = 0x1000000;        // version-6 handshake; mandatory
inline constexpr dist_flags dflag_unlink_id = 0x2000000;           // new link protocol (OTP 26+)
inline constexpr dist_flags dflag_mandatory_25_digest = 0x4000000;  // "all OTP 25 mandatory flags"
inline constexpr dist_flags dflag_spawn = dist_flags{1} << 32;      // SPAWN_REQUEST / SPAWN_REPLY
inline constexpr dist_flags dflag_name_me = dist_flags{1} << 33;    // asks for a dynamic node name
inline constexpr dist_flags dflag_v4_nc = dist_flags{1} << 34;      // bigger pids etc. (OTP 26+)
inline constexpr dist_flags dflag_alias = dist_flags{1} << 35;      // process aliases (ALIAS_SEND)
// dist.h of later releases (not OTP 25): DFLAG_LOCAL_EXT (1 << 36, internal to the runtime) and
// DFLAG_ALTACT_SIG (1 << 37); named here only so that describe_dist_flags can print them.
inline constexpr dist_flags dflag_local_ext = dist_flags{1} << 36;
inline constexpr dist_flags dflag_altact_sig = dist_flags{1} << 37;

// nodus's own capability bit (DESIGN.md section 5): set by every nodus node, never by a BEAM node.
// When both sides set it they switch to native frames. Checked against Erlang 25.2: a handshake
// whose flags carry this unknown bit completes normally.
inline constexpr dist_flags dflag_nodus = dist_flags{1} << 60;
// A nodus node that takes term frames (dist/native_frame.hpp, frame_kind::term: process groups,
// global names, send to a pid) sets this too; a nodus node from before them does not, and gets
// none (a frame kind it does not know would make it drop the link).
inline constexpr dist_flags dflag_nodus_terms = dist_flags{1} << 61;

// The flags an OTP 25 node requires of its peer (dist.h DFLAG_DIST_MANDATORY_25); a peer that sets
// dflag_mandatory_25_digest is taken to have all of them (dist_util.erl expand_mandatory_25_flag).
inline constexpr dist_flags dflags_mandatory_25 =
    dflag_extended_references | dflag_fun_tags | dflag_extended_pids_ports | dflag_utf8_atoms |
    dflag_new_fun_tags | dflag_big_creation | dflag_new_floats | dflag_map_tag |
    dflag_export_ptr_tag | dflag_bit_binaries | dflag_handshake_23;

// The flags OTP 26 and later also require (dist.h DFLAG_DIST_MANDATORY_26).
inline constexpr dist_flags dflags_mandatory_26 = dflag_v4_nc | dflag_unlink_id;

// What a nodus node advertises by default: everything OTP 25 and 26 require, visible (published),
// process monitors by pid and by name (dist/native_distribution.hpp answers MONITOR_P: without
// them a BEAM node monitors the whole node instead, and a gen_server:call to a name nobody runs
// waits for its timeout instead of failing with noproc), the distribution header with its atom
// cache and fragmented messages (dist/erlang_frame.hpp reads them; OTP offers both, and sends
// big messages in fragments that other messages may interleave with), process aliases (ALIAS_SEND:
// a BEAM server replies to the alias a nodus call's tag names), and the nodus bits. A flag is a
// promise about what we can decode: add one only together with its support.
inline constexpr dist_flags dflags_nodus_default =
    dflag_published | dflags_mandatory_25 | dflags_mandatory_26 | dflag_mandatory_25_digest |
    dflag_dist_monitor | dflag_dist_monitor_name | dflag_dist_hdr_atom_cache | dflag_fragments |
    dflag_alias | dflag_nodus | dflag_nodus_terms;

// expand_mandatory_25(flags) -> flags, plus every OTP 25 mandatory flag if the digest bit is set.
[[nodiscard]] constexpr dist_flags expand_mandatory_25(dist_flags flags) noexcept {
  return (flags & dflag_mandatory_25_digest) != 0 ? (flags | dflags_mandatory_25) : flags;
}

// dflag_name(bit) -> "HANDSHAKE_23", "NODUS", ... for one known bit (Erlang's names without
// DFLAG_); "" for an unknown bit or a value that is not a single bit.
[[nodiscard]] constexpr std::string_view dflag_name(dist_flags bit) noexcept {
  switch (bit) {
    case dflag_published: return "PUBLISHED";
    case dflag_atom_cache: return "ATOM_CACHE";
    case dflag_extended_references: return "EXTENDED_REFERENCES";
    case dflag_dist_monitor: return "DIST_MONITOR";
    case dflag_fun_tags: return "FUN_TAGS";
    case dflag_dist_monitor_name: return "DIST_MONITOR_NAME";
    case dflag_hidden_atom_cache: return "HIDDEN_ATOM_CACHE";
    case dflag_new_fun_tags: return "NEW_FUN_TAGS";
    case dflag_extended_pids_ports: return "EXTENDED_PIDS_PORTS";
    case dflag_export_ptr_tag: return "EXPORT_PTR_TAG";
    case dflag_bit_binaries: return "BIT_BINARIES";
    case dflag_new_floats: return "NEW_FLOATS";
    case dflag_unicode_io: return "UNICODE_IO";
    case dflag_dist_hdr_atom_cache: return "DIST_HDR_ATOM_CACHE";
    case dflag_small_atom_tags: return "SMALL_ATOM_TAGS";
    case dflag_utf8_atoms: return "UTF8_ATOMS";
    case dflag_map_tag: return "MAP_TAG";
    case dflag_big_creation: return "BIG_CREATION";
    case dflag_send_sender: return "SEND_SENDER";
    case dflag_big_seqtrace_labels: return "BIG_SEQTRACE_LABELS";
    case dflag_exit_payload: return "EXIT_PAYLOAD";
    case dflag_fragments: return "FRAGMENTS";
    case dflag_handshake_23: return "HANDSHAKE_23";
    case dflag_unlink_id: return "UNLINK_ID";
    case dflag_mandatory_25_digest: return "MANDATORY_25_DIGEST";
    case dflag_spawn: return "SPAWN";
    case dflag_name_me: return "NAME_ME";
    case dflag_v4_nc: return "V4_NC";
    case dflag_alias: return "ALIAS";
    case dflag_local_ext: return "LOCAL_EXT";
    case dflag_altact_sig: return "ALTACT_SIG";
    case dflag_nodus: return "NODUS";
    case dflag_nodus_terms: return "NODUS_TERMS";
    default: return "";
  }
}

// describe_dist_flags(flags) -> "PUBLISHED|EXTENDED_REFERENCES|...|BIT45", lowest bit first;
// "0" for no flags. For log lines.
[[nodiscard]] inline std::string describe_dist_flags(dist_flags flags) {
  if (flags == 0) return "0";
  std::string out;
  for (unsigned bit = 0; bit < 64; ++bit) {
    const dist_flags f = dist_flags{1} << bit;
    if ((flags & f) == 0) continue;
    if (!out.empty()) out += '|';
    const std::string_view name = dflag_name(f);
    if (name.empty()) {
      out += "BIT";
      out += std::to_string(bit);
    } else {
      out += name;
    }
  }
  return out;
}

}  // namespace nodus::net

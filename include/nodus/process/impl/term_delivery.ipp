// nodus/process/impl/term_delivery.ipp: the non-template part of process/detail/term_delivery.hpp
// (exit reasons for BEAM callers, failing a BEAM call). Included by that header in header-only
// mode, by nodus/impl/src.hpp otherwise.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "nodus/process/detail/term_delivery.hpp"

namespace nodus::detail {

// errc_atom(code) -> the atom a BEAM caller sees for a nodus error code (Erlang's own where there
// is one: noproc, timeout, shutdown, nodedown).
NODUS_DECL std::string_view errc_atom(errc code) noexcept {
  switch (code) {
    case errc::ok: return "normal";
    case errc::timeout: return "timeout";
    case errc::noproc: return "noproc";
    case errc::nodedown: return "nodedown";
    case errc::server_crashed: return "server_crashed";
    case errc::already_registered: return "already_registered";
    case errc::wrong_server_type: return "wrong_server_type";
    case errc::no_reply: return "no_reply";
    case errc::shutdown: return "shutdown";
    case errc::supervisor_gave_up: return "supervisor_gave_up";
    case errc::would_deadlock: return "would_deadlock";
    case errc::invalid_node_name: return "invalid_node_name";
    case errc::bad_cookie: return "bad_cookie";
    case errc::protocol_mismatch: return "bad_call";
    case errc::malformed_frame: return "malformed";
    case errc::frame_too_large: return "frame_too_large";
    case errc::not_connected: return "not_connected";
    case errc::init_failed: return "init_failed";
    case errc::not_running: return "not_running";
  }
  return "nodus_error";
}

NODUS_DECL etf::term erlang_reason(const error& e) {
  const std::string_view name = e.code().category() == error_category()
                                    ? errc_atom(static_cast<errc>(e.code().value()))
                                    : std::string_view("nodus_error");
  etf::term code{etf::atom(name)};
  if (e.reason().empty()) return code;
  return etf::term::tuple({std::move(code), etf::term::binary(e.message())});
}

NODUS_DECL void format_erlang_from(std::string& out, const erlang_caller& c) {
  out += etf::term::tuple({etf::term(c.pid), c.tag}).to_string(200);
}

NODUS_DECL void fail_erlang_call(dist::distribution& d, logger& log, const erlang_caller& c,
                                 std::string_view server, const error& e) {
  if (!c.monitor) {
    log.warn(
        "call from {} to '{}' failed ({}); the caller set no monitor and waits for its timeout",
        c.node, server, e.message());
    return;
  }
  auto name = etf::atom::make(server);
  const etf::term from = name ? etf::term(*name) : etf::term(d.erlang_pid());
  auto frame = dist::erlang_frame_bytes(
      dist::monitor_p_exit_control(from, c.pid, *c.monitor, erlang_reason(e)), nullptr);
  if (frame) (void)d.send_erlang(c.node, std::move(frame).value());
}

}  // namespace nodus::detail

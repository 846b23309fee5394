// nodus/core/impl/error.ipp: the error category and error's message (see core/error.hpp).
// Included by that header in header-only mode, by nodus/impl/src.hpp otherwise.
#pragma once

#include <string>
#include <system_error>

#include "nodus/core/error.hpp"

namespace nodus {

NODUS_DECL std::string error_category_impl::message(int value) const {
  switch (static_cast<errc>(value)) {
    case errc::ok: return "success";
    case errc::timeout: return "call timed out";
    case errc::noproc: return "no server registered under that name (noproc)";
    case errc::nodedown: return "node is down (nodedown)";
    case errc::server_crashed: return "server crashed";
    case errc::already_registered: return "name already registered";
    case errc::wrong_server_type: return "name registered by a server of another type";
    case errc::no_reply: return "server dropped the call without replying";
    case errc::shutdown: return "shutting down";
    case errc::supervisor_gave_up: return "supervisor reached its maximum restart intensity";
    case errc::would_deadlock: return "blocking call from a thread that runs the node";
    case errc::invalid_node_name: return "invalid node name";
    case errc::bad_cookie: return "cookie mismatch";
    case errc::protocol_mismatch: return "peer uses a different protocol";
    case errc::malformed_frame: return "malformed frame";
    case errc::frame_too_large: return "frame exceeds the maximum frame size";
    case errc::not_connected: return "not connected";
    case errc::init_failed: return "server init failed";
    case errc::not_running: return "node is not running";
    case errc::mailbox_full: return "mailbox full";
    case errc::busy: return "peer is busy";
    case errc::tls_failed: return "TLS failed";
    case errc::max_children: return "max children reached";
  }
  return "unknown nodus error";
}

NODUS_DECL const std::error_category& error_category() noexcept {
  static const error_category_impl instance;
  return instance;
}

NODUS_DECL std::string error::message() const {
  std::string m = code_.message();
  if (!reason_.empty()) {
    m += ": ";
    m += reason_;
  }
  return m;
}

}  // namespace nodus

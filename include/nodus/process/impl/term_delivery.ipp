// nodus/process/impl/term_delivery.ipp: the non-template part of process/detail/term_delivery.hpp
// (a BEAM caller's From as text, failing a BEAM call). Included by that header in header-only
// mode, by nodus/impl/src.hpp otherwise.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "nodus/process/detail/term_delivery.hpp"

namespace nodus::detail {

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
  d.monitor_exit(c.node, server, c.pid, *c.monitor, erlang_reason(e));
}

}  // namespace nodus::detail

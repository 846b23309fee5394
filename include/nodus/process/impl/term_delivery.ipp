// nodus/process/impl/term_delivery.ipp: the non-template part of process/detail/term_delivery.hpp
// (a BEAM caller's From as text, failing a BEAM call). Included by that header in header-only
// mode, by nodus/impl/src.hpp otherwise.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "nodus/process/detail/term_delivery.hpp"

namespace nodus::detail {

// runtime::pid_of and runtime::runs (process/detail/runtime.hpp) are here, with the term format,
// rather than in runtime.ipp: a TU of local servers does not parse the term format
// (server_base::self_pid() needs <nodus/remote.hpp>).
NODUS_DECL etf::pid runtime::pid_of(const cell_base& cell, std::uint64_t generation) const {
  return pid_of(instance_id{cell.number(), generation});
}

NODUS_DECL etf::pid runtime::pid_of(instance_id instance) const {
  etf::pid p;
  if (auto* d = dist()) {
    p = d->erlang_pid();
  } else if (auto node = etf::atom::make(self_.str())) {
    p.node = *node;
  }
  p.id = instance.number;
  p.serial = static_cast<std::uint32_t>(instance.generation);
  return p;
}

NODUS_DECL bool runtime::runs(const etf::pid& pid) const {
  if (pid.id == 0) return false;
  if (auto* d = dist()) {
    const etf::pid self = d->erlang_pid();
    if (pid.node != self.node || pid.creation != self.creation) return false;
  } else if (pid.node.str() != self_.str()) {
    return false;
  }
  return !name_of(pid.id, pid.serial).empty();
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
  d.monitor_exit(c.node, server, c.pid, *c.monitor, erlang_reason(e));
}

}  // namespace nodus::detail

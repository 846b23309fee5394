// nodus/process/impl/groups.ipp: the non-template part of nodus/process/groups.hpp. Included by
// that header in header-only mode, by nodus/impl/src.hpp otherwise.
#pragma once

#include <string_view>

#include "nodus/process/groups.hpp"

namespace nodus {

NODUS_DECL result<void> groups::join(const etf::term& group, const etf::pid& pid) {
  if (s_ == nullptr) {
    return error(errc::not_connected,
                 format("process groups need a distributed node: {} has no name", rt_->self()));
  }
  if (!rt_->runs(pid)) {
    return error(errc::noproc, format("{} is no running server of {}; only local processes join "
                                      "groups",
                                      etf::term(pid).to_string(100), rt_->self()));
  }
  const etf::pid one[] = {pid};
  s_->join(group, one);
  // It may have ended between the check and the join, its exit finding nothing to leave: it
  // leaves now then (its end marks it not running before it leaves its groups).
  if (!rt_->runs(pid)) {
    s_->member_exited(pid);
    return error(errc::noproc, format("{} ended while it joined", etf::term(pid).to_string(100)));
  }
  return {};
}

NODUS_DECL bool groups::leave(const etf::term& group, const etf::pid& pid) {
  if (s_ == nullptr) return false;
  const etf::pid one[] = {pid};
  return s_->leave(group, one);
}

NODUS_DECL result<void> groups::join_server(std::string_view name, const etf::term& group) {
  detail::cell_base* c = rt_->whereis(name);
  if (c == nullptr || !c->running()) {
    return error(errc::noproc, format("no server named '{}' runs on {}", name, rt_->self()));
  }
  return join(group, rt_->pid_of(*c, c->generation()));
}

NODUS_DECL bool groups::leave_server(std::string_view name, const etf::term& group) {
  detail::cell_base* c = rt_->whereis(name);
  if (c == nullptr) return false;
  return leave(group, rt_->pid_of(*c, c->generation()));
}

}  // namespace nodus

// nodus/process/impl/groups.ipp: the non-template part of nodus/process/groups.hpp. Included by
// that header in header-only mode, by nodus/impl/src.hpp otherwise.
#pragma once

#include <string_view>

#include "nodus/process/groups.hpp"

namespace nodus {

NODUS_DECL groups::groups(detail::runtime& rt, std::string_view scope)
    : rt_(&rt),
      s_(rt.dist() != nullptr ? &rt.dist()->process_groups().scope(scope) : nullptr),
      name_(scope) {}

NODUS_DECL etf::pid groups::pid() const { return s_ != nullptr ? s_->pid() : etf::pid{}; }

NODUS_DECL std::vector<etf::pid> groups::members(const etf::term& group) const {
  return s_ != nullptr ? s_->members(group) : std::vector<etf::pid>{};
}

NODUS_DECL std::vector<etf::pid> groups::local_members(const etf::term& group) const {
  return s_ != nullptr ? s_->local_members(group) : std::vector<etf::pid>{};
}

NODUS_DECL std::vector<etf::term> groups::which_groups() const {
  return s_ != nullptr ? s_->which_groups() : std::vector<etf::term>{};
}

NODUS_DECL std::pair<std::uint64_t, std::vector<etf::pid>> groups::monitor(const etf::term& group,
                                                                           group_callback cb) {
  if (s_ == nullptr) return {0, {}};
  return s_->monitor(group, std::move(cb));
}

NODUS_DECL std::pair<std::uint64_t, std::vector<std::pair<etf::term, std::vector<etf::pid>>>>
groups::monitor_scope(group_callback cb) {
  if (s_ == nullptr) return {0, {}};
  return s_->monitor_scope(std::move(cb));
}

NODUS_DECL bool groups::demonitor(std::uint64_t id) { return s_ != nullptr && s_->demonitor(id); }

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

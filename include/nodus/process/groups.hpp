// nodus/process/groups.hpp: process groups, as Erlang's pg: nodus::groups is one scope of a
// node's groups (node.groups("pg"), or groups() in a server), wire-compatible with OTP's pg
// (dist/pg_scope.hpp): Erlang and Elixir processes and nodus servers in one group see each other.
//
//   auto g = node.groups();                         // the scope pg (pg:start_link() in Erlang)
//   g.join<worker>(nodus::etf::atom("workers"));    // worker's running instance joins
//   g.members(nodus::etf::atom("workers"));         // every member's pid, cluster-wide
//   g.publish(nodus::etf::atom("workers"), job{7}); // job to each member (as Pid ! Job)
//
// Process groups are the distribution's: a node needs a name (options.name) for them.
//
// A group is any Erlang term (an atom, a binary, a tuple...), compared exactly as Erlang does.
// Members are pids: a nodus server's running instance (self_pid()), or a BEAM process. Lookups
// are local: they read this node's copy, which the scopes of all nodes keep up to date (Erlang's
// pg: strong eventual consistency; a join on one node is visible on another after one message).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nodus/codec/etf/term.hpp"
#include "nodus/config.hpp"
#include "nodus/core/error.hpp"
#include "nodus/dist/pg_scope.hpp"
#include "nodus/process/detail/remote_ops.hpp"
#include "nodus/process/detail/runtime.hpp"
#include "nodus/process/detail/term_delivery.hpp"

namespace nodus {

// groups: a handle on one scope of a node's process groups; cheap to copy, valid as long as the
// node. Thread-safe.
class groups {
 public:
  // groups(rt, scope): the scope of rt's node; a node without distribution has none (joins fail
  // with errc::not_connected, lookups are empty).
  NODUS_DECL groups(detail::runtime& rt, std::string_view scope);

  // scope() -> the scope's name; pid() -> the pid its peers know it by.
  [[nodiscard]] const std::string& scope() const noexcept { return name_; }
  [[nodiscard]] NODUS_DECL etf::pid pid() const;

  // join(group, pid): the running server instance pid (of this node) joins group; joining twice
  // counts twice (leave twice). Errors: noproc when pid is no running server of this node (only
  // local processes join, as in pg).
  NODUS_DECL result<void> join(const etf::term& group, const etf::pid& pid);
  // join<S>(group): S's running instance joins group (noproc when S does not run here).
  template <class S>
  result<void> join(const etf::term& group) {
    return join_server(S::name.view(), group);
  }
  // leave(group, pid) -> whether pid was in group (false: pg's not_joined; nothing is sent).
  NODUS_DECL bool leave(const etf::term& group, const etf::pid& pid);
  template <class S>
  bool leave(const etf::term& group) {
    return leave_server(S::name.view(), group);
  }

  // members(group) -> every member on every node (pg:get_members); local_members(group) -> this
  // node's (pg:get_local_members); which_groups() -> the groups with members (pg:which_groups).
  [[nodiscard]] NODUS_DECL std::vector<etf::pid> members(const etf::term& group) const;
  [[nodiscard]] NODUS_DECL std::vector<etf::pid> local_members(const etf::term& group) const;
  [[nodiscard]] NODUS_DECL std::vector<etf::term> which_groups() const;

  // monitor(group, cb) -> a subscription id and the members now (pg:monitor/2): cb(event) for
  // every later join and leave of group, in order, on a thread of the node or of the caller that
  // changed it; it must not block. monitor_scope(cb): every group (pg:monitor_scope/1).
  // demonitor(id) -> whether id was a subscription.
  NODUS_DECL std::pair<std::uint64_t, std::vector<etf::pid>> monitor(const etf::term& group,
                                                                     group_callback cb);
  NODUS_DECL std::pair<std::uint64_t, std::vector<std::pair<etf::term, std::vector<etf::pid>>>>
  monitor_scope(group_callback cb);
  NODUS_DECL bool demonitor(std::uint64_t id);

  // publish(group, msg) -> how many members msg was sent to: msg (a type that maps to an Erlang
  // term) to every member of group, as Pid ! Msg (a nodus server takes it in handle_info).
  // Members whose node cannot take it now (gone, busy) are skipped; like Erlang's sends, delivery
  // is not confirmed. publish_local(group, msg): to this node's members only.
  template <class M>
  std::size_t publish(const etf::term& group, const M& msg) {
    return send_all(members(group), msg);
  }
  template <class M>
  std::size_t publish_local(const etf::term& group, const M& msg) {
    return send_all(local_members(group), msg);
  }

 private:
  NODUS_DECL result<void> join_server(std::string_view name, const etf::term& group);
  NODUS_DECL bool leave_server(std::string_view name, const etf::term& group);
  template <class M>
  std::size_t send_all(const std::vector<etf::pid>& pids, const M& msg) {
    std::size_t sent = 0;
    for (const auto& p : pids) {
      if (detail::send_to_pid(*rt_, p, msg)) ++sent;
    }
    return sent;
  }

  detail::runtime* rt_;
  dist::pg_scope* s_;  // nullptr without distribution
  std::string name_;
};

}  // namespace nodus

#if defined(NODUS_HEADER_ONLY)
#include "nodus/process/impl/groups.ipp"
#endif

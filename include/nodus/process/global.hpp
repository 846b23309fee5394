// nodus/process/global.hpp: cluster-wide names, as Erlang's :global (dist/global_names.hpp):
// nodus::global_registry is a node's handle on them (node.global(), or global() in a server),
// and nodus::global_name names a server for node.call<S> / cast<S> / send<S>.
//
//   node.global().register_name<db_cleaner>("db_cleaner");   // yes (ok) or no (already_registered)
//   node.call<db_cleaner>(nodus::global_name{"db_cleaner"}, run_now{});   // wherever it runs
//   node.global().whereis_name("db_cleaner");                 // its pid: a local lookup
//
// Cluster-wide names are the distribution's: a node needs a name (options.name) for them.
// A registration is all or none across the connected nodus nodes; the name goes when its server
// instance ends (a restarted instance registers again), or its node goes down. When partitions
// merge, a name held on both sides is kept by one of them, the same one on every node, and the
// other is handled by the policy of the registration (nodus::name_conflict_policy).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nodus/codec/etf/term.hpp"
#include "nodus/config.hpp"
#include "nodus/core/error.hpp"
#include "nodus/dist/global_names.hpp"
#include "nodus/process/detail/remote_ops.hpp"
#include "nodus/process/detail/runtime.hpp"
#include "nodus/process/detail/term_delivery.hpp"
#include "nodus/process/supervisor.hpp"

namespace nodus {

// global_name{"name"}: a server by its cluster-wide name, for node.call<S>(global_name, msg) and
// cast / send: the server S that runs on the node of the name's pid.
struct global_name {
  std::string name;
};

// global_registry: a handle on a node's cluster-wide names; cheap to copy, valid as long as the
// node. Thread-safe.
class global_registry {
 public:
  explicit global_registry(detail::runtime& rt) : rt_(&rt) {}

  // register_name(name, pid[, policy, on_conflict]) -> ok (Erlang's yes) once every connected
  // nodus node has name for pid; errc::already_registered (no) when one has the name;
  // errc::timeout when other registrations of the name kept it locked for
  // dist::global_names::register_timeout; errc::noproc when pid is no running server of this
  // node. Blocking: not from a thread of this node (errc::would_deadlock; use async_register_name
  // there). on_conflict runs on this node if pid loses the name when partitions merge
  // (notify_other, notify_both); stop_other stops the server instead.
  NODUS_DECL result<void> register_name(
      std::string_view name, const etf::pid& pid,
      name_conflict_policy policy = name_conflict_policy::stop_other,
      name_conflict_callback on_conflict = {});
  // register_name<S>(name, ...): S's running instance.
  template <class S>
  result<void> register_name(std::string_view name,
                             name_conflict_policy policy = name_conflict_policy::stop_other,
                             name_conflict_callback on_conflict = {}) {
    auto pid = pid_of_server(S::name.view());
    if (!pid) return pid.error();
    return register_name(name, *pid, policy, std::move(on_conflict));
  }
  // async_register_name(name, pid, policy, on_conflict, done): the same; done(result) runs once,
  // on a thread of the node (or here, at once, for an error found before any message).
  NODUS_DECL void async_register_name(std::string_view name, const etf::pid& pid,
                                      name_conflict_policy policy,
                                      name_conflict_callback on_conflict,
                                      std::function<void(result<void>)> done);

  // allow_multiple_names(yes): whether a process of this node may hold several names (default
  // no: register_name fails with already_registered for a pid that holds one, as Erlang's global
  // does unless kernel's global_multi_name_action is allow).
  NODUS_DECL void allow_multiple_names(bool yes);
  // unregister_name(name) -> whether a server of this node held it (it goes on every node).
  NODUS_DECL bool unregister_name(std::string_view name);
  // whereis_name(name) -> the pid that holds name, from this node's copy (no message).
  [[nodiscard]] NODUS_DECL std::optional<etf::pid> whereis_name(std::string_view name) const;
  // registered_names() -> every name, sorted.
  [[nodiscard]] NODUS_DECL std::vector<std::string> registered_names() const;
  // on_change(cb) -> an id: cb(name, pid, or nothing when it went) after each change, on the
  // thread that made it; it must not block. remove_on_change(id).
  NODUS_DECL std::uint64_t on_change(
      std::function<void(const std::string&, const std::optional<etf::pid>&)> cb);
  NODUS_DECL void remove_on_change(std::uint64_t id);

  // send(name, msg): msg as a term to the process that holds name (global:send/2); noproc when
  // nobody does.
  template <class M>
  result<void> send(std::string_view name, const M& msg) {
    auto pid = whereis_name(name);
    if (!pid) return error(errc::noproc, format("no process holds the global name '{}'", name));
    return detail::send_to_pid(*rt_, *pid, msg);
  }

  // node_of(name) -> the node of the process that holds name; noproc when nobody does.
  NODUS_DECL result<node_name> node_of(std::string_view name) const;
  // route(name) -> where a call to name goes: the holder's node, and the target there: the
  // holder's registered name on this node, a pid target (dist/native_frame.hpp) on another (a
  // BEAM node's gets the server type's name); noproc when nobody holds it.
  struct route_t {
    node_name node;
    std::string target;
  };
  NODUS_DECL result<route_t> route(std::string_view name) const;

 private:
  // names() -> the distribution's names; nullptr for a node without distribution.
  [[nodiscard]] NODUS_DECL dist::global_names* names() const;
  NODUS_DECL result<etf::pid> pid_of_server(std::string_view server) const;

  detail::runtime* rt_;
};

}  // namespace nodus

// singleton<S>'s child (process/supervisor.hpp) runs over these names: its maker is defined
// here, its code in process/impl/singleton.ipp.
namespace nodus::detail {
template <class S>
struct singleton_maker {
  static std::unique_ptr<child_node> make(runtime& rt, std::string_view name,
                                          std::unique_ptr<child_node> worker) {
    return std::make_unique<singleton_node>(rt, name, std::move(worker));
  }
};
}  // namespace nodus::detail

#if defined(NODUS_HEADER_ONLY)
#include "nodus/process/impl/global.ipp"
#include "nodus/process/impl/singleton.ipp"
#endif

// nodus/dist/pg_scope.hpp: process groups, wire-compatible with OTP's pg (kernel's pg.erl, OTP
// 23 and later): a scope per name on each node, the groups of that scope (any term names a
// group), and the pids that joined them, kept on every node of the cluster. A nodus node's
// scope is a peer of the BEAM nodes' scopes of the same name, and of the other nodus nodes'.
//
// The protocol, as OTP 25's pg.erl runs it (docs/design/pg-protocol.md cites the lines): each
// scope is a process registered under the scope's name, known to its peers by its pid.
// - On start and when a node comes up, a scope sends {discover, Self} to the scope's name on
//   that node (the peer may not run it: then nothing comes back).
// - A scope that gets {discover, Peer} answers {'$gen_cast', {sync, Self, [{Group, Pids}]}} with
//   its local members, and, if Peer is new to it, monitors Peer and sends {discover, Self} to it.
// - {'$gen_cast', {sync, Peer, Groups}} replaces what Peer contributed; {join, Peer, Group,
//   PidOrPids} and {leave, Peer, PidOrPids, Groups} change it. Messages from a scope that is not
//   a known peer are ignored.
// - A local member that ends leaves all its groups: {leave, Self, Pid, Groups} to every peer.
// - A peer's scope that goes (its monitor fires, or its node goes down) takes its members along.
// Where OTP's scope crashes on a message it does not expect (pg.erl's badarg catch-alls, a leave
// of a group the peer never announced), this one ignores it with a log line: a peer never brings
// a nodus scope down.
//
// Toward nodus peers the same terms travel in native term frames (dist/native_frame.hpp), to the
// scope's name or to its pid. Notifications (pg:monitor/2 and pg:monitor_scope/1, OTP 25.1) are
// callbacks, run outside the scope's lock, in the order of the changes.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "nodus/codec/etf/term.hpp"
#include "nodus/config.hpp"
#include "nodus/core/log.hpp"
#include "nodus/core/node_name.hpp"

namespace nodus {

// A change of a group's membership (pg's {Ref, join | leave, Group, Pids}).
struct group_event {
  enum class kind : std::uint8_t { join, leave };
  kind what = kind::join;
  std::string scope;
  etf::term group;
  std::vector<etf::pid> pids;
};
using group_callback = std::function<void(const group_event&)>;

}  // namespace nodus

namespace nodus::dist {

// What a scope sends through: the distribution (native_distribution implements it). Called
// without the scope's state lock, in the order the scope's changes happened.
class pg_transport {
 public:
  virtual ~pg_transport() = default;
  // pg_send_name(peer, scope, message): to the process registered as scope on peer.
  virtual void pg_send_name(const node_name& peer, std::string_view scope,
                            const etf::term& message) = 0;
  // pg_send_pid(to, message): to the process to (a peer's scope).
  virtual void pg_send_pid(const etf::pid& to, const etf::term& message) = 0;
  // pg_monitor(to, ref): monitors the process to with ref (MONITOR_P) when its node is a BEAM
  // node, whose scope may end while its node stays; a nodus scope lives as long as its node's
  // connection: nothing is sent, and false returned.
  virtual bool pg_monitor(const etf::pid& to, const etf::reference& ref) = 0;
  // pg_demonitor(to, ref): takes down a monitor pg_monitor set.
  virtual void pg_demonitor(const etf::pid& to, const etf::reference& ref) = 0;
  // pg_peers() -> the visible nodes connected now.
  [[nodiscard]] virtual std::vector<node_name> pg_peers() const = 0;

 protected:
  pg_transport() = default;
  pg_transport(const pg_transport&) = default;
  pg_transport& operator=(const pg_transport&) = default;
};

// One scope of this node. Thread-safe.
class pg_scope {
 public:
  // Bounds on what peers make this scope keep: a peer's sync or join past them is refused (and
  // logged), never half applied.
  static constexpr std::size_t max_groups = 1u << 16;               // groups of one peer
  static constexpr std::size_t max_members = std::size_t{1} << 20;  // pids of one peer, in all

  // pg_scope(log, name, pid): the scope registered as name, known to its peers as pid.
  NODUS_DECL pg_scope(logger& log, std::string name, etf::pid pid);
  pg_scope(const pg_scope&) = delete;
  pg_scope& operator=(const pg_scope&) = delete;

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] etf::pid pid() const;

  // attach(t, pid): the node's distribution is up: the scope's pid gets the node's creation, and
  // the scope discovers the peers connected now. detach(): the distribution goes (node stop).
  NODUS_DECL void attach(pg_transport* t, const etf::pid& pid);
  NODUS_DECL void detach();

  // ---- the local side --------------------------------------------------------------------------
  // join(group, pids): the pids (of this node; the caller checks) join group; a pid that joins
  // twice is in it twice and must leave twice (pg:join/3).
  NODUS_DECL void join(const etf::term& group, std::span<const etf::pid> pids);
  // leave(group, pids) -> whether any of pids was in group (pg:leave/3's ok; false: not_joined,
  // and nothing is sent).
  NODUS_DECL bool leave(const etf::term& group, std::span<const etf::pid> pids);
  // member_exited(pid): a local process ended: it leaves every group it is in.
  NODUS_DECL void member_exited(const etf::pid& pid);
  // members(group) -> every member, of every node (pg:get_members/2); local_members(group) -> this
  // node's (pg:get_local_members/2); which_groups() -> the groups with a member anywhere.
  [[nodiscard]] NODUS_DECL std::vector<etf::pid> members(const etf::term& group) const;
  [[nodiscard]] NODUS_DECL std::vector<etf::pid> local_members(const etf::term& group) const;
  [[nodiscard]] NODUS_DECL std::vector<etf::term> which_groups() const;
  // monitor(group, cb) -> a subscription id and the group's members now (pg:monitor/2): cb gets
  // every later change of group. monitor_scope(cb): the same for every group
  // (pg:monitor_scope/1), with all groups' members now. demonitor(id) -> whether id was one.
  NODUS_DECL std::pair<std::uint64_t, std::vector<etf::pid>> monitor(const etf::term& group,
                                                                     group_callback cb);
  NODUS_DECL std::pair<std::uint64_t, std::vector<std::pair<etf::term, std::vector<etf::pid>>>>
  monitor_scope(group_callback cb);
  NODUS_DECL bool demonitor(std::uint64_t id);

  // ---- the distribution's side -----------------------------------------------------------------
  // node_up(peer): a visible node connected: {discover, Self} to its scope of this name.
  NODUS_DECL void node_up(const node_name& peer);
  // node_down(peer): every scope of peer is gone, with its members.
  NODUS_DECL void node_down(const node_name& peer);
  // on_message(peer, message): a message from peer to this scope (by name or pid).
  NODUS_DECL void on_message(const node_name& peer, const etf::term& message);
  // on_monitor_exit(ref) -> whether ref is this scope's monitor of a peer's scope, which is then
  // gone with its members.
  NODUS_DECL bool on_monitor_exit(const etf::reference& ref);
  // peers() -> the pids of the peers' scopes known now (for tests and diagnostics).
  [[nodiscard]] NODUS_DECL std::vector<etf::pid> peers() const;

 private:
  struct group_row {
    std::vector<etf::pid> all;    // most recent first, as pg's ETS row
    std::vector<etf::pid> local;  // most recent first
  };
  struct remote_scope {
    node_name node;
    etf::pid pid;
    std::optional<etf::reference> monitor;
    std::unordered_map<etf::term, std::vector<etf::pid>> groups;  // what it contributed
    std::size_t member_count = 0;
  };
  struct subscriber {
    std::optional<etf::term> group;  // nothing: the whole scope
    group_callback cb;
  };
  // What to do once the state lock is let go, in order.
  struct action {
    enum class kind : std::uint8_t { send_name, send_pid, monitor, demonitor, notify } what;
    node_name peer;
    etf::pid to;
    etf::reference ref;
    etf::term message;
    group_event event;
    group_callback cb;  // notify
  };
  using pid_key = std::tuple<std::string, std::uint32_t, std::uint32_t, std::uint32_t>;
  static pid_key key_of(const etf::pid& p) {
    return {std::string(p.node.str()), p.id, p.serial, p.creation};
  }

  // run(out): performs out's actions in order, after whoever performs earlier ones (one thread
  // at a time; called with lk held, which it releases).
  void run(std::unique_lock<std::mutex>& lk, std::vector<action>& out);
  void broadcast_locked(std::vector<action>& out, const etf::term& message) const;
  void notify_locked(std::vector<action>& out, group_event::kind what, const etf::term& group,
                     std::vector<etf::pid> pids) const;
  void add_locked(std::vector<action>& out, const etf::term& group,
                  const std::vector<etf::pid>& pids, bool local);
  void remove_locked(std::vector<action>& out, const etf::term& group,
                     const std::vector<etf::pid>& pids, bool local);
  void drop_peer_locked(std::vector<action>& out, const pid_key& key);
  [[nodiscard]] etf::term local_groups_locked() const;
  void discover_from_locked(std::vector<action>& out, const node_name& peer, const etf::pid& from);
  void sync_from_locked(std::vector<action>& out, const node_name& peer, const etf::pid& from,
                        const etf::term& groups);
  [[nodiscard]] etf::reference next_reference_locked();

  logger& log_;
  const std::string name_;
  mutable std::mutex m_;
  pg_transport* transport_ = nullptr;
  etf::pid pid_;
  std::unordered_map<etf::term, group_row> table_;
  std::map<pid_key, std::pair<etf::pid, std::vector<etf::term>>> local_;  // pid -> its groups
  std::map<pid_key, remote_scope> remote_;
  std::map<std::uint64_t, subscriber> subscribers_;
  std::uint64_t next_subscriber_ = 1;
  std::uint32_t next_monitor_ = 1;
  // run(): the actions waiting to be performed, and whether a thread performs them now.
  std::vector<action> pending_;
  bool running_actions_ = false;
  std::thread::id runner_;
  std::condition_variable idle_;  // running_actions_ went false
};

// The scopes of one node (owned by the node's runtime; the distribution attaches to it).
// Thread-safe. A scope is made by its first use and lives as long as the node.
class pg_registry {
 public:
  // pg_registry(log, self): self is the node's own pid (its node atom; creation 0 before the
  // distribution attaches).
  NODUS_DECL pg_registry(logger& log, etf::pid self);
  pg_registry(const pg_registry&) = delete;
  pg_registry& operator=(const pg_registry&) = delete;

  // scope(name) -> the scope name, made (and, with a distribution, announced) at its first use.
  // Its pid is {this node, 0, N, creation}, N counting the scopes from 1 (id 0 names no server).
  NODUS_DECL pg_scope& scope(std::string_view name);
  // find(name) / find(pid) -> the scope, or nullptr.
  [[nodiscard]] NODUS_DECL pg_scope* find(std::string_view name) const;
  [[nodiscard]] NODUS_DECL pg_scope* find(const etf::pid& pid) const;

  NODUS_DECL void attach(pg_transport* t, const etf::pid& self);
  NODUS_DECL void detach();
  NODUS_DECL void member_exited(const etf::pid& pid);
  NODUS_DECL void node_up(const node_name& peer);
  NODUS_DECL void node_down(const node_name& peer);
  NODUS_DECL bool on_monitor_exit(const etf::reference& ref);

 private:
  [[nodiscard]] std::vector<pg_scope*> all() const;
  [[nodiscard]] etf::pid pid_for(std::uint32_t serial) const;

  logger& log_;
  mutable std::mutex m_;
  pg_transport* transport_ = nullptr;
  etf::pid self_;
  std::map<std::string, std::unique_ptr<pg_scope>, std::less<>> scopes_;
  std::atomic<bool> any_{false};  // a scope exists: member_exited has something to look at
};

}  // namespace nodus::dist

#if defined(NODUS_HEADER_ONLY)
#include "nodus/dist/impl/pg_scope.ipp"
#endif

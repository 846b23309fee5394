// nodus/dist/global_names.hpp: cluster-wide names with the semantics of Erlang's :global, kept by
// every nodus node of the cluster: a registration is all or none across the connected nodes and
// answers yes or no; lookups are local; a name goes when its process ends or its node goes down;
// when two partitions merge, a name held on both sides is resolved by the policy its
// registration chose (Erlang's three resolvers).
//
// The protocol between nodus nodes (terms in native term frames to the name "nodus_global"):
// - {lock, Name, Ref, Node}: Node asks for the name's lock; answered {lock_reply, Name, Ref,
//   Answer} with ok, taken (the name is registered here) or busy (another registration holds
//   the lock). {unlock, Name, Ref} lets it go.
// - {register, Name, Pid, Policy, Ref}: the registration, once every node granted the lock; it
//   lets the lock go, and is acknowledged {registered, Name, Ref}: the registrar answers yes once
//   every node has the name.
// - {unregister, Name, Pid}: the name's process ended, or its owner unregistered it.
// - {names, [{Name, Pid, Policy}]}: when two nodes connect, each tells the other the names whose
//   process runs on it; a name the receiver knows with another pid is a clash, resolved the same
//   way on every node (the pid of the node whose name sorts first wins), so that no message is
//   needed to agree. {names_request} asks a node for that list again: sent by a node that set
//   aside a third node's claim in a clash, once the winner's name goes.
// A registrar whose lock meets another's lets all of its locks go and tries again after a random
// pause (bounded by register_timeout); a node that goes down during a registration counts as
// granting it (its names come back through the merge).
//
// Names held on BEAM nodes are not mirrored here, and these names are not announced to Erlang's
// global (dist/global_member.hpp keeps answering global's protocol, so it is never broken).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "nodus/codec/etf/term.hpp"
#include "nodus/config.hpp"
#include "nodus/core/error.hpp"
#include "nodus/core/log.hpp"
#include "nodus/core/node_name.hpp"
#include "nodus/core/telemetry.hpp"

namespace nodus {

// What happens to a name held twice when partitions merge (Erlang's resolvers). One of the two
// keeps it, the pid of the node whose name sorts first, on every node alike:
// stop_other: the other process is stopped (global:random_exit_name);
// notify_other: the other is told (its on_conflict callback) and loses the name
//   (global:random_notify_name);
// notify_both: neither keeps it; both are told (global:notify_all_name).
enum class name_conflict_policy : std::uint8_t { stop_other, notify_other, notify_both };

// A name this node's process lost in a merge (the on_conflict callback's argument).
struct name_conflict {
  std::string name;
  etf::pid loser;   // this node's process
  etf::pid winner;  // the one that keeps it (the loser itself never; nothing for notify_both)
  bool kept_by_nobody = false;
};
using name_conflict_callback = std::function<void(const name_conflict&)>;

}  // namespace nodus

namespace nodus::dist {

// What the names send through (native_distribution implements it).
class names_transport {
 public:
  virtual ~names_transport() = default;
  // names_send(peer, message): to the global names of the nodus node peer.
  virtual void names_send(const node_name& peer, const etf::term& message) = 0;
  // names_peers() -> the visible nodus nodes connected now.
  [[nodiscard]] virtual std::vector<node_name> names_peers() const = 0;
  // names_after(delay, f) -> a canceller: f() on a thread of the node after delay, unless the
  // canceller ran first (it may be empty: nothing to cancel).
  virtual std::function<void()> names_after(std::chrono::milliseconds delay,
                                            std::function<void()> f) = 0;

 protected:
  names_transport() = default;
  names_transport(const names_transport&) = default;
  names_transport& operator=(const names_transport&) = default;
};

// The node's cluster-wide names. Thread-safe; callbacks run without its lock.
class global_names {
 public:
  // The name this registry's messages go to on every nodus node.
  static constexpr std::string_view process_name = "nodus_global";
  // How long a registration may keep retrying a contested lock before it answers errc::timeout.
  static constexpr std::chrono::milliseconds register_timeout{5000};
  // A lock that its registrar did not finish within this long is given to the next one.
  static constexpr std::chrono::milliseconds lock_expiry{10000};

  // stop(pid, reason): how the registry stops this node's process pid (stop_other).
  using stop_hook = std::function<void(const etf::pid&, const error&)>;

  // global_names(log, self, stop): stop is how a process of this node that lost its name in a
  // merge is stopped (stop_other).
  NODUS_DECL global_names(logger& log, node_name self, stop_hook stop,
                          nodus::telemetry* events = nullptr);
  global_names(const global_names&) = delete;
  global_names& operator=(const global_names&) = delete;

  // attach(t) / detach(): the node's distribution is up / goes (registrations under way fail
  // with errc::shutdown). Without a distribution, names are this node's alone.
  NODUS_DECL void attach(names_transport* t);
  NODUS_DECL void detach();

  // register_name(name, pid, policy, on_conflict, done): done(ok) once every connected nodus
  // node has pid under name (yes), done(already_registered) when one of them has the name (no),
  // done(timeout) when other registrations kept its lock. pid must be a process of this node
  // (the caller checks). on_conflict runs here if pid loses the name in a merge. As in Erlang's
  // global (global.erl check_dupname), a pid holds one name: done(already_registered) when it
  // holds another, unless allow_multiple_names(true) (kernel's global_multi_name_action = allow).
  NODUS_DECL void register_name(std::string name, const etf::pid& pid, name_conflict_policy policy,
                                name_conflict_callback on_conflict,
                                std::function<void(result<void>)> done);
  // allow_multiple_names(yes): whether a pid of this node may hold several names (default no).
  void allow_multiple_names(bool yes) noexcept {
    multi_names_.store(yes, std::memory_order_relaxed);
  }
  // unregister_name(name) -> whether this node's process held it (it goes everywhere).
  NODUS_DECL bool unregister_name(std::string_view name);
  // whereis_name(name) -> its pid, from this node's copy.
  [[nodiscard]] NODUS_DECL std::optional<etf::pid> whereis_name(std::string_view name) const;
  // registered_names() -> every name, sorted.
  [[nodiscard]] NODUS_DECL std::vector<std::string> registered_names() const;
  // on_change(cb) -> an id: cb(name, pid or nothing) after every change of a name (registered,
  // taken over in a merge, gone). remove_on_change(id).
  NODUS_DECL std::uint64_t on_change(
      std::function<void(const std::string&, const std::optional<etf::pid>&)> cb);
  NODUS_DECL void remove_on_change(std::uint64_t id);

  // ---- from the node and the distribution ------------------------------------------------
  NODUS_DECL void member_exited(const etf::pid& pid);
  NODUS_DECL void node_up(const node_name& peer);
  NODUS_DECL void node_down(const node_name& peer);
  NODUS_DECL void on_message(const node_name& peer, const etf::term& message);

 private:
  struct entry {
    etf::pid pid;
    name_conflict_policy policy = name_conflict_policy::stop_other;
    name_conflict_callback on_conflict;  // this node's processes only
  };
  struct lock_holder {
    node_name node;
    std::int64_t ref = 0;
    std::chrono::steady_clock::time_point since;
  };
  struct registration {
    std::string name;
    etf::pid pid;
    name_conflict_policy policy{};
    name_conflict_callback on_conflict;
    std::function<void(result<void>)> done;
    std::set<node_name> asked;    // sent the lock to
    std::set<node_name> waiting;  // no answer yet (to the lock, or once committing, to register)
    bool committing = false;      // registered here, register sent: waiting for the acks
    std::int64_t id = 0;          // the first round's reference (later rounds take new ones)
    std::chrono::steady_clock::time_point deadline;
    std::function<void()> cancel_expiry;  // the watchdog's timer (names_after), once answered
  };
  // What to do once the lock is let go, in order.
  struct outbox {
    std::vector<std::pair<node_name, etf::term>> sends;
    std::vector<std::function<void()>> calls;
  };

  void flush(outbox& out);
  void attempt(std::int64_t ref);
  void expire(std::int64_t id);
  void answer_locked(outbox& out, std::int64_t ref, result<void> r);
  void release_locked(outbox& out, std::int64_t ref, registration& g);
  void commit_locked(outbox& out, std::int64_t ref);
  void set_locked(outbox& out, const std::string& name, entry e);
  void erase_locked(outbox& out, const std::string& name);
  void claim_locked(outbox& out, const node_name& peer, const std::string& name,
                    const etf::pid& pid, name_conflict_policy policy);
  [[nodiscard]] bool local(const etf::pid& p) const { return p.node.str() == self_.str(); }
  [[nodiscard]] etf::term names_of_this_node_locked() const;

  logger& log_;
  const node_name self_;
  mutable std::mutex m_;
  names_transport* transport_ = nullptr;
  stop_hook stop_;
  nodus::telemetry* events_;  // name_conflict events (may be null)
  std::map<std::string, entry, std::less<>> names_;
  // The names a process of this node lost when partitions merged, while it still runs: when it
  // ends, each peer is told ({unregister, Name, Pid}), for a peer that took its claim after the
  // winner had gone (the two nodes' name lists crossed) and keeps it.
  std::vector<std::pair<std::string, etf::pid>> lost_;
  // The claims this node set aside in a clash between two other nodes' processes (the loser's
  // pid, by name): when the winner's name goes here, the loser's node is asked for its names
  // again ({names_request}): it may still hold it, not having heard of the winner (the winner
  // ended before its node met the loser's).
  std::map<std::string, etf::pid, std::less<>> shadowed_;
  std::map<std::string, lock_holder, std::less<>> locks_;
  std::map<std::int64_t, registration> pending_;
  std::int64_t next_ref_ = 1;
  std::map<std::uint64_t, std::function<void(const std::string&, const std::optional<etf::pid>&)>>
      watchers_;
  std::uint64_t next_watcher_ = 1;
  // retry_pause() -> a random pause of 5 to 49 ms before a registration tries again (under m_):
  // a xorshift64* generator, seeded in the constructor (no <random> in every distributed TU).
  [[nodiscard]] NODUS_DECL std::chrono::milliseconds retry_pause() noexcept;
  std::uint64_t rng_ = 0;
  std::atomic<bool> multi_names_{false};
  // flush(): the sends waiting to go out, and whether a thread sends them now.
  std::vector<std::pair<node_name, etf::term>> queue_;
  bool sending_ = false;
  std::thread::id sender_;
  std::condition_variable idle_;  // sending_ went false
};

}  // namespace nodus::dist

#if defined(NODUS_HEADER_ONLY)
#include "nodus/dist/impl/global_names.ipp"
#endif

// nodus/dist/global_member.hpp: a nodus node's part in Erlang's `global` (kernel's global.erl),
// toward its BEAM peers, so that they count it as a synced member of their partition:
// global:sync() returns, and global:register_name, global:trans and global:set_lock (which lock
// every connected node, this one included) are answered.
//
// What it does, per visible BEAM peer (the protocol as OTP 25's lib/kernel/src/global.erl runs it,
// protocol version 8; the message shapes are cited where they are built):
// - the connect session: init_connect both ways, init_connect_ack, cancel_connect; the peer's
//   locker locks both nodes and sends lock_set, this node answers lock_set; exchange of names;
//   resolved; then in_sync to the nodes the peer knows, and to those that new_nodes reports;
// - global_name_server's calls: set_lock and del_lock (a lock table of this node, each holder
//   monitored, released at its exit or its node's loss), register / register_ext / unregister
//   (acknowledged), get_known, get_synced, get_protocol_version, get_names_ext;
// - overlapping partitions (OTP 25's prevent_overlapping_partitions): lost_connection is
//   multicast when a known peer is lost, relayed once, and answered with remove_connection;
//   remove_connection disconnects its sender.
//
// What it does not (yet): this node holds no global names and relays no membership (its
// resolved message says it knows no nodes): names registered on BEAM nodes are acknowledged but
// not kept here, and partitions it joins are merged by the formation, not through it. Hidden
// nodes have no part in global, as in Erlang.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "nodus/codec/etf/term.hpp"
#include "nodus/config.hpp"
#include "nodus/core/log.hpp"
#include "nodus/core/node_name.hpp"

namespace nodus::dist {

class global_member {
 public:
  // What it needs of the distribution. Called without its lock held.
  struct hooks {
    // a message to the process registered as name on peer (REG_SEND)
    std::function<void(const node_name& peer, std::string_view name, const etf::term& message)>
        send_to_name;
    // a message to a pid of peer (SEND)
    std::function<void(const node_name& peer, const etf::pid& to, const etf::term& message)>
        send_to_pid;
    // a control message (MONITOR_P, DEMONITOR_P)
    std::function<void(const node_name& peer, const etf::term& control)> send_control;
    std::function<void(const node_name& peer)> connect;     // dial it; node_up follows
    std::function<void(const node_name& peer)> disconnect;  // close the link
    // whether peer is connected as a nodus node (outside global: never synced, never reported)
    std::function<bool(const node_name& peer)> is_native;
  };

  // The global protocol version spoken (global.erl -define(vsn, 8), OTP 25).
  static constexpr std::int64_t protocol_version = 8;
  // At most this many nodes that global reported are being dialled at once (a bound on what a
  // peer's node lists can make this node do).
  static constexpr std::size_t max_dialled = 1024;

  global_member(logger& log, hooks h) : log_(log), hooks_(std::move(h)) {}

  // start(self): self is the pid this node's global_name_server and locker are known by (the
  // node's pid); set before any peer comes up.
  NODUS_DECL void start(const etf::pid& self);
  // stop(): the node shuts down: nothing more is sent (as global's prepare_shutdown, no
  // lost_connection for the links it closes).
  NODUS_DECL void stop();

  // node_up(peer) / node_down(peer): a visible BEAM peer connected / is gone.
  NODUS_DECL void node_up(const node_name& peer);
  NODUS_DECL void node_down(const node_name& peer);
  // unreachable(peer): dialling peer (hooks::connect) failed: a node global reported that this
  // node cannot reach leaves its partition (global's extra_nodedown after sync_other), until it
  // dials this node itself.
  NODUS_DECL void unreachable(const node_name& peer);

  // on_message(peer, message): a message from peer to global_name_server here: a '$gen_call',
  // a '$gen_cast' or a plain message.
  NODUS_DECL void on_message(const node_name& peer, const etf::term& message);

  // on_monitor_exit(peer, ref) -> whether ref is one of this member's monitors (of a lock's
  // holder), which then lets the lock go.
  NODUS_DECL bool on_monitor_exit(const node_name& peer, const etf::reference& ref);

  // synced() -> the BEAM peers global counts this node as synced with.
  [[nodiscard]] NODUS_DECL std::vector<node_name> synced() const;

 private:
  // One connect session with a peer (global.erl's sync_tag_my / sync_tag_his / wait_lock /
  // save_ops for that node).
  struct session {
    std::int64_t my_tag = 0;
    std::optional<etf::term> his_tag;  // from the peer's init_connect
    bool lock_set = false;             // the peer's locker locked both sides; exchange sent
    bool exchanged = false;            // the peer's exchange came
    bool resolved_sent = false;
  };
  struct holder {
    etf::pid pid;
    etf::reference monitor;
  };
  struct lock_entry {
    etf::term requester;  // LockRequesterId
    std::vector<holder> holders;
  };
  // What to send once the lock is let go.
  struct outgoing {
    enum class kind : unsigned char { to_name, to_pid, control, connect, disconnect } what;
    node_name peer;
    etf::pid pid;
    etf::term term;
  };
  using outbox = std::vector<outgoing>;

  void flush(outbox& out);
  void to_global(outbox& out, const node_name& peer, etf::term message) const;
  void cast_global(outbox& out, const node_name& peer, etf::term request) const;
  void open_session_locked(outbox& out, const node_name& peer);
  void forget_locked(outbox& out, const node_name& peer);
  void sync_other_locked(outbox& out, const node_name& peer);
  void maybe_resolve_locked(outbox& out, const node_name& peer, session& s);
  void leave_locked(outbox& out, const node_name& peer);
  void add_known_locked(outbox& out, const etf::term& nodes, bool added_only);
  void handle_call(outbox& out, const node_name& peer, const etf::pid& from, const etf::term& tag,
                   const etf::term& request);
  void handle_cast(outbox& out, const node_name& peer, const etf::term& request);
  void handle_info(outbox& out, const node_name& peer, const etf::term& message);
  bool set_lock_locked(outbox& out, const node_name& peer, const etf::term& id,
                       const etf::pid& pid);
  void del_lock_locked(outbox& out, const node_name& peer, const etf::term& id,
                       const etf::pid& pid);
  void lost_connection_locked(outbox& out, const etf::term& message);
  [[nodiscard]] etf::reference monitor_reference();
  [[nodiscard]] etf::term node_atom(const node_name& n) const;
  [[nodiscard]] bool tag_is(const node_name& peer, const etf::term& tag) const;

  logger& log_;
  hooks hooks_;
  mutable std::mutex m_;
  bool running_ = false;
  etf::pid self_;
  std::int64_t next_tag_ = 1;
  std::uint32_t next_monitor_ = 1;
  std::int64_t next_op_id_ = 1;
  std::map<node_name, session> sessions_;
  std::set<node_name> known_;         // BEAM peers of this node's partition (global's known)
  std::set<node_name> synced_;        // ... that are synced with it
  std::set<node_name> connected_;     // visible BEAM peers connected now
  std::set<node_name> owe_in_sync_;   // told in_sync when they come up (sync_other)
  std::set<node_name> late_in_sync_;  // ... dialled in vain: told if they dial this node
  std::unordered_map<etf::term, lock_entry> locks_;  // ResourceId -> its lock
  // lost_connection seen: {NodeA, NodeB} -> {XCreationA, OpIdA}
  std::map<std::pair<std::string, std::string>, std::pair<etf::term, std::int64_t>> lost_seen_;
};

}  // namespace nodus::dist

#if defined(NODUS_HEADER_ONLY)
#include "nodus/dist/impl/global_member.ipp"
#endif

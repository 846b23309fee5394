// nodus/dist/impl/global_member.ipp: a nodus node's part in Erlang's global (see
// dist/global_member.hpp). Included by that header in header-only mode, by nodus/impl/src.hpp
// otherwise. Message shapes: lib/kernel/src/global.erl of OTP 25 (kernel 8.5), the comment
// "Messages in the protocol" and the clauses cited below.
#pragma once

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "nodus/dist/erlang_frame.hpp"
#include "nodus/dist/global_member.hpp"

namespace nodus::dist {

namespace detail {
inline const std::vector<etf::term>* tuple_of(const etf::term& t, std::size_t size) {
  const auto* items = t.as_tuple();
  return items != nullptr && items->size() == size ? items : nullptr;
}
// node_of(t) -> the node an atom names, or nothing.
inline std::optional<node_name> node_of(const etf::term& t) {
  const auto* a = t.as_atom();
  if (a == nullptr) return std::nullopt;
  auto n = node_name::parse(a->str());
  if (!n) return std::nullopt;
  return std::move(n).value();
}
// Marks the references of this member's monitors (the call references of native_distribution
// use another mark).
inline constexpr std::uint32_t global_monitor_mark = 0x2a6e6;
}  // namespace detail

NODUS_DECL void global_member::start(const etf::pid& self) {
  std::lock_guard lock(m_);
  self_ = self;
  running_ = true;
}

NODUS_DECL void global_member::stop() {
  std::lock_guard lock(m_);
  running_ = false;
}

NODUS_DECL std::vector<node_name> global_member::synced() const {
  std::lock_guard lock(m_);
  return {synced_.begin(), synced_.end()};
}

NODUS_DECL etf::term global_member::node_atom(const node_name& n) const {
  auto a = etf::atom::make(n.str());
  return a ? etf::term(*a) : etf::term(etf::atom());
}

NODUS_DECL etf::reference global_member::monitor_reference() {
  etf::reference r;
  r.node = self_.node;
  r.creation = self_.creation;
  r.word_count = 3;
  r.words[0] = detail::global_monitor_mark;
  r.words[1] = next_monitor_++;
  r.words[2] = 0;
  return r;
}

NODUS_DECL bool global_member::tag_is(const node_name& peer, const etf::term& tag) const {
  auto it = sessions_.find(peer);
  const auto* t = tag.as_integer();
  return it != sessions_.end() && t != nullptr && *t == it->second.my_tag;
}

NODUS_DECL void global_member::to_global(outbox& out, const node_name& peer,
                                         etf::term message) const {
  out.push_back({outgoing::kind::to_name, peer, {}, std::move(message)});
}

// gen_server:cast({global_name_server, Node}, Request) sends {'$gen_cast', Request}.
NODUS_DECL void global_member::cast_global(outbox& out, const node_name& peer,
                                           etf::term request) const {
  to_global(out, peer, etf::term::tuple({etf::term(etf::atom("$gen_cast")), std::move(request)}));
}

NODUS_DECL void global_member::flush(outbox& out) {
  for (auto& o : out) {
    switch (o.what) {
      case outgoing::kind::to_name:
        hooks_.send_to_name(o.peer, "global_name_server", o.term);
        break;
      case outgoing::kind::to_pid: hooks_.send_to_pid(o.peer, o.pid, o.term); break;
      case outgoing::kind::control: hooks_.send_control(o.peer, o.term); break;
      case outgoing::kind::connect: hooks_.connect(o.peer); break;
      case outgoing::kind::disconnect: hooks_.disconnect(o.peer); break;
    }
  }
  out.clear();
}

// handle_nodeup: {init_connect, {Vsn, MyTag}, node(), {locker, no_longer_a_pid, Known,
// TheLocker}} to the peer's global_name_server. This node's locker is its pid: the peer only
// routes lock_set casts by its node, and sorts it into the lock's id.
NODUS_DECL void global_member::open_session_locked(outbox& out, const node_name& peer) {
  session& s = sessions_[peer];
  s = session{};
  s.my_tag = next_tag_++;
  cast_global(
      out, peer,
      etf::term::tuple({etf::term(etf::atom("init_connect")),
                        etf::term::tuple({etf::term(protocol_version), etf::term(s.my_tag)}),
                        etf::term(self_.node),
                        etf::term::tuple({
                            etf::term(etf::atom("locker")),
                            etf::term(etf::atom("no_longer_a_pid")),
                            etf::term::nil(),
                            etf::term(self_),
                        })}));
}

NODUS_DECL void global_member::node_up(const node_name& peer) {
  outbox out;
  {
    std::lock_guard lock(m_);
    if (!running_) return;
    connected_.insert(peer);
    if (owe_in_sync_.erase(peer) + late_in_sync_.erase(peer) != 0) {
      known_.insert(peer);  // a node of the partition, as a peer reported it
      sync_other_locked(out, peer);
    }
    if (!known_.contains(peer) && !sessions_.contains(peer)) open_session_locked(out, peer);
  }
  flush(out);
}

// leave_locked(peer): what this node keeps of peer goes: its session, its place in the
// partition, the locks its processes hold (their monitors go with the link).
NODUS_DECL void global_member::leave_locked(outbox&, const node_name& peer) {
  sessions_.erase(peer);
  known_.erase(peer);
  synced_.erase(peer);
  owe_in_sync_.erase(peer);
  late_in_sync_.erase(peer);
  for (auto it = locks_.begin(); it != locks_.end();) {
    auto& h = it->second.holders;
    std::erase_if(h, [&](const holder& x) { return x.pid.node == peer.str(); });
    it = h.empty() ? locks_.erase(it) : std::next(it);
  }
}

// handle_nodedown + inform_connection_loss: a known peer lost (not asked to go) is reported to
// every other known node: {lost_connection, node(), XCreation, OpId, Lost}, so that none of them
// stays connected to both sides (prevent_overlapping_partitions, on by default since OTP 25).
NODUS_DECL void global_member::node_down(const node_name& peer) {
  outbox out;
  {
    std::lock_guard lock(m_);
    const bool was_known = known_.contains(peer) && connected_.contains(peer);
    connected_.erase(peer);
    leave_locked(out, peer);
    if (running_ && was_known) {
      const etf::term message = etf::term::tuple({
          etf::term(etf::atom("lost_connection")),
          etf::term(self_.node),
          etf::term(static_cast<std::int64_t>(self_.creation)),
          etf::term(next_op_id_++),
          node_atom(peer),
      });
      for (const auto& n : known_) {
        if (connected_.contains(n)) to_global(out, n, message);
      }
    }
  }
  flush(out);
}

NODUS_DECL void global_member::unreachable(const node_name& peer) {
  std::lock_guard lock(m_);
  if (connected_.contains(peer) || owe_in_sync_.erase(peer) == 0) return;
  known_.erase(peer);
  // It may still dial this node (its own sync_other): it then gets its in_sync (node_up).
  if (late_in_sync_.size() >= max_dialled) late_in_sync_.clear();
  late_in_sync_.insert(peer);
  log_.warn("'global' at {} failed to connect to {}", self_.node.str(), peer);
}

// sync_other: {in_sync, node(), true} to a node global learnt of; dialled first when it is not
// connected (global's monitor_node connects it).
NODUS_DECL void global_member::sync_other_locked(outbox& out, const node_name& peer) {
  if (peer.str() == self_.node.str() || hooks_.is_native(peer)) return;
  if (connected_.contains(peer)) {
    cast_global(out, peer,
                etf::term::tuple(
                    {etf::term(etf::atom("in_sync")), etf::term(self_.node), etf::term(true)}));
  } else if (owe_in_sync_.size() < max_dialled && owe_in_sync_.insert(peer).second) {
    out.push_back({outgoing::kind::connect, peer, {}, {}});
  }
}

// add_known_locked(nodes, added_only): nodes a peer says are in its partition ([Node] or
// [{Node, Vsn}]) join this node's; each gets in_sync (resolved/5's sync_others), or only those
// this node did not know yet (new_nodes/6's).
NODUS_DECL void global_member::add_known_locked(outbox& out, const etf::term& nodes,
                                                bool added_only) {
  const auto* items = nodes.as_list();
  if (items == nullptr) return;
  for (const auto& item : *items) {
    const auto* pair = detail::tuple_of(item, 2);
    auto n = detail::node_of(pair != nullptr ? (*pair)[0] : item);
    if (!n || n->str() == self_.node.str() || hooks_.is_native(*n)) continue;
    if (known_.insert(*n).second || !added_only) sync_other_locked(out, *n);
  }
}

// After the peer's lock and exchange: resolved, with no name of this node and no node known
// (exchange_ops: {resolved, node(), Resolved, Known, unused, NamesExt, HisTag}).
NODUS_DECL void global_member::maybe_resolve_locked(outbox& out, const node_name& peer,
                                                    session& s) {
  if (!s.lock_set || !s.exchanged || s.resolved_sent || !s.his_tag) return;
  s.resolved_sent = true;
  cast_global(out, peer,
              etf::term::tuple({etf::term(etf::atom("resolved")), etf::term(self_.node),
                                etf::term::nil(), etf::term::nil(), etf::term(etf::atom("unused")),
                                etf::term::nil(), *s.his_tag}));
}

NODUS_DECL void global_member::on_message(const node_name& peer, const etf::term& message) {
  outbox out;
  {
    std::lock_guard lock(m_);
    if (!running_) return;
    const auto* t = message.as_tuple();
    if (t != nullptr && t->size() == 3 && (*t)[0].is_atom("$gen_call")) {
      const auto* from = detail::tuple_of((*t)[1], 2);
      if (from != nullptr && (*from)[0].as_pid() != nullptr) {
        handle_call(out, peer, *(*from)[0].as_pid(), (*from)[1], (*t)[2]);
      }
    } else if (t != nullptr && t->size() == 2 && (*t)[0].is_atom("$gen_cast")) {
      handle_cast(out, peer, (*t)[1]);
    } else {
      handle_info(out, peer, message);
    }
  }
  flush(out);
}

// handle_set_lock / can_set_lock: a resource is locked by one requester id, held by any number
// of its processes; each holder is monitored, and its exit lets its hold go.
NODUS_DECL bool global_member::set_lock_locked(outbox& out, const node_name& peer,
                                               const etf::term& id, const etf::pid& pid) {
  const auto* rid = detail::tuple_of(id, 2);
  if (rid == nullptr) return false;
  auto it = locks_.find((*rid)[0]);
  if (it != locks_.end() && !(it->second.requester == (*rid)[1])) return false;
  if (it == locks_.end()) it = locks_.emplace((*rid)[0], lock_entry{(*rid)[1], {}}).first;
  auto& holders = it->second.holders;
  if (std::any_of(holders.begin(), holders.end(), [&](const holder& h) { return h.pid == pid; })) {
    return true;
  }
  holder h{pid, monitor_reference()};
  out.push_back(
      {outgoing::kind::control, peer, {}, monitor_p_control(self_, etf::term(pid), h.monitor)});
  holders.push_back(std::move(h));
  return true;
}

// handle_del_lock: pid lets its hold go, if the lock is still its requester's.
NODUS_DECL void global_member::del_lock_locked(outbox& out, const node_name& peer,
                                               const etf::term& id, const etf::pid& pid) {
  const auto* rid = detail::tuple_of(id, 2);
  if (rid == nullptr) return;
  auto it = locks_.find((*rid)[0]);
  if (it == locks_.end() || !(it->second.requester == (*rid)[1])) return;
  auto& holders = it->second.holders;
  auto h =
      std::find_if(holders.begin(), holders.end(), [&](const holder& x) { return x.pid == pid; });
  if (h == holders.end()) return;
  out.push_back(
      {outgoing::kind::control, peer, {}, demonitor_p_control(self_, etf::term(pid), h->monitor)});
  holders.erase(h);
  if (holders.empty()) locks_.erase(it);
}

NODUS_DECL bool global_member::on_monitor_exit(const node_name&, const etf::reference& ref) {
  if (ref.word_count != 3 || ref.words[0] != detail::global_monitor_mark) return false;
  std::lock_guard lock(m_);
  if (ref.node != self_.node || ref.creation != self_.creation) return false;
  for (auto it = locks_.begin(); it != locks_.end(); ++it) {
    auto& holders = it->second.holders;
    auto h = std::find_if(holders.begin(), holders.end(),
                          [&](const holder& x) { return x.monitor == ref; });
    if (h == holders.end()) continue;
    holders.erase(h);
    if (holders.empty()) locks_.erase(it);
    break;
  }
  return true;
}

// global_name_server's handle_call clauses a remote node uses; a request global does not know
// gets no reply there either (its caller's timeout applies).
NODUS_DECL void global_member::handle_call(outbox& out, const node_name& peer, const etf::pid& from,
                                           const etf::term& tag, const etf::term& request) {
  std::optional<etf::term> reply;
  const auto* q = request.as_tuple();
  const auto* op = q != nullptr && !q->empty() ? (*q)[0].as_atom() : request.as_atom();
  const std::string_view what = op != nullptr ? op->str() : std::string_view{};
  auto nodes = [this](const std::set<node_name>& s) {
    std::vector<etf::term> v;
    for (const auto& n : s) v.push_back(node_atom(n));
    return etf::term::list(std::move(v));
  };
  if (q != nullptr && q->size() == 2 && what == "set_lock") {
    reply = etf::term(set_lock_locked(out, peer, (*q)[1], from));
  } else if (q != nullptr && q->size() == 2 && what == "del_lock") {
    del_lock_locked(out, peer, (*q)[1], from);
    reply = etf::term(true);
  } else if (q != nullptr && ((q->size() == 4 && what == "register") ||
                              (q->size() == 5 && what == "register_ext"))) {
    reply = etf::term(etf::atom("yes"));  // acknowledged; this node keeps no global names
  } else if (q != nullptr && q->size() == 2 && what == "unregister") {
    reply = etf::term(etf::atom("ok"));
  } else if (q == nullptr && what == "get_known") {
    reply = nodes(known_);
  } else if (q == nullptr && what == "get_synced") {
    reply = nodes(synced_);
  } else if (q == nullptr && what == "get_protocol_version") {
    reply = etf::term(protocol_version);
  } else if (q == nullptr && what == "get_names_ext") {
    reply = etf::term::nil();
  }
  if (!reply) {
    log_.warn("{}: global_name_server call {} not served", peer, request.to_string(200));
    return;
  }
  out.push_back({outgoing::kind::to_pid, peer, from, etf::term::tuple({tag, std::move(*reply)})});
}

NODUS_DECL void global_member::handle_cast(outbox& out, const node_name& peer,
                                           const etf::term& request) {
  const auto* q = request.as_tuple();
  const auto* op = q != nullptr && !q->empty() ? (*q)[0].as_atom() : nullptr;
  const std::string_view what = op != nullptr ? op->str() : std::string_view{};
  if (what == "init_connect" && q->size() == 4) {
    // {init_connect, {HisVsn, HisTag, ...}, Node, {locker, _, _, HisTheLocker}}
    const auto* vsn = (*q)[1].as_tuple();
    if (vsn == nullptr || vsn->size() < 2) {
      log_.info("{}: illegal global protocol version {}", peer, (*q)[1].to_string(100));
      return;
    }
    if (!sessions_.contains(peer)) open_session_locked(out, peer);
    session& s = sessions_[peer];
    s.his_tag = (*vsn)[1];
    // init_connect/6: {init_connect_ack, node(), HisTag, MyTag} (protocol version 8 on).
    const auto* his_vsn = (*vsn)[0].as_integer();
    if (his_vsn != nullptr && *his_vsn >= 8) {
      to_global(out, peer,
                etf::term::tuple({etf::term(etf::atom("init_connect_ack")), etf::term(self_.node),
                                  *s.his_tag, etf::term(s.my_tag)}));
    }
    return;
  }
  if (what == "lock_set" && (q->size() == 5 || q->size() == 4)) {
    // {lock_set, HisLocker, true, HisKnown, MyTag}: the peer's locker (select_node) has locked
    // its partition and this node with one id; this side's lock is that one: answer it and send
    // this node's names (the_locker_message's spontaneous clause, then lock_is_set/3).
    if (!(*q)[2].is_atom("true")) return;  // spurious
    auto it = sessions_.find(peer);
    if (it == sessions_.end() || !it->second.his_tag ||
        (q->size() == 5 && !tag_is(peer, (*q)[4]))) {
      if (it == sessions_.end()) {
        cast_global(out, peer,
                    etf::term::tuple({etf::term(etf::atom("lock_set")), etf::term(self_),
                                      etf::term(false), etf::term::nil(), etf::term(0)}));
      }
      return;
    }
    session& s = it->second;
    cast_global(out, peer,
                etf::term::tuple({etf::term(etf::atom("lock_set")), etf::term(self_),
                                  etf::term(true), etf::term::nil(), *s.his_tag}));
    if (!s.lock_set) {
      s.lock_set = true;
      cast_global(out, peer,
                  etf::term::tuple({etf::term(etf::atom("exchange")), etf::term(self_.node),
                                    etf::term::nil(), etf::term::nil(), *s.his_tag}));
    }
    maybe_resolve_locked(out, peer, s);
    return;
  }
  if (what == "exchange" && q->size() == 5) {
    // {exchange, Node, NameList, NameExtList, MyTag}: the peer's names; none clash here.
    if (!tag_is(peer, (*q)[4])) return;
    session& s = sessions_[peer];
    s.exchanged = true;
    maybe_resolve_locked(out, peer, s);
    return;
  }
  if (what == "resolved" && q->size() == 7) {
    // {resolved, Node, HisResolved, HisKnown, unused, NamesExt, MyTag}: synced with the peer,
    // which brings the nodes it knows (resolved/5).
    if (!tag_is(peer, (*q)[6])) return;
    sessions_.erase(peer);
    known_.insert(peer);
    synced_.insert(peer);
    add_known_locked(out, (*q)[3], false);
    log_.debug("{}: global synced", peer);
    return;
  }
  if (what == "new_nodes" && q->size() == 6) {
    // {new_nodes, Node, Ops, NamesExt, Nodes, ExtraInfo}: nodes that joined the partition.
    add_known_locked(out, (*q)[4], true);
    return;
  }
  if (what == "in_sync" && q->size() == 3) {
    // {in_sync, Node, IsKnown}: the peer learnt of this node from its partition; its session
    // with this node, if any, is over.
    if (auto n = detail::node_of((*q)[1]); n && *n == peer) {
      sessions_.erase(peer);
      known_.insert(peer);
      synced_.insert(peer);
    }
    return;
  }
  if (what == "async_del_name" || what == "async_del_lock") return;  // R13B and older
  log_.warn("{}: global_name_server cast {} not understood", peer, request.to_string(200));
}

NODUS_DECL void global_member::handle_info(outbox& out, const node_name& peer,
                                           const etf::term& message) {
  const auto* q = message.as_tuple();
  const auto* op = q != nullptr && !q->empty() ? (*q)[0].as_atom() : nullptr;
  const std::string_view what = op != nullptr ? op->str() : std::string_view{};
  if (what == "init_connect_ack" && q->size() == 4) {
    // {init_connect_ack, Node, HisMyTag, HisHisTag}: both sides must agree on the session; if
    // not, it is cancelled and started over.
    auto it = sessions_.find(peer);
    if (it == sessions_.end()) return;
    session& s = it->second;
    if (tag_is(peer, (*q)[2]) && s.his_tag && *s.his_tag == (*q)[3]) return;
    to_global(
        out, peer,
        etf::term::tuple({etf::term(etf::atom("cancel_connect")), etf::term(self_.node), (*q)[3]}));
    open_session_locked(out, peer);
    return;
  }
  if (what == "cancel_connect" && q->size() == 3) {
    // {cancel_connect, Node, MyTag}: the peer gave up this session: a new one.
    if (tag_is(peer, (*q)[2])) open_session_locked(out, peer);
    return;
  }
  if (what == "lost_connection" && q->size() == 5) {
    lost_connection_locked(out, message);
    return;
  }
  if (what == "remove_connection" && q->size() == 2) {
    // {remove_connection, Node}: Node asks this node to leave it (it saw a connection lost in
    // the partition); it goes without a lost_connection of this node.
    auto n = detail::node_of((*q)[1]);
    if (!n || (!known_.contains(*n) && !sessions_.contains(*n))) return;
    leave_locked(out, *n);
    log_.warn("'global' at node {} disconnected node {} in order to prevent overlapping partitions",
              self_.node.str(), n->str());
    out.push_back({outgoing::kind::disconnect, *n, {}, {}});
    return;
  }
  log_.debug("{}: global_name_server message {} ignored", peer, message.to_string(200));
}

// {lost_connection, NodeA, XCreationA, OpIdA, NodeB}: NodeA lost NodeB. Relayed once to the
// other known nodes; NodeB (or NodeA, when NodeB is this node) is asked to leave this node
// (handle_info({lost_connection, ...}) of global.erl).
NODUS_DECL void global_member::lost_connection_locked(outbox& out, const etf::term& message) {
  const auto& q = *message.as_tuple();
  auto a = detail::node_of(q[1]);
  auto b = detail::node_of(q[4]);
  const auto* op_id = q[3].as_integer();
  if (!a || !b || op_id == nullptr) return;
  const auto key = std::make_pair(std::string(a->str()), std::string(b->str()));
  if (auto it = lost_seen_.find(key);
      it != lost_seen_.end() && it->second.first == q[2] && *op_id <= it->second.second) {
    return;  // seen
  }
  if (lost_seen_.size() >= 4096) lost_seen_.clear();  // global keeps them an hour; a bound here
  lost_seen_[key] = {q[2], *op_id};
  for (const auto& n : known_) {
    if (n != *a && connected_.contains(n)) to_global(out, n, message);
  }
  const node_name rm = b->str() == self_.node.str() ? *a : *b;
  if (!known_.contains(rm) && !sessions_.contains(rm)) return;
  to_global(out, rm,
            etf::term::tuple({etf::term(etf::atom("remove_connection")), etf::term(self_.node)}));
  leave_locked(out, rm);
  log_.warn(
      "'global' at node {} requested disconnect from node {} in order to prevent "
      "overlapping partitions",
      self_.node.str(), rm.str());
}

}  // namespace nodus::dist

// nodus/dist/impl/pg_scope.ipp: process groups (see dist/pg_scope.hpp). Included by that header in
// header-only mode, by nodus/impl/src.hpp otherwise. Message shapes and what each one does:
// OTP 25's lib/kernel/src/pg.erl, as docs/design/pg-protocol.md cites it (L25:nnn).
#pragma once

#include <algorithm>
#include <exception>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "nodus/dist/pg_scope.hpp"

namespace nodus::dist {

namespace detail {
inline etf::term pg_atom(std::string_view a) { return etf::term(etf::atom(a)); }
// pg_pids(t) -> the pids of a pid or a proper list of pids (pg's PidOrPids); nothing when t is
// anything else.
inline std::optional<std::vector<etf::pid>> pg_pids(const etf::term& t) {
  std::vector<etf::pid> out;
  if (const auto* p = t.as_pid()) {
    out.push_back(*p);
    return out;
  }
  const auto* items = t.as_list();
  if (items == nullptr || t.list_tail() != nullptr) return std::nullopt;  // a proper list
  out.reserve(items->size());
  for (const auto& i : *items) {
    const auto* p = i.as_pid();
    if (p == nullptr) return std::nullopt;
    out.push_back(*p);
  }
  return out;
}
// pg_pid_or_pids(pids) -> one pid as itself, more as a list (as pg:join/leave pass them on).
inline etf::term pg_pid_or_pids(const std::vector<etf::pid>& pids) {
  if (pids.size() == 1) return etf::term(pids.front());
  std::vector<etf::term> items;
  items.reserve(pids.size());
  for (const auto& p : pids) items.emplace_back(p);
  return etf::term::list(std::move(items));
}
inline etf::term pg_pid_list(const std::vector<etf::pid>& pids) {
  std::vector<etf::term> items;
  items.reserve(pids.size());
  for (const auto& p : pids) items.emplace_back(p);
  return etf::term::list(std::move(items));
}
// Marks the references of scopes' monitors of their peers (native_distribution's calls and
// global_member use other marks).
inline constexpr std::uint32_t pg_monitor_mark = 0x2a6e7;
}  // namespace detail

NODUS_DECL pg_scope::pg_scope(logger& log, std::string name, etf::pid pid)
    : log_(log), name_(std::move(name)), pid_(std::move(pid)) {}

NODUS_DECL etf::pid pg_scope::pid() const {
  std::lock_guard lock(m_);
  return pid_;
}

NODUS_DECL void pg_scope::attach(pg_transport* t, const etf::pid& pid) {
  // The peers first, outside the state lock: the distribution's table is never asked for while
  // this scope's lock is held.
  const auto peers = t != nullptr ? t->pg_peers() : std::vector<node_name>{};
  std::unique_lock lk(m_);
  transport_ = t;
  pid_ = pid;
  std::vector<action> out;
  // pg.erl init/1 (L25:272-277): {discover, Self} to the scope on every visible node.
  for (const auto& p : peers) {
    out.push_back({action::kind::send_name,
                   p,
                   {},
                   {},
                   etf::term::tuple({detail::pg_atom("discover"), etf::term(pid_)}),
                   {},
                   {}});
  }
  run(lk, out);
}

NODUS_DECL void pg_scope::detach() {
  std::unique_lock lk(m_);
  transport_ = nullptr;
  remote_.clear();
  pending_.erase(std::remove_if(pending_.begin(), pending_.end(),
                                [](const action& a) { return a.what != action::kind::notify; }),
                 pending_.end());
  // A thread that performs actions now may hold the transport: wait for it (unless it is this
  // one, a callback that stops the node).
  if (running_actions_ && runner_ != std::this_thread::get_id()) {
    idle_.wait(lk, [this] { return !running_actions_; });
  }
}

NODUS_DECL void pg_scope::run(std::unique_lock<std::mutex>& lk, std::vector<action>& out) {
  for (auto& a : out) pending_.push_back(std::move(a));
  out.clear();
  if (running_actions_) return;  // the thread that runs them takes these too, in order
  running_actions_ = true;
  runner_ = std::this_thread::get_id();
  while (!pending_.empty()) {
    std::vector<action> batch;
    batch.swap(pending_);
    pg_transport* t = transport_;
    lk.unlock();
    for (auto& a : batch) {
      try {
        switch (a.what) {
          case action::kind::send_name:
            if (t != nullptr) t->pg_send_name(a.peer, name_, a.message);
            break;
          case action::kind::send_pid:
            if (t != nullptr) t->pg_send_pid(a.to, a.message);
            break;
          case action::kind::monitor:
            if (t != nullptr) (void)t->pg_monitor(a.to, a.ref);
            break;
          case action::kind::demonitor:
            if (t != nullptr) t->pg_demonitor(a.to, a.ref);
            break;
          case action::kind::notify:
            if (a.cb) a.cb(a.event);
            break;
        }
      } catch (const std::exception& e) {
        log_.error("pg scope '{}': {}", name_, e.what());
      } catch (...) {
        log_.error("pg scope '{}': a group callback threw", name_);
      }
    }
    lk.lock();
  }
  running_actions_ = false;
  runner_ = {};
  idle_.notify_all();
}

NODUS_DECL void pg_scope::broadcast_locked(std::vector<action>& out,
                                           const etf::term& message) const {
  if (transport_ == nullptr) return;
  for (const auto& [key, r] : remote_) {
    (void)key;
    out.push_back({action::kind::send_pid, r.node, r.pid, {}, message, {}, {}});
  }
}

NODUS_DECL void pg_scope::notify_locked(std::vector<action>& out, group_event::kind what,
                                        const etf::term& group, std::vector<etf::pid> pids) const {
  if (pids.empty()) return;
  for (const auto& [id, s] : subscribers_) {
    (void)id;
    if (s.group && !(*s.group == group)) continue;
    action a{action::kind::notify, {}, {}, {}, {}, group_event{what, name_, group, pids}, s.cb};
    out.push_back(std::move(a));
  }
}

// pg.erl join_local / join_remote (L25:518-550): the pids go in front of the group's row.
NODUS_DECL void pg_scope::add_locked(std::vector<action>& out, const etf::term& group,
                                     const std::vector<etf::pid>& pids, bool local) {
  if (pids.empty()) return;
  auto& row = table_[group];
  row.all.insert(row.all.begin(), pids.begin(), pids.end());
  if (local) row.local.insert(row.local.begin(), pids.begin(), pids.end());
  notify_locked(out, group_event::kind::join, group, pids);
}

// pg.erl leave_local / leave_remote (L25:577-630): one occurrence of each pid goes; an empty row
// goes.
NODUS_DECL void pg_scope::remove_locked(std::vector<action>& out, const etf::term& group,
                                        const std::vector<etf::pid>& pids, bool local) {
  auto it = table_.find(group);
  if (it == table_.end()) return;
  std::vector<etf::pid> gone;
  for (const auto& p : pids) {
    auto at = std::find(it->second.all.begin(), it->second.all.end(), p);
    if (at == it->second.all.end()) continue;
    it->second.all.erase(at);
    if (local) {
      auto l = std::find(it->second.local.begin(), it->second.local.end(), p);
      if (l != it->second.local.end()) it->second.local.erase(l);
    }
    gone.push_back(p);
  }
  if (it->second.all.empty() && it->second.local.empty()) table_.erase(it);
  notify_locked(out, group_event::kind::leave, group, std::move(gone));
}

NODUS_DECL void pg_scope::drop_peer_locked(std::vector<action>& out, const pid_key& key) {
  auto it = remote_.find(key);
  if (it == remote_.end()) return;
  for (const auto& [group, pids] : it->second.groups) remove_locked(out, group, pids, false);
  remote_.erase(it);
}

// pg.erl all_local_pids (L25:645-652): [{Group, LocalPids}] of every group with local members.
NODUS_DECL etf::term pg_scope::local_groups_locked() const {
  std::vector<etf::term> groups;
  for (const auto& [group, row] : table_) {
    if (row.local.empty()) continue;
    groups.push_back(etf::term::tuple({group, detail::pg_pid_list(row.local)}));
  }
  return etf::term::list(std::move(groups));
}

NODUS_DECL etf::reference pg_scope::next_reference_locked() {
  etf::reference r;
  r.node = pid_.node;
  r.creation = pid_.creation;
  r.word_count = 3;
  r.words[0] = detail::pg_monitor_mark;
  r.words[1] = pid_.serial;
  r.words[2] = next_monitor_++;
  return r;
}

// ---- the local side
// ------------------------------------------------------------------------------

NODUS_DECL void pg_scope::join(const etf::term& group, std::span<const etf::pid> pids) {
  if (pids.empty()) return;  // pg would make an empty row everywhere: nothing to join
  std::unique_lock lk(m_);
  std::vector<action> out;
  std::vector<etf::pid> in(pids.begin(), pids.end());
  for (const auto& p : in) {
    auto& entry = local_[key_of(p)];
    entry.first = p;
    entry.second.push_back(group);
  }
  add_locked(out, group, in, true);
  // L25:292: {join, Self, Group, PidOrPids} to every known peer.
  broadcast_locked(out, etf::term::tuple({detail::pg_atom("join"), etf::term(pid_), group,
                                          detail::pg_pid_or_pids(in)}));
  run(lk, out);
}

NODUS_DECL bool pg_scope::leave(const etf::term& group, std::span<const etf::pid> pids) {
  std::unique_lock lk(m_);
  std::vector<etf::pid> left;
  for (const auto& p : pids) {
    auto it = local_.find(key_of(p));
    if (it == local_.end()) continue;
    auto& groups = it->second.second;
    auto g = std::find(groups.begin(), groups.end(), group);
    if (g == groups.end()) continue;
    groups.erase(g);
    if (groups.empty()) local_.erase(it);
    left.push_back(p);
  }
  if (left.empty()) return false;  // not_joined: nothing is sent (L25:296-304)
  std::vector<action> out;
  remove_locked(out, group, left, true);
  // L25:302: {leave, Self, PidOrPids, [Group]}; only the pids that were in it, so that no peer
  // is told of a group it never heard of.
  broadcast_locked(out, etf::term::tuple({detail::pg_atom("leave"), etf::term(pid_),
                                          detail::pg_pid_or_pids(left), etf::term::list({group})}));
  run(lk, out);
  return true;
}

NODUS_DECL void pg_scope::member_exited(const etf::pid& p) {
  std::unique_lock lk(m_);
  auto it = local_.find(key_of(p));
  if (it == local_.end()) return;
  std::vector<etf::term> groups = std::move(it->second.second);
  local_.erase(it);
  std::vector<action> out;
  for (const auto& g : groups) remove_locked(out, g, {p}, true);
  // L25:411-421: one {leave, Self, Pid, Groups} with every group, repeats included.
  broadcast_locked(out, etf::term::tuple({detail::pg_atom("leave"), etf::term(pid_), etf::term(p),
                                          etf::term::list(std::move(groups))}));
  run(lk, out);
}

NODUS_DECL std::vector<etf::pid> pg_scope::members(const etf::term& group) const {
  std::lock_guard lock(m_);
  auto it = table_.find(group);
  return it == table_.end() ? std::vector<etf::pid>{} : it->second.all;
}

NODUS_DECL std::vector<etf::pid> pg_scope::local_members(const etf::term& group) const {
  std::lock_guard lock(m_);
  auto it = table_.find(group);
  return it == table_.end() ? std::vector<etf::pid>{} : it->second.local;
}

NODUS_DECL std::vector<etf::term> pg_scope::which_groups() const {
  std::lock_guard lock(m_);
  std::vector<etf::term> out;
  out.reserve(table_.size());
  for (const auto& [group, row] : table_) out.push_back(group);
  return out;
}

NODUS_DECL std::pair<std::uint64_t, std::vector<etf::pid>> pg_scope::monitor(const etf::term& group,
                                                                             group_callback cb) {
  std::lock_guard lock(m_);
  const std::uint64_t id = next_subscriber_++;
  subscribers_[id] = subscriber{group, std::move(cb)};
  auto it = table_.find(group);
  return {id, it == table_.end() ? std::vector<etf::pid>{} : it->second.all};
}

NODUS_DECL std::pair<std::uint64_t, std::vector<std::pair<etf::term, std::vector<etf::pid>>>>
pg_scope::monitor_scope(group_callback cb) {
  std::lock_guard lock(m_);
  const std::uint64_t id = next_subscriber_++;
  subscribers_[id] = subscriber{std::nullopt, std::move(cb)};
  std::vector<std::pair<etf::term, std::vector<etf::pid>>> now;
  for (const auto& [group, row] : table_) now.emplace_back(group, row.all);
  return {id, std::move(now)};
}

NODUS_DECL bool pg_scope::demonitor(std::uint64_t id) {
  std::lock_guard lock(m_);
  return subscribers_.erase(id) != 0;
}

// ---- the distribution's side -----------------------------------------------------------------

NODUS_DECL void pg_scope::node_up(const node_name& peer) {
  std::unique_lock lk(m_);
  if (transport_ == nullptr) return;
  std::vector<action> out;
  // L25:440-444: {discover, Self} to {Scope, Node}.
  out.push_back({action::kind::send_name,
                 peer,
                 {},
                 {},
                 etf::term::tuple({detail::pg_atom("discover"), etf::term(pid_)}),
                 {},
                 {}});
  run(lk, out);
}

NODUS_DECL void pg_scope::node_down(const node_name& peer) {
  std::unique_lock lk(m_);
  std::vector<action> out;
  for (auto it = remote_.begin(); it != remote_.end();) {
    auto next = std::next(it);
    if (it->second.node == peer) drop_peer_locked(out, it->first);
    it = next;
  }
  run(lk, out);
}

NODUS_DECL bool pg_scope::on_monitor_exit(const etf::reference& ref) {
  if (ref.word_count != 3 || ref.words[0] != detail::pg_monitor_mark) return false;
  std::unique_lock lk(m_);
  if (ref.words[1] != pid_.serial) return false;
  for (const auto& [key, r] : remote_) {
    if (r.monitor && *r.monitor == ref) {
      std::vector<action> out;
      drop_peer_locked(out, key);  // L25:424-433: any reason
      run(lk, out);
      return true;
    }
  }
  return false;
}

NODUS_DECL std::vector<etf::pid> pg_scope::peers() const {
  std::lock_guard lock(m_);
  std::vector<etf::pid> out;
  for (const auto& [key, r] : remote_) out.push_back(r.pid);
  return out;
}

// L25:398-408: sync to the discoverer; a new one is monitored and discovered back.
NODUS_DECL void pg_scope::discover_from_locked(std::vector<action>& out, const node_name& peer,
                                               const etf::pid& from) {
  if (transport_ == nullptr) return;
  out.push_back({action::kind::send_pid,
                 peer,
                 from,
                 {},
                 etf::term::tuple({detail::pg_atom("$gen_cast"),
                                   etf::term::tuple({detail::pg_atom("sync"), etf::term(pid_),
                                                     local_groups_locked()})}),
                 {},
                 {}});
  const auto key = key_of(from);
  if (remote_.count(key) != 0) return;
  remote_scope r;
  r.node = peer;
  r.pid = from;
  r.monitor = next_reference_locked();
  out.push_back({action::kind::monitor, peer, from, *r.monitor, {}, {}, {}});
  out.push_back({action::kind::send_pid,
                 peer,
                 from,
                 {},
                 etf::term::tuple({detail::pg_atom("discover"), etf::term(pid_)}),
                 {},
                 {}});
  remote_.emplace(key, std::move(r));
}

// L25:473-503 (handle_sync): what from contributed is replaced by groups.
NODUS_DECL void pg_scope::sync_from_locked(std::vector<action>& out, const node_name& peer,
                                           const etf::pid& from, const etf::term& groups) {
  // Read it all first: a sync that is not [{Group, [Pid]}] changes nothing.
  const auto* items = groups.as_list();
  if (items == nullptr || groups.list_tail() != nullptr) {
    log_.warn("pg scope '{}': a sync from {} that is not a list; ignored", name_, peer);
    return;
  }
  std::unordered_map<etf::term, std::vector<etf::pid>> next;
  std::size_t count = 0;
  for (const auto& g : *items) {
    const auto* t = g.as_tuple();
    auto pids = t != nullptr && t->size() == 2 ? detail::pg_pids((*t)[1]) : std::nullopt;
    if (!pids) {
      log_.warn("pg scope '{}': a sync from {} with {} in it; ignored", name_, peer,
                g.to_string(100));
      return;
    }
    count += pids->size();
    auto& slot = next[(*t)[0]];
    slot.insert(slot.end(), pids->begin(), pids->end());
  }
  if (next.size() > max_groups || count > max_members) {
    log_.warn("pg scope '{}': a sync from {} of {} groups and {} pids, over the bounds; ignored",
              name_, peer, next.size(), count);
    return;
  }
  const auto key = key_of(from);
  auto it = remote_.find(key);
  if (it == remote_.end()) {
    // An unknown peer is monitored, not discovered (L25:476-480).
    remote_scope r;
    r.node = peer;
    r.pid = from;
    r.monitor = next_reference_locked();
    out.push_back({action::kind::monitor, peer, from, *r.monitor, {}, {}, {}});
    it = remote_.emplace(key, std::move(r)).first;
  }
  auto& old = it->second.groups;
  for (const auto& [group, pids] : next) {
    auto o = old.find(group);
    if (o != old.end() && o->second == pids) continue;
    // A changed list: the old pids go and the new come (pg.erl changes the row without telling
    // its subscribers; here they are told).
    if (o != old.end()) remove_locked(out, group, o->second, false);
    add_locked(out, group, pids, false);
  }
  for (const auto& [group, pids] : old) {
    if (next.count(group) == 0) remove_locked(out, group, pids, false);
  }
  old = std::move(next);
  it->second.member_count = count;
}

NODUS_DECL void pg_scope::on_message(const node_name& peer, const etf::term& message) {
  const auto* t = message.as_tuple();
  // from(i) -> element i as the pid of a scope of peer, the sender (a peer names no other node's
  // scope).
  auto from = [&](std::size_t i) -> const etf::pid* {
    const auto* p = (*t)[i].as_pid();
    return p != nullptr && p->node.str() == peer.str() ? p : nullptr;
  };
  std::unique_lock lk(m_);
  std::vector<action> out;
  if (t != nullptr && (t->size() == 2 || t->size() == 3) && (*t)[0].is_atom("discover") &&
      from(1) != nullptr) {
    // {discover, Peer}, and {discover, Peer, Version} (accepted by OTP 26 on)
    discover_from_locked(out, peer, *from(1));
  } else if (t != nullptr && t->size() == 2 && (*t)[0].is_atom("$gen_cast")) {
    const auto* s = (*t)[1].as_tuple();
    const etf::pid* p =
        s != nullptr && s->size() == 3 && (*s)[0].is_atom("sync") ? (*s)[1].as_pid() : nullptr;
    if (p == nullptr || p->node.str() != peer.str()) {
      log_.debug("pg scope '{}': ignoring {} from {}", name_, message.to_string(200), peer);
      return;
    }
    sync_from_locked(out, peer, *p, (*s)[2]);
  } else if (t != nullptr && t->size() == 4 && (*t)[0].is_atom("join") && from(1) != nullptr) {
    // {join, Peer, Group, PidOrPids}; from an unknown peer: ignored (L25:365-377)
    auto it = remote_.find(key_of(*from(1)));
    auto pids = detail::pg_pids((*t)[3]);
    if (it == remote_.end() || !pids) {
      log_.debug("pg scope '{}': ignoring {} from {}", name_, message.to_string(200), peer);
      return;
    }
    if (it->second.member_count + pids->size() > max_members ||
        (it->second.groups.count((*t)[2]) == 0 && it->second.groups.size() >= max_groups)) {
      log_.warn("pg scope '{}': a join from {} over the bounds; ignored", name_, peer);
      return;
    }
    auto& mine = it->second.groups[(*t)[2]];
    mine.insert(mine.begin(), pids->begin(), pids->end());
    it->second.member_count += pids->size();
    add_locked(out, (*t)[2], *pids, false);
  } else if (t != nullptr && t->size() == 4 && (*t)[0].is_atom("leave") && from(1) != nullptr) {
    // {leave, Peer, PidOrPids, [Group]} (L25:382-395)
    auto it = remote_.find(key_of(*from(1)));
    auto pids = detail::pg_pids((*t)[2]);
    const auto* groups = (*t)[3].as_list();
    if (it == remote_.end() || !pids || groups == nullptr || (*t)[3].list_tail() != nullptr) {
      log_.debug("pg scope '{}': ignoring {} from {}", name_, message.to_string(200), peer);
      return;
    }
    for (const auto& g : *groups) {
      auto mine = it->second.groups.find(g);
      if (mine == it->second.groups.end()) continue;  // OTP's scope crashes here (L25:637)
      std::vector<etf::pid> gone;
      for (const auto& p : *pids) {
        auto at = std::find(mine->second.begin(), mine->second.end(), p);
        if (at == mine->second.end()) continue;
        mine->second.erase(at);
        --it->second.member_count;
        gone.push_back(p);
      }
      if (mine->second.empty()) it->second.groups.erase(mine);
      remove_locked(out, g, gone, false);
    }
  } else {
    // OTP's scope exits with badarg here (L25:446-447); this one lives on.
    log_.debug("pg scope '{}': ignoring {} from {}", name_, message.to_string(200), peer);
    return;
  }
  run(lk, out);
}

// ---- the registry ----------------------------------------------------------------------------

NODUS_DECL pg_registry::pg_registry(logger& log, etf::pid self)
    : log_(log), self_(std::move(self)) {}

NODUS_DECL etf::pid pg_registry::pid_for(std::uint32_t serial) const {
  etf::pid p = self_;
  p.id = 0;
  p.serial = serial;
  return p;
}

NODUS_DECL pg_scope& pg_registry::scope(std::string_view name) {
  pg_scope* s = nullptr;
  pg_transport* t = nullptr;
  etf::pid pid;
  {
    std::lock_guard lock(m_);
    if (auto it = scopes_.find(name); it != scopes_.end()) return *it->second;
    pid = pid_for(static_cast<std::uint32_t>(scopes_.size() + 1));
    auto made = std::make_unique<pg_scope>(log_, std::string(name), pid);
    s = made.get();
    scopes_.emplace(std::string(name), std::move(made));
    any_.store(true, std::memory_order_release);
    t = transport_;
  }
  if (t != nullptr) s->attach(t, pid);
  return *s;
}

NODUS_DECL pg_scope* pg_registry::find(std::string_view name) const {
  if (!any_.load(std::memory_order_acquire)) return nullptr;
  std::lock_guard lock(m_);
  auto it = scopes_.find(name);
  return it == scopes_.end() ? nullptr : it->second.get();
}

NODUS_DECL pg_scope* pg_registry::find(const etf::pid& pid) const {
  if (pid.id != 0 || pid.serial == 0 || !any_.load(std::memory_order_acquire)) return nullptr;
  std::lock_guard lock(m_);
  if (pid.node != self_.node || pid.creation != self_.creation) return nullptr;
  for (const auto& [name, s] : scopes_) {
    if (s->pid().serial == pid.serial) return s.get();
  }
  return nullptr;
}

NODUS_DECL std::vector<pg_scope*> pg_registry::all() const {
  std::lock_guard lock(m_);
  std::vector<pg_scope*> out;
  out.reserve(scopes_.size());
  for (const auto& [name, s] : scopes_) out.push_back(s.get());
  return out;
}

NODUS_DECL void pg_registry::attach(pg_transport* t, const etf::pid& self) {
  std::vector<std::pair<pg_scope*, etf::pid>> scopes;
  {
    std::lock_guard lock(m_);
    transport_ = t;
    self_ = self;
    for (const auto& [name, s] : scopes_) scopes.emplace_back(s.get(), pid_for(s->pid().serial));
  }
  for (auto& [s, pid] : scopes) s->attach(t, pid);
}

NODUS_DECL void pg_registry::detach() {
  {
    std::lock_guard lock(m_);
    transport_ = nullptr;
  }
  for (auto* s : all()) s->detach();
}

NODUS_DECL void pg_registry::member_exited(const etf::pid& pid) {
  if (!any_.load(std::memory_order_acquire)) return;
  for (auto* s : all()) s->member_exited(pid);
}

NODUS_DECL void pg_registry::node_up(const node_name& peer) {
  for (auto* s : all()) s->node_up(peer);
}

NODUS_DECL void pg_registry::node_down(const node_name& peer) {
  for (auto* s : all()) s->node_down(peer);
}

NODUS_DECL bool pg_registry::on_monitor_exit(const etf::reference& ref) {
  if (ref.word_count != 3 || ref.words[0] != detail::pg_monitor_mark) return false;
  for (auto* s : all()) {
    if (s->on_monitor_exit(ref)) return true;
  }
  return true;  // one of the scopes' marks: a monitor already dropped
}

}  // namespace nodus::dist

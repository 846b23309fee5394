// nodus/dist/impl/global_names.ipp: cluster-wide names (see dist/global_names.hpp). Included by
// that header in header-only mode, by nodus/impl/src.hpp otherwise.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "nodus/core/format.hpp"
#include "nodus/dist/global_names.hpp"

namespace nodus::dist {

namespace detail {
inline etf::term names_atom(std::string_view a) { return etf::term(etf::atom(a)); }
inline etf::term policy_atom(name_conflict_policy p) {
  switch (p) {
    case name_conflict_policy::notify_other: return names_atom("notify_other");
    case name_conflict_policy::notify_both: return names_atom("notify_both");
    case name_conflict_policy::stop_other: break;
  }
  return names_atom("stop_other");
}
inline std::optional<name_conflict_policy> policy_of(const etf::term& t) {
  if (t.is_atom("stop_other")) return name_conflict_policy::stop_other;
  if (t.is_atom("notify_other")) return name_conflict_policy::notify_other;
  if (t.is_atom("notify_both")) return name_conflict_policy::notify_both;
  return std::nullopt;
}
// text_of(t) -> the name a binary holds (names travel as binaries: any text, no atom table).
inline std::optional<std::string> text_of(const etf::term& t) {
  const auto* b = t.as_binary();
  if (b == nullptr || b->size() > 255) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(b->data()), b->size());
}
// first_wins(a, b) -> whether a keeps a name both hold (the same answer on every node).
inline bool first_wins(const etf::pid& a, const etf::pid& b) {
  return std::make_tuple(a.node.str(), a.id, a.serial, a.creation) <
         std::make_tuple(b.node.str(), b.id, b.serial, b.creation);
}
}  // namespace detail

NODUS_DECL global_names::global_names(logger& log, node_name self, stop_hook stop,
                                      nodus::telemetry* events)
    : log_(log), self_(std::move(self)), stop_(std::move(stop)), events_(events) {
  // Seeded from the clock and this object's address: nodes racing for one name must not pause
  // alike (a seed of 0 would stay 0).
  const auto t =
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  rng_ = (t ^ (reinterpret_cast<std::uintptr_t>(this) * 0x9E3779B97F4A7C15ULL)) | 1;
}

NODUS_DECL std::chrono::milliseconds global_names::retry_pause() noexcept {
  // xorshift64* (Marsaglia's xorshift with Vigna's multiplier, "An experimental exploration of
  // Marsaglia's xorshift generators, scrambled", 2016).
  rng_ ^= rng_ >> 12;
  rng_ ^= rng_ << 25;
  rng_ ^= rng_ >> 27;
  return std::chrono::milliseconds(5 + (rng_ * 0x2545F4914F6CDD1DULL >> 32) % 45);
}

NODUS_DECL void global_names::attach(names_transport* t) {
  std::lock_guard lock(m_);
  transport_ = t;
}

NODUS_DECL void global_names::detach() {
  outbox out;
  {
    std::unique_lock lk(m_);
    transport_ = nullptr;
    std::vector<std::int64_t> refs;
    for (const auto& [ref, g] : pending_) refs.push_back(ref);
    for (auto ref : refs) {
      answer_locked(out, ref, error(errc::shutdown, "the node stopped during the registration"));
    }
    // Whoever sends now may hold the transport: wait for it (unless it is this thread).
    if (sending_ && sender_ != std::this_thread::get_id()) {
      idle_.wait(lk, [this] { return !sending_; });
    }
    out.sends.clear();
  }
  flush(out);
}

// flush(out): out's sends in order after whoever sends now (one thread at a time), then its
// calls (the done callbacks, the watchers).
NODUS_DECL void global_names::flush(outbox& out) {
  std::unique_lock lk(m_);
  for (auto& s : out.sends) queue_.push_back(std::move(s));
  out.sends.clear();
  if (!sending_) {
    sending_ = true;
    sender_ = std::this_thread::get_id();
    while (!queue_.empty()) {
      std::vector<std::pair<node_name, etf::term>> batch;
      batch.swap(queue_);
      names_transport* t = transport_;
      lk.unlock();
      if (t != nullptr) {
        for (const auto& [peer, message] : batch) t->names_send(peer, message);
      }
      lk.lock();
    }
    sending_ = false;
    sender_ = {};
    idle_.notify_all();
  }
  lk.unlock();
  for (auto& f : out.calls) {
    try {
      f();
    } catch (const std::exception& e) {
      log_.error("global names: a callback threw: {}", e.what());
    } catch (...) {
      log_.error("global names: a callback threw");
    }
  }
  out.calls.clear();
}

NODUS_DECL etf::term global_names::names_of_this_node_locked() const {
  std::vector<etf::term> items;
  for (const auto& [name, e] : names_) {
    if (!local(e.pid)) continue;
    items.push_back(etf::term::tuple({etf::term::binary(std::string_view(name)), etf::term(e.pid),
                                      detail::policy_atom(e.policy)}));
  }
  return etf::term::list(std::move(items));
}

NODUS_DECL void global_names::set_locked(outbox& out, const std::string& name, entry e) {
  const etf::pid pid = e.pid;
  names_[name] = std::move(e);
  shadowed_.erase(name);
  for (const auto& [id, w] : watchers_) {
    out.calls.emplace_back([w = w, name, pid] { w(name, pid); });
  }
}

NODUS_DECL void global_names::erase_locked(outbox& out, const std::string& name) {
  if (names_.erase(name) == 0) return;
  if (auto s = shadowed_.find(name); s != shadowed_.end()) {
    // A claim set aside for the process that just lost this name here: its node may still hold
    // it; ask it again.
    if (auto loser = node_name::parse(s->second.node.str()); loser && *loser != self_) {
      out.sends.emplace_back(*loser, etf::term::tuple({detail::names_atom("names_request")}));
    }
    shadowed_.erase(s);
  }
  for (const auto& [id, w] : watchers_) {
    out.calls.emplace_back([w = w, name] { w(name, std::nullopt); });
  }
}

NODUS_DECL void global_names::answer_locked(outbox& out, std::int64_t ref, result<void> r) {
  auto it = pending_.find(ref);
  if (it == pending_.end()) return;
  if (it->second.done) {
    out.calls.emplace_back([done = std::move(it->second.done), r = std::move(r)] { done(r); });
  }
  if (it->second.cancel_expiry) out.calls.emplace_back(std::move(it->second.cancel_expiry));
  pending_.erase(it);
}

// release_locked(g): every lock g holds or asked for goes (this node's, and the peers').
NODUS_DECL void global_names::release_locked(outbox& out, std::int64_t ref, registration& g) {
  auto l = locks_.find(g.name);
  if (l != locks_.end() && l->second.node == self_ && l->second.ref == ref) locks_.erase(l);
  for (const auto& peer : g.asked) {
    out.sends.emplace_back(
        peer, etf::term::tuple({detail::names_atom("unlock"),
                                etf::term::binary(std::string_view(g.name)), etf::term(ref)}));
  }
  g.asked.clear();
  g.waiting.clear();
}

NODUS_DECL void global_names::commit_locked(outbox& out, std::int64_t ref) {
  auto it = pending_.find(ref);
  if (it == pending_.end()) return;
  registration& g = it->second;
  auto l = locks_.find(g.name);
  if (l != locks_.end() && l->second.node == self_ && l->second.ref == ref) locks_.erase(l);
  set_locked(out, g.name, entry{g.pid, g.policy, std::move(g.on_conflict)});
  for (const auto& peer : g.asked) {
    out.sends.emplace_back(
        peer, etf::term::tuple({detail::names_atom("register"),
                                etf::term::binary(std::string_view(g.name)), etf::term(g.pid),
                                detail::policy_atom(g.policy), etf::term(ref)}));
  }
  // Yes once every node has it (their acks; a node that goes down counts).
  g.committing = true;
  g.waiting = g.asked;
  if (g.waiting.empty()) answer_locked(out, ref, {});
}

NODUS_DECL void global_names::register_name(std::string name, const etf::pid& pid,
                                            name_conflict_policy policy,
                                            name_conflict_callback on_conflict,
                                            std::function<void(result<void>)> done) {
  std::int64_t ref = 0;
  {
    std::unique_lock lock(m_);
    if (!multi_names_.load(std::memory_order_relaxed)) {
      for (const auto& [held, e] : names_) {
        if (e.pid != pid) continue;
        lock.unlock();
        done(error(errc::already_registered,
                   format("{} holds the global name '{}' already; a process holds one name, as in "
                          "Erlang's global (allow_multiple_names lifts it)",
                          etf::term(pid).to_string(80), held)));
        return;
      }
    }
    ref = next_ref_++;
    registration g;
    g.name = std::move(name);
    g.pid = pid;
    g.policy = policy;
    g.on_conflict = std::move(on_conflict);
    g.done = std::move(done);
    g.deadline = std::chrono::steady_clock::now() + register_timeout;
    g.id = ref;
    // A peer that never answers (it does not keep names) must not hold the answer forever.
    if (transport_ != nullptr) {
      g.cancel_expiry = transport_->names_after(register_timeout + std::chrono::seconds(1),
                                                [this, ref] { expire(ref); });
    }
    pending_.emplace(ref, std::move(g));
  }
  attempt(ref);
}

// expire(id): the registration id is still unanswered well past its deadline: its locks go and
// it fails (a name it committed stays: the peers that acknowledged have it too).
NODUS_DECL void global_names::expire(std::int64_t id) {
  outbox out;
  {
    std::lock_guard lock(m_);
    for (auto& [ref, g] : pending_) {
      if (g.id != id) continue;
      const std::int64_t r = ref;
      if (g.committing) {
        answer_locked(out, r, {});
      } else {
        std::string missing;
        for (const auto& p : g.waiting)
          missing += (missing.empty() ? "" : ", ") + std::string(p.str());
        release_locked(out, r, g);
        answer_locked(out, r,
                      error(errc::timeout,
                            format("no answer from {} to the registration of the global name '{}'",
                                   missing.empty() ? std::string("the node") : missing, g.name)));
      }
      break;
    }
  }
  flush(out);
}

// attempt(ref): one round: this node's lock, then every connected nodus node's.
NODUS_DECL void global_names::attempt(std::int64_t ref) {
  std::vector<node_name> peers;
  {
    std::lock_guard lock(m_);
    if (transport_ != nullptr) peers = transport_->names_peers();
  }
  outbox out;
  {
    std::lock_guard lock(m_);
    auto it = pending_.find(ref);
    if (it == pending_.end()) return;
    registration& g = it->second;
    const auto now = std::chrono::steady_clock::now();
    if (names_.count(g.name) != 0) {
      answer_locked(out, ref,
                    error(errc::already_registered,
                          format("the global name '{}' is registered already", g.name)));
    } else if (auto l = locks_.find(g.name);
               l != locks_.end() && now - l->second.since < lock_expiry) {
      // Another registration of the name is under way here: after a pause.
      if (transport_ == nullptr || now >= g.deadline) {
        answer_locked(
            out, ref,
            error(errc::timeout, format("other registrations of the global name '{}' kept its lock "
                                        "for {} ms",
                                        g.name, register_timeout.count())));
      } else {
        const auto pause = retry_pause();
        transport_->names_after(pause, [this, ref] { attempt(ref); });
      }
    } else {
      locks_[g.name] = lock_holder{self_, ref, now};
      g.asked = {peers.begin(), peers.end()};
      g.waiting = g.asked;
      if (g.waiting.empty()) {
        commit_locked(out, ref);
      } else {
        for (const auto& peer : g.asked) {
          out.sends.emplace_back(
              peer, etf::term::tuple({detail::names_atom("lock"),
                                      etf::term::binary(std::string_view(g.name)), etf::term(ref),
                                      etf::term(etf::atom(self_.str()))}));
        }
      }
    }
  }
  flush(out);
}

NODUS_DECL bool global_names::unregister_name(std::string_view name) {
  std::vector<node_name> peers;
  {
    std::lock_guard lock(m_);
    if (transport_ != nullptr) peers = transport_->names_peers();
  }
  outbox out;
  {
    std::lock_guard lock(m_);
    auto it = names_.find(name);
    if (it == names_.end() || !local(it->second.pid)) return false;
    const etf::pid pid = it->second.pid;
    const std::string n(name);
    erase_locked(out, n);
    for (const auto& peer : peers) {
      out.sends.emplace_back(
          peer, etf::term::tuple({detail::names_atom("unregister"),
                                  etf::term::binary(std::string_view(n)), etf::term(pid)}));
    }
  }
  flush(out);
  return true;
}

NODUS_DECL std::optional<etf::pid> global_names::whereis_name(std::string_view name) const {
  std::lock_guard lock(m_);
  auto it = names_.find(name);
  if (it == names_.end()) return std::nullopt;
  return it->second.pid;
}

NODUS_DECL std::vector<std::string> global_names::registered_names() const {
  std::lock_guard lock(m_);
  std::vector<std::string> out;
  for (const auto& [name, e] : names_) out.push_back(name);
  return out;
}

NODUS_DECL std::uint64_t global_names::on_change(
    std::function<void(const std::string&, const std::optional<etf::pid>&)> cb) {
  std::lock_guard lock(m_);
  const auto id = next_watcher_++;
  watchers_[id] = std::move(cb);
  return id;
}

NODUS_DECL void global_names::remove_on_change(std::uint64_t id) {
  std::lock_guard lock(m_);
  watchers_.erase(id);
}

NODUS_DECL void global_names::member_exited(const etf::pid& pid) {
  std::vector<std::string> mine;
  std::vector<node_name> peers;
  {
    std::lock_guard lock(m_);
    if (transport_ != nullptr) peers = transport_->names_peers();  // as unregister_name does
  }
  outbox out;
  {
    std::lock_guard lock(m_);
    for (const auto& [name, e] : names_) {
      if (e.pid == pid) mine.push_back(name);
    }
    for (auto it = lost_.begin(); it != lost_.end();) {
      if (it->second != pid) {
        ++it;
        continue;
      }
      for (const auto& peer : peers) {
        out.sends.emplace_back(
            peer, etf::term::tuple({detail::names_atom("unregister"), etf::term::binary(it->first),
                                    etf::term(pid)}));
      }
      it = lost_.erase(it);
    }
  }
  flush(out);
  for (const auto& n : mine) (void)unregister_name(n);
}

NODUS_DECL void global_names::node_up(const node_name& peer) {
  outbox out;
  {
    std::lock_guard lock(m_);
    if (transport_ == nullptr) return;
    out.sends.emplace_back(
        peer, etf::term::tuple({detail::names_atom("names"), names_of_this_node_locked()}));
  }
  flush(out);
}

NODUS_DECL void global_names::node_down(const node_name& peer) {
  outbox out;
  {
    std::lock_guard lock(m_);
    std::vector<std::string> gone;
    for (const auto& [name, e] : names_) {
      if (e.pid.node.str() == peer.str()) gone.push_back(name);
    }
    for (const auto& n : gone) erase_locked(out, n);
    for (auto it = locks_.begin(); it != locks_.end();) {
      it = it->second.node == peer ? locks_.erase(it) : std::next(it);
    }
    // A registration waiting for peer: it counts as granted.
    std::vector<std::int64_t> ready;
    std::vector<std::int64_t> acked;
    for (auto& [ref, g] : pending_) {
      g.asked.erase(peer);
      if (g.waiting.erase(peer) != 0 && g.waiting.empty()) {
        (g.committing ? acked : ready).push_back(ref);
      }
    }
    for (auto ref : ready) commit_locked(out, ref);
    for (auto ref : acked) answer_locked(out, ref, {});
  }
  flush(out);
}

// claim_locked(peer, name, pid, policy): peer says pid holds name (its registration, or its
// names when the two nodes connected).
NODUS_DECL void global_names::claim_locked(outbox& out, const node_name& peer,
                                           const std::string& name, const etf::pid& pid,
                                           name_conflict_policy policy) {
  auto it = names_.find(name);
  if (it == names_.end()) {
    set_locked(out, name, entry{pid, policy, {}});
    return;
  }
  if (it->second.pid == pid) return;
  // A clash: the same winner on every node, and the winner's policy.
  const bool incoming_wins = detail::first_wins(pid, it->second.pid);
  entry old = it->second;
  const name_conflict_policy p = incoming_wins ? policy : old.policy;
  log_.warn("global name '{}' is held by {} here and by {} on {}: {} keeps it ({})", name,
            etf::term(old.pid).to_string(100), etf::term(pid).to_string(100), peer,
            p == name_conflict_policy::notify_both
                ? std::string("neither")
                : etf::term(incoming_wins ? pid : old.pid).to_string(100),
            detail::policy_atom(p).to_string());
  if (events_ != nullptr) {
    out.calls.emplace_back([ev = events_, peer, name] {
      telemetry_event e;
      e.what = telemetry_event::kind::name_conflict;
      e.node = peer;
      e.detail = name;
      ev->emit(e);
    });
  }
  if (p == name_conflict_policy::notify_both) {
    erase_locked(out, name);
  } else if (incoming_wins) {
    set_locked(out, name, entry{pid, policy, {}});
    if (!local(old.pid)) shadowed_[name] = old.pid;
  } else {
    // The old one keeps it; the loser's node acts when it hears of the winner.
    if (!local(pid)) shadowed_[name] = pid;
    return;
  }
  if (!local(old.pid)) return;
  // This node's process lost it.
  lost_.emplace_back(name, old.pid);
  const name_conflict c{name, old.pid, p == name_conflict_policy::notify_both ? etf::pid{} : pid,
                        p == name_conflict_policy::notify_both};
  if (p == name_conflict_policy::stop_other) {
    if (stop_) {
      out.calls.emplace_back([stop = stop_, c] {
        stop(c.loser, error(errc::already_registered,
                            format("the global name '{}' went to {} when partitions merged", c.name,
                                   etf::term(c.winner).to_string(100))));
      });
    }
  } else if (old.on_conflict) {
    out.calls.emplace_back([cb = std::move(old.on_conflict), c] { cb(c); });
  }
}

NODUS_DECL void global_names::on_message(const node_name& peer, const etf::term& message) {
  const auto* t = message.as_tuple();
  const auto* what = t != nullptr && !t->empty() ? (*t)[0].as_atom() : nullptr;
  auto ignore = [&] {
    log_.debug("global names: ignoring {} from {}", message.to_string(200), peer);
  };
  if (what == nullptr) return ignore();
  const std::string_view w = what->str();
  outbox out;
  {
    std::lock_guard lock(m_);
    const auto now = std::chrono::steady_clock::now();
    if (w == "lock" && t->size() == 4) {
      auto name = detail::text_of((*t)[1]);
      const auto* ref = (*t)[2].as_integer();
      if (!name || ref == nullptr) return ignore();
      std::string_view answer = "ok";
      if (names_.count(*name) != 0) {
        answer = "taken";
      } else if (auto l = locks_.find(*name); l != locks_.end() &&
                                              !(l->second.node == peer && l->second.ref == *ref) &&
                                              now - l->second.since < lock_expiry) {
        answer = "busy";
      } else {
        locks_[*name] = lock_holder{peer, *ref, now};
      }
      out.sends.emplace_back(peer, etf::term::tuple({detail::names_atom("lock_reply"), (*t)[1],
                                                     (*t)[2], detail::names_atom(answer)}));
    } else if (w == "lock_reply" && t->size() == 4) {
      const auto* ref = (*t)[2].as_integer();
      const auto* answer = (*t)[3].as_atom();
      if (ref == nullptr || answer == nullptr) return ignore();
      auto it = pending_.find(*ref);
      if (it == pending_.end() || it->second.committing || it->second.waiting.erase(peer) == 0) {
        if (answer->str() == "ok") {  // a grant for a round that is over: let it go
          out.sends.emplace_back(
              peer, etf::term::tuple({detail::names_atom("unlock"), (*t)[1], (*t)[2]}));
        }
      } else if (answer->str() == "ok") {
        if (it->second.waiting.empty()) commit_locked(out, *ref);
      } else {
        registration& g = it->second;
        release_locked(out, *ref, g);
        if (answer->str() == "taken") {
          answer_locked(out, *ref,
                        error(errc::already_registered,
                              format("the global name '{}' is registered on {}", g.name, peer)));
        } else if (now >= g.deadline || transport_ == nullptr) {
          answer_locked(out, *ref,
                        error(errc::timeout,
                              format("other registrations of the global name '{}' kept its lock "
                                     "for {} ms",
                                     g.name, register_timeout.count())));
        } else {
          // Another registrar holds it there: a new round (a new reference: late answers of
          // this one are told apart) after a random pause.
          const std::int64_t next = next_ref_++;
          pending_.emplace(next, std::move(g));
          pending_.erase(it);
          const auto pause = retry_pause();
          transport_->names_after(pause, [this, next] { attempt(next); });
        }
      }
    } else if (w == "unlock" && t->size() == 3) {
      auto name = detail::text_of((*t)[1]);
      const auto* ref = (*t)[2].as_integer();
      if (!name || ref == nullptr) return ignore();
      auto l = locks_.find(*name);
      if (l != locks_.end() && l->second.node == peer && l->second.ref == *ref) locks_.erase(l);
    } else if (w == "register" && t->size() == 5) {
      auto name = detail::text_of((*t)[1]);
      const auto* pid = (*t)[2].as_pid();
      auto policy = detail::policy_of((*t)[3]);
      const auto* ref = (*t)[4].as_integer();
      if (!name || pid == nullptr || !policy || ref == nullptr || pid->node.str() != peer.str()) {
        return ignore();
      }
      auto l = locks_.find(*name);
      if (l != locks_.end() && l->second.node == peer && l->second.ref == *ref) locks_.erase(l);
      claim_locked(out, peer, *name, *pid, *policy);
      out.sends.emplace_back(
          peer, etf::term::tuple({detail::names_atom("registered"), (*t)[1], (*t)[4]}));
    } else if (w == "registered" && t->size() == 3) {
      const auto* ref = (*t)[2].as_integer();
      if (ref == nullptr) return ignore();
      auto it = pending_.find(*ref);
      if (it != pending_.end() && it->second.committing && it->second.waiting.erase(peer) != 0 &&
          it->second.waiting.empty()) {
        answer_locked(out, *ref, {});
      }
    } else if (w == "unregister" && t->size() == 3) {
      auto name = detail::text_of((*t)[1]);
      const auto* pid = (*t)[2].as_pid();
      if (!name || pid == nullptr) return ignore();
      auto it = names_.find(*name);
      if (it != names_.end() && it->second.pid == *pid) erase_locked(out, *name);
    } else if (w == "names_request" && t->size() == 1) {
      out.sends.emplace_back(
          peer, etf::term::tuple({detail::names_atom("names"), names_of_this_node_locked()}));
    } else if (w == "names" && t->size() == 2) {
      const auto* items = (*t)[1].as_list();
      if (items == nullptr) return ignore();
      for (const auto& i : *items) {
        const auto* e = i.as_tuple();
        if (e == nullptr || e->size() != 3) continue;
        auto name = detail::text_of((*e)[0]);
        const auto* pid = (*e)[1].as_pid();
        auto policy = detail::policy_of((*e)[2]);
        // A node tells the names of its own processes only.
        if (!name || pid == nullptr || !policy || pid->node.str() != peer.str()) continue;
        claim_locked(out, peer, *name, *pid, *policy);
      }
    } else {
      return ignore();
    }
  }
  flush(out);
}

}  // namespace nodus::dist

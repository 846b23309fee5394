// nodus/process/impl/distributed_supervisor.ipp: distributed_node, a member of a
// distributed_supervisor (see process/distributed_supervisor.hpp). Included by that header in
// header-only mode, by nodus/impl/src.hpp otherwise.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include "nodus/codec/etf/term.hpp"
#include "nodus/core/format.hpp"
#include "nodus/dist/global_names.hpp"
#include "nodus/dist/pg_scope.hpp"
#include "nodus/process/detail/remote_ops.hpp"
#include "nodus/process/distributed_supervisor.hpp"
#include "nodus/process/groups.hpp"

namespace nodus::detail {

// dsup_member: the server whose instance makes its node a member (its pid is in the group) and
// takes the members' messages (as terms, straight to the supervision strand: see member_term).
struct dsup_member : server<dsup_member> {
  static constexpr fixed_string name = "nodus.dsup";
};

// A child that restarts more often than this is forgotten everywhere (its crash loop would
// otherwise go on forever, from member to member).
inline constexpr int dsup_max_restarts = 3;
inline constexpr std::chrono::seconds dsup_restart_period{5};
// How long a member waits before it tries again to start a child whose global name another
// member refused (its view of a node that went down lags).
inline constexpr std::chrono::milliseconds retry_pause{200};

struct distributed_node::impl {
  struct spec {
    std::string type;
    etf::term args;
    restart_type restart = restart_type::permanent;
    std::optional<etf::term> handoff;  // a state handed off to this node, for its next start
    bool seen = false;  // it has run (its global name was seen held): a temporary one never again
  };

  impl(runtime& r, std::string_view n, std::vector<child_type> ts)
      : rt(r),
        name(n),
        types(std::move(ts)),
        local(r, n, supervisor_flags{}, 0),
        group(etf::term::tuple({etf::term(etf::atom("nodus_dsup")), etf::term::binary(n)})) {}

  runtime& rt;
  std::string name;
  std::vector<child_type> types;
  dynamic_supervisor_node local;  // the children that run here (temporary: restarts are ours)
  std::unique_ptr<cell_base> member;
  etf::term group;
  std::map<std::string, spec> table;
  std::set<std::string> starting;  // its global name is being registered here
  std::set<std::string> moving;    // being stopped here to move
  std::vector<etf::pid> member_pids;
  std::map<std::string, std::deque<clock::time_point>> restarts;
  std::vector<std::unique_ptr<cell_base>> unused;  // cells that never started (freed at stop)
  std::uint64_t pg_watch = 0;
  std::uint64_t names_watch = 0;
  // false once the member is destroyed; read by callbacks on other threads (a timer).
  std::shared_ptr<std::atomic<bool>> alive = std::make_shared<std::atomic<bool>>(true);
  bool running = false;

  [[nodiscard]] dist::global_names& names() const { return rt.dist()->cluster_names(); }
  [[nodiscard]] const child_type* type_of(std::string_view t) const {
    for (const auto& c : types)
      if (c.type == t) return &c;
    return nullptr;
  }
  [[nodiscard]] bool here(const std::string& child) const {
    for (const auto& c : local.which_children())
      if (c.name == child) return true;
    return false;
  }
  [[nodiscard]] bool is_self(const etf::atom& node) const { return node.str() == rt.self().str(); }
  [[nodiscard]] std::vector<node_name> nodes() const {
    std::vector<node_name> out;
    for (const auto& p : member_pids) {
      auto n = node_name::parse(p.node.str());
      if (n && std::find(out.begin(), out.end(), *n) == out.end()) out.push_back(*n);
    }
    if (running && std::find(out.begin(), out.end(), rt.self()) == out.end()) {
      out.push_back(rt.self());
    }
    std::sort(out.begin(), out.end(),
              [](const node_name& a, const node_name& b) { return a.str() < b.str(); });
    return out;
  }
  // post(f): f() on the supervision strand, unless this member is gone by then.
  template <class F>
  void post(F f) {
    asio::post(rt.supervision(), [a = alive, f = std::move(f)]() mutable {
      if (*a) f();
    });
  }

  // ---- messages between members ----------------------------------------------------------------
  static etf::term bin(std::string_view s) { return etf::term::binary(s); }
  static std::string str_of(const etf::term& t) {
    const auto* b = t.as_binary();
    return b == nullptr ? std::string()
                        : std::string(reinterpret_cast<const char*>(b->data()), b->size());
  }
  etf::term spec_term(const std::string& child, const spec& s) const {
    return etf::term::tuple(
        {bin(child), bin(s.type), s.args, etf::term(static_cast<int>(s.restart))});
  }
  void send_to(const etf::pid& to, const etf::term& msg) {
    if (is_self(to.node)) return;
    if (auto r = send_to_pid(rt, to, msg, nullptr); !r) {
      rt.log().debug("{}: a message to {} was not sent: {}", describe(), to.node.str(),
                     r.error().message());
    }
  }
  void broadcast(const etf::term& msg) {
    for (const auto& p : member_pids) send_to(p, msg);
  }
  std::optional<etf::pid> member_on(const node_name& n) const {
    for (const auto& p : member_pids)
      if (p.node.str() == n.str()) return p;
    return std::nullopt;
  }
  [[nodiscard]] std::string describe() const { return format("distributed_supervisor '{}'", name); }

  // read_spec(t, child, s) -> whether t is {Name, Type, Args, Restart}.
  static bool read_spec(const etf::term& t, std::string& child, spec& s) {
    const auto* e = t.as_tuple();
    if (e == nullptr || e->size() != 4) return false;
    const auto* r = (*e)[3].as_integer();
    if ((*e)[0].as_binary() == nullptr || (*e)[1].as_binary() == nullptr || r == nullptr ||
        *r < 0 || *r > 2) {
      return false;
    }
    child = str_of((*e)[0]);
    s.type = str_of((*e)[1]);
    s.args = (*e)[2];
    s.restart = static_cast<restart_type>(*r);
    return true;
  }

  void on_message(const etf::term& m) {
    if (!running) return;
    const auto* e = m.as_tuple();
    if (e == nullptr || e->empty()) return;
    const auto& tag = (*e)[0];
    std::string child;
    spec s;
    if (tag.is_atom("add") && e->size() == 2 && read_spec((*e)[1], child, s)) {
      if (table.emplace(child, std::move(s)).second) reconcile(child);
    } else if (tag.is_atom("remove") && e->size() == 2) {
      forget(str_of((*e)[1]), false);
    } else if (tag.is_atom("table") && e->size() == 2 && (*e)[1].as_list() != nullptr) {
      for (const auto& t : *(*e)[1].as_list()) {
        spec one;
        if (read_spec(t, child, one)) table.emplace(child, std::move(one));
      }
      reconcile_all();
    } else if (tag.is_atom("handoff") && e->size() == 3 && read_spec((*e)[1], child, s)) {
      auto [it, inserted] = table.emplace(child, std::move(s));
      const auto* st = (*e)[2].as_tuple();
      if (st != nullptr && st->size() == 1) it->second.handoff = (*st)[0];
      rt.log().debug("{}: '{}' handed off to this node", describe(), child);
      reconcile(child);
    } else {
      rt.log().debug("{}: an unknown message dropped: {}", describe(), m.to_string(200));
    }
  }

  // forget(child, tell): drops it from the table (and the others', when tell), stopping it here.
  void forget(const std::string& child, bool tell) {
    if (table.erase(child) == 0) return;
    if (tell) broadcast(etf::term::tuple({etf::term(etf::atom("remove")), bin(child)}));
    restarts.erase(child);
    if (here(child)) {
      moving.insert(child);  // its end is ours, not a crash
      local.terminate_child(child, [this, child, a = alive](const result<void>&) {
        if (*a) moving.erase(child);
      });
    }
  }

  // ---- placement -------------------------------------------------------------------------------
  void reconcile_all() {
    std::vector<std::string> all;
    for (const auto& [n, s] : table) all.push_back(n);
    for (const auto& n : all) reconcile(n);
  }

  void reconcile(const std::string& child) {
    if (!running) return;
    auto it = table.find(child);
    if (it == table.end() || starting.count(child) != 0 || moving.count(child) != 0) return;
    const auto holder = names().whereis_name(child);
    const bool runs_here = here(child);
    const node_name owner = distributed_node::place(child, nodes());
    if (holder) it->second.seen = true;
    if (owner == rt.self()) {
      if (!holder && !runs_here &&
          !(it->second.seen && it->second.restart == restart_type::temporary)) {
        start_here(child, it->second);
      }
    } else if (runs_here && holder && is_self(holder->node) &&
               it->second.restart != restart_type::temporary && member_on(owner)) {
      move_to(child, owner);
    }
  }

  void start_here(const std::string& child, spec& s) {
    const child_type* t = type_of(s.type);
    if (t == nullptr) {
      rt.log().error("{}: '{}' is of a type this node cannot start ('{}')", describe(), child,
                     s.type);
      return;
    }
    error why;
    // The handed-off state is read when it starts (after its name is registered): a handoff
    // that arrives meanwhile (sent before the old home let the name go) is in it.
    auto state = std::make_shared<std::optional<etf::term>>();
    auto cell = t->make(rt, child, s.args, state, why);
    if (!cell) {
      rt.log().error("{}: '{}' cannot be built from its arguments: {}", describe(), child,
                     why.message());
      return;
    }
    if (auto r = rt.register_name(*cell); !r) {
      rt.log().error("{}: '{}': {}", describe(), child, r.error().message());
      return;
    }
    // The global name first, for the pid its instance will have: it starts only where the name
    // was given.
    const etf::pid pid = rt.pid_of(instance_id{cell->number(), cell->generation() + 1});
    starting.insert(child);
    auto held = std::make_shared<std::unique_ptr<cell_base>>(std::move(cell));
    auto on_conflict = [this, child, pid](const name_conflict&) {
      post([this, child, pid] {
        // Partitions merged and the other side keeps it: this instance stops.
        if (!here(child)) return;
        rt.log().warn("{}: '{}' runs on another node too, which keeps it; stopping here",
                      describe(), child);
        moving.insert(child);
        local.terminate_child(child, [this, child](const result<void>&) {
          moving.erase(child);
          reconcile(child);
        });
      });
    };
    names().register_name(child, pid, name_conflict_policy::notify_other, std::move(on_conflict),
                          [this, child, pid, held, state](result<void> took) {
                            post([this, child, pid, held, state, took = std::move(took)] {
                              starting.erase(child);
                              auto it = table.find(child);
                              if (!took || !running || it == table.end()) {
                                if (took && names().whereis_name(child) == pid)
                                  (void)names().unregister_name(child);
                                rt.unregister_name(**held);
                                unused.push_back(std::move(*held));
                                if (!took) {
                                  // Another member holds it, as this one may not know yet (a
                                  // node that it saw go down, the other not yet): look again in
                                  // a while, until either view changes.
                                  rt.log().debug("{}: '{}' not started here: {}", describe(), child,
                                                 took.error().message());
                                  retry_later(child);
                                }
                                return;
                              }
                              *state = it->second.handoff;
                              auto r = local.start_child(restart_type::temporary, std::move(*held));
                              if (!r) {
                                if (names().whereis_name(child) == pid)
                                  (void)names().unregister_name(child);
                                rt.log().error("{}: '{}' did not start: {}", describe(), child,
                                               r.error().message());
                                return;
                              }
                              const bool handed = it->second.handoff.has_value();
                              it->second.handoff.reset();
                              rt.log().info("{}: '{}' runs here{}", describe(), child,
                                            handed ? " (with its handed-off state)" : "");
                            });
                          });
  }

  // retry_later(child): reconcile(child) again after retry_pause.
  void retry_later(const std::string& child) {
    auto timer = std::make_shared<asio::steady_timer>(rt.io(), retry_pause);
    timer->async_wait([this, child, timer, a = alive](std::error_code ec) {
      if (ec || !*a) return;
      post([this, child] { reconcile(child); });
    });
  }

  void move_to(const std::string& child, const node_name& owner) {
    moving.insert(child);
    rt.log().info("{}: moving '{}' to {}", describe(), child, owner);
    auto finish = [this, child, owner](std::optional<etf::term> state) {
      auto it = table.find(child);
      auto to = member_on(owner);
      if (it != table.end() && to) {
        std::vector<etf::term> st;
        if (state) st.push_back(std::move(*state));
        // Sent before the child stops (and its global name goes): the new home has the state
        // when it sees the name free, the two messages coming over one connection in order.
        send_to(*to,
                etf::term::tuple({etf::term(etf::atom("handoff")), spec_term(child, it->second),
                                  etf::term::tuple(std::move(st))}));
      }
      local.terminate_child(child, [this, child](const result<void>&) {
        moving.erase(child);
        reconcile(child);
      });
    };
    const auto it = table.find(child);
    const child_type* t = it == table.end() ? nullptr : type_of(it->second.type);
    cell_base* c = rt.whereis(child);
    if (t != nullptr && t->take_state != nullptr && c != nullptr) {
      t->take_state(*c, [this, finish](result<etf::term> state) mutable {
        post([finish, state = std::move(state)]() mutable {
          finish(state ? std::optional<etf::term>(std::move(state).value()) : std::nullopt);
        });
      });
      return;
    }
    finish(std::nullopt);
  }

  // child_gone(child, reason): a child of this node ended by itself.
  void child_gone(const std::string& child, const error& reason) {
    if (moving.count(child) != 0) return;
    auto it = table.find(child);
    if (it == table.end()) return;
    if (!restarted(it->second.restart, reason)) {
      rt.log().info("{}: '{}' ended ({}) and is not restarted", describe(), child,
                    reason == errc::ok ? std::string("normal") : reason.message());
      forget(child, true);
      return;
    }
    auto& rs = restarts[child];
    const auto now = clock::now();
    rs.push_back(now);
    while (!rs.empty() && now - rs.front() > dsup_restart_period) rs.pop_front();
    if (static_cast<int>(rs.size()) > dsup_max_restarts) {
      rt.log().error("{}: '{}' restarted more than {} times in {}; forgotten. Last exit: {}",
                     describe(), child, dsup_max_restarts,
                     std::chrono::milliseconds(dsup_restart_period), reason.message());
      forget(child, true);
      return;
    }
    rt.log().info("{}: restarting '{}' after: {}", describe(), child, reason.message());
    reconcile(child);
  }

  // name_gone(child): its global name went (its node went down, or it ended).
  void name_gone(const std::string& child) {
    auto it = table.find(child);
    if (it == table.end()) return;
    if (it->second.restart == restart_type::temporary && it->second.seen &&
        starting.count(child) == 0 && !here(child)) {
      table.erase(it);  // every member sees the name go: each forgets it
      return;
    }
    reconcile(child);
  }
  // name_taken(child): its global name was registered (here or elsewhere): it has run.
  void name_taken(const std::string& child) {
    if (auto it = table.find(child); it != table.end()) it->second.seen = true;
  }

  void members_changed(const group_event& e) {
    if (!running) return;  // a late event of a subscription that stop() ended
    if (e.what == group_event::kind::join) {
      std::vector<etf::pid> fresh;
      for (const auto& p : e.pids) {
        if (std::find(member_pids.begin(), member_pids.end(), p) == member_pids.end()) {
          member_pids.push_back(p);
          fresh.push_back(p);
        }
      }
      // What this member knows, to each new one (partitions that heal: both sides learn).
      if (!table.empty()) {
        std::vector<etf::term> all;
        for (const auto& [n, s] : table) all.push_back(spec_term(n, s));
        const auto msg = etf::term::tuple({etf::term(etf::atom("table")), etf::term::list(all)});
        for (const auto& p : fresh) send_to(p, msg);
      }
    } else {
      for (const auto& p : e.pids) std::erase(member_pids, p);
    }
    reconcile_all();
  }
};

// member_term(cell, m): a member's message, to the supervision strand at once (not through the
// member's mailbox): in the order it came, before what the same connection brings next (a global
// name that goes).
inline result<void> member_term(cell_base& c, const dist::erlang_inbound& m) {
  constexpr std::string_view prefix = "nodus.dsup/";
  auto* d = find_distributed(c.rt(), c.name().substr(prefix.size()));
  if (d == nullptr || m.message == nullptr) return error(errc::noproc, "not a member now");
  asio::post(c.rt().supervision(),
             [&rt = c.rt(), name = std::string(c.name().substr(prefix.size())),
              msg = etf::term(*m.message)] {
               if (auto* dn = find_distributed(rt, name)) dn->on_message(msg);
             });
  return {};
}

NODUS_DECL distributed_node::distributed_node(runtime& rt, std::string_view name,
                                              std::vector<child_type> types)
    : impl_(std::make_unique<impl>(rt, name, std::move(types))) {
  impl_->local.distributed = this;
  impl_->local.on_child_gone = [this](const std::string& child, const error& reason) {
    impl_->child_gone(child, reason);
  };
}

NODUS_DECL distributed_node::~distributed_node() {
  *impl_->alive = false;
  if (impl_->rt.dist() != nullptr) {
    if (impl_->names_watch != 0) impl_->names().remove_on_change(impl_->names_watch);
    if (impl_->pg_watch != 0) groups(impl_->rt, "pg").demonitor(impl_->pg_watch);
  }
}

NODUS_DECL std::string distributed_node::describe() const { return impl_->describe(); }

NODUS_DECL void distributed_node::start(std::function<void(result<void>)> done) {
  auto& m = *impl_;
  if (m.rt.dist() == nullptr) {
    done(error(errc::nodedown, format("{} needs a distributed node (options.name)", describe())));
    return;
  }
  if (!m.member) {
    auto* c =
        new cell<dsup_member>(m.rt, instance_maker::of<dsup_member>(), "nodus.dsup/" + m.name);
    m.member.reset(c);
    c->set_term_delivery(&member_term);
  }
  m.local.start([&m, done = std::move(done)](result<void> r) {
    if (!r) {
      done(std::move(r));
      return;
    }
    if (auto s = m.member->start(); !s) {
      m.local.stop([done, s] { done(s); });
      return;
    }
    m.running = true;
    m.member_pids.clear();
    // When a child's global name is taken or goes anywhere: the placement looks again. (The
    // callbacks may run on another thread after remove_on_change / demonitor: they touch only
    // the runtime and the alive flag until they are on the strand.)
    m.names_watch =
        m.names().on_change([&rt = m.rt, a = m.alive, pm = &m](const std::string& child,
                                                               const std::optional<etf::pid>& pid) {
          const bool taken = pid.has_value();
          asio::post(rt.supervision(), [a, pm, child, taken] {
            if (!*a) return;
            if (taken) {
              pm->name_taken(child);
            } else {
              pm->name_gone(child);
            }
          });
        });
    groups g(m.rt, "pg");
    auto [id, now] = g.monitor(m.group, [&rt = m.rt, a = m.alive, pm = &m](const group_event& e) {
      asio::post(rt.supervision(), [a, pm, e] {
        if (*a) pm->members_changed(e);
      });
    });
    m.pg_watch = id;
    m.member_pids = now;
    (void)g.join(m.group, m.rt.pid_of(*m.member, m.member->generation()));
    done({});
    m.reconcile_all();
  });
}

NODUS_DECL void distributed_node::stop(std::function<void()> done) {
  auto& m = *impl_;
  m.running = false;
  if (m.names_watch != 0) m.names().remove_on_change(m.names_watch);
  m.names_watch = 0;
  if (m.pg_watch != 0) groups(m.rt, "pg").demonitor(m.pg_watch);
  m.pg_watch = 0;
  m.local.stop([&m, done = std::move(done)] {
    m.member->stop(error(errc::shutdown, "shutdown"), [&m, done] {
      m.unused.clear();
      m.table.clear();
      m.starting.clear();
      m.moving.clear();
      done();
    });
  });
}

NODUS_DECL result<node_name> distributed_node::start_child(const std::string& name,
                                                           std::string_view type, etf::term args,
                                                           restart_type how) {
  auto& m = *impl_;
  if (!m.running) return error(errc::noproc, format("{} is not running", describe()));
  if (m.table.count(name) != 0) {
    return error(errc::already_registered,
                 format("{} already has a child named '{}'", describe(), name));
  }
  impl::spec s{std::string(type), std::move(args), how, std::nullopt};
  m.broadcast(etf::term::tuple({etf::term(etf::atom("add")), m.spec_term(name, s)}));
  m.table.emplace(name, std::move(s));
  m.reconcile(name);
  return place(name, m.nodes());
}

NODUS_DECL result<void> distributed_node::terminate_child(const std::string& name) {
  auto& m = *impl_;
  if (m.table.count(name) == 0) {
    return error(errc::noproc, format("{} has no child named '{}'", describe(), name));
  }
  m.forget(name, true);
  return {};
}

NODUS_DECL std::vector<distributed_child_info> distributed_node::which_children() const {
  auto& m = *impl_;
  std::vector<distributed_child_info> out;
  for (const auto& [n, s] : m.table) {
    distributed_child_info i{n, s.type, s.restart, std::nullopt};
    if (auto pid = m.names().whereis_name(n)) {
      if (auto node = node_name::parse(pid->node.str())) i.node = *node;
    }
    out.push_back(std::move(i));
  }
  return out;
}

NODUS_DECL std::vector<node_name> distributed_node::members() const { return impl_->nodes(); }

NODUS_DECL void distributed_node::on_message(const etf::term& message) {
  impl_->on_message(message);
}

NODUS_DECL node_name distributed_node::place(std::string_view name,
                                             const std::vector<node_name>& members) {
  // Rendezvous hashing: the member with the highest weight(name, member) wins; a member that
  // joins or leaves moves only the children it wins or won.
  auto weight = [&](const node_name& n) {
    std::uint64_t h = 14695981039346656037ULL;  // FNV-1a 64 (offset basis, then prime 2^40+435)
    auto add = [&](std::string_view s) {
      for (const char c : s) {
        h ^= static_cast<unsigned char>(c);
        h *= 1099511628211ULL;
      }
    };
    add(name);
    add(std::string_view("\0", 1));
    add(n.str());
    // splitmix64's finalizer (Steele, Lea, Flood: "Fast splittable pseudorandom number
    // generators", 2014), so that close strings get unrelated weights.
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
  };
  node_name best;
  std::uint64_t best_w = 0;
  for (const auto& n : members) {
    const auto w = weight(n);
    if (best.empty() || w > best_w || (w == best_w && n.str() < best.str())) {
      best = n;
      best_w = w;
    }
  }
  return best;
}

NODUS_DECL distributed_node* find_distributed(runtime& rt, std::string_view name) {
  auto* d = rt.find_dynamic(name);
  return d == nullptr ? nullptr : d->distributed;
}

}  // namespace nodus::detail

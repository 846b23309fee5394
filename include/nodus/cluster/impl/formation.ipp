// nodus/cluster/impl/formation.ipp: the formation engine, the polling of strategies and the
// target parsing (see cluster/formation.hpp). Included by that header in header-only mode, by
// nodus/impl/src.hpp otherwise.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include "nodus/cluster/detail/host_lookup.hpp"
#include "nodus/cluster/formation.hpp"
#include "nodus/cluster/node_table.hpp"
#include "nodus/core/format.hpp"

namespace nodus::cluster {

namespace detail {

NODUS_DECL result<node_target> parse_target(std::string_view text) {
  if (auto a = parse_node_address(text)) return node_target{a->first, a->second};
  auto name = node_name::parse(text);
  if (!name) return name.error();
  return node_target{*name, std::nullopt};
}

NODUS_DECL void resolve_host(asio::any_io_executor ex, std::string host,
                             std::function<void(result<asio::ip::address>)> cb) {
  std::error_code ec;
  auto a = asio::ip::make_address(host, ec);
  if (!ec) {
    asio::post(ex, [cb = std::move(cb), a] { cb(a); });
    return;
  }
  // Not Asio's resolver: its thread is joined when the io_context goes, so a lookup that hangs
  // would hold up the node's stop (see detail/host_lookup.hpp).
  async_lookup(ex, host, [host, cb = std::move(cb)](result<std::vector<asio::ip::address>> r) {
    if (!r || r->empty()) {
      cb(error(errc::not_connected, format("cannot resolve host '{}': {}", host,
                                           r ? std::string("no address") : r.error().reason())));
      return;
    }
    cb(r->front());
  });
}

NODUS_DECL std::vector<node_target> targets_of(strategy_context& ctx,
                                               const std::vector<std::string>& texts) {
  std::vector<node_target> targets;
  for (const auto& text : texts) {
    if (auto t = parse_target(text)) {
      targets.push_back(std::move(*t));
    } else {
      ctx.log(log_level::warn, format("ignoring '{}': {}", text, t.error().reason()));
    }
  }
  return targets;
}

struct poll_loop::state {
  std::shared_ptr<strategy_context> ctx;
  std::optional<asio::steady_timer> timer;
  std::chrono::milliseconds every{};
  bool vanish = false;
  poll_fn poll;

  static void tick(const std::shared_ptr<state>& s) {
    if (s->ctx->stopped()) return;
    s->poll(s->ctx, [s](std::vector<node_target> nodes) {
      if (s->ctx->stopped()) return;
      s->ctx->set_nodes(std::move(nodes), s->vanish);
      s->timer->expires_after(s->every);
      s->timer->async_wait([s](std::error_code ec) {
        if (!ec) tick(s);
      });
    });
  }
};

NODUS_DECL void poll_loop::start(std::shared_ptr<strategy_context> ctx,
                                 std::chrono::milliseconds every, bool disconnect_vanished,
                                 poll_fn poll) {
  s_ = std::make_shared<state>();
  s_->ctx = std::move(ctx);
  s_->timer.emplace(s_->ctx->executor());
  s_->every = effective_interval(*s_->ctx, every);
  s_->vanish = disconnect_vanished;
  s_->poll = std::move(poll);
  asio::post(s_->ctx->executor(), [s = s_] { state::tick(s); });
}

NODUS_DECL void poll_loop::stop() {
  if (s_) asio::post(s_->ctx->executor(), [s = s_] { s->timer->cancel(); });
}

}  // namespace detail

struct formation::target_state {
  std::set<const context*> wanted_by;
  bool dialing = false;
  bool redial = false;  // a newer target came while dialing
  unsigned failures = 0;
  std::optional<asio::ip::tcp::endpoint> endpoint;
};

struct formation::core {
  core(asio::io_context& io_, formation_hooks h) : io(io_), hooks(std::move(h)) {}
  asio::io_context& io;
  formation_hooks hooks;
  mutable std::mutex m;
  bool stopped = false;
  std::size_t first_round_pending = 0;
  // No list of the contexts here: each context holds the core (a cycle would leak both).
  std::map<node_name, target_state> targets;
};

class formation::context final : public strategy_context,
                                 public std::enable_shared_from_this<context> {
 public:
  context(std::shared_ptr<core> c, std::string label)
      : core_(std::move(c)), label_(std::move(label)), strand_(asio::make_strand(core_->io)) {}

  [[nodiscard]] const node_name& self() const override { return core_->hooks.self; }
  [[nodiscard]] std::string_view label() const override { return label_; }
  [[nodiscard]] asio::any_io_executor executor() const override { return strand_; }
  [[nodiscard]] const cluster_options& settings() const override { return core_->hooks.settings; }
  [[nodiscard]] std::uint16_t node_port() const override { return core_->hooks.node_port; }
  [[nodiscard]] std::uint16_t epmd_port() const override { return core_->hooks.epmd_port; }
  [[nodiscard]] bool stopped() const override {
    std::lock_guard lock(core_->m);
    return core_->stopped;
  }

  void set_nodes(std::vector<node_target> nodes, bool disconnect_vanished) override {
    update(std::move(nodes), true, disconnect_vanished);
  }
  void add_nodes(std::vector<node_target> nodes) override {
    update(std::move(nodes), false, false);
  }
  void log(log_level level, std::string line) override {
    if (core_->hooks.log) core_->hooks.log(level, format("[nodus:{}] {}", label_, line));
  }

 private:
  void update(std::vector<node_target> nodes, bool replace, bool disconnect_vanished) {
    std::vector<node_target> dial;
    std::vector<node_name> drop;
    bool first = false;
    {
      std::lock_guard lock(core_->m);
      if (core_->stopped) return;
      std::set<node_name> now;
      for (auto& t : nodes) {
        if (t.name == core_->hooks.self) continue;
        now.insert(t.name);
        auto& e = core_->targets[t.name];
        e.wanted_by.insert(this);
        if (t.endpoint) e.endpoint = t.endpoint;
        if (e.dialing) continue;
        e.dialing = true;
        dial.push_back(node_target{t.name, e.endpoint});
      }
      if (replace) {
        for (auto it = core_->targets.begin(); it != core_->targets.end();) {
          auto& [n, e] = *it;
          if (now.count(n) == 0 && e.wanted_by.erase(this) != 0 && e.wanted_by.empty()) {
            if (disconnect_vanished) drop.push_back(n);
            if (!e.dialing) {
              it = core_->targets.erase(it);
              continue;
            }
          }
          ++it;
        }
      }
      if (!first_round_started_) {
        first_round_started_ = true;
        first = true;
        first_dials_ = dial.size();
      }
    }
    for (const auto& n : drop) {
      if (core_->hooks.disconnect && core_->hooks.disconnect(n)) {
        log(log_level::info, format("disconnected from {}: no longer listed", n));
      }
    }
    auto self = shared_from_this();
    for (auto& t : dial) {
      // Already connected: nothing to dial (counts as done at once).
      if (core_->hooks.is_connected && core_->hooks.is_connected(t.name)) {
        dialed(t.name, true, first, /*quiet=*/true);
        continue;
      }
      core_->hooks.connect(
          t, [self, name = t.name, first](bool ok) { self->dialed(name, ok, first, false); });
    }
    if (first && dial.empty()) first_round_done();
  }

  void dialed(const node_name& n, bool ok, bool first_round, bool quiet) {
    unsigned failures = 0;
    {
      std::lock_guard lock(core_->m);
      auto it = core_->targets.find(n);
      if (it != core_->targets.end()) {
        auto& e = it->second;
        e.dialing = false;
        failures = ok ? 0 : e.failures + 1;
        e.failures = failures;
        if (e.wanted_by.empty()) core_->targets.erase(it);
      }
    }
    if (ok && !quiet) {
      log(log_level::info, format("connected to {}", n));
    } else if (!ok) {
      // libcluster's line once per outage; the retries that follow at debug level.
      log(failures <= 1 ? log_level::warn : log_level::debug, format("unable to connect to {}", n));
    }
    if (first_round) {
      bool done = false;
      {
        std::lock_guard lock(core_->m);
        done = first_dials_ != 0 && --first_dials_ == 0;
      }
      if (done) first_round_done();
    }
  }

  void first_round_done() {
    std::lock_guard lock(core_->m);
    if (round_done_) return;
    round_done_ = true;
    if (core_->first_round_pending > 0) --core_->first_round_pending;
  }

  std::shared_ptr<core> core_;
  std::string label_;
  asio::strand<asio::io_context::executor_type> strand_;
  bool first_round_started_ = false;  // under core_->m
  std::size_t first_dials_ = 0;       // under core_->m
  bool round_done_ = false;           // under core_->m
};

NODUS_DECL formation::formation(asio::io_context& io, formation_hooks hooks)
    : core_(std::make_shared<core>(io, std::move(hooks))) {}

NODUS_DECL formation::~formation() { stop(); }

NODUS_DECL void formation::add(std::unique_ptr<strategy_runner> r) {
  runners_.push_back(std::move(r));
}

NODUS_DECL void formation::start() {
  if (started_) return;
  started_ = true;
  for (auto& r : runners_) {
    auto ctx = std::make_shared<context>(core_, std::string(r->label()));
    {
      std::lock_guard lock(core_->m);
      ++core_->first_round_pending;
    }
    r->start(ctx);
  }
}

NODUS_DECL void formation::stop() {
  {
    std::lock_guard lock(core_->m);
    if (core_->stopped) return;
    core_->stopped = true;
  }
  for (auto& r : runners_) r->stop();
}

NODUS_DECL bool formation::first_round_done() const {
  std::lock_guard lock(core_->m);
  return core_->first_round_pending == 0;
}

NODUS_DECL std::vector<node_name> formation::wanted() const {
  std::lock_guard lock(core_->m);
  std::vector<node_name> out;
  for (const auto& [n, e] : core_->targets) {
    if (!e.wanted_by.empty()) out.push_back(n);
  }
  return out;
}

}  // namespace nodus::cluster

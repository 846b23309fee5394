// nodus/cluster/formation.hpp: the engine under a node's topology: runs its strategies, dials the
// nodes they want, logs like libcluster, retries, disconnects nodes a strategy saw vanish, and
// tells when every strategy finished its first round.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include "nodus/cluster/node_table.hpp"
#include "nodus/cluster/strategy.hpp"
#include "nodus/core/error.hpp"
#include "nodus/core/format.hpp"
#include "nodus/core/log.hpp"
#include "nodus/core/node_name.hpp"

namespace nodus::cluster {

// What the engine needs from its node. Each function may be called from any thread.
struct formation_hooks {
  node_name self;
  std::uint16_t node_port = 0;
  std::uint16_t epmd_port = 0;
  cluster_options settings;
  // connect(target, done): dial target (EPMD lookup when it has no endpoint); done(bool) once.
  std::function<void(const node_target&, std::function<void(bool)>)> connect;
  std::function<bool(const node_name&)> disconnect;
  std::function<bool(const node_name&)> is_connected;
  std::function<void(log_level, const std::string&)> log;
};

// One strategy as the engine runs it (type erased, so the engine is compiled once).
class strategy_runner {
 public:
  virtual ~strategy_runner() = default;
  [[nodiscard]] virtual std::string_view label() const = 0;
  virtual void start(std::shared_ptr<strategy_context> ctx) = 0;
  virtual void stop() = 0;
};

namespace detail {

template <class S>
concept pushing_strategy = requires(S s, std::shared_ptr<strategy_context> c) {
  s.start(c);
  s.stop();
};

template <class S>
concept polled_strategy = requires(S s, strategy_context& c) {
  { s.nodes(c) } -> std::convertible_to<std::vector<std::string>>;
};

// parse_target("n@host" | "n@ip:port") -> the target (with its endpoint when the text gives an
// IP and a port, as parse_node_address takes it). Errors: errc::invalid_node_name, saying why.
inline result<node_target> parse_target(std::string_view text) {
  if (auto a = parse_node_address(text)) return node_target{a->first, a->second};
  auto name = node_name::parse(text);
  if (!name) return name.error();
  return node_target{*name, std::nullopt};
}

// resolve_host(ex, host, cb): cb(address or error) for an IP literal (at once) or a host name
// (the system resolver; the first answer).
inline void resolve_host(asio::any_io_executor ex, std::string host,
                         std::function<void(result<asio::ip::address>)> cb) {
  std::error_code ec;
  auto a = asio::ip::make_address(host, ec);
  if (!ec) {
    asio::post(ex, [cb = std::move(cb), a] { cb(a); });
    return;
  }
  auto r = std::make_shared<asio::ip::tcp::resolver>(ex);
  r->async_resolve(host, "", [r, host, cb = std::move(cb)](std::error_code e, auto results) {
    if (e || results.empty()) {
      cb(error(errc::not_connected, format("cannot resolve host '{}': {}", host,
                                           e ? e.message() : std::string("no address"))));
      return;
    }
    cb(results.begin()->endpoint().address());
  });
}

// polled_runner<S>: calls S::nodes(ctx) every interval and hands the list to set_nodes.
template <class S>
class polled_runner final : public strategy_runner {
 public:
  [[nodiscard]] std::string_view label() const override { return S::label; }
  void start(std::shared_ptr<strategy_context> ctx) override {
    state_ = std::make_shared<state>();
    state_->ctx = std::move(ctx);
    state_->timer.emplace(state_->ctx->executor());
    asio::post(state_->ctx->executor(), [s = state_] { poll(s); });
  }
  void stop() override {
    if (!state_) return;
    asio::post(state_->ctx->executor(), [s = state_] { s->timer->cancel(); });
  }

 private:
  struct state {
    S strategy;
    std::shared_ptr<strategy_context> ctx;
    std::optional<asio::steady_timer> timer;
  };
  static void poll(const std::shared_ptr<state>& s) {
    if (s->ctx->stopped()) return;
    std::vector<node_target> targets;
    for (const auto& text : s->strategy.nodes(*s->ctx)) {
      if (auto t = parse_target(text)) {
        targets.push_back(std::move(*t));
      } else {
        s->ctx->log(log_level::warn, format("ignoring '{}': {}", text, t.error().reason()));
      }
    }
    constexpr bool vanish = [] {
      if constexpr (requires { S::disconnect_vanished; }) {
        return static_cast<bool>(S::disconnect_vanished);
      } else {
        return false;
      }
    }();
    s->ctx->set_nodes(std::move(targets), vanish);
    std::chrono::milliseconds every = cluster::detail::default_interval;
    if constexpr (requires { S::interval; }) every = S::interval;
    s->timer->expires_after(cluster::detail::effective_interval(*s->ctx, every));
    s->timer->async_wait([s](std::error_code ec) {
      if (!ec) poll(s);
    });
  }
  std::shared_ptr<state> state_;
};

// pushing_runner<S>: S drives itself (start/stop).
template <class S>
class pushing_runner final : public strategy_runner {
 public:
  [[nodiscard]] std::string_view label() const override { return S::label; }
  void start(std::shared_ptr<strategy_context> ctx) override { strategy_.start(std::move(ctx)); }
  void stop() override { strategy_.stop(); }

 private:
  S strategy_;
};

template <class S>
std::unique_ptr<strategy_runner> make_runner() {
  static_assert(pushing_strategy<S> || polled_strategy<S>,
                "a nodus strategy needs either start(std::shared_ptr<cluster::strategy_context>) "
                "and stop(), or std::vector<std::string> nodes(cluster::strategy_context&)");
  static_assert(
      requires { std::string_view(S::label); },
      "a nodus strategy needs `static constexpr std::string_view label` (its name in "
      "log lines), or wrap it: nodus::named<\"label\", S>");
  if constexpr (pushing_strategy<S>) {
    return std::make_unique<pushing_runner<S>>();
  } else {
    return std::make_unique<polled_runner<S>>();
  }
}

}  // namespace detail

// formation: the engine. Thread-safe. Create it with the node's hooks, add runners, start();
// stop() before the node closes its connections.
class formation {
 public:
  formation(asio::io_context& io, formation_hooks hooks)
      : core_(std::make_shared<core>(io, std::move(hooks))) {}
  formation(const formation&) = delete;
  formation& operator=(const formation&) = delete;
  ~formation() { stop(); }

  void add(std::unique_ptr<strategy_runner> r) { runners_.push_back(std::move(r)); }
  [[nodiscard]] std::size_t size() const noexcept { return runners_.size(); }

  // start(): starts every strategy (once).
  void start() {
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

  // stop(): stops every strategy; later calls from them do nothing.
  void stop() {
    {
      std::lock_guard lock(core_->m);
      if (core_->stopped) return;
      core_->stopped = true;
    }
    for (auto& r : runners_) r->stop();
  }

  // first_round_done() -> every strategy ran its first round of dials.
  [[nodiscard]] bool first_round_done() const {
    std::lock_guard lock(core_->m);
    return core_->first_round_pending == 0;
  }

  // wanted() -> the nodes some strategy wants now, sorted (for tests and diagnostics).
  [[nodiscard]] std::vector<node_name> wanted() const {
    std::lock_guard lock(core_->m);
    std::vector<node_name> out;
    for (const auto& [n, e] : core_->targets) {
      if (!e.wanted_by.empty()) out.push_back(n);
    }
    return out;
  }

 private:
  class context;

  struct target_state {
    std::set<const context*> wanted_by;
    bool dialing = false;
    bool redial = false;  // a newer target came while dialing
    unsigned failures = 0;
    std::optional<asio::ip::tcp::endpoint> endpoint;
  };

  struct core {
    core(asio::io_context& io_, formation_hooks h) : io(io_), hooks(std::move(h)) {}
    asio::io_context& io;
    formation_hooks hooks;
    mutable std::mutex m;
    bool stopped = false;
    std::size_t first_round_pending = 0;
    // No list of the contexts here: each context holds the core (a cycle would leak both).
    std::map<node_name, target_state> targets;
  };

  class context final : public strategy_context, public std::enable_shared_from_this<context> {
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
        log(failures <= 1 ? log_level::warn : log_level::debug,
            format("unable to connect to {}", n));
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

  std::shared_ptr<core> core_;
  std::vector<std::unique_ptr<strategy_runner>> runners_;
  bool started_ = false;
};

}  // namespace nodus::cluster

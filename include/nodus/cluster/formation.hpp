// nodus/cluster/formation.hpp: the engine under a node's topology: runs its strategies, dials the
// nodes they want, logs like libcluster, retries, disconnects nodes a strategy saw vanish, and
// tells when every strategy finished its first round. The engine and the polling are compiled once
// (cluster/impl/formation.ipp); a strategy type adds only its thin runner.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>

#include "nodus/cluster/strategy.hpp"
#include "nodus/config.hpp"
#include "nodus/core/error.hpp"
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
NODUS_DECL result<node_target> parse_target(std::string_view text);

// resolve_host(ex, host, cb): cb(address or error) for an IP literal (at once) or a host name
// (the system resolver; the first answer).
NODUS_DECL void resolve_host(asio::any_io_executor ex, std::string host,
                             std::function<void(result<asio::ip::address>)> cb);

// targets_of(ctx, texts) -> the texts as targets; a text that is no node name is logged on ctx
// and skipped.
NODUS_DECL std::vector<node_target> targets_of(strategy_context& ctx,
                                               const std::vector<std::string>& texts);

// poll_loop: a strategy's polling, compiled once for all strategies: poll(ctx, done) now, and
// again every interval (the run-time override of cluster_options::interval, else the given one)
// after done(targets) handed its targets to ctx->set_nodes. stop() cancels the next round.
class poll_loop {
 public:
  using done_fn = std::function<void(std::vector<node_target>)>;
  using poll_fn = std::function<void(const std::shared_ptr<strategy_context>&, done_fn)>;

  NODUS_DECL void start(std::shared_ptr<strategy_context> ctx, std::chrono::milliseconds every,
                        bool disconnect_vanished, poll_fn poll);
  NODUS_DECL void stop();

 private:
  struct state;
  std::shared_ptr<state> s_;
};

// polled_runner<S>: calls S::nodes(ctx) every interval and hands the list to set_nodes.
template <class S>
class polled_runner final : public strategy_runner {
 public:
  [[nodiscard]] std::string_view label() const override { return S::label; }
  void start(std::shared_ptr<strategy_context> ctx) override {
    constexpr bool vanish = [] {
      if constexpr (requires { S::disconnect_vanished; }) {
        return static_cast<bool>(S::disconnect_vanished);
      } else {
        return false;
      }
    }();
    std::chrono::milliseconds every = cluster::detail::default_interval;
    if constexpr (requires { S::interval; }) every = S::interval;
    loop_.start(std::move(ctx), every, vanish,
                [strategy = S{}](const std::shared_ptr<strategy_context>& c,
                                 poll_loop::done_fn done) mutable {
                  done(targets_of(*c, strategy.nodes(*c)));
                });
  }
  void stop() override { loop_.stop(); }

 private:
  poll_loop loop_;
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

// runner_maker: makes a strategy's runner (the caller owns it); a topology lists one per strategy.
using runner_maker = strategy_runner* (*)();

template <class S>
strategy_runner* new_runner() {
  static_assert(pushing_strategy<S> || polled_strategy<S>,
                "a nodus strategy needs either start(std::shared_ptr<cluster::strategy_context>) "
                "and stop(), or std::vector<std::string> nodes(cluster::strategy_context&)");
  static_assert(
      requires { std::string_view(S::label); },
      "a nodus strategy needs `static constexpr std::string_view label` (its name in "
      "log lines), or wrap it: nodus::named<\"label\", S>");
  if constexpr (pushing_strategy<S>) {
    return new pushing_runner<S>();
  } else {
    return new polled_runner<S>();
  }
}

}  // namespace detail

// formation: the engine. Thread-safe. Create it with the node's hooks, add runners, start();
// stop() before the node closes its connections.
class formation {
 public:
  NODUS_DECL formation(asio::io_context& io, formation_hooks hooks);
  formation(const formation&) = delete;
  formation& operator=(const formation&) = delete;
  NODUS_DECL ~formation();

  NODUS_DECL void add(std::unique_ptr<strategy_runner> r);
  [[nodiscard]] std::size_t size() const noexcept { return runners_.size(); }

  // start(): starts every strategy (once).
  NODUS_DECL void start();

  // stop(): stops every strategy; later calls from them do nothing.
  NODUS_DECL void stop();

  // first_round_done() -> every strategy ran its first round of dials.
  [[nodiscard]] NODUS_DECL bool first_round_done() const;

  // wanted() -> the nodes some strategy wants now, sorted (for tests and diagnostics).
  [[nodiscard]] NODUS_DECL std::vector<node_name> wanted() const;

 private:
  class context;
  struct target_state;
  struct core;

  std::shared_ptr<core> core_;
  std::vector<std::unique_ptr<strategy_runner>> runners_;
  bool started_ = false;
};

}  // namespace nodus::cluster

#if defined(NODUS_HEADER_ONLY)
#include "nodus/cluster/impl/formation.ipp"
#endif

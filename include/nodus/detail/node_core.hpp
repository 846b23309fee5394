// nodus/detail/node_core.hpp: the part of a node that depends on neither its topology nor its
// protocol: the io_context and its threads, the life cycle, the distribution (listen, connect by
// name, the port mapper, sync_nodes) and the top of the supervision tree. node<Topology,
// Protocol> (nodus/node.hpp) is a thin typed layer over it. Compiled once with
// NODUS_SEPARATE_COMPILATION (nodus/impl/node_core.ipp); no network header here.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include "nodus/cluster/events.hpp"
#include "nodus/config.hpp"
#include "nodus/core/error.hpp"
#include "nodus/core/log.hpp"
#include "nodus/core/node_name.hpp"
#include "nodus/dist/distribution.hpp"
#include "nodus/options.hpp"
#include "nodus/process/detail/runtime.hpp"
#include "nodus/process/detail/unique_function.hpp"

namespace nodus::detail {

class supervisor_node;
class child_list;

// What the node keeps of its topology's cluster formation (cluster/formation.hpp).
class formation_handle {
 public:
  virtual ~formation_handle() = default;
  virtual void stop() = 0;
  [[nodiscard]] virtual bool first_round_done() const = 0;
};

// node_core: see the top of this file. Thread-safe unless noted.
class node_core {
 public:
  // node_core(opts, protocol fingerprint): a node named opts.name (nonode@nohost when empty);
  // a named node gets its distribution from the registered dist::factory.
  NODUS_DECL node_core(const options& opts, std::uint64_t protocol_fingerprint);
  node_core(const node_core&) = delete;
  node_core& operator=(const node_core&) = delete;
  // ~node_core(): stops the node (servers get terminate) and joins its threads.
  NODUS_DECL ~node_core();

  // ---- distribution (see node<>'s members of the same names) -----------------------------------
  NODUS_DECL result<void> listen();
  [[nodiscard]] NODUS_DECL std::uint16_t port() const;
  // start_connect(target, done): done(bool) once, from a thread of the node (or here).
  NODUS_DECL void start_connect(std::string_view target, std::function<void(bool)> done);
  NODUS_DECL bool connect(std::string_view target);
  NODUS_DECL bool disconnect(const node_name& to);
  [[nodiscard]] NODUS_DECL std::vector<node_name> list(node_kind which) const;
  [[nodiscard]] NODUS_DECL bool is_connected(const node_name& to) const;
  // when_writable(to, done): done(ok) on a thread of the node once the send queue of `to` is
  // below its busy limit; done(nodedown) when `to` is not connected (or goes down meanwhile).
  NODUS_DECL void when_writable(const node_name& to, std::function<void(result<void>)> done);
  [[nodiscard]] NODUS_DECL bool serves_port_mapper() const;
  NODUS_DECL void on_node_up(std::function<void(const node_up&)> cb);
  NODUS_DECL void on_node_down(std::function<void(const node_down&)> cb);
  // sync_nodes(): connects to options.sync_nodes_* until all are up or the timeout passes.
  NODUS_DECL result<void> sync_nodes();
  // dist() -> the distribution (nullptr without a name, or when none is registered).
  [[nodiscard]] dist::distribution* dist() const noexcept { return rt_.dist(); }

  // ---- cluster formation -----------------------------------------------------------------------
  // set_formation(f): the started formation of the topology (once); stopped at shutdown.
  NODUS_DECL bool set_formation(std::unique_ptr<formation_handle> f);
  [[nodiscard]] NODUS_DECL bool has_formation() const;
  [[nodiscard]] NODUS_DECL bool cluster_formed() const;
  // wait_first_round(): until the strategies ran their first round, or startup_wait passed.
  NODUS_DECL void wait_first_round();

  // ---- servers ---------------------------------------------------------------------------------
  // start_tree(top): starts the top supervisor (once); fails (and keeps nothing) when a child
  // fails to start.
  NODUS_DECL result<void> start_tree(child_list top);
  // spawn(cell): starts an unsupervised server and keeps it.
  NODUS_DECL result<void> spawn(std::unique_ptr<cell_base> cell);
  // blocking_error(server) -> why a blocking call to server cannot be made here, if it cannot.
  [[nodiscard]] NODUS_DECL std::optional<error> blocking_error(std::string_view server) const;
  // on_supervision(f): runs f(done) on the supervision strand and waits for done(result) (a
  // dynamic supervisor's operations); would_deadlock from a thread of the node.
  NODUS_DECL result<void> on_supervision(std::function<void(std::function<void(result<void>)>)> f);

  // ---- threads and life cycle ------------------------------------------------------------------
  NODUS_DECL result<void> run();
  NODUS_DECL void run_in_background();
  NODUS_DECL void stop();
  NODUS_DECL result<void> join();

  [[nodiscard]] runtime& rt() noexcept { return rt_; }
  [[nodiscard]] const runtime& rt() const noexcept { return rt_; }
  [[nodiscard]] const node_name& self() const noexcept { return rt_.self(); }
  [[nodiscard]] bool alive() const noexcept { return !opts_.name.empty(); }
  [[nodiscard]] logger& log() noexcept { return log_; }
  [[nodiscard]] asio::io_context& io() noexcept { return io_; }
  [[nodiscard]] const options& opts() const noexcept { return opts_; }

 private:
  // pump_until(ready): runs the node here until ready() when no thread runs it.
  NODUS_DECL void pump_until(const std::function<bool()>& ready);
  NODUS_DECL result<void> register_name();
  NODUS_DECL void run_io();
  NODUS_DECL void join_threads();
  NODUS_DECL result<void> exit_result();
  NODUS_DECL void on_top_exit(const error& e);
  NODUS_DECL void stop_spawned(std::size_t done_count);
  NODUS_DECL void finish();

  options opts_;
  logger log_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  runtime rt_;                    // owns the distribution
  std::optional<error> no_dist_;  // a named node without a registered distribution
  mutable std::mutex m_;
  bool registered_ = false;                      // with the port mapper
  std::unique_ptr<formation_handle> formation_;  // the topology's strategies
  std::unique_ptr<supervisor_node> top_;
  std::vector<std::unique_ptr<cell_base>> spawned_;
  std::vector<std::thread> threads_;
  std::optional<error> exit_;
  std::atomic<int> running_threads_{0};
  std::atomic<bool> stopping_{false};
};

}  // namespace nodus::detail

#if defined(NODUS_HEADER_ONLY)
#include "nodus/impl/node_core.ipp"
#endif

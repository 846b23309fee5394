// nodus/process/detail/runtime.hpp: what every server of a node shares: the io_context, the
// registry of local names, the call timeouts, the supervision strand, the logger.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <typeinfo>
#include <unordered_map>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/strand.hpp>

#include "nodus/cluster/events.hpp"
#include "nodus/config.hpp"
#include "nodus/core/error.hpp"
#include "nodus/core/format.hpp"
#include "nodus/core/log.hpp"
#include "nodus/core/node_name.hpp"
#include "nodus/core/telemetry.hpp"
#include "nodus/dist/distribution.hpp"
#include "nodus/process/detail/call_op.hpp"
#include "nodus/process/detail/unique_function.hpp"

namespace nodus::detail {

class runtime;
class dynamic_supervisor_node;  // process/supervisor.hpp

// instance_id: one instance of a named server, as its pids name it: its cell's number (from the
// registration) and its generation (runtime::pid_of).
struct instance_id {
  std::uint32_t number = 0;
  std::uint64_t generation = 0;
};

// cell_base: the runtime's record of one named server: its mailbox and its current instance.
// Lifecycle operations (start, stop) run on the supervision strand.
class cell_base {
 public:
  cell_base(const cell_base&) = delete;
  cell_base& operator=(const cell_base&) = delete;
  virtual ~cell_base() = default;

  [[nodiscard]] std::string_view name() const noexcept { return name_; }
  [[nodiscard]] const std::type_info& server_type() const noexcept { return type_; }
  // number() -> the number its registration got (from 1; 0 before): its pids' ID.
  [[nodiscard]] std::uint32_t number() const noexcept { return number_; }
  [[nodiscard]] runtime& rt() const noexcept { return rt_; }

  // start(): constructs a fresh instance and runs its init(); the cell must be stopped.
  virtual result<void> start() = 0;
  // stop(reason, done): terminates the instance after its current handler; done() runs on the
  // supervision strand once it is gone (at once when it is not running).
  virtual void stop(error reason, unique_function done) = 0;
  // running() -> an instance is alive and takes messages.
  [[nodiscard]] virtual bool running() const = 0;
  // generation() -> the number of the current (or last) instance, from 1.
  [[nodiscard]] virtual std::uint64_t generation() const = 0;

  // on_exit(generation, reason): called on the supervision strand when an instance crashes or
  // stops by itself.
  std::function<void(std::uint64_t, error)> on_exit;

  // drain(): handles queued messages; scheduled through schedule_drain() only.
  virtual void drain() = 0;

  // deliver_from_wire(m): queues a message from another node; an error says why it cannot be
  // taken (unknown message, malformed payload, not running). Calls answer through the wire.
  NODUS_DECL result<void> deliver_from_wire(const dist::inbound_message& m);
  // wire_delivery: decodes a message from another node for this cell's server type; set (by
  // node<Topology, Protocol>) only for servers that take messages of the node's protocol.
  using wire_delivery = result<void> (*)(cell_base& cell, const dist::inbound_message& m);
  void set_wire_delivery(wire_delivery f) noexcept { wire_ = f; }
  // deliver_term(m): the same for a message from a BEAM process (dist::erlang_inbound).
  NODUS_DECL result<void> deliver_term(const dist::erlang_inbound& m);
  // term_delivery: reads a BEAM process's message as one of this cell's server's message types;
  // set only for servers with messages of the node's protocol that travel as terms.
  using term_delivery = result<void> (*)(cell_base& cell, const dist::erlang_inbound& m);
  void set_term_delivery(term_delivery f) noexcept { term_ = f; }
  // notify(e, generation): a node_up / node_down for the instance `generation` (monitor_nodes).
  virtual void notify(const node_up& e, std::uint64_t generation) = 0;
  virtual void notify(const node_down& e, std::uint64_t generation) = 0;

 protected:
  cell_base(runtime& rt, std::string_view name, const std::type_info& type) noexcept
      : rt_(rt), name_(name), type_(type) {}
  // own_name(name): the cell is registered under name (a run-time name: a dynamic supervisor's
  // child) rather than its type's; before it starts.
  void own_name(std::string name) {
    owned_name_ = std::move(name);
    name_ = owned_name_;
  }

 private:
  friend class runtime;
  runtime& rt_;
  std::string_view name_;
  std::string owned_name_;  // empty unless own_name() was called
  const std::type_info& type_;
  std::uint32_t number_ = 0;  // set by runtime::register_name, under its mutex
  wire_delivery wire_ = nullptr;
  term_delivery term_ = nullptr;
};

// ready_cells: the cells that became ready while a drain ran on this thread. They are drained
// right after it in the same handler (like a scheduler picking the next runnable process) instead
// of each costing a handler run of its own (and, with a reactor, a poll).
struct ready_cells {
  asio::io_context* io = nullptr;
  std::vector<cell_base*> cells;
};
inline thread_local ready_cells* current_ready = nullptr;

// schedule_drain(cell): runs cell.drain() soon; the caller made sure it is not already scheduled.
NODUS_DECL void schedule_drain(asio::io_context& io, cell_base& cell);

// runtime: the shared services of one node, and its end of the distribution (which it owns).
// Thread-safe.
class runtime final : public dist::local_end {
 public:
  using node_up_callback = std::function<void(const nodus::node_up&)>;
  using node_down_callback = std::function<void(const nodus::node_down&)>;

  NODUS_DECL runtime(asio::io_context& io, node_name self, logger& log,
                     std::chrono::milliseconds default_call_timeout);
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;
  NODUS_DECL ~runtime() override;  // resets the distribution first: it calls back into this

  [[nodiscard]] asio::io_context& io() noexcept { return io_; }
  [[nodiscard]] auto& supervision() noexcept { return supervision_; }
  [[nodiscard]] call_timeouts& timeouts() noexcept { return timeouts_; }
  [[nodiscard]] const node_name& self() const noexcept { return self_; }
  [[nodiscard]] logger& log() const noexcept { return log_; }
  [[nodiscard]] std::chrono::milliseconds default_call_timeout() const noexcept {
    return default_call_timeout_;
  }
  // dist() -> the node's distribution, nullptr for a node without a name (or before listen()).
  [[nodiscard]] dist::distribution* dist() const noexcept {
    return dist_ready_.load(std::memory_order_acquire) ? dist_.get() : nullptr;
  }
  // set_dist(d): once, before any server may send to another node.
  void set_dist(std::unique_ptr<dist::distribution> d) noexcept {
    dist_ = std::move(d);
    dist_ready_.store(dist_ != nullptr, std::memory_order_release);
  }

  // dist::local_end: what the distribution hands to the node.
  NODUS_DECL result<void> deliver(const dist::inbound_message& m) override;
  NODUS_DECL result<void> deliver_term(const dist::erlang_inbound& m) override;
  [[nodiscard]] NODUS_DECL bool is_running(std::string_view name) const override;
  [[nodiscard]] NODUS_DECL std::string_view name_of(std::uint32_t number,
                                                    std::uint32_t serial) const override;
  NODUS_DECL void node_up(const nodus::node_up& e) override;
  NODUS_DECL void node_down(const nodus::node_down& e) override;
  // events() -> the node's telemetry (core/telemetry.hpp).
  [[nodiscard]] nodus::telemetry& events() noexcept override { return events_; }
  // runs(pid) -> pid is the running instance of a server of this node.
  [[nodiscard]] NODUS_DECL bool runs(const etf::pid& pid) const;
  // stop_instance(number, serial, why): stops that server instance of this node (if it still
  // runs).
  NODUS_DECL void stop_instance(std::uint32_t number, std::uint32_t serial,
                                const error& why) override;

  // subscribe(cell, generation): node_up / node_down go to cell's instance `generation`.
  NODUS_DECL void subscribe(cell_base& cell, std::uint64_t generation);
  // unsubscribe(cell): forgets cell (its server ended or left the node).
  NODUS_DECL void unsubscribe(cell_base& cell);
  // on_node_up / on_node_down(cb): callback subscriptions; cb runs on a connection's strand.
  NODUS_DECL void on_node_up(node_up_callback cb);
  NODUS_DECL void on_node_down(node_down_callback cb);
  [[nodiscard]] std::uint64_t next_call_id() noexcept {
    return call_ids_.fetch_add(1, std::memory_order_relaxed);
  }

  // register_name(cell): errc::already_registered when another cell holds the name.
  [[nodiscard]] NODUS_DECL result<void> register_name(cell_base& cell);
  NODUS_DECL void unregister_name(cell_base& cell);
  // add_dynamic(sup) -> false when a dynamic supervisor of that name is already on this node;
  // remove_dynamic(sup); find_dynamic(name) -> the running dynamic supervisor of that name, or
  // nullptr. Their lookups happen on the supervision strand, where they start and stop.
  [[nodiscard]] NODUS_DECL bool add_dynamic(std::string_view name, dynamic_supervisor_node* sup);
  NODUS_DECL void remove_dynamic(std::string_view name, dynamic_supervisor_node* sup);
  [[nodiscard]] NODUS_DECL dynamic_supervisor_node* find_dynamic(std::string_view name) const;
  // registry_version() -> changes whenever a name is registered or unregistered, on any node, so
  // that a lookup cached under one version is valid while it lasts.
  [[nodiscard]] std::uint64_t registry_version() const noexcept {
    return registry_version_.load(std::memory_order_acquire);
  }
  // whereis(name) -> the cell registered under name, or nullptr.
  [[nodiscard]] cell_base* whereis(std::string_view name) const {
    std::lock_guard lock(m_);
    auto it = names_.find(name);
    return it == names_.end() ? nullptr : it->second;
  }
  // pid_of(cell, generation) -> the pid of cell's instance generation, as BEAM processes see it:
  // {this node, the cell's number, the generation's low 32 bits, the distribution's creation}
  // (creation 0 on a node without distribution). Defined with the term format
  // (process/impl/term_delivery.ipp).
  [[nodiscard]] NODUS_DECL etf::pid pid_of(const cell_base& cell, std::uint64_t generation) const;
  [[nodiscard]] NODUS_DECL etf::pid pid_of(instance_id instance) const;
  // registered() -> the registered names, sorted.
  [[nodiscard]] NODUS_DECL std::vector<std::string> registered() const;

  // Whether a thread of this node is the current thread (blocking calls there would deadlock).
  [[nodiscard]] bool in_node_thread() const noexcept {
    return io_.get_executor().running_in_this_thread();
  }

 private:
  struct name_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  asio::io_context& io_;
  asio::strand<asio::io_context::executor_type> supervision_;
  call_timeouts timeouts_;
  node_name self_;
  logger& log_;
  std::chrono::milliseconds default_call_timeout_;
  std::atomic<std::uint64_t> call_ids_{1};
  NODUS_DECL static std::uint64_t next_registry_version() noexcept;
  std::atomic<std::uint64_t> registry_version_{next_registry_version()};
  mutable std::mutex m_;
  std::unordered_map<std::string_view, cell_base*, name_hash, std::equal_to<>> names_;
  std::unordered_map<std::uint32_t, cell_base*> numbers_;  // the registered cells by number()
  std::uint32_t next_number_ = 1;
  std::unordered_map<std::string, dynamic_supervisor_node*, name_hash, std::equal_to<>> dynamic_;

  struct subscriber {
    cell_base* cell;
    std::uint64_t generation;
  };
  // A callback subscription, up or down: one list of one type for both events (fewer
  // instantiations in every TU of a node than a list per event); fan_out copies the list of
  // pointers, never a callback.
  struct node_callback {
    node_up_callback up;
    node_down_callback down;
  };
  // fan_out(e): e to the monitoring servers, then to the callback subscriptions.
  template <class Event>
  void fan_out(const Event& e);
  std::mutex sub_m_;
  std::vector<subscriber> subscribers_;
  std::vector<std::shared_ptr<const node_callback>> callbacks_;

  nodus::telemetry events_;  // before the names and the distribution, which emit to it
  std::atomic<bool> dist_ready_{false};
  std::unique_ptr<dist::distribution> dist_;  // last: destroyed first, it calls back into this
};

}  // namespace nodus::detail

#if defined(NODUS_HEADER_ONLY)
#include "nodus/process/impl/runtime.ipp"
#endif

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
#include "nodus/core/error.hpp"
#include "nodus/core/format.hpp"
#include "nodus/core/log.hpp"
#include "nodus/core/node_name.hpp"
#include "nodus/process/detail/call_op.hpp"
#include "nodus/process/detail/unique_function.hpp"

namespace nodus::detail {

class runtime;
class distribution;

// What a native frame carries (see remote.hpp for the layout).
enum class wire_kind : std::uint8_t { call = 1, reply = 2, reply_error = 3, cast = 4, info = 5 };

// A message for a server from another node, handed to its cell.
struct remote_delivery {
  wire_kind kind{};
  std::uint64_t msg_id = 0;
  std::uint64_t call_id = 0;
  node_name from;
  std::span<const std::byte> payload;
  const std::shared_ptr<const void>* keep = nullptr;  // holds payload valid while held
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

  // deliver_remote(m): queues a message from another node; an error says why it cannot be taken
  // (unknown message, malformed payload, not running). Calls answer through the wire.
  virtual result<void> deliver_remote(const remote_delivery& m) = 0;
  // notify(e, generation): a node_up / node_down for the instance `generation` (monitor_nodes).
  virtual void notify(const node_up& e, std::uint64_t generation) = 0;
  virtual void notify(const node_down& e, std::uint64_t generation) = 0;

 protected:
  cell_base(runtime& rt, std::string_view name, const std::type_info& type) noexcept
      : rt_(rt), name_(name), type_(type) {}

 private:
  runtime& rt_;
  std::string_view name_;
  const std::type_info& type_;
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
inline void schedule_drain(asio::io_context& io, cell_base& cell) {
  if (current_ready != nullptr && current_ready->io == &io) {
    current_ready->cells.push_back(&cell);
  } else {
    asio::post(io, [&io, c = &cell] {
      ready_cells ready{&io, {}};
      ready_cells* prev = current_ready;
      current_ready = &ready;
      std::size_t next = 0;
      auto hand_off_the_rest = [&] {
        current_ready = prev;
        for (; next < ready.cells.size(); ++next) schedule_drain(io, *ready.cells[next]);
      };
      try {
        c->drain();
        // A bounded number of follow-ups in this handler; the rest get handlers of their own.
        while (next < ready.cells.size() && next < 64) ready.cells[next++]->drain();
      } catch (...) {  // a completion threw: it leaves run() like any handler's exception
        hand_off_the_rest();
        throw;
      }
      hand_off_the_rest();
    });
  }
}

// runtime: the shared services of one node. Thread-safe.
class runtime {
 public:
  runtime(asio::io_context& io, node_name self, logger& log,
          std::chrono::milliseconds default_call_timeout)
      : io_(io),
        supervision_(asio::make_strand(io)),
        timeouts_(io),
        self_(self),
        log_(log),
        default_call_timeout_(default_call_timeout) {}
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  [[nodiscard]] asio::io_context& io() noexcept { return io_; }
  [[nodiscard]] auto& supervision() noexcept { return supervision_; }
  [[nodiscard]] call_timeouts& timeouts() noexcept { return timeouts_; }
  [[nodiscard]] const node_name& self() const noexcept { return self_; }
  [[nodiscard]] logger& log() const noexcept { return log_; }
  [[nodiscard]] std::chrono::milliseconds default_call_timeout() const noexcept {
    return default_call_timeout_;
  }
  // dist() -> the node's distribution, nullptr for a node without a name.
  [[nodiscard]] distribution* dist() const noexcept { return dist_; }
  void set_dist(distribution* d) noexcept { dist_ = d; }
  [[nodiscard]] std::uint64_t next_call_id() noexcept {
    return call_ids_.fetch_add(1, std::memory_order_relaxed);
  }

  // register_name(cell): errc::already_registered when another cell holds the name.
  [[nodiscard]] result<void> register_name(cell_base& cell) {
    std::lock_guard lock(m_);
    auto [it, inserted] = names_.emplace(cell.name(), &cell);
    if (!inserted && it->second != &cell)
      return error(errc::already_registered,
                   format("a server named '{}' already runs on {}", cell.name(), self_));
    if (inserted) registry_version_.store(next_registry_version(), std::memory_order_release);
    return {};
  }
  void unregister_name(cell_base& cell) {
    std::lock_guard lock(m_);
    auto it = names_.find(cell.name());
    if (it != names_.end() && it->second == &cell) {
      names_.erase(it);
      registry_version_.store(next_registry_version(), std::memory_order_release);
    }
  }
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
  // registered() -> the registered names, sorted.
  [[nodiscard]] std::vector<std::string> registered() const;

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
  distribution* dist_ = nullptr;
  std::atomic<std::uint64_t> call_ids_{1};
  static std::uint64_t next_registry_version() noexcept {
    static std::atomic<std::uint64_t> counter{1};
    return counter.fetch_add(1, std::memory_order_relaxed);
  }
  std::atomic<std::uint64_t> registry_version_{next_registry_version()};
  mutable std::mutex m_;
  std::unordered_map<std::string_view, cell_base*, name_hash, std::equal_to<>> names_;
};

inline std::vector<std::string> runtime::registered() const {
  std::vector<std::string> out;
  {
    std::lock_guard lock(m_);
    for (const auto& [name, cell] : names_) out.emplace_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace nodus::detail

// nodus/process/detail/call_op.hpp: one outstanding call (its completion handler and its
// timeout), and the node-wide timeout lists.
//
// A call op is completed exactly once: by the reply, by the caller handle being dropped, by the
// server crashing, by the timeout or by shutdown; whoever claims it first delivers, the others do
// nothing. That is also what drops a late reply: the timeout claimed the op before the reply did.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <asio/associated_executor.hpp>
#include <asio/basic_waitable_timer.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/wait_traits.hpp>

#include "nodus/config.hpp"
#include "nodus/core/error.hpp"
#include "nodus/core/format.hpp"
#include "nodus/core/node_name.hpp"
#include "nodus/process/detail/unique_function.hpp"

namespace nodus::detail {

using clock = std::chrono::steady_clock;

// A steady timer bound to the io_context's own executor type: constructing asio::steady_timer
// converts that executor to asio::any_io_executor, the most expensive instantiation of a TU.
using steady_timer =
    asio::basic_waitable_timer<clock, asio::wait_traits<clock>, asio::io_context::executor_type>;

class call_timeouts;

// The type-independent part of a call op: refcount, claim flag, timeout-list links.
class call_op_base {
 public:
  call_op_base(const call_op_base&) = delete;
  call_op_base& operator=(const call_op_base&) = delete;

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
  // claim() -> true for the one party that may complete the op.
  [[nodiscard]] bool claim() noexcept { return !done_.exchange(true, std::memory_order_acq_rel); }
  [[nodiscard]] bool done() const noexcept { return done_.load(std::memory_order_acquire); }

  // fail(e): completes the op with e unless it was completed already.
  NODUS_DECL void fail(error e);

  [[nodiscard]] std::uint64_t id() const noexcept { return id_; }
  [[nodiscard]] const node_name& from() const noexcept { return *from_; }
  [[nodiscard]] std::string_view target() const noexcept { return target_; }
  // format_from(out): who waits, as a log line shows it: {n1@127.0.0.1, #call<17>} for a nodus
  // caller; a BEAM caller's gen_server From, {Pid, Tag}.
  NODUS_DECL virtual void format_from(std::string& out) const;

 protected:
  call_op_base(std::uint64_t id, const node_name* from, std::string_view target) noexcept
      : id_(id), from_(from), target_(target) {}
  virtual ~call_op_base() = default;
  virtual void deliver_error(error e) = 0;
  NODUS_DECL void unlink() noexcept;

 private:
  friend class call_timeouts;
  std::atomic<std::uint32_t> refs_{1};
  std::atomic<bool> done_{false};
  std::uint64_t id_;
  const node_name* from_;
  std::string_view target_;
  // Timeout-list links; guarded by the owning call_timeouts' mutex.
  call_timeouts* timeouts_ = nullptr;
  call_op_base* prev_ = nullptr;
  call_op_base* next_ = nullptr;
  void* list_ = nullptr;
  clock::time_point deadline_{};
};

// A call op that completes with result<Reply>.
template <class Reply>
class call_op : public call_op_base {
 public:
  // complete(r): delivers r unless the op was completed already.
  void complete(result<Reply> r) {
    if (claim()) {
      unlink();
      deliver(std::move(r));
    }
  }

 protected:
  using call_op_base::call_op_base;
  virtual void deliver(result<Reply>&& r) = 0;
  void deliver_error(error e) override { deliver(result<Reply>(std::move(e))); }
};

// completion_sink: while a server handles a message on this thread, the completions of calls whose
// handler runs on that node's io_context are collected here and run right after the message
// (outside the server's crash handling) instead of being posted: one handler run, and with it one
// reactor poll, less per call.
struct completion_sink {
  asio::io_context* io = nullptr;
  std::vector<unique_function> items;
};
inline thread_local completion_sink* current_sink = nullptr;

// run_sunk(sink): runs the collected completions; when one throws, the rest are posted and the
// exception leaves run() like any handler's.
NODUS_DECL void run_sunk(completion_sink& sink);

// The concrete op: hands Handler(result<Reply>) to the handler's associated executor.
template <class Reply, class Handler, class Executor>
class call_op_impl final : public call_op<Reply> {
 public:
  call_op_impl(Handler&& h, const Executor& ex, std::uint64_t id, const node_name* from,
               std::string_view target)
      : call_op<Reply>(id, from, target), handler_(static_cast<Handler&&>(h)), ex_(ex) {}

 private:
  void deliver(result<Reply>&& r) override {
    auto run = [h = std::move(handler_), r = std::move(r)]() mutable {
      std::move(h)(std::move(r));
    };
    if constexpr (std::is_same_v<Executor, asio::io_context::executor_type>) {
      if (current_sink != nullptr && &ex_.context() == current_sink->io) {
        current_sink->items.emplace_back(std::move(run));
        return;
      }
    }
    asio::post(ex_, std::move(run));
  }
  Handler handler_;
  Executor ex_;
};

// unique_callback<Arg>: owns any move-only callable taking Arg.
template <class Arg>
class unique_callback {
  struct base {
    virtual ~base() = default;
    virtual void call(Arg&& a) = 0;
  };
  template <class F>
  struct impl final : base {
    explicit impl(F&& f) : f_(static_cast<F&&>(f)) {}
    void call(Arg&& a) override { std::move(f_)(static_cast<Arg&&>(a)); }
    F f_;
  };

 public:
  template <class F>
  explicit unique_callback(F&& f) : p_(new impl<std::decay_t<F>>(static_cast<F&&>(f))) {}
  void operator()(Arg&& a) { p_->call(static_cast<Arg&&>(a)); }

 private:
  box<base> p_;
};

// The op of a handler that runs on a node's io_context (the default): one class per Reply type,
// the handler type-erased, instead of a class per handler type.
template <class Reply>
class io_call_op final : public call_op<Reply> {
 public:
  using executor_type = asio::io_context::executor_type;
  io_call_op(unique_callback<result<Reply>>&& h, const executor_type& ex, std::uint64_t id,
             const node_name* from, std::string_view target)
      : call_op<Reply>(id, from, target), handler_(std::move(h)), ex_(ex) {}

 private:
  void deliver(result<Reply>&& r) override {
    unique_function run([h = std::move(handler_), r = std::move(r)]() mutable { h(std::move(r)); });
    if (current_sink != nullptr && &ex_.context() == current_sink->io) {
      current_sink->items.push_back(std::move(run));
      return;
    }
    asio::post(ex_, std::move(run));
  }
  unique_callback<result<Reply>> handler_;
  executor_type ex_;
};

// make_call_op(handler, default_executor, ...) -> a new op owned by one reference.
template <class Reply, class Handler, class DefaultExecutor>
call_op<Reply>* make_call_op(Handler&& h, const DefaultExecutor& fallback, std::uint64_t id,
                             const node_name* from, std::string_view target) {
  using handler_type = std::decay_t<Handler>;
  auto ex = asio::get_associated_executor(h, fallback);
  if constexpr (std::is_same_v<decltype(ex), asio::io_context::executor_type>) {
    return new io_call_op<Reply>(unique_callback<result<Reply>>(static_cast<Handler&&>(h)), ex, id,
                                 from, target);
  } else {
    return new call_op_impl<Reply, handler_type, decltype(ex)>(static_cast<Handler&&>(h), ex, id,
                                                               from, target);
  }
}

// call_ref<Reply>: an owning reference to a call op (the caller side's share).
template <class Reply>
class call_ref {
 public:
  call_ref() = default;
  explicit call_ref(call_op<Reply>* op) noexcept : op_(op) {}
  call_ref(call_ref&& o) noexcept : op_(std::exchange(o.op_, nullptr)) {}
  call_ref& operator=(call_ref&& o) noexcept {
    if (this != &o) {
      reset();
      op_ = std::exchange(o.op_, nullptr);
    }
    return *this;
  }
  call_ref(const call_ref&) = delete;
  call_ref& operator=(const call_ref&) = delete;
  ~call_ref() { reset(); }

  void reset() noexcept {
    if (op_ != nullptr) std::exchange(op_, nullptr)->release();
  }
  [[nodiscard]] call_op<Reply>* get() const noexcept { return op_; }
  call_op<Reply>* operator->() const noexcept { return op_; }
  explicit operator bool() const noexcept { return op_ != nullptr; }

 private:
  call_op<Reply>* op_ = nullptr;
};

// call_timeouts: every outstanding call with a finite timeout, in one FIFO list per distinct
// timeout duration (so each list is ordered by deadline), and one timer armed for the earliest
// deadline. Adding to a list never re-arms the timer unless the new deadline is the earliest.
// Thread-safe.
class call_timeouts {
 public:
  explicit call_timeouts(asio::io_context& io) : timer_(io) {}
  call_timeouts(const call_timeouts&) = delete;
  call_timeouts& operator=(const call_timeouts&) = delete;
  NODUS_DECL ~call_timeouts();

  // add(op, timeout): the op fails with errc::timeout after timeout unless completed first.
  NODUS_DECL void add(call_op_base* op, std::chrono::nanoseconds timeout);
  // shutdown(): fails every outstanding op (and every later one) with errc::shutdown.
  NODUS_DECL void shutdown();
  // remove(op): unlinks op if it is linked, dropping the list's reference.
  NODUS_DECL void remove(call_op_base* op) noexcept;

 private:
  struct list {
    std::chrono::nanoseconds duration;
    call_op_base* head = nullptr;
    call_op_base* tail = nullptr;
  };

  NODUS_DECL list* list_for(std::chrono::nanoseconds d);
  NODUS_DECL static void unlink_locked(call_op_base* op) noexcept;
  NODUS_DECL std::vector<call_op_base*> take_all_locked();
  NODUS_DECL std::vector<call_op_base*> take_all();
  NODUS_DECL void arm_locked(clock::time_point at);
  NODUS_DECL void on_timer(clock::time_point fired_for);

  mutable std::mutex m_;
  std::vector<std::unique_ptr<list>> lists_;
  steady_timer timer_;
  bool armed_ = false;
  bool shut_down_ = false;
  clock::time_point armed_at_{};
};

}  // namespace nodus::detail

#if defined(NODUS_HEADER_ONLY)
#include "nodus/process/impl/call_op.ipp"
#endif

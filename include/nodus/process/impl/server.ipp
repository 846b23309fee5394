// nodus/process/impl/server.ipp: cell_common, the part of a server's cell that does not depend
// on its type (see process/server.hpp), and the mailbox's letter_queue. Included by that header in
// header-only mode, by nodus/impl/src.hpp otherwise.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include <cxxabi.h>

#include <asio/post.hpp>

#include "nodus/core/format.hpp"
#include "nodus/process/server.hpp"

namespace nodus::detail {

NODUS_DECL std::string describe_current_exception() {
  auto demangle = [](const char* mangled) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> p(
        abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
    return std::string(status == 0 && p ? p.get() : mangled);
  };
  try {
    throw;
  } catch (const std::exception& e) {
    return demangle(typeid(e).name()) + ": " + e.what();
  } catch (...) {
    const auto* t = abi::__cxa_current_exception_type();
    return t != nullptr ? "exception of type " + demangle(t->name()) : "unknown exception";
  }
}

NODUS_DECL std::byte* letter_queue::reserve_back() {
  if (tail_ < cap_) return slot(tail_);
  // Full: move the live envelopes to the front of a buffer twice their number (at least 8).
  const std::size_t live = tail_ - head_;
  const std::size_t cap = std::max<std::size_t>(8, 2 * live);
  static_assert(__STDCPP_DEFAULT_NEW_ALIGNMENT__ >= align);
  std::unique_ptr<std::byte, release> buf(static_cast<std::byte*>(::operator new(cap* stride_)));
  for (std::size_t i = 0; i < live; ++i) {
    std::byte* from = slot(head_ + i);
    std::byte* to = buf.get() + i * stride_;
    const letter_fn fn = fn_of(from);
    fn(letter_op::relocate, from + align, to + align);
    ::new (static_cast<void*>(to)) letter_fn(fn);
  }
  buf_ = std::move(buf);
  cap_ = cap;
  head_ = 0;
  tail_ = live;
  return slot(tail_);
}

NODUS_DECL void letter_queue::take_front(letter_op op, void* arg) {
  std::byte* s = slot(head_);
  // Out of the queue before its handler runs: what the handler does to this queue (an
  // end_instance failing the rest) does not see it again.
  if (++head_ == tail_) head_ = tail_ = 0;
  fn_of(s)(op, s + align, arg);
}

NODUS_DECL void letter_queue::append(letter_queue& other, std::size_t n) {
  for (; n > 0 && !other.empty(); --n) {
    std::byte* from = other.slot(other.head_);
    std::byte* to = reserve_back();
    const letter_fn fn = fn_of(from);
    if (++other.head_ == other.tail_) other.head_ = other.tail_ = 0;
    fn(letter_op::relocate, from + align, to + align);
    ::new (static_cast<void*>(to)) letter_fn(fn);
    ++tail_;
  }
}

NODUS_DECL letter_fn letter_queue::evict_first_except(letter_fn keep, void* storage) {
  std::size_t i = head_;
  while (i < tail_ && fn_of(slot(i)) == keep) ++i;
  if (i == tail_) return nullptr;
  const letter_fn fn = fn_of(slot(i));
  fn(letter_op::relocate, slot(i) + align, storage);
  // Close the gap: the envelopes before it (keep's) move one slot towards the back.
  for (std::size_t j = i; j > head_; --j) {
    std::byte* from = slot(j - 1);
    std::byte* to = slot(j);
    const letter_fn f = fn_of(from);
    f(letter_op::relocate, from + align, to + align);
    ::new (static_cast<void*>(to)) letter_fn(f);
  }
  if (++head_ == tail_) head_ = tail_ = 0;
  return fn;
}

NODUS_DECL void letter_queue::swap(letter_queue& other) noexcept {
  std::swap(buf_, other.buf_);
  std::swap(stride_, other.stride_);
  std::swap(cap_, other.cap_);
  std::swap(head_, other.head_);
  std::swap(tail_, other.tail_);
}

NODUS_DECL void letter_queue::clear() noexcept {
  while (!empty()) take_front(letter_op::destroy, nullptr);
}

NODUS_DECL void cell_common::task_letter(letter_op op, void* p, void* arg) {
  struct destroy_at_exit {
    task_envelope* env;
    ~destroy_at_exit() { env->~task_envelope(); }
  } guard{static_cast<task_envelope*>(p)};
  task_envelope& env = *guard.env;
  switch (op) {
    case letter_op::process: {
      auto& run = *static_cast<letter_run*>(arg);
      if (env.generation != run.cell->generation_.load(std::memory_order_relaxed)) return;
      try {
        env.fn();
      } catch (...) {
        run.crash = run.cell->crash_error("reply continuation", "");
      }
      break;
    }
    case letter_op::relocate: ::new (arg) task_envelope(std::move(env)); break;
    case letter_op::fail:
    case letter_op::destroy: break;
  }
}

NODUS_DECL void cell_common::drain() {
  // Sets current_sink for the scope.
  class sink_scope {
   public:
    explicit sink_scope(completion_sink& s) noexcept : prev_(current_sink) { current_sink = &s; }
    sink_scope(const sink_scope&) = delete;
    sink_scope& operator=(const sink_scope&) = delete;
    ~sink_scope() { current_sink = prev_; }

   private:
    completion_sink* prev_;
  };
  for (int budget = 256; budget > 0; --budget) {
    if (stop_requested_.load(std::memory_order_acquire)) {
      error reason;
      {
        std::lock_guard lock(m_);
        reason = stop_reason_;
      }
      end_instance(reason, end::stopped);
      return;
    }
    if (processing_.empty()) {
      std::lock_guard lock(m_);
      if (incoming_.empty()) {
        // stop() sets stop_requested_ under m_ and, seeing scheduled_, counts on this drain to
        // end the instance: it may have come after the check at the top of the loop.
        if (stop_requested_.load(std::memory_order_relaxed)) continue;
        scheduled_ = false;
        return;
      }
      if (bound_.limit == 0) {
        processing_.swap(incoming_);
      } else {
        // A bounded mailbox hands its letters over one at a time: those waiting stay in
        // incoming_, where the count sees them and drop_oldest reaches them.
        processing_.append(incoming_, 1);
        queued_.store(incoming_.size(), std::memory_order_relaxed);
      }
    }
    letter_run run{this, std::nullopt};
    {
      sink_scope scope(sink_);
      processing_.take_front(letter_op::process, &run);
    }
    if (run.crash || base_->stop_requested_) {
      // Once end_instance returns, a restarted instance may drain on another thread: take the
      // completions out of sink_ first.
      std::vector<unique_function> completions;
      completions.swap(sink_.items);
      if (run.crash) {
        log().error("{}", run.crash->message());
        end_instance(*run.crash, end::crashed);
      } else {
        end_instance(error(errc::ok, "normal"), end::self_stopped);
      }
      run_completions(completions, false);
      return;
    }
    run_completions(sink_.items, true);
  }
  post_drain();  // budget spent: let other servers run; scheduled_ stays true
}

NODUS_DECL result<void> cell_common::start_cell(server_base* (*make)(cell_common&),
                                                void (*init)(cell_common&,
                                                             std::optional<std::string>&)) {
  if (auto r = rt().register_name(*this); !r) return r;
  server_base* inst = nullptr;
  try {
    inst = make(*this);
  } catch (...) {
    return error(errc::init_failed,
                 format("'{}' could not be constructed: {}", name(), describe_current_exception()));
  }
  {
    std::lock_guard lock(m_);
    alive_ = true;
    scheduled_ = true;  // holds back the drain until init() has returned
  }
  const auto gen = generation_.fetch_add(1, std::memory_order_relaxed) + 1;
  inst->cell_ = this;
  inst->generation_ = gen;
  base_ = inst;
  std::optional<std::string> failed;  // why init failed
  try {
    init(*this, failed);
  } catch (...) {
    failed = describe_current_exception();
  }
  if (failed) {
    error e(errc::init_failed, format("'{}' init failed: {}", name(), *failed));
    end_instance(e, end::init_failed);
    return e;
  }
  std::lock_guard lock(m_);
  // A stop() during init() saw scheduled_ set and left the drain to end the instance.
  if (!incoming_.empty() || stop_requested_.load(std::memory_order_relaxed)) {
    post_drain();
  } else {
    scheduled_ = false;
  }
  return {};
}

NODUS_DECL void cell_common::destroy_cell(bool running) noexcept {
  try {
    if (running) end_instance(error(errc::shutdown, "the node is shutting down"), end::stopped);
    rt().unregister_name(*this);
    rt().unsubscribe(*this);
  } catch (...) {  // only allocation failures get here; a destructor must not throw
  }
}

NODUS_DECL void cell_common::end_instance(const error& reason, end how) {
  const std::uint32_t instance_serial = static_cast<std::uint32_t>(generation());
  if (how != end::init_failed) terminate_instance(reason);
  if (auto* d = rt().dist(); d != nullptr && how != end::init_failed) {
    // BEAM processes' monitors of it fire: normal, shutdown, or why it crashed.
    d->server_exited(name(), how == end::crashed   ? reason
                             : how == end::stopped ? error(errc::shutdown)
                                                   : error(errc::ok));
  }
  cancel_timers();
  rt().unsubscribe(*this);
  const error queued_error =
      how == end::crashed ? reason
      : how == end::stopped
          ? error(errc::shutdown, format("'{}' was stopped: {}", name(), reason.message()))
          : error(errc::noproc, format("'{}' stopped before handling the call", name()));
  unique_function done;
  {
    scoped_abandon_reason scope(&queued_error);
    reset_instance();
    std::lock_guard lock(m_);
    alive_ = false;
    scheduled_ = false;
    stop_requested_.store(false, std::memory_order_relaxed);
    // What is left to handle, in order: the rest of the drain's batch, then what came since.
    processing_.append(incoming_);
    queued_.store(0, std::memory_order_relaxed);  // failed below
    done = std::move(stop_done_);
  }
  // It leaves its process groups and global names once it no longer runs, so that a join racing
  // with its end (which checks that it runs after joining) leaves nothing behind.
  if (auto* d = rt().dist()) d->instance_ended(number(), instance_serial);
  if (crash_reply_) std::exchange(crash_reply_, {})();
  {
    // Callers captured by queued continuations fail with queued_error too.
    scoped_abandon_reason scope(&queued_error);
    while (!processing_.empty())
      processing_.take_front(letter_op::fail, const_cast<error*>(&queued_error));
  }
  after_end(how == end::crashed || how == end::self_stopped, reason, std::move(done));
}

NODUS_DECL void cell_common::stop(error reason, unique_function done) {
  std::unique_lock lock(m_);
  if (!alive_) {
    lock.unlock();
    asio::post(rt().supervision(), std::move(done));
    return;
  }
  stop_reason_ = std::move(reason);
  stop_done_ = std::move(done);
  stop_requested_.store(true, std::memory_order_release);
  if (!scheduled_) {
    scheduled_ = true;
    post_drain();
  }
}

NODUS_DECL error cell_common::full_error(bool evicted) const {
  const std::string_view policy = bound_.policy == overflow::drop_newest   ? "drop_newest"
                                  : bound_.policy == overflow::drop_oldest ? "drop_oldest"
                                                                           : "fail_sender";
  if (evicted) {
    return error(errc::mailbox_full,
                 format("'{}' on {} dropped it, the oldest of the {} messages its mailbox holds "
                        "at most, to make room (overflow::{})",
                        name(), rt().self(), bound_.limit, policy));
  }
  return error(errc::mailbox_full,
               format("'{}' on {} already holds {} messages, its mailbox's limit (overflow::{})",
                      name(), rt().self(), bound_.limit, policy));
}

NODUS_DECL void cell_common::fail_evicted(letter_fn fn, void* envelope) {
  const error e = full_error(true);
  fn(letter_op::fail, envelope, const_cast<error*>(&e));
}

NODUS_DECL bool cell_common::running() const {
  std::lock_guard lock(m_);
  return alive_;
}

NODUS_DECL void timer_state::cancel() {
  std::lock_guard lock(m);
  cancelled = true;
  timer.cancel();
}

NODUS_DECL std::shared_ptr<timer_state> timer_state::make(asio::io_context& io) {
  return std::make_shared<timer_state>(io);
}

NODUS_DECL void timer_state::arm(const std::shared_ptr<timer_state>& st, clock::time_point at) {
  std::lock_guard lock(st->m);
  if (st->cancelled) return;
  st->timer.expires_at(at);
  st->timer.async_wait([st, at](std::error_code ec) {
    if (ec) return;
    {
      std::lock_guard guard(st->m);
      if (st->cancelled) return;
    }
    st->fire();
    if (st->periodic && st->delivered) arm(st, at + st->period);
  });
}

NODUS_DECL void cell_common::add_timer(const std::shared_ptr<timer_state>& st) {
  std::lock_guard lock(timers_m_);
  std::erase_if(timers_, [](const auto& w) { return w.expired(); });
  timers_.push_back(st);
}

NODUS_DECL void cell_common::cancel_timers() {
  std::vector<std::weak_ptr<timer_state>> ts;
  {
    std::lock_guard lock(timers_m_);
    ts.swap(timers_);
  }
  for (auto& w : ts)
    if (auto t = w.lock()) t->cancel();
}

NODUS_DECL void cell_common::run_completions(std::vector<unique_function>& items, bool alive) {
  for (std::size_t i = 0; i < items.size(); ++i) {
    try {
      items[i]();
    } catch (...) {
      for (std::size_t j = i + 1; j < items.size(); ++j) asio::post(rt().io(), std::move(items[j]));
      items.clear();
      if (alive) post_drain();
      throw;
    }
  }
  items.clear();
}

NODUS_DECL error cell_common::crash_error(std::string_view handler,
                                          std::string_view message_type) const {
  return error(errc::server_crashed, format("'{}' on {}: {}({}) threw {}", name(), rt().self(),
                                            handler, message_type, describe_current_exception()));
}

NODUS_DECL void cell_common::after_end(bool exited, const error& reason, unique_function done) {
  const auto gen = generation_.load(std::memory_order_relaxed);
  if (exited && on_exit) {
    asio::post(rt().supervision(), unique_function([this, gen, reason] {
                 if (on_exit) on_exit(gen, reason);
               }));
  }
  if (done) asio::post(rt().supervision(), std::move(done));
}

}  // namespace nodus::detail

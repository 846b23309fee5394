// nodus/core/detail/deferred.hpp: work that a handler collects while it runs and then runs itself,
// instead of posting a handler for each piece. A network read that delivers a batch of frames
// drains the servers those frames made ready, then writes what they sent back, all in the read's
// own handler: a remote call costs no scheduler pass (and no extra reactor poll) between the
// frame's arrival and its reply's system call.
#pragma once

#include <cstddef>
#include <exception>
#include <vector>

namespace nodus::detail {

// deferred_work: a scope on one thread, for one execution context (compared by address: the
// io_context whose handlers the work would otherwise be posted to). Not thread-safe; lives on the
// stack of the handler that opened it.
class deferred_work {
 public:
  // item(arg, run_now): runs the work (true) or hands it off to its executor (false).
  using item_fn = void (*)(void* arg, bool run_now);

  // At most this many items run in one scope; the rest are handed off (fairness: one busy
  // connection does not keep a thread from the node's other handlers).
  static constexpr std::size_t max_run = 64;

  explicit deferred_work(const void* context) noexcept : context_(context), prev_(current_) {
    current_ = this;
  }
  deferred_work(const deferred_work&) = delete;
  deferred_work& operator=(const deferred_work&) = delete;
  // ~deferred_work(): closes the scope; what was not run is handed off.
  ~deferred_work() {
    current_ = prev_;
    hand_off(0);
  }

  // current(context) -> this thread's innermost open scope when it is for context, else null.
  [[nodiscard]] static deferred_work* current(const void* context) noexcept {
    return current_ != nullptr && current_->context_ == context ? current_ : nullptr;
  }

  void add(item_fn fn, void* arg) { items_.push_back({fn, arg}); }

  // run() -> the exception of an item that threw, else null: runs the items in order, those they
  // add too, up to max_run; after an exception (and past max_run) the rest are handed off. The
  // scope stays open while they run and closes here.
  [[nodiscard]] std::exception_ptr run() noexcept {
    std::exception_ptr thrown;
    std::size_t i = 0;
    for (; i < items_.size() && i < max_run; ++i) {
      try {
        items_[i].fn(items_[i].arg, true);
      } catch (...) {
        thrown = std::current_exception();
        ++i;
        break;
      }
    }
    current_ = prev_;
    hand_off(i);
    return thrown;
  }

 private:
  struct item {
    item_fn fn;
    void* arg;
  };
  // hand_off(from): hands off items [from, end) and forgets them all. Handing off must not throw.
  void hand_off(std::size_t from) noexcept {
    for (std::size_t i = from; i < items_.size(); ++i) items_[i].fn(items_[i].arg, false);
    items_.clear();
  }

  static inline thread_local deferred_work* current_ = nullptr;
  const void* context_;
  deferred_work* prev_;
  std::vector<item> items_;
};

}  // namespace nodus::detail

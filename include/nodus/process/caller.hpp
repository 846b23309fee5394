// nodus/process/caller.hpp: the handle a server gets for each call (Erlang's `from`).
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "nodus/core/error.hpp"
#include "nodus/core/format.hpp"
#include "nodus/core/node_name.hpp"
#include "nodus/process/detail/call_op.hpp"

namespace nodus {

namespace detail {
// While a crashing server's state is destroyed, the crash reason that unanswered callers get.
inline thread_local const error* abandon_reason = nullptr;

// scoped_abandon_reason: sets abandon_reason for the scope.
class scoped_abandon_reason {
 public:
  explicit scoped_abandon_reason(const error* e) noexcept : prev_(abandon_reason) {
    abandon_reason = e;
  }
  scoped_abandon_reason(const scoped_abandon_reason&) = delete;
  scoped_abandon_reason& operator=(const scoped_abandon_reason&) = delete;
  ~scoped_abandon_reason() { abandon_reason = prev_; }

 private:
  const error* prev_;
};
}  // namespace detail

// caller<Reply>: who is waiting for a reply to one call. Move-only. A handler that returns its
// reply never touches it; a handler that answers later moves it somewhere (the server's state) and
// calls reply() when ready (GenServer.reply). Dropping an unanswered caller fails the call at once:
// with errc::server_crashed and the crash reason when the server crashed, errc::no_reply otherwise.
// reply() may be called from any thread; only the first answer counts.
template <class Reply>
class caller {
 public:
  caller() = default;
  explicit caller(detail::call_ref<Reply> op) noexcept : op_(std::move(op)) {}
  caller(caller&&) noexcept = default;
  caller& operator=(caller&& o) noexcept {
    if (this != &o) {
      abandon();
      op_ = std::move(o.op_);
    }
    return *this;
  }
  caller(const caller&) = delete;
  caller& operator=(const caller&) = delete;
  ~caller() { abandon(); }

  // reply(r): answers the call with r.
  void reply(Reply r) {
    if (op_) {
      op_->complete(result<Reply>(std::move(r)));
      op_.reset();
    }
  }
  // reply_error(e): fails the call with e (the caller's result holds e).
  void reply_error(error e) {
    if (op_) {
      op_->fail(std::move(e));
      op_.reset();
    }
  }
  // pending() -> true until answered (or moved from).
  [[nodiscard]] bool pending() const noexcept { return static_cast<bool>(op_); }
  // node() -> the calling node. Requires pending().
  [[nodiscard]] const node_name& node() const noexcept { return op_->from(); }
  // id() -> the call's number, unique on the calling node. Requires pending().
  [[nodiscard]] std::uint64_t id() const noexcept { return op_->id(); }

  // Formats as `{n1@127.0.0.1, #call<17>}` (like Erlang's `from`); a BEAM process's call as its
  // gen_server From, `{<'e1@127.0.0.1'.91.0>, #Ref<'e1@127.0.0.1'.1.2.3>}`.
  friend void nodus_format(std::string& out, const caller& c) {
    if (!c.pending()) {
      out += "{answered}";
      return;
    }
    c.op_->format_from(out);
  }

 private:
  void abandon() noexcept {
    if (op_) {
      try {
        op_->fail(detail::abandon_reason != nullptr
                      ? *detail::abandon_reason
                      : error(errc::no_reply,
                              format("'{}' dropped the caller without replying", op_->target())));
      } catch (...) {  // allocation failure while building the message: fail without a reason
        op_->fail(error(errc::no_reply));
      }
      op_.reset();
    }
  }
  detail::call_ref<Reply> op_;
};

}  // namespace nodus

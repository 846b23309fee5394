// nodus/process/impl/call_op.ipp: the node-wide call timeout lists and the type-independent
// part of a call op (see process/detail/call_op.hpp). Included by that header in header-only
// mode, by nodus/impl/src.hpp otherwise.
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <asio/post.hpp>

#include "nodus/core/format.hpp"
#include "nodus/process/detail/call_op.hpp"

namespace nodus::detail {

NODUS_DECL void run_sunk(completion_sink& sink) {
  for (std::size_t i = 0; i < sink.items.size(); ++i) {
    try {
      sink.items[i]();
    } catch (...) {
      for (std::size_t j = i + 1; j < sink.items.size(); ++j) {
        asio::post(*sink.io, std::move(sink.items[j]));
      }
      sink.items.clear();
      throw;
    }
  }
  sink.items.clear();
}

NODUS_DECL call_timeouts::~call_timeouts() {
  for (auto* op : take_all()) op->release();
}

NODUS_DECL void call_timeouts::add(call_op_base* op, std::chrono::nanoseconds timeout) {
  const auto deadline = clock::now() + timeout;
  std::unique_lock lock(m_);
  if (shut_down_) {
    lock.unlock();
    op->fail(error(errc::shutdown, "the node is shutting down"));
    return;
  }
  list* l = list_for(timeout);
  op->add_ref();
  op->timeouts_ = this;
  op->list_ = l;
  op->deadline_ = deadline;
  op->prev_ = l->tail;
  op->next_ = nullptr;
  (l->tail != nullptr ? l->tail->next_ : l->head) = op;
  l->tail = op;
  if (!armed_ || deadline < armed_at_) arm_locked(deadline);
}

NODUS_DECL void call_timeouts::shutdown() {
  std::vector<call_op_base*> ops;
  {
    std::lock_guard lock(m_);
    shut_down_ = true;
    ops = take_all_locked();
    timer_.cancel();
    armed_ = false;
  }
  for (auto* op : ops) {
    op->fail(error(errc::shutdown, "the node is shutting down"));
    op->release();
  }
}

NODUS_DECL void call_timeouts::remove(call_op_base* op) noexcept {
  {
    std::lock_guard lock(m_);
    if (op->list_ == nullptr) return;
    unlink_locked(op);
  }
  op->release();
}

NODUS_DECL call_timeouts::list* call_timeouts::list_for(std::chrono::nanoseconds d) {
  for (auto& l : lists_)
    if (l->duration == d) return l.get();
  lists_.push_back(std::make_unique<list>(list{d}));
  return lists_.back().get();
}

NODUS_DECL void call_timeouts::unlink_locked(call_op_base* op) noexcept {
  auto* l = static_cast<list*>(op->list_);
  (op->prev_ != nullptr ? op->prev_->next_ : l->head) = op->next_;
  (op->next_ != nullptr ? op->next_->prev_ : l->tail) = op->prev_;
  op->prev_ = op->next_ = nullptr;
  op->list_ = nullptr;
}

NODUS_DECL std::vector<call_op_base*> call_timeouts::take_all_locked() {
  std::vector<call_op_base*> ops;
  for (auto& l : lists_) {
    while (l->head != nullptr) {
      auto* op = l->head;
      unlink_locked(op);
      ops.push_back(op);
    }
  }
  return ops;
}

NODUS_DECL std::vector<call_op_base*> call_timeouts::take_all() {
  std::lock_guard lock(m_);
  return take_all_locked();
}

NODUS_DECL void call_timeouts::arm_locked(clock::time_point at) {
  armed_ = true;
  armed_at_ = at;
  timer_.expires_at(at);
  timer_.async_wait([this, at](std::error_code ec) {
    if (!ec) on_timer(at);
  });
}

NODUS_DECL void call_timeouts::on_timer(clock::time_point fired_for) {
  std::vector<std::pair<call_op_base*, std::chrono::nanoseconds>> expired;
  {
    std::lock_guard lock(m_);
    if (!armed_ || armed_at_ != fired_for) return;  // re-armed meanwhile
    armed_ = false;
    const auto now = clock::now();
    std::optional<clock::time_point> next;
    for (auto& l : lists_) {
      while (l->head != nullptr && l->head->deadline_ <= now) {
        auto* op = l->head;
        unlink_locked(op);
        expired.emplace_back(op, l->duration);
      }
      if (l->head != nullptr && (!next || l->head->deadline_ < *next)) next = l->head->deadline_;
    }
    // Coalesce: never wake more often than once a millisecond for a stream of deadlines.
    if (next) arm_locked(std::max(*next, now + std::chrono::milliseconds(1)));
  }
  for (auto [op, timeout] : expired) {
    op->fail(error(errc::timeout,
                   nodus::format("no reply from '{}' within {}", op->target(),
                                 std::chrono::duration_cast<std::chrono::milliseconds>(timeout))));
    op->release();
  }
}

NODUS_DECL void call_op_base::unlink() noexcept {
  if (timeouts_ != nullptr) timeouts_->remove(this);
}

NODUS_DECL void call_op_base::format_from(std::string& out) const {
  format_to(out, "{{{}, #call<{}>}}", from(), id());
}

NODUS_DECL void call_op_base::fail(error e) {
  if (claim()) {
    unlink();
    deliver_error(std::move(e));
  }
}

}  // namespace nodus::detail

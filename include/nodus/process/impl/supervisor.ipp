// nodus/process/impl/supervisor.ipp: supervisor_node, a running supervisor (see
// process/supervisor.hpp). Included by that header in header-only mode, by nodus/impl/src.hpp
// otherwise.
#pragma once

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "nodus/core/format.hpp"
#include "nodus/process/supervisor.hpp"

namespace nodus::detail {

NODUS_DECL worker_node::worker_node(std::unique_ptr<cell_base> cell) : cell_(std::move(cell)) {
  cell_->on_exit = [this](std::uint64_t gen, error reason) {
    if (!up_ || gen != gen_) return;  // an instance we stopped or already replaced
    up_ = false;
    if (on_exit) on_exit(std::move(reason));
  };
}

NODUS_DECL void worker_node::start(std::function<void(result<void>)> done) {
  auto r = cell_->start();
  up_ = r.has_value();
  gen_ = cell_->generation();
  done(std::move(r));
}

NODUS_DECL void worker_node::stop(std::function<void()> done) {
  up_ = false;
  cell_->stop(error(errc::shutdown, "shutdown"), std::move(done));
}

NODUS_DECL std::string worker_node::describe() const { return format("'{}'", cell_->name()); }

NODUS_DECL std::optional<instance_id> worker_node::next_instance() {
  if (!cell_->rt().register_name(*cell_)) return std::nullopt;  // its number comes with the name
  return instance_id{cell_->number(), cell_->generation() + 1};
}

NODUS_DECL child_node* worker_node::make(cell_base* cell) {
  std::unique_ptr<cell_base> owned(cell);
  return new worker_node(std::move(owned));
}

NODUS_DECL child_list::child_list() noexcept = default;
NODUS_DECL child_list::child_list(child_list&& o) noexcept = default;
NODUS_DECL child_list::~child_list() = default;

NODUS_DECL void child_list::add(child_node* c) { add(std::unique_ptr<child_node>(c)); }

NODUS_DECL void child_list::add(std::unique_ptr<child_node> c) {
  children_.push_back(std::move(c));
}

NODUS_DECL void child_list::add(child_list&& l) {
  for (auto& c : l.children_) children_.push_back(std::move(c));
  l.children_.clear();
}

NODUS_DECL void child_list::set_last_restart(restart_type t) {
  if (!children_.empty()) children_.back()->restart = t;
}

NODUS_DECL child_list child_list::supervise(runtime& rt, strategy_kind kind,
                                            supervisor_flags flags) && {
  child_list top;
  top.add(std::make_unique<supervisor_node>(rt, kind, flags, std::move(children_)));
  children_.clear();
  return top;
}

NODUS_DECL std::unique_ptr<supervisor_node> child_list::take_supervisor() {
  if (children_.size() != 1) return nullptr;
  std::unique_ptr<supervisor_node> top(static_cast<supervisor_node*>(children_.front().release()));
  children_.clear();
  return top;
}

NODUS_DECL supervisor_node::supervisor_node(runtime& rt, strategy_kind kind, supervisor_flags flags,
                                            std::vector<std::unique_ptr<child_node>> children)
    : rt_(rt),
      kind_(kind),
      flags_(flags),
      children_(std::move(children)),
      up_(children_.size(), false),
      incarnation_(children_.size(), 0) {
  for (std::size_t i = 0; i < children_.size(); ++i)
    children_[i]->on_exit = [this, i](error reason) { child_exited(i, std::move(reason)); };
}

NODUS_DECL supervisor_node::~supervisor_node() = default;

NODUS_DECL void supervisor_node::start(std::function<void(result<void>)> done) {
  state_ = state::starting;
  restarts_.clear();
  pending_.clear();
  std::vector<std::size_t> all;
  for (std::size_t i = 0; i < children_.size(); ++i) all.push_back(i);
  start_sequence(std::move(all), 0,
                 [this, done = std::move(done)](const result<void>& r, std::size_t) {
                   if (r) {
                     state_ = state::running;
                     done({});
                     return;
                   }
                   // Stop the children started before the one that failed, then report.
                   stop_sequence(up_in_reverse(0), 0, [this, done, r] {
                     state_ = state::stopped;
                     done(r);
                   });
                 });
}

NODUS_DECL void supervisor_node::stop(std::function<void()> done) {
  state_ = state::stopping;
  stop_sequence(up_in_reverse(0), 0, [this, done = std::move(done)] {
    state_ = state::stopped;
    done();
  });
}

NODUS_DECL std::string supervisor_node::describe() const {
  std::string s = "supervisor(";
  s += kind_ == strategy_kind::one_for_one   ? "one_for_one"
       : kind_ == strategy_kind::one_for_all ? "one_for_all"
                                             : "rest_for_one";
  for (const auto& c : children_) {
    s += ", ";
    s += c->describe();
  }
  s += ")";
  return s;
}

NODUS_DECL std::vector<std::size_t> supervisor_node::up_in_reverse(std::size_t from) const {
  std::vector<std::size_t> v;
  for (std::size_t i = children_.size(); i-- > from;)
    if (up_[i]) v.push_back(i);
  return v;
}

NODUS_DECL void supervisor_node::start_sequence(std::vector<std::size_t> order, std::size_t k,
                                                start_done done) {
  if (k == order.size()) {
    done({}, order.empty() ? 0 : order.back() + 1);
    return;
  }
  const std::size_t i = order[k];
  children_[i]->start([this, order = std::move(order), k, i,
                       done = std::move(done)](const result<void>& r) mutable {
    if (!r) {
      done(r, i);  // the reason already names the server that failed
      return;
    }
    up_[i] = true;
    ++incarnation_[i];
    start_sequence(std::move(order), k + 1, std::move(done));
  });
}

NODUS_DECL void supervisor_node::stop_sequence(std::vector<std::size_t> order, std::size_t k,
                                               std::function<void()> done) {
  if (k == order.size()) {
    done();
    return;
  }
  const std::size_t i = order[k];
  up_[i] = false;
  children_[i]->stop([this, order = std::move(order), k, done = std::move(done)]() mutable {
    stop_sequence(std::move(order), k + 1, std::move(done));
  });
}

NODUS_DECL void supervisor_node::child_exited(std::size_t i, error reason) {
  if (state_ == state::stopping || state_ == state::stopped) return;
  if (state_ == state::restarting || state_ == state::starting) {
    pending_.push_back({i, incarnation_[i], std::move(reason)});
    return;
  }
  handle_exit(i, reason);
}

NODUS_DECL void supervisor_node::handle_exit(std::size_t i, const error& reason) {
  up_[i] = false;
  if (!restarted(children_[i]->restart, reason)) {
    // Not restarted: no restart counted, no sibling touched.
    rt_.log().info("{}: {} ended ({}) and is not restarted", describe(), children_[i]->describe(),
                   reason == errc::ok ? std::string("normal") : reason.message());
    return;
  }
  const auto now = clock::now();
  restarts_.push_back(now);
  while (!restarts_.empty() && now - restarts_.front() > flags_.period) restarts_.pop_front();
  if (static_cast<int>(restarts_.size()) > flags_.max_restarts) {
    give_up(i, reason);
    return;
  }
  rt_.log().info("{}: restarting {} after: {}", describe(), children_[i]->describe(),
                 reason.message());
  std::vector<std::size_t> to_stop;
  switch (kind_) {
    case strategy_kind::one_for_one: break;
    case strategy_kind::one_for_all: to_stop = up_in_reverse(0); break;
    case strategy_kind::rest_for_one: to_stop = up_in_reverse(i + 1); break;
  }
  // It and the siblings it stops, in start order, but temporary ones (OTP: never restarted,
  // even when a sibling's exit stopped them).
  std::vector<std::size_t> to_start{i};
  for (auto j = to_stop.rbegin(); j != to_stop.rend(); ++j) {
    if (children_[*j]->restart != restart_type::temporary) to_start.push_back(*j);
  }
  std::sort(to_start.begin(), to_start.end());
  state_ = state::restarting;
  stop_sequence(std::move(to_stop), 0, [this, to_start = std::move(to_start)]() mutable {
    start_sequence(std::move(to_start), 0, [this](const result<void>& r, std::size_t failed) {
      state_ = state::running;
      // A failed restart counts as another exit of that child.
      if (!r) pending_.push_front({failed, incarnation_[failed], r.error()});
      drain_pending();
    });
  });
}

NODUS_DECL void supervisor_node::drain_pending() {
  while (state_ == state::running && !pending_.empty()) {
    auto ev = std::move(pending_.front());
    pending_.pop_front();
    if (ev.incarnation == incarnation_[ev.child]) handle_exit(ev.child, ev.reason);
  }
}

NODUS_DECL void supervisor_node::give_up(std::size_t i, const error& reason) {
  error e(errc::supervisor_gave_up,
          format("{} reached its maximum restart intensity ({} restarts in {}); last exit of {}: "
                 "{}",
                 describe(), flags_.max_restarts, flags_.period, children_[i]->describe(),
                 reason.message()));
  rt_.log().error("{}", e.message());
  state_ = state::stopping;
  stop_sequence(up_in_reverse(0), 0, [this, e] {
    state_ = state::stopped;
    if (on_exit) on_exit(e);
  });
}

}  // namespace nodus::detail

// nodus/process/impl/dynamic_supervisor.ipp: dynamic_supervisor_node, a running
// dynamic_supervisor (see process/supervisor.hpp). Included by process/dynamic_supervisor.hpp in
// header-only mode (a program that does not use dynamic supervisors does not compile it), by
// nodus/impl/src.hpp otherwise.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "nodus/core/format.hpp"
#include "nodus/process/supervisor.hpp"

namespace nodus::detail {

// ---- dynamic_supervisor_node ------------------------------------------------------------------

// How long a retired child's cell outlives its end: a thread that looked it up just before it
// ended (a cast racing with the end) is done with it long before. Freed at the latest when the
// dynamic supervisor stops.
inline constexpr std::chrono::seconds retired_cell_grace{10};

NODUS_DECL dynamic_supervisor_node::dynamic_supervisor_node(runtime& rt, std::string_view name,
                                                            supervisor_flags flags,
                                                            std::size_t max_children)
    : rt_(rt), name_(name), flags_(flags), max_children_(max_children) {}

NODUS_DECL dynamic_supervisor_node::~dynamic_supervisor_node() { rt_.remove_dynamic(name_, this); }

NODUS_DECL std::string dynamic_supervisor_node::describe() const {
  return format("dynamic_supervisor '{}'", name_);
}

NODUS_DECL void dynamic_supervisor_node::start(std::function<void(result<void>)> done) {
  if (!rt_.add_dynamic(name_, this)) {
    done(error(errc::already_registered,
               format("a dynamic supervisor named '{}' already runs on {}", name_, rt_.self())));
    return;
  }
  restarts_.clear();
  running_ = true;
  done({});
}

NODUS_DECL void dynamic_supervisor_node::stop(std::function<void()> done) {
  running_ = false;
  rt_.remove_dynamic(name_, this);
  stop_from(0, [this, done = std::move(done)] {
    free_retired(true);
    done();
  });
}

// stop_from(n): stops the children from the last down to the n-th (in start order), forgetting
// them.
NODUS_DECL void dynamic_supervisor_node::stop_from(std::size_t n, std::function<void()> done) {
  if (children_.size() <= n) {
    done();
    return;
  }
  const std::size_t i = children_.size() - 1;
  children_[i].running = false;
  cell_base* c = children_[i].cell.get();
  c->stop(error(errc::shutdown, "shutdown"), [this, c, n, done = std::move(done)]() mutable {
    for (std::size_t j = 0; j < children_.size(); ++j) {
      if (children_[j].cell.get() == c) {
        retire(j);
        break;
      }
    }
    stop_from(n, std::move(done));
  });
}

NODUS_DECL result<void> dynamic_supervisor_node::start_child(restart_type type,
                                                             std::unique_ptr<cell_base> cell) {
  free_retired(false);
  if (!running_) {
    return error(errc::noproc, format("{} is not running on {}", describe(), rt_.self()));
  }
  if (max_children_ != 0 && children_.size() >= max_children_) {
    return error(errc::max_children, format("{} on {} already runs {} children, its maximum",
                                            describe(), rt_.self(), max_children_));
  }
  cell_base* c = cell.get();
  if (auto r = c->start(); !r) {
    if (r.error() != errc::already_registered) {
      // Its name was registered while init() ran: retired like an ended child.
      rt_.unregister_name(*c);
      retired_.emplace_back(clock::now(), std::move(cell));
    }
    return r;
  }
  c->on_exit = [this, c](std::uint64_t gen, error reason) { child_exited(c, gen, reason); };
  std::lock_guard lock(m_);
  children_.push_back({type, std::move(cell), c->generation(), true});
  return {};
}

NODUS_DECL void dynamic_supervisor_node::terminate_child(std::string_view name,
                                                         std::function<void(result<void>)> done) {
  free_retired(false);
  for (auto& e : children_) {
    if (e.cell->name() != name) continue;
    e.running = false;
    e.generation = 0;  // an exit reported meanwhile is not restarted
    cell_base* c = e.cell.get();
    c->stop(error(errc::shutdown, "terminated by its dynamic supervisor"),
            [this, c, done = std::move(done)] {
              for (std::size_t j = 0; j < children_.size(); ++j) {
                if (children_[j].cell.get() == c) {
                  retire(j);
                  break;
                }
              }
              done({});
            });
    return;
  }
  done(error(errc::noproc,
             format("{} on {} has no child named '{}'", describe(), rt_.self(), name)));
}

NODUS_DECL std::vector<child_info> dynamic_supervisor_node::which_children() const {
  std::lock_guard lock(m_);
  std::vector<child_info> out;
  out.reserve(children_.size());
  for (const auto& e : children_) {
    out.push_back({std::string(e.cell->name()), e.restart, e.running && e.cell->running()});
  }
  return out;
}

NODUS_DECL void dynamic_supervisor_node::child_exited(cell_base* cell, std::uint64_t gen,
                                                      const error& reason) {
  std::size_t i = 0;
  while (i < children_.size() && children_[i].cell.get() != cell) ++i;
  if (i == children_.size() || children_[i].generation != gen || !running_) return;
  auto& e = children_[i];
  e.running = false;
  if (!restarted(e.restart, reason)) {
    rt_.log().info("{}: '{}' ended ({}) and is not restarted", describe(), cell->name(),
                   reason == errc::ok ? std::string("normal") : reason.message());
    const std::string name(cell->name());
    retire(i);
    if (on_child_gone) on_child_gone(name, reason);
    return;
  }
  error why = reason;
  for (;;) {
    const auto now = clock::now();
    restarts_.push_back(now);
    while (!restarts_.empty() && now - restarts_.front() > flags_.period) restarts_.pop_front();
    if (static_cast<int>(restarts_.size()) > flags_.max_restarts) {
      give_up(error(
          errc::supervisor_gave_up,
          format("{} reached its maximum restart intensity ({} restarts in {}); last "
                 "exit of '{}': {}",
                 describe(), flags_.max_restarts, flags_.period, cell->name(), why.message())));
      return;
    }
    rt_.log().info("{}: restarting '{}' after: {}", describe(), cell->name(), why.message());
    auto r = cell->start();
    if (r) {
      std::lock_guard lock(m_);
      e.generation = cell->generation();
      e.running = true;
      return;
    }
    why = r.error();  // a failed restart counts as another exit
  }
}

NODUS_DECL void dynamic_supervisor_node::give_up(const error& reason) {
  rt_.log().error("{}", reason.message());
  running_ = false;
  rt_.remove_dynamic(name_, this);
  std::vector<std::string> names;
  for (const auto& e : children_) names.emplace_back(e.cell->name());
  stop_from(0, [this, reason, names = std::move(names)] {
    if (on_child_gone) {
      for (const auto& n : names) on_child_gone(n, reason);
    }
    if (on_exit) on_exit(reason);
  });
}

NODUS_DECL void dynamic_supervisor_node::retire(std::size_t i) {
  std::unique_ptr<cell_base> cell;
  {
    std::lock_guard lock(m_);
    cell = std::move(children_[i].cell);
    children_.erase(children_.begin() + static_cast<std::ptrdiff_t>(i));
  }
  rt_.unregister_name(*cell);  // its name is free for a new child at once
  retired_.emplace_back(clock::now(), std::move(cell));
}

NODUS_DECL void dynamic_supervisor_node::free_retired(bool all) {
  const auto now = clock::now();
  std::erase_if(retired_, [&](const auto& r) { return all || now - r.first > retired_cell_grace; });
}

}  // namespace nodus::detail

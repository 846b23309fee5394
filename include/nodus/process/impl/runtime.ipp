// nodus/process/impl/runtime.ipp: the runtime's non-template functions (see
// process/detail/runtime.hpp). Included by that header in header-only mode, by
// nodus/impl/src.hpp otherwise.
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <asio/post.hpp>

#include "nodus/core/detail/deferred.hpp"
#include "nodus/core/format.hpp"
#include "nodus/process/detail/runtime.hpp"

namespace nodus::detail {

// drain_here(io, cell): drains cell, then (bounded) the cells that became ready meanwhile, in this
// handler; the rest get handlers of their own. An exception (a completion threw) leaves it like
// any handler's, after the rest was handed off.
NODUS_DECL void drain_here(asio::io_context& io, cell_base& cell) {
  ready_cells ready{&io, {}};
  ready_cells* prev = current_ready;
  current_ready = &ready;
  std::size_t next = 0;
  auto hand_off_the_rest = [&] {
    current_ready = prev;
    for (; next < ready.cells.size(); ++next) schedule_drain(io, *ready.cells[next]);
  };
  try {
    cell.drain();
    while (next < ready.cells.size() && next < 64) ready.cells[next++]->drain();
  } catch (...) {
    hand_off_the_rest();
    throw;
  }
  hand_off_the_rest();
}

NODUS_DECL void post_drain_of(asio::io_context& io, cell_base& cell) {
  asio::post(io, [&io, c = &cell] { drain_here(io, *c); });
}

// A drain deferred by the handler that made the cell ready (core/detail/deferred.hpp).
NODUS_DECL void deferred_drain(void* arg, bool run_now) {
  auto& cell = *static_cast<cell_base*>(arg);
  if (run_now) {
    drain_here(cell.rt().io(), cell);
  } else {
    post_drain_of(cell.rt().io(), cell);
  }
}

NODUS_DECL void schedule_drain(asio::io_context& io, cell_base& cell) {
  if (current_ready != nullptr && current_ready->io == &io) {
    current_ready->cells.push_back(&cell);
  } else if (auto* d = deferred_work::current(static_cast<asio::execution_context*>(&io))) {
    d->add(&deferred_drain, &cell);
  } else {
    post_drain_of(io, cell);
  }
}

NODUS_DECL runtime::runtime(asio::io_context& io, node_name self, logger& log,
                            std::chrono::milliseconds default_call_timeout)
    : io_(io),
      supervision_(asio::make_strand(io)),
      timeouts_(io),
      self_(self),
      log_(log),
      default_call_timeout_(default_call_timeout),
      events_(log) {}

NODUS_DECL void runtime::stop_instance(std::uint32_t number, std::uint32_t serial,
                                       const error& why) {
  asio::post(supervision_, [this, number, serial, why] {
    const std::string_view name = name_of(number, serial);
    cell_base* c = name.empty() ? nullptr : whereis(name);
    if (c == nullptr) return;  // it ended already
    log_.warn("stopping '{}': {}", name, why.message());
    c->stop(why, [] {});
  });
}

NODUS_DECL runtime::~runtime() { dist_.reset(); }

NODUS_DECL std::uint64_t runtime::next_registry_version() noexcept {
  static std::atomic<std::uint64_t> counter{1};
  return counter.fetch_add(1, std::memory_order_relaxed);
}

template <class Event>
void runtime::fan_out(const Event& e) {
  std::vector<subscriber> subs;
  std::vector<std::shared_ptr<const node_callback>> cbs;
  {
    std::lock_guard lock(sub_m_);
    subs = subscribers_;
    cbs = callbacks_;
  }
  for (const auto& s : subs) s.cell->notify(e, s.generation);
  for (const auto& cb : cbs) {
    if constexpr (std::is_same_v<Event, nodus::node_up>) {
      if (cb->up) cb->up(e);
    } else {
      if (cb->down) cb->down(e);
    }
  }
}

NODUS_DECL result<void> runtime::deliver(const dist::inbound_message& m) {
  // Each thread remembers its last lookup under the registry version (which is unique across
  // nodes): a stream of frames to one server takes no lock and no hash.
  struct cached {
    std::uint64_t version = 0;
    std::string name;
    cell_base* cell = nullptr;
  };
  thread_local cached last;
  const auto version = registry_version();
  cell_base* c = nullptr;
  if (dist::pid_target_value pid; dist::parse_pid_target(m.target, pid)) {
    // An instance (a global name's holder): the cell whose running instance it is.
    const std::string_view name = name_of(pid.number, pid.serial);
    c = name.empty() ? nullptr : whereis(name);
    if (c == nullptr)
      return error(errc::noproc, format("that process no longer runs on {}", self_));
    return c->deliver_from_wire(m);
  }
  if (last.version == version && last.name == m.target) {
    c = last.cell;
  } else {
    c = whereis(m.target);
    last.version = version;
    last.name.assign(m.target);
    last.cell = c;
  }
  if (c == nullptr) {
    return error(errc::noproc, format("no server named '{}' on {}", m.target, self_));
  }
  return c->deliver_from_wire(m);
}

NODUS_DECL void runtime::node_up(const nodus::node_up& e) { fan_out(e); }

NODUS_DECL void runtime::node_down(const nodus::node_down& e) { fan_out(e); }

NODUS_DECL void runtime::subscribe(cell_base& cell, std::uint64_t generation) {
  std::lock_guard lock(sub_m_);
  for (auto& s : subscribers_) {
    if (s.cell == &cell) {
      s.generation = generation;
      return;
    }
  }
  subscribers_.push_back({&cell, generation});
}

NODUS_DECL void runtime::unsubscribe(cell_base& cell) {
  std::lock_guard lock(sub_m_);
  std::erase_if(subscribers_, [&](const subscriber& s) { return s.cell == &cell; });
}

NODUS_DECL void runtime::on_node_up(node_up_callback cb) {
  std::lock_guard lock(sub_m_);
  callbacks_.push_back(std::make_shared<const node_callback>(node_callback{std::move(cb), {}}));
}

NODUS_DECL void runtime::on_node_down(node_down_callback cb) {
  std::lock_guard lock(sub_m_);
  callbacks_.push_back(std::make_shared<const node_callback>(node_callback{{}, std::move(cb)}));
}

NODUS_DECL result<void> runtime::register_name(cell_base& cell) {
  std::lock_guard lock(m_);
  auto [it, inserted] = names_.emplace(cell.name(), &cell);
  if (!inserted && it->second != &cell)
    return error(errc::already_registered,
                 format("a server named '{}' already runs on {}", cell.name(), self_));
  if (inserted) {
    cell.number_ = next_number_++;
    numbers_[cell.number_] = &cell;
    registry_version_.store(next_registry_version(), std::memory_order_release);
  }
  return {};
}

NODUS_DECL void runtime::unregister_name(cell_base& cell) {
  std::lock_guard lock(m_);
  auto it = names_.find(cell.name());
  if (it != names_.end() && it->second == &cell) {
    names_.erase(it);
    numbers_.erase(cell.number_);
    registry_version_.store(next_registry_version(), std::memory_order_release);
  }
}

NODUS_DECL bool runtime::add_dynamic(std::string_view name, dynamic_supervisor_node* sup) {
  std::lock_guard lock(m_);
  auto [it, inserted] = dynamic_.emplace(std::string(name), sup);
  return inserted || it->second == sup;
}

NODUS_DECL void runtime::remove_dynamic(std::string_view name, dynamic_supervisor_node* sup) {
  std::lock_guard lock(m_);
  auto it = dynamic_.find(name);
  if (it != dynamic_.end() && it->second == sup) dynamic_.erase(it);
}

NODUS_DECL dynamic_supervisor_node* runtime::find_dynamic(std::string_view name) const {
  std::lock_guard lock(m_);
  auto it = dynamic_.find(name);
  return it == dynamic_.end() ? nullptr : it->second;
}

NODUS_DECL result<void> cell_base::deliver_from_wire(const dist::inbound_message& m) {
  if (wire_ == nullptr) {
    return error(errc::protocol_mismatch,
                 format("'{}' on {} takes no messages from other nodes (none of its messages is "
                        "in the node's nodus::protocol)",
                        name_, rt_.self()));
  }
  return wire_(*this, m);
}

NODUS_DECL result<void> cell_base::deliver_term(const dist::erlang_inbound& m) {
  if (term_ == nullptr) {
    return error(errc::protocol_mismatch,
                 format("'{}' on {} takes no messages from BEAM nodes (none of its messages is in "
                        "the node's nodus::protocol and travels as an Erlang term)",
                        name_, rt_.self()));
  }
  return term_(*this, m);
}

NODUS_DECL result<void> runtime::deliver_term(const dist::erlang_inbound& m) {
  cell_base* c = whereis(m.target);
  if (c == nullptr)
    return error(errc::noproc, format("no server named '{}' on {}", m.target, self_));
  return c->deliver_term(m);
}

NODUS_DECL std::string_view runtime::name_of(std::uint32_t number, std::uint32_t serial) const {
  cell_base* c = nullptr;
  {
    std::lock_guard lock(m_);
    auto it = numbers_.find(number);
    if (it == numbers_.end()) return {};
    c = it->second;
  }
  if (!c->running() || static_cast<std::uint32_t>(c->generation()) != serial) return {};
  return c->name();
}

NODUS_DECL bool runtime::is_running(std::string_view name) const {
  const cell_base* c = whereis(name);
  return c != nullptr && c->running();
}

NODUS_DECL std::vector<std::string> runtime::registered() const {
  std::vector<std::string> out;
  {
    std::lock_guard lock(m_);
    for (const auto& [name, cell] : names_) out.emplace_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace nodus::detail

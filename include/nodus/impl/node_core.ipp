// nodus/impl/node_core.ipp: the definitions of nodus/detail/node_core.hpp (included by it when
// header-only, by nodus/impl/src.hpp otherwise). No network header: the distribution comes from
// the registered dist::factory.
#pragma once

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <asio/post.hpp>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/resource.h>

#include <climits>  // OPEN_MAX (macOS)
#endif

#include "nodus/core/format.hpp"
#include "nodus/detail/node_core.hpp"
#include "nodus/epmd/port.hpp"
#include "nodus/process/detail/waiter.hpp"
#include "nodus/process/supervisor.hpp"

namespace nodus::detail {

NODUS_DECL node_core::node_core(const options& opts, std::uint64_t protocol_fingerprint)
    : opts_(opts),
      work_(asio::make_work_guard(io_)),
      rt_(io_, opts_.name.empty() ? node_name::parse("nonode@nohost").value() : opts_.name, log_,
          opts_.call_timeout) {
  log_.set_level(opts_.level);
  if (opts_.epmd_port == 0) opts_.epmd_port = epmd::port_from_env();
  apply_cluster_env(opts_, log_);
  if (opts_.name.empty()) return;
  auto make = dist::registered_factory();
  if (make == nullptr) {
    no_dist_ = error(errc::not_connected,
                     format("{} has a name but no distribution: include <nodus/nodus.hpp> (or "
                            "<nodus/dist/native_distribution.hpp>) in one file of the program, "
                            "or link nodus::compiled",
                            opts_.name));
    return;
  }
  dist::settings s;
  s.self = opts_.name;
  s.cookie = opts_.cookie;
  s.address = opts_.address;
  s.port = opts_.port;
  s.hidden = opts_.hidden;
  s.ticktime = opts_.net_ticktime;
  s.setup_timeout = opts_.net_setuptime;
  s.connect_resend = opts_.net_connect_resend;
  s.max_frame_size = opts_.max_frame_size;
  s.busy_limit = opts_.dist_buf_busy_limit;
  s.tls = opts_.tls;
  s.protocol_fingerprint = protocol_fingerprint;
  s.use_epmd = opts_.epmd;
  s.epmd_port = opts_.epmd_port;
  rt_.set_dist(make(io_, rt_, log_, std::move(s)));
}

NODUS_DECL node_core::~node_core() {
  try {
    stop();
    join_threads();
    std::lock_guard lock(m_);
    top_.reset();
    spawned_.clear();
  } catch (...) {  // only allocation or thread failures get here; a destructor must not throw
  }
}

// raise_descriptor_limit(log): a distributed node holds a descriptor per peer and per connection
// being set up (a flood of them included), so it raises its soft RLIMIT_NOFILE to the hard limit
// (the BEAM sizes its port table from that limit; shells and services often start programs at a
// soft 1024 under a hard limit far higher). Process-wide and idempotent; a failure is logged and
// the node runs with the limit it has.
NODUS_DECL void raise_descriptor_limit(logger& log) {
#if defined(__unix__) || defined(__APPLE__)
  rlimit l{};
  if (::getrlimit(RLIMIT_NOFILE, &l) != 0 || l.rlim_cur == RLIM_INFINITY) return;
  rlim_t target = l.rlim_max;
#if defined(__APPLE__)
  if (target == RLIM_INFINITY || target > OPEN_MAX) target = OPEN_MAX;  // macOS refuses more
#endif
  if (target == RLIM_INFINITY || target <= l.rlim_cur) return;
  const rlim_t before = l.rlim_cur;
  l.rlim_cur = target;
  if (::setrlimit(RLIMIT_NOFILE, &l) != 0) {
    log.debug("could not raise the descriptor limit (RLIMIT_NOFILE) from {} to {}",
              static_cast<unsigned long long>(before), static_cast<unsigned long long>(target));
    return;
  }
  log.debug("raised the descriptor limit (RLIMIT_NOFILE) from {} to {}",
            static_cast<unsigned long long>(before), static_cast<unsigned long long>(target));
#else
  (void)log;
#endif
}

NODUS_DECL result<void> node_core::listen() {
  if (no_dist_) return *no_dist_;
  auto* d = dist();
  if (d == nullptr) return {};
  raise_descriptor_limit(log_);
  if (auto r = d->listen(); !r) return r;
  return register_name();
}

NODUS_DECL std::uint16_t node_core::port() const {
  auto* d = dist();
  return d != nullptr ? d->port() : 0;
}

NODUS_DECL result<void> node_core::register_name() {
  {
    std::lock_guard lock(m_);
    if (registered_) return {};
  }
  waiter_ptr<result<void>> w;
  dist()->register_name(waiter_setter<result<void>>(w));
  pump_until([&w] { return w.ready(); });
  auto r = w.wait();
  if (!r) return error(errc::shutdown, "the node stopped while registering with EPMD");
  if (!*r) return std::move(*r);
  std::lock_guard lock(m_);
  registered_ = true;
  return {};
}

NODUS_DECL void node_core::start_connect(std::string_view target, std::function<void(bool)> done) {
  auto* d = dist();
  if (d == nullptr) {
    log_.error("connect({}): {} is not distributed (no name) or not listening", target, rt_.self());
    done(false);
    return;
  }
  d->connect(target, std::move(done));
}

NODUS_DECL void node_core::when_writable(const node_name& to,
                                         std::function<void(result<void>)> done) {
  auto* d = dist();
  auto finish = [this, to, done = std::move(done)] {
    if (is_connected(to)) {
      done(result<void>{});
    } else {
      done(error(errc::nodedown, format("{} is not connected to {}", rt_.self(), to)));
    }
  };
  if (d == nullptr) {
    asio::post(io_, std::move(finish));
    return;
  }
  d->when_writable(to, std::move(finish));
}

NODUS_DECL bool node_core::connect(std::string_view target) {
  if (rt_.in_node_thread()) {
    log_.error("connect({}) from a thread of {} would deadlock; use async_connect", target,
               rt_.self());
    return false;
  }
  waiter_ptr<bool> w;
  start_connect(target, waiter_setter<bool>(w));
  pump_until([&w] { return w.ready(); });
  auto r = w.wait();
  return r && *r;
}

NODUS_DECL bool node_core::disconnect(const node_name& to) {
  auto* d = dist();
  return d != nullptr && d->disconnect(to);
}

NODUS_DECL std::vector<node_name> node_core::list(node_kind which) const {
  auto* d = dist();
  return d != nullptr ? d->list(which) : std::vector<node_name>{};
}

NODUS_DECL bool node_core::is_connected(const node_name& to) const {
  auto* d = dist();
  return d != nullptr && d->is_connected(to);
}

NODUS_DECL bool node_core::serves_port_mapper() const {
  auto* d = dist();
  return d != nullptr && d->serves_port_mapper();
}

NODUS_DECL void node_core::on_node_up(std::function<void(const node_up&)> cb) {
  if (alive()) rt_.on_node_up(std::move(cb));
}
NODUS_DECL void node_core::on_node_down(std::function<void(const node_down&)> cb) {
  if (alive()) rt_.on_node_down(std::move(cb));
}

NODUS_DECL void node_core::pump_until(const std::function<bool()>& ready) {
  if (running_threads_.load() != 0) return;
  if (io_.stopped()) io_.restart();
  while (!ready()) io_.run_one_for(std::chrono::milliseconds(50));
}

// Retries every 100 ms, since the others may still be starting.
NODUS_DECL result<void> node_core::sync_nodes() {
  std::vector<std::string> all = opts_.sync_nodes_mandatory;
  all.insert(all.end(), opts_.sync_nodes_optional.begin(), opts_.sync_nodes_optional.end());
  if (all.empty() || dist() == nullptr) return {};
  const auto deadline = std::chrono::steady_clock::now() + opts_.sync_nodes_timeout;
  std::vector<bool> up(all.size(), false);
  for (;;) {
    std::vector<std::optional<waiter_ptr<bool>>> ws(all.size());
    for (std::size_t i = 0; i < all.size(); ++i) {
      if (up[i]) continue;
      ws[i].emplace();
      start_connect(all[i], waiter_setter<bool>(*ws[i]));
    }
    for (std::size_t i = 0; i < all.size(); ++i) {
      if (!ws[i]) continue;
      pump_until([&w = *ws[i]] { return w.ready(); });
      auto r = ws[i]->wait();
      up[i] = r && *r;
    }
    const bool done = std::find(up.begin(), up.end(), false) == up.end();
    if (done || std::chrono::steady_clock::now() >= deadline) break;
    const auto pause = std::min<std::chrono::steady_clock::duration>(
        std::chrono::milliseconds(100), deadline - std::chrono::steady_clock::now());
    if (running_threads_.load() == 0) {
      if (io_.stopped()) io_.restart();
      io_.run_for(pause);
    } else {
      std::this_thread::sleep_for(pause);  // a retry interval, not a synchronisation
    }
  }
  for (std::size_t i = 0; i < opts_.sync_nodes_mandatory.size(); ++i) {
    if (!up[i]) {
      return error(errc::nodedown, format("sync_nodes_mandatory: {} did not connect within {}",
                                          all[i], opts_.sync_nodes_timeout));
    }
  }
  return {};
}

NODUS_DECL bool node_core::set_formation(std::unique_ptr<formation_handle> f) {
  std::lock_guard lock(m_);
  if (formation_) return false;
  formation_ = std::move(f);
  return true;
}

NODUS_DECL bool node_core::has_formation() const {
  std::lock_guard lock(m_);
  return formation_ != nullptr;
}

NODUS_DECL bool node_core::cluster_formed() const {
  std::lock_guard lock(m_);
  return !formation_ || formation_->first_round_done();
}

NODUS_DECL void node_core::wait_first_round() {
  const auto deadline = std::chrono::steady_clock::now() + opts_.cluster.startup_wait;
  while (!cluster_formed() && std::chrono::steady_clock::now() < deadline) {
    if (running_threads_.load() == 0) {
      if (io_.stopped()) io_.restart();
      io_.run_one_for(std::chrono::milliseconds(10));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));  // a bounded poll
    }
  }
  if (!cluster_formed()) {
    log_.warn("{}: the cluster's first round of connects did not finish within {}", rt_.self(),
              opts_.cluster.startup_wait);
  }
}

NODUS_DECL result<void> node_core::start_tree(child_list tree) {
  auto top = tree.take_supervisor();
  if (!top) return error(errc::init_failed, "the supervision tree has no top supervisor");
  supervisor_node* t = nullptr;
  {
    std::lock_guard lock(m_);
    if (top_) return error(errc::already_registered, "the node already has a top supervisor");
    top_ = std::move(top);
    top_->on_exit = [this](const error& e) { on_top_exit(e); };
    t = top_.get();
  }
  auto r =
      on_supervision([t](std::function<void(result<void>)> done) { t->start(std::move(done)); });
  if (!r) {
    std::lock_guard lock(m_);
    top_.reset();
  }
  return r;
}

NODUS_DECL result<void> node_core::spawn(std::unique_ptr<cell_base> cell) {
  auto* c = cell.get();
  auto r = on_supervision([c](const std::function<void(result<void>)>& done) { done(c->start()); });
  if (r) {
    std::lock_guard lock(m_);
    spawned_.push_back(std::move(cell));
  }
  return r;
}

NODUS_DECL std::optional<error> node_core::blocking_error(std::string_view server) const {
  if (rt_.in_node_thread())
    return error(
        errc::would_deadlock,
        format("blocking call to '{}' from a thread of {}; use async_call", server, rt_.self()));
  if (running_threads_.load() == 0)
    return error(errc::not_running, format("no thread runs {}", rt_.self()));
  return std::nullopt;
}

NODUS_DECL result<void> node_core::on_supervision(
    std::function<void(std::function<void(result<void>)>)> f) {
  if (rt_.in_node_thread())
    return error(errc::would_deadlock, "starting servers from a thread of the node");
  waiter_ptr<result<void>> w;
  // The setter is made here: a handler dropped unrun (the node stopping) abandons the wait.
  asio::post(rt_.supervision(), [f = std::move(f), set = waiter_setter<result<void>>(w)]() mutable {
    f(std::move(set));
  });
  if (running_threads_.load() == 0) {
    if (io_.stopped()) io_.restart();
    while (!w.ready()) io_.run_one();
  }
  if (auto r = w.wait()) return std::move(*r);
  return error(errc::shutdown, "the node stopped while starting");
}

NODUS_DECL result<void> node_core::run() {
  std::vector<std::thread> extra;
  running_threads_.fetch_add(static_cast<int>(opts_.threads));
  for (unsigned i = 1; i < opts_.threads; ++i) extra.emplace_back([this] { run_io(); });
  run_io();
  for (auto& t : extra) t.join();
  return exit_result();
}

NODUS_DECL void node_core::run_in_background() {
  std::lock_guard lock(m_);
  running_threads_.fetch_add(static_cast<int>(opts_.threads));
  for (unsigned i = 0; i < opts_.threads; ++i) threads_.emplace_back([this] { run_io(); });
}

NODUS_DECL void node_core::stop() {
  if (stopping_.exchange(true)) return;
  asio::post(rt_.supervision(), [this] { stop_spawned(0); });
  if (running_threads_.load() == 0) {
    // Nobody runs the node: run the shutdown here.
    if (io_.stopped()) io_.restart();
    io_.run();
  }
}

NODUS_DECL result<void> node_core::join() {
  join_threads();
  return exit_result();
}

// run_io(): one thread's share; the spawner counted it in running_threads_ beforehand.
NODUS_DECL void node_core::run_io() {
  if (opts_.busy_poll.count() <= 0) {
    io_.run();
  } else {
    // poll() runs the ready handlers and asks the reactor for events without blocking; only
    // after busy_poll without any does the thread block (run_one), then it spins again.
    const auto spin = opts_.busy_poll;
    while (!io_.stopped()) {
      auto idle_since = std::chrono::steady_clock::now();
      while (!io_.stopped()) {
        if (io_.poll() > 0) {
          idle_since = std::chrono::steady_clock::now();
        } else if (std::chrono::steady_clock::now() - idle_since >= spin) {
          break;
        } else {
          std::this_thread::yield();  // a peer sharing this CPU runs meanwhile
        }
      }
      if (io_.run_one() == 0) break;  // stopped: no work left
    }
  }
  running_threads_.fetch_sub(1);
}

NODUS_DECL void node_core::join_threads() {
  std::vector<std::thread> ts;
  {
    std::lock_guard lock(m_);
    ts.swap(threads_);
  }
  for (auto& t : ts)
    if (t.joinable()) t.join();
}

NODUS_DECL result<void> node_core::exit_result() {
  std::lock_guard lock(m_);
  if (exit_) return *exit_;
  return {};
}

NODUS_DECL void node_core::on_top_exit(const error& e) {
  {
    std::lock_guard lock(m_);
    exit_ = e;
  }
  log_.error("{} stops: {}", rt_.self(), e.message());
  stopping_ = true;
  stop_spawned(0);
}

// stop_spawned(n): on the supervision strand: stop the unsupervised servers (the last first),
// then the tree.
NODUS_DECL void node_core::stop_spawned(std::size_t done_count) {
  cell_base* c = nullptr;
  {
    std::lock_guard lock(m_);
    if (done_count < spawned_.size()) c = spawned_[spawned_.size() - 1 - done_count].get();
  }
  if (c != nullptr) {
    c->stop(error(errc::shutdown, "shutdown"),
            [this, done_count] { stop_spawned(done_count + 1); });
    return;
  }
  supervisor_node* top = nullptr;
  {
    std::lock_guard lock(m_);
    top = top_.get();
  }
  if (top != nullptr) {
    top->stop([this] { finish(); });
  } else {
    finish();
  }
}

// finish(): close the connections, fail outstanding calls and let io_context::run() return
// once idle.
NODUS_DECL void node_core::finish() {
  {
    std::lock_guard lock(m_);
    if (formation_) formation_->stop();
  }
  if (auto* d = dist()) d->shutdown();
  rt_.timeouts().shutdown();
  work_.reset();
}

}  // namespace nodus::detail

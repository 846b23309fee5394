// nodus/process/impl/singleton.ipp: singleton<S>'s child (see process/supervisor.hpp), over
// the cluster-wide names. Included by nodus/process/global.hpp in header-only mode (a program of
// local servers does not compile it), by nodus/impl/src.hpp otherwise.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include "nodus/core/format.hpp"
#include "nodus/core/telemetry.hpp"
#include "nodus/dist/global_names.hpp"
#include "nodus/process/global.hpp"
#include "nodus/process/supervisor.hpp"

namespace nodus::detail {

// ---- singleton_node ---------------------------------------------------------------------------

NODUS_DECL singleton_node::singleton_node(runtime& rt, std::string_view name,
                                          std::unique_ptr<child_node> worker)
    : rt_(rt), name_(name), worker_(std::move(worker)) {
  worker_->on_exit = [this](error reason) {
    // S ended by itself or crashed while it ran here: its name is gone with it; the parent
    // restarts this child (which races for the name again).
    if (state_ != state::active && state_ != state::starting) return;
    state_ = state::standby;
    ++incarnation_;
    if (on_exit) on_exit(std::move(reason));
  };
}

NODUS_DECL singleton_node::~singleton_node() {
  *alive_ = false;
  if (watch_ != 0 && rt_.dist() != nullptr) rt_.dist()->cluster_names().remove_on_change(watch_);
}

NODUS_DECL std::string singleton_node::describe() const { return format("singleton '{}'", name_); }

NODUS_DECL void singleton_node::start(std::function<void(result<void>)> done) {
  state_ = state::standby;
  ++incarnation_;
  if (rt_.dist() == nullptr) {
    // A node without distribution is a cluster of one: S runs here, as a plain child.
    state_ = state::starting;
    worker_->start([this, done = std::move(done)](result<void> r) {
      state_ = r ? state::active : state::standby;
      done(std::move(r));
    });
    return;
  }
  if (watch_ == 0) {
    // When the name goes anywhere (its node went down, its server ended), the nodes standing by
    // race for it.
    watch_ = rt_.dist()->cluster_names().on_change(
        [this, alive = alive_](const std::string& name, const std::optional<etf::pid>& pid) {
          if (pid || name != name_) return;
          asio::post(rt_.supervision(), [this, alive] {
            if (*alive && state_ == state::standby) try_take();
          });
        });
  }
  done({});
  try_take();
}

NODUS_DECL void singleton_node::stop(std::function<void()> done) {
  state_ = state::stopped;
  ++incarnation_;
  worker_->stop(std::move(done));
}

NODUS_DECL void singleton_node::stand_by() {
  state_ = state::standby;
  ++incarnation_;
  worker_->stop([] {});
}

NODUS_DECL void singleton_node::try_take() {
  if (state_ != state::standby || rt_.dist() == nullptr) return;
  auto& names = rt_.dist()->cluster_names();
  if (names.whereis_name(name_)) return;  // held: stand by until it goes
  // The name first, for the pid the next instance will have, so that S starts only where the
  // name was given (nowhere else, not even for a moment).
  const auto next = worker_->next_instance();
  if (!next) {
    rt_.log().error("{}: the name '{}' is taken on this node", describe(), name_);
    return;
  }
  state_ = state::starting;
  const std::uint64_t mine = ++incarnation_;
  auto alive = alive_;
  auto on_result = [this, mine, alive, pid = rt_.pid_of(*next)](result<void> took) {
    asio::post(rt_.supervision(), [this, mine, alive, pid, took = std::move(took)] {
      if (!*alive || mine != incarnation_ || state_ != state::starting) {
        // Stopped meanwhile: a name it was given goes again.
        if (took && *alive && rt_.dist() != nullptr &&
            rt_.dist()->cluster_names().whereis_name(name_) == pid) {
          (void)rt_.dist()->cluster_names().unregister_name(name_);
        }
        return;
      }
      if (!took) {
        // Another node has it (or took it first): stand by and watch it.
        rt_.log().debug("{} stands by: {}", describe(), took.error().message());
        state_ = state::standby;
        if (took.error() == errc::timeout) {
          auto timer =
              std::make_shared<asio::steady_timer>(rt_.io(), std::chrono::milliseconds(100));
          timer->async_wait([this, alive, timer](std::error_code ec) {
            if (ec) return;
            asio::post(rt_.supervision(), [this, alive] {
              if (*alive && state_ == state::standby) try_take();
            });
          });
        }
        return;
      }
      worker_->start([this](result<void> r) {
        if (!r) {
          rt_.log().error("{}: {} did not start: {}", describe(), name_, r.error().message());
          if (rt_.dist() != nullptr) (void)rt_.dist()->cluster_names().unregister_name(name_);
          state_ = state::standby;
          return;
        }
        state_ = state::active;
        rt_.log().info("{} runs here", describe());
        telemetry_event e;
        e.what = telemetry_event::kind::singleton_started;
        e.node = rt_.self();
        e.detail = name_;
        rt_.events().emit(e);
      });
    });
  };
  auto on_conflict = [this, alive](const name_conflict&) {
    // Partitions merged and the other side keeps the name: this one stops and stands by.
    asio::post(rt_.supervision(), [this, alive] {
      if (!*alive || state_ != state::active) return;
      rt_.log().warn("{}: another node keeps it after partitions merged; stopping here",
                     describe());
      stand_by();
      telemetry_event e;
      e.what = telemetry_event::kind::singleton_stopped;
      e.node = rt_.self();
      e.detail = name_;
      rt_.events().emit(e);
    });
  };
  const etf::pid pid = rt_.pid_of(*next);
  names.register_name(name_, pid, name_conflict_policy::notify_other, std::move(on_conflict),
                      std::move(on_result));
}

}  // namespace nodus::detail

// nodus/process/impl/server.ipp: cell_common, the part of a server's cell that does not depend
// on its type (see process/server.hpp). Included by that header in header-only mode, by
// nodus/impl/src.hpp otherwise.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
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

NODUS_DECL bool cell_common::running() const {
  std::lock_guard lock(m_);
  return alive_;
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

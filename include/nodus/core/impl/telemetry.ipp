// nodus/core/impl/telemetry.ipp: the telemetry hub (see core/telemetry.hpp). Included by that
// header in header-only mode, by nodus/impl/src.hpp otherwise.
#pragma once

#include <exception>
#include <map>
#include <memory>
#include <utility>

#include "nodus/core/telemetry.hpp"

namespace nodus {

NODUS_DECL std::string_view telemetry_event::name() const noexcept {
  switch (what) {
    case kind::connect_ok: return "libcluster.connect_node.ok";
    case kind::connect_error: return "libcluster.connect_node.error";
    case kind::disconnect: return "libcluster.disconnect_node";
    case kind::node_up: return "nodus.node_up";
    case kind::node_down: return "nodus.node_down";
    case kind::name_conflict: return "nodus.global.name_conflict";
    case kind::singleton_started: return "nodus.singleton.started";
    case kind::singleton_stopped: return "nodus.singleton.stopped";
  }
  return "nodus.unknown";
}

NODUS_DECL std::uint64_t telemetry::attach(handler h) {
  std::lock_guard lock(m_);
  auto next = std::make_shared<std::map<std::uint64_t, handler>>(*handlers_);
  const auto id = next_++;
  next->emplace(id, std::move(h));
  handlers_ = std::move(next);
  return id;
}

NODUS_DECL bool telemetry::detach(std::uint64_t id) {
  std::lock_guard lock(m_);
  if (handlers_->count(id) == 0) return false;
  auto next = std::make_shared<std::map<std::uint64_t, handler>>(*handlers_);
  next->erase(id);
  handlers_ = std::move(next);
  return true;
}

NODUS_DECL void telemetry::emit(const telemetry_event& e) const {
  std::shared_ptr<const std::map<std::uint64_t, handler>> hs;
  {
    std::lock_guard lock(m_);
    hs = handlers_;
  }
  for (const auto& [id, h] : *hs) {
    try {
      h(e);
    } catch (const std::exception& x) {
      log_.error("telemetry handler {} threw on {}: {}", id, e.name(), x.what());
    } catch (...) {
      log_.error("telemetry handler {} threw on {}", id, e.name());
    }
  }
}

NODUS_DECL void telemetry::log_event(const telemetry_event& e) const {
  using k = telemetry_event::kind;
  const bool quiet = e.what == k::connect_ok || e.what == k::connect_error ||
                     e.what == k::node_up || e.what == k::node_down || e.what == k::disconnect;
  const log_level level = quiet ? log_level::debug : log_level::info;
  if (!log_.enabled(level)) return;
  if (e.duration.count() > 0) {
    log_.log(level, "[telemetry] {} {} {} us{}{}", e.name(), e.node,
             std::chrono::duration_cast<std::chrono::microseconds>(e.duration).count(),
             e.detail.empty() ? "" : ": ", e.detail);
  } else {
    log_.log(level, "[telemetry] {} {}{}{}", e.name(), e.node, e.detail.empty() ? "" : ": ",
             e.detail);
  }
}

}  // namespace nodus

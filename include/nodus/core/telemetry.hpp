// nodus/core/telemetry.hpp: events of a node's cluster life for metrics and tracing, as
// libcluster's and :telemetry's: each has a name (libcluster's where it has one), the node it
// concerns, a duration where it measures one, and a detail text.
//
//   auto id = node.telemetry().attach([](const nodus::telemetry_event& e) {
//     metrics.observe(e.name(), e.duration);              // e.g. "libcluster.connect_node.ok"
//   });
//   node.telemetry().detach(id);
//   node.telemetry().detach(nodus::telemetry::default_handler);   // no log lines
//
// By default every event is logged (debug for connects, info for the rest), by the handler whose
// id is telemetry::default_handler. Handlers run on the thread of the event (a node thread, or
// the caller of connect()); they must not block, and an exception they throw is logged and
// dropped.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "nodus/config.hpp"
#include "nodus/core/log.hpp"
#include "nodus/core/node_name.hpp"

namespace nodus {

struct telemetry_event {
  enum class kind : std::uint8_t {
    connect_ok,         // a connect to node succeeded (duration: from the attempt)
    connect_error,      // ... failed (detail: why, when known)
    disconnect,         // node was disconnected on request (detail: "ok" or "not connected")
    node_up,            // a visible node connected
    node_down,          // ... disconnected (detail: the reason)
    name_conflict,      // partitions merged with a global name on both sides (detail: the name)
    singleton_started,  // a singleton started on this node (node: this node; detail: its name)
    singleton_stopped,  // ... stopped here: it lost a merge (detail: its name)
  };
  kind what = kind::connect_ok;
  node_name node;
  std::chrono::nanoseconds duration{0};
  std::string detail;

  // name() -> the event's name, libcluster's for connects ("libcluster.connect_node.ok",
  // "libcluster.connect_node.error", "libcluster.disconnect_node"), "nodus.<what>" for the rest.
  [[nodiscard]] NODUS_DECL std::string_view name() const noexcept;
};

// telemetry: a node's event hub. Thread-safe.
class telemetry {
 public:
  using handler = std::function<void(const telemetry_event&)>;
  // The id of the handler that logs every event, attached from the start.
  static constexpr std::uint64_t default_handler = 0;

  explicit telemetry(logger& log) : log_(log) {
    handlers_->emplace(default_handler, [this](const telemetry_event& e) { log_event(e); });
  }
  telemetry(const telemetry&) = delete;
  telemetry& operator=(const telemetry&) = delete;

  // attach(h) -> its id; detach(id) -> whether it was attached.
  NODUS_DECL std::uint64_t attach(handler h);
  NODUS_DECL bool detach(std::uint64_t id);
  // emit(e): e to every handler.
  NODUS_DECL void emit(const telemetry_event& e) const;

 private:
  NODUS_DECL void log_event(const telemetry_event& e) const;

  logger& log_;
  mutable std::mutex m_;
  std::shared_ptr<std::map<std::uint64_t, handler>> handlers_ =
      std::make_shared<std::map<std::uint64_t, handler>>();  // replaced whole on change
  std::uint64_t next_ = 1;
};

}  // namespace nodus

#if defined(NODUS_HEADER_ONLY)
#include "nodus/core/impl/telemetry.ipp"
#endif

// nodus/core/log.hpp: a small logger whose lines look like Elixir's Logger console output.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <ctime>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "nodus/config.hpp"
#include "nodus/core/format.hpp"

namespace nodus {

// Severity of a log line; a logger writes the lines at or above its level. `off` writes nothing.
enum class log_level : unsigned char { debug, info, warn, error, off };

// to_string(level) -> "debug", "info", "warn", "error" or "off" (Elixir's level names).
[[nodiscard]] constexpr std::string_view to_string(log_level level) noexcept {
  switch (level) {
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warn: return "warn";
    case log_level::error: return "error";
    case log_level::off: return "off";
  }
  return "?";
}

// Formatting hook found by ADL: a log_level formats as its name.
inline void nodus_format(std::string& out, log_level level) { out += to_string(level); }

// One log line as a sink receives it; `message` is valid only during the sink call.
struct log_record {
  log_level level;
  std::chrono::system_clock::time_point time;
  std::string_view message;
};

// A logger: a level filter in front of a sink. The default sink prints format_line() to stdout.
// Thread safety: every member may be called from any thread; the level is atomic, and the sink is
// called under a mutex, one record at a time (so a sink must not call back into the same logger).
// Formatting is skipped when the level is disabled. The default level is info.
class logger {
 public:
  using sink_type = std::function<void(const log_record&)>;

  logger() = default;
  logger(const logger&) = delete;
  logger& operator=(const logger&) = delete;

  void set_level(log_level level) noexcept { level_.store(level, std::memory_order_relaxed); }
  [[nodiscard]] log_level level() const noexcept { return level_.load(std::memory_order_relaxed); }
  // enabled(level) -> whether a line of that level would be written.
  [[nodiscard]] bool enabled(log_level level) const noexcept {
    return level != log_level::off && level >= this->level();
  }

  // Replaces the sink; an empty sink_type restores the default (stdout) sink.
  void set_sink(sink_type sink) {
    const std::lock_guard<std::mutex> lock(mutex_);
    sink_ = std::move(sink);
  }

  // Writes message as it is (no formatting), stamped with the current time, if level is enabled.
  // Exceptions thrown by a user sink propagate to the caller.
  NODUS_DECL void write(log_level level, std::string_view message);

  // log(level, "{} joined", node): formats with nodus::format and writes, if level is enabled.
  template <class... Args>
  void log(log_level level, std::string_view fmt, const Args&... args) {
    if (!enabled(level)) return;
    write(level, nodus::format(fmt, args...));
  }
  template <class... Args>
  void debug(std::string_view fmt, const Args&... args) {
    log(log_level::debug, fmt, args...);
  }
  template <class... Args>
  void info(std::string_view fmt, const Args&... args) {
    log(log_level::info, fmt, args...);
  }
  template <class... Args>
  void warn(std::string_view fmt, const Args&... args) {
    log(log_level::warn, fmt, args...);
  }
  template <class... Args>
  void error(std::string_view fmt, const Args&... args) {
    log(log_level::error, fmt, args...);
  }

  // format_line(r) -> "06:02:40.129 [info]  --- Node up: n2@127.0.0.1" (no trailing newline):
  // local time HH:MM:SS.mmm, the level in brackets, the level name padded to 5, a space, the
  // message. This is the shape of Elixir's default console format "$time [$level]
  // $levelpad$message".
  [[nodiscard]] NODUS_DECL static std::string format_line(const log_record& record);

  // The default sink: format_line(record) and a newline to stdout, in one fwrite, then fflush.
  NODUS_DECL static void stdout_sink(const log_record& record);

 private:
  // Appends "HH:MM:SS.mmm" in the local time zone.
  NODUS_DECL static void append_local_time(std::string& out,
                                           std::chrono::system_clock::time_point time);

  std::atomic<log_level> level_{log_level::info};
  std::mutex mutex_;
  sink_type sink_;
};

// default_logger() -> the process-wide logger. It is never destroyed, so static destructors and
// detached threads may still log during exit.
[[nodiscard]] NODUS_DECL logger& default_logger() noexcept;

}  // namespace nodus

#if defined(NODUS_HEADER_ONLY)
#include "nodus/core/impl/log.ipp"
#endif

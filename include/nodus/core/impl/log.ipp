// nodus/core/impl/log.ipp: the logger's writing, line format and default sink, and the default
// logger (see core/log.hpp). Included by that header in header-only mode, by nodus/impl/src.hpp
// otherwise.
#pragma once

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>
#include <string_view>

#include "nodus/core/log.hpp"

namespace nodus {

NODUS_DECL void logger::write(log_level level, std::string_view message) {
  if (!enabled(level)) return;
  const log_record record{level, std::chrono::system_clock::now(), message};
  const std::lock_guard<std::mutex> lock(mutex_);
  if (sink_) {
    sink_(record);
  } else {
    stdout_sink(record);
  }
}

NODUS_DECL std::string logger::format_line(const log_record& record) {
  const std::string_view name = to_string(record.level);
  std::string line;
  line.reserve(22 + record.message.size());
  append_local_time(line, record.time);
  line += " [";
  line += name;
  line += ']';
  line.append(name.size() < 5 ? 6 - name.size() : 1, ' ');
  line += record.message;
  return line;
}

NODUS_DECL void logger::stdout_sink(const log_record& record) {
  std::string line = format_line(record);
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

NODUS_DECL void logger::append_local_time(std::string& out,
                                          std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  const auto seconds_part = floor<seconds>(time);
  const auto millis = duration_cast<milliseconds>(time - seconds_part).count();  // 0..999
  const std::time_t t = system_clock::to_time_t(seconds_part);
  std::tm tm{};
#if defined(_WIN32)
  const bool ok = localtime_s(&tm, &t) == 0;
#else
  const bool ok = localtime_r(&t, &tm) != nullptr;
#endif
  if (!ok) tm = std::tm{};
  const auto two = [&out](int v) {
    out += static_cast<char>('0' + (v / 10) % 10);
    out += static_cast<char>('0' + v % 10);
  };
  two(tm.tm_hour);
  out += ':';
  two(tm.tm_min);
  out += ':';
  two(tm.tm_sec);
  out += '.';
  out += static_cast<char>('0' + millis / 100);
  out += static_cast<char>('0' + (millis / 10) % 10);
  out += static_cast<char>('0' + millis % 10);
}

NODUS_DECL logger& default_logger() noexcept {
  static logger& instance = *new logger;
  return instance;
}

}  // namespace nodus

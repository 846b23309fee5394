// Shared helpers of the process tests: an event log that tests can wait on (bounded).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <nodus/node.hpp>

#include <ostream>

// Boost.Test prints results and errors through these (found by ADL) when a check fails.
namespace nodus {
template <class T>
std::ostream& boost_test_print_type(std::ostream& os, const result<T>& r) {
  return os << (r.has_value() ? std::string("ok") : "error: " + r.error().message());
}
inline std::ostream& boost_test_print_type(std::ostream& os, const error& e) {
  return os << e.message();
}
}  // namespace nodus

namespace test {

using namespace std::chrono_literals;

// events(): what servers did ("init a", "terminate a", ...), in order; waitable.
class event_log {
 public:
  void add(std::string s) {
    {
      std::lock_guard lock(m_);
      items_.push_back(std::move(s));
    }
    cv_.notify_all();
  }
  [[nodiscard]] int count(std::string_view s) {
    std::lock_guard lock(m_);
    return count_locked(s);
  }
  // wait_count(s, n): true once s happened at least n times; false after the bound.
  [[nodiscard]] bool wait_count(std::string_view s, int n, std::chrono::milliseconds bound = 10s) {
    std::unique_lock lock(m_);
    return cv_.wait_for(lock, bound, [&] { return count_locked(s) >= n; });
  }
  [[nodiscard]] std::vector<std::string> snapshot() {
    std::lock_guard lock(m_);
    return items_;
  }
  void clear() {
    std::lock_guard lock(m_);
    items_.clear();
  }

 private:
  int count_locked(std::string_view s) const {
    int n = 0;
    for (const auto& i : items_) n += static_cast<int>(i == s);
    return n;
  }
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<std::string> items_;
};

inline event_log& events() {
  static event_log log;
  return log;
}

// quiet(): a node whose log lines are kept in memory instead of printed.
struct captured_log {
  std::mutex m;
  std::vector<std::string> lines;
  void attach(nodus::logger& l) {
    l.set_sink([this](const nodus::log_record& r) {
      {
        std::lock_guard lock(m);
        lines.push_back(nodus::logger::format_line(r));
      }
      cv.notify_all();
    });
  }
  [[nodiscard]] bool contains(std::string_view needle) {
    std::lock_guard lock(m);
    return contains_locked(needle);
  }
  // wait_for(needle): true once a line contains needle; false after the bound.
  [[nodiscard]] bool wait_for(std::string_view needle, std::chrono::milliseconds bound = 10s) {
    std::unique_lock lock(m);
    return cv.wait_for(lock, bound, [&] { return contains_locked(needle); });
  }

 private:
  bool contains_locked(std::string_view needle) const {
    for (const auto& l : lines)
      if (l.find(needle) != std::string::npos) return true;
    return false;
  }
  std::condition_variable cv;
};

}  // namespace test

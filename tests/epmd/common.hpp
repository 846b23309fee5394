// tests/epmd/common.hpp: helpers of the EPMD tests: an io_context on its own thread, bounded
// waits on events, raw loopback clients; free ports, bounded polls and child processes (the real
// epmd) come from the test support library (tests/common/).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "../common/ports.hpp"
#include "../common/process.hpp"
#include "../common/programs.hpp"
#include "../common/wait.hpp"
#include "nodus/core/log.hpp"
#include "nodus/epmd/protocol.hpp"

namespace epmd_test {

using namespace std::chrono_literals;
using bytes = std::vector<std::uint8_t>;
using clock_type = nodus::test::clock_type;
using nodus::test::accepts;
using nodus::test::child_process;
using nodus::test::epmd_path;
using nodus::test::find_program;
using nodus::test::free_port;
using nodus::test::process_options;
using nodus::test::step_timeout;
using nodus::test::wait_until;

// An io_context run by one background thread until the object is destroyed.
class io_thread {
 public:
  io_thread() : guard_(io.get_executor()), thread_([this] { io.run(); }) {}
  io_thread(const io_thread&) = delete;
  io_thread& operator=(const io_thread&) = delete;
  ~io_thread() {
    guard_.reset();
    io.stop();
    thread_.join();
  }
  [[nodiscard]] asio::any_io_executor executor() { return io.get_executor(); }

  asio::io_context io;

 private:
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::thread thread_;
};

// A one-shot value set by a callback on another thread, awaited with a bound.
template <class T>
class awaited {
 public:
  void set(T value) {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (!value_) value_.emplace(std::move(value));
    cv_.notify_all();
  }
  // wait(timeout) -> the value, or nullopt when none came within timeout.
  std::optional<T> wait(clock_type::duration timeout = step_timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait_for(lock, timeout, [this] { return value_.has_value(); });
    return value_;
  }
  [[nodiscard]] bool ready() {
    const std::lock_guard<std::mutex> lock(mutex_);
    return value_.has_value();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::optional<T> value_;
};

// A counter bumped from callbacks, awaited with a bound.
class counter {
 public:
  void bump() {
    const std::lock_guard<std::mutex> lock(mutex_);
    ++count_;
    cv_.notify_all();
  }
  // wait_for(n, timeout) -> the count reached n within timeout.
  bool wait_for(int n, clock_type::duration timeout = step_timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return count_ >= n; });
  }
  [[nodiscard]] int value() {
    const std::lock_guard<std::mutex> lock(mutex_);
    return count_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  int count_ = 0;
};

// Collects log lines (from any thread); wait_for(text) awaits a line containing text. The sink
// shares the lines, so a server or agent that logs after the capture is gone stays harmless.
class log_capture {
 public:
  std::function<void(nodus::log_level, const std::string&)> sink() {
    return [s = state_](nodus::log_level, const std::string& line) {
      const std::lock_guard<std::mutex> lock(s->mutex);
      s->lines.push_back(line);
      s->cv.notify_all();
    };
  }
  bool wait_for(std::string_view text, clock_type::duration timeout = step_timeout) {
    std::unique_lock<std::mutex> lock(state_->mutex);
    return state_->cv.wait_for(lock, timeout, [&] { return count_locked(text) > 0; });
  }
  int count(std::string_view text) {
    const std::lock_guard<std::mutex> lock(state_->mutex);
    return count_locked(text);
  }
  std::string all() {
    const std::lock_guard<std::mutex> lock(state_->mutex);
    std::string out;
    for (const auto& l : state_->lines) out += "  | " + l + "\n";
    return out;
  }

 private:
  struct state {
    std::mutex mutex;
    std::condition_variable cv;
    std::vector<std::string> lines;
  };
  int count_locked(std::string_view text) const {
    int n = 0;
    for (const auto& l : state_->lines) n += l.find(text) != std::string::npos ? 1 : 0;
    return n;
  }
  std::shared_ptr<state> state_ = std::make_shared<state>();
};

// A blocking loopback client socket with bounded operations, for feeding a server raw bytes.
class raw_client {
 public:
  raw_client() = default;
  explicit raw_client(std::uint16_t port) { connect(port); }
  raw_client(raw_client&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  raw_client& operator=(raw_client&& o) noexcept {
    if (this != &o) {
      close();
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;
  ~raw_client() { close(); }

  // connect(port) -> connected to 127.0.0.1:port (false: refused or out of descriptors).
  bool connect(std::uint16_t port) {
    close();
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      close();
      return false;
    }
    return true;
  }
  [[nodiscard]] bool open() const { return fd_ >= 0; }
  [[nodiscard]] int fd() const { return fd_; }

  bool send(const bytes& data) {
    std::size_t done = 0;
    while (done < data.size()) {
      const auto n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  }

  // read_exactly(n, timeout) -> n bytes, or fewer when the peer closed or the time ran out.
  bytes read_exactly(std::size_t n, clock_type::duration timeout = step_timeout) {
    bytes out;
    const auto deadline = clock_type::now() + timeout;
    while (out.size() < n) {
      if (!wait_readable(deadline)) break;
      std::uint8_t buf[4096];
      const auto got = ::recv(fd_, buf, std::min(sizeof buf, n - out.size()), 0);
      if (got <= 0) break;
      out.insert(out.end(), buf, buf + got);
    }
    return out;
  }

  // read_to_close(timeout) -> everything until the peer closed (closed = true), or what came
  // before the time ran out (closed = false).
  struct reading {
    bytes data;
    bool closed = false;
  };
  reading read_to_close(clock_type::duration timeout = step_timeout) {
    reading r;
    const auto deadline = clock_type::now() + timeout;
    for (;;) {
      if (!wait_readable(deadline)) return r;
      std::uint8_t buf[4096];
      const auto got = ::recv(fd_, buf, sizeof buf, 0);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        r.closed = true;  // orderly close, or a reset
        return r;
      }
      r.data.insert(r.data.end(), buf, buf + got);
    }
  }

  // closed_by_peer(timeout) -> the peer closed within timeout (bytes before the close ignored).
  bool closed_by_peer(clock_type::duration timeout = step_timeout) {
    return read_to_close(timeout).closed;
  }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  bool wait_readable(clock_type::time_point deadline) {
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
      if (left.count() < 0) return false;
      pollfd p{fd_, POLLIN, 0};
      const int rc = ::poll(&p, 1, static_cast<int>(left.count()));
      if (rc > 0) return true;
      if (rc == 0) return false;
      if (errno != EINTR) return false;
    }
  }
  int fd_ = -1;
};

// The request bytes of an ALIVE2_REQ for name at port (highest version 6 unless told).
inline bytes alive2(const std::string& name, std::uint16_t port, std::uint16_t version = 6) {
  nodus::epmd::node_info n;
  n.name = name;
  n.port = port;
  n.highest_version = version;
  n.lowest_version = version;
  return nodus::epmd::encode_alive2_request(n).value();
}

// raise_nofile_limit() -> the soft RLIMIT_NOFILE, raised to the hard limit.
inline rlim_t raise_nofile_limit() {
  rlimit l{};
  ::getrlimit(RLIMIT_NOFILE, &l);
  l.rlim_cur = l.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &l);
  ::getrlimit(RLIMIT_NOFILE, &l);
  return l.rlim_cur;
}

}  // namespace epmd_test

// tests/epmd/common.hpp: helpers of the EPMD tests: an io_context on its own thread, bounded
// waits on events, free ports, raw loopback clients, and child processes (the real epmd).
#pragma once

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
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

#include "nodus/core/log.hpp"
#include "nodus/epmd/protocol.hpp"

extern char** environ;

namespace epmd_test {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using bytes = std::vector<std::uint8_t>;

inline constexpr auto step_timeout = std::chrono::seconds(10);  // bound of every single wait

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

// wait_until(pred, timeout) -> pred() became true within timeout, checked every 2 ms. Only for
// states no callback announces (e.g. another process's registry seen over the network).
inline bool wait_until(const std::function<bool()>& pred,
                       clock_type::duration timeout = step_timeout) {
  const auto deadline = clock_type::now() + timeout;
  while (!pred()) {
    if (clock_type::now() >= deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// free_port() -> a TCP port free on both IPv4 and IPv6 just now (bound on [::]:0 dual stack, or
// 127.0.0.1:0 without IPv6, then released). Never 4369.
inline std::uint16_t free_port() {
  for (int tries = 0; tries < 20; ++tries) {
    std::uint16_t port = 0;
    int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
      int off = 0;
      ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
      sockaddr_in6 a{};
      a.sin6_family = AF_INET6;
      a.sin6_addr = in6addr_any;
      socklen_t len = sizeof a;
      if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
          ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
        port = ntohs(a.sin6_port);
      }
      ::close(fd);
    } else {
      fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      socklen_t len = sizeof a;
      if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
          ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
        port = ntohs(a.sin_port);
      }
      if (fd >= 0) ::close(fd);
    }
    if (port != 0 && port != nodus::epmd::default_port) return port;
  }
  throw std::runtime_error("free_port: no free port found");
}

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

// A child process in its own process group, stdout+stderr piped to us; the destructor kills
// the group (SIGKILL) and reaps the child, so it never outlives a failing test.
class child_process {
 public:
  // child_process(argv, env): runs argv[0] (a path) with argv; env entries ("NAME=value") are
  // added to this process's environment for the child.
  explicit child_process(const std::vector<std::string>& argv,
                         const std::vector<std::string>& env = {}) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category());
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, out[1], 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<char*> envp;
    for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
    for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    const int rc = ::posix_spawn(&pid_, argv[0].c_str(), &actions, &attr, args.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    ::close(out[1]);
    out_ = out[0];
    if (rc != 0) {
      pid_ = -1;
      ::close(out_);
      out_ = -1;
      throw std::system_error(rc, std::generic_category(), "posix_spawn " + argv[0]);
    }
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process() { kill(); }

  // wait_output(text, timeout) -> the output so far once it contains text, or nullopt when it
  // does not within timeout (or the child closed its output first).
  std::optional<std::string> wait_output(std::string_view text,
                                         clock_type::duration timeout = step_timeout) {
    const auto deadline = clock_type::now() + timeout;
    while (output_.find(text) == std::string::npos) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
      if (left.count() < 0 || out_ < 0) return std::nullopt;
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      const auto n = ::read(out_, buf, sizeof buf);
      if (n > 0) {
        output_.append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(out_);
        out_ = -1;
      }
    }
    return output_;
  }
  [[nodiscard]] const std::string& output() const { return output_; }

  // wait_exit(timeout) -> the exit status and all output, or nullopt if it still runs then.
  struct exit_info {
    int status = -1;
    std::string output;
  };
  std::optional<exit_info> wait_exit(clock_type::duration timeout = step_timeout) {
    const auto deadline = clock_type::now() + timeout;
    while (out_ >= 0) {  // read to end of output (the child exits or closes it)
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
      if (left.count() < 0) return std::nullopt;
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      const auto n = ::read(out_, buf, sizeof buf);
      if (n > 0) {
        output_.append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(out_);
        out_ = -1;
      }
    }
    int status = 0;
    for (;;) {
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) break;
      if (clock_type::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(2ms);  // the output closed; the exit follows at once
    }
    pid_ = -1;
    return exit_info{status, output_};
  }

  void kill() {
    if (pid_ > 0) {
      ::kill(-pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
    if (out_ >= 0) ::close(out_);
    out_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string output_;
};

// which(program) -> the program's path on PATH, or empty.
inline std::string which(const std::string& program) {
  if (const char* path = std::getenv("PATH")) {
    std::string_view rest(path);
    while (!rest.empty()) {
      const auto colon = rest.find(':');
      const std::string dir(rest.substr(0, colon));
      rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
      if (!dir.empty() && ::access((dir + "/" + program).c_str(), X_OK) == 0) {
        return dir + "/" + program;
      }
    }
  }
  return {};
}

// epmd_path() -> the real epmd (Debian erlang-base), or empty when it is not installed.
inline std::string epmd_path() {
  if (auto p = which("epmd"); !p.empty()) return p;
  // erl's own copy, when the Debian package puts none on PATH.
  if (DIR* d = ::opendir("/usr/lib/erlang")) {
    std::string found;
    while (const dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name.rfind("erts-", 0) == 0 &&
          ::access(("/usr/lib/erlang/" + name + "/bin/epmd").c_str(), X_OK) == 0) {
        found = "/usr/lib/erlang/" + name + "/bin/epmd";
      }
    }
    ::closedir(d);
    return found;
  }
  return {};
}

// accepts(port, timeout) -> something accepts TCP connections on 127.0.0.1:port within timeout
// (tried every 2 ms: a child process's listening socket announces itself no other way).
inline bool accepts(std::uint16_t port, clock_type::duration timeout = step_timeout) {
  return wait_until([port] { return raw_client().connect(port); }, timeout);
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

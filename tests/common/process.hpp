// tests/common/process.hpp: child processes of tests and benchmarks. One class, child_process: a
// program started in a process group of its own (so that a kill reaches its helpers too), its
// stdin /dev/null or a pipe, its stdout and stderr a pipe read into lines or a file; bounded
// waits on its output and its exit; stopped (its group killed, the child reaped) by stop() or
// the destructor, also when a test fails. A registry of the children not yet reaped lets a
// fatal-signal handler end them all (kill_live_children). run() / run_checked(): a command run
// to its end. Part of the test support library (tests/common/, namespace nodus::test).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "programs.hpp"
#include "wait.hpp"

extern char** environ;

namespace nodus::test {

// How a child_process is started and stopped; the defaults: stdin /dev/null, output piped to
// us, our environment, SIGKILL to its group at once when stopped. Set what differs in a chain:
//   child_process erl(argv, process_options().stdin_pipe().stop_grace(3s));
class process_options {
 public:
  // stdin_pipe(): the child's stdin is a pipe of ours (write_line, close_stdin).
  process_options& stdin_pipe() {
    stdin_pipe_ = true;
    return *this;
  }
  // output_file(path): its stdout and stderr are appended to path ("/dev/null": dropped) instead
  // of a pipe to us.
  process_options& output_file(std::string path) {
    output_file_ = std::move(path);
    return *this;
  }
  // env(entries): "NAME=value" entries added to our environment for the child (replacing ours
  // of that name). The child's PATH is search_path() unless one of them sets it.
  process_options& env(std::vector<std::string> entries) {
    env_.insert(env_.end(), entries.begin(), entries.end());
    return *this;
  }
  // env_drop(prefixes): our variables that start with one of these ("NODUS_CLUSTER_",
  // "ERL_EPMD_PORT=") are not passed on.
  process_options& env_drop(std::vector<std::string> prefixes) {
    env_drop_.insert(env_drop_.end(), prefixes.begin(), prefixes.end());
    return *this;
  }
  // affinity(mask): the child's CPU affinity mask (nullptr: ours), set on the spawning thread for
  // the spawn only. The mask must outlive the constructor call.
  process_options& affinity(const cpu_set_t* mask) {
    affinity_ = mask;
    return *this;
  }
  // stop_signal(sig), stop_grace(d): what stop() and the destructor do before SIGKILL to the
  // group: close stdin, send sig (if any) and SIGCONT to the group, then wait up to d for the
  // child to exit.
  process_options& stop_signal(int sig) {
    stop_signal_ = sig;
    return *this;
  }
  process_options& stop_grace(clock_type::duration d) {
    stop_grace_ = d;
    return *this;
  }

 private:
  friend class child_process;

  bool stdin_pipe_ = false;
  std::string output_file_;
  std::vector<std::string> env_;
  std::vector<std::string> env_drop_;
  const cpu_set_t* affinity_ = nullptr;
  int stop_signal_ = 0;
  clock_type::duration stop_grace_{};
};

// exit_code(status) -> the exit code in a wait status, or 128 + N when signal N ended it (as a
// shell says).
inline int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

namespace detail {

inline std::string join_argv(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) {
    if (!s.empty()) s += ' ';
    s += a;
  }
  return s;
}

// The process groups of the children not yet reaped (0: a free slot). Lock-free atomics, so that
// a signal handler may read them.
inline constexpr std::size_t max_live_children = 128;
inline std::atomic<pid_t> live_children[max_live_children];
static_assert(std::atomic<pid_t>::is_always_lock_free);

inline void register_child(pid_t pid) noexcept {
  for (auto& slot : live_children) {
    pid_t none = 0;
    if (slot.compare_exchange_strong(none, pid)) return;
  }  // full: the child is only stopped by its owner
}

inline void unregister_child(pid_t pid) noexcept {
  for (auto& slot : live_children) {
    pid_t p = pid;
    if (slot.compare_exchange_strong(p, 0)) return;
  }
}

// exited(pid) -> the child has exited (not reaped: its process group id stays reserved, so a kill
// of the group reaches only processes we started).
inline bool exited(pid_t pid) {
  siginfo_t info{};
  info.si_pid = 0;
  if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return true;  // not our child (any more)
  }
  return info.si_pid != 0;
}

}  // namespace detail

// kill_live_children(): SIGKILL to the process group of every child_process not yet reaped.
// Async-signal-safe: for a fatal-signal handler, or a fatal error that exits without unwinding.
inline void kill_live_children() noexcept {
  for (auto& slot : detail::live_children) {
    const pid_t p = slot.load();
    if (p > 0) ::kill(-p, SIGKILL);
  }
}

// A child process owned by this object (see the file comment and process_options). Its output,
// when piped, is kept whole (output()) and as lines (lines(), without their '\n'); it is read
// when a member waits on it or read_output() is called: a test busy elsewhere for long calls
// read_output() now and then, since a child whose pipe is full blocks. Not thread-safe.
class child_process {
 public:
  // child_process(argv, options): starts argv (argv[0] looked up with find_program). Throws
  // std::system_error when it cannot be started.
  explicit child_process(const std::vector<std::string>& argv, process_options options = {})
      : options_(std::move(options)) {
    int in[2] = {-1, -1};
    int out[2] = {-1, -1};
    auto close_all = [&] {
      for (int fd : {in[0], in[1], out[0], out[1]}) {
        if (fd >= 0) ::close(fd);
      }
    };
    if (options_.stdin_pipe_ && ::pipe2(in, O_CLOEXEC) != 0) {
      throw std::system_error(errno, std::generic_category(), "pipe2");
    }
    if (options_.output_file_.empty()) {
      if (::pipe2(out, O_CLOEXEC) != 0) {
        const int err = errno;
        close_all();
        throw std::system_error(err, std::generic_category(), "pipe2");
      }
    } else {
      out[1] =
          ::open(options_.output_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      if (out[1] < 0) {
        const int err = errno;
        close_all();
        throw std::system_error(err, std::generic_category(), "open " + options_.output_file_);
      }
    }
    try {
      pid_ = spawn(argv, options_, in[0], out[1]);
    } catch (...) {
      close_all();
      throw;
    }
    if (in[0] >= 0) ::close(in[0]);
    ::close(out[1]);
    in_ = in[1];
    out_ = out[0];
    if (out_ >= 0) ::fcntl(out_, F_SETFL, ::fcntl(out_, F_GETFL) | O_NONBLOCK);
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process() {
    try {
      (void)stop();
    } catch (...) {
    }
    close_fd(in_);
    close_fd(out_);
  }

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  // running() -> it has not exited (it may be stopped).
  [[nodiscard]] bool running() const { return !reaped_ && !detail::exited(pid_); }
  // reaped() -> its exit status is known (wait_exit or stop collected it).
  [[nodiscard]] bool reaped() const noexcept { return reaped_; }

  // signal(sig) -> sig was sent to the child alone (false once it is reaped).
  bool signal(int sig) const { return !reaped_ && ::kill(pid_, sig) == 0; }

  // write_line(text) -> text and '\n' were written to its stdin (false when it no longer reads,
  // or it has no stdin pipe). Blocks while the pipe is full.
  bool write_line(std::string text) {
    text += '\n';
    return in_ >= 0 && ::write(in_, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  }
  // close_stdin(): end of input for the child.
  void close_stdin() { close_fd(in_); }

  // read_output(): takes in what it printed so far, without waiting.
  void read_output() {
    if (out_ < 0) return;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(out_, buf, sizeof buf);
      if (n > 0) {
        output_.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n == 0 || errno != EAGAIN) close_fd(out_);  // closed (by all its writers), or broken
      break;
    }
    std::size_t nl;
    while ((nl = output_.find('\n', split_)) != std::string::npos) {
      lines_.push_back(output_.substr(split_, nl - split_));
      split_ = nl + 1;
    }
  }
  // out_fd() -> the read end of its output, -1 once closed or for a file (to poll several
  // children at once; then read_output()).
  [[nodiscard]] int out_fd() const noexcept { return out_; }
  // output_open() -> its output pipe is still open (no end of file read yet).
  [[nodiscard]] bool output_open() const noexcept { return out_ >= 0; }
  // wait_readable(deadline) -> false once the deadline passed or the output is closed; true when
  // there may be output to read.
  bool wait_readable(clock_type::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
    if (left.count() <= 0 || out_ < 0) return false;
    pollfd p{out_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count()) + 1) < 0 && errno != EINTR) return false;
    return true;
  }
  // read_to_end(deadline) -> its output closed (everything read) before the deadline.
  bool read_to_end(clock_type::time_point deadline) {
    for (;;) {
      read_output();
      if (out_ < 0) return true;
      if (!wait_readable(deadline)) return false;
    }
  }

  // output() -> everything read so far; lines() -> its complete lines (no waiting).
  [[nodiscard]] const std::string& output() const noexcept { return output_; }
  [[nodiscard]] const std::vector<std::string>& lines() const noexcept { return lines_; }

  // wait_line(pred, from, deadline) -> the index in lines() of the first line at or after from
  // that satisfies pred, waiting until the deadline (or the end of its output) for it.
  template <class Pred>
  std::optional<std::size_t> wait_line(Pred pred, std::size_t from,
                                       clock_type::time_point deadline) {
    for (;;) {
      read_output();
      for (std::size_t i = from; i < lines_.size(); ++i) {
        if (pred(lines_[i])) return i;
      }
      if (!wait_readable(deadline)) return std::nullopt;
    }
  }
  // wait_for(needle, timeout) -> the first line containing needle (earlier lines included),
  // waiting at most timeout for it to appear.
  std::optional<std::string> wait_for(std::string_view needle,
                                      clock_type::duration timeout = step_timeout) {
    return line_at(
        wait_line([&](const std::string& l) { return l.find(needle) != std::string::npos; }, 0,
                  clock_type::now() + timeout));
  }
  // wait_line_starting(prefix, deadline) -> the first line starting with prefix, waiting until
  // the deadline for it.
  std::optional<std::string> wait_line_starting(std::string_view prefix,
                                                clock_type::time_point deadline) {
    return line_at(
        wait_line([&](const std::string& l) { return l.rfind(prefix, 0) == 0; }, 0, deadline));
  }
  // next_line(timeout) -> the next line that next_line has not returned yet (in order; the other
  // waits still see every line), waiting at most timeout for it.
  std::optional<std::string> next_line(clock_type::duration timeout = step_timeout) {
    auto i = wait_line([](const std::string&) { return true; }, next_, clock_type::now() + timeout);
    if (i) next_ = *i + 1;
    return line_at(i);
  }
  // seen(needle) -> a line read so far that contains needle (no waiting beyond a read).
  std::optional<std::string> seen(std::string_view needle) {
    read_output();
    for (const auto& l : lines_) {
      if (l.find(needle) != std::string::npos) return l;
    }
    return std::nullopt;
  }
  // wait_output(text, timeout) -> the output so far once it contains text (lines or not), or
  // nullopt when it does not within timeout (or the child closed its output first).
  std::optional<std::string> wait_output(std::string_view text,
                                         clock_type::duration timeout = step_timeout) {
    const auto deadline = clock_type::now() + timeout;
    for (;;) {
      read_output();
      if (output_.find(text) != std::string::npos) return output_;
      if (!wait_readable(deadline)) return std::nullopt;
    }
  }

  // transcript(max_lines) -> its last max_lines lines (and an unfinished one), each as "  | ...",
  // for failure messages.
  std::string transcript(std::size_t max_lines = std::numeric_limits<std::size_t>::max()) {
    read_output();
    std::string t;
    const std::size_t from = lines_.size() > max_lines ? lines_.size() - max_lines : 0;
    if (from > 0) t += "  | ...\n";
    for (std::size_t i = from; i < lines_.size(); ++i) t += "  | " + lines_[i] + "\n";
    if (split_ < output_.size()) t += "  | " + output_.substr(split_) + "\n";
    return t.empty() ? "  (no output)\n" : t;
  }

  // wait_exit(timeout) -> its wait status (see exit_code) once it exited, reaping it (its output
  // read meanwhile, and once more after the exit); nullopt while it still runs after timeout.
  std::optional<int> wait_exit(clock_type::duration timeout = step_timeout) {
    const auto deadline = clock_type::now() + timeout;
    while (!reaped_) {
      read_output();
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        set_reaped(status, true);
        read_output();
        break;
      }
      if ((r < 0 && errno != EINTR) || clock_type::now() >= deadline) return std::nullopt;
      const auto next = std::min(deadline, clock_type::now() + std::chrono::milliseconds(5));
      if (out_ >= 0) {
        (void)wait_readable(next);
      } else {
        std::this_thread::sleep_until(next);
      }
    }
    return status_;
  }

  // kill_group(): closes its stdin and sends SIGKILL to its process group, without reaping (stop()
  // or the destructor reaps): to end many children first and reap them after.
  void kill_group() {
    close_stdin();
    // Not reaped before the kill: while the leader is unreaped its group id cannot be reused, so
    // the kill reaches only processes we started.
    if (!reaped_) ::kill(-pid_, SIGKILL);
  }

  // How stop() found it: its wait status, and whether it exited within the grace time (before
  // the SIGKILL).
  struct ending {
    int status = 0;
    bool by_itself = false;
  };
  // stop(), stop(grace) -> how it ended: stdin closed, the options' stop_signal (if any) and
  // SIGCONT to its group, up to grace (the options' stop_grace) for it to exit, SIGKILL to the
  // group, the child reaped, its output read once more (the pipe stays open: helpers killed with
  // it may still be closing theirs). Idempotent: later calls return the first ending.
  ending stop() { return stop(options_.stop_grace_); }
  ending stop(clock_type::duration grace) {
    close_stdin();
    if (!reaped_) {
      if (options_.stop_signal_ != 0) {
        ::kill(-pid_, options_.stop_signal_);
        ::kill(-pid_, SIGCONT);
      }
      const auto deadline = clock_type::now() + grace;
      bool by_itself = false;
      for (;;) {
        if (detail::exited(pid_)) {
          by_itself = true;
          break;
        }
        if (clock_type::now() >= deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      ::kill(-pid_, SIGKILL);  // the group: helpers (erl_child_setup, ...) too
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      set_reaped(status, by_itself);
    }
    read_output();
    return {status_, by_itself_};
  }

 private:
  // environment(options) -> ours without the variables of its env_drop and those named in its
  // env, then its env, and PATH=search_path() unless its env sets PATH.
  static std::vector<std::string> environment(const process_options& options) {
    auto named = [](std::string_view entry, std::string_view name_eq) {
      return entry.substr(0, name_eq.size()) == name_eq;
    };
    std::vector<std::string> names{"PATH="};
    for (const auto& e : options.env_) names.push_back(e.substr(0, e.find('=') + 1));
    std::vector<std::string> out;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      const std::string_view v(*e);
      bool keep = true;
      for (const auto& n : names) keep = keep && !named(v, n);
      for (const auto& d : options.env_drop_) keep = keep && !named(v, d);
      if (keep) out.emplace_back(v);
    }
    bool has_path = false;
    for (const auto& e : options.env_) {
      out.push_back(e);
      has_path = has_path || named(e, "PATH=");
    }
    if (!has_path) out.push_back("PATH=" + search_path());
    return out;
  }

  // spawn(argv, options, in_fd, out_fd) -> the pid of argv[0] (looked up with
  // find_program) in a process group of its own: stdin in_fd (-1: /dev/null), stdout and stderr
  // out_fd, no other descriptor of ours inherited, no signal blocked, SIGPIPE, SIGHUP, SIGINT,
  // SIGTERM and SIGCHLD at their defaults (a runner that ignores SIGPIPE would pass that on), and
  // registered in live_children. Our SIGINT, SIGTERM and SIGHUP are held from the spawn until it is
  // registered, so that a fatal-signal handler sees every child. Throws std::system_error.
  static pid_t spawn(const std::vector<std::string>& argv, const process_options& options,
                     int in_fd, int out_fd) {
    if (argv.empty()) throw std::invalid_argument("spawn: empty argv");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (in_fd >= 0) {
      posix_spawn_file_actions_adddup2(&actions, in_fd, 0);
    } else {
      posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    }
    posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
    posix_spawn_file_actions_adddup2(&actions, out_fd, 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);  // sockets of the test stay ours
#endif
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    sigset_t defaults;
    sigemptyset(&defaults);
    for (int sig : {SIGPIPE, SIGHUP, SIGINT, SIGTERM, SIGCHLD}) sigaddset(&defaults, sig);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<std::string> env_store = environment(options);
    std::vector<char*> env;
    env.reserve(env_store.size() + 1);
    for (auto& e : env_store) env.push_back(e.data());
    env.push_back(nullptr);
    std::string program = find_program(argv[0]);
    if (program.empty()) program = argv[0];  // posix_spawn reports ENOENT
    sigset_t fatal;
    sigset_t before;
    sigemptyset(&fatal);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&fatal, sig);
    ::pthread_sigmask(SIG_BLOCK, &fatal, &before);
    // The affinity mask is inherited through fork and exec: ours for the spawn only.
    cpu_set_t mine;
    CPU_ZERO(&mine);
    const bool pin = options.affinity_ != nullptr &&
                     ::sched_getaffinity(0, sizeof mine, &mine) == 0 &&
                     ::sched_setaffinity(0, sizeof(cpu_set_t), options.affinity_) == 0;
    pid_t pid = -1;
    int rc = options.affinity_ != nullptr && !pin ? errno : 0;
    if (rc == 0) {
      rc = ::posix_spawn(&pid, program.c_str(), &actions, &attr, args.data(), env.data());
    }
    if (pin) ::sched_setaffinity(0, sizeof mine, &mine);
    if (rc == 0) detail::register_child(pid);
    ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0)
      throw std::system_error(rc, std::generic_category(), "spawn " + detail::join_argv(argv));
    return pid;
  }

  static void close_fd(int& fd) noexcept {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  std::optional<std::string> line_at(std::optional<std::size_t> i) const {
    if (!i) return std::nullopt;
    return lines_[*i];
  }
  void set_reaped(int status, bool by_itself) noexcept {
    reaped_ = true;
    status_ = status;
    by_itself_ = by_itself;
    detail::unregister_child(pid_);
  }

  process_options options_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  bool by_itself_ = false;
  int status_ = 0;
  int in_ = -1;
  int out_ = -1;
  std::string output_;
  std::size_t split_ = 0;  // output_ before this is in lines_
  std::vector<std::string> lines_;
  std::size_t next_ = 0;  // the first line next_line has not returned
};

// The outcome of run(): the exit code (-1 when killed by a signal or the timeout) and what the
// command printed on stdout and stderr.
struct run_result {
  int exit_code = -1;
  std::string output;
};

// run(argv, timeout) -> the result of argv run to its end (its output closed and it exited);
// killed (with its process group) after timeout. Throws std::system_error when argv cannot be
// started.
inline run_result run(const std::vector<std::string>& argv,
                      clock_type::duration timeout = step_timeout) {
  child_process p(argv);
  const auto deadline = clock_type::now() + timeout;
  std::optional<int> status;
  if (p.read_to_end(deadline)) status = p.wait_exit(deadline - clock_type::now());
  if (!status) (void)p.stop();
  run_result r;
  r.output = p.output();
  if (!status) r.output += "\n[killed after the timeout]";
  r.exit_code = status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  return r;
}

// run_checked(argv) -> what argv printed; throws std::runtime_error naming the command and its
// output when it fails.
inline std::string run_checked(const std::vector<std::string>& argv,
                               clock_type::duration timeout = step_timeout) {
  run_result r = run(argv, timeout);
  if (r.exit_code != 0) {
    throw std::runtime_error("`" + detail::join_argv(argv) + "` failed (exit " +
                             std::to_string(r.exit_code) + "): " + r.output);
  }
  return std::move(r.output);
}

}  // namespace nodus::test

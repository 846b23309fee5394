// tests/dist/cluster.hpp: node processes for the multi-process tests. A peer is this executable
// started as `test_dist --peer ...` (peer.cpp) in its own process group, its stdin and its
// stdout+stderr piped to the test. Every wait is bounded; the destructor ends and reaps the child.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <boost/test/unit_test.hpp>

namespace dist_test {

// sanitized: this program runs under AddressSanitizer (CI's sanitizer stage). Its runtime keeps
// freed memory in a quarantine (RSS figures mean little) and needs descriptors of its own (a
// pipe per memory-range check: out of descriptors it reports false errors).
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool sanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool sanitized = true;
#else
inline constexpr bool sanitized = false;
#endif
#else
inline constexpr bool sanitized = false;
#endif

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

inline constexpr auto step_timeout = std::chrono::seconds(5);    // bound of an answer or event
inline constexpr auto start_timeout = std::chrono::seconds(10);  // bound of a node's start-up
inline constexpr auto tick_bound = std::chrono::seconds(3);      // --net-ticktime 1000, with slack

// ms(d) -> d in whole milliseconds (printable in a failed check).
inline long long ms(clock_type::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}
// ms_since(t) -> the milliseconds from t to now.
inline long long ms_since(clock_type::time_point t) { return ms(clock_type::now() - t); }

// self_exe() -> the path of this executable (the peers run it with --peer).
inline std::string self_exe() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw std::system_error(errno, std::generic_category(), "readlink /proc/self/exe");
  return std::string(buf, static_cast<std::size_t>(n));
}

// A node process. Output is kept as lines; expect() reads with a cursor (each match consumes the
// output up to it, so that the next expect looks further), request() pairs a command with its
// answer (the next line starting with the command's word), independently of that cursor.
class peer {
 public:
  // peer(short_name, extra, cookie): starts node SHORT@127.0.0.1 on an ephemeral port with
  // --net-ticktime 1000 and the extra arguments, and waits (bounded) for its first line:
  // `ready NAME PORT` (see ready()) or `start-failed MESSAGE` (see start_line()).
  explicit peer(std::string short_name, std::vector<std::string> extra = {},
                std::string cookie = "dist-cookie")
      : name_(std::move(short_name) + "@127.0.0.1") {
    std::vector<std::string> argv{self_exe(),       "--peer", "--name",   name_,
                                  "--cookie",       cookie,   "--port",   "0",
                                  "--net-ticktime", "1000",   "--no-epmd"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    spawn(argv);
    wait_started();
  }
  // What a command line given whole runs: a node program (its first line is awaited) or another
  // program (epmd, erl).
  enum class launch { node, program };
  // peer(full_name, argv, what): runs argv as it is (e.g. under `ip netns exec NS`), for node
  // full_name, and for a node waits for its first line as above.
  peer(std::string full_name, const std::vector<std::string>& argv, launch what)
      : name_(std::move(full_name)) {
    spawn(argv);
    if (what == launch::node) wait_started();
  }
  peer(const peer&) = delete;
  peer& operator=(const peer&) = delete;
  ~peer() { end(); }

  // wait_started(): its `ready NAME PORT` or `start-failed ...` line (bounded); log lines may
  // come before it.
  void wait_started() {
    if (auto i = wait_line(
            [](const std::string& l) {
              return l.rfind("ready ", 0) == 0 || l.rfind("start-failed", 0) == 0;
            },
            0, start_timeout)) {
      start_line_ = lines_[*i];
      // The cursor stays before the `ready` line: a node's formation and its log run from
      // start(), so what it says before `ready` (a first failed connect, an early node up) is
      // still to be expected. The `ready` line itself matches no needle of the tests.
      const std::string prefix = "ready " + name_ + " ";
      if (start_line_.rfind(prefix, 0) == 0) port_ = std::stoi(start_line_.substr(prefix.size()));
    }
  }

  // ready() -> the node started and printed its port.
  [[nodiscard]] bool ready() const noexcept { return port_ != 0; }
  // start_line() -> its first line (`ready ...`, `start-failed ...`), empty when none came.
  [[nodiscard]] const std::string& start_line() const noexcept { return start_line_; }
  // name() -> "n1@127.0.0.1"; address() -> "n1@127.0.0.1:PORT" (what connect takes).
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] std::string address() const { return name_ + ":" + std::to_string(port_); }
  // port() -> the port it printed in its `ready` line (0 before).
  [[nodiscard]] int port() const noexcept { return port_; }

  // send(command): writes one command line without waiting for its answer.
  bool send(std::string command) {
    command += '\n';
    return in_ >= 0 &&
           ::write(in_, command.data(), command.size()) == static_cast<ssize_t>(command.size());
  }

  // answer(word) -> the text after "WORD " of the next answer to a command WORD (bounded);
  // "<no answer>" when none came.
  std::string answer(std::string_view word, clock_type::duration timeout = step_timeout) {
    const std::string prefix = std::string(word) + " ";
    auto i = wait_line([&](const std::string& l) { return l.rfind(prefix, 0) == 0; },
                       answer_cursor_, timeout);
    if (!i) return "<no answer>";
    answer_cursor_ = *i + 1;
    return lines_[*i].substr(prefix.size());
  }

  // request(command) -> its answer (see answer()).
  std::string request(const std::string& command, clock_type::duration timeout = step_timeout) {
    if (!send(command)) return "<not running>";
    return answer(std::string_view(command).substr(0, command.find(' ')), timeout);
  }

  // expect(needle) -> a line after the cursor contains needle (waiting at most timeout); the
  // cursor moves past it.
  bool expect(const std::string& needle, clock_type::duration timeout = step_timeout) {
    return expect_all({needle}, timeout);
  }
  // expect_all(needles) -> each needle is in a different line after the cursor, in any order
  // (waiting at most timeout); the cursor moves past the last of them.
  bool expect_all(const std::vector<std::string>& needles,
                  clock_type::duration timeout = step_timeout) {
    const auto deadline = clock_type::now() + timeout;
    for (;;) {
      drain();
      std::vector<std::size_t> used;
      for (const auto& n : needles) {
        for (std::size_t i = cursor_; i < lines_.size(); ++i) {
          if (lines_[i].find(n) != std::string::npos &&
              std::find(used.begin(), used.end(), i) == used.end()) {
            used.push_back(i);
            break;
          }
        }
      }
      if (used.size() == needles.size()) {
        cursor_ = (used.empty() ? cursor_ : *std::max_element(used.begin(), used.end()) + 1);
        return true;
      }
      if (!wait_readable(deadline)) return false;
    }
  }

  // expect_line(parts) -> the first line after the cursor that contains every one of parts
  // (waiting at most timeout); the cursor moves past it.
  std::optional<std::string> expect_line(const std::vector<std::string>& parts,
                                         clock_type::duration timeout = step_timeout) {
    auto i = wait_line(
        [&](const std::string& l) {
          return std::all_of(parts.begin(), parts.end(),
                             [&](const std::string& p) { return l.find(p) != std::string::npos; });
        },
        cursor_, timeout);
    if (!i) return std::nullopt;
    cursor_ = *i + 1;
    return lines_[*i];
  }

  // count(needle) -> how many lines printed so far contain needle (cursor ignored).
  int count(std::string_view needle) {
    drain();
    return static_cast<int>(std::count_if(lines_.begin(), lines_.end(), [&](const std::string& l) {
      return l.find(needle) != std::string::npos;
    }));
  }

  // signal(sig): sends sig to the node process (SIGKILL, SIGSTOP, SIGCONT).
  void signal(int sig) {
    if (pid_ > 0 && !exited_ && ::kill(pid_, sig) == 0 && sig == SIGKILL) killed_ = true;
  }

  // wait_exit(timeout) -> its exit code (128 + N when signal N ended it), or -1 while it still
  // runs after timeout. Reaps it.
  int wait_exit(clock_type::duration timeout = step_timeout) {
    if (pid_ <= 0) return -1;
    const auto deadline = clock_type::now() + timeout;
    while (!exited_) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exited_ = true;
        status_ = WIFEXITED(status) ? WEXITSTATUS(status)
                                    : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        break;
      }
      if (r < 0 || clock_type::now() >= deadline) return -1;
      ::usleep(10'000);
    }
    return status_;
  }

  // read_output(): takes in what it printed so far, without waiting. A test busy elsewhere for a
  // while calls it now and then: a node whose output pipe is full blocks on its next line.
  void read_output() { drain(); }

  // transcript() -> everything it printed so far, for failure messages.
  std::string transcript() {
    drain();
    std::string t = "\n--- " + name_ + " printed:\n";
    for (const auto& l : lines_) t += "  | " + l + "\n";
    if (!partial_.empty()) t += "  | " + partial_ + "\n";
    return t;
  }

 private:
  void spawn(const std::vector<std::string>& argv) {
    int in[2];
    int out[2];
    if (::pipe2(in, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category());
    if (::pipe2(out, O_CLOEXEC) != 0) {
      ::close(in[0]);
      ::close(in[1]);
      throw std::system_error(errno, std::generic_category());
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, out[1], 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    // Its own process group; SIGPIPE back to the default (the runner ignores it, see main.cpp),
    // so that a peer whose runner is gone dies on its next line of output.
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int rc = ::posix_spawn(&pid_, argv[0].c_str(), &actions, &attr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    ::close(in[0]);
    ::close(out[1]);
    in_ = in[1];
    out_ = out[0];
    if (rc != 0) {
      pid_ = -1;
      close_fds();
      throw std::system_error(rc, std::generic_category(), "posix_spawn " + argv[0]);
    }
    ::fcntl(out_, F_SETFL, ::fcntl(out_, F_GETFL) | O_NONBLOCK);
  }

  // end(): closes its stdin (a peer quits at the end of its input), waits up to 3 s, then kills
  // its process group and reaps it. Reports a peer that did not quit by itself, quit with an
  // error, or printed a sanitizer report.
  void end() {
    if (in_ >= 0) {
      ::close(in_);
      in_ = -1;
    }
    std::string problem;
    if (pid_ > 0 && !exited_) {
      // Wait without reaping: while the leader is a zombie its group id cannot be reused, so the
      // kill below reaches only the processes we started.
      bool quit = false;
      const auto deadline = clock_type::now() + 3s;
      while (clock_type::now() < deadline) {
        siginfo_t info{};
        if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
            info.si_pid != 0) {
          quit = true;
          break;
        }
        ::usleep(10'000);
      }
      ::kill(-pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      exited_ = true;
      if (killed_) {
        // as the test wanted
      } else if (!quit) {
        problem = "did not quit within 3 s of the end of its input";
      } else if (!WIFEXITED(status) || (WEXITSTATUS(status) != 0 && port_ != 0)) {
        problem = "quit with status " + std::to_string(status);
      }
    }
    // What it printed last (a sanitizer's leak report comes at exit).
    for (auto until = clock_type::now() + 1s; out_ >= 0 && clock_type::now() < until;) {
      (void)wait_readable(until);
      drain();
    }
    for (const auto& l : lines_) {
      if (l.find("runtime error:") != std::string::npos ||
          l.find("Sanitizer") != std::string::npos) {
        problem += (problem.empty() ? "" : "; ") + std::string("printed a sanitizer report");
        break;
      }
    }
    if (!problem.empty()) BOOST_ERROR(name_ << " " << problem << transcript());
    close_fds();
  }

  // wait_line(pred, from, timeout) -> the index of the first line at or after from that matches.
  template <class Pred>
  std::optional<std::size_t> wait_line(Pred pred, std::size_t from, clock_type::duration timeout) {
    const auto deadline = clock_type::now() + timeout;
    for (;;) {
      drain();
      for (std::size_t i = from; i < lines_.size(); ++i) {
        if (pred(lines_[i])) return i;
      }
      if (!wait_readable(deadline)) return std::nullopt;
    }
  }

  // wait_readable(deadline) -> false once the deadline passed or the output is closed.
  bool wait_readable(clock_type::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
    if (left.count() <= 0 || out_ < 0) return false;
    pollfd p{out_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count()) + 1) < 0 && errno != EINTR) return false;
    return true;
  }

  void drain() {
    if (out_ < 0) return;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(out_, buf, sizeof buf);
      if (n > 0) {
        partial_.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0) {  // the child closed its output
        ::close(out_);
        out_ = -1;
      }
      break;
    }
    std::size_t nl;
    while ((nl = partial_.find('\n')) != std::string::npos) {
      lines_.push_back(partial_.substr(0, nl));
      partial_.erase(0, nl + 1);
    }
  }

  void close_fds() {
    if (in_ >= 0) ::close(in_);
    if (out_ >= 0) ::close(out_);
    in_ = out_ = -1;
  }

  std::string name_;
  int port_ = 0;
  std::string start_line_;
  pid_t pid_ = -1;
  bool exited_ = false;
  bool killed_ = false;  // by signal(SIGKILL)
  int status_ = -1;
  int in_ = -1;
  int out_ = -1;
  std::string partial_;
  std::vector<std::string> lines_;
  std::size_t cursor_ = 0;
  std::size_t answer_cursor_ = 0;
};

// closed_port: a loopback port bound by no listener (a connect to it is refused at once), held
// for the life of the object so that nobody else takes it meanwhile.
class closed_port {
 public:
  closed_port() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      throw std::system_error(errno, std::generic_category(), "closed_port");
    }
    port_ = ntohs(a.sin_port);
  }
  closed_port(const closed_port&) = delete;
  closed_port& operator=(const closed_port&) = delete;
  ~closed_port() { ::close(fd_); }
  [[nodiscard]] int port() const noexcept { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

// names_except(peers, except) -> the sorted names of peers but except, comma-separated (the
// shape of a peer's `list` answer).
inline std::string names_except(const std::vector<peer*>& peers, const peer* except = nullptr) {
  std::vector<std::string> names;
  for (const auto* p : peers)
    if (p != except) names.push_back(p->name());
  std::sort(names.begin(), names.end());
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

// require_started(peers): every peer printed `ready`.
inline void require_started(const std::vector<peer*>& peers) {
  for (auto* p : peers) BOOST_REQUIRE_MESSAGE(p->ready(), "no ready line" << p->transcript());
}

// require_up_events(peers): each peer reports `event up` for every other one (the peers
// started together: none of these events was expected before).
inline void require_up_events(const std::vector<peer*>& peers) {
  for (auto* p : peers) {
    std::vector<std::string> ups;
    for (const auto* q : peers)
      if (q != p) ups.push_back("event up " + q->name());
    BOOST_REQUIRE_MESSAGE(p->expect_all(ups), "missing node_up" << p->transcript());
  }
}

// require_joined(members, newcomer): newcomer reports `event up` for every member, and every
// member for newcomer.
inline void require_joined(const std::vector<peer*>& members, peer& newcomer) {
  std::vector<std::string> ups;
  for (auto* m : members) {
    ups.push_back("event up " + m->name());
    BOOST_REQUIRE_MESSAGE(m->expect("event up " + newcomer.name()),
                          "missing node_up" << m->transcript());
  }
  BOOST_REQUIRE_MESSAGE(newcomer.expect_all(ups), "missing node_up" << newcomer.transcript());
}

// require_lists(peers): every peer's list() (and list(connected)) names exactly the others.
inline void require_lists(const std::vector<peer*>& peers) {
  for (auto* p : peers) {
    BOOST_TEST_CONTEXT(p->name()) {
      BOOST_REQUIRE_EQUAL(p->request("list"), names_except(peers, p));
      BOOST_REQUIRE_EQUAL(p->request("connected"), names_except(peers, p));
    }
  }
}

}  // namespace dist_test

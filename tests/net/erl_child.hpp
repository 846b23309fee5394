// tests/net/erl_child.hpp: a real Erlang node (Debian erlang-base) as a child process of a test,
// shared by the tests that talk to one (erl_interop.cpp, connection.cpp, tests/etf/interop.cpp).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace erl_test {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

inline constexpr auto step_timeout = std::chrono::seconds(10);  // bound of every single wait

// free_port() -> a TCP port free on 127.0.0.1 now (the probe closes before its user binds it),
// e.g. for an erl node's -erl_epmd_port and inet_dist_listen_min/max.
inline unsigned short free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  const bool ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  const int err = errno;
  if (fd >= 0) ::close(fd);
  if (!ok) throw std::system_error(err, std::generic_category(), "free_port");
  return ntohs(a.sin_port);
}

// erl_installed() -> an executable `erl` is on PATH.
inline bool erl_installed() {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  std::string_view rest(path);
  while (!rest.empty()) {
    const auto colon = rest.find(':');
    const std::string dir(rest.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
    if (!dir.empty() && ::access((dir + "/erl").c_str(), X_OK) == 0) return true;
  }
  return false;
}

// A child process in its own process group, stdin and stdout+stderr piped to us. The destructor
// closes its stdin, waits a little for it to exit, then kills its group and reaps it.
class child_process {
 public:
  explicit child_process(const std::vector<std::string>& argv) {
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
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int rc = ::posix_spawnp(&pid_, argv[0].c_str(), &actions, &attr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    ::close(in[0]);
    ::close(out[1]);
    in_ = in[1];
    out_ = out[0];
    if (rc != 0) {
      pid_ = -1;
      close_fds();
      throw std::system_error(rc, std::generic_category(), "posix_spawnp " + argv[0]);
    }
    ::fcntl(out_, F_SETFL, ::fcntl(out_, F_GETFL) | O_NONBLOCK);
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;
  ~child_process() { stop(); }

  // write_line(text) -> false when the child no longer reads.
  bool write_line(std::string text) {
    text += '\n';
    return in_ >= 0 && ::write(in_, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  }

  // wait_for(needle, timeout) -> the first output line containing needle (earlier lines
  // included), waiting at most timeout for it to appear.
  std::optional<std::string> wait_for(std::string_view needle,
                                      clock_type::duration timeout = step_timeout) {
    const auto deadline = clock_type::now() + timeout;
    for (;;) {
      if (auto line = seen(needle)) return line;
      if (!wait_readable(deadline)) return std::nullopt;
    }
  }

  // next_line(timeout) -> the next output line that next_line has not returned yet (lines come
  // in order; wait_for and seen still see every line), waiting at most timeout for it.
  std::optional<std::string> next_line(clock_type::duration timeout = step_timeout) {
    const auto deadline = clock_type::now() + timeout;
    for (;;) {
      drain();
      if (next_ < lines_.size()) return lines_[next_++];
      if (!wait_readable(deadline)) return std::nullopt;
    }
  }

  // seen(needle) -> a line read so far that contains needle (no waiting beyond a drain).
  std::optional<std::string> seen(std::string_view needle) {
    drain();
    for (const auto& l : lines_) {
      if (l.find(needle) != std::string::npos) return l;
    }
    return std::nullopt;
  }

  // transcript() -> everything the child printed so far, for failure messages.
  std::string transcript() {
    drain();
    std::string t;
    for (const auto& l : lines_) t += "  | " + l + "\n";
    if (!partial_.empty()) t += "  | " + partial_ + "\n";
    return t;
  }

  void stop() {
    if (pid_ > 0) {
      if (in_ >= 0) {
        ::close(in_);  // erl halts at end of input
        in_ = -1;
      }
      // Wait up to 3 s for the leader to exit, without reaping it: while it is a zombie its
      // process group id cannot be reused, so the kill below only reaches processes we started.
      const auto deadline = clock_type::now() + 3s;
      siginfo_t info{};
      while (clock_type::now() < deadline) {
        info.si_pid = 0;
        if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
            info.si_pid != 0) {
          break;
        }
        ::usleep(20'000);
      }
      ::kill(-pid_, SIGKILL);  // the group: erl's helpers (erl_child_setup) too
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
    close_fds();
  }

 private:
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
    std::size_t start = 0;
    std::size_t nl;
    while ((nl = partial_.find('\n', start)) != std::string::npos) {
      lines_.push_back(partial_.substr(start, nl - start));
      start = nl + 1;
    }
    partial_.erase(0, start);
  }

  // wait_readable(deadline) -> false when the deadline passed or the output is closed; true when
  // there may be output to drain.
  bool wait_readable(clock_type::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
    if (left.count() <= 0 || out_ < 0) return false;
    pollfd p{out_, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(left.count())) >= 0 || errno == EINTR;
  }

  void close_fds() {
    if (in_ >= 0) ::close(in_);
    if (out_ >= 0) ::close(out_);
    in_ = out_ = -1;
  }

  pid_t pid_ = -1;
  int in_ = -1;
  int out_ = -1;
  std::string partial_;
  std::vector<std::string> lines_;
  std::size_t next_ = 0;  // the first line next_line has not returned
};

// The program erl evaluates (-eval): report node up/down, obey "connect NODE" and "send NODE SIZE"
// ({big, Binary of SIZE sevens} to sink on NODE) on stdin.
inline constexpr const char* erl_program = R"erl(
Parent = self(),
spawn(fun() ->
  ok = net_kernel:monitor_nodes(true),
  Parent ! monitoring,
  W = fun W() ->
    receive
      {nodeup, N} -> io:format("nodeup ~s~n", [N]);
      {nodedown, N} -> io:format("nodedown ~s~n", [N])
    end,
    W()
  end,
  W()
end),
receive monitoring -> ok after 5000 -> erlang:halt(2) end,
{ok, _} = timer:apply_after(60000, erlang, halt, [3]),
io:format("ready ~s ~s~n", [node(), erlang:system_info(otp_release)]),
L = fun L() ->
  case io:get_line("") of
    eof -> erlang:halt(0);
    {error, _} -> erlang:halt(0);
    Line ->
      case string:lexemes(Line, " \n") of
        ["connect", N] ->
          io:format("connect ~s ~p~n", [N, net_kernel:connect_node(list_to_atom(N))]);
        ["send", N, Size] ->
          {sink, list_to_atom(N)} ! {big, binary:copy(<<7>>, list_to_integer(Size))},
          io:format("sent~n");
        _ -> io:format("unknown command ~s", [Line])
      end,
      L()
  end
end,
L().
)erl";

// eval_program(halt_after_ms): an `erl -eval` program that prints "ready NODE", then evaluates
// one Erlang expression per line of its stdin and prints "result {ok, Value}" (or
// "result {Class, Reason}") for each, with ~w; it halts at the end of its input, and after
// halt_after_ms in any case.
inline std::string eval_program(long halt_after_ms) {
  return R"erl(
io:format("ready ~s~n", [node()]),
{ok, _} = timer:apply_after()erl" +
         std::to_string(halt_after_ms) + R"erl(, erlang, halt, [3]),
L = fun L() ->
  case io:get_line("") of
    eof -> erlang:halt(0);
    {error, _} -> erlang:halt(0);
    Line ->
      R = try
            {ok, Toks, _} = erl_scan:string(Line),
            {ok, Exprs} = erl_parse:parse_exprs(Toks),
            {value, V, _} = erl_eval:exprs(Exprs, []),
            {ok, V}
          catch C:E -> {C, E}
          end,
      io:format("result ~w~n", [R]),
      L()
  end
end,
L().
)erl";
}

// eval(erl, expression, timeout) -> what an eval_program printed for expression, after "result ";
// nothing when it printed nothing within timeout.
inline std::optional<std::string> eval(child_process& erl, const std::string& expression,
                                       clock_type::duration timeout) {
  if (!erl.write_line(expression)) return std::nullopt;
  const auto deadline = clock_type::now() + timeout;
  while (clock_type::now() < deadline) {
    auto line = erl.next_line(deadline - clock_type::now());
    if (!line) break;
    if (line->rfind("result ", 0) == 0) return line->substr(7);
  }
  return std::nullopt;
}

}  // namespace erl_test

// tests/dist/cluster.hpp: node processes for the multi-process tests. A peer is this executable
// started as `test_dist --peer ...` (peer.cpp), driven over its line REPL: a child_process of the
// test support library (tests/common/process.hpp) with its stdin and its stdout+stderr piped to
// the test. Every wait is bounded; the destructor ends and reaps the child.
#pragma once

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "../common/ports.hpp"
#include "../common/process.hpp"
#include "../common/programs.hpp"
#include "../common/wait.hpp"

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

using clock_type = nodus::test::clock_type;
using nodus::test::closed_port;
using nodus::test::self_exe;
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
      : name_(std::move(short_name) + "@127.0.0.1"),
        proc_(node_argv(name_, extra, cookie), nodus::test::process_options().stdin_pipe()) {
    wait_started();
  }
  // What a command line given whole runs: a node program (its first line is awaited) or another
  // program (epmd, erl).
  enum class launch { node, program };
  // peer(full_name, argv, what): runs argv as it is (e.g. under `ip netns exec NS`), for node
  // full_name, and for a node waits for its first line as above.
  peer(std::string full_name, const std::vector<std::string>& argv, launch what)
      : name_(std::move(full_name)), proc_(argv, nodus::test::process_options().stdin_pipe()) {
    if (what == launch::node) wait_started();
  }
  peer(const peer&) = delete;
  peer& operator=(const peer&) = delete;
  ~peer() { end(); }

  // wait_started(): its `ready NAME PORT` or `start-failed ...` line (bounded); log lines may
  // come before it.
  void wait_started() {
    if (auto i = proc_.wait_line(
            [](const std::string& l) {
              return l.rfind("ready ", 0) == 0 || l.rfind("start-failed", 0) == 0;
            },
            0, clock_type::now() + start_timeout)) {
      start_line_ = proc_.lines()[*i];
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
  bool send(const std::string& command) { return proc_.write_line(command); }

  // answer(word) -> the text after "WORD " of the next answer to a command WORD (bounded);
  // "<no answer>" when none came.
  std::string answer(std::string_view word, clock_type::duration timeout = step_timeout) {
    const std::string prefix = std::string(word) + " ";
    auto i = proc_.wait_line([&](const std::string& l) { return l.rfind(prefix, 0) == 0; },
                             answer_cursor_, clock_type::now() + timeout);
    if (!i) return "<no answer>";
    answer_cursor_ = *i + 1;
    return proc_.lines()[*i].substr(prefix.size());
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
      proc_.read_output();
      const auto& lines = proc_.lines();
      std::vector<std::size_t> used;
      for (const auto& n : needles) {
        for (std::size_t i = cursor_; i < lines.size(); ++i) {
          if (lines[i].find(n) != std::string::npos &&
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
      if (!proc_.wait_readable(deadline)) return false;
    }
  }

  // expect_line(parts) -> the first line after the cursor that contains every one of parts
  // (waiting at most timeout); the cursor moves past it.
  std::optional<std::string> expect_line(const std::vector<std::string>& parts,
                                         clock_type::duration timeout = step_timeout) {
    auto i = proc_.wait_line(
        [&](const std::string& l) {
          return std::all_of(parts.begin(), parts.end(),
                             [&](const std::string& p) { return l.find(p) != std::string::npos; });
        },
        cursor_, clock_type::now() + timeout);
    if (!i) return std::nullopt;
    cursor_ = *i + 1;
    return proc_.lines()[*i];
  }

  // count(needle) -> how many lines printed so far contain needle (cursor ignored).
  int count(std::string_view needle) {
    proc_.read_output();
    const auto& lines = proc_.lines();
    return static_cast<int>(std::count_if(lines.begin(), lines.end(), [&](const std::string& l) {
      return l.find(needle) != std::string::npos;
    }));
  }

  // signal(sig): sends sig to the node process (SIGKILL, SIGSTOP, SIGCONT).
  void signal(int sig) {
    if (proc_.signal(sig) && sig == SIGKILL) killed_ = true;
  }

  // wait_exit(timeout) -> its exit code (128 + N when signal N ended it), or -1 while it still
  // runs after timeout. Reaps it.
  int wait_exit(clock_type::duration timeout = step_timeout) {
    const auto status = proc_.wait_exit(timeout);
    return status ? nodus::test::exit_code(*status) : -1;
  }

  // read_output(): takes in what it printed so far, without waiting. A test busy elsewhere for a
  // while calls it now and then: a node whose output pipe is full blocks on its next line.
  void read_output() { proc_.read_output(); }

  // transcript() -> everything it printed so far, for failure messages.
  std::string transcript() { return "\n--- " + name_ + " printed:\n" + proc_.transcript(); }

 private:
  static std::vector<std::string> node_argv(const std::string& name,
                                            const std::vector<std::string>& extra,
                                            const std::string& cookie) {
    std::vector<std::string> argv{self_exe(),       "--peer", "--name",   name,
                                  "--cookie",       cookie,   "--port",   "0",
                                  "--net-ticktime", "1000",   "--no-epmd"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }

  // end(): closes its stdin (a peer quits at the end of its input), waits up to 3 s, then kills
  // its process group and reaps it. Reports a peer that did not quit by itself, quit with an
  // error, or printed a sanitizer report.
  void end() {
    proc_.close_stdin();
    std::string problem;
    if (!proc_.reaped()) {
      const auto ended = proc_.stop(3s);
      if (killed_) {
        // as the test wanted
      } else if (!ended.by_itself) {
        problem = "did not quit within 3 s of the end of its input";
      } else if (!WIFEXITED(ended.status) || (WEXITSTATUS(ended.status) != 0 && port_ != 0)) {
        problem = "quit with status " + std::to_string(ended.status);
      }
    }
    // What it printed last (a sanitizer's leak report comes at exit).
    for (auto until = clock_type::now() + 1s; proc_.output_open() && clock_type::now() < until;) {
      (void)proc_.wait_readable(until);
      proc_.read_output();
    }
    for (const auto& l : proc_.lines()) {
      if (l.find("runtime error:") != std::string::npos ||
          l.find("Sanitizer") != std::string::npos) {
        problem += (problem.empty() ? "" : "; ") + std::string("printed a sanitizer report");
        break;
      }
    }
    if (!problem.empty()) BOOST_ERROR(name_ << " " << problem << transcript());
  }

  std::string name_;
  nodus::test::child_process proc_;
  int port_ = 0;
  std::string start_line_;
  bool killed_ = false;  // by signal(SIGKILL)
  std::size_t cursor_ = 0;
  std::size_t answer_cursor_ = 0;
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

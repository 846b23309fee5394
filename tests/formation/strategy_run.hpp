// tests/formation/strategy_run.hpp: running one cluster formation strategy on its own, with a
// strategy_context that records what it asks for (set_nodes, add_nodes, log lines) and lets a
// test wait for it, on an io_context whose thread entered a network namespace (so the
// strategy's lookups ask that namespace's resolver). Used by dns_poll.cpp and dns_srv.cpp.
#pragma once

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/strand.hpp>

#include "../common/netns.hpp"
#include "nodus/cluster/strategy.hpp"

namespace formation_test {

using namespace std::chrono_literals;
using nodus::log_level;
using nodus::test::netns;

inline constexpr auto wait_bound = 15s;  // every wait of these tests

// One set_nodes call as the context saw it: the names sorted, the flag, whether any target came
// with an endpoint.
struct set_nodes_call {
  std::vector<std::string> names;
  bool disconnect_vanished = false;
  bool any_endpoint = false;
};

struct log_line {
  log_level level;
  std::string text;
};

// A strategy_context that records set_nodes / add_nodes calls and log lines, and lets the test
// wait for them. Its executor is a strand of the given io_context.
class recording_context final : public nodus::cluster::strategy_context {
 public:
  recording_context(asio::io_context& io, nodus::node_name self, nodus::cluster_options settings)
      : self_(self), settings_(std::move(settings)), strand_(asio::make_strand(io)) {}

  [[nodiscard]] const nodus::node_name& self() const override { return self_; }
  [[nodiscard]] std::string_view label() const override { return "dns"; }
  [[nodiscard]] asio::any_io_executor executor() const override { return strand_; }
  [[nodiscard]] const nodus::cluster_options& settings() const override { return settings_; }
  [[nodiscard]] std::uint16_t node_port() const override { return 0; }
  [[nodiscard]] std::uint16_t epmd_port() const override { return 4369; }
  [[nodiscard]] bool stopped() const override {
    const std::lock_guard lock(m_);
    return stopped_;
  }

  void set_nodes(std::vector<nodus::cluster::node_target> nodes,
                 bool disconnect_vanished) override {
    set_nodes_call c;
    c.disconnect_vanished = disconnect_vanished;
    for (const auto& t : nodes) {
      c.names.emplace_back(t.name.str());
      c.any_endpoint = c.any_endpoint || t.endpoint.has_value();
    }
    std::sort(c.names.begin(), c.names.end());
    const std::lock_guard lock(m_);
    calls_.push_back(std::move(c));
    cv_.notify_all();
  }
  void add_nodes(std::vector<nodus::cluster::node_target> /*nodes*/) override {
    const std::lock_guard lock(m_);
    ++add_calls_;
    cv_.notify_all();
  }
  void log(log_level level, std::string line) override {
    const std::lock_guard lock(m_);
    lines_.push_back({level, std::move(line)});
    cv_.notify_all();
  }

  // halt(): stopped() becomes true (what the engine does before it stops a strategy).
  void halt() {
    const std::lock_guard lock(m_);
    stopped_ = true;
  }

  // wait(pred) -> pred() became true within the bound; pred runs under the lock and reads
  // calls() / lines() through the references it gets.
  bool wait(const std::function<bool(const std::vector<set_nodes_call>&,
                                     const std::vector<log_line>&)>& pred,
            std::chrono::steady_clock::duration bound = wait_bound) {
    std::unique_lock lock(m_);
    return cv_.wait_for(lock, bound, [&] { return pred(calls_, lines_); });
  }

  // wait_lines(needle, n) -> at least n lines containing needle were logged within the bound.
  bool wait_lines(std::string_view needle, std::size_t n) {
    return wait([&](const auto&, const auto& lines) { return count(lines, needle) >= n; });
  }

  [[nodiscard]] std::vector<set_nodes_call> calls() const {
    const std::lock_guard lock(m_);
    return calls_;
  }
  [[nodiscard]] std::vector<log_line> lines() const {
    const std::lock_guard lock(m_);
    return lines_;
  }
  [[nodiscard]] std::size_t add_calls() const {
    const std::lock_guard lock(m_);
    return add_calls_;
  }
  [[nodiscard]] std::size_t count_lines(std::string_view needle) const {
    const std::lock_guard lock(m_);
    return count(lines_, needle);
  }

  // transcript() -> every call and line so far, for failure messages.
  [[nodiscard]] std::string transcript() const {
    const std::lock_guard lock(m_);
    std::string t = "\nset_nodes calls:";
    for (const auto& c : calls_) {
      t += "\n  {";
      for (const auto& n : c.names) t += " " + n;
      t += c.disconnect_vanished ? " } disconnect_vanished" : " }";
    }
    t += "\nlog lines:";
    for (const auto& l : lines_) {
      t += "\n  [" + std::string(nodus::to_string(l.level)) + "] " + l.text;
    }
    return t;
  }

  static std::size_t count(const std::vector<log_line>& lines, std::string_view needle) {
    return static_cast<std::size_t>(std::count_if(lines.begin(), lines.end(), [&](const auto& l) {
      return l.text.find(needle) != std::string::npos;
    }));
  }

 private:
  nodus::node_name self_;
  nodus::cluster_options settings_;
  asio::strand<asio::io_context::executor_type> strand_;
  mutable std::mutex m_;
  std::condition_variable cv_;
  bool stopped_ = false;
  std::vector<set_nodes_call> calls_;
  std::vector<log_line> lines_;
  std::size_t add_calls_ = 0;
};

// An io_context run by a thread of its own that entered the namespace (when one is given), so the
// strategy's lookups (Asio's resolver thread, started from it) ask that namespace's DNS server.
class ns_io {
 public:
  explicit ns_io(const netns* ns) {
    auto entered = std::make_shared<std::promise<void>>();
    auto ready = entered->get_future();
    thread_ = std::thread([this, ns, entered] {
      try {
        if (ns != nullptr) ns->enter_on_this_thread();
      } catch (...) {
        entered->set_exception(std::current_exception());
        return;
      }
      entered->set_value();
      io_.run();
    });
    try {
      ready.get();
    } catch (...) {
      thread_.join();
      throw;
    }
  }
  ns_io(const ns_io&) = delete;
  ns_io& operator=(const ns_io&) = delete;
  ~ns_io() {
    work_.reset();
    io_.stop();
    thread_.join();
  }
  asio::io_context& io() { return io_; }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::thread thread_;
};

// A strategy S started with a recording context on an ns_io; stopped and torn down in the order
// the engine uses (context stopped, strategy stopped, then the io_context goes).
template <class S>
class poll_run {
 public:
  poll_run(const netns* ns, std::string_view self, nodus::cluster_options settings = {})
      : io_(ns),
        ctx_(std::make_shared<recording_context>(io_.io(), parse(self), std::move(settings))) {
    strategy_.start(ctx_);
  }
  poll_run(const poll_run&) = delete;
  poll_run& operator=(const poll_run&) = delete;
  ~poll_run() {
    ctx_->halt();
    strategy_.stop();
  }

  recording_context& ctx() { return *ctx_; }
  S& strategy() { return strategy_; }

  // sync() -> true once everything posted to the context's strand so far has run.
  bool sync() {
    auto done = std::make_shared<std::promise<void>>();
    auto f = done->get_future();
    asio::post(ctx_->executor(), [done] { done->set_value(); });
    return f.wait_for(wait_bound) == std::future_status::ready;
  }

 private:
  static nodus::node_name parse(std::string_view text) {
    auto n = nodus::node_name::parse(text);
    if (!n) throw std::runtime_error(n.error().message());
    return *n;
  }

  ns_io io_;                                // destroyed last: its handlers may hold ctx_
  std::shared_ptr<recording_context> ctx_;  // dropped before the io_context goes
  S strategy_;
};

// skip_without_netns() -> true (after saying why) when namespaces or dnsmasq are unavailable.
inline bool skip_without_netns() {
  std::string why = nodus::test::unavailable_reason();
  if (why.empty() && !nodus::test::dnsmasq::installed()) {
    why = "dnsmasq is not installed (Debian: apt-get install dnsmasq-base): skipped";
  }
  if (why.empty()) return false;
  BOOST_TEST_MESSAGE(why);
  return true;
}

}  // namespace formation_test

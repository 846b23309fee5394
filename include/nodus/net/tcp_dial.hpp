// nodus/net/tcp_dial.hpp: a TCP connect that does not sit out the kernel's SYN backoff. When a
// connect gets no answer within `resend_every`, another socket sends a fresh SYN beside the
// pending ones, and the first to connect wins. A SYN lost to a partition that has since healed
// (or to a dropped packet) then costs `resend_every`, not the kernel's retransmission schedule
// (Linux: the initial RTO of 1 s, doubled each time: 1 s, 3 s, 7 s after the first SYN;
// RFC 6298 section 2 and tcp_syn_retries in Documentation/networking/ip-sysctl.rst).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <list>
#include <memory>
#include <system_error>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/error.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

namespace nodus::net {

// The default resend period of a dial: a SYN unanswered this long on a LAN (round trips well
// under 1 ms) was lost.
inline constexpr std::chrono::milliseconds default_connect_resend{250};

// tcp_dial: one connect to the first of a list of endpoints that answers. Not thread-safe: start
// it, and call cancel(), on one strand (the executor it was made with); its handler runs there.
//
// - Every `resend_every` without an answer (0: never; then it is a plain connect), a new socket
//   connects to the current endpoint. The first socket is kept for the whole dial, so the
//   kernel's own retransmissions go on; of the others, at most `max_extra` stay open (the oldest
//   is closed first). Socket count per dial: at most 1 + max_extra.
// - The first socket to connect is handed to done({}, socket); the others are closed (a peer
//   that accepted one of them sees it closed before the handshake).
// - An attempt that fails (refused, unreachable) is closed; when no other attempt is pending,
//   the next endpoint is tried, and after the last one done(error of the last attempt).
// - No deadline of its own: the owner bounds the dial (net_setuptime) and calls cancel(), after
//   which done never runs.
class tcp_dial : public std::enable_shared_from_this<tcp_dial> {
 public:
  using tcp = asio::ip::tcp;
  using handler = std::function<void(std::error_code, tcp::socket)>;

  static constexpr std::size_t max_extra = 3;

  // start(ex, endpoints, resend_every, done) -> the dial, started; done runs once on ex (unless
  // cancelled). An empty endpoint list: done(asio::error::host_not_found).
  [[nodiscard]] static std::shared_ptr<tcp_dial> start(const asio::any_io_executor& ex,
                                                       std::vector<tcp::endpoint> endpoints,
                                                       std::chrono::milliseconds resend_every,
                                                       handler done) {
    auto d = std::make_shared<tcp_dial>(private_tag{}, ex, std::move(endpoints), resend_every,
                                        std::move(done));
    d->next_endpoint();
    return d;
  }

  // cancel(): closes every socket; done will not run. On the dial's executor.
  void cancel() {
    finished_ = true;
    done_ = nullptr;
    close_all();
  }

  // attempts() -> sockets opened so far (for tests and diagnostics).
  [[nodiscard]] std::size_t attempts() const noexcept { return opened_; }

  struct private_tag {};
  tcp_dial(private_tag, const asio::any_io_executor& ex, std::vector<tcp::endpoint> endpoints,
           std::chrono::milliseconds resend_every, handler done)
      : ex_(ex),
        timer_(ex),
        endpoints_(std::move(endpoints)),
        every_(resend_every),
        done_(std::move(done)) {}

 private:
  struct attempt {
    std::uint64_t id;
    tcp::socket socket;
  };

  void next_endpoint() {
    if (finished_) return;
    if (index_ >= endpoints_.size()) {
      finish(last_error_ ? last_error_ : make_error_code(asio::error::host_not_found),
             tcp::socket(ex_));
      return;
    }
    open_attempt();
    arm_resend();
  }

  void open_attempt() {
    if (attempts_.size() > max_extra) {
      // Keep the first (the kernel's own retransmissions) and the newest; close the oldest extra.
      close_one(std::next(attempts_.begin()));
    }
    const std::uint64_t id = ++last_id_;
    ++opened_;
    attempts_.emplace_back(attempt{id, tcp::socket(ex_)});
    attempts_.back().socket.async_connect(
        endpoints_[index_],
        [self = shared_from_this(), id](std::error_code ec) { self->on_connect(id, ec); });
  }

  void arm_resend() {
    if (every_.count() <= 0) return;
    timer_.expires_after(every_);
    timer_.async_wait([self = shared_from_this(), index = index_](std::error_code ec) {
      if (ec || self->finished_ || index != self->index_) return;
      self->open_attempt();
      self->arm_resend();
    });
  }

  void on_connect(std::uint64_t id, std::error_code ec) {
    if (finished_) return;
    auto it = attempts_.begin();
    while (it != attempts_.end() && it->id != id) ++it;
    if (it == attempts_.end()) return;  // closed as the oldest extra
    if (!ec) {
      tcp::socket won = std::move(it->socket);
      attempts_.erase(it);
      finish({}, std::move(won));
      return;
    }
    last_error_ = ec;
    close_one(it);
    if (!attempts_.empty()) return;  // another SYN may still be answered
    ++index_;
    timer_.cancel();
    next_endpoint();
  }

  void close_one(std::list<attempt>::iterator it) {
    std::error_code ignored;
    it->socket.close(ignored);
    attempts_.erase(it);
  }

  void close_all() {
    std::error_code ignored;
    timer_.cancel();
    for (auto& a : attempts_) a.socket.close(ignored);
    attempts_.clear();
  }

  void finish(std::error_code ec, tcp::socket s) {
    if (finished_) return;
    finished_ = true;
    close_all();
    auto done = std::move(done_);
    done_ = nullptr;
    if (done) done(ec, std::move(s));
  }

  asio::any_io_executor ex_;
  asio::steady_timer timer_;
  std::vector<tcp::endpoint> endpoints_;
  std::chrono::milliseconds every_;
  handler done_;
  std::list<attempt> attempts_;  // a list: a socket with a pending connect never moves
  std::size_t index_ = 0;
  std::uint64_t last_id_ = 0;
  std::size_t opened_ = 0;
  std::error_code last_error_;
  bool finished_ = false;
};

}  // namespace nodus::net

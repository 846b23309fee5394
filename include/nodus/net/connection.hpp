// nodus/net/connection.hpp: one TCP connection to a peer node: the distribution handshake, then
// 4-byte length-prefixed frames with ticks, over standalone Asio (callbacks, no coroutines).
#pragma once

#include <array>
#include <asio/any_io_executor.hpp>
#include <asio/bind_executor.hpp>
#include <asio/buffer.hpp>
#include <asio/connect.hpp>
#include <asio/dispatch.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/write.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "nodus/core/error.hpp"
#include "nodus/core/node_name.hpp"
#include "nodus/net/dist_flags.hpp"
#include "nodus/net/handshake.hpp"

namespace nodus::net {

// "After the handshake, the distribution switches to 4 byte packet headers" (erl_dist_protocol,
// "Distribution Handshake"); "an empty message (4 zero bytes) ... is a tick" ("Protocol between
// Connected Nodes": "4-byte length, ... Length equal to 0 is used for ticks").
inline constexpr std::size_t frame_header_size = 4;

// Settings of one connection. Defaults follow Erlang: net_setuptime 7 s, net_ticktime 60 s
// (kernel app docs: net_setuptime default 7, net_ticktime default 60).
struct connection_options {
  handshake::options handshake;  // our name, cookie, flags; challenge 0: a fresh random one
  std::chrono::milliseconds setup_timeout{7000};  // connect + handshake must finish in this
  std::chrono::milliseconds ticktime{60000};      // tick every ticktime/4; silent ticktime: down
  std::size_t max_frame_size = std::size_t{64} << 20;  // a longer frame: frame_too_large, closed
};

// What a connection tells its owner. Every callback runs on the connection's strand; each may be
// empty. on_frame's bytes are valid during the call only. on_down runs exactly once, last.
struct connection_handlers {
  std::function<void(const node_name& peer, dist_flags flags)> on_up;  // handshake done
  std::function<void(std::span<const std::byte> frame)> on_frame;      // one non-tick frame
  std::function<void(const nodus::error& why)> on_down;                // the connection is gone
  // Acceptor only: the status for a peer that sent its name (default: ok). See
  // handshake::machine::reply_status.
  std::function<handshake::status(const node_name& peer)> decide_status;
  // Initiator only: the answer to `alive` (default: true, we hold no other connection).
  std::function<bool(const node_name& peer)> answer_alive;
};

// One connection to a peer node, made by dial() (initiator) or from an accepted socket (acceptor).
// Runs the Erlang distribution handshake bounded by setup_timeout, then exchanges 4-byte framed
// messages, sends ticks on an idle link and declares a silent peer down after ticktime.
// on_down reasons: errc::nodedown with reason "connection_closed: ..." (peer closed or reset),
// "net_tick_timeout: ..." or "disconnect: ..." (close() called); errc::timeout
// ("net_setuptime: ..."); errc::frame_too_large; errc::malformed_frame; the handshake's errors
// (errc::bad_cookie, protocol_mismatch, not_connected) naming the peer. A peer closing right after
// our challenge reply is reported as bad_cookie: that is what an Erlang node does on a wrong
// digest. Thread safety: send() and close() may be called from any thread. Owned by shared_ptr;
// in-flight operations keep it alive, so the owner may drop it at any time, e.g. inside on_down.
class connection : public std::enable_shared_from_this<connection> {
  struct private_tag {};

 public:
  using tcp = asio::ip::tcp;

  // dial(ex, endpoints, peer, opts, h) -> an initiator connecting to peer at the first endpoint
  // that answers; started at once.
  [[nodiscard]] static std::shared_ptr<connection> dial(const asio::any_io_executor& ex,
                                                        std::vector<tcp::endpoint> endpoints,
                                                        const node_name& peer,
                                                        connection_options opts,
                                                        connection_handlers h) {
    auto c = std::make_shared<connection>(private_tag{}, ex, std::move(opts), std::move(h),
                                          handshake::machine::role::initiator, peer);
    c->endpoints_ = std::move(endpoints);
    asio::post(c->strand_, [c] { c->start_dial(); });
    return c;
  }

  // accept(socket, opts, h) -> an acceptor over an accepted socket; started at once.
  [[nodiscard]] static std::shared_ptr<connection> accept(tcp::socket socket,
                                                          connection_options opts,
                                                          connection_handlers h) {
    auto ex = socket.get_executor();
    auto c = std::make_shared<connection>(private_tag{}, ex, std::move(opts), std::move(h),
                                          handshake::machine::role::acceptor, node_name{});
    c->socket_ = std::move(socket);
    asio::post(c->strand_, [c] { c->start_handshake(); });
    return c;
  }

  // Use dial() or accept().
  connection(private_tag, const asio::any_io_executor& ex, connection_options opts,
             connection_handlers h, handshake::machine::role role, const node_name& peer)
      : strand_(asio::make_strand(ex)),
        socket_(strand_),
        setup_timer_(strand_),
        tick_timer_(strand_),
        opts_(std::move(opts)),
        h_(std::move(h)),
        machine_(make_machine(opts_, role, peer)) {}

  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // send(payload): queues one frame whose payload is the given bytes (the 4-byte header is added).
  // Dropped silently before on_up and after on_down.
  void send(std::vector<std::byte> payload) {
    auto owner = std::make_shared<std::vector<std::byte>>(std::move(payload));
    std::vector<asio::const_buffer> parts{asio::buffer(*owner)};
    send(std::move(parts), std::move(owner));
  }

  // send(parts, owner): queues one frame whose payload is the concatenation of parts, without
  // copying them; owner (anything) is kept alive until the frame is written or dropped, and must
  // keep the bytes of parts valid and unchanged until then.
  void send(std::vector<asio::const_buffer> parts, std::shared_ptr<const void> owner) {
    asio::dispatch(strand_, [self = shared_from_this(), parts = std::move(parts),
                             owner = std::move(owner)]() mutable {
      self->queue_frame(std::move(parts), std::move(owner));
    });
  }

  // close(): ends the connection; on_down(nodedown "disconnect") follows unless it already ran.
  // Idempotent.
  void close() {
    asio::dispatch(strand_, [self = shared_from_this()] {
      self->go_down(nodus::error(errc::nodedown, "disconnect: closed by us" + self->peer_text()));
    });
  }

  // get_executor() -> the connection's strand: post here to run with its handlers.
  [[nodiscard]] asio::strand<asio::any_io_executor> get_executor() const noexcept {
    return strand_;
  }

 private:
  // One queued write: a handshake message (raw) or a frame (header + parts).
  struct outgoing {
    std::array<std::byte, frame_header_size> header{};
    bool raw = false;
    std::vector<asio::const_buffer> parts;
    std::shared_ptr<const void> owner;
  };

  static handshake::machine make_machine(connection_options& o, handshake::machine::role role,
                                         const node_name& peer) {
    if (o.handshake.challenge == 0) {
      if (auto c = handshake::random_challenge()) o.handshake.challenge = *c;
    }
    return role == handshake::machine::role::initiator
               ? handshake::machine::initiator(o.handshake, peer)
               : handshake::machine::acceptor(o.handshake);
  }

  // who() -> "peer n@h", or "the peer" before its name is known. For reasons.
  std::string who() const {
    if (machine_.peer().empty()) return "the peer";
    return "peer " + std::string(machine_.peer().str());
  }

  std::string peer_text() const {
    if (machine_.peer().empty()) return "";
    return " (peer " + std::string(machine_.peer().str()) + ")";
  }

  template <class F>
  auto on_strand(F&& f) {
    return asio::bind_executor(strand_, std::forward<F>(f));
  }

  // ---- setup ------------------------------------------------------------------------------

  void arm_setup_timer() {
    setup_timer_.expires_after(opts_.setup_timeout);
    setup_timer_.async_wait(on_strand([self = shared_from_this()](std::error_code ec) {
      if (ec || self->up_) return;
      if (self->down_) {  // lingering to write a refusal: give up on it
        self->close_socket();
        return;
      }
      self->go_down(nodus::error(
          errc::timeout, "net_setuptime: connection setup" + self->peer_text() +
                             " not finished within " +
                             std::to_string(self->opts_.setup_timeout.count()) + " ms (state " +
                             std::string(handshake::to_string(self->machine_.current())) + ")"));
    }));
  }

  void start_dial() {
    arm_setup_timer();
    asio::async_connect(
        socket_, endpoints_,
        on_strand([self = shared_from_this()](std::error_code ec, const tcp::endpoint&) {
          if (self->down_) return;
          if (ec) {
            self->go_down(
                nodus::error(errc::not_connected, "cannot connect to " +
                                                      std::string(self->machine_.peer().str()) +
                                                      ": " + ec.message()));
            return;
          }
          self->start_handshake_io();
        }));
  }

  void start_handshake() {
    arm_setup_timer();
    start_handshake_io();
  }

  void start_handshake_io() {
    std::error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    flush_handshake_output();
    read_more();
  }

  void flush_handshake_output() {
    if (!machine_.has_output()) return;
    auto bytes = std::make_shared<std::vector<std::byte>>(machine_.take_output());
    outgoing o;
    o.raw = true;
    o.parts.push_back(asio::buffer(*bytes));
    o.owner = std::move(bytes);
    queue_.push_back(std::move(o));
    start_write();
  }

  // Handles whatever complete handshake messages sit in the read buffer.
  void process_handshake() {
    while (!down_ && !machine_.finished()) {
      auto f = handshake::split_frame(buffered());
      if (!f) break;
      const std::size_t used = f->size;
      auto r = machine_.feed(f->body);
      rpos_ += used;
      using st = handshake::machine::state;
      if (r && machine_.current() == st::awaiting_status_decision) {
        machine_.reply_status(h_.decide_status ? h_.decide_status(machine_.peer())
                                               : handshake::status::ok);
      } else if (r && machine_.current() == st::awaiting_alive_answer) {
        machine_.answer_alive(h_.answer_alive ? h_.answer_alive(machine_.peer()) : true);
      }
      flush_handshake_output();
      if (machine_.current() == st::failed || machine_.current() == st::superseded) {
        go_down(machine_.failure());
        return;
      }
    }
    if (down_) return;
    if (machine_.done()) {
      up_ = true;
      setup_timer_.cancel();
      arm_tick_timer();
      if (h_.on_up) h_.on_up(machine_.peer(), machine_.flags());
      if (down_) return;
      process_frames();  // bytes that came right after the last handshake message
      return;
    }
    read_more();
  }

  // ---- framed phase -------------------------------------------------------------------------

  void process_frames() {
    for (;;) {
      if (down_) return;
      const auto b = buffered();
      if (b.size() < frame_header_size) break;
      const std::size_t n = (std::size_t{std::to_integer<std::uint8_t>(b[0])} << 24) |
                            (std::size_t{std::to_integer<std::uint8_t>(b[1])} << 16) |
                            (std::size_t{std::to_integer<std::uint8_t>(b[2])} << 8) |
                            std::size_t{std::to_integer<std::uint8_t>(b[3])};
      if (n > opts_.max_frame_size) {
        go_down(nodus::error(errc::frame_too_large,
                             who() + " announced a frame of " + std::to_string(n) +
                                 " bytes; the maximum is " + std::to_string(opts_.max_frame_size)));
        return;
      }
      if (b.size() - frame_header_size < n) {
        want_ = frame_header_size + n;
        break;
      }
      rpos_ += frame_header_size + n;
      if (n != 0 && h_.on_frame) h_.on_frame(b.subspan(frame_header_size, n));
    }
    read_more();
  }

  // ---- reading ------------------------------------------------------------------------------

  [[nodiscard]] std::span<const std::byte> buffered() const noexcept {
    return std::span<const std::byte>(rbuf_.data() + rpos_, rend_ - rpos_);
  }

  void read_more() {
    if (down_ || reading_) return;
    // Move the unread bytes to the front, then make room for at least the rest of the current
    // frame (or a chunk).
    if (rpos_ != 0) {
      const std::size_t n = rend_ - rpos_;
      if (n != 0) std::memmove(rbuf_.data(), rbuf_.data() + rpos_, n);
      rpos_ = 0;
      rend_ = n;
    }
    std::size_t need = rend_ + chunk_size;
    if (want_ > need) need = want_;
    if (rbuf_.size() < need) rbuf_.resize(need);
    // Shrink back after a big frame, so that memory stays bounded by the live frame.
    if (rbuf_.size() > 4 * chunk_size && need <= chunk_size * 2) {
      rbuf_.resize(chunk_size * 2);
      rbuf_.shrink_to_fit();
    }
    want_ = 0;
    reading_ = true;
    socket_.async_read_some(
        asio::buffer(rbuf_.data() + rend_, rbuf_.size() - rend_),
        on_strand([self = shared_from_this()](std::error_code ec, std::size_t n) {
          self->reading_ = false;
          if (self->down_) return;
          if (ec) {
            self->on_read_error(ec);
            return;
          }
          self->rend_ += n;
          self->received_ = true;
          if (self->up_) {
            self->process_frames();
          } else {
            self->process_handshake();
          }
        }));
  }

  void on_read_error(const std::error_code& ec) {
    const bool closed = ec == asio::error::eof || ec == asio::error::connection_reset;
    if (!up_ && closed && machine_.current() == handshake::machine::state::awaiting_challenge_ack) {
      // dist_util.erl recv_challenge_reply: on a wrong digest the peer closes without a word.
      go_down(nodus::error(errc::bad_cookie,
                           "handshake with " + std::string(machine_.peer().str()) +
                               ": it closed the connection after our challenge reply (its "
                               "cookie differs from ours, or it refused us)"));
      return;
    }
    std::string why = closed ? "connection_closed: " + who() + " closed the connection"
                             : "connection_closed: read error" + peer_text() + ": " + ec.message();
    if (!up_) {
      why += " during the handshake (state " +
             std::string(handshake::to_string(machine_.current())) + ")";
    } else if (rend_ != rpos_) {
      why += " in the middle of a frame (" + std::to_string(rend_ - rpos_) + " bytes pending)";
    }
    go_down(nodus::error(errc::nodedown, std::move(why)));
  }

  // ---- writing ------------------------------------------------------------------------------

  void queue_frame(std::vector<asio::const_buffer> parts, std::shared_ptr<const void> owner) {
    if (!up_ || down_) return;
    std::size_t n = 0;
    for (const auto& p : parts) n += p.size();
    outgoing o;
    o.header = {static_cast<std::byte>((n >> 24) & 0xff), static_cast<std::byte>((n >> 16) & 0xff),
                static_cast<std::byte>((n >> 8) & 0xff), static_cast<std::byte>(n & 0xff)};
    o.parts = std::move(parts);
    o.owner = std::move(owner);
    queue_.push_back(std::move(o));
    start_write();
  }

  void queue_tick() {
    queue_.push_back(outgoing{});  // header 0 0 0 0, no parts
    start_write();
  }

  // Writes everything queued so far in one gathered async_write.
  void start_write() {
    if (writing_ || queue_.empty() || !socket_.is_open()) return;
    writing_ = true;
    in_flight_ = std::move(queue_);
    queue_.clear();
    wbufs_.clear();
    for (auto& o : in_flight_) {
      if (!o.raw) wbufs_.push_back(asio::buffer(o.header));
      for (const auto& p : o.parts) {
        if (p.size() != 0) wbufs_.push_back(p);
      }
    }
    asio::async_write(
        socket_, wbufs_, on_strand([self = shared_from_this()](std::error_code ec, std::size_t) {
          self->writing_ = false;
          self->in_flight_.clear();
          self->sent_ = true;
          if (ec) {
            if (!self->down_) {
              self->go_down(nodus::error(
                  errc::nodedown,
                  "connection_closed: write error" + self->peer_text() + ": " + ec.message()));
            }
            self->queue_.clear();
            return;
          }
          if (self->down_) {
            // Lingering: a refusal (status not_allowed, nok) went out; now close.
            self->queue_.clear();
            self->setup_timer_.cancel();
            self->close_socket();
            return;
          }
          self->start_write();
        }));
  }

  // ---- ticks --------------------------------------------------------------------------------

  // Erlang's net_kernel ticker: every ticktime/4 it sends a tick if nothing was sent, and the
  // connection is down when nothing was received for 4 intervals in a row (net_kernel docs,
  // net_ticktime: "a tick is sent every TickTime/4 ... a node is considered down after
  // TickTime seconds of silence").
  void arm_tick_timer() {
    auto interval = opts_.ticktime / 4;
    if (interval.count() <= 0) interval = std::chrono::milliseconds(1);
    tick_timer_.expires_after(interval);
    tick_timer_.async_wait(on_strand([self = shared_from_this()](std::error_code ec) {
      if (ec || self->down_) return;
      self->on_tick_interval();
    }));
  }

  void on_tick_interval() {
    if (received_) {
      received_ = false;
      silent_intervals_ = 0;
    } else if (++silent_intervals_ >= 4) {
      go_down(nodus::error(errc::nodedown, "net_tick_timeout: nothing from " + who() + " for " +
                                               std::to_string(opts_.ticktime.count()) + " ms"));
      return;
    }
    if (!sent_ && !writing_ && queue_.empty()) queue_tick();
    sent_ = false;
    arm_tick_timer();
  }

  // ---- going down ---------------------------------------------------------------------------

  void close_socket() {
    std::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  void go_down(nodus::error why) {
    if (down_) return;
    down_ = true;
    tick_timer_.cancel();
    if (!up_ && (writing_ || !queue_.empty())) {
      // Let a pending handshake refusal (status not_allowed, nok) reach the peer: stop reading
      // only; the write's completion closes the socket, the setup timer bounds the wait.
      std::error_code ignored;
      socket_.shutdown(tcp::socket::shutdown_receive, ignored);
      start_write();
    } else {
      // Frames still queued are not worth waiting for once the connection is declared down.
      setup_timer_.cancel();
      close_socket();
    }
    // The callback running now (on_frame or on_up calling close()) must not be destroyed under
    // its own feet: take on_down out, clear the rest once the current handler returns.
    auto on_down = std::move(h_.on_down);
    h_.on_down = nullptr;
    asio::post(strand_, [self = shared_from_this()] { self->h_ = {}; });
    if (on_down) on_down(why);
  }

  static constexpr std::size_t chunk_size = 64 * 1024;

  asio::strand<asio::any_io_executor> strand_;
  tcp::socket socket_;
  asio::steady_timer setup_timer_;
  asio::steady_timer tick_timer_;
  connection_options opts_;
  connection_handlers h_;
  handshake::machine machine_;
  std::vector<tcp::endpoint> endpoints_;

  std::vector<std::byte> rbuf_;
  std::size_t rpos_ = 0;  // first unread byte
  std::size_t rend_ = 0;  // end of the received bytes
  std::size_t want_ = 0;  // bytes the current frame needs in the buffer
  bool reading_ = false;

  std::vector<outgoing> queue_;      // waiting for the next write
  std::vector<outgoing> in_flight_;  // being written
  std::vector<asio::const_buffer> wbufs_;
  bool writing_ = false;

  bool up_ = false;
  bool down_ = false;
  bool received_ = false;  // something arrived in this tick interval
  bool sent_ = false;      // something was written in this tick interval
  int silent_intervals_ = 0;
};

}  // namespace nodus::net

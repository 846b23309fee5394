// nodus/net/connection.hpp: one TCP connection to a peer node: the distribution handshake, then
// 4-byte length-prefixed frames with ticks, over standalone Asio (callbacks, no coroutines).
#pragma once

#include <algorithm>
#include <array>
#include <asio/any_io_executor.hpp>
#include <asio/bind_executor.hpp>
#include <asio/buffer.hpp>
#include <asio/dispatch.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/write.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#define NODUS_NET_SENDMSG 1
#endif

#include "nodus/codec/copy_stats.hpp"
#include "nodus/core/detail/deferred.hpp"
#include "nodus/core/error.hpp"
#include "nodus/core/node_name.hpp"
#include "nodus/net/detail/rx_block.hpp"
#include "nodus/net/dist_flags.hpp"
#include "nodus/net/down_reason.hpp"
#include "nodus/net/handshake.hpp"
#include "nodus/net/tcp_dial.hpp"
#include "nodus/net/tls_session.hpp"

namespace nodus::net {

// "After the handshake, the distribution switches to 4 byte packet headers" (erl_dist_protocol,
// "Distribution Handshake"); "an empty message (4 zero bytes) ... is a tick" ("Protocol between
// Connected Nodes": "4-byte length, ... Length equal to 0 is used for ticks").
inline constexpr std::size_t frame_header_size = 4;

// Between two nodus nodes (both advertise dflag_nodus) every frame, header included, is a
// multiple of frame_alignment bytes: the sender pads the payload with zeros, and a tick is a frame
// of frame_alignment - 4 zero bytes instead of an empty one. Frames then start at aligned offsets
// of the receive buffer, so that a message of a trivially copyable type can be used where it
// landed. Frame payloads must therefore tolerate up to frame_alignment - 1 trailing zero bytes,
// and a payload starting with a zero byte is padding (a tick), never delivered.
inline constexpr std::size_t frame_alignment = 16;

// The longest frame a 4-byte length can give that is a multiple of frame_alignment (2^32 - 16):
// the ceiling of max_frame_size, which a connection and a node's options clamp to it.
inline constexpr std::size_t max_frame_length = 0xFFFFFFF0u;

// Settings of one connection. Defaults follow Erlang: net_setuptime 7 s, net_ticktime 60 s
// (kernel app docs: net_setuptime default 7, net_ticktime default 60).
struct connection_options {
  handshake::options handshake;  // our name, cookie, flags; challenge 0: a fresh random one
  std::chrono::milliseconds setup_timeout{7000};  // connect + handshake must finish in this
  // A connect unanswered this long sends a fresh SYN on another socket (see tcp_dial); 0: only
  // the kernel's retransmissions (1 s, 3 s, 7 s after the first SYN).
  std::chrono::milliseconds connect_resend = default_connect_resend;
  std::chrono::milliseconds ticktime{60000};  // tick every ticktime/4; silent ticktime: down
  // A longer frame: frame_too_large, closed (at most max_frame_length, clamped to it).
  std::size_t max_frame_size = std::size_t{64} << 20;
  // busy() once this many bytes of frames are queued and not yet written (Erlang's
  // dist_buf_busy_limit, default 1 MiB: erl +zdbbl, in KiB, default 1024); 0: never busy.
  std::size_t busy_limit = std::size_t{1} << 20;
  // TLS from the first byte (inet_tls_dist): the handshake, then the frames, inside a session of
  // this context; nullptr: plain TCP.
  std::shared_ptr<tls_context> tls;
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

  // keep_frame() -> inside on_frame only: a reference that keeps the current frame's bytes valid
  // (and unchanged) after on_frame returns, for as long as it is held.
  [[nodiscard]] const std::shared_ptr<const void>& keep_frame() const noexcept { return keep_; }

  // native() -> after on_up: both sides are nodus nodes and frames are aligned (frame_alignment).
  [[nodiscard]] bool native() const noexcept { return native_; }
  // flags() -> after on_up: the distribution flags in use, both sides' intersection.
  [[nodiscard]] dist_flags flags() const noexcept { return flags_; }
  // session() -> a slot for what the protocol above the frames keeps per connection (a BEAM
  // peer's atom cache and fragments): empty at first, released with the connection. Only the
  // frame handler uses it, on the connection's strand, one frame at a time.
  [[nodiscard]] std::shared_ptr<void>& session() noexcept { return session_; }
  // down_reason() -> why it went down (set before on_down runs; read it there or later).
  [[nodiscard]] node_down_reason down_reason() const noexcept { return down_reason_; }
  // is_up() -> up and not down yet; from any thread.
  [[nodiscard]] bool is_up() const noexcept { return mode_.load(std::memory_order_acquire) != 0; }

  // Use dial() or accept().
  connection(private_tag, const asio::any_io_executor& ex, connection_options opts,
             connection_handlers h, handshake::machine::role role, const node_name& peer)
      : strand_(asio::make_strand(ex)),
        socket_(strand_),
        setup_timer_(strand_),
        tick_timer_(strand_),
        opts_(std::move(opts)),
        h_(std::move(h)),
        machine_(make_machine(opts_, role, peer)),
        block_(std::make_shared<detail::rx_block>(handshake_block_capacity)),
        keep_(block_),
        initiator_(role == handshake::machine::role::initiator) {
    opts_.max_frame_size = std::min(opts_.max_frame_size, max_frame_length);
  }

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
  // Frames sent meanwhile from any thread are written together, in order, in one system call.
  void send(std::vector<asio::const_buffer> parts, std::shared_ptr<const void> owner) {
    std::size_t n = frame_header_size;
    for (const auto& p : parts) n += p.size();
    queued_.fetch_add(n);
    {
      std::lock_guard lock(send_m_);
      sends_.push_back({std::move(parts), std::move(owner), nullptr, n});
      if (!flush_needs_post()) return;
    }
    asio::post(strand_, [self = shared_from_this()] { self->flush_sends(); });
  }

  // close(): ends the connection; on_down(nodedown "disconnect") follows unless it already ran.
  // Idempotent.
  void close() {
    asio::dispatch(strand_, [self = shared_from_this()] {
      self->go_down(nodus::error(errc::nodedown, "disconnect: closed by us" + self->peer_text()),
                    node_down_reason::disconnect);
    });
  }

  // send_small(head, body): queues one frame whose payload is head then body, copied into the
  // connection's current run of small frames, which is written as one buffer with its neighbours:
  // no allocation per frame. For frames of up to small_frame_max bytes; dropped before on_up.
  // Keeps the order of send() and send_small() calls from one thread.
  static constexpr std::size_t small_frame_max = 2048;
  void send_small(std::span<const std::byte> head, std::span<const std::byte> body) {
    const int mode = mode_.load(std::memory_order_acquire);
    if (mode == 0) return;  // not up (or down): dropped, as send() does
    const std::size_t n = head.size() + body.size();
    std::size_t pad = 0;
    if (mode == 2) {
      pad = (frame_alignment - (frame_header_size + n) % frame_alignment) % frame_alignment;
    }
    const std::size_t len = n + pad;
    const std::size_t total = frame_header_size + len;
    {
      std::lock_guard lock(send_m_);
      if (sends_.empty() || !sends_.back().run ||
          sends_.back().run->size() + total > sends_.back().run->capacity()) {
        auto run = std::make_shared<std::vector<std::byte>>();
        run->reserve(run_capacity);
        sends_.push_back({{}, {}, std::move(run), 0});
      }
      auto& run = *sends_.back().run;
      const std::byte header[frame_header_size] = {
          static_cast<std::byte>((len >> 24) & 0xff), static_cast<std::byte>((len >> 16) & 0xff),
          static_cast<std::byte>((len >> 8) & 0xff), static_cast<std::byte>(len & 0xff)};
      const std::size_t at = run.size();
      run.resize(at + total);  // within the reserved capacity: no reallocation
      std::byte* p = run.data() + at;
      std::memcpy(p, header, frame_header_size);
      if (!head.empty()) std::memcpy(p + frame_header_size, head.data(), head.size());
      if (!body.empty()) std::memcpy(p + frame_header_size + head.size(), body.data(), body.size());
      if (pad != 0) std::memset(p + frame_header_size + n, 0, pad);
      sends_.back().counted += total;
      queued_.fetch_add(total);
      if (!flush_needs_post()) return;
    }
    asio::post(strand_, [self = shared_from_this()] { self->flush_sends(); });
  }

  // close_after_sends(): as close(), once the frames sent before this call are written (a last
  // word to the peer, e.g. why it is refused).
  void close_after_sends() {
    asio::post(strand_, [self = shared_from_this()] {
      self->flush_sends();
      self->go_down(nodus::error(errc::nodedown, "disconnect: closed by us" + self->peer_text()),
                    node_down_reason::disconnect);
    });
  }

  // queued_bytes() -> bytes of frames taken by send() / send_small() and not yet written (nor
  // dropped); from any thread.
  [[nodiscard]] std::size_t queued_bytes() const noexcept {
    return queued_.load();  // seq_cst: see release()
  }
  // busy() -> queued_bytes() reached the busy limit (connection_options::busy_limit). send()
  // still takes frames: refusing or waiting is the caller's choice (see wait_writable).
  [[nodiscard]] bool busy() const noexcept {
    return opts_.busy_limit != 0 && queued_bytes() >= opts_.busy_limit;
  }
  [[nodiscard]] std::size_t busy_limit() const noexcept { return opts_.busy_limit; }
  // wait_writable(deadline) -> how a wait for busy() to end ended: writable (at once when it is
  // not busy), down (the connection went down, or was never up) or timed_out. Blocks the calling
  // thread: never call it on a thread that runs the connection's executor.
  enum class wait_result : std::uint8_t { writable, down, timed_out };
  wait_result wait_writable(std::chrono::steady_clock::time_point deadline) {
    auto state = [this] {
      if (!is_up()) return wait_result::down;
      return busy() ? wait_result::timed_out : wait_result::writable;
    };
    if (auto s = state(); s != wait_result::timed_out) return s;
    std::unique_lock lock(wait_m_);
    waiters_.fetch_add(1);
    wait_result s{};
    wait_cv_.wait_until(lock, deadline, [&] {
      s = state();
      return s != wait_result::timed_out;
    });
    waiters_.fetch_sub(1);
    return s;
  }

  // when_writable(f): f() on the connection's strand once busy() ends or the connection goes
  // down (posted at once when it is not busy): the wait of a sender that must not block.
  void when_writable(std::function<void()> f) {
    {
      std::lock_guard lock(wait_m_);
      waiters_.fetch_add(1);  // before busy(): see release()
      if (is_up() && busy()) {
        writable_.push_back(std::move(f));
        return;
      }
      waiters_.fetch_sub(1);
    }
    asio::post(strand_, std::move(f));
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
    std::size_t counted = 0;  // its bytes in queued_ (send() / send_small() frames)
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
          errc::timeout,
          "net_setuptime: connection setup" + self->peer_text() + " not finished within " +
              std::to_string(self->opts_.setup_timeout.count()) + " ms (" +
              (self->tls_ && !self->tls_ready_
                   ? std::string("in the TLS handshake: does the peer speak TLS?")
                   : "state " + std::string(handshake::to_string(self->machine_.current()))) +
              ")"));
    }));
  }

  void start_dial() {
    arm_setup_timer();
    dial_ =
        tcp_dial::start(strand_, std::move(endpoints_), opts_.connect_resend,
                        [self = shared_from_this()](std::error_code ec, tcp::socket s) {
                          self->dial_.reset();
                          if (self->down_) return;
                          if (ec) {
                            self->go_down(nodus::error(
                                errc::not_connected, "cannot connect to " +
                                                         std::string(self->machine_.peer().str()) +
                                                         ": " + ec.message()));
                            return;
                          }
                          self->socket_ = std::move(s);
                          self->start_io();
                        });
  }

  void start_handshake() {
    arm_setup_timer();
    start_io();
  }

  // start_io(): the socket is connected: TLS's handshake first when asked for (bounded by the
  // setup timer too), then the distribution handshake.
  void start_io() {
    std::error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    if (!opts_.tls) {
#ifdef NODUS_NET_SENDMSG
      socket_.native_non_blocking(true, ignored);  // write_now() calls sendmsg itself
#endif
      start_handshake_io();
      return;
    }
    tls_ = opts_.tls->wrap(socket_, initiator_, initiator_ ? machine_.peer().host() : "");
    tls_->async_handshake(on_strand([self = shared_from_this()](std::error_code ec) {
      if (self->down_) return;
      if (ec) {
        std::error_code no_endpoint;
        const auto from = self->socket_.remote_endpoint(no_endpoint);
        self->go_down(nodus::error(errc::tls_failed,
                                   "TLS handshake with " +
                                       (self->initiator_ ? std::string(self->machine_.peer().str())
                                                         : from.address().to_string() + ":" +
                                                               std::to_string(from.port())) +
                                       " failed: " + self->tls_->describe(ec)));
        return;
      }
      self->tls_ready_ = true;
      self->start_handshake_io();
    }));
  }

  void start_handshake_io() {
    flush_handshake_output();
    read_more();
  }

  void flush_handshake_output() {
    if (!machine_.has_output()) return;
    auto bytes = std::make_shared<std::vector<std::byte>>(machine_.take_output());
    if (tls_) *bytes = handshake::widen_prefixes(*bytes);
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
      if (const auto n = tls_ ? handshake::tls_message_length(buffered()) : std::nullopt;
          n && *n > handshake::max_body_size) {
        go_down(nodus::error(errc::malformed_frame, "handshake" + peer_text() + ": a message of " +
                                                        std::to_string(*n) +
                                                        " bytes (at most 65535)"));
        return;
      }
      auto f = tls_ ? handshake::split_tls_frame(buffered()) : handshake::split_frame(buffered());
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
      native_ = (machine_.flags() & dflag_nodus) != 0;
      flags_ = machine_.flags();
      mode_.store(native_ ? 2 : 1, std::memory_order_release);
      // Frames of up to max_frame_size from here on: a receive block of that size, from the
      // pool, where frames start at the (aligned) front. Only now: a connection that never
      // finishes its handshake (a flood of them) holds a small block, not max_frame_size of
      // address space and a memory mapping each.
      try {
        pool_ = std::make_shared<detail::rx_pool>(block_capacity(opts_.max_frame_size));
        auto frames = pool_->take();
        const std::size_t n = rend_ - rpos_;
        if (n != 0) std::memcpy(frames->data(), block_->data() + rpos_, n);
        frames->used(n);
        set_block(std::move(frames));
        rpos_ = 0;
        rend_ = n;
      } catch (const std::bad_alloc&) {
        go_down(nodus::error(errc::nodedown,
                             "connection_closed: no memory for the receive "
                             "buffer of " +
                                 std::string(machine_.peer().str())));
        return;
      }
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

  // process_frames(): delivers the complete frames received, then reads on. Inside one
  // deferred_work scope (core/detail/deferred.hpp): the servers those frames made ready are
  // drained right after the batch, in this handler, and what they sent to this peer is written
  // before the next read, without a handler of its own.
  void process_frames() {
    std::exception_ptr thrown;
    {
      nodus::detail::deferred_work deferred(
          &asio::query(strand_.get_inner_executor(), asio::execution::context));
      delivering_scope delivering(*this);
      if (!deliver_frames()) return;
      thrown = deferred.run();
    }
    if (thrown) {
      // A completion threw: it leaves the node's run() like any handler's exception, from a
      // handler of its own, after this connection has read on.
      asio::post(strand_.get_inner_executor(), [thrown] { std::rethrow_exception(thrown); });
    }
    read_more();
  }

  // delivering_scope: while it lives, send() and send_small() to this connection from this thread
  // leave the flush to its end instead of posting one.
  class delivering_scope {
   public:
    explicit delivering_scope(connection& c) noexcept : c_(c), prev_(delivering_) {
      delivering_ = &c;
    }
    delivering_scope(const delivering_scope&) = delete;
    delivering_scope& operator=(const delivering_scope&) = delete;
    ~delivering_scope() {
      delivering_ = prev_;
      bool flush = false;
      {
        std::lock_guard lock(c_.send_m_);
        flush = std::exchange(c_.flush_deferred_, false);
      }
      if (flush) c_.flush_sends();
    }

   private:
    connection& c_;
    connection* prev_;
  };

  // flush_needs_post() -> a flush must be posted (under send_m_): none is posted or deferred yet,
  // and this thread is not delivering this connection's frames (whose end flushes).
  [[nodiscard]] bool flush_needs_post() noexcept {
    if (flush_posted_ || flush_deferred_) return false;
    if (delivering_ == this) {
      flush_deferred_ = true;
      return false;
    }
    flush_posted_ = true;
    return true;
  }

  // deliver_frames() -> false when the connection went down: hands every complete frame received
  // to on_frame.
  bool deliver_frames() {
    for (;;) {
      if (down_) return false;
      const auto b = buffered();
      if (b.size() < frame_header_size) break;
      const std::size_t n = frame_length(b);
      if (n > opts_.max_frame_size) {
        go_down(nodus::error(errc::frame_too_large,
                             who() + " announced a frame of " + std::to_string(n) +
                                 " bytes; the maximum is " + std::to_string(opts_.max_frame_size)));
        return false;
      }
      if (native_ && (frame_header_size + n) % frame_alignment != 0) {
        go_down(nodus::error(errc::malformed_frame,
                             who() + " sent a frame of " + std::to_string(n) +
                                 " bytes, not padded to " + std::to_string(frame_alignment)));
        return false;
      }
      if (b.size() - frame_header_size < n) break;
      rpos_ += frame_header_size + n;
      if (n == 0 || !h_.on_frame) continue;
      const auto frame = b.subspan(frame_header_size, n);
      if (native_ && frame[0] == std::byte{0}) continue;  // a padded tick
      h_.on_frame(frame);
    }
    return !down_;
  }

  static std::size_t frame_length(std::span<const std::byte> b) noexcept {
    return (std::size_t{std::to_integer<std::uint8_t>(b[0])} << 24) |
           (std::size_t{std::to_integer<std::uint8_t>(b[1])} << 16) |
           (std::size_t{std::to_integer<std::uint8_t>(b[2])} << 8) |
           std::size_t{std::to_integer<std::uint8_t>(b[3])};
  }

  // ---- reading ------------------------------------------------------------------------------

  [[nodiscard]] std::span<const std::byte> buffered() const noexcept {
    return std::span<const std::byte>(block_->data() + rpos_, rend_ - rpos_);
  }

  // A block holds any frame that starts within its first 4 * chunk_size bytes (the read position
  // is moved back to the front before it gets further), plus one more read.
  static std::size_t block_capacity(std::size_t max_frame) noexcept {
    return max_frame + frame_header_size + 6 * chunk_size;
  }

  // Makes room for the next read. Frames never move once their first bytes arrived, except a
  // small unfinished frame (at most chunk_size) left far into the block; a block that frames
  // handed out still refer to is left to them, and reading goes on in a fresh one.
  void prepare_block() {
    const std::size_t pending = rend_ - rpos_;
    if (pending == 0) {
      if (!block_to_self()) set_block(pool_->take());
      rpos_ = rend_ = 0;
      return;
    }
    if (rpos_ < chunk_size) return;
    std::size_t total = 0;  // the pending frame's full size, when its header is here
    if (up_ && pending >= frame_header_size) total = frame_header_size + frame_length(buffered());
    if (total > chunk_size && rpos_ + total + chunk_size <= block_->capacity()) return;
    if (block_to_self()) {
      std::memmove(block_->data(), block_->data() + rpos_, pending);
    } else {
      auto fresh = pool_->take();
      std::memcpy(fresh->data(), block_->data() + rpos_, pending);
      set_block(std::move(fresh));
    }
    if (up_) codec::detail::count_copy(pending);
    rpos_ = 0;
    rend_ = pending;
  }

  void read_more() {
    if (down_ || reading_) return;
    prepare_block();
    // Read at least a chunk, or the rest of a long frame in one go.
    std::size_t want = chunk_size;
    const auto b = buffered();
    if (up_ && b.size() >= frame_header_size) {
      const std::size_t rest = frame_header_size + frame_length(b) - b.size();
      if (rest > want) want = rest;
    }
    if (want > block_->capacity() - rend_) want = block_->capacity() - rend_;
    reading_ = true;
    auto into = asio::buffer(block_->data() + rend_, want);
    auto done = on_strand([self = shared_from_this()](std::error_code ec, std::size_t n) {
      self->reading_ = false;
      if (self->down_) return;
      if (ec) {
        self->on_read_error(ec);
        return;
      }
      self->rend_ += n;
      self->block_->used(self->rend_);
      self->received_ = true;
      if (self->up_) {
        self->process_frames();
      } else {
        self->process_handshake();
      }
    });
    if (tls_) {
      tls_->async_read_some(into, std::move(done));
    } else {
      socket_.async_read_some(into, std::move(done));
    }
  }

  void on_read_error(const std::error_code& ec) {
    const bool closed = ec == asio::error::eof || ec == asio::error::connection_reset ||
                        (tls_ && tls_->closed_by_peer(ec));
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

  // flush_sends(): queues what send() collected and writes it.
  void flush_sends() {
    {
      std::lock_guard lock(send_m_);
      flushing_.swap(sends_);
      flush_posted_ = false;
    }
    for (auto& p : flushing_) {
      if (p.run) {
        add_run(std::move(p.run), p.counted);
      } else {
        add_frame(std::move(p.parts), std::move(p.owner), p.counted);
      }
    }
    flushing_.clear();
    start_write();
  }

  // add_run(run): complete frames made by send_small, written as they are.
  void add_run(std::shared_ptr<std::vector<std::byte>> run, std::size_t counted) {
    if (!up_ || down_ || run->empty()) {
      release(counted);
      return;
    }
    outgoing o;
    o.counted = counted;
    o.raw = true;
    o.parts.push_back(asio::buffer(*run));
    o.owner = std::move(run);
    queue_.push_back(std::move(o));
  }

  void add_frame(std::vector<asio::const_buffer> parts, std::shared_ptr<const void> owner,
                 std::size_t counted) {
    if (!up_ || down_) {
      release(counted);
      return;
    }
    std::size_t n = 0;
    for (const auto& p : parts) n += p.size();
    if (native_) {
      if (n == 0) {  // an empty frame would read as a tick
        release(counted);
        return;
      }
      const std::size_t pad =
          (frame_alignment - (frame_header_size + n) % frame_alignment) % frame_alignment;
      if (pad != 0) {
        parts.push_back(asio::buffer(zeros_.data(), pad));
        n += pad;
      }
    }
    outgoing o;
    o.header = {static_cast<std::byte>((n >> 24) & 0xff), static_cast<std::byte>((n >> 16) & 0xff),
                static_cast<std::byte>((n >> 8) & 0xff), static_cast<std::byte>(n & 0xff)};
    o.parts = std::move(parts);
    o.owner = std::move(owner);
    o.counted = counted;
    queue_.push_back(std::move(o));
  }

  void queue_tick() {
    outgoing o;  // header 0 0 0 0, no parts; between nodus nodes a padded zero frame
    if (native_) {
      constexpr std::size_t n = frame_alignment - frame_header_size;
      o.header[3] = static_cast<std::byte>(n);
      o.parts.push_back(asio::buffer(zeros_.data(), n));
    }
    queue_.push_back(std::move(o));
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
    wpos_ = 0;
    woff_ = 0;
    if (tls_) {
      write_tls();
    } else {
      write_now();
    }
  }

  // write_tls(): a TLS session takes one buffer per record: the frames are gathered into one
  // (a copy, counted, next to which the cipher's own pass costs more).
  void write_tls() {
    std::size_t total = 0;
    for (const auto& b : wbufs_) total += b.size();
    tls_out_.resize(total);
    std::size_t at = 0;
    for (const auto& b : wbufs_) {
      std::memcpy(tls_out_.data() + at, b.data(), b.size());
      at += b.size();
    }
    if (up_) codec::detail::count_copy(total);
    tls_->async_write(asio::buffer(tls_out_),
                      on_strand([self = shared_from_this()](std::error_code ec, std::size_t) {
                        self->write_done(ec);
                      }));
  }

#ifdef NODUS_NET_SENDMSG
  // write_now(): writes as much of wbufs_ as the socket takes, in sendmsg calls of up to
  // max_iov buffers (Asio's async_write passes at most 16 per call: one call per 8 small frames);
  // waits for the socket to be writable when it is full.
  void write_now() {
    constexpr std::size_t max_iov = 1024;  // IOV_MAX on Linux
    std::array<::iovec, max_iov> iov;
    while (wpos_ < wbufs_.size()) {
      std::size_t n = 0;
      for (std::size_t i = wpos_; i < wbufs_.size() && n < max_iov; ++i, ++n) {
        const std::size_t skip = i == wpos_ ? woff_ : 0;
        iov[n].iov_base = const_cast<char*>(static_cast<const char*>(wbufs_[i].data())) + skip;
        iov[n].iov_len = wbufs_[i].size() - skip;
      }
      ::msghdr msg{};
      msg.msg_iov = iov.data();
      msg.msg_iovlen = n;
      const ::ssize_t sent = ::sendmsg(socket_.native_handle(), &msg, MSG_NOSIGNAL);
      if (sent < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          socket_.async_wait(tcp::socket::wait_write,
                             on_strand([self = shared_from_this()](std::error_code ec) {
                               if (ec) {
                                 self->write_done(ec);
                               } else {
                                 self->write_now();
                               }
                             }));
          return;
        }
        write_done(std::error_code(errno, std::system_category()));
        return;
      }
      auto left = static_cast<std::size_t>(sent);
      while (left != 0) {
        const std::size_t here = wbufs_[wpos_].size() - woff_;
        if (left < here) {
          woff_ += left;
          left = 0;
        } else {
          left -= here;
          ++wpos_;
          woff_ = 0;
        }
      }
    }
    write_done({});
  }
#else
  void write_now() {
    asio::async_write(socket_, wbufs_,
                      on_strand([self = shared_from_this()](std::error_code ec, std::size_t) {
                        self->write_done(ec);
                      }));
  }
#endif

  void write_done(std::error_code ec) {
    writing_ = false;
    drop(in_flight_);
    sent_ = true;
    if (ec) {
      if (!down_) {
        go_down(nodus::error(errc::nodedown,
                             "connection_closed: write error" + peer_text() + ": " + ec.message()));
      }
      drop(queue_);
      return;
    }
    if (down_) {
      // Lingering: a refusal (status not_allowed, nok) went out; now close.
      drop(queue_);
      setup_timer_.cancel();
      close_socket();
      return;
    }
    start_write();
  }

  // drop(frames): forgets frames written or dropped, and their bytes in queued_.
  void drop(std::vector<outgoing>& frames) {
    std::size_t n = 0;
    for (const auto& o : frames) n += o.counted;
    frames.clear();
    release(n);
  }
  // release(n): n counted bytes left the queue; wakes wait_writable() when that ends busy().
  void release(std::size_t n) {
    if (n == 0) return;
    // seq_cst on both sides: a waiter counts itself then reads queued_, this lowers queued_ then
    // reads waiters_; one of the two sees the other.
    queued_.fetch_sub(n);
    if (waiters_.load() != 0 && !busy()) wake_waiters();
  }
  void wake_waiters() {
    std::vector<std::function<void()>> ready;
    {
      // Also: a blocked waiter between its check and its wait sees this.
      std::lock_guard lock(wait_m_);
      ready.swap(writable_);
      waiters_.fetch_sub(static_cast<int>(ready.size()));
    }
    wait_cv_.notify_all();
    for (auto& f : ready) asio::post(strand_, std::move(f));
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
                                               std::to_string(opts_.ticktime.count()) + " ms"),
              node_down_reason::net_tick_timeout);
      return;
    }
    if (!sent_ && !writing_ && queue_.empty()) queue_tick();
    sent_ = false;
    arm_tick_timer();
  }

  // ---- going down ---------------------------------------------------------------------------

  void close_socket() {
    if (dial_) {
      dial_->cancel();
      dial_.reset();
    }
    std::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  void go_down(nodus::error why, node_down_reason reason = node_down_reason::connection_closed) {
    if (down_) return;
    down_ = true;
    down_reason_ = reason;
    mode_.store(0, std::memory_order_release);
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
    wake_waiters();  // wait_writable() returns down
    if (on_down) on_down(why);
  }

  static constexpr std::size_t chunk_size = 64 * 1024;
  // The block of the handshake: its messages have at most 65535 bytes (plus a 4-byte length over
  // TLS), and the read position goes back to the front past chunk_size.
  static constexpr std::size_t handshake_block_capacity = 4 * chunk_size;
  node_down_reason down_reason_ = node_down_reason::connection_closed;

  asio::strand<asio::any_io_executor> strand_;
  tcp::socket socket_;
  asio::steady_timer setup_timer_;
  asio::steady_timer tick_timer_;
  connection_options opts_;
  connection_handlers h_;
  handshake::machine machine_;
  std::vector<tcp::endpoint> endpoints_;
  std::shared_ptr<tcp_dial> dial_;  // while connecting (initiator)

  static constexpr std::array<std::byte, frame_alignment> zeros_{};

  std::shared_ptr<detail::rx_pool> pool_;    // set when the handshake is done
  std::shared_ptr<detail::rx_block> block_;  // the receive buffer (frames handed out share it)
  std::shared_ptr<const void> keep_;         // block_ again, as keep_frame() hands it out
  void set_block(std::shared_ptr<detail::rx_block> b) {
    block_ = std::move(b);
    keep_ = block_;
  }
  // block_to_self() -> no frame handed out still refers to the block (block_ and keep_ only).
  [[nodiscard]] bool block_to_self() const noexcept { return block_.use_count() == 2; }
  std::size_t rpos_ = 0;  // first unread byte
  std::size_t rend_ = 0;  // end of the received bytes
  bool reading_ = false;

  struct pending_send {
    std::vector<asio::const_buffer> parts;
    std::shared_ptr<const void> owner;
    std::shared_ptr<std::vector<std::byte>> run;  // or: frames copied by send_small
    std::size_t counted = 0;                      // its bytes in queued_
  };
  static constexpr std::size_t run_capacity = 64 * 1024;
  std::atomic<int> mode_{0};  // for send_small: 0 not up or down, 1 up, 2 up with aligned frames
  std::mutex send_m_;         // guards sends_, flush_posted_ and flush_deferred_
  std::vector<pending_send> sends_;  // from send(), not yet on the strand
  std::vector<pending_send> flushing_;
  bool flush_posted_ = false;
  bool flush_deferred_ = false;  // the delivering_scope of this connection will flush
  // The connection whose frames this thread delivers now (see delivering_scope).
  static inline thread_local connection* delivering_ = nullptr;

  // Backpressure: bytes of frames from send() / send_small() not yet written; wait_writable()
  // sleeps on wait_cv_ while busy().
  std::atomic<std::size_t> queued_{0};
  std::atomic<int> waiters_{0};
  std::mutex wait_m_;
  std::condition_variable wait_cv_;
  std::vector<std::function<void()>> writable_;  // when_writable()'s, under wait_m_

  bool initiator_;                    // we dialled (the TLS client)
  std::unique_ptr<tls_session> tls_;  // set once the socket is connected, with opts_.tls
  bool tls_ready_ = false;            // its handshake is done
  std::vector<std::byte> tls_out_;    // what write_tls() writes

  std::vector<outgoing> queue_;      // waiting for the next write
  std::vector<outgoing> in_flight_;  // being written
  std::vector<asio::const_buffer> wbufs_;
  std::size_t wpos_ = 0;  // first buffer of wbufs_ not fully written
  std::size_t woff_ = 0;  // bytes of wbufs_[wpos_] already written
  bool writing_ = false;

  bool up_ = false;
  bool native_ = false;   // frames padded to frame_alignment (both sides are nodus nodes)
  dist_flags flags_ = 0;  // set once, before mode_ says up
  std::shared_ptr<void> session_;
  bool down_ = false;
  bool received_ = false;  // something arrived in this tick interval
  bool sent_ = false;      // something was written in this tick interval
  int silent_intervals_ = 0;
};

}  // namespace nodus::net

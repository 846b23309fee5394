// nodus/epmd/client.hpp: port mapper lookups (PORT_PLEASE2, NAMES) and a node's registration
// (ALIVE2) kept alive by an agent that serves the port mapper itself when none answers.
#pragma once

#include <algorithm>
#include <array>
#include <asio/any_io_executor.hpp>
#include <asio/buffer.hpp>
#include <asio/dispatch.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/write.hpp>
#include <atomic>
#include <cassert>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "nodus/core/error.hpp"
#include "nodus/core/format.hpp"
#include "nodus/core/log.hpp"
#include "nodus/epmd/protocol.hpp"
#include "nodus/epmd/server.hpp"
#include "nodus/net/tcp_dial.hpp"

namespace nodus::epmd {

namespace detail {

// Largest answers read: a PORT2_RESP is at most 14 + 255 + max_extra_size bytes; a NAMES answer
// has at most ~275 bytes per registered node.
inline constexpr std::size_t max_port2_answer = 4096;
inline constexpr std::size_t max_names_answer = std::size_t{4} << 20;

// One request/answer exchange with a port mapper on its own connection: connect, send the
// request, read until the server closes (it does after PORT2_RESP and NAMES answers), all bounded
// by one timeout. done runs once, on a strand of the given executor.
class exchange_op : public std::enable_shared_from_this<exchange_op> {
 public:
  using done_type = std::function<void(result<bytes>)>;

  exchange_op(const asio::any_io_executor& ex, tcp::endpoint mapper, bytes request,
              std::size_t max_answer, std::chrono::milliseconds timeout,
              std::chrono::milliseconds resend, done_type done)
      : strand_(asio::make_strand(ex)),
        socket_(strand_),
        timer_(strand_),
        mapper_(std::move(mapper)),
        request_(std::move(request)),
        max_answer_(max_answer),
        timeout_(timeout),
        resend_(resend),
        done_(std::move(done)) {}

  void start() {
    asio::dispatch(strand_, [self = shared_from_this()] { self->begin(); });
  }

 private:
  void begin() {
    timer_.expires_after(timeout_);
    timer_.async_wait([self = shared_from_this()](std::error_code ec) {
      if (ec) return;
      self->finish(nodus::error(errc::timeout,
                                nodus::format("the port mapper at {} did not answer within {}",
                                              endpoint_text(self->mapper_), self->timeout_)));
    });
    dial_ = net::tcp_dial::start(strand_, {mapper_}, resend_,
                                 [self = shared_from_this()](std::error_code ec, tcp::socket s) {
                                   self->dial_.reset();
                                   self->on_connect(ec, std::move(s));
                                 });
  }

  void on_connect(std::error_code ec, tcp::socket s) {
    if (finished_) return;
    socket_ = std::move(s);
    if (ec) {
      finish(
          nodus::error(errc::not_connected, nodus::format("no port mapper answers at {} ({})",
                                                          endpoint_text(mapper_), ec.message())));
      return;
    }
    asio::async_write(socket_, asio::buffer(request_),
                      [self = shared_from_this()](std::error_code write_ec, std::size_t) {
                        if (self->finished_) return;
                        if (write_ec) {
                          self->finish(self->broken(write_ec));
                          return;
                        }
                        self->read();
                      });
  }

  void read() {
    socket_.async_read_some(
        asio::buffer(chunk_), [self = shared_from_this()](std::error_code ec, std::size_t n) {
          if (self->finished_) return;
          self->answer_.insert(self->answer_.end(), self->chunk_.begin(),
                               self->chunk_.begin() + static_cast<std::ptrdiff_t>(n));
          if (self->answer_.size() > self->max_answer_) {
            self->finish(
                nodus::error(errc::frame_too_large,
                             nodus::format("the answer of the port mapper at {} exceeds {} bytes",
                                           endpoint_text(self->mapper_), self->max_answer_)));
          } else if (ec == asio::error::eof) {
            self->finish(std::move(self->answer_));  // the server closes after its answer
          } else if (ec) {
            self->finish(self->broken(ec));
          } else {
            self->read();
          }
        });
  }

  [[nodiscard]] nodus::error broken(std::error_code ec) const {
    return {errc::not_connected,
            nodus::format("the connection to the port mapper at {} failed ({})",
                          endpoint_text(mapper_), ec.message())};
  }

  void finish(result<bytes> r) {
    if (finished_) return;
    finished_ = true;
    timer_.cancel();
    if (dial_) {
      dial_->cancel();
      dial_.reset();
    }
    std::error_code ignored;
    socket_.close(ignored);
    auto done = std::move(done_);
    done(std::move(r));
  }

  asio::strand<asio::any_io_executor> strand_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  tcp::endpoint mapper_;
  bytes request_;
  bytes answer_;
  std::array<std::uint8_t, 4096> chunk_{};
  std::size_t max_answer_;
  std::chrono::milliseconds timeout_;
  std::chrono::milliseconds resend_;
  std::shared_ptr<net::tcp_dial> dial_;  // while connecting
  done_type done_;
  bool finished_ = false;
};

// bad_answer(mapper, e) -> errc::malformed_frame naming the port mapper.
[[nodiscard]] inline nodus::error bad_answer(const tcp::endpoint& mapper, const nodus::error& e) {
  return {errc::malformed_frame, nodus::format("bad answer from the port mapper at {}: {}",
                                               endpoint_text(mapper), e.reason())};
}

}  // namespace detail

// async_port_please(ex, mapper, name, timeout, done[, resend]): asks the port mapper at `mapper`
// for the distribution port of the node registered as `name` (the part before '@'), on a
// connection of its own (its connect resends its SYN every `resend`, see net::tcp_dial). done(port)
// runs once on ex; errors: errc::not_connected when no port mapper answers there, errc::nodedown
// when the name is not registered there, errc::timeout past timeout, errc::malformed_frame on a
// bad answer or an invalid name.
inline void async_port_please(asio::any_io_executor ex, asio::ip::tcp::endpoint mapper,
                              std::string name, std::chrono::milliseconds timeout,
                              std::function<void(result<std::uint16_t>)> done,
                              std::chrono::milliseconds resend = net::default_connect_resend) {
  auto request = encode_port_please2_request(name);
  if (!request) {
    asio::post(ex, [done = std::move(done), e = request.error()] { done(e); });
    return;
  }
  auto on_answer = [done = std::move(done), name, mapper](result<bytes> answer) {
    if (!answer) return done(answer.error());
    auto r = decode_port2_response(*answer);
    if (!r) return done(detail::bad_answer(mapper, r.error()));
    if (r->result != 0) {
      return done(
          nodus::error(errc::nodedown,
                       nodus::format("the name '{}' is not registered with the port mapper at {}",
                                     name, detail::endpoint_text(mapper))));
    }
    done(r->node.port);
  };
  std::make_shared<detail::exchange_op>(ex, mapper, std::move(*request), detail::max_port2_answer,
                                        timeout, resend, std::move(on_answer))
      ->start();
}

// async_names(ex, mapper, timeout, done[, resend]): the nodes registered with the port mapper at
// `mapper` (NAMES_REQ). done runs once on ex; errors as async_port_please (never nodedown).
inline void async_names(asio::any_io_executor ex, asio::ip::tcp::endpoint mapper,
                        std::chrono::milliseconds timeout,
                        std::function<void(result<std::vector<node_entry>>)> done,
                        std::chrono::milliseconds resend = net::default_connect_resend) {
  auto on_answer = [done = std::move(done), mapper](result<bytes> answer) {
    if (!answer) return done(answer.error());
    auto r = decode_names_response(*answer);
    if (!r) return done(detail::bad_answer(mapper, r.error()));
    done(std::move(r->nodes));
  };
  std::make_shared<detail::exchange_op>(ex, mapper, encode_request(request_code::names),
                                        detail::max_names_answer, timeout, resend,
                                        std::move(on_answer))
      ->start();
}

// Settings of a node's agent (see agent).
struct agent_options {
  std::string name;             // the alive name (before '@') to register
  std::uint16_t node_port = 0;  // the node's distribution listening port
  std::uint16_t epmd_port = default_port;
  std::string mapper_address = "127.0.0.1";  // where this host's port mapper is reached
  bool serve = true;                         // serve the port mapper ourselves when none answers
  // A hidden node registers as NodeType 72, "hidden node" in the protocol's description
  // (erl_dist_protocol); erl -hidden sends 77 and erl_interface's C nodes 104 ('h'), and no port
  // mapper or node reads it back, so this is a label for tools that list the registrations.
  bool hidden = false;
  std::string serve_address = "::";         // the embedded server's bind address
  std::chrono::milliseconds timeout{3000};  // bound of one registration attempt
  // May be empty. Called from the agent's strand and from its embedded server's strand, which
  // may run at the same time on a multi-threaded io_context.
  std::function<void(log_level, const std::string&)> log;
};

// A node's relation to its host's port mapper. Registers (ALIVE2_REQ) and keeps that connection.
// When no port mapper answers and serve is set, it starts an embedded server and registers with
// it. When the registration connection closes (the serving node exited, epmd killed), it retries
// for as long as it lives: connect and register again, or, when nobody answers, serve (losing
// that bind race to another node just means connecting to the winner), after a random jitter of
// 0..50 ms plus a backoff that doubles up to 450 ms. All nodes of a host so end up registered with
// one server. Callbacks run on a strand of the executor. Thread safety: every member may be
// called from any thread. The agent lives while it has work in flight: call stop() to end it.
class agent : public std::enable_shared_from_this<agent> {
  struct private_tag {};
  using tcp = asio::ip::tcp;
  using clock = std::chrono::steady_clock;

 public:
  agent(private_tag, const asio::any_io_executor& ex, agent_options opts)
      : ex_(ex),
        strand_(asio::make_strand(ex)),
        socket_(strand_),
        attempt_timer_(strand_),
        retry_timer_(strand_),
        opts_(std::move(opts)),
        rng_(detail::seed_from(this)) {}
  agent(const agent&) = delete;
  agent& operator=(const agent&) = delete;

  // create(ex, opts) -> an agent, not started.
  [[nodiscard]] static std::shared_ptr<agent> create(asio::any_io_executor ex, agent_options opts) {
    return std::make_shared<agent>(private_tag{}, ex, std::move(opts));
  }

  // start(done): the first registration; done(result<void>) runs once: ok when registered;
  // errc::already_registered ("the name 'n1' is already registered with the port mapper at
  // 127.0.0.1:4369") when the name stays taken for about 1 s (a killed node's old registration
  // may still be closing); errc::not_connected when no port mapper answers and serve is false, or
  // this node could not serve one either (within opts.timeout); errc::timeout or
  // errc::malformed_frame when a port mapper answers but not properly (within opts.timeout);
  // errc::invalid_node_name when opts.name cannot be registered. After a failure the agent is
  // stopped. Call start once.
  void start(std::function<void(result<void>)> done) {
    {
      const std::lock_guard<std::recursive_mutex> lock(cb_mutex_);
      if (start_called_) {
        assert(!"nodus::epmd::agent::start called twice");
        return;
      }
      start_called_ = true;
      start_done_ = std::move(done);
    }
    asio::dispatch(strand_, [self = shared_from_this()] { self->begin(); });
  }

  // registered() -> holds a registration now; thread-safe.
  [[nodiscard]] bool registered() const noexcept { return registered_.load(); }
  // serving() -> this agent runs the embedded port mapper now; thread-safe.
  [[nodiscard]] bool serving() const noexcept { return serving_.load(); }
  // creation() -> the creation of the last ALIVE2 answer (0 before the first).
  [[nodiscard]] std::uint32_t creation() const noexcept { return creation_.load(); }

  // on_registered(cb): cb() runs after each (re-)registration, on the agent's strand.
  void on_registered(std::function<void()> cb) {
    const std::lock_guard<std::recursive_mutex> lock(cb_mutex_);
    on_registered_ = std::move(cb);
  }

  // stop(): closes the registration and the embedded server (asynchronously, on the strand). No
  // callback starts after it returns; one running on another thread is waited for. May be called
  // from a callback. Idempotent.
  void stop() {
    {
      const std::lock_guard<std::recursive_mutex> lock(cb_mutex_);
      if (stopped_.exchange(true)) return;
      registered_ = false;
      start_done_ = nullptr;
      on_registered_ = nullptr;
    }
    asio::dispatch(strand_, [self = shared_from_this()] { self->shutdown(); });
  }

 private:
  // ---- on the strand ----------------------------------------------------------------------------
  void begin() {
    if (stopped_ || started_) return;
    started_ = true;
    if (auto ok = detail::check_name(opts_.name, "ALIVE2_REQ"); !ok) {
      complete_first(
          nodus::error(errc::invalid_node_name,
                       nodus::format("the name '{}' cannot be registered with a port mapper ({})",
                                     opts_.name, ok.error().reason())));
      return;
    }
    std::error_code ec;
    const auto address = asio::ip::make_address(opts_.mapper_address, ec);
    if (ec) {
      complete_first(nodus::error(errc::not_connected,
                                  nodus::format("the port mapper address '{}' is not an IP address",
                                                opts_.mapper_address)));
      return;
    }
    mapper_ = tcp::endpoint(address, opts_.epmd_port);
    where_ = detail::endpoint_text(mapper_);
    first_start_ = clock::now();
    attempt();
  }

  void attempt() {
    if (stopped_) return;
    const auto id = ++attempt_id_;
    timed_out_ = false;
    close_socket();
    attempt_timer_.expires_after(opts_.timeout);
    attempt_timer_.async_wait([self = shared_from_this(), id](std::error_code ec) {
      if (ec || id != self->attempt_id_) return;
      self->timed_out_ = true;
      self->close_socket();  // the pending operation completes with an error
    });
    socket_.async_connect(
        mapper_, [self = shared_from_this(), id](std::error_code ec) { self->on_connect(id, ec); });
  }

  [[nodiscard]] bool stale(std::uint64_t id) const { return id != attempt_id_ || stopped_; }

  void on_connect(std::uint64_t id, std::error_code ec) {
    if (stale(id)) return;
    if (ec) {
      on_no_answer(timed_out_ ? nodus::format("no answer within {}", opts_.timeout) : ec.message());
      return;
    }
    node_info node;
    node.port = opts_.node_port;
    node.name = opts_.name;
    node.node_type = opts_.hidden ? node_type_hidden : node_type_normal;
    out_ = encode_alive2_request(node).value();  // the name was checked in begin()
    asio::async_write(socket_, asio::buffer(out_),
                      [self = shared_from_this(), id](std::error_code write_ec, std::size_t) {
                        if (self->stale(id)) return;
                        if (write_ec) return self->on_failure(self->broken(write_ec));
                        self->read_answer(id);
                      });
  }

  void read_answer(std::uint64_t id) {
    asio::async_read(
        socket_, asio::buffer(in_.data(), 1),
        [self = shared_from_this(), id](std::error_code ec, std::size_t) {
          if (self->stale(id)) return;
          if (ec) return self->on_failure(self->broken(ec));
          const std::size_t size = alive2_response_size(self->in_[0]);
          if (size == 0) {
            return self->on_failure(
                nodus::error(errc::malformed_frame,
                             nodus::format("the port mapper at {} answered ALIVE2_REQ with code {}",
                                           self->where_, self->in_[0])));
          }
          asio::async_read(
              self->socket_, asio::buffer(self->in_.data() + 1, size - 1),
              [self, id, size](std::error_code rest_ec, std::size_t) {
                if (self->stale(id)) return;
                if (rest_ec) return self->on_failure(self->broken(rest_ec));
                const auto answer =
                    decode_alive2_response(std::span<const std::uint8_t>(self->in_.data(), size));
                if (!answer)
                  return self->on_failure(detail::bad_answer(self->mapper_, answer.error()));
                if (answer->result != 0) return self->on_taken();
                self->on_registered_ok(id, answer->creation);
              });
        });
  }

  void on_registered_ok(std::uint64_t id, std::uint32_t creation) {
    attempt_timer_.cancel();
    backoff_ = std::chrono::milliseconds(0);
    taken_warned_ = false;
    lost_race_ = false;
    creation_ = creation;
    {
      const std::lock_guard<std::recursive_mutex> lock(cb_mutex_);
      if (stopped_) return;
      registered_ = true;
    }
    log(log_level::info,
        nodus::format("registered '{}' (port {}) with the port mapper at {}{} (creation {})",
                      opts_.name, opts_.node_port, where_, serving_ ? ", served by this node" : "",
                      creation));
    // Watch the connection: the server sends nothing; its close ends the registration.
    socket_.async_read_some(asio::buffer(in_),
                            [self = shared_from_this(), id](std::error_code ec, std::size_t) {
                              self->on_lost(id, ec);
                            });
    if (!first_done_) complete_first({});
    notify_registered();
  }

  void on_lost(std::uint64_t id, std::error_code ec) {
    if (stale(id)) return;
    registered_ = false;
    close_socket();
    log(log_level::warn,
        nodus::format("the registration of '{}' with the port mapper at {} ended ({}); "
                      "registering again",
                      opts_.name, where_, ec ? ec.message() : "it sent unexpected bytes"));
    backoff_ = std::chrono::milliseconds(0);
    schedule_retry();
  }

  // Nobody accepted the connection: serve the port mapper ourselves if allowed, else retry.
  void on_no_answer(const std::string& reason) {
    close_socket();
    if (opts_.serve && !server_) {
      server_options so;
      so.address = opts_.serve_address;
      so.port = opts_.epmd_port;
      so.log = opts_.log;
      auto s = server::listen(ex_, std::move(so));
      if (s) {
        server_ = std::move(*s);
        serving_ = true;
        log(log_level::info,
            nodus::format("no port mapper answered at {} ({}); this node serves one on port {}",
                          where_, reason, server_->port()));
        attempt();  // register with the server just started
        return;
      }
      serve_error_ = s.error().reason();  // another node won the race, or the port is taken
      if (!lost_race_) {
        // Nodes that start together all find no port mapper and race to serve one: the winner
        // listens already, so the losers connect to it at once rather than after a backoff.
        lost_race_ = true;
        attempt();
        return;
      }
    }
    if (!first_done_) {
      if (!opts_.serve) {
        return complete_first(
            nodus::error(errc::not_connected,
                         nodus::format("no port mapper answers at {} ({})", where_, reason)));
      }
      if (clock::now() - first_start_ >= opts_.timeout) {
        return complete_first(nodus::error(
            errc::not_connected,
            nodus::format("no port mapper answers at {} ({}) and this node could not serve one "
                          "({})",
                          where_, reason,
                          serve_error_.empty() ? "its server does not answer" : serve_error_)));
      }
    }
    schedule_retry();
  }

  void on_taken() {
    close_socket();
    const auto message = nodus::format(
        "the name '{}' is already registered with the port mapper at {}", opts_.name, where_);
    if (!first_done_) {
      // A killed node's registration may still be closing: retry for about a second first.
      if (clock::now() - first_start_ >= std::chrono::seconds(1)) {
        return complete_first(nodus::error(errc::already_registered, message));
      }
    } else if (!taken_warned_) {
      taken_warned_ = true;  // once until the next registration: retries come every <= 500 ms
      log(log_level::warn, message + "; retrying until it is free");
    }
    schedule_retry();
  }

  // A port mapper accepted the connection but did not answer properly.
  void on_failure(const nodus::error& why) {
    close_socket();
    if (!first_done_ && clock::now() - first_start_ >= opts_.timeout) {
      return complete_first(why);
    }
    log(log_level::debug,
        nodus::format("registration of '{}' failed: {}; retrying", opts_.name, why.message()));
    schedule_retry();
  }

  [[nodiscard]] nodus::error broken(std::error_code ec) const {
    if (timed_out_) {
      return {errc::timeout, nodus::format("the port mapper at {} did not answer ALIVE2_REQ "
                                           "within {}",
                                           where_, opts_.timeout)};
    }
    return {errc::not_connected, nodus::format("the port mapper at {} closed the registration ({})",
                                               where_, ec.message())};
  }

  void schedule_retry() {
    using std::chrono::milliseconds;
    const auto delay = backoff_ + milliseconds(static_cast<long>(rng_.next() % 51));
    backoff_ = std::min(backoff_.count() == 0 ? milliseconds(50) : backoff_ * 2, milliseconds(450));
    const auto id = ++attempt_id_;
    retry_timer_.expires_after(delay);
    retry_timer_.async_wait([self = shared_from_this(), id](std::error_code ec) {
      if (ec || self->stale(id)) return;
      self->attempt();
    });
  }

  void complete_first(result<void> r) {
    first_done_ = true;
    if (!r) shutdown();  // a failed start leaves nothing running
    const std::lock_guard<std::recursive_mutex> lock(cb_mutex_);
    if (stopped_) return;
    auto done = std::move(start_done_);
    start_done_ = nullptr;
    if (done) done(std::move(r));
  }

  void notify_registered() {
    const std::lock_guard<std::recursive_mutex> lock(cb_mutex_);
    if (stopped_) return;
    auto cb = on_registered_;  // a copy: cb may call on_registered() or stop()
    if (cb) cb();
  }

  void shutdown() {
    ++attempt_id_;
    attempt_timer_.cancel();
    retry_timer_.cancel();
    close_socket();
    if (server_) {
      server_->close();
      server_.reset();
    }
    serving_ = false;
    registered_ = false;
  }

  void close_socket() {
    std::error_code ignored;
    socket_.close(ignored);
  }

  void log(log_level level, const std::string& text) const {
    if (opts_.log) opts_.log(level, text);
  }

  asio::any_io_executor ex_;
  asio::strand<asio::any_io_executor> strand_;
  tcp::socket socket_;  // the registration connection (or the attempt at one)
  asio::steady_timer attempt_timer_;
  asio::steady_timer retry_timer_;
  agent_options opts_;
  detail::splitmix rng_;
  tcp::endpoint mapper_;
  std::string where_;
  std::unique_ptr<server> server_;
  std::string serve_error_;
  bool lost_race_ = false;  // an immediate retry after losing the race to serve was made
  bytes out_;
  std::array<std::uint8_t, 16> in_{};
  clock::time_point first_start_{};
  std::chrono::milliseconds backoff_{0};
  std::uint64_t attempt_id_ = 0;
  bool started_ = false;
  bool first_done_ = false;
  bool timed_out_ = false;
  bool taken_warned_ = false;

  std::atomic<bool> stopped_{false};
  std::atomic<bool> registered_{false};
  std::atomic<bool> serving_{false};
  std::atomic<std::uint32_t> creation_{0};
  std::recursive_mutex cb_mutex_;  // guards the callbacks and their invocation against stop()
  bool start_called_ = false;      // guarded by cb_mutex_
  std::function<void(result<void>)> start_done_;
  std::function<void()> on_registered_;
};

}  // namespace nodus::epmd

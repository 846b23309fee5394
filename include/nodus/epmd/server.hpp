// nodus/epmd/server.hpp: an embedded EPMD port mapper, for hosts where no epmd runs. It speaks
// the real protocol (nodus/epmd/protocol.hpp), so Erlang nodes and `epmd -names` can use it.
#pragma once

#include <array>
#include <asio/any_io_executor.hpp>
#include <asio/buffer.hpp>
#include <asio/dispatch.hpp>
#include <asio/error.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/read.hpp>
#include <asio/socket_base.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/write.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
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

namespace nodus::epmd {

// Settings of an embedded port mapper.
struct server_options {
  std::string address = "::";         // "::" = dual stack (falls back to 0.0.0.0 without IPv6)
  std::uint16_t port = default_port;  // 0: any free port (see server::port())
  // Beyond this many connections the oldest ones that registered nothing are closed first;
  // registrations are never evicted (a new connection is refused when all are registrations).
  std::size_t max_connections = 4096;
  // A connection that has not sent a complete request (and taken its answer) by then is closed;
  // registration connections stay.
  std::chrono::milliseconds request_timeout{10000};
  std::function<void(log_level, const std::string&)> log;  // may be empty; runs on the strand
};

namespace detail {

using tcp = asio::ip::tcp;

// unmapped(a) -> a, with an IPv4-mapped IPv6 address (::ffff:a.b.c.d) turned into IPv4.
[[nodiscard]] inline asio::ip::address unmapped(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  }
  return a;
}

// endpoint_text(ep) -> "127.0.0.1:4369" or "[::]:4369".
[[nodiscard]] inline std::string endpoint_text(const tcp::endpoint& ep) {
  const auto a = ep.address();
  return a.is_v6() ? nodus::format("[{}]:{}", a.to_string(), ep.port())
                   : nodus::format("{}:{}", a.to_string(), ep.port());
}

// is_local_peer(remote, local) -> the peer is on this host: a loopback address or the address it
// connected to. epmd accepts ALIVE2, DUMP, KILL and STOP only from such peers
// (conn_local_peer_check in epmd_srv.c: "Only 127.x.x.x and connections from the host's IP
// address allowed").
[[nodiscard]] inline bool is_local_peer(const tcp::endpoint& remote, const tcp::endpoint& local) {
  const auto r = unmapped(remote.address());
  return r.is_loopback() || r == unmapped(local.address());
}

// is_fd_exhaustion(ec) -> accept failed for want of descriptors or kernel memory (EMFILE, ENFILE,
// ENOBUFS, ENOMEM): a state that passes when connections close, not a reason to stop.
// (Compared with asio's own codes: with Debian's Asio 1.22, asio's system category maps none of
// them to std::errc, so `ec == std::errc::too_many_files_open` is false for an EMFILE.)
[[nodiscard]] inline bool is_fd_exhaustion(const std::error_code& ec) noexcept {
  return ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
         ec == asio::error::no_memory ||
         (ec.category() == asio::error::get_system_category() && ec.value() == ENFILE);
}

// A small, fast pseudo-random sequence (splitmix64) for creations and jitter; not for secrets.
class splitmix {
 public:
  explicit splitmix(std::uint64_t seed) noexcept : state_(seed) {}
  std::uint64_t next() noexcept {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t state_;
};

[[nodiscard]] inline std::uint64_t seed_from(const void* p) noexcept {
  return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
         (static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(p)) << 16);
}

// One accepted connection of the server. Touched only on the server's strand.
struct server_conn {
  server_conn(tcp::socket s, const asio::any_io_executor& ex) : socket(std::move(s)), timer(ex) {}
  tcp::socket socket;
  asio::steady_timer timer;  // request_timeout, until the connection registers
  std::array<std::uint8_t, 2 + max_request_size> in{};
  bytes out;
  std::uint64_t id = 0;
  bool local = false;
  bool closed = false;
  std::string name;  // the registered name; empty until ALIVE2 succeeded
  std::list<std::shared_ptr<server_conn>>::iterator where;  // in idle_ or registered_
};

// The server's state, shared with its in-flight operations (which keep it alive after the
// server object is gone). All socket work runs on strand_; the registry also takes mutex_ so
// that names() may read it from any thread.
class server_impl : public std::enable_shared_from_this<server_impl> {
 public:
  using conn_ptr = std::shared_ptr<server_conn>;

  server_impl(const asio::any_io_executor& ex, server_options opts)
      : strand_(asio::make_strand(ex)),
        acceptor_(strand_),
        pause_timer_(strand_),
        opts_(std::move(opts)),
        rng_(seed_from(this)) {
    if (opts_.max_connections == 0) opts_.max_connections = 1;
  }

  // open() -> bound and listening, or errc::not_connected naming the address and the reason.
  result<void> open() {
    std::error_code ec;
    const auto addr = asio::ip::make_address(opts_.address, ec);
    if (ec) {
      return nodus::error(errc::not_connected,
                          nodus::format("cannot listen on {}:{}: '{}' is not an IP address",
                                        opts_.address, opts_.port, opts_.address));
    }
    tcp::endpoint ep(addr, opts_.port);
    ec = bind(ep, addr.is_v6() && addr.to_v6().is_unspecified());
    if (ec && addr.is_v6() && addr.to_v6().is_unspecified() && ec != asio::error::address_in_use &&
        ec != asio::error::access_denied) {
      // No IPv6 on this host (socket or bind refused): serve IPv4 alone.
      ep = tcp::endpoint(asio::ip::address_v4::any(), opts_.port);
      ec = bind(ep, false);
    }
    if (ec) {
      return nodus::error(errc::not_connected, nodus::format("cannot listen on {}: {}",
                                                             endpoint_text(ep), ec.message()));
    }
    local_ = acceptor_.local_endpoint(ec);
    port_ = local_.port();
    return {};
  }

  void start() {
    asio::dispatch(strand_, [self = shared_from_this()] {
      self->log(log_level::info,
                nodus::format("port mapper listening on {}", endpoint_text(self->local_)));
      self->accept();
    });
  }

  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }

  [[nodiscard]] std::vector<node_entry> names() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    std::vector<node_entry> out;
    out.reserve(registry_.size());
    for (const auto& [name, entry] : registry_) out.push_back({name, entry.info.port});
    return out;
  }

  void close() {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (closed_) return;
      closed_ = true;
      registry_.clear();
    }
    asio::dispatch(strand_, [self = shared_from_this()] { self->close_all(); });
  }

 private:
  struct registration {
    node_info info;
    std::uint64_t conn_id = 0;
  };

  [[nodiscard]] bool closed() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return closed_;
  }

  void log(log_level level, const std::string& text) const {
    if (opts_.log) opts_.log(level, text);
  }

  std::error_code bind(const tcp::endpoint& ep, bool dual_stack) {
    std::error_code ec;
    acceptor_.open(ep.protocol(), ec);
    if (!ec && dual_stack) acceptor_.set_option(asio::ip::v6_only(false), ec);
    // SO_REUSEADDR lets a new server bind while old connections of the port sit in TIME_WAIT.
    // Never SO_REUSEPORT: a second server on the same port must fail to bind.
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      std::error_code ignored;
      acceptor_.close(ignored);
    }
    return ec;
  }

  void accept() {
    if (closed()) return;
    acceptor_.async_accept(strand_,
                           [self = shared_from_this()](std::error_code ec, tcp::socket socket) {
                             self->on_accept(ec, std::move(socket));
                           });
  }

  void on_accept(std::error_code ec, tcp::socket socket) {
    if (closed() || ec == asio::error::operation_aborted) return;
    if (ec) {
      // Out of descriptors (EMFILE/ENFILE): wait for connections to close, never spin. Other
      // errors (a peer that reset before accept) pass at once; a short pause still bounds them.
      const bool exhausted = is_fd_exhaustion(ec);
      if (exhausted && !fd_warned_) {
        fd_warned_ = true;
        log(log_level::warn, nodus::format("port mapper on {}: accept failed ({}); retrying "
                                           "every 100 ms meanwhile",
                                           endpoint_text(local_), ec.message()));
      }
      pause_timer_.expires_after(std::chrono::milliseconds(exhausted ? 100 : 10));
      pause_timer_.async_wait([self = shared_from_this()](std::error_code wait_ec) {
        if (!wait_ec) self->accept();
      });
      return;
    }
    if (fd_warned_) {
      fd_warned_ = false;
      log(log_level::info,
          nodus::format("port mapper on {}: accepting again", endpoint_text(local_)));
    }
    admit(std::move(socket));
    accept();
  }

  void admit(tcp::socket socket) {
    if (idle_.size() + registered_.size() >= opts_.max_connections) {
      if (idle_.empty()) {
        log(log_level::warn,
            nodus::format("port mapper: {} registrations fill max_connections; refusing a "
                          "connection",
                          registered_.size()));
        std::error_code ignored;
        socket.close(ignored);
        return;
      }
      const auto oldest = idle_.front();
      close_conn(oldest);  // evicts the oldest connection that registered nothing
    }
    auto c = std::make_shared<server_conn>(std::move(socket), strand_);
    c->id = ++next_id_;
    std::error_code ec1;
    std::error_code ec2;
    const auto remote = c->socket.remote_endpoint(ec1);
    const auto local = c->socket.local_endpoint(ec2);
    c->local = !ec1 && !ec2 && is_local_peer(remote, local);
    idle_.push_back(c);
    c->where = std::prev(idle_.end());
    c->timer.expires_after(opts_.request_timeout);
    c->timer.async_wait([self = shared_from_this(), c](std::error_code ec) {
      if (!ec && c->name.empty()) self->close_conn(c);
    });
    read_header(c);
  }

  void read_header(const conn_ptr& c) {
    asio::async_read(c->socket, asio::buffer(c->in.data(), 2),
                     [self = shared_from_this(), c](std::error_code ec, std::size_t) {
                       self->on_header(c, ec);
                     });
  }

  void on_header(const conn_ptr& c, std::error_code ec) {
    if (c->closed) return;
    if (ec) {
      close_conn(c);  // closed, reset, or truncated: a registration goes with its connection
      return;
    }
    const auto length = request_length(std::span<const std::uint8_t, 2>(c->in.data(), 2));
    if (!length) {
      log(log_level::debug, nodus::format("port mapper: {}; closing", length.error().message()));
      close_conn(c);
      return;
    }
    asio::async_read(c->socket, asio::buffer(c->in.data() + 2, *length),
                     [self = shared_from_this(), c](std::error_code read_ec, std::size_t n) {
                       if (c->closed) return;
                       if (read_ec) {
                         self->close_conn(c);
                         return;
                       }
                       self->on_request(c, std::span<const std::uint8_t>(c->in.data() + 2, n));
                     });
  }

  void on_request(const conn_ptr& c, std::span<const std::uint8_t> body) {
    // A registration connection carries nothing but a (refused) second ALIVE2_REQ; epmd closes
    // one that sends anything ("got more than expected on ALIVE socket"), and so do we.
    if (!c->name.empty() && body[0] != static_cast<std::uint8_t>(request_code::alive2)) {
      close_conn(c);
      return;
    }
    switch (static_cast<request_code>(body[0])) {
      case request_code::alive2: on_alive2(c, body); return;
      case request_code::port_please2: on_port_please2(c, body); return;
      case request_code::names: on_names(c); return;
      case request_code::dump: on_dump(c); return;
      case request_code::kill:
        // epmd without -relaxed_command_check answers "NO" while nodes are registered; this
        // server is never killed by a request, so it always answers "NO".
        if (!c->local) break;
        reply_then_close(c, bytes{'N', 'O'});
        return;
      case request_code::stop:
        // epmd without -relaxed_command_check closes without an answer ("Disallowed STOP_REQ").
        break;
    }
    close_conn(c);  // unknown request codes, and refused requests, get no answer (as in epmd)
  }

  void on_alive2(const conn_ptr& c, std::span<const std::uint8_t> body) {
    if (!c->local) {
      log(log_level::warn, "port mapper: ALIVE2_REQ from a non-local address refused");
      close_conn(c);
      return;
    }
    auto node = decode_alive2_request(body);
    if (!node) {
      log(log_level::debug, nodus::format("port mapper: {}; closing", node.error().message()));
      close_conn(c);
      return;
    }
    alive2_response answer;
    answer.extended = node->highest_version >= dist_version;  // ALIVE2_X_RESP for version 6
    if (!c->name.empty()) {
      // A second ALIVE2_REQ on a registered connection: refused, the first registration stays.
      answer.result = 1;
      reply_then_read(c, encode_alive2_response(answer));
      return;
    }
    const std::uint32_t creation = next_creation(answer.extended);
    bool taken = false;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (closed_) return;
      auto [it, inserted] = registry_.try_emplace(node->name, registration{*node, c->id});
      taken = !inserted;
    }
    if (taken) {
      // The name belongs to another live connection: answer Result=1 (as epmd: "node name
      // already occupied"), never evict the holder. epmd then keeps the refused connection open;
      // it is of no use to anyone, so this server closes it after the answer.
      log(log_level::debug,
          nodus::format("port mapper: the name '{}' is already registered; refused", node->name));
      answer.result = 1;
      answer.creation = 99;  // what epmd sends with a refusal
      reply_then_close(c, encode_alive2_response(answer));
      return;
    }
    c->name = node->name;
    c->timer.cancel();
    registered_.splice(registered_.end(), idle_, c->where);
    log(log_level::debug, nodus::format("port mapper: registered '{}' at port {} (creation {})",
                                        node->name, node->port, creation));
    answer.creation = creation;
    reply_then_read(c, encode_alive2_response(answer));
  }

  void on_port_please2(const conn_ptr& c, std::span<const std::uint8_t> body) {
    auto name = decode_port_please2_request(body);
    if (!name) {
      close_conn(c);
      return;
    }
    bytes answer;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      const auto it = registry_.find(*name);
      answer =
          it == registry_.end() ? encode_port2_error() : encode_port2_response(it->second.info);
    }
    reply_then_close(c, std::move(answer));
  }

  void on_names(const conn_ptr& c) {
    bytes answer = encode_names_header(port_);
    for (const auto& entry : names()) {
      const auto line = names_line(entry);
      answer.insert(answer.end(), line.begin(), line.end());
    }
    reply_then_close(c, std::move(answer));
  }

  // DUMP_REQ (a debug feature): EPMDPortNo:4, then per node "active name     <N> at port P, fd =
  // F\n" and a NUL, as epmd_srv.c writes it. Local peers only, as in epmd.
  void on_dump(const conn_ptr& c) {
    if (!c->local) {
      close_conn(c);
      return;
    }
    bytes answer = encode_names_header(port_);
    std::map<std::uint64_t, int> fds;
    for (const auto& r : registered_) fds[r->id] = static_cast<int>(r->socket.native_handle());
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      for (const auto& [name, entry] : registry_) {
        const auto line = nodus::format("active name     <{}> at port {}, fd = {}\n", name,
                                        entry.info.port, fds[entry.conn_id]);
        answer.insert(answer.end(), line.begin(), line.end());
        answer.push_back(0);
      }
    }
    reply_then_close(c, std::move(answer));
  }

  void reply_then_close(const conn_ptr& c, bytes answer) {
    c->out = std::move(answer);
    asio::async_write(
        c->socket, asio::buffer(c->out),
        [self = shared_from_this(), c](std::error_code, std::size_t) { self->close_conn(c); });
  }

  void reply_then_read(const conn_ptr& c, bytes answer) {
    c->out = std::move(answer);
    asio::async_write(c->socket, asio::buffer(c->out),
                      [self = shared_from_this(), c](std::error_code ec, std::size_t) {
                        if (c->closed) return;
                        if (ec) {
                          self->close_conn(c);
                          return;
                        }
                        self->read_header(c);
                      });
  }

  // Closes one connection and drops its registration, if it holds one. Takes c by value: it may
  // be the list element that this erases.
  void close_conn(conn_ptr c) {  // NOLINT(performance-unnecessary-value-param)
    if (c->closed) return;
    c->closed = true;
    if (!c->name.empty()) {
      {
        const std::lock_guard<std::mutex> lock(mutex_);
        const auto it = registry_.find(c->name);
        if (it != registry_.end() && it->second.conn_id == c->id) registry_.erase(it);
      }
      log(log_level::debug, nodus::format("port mapper: unregistered '{}'", c->name));
      registered_.erase(c->where);
    } else {
      idle_.erase(c->where);
    }
    c->timer.cancel();
    std::error_code ignored;
    c->socket.shutdown(tcp::socket::shutdown_both, ignored);
    c->socket.close(ignored);
  }

  void close_all() {
    std::error_code ignored;
    acceptor_.close(ignored);
    pause_timer_.cancel();
    while (!idle_.empty()) close_conn(idle_.front());
    while (!registered_.empty()) close_conn(registered_.front());
    log(log_level::info, nodus::format("port mapper on {} closed", endpoint_text(local_)));
  }

  // A fresh creation: non-zero 32 bits for ALIVE2_X_RESP; 1..3 for the old ALIVE2_RESP (the range
  // epmd used for 16-bit creations).
  std::uint32_t next_creation(bool extended) {
    const auto r = static_cast<std::uint32_t>(rng_.next());
    if (!extended) return r % 3 + 1;
    return r == 0 ? 1 : r;
  }

  asio::strand<asio::any_io_executor> strand_;
  tcp::acceptor acceptor_;
  asio::steady_timer pause_timer_;
  server_options opts_;
  tcp::endpoint local_;
  std::uint16_t port_ = 0;
  splitmix rng_;
  std::uint64_t next_id_ = 0;
  bool fd_warned_ = false;
  std::list<conn_ptr> idle_;        // connections without a registration, oldest first
  std::list<conn_ptr> registered_;  // registration connections
  mutable std::mutex mutex_;        // guards registry_ and closed_
  std::map<std::string, registration> registry_;
  bool closed_ = false;
};

}  // namespace detail

// An embedded EPMD port mapper: answers ALIVE2, PORT_PLEASE2, NAMES and DUMP requests as epmd
// does, refuses KILL ("NO") and STOP, and closes connections that send garbage, an oversized or
// truncated request, an unknown code, or nothing within request_timeout. A name held by a live
// connection is never given to another (Result=1). Out of descriptors, it pauses accepting and
// retries. Thread safety: port(), names() and close() may be called from any thread; the server
// must be closed or destroyed before its io_context is.
class server {
 public:
  // listen(ex, opts) -> a serving port mapper, or errc::not_connected when it cannot bind
  // ("cannot listen on [::]:4369: Address already in use"). Sets SO_REUSEADDR, never
  // SO_REUSEPORT: two servers on one port are impossible.
  [[nodiscard]] static result<std::unique_ptr<server>> listen(asio::any_io_executor ex,
                                                              server_options opts) {
    auto impl = std::make_shared<detail::server_impl>(ex, std::move(opts));
    if (auto opened = impl->open(); !opened) return opened.error();
    impl->start();
    return std::unique_ptr<server>(new server(std::move(impl)));
  }

  server(const server&) = delete;
  server& operator=(const server&) = delete;
  ~server() { close(); }

  // port() -> the port it listens on (useful with options.port = 0).
  [[nodiscard]] std::uint16_t port() const { return impl_->port(); }
  // names() -> the registered nodes, by name; thread-safe.
  [[nodiscard]] std::vector<node_entry> names() const { return impl_->names(); }
  // Stops accepting and closes every connection (their registrations go). names() is empty when
  // it returns; the sockets close on the server's strand. Idempotent.
  void close() { impl_->close(); }

 private:
  explicit server(std::shared_ptr<detail::server_impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<detail::server_impl> impl_;
};

}  // namespace nodus::epmd

// nodus/cluster/node_table.hpp: the membership of one node: a listener, one connection per peer,
// the simultaneous-connect rule, a full mesh, node_up / node_down subscriptions.
#pragma once

#include <algorithm>
#include <asio/any_io_executor.hpp>
#include <asio/error.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "nodus/cluster/events.hpp"
#include "nodus/core/error.hpp"
#include "nodus/core/format.hpp"
#include "nodus/core/log.hpp"
#include "nodus/core/node_name.hpp"
#include "nodus/net/connection.hpp"
#include "nodus/net/handshake.hpp"

namespace nodus::cluster {

// First byte of a nodus control frame between node_tables; other frames go to on_frame.
inline constexpr std::byte control_tag{0xF0};

// Settings of one node_table.
struct node_table_options {
  node_name self;                                 // our full node name
  std::string cookie;                             // the shared secret
  std::string address = "127.0.0.1";              // where to listen
  std::uint16_t port = 0;                         // 0: an ephemeral port (see node_table::port())
  std::uint32_t creation = 1;                     // our incarnation (nonzero)
  std::chrono::milliseconds setup_timeout{7000};  // net_setuptime
  std::chrono::milliseconds connect_resend{250};  // a dial's SYN resent this often (net::tcp_dial)
  std::chrono::milliseconds ticktime{60000};      // net_ticktime
  std::size_t max_frame_size = std::size_t{64} << 20;
  std::size_t busy_limit = std::size_t{1} << 20;  // per connection (connection_options)
  std::shared_ptr<net::tls_context> tls;          // TLS on every connection; nullptr: plain TCP
  bool hidden = false;  // a hidden node: its connections are hidden on both sides, never meshed
  // Compared with a nodus peer's right after the handshake; a different one refuses the peer
  // (two programs built from different nodus::protocol lists would misread each other).
  std::uint64_t protocol_fingerprint = 0;
  // Where the table reports refused peers and failed handshakes (level, line); may be empty.
  std::function<void(log_level, const std::string&)> log;
  // Called (under the table's lock: it must be quick and not call back) whenever a connection
  // comes up or goes down, before the answers of connection_to() change. May be empty.
  std::function<void()> membership_changed;
};

// parse_node_address("n2@127.0.0.1:4500") -> the node name and the endpoint to dial: the host
// part of the name must be an IP address: how a peer is given without a port mapper.
// Errors: errc::invalid_node_name.
[[nodiscard]] inline result<std::pair<node_name, asio::ip::tcp::endpoint>> parse_node_address(
    std::string_view text) {
  const auto colon = text.rfind(':');
  const auto at = text.find('@');
  if (colon == std::string_view::npos || at == std::string_view::npos || colon < at) {
    return nodus::error(errc::invalid_node_name,
                        "\"" + std::string(text) + "\" is not name@host:port");
  }
  auto name = node_name::parse(text.substr(0, colon));
  if (!name) return name.error();
  unsigned port = 0;
  const auto digits = text.substr(colon + 1);
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (ec != std::errc{} || end != digits.data() + digits.size() || port == 0 || port > 65535) {
    return nodus::error(errc::invalid_node_name, "bad port in \"" + std::string(text) + "\"");
  }
  std::error_code aec;
  const auto addr = asio::ip::make_address(std::string(name->host()), aec);
  if (aec) {
    return nodus::error(errc::invalid_node_name,
                        "host of \"" + std::string(text) + "\" is not an IP address");
  }
  return std::pair{*name, asio::ip::tcp::endpoint(addr, static_cast<std::uint16_t>(port))};
}

namespace detail {

inline void put16(std::vector<std::byte>& out, std::uint16_t v) {
  out.push_back(static_cast<std::byte>(v >> 8));
  out.push_back(static_cast<std::byte>(v & 0xff));
}

inline std::uint16_t get16(std::span<const std::byte> b, std::size_t at) {
  return static_cast<std::uint16_t>((std::to_integer<unsigned>(b[at]) << 8) |
                                    std::to_integer<unsigned>(b[at + 1]));
}

// One peer a node tells another about: its name and listening port.
struct peer_entry {
  node_name name;
  std::uint16_t port = 0;
};

// Peer list frame: | 0xF0 | 0x01 | SenderPort:2 | Count:2 | (Nlen:1 | Name | Port:2)* |.
inline constexpr std::byte peer_list_kind{0x01};

inline std::vector<std::byte> encode_peer_list(std::uint16_t own_port,
                                               const std::vector<peer_entry>& peers) {
  std::vector<std::byte> out{control_tag, peer_list_kind};
  put16(out, own_port);
  put16(out, static_cast<std::uint16_t>(peers.size()));
  for (const auto& p : peers) {
    out.push_back(static_cast<std::byte>(p.name.size()));
    for (char c : p.name.str()) out.push_back(static_cast<std::byte>(c));
    put16(out, p.port);
  }
  return out;
}

// Protocol check frame, first frame both nodus sides send: | 0xF0 | 0x02 | 0:6 | Fingerprint:8 LE
// |.
inline constexpr std::byte hello_kind{0x02};
inline constexpr std::size_t hello_size = 16;

inline std::vector<std::byte> encode_hello(std::uint64_t fingerprint) {
  std::vector<std::byte> out(hello_size, std::byte{0});
  out[0] = control_tag;
  out[1] = hello_kind;
  for (int i = 0; i < 8; ++i) out[8 + i] = static_cast<std::byte>((fingerprint >> (8 * i)) & 0xff);
  return out;
}

inline bool decode_hello(std::span<const std::byte> f, std::uint64_t& fingerprint) {
  if (f.size() < hello_size || f[1] != hello_kind) return false;
  fingerprint = 0;
  for (int i = 0; i < 8; ++i) fingerprint |= std::to_integer<std::uint64_t>(f[8 + i]) << (8 * i);
  return true;
}

// is_fd_exhaustion(ec) -> accept failed for want of descriptors or kernel memory (EMFILE, ENFILE,
// ENOBUFS, ENOMEM): a state that passes when connections close, not a reason to stop. Compared
// with asio's own codes, as epmd::is_fd_exhaustion (nodus/epmd/server.hpp) explains.
[[nodiscard]] inline bool is_fd_exhaustion(const std::error_code& ec) noexcept {
  return ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
         ec == asio::error::no_memory ||
         (ec.category() == asio::error::get_system_category() && ec.value() == ENFILE);
}

// only_padding(f, at) -> the bytes of f from at on are the zero padding of an aligned frame.
inline bool only_padding(std::span<const std::byte> f, std::size_t at) {
  if (at > f.size() || f.size() - at >= 16) return false;
  for (std::size_t i = at; i < f.size(); ++i) {
    if (f[i] != std::byte{0}) return false;
  }
  return true;
}

// decode_peer_list(frame) -> sender port and entries; false on a malformed frame.
inline bool decode_peer_list(std::span<const std::byte> f, std::uint16_t& sender_port,
                             std::vector<peer_entry>& peers) {
  if (f.size() < 6 || f[1] != peer_list_kind) return false;
  sender_port = get16(f, 2);
  const std::size_t count = get16(f, 4);
  std::size_t at = 6;
  for (std::size_t i = 0; i < count; ++i) {
    if (at >= f.size()) return false;
    const std::size_t n = std::to_integer<std::size_t>(f[at++]);
    if (f.size() - at < n + 2) return false;
    std::string text(n, '\0');
    for (std::size_t k = 0; k < n; ++k) text[k] = static_cast<char>(f[at + k]);
    at += n;
    auto name = node_name::parse(text);
    if (!name) return false;
    peers.push_back({*name, get16(f, at)});
    at += 2;
  }
  return only_padding(f, at);
}

}  // namespace detail

// The membership of one node on an Asio executor: listens on TCP, accepts and dials
// net::connections, keeps exactly one per peer (Erlang's simultaneous-connect rule and `alive`
// handling), forms a full mesh (each side tells the other its visible peers and their ports;
// unknown ones are dialled), and reports node_up / node_down.
// Thread safety: every public member may be called from any thread. Callbacks (connect
// completions, subscriptions, on_frame) run on a connection's strand, never under an internal
// lock, so they may call back into the table. Destroying the table closes the listener and every
// connection; no callback runs after the destructor returns except ones already running.
class node_table {
 public:
  using tcp = asio::ip::tcp;
  using node_up_handler = std::function<void(const node_name&)>;
  using node_down_handler = std::function<void(const node_name&, node_down_reason)>;
  // frame_handler(peer, bytes, keep): keep holds the bytes valid after the call, while held.
  using frame_handler = std::function<void(const node_name&, std::span<const std::byte>,
                                           const std::shared_ptr<const void>& keep)>;
  // erlang_frame_handler(peer, bytes, conn): a BEAM peer's frame and the connection it came on
  // (its flags, its session()); called on that connection's strand.
  using erlang_frame_handler =
      std::function<void(const node_name&, std::span<const std::byte>, net::connection& conn)>;

  // listen(ex, opts) -> a table listening on opts.address:opts.port. Errors: errc::not_connected
  // naming the address when it cannot bind, errc::invalid_node_name for an empty self.
  [[nodiscard]] static result<node_table> listen(const asio::any_io_executor& ex,
                                                 node_table_options opts) {
    if (opts.self.empty()) return nodus::error(errc::invalid_node_name, "node_table: no self name");
    auto s = std::make_shared<state>(ex, std::move(opts));
    std::error_code ec;
    const auto addr = asio::ip::make_address(s->opts.address, ec);
    tcp::endpoint ep(addr, s->opts.port);
    if (!ec) s->acceptor->open(ep.protocol(), ec);
    if (!ec) s->acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) s->acceptor->bind(ep, ec);
    if (!ec) s->acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return nodus::error(errc::not_connected, "node_table: cannot listen on " + s->opts.address +
                                                   ":" + std::to_string(s->opts.port) + ": " +
                                                   ec.message());
    }
    s->port = s->acceptor->local_endpoint().port();
    asio::post(s->accept_strand, [s] { state::accept_next(s); });
    return node_table(std::move(s));
  }

  node_table(node_table&&) noexcept = default;
  node_table& operator=(node_table&& o) noexcept {
    if (this != &o) {
      shutdown();
      s_ = std::move(o.s_);
    }
    return *this;
  }
  node_table(const node_table&) = delete;
  node_table& operator=(const node_table&) = delete;
  ~node_table() { shutdown(); }

  // self() -> our node name.
  [[nodiscard]] const node_name& self() const noexcept { return s_->opts.self; }

  // port() -> the TCP port we listen on (the ephemeral one when options.port was 0).
  [[nodiscard]] std::uint16_t port() const noexcept { return s_->port; }

  // set_creation(c): the creation the handshakes of connections made from now on announce (the
  // port mapper's, once registered; nonzero).
  void set_creation(std::uint32_t c) {
    std::lock_guard lock(s_->mutex);
    s_->opts.creation = c;
  }

  // connect(peer, endpoint, done): like Node.connect: done(true) once a connection to peer is up
  // (at once if it already is, or peer is self), done(false) if it cannot be made (refused, wrong
  // cookie, unreachable, net_setuptime). A simultaneous dial from peer settles on one connection.
  // Completions still pending when the table is destroyed are dropped.
  void connect(const node_name& peer, const tcp::endpoint& endpoint,
               std::function<void(bool)> done) {
    state::connect(s_, peer, endpoint, std::move(done));
  }

  // connect("name@ip:port", done): as above; done(false) if the text does not parse.
  void connect(std::string_view address, std::function<void(bool)> done) {
    auto a = parse_node_address(address);
    if (!a) {
      if (done) done(false);
      return;
    }
    connect(a->first, a->second, std::move(done));
  }

  // disconnect(peer) -> true if a connection to peer was up and is now being closed; node_down
  // with reason disconnect follows here, connection_closed on the peer.
  bool disconnect(const node_name& peer) {
    std::shared_ptr<net::connection> c;
    {
      std::lock_guard lock(s_->mutex);
      auto it = s_->up.find(peer);
      if (it == s_->up.end()) return false;
      c = s_->conns[it->second].conn;
    }
    // What send() accepted before this call is written first (a message acknowledged by send()
    // is not dropped by a later disconnect).
    if (c) c->close_after_sends();
    return true;
  }

  // list(which) -> the connected peers of that kind, sorted.
  [[nodiscard]] std::vector<node_name> list(node_kind which = node_kind::visible) const {
    std::lock_guard lock(s_->mutex);
    std::vector<node_name> out;
    out.reserve(s_->up.size());
    for (const auto& [name, id] : s_->up) {
      const bool hidden = s_->conns.at(id).hidden;
      if (which == node_kind::connected || hidden == (which == node_kind::hidden)) {
        out.push_back(name);
      }
    }
    return out;  // std::map: already sorted
  }

  // is_connected(peer) -> a connection to peer is up (visible or hidden).
  [[nodiscard]] bool is_connected(const node_name& peer) const {
    std::lock_guard lock(s_->mutex);
    return s_->up.count(peer) != 0;
  }

  // connection_to(peer) -> the connection to peer if it is up, and whether peer is a nodus node
  // (native frames); nullptr when not connected.
  [[nodiscard]] std::pair<std::shared_ptr<net::connection>, bool> connection_to(
      const node_name& peer) const {
    std::lock_guard lock(s_->mutex);
    auto it = s_->up.find(peer);
    if (it == s_->up.end()) return {};
    const auto& info = s_->conns.at(it->second);
    return {info.conn, info.native};
  }

  // known_port(peer) -> the listening port of peer if we learnt it (from a connect or the mesh).
  [[nodiscard]] std::uint16_t known_port(const node_name& peer) const {
    std::lock_guard lock(s_->mutex);
    auto it = s_->ports.find(peer);
    return it == s_->ports.end() ? 0 : it->second;
  }

  // on_node_up(cb): cb(peer) after each new visible connection, before any of its frames.
  void on_node_up(node_up_handler cb) {
    std::lock_guard lock(s_->mutex);
    s_->up_handlers.push_back(std::make_shared<node_up_handler>(std::move(cb)));
  }

  // on_node_down(cb): cb(peer, reason) after the last frame of a visible connection that was up.
  void on_node_down(node_down_handler cb) {
    std::lock_guard lock(s_->mutex);
    s_->down_handlers.push_back(std::make_shared<node_down_handler>(std::move(cb)));
  }

  // on_connection_lost(cb): cb(peer, reason) after the last frame of any connection that was up,
  // visible or hidden (node_down covers visible ones only, as Erlang's monitor_nodes).
  void on_connection_lost(node_down_handler cb) {
    std::lock_guard lock(s_->mutex);
    s_->lost_handlers.push_back(std::make_shared<node_down_handler>(std::move(cb)));
  }

  // on_frame(cb): cb(peer, bytes) for each frame that is not a nodus control frame; bytes are
  // valid during the call only. Replaces the previous hook.
  void on_frame(frame_handler cb) {
    std::lock_guard lock(s_->mutex);
    auto& hooks = *s_->hooks;
    if (hooks.current) hooks.retired.push_back(hooks.current);  // a frame may be in it
    hooks.current = std::make_shared<frame_handler>(std::move(cb));
    for (auto& [id, info] : s_->conns) {
      if (info.link) info.link->hook.store(hooks.current.get(), std::memory_order_release);
    }
  }

  // on_erlang_frame(cb): cb(peer, bytes, conn) for each frame of a BEAM peer (a connection
  // without the nodus flag: dist/erlang_frame.hpp); bytes are valid during the call only.
  // Replaces the previous one.
  void on_erlang_frame(erlang_frame_handler cb) {
    std::lock_guard lock(s_->mutex);
    auto& hooks = *s_->hooks;
    if (hooks.erlang) hooks.retired.push_back(hooks.erlang);  // a frame may be in it
    hooks.erlang = std::make_shared<erlang_frame_handler>(std::move(cb));
  }

  // send(peer, payload) -> false if no connection to peer is up; else the frame is queued.
  bool send(const node_name& peer, std::vector<std::byte> payload) {
    auto c = connection_to(peer).first;
    if (!c) return false;
    c->send(std::move(payload));
    return true;
  }

 private:
  using id_type = std::uint64_t;

  // link: what a connection's frames need on the fast path, without the table's mutex: set up
  // once the connection is up (under the mutex), then only read.
  // hook_store: the frame hooks (the current one and every one it replaced) and the closing flag,
  // shared by the state and every link, so that the fast path reaches them without locking the
  // state (a weak_ptr lock per frame): a hook a link points to lives as long as the link.
  struct hook_store {
    std::shared_ptr<frame_handler> current;        // under the state's mutex
    std::shared_ptr<erlang_frame_handler> erlang;  // BEAM peers' frames; under the state's mutex
    std::vector<std::shared_ptr<const void>> retired;  // under the state's mutex
    std::atomic<bool> closing{false};
  };

  struct link_state {
    node_name peer;
    net::connection* conn = nullptr;  // the connection that owns the handler holding this
    std::shared_ptr<hook_store> hooks;
    std::atomic<frame_handler*> hook{nullptr};
    std::atomic<bool> fast{false};  // up, a nodus peer, past the protocol check
  };

  struct conn_info {
    std::shared_ptr<net::connection> conn;
    std::shared_ptr<link_state> link;
    node_name peer;  // known at once for dials, after send_name for accepts
    bool up = false;
    bool greeting = false;  // handshake done, waiting for the peer's protocol check frame
    bool native = false;    // a nodus peer
    bool hidden = false;    // a hidden connection: not in list(), not meshed, no node_up/down
    bool silent = false;    // abandoned or replaced: its going down is not a node_down
  };

  struct waiter_set {
    std::vector<std::function<void(bool)>> waiters;
    std::shared_ptr<asio::steady_timer> timer;  // bounds a wait after our dial got nok
  };

  struct state {
    state(const asio::any_io_executor& e, node_table_options o)
        : ex(e),
          accept_strand(asio::make_strand(e)),
          acceptor(std::make_shared<tcp::acceptor>(accept_strand)),
          accept_pause(accept_strand),
          opts(std::move(o)) {}

    asio::any_io_executor ex;
    asio::strand<asio::any_io_executor> accept_strand;
    std::shared_ptr<tcp::acceptor> acceptor;
    asio::steady_timer accept_pause;  // on accept_strand: the wait before an accept is retried
    bool accept_failing = false;      // on accept_strand: out of descriptors, warned once
    bool accept_oom_warned = false;   // on accept_strand: a connection's buffers failed, warned
    node_table_options opts;
    std::uint16_t port = 0;

    std::mutex mutex;
    bool closed = false;
    id_type next_id = 1;
    std::map<id_type, conn_info> conns;
    std::map<node_name, id_type> up;         // visible peers
    std::map<node_name, id_type> dialing;    // our pending dial per peer
    std::map<node_name, id_type> accepting;  // an accepted handshake per peer
    // The peers of connections in their protocol check (conn_info::greeting), so that decide()
    // finds one without walking every connection (a flood of handshakes made that quadratic).
    std::multiset<node_name> greeting_peers;
    std::map<node_name, std::uint16_t> ports;  // listening ports we know
    std::map<node_name, waiter_set> waiting;   // connect() completions per peer
    std::vector<std::shared_ptr<node_up_handler>> up_handlers;
    std::vector<std::shared_ptr<node_down_handler>> down_handlers;
    std::vector<std::shared_ptr<node_down_handler>> lost_handlers;
    std::shared_ptr<hook_store> hooks = std::make_shared<hook_store>();

    void log(log_level level, const std::string& line) const {
      if (opts.log) opts.log(level, line);
    }

    net::connection_options conn_options() const {
      net::connection_options o;
      if (opts.hidden) o.handshake.flags &= ~net::dflag_published;
      o.handshake.self = opts.self;
      o.handshake.cookie = opts.cookie;
      o.handshake.creation = opts.creation;
      o.setup_timeout = opts.setup_timeout;
      o.connect_resend = opts.connect_resend;
      o.ticktime = opts.ticktime;
      o.max_frame_size = opts.max_frame_size;
      o.busy_limit = opts.busy_limit;
      o.tls = opts.tls;
      return o;
    }

    // accept_next(s): accepts the next connection (on accept_strand, which runs every accept
    // handler). An accept that fails for want of descriptors (EMFILE, ENFILE) or kernel memory
    // is retried every 100 ms, with one warning, until it succeeds: retrying at once would spin
    // on a listener that stays readable; stopping would leave the node deaf for good once the
    // connections that took the descriptors close. Other errors are retried after 10 ms.
    static void accept_next(const std::shared_ptr<state>& s) {
      std::weak_ptr<state> w = s;
      auto acc = s->acceptor;
      acc->async_accept(s->ex, [w, acc](std::error_code ec, tcp::socket sock) {
        auto st = w.lock();
        if (!st || !acc->is_open() || ec == asio::error::operation_aborted) return;
        if (!ec) {
          if (st->accept_failing) {
            st->accept_failing = false;
            st->log(log_level::info, format("{}: accepting connections again", st->opts.self));
          }
          st->start_accept(st, std::move(sock));
          asio::post(st->accept_strand, [st] { accept_next(st); });
          return;
        }
        const bool exhausted = detail::is_fd_exhaustion(ec);
        if (exhausted && !st->accept_failing) {
          st->accept_failing = true;
          st->log(log_level::warn,
                  format("{}: accepting a connection failed ({}); retrying every 100 ms "
                         "meanwhile (RLIMIT_NOFILE too low for the connections?)",
                         st->opts.self, ec.message()));
        }
        st->accept_pause.expires_after(std::chrono::milliseconds(exhausted ? 100 : 10));
        st->accept_pause.async_wait([w, acc](std::error_code wait_ec) {
          if (wait_ec || !acc->is_open()) return;
          if (auto again = w.lock()) accept_next(again);
        });
      });
    }

    // start_accept(s, sock): on accept_strand. A connection reserves its receive buffer (as
    // large as max_frame_size) as it is made; when that fails (std::bad_alloc: no address space
    // left, e.g. under ulimit -v, or the map count limit) the connection is dropped, with one
    // warning until an accept succeeds again, rather than the exception ending the node's thread.
    void start_accept(const std::shared_ptr<state>& s, tcp::socket sock) {
      bool dropped = false;
      {
        std::lock_guard lock(mutex);
        if (closed) return;
        const id_type id = next_id++;
        try {
          conns[id].conn =
              net::connection::accept(std::move(sock), conn_options(), handlers(s, id));
          conns[id].link->conn = conns[id].conn.get();
        } catch (const std::bad_alloc&) {
          conns.erase(id);
          dropped = true;
        }
      }
      if (dropped && !accept_oom_warned) {
        accept_oom_warned = true;
        log(log_level::warn, format("{}: no memory for a new connection's buffers; dropping new "
                                    "connections until there is",
                                    opts.self));
      } else if (!dropped) {
        accept_oom_warned = false;
      }
    }

    static void connect(const std::shared_ptr<state>& s, const node_name& peer,
                        const tcp::endpoint& ep, std::function<void(bool)> done) {
      bool now = false;
      {
        std::lock_guard lock(s->mutex);
        if (s->closed) {
          now = false;
        } else if (peer == s->opts.self || s->up.count(peer) != 0) {
          now = true;
        } else {
          if (done) s->waiting[peer].waiters.push_back(std::move(done));
          if (s->ports.count(peer) == 0) s->ports[peer] = ep.port();
          if (s->dialing.count(peer) == 0 && s->accepting.count(peer) == 0) {
            s->dial_locked(s, peer, ep);
          }
          return;
        }
      }
      if (done) done(now);
    }

    void dial_locked(const std::shared_ptr<state>& s, const node_name& peer,
                     const tcp::endpoint& ep) {
      const id_type id = next_id++;
      dialing[peer] = id;
      auto& info = conns[id];
      info.peer = peer;
      info.conn = net::connection::dial(ex, {ep}, peer, conn_options(), handlers(s, id));
      info.link->conn = info.conn.get();
    }

    // handlers(s, id): under the mutex.
    net::connection_handlers handlers(const std::shared_ptr<state>& s, id_type id) {
      std::weak_ptr<state> w = s;
      auto l = std::make_shared<link_state>();
      l->hooks = hooks;
      conns[id].link = l;
      net::connection_handlers h;
      h.on_up = [w, id](const node_name& peer, net::dist_flags flags) {
        if (auto st = w.lock()) st->handle_handshake_done(st, id, peer, flags);
      };
      h.on_frame = [w, id, l](std::span<const std::byte> f) {
        // The fast path: a message frame of a nodus peer that is up goes to the hook directly.
        if (l->fast.load(std::memory_order_acquire) && !f.empty() && f[0] != control_tag &&
            !l->hooks->closing.load(std::memory_order_acquire)) {
          if (auto* hook = l->hook.load(std::memory_order_acquire); hook != nullptr && *hook) {
            (*hook)(l->peer, f, l->conn->keep_frame());
            return;
          }
        }
        if (auto st = w.lock()) st->handle_frame(st, id, f);
      };
      h.on_down = [w, id](const nodus::error& e) {
        if (auto st = w.lock()) st->handle_down(st, id, e);
      };
      h.decide_status = [w, id](const node_name& peer) {
        auto st = w.lock();
        return st ? st->decide(id, peer) : net::handshake::status::not_allowed;
      };
      h.answer_alive = [w](const node_name& peer) {
        // We dialled while the peer still holds a connection from us: if ours is up it is
        // current (false); otherwise the peer's is stale and may go (true). dist_util.erl.
        auto st = w.lock();
        if (!st) return false;
        std::lock_guard lock(st->mutex);
        return st->up.count(peer) == 0;
      };
      return h;
    }

    // The acceptor's status for peer (erl_dist_protocol "3) recv_status/send_status";
    // net_kernel.erl accept_pending).
    net::handshake::status decide(id_type id, const node_name& peer) {
      using net::handshake::status;
      std::shared_ptr<net::connection> abandon;
      status s = status::ok;
      {
        std::lock_guard lock(mutex);
        auto it = conns.find(id);
        if (closed || it == conns.end() || peer == opts.self) return status::not_allowed;
        it->second.peer = peer;
        if (up.count(peer) != 0) {
          s = status::alive;  // the initiator answers; on true the new one replaces the old
          accepting[peer] = id;
        } else if (greeting_locked(peer)) {
          s = status::not_allowed;  // a handshake with it just finished; its check is under way
        } else if (auto d = dialing.find(peer); d != dialing.end()) {
          s = net::handshake::resolve_simultaneous(opts.self, peer);
          if (s == status::ok_simultaneous) {
            auto& di = conns[d->second];
            di.silent = true;
            abandon = di.conn;
            dialing.erase(d);
            accepting[peer] = id;
          }
        } else if (accepting.count(peer) != 0) {
          s = status::not_allowed;  // another handshake from the same name is under way
        } else {
          accepting[peer] = id;
        }
      }
      if (abandon) abandon->close();
      return s;
    }

    bool greeting_locked(const node_name& peer) const { return greeting_peers.count(peer) != 0; }

    // end_greeting_locked(info): info's protocol check is over (passed, failed or gone).
    void end_greeting_locked(conn_info& info) {
      if (!info.greeting) return;
      info.greeting = false;
      if (auto g = greeting_peers.find(info.peer); g != greeting_peers.end())
        greeting_peers.erase(g);
    }

    // The handshake is done: a nodus peer first proves it speaks our protocol (hello frames both
    // ways); any other peer (a BEAM node) is up at once.
    void handle_handshake_done(const std::shared_ptr<state>& s, id_type id, const node_name& peer,
                               net::dist_flags flags) {
      std::shared_ptr<net::connection> c;
      {
        std::lock_guard lock(mutex);
        auto it = conns.find(id);
        if (closed || it == conns.end()) return;
        auto& info = it->second;
        info.peer = peer;
        info.native = (flags & net::dflag_nodus) != 0;
        info.hidden = (flags & net::dflag_published) == 0;
        if (!info.native) {
          c = nullptr;
        } else {
          if (!info.greeting) greeting_peers.insert(peer);
          info.greeting = true;
          c = info.conn;
        }
      }
      if (!c) {
        handle_up(s, id, peer);
        return;
      }
      c->send(detail::encode_hello(opts.protocol_fingerprint));
    }

    void handle_hello(const std::shared_ptr<state>& s, id_type id, const node_name& peer,
                      std::span<const std::byte> f) {
      std::uint64_t theirs = 0;
      std::shared_ptr<net::connection> c;
      {
        std::lock_guard lock(mutex);
        auto it = conns.find(id);
        if (closed || it == conns.end() || !it->second.greeting) return;
        end_greeting_locked(it->second);
        c = it->second.conn;
      }
      if (!detail::decode_hello(f, theirs) || theirs != opts.protocol_fingerprint) {
        log(log_level::error,
            format("refused {}: it was built from another nodus::protocol (fingerprint {} here, {} "
                   "there); both programs must list the same message types",
                   peer, opts.protocol_fingerprint, theirs));
        refuse(id, peer,
               nodus::error(errc::protocol_mismatch, format("{}: protocol mismatch", peer)));
        c->close_after_sends();  // our own check frame first: the peer says why too
        return;
      }
      handle_up(s, id, peer);
    }

    // refuse(id, peer, why): a connection that will not come up; its going down is silent and
    // the connect() waiters fail now.
    void refuse(id_type id, const node_name& peer, const nodus::error&) {
      std::vector<std::function<void(bool)>> failed;
      {
        std::lock_guard lock(mutex);
        auto it = conns.find(id);
        if (it != conns.end()) it->second.silent = true;
        auto w = waiting.find(peer);
        if (w != waiting.end()) {
          failed = std::move(w->second.waiters);
          if (w->second.timer) w->second.timer->cancel();
          waiting.erase(w);
        }
      }
      for (auto& f : failed) f(false);
    }

    void handle_up(const std::shared_ptr<state>& s, id_type id, const node_name& peer) {
      std::vector<std::function<void(bool)>> done;
      std::vector<std::shared_ptr<node_up_handler>> ups;
      std::shared_ptr<net::connection> self_conn;
      std::shared_ptr<net::connection> replaced;
      std::vector<std::byte> list_frame;
      bool fresh = true;
      bool hidden = false;
      {
        std::lock_guard lock(mutex);
        auto it = conns.find(id);
        if (closed || it == conns.end()) return;
        it->second.up = true;
        it->second.peer = peer;
        self_conn = it->second.conn;
        if (it->second.native && it->second.link) {
          auto& l = *it->second.link;
          l.peer = peer;
          l.hook.store(hooks->current.get(), std::memory_order_release);
          l.fast.store(true, std::memory_order_release);
        }
        if (auto d = dialing.find(peer); d != dialing.end() && d->second == id) dialing.erase(d);
        if (auto a = accepting.find(peer); a != accepting.end() && a->second == id) {
          accepting.erase(a);
        }
        if (auto u = up.find(peer); u != up.end() && u->second != id) {
          // `alive` answered true: the old connection is stale; replace it without churn.
          auto& old = conns[u->second];
          old.silent = true;
          replaced = old.conn;
          fresh = false;
        }
        up[peer] = id;
        if (opts.membership_changed) opts.membership_changed();
        if (auto w = waiting.find(peer); w != waiting.end()) {
          done = std::move(w->second.waiters);
          if (w->second.timer) w->second.timer->cancel();
          waiting.erase(w);
        }
        hidden = it->second.hidden;
        if (!hidden) ups = up_handlers;
        // Only a nodus peer understands the mesh frame (a BEAM node would close the link).
        if (!hidden && it->second.native) {
          list_frame = detail::encode_peer_list(port, known_peers_locked(peer));
        }
      }
      if (replaced) replaced->close();
      if (fresh) {
        for (const auto& h : ups) {
          if (*h) (*h)(peer);
        }
      }
      if (!list_frame.empty()) self_conn->send(std::move(list_frame));
      for (auto& d : done) d(true);
      (void)s;
    }

    // The visible peers other than `except` whose listening port we know.
    std::vector<detail::peer_entry> known_peers_locked(const node_name& except) const {
      std::vector<detail::peer_entry> out;
      for (const auto& [name, cid] : up) {
        if (name == except || conns.at(cid).hidden || !conns.at(cid).native) continue;
        auto p = ports.find(name);
        if (p != ports.end() && p->second != 0) out.push_back({name, p->second});
      }
      return out;
    }

    void handle_frame(const std::shared_ptr<state>& s, id_type id, std::span<const std::byte> f) {
      node_name peer;
      std::shared_ptr<frame_handler> hook;
      std::shared_ptr<erlang_frame_handler> erlang_hook;
      std::shared_ptr<net::connection> conn;
      bool hidden = false;
      bool native = false;
      {
        std::lock_guard lock(mutex);
        auto it = conns.find(id);
        if (closed || it == conns.end()) return;
        peer = it->second.peer;
        if (it->second.native) {
          hook = hooks->current;
        } else {
          erlang_hook = hooks->erlang;
        }
        conn = it->second.conn;
        hidden = it->second.hidden;
        native = it->second.native;
        if (it->second.greeting &&
            (f.size() < 2 || f[0] != control_tag || f[1] != detail::hello_kind)) {
          return;  // nothing but the protocol check counts before it
        }
      }
      if (!native) {
        // A BEAM node's traffic: its messages, monitors and links, and its own services' (the name
        // registry sync of global, rex): to the distribution, which answers or ignores each.
        if (erlang_hook && *erlang_hook) (*erlang_hook)(peer, f, *conn);
        return;
      }
      if (f.empty() || f[0] != control_tag) {
        if (hook && *hook) (*hook)(peer, f, conn->keep_frame());
        return;
      }
      if (f.size() >= 2 && f[1] == detail::hello_kind) {
        handle_hello(s, id, peer, f);
        return;
      }
      if (hidden) return;  // hidden connections are not meshed
      std::uint16_t sender_port = 0;
      std::vector<detail::peer_entry> peers;
      if (!detail::decode_peer_list(f, sender_port, peers)) return;  // unknown control: ignored
      std::vector<std::shared_ptr<net::connection>> tell;
      std::vector<std::byte> news;
      {
        std::lock_guard lock(mutex);
        if (closed) return;
        if (sender_port != 0) {
          auto& known = ports[peer];
          if (known != sender_port) {
            known = sender_port;
            // Tell the others about this peer, so that they mesh with it too.
            news = detail::encode_peer_list(port, {{peer, sender_port}});
            for (const auto& [name, cid] : up) {
              if (name != peer && !conns[cid].hidden && conns[cid].native) {
                tell.push_back(conns[cid].conn);
              }
            }
          }
        }
        for (const auto& p : peers) {
          if (p.name == opts.self || p.port == 0) continue;
          if (ports.count(p.name) == 0) ports[p.name] = p.port;
          if (up.count(p.name) != 0 || dialing.count(p.name) != 0 || accepting.count(p.name) != 0) {
            continue;
          }
          std::error_code ec;
          auto addr = asio::ip::make_address(std::string(p.name.host()), ec);
          if (ec) addr = asio::ip::make_address(opts.address, ec);
          if (ec) continue;
          dial_locked(s, p.name, tcp::endpoint(addr, p.port));
        }
      }
      for (auto& c : tell) c->send(news);
    }

    void handle_down(const std::shared_ptr<state>& s, id_type id, const nodus::error& e) {
      std::vector<std::function<void(bool)>> failed;
      std::vector<std::shared_ptr<node_down_handler>> downs;
      node_name peer;
      bool was_up = false;
      bool failure = false;  // a connection that never came up
      bool lost = false;     // a connection that was up (visible or hidden) and was not replaced
      node_down_reason reason = node_down_reason::connection_closed;
      std::vector<std::shared_ptr<node_down_handler>> losts;
      {
        std::lock_guard lock(mutex);
        auto it = conns.find(id);
        if (it == conns.end()) return;
        peer = it->second.peer;
        if (it->second.conn) reason = it->second.conn->down_reason();
        const bool silent = it->second.silent;
        const bool hidden = it->second.hidden;
        const bool came_up = it->second.up || it->second.greeting;
        const bool greeted = it->second.greeting;
        end_greeting_locked(it->second);
        conns.erase(it);
        if (opts.membership_changed) opts.membership_changed();
        if (auto u = up.find(peer); u != up.end() && u->second == id) {
          up.erase(u);
          was_up = !silent && !hidden;
          lost = !silent;
        }
        if (!came_up && !silent && !closed) failure = true;
        if (greeted && !silent && !closed) {
          log(log_level::error,
              format("connection with {} closed during the nodus protocol check ({}); was it "
                     "built from another nodus::protocol?",
                     peer, e.message()));
        }
        if (auto d = dialing.find(peer); d != dialing.end() && d->second == id) dialing.erase(d);
        if (auto a = accepting.find(peer); a != accepting.end() && a->second == id) {
          accepting.erase(a);
        }
        auto w = waiting.find(peer);
        if (w != waiting.end() && up.count(peer) == 0 && dialing.count(peer) == 0 &&
            accepting.count(peer) == 0) {
          if (e.reason().find("simultaneous connect:") != std::string::npos && !closed) {
            // The peer answered nok: its own dial to us wins and is about to arrive. Wait for
            // it, bounded by net_setuptime.
            if (!w->second.timer) {
              auto t = std::make_shared<asio::steady_timer>(ex, opts.setup_timeout);
              w->second.timer = t;
              std::weak_ptr<state> ws = s;
              t->async_wait([ws, peer, t](std::error_code ec) {
                if (ec) return;
                if (auto st = ws.lock()) st->fail_waiters(peer, t);
              });
            }
          } else {
            failed = std::move(w->second.waiters);
            if (w->second.timer) w->second.timer->cancel();
            waiting.erase(w);
          }
        }
        if (was_up) downs = down_handlers;
        if (lost) losts = lost_handlers;
      }
      if (failure) {
        // Refusals and failed handshakes say why, naming the peer; a dial that finds nobody
        // listening is routine (connect() returns false) and only logged at debug level.
        // A dial abandoned in a simultaneous connect closes before it names itself.
        const bool routine = e.code() == errc::not_connected || peer.empty() ||
                             e.reason().find("simultaneous connect:") != std::string::npos;
        if (peer.empty() && e.code() == errc::tls_failed) {
          // A peer refused before it could name itself: its certificate, or no TLS at all.
          log(log_level::warn, format("connection refused: {}", e.message()));
        } else if (peer.empty()) {
          log(log_level::debug, format("an unnamed connection failed: {}", e.message()));
        } else {
          log(routine ? log_level::debug : log_level::error,
              format("connection with {} failed: {}", peer, e.message()));
        }
      }
      if (lost) {
        // A peer that sent a frame over max_frame_size (or one that cannot be a frame) was
        // dropped for it: an error worth a line; other ends of a link are routine.
        const bool refused_frame =
            e.code() == errc::frame_too_large || e.code() == errc::malformed_frame;
        log(refused_frame ? log_level::error : log_level::debug,
            format("{} is down: {}", peer, e.message()));
        for (const auto& h : losts) {
          if (*h) (*h)(peer, reason);
        }
      }
      if (was_up) {
        for (const auto& h : downs) {
          if (*h) (*h)(peer, reason);
        }
      }
      for (auto& f : failed) f(false);
    }

    void fail_waiters(const node_name& peer, const std::shared_ptr<asio::steady_timer>& t) {
      std::vector<std::function<void(bool)>> failed;
      {
        std::lock_guard lock(mutex);
        auto w = waiting.find(peer);
        if (w == waiting.end() || w->second.timer != t) return;
        if (up.count(peer) != 0 || dialing.count(peer) != 0 || accepting.count(peer) != 0) {
          return;  // a connection is under way; its own outcome completes the waiters
        }
        failed = std::move(w->second.waiters);
        waiting.erase(w);
      }
      for (auto& f : failed) f(false);
    }
  };

  explicit node_table(std::shared_ptr<state> s) noexcept : s_(std::move(s)) {}

  void shutdown() {
    if (!s_) return;
    std::vector<std::shared_ptr<net::connection>> all;
    std::vector<std::shared_ptr<asio::steady_timer>> timers;
    {
      std::lock_guard lock(s_->mutex);
      s_->closed = true;
      s_->hooks->closing.store(true, std::memory_order_release);
      for (auto& [id, info] : s_->conns) {
        info.silent = true;
        all.push_back(info.conn);
      }
      for (auto& [name, w] : s_->waiting) {
        if (w.timer) timers.push_back(w.timer);
      }
      s_->waiting.clear();  // pending connect() completions are dropped, never called
      s_->up_handlers.clear();
      s_->down_handlers.clear();
      s_->lost_handlers.clear();
      if (s_->hooks->current) s_->hooks->retired.push_back(std::move(s_->hooks->current));
      if (s_->hooks->erlang) s_->hooks->retired.push_back(std::move(s_->hooks->erlang));
    }
    for (auto& c : all) c->close();
    asio::post(s_->accept_strand, [s = s_, timers] {
      std::error_code ignored;
      s->acceptor->close(ignored);
      s->accept_pause.cancel();  // an accept waiting to be retried (out of descriptors)
      for (const auto& t : timers) t->cancel();
    });
    s_.reset();
  }

  std::shared_ptr<state> s_;
};

}  // namespace nodus::cluster

// nodus/dist/native_distribution.hpp: the distribution of a nodus node: its listener and its
// connections (cluster::node_table), the port mapper registration, connect by name, outstanding
// remote calls, and the receive path of native frames (dist/native_frame.hpp) to the node's
// servers. Implements dist::distribution.
//
// Including this header (nodus/nodus.hpp does) registers the factory a named node uses to create
// its distribution; a program that only includes nodus/node.hpp compiles no network code, and a
// named node there fails to start saying so. With NODUS_SEPARATE_COMPILATION the compiled
// library (nodus/impl/src.hpp) includes it once.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include <asio/buffer.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include "nodus/cluster/events.hpp"
#include "nodus/cluster/formation.hpp"
#include "nodus/cluster/node_table.hpp"
#include "nodus/codec/etf/encode.hpp"
#include "nodus/codec/etf/tags.hpp"
#include "nodus/core/error.hpp"
#include "nodus/core/format.hpp"
#include "nodus/core/log.hpp"
#include "nodus/core/node_name.hpp"
#include "nodus/core/telemetry.hpp"
#include "nodus/dist/distribution.hpp"
#include "nodus/dist/erlang_frame.hpp"
#include "nodus/dist/global_member.hpp"
#include "nodus/dist/global_names.hpp"
#include "nodus/dist/native_frame.hpp"
#include "nodus/dist/pg_scope.hpp"
#include "nodus/epmd/client.hpp"
#include "nodus/net/connection.hpp"

namespace nodus::dist {

static_assert(copied_frame_max == net::connection::small_frame_max,
              "dist::copied_frame_max must match net::connection::small_frame_max");

class native_distribution final : public distribution,
                                  private pg_transport,
                                  private names_transport {
 public:
  native_distribution(asio::io_context& io, local_end& node, logger& log, settings s)
      : io_(io),
        node_(node),
        log_(log),
        s_(clamped(std::move(s))),
        groups_(log, self_pid_of(s_.self)),
        names_(
            log, s_.self,
            [&node](const etf::pid& p, const error& why) {
              node.stop_instance(p.id, p.serial, why);
            },
            &node.events()),
        global_(log, global_hooks()) {}
  ~native_distribution() override { shutdown(); }

  result<void> listen() override {
    if (auto r = open_table(); !r) return r;
    // Outside m_: a scope asks for the connected peers (none yet) when it attaches.
    groups_.attach(this, erlang_pid());
    names_.attach(this);
    return {};
  }

  // open_table(): listen()'s part under m_: the node table and its callbacks (once).
  result<void> open_table() {
    std::lock_guard lock(m_);
    if (table_) return {};
    cluster::node_table_options o;
    o.self = s_.self;
    o.cookie = s_.cookie;
    o.address = s_.address;
    if (o.address.empty()) {
      std::error_code ec;
      (void)asio::ip::make_address(std::string(s_.self.host()), ec);
      o.address = ec ? "0.0.0.0" : std::string(s_.self.host());
    }
    o.port = s_.port;
    // Until the port mapper gives one (register_name), or for good without one: from the clock.
    o.creation =
        static_cast<std::uint32_t>(std::chrono::system_clock::now().time_since_epoch().count()) |
        1u;
    if (auto self = etf::atom::make(s_.self.str())) {
      pid_.node = *self;
      pid_.creation = o.creation;
    }
    o.setup_timeout = s_.setup_timeout;
    o.connect_resend = s_.connect_resend;
    o.ticktime = s_.ticktime;
    o.max_frame_size = s_.max_frame_size;
    o.busy_limit = s_.busy_limit;
    if (s_.tls.enabled()) {
      auto tls = net::make_tls_context(s_.tls);
      if (!tls) return tls.error();
      o.tls = std::move(tls).value();
    }
    o.hidden = s_.hidden;
    o.protocol_fingerprint = s_.protocol_fingerprint;
    o.log = [this](log_level level, const std::string& line) { log_.log(level, "{}", line); };
    o.membership_changed = [this] { bump_version(); };
    global_.start(pid_);  // before the table: no peer can reach global_member yet
    auto t = cluster::node_table::listen(asio::any_io_executor(io_.get_executor()), std::move(o));
    if (!t) return t.error();
    table_ = std::make_shared<cluster::node_table>(std::move(t).value());
    table_->on_frame([this](const node_name& peer, std::span<const std::byte> f,
                            const std::shared_ptr<const void>& keep) { on_frame(peer, f, keep); });
    table_->on_erlang_frame([this](const node_name& peer, std::span<const std::byte> f,
                                   net::connection& conn) { on_erlang_frame(peer, f, conn); });
    table_->on_node_up([this](const node_name& peer) {
      // global's session with a BEAM peer (a hidden node has no part in global)
      if (auto tb = table(); tb && !s_.hidden) {
        if (auto [conn, native] = tb->connection_to(peer); conn && !native) global_.node_up(peer);
      }
      emit(telemetry_event::kind::node_up, peer);
      groups_.node_up(peer);
      if (auto tb = table(); tb && tb->connection_to(peer).second) names_.node_up(peer);
      node_.node_up(nodus::node_up{peer});
    });
    table_->on_node_down([this](const node_name& peer, node_down_reason r) {
      global_.node_down(peer);
      groups_.node_down(peer);
      names_.node_down(peer);
      emit(telemetry_event::kind::node_down, peer, {}, std::string(to_string(r)));
      node_.node_down(nodus::node_down{peer, r});
    });
    table_->on_connection_lost(
        [this](const node_name& peer, node_down_reason r) { on_lost(peer, r); });
    return {};
  }

  void register_name(std::function<void(result<void>)> done) override {
    if (!s_.use_epmd) {
      done({});
      return;
    }
    std::shared_ptr<epmd::agent> agent;
    std::uint16_t node_port = 0;
    {
      std::lock_guard lock(m_);
      if (epmd_) {
        asio::post(io_, [done = std::move(done)] { done({}); });
        return;
      }
      if (!table_) {
        asio::post(io_, [done = std::move(done)] {
          done(error(errc::not_connected, "register_name before listen"));
        });
        return;
      }
      node_port = table_->port();
    }
    epmd::agent_options o;
    o.name = std::string(s_.self.alive());
    o.node_port = node_port;
    o.epmd_port = s_.epmd_port;
    o.hidden = s_.hidden;
    o.log = [this](log_level level, const std::string& line) { log_.log(level, "{}", line); };
    agent = epmd::agent::create(io_.get_executor(), std::move(o));
    agent->start([this, agent, done = std::move(done)](result<void> r) {
      if (r) {
        bool adopted = false;
        {
          std::lock_guard lock(m_);
          epmd_ = agent;
          // As Erlang does, the node's incarnation is the creation the port mapper gave
          // (ALIVE2_X_RESP): its pids and references, and the handshakes from now on, carry it.
          // This runs while the node starts, before any server (start() registers, then starts
          // the tree), so nothing has handed out a pid yet.
          if (const std::uint32_t c = agent->creation(); c != 0 && table_) {
            pid_.creation = c;
            table_->set_creation(c);
            adopted = true;
          }
        }
        // Outside m_: global_member takes m_ (through its hooks) under its own lock.
        if (adopted) {
          global_.start(pid_);
          groups_.attach(this, pid_);
        }
      } else {
        agent->stop();
      }
      done(std::move(r));
    });
  }

  [[nodiscard]] bool serves_port_mapper() const override {
    std::lock_guard lock(m_);
    return epmd_ && epmd_->serving();
  }

  [[nodiscard]] std::uint16_t port() const override {
    auto t = table();
    return t ? t->port() : 0;
  }

  void connect(std::string_view text, std::function<void(bool)> done) override {
    auto target = cluster::detail::parse_target(text);
    if (!target) {
      log_.error("connect({}): {}", text, target.error().message());
      done(false);
      return;
    }
    connect_target(*target, std::move(done));
  }

  void connect_at(const node_name& name, std::string_view ip, std::uint16_t port,
                  std::function<void(bool)> done) override {
    cluster::node_target t{name, std::nullopt};
    if (port != 0) {
      std::error_code ec;
      auto a = asio::ip::make_address(std::string(ip), ec);
      if (ec) {
        log_.debug("connect({}): bad address '{}'", name, ip);
        done(false);
        return;
      }
      t.endpoint = asio::ip::tcp::endpoint(a, port);
    }
    connect_target(t, std::move(done));
  }

  bool disconnect(const node_name& peer) override {
    auto t = table();
    const bool ok = t && t->disconnect(peer);
    emit(telemetry_event::kind::disconnect, peer, {}, ok ? "ok" : "not connected");
    return ok;
  }
  [[nodiscard]] std::vector<node_name> list(node_kind which) const override {
    auto t = table();
    return t ? t->list(which) : std::vector<node_name>{};
  }
  [[nodiscard]] bool is_connected(const node_name& peer) const override {
    auto t = table();
    return t && t->is_connected(peer);
  }

  void shutdown() override {
    global_.stop();
    groups_.detach();
    names_.detach();
    {
      std::lock_guard lock(timers_m_);
      stopping_timers_ = true;
      for (auto& w : names_timers_) {
        if (auto t = w.lock()) t->cancel();
      }
      names_timers_.clear();
    }
    std::shared_ptr<cluster::node_table> t;
    std::shared_ptr<epmd::agent> agent;
    {
      std::lock_guard lock(m_);
      t = std::move(table_);
      agent = std::move(epmd_);
    }
    if (agent) agent->stop();
    t.reset();
    std::unordered_map<std::uint64_t, pending_call> all;
    {
      std::lock_guard lock(pending_m_);
      all.swap(pending_);
      stopping_ = true;
      if (erlang_sweep_) erlang_sweep_->cancel();
    }
    const error e(errc::shutdown, "the node is shutting down");
    for (auto& [id, p] : all) {
      p.reply.fail(p.reply.op, e);
      p.reply.release(p.reply.op);
    }
  }

  result<void> send(const node_name& peer, std::span<const std::span<const std::byte>> parts,
                    std::shared_ptr<const void> owner, admission a) override {
    auto conn = native_connection(peer);
    if (!conn) return conn.error();
    std::size_t n = 0;
    for (const auto& p : parts) n += p.size();
    if (auto e = oversized(peer, n)) return *e;
    if (a == admission::checked && (*conn)->busy()) return busy_error(peer, **conn);
    std::vector<asio::const_buffer> buffers;
    buffers.reserve(parts.size());
    for (const auto& p : parts) buffers.emplace_back(p.data(), p.size());
    (*conn)->send(std::move(buffers), std::move(owner));
    return {};
  }

  result<void> send_copied(const node_name& peer, std::span<const std::byte> head,
                           std::span<const std::byte> body, admission a) override {
    auto conn = native_connection(peer);
    if (!conn) return conn.error();
    if (a == admission::checked && (*conn)->busy()) return busy_error(peer, **conn);
    (*conn)->send_small(head, body);
    return {};
  }

  void when_writable(const node_name& peer, std::function<void()> f) override {
    auto conn = connection_of(peer).first;
    if (!conn) {
      asio::post(io_, std::move(f));
      return;
    }
    conn->when_writable(std::move(f));
  }

  result<void> wait_writable(const node_name& peer,
                             std::chrono::steady_clock::time_point deadline) override {
    auto conn = connection_of(peer).first;
    if (!conn) return not_connected(peer);
    switch (conn->wait_writable(deadline)) {
      case net::connection::wait_result::writable: return {};
      case net::connection::wait_result::down:
        return error(errc::nodedown,
                     format("{} went down while {} waited to send to it", peer, s_.self));
      case net::connection::wait_result::timed_out: break;
    }
    return busy_error(peer, *conn);
  }

  void add_pending(std::uint64_t id, const node_name& peer, pending_reply p) override {
    std::vector<ended_call> ended;
    {
      std::lock_guard lock(pending_m_);
      pending_.emplace(id, pending_call{p, peer, {}});
      if (++adds_since_sweep_ >= 1024) {
        adds_since_sweep_ = 0;
        (void)take_ended_locked(ended);
      }
    }
    finish_ended(ended);
    if (!is_connected(peer)) {
      fail_pending(id, error(errc::nodedown, format("{} is not connected", peer)));
    }
  }

  void fail_pending(std::uint64_t id, const error& e) override {
    auto c = take_pending(id, nullptr);
    if (!c) return;
    const pending_reply& p = c->reply;
    p.fail(p.op, e);
    p.release(p.op);
  }

  result<void> send_erlang(const node_name& peer, std::vector<std::byte> frame,
                           admission a) override {
    auto conn = erlang_connection(peer);
    if (!conn) return conn.error();
    if (a == admission::checked && (*conn)->busy()) return busy_error(peer, **conn);
    return send_frame(**conn, std::move(frame));
  }

  [[nodiscard]] etf::pid erlang_pid() const override { return pid_; }

  [[nodiscard]] pg_registry& process_groups() noexcept override { return groups_; }
  [[nodiscard]] global_names& cluster_names() noexcept override { return names_; }
  void instance_ended(std::uint32_t number, std::uint32_t serial) override {
    etf::pid pid = pid_;
    pid.id = number;
    pid.serial = serial;
    groups_.member_exited(pid);
    names_.member_exited(pid);
  }

  result<void> call_erlang(const node_name& peer, std::uint64_t id, std::string_view name,
                           std::span<const std::byte> request) override {
    auto to = erlang_name(name);
    if (!to) return to.error();
    auto conn = erlang_connection(peer);
    if (!conn) return conn.error();
    if ((*conn)->busy()) return busy_error(peer, **conn);  // both frames go, or neither
    {
      std::lock_guard lock(pending_m_);
      auto it = pending_.find(id);
      if (it == pending_.end()) return {};  // failed already (nodedown)
      it->second.erlang_target = std::string(name);
      arm_erlang_sweep_locked();
    }
    const etf::reference ref = call_reference(id);
    // gen.erl do_call: monitor first, then the request, so that a name nobody runs fails the
    // call with the monitor's noproc.
    auto monitor = erlang_frame_bytes(monitor_p_control(pid_, etf::term(*to), ref), nullptr);
    if (!monitor) return monitor.error();
    auto frame = reg_send_frame(*to, request, [&](etf::detail::writer& w) {
      // {'$gen_call', {Pid, [alias|Ref]}, Request}: the tag of gen.erl since OTP 24, so that the
      // server replies to the alias (ALIAS_SEND, DFLAG_ALIAS), or to Pid for an older one.
      etf::detail::put_tuple_header(w, 3);
      etf::detail::put_atom(w, "$gen_call");
      etf::detail::put_tuple_header(w, 2);
      etf::detail::put_pid(w, pid_);
      etf::detail::put_list_header(w, 1);
      etf::detail::put_atom(w, "alias");
      etf::detail::put_reference(w, ref);
    });
    if (!frame) return frame.error();
    if (auto r = send_frame(**conn, std::move(monitor).value()); !r) return r;
    return send_frame(**conn, std::move(frame).value());
  }

  result<void> send_erlang_to(const node_name& peer, std::string_view name, bool gen_cast,
                              std::span<const std::byte> message, admission a) override {
    auto to = erlang_name(name);
    if (!to) return to.error();
    auto frame = reg_send_frame(*to, message, [gen_cast](etf::detail::writer& w) {
      if (!gen_cast) return;
      etf::detail::put_tuple_header(w, 2);  // {'$gen_cast', Message}
      etf::detail::put_atom(w, "$gen_cast");
    });
    if (!frame) return frame.error();
    return send_erlang(peer, std::move(frame).value(), a);
  }

  result<void> send_erlang_pid(const etf::pid& to, std::span<const std::byte> message,
                               admission a) override {
    if (to.node == pid_.node) {
      // A server of this node: as a message from a BEAM peer to its pid (on_send).
      auto term = etf::decode(message);  // 131 first or not
      if (!term) return term.error();
      if (server_name(to).empty()) return {};  // nothing takes it, as in Erlang
      on_send(s_.self, to, *term);
      return {};
    }
    auto peer = node_name::parse(to.node.str());
    if (!peer) return error(errc::nodedown, format("{} is not connected", to.node.str()));
    if (auto [conn, native] = connection_of(*peer); conn && native) {
      // A server of a nodus peer, by its instance's pid: a term frame without a name.
      return send_term(*peer, {}, to.id, to.serial, message, a);
    }
    auto frame = message_frame(dist::send_control(to), message, [](etf::detail::writer&) {});
    if (!frame) return frame.error();
    return send_erlang(*peer, std::move(frame).value(), a);
  }

  void server_exited(std::string_view name, const error& why) override {
    std::vector<std::pair<beam_monitor_key, beam_monitor>> fired;
    {
      std::lock_guard lock(monitors_m_);
      auto it = monitors_.lower_bound(beam_monitor_key{std::string(name), {}, {}});
      while (it != monitors_.end() && it->first.name == name) {
        fired.emplace_back(it->first, std::move(it->second));
        it = monitors_.erase(it);
      }
    }
    if (fired.empty()) return;
    const etf::term reason = erlang_reason(why);
    for (const auto& [key, m] : fired) {
      send_control(key.peer, monitor_p_exit_control(m.target, m.watcher, m.ref, reason));
    }
  }

  void monitor_exit(const node_name& peer, std::string_view name, const etf::pid& watcher,
                    const etf::reference& ref, const etf::term& reason) override {
    // FromProc as the monitor named it: the server's name, or its instance's pid.
    std::optional<etf::term> from;
    {
      std::lock_guard lock(monitors_m_);
      if (auto it = monitors_.find(key_of(name, peer, ref)); it != monitors_.end()) {
        from = std::move(it->second.target);
        monitors_.erase(it);
      }
    }
    if (!from) {
      auto atom = etf::atom::make(name);
      from = atom ? etf::term(*atom) : etf::term(pid_);
    }
    send_control(peer, monitor_p_exit_control(*from, watcher, ref, reason));
  }

  // make(io, node, log, settings): the factory (dist::factory).
  static std::unique_ptr<distribution> make(asio::io_context& io, local_end& node, logger& log,
                                            settings s) {
    return std::make_unique<native_distribution>(io, node, log, std::move(s));
  }

 private:
  struct pending_call {
    pending_reply reply;
    node_name peer;
    std::string erlang_target;  // a call to a BEAM server: its registered name (call_erlang)
  };

  // A BEAM process's monitor of a server of this node, by its registered name (erlang:monitor
  // (process, {Name, Node}), which gen_server:call sets too) or by its instance's pid, kept (under
  // the server's name) until it fires (the server's exit, a call that failed), is taken down
  // (DEMONITOR_P) or its node goes.
  struct beam_monitor_key {
    std::string name;
    node_name peer;
    std::array<std::uint32_t, 5> words{};  // the reference's ID words (peer's references)
    friend bool operator<(const beam_monitor_key& a, const beam_monitor_key& b) {
      return std::tie(a.name, a.peer, a.words) < std::tie(b.name, b.peer, b.words);
    }
  };
  struct beam_monitor {
    etf::pid watcher;
    etf::reference ref;
    etf::term target;  // as the monitor named it: the name's atom, or the instance's pid
  };
  static beam_monitor_key key_of(std::string_view name, const node_name& peer,
                                 const etf::reference& ref) {
    return beam_monitor_key{std::string(name), peer, ref.words};
  }
  // forget_monitor(key) -> whether it was kept.
  bool forget_monitor(const beam_monitor_key& key) {
    std::lock_guard lock(monitors_m_);
    return monitors_.erase(key) != 0;
  }

  // A call to a BEAM server is known by a reference of this node (what gen_server replies with):
  // its first ID word marks it (18 bits: what the oldest reference formats keep of it), the next
  // two hold the call id.
  static constexpr std::uint32_t call_reference_mark = 0x2a6e5;
  [[nodiscard]] etf::reference call_reference(std::uint64_t id) const {
    etf::reference r;
    r.node = pid_.node;
    r.creation = pid_.creation;
    r.word_count = 3;
    r.words[0] = call_reference_mark;
    r.words[1] = static_cast<std::uint32_t>(id);
    r.words[2] = static_cast<std::uint32_t>(id >> 32);
    return r;
  }
  // call_id_of(ref) -> the call id of a reference call_reference made, or nothing.
  [[nodiscard]] std::optional<std::uint64_t> call_id_of(const etf::reference& r) const {
    if (r.word_count != 3 || r.words[0] != call_reference_mark || r.creation != pid_.creation ||
        r.node != pid_.node) {
      return std::nullopt;
    }
    return (std::uint64_t{r.words[2]} << 32) | r.words[1];
  }

  // oversized(peer, n) -> errc::frame_too_large when a frame of n bytes, padded as native frames
  // are, is longer than max_frame_size: the peer would drop the link on it (as this node drops a
  // peer that sends one), so it is refused here, before it is queued, and the link stays up.
  [[nodiscard]] std::optional<error> oversized(const node_name& peer, std::size_t n) const {
    const std::size_t pad =
        (net::frame_alignment - (net::frame_header_size + n) % net::frame_alignment) %
        net::frame_alignment;
    if (n + pad <= s_.max_frame_size) return std::nullopt;
    return error(errc::frame_too_large,
                 format("a message of {} bytes to {} is over max_frame_size ({} bytes); not sent",
                        n, peer, s_.max_frame_size));
  }

  // busy_error(peer, conn) -> errc::busy, naming peer, what is queued for it and the limit.
  error busy_error(const node_name& peer, const net::connection& conn) const {
    return error(errc::busy,
                 format("{} is busy: {} bytes wait to be written to it, at or over the limit of {} "
                        "(dist_buf_busy_limit)",
                        peer, conn.queued_bytes(), conn.busy_limit()));
  }

  // connection_of(peer) -> the connection to peer (nullptr when none is up) and whether peer is a
  // nodus node.
  [[nodiscard]] std::pair<std::shared_ptr<net::connection>, bool> connection_of(
      const node_name& peer) const {
    auto t = table();
    return t ? t->connection_to(peer) : std::pair<std::shared_ptr<net::connection>, bool>{};
  }
  // not_connected(peer) -> errc::nodedown naming this node and peer.
  [[nodiscard]] error not_connected(const node_name& peer) const {
    return error(errc::nodedown, format("{} is not connected to {}", s_.self, peer));
  }

  // erlang_connection(peer) -> the connection to the BEAM node peer. Errors: nodedown when peer
  // is not connected, protocol_mismatch when it is a nodus node.
  result<std::shared_ptr<net::connection>> erlang_connection(const node_name& peer) const {
    auto [conn, native] = connection_of(peer);
    if (!conn) return not_connected(peer);
    if (native) {
      return error(errc::protocol_mismatch,
                   format("{} is a nodus node; Erlang terms go to BEAM nodes", peer));
    }
    return conn;
  }

  // erlang_name(name) -> name as the atom a BEAM process is registered under; noproc when no
  // atom can be made of it.
  static result<etf::atom> erlang_name(std::string_view name) {
    auto to = etf::atom::make(name);
    if (!to) {
      return error(errc::noproc,
                   format("'{}' cannot name an Erlang process: {}", name, to.error().reason()));
    }
    return to;
  }

  // send_frame(conn, frame): a frame built with a distribution header (erlang_frame_bytes) to a
  // BEAM peer, rewritten as a pass-through frame for a peer that did not offer the header.
  static result<void> send_frame(net::connection& conn, std::vector<std::byte> frame) {
    if ((conn.flags() & net::dflag_dist_hdr_atom_cache) == 0) {
      auto old = as_pass_through(frame);
      if (!old) return old.error();
      frame = std::move(old).value();
    }
    conn.send(std::move(frame));
    return {};
  }

  // reg_send_frame(to, body, head) -> a REG_SEND frame from this node's pid to the process
  // registered as to; its message is what head writes, then body (one encoded term without its
  // version byte): head wraps body in a tuple, or writes nothing.
  template <class Head>
  result<std::vector<std::byte>> reg_send_frame(const etf::atom& to,
                                                std::span<const std::byte> body,
                                                Head&& head) const {
    return message_frame(reg_send_control(pid_, to), body, static_cast<Head&&>(head));
  }
  // message_frame(control, body, head) -> a frame of control whose message is what head writes,
  // then body (as reg_send_frame).
  template <class Head>
  static result<std::vector<std::byte>> message_frame(const etf::term& control,
                                                      std::span<const std::byte> body,
                                                      Head&& head) {
    auto frame = erlang_frame_bytes(control, nullptr);
    if (!frame) return frame;
    etf::detail::writer w(*frame);  // after the header: no version byte
    head(w);
    w.bytes(body);
    if (auto ok = w.finish(); !ok) return ok.error();
    return frame;
  }

  // take_pending(id, from) -> the call id waits for, forgotten; nothing when it is over (or, with
  // from, when it waits for another peer).
  std::optional<pending_call> take_pending(std::uint64_t id, const node_name* from) {
    std::lock_guard lock(pending_m_);
    auto it = pending_.find(id);
    if (it == pending_.end() || (from != nullptr && it->second.peer != *from)) return std::nullopt;
    std::optional<pending_call> out(std::move(it->second));
    pending_.erase(it);
    return out;
  }

  [[nodiscard]] std::shared_ptr<cluster::node_table> table() const {
    std::lock_guard lock(m_);
    return table_;
  }

  // native_connection(peer) -> the connection to a nodus peer. Each thread remembers its last
  // answer under the table's version: a stream of frames to one peer takes no lock and no map
  // lookup.
  result<std::shared_ptr<net::connection>> native_connection(const node_name& peer) const {
    struct cached {
      const native_distribution* owner = nullptr;
      std::uint64_t version = 0;
      node_name peer;
      std::weak_ptr<net::connection> conn;
    };
    thread_local cached last;
    const std::uint64_t v = version_.load(std::memory_order_acquire);
    if (last.owner == this && last.version == v && last.peer == peer) {
      if (auto c = last.conn.lock(); c && c->is_up()) return c;
    }
    auto [conn, native] = connection_of(peer);
    if (!conn) return not_connected(peer);
    if (!native) {
      return error(errc::protocol_mismatch,
                   format("{} is not a nodus node; nodus messages need a nodus peer", peer));
    }
    last = {this, v, peer, conn};
    return conn;
  }

  // connect_target(target, done): dials target at its endpoint, or at the port its host's port
  // mapper gives (falling back on a port learnt from the mesh).
  void connect_target(const cluster::node_target& target, std::function<void(bool)> report) {
    // libcluster's connect_node events, with the attempt's duration.
    auto done = [this, peer = target.name, report = std::move(report),
                 since = std::chrono::steady_clock::now()](bool ok) {
      emit(ok ? telemetry_event::kind::connect_ok : telemetry_event::kind::connect_error, peer,
           std::chrono::steady_clock::now() - since);
      report(ok);
    };
    auto t = table();
    if (!t) {
      log_.error("connect({}): {} is not listening", target.name, s_.self);
      done(false);
      return;
    }
    const node_name& n = target.name;
    if (target.endpoint) {
      t->connect(n, *target.endpoint, std::move(done));
      return;
    }
    if (n == s_.self || t->is_connected(n)) {
      done(true);
      return;
    }
    auto fallback = [this, n](std::function<void(bool)> d, asio::ip::address addr,
                              const std::string& why) {
      auto tt = table();
      const auto port = tt ? tt->known_port(n) : 0;
      if (port == 0) {
        log_.debug("connect({}): {}", n, why);
        d(false);
        return;
      }
      tt->connect(n, asio::ip::tcp::endpoint(addr, port), std::move(d));
    };
    cluster::detail::resolve_host(
        io_.get_executor(), std::string(n.host()),
        [this, n, done = std::move(done), fallback](result<asio::ip::address> a) mutable {
          if (!a) {
            log_.debug("connect({}): {}", n, a.error().message());
            done(false);
            return;
          }
          if (!s_.use_epmd) {
            fallback(std::move(done), *a, "no port known for it (no EPMD); give \"name@ip:port\"");
            return;
          }
          epmd::async_port_please(
              io_.get_executor(), asio::ip::tcp::endpoint(*a, s_.epmd_port), std::string(n.alive()),
              s_.setup_timeout,
              [this, n, addr = *a, done = std::move(done),
               fallback](result<std::uint16_t> port) mutable {
                if (!port) {
                  fallback(std::move(done), addr, port.error().message());
                  return;
                }
                auto tt = table();
                if (!tt) {
                  done(false);
                  return;
                }
                tt->connect(n, asio::ip::tcp::endpoint(addr, *port), std::move(done));
              },
              s_.connect_resend);
        });
  }

  // A pending call that ended without its reply (its timeout), taken out of pending_.
  struct ended_call {
    node_name peer;
    std::string erlang_target;  // a call to a BEAM server: its registered name
    std::uint64_t id = 0;
    pending_reply reply;
  };

  // take_ended_locked(out) -> whether calls to BEAM servers are still waiting; the calls that
  // ended (their timeout) are moved from pending_ to out. Under pending_m_.
  bool take_ended_locked(std::vector<ended_call>& out) {
    bool waiting = false;
    for (auto it = pending_.begin(); it != pending_.end();) {
      pending_call& c = it->second;
      if (c.reply.done(c.reply.op)) {
        out.push_back({c.peer, std::move(c.erlang_target), it->first, c.reply});
        it = pending_.erase(it);
      } else {
        waiting = waiting || !c.erlang_target.empty();
        ++it;
      }
    }
    return waiting;
  }

  // finish_ended(calls): outside pending_m_: each call to a BEAM server has its monitor taken
  // down (DEMONITOR_P), as gen.erl does when a call times out (a reply that never comes would
  // otherwise leave it on the server until the server exits); each call is released.
  void finish_ended(std::vector<ended_call>& calls) {
    for (auto& c : calls) {
      if (!c.erlang_target.empty()) {
        if (auto name = etf::atom::make(c.erlang_target)) {
          send_control(c.peer, demonitor_p_control(pid_, etf::term(*name), call_reference(c.id)));
        }
      }
      c.reply.release(c.reply.op);
    }
  }

  // arm_erlang_sweep_locked(): while calls to BEAM servers are pending, look every
  // erlang_sweep_period for those that ended without a reply (see finish_ended); calls to nodus
  // peers are swept every 1024 adds (add_pending). Under pending_m_.
  static constexpr std::chrono::milliseconds erlang_sweep_period{500};
  void arm_erlang_sweep_locked() {
    if (sweep_armed_ || stopping_) return;
    sweep_armed_ = true;
    if (!erlang_sweep_) erlang_sweep_ = std::make_unique<asio::steady_timer>(io_);
    erlang_sweep_->expires_after(erlang_sweep_period);
    erlang_sweep_->async_wait([this](std::error_code ec) {
      if (!ec) sweep_erlang_calls();
    });
  }
  void sweep_erlang_calls() {
    std::vector<ended_call> ended;
    {
      std::lock_guard lock(pending_m_);
      sweep_armed_ = false;
      if (take_ended_locked(ended)) arm_erlang_sweep_locked();
    }
    finish_ended(ended);
  }

  void on_frame(const node_name& peer, std::span<const std::byte> f,
                const std::shared_ptr<const void>& keep) {
    auto w = parse(f);
    if (!w) {
      log_.error("{}: {}; disconnecting", peer, w.error().message());
      disconnect(peer);
      return;
    }
    if (w->kind == frame_kind::term) {
      on_term_frame(peer, *w);
      return;
    }
    if (w->is_reply()) {
      auto c = take_pending(w->call_id(), &peer);
      if (!c) return;  // late: the call is over
      const pending_reply& p = c->reply;
      p.complete(p.op, *w, io_);
      p.release(p.op);
      return;
    }
    inbound_message m;
    m.kind = w->kind;
    m.message_id = w->message_id();
    m.call_id = w->call_id();
    m.from = &peer;
    m.target = w->target;
    m.payload = w->payload;
    m.keep = &keep;
    if (auto r = node_.deliver(m); !r) {
      if (w->kind == frame_kind::call) {
        dist::send_reply_error(*this, peer, m.call_id, r.error());
      } else {
        log_.warn("{} from {} dropped: {}", w->kind == frame_kind::cast ? "cast" : "info", peer,
                  r.error().message());
      }
    }
  }

  // ---- BEAM peers ---------------------------------------------------------------------------

  // on_erlang_frame(peer, f): one frame of a BEAM peer (dist/erlang_frame.hpp): a message for a
  // server, a monitor, a link; what nodus has no part in is ignored (debug), what is malformed
  // closes the link.
  void on_erlang_frame(const node_name& peer, std::span<const std::byte> f, net::connection& conn) {
    auto& session = conn.session();
    if (!session) {
      erlang_limits limits;
      limits.max_message_size = s_.max_frame_size;
      session = std::make_shared<erlang_reader>(limits);
    }
    auto read = static_cast<erlang_reader*>(session.get())->read(f);
    if (!read) {
      log_.error("{}: {}; disconnecting", peer, read.error().message());
      disconnect(peer);
      return;
    }
    if (!*read) return;  // a fragment: the message is not complete yet
    const erlang_frame* fr = &**read;
    const auto& c = *fr->control.as_tuple();
    switch (fr->op) {
      case erlang_op::reg_send:
      case erlang_op::reg_send_tt:  // {6, FromPid, Unused, ToName}
        if (c[1].as_pid() != nullptr && c[3].as_atom() != nullptr) {
          on_reg_send(peer, c[3].as_atom()->str(), fr->message);
          return;
        }
        break;
      case erlang_op::monitor_p:  // {19, FromPid, ToProc, Ref}
        if (c[1].as_pid() != nullptr && c[3].as_reference() != nullptr) {
          on_monitor(peer, *c[1].as_pid(), c[2], *c[3].as_reference());
          return;
        }
        break;
      case erlang_op::link:  // {1, FromPid, ToPid}: refused, as a link to a process that is gone
        if (c[1].as_pid() != nullptr && c[2].as_pid() != nullptr) {
          send_control(
              peer, exit_control(*c[2].as_pid(), *c[1].as_pid(), etf::term(etf::atom("noproc"))));
          return;
        }
        break;
      case erlang_op::unlink_id:  // {35, Id, FromPid, ToPid}: acknowledged
        if (c[2].as_pid() != nullptr && c[3].as_pid() != nullptr) {
          send_control(peer, unlink_id_ack_control(c[1], *c[3].as_pid(), *c[2].as_pid()));
          return;
        }
        break;
      case erlang_op::send:         // {2, Unused, ToPid}
      case erlang_op::send_tt:      // {12, Unused, ToPid, TraceToken}
      case erlang_op::send_sender:  // {22, FromPid, ToPid}
      case erlang_op::send_sender_tt:
        if (c[2].as_pid() != nullptr) {
          on_send(peer, *c[2].as_pid(), fr->message);
          return;
        }
        break;
      case erlang_op::alias_send:     // {33, FromPid, Alias}, Message
      case erlang_op::alias_send_tt:  // {34, FromPid, Alias, Token}, Message
        on_alias_send(peer, c[2], fr->message);
        return;
      case erlang_op::monitor_p_exit:  // {21, FromProc, ToPid, Ref, Reason}
        if (c[3].as_reference() != nullptr) {
          on_monitor_exit(peer, *c[3].as_reference(), c[4]);
          return;
        }
        break;
      case erlang_op::payload_monitor_p_exit:  // {28, FromProc, ToPid, Ref}, Reason
        if (c[3].as_reference() != nullptr) {
          on_monitor_exit(peer, *c[3].as_reference(), fr->message);
          return;
        }
        break;
      case erlang_op::demonitor_p:  // {20, FromPid, ToProc, Ref}
        if (c[3].as_reference() != nullptr) {
          on_demonitor(peer, c[2], *c[3].as_reference());
          return;
        }
        break;
      case erlang_op::unlink:
      case erlang_op::node_link:
      case erlang_op::group_leader:
      case erlang_op::unlink_id_ack: return;  // nothing kept that they would end
      default:
        log_.debug("{}: ignoring control message {}", peer, fr->control.to_string(200));
        return;
    }
    log_.error("{}: control message {} does not have the fields of its operation; disconnecting",
               peer, fr->control.to_string(200));
    disconnect(peer);
  }

  // on_reg_send(peer, name, message): a message to the process registered as name here:
  // net_kernel (which answers is_auth, as net_adm:ping asks), or a server.
  void on_reg_send(const node_name& peer, std::string_view name, const etf::term& message) {
    erlang_inbound m;
    m.target = name;
    m.from = &peer;
    m.message = &message;
    const auto* t = message.as_tuple();
    const etf::term* request = nullptr;
    if (t != nullptr && t->size() == 3 && (*t)[0].is_atom("$gen_call")) {
      // {'$gen_call', {Pid, Tag}, Request} (gen.erl do_call)
      const auto* from_tag = (*t)[1].as_tuple();
      if (from_tag != nullptr && from_tag->size() == 2 && (*from_tag)[0].as_pid() != nullptr) {
        m.what = erlang_inbound::kind::call;
        m.caller = (*from_tag)[0].as_pid();
        m.tag = &(*from_tag)[1];
        m.monitor = monitor_of(*m.tag);
        request = &(*t)[2];
      }
    } else if (t != nullptr && t->size() == 2 && (*t)[0].is_atom("$gen_cast")) {
      m.what = erlang_inbound::kind::cast;  // {'$gen_cast', Request}
      request = &(*t)[1];
    }
    if (request != nullptr) m.message = request;
    if (name == "global_name_server") {
      global_.on_message(peer, message);
      return;
    }
    if (auto* scope = groups_.find(name)) {
      scope->on_message(peer, message);  // a process group scope: pg's own messages
      return;
    }
    if (name == global_names::process_name) {
      // The cluster-wide names of nodus nodes: from a nodus peer only.
      if (connection_of(peer).second) {
        names_.on_message(peer, message);
      } else {
        log_.debug("{}: ignoring {} to {} (not a nodus node)", peer, message.to_string(200), name);
      }
      return;
    }
    if (name == "rex" && t != nullptr && t->size() == 2 && (*t)[0].as_pid() != nullptr &&
        (*t)[1].is_atom("features_request")) {
      // rpc's nodes observer asks each new node (rpc.erl, OTP 23 on): no erpc here (this node
      // does not offer DFLAG_SPAWN, so an erpc call to it fails at once with notsup).
      send_message(peer, *(*t)[0].as_pid(),
                   etf::term::tuple({etf::term(etf::atom("features_reply")), etf::term(pid_.node),
                                     etf::term::nil()}));
      return;
    }
    if (name == "net_kernel") {
      const auto* q = request != nullptr ? request->as_tuple() : nullptr;
      if (m.what == erlang_inbound::kind::call && q != nullptr && q->size() == 2 &&
          (*q)[0].is_atom("is_auth")) {
        // net_kernel:handle_call({is_auth, Node}, ...): yes (the handshake checked the cookie).
        send_message(peer, *m.caller, etf::term::tuple({*m.tag, etf::term(etf::atom("yes"))}));
      } else {
        log_.debug("{}: ignoring {} to net_kernel", peer, message.to_string(200));
      }
      return;
    }
    if (auto r = node_.deliver_term(m); !r) {
      if (r.error() == errc::noproc) {
        // As Erlang drops a message to a name nobody registered; a caller's monitor already
        // answered noproc (on_monitor).
        log_.debug("{}: {} to unregistered '{}' dropped", peer, message.to_string(200), name);
      } else {
        log_.warn("{} from {} to '{}' refused: {}",
                  m.what == erlang_inbound::kind::call   ? "call"
                  : m.what == erlang_inbound::kind::cast ? "cast"
                                                         : "message",
                  peer, name, r.error().message());
      }
    }
  }

  // monitor_of(tag) -> the monitor reference gen_server:call made the tag of: [alias|Ref] since
  // OTP 24 (gen.erl), Ref itself before.
  static const etf::reference* monitor_of(const etf::term& tag) {
    if (const auto* r = tag.as_reference()) return r;
    const auto* items = tag.as_list();
    const auto* tail = tag.list_tail();
    if (items != nullptr && items->size() == 1 && (*items)[0].is_atom("alias") && tail != nullptr) {
      return tail->as_reference();
    }
    return nullptr;
  }

  // server_name(p) -> the name of the server of this node whose running instance has pid p
  // (runtime::pid_of); empty for any other pid (the node's own, a gone instance, another node's).
  [[nodiscard]] std::string_view server_name(const etf::pid& p) const {
    if (p.id == 0 || p.node != pid_.node || p.creation != pid_.creation) return {};
    return node_.name_of(p.id, p.serial);
  }

  // on_monitor(peer, from, target, ref): a BEAM process monitors target (a registered name or a
  // pid) here. A running server's monitor (by its name or its instance's pid) is kept until the
  // server exits (server_exited); a name nobody runs, or a pid of no running server, fires the
  // monitor at once with noproc, as Erlang does: a gen_server:call to it fails now, not at its
  // timeout. Monitors of net_kernel and of the node's pid never fire while the node runs: nothing
  // is kept for them.
  void on_monitor(const node_name& peer, const etf::pid& from, const etf::term& target,
                  const etf::reference& ref) {
    const auto* pid = target.as_pid();
    if (pid != nullptr && *pid == pid_) return;
    // A process group scope lives as long as the node: its monitors (peer scopes set them) never
    // fire while it runs.
    if (pid != nullptr && groups_.find(*pid) != nullptr) return;
    const auto* atom = target.as_atom();
    if (atom != nullptr && (atom->str() == "net_kernel" || atom->str() == "global_name_server")) {
      return;
    }
    // What still runs: the name, or the very instance the pid names.
    auto running = [&]() -> std::string_view {
      if (atom == nullptr) return pid != nullptr ? server_name(*pid) : std::string_view{};
      return node_.is_running(atom->str()) ? atom->str() : std::string_view{};
    };
    if (const std::string_view name = running(); !name.empty()) {
      const auto key = key_of(name, peer, ref);
      {
        std::lock_guard lock(monitors_m_);
        monitors_[key] = beam_monitor{from, ref, target};
      }
      // The server may have ended between the check and the record, its exit finding nothing to
      // fire: fire it here then (unless that exit did).
      if (!running().empty() || !forget_monitor(key)) return;
    }
    send_control(peer, monitor_p_exit_control(target, from, ref, etf::term(etf::atom("noproc"))));
  }

  // on_demonitor(peer, target, ref): the monitor is taken down (erlang:demonitor; gen_server:call
  // after its reply).
  void on_demonitor(const node_name& peer, const etf::term& target, const etf::reference& ref) {
    std::string_view name;
    if (const auto* a = target.as_atom()) {
      name = a->str();
    } else if (const auto* p = target.as_pid()) {
      name = server_name(*p);
    }
    if (!name.empty()) (void)forget_monitor(key_of(name, peer, ref));
  }

  // on_send(peer, to, message): a message to a pid of this node: to a server's instance (as a
  // message to its name), or to the node's pid: the reply {Ref, Reply} to one of its calls to a
  // BEAM server (gen_server:reply). A pid of no running instance takes nothing, as in Erlang.
  void on_send(const node_name& peer, const etf::pid& to, const etf::term& message) {
    if (const std::string_view name = server_name(to); !name.empty()) {
      on_reg_send(peer, name, message);
      return;
    }
    if (auto* scope = groups_.find(to)) {
      scope->on_message(peer, message);
      return;
    }
    if (to == pid_ && on_reply(peer, message)) return;
    log_.debug("{}: {} to {} dropped (no process of this node takes it)", peer,
               message.to_string(200), etf::term(to).to_string(100));
  }

  // on_alias_send(peer, alias, message): a message to a process alias of this node: the reply
  // {[alias|Ref], Reply} of a BEAM server to one of this node's calls (gen:reply sends to the
  // alias the call's tag names); anything else has no alias to go to.
  void on_alias_send(const node_name& peer, const etf::term& alias, const etf::term& message) {
    const auto* a = alias.as_reference();
    if (a != nullptr && call_id_of(*a) && on_reply(peer, message)) return;
    log_.debug("{}: {} to alias {} dropped (no alias of this node takes it)", peer,
               message.to_string(200), alias.to_string(100));
  }

  // on_reply(peer, message) -> whether message was {Tag, Reply} for one of this node's calls to a
  // BEAM server (Tag: the call's reference, [alias|Ref] as this node sends it); the call completes
  // (a late one is dropped) and its monitor is taken down, as gen.erl does after a reply.
  bool on_reply(const node_name& peer, const etf::term& message) {
    const auto* t = message.as_tuple();
    const etf::reference* ref = t != nullptr && t->size() == 2 ? monitor_of((*t)[0]) : nullptr;
    auto id = ref != nullptr ? call_id_of(*ref) : std::nullopt;
    if (!id) return false;
    auto c = take_pending(*id, &peer);
    if (!c) return true;  // late: the call is over
    if (auto name = etf::atom::make(c->erlang_target)) {
      send_control(peer, demonitor_p_control(pid_, etf::term(*name), *ref));
    }
    const pending_reply& p = c->reply;
    if (p.complete_term == nullptr) {
      p.fail(p.op, error(errc::protocol_mismatch,
                         format("the reply of '{}' on {} has no C++ type to be read as: {}",
                                c->erlang_target, peer, (*t)[1].to_string(200))));
    } else {
      p.complete_term(p.op, (*t)[1], io_);
    }
    p.release(p.op);
    return true;
  }

  // on_monitor_exit(peer, ref, reason): a BEAM server this node calls is gone (or never was):
  // the call fails now, as gen_server:call exits with the monitor's reason.
  void on_monitor_exit(const node_name& peer, const etf::reference& ref, const etf::term& reason) {
    if (global_.on_monitor_exit(peer, ref)) return;  // a holder of a global lock
    if (groups_.on_monitor_exit(ref)) return;        // a peer's process group scope
    auto id = call_id_of(ref);
    if (!id) return;  // a monitor this node did not set: nothing to end
    auto c = take_pending(*id, &peer);
    if (!c) return;
    const pending_reply& p = c->reply;
    const std::string& target = c->erlang_target;
    if (reason.is_atom("noproc")) {
      p.fail(p.op,
             error(errc::noproc, format("no process registered as '{}' on {}", target, peer)));
    } else if (reason.is_atom("noconnection")) {
      p.fail(p.op, error(errc::nodedown, format("{} is not connected", peer)));
    } else {
      p.fail(p.op, error(errc::server_crashed,
                         format("'{}' on {} exited: {}", target, peer, reason.to_string(200))));
    }
    p.release(p.op);
  }

  // ---- term frames and process groups --------------------------------------------------------

  // send_term(peer, name, number, serial, term, a): a term frame (native_frame.hpp) to the nodus
  // node peer: to the process registered as name there, or, with no name, to its pid {peer,
  // number, serial}. term is one encoded term, version byte or not.
  result<void> send_term(const node_name& peer, std::string_view name, std::uint32_t number,
                         std::uint32_t serial, std::span<const std::byte> term, admission a) {
    if (name.size() > max_target_length) {
      return error(errc::noproc, format("'{}' is too long a name for a nodus node", name));
    }
    struct owner_t {
      frame_header header;
      std::vector<std::byte> body;
    };
    if (auto conn = native_connection(peer);
        conn && ((*conn)->flags() & net::dflag_nodus_terms) == 0) {
      return error(errc::protocol_mismatch,
                   format("{} is a nodus node from before term frames (no NODUS_TERMS flag): it "
                          "takes no process group, global name or pid message",
                          peer));
    }
    auto o = std::make_shared<owner_t>();
    o->body.assign(term.begin(), term.end());
    o->header.set(frame_kind::term, name, name.empty() ? number : 0, name.empty() ? serial : 0,
                  o->body.size());
    const std::span<const std::byte> parts[] = {o->header.view(), o->body};
    return send(peer, parts, std::move(o), a);
  }

  // on_term_frame(peer, f): a term from a nodus peer, to a process group scope or a server of this
  // node (as an info message), by name or by pid; a term nothing takes is dropped, as in Erlang.
  void on_term_frame(const node_name& peer, const native_frame& f) {
    etf::decode_options o;
    o.max_decompressed_size = s_.max_frame_size;
    auto term = etf::decode(f.payload, o);
    if (!term) {
      log_.error("{}: a term frame that does not hold a term ({}); disconnecting", peer,
                 term.error().message());
      disconnect(peer);
      return;
    }
    if (!f.target.empty()) {
      on_reg_send(peer, f.target, *term);
      return;
    }
    etf::pid to = pid_;
    to.id = static_cast<std::uint32_t>(f.word1);
    to.serial = static_cast<std::uint32_t>(f.word2);
    if (f.word1 > 0xffffffffu || f.word2 > 0xffffffffu) {
      log_.debug("{}: a term to no pid of this node dropped", peer);
      return;
    }
    on_send(peer, to, *term);
  }

  // pg_transport: what the process group scopes send through.
  void pg_send_name(const node_name& peer, std::string_view scope,
                    const etf::term& message) override {
    auto [conn, native] = connection_of(peer);
    if (!conn) return;  // gone: its node_down follows
    if (native) {
      auto bytes = etf::encode(message);
      if (bytes) (void)send_term(peer, scope, 0, 0, *bytes, admission::forced);
      return;
    }
    auto to = etf::atom::make(scope);
    if (!to) return;
    auto frame = erlang_frame_bytes(reg_send_control(pid_, *to), &message);
    if (frame) (void)send_erlang(peer, std::move(frame).value(), admission::forced);
  }
  void pg_send_pid(const etf::pid& to, const etf::term& message) override {
    auto peer = node_name::parse(to.node.str());
    if (!peer) return;
    auto [conn, native] = connection_of(*peer);
    if (!conn) return;
    if (native) {
      auto bytes = etf::encode(message);
      if (bytes) (void)send_term(*peer, {}, to.id, to.serial, *bytes, admission::forced);
      return;
    }
    send_message(*peer, to, message);
  }
  bool pg_monitor(const etf::pid& to, const etf::reference& ref) override {
    auto peer = node_name::parse(to.node.str());
    if (!peer) return false;
    auto [conn, native] = connection_of(*peer);
    if (!conn || native) return false;
    etf::pid from = pid_;  // the scope's pid: the reference names the scope (its serial)
    from.id = 0;
    from.serial = ref.words[1];
    send_control(*peer, monitor_p_control(from, etf::term(to), ref));
    return true;
  }
  void pg_demonitor(const etf::pid& to, const etf::reference& ref) override {
    auto peer = node_name::parse(to.node.str());
    if (!peer) return;
    auto [conn, native] = connection_of(*peer);
    if (!conn || native) return;
    etf::pid from = pid_;
    from.id = 0;
    from.serial = ref.words[1];
    send_control(*peer, demonitor_p_control(from, etf::term(to), ref));
  }
  [[nodiscard]] std::vector<node_name> pg_peers() const override {
    return list(node_kind::visible);
  }

  // names_transport: what the cluster-wide names send through.
  void names_send(const node_name& peer, const etf::term& message) override {
    auto bytes = etf::encode(message);
    if (bytes) {
      (void)send_term(peer, global_names::process_name, 0, 0, *bytes, admission::forced);
    }
  }
  [[nodiscard]] std::vector<node_name> names_peers() const override {
    auto t = table();
    std::vector<node_name> out;
    if (!t) return out;
    for (auto& n : t->list(node_kind::visible)) {
      if (t->connection_to(n).second) out.push_back(std::move(n));
    }
    return out;
  }
  std::function<void()> names_after(std::chrono::milliseconds delay,
                                    std::function<void()> f) override {
    auto timer = std::make_shared<asio::steady_timer>(io_, delay);
    {
      // Kept (weakly) so that shutdown() cancels them: a pending timer would keep the node's
      // threads running until it fires. The gone ones are swept when the list has doubled since
      // the last sweep (amortised: a burst of registrations does not scan it each time).
      std::lock_guard lock(timers_m_);
      if (stopping_timers_) return {};
      if (names_timers_.size() >= names_timers_sweep_) {
        std::erase_if(names_timers_, [](const auto& w) { return w.expired(); });
        names_timers_sweep_ = std::max<std::size_t>(64, 2 * names_timers_.size());
      }
      names_timers_.push_back(timer);
    }
    timer->async_wait([timer, f = std::move(f)](std::error_code ec) {
      if (!ec) f();
    });
    return [w = std::weak_ptr<asio::steady_timer>(timer)] {
      if (auto t = w.lock()) t->cancel();
    };
  }

  // global_hooks(): what global_member sends through.
  global_member::hooks global_hooks() {
    global_member::hooks h;
    h.send_to_name = [this](const node_name& peer, std::string_view name, const etf::term& m) {
      auto to = etf::atom::make(name);
      if (!to) return;
      auto frame = erlang_frame_bytes(reg_send_control(pid_, *to), &m);
      if (frame) (void)send_erlang(peer, std::move(frame).value(), admission::forced);
    };
    h.send_to_pid = [this](const node_name& peer, const etf::pid& to, const etf::term& m) {
      send_message(peer, to, m);
    };
    h.send_control = [this](const node_name& peer, const etf::term& c) { send_control(peer, c); };
    h.connect = [this](const node_name& peer) {
      connect(peer.str(), [this, peer](bool ok) {
        if (!ok) global_.unreachable(peer);
      });
    };
    h.disconnect = [this](const node_name& peer) { (void)disconnect(peer); };
    h.is_native = [this](const node_name& peer) { return connection_of(peer).second; };
    return h;
  }

  void send_control(const node_name& peer, const etf::term& control) {
    auto frame = erlang_frame_bytes(control, nullptr);
    if (frame) (void)send_erlang(peer, std::move(frame).value(), admission::forced);
  }
  void send_message(const node_name& peer, const etf::pid& to, const etf::term& message) {
    auto frame = erlang_frame_bytes(dist::send_control(to), &message);
    if (frame) (void)send_erlang(peer, std::move(frame).value(), admission::forced);
  }

  // on_lost(peer, r): any connection (visible or hidden) is gone: outstanding calls to peer fail
  // now, not at their timeout. Runs before node_down reaches the monitors.
  void on_lost(const node_name& peer, node_down_reason r) {
    std::vector<pending_reply> failed;
    {
      std::lock_guard lock(pending_m_);
      for (auto it = pending_.begin(); it != pending_.end();) {
        if (it->second.peer == peer) {
          failed.push_back(it->second.reply);
          it = pending_.erase(it);
        } else {
          ++it;
        }
      }
    }
    {
      std::lock_guard lock(monitors_m_);
      std::erase_if(monitors_, [&](const auto& m) { return m.first.peer == peer; });
    }
    const error e(errc::nodedown, format("{} went down ({})", peer, to_string(r)));
    for (auto& p : failed) {
      p.fail(p.op, e);
      p.release(p.op);
    }
  }

  // emit(what, node, duration, detail): a telemetry event (core/telemetry.hpp).
  void emit(telemetry_event::kind what, const node_name& node,
            std::chrono::steady_clock::duration duration = {}, std::string detail = {}) {
    telemetry_event e;
    e.what = what;
    e.node = node;
    e.duration = std::chrono::duration_cast<std::chrono::nanoseconds>(duration);
    e.detail = std::move(detail);
    node_.events().emit(e);
  }

  // bump_version(): a new value, never used by any distribution before (a thread's cache names its
  // distribution by address, which a later one may reuse).
  void bump_version() noexcept {
    static std::atomic<std::uint64_t> next{1};
    version_.store(next.fetch_add(1, std::memory_order_relaxed), std::memory_order_release);
  }

  asio::io_context& io_;
  local_end& node_;
  etf::pid pid_;  // the pid this node's servers send from (erlang_pid), set by listen()
  std::atomic<std::uint64_t> version_{0};  // 0: nothing cached yet
  logger& log_;
  // clamped(s) -> s with max_frame_size at most net::max_frame_length (a frame's length has 4
  // bytes: a larger limit would let a longer message through the sender's check).
  static settings clamped(settings s) {
    s.max_frame_size = std::min(s.max_frame_size, net::max_frame_length);
    return s;
  }

  const settings s_;

  // self_pid_of(self) -> the node's pid before listen() gives it its creation.
  static etf::pid self_pid_of(const node_name& self) {
    etf::pid p;
    if (auto a = etf::atom::make(self.str())) p.node = *a;
    return p;
  }
  pg_registry groups_;  // the process group scopes (dist/pg_scope.hpp)
  global_names names_;  // the cluster-wide names (dist/global_names.hpp)

  mutable std::mutex m_;
  std::shared_ptr<cluster::node_table> table_;
  std::shared_ptr<epmd::agent> epmd_;

  std::mutex pending_m_;
  std::unordered_map<std::uint64_t, pending_call> pending_;
  unsigned adds_since_sweep_ = 0;
  std::unique_ptr<asio::steady_timer> erlang_sweep_;  // arm_erlang_sweep_locked
  bool sweep_armed_ = false;
  bool stopping_ = false;  // shutdown(): no sweep is armed again

  std::mutex monitors_m_;
  std::map<beam_monitor_key, beam_monitor> monitors_;

  global_member global_;  // this node's part in Erlang's global, toward BEAM peers

  std::mutex timers_m_;
  std::vector<std::weak_ptr<asio::steady_timer>> names_timers_;  // names_after's, for shutdown
  std::size_t names_timers_sweep_ = 64;  // sweep names_timers_ when it reaches this size
  bool stopping_timers_ = false;
};

namespace detail {
// Registers the factory in every program that includes this header (or links the compiled part).
inline const bool native_registered = register_factory(&native_distribution::make);
}  // namespace detail

}  // namespace nodus::dist

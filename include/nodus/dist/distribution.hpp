// nodus/dist/distribution.hpp: the interface between a node and its distribution (the
// connections to other nodes), and between the distribution and the node's servers. No network
// header: the process layer and the node facade see only this; the implementation
// (dist/native_distribution.hpp) is compiled where it is included (header-only) or once
// (NODUS_SEPARATE_COMPILATION).
//
// Ownership: the node's local_node owns its distribution; the distribution reaches back through
// the local_end interface it was created with, which outlives it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nodus/cluster/events.hpp"
#include "nodus/config.hpp"
#include "nodus/core/error.hpp"
#include "nodus/core/log.hpp"
#include "nodus/core/node_name.hpp"
#include "nodus/dist/native_frame.hpp"
#include "nodus/net/tls_options.hpp"

namespace asio {
class io_context;
}

namespace nodus {
class telemetry;  // core/telemetry.hpp
}

// The Erlang terms that cross this interface, by reference (codec/etf/term.hpp): a TU of local
// servers does not parse the term format.
namespace nodus::etf {
class term;
struct pid;
struct reference;
}  // namespace nodus::etf

namespace nodus::dist {

class pg_registry;   // dist/pg_scope.hpp
class global_names;  // dist/global_names.hpp

// One message for a local server from another node (a call, cast or info frame).
struct inbound_message {
  frame_kind kind{};
  std::uint64_t message_id = 0;
  std::uint64_t call_id = 0;  // calls only
  const node_name* from = nullptr;
  std::string_view target;
  std::span<const std::byte> payload;
  const std::shared_ptr<const void>* keep = nullptr;  // holds payload valid while held
};

// One message from a process of a BEAM node to a local server registered as target (REG_SEND):
// gen_server's '$gen_call' and '$gen_cast' are unwrapped, anything else is an info message.
struct erlang_inbound {
  enum class kind : std::uint8_t { call, cast, info };
  kind what = kind::info;
  std::string_view target;
  const node_name* from = nullptr;          // the BEAM node
  const etf::term* message = nullptr;       // call, cast: the request; info: the message
  const etf::pid* caller = nullptr;         // call: the process that waits for the reply
  const etf::term* tag = nullptr;           // call: the reply goes to caller as {Tag, Reply}
  const etf::reference* monitor = nullptr;  // call: the caller's monitor of the server, if known
};

// What the distribution sees of its node (implemented by the process layer's local_node).
class local_end {
 public:
  virtual ~local_end() = default;
  // deliver(m): a message for the server m.target; an error says why it is refused (no such
  // server: noproc; unknown message; malformed payload). Calls are answered through the wire.
  virtual result<void> deliver(const inbound_message& m) = 0;
  // deliver_term(m): the same for a message from a BEAM process; calls are answered (or failed)
  // through the wire. Errors: noproc, or a term the server takes in none of its handlers.
  virtual result<void> deliver_term(const erlang_inbound& m) = 0;
  // is_running(name) -> a server registered as name runs here now.
  [[nodiscard]] virtual bool is_running(std::string_view name) const = 0;
  // name_of(number, serial) -> the name of the server whose running instance has the pid
  // {this node, number, serial} (see runtime::pid_of); empty when none (gone, or restarted since).
  [[nodiscard]] virtual std::string_view name_of(std::uint32_t number,
                                                 std::uint32_t serial) const = 0;
  // node_up(e) / node_down(e): a visible node connected / disconnected (monitor_nodes).
  virtual void node_up(const nodus::node_up& e) = 0;
  virtual void node_down(const nodus::node_down& e) = 0;
  // events() -> the node's telemetry, which the distribution emits connects and node ups and
  // downs to.
  [[nodiscard]] virtual nodus::telemetry& events() noexcept = 0;
  // stop_instance(number, serial, why): stops the server instance of this node whose pid has
  // that number and serial, if it still runs (a global name it lost when partitions merged).
  virtual void stop_instance(std::uint32_t number, std::uint32_t serial, const error& why) = 0;

 protected:
  local_end() = default;
  local_end(const local_end&) = default;
  local_end& operator=(const local_end&) = default;
};

// A remote call waiting for its reply: an opaque operation and what to do with it. complete runs
// with the reply or reply_error frame, on a thread of io (completions for io may run inline);
// complete_term with the reply of a BEAM server (nullptr when the reply type has no term
// mapping); fail with nodedown or shutdown; release once, last.
struct pending_reply {
  void* op = nullptr;
  void (*complete)(void* op, const native_frame& reply, asio::io_context& io) = nullptr;
  void (*complete_term)(void* op, const etf::term& reply, asio::io_context& io) = nullptr;
  void (*fail)(void* op, const error& e) = nullptr;
  void (*release)(void* op) = nullptr;
  bool (*done)(void* op) = nullptr;  // completed already (by its timeout): may be forgotten
};

// How a frame meets its peer's busy limit (settings::busy_limit, Erlang's dist_buf_busy_limit).
// checked: a message the program sends; refused with errc::busy while the peer's send queue is
// at the limit. forced: taken whatever the queue holds: replies, errors and the protocol's own
// messages (the peer waits for them), and a message whose sender waited (wait_writable).
enum class admission : std::uint8_t { checked, forced };

// Settings of a node's distribution (from nodus::options).
struct settings {
  node_name self;
  std::string cookie;
  std::string address;  // where to listen; empty: the name's host if it is an IP, else 0.0.0.0
  std::uint16_t port = 0;
  bool hidden = false;
  std::chrono::milliseconds ticktime{60000};
  std::chrono::milliseconds setup_timeout{7000};
  std::chrono::milliseconds connect_resend{250};  // see options::net_connect_resend
  std::size_t max_frame_size = std::size_t{64} << 20;
  std::size_t busy_limit = std::size_t{1} << 20;  // per peer; 0: none (see admission)
  tls_options tls;                                // TLS distribution when tls.enabled()
  std::uint64_t protocol_fingerprint = 0;
  bool use_epmd = true;
  std::uint16_t epmd_port = 4369;
};

// distribution: the connections of one node to the others. Thread-safe.
class distribution {
 public:
  distribution() = default;
  distribution(const distribution&) = delete;
  distribution& operator=(const distribution&) = delete;
  virtual ~distribution() = default;

  // ---- the node's side -------------------------------------------------------------------------
  // listen(): opens the listener (once). Errors: errc::not_connected naming the address.
  virtual result<void> listen() = 0;
  // register_name(done): registers with the host's port mapper (serving one when none answers);
  // done(result) runs once, on a thread of the node. At once when settings.use_epmd is false.
  virtual void register_name(std::function<void(result<void>)> done) = 0;
  // serves_port_mapper() -> this node serves its host's port mapper (it answered nobody's).
  [[nodiscard]] virtual bool serves_port_mapper() const = 0;
  // port() -> the port it listens on (0 before listen()).
  [[nodiscard]] virtual std::uint16_t port() const = 0;
  // connect(target, done): "name@host:port", or a name whose port the host's port mapper gives
  // (or the mesh taught); done(bool) once, from a thread of the node (or here).
  virtual void connect(std::string_view target, std::function<void(bool)> done) = 0;
  // connect_at(name, ip, port, done): dials name at ip:port; port 0: as connect(name).
  virtual void connect_at(const node_name& name, std::string_view ip, std::uint16_t port,
                          std::function<void(bool)> done) = 0;
  virtual bool disconnect(const node_name& peer) = 0;
  [[nodiscard]] virtual std::vector<node_name> list(node_kind which) const = 0;
  [[nodiscard]] virtual bool is_connected(const node_name& peer) const = 0;
  // shutdown(): closes every connection, leaves the port mapper, fails the outstanding calls.
  virtual void shutdown() = 0;

  // ---- the servers' side -----------------------------------------------------------------------
  // send(peer, parts, owner, a): one native frame, the concatenation of parts (header first),
  // not copied; owner keeps the bytes valid until written. Errors: nodedown when peer is not
  // connected, protocol_mismatch when it is not a nodus node, busy (admission::checked only)
  // when the peer's send queue is at its busy limit.
  virtual result<void> send(const node_name& peer,
                            std::span<const std::span<const std::byte>> parts,
                            std::shared_ptr<const void> owner,
                            admission a = admission::checked) = 0;
  // send_copied(peer, head, body, a): a frame of at most copied_frame_max bytes, copied.
  virtual result<void> send_copied(const node_name& peer, std::span<const std::byte> head,
                                   std::span<const std::byte> body,
                                   admission a = admission::checked) = 0;
  // wait_writable(peer, deadline): blocks until the send queue of peer is below its busy limit
  // (at once when it is). Errors: nodedown when peer is not connected or goes down meanwhile;
  // busy when the queue is still at the limit at deadline. Never on a thread of the node.
  virtual result<void> wait_writable(const node_name& peer,
                                     std::chrono::steady_clock::time_point deadline) = 0;
  // when_writable(peer, f): f() on a thread of the node once the send queue of peer is below its
  // busy limit, or peer is (or goes) down: at once (posted) when it is not busy.
  virtual void when_writable(const node_name& peer, std::function<void()> f) = 0;
  // add_pending(call id, peer, p): p waits for the reply from peer; fails at once with nodedown
  // when peer is (or goes) down.
  virtual void add_pending(std::uint64_t call_id, const node_name& peer, pending_reply p) = 0;
  // fail_pending(call id, e): fails and forgets the pending call.
  virtual void fail_pending(std::uint64_t call_id, const error& e) = 0;

  // ---- process groups and cluster-wide names (kept by the distribution) ----------------------
  // process_groups() -> the node's process group scopes (dist/pg_scope.hpp).
  [[nodiscard]] virtual pg_registry& process_groups() noexcept = 0;
  // cluster_names() -> the node's cluster-wide names (dist/global_names.hpp).
  [[nodiscard]] virtual global_names& cluster_names() noexcept = 0;
  // instance_ended(number, serial): the server instance of this node whose pid has that number
  // and serial (runtime::pid_of) ended, after it stopped taking messages: it leaves its process
  // groups and its global names.
  virtual void instance_ended(std::uint32_t number, std::uint32_t serial) = 0;

  // ---- BEAM peers (dist/erlang_frame.hpp) ---------------------------------------------------

  // send_erlang(peer, frame, a): one frame (dist::erlang_frame_bytes: the distribution header,
  // the control message, the message) to a BEAM node, rewritten for a peer without the header.
  // Errors: nodedown when peer is not connected, protocol_mismatch when it is a nodus node, busy
  // as send().
  virtual result<void> send_erlang(const node_name& peer, std::vector<std::byte> frame,
                                   admission a = admission::checked) = 0;
  // erlang_pid() -> the pid that this node's servers send from, in messages to BEAM nodes.
  [[nodiscard]] virtual etf::pid erlang_pid() const = 0;
  // call_erlang(peer, call id, name, request): gen_server:call's messages to the process
  // registered as name on the BEAM node peer, for the call added by add_pending(call id, peer):
  // a monitor of name (MONITOR_P: a name nobody registered fails the call at once with noproc)
  // and {'$gen_call', {Pid, Ref}, Request}; the reply {Ref, Reply} completes it. request is one
  // encoded term without its version byte. Errors: nodedown, protocol_mismatch (a nodus peer),
  // busy (the peer's send queue is at its limit).
  virtual result<void> call_erlang(const node_name& peer, std::uint64_t call_id,
                                   std::string_view name, std::span<const std::byte> request) = 0;
  // send_erlang_to(peer, name, gen_cast, message, a): message (one encoded term without its
  // version byte) to the process registered as name on peer, wrapped as {'$gen_cast', Message}
  // for gen_cast (gen_server:cast), as it is otherwise (erlang:send). Errors as call_erlang.
  virtual result<void> send_erlang_to(const node_name& peer, std::string_view name, bool gen_cast,
                                      std::span<const std::byte> message,
                                      admission a = admission::checked) = 0;
  // send_erlang_pid(to, message, a): message (one encoded term without its version byte) to the
  // process to, as Erlang's `To ! Message`: a process of a BEAM peer (SEND), or a server of this
  // node or of a nodus peer (a term frame) by its instance's pid (as an info message; a pid of
  // an instance that ended takes nothing, as in Erlang). Errors: nodedown when to's node is not
  // connected, busy as send().
  virtual result<void> send_erlang_pid(const etf::pid& to, std::span<const std::byte> message,
                                       admission a = admission::checked) = 0;
  // server_exited(name, reason): the server registered as name here ended (errc::ok: it stopped
  // by itself; errc::shutdown: it was stopped; else why it crashed): every monitor a BEAM process
  // holds on it fires (MONITOR_P_EXIT) with the reason as erlang_reason writes it (normal,
  // shutdown, {server_crashed, <<"...">>}), as erlang:monitor's 'DOWN'.
  virtual void server_exited(std::string_view name, const error& reason) = 0;
  // monitor_exit(peer, name, watcher, ref, reason): the monitor ref that watcher on peer holds on
  // the server name fires with reason now (a gen_server:call that the server failed), and is
  // forgotten.
  virtual void monitor_exit(const node_name& peer, std::string_view name, const etf::pid& watcher,
                            const etf::reference& ref, const etf::term& reason) = 0;
};

// send_reply_error(d, peer, call_id, e): answers the call call_id from peer with e (compiled once,
// dist/impl/distribution.ipp).
NODUS_DECL void send_reply_error(distribution& d, const node_name& peer, std::uint64_t call_id,
                                 const error& e);

// The factory of the native distribution: set by dist/native_distribution.hpp when a TU of the
// program includes it (nodus/nodus.hpp does), or by the compiled library.
using factory = std::unique_ptr<distribution> (*)(asio::io_context& io, local_end& node,
                                                  logger& log, settings s);
inline factory& registered_factory() noexcept {
  static factory f = nullptr;
  return f;
}
inline bool register_factory(factory f) noexcept {
  registered_factory() = f;
  return true;
}

}  // namespace nodus::dist

#if defined(NODUS_HEADER_ONLY)
#include "nodus/dist/impl/distribution.ipp"
#endif

// nodus/process/detail/remote.hpp: messages between nodus nodes: the native frame layout for
// call, reply, cast and info, the outstanding remote calls of a node, and the fan-out of
// node_up / node_down to monitoring servers.
//
// Native frame body (after the connection's 4-byte length; all integers little-endian; frames
// start 16-byte aligned, see net::frame_alignment):
//
//   offset  size  field
//   0       1     kind (wire_kind)
//   1       1     name length L (target server; 0 for replies)
//   2       2     zero
//   4       8     a: message id (call, cast, info) or call id (reply, reply_error)
//   12      8     b: call id (call) or error code (reply_error), else zero
//   20      8     payload length
//   28      L     target name, then zeros up to header_size(L) = 28 + round_up(L, 16)
//   ...           payload: the message (codec), or the error reason text (reply_error)
//   ...           zero padding to the frame alignment
//
// header_size(L) is 12 modulo 16, so that the payload starts 16-byte aligned in the receive
// buffer (the body starts 4 bytes after an aligned frame start).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <asio/buffer.hpp>
#include <asio/post.hpp>

#include "nodus/cluster/events.hpp"
#include "nodus/cluster/node_table.hpp"
#include "nodus/codec/codec.hpp"
#include "nodus/codec/view.hpp"
#include "nodus/core/error.hpp"
#include "nodus/core/format.hpp"
#include "nodus/core/log.hpp"
#include "nodus/core/node_name.hpp"
#include "nodus/message/message_id.hpp"
#include "nodus/message/reflect.hpp"
#include "nodus/process/detail/call_op.hpp"
#include "nodus/process/detail/runtime.hpp"
#include "nodus/process/interface.hpp"

namespace nodus::detail {

inline constexpr std::size_t wire_fixed_header = 28;
inline constexpr std::size_t wire_max_header = wire_fixed_header + 256;

[[nodiscard]] constexpr std::size_t wire_header_size(std::size_t name_len) noexcept {
  return wire_fixed_header + (name_len + 15) / 16 * 16;
}

// wire_capable_v<M>: M can cross the wire (a valid message type for the codec).
template <class M>
inline constexpr bool wire_capable_v = message_status_of<M>() == message_status::ok;

// One received native frame, parsed.
struct wire_frame {
  wire_kind kind{};
  std::uint64_t a = 0;
  std::uint64_t b = 0;
  std::string_view name;
  std::span<const std::byte> payload;
};

inline void put_le(std::byte* at, std::uint64_t v) noexcept {
  for (int i = 0; i < 8; ++i) at[i] = static_cast<std::byte>((v >> (8 * i)) & 0xff);
}
inline std::uint64_t get_le(const std::byte* at) noexcept {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= std::to_integer<std::uint64_t>(at[i]) << (8 * i);
  return v;
}

// parse_wire(frame) -> the parsed frame; errc::malformed_frame saying what is wrong.
[[nodiscard]] inline result<wire_frame> parse_wire(std::span<const std::byte> f) {
  auto bad = [&](std::string_view what) {
    return error(errc::malformed_frame, format("native frame of {} bytes: {}", f.size(), what));
  };
  if (f.size() < wire_fixed_header) return bad("shorter than its header");
  wire_frame w;
  const auto kind = std::to_integer<unsigned>(f[0]);
  if (kind < 1 || kind > 5) return bad(format("unknown kind {}", kind));
  w.kind = static_cast<wire_kind>(kind);
  const std::size_t name_len = std::to_integer<std::size_t>(f[1]);
  const std::size_t header = wire_header_size(name_len);
  if (f.size() < header) return bad("shorter than its header and name");
  w.a = get_le(f.data() + 4);
  w.b = get_le(f.data() + 12);
  const std::uint64_t len = get_le(f.data() + 20);
  if (len > f.size() - header) return bad(format("payload length {} past the end", len));
  if (f.size() - header - len >= 16) return bad("bytes after the payload");
  w.name = std::string_view(reinterpret_cast<const char*>(f.data() + wire_fixed_header), name_len);
  w.payload = f.subspan(header, static_cast<std::size_t>(len));
  return w;
}

// The header of an outgoing frame (owned by the send until it is written).
struct wire_header {
  std::array<std::byte, wire_max_header> bytes{};
  std::size_t size = 0;

  void set(wire_kind k, std::string_view name, std::uint64_t a, std::uint64_t b,
           std::uint64_t payload_len) noexcept {
    bytes[0] = static_cast<std::byte>(k);
    bytes[1] = static_cast<std::byte>(name.size());
    put_le(bytes.data() + 4, a);
    put_le(bytes.data() + 12, b);
    put_le(bytes.data() + 20, payload_len);
    if (!name.empty()) std::memcpy(bytes.data() + wire_fixed_header, name.data(), name.size());
    size = wire_header_size(name.size());
  }
};

class distribution;

// A reply from the wire completing a local call op: decodes Reply.
using reply_decoder = void (*)(call_op_base* op, const wire_frame& f);

template <class Reply>
void decode_reply(call_op_base* op, const wire_frame& f) {
  auto* typed = static_cast<call_op<Reply>*>(op);
  if (f.kind == wire_kind::reply_error) {
    std::string reason(reinterpret_cast<const char*>(f.payload.data()), f.payload.size());
    typed->fail(error(std::error_code(static_cast<int>(f.b), error_category()), std::move(reason)));
    return;
  }
  auto r = codec::decode<Reply>(f.payload);
  if (!r) {
    typed->fail(r.error());
    return;
  }
  typed->complete(std::move(r).value());
}

// distribution: a node's side of the cluster: the node table, outstanding remote calls, node
// monitors. Owned by the node; lives longer than its servers. Thread-safe.
class distribution {
 public:
  using node_up_callback = std::function<void(const node_up&)>;
  using node_down_callback = std::function<void(const node_down&)>;

  explicit distribution(runtime& rt) : rt_(rt) {}
  distribution(const distribution&) = delete;
  distribution& operator=(const distribution&) = delete;
  ~distribution() { shutdown(); }

  // listen(opts): opens the node table (once).
  result<void> listen(cluster::node_table_options opts) {
    std::lock_guard lock(m_);
    if (table_) return {};
    opts.log = [this](log_level level, const std::string& line) {
      rt_.log().log(level, "{}", line);
    };
    auto t = cluster::node_table::listen(asio::any_io_executor(rt_.io().get_executor()),
                                         std::move(opts));
    if (!t) return t.error();
    table_ = std::make_unique<cluster::node_table>(std::move(t).value());
    table_->on_frame([this](const node_name& peer, std::span<const std::byte> f,
                            const std::shared_ptr<const void>& keep) { on_frame(peer, f, keep); });
    table_->on_node_up([this](const node_name& peer) { on_up(peer); });
    table_->on_node_down(
        [this](const node_name& peer, cluster::node_down_reason r) { on_down(peer, r); });
    table_->on_connection_lost(
        [this](const node_name& peer, cluster::node_down_reason r) { on_lost(peer, r); });
    return {};
  }

  // table() -> the node table, nullptr before listen().
  [[nodiscard]] cluster::node_table* table() const {
    std::lock_guard lock(m_);
    return table_.get();
  }

  // send(peer, parts, owner) -> an error when peer is not connected or not a nodus node.
  result<void> send(const node_name& peer, std::vector<asio::const_buffer> parts,
                    std::shared_ptr<const void> owner) {
    auto* t = table();
    auto [conn, native] =
        t != nullptr ? t->connection_to(peer) : std::pair<std::shared_ptr<net::connection>, bool>{};
    if (!conn) return error(errc::nodedown, format("{} is not connected to {}", rt_.self(), peer));
    if (!native) {
      return error(errc::protocol_mismatch,
                   format("{} is not a nodus node; nodus messages need a nodus peer", peer));
    }
    conn->send(std::move(parts), std::move(owner));
    return {};
  }

  // send_small(peer, head, body): as send(), for a frame of a few hundred bytes, copied.
  result<void> send_small(const node_name& peer, std::span<const std::byte> head,
                          std::span<const std::byte> body) {
    auto* t = table();
    auto [conn, native] =
        t != nullptr ? t->connection_to(peer) : std::pair<std::shared_ptr<net::connection>, bool>{};
    if (!conn) return error(errc::nodedown, format("{} is not connected to {}", rt_.self(), peer));
    if (!native) {
      return error(errc::protocol_mismatch,
                   format("{} is not a nodus node; nodus messages need a nodus peer", peer));
    }
    conn->send_small(head, body);
    return {};
  }

  // add_pending(op, peer, decode): op waits for a reply from peer; fails at once with nodedown
  // when peer is (or goes) down. Takes a reference to op.
  void add_pending(call_op_base* op, const node_name& peer, reply_decoder decode) {
    op->add_ref();
    {
      std::lock_guard lock(pending_m_);
      pending_.emplace(op->id(), pending_call{op, peer, decode});
      if (++adds_since_sweep_ >= 1024) sweep_locked();
    }
    auto* t = table();
    if (t == nullptr || !t->is_connected(peer)) {
      fail_pending(op->id(), error(errc::nodedown, format("{} is not connected", peer)));
    }
  }

  // fail_pending(id, e): fails and forgets the pending call id.
  void fail_pending(std::uint64_t id, const error& e) {
    call_op_base* op = nullptr;
    {
      std::lock_guard lock(pending_m_);
      auto it = pending_.find(id);
      if (it == pending_.end()) return;
      op = it->second.op;
      pending_.erase(it);
    }
    op->fail(e);
    op->release();
  }

  // subscribe(cell, generation): node_up / node_down go to cell's instance `generation`.
  void subscribe(cell_base& cell, std::uint64_t generation) {
    std::lock_guard lock(sub_m_);
    for (auto& s : subscribers_) {
      if (s.cell == &cell) {
        s.generation = generation;
        return;
      }
    }
    subscribers_.push_back({&cell, generation});
  }
  // unsubscribe(cell): forgets cell (its server ended or left the node).
  void unsubscribe(cell_base& cell) {
    std::lock_guard lock(sub_m_);
    std::erase_if(subscribers_, [&](const subscriber& s) { return s.cell == &cell; });
  }

  // on_node_up / on_node_down(cb): callback subscriptions; cb runs on a connection's strand.
  void on_node_up(node_up_callback cb) {
    std::lock_guard lock(sub_m_);
    up_callbacks_.push_back(std::make_shared<node_up_callback>(std::move(cb)));
  }
  void on_node_down(node_down_callback cb) {
    std::lock_guard lock(sub_m_);
    down_callbacks_.push_back(std::make_shared<node_down_callback>(std::move(cb)));
  }

  // shutdown(): closes every connection and fails the outstanding remote calls.
  void shutdown() {
    std::unique_ptr<cluster::node_table> t;
    {
      std::lock_guard lock(m_);
      t = std::move(table_);
    }
    t.reset();
    std::unordered_map<std::uint64_t, pending_call> all;
    {
      std::lock_guard lock(pending_m_);
      all.swap(pending_);
    }
    for (auto& [id, p] : all) {
      p.op->fail(error(errc::shutdown, "the node is shutting down"));
      p.op->release();
    }
  }

  [[nodiscard]] runtime& rt() const noexcept { return rt_; }

 private:
  struct pending_call {
    call_op_base* op;
    node_name peer;
    reply_decoder decode;
  };
  struct subscriber {
    cell_base* cell;
    std::uint64_t generation;
  };

  void sweep_locked() {
    adds_since_sweep_ = 0;
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.op->done()) {
        it->second.op->release();
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void on_frame(const node_name& peer, std::span<const std::byte> f,
                const std::shared_ptr<const void>& keep) {
    auto w = parse_wire(f);
    if (!w) {
      rt_.log().error("{}: {}; disconnecting", peer, w.error().message());
      if (auto* t = table()) t->disconnect(peer);
      return;
    }
    if (w->kind == wire_kind::reply || w->kind == wire_kind::reply_error) {
      pending_call p{};
      {
        std::lock_guard lock(pending_m_);
        auto it = pending_.find(w->a);
        if (it == pending_.end() || it->second.peer != peer) return;  // late: the call is over
        p = it->second;
        pending_.erase(it);
      }
      // The call's completion (when it runs on this node's io_context) runs right here, after
      // the reply is decoded, instead of being posted: one scheduler pass less per round trip.
      completion_sink sink;
      sink.io = &rt_.io();
      completion_sink* prev = current_sink;
      current_sink = &sink;
      p.decode(p.op, *w);
      current_sink = prev;
      p.op->release();
      for (std::size_t i = 0; i < sink.items.size(); ++i) {
        try {
          sink.items[i]();
        } catch (...) {  // leaves run() like any handler's exception; the others still run
          for (std::size_t j = i + 1; j < sink.items.size(); ++j) {
            asio::post(rt_.io(), std::move(sink.items[j]));
          }
          throw;
        }
      }
      return;
    }
    remote_delivery d;
    d.kind = w->kind;
    d.msg_id = w->a;
    d.call_id = w->kind == wire_kind::call ? w->b : 0;
    d.from = peer;
    d.payload = w->payload;
    d.keep = &keep;
    cell_base* c = rt_.whereis(w->name);
    result<void> r = c != nullptr
                         ? c->deliver_remote(d)
                         : result<void>(error(errc::noproc, format("no server named '{}' on {}",
                                                                   w->name, rt_.self())));
    if (!r) {
      if (w->kind == wire_kind::call) {
        send_reply_error(peer, d.call_id, r.error());
      } else {
        rt_.log().warn("{} from {} dropped: {}", w->kind == wire_kind::cast ? "cast" : "info", peer,
                       r.error().message());
      }
    }
  }

 public:
  // send_reply_error(peer, call_id, e): answers a remote call with an error.
  void send_reply_error(const node_name& peer, std::uint64_t call_id, const error& e) {
    struct owner_t {
      wire_header header;
      std::string reason;
    };
    auto o = std::make_shared<owner_t>();
    o->reason = e.reason();
    o->header.set(wire_kind::reply_error, {}, call_id, static_cast<std::uint64_t>(e.code().value()),
                  o->reason.size());
    std::vector<asio::const_buffer> parts{asio::buffer(o->header.bytes.data(), o->header.size),
                                          asio::buffer(o->reason)};
    (void)send(peer, std::move(parts), std::move(o));
  }

 private:
  void on_up(const node_name& peer) {
    std::vector<subscriber> subs;
    std::vector<std::shared_ptr<node_up_callback>> cbs;
    {
      std::lock_guard lock(sub_m_);
      subs = subscribers_;
      cbs = up_callbacks_;
    }
    const node_up e{peer};
    for (const auto& s : subs) s.cell->notify(e, s.generation);
    for (const auto& cb : cbs) (*cb)(e);
  }

  // on_lost(peer, r): any connection (visible or hidden) is gone: outstanding calls to peer fail
  // now, not at their timeout. Runs before node_down reaches the monitors.
  void on_lost(const node_name& peer, cluster::node_down_reason r) {
    std::vector<call_op_base*> failed;
    {
      std::lock_guard lock(pending_m_);
      for (auto it = pending_.begin(); it != pending_.end();) {
        if (it->second.peer == peer) {
          failed.push_back(it->second.op);
          it = pending_.erase(it);
        } else {
          ++it;
        }
      }
    }
    const error e(errc::nodedown, format("{} went down ({})", peer, cluster::to_string(r)));
    for (auto* op : failed) {
      op->fail(e);
      op->release();
    }
  }

  void on_down(const node_name& peer, cluster::node_down_reason r) {
    std::vector<subscriber> subs;
    std::vector<std::shared_ptr<node_down_callback>> cbs;
    {
      std::lock_guard lock(sub_m_);
      subs = subscribers_;
      cbs = down_callbacks_;
    }
    const node_down d{peer, r};
    for (const auto& s : subs) s.cell->notify(d, s.generation);
    for (const auto& cb : cbs) (*cb)(d);
  }

  runtime& rt_;
  mutable std::mutex m_;
  std::unique_ptr<cluster::node_table> table_;

  std::mutex pending_m_;
  std::unordered_map<std::uint64_t, pending_call> pending_;
  unsigned adds_since_sweep_ = 0;

  std::mutex sub_m_;
  std::vector<subscriber> subscribers_;
  std::vector<std::shared_ptr<node_up_callback>> up_callbacks_;
  std::vector<std::shared_ptr<node_down_callback>> down_callbacks_;
};

// An outgoing message frame: the header, the message (shared, never copied) and the gather list
// pointing into it; kept alive by the connection until written.
template <class M>
struct outgoing_message {
  wire_header header;
  std::shared_ptr<const M> msg;
  codec::gather_list body;
};

// small_message_v<M>: M goes out copied into the connection's run of small frames (no allocation
// per message) rather than gathered from a shared copy: a trivially copyable message whose frame
// stays under net::connection::small_frame_max.
template <class M>
inline constexpr bool small_message_v = std::is_trivially_copyable_v<M> &&
                                        sizeof(M) + wire_max_header
                                            <= net::connection::small_frame_max;

// send_small_message(d, peer, kind, target, a, b, msg): the small-message path (one copy of the
// message's bytes into the run, counted).
template <class M>
result<void> send_small_message(distribution& d, const node_name& peer, wire_kind kind,
                                std::string_view target, std::uint64_t a, std::uint64_t b,
                                const M& msg) {
  wire_header h;
  h.set(kind, target, a, b, sizeof(M));
  codec::detail::count_copy(sizeof(M));
  return d.send_small(peer, std::span<const std::byte>(h.bytes.data(), h.size),
                      std::as_bytes(std::span<const M, 1>(&msg, 1)));
}

// send_message(d, peer, kind, target, a, b, msg): encodes and queues one frame.
template <class M>
result<void> send_message(distribution& d, const node_name& peer, wire_kind kind,
                          std::string_view target, std::uint64_t a, std::uint64_t b,
                          std::shared_ptr<const M> msg) {
  auto o = std::make_shared<outgoing_message<M>>();
  o->msg = std::move(msg);
  codec::encode(*o->msg, o->body);
  o->header.set(kind, target, a, b, o->body.size);
  std::vector<asio::const_buffer> parts;
  parts.reserve(o->body.parts.size() + 1);
  parts.push_back(asio::buffer(o->header.bytes.data(), o->header.size));
  for (const auto& p : o->body.parts) parts.push_back(asio::buffer(p.data(), p.size()));
  return d.send(peer, std::move(parts), std::move(o));
}

// share(msg) -> the message on the heap, shared by the send: moved, never serialized twice.
// Moving a trivially copyable message copies its bytes; that copy is counted. Send a
// std::shared_ptr<const M> (or unique_ptr) to avoid it.
template <class M>
std::shared_ptr<const std::remove_cvref_t<M>> share(M&& m) {
  using T = std::remove_cvref_t<M>;
  if constexpr (std::is_trivially_copyable_v<T>) codec::detail::count_copy(sizeof(T));
  return std::make_shared<const T>(static_cast<M&&>(m));
}
template <class T>
std::shared_ptr<const T> share(std::shared_ptr<const T> m) {
  return m;
}
template <class T>
std::shared_ptr<const T> share(std::shared_ptr<T> m) {
  return m;
}
template <class T>
std::shared_ptr<const T> share(std::unique_ptr<T> m) {
  return std::shared_ptr<const T>(std::move(m));
}

// unshare(msg) -> the message itself, for a local send of a message given by pointer.
template <class M>
decltype(auto) unshare(M&& m) {
  if constexpr (requires {
                  *m;
                  typename std::remove_cvref_t<M>::element_type;
                }) {
    return std::remove_cvref_t<decltype(*m)>(*m);
  } else {
    return static_cast<M&&>(m);
  }
}

// message_type_t<M>: the message type behind M, M = T, shared_ptr<T>, unique_ptr<T>.
template <class M>
struct message_type {
  using type = std::remove_cvref_t<M>;
};
template <class T>
struct message_type<std::shared_ptr<T>> {
  using type = std::remove_const_t<T>;
};
template <class T>
struct message_type<std::unique_ptr<T>> {
  using type = T;
};
template <class M>
using message_type_t = typename message_type<std::remove_cvref_t<M>>::type;

// is_message_pointer_v<M>: M is a shared_ptr / unique_ptr to the message (sent without a copy).
template <class M>
inline constexpr bool is_message_pointer_v =
    !std::is_same_v<std::remove_cvref_t<M>, message_type_t<M>>;

// A call op that answers a remote caller: the reply travels back over the wire.
template <class Reply>
class remote_reply_op final : public call_op<Reply> {
 public:
  remote_reply_op(distribution& d, const node_name& peer, std::uint64_t call_id,
                  std::string_view target)
      : call_op<Reply>(call_id, &peer_, target), d_(d), peer_(peer) {}

 private:
  void deliver(result<Reply>&& r) override {
    if (!r) {
      d_.send_reply_error(peer_, this->id(), r.error());
      return;
    }
    if constexpr (small_message_v<Reply>) {
      (void)send_small_message<Reply>(d_, peer_, wire_kind::reply, {}, this->id(), 0, r.value());
    } else {
      (void)send_message<Reply>(d_, peer_, wire_kind::reply, {}, this->id(), 0,
                                std::make_shared<const Reply>(std::move(r).value()));
    }
  }
  distribution& d_;
  node_name peer_;
};

// start_remote_call<S>(rt, peer, msg, timeout, handler): calls S on peer; handler as start_call.
template <class S, class Req, class Handler>
void start_remote_call(runtime& rt, const node_name& peer, Req&& msg,
                       std::chrono::milliseconds timeout, Handler&& handler) {
  using R = message_type_t<Req>;
  using P = reply_t<S, R>;
  if constexpr (!handles_call_v<S, R>) {
    return;  // reply_t has reported the undeclared call
  } else {
    static_assert(wire_capable_v<R> && wire_capable_v<P>,
                  "nodus: a remote call needs request and reply types that can be messages (see "
                  "nodus/message/reflect.hpp): trivially copyable or reflected structs");
    const auto id = rt.next_call_id();
    call_ref<P> ref(make_call_op<P>(static_cast<Handler&&>(handler), rt.io().get_executor(), id,
                                    &rt.self(), S::name.view()));
    auto* d = rt.dist();
    if (d == nullptr) {
      ref->fail(error(errc::nodedown, format("{} is not distributed (no name)", rt.self())));
      return;
    }
    if (timeout < std::chrono::hours(24 * 365 * 100)) rt.timeouts().add(ref.get(), timeout);
    d->add_pending(ref.get(), peer, &decode_reply<P>);
    if (ref->done()) return;  // peer is not connected: failed at once
    result<void> sent;
    if constexpr (small_message_v<R> && !is_message_pointer_v<Req>) {
      sent = send_small_message<R>(*d, peer, wire_kind::call, S::name.view(), message_id_v<R>, id,
                                   msg);
    } else {
      sent = send_message<R>(*d, peer, wire_kind::call, S::name.view(), message_id_v<R>, id,
                             share(static_cast<Req&&>(msg)));
    }
    if (!sent) d->fail_pending(id, sent.error());
  }
}

// send_remote<S, Kind>(rt, peer, msg): a cast (Kind = cast) or info (Kind = info) to S on peer.
// Errors: nodedown when peer is not connected; delivery is not confirmed (as Erlang's cast).
template <class S, template <class> class Kind, class M>
result<void> send_remote(runtime& rt, const node_name& peer, M&& msg) {
  using T = message_type_t<M>;
  static_assert(wire_capable_v<T>,
                "nodus: a message sent to another node must be a message type (see "
                "nodus/message/reflect.hpp): trivially copyable or a reflected struct");
  auto* d = rt.dist();
  if (d == nullptr) return error(errc::nodedown, format("{} is not distributed", rt.self()));
  constexpr auto kind = std::is_same_v<Kind<T>, cast<T>> ? wire_kind::cast : wire_kind::info;
  if constexpr (small_message_v<T> && !is_message_pointer_v<M>) {
    return send_small_message<T>(*d, peer, kind, S::name.view(), message_id_v<T>, 0, msg);
  } else {
    return send_message<T>(*d, peer, kind, S::name.view(), message_id_v<T>, 0,
                           share(static_cast<M&&>(msg)));
  }
}

}  // namespace nodus::detail

// nodus/process/detail/remote_ops.hpp: calls, casts and infos to servers of other nodes, and the
// replies to calls from them, on top of the distribution's interface (dist/distribution.hpp):
// the typed part that encodes and decodes messages; the frame format is dist/native_frame.hpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "nodus/codec/codec.hpp"
#include "nodus/codec/etf/typed.hpp"
#include "nodus/core/error.hpp"
#include "nodus/core/format.hpp"
#include "nodus/core/node_name.hpp"
#include "nodus/dist/distribution.hpp"
#include "nodus/dist/native_frame.hpp"
#include "nodus/message/message_id.hpp"
#include "nodus/message/reflect.hpp"
#include "nodus/message/type_name.hpp"
#include "nodus/process/detail/call_op.hpp"
#include "nodus/process/detail/remote_decl.hpp"
#include "nodus/process/detail/runtime.hpp"
#include "nodus/process/interface.hpp"

namespace nodus::detail {

// Complete here: the remote operations are defined (see require_remote_ops, remote_decl.hpp).
template <class T>
struct remote_ops_defined : std::true_type {};

using dist::frame_kind;

// The reply of a remote call completing its local op (dist::pending_reply's functions): decodes
// Reply. The call's completion (when it runs on this node's io_context) runs right here, after
// the reply is decoded, instead of being posted: one scheduler pass less per round trip.
template <class Reply>
void complete_from_wire(void* op, const dist::native_frame& f, asio::io_context& io) {
  auto* typed = static_cast<call_op<Reply>*>(static_cast<call_op_base*>(op));
  completion_sink sink;
  sink.io = &io;
  completion_sink* prev = current_sink;
  current_sink = &sink;
  if (f.kind == frame_kind::reply_error) {
    std::string reason(reinterpret_cast<const char*>(f.payload.data()), f.payload.size());
    typed->fail(error(std::error_code(static_cast<int>(f.error_code()), error_category()),
                      std::move(reason)));
  } else if (auto r = codec::decode<Reply>(f.payload); !r) {
    typed->fail(r.error());
  } else {
    typed->complete(std::move(r).value());
  }
  current_sink = prev;
  run_sunk(sink);
}
// The reply of a BEAM server (dist::pending_reply::complete_term): reads Reply from the term.
template <class Reply>
void complete_from_term(void* op, const etf::term& reply, asio::io_context& io) {
  auto* typed = static_cast<call_op<Reply>*>(static_cast<call_op_base*>(op));
  completion_sink sink;
  sink.io = &io;
  completion_sink* prev = current_sink;
  current_sink = &sink;
  if (auto r = etf::from_term<Reply>(reply); !r) {
    typed->fail(r.error());
  } else {
    typed->complete(std::move(r).value());
  }
  current_sink = prev;
  run_sunk(sink);
}
// A native reply frame for a call whose types only travel as terms (none was sent: a peer that
// sends one anyway fails the call).
NODUS_DECL void refuse_native_reply(void* op, const dist::native_frame& f, asio::io_context& io);
inline void fail_pending_op(void* op, const error& e) { static_cast<call_op_base*>(op)->fail(e); }
inline void release_pending_op(void* op) { static_cast<call_op_base*>(op)->release(); }
inline bool pending_op_done(void* op) { return static_cast<call_op_base*>(op)->done(); }

// An outgoing message frame: the header, the message (shared, never copied) and the gather list
// pointing into it; kept alive by the connection until written.
// Not a template: the message is kept as a std::shared_ptr<const void>.
struct outgoing_message {
  dist::frame_header header;
  std::shared_ptr<const void> msg;
  codec::gather_list body;
};
// make_outgoing(msg) -> a frame that keeps msg alive.
[[nodiscard]] NODUS_DECL std::shared_ptr<outgoing_message> make_outgoing(
    std::shared_ptr<const void> msg);
// send_outgoing(d, peer, o, a): queues o (header, then body) as one native frame.
NODUS_DECL result<void> send_outgoing(dist::distribution& d, const node_name& peer,
                                      std::shared_ptr<outgoing_message> o, dist::admission a);

// copied_message_v<M>: M goes out copied into the connection's run of small frames (no
// allocation per message) rather than gathered from a shared copy: a trivially copyable message
// whose frame stays under dist::copied_frame_max.
template <class M>
inline constexpr bool copied_message_v = std::is_trivially_copyable_v<M> &&
                                         sizeof(M) + dist::max_header_size
                                             <= dist::copied_frame_max;

// send_copied_message(d, peer, header, msg, a): the copied-frame path (one copy of the
// message's bytes into the connection's run, counted).
template <class M>
result<void> send_copied_message(dist::distribution& d, const node_name& peer,
                                 const dist::frame_header& h, const M& msg,
                                 dist::admission a = dist::admission::checked) {
  codec::detail::count_copy(sizeof(M));
  return d.send_copied(peer, h.view(), std::as_bytes(std::span<const M, 1>(&msg, 1)), a);
}

// send_encoded(d, peer, set_header, msg, a): encodes msg and queues one frame whose header
// set_header(header, payload length) fills.
template <class M, class SetHeader>
result<void> send_encoded(dist::distribution& d, const node_name& peer, SetHeader set_header,
                          std::shared_ptr<const M> msg,
                          dist::admission a = dist::admission::checked) {
  const M& m = *msg;
  auto o = make_outgoing(std::move(msg));
  codec::encode(m, o->body);
  set_header(o->header, o->body.size);
  return send_outgoing(d, peer, std::move(o), a);
}

// A call op that answers a remote caller: the reply travels back over the wire.
template <class Reply>
class remote_reply_op final : public call_op<Reply> {
 public:
  remote_reply_op(dist::distribution& d, const node_name& peer, std::uint64_t call_id,
                  std::string_view target)
      : call_op<Reply>(call_id, &peer_, target), d_(d), peer_(peer) {}

 private:
  void deliver(result<Reply>&& r) override {
    if (!r) {
      dist::send_reply_error(d_, peer_, this->id(), r.error());
      return;
    }
    result<void> sent;
    if constexpr (copied_message_v<Reply>) {
      dist::frame_header h;
      h.reply(this->id(), sizeof(Reply));
      sent = send_copied_message<Reply>(d_, peer_, h, r.value(), dist::admission::forced);
    } else {
      const auto id = this->id();
      sent = send_encoded<Reply>(
          d_, peer_, [id](dist::frame_header& h, std::size_t n) { h.reply(id, n); },
          std::make_shared<const Reply>(std::move(r).value()), dist::admission::forced);
    }
    // A reply over max_frame_size is not sent: the caller gets that error rather than its timeout.
    if (!sent && sent.error() == errc::frame_too_large) {
      dist::send_reply_error(d_, peer_, this->id(), sent.error());
    }
  }
  dist::distribution& d_;
  node_name peer_;
};

// on_native_v<T> / on_beam_message_v<T>: T travels to nodus nodes (the native codec) / to BEAM
// nodes (as an Erlang term, codec/etf/typed.hpp).
template <class T>
inline constexpr bool on_native_v = is_message_v<T>;
template <class T>
inline constexpr bool on_beam_message_v = etf::mappable_v<T>;

// send_to_beam(d, peer, name, gen_cast, msg, a): msg as a term to the process registered as
// name on the BEAM node peer ({'$gen_cast', Msg} for a cast, Msg for a send).
template <class T>
result<void> send_to_beam(dist::distribution& d, const node_name& peer, std::string_view name,
                          bool gen_cast, const T& msg, dist::admission a) {
  std::vector<std::byte> bytes;
  if (auto r = etf::encode(msg, bytes, etf::encode_options{false}); !r) return r.error();
  return d.send_erlang_to(peer, name, gen_cast, bytes, a);
}

// wait_until_writable(rt, d, peer, busy) -> how to admit a message to peer once its send queue
// is below its busy limit: forced after a wait (at once when it is below), checked on a thread
// of the node (which must not block: the send then fails with busy as without wait_if_busy).
// Errors: nodedown, busy (still at the limit after busy.timeout).
inline result<dist::admission> wait_until_writable(runtime& rt, dist::distribution& d,
                                                   const node_name& peer,
                                                   const wait_if_busy& busy) {
  if (rt.in_node_thread()) return dist::admission::checked;
  const auto timeout = busy.timeout.count() > 0 ? busy.timeout : rt.default_call_timeout();
  if (auto r = d.wait_writable(peer, std::chrono::steady_clock::now() + timeout); !r) {
    return r.error();
  }
  return dist::admission::forced;
}

// send_local_term(rt, to, term) on a node without distribution: term (encoded) to the server
// instance to of this node, as an info message; nodedown for a pid of another node.
NODUS_DECL result<void> send_local_term(runtime& rt, const etf::pid& to,
                                        std::span<const std::byte> term);

// send_to_pid(rt, to, msg, busy): msg as a term to the process to
// (dist::distribution::send_erlang_pid); busy as cast_remote's.
template <class T>
result<void> send_to_pid(runtime& rt, const etf::pid& to, const T& msg, const wait_if_busy* busy) {
  static_assert(on_beam_message_v<T>,
                "nodus: a message sent to a pid must map to an Erlang term "
                "(nodus/codec/etf/typed.hpp)");
  auto* d = rt.dist();
  std::vector<std::byte> bytes;
  if (auto r = etf::encode(msg, bytes, etf::encode_options{false}); !r) return r.error();
  if (d == nullptr) return send_local_term(rt, to, bytes);
  dist::admission a = dist::admission::checked;
  if (busy != nullptr && to.node != d->erlang_pid().node) {
    auto peer = node_name::parse(to.node.str());
    if (peer) {
      auto w = wait_until_writable(rt, *d, *peer, *busy);
      if (!w) return w.error();
      a = *w;
    }
  }
  return d->send_erlang_pid(to, bytes, a);
}

// not_for_peer(peer, name, what) -> the error of a message whose types do not travel to peer's
// kind of node.
NODUS_DECL error not_for_peer(const node_name& peer, std::string_view name, bool beam_peer,
                              std::string_view type);

// call_remote<S>(rt, peer, msg, timeout, handler): calls S on peer, a nodus node or a BEAM node
// (gen_server:call's shape there); handler as call_local.
template <class S, class Req, class Handler>
void call_remote(runtime& rt, const node_name& peer, Req&& msg, std::chrono::milliseconds timeout,
                 Handler&& handler, std::string_view target) {
  using R = message_type_t<Req>;
  using P = reply_t<S, R>;
  if constexpr (!handles_call_v<S, R>) {
    return;  // reply_t has reported the undeclared call
  } else {
    constexpr bool native = on_native_v<R> && on_native_v<P>;
    constexpr bool beam = on_beam_message_v<R> && on_beam_message_v<P>;
    static_assert(native || beam,
                  "nodus: a remote call needs request and reply types that can be messages (see "
                  "nodus/message/reflect.hpp: trivially copyable or reflected structs) or Erlang "
                  "terms (nodus/codec/etf/typed.hpp)");
    const auto id = rt.next_call_id();
    call_ref<P> ref(make_call_op<P>(static_cast<Handler&&>(handler), rt.io().get_executor(), id,
                                    &rt.self(), S::name.view()));
    auto* d = rt.dist();
    if (d == nullptr) {
      ref->fail(error(errc::nodedown, format("{} is not distributed (no name)", rt.self())));
      return;
    }
    if (timeout < std::chrono::hours(24 * 365 * 100)) rt.timeouts().add(ref.get(), timeout);
    ref->add_ref();  // the distribution's reference, released through pending_reply::release
    dist::pending_reply pending{static_cast<call_op_base*>(ref.get()),
                                nullptr,
                                nullptr,
                                &fail_pending_op,
                                &release_pending_op,
                                &pending_op_done};
    if constexpr (native) {
      pending.complete = &complete_from_wire<P>;
    } else {
      pending.complete = &refuse_native_reply;
    }
    if constexpr (beam) pending.complete_term = &complete_from_term<P>;
    d->add_pending(id, peer, pending);
    if (ref->done()) return;  // peer is not connected: failed at once
    // to_beam(value): the peer is a BEAM node (the native send said protocol_mismatch).
    auto to_beam = [&](const R& value) -> result<void> {
      if constexpr (beam) {
        std::vector<std::byte> bytes;
        if (auto r = etf::encode(value, bytes, etf::encode_options{false}); !r) return r.error();
        auto r = d->call_erlang(peer, id, S::name.view(), bytes);
        if (!native && !r && r.error() == errc::protocol_mismatch) {
          return not_for_peer(peer, S::name.view(), false, type_name<R>());  // a nodus peer
        }
        return r;
      } else {
        return not_for_peer(peer, S::name.view(), true, type_name<R>());
      }
    };
    // target: a nodus peer's server by another name than S::name (a run-time name, a pid
    // target); a BEAM peer's is S::name.
    if (target.empty()) target = S::name.view();
    const auto set_header = [id, target](dist::frame_header& h, std::size_t n) {
      h.call(target, message_id_v<R>, id, n);
    };
    result<void> sent;
    if constexpr (!native) {
      sent = to_beam(message_ref(msg));  // a nodus peer refuses it: protocol_mismatch
    } else if constexpr (copied_message_v<R> && !is_message_pointer_v<Req>) {
      dist::frame_header h;
      h.call(target, message_id_v<R>, id, sizeof(R));
      sent = send_copied_message<R>(*d, peer, h, msg);
      if (!sent && sent.error() == errc::protocol_mismatch) sent = to_beam(msg);
    } else if constexpr (beam) {
      auto shared = to_shared_message(static_cast<Req&&>(msg));
      sent = send_encoded<R>(*d, peer, set_header, shared);  // shared stays for to_beam
      if (!sent && sent.error() == errc::protocol_mismatch) sent = to_beam(*shared);
    } else {
      sent = send_encoded<R>(*d, peer, set_header, to_shared_message(static_cast<Req&&>(msg)));
      if (!sent && sent.error() == errc::protocol_mismatch) {
        sent = not_for_peer(peer, S::name.view(), true, type_name<R>());
      }
    }
    if (!sent) d->fail_pending(id, sent.error());
  }
}

// cast_remote<S, Kind>(rt, peer, msg, busy): a cast (Kind = cast) or info (Kind = info) to S on
// peer. Errors: nodedown when peer is not connected; busy when the peer's send queue is at its
// limit (after waiting up to busy->timeout, given busy); delivery is not confirmed (as
// Erlang's cast).
template <class S, template <class> class Kind, class M>
result<void> cast_remote(runtime& rt, const node_name& peer, M&& msg, const wait_if_busy* busy,
                         std::string_view target) {
  using T = message_type_t<M>;
  constexpr bool native = on_native_v<T>;
  constexpr bool beam = on_beam_message_v<T>;
  static_assert(native || beam,
                "nodus: a message sent to another node must be a message type (see "
                "nodus/message/reflect.hpp: trivially copyable or a reflected struct) or an "
                "Erlang term (nodus/codec/etf/typed.hpp)");
  auto* d = rt.dist();
  if (d == nullptr) return error(errc::nodedown, format("{} is not distributed", rt.self()));
  constexpr auto kind = std::is_same_v<Kind<T>, cast<T>> ? frame_kind::cast : frame_kind::info;
  dist::admission a = dist::admission::checked;
  if (busy != nullptr) {
    auto w = wait_until_writable(rt, *d, peer, *busy);
    if (!w) return w.error();
    a = *w;
  }
  // to_beam(value): the peer is a BEAM node (the native send said protocol_mismatch).
  auto to_beam = [&](const T& value) -> result<void> {
    if constexpr (beam) {
      auto r = send_to_beam(*d, peer, S::name.view(), kind == frame_kind::cast, value, a);
      if (!native && !r && r.error() == errc::protocol_mismatch) {
        return not_for_peer(peer, S::name.view(), false, type_name<T>());  // a nodus peer
      }
      return r;
    } else {
      return not_for_peer(peer, S::name.view(), true, type_name<T>());
    }
  };
  if (target.empty()) target = S::name.view();  // as call_remote's
  const auto set_header = [target](dist::frame_header& h, std::size_t n) {
    h.message(kind, target, message_id_v<T>, n);
  };
  result<void> sent;
  if constexpr (!native) {
    return to_beam(message_ref(msg));  // a nodus peer refuses it: protocol_mismatch
  } else if constexpr (copied_message_v<T> && !is_message_pointer_v<M>) {
    dist::frame_header h;
    h.message(kind, target, message_id_v<T>, sizeof(T));
    sent = send_copied_message<T>(*d, peer, h, msg, a);
    if (!sent && sent.error() == errc::protocol_mismatch) return to_beam(msg);
  } else if constexpr (beam) {
    auto shared = to_shared_message(static_cast<M&&>(msg));
    sent = send_encoded<T>(*d, peer, set_header, shared, a);  // shared stays for to_beam
    if (!sent && sent.error() == errc::protocol_mismatch) return to_beam(*shared);
  } else {
    sent = send_encoded<T>(*d, peer, set_header, to_shared_message(static_cast<M&&>(msg)), a);
    if (!sent && sent.error() == errc::protocol_mismatch) {
      return not_for_peer(peer, S::name.view(), true, type_name<T>());
    }
  }
  return sent;
}

}  // namespace nodus::detail

#if defined(NODUS_HEADER_ONLY)
#include "nodus/process/impl/remote_ops.ipp"
#endif

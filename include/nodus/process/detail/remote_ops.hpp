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

#include "nodus/codec/codec.hpp"
#include "nodus/core/error.hpp"
#include "nodus/core/format.hpp"
#include "nodus/core/node_name.hpp"
#include "nodus/dist/distribution.hpp"
#include "nodus/dist/native_frame.hpp"
#include "nodus/message/message_id.hpp"
#include "nodus/message/reflect.hpp"
#include "nodus/process/detail/call_op.hpp"
#include "nodus/process/detail/runtime.hpp"
#include "nodus/process/interface.hpp"

namespace nodus::detail {

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
inline void fail_pending_op(void* op, const error& e) { static_cast<call_op_base*>(op)->fail(e); }
inline void release_pending_op(void* op) { static_cast<call_op_base*>(op)->release(); }
inline bool pending_op_done(void* op) { return static_cast<call_op_base*>(op)->done(); }

// An outgoing message frame: the header, the message (shared, never copied) and the gather list
// pointing into it; kept alive by the connection until written.
template <class M>
struct outgoing_message {
  dist::frame_header header;
  std::shared_ptr<const M> msg;
  codec::gather_list body;
};

// copied_message_v<M>: M goes out copied into the connection's run of small frames (no
// allocation per message) rather than gathered from a shared copy: a trivially copyable message
// whose frame stays under dist::copied_frame_max.
template <class M>
inline constexpr bool copied_message_v = std::is_trivially_copyable_v<M> &&
                                         sizeof(M) + dist::max_header_size
                                             <= dist::copied_frame_max;

// send_copied_message(d, peer, header, msg): the copied-frame path (one copy of the message's
// bytes into the connection's run, counted).
template <class M>
result<void> send_copied_message(dist::distribution& d, const node_name& peer,
                                 const dist::frame_header& h, const M& msg) {
  codec::detail::count_copy(sizeof(M));
  return d.send_copied(peer, h.view(), std::as_bytes(std::span<const M, 1>(&msg, 1)));
}

// send_encoded(d, peer, set_header, msg): encodes msg and queues one frame whose header
// set_header(header, payload length) fills.
template <class M, class SetHeader>
result<void> send_encoded(dist::distribution& d, const node_name& peer, SetHeader set_header,
                          std::shared_ptr<const M> msg) {
  auto o = std::make_shared<outgoing_message<M>>();
  o->msg = std::move(msg);
  codec::encode(*o->msg, o->body);
  set_header(o->header, o->body.size);
  constexpr std::size_t inline_parts = 8;
  if (o->body.parts.size() < inline_parts) {
    std::span<const std::byte> parts[inline_parts];
    parts[0] = o->header.view();
    std::size_t n = 1;
    for (const auto& part : o->body.parts) parts[n++] = part;
    return d.send(peer, std::span(parts, n), std::move(o));
  }
  std::vector<std::span<const std::byte>> parts;
  parts.reserve(o->body.parts.size() + 1);
  parts.push_back(o->header.view());
  for (const auto& part : o->body.parts) parts.push_back(part);
  return d.send(peer, parts, std::move(o));
}

// to_shared_message(msg) -> the message on the heap, shared by the send: moved, never serialized
// twice. Moving a trivially copyable message copies its bytes; that copy is counted. Send a
// std::shared_ptr<const M> (or unique_ptr) to avoid it.
template <class M>
std::shared_ptr<const std::remove_cvref_t<M>> to_shared_message(M&& m) {
  using T = std::remove_cvref_t<M>;
  if constexpr (std::is_trivially_copyable_v<T>) codec::detail::count_copy(sizeof(T));
  return std::make_shared<const T>(static_cast<M&&>(m));
}
template <class T>
std::shared_ptr<const T> to_shared_message(std::shared_ptr<const T> m) {
  return m;
}
template <class T>
std::shared_ptr<const T> to_shared_message(std::shared_ptr<T> m) {
  return m;
}
template <class T>
std::shared_ptr<const T> to_shared_message(std::unique_ptr<T> m) {
  return std::shared_ptr<const T>(std::move(m));
}

// message_value(msg) -> the message itself, for a local send of a message given by pointer.
template <class M>
decltype(auto) message_value(M&& m) {
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
  remote_reply_op(dist::distribution& d, const node_name& peer, std::uint64_t call_id,
                  std::string_view target)
      : call_op<Reply>(call_id, &peer_, target), d_(d), peer_(peer) {}

 private:
  void deliver(result<Reply>&& r) override {
    if (!r) {
      dist::send_reply_error(d_, peer_, this->id(), r.error());
      return;
    }
    if constexpr (copied_message_v<Reply>) {
      dist::frame_header h;
      h.reply(this->id(), sizeof(Reply));
      (void)send_copied_message<Reply>(d_, peer_, h, r.value());
    } else {
      const auto id = this->id();
      (void)send_encoded<Reply>(
          d_, peer_, [id](dist::frame_header& h, std::size_t n) { h.reply(id, n); },
          std::make_shared<const Reply>(std::move(r).value()));
    }
  }
  dist::distribution& d_;
  node_name peer_;
};

// call_remote<S>(rt, peer, msg, timeout, handler): calls S on peer; handler as call_local.
template <class S, class Req, class Handler>
void call_remote(runtime& rt, const node_name& peer, Req&& msg, std::chrono::milliseconds timeout,
                 Handler&& handler) {
  using R = message_type_t<Req>;
  using P = reply_t<S, R>;
  if constexpr (!handles_call_v<S, R>) {
    return;  // reply_t has reported the undeclared call
  } else {
    static_assert(is_message_v<R> && is_message_v<P>,
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
    ref->add_ref();  // the distribution's reference, released through pending_reply::release
    d->add_pending(
        id, peer,
        dist::pending_reply{static_cast<call_op_base*>(ref.get()), &complete_from_wire<P>,
                            &fail_pending_op, &release_pending_op, &pending_op_done});
    if (ref->done()) return;  // peer is not connected: failed at once
    result<void> sent;
    if constexpr (copied_message_v<R> && !is_message_pointer_v<Req>) {
      dist::frame_header h;
      h.call(S::name.view(), message_id_v<R>, id, sizeof(R));
      sent = send_copied_message<R>(*d, peer, h, msg);
    } else {
      sent = send_encoded<R>(
          *d, peer,
          [id](dist::frame_header& h, std::size_t n) {
            h.call(S::name.view(), message_id_v<R>, id, n);
          },
          to_shared_message(static_cast<Req&&>(msg)));
    }
    if (!sent) d->fail_pending(id, sent.error());
  }
}

// cast_remote<S, Kind>(rt, peer, msg): a cast (Kind = cast) or info (Kind = info) to S on peer.
// Errors: nodedown when peer is not connected; delivery is not confirmed (as Erlang's cast).
template <class S, template <class> class Kind, class M>
result<void> cast_remote(runtime& rt, const node_name& peer, M&& msg) {
  using T = message_type_t<M>;
  static_assert(is_message_v<T>,
                "nodus: a message sent to another node must be a message type (see "
                "nodus/message/reflect.hpp): trivially copyable or a reflected struct");
  auto* d = rt.dist();
  if (d == nullptr) return error(errc::nodedown, format("{} is not distributed", rt.self()));
  constexpr auto kind = std::is_same_v<Kind<T>, cast<T>> ? frame_kind::cast : frame_kind::info;
  if constexpr (copied_message_v<T> && !is_message_pointer_v<M>) {
    dist::frame_header h;
    h.message(kind, S::name.view(), message_id_v<T>, sizeof(T));
    return send_copied_message<T>(*d, peer, h, msg);
  } else {
    return send_encoded<T>(
        *d, peer,
        [](dist::frame_header& h, std::size_t n) {
          h.message(kind, S::name.view(), message_id_v<T>, n);
        },
        to_shared_message(static_cast<M&&>(msg)));
  }
}

}  // namespace nodus::detail

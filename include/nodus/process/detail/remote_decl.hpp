// nodus/process/detail/remote_decl.hpp: what a server and a node facade need to name calls,
// casts and sends to other nodes, without their definitions: the message helpers, wait_if_busy,
// and the declarations of the remote operations (process/detail/remote_ops.hpp) and of the
// deliveries from other nodes (process/detail/wire_delivery.hpp, term_delivery.hpp). A TU that
// uses them includes <nodus/remote.hpp> (or <nodus/nodus.hpp>, which does): a program of local
// servers (<nodus/node.hpp> alone) parses neither the Erlang term format nor the frame codecs.
#pragma once

#include <chrono>
#include <memory>
#include <string_view>
#include <type_traits>
#include <utility>

#include "nodus/codec/copy_stats.hpp"
#include "nodus/core/error.hpp"
#include "nodus/core/node_name.hpp"

namespace nodus::etf {
struct pid;
}  // namespace nodus::etf

namespace nodus {

// wait_if_busy{timeout}: given to a cast or send to another node, waits while the peer's send
// queue is at its busy limit (options::dist_buf_busy_limit), up to timeout (0: the node's
// call_timeout), instead of failing at once with errc::busy; errc::busy still when the queue has
// not drained by then, errc::nodedown when the peer goes down meanwhile. On a thread of the node
// (a handler) it does not wait, which would stall the node: the message fails with busy as
// without it.
struct wait_if_busy {
  std::chrono::milliseconds timeout{0};
};

}  // namespace nodus

namespace nodus::detail {

class runtime;

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

// message_ref(msg) -> the message itself, without a copy, for msg or a pointer to it.
template <class M>
const auto& message_ref(const M& m) {
  if constexpr (requires {
                  *m;
                  typename M::element_type;
                }) {
    return *m;
  } else {
    return m;
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

// The remote operations, defined by process/detail/remote_ops.hpp.
template <class S, class Req, class Handler>
void call_remote(runtime& rt, const node_name& peer, Req&& msg, std::chrono::milliseconds timeout,
                 Handler&& handler, std::string_view target = {});
template <class S, template <class> class Kind, class M>
result<void> cast_remote(runtime& rt, const node_name& peer, M&& msg,
                         const wait_if_busy* busy = nullptr, std::string_view target = {});
template <class T>
result<void> send_to_pid(runtime& rt, const etf::pid& to, const T& msg,
                         const wait_if_busy* busy = nullptr);

// The deliveries from other nodes, defined by process/detail/wire_delivery.hpp and
// term_delivery.hpp.
template <class S, class Protocol>
struct wire_delivery;
template <class S, class Protocol>
struct term_delivery;

// remote_ops_defined<T>: complete only where process/detail/remote_ops.hpp is included.
template <class T>
struct remote_ops_defined;

// require_remote_ops<T>(): a compile error with a sentence, rather than a link error, for a
// remote operation in a TU that did not include its definitions.
template <class T>
constexpr void require_remote_ops() noexcept {
  static_assert(
      requires { remote_ops_defined<T>::value; },
      "nodus: calls, casts and sends to other nodes (by node name or pid), a node whose "
      "Protocol is not empty, and self_pid() need <nodus/remote.hpp> (or "
      "<nodus/nodus.hpp>) in this file; <nodus/node.hpp> alone is for local servers");
}

// dependent_t<T, U>: U, named through T so that an expression of it waits for instantiation.
template <class T, class U>
using dependent_t = std::conditional_t<sizeof(T*) != 0, U, U>;

}  // namespace nodus::detail

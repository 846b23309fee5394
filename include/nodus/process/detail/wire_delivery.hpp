// nodus/process/detail/wire_delivery.hpp: messages from other nodes into a server's mailbox,
// generated per server type for the messages of the node's protocol only: a server on
// node<Topology, protocol<>> gets no decoder at all (nothing to compile), and one on a node whose
// protocol lists some of its messages gets decoders for those.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>

#include "nodus/codec/codec.hpp"
#include "nodus/codec/view.hpp"
#include "nodus/core/error.hpp"
#include "nodus/core/format.hpp"
#include "nodus/dist/distribution.hpp"
#include "nodus/process/detail/remote_ops.hpp"
#include "nodus/process/detail/runtime.hpp"
#include "nodus/process/interface.hpp"
#include "nodus/process/server.hpp"

namespace nodus::detail {

// on_wire_v<Entry, Protocol>: the entry's messages can come from another node: they are message
// types of the protocol (both request and reply for a call).
template <class Entry, class Protocol>
inline constexpr bool on_wire_v = false;
template <class R, class P, class Protocol>
inline constexpr bool on_wire_v<call<R, P>, Protocol> = is_message_v<R>&& is_message_v<P>&&
    Protocol::template contains<R>&& Protocol::template contains<P>;
template <class M, class Protocol>
inline constexpr bool on_wire_v<cast<M>, Protocol> =
    is_message_v<M>&& Protocol::template contains<M>;
template <class M, class Protocol>
inline constexpr bool on_wire_v<info<M>, Protocol> =
    is_message_v<M>&& Protocol::template contains<M>;

template <class List, class Protocol>
inline constexpr bool any_on_wire_v = false;
template <class... Es, class Protocol>
inline constexpr bool any_on_wire_v<entry_list<Es...>, Protocol> = (on_wire_v<Es, Protocol> || ...);

// wire_delivery<S, Protocol>: the decoder of S's messages from the wire.
template <class S, class Protocol>
struct wire_delivery {
  // pointer() -> the decoder for cell_base::set_wire_delivery, nullptr when none of S's messages
  // is in Protocol.
  static constexpr cell_base::wire_delivery pointer() noexcept {
    if constexpr (any_on_wire_v<typename S::nodus_interface, Protocol>) {
      return &deliver;
    } else {
      return nullptr;
    }
  }

  static result<void> deliver(cell_base& base, const dist::inbound_message& m) {
    auto& c = static_cast<cell<S>&>(base);
    std::optional<result<void>> r;
    [&]<class... Es>(entry_list<Es...>) {
      (void)(static_cast<bool>(r = try_entry(std::type_identity<Es>{}, c, m)) || ...);
    }(typename S::nodus_interface{});
    if (r) return *r;
    return error(errc::protocol_mismatch,
                 format("'{}' on {} takes no {} with message id {}", c.name(), c.rt().self(),
                        m.kind == frame_kind::call   ? "call"
                        : m.kind == frame_kind::cast ? "cast"
                                                     : "info",
                        m.message_id));
  }

 private:
  // receive<Entry, M>(m) -> the message as its handler will take it: decoded, or left in its
  // frame.
  template <class Entry, class M>
  static result<msg_slot<M>> receive(const dist::inbound_message& m) {
    constexpr auto mode = wire_mode_of<S, Entry, M>();
    if constexpr (mode == wire_mode::owned) {
      auto d = codec::decode<M>(m.payload);
      if (!d) return d.error();
      return msg_slot<M>(store<M>(std::move(d).value()));
    } else {
      if (auto v = codec::validate<M>(m.payload); !v) return v.error();
      return msg_slot<M>(wire_bytes{m.payload, *m.keep});
    }
  }

  template <class E>
  static std::optional<result<void>> try_entry(std::type_identity<E>, cell<S>& c,
                                               const dist::inbound_message& m) {
    if constexpr (!on_wire_v<E, Protocol>) {
      return std::nullopt;
    } else {
      return try_on_wire(std::type_identity<E>{}, c, m);
    }
  }

  template <class R, class P>
  static std::optional<result<void>> try_on_wire(std::type_identity<call<R, P>>, cell<S>& c,
                                                 const dist::inbound_message& m) {
    if (m.kind != frame_kind::call || m.message_id != message_id_v<R>) return std::nullopt;
    auto* d = c.rt().dist();
    if (d == nullptr) return result<void>(error(errc::nodedown, "not distributed"));
    call_ref<P> ref(new remote_reply_op<P>(*d, *m.from, m.call_id, c.name()));
    auto slot = receive<call<R, P>, R>(m);
    if (!slot) {
      c.rt().log().error("call from {} to '{}' refused: {}", *m.from, c.name(),
                         slot.error().message());
      ref->fail(slot.error());
      return result<void>{};
    }
    envelope<call<R, P>> env{std::move(slot).value(), std::move(ref)};
    c.push_call(env);
    return result<void>{};
  }
  template <class M>
  static std::optional<result<void>> try_on_wire(std::type_identity<cast<M>>, cell<S>& c,
                                                 const dist::inbound_message& m) {
    return try_message<cast<M>, M>(frame_kind::cast, c, m);
  }
  template <class M>
  static std::optional<result<void>> try_on_wire(std::type_identity<info<M>>, cell<S>& c,
                                                 const dist::inbound_message& m) {
    return try_message<info<M>, M>(frame_kind::info, c, m);
  }
  template <class Entry, class M>
  static std::optional<result<void>> try_message(frame_kind kind, cell<S>& c,
                                                 const dist::inbound_message& m) {
    if (m.kind != kind || m.message_id != message_id_v<M>) return std::nullopt;
    auto slot = receive<Entry, M>(m);
    if (!slot) return result<void>(slot.error());
    envelope<Entry> env{std::move(slot).value()};
    return c.push_message(env);
  }
};

}  // namespace nodus::detail

// nodus/process/detail/term_delivery.hpp: messages from BEAM processes (Erlang, Elixir) into a
// server's mailbox, read as the server's own message types (codec/etf/typed.hpp), and the replies
// to their gen_server calls. Generated per server type for the messages of the node's protocol
// that travel as terms (etf::mappable_v): nothing for a server on node<Topology, protocol<>>.
//
// A BEAM process's gen_server:call(Name, Request) arrives as {'$gen_call', {Pid, Tag}, Request}
// (the distribution unwraps it, dist::erlang_inbound); the reply goes back to Pid as
// {Tag, Reply}, as gen_server:reply does. A call that fails (no handler takes Request, the
// handler crashed or answered an error) fails the caller the way a BEAM server's failure does:
// the monitor gen_server:call set on the server fires with the reason, and the server lives on.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "nodus/codec/etf/encode.hpp"
#include "nodus/codec/etf/typed.hpp"
#include "nodus/core/error.hpp"
#include "nodus/core/format.hpp"
#include "nodus/core/node_name.hpp"
#include "nodus/dist/distribution.hpp"
#include "nodus/dist/erlang_frame.hpp"
#include "nodus/message/type_name.hpp"
#include "nodus/process/detail/call_op.hpp"
#include "nodus/process/detail/runtime.hpp"
#include "nodus/process/interface.hpp"
#include "nodus/process/server.hpp"

namespace nodus::detail {

// on_beam_v<Entry, Protocol>: the entry's messages may come from a BEAM process: they are in the
// protocol and travel as terms (request and reply for a call).
template <class Entry, class Protocol>
inline constexpr bool on_beam_v = false;
template <class R, class P, class Protocol>
inline constexpr bool on_beam_v<call<R, P>, Protocol> = Protocol::template contains<R>&&
    Protocol::template contains<P>&& etf::mappable_v<R>&& etf::mappable_v<P>;
template <class M, class Protocol>
inline constexpr bool on_beam_v<cast<M>, Protocol> =
    Protocol::template contains<M>&& etf::mappable_v<M>;
template <class M, class Protocol>
inline constexpr bool on_beam_v<info<M>, Protocol> =
    Protocol::template contains<M>&& etf::mappable_v<M>;

template <class List, class Protocol>
inline constexpr bool any_on_beam_v = false;
template <class... Es, class Protocol>
inline constexpr bool any_on_beam_v<entry_list<Es...>, Protocol> = (on_beam_v<Es, Protocol> || ...);

// dist/erlang_frame.hpp: errc_atom(code), erlang_reason(e).
using dist::erlang_reason;
using dist::errc_atom;

// erlang_caller: where a BEAM process waits for a call's reply.
struct erlang_caller {
  node_name node;
  etf::pid pid;
  etf::term tag;
  std::optional<etf::reference> monitor;  // the caller's monitor of the server, when it set one
};

// format_erlang_from(out, c): c as gen_server's From, {Pid, Tag}.
NODUS_DECL void format_erlang_from(std::string& out, const erlang_caller& c);

// fail_erlang_call(d, c, server, e): the caller's monitor of server fires with e's reason (as
// when a BEAM server dies during a call); without a monitor the caller is left to its timeout,
// which is logged.
NODUS_DECL void fail_erlang_call(dist::distribution& d, logger& log, const erlang_caller& c,
                                 std::string_view server, const error& e);

// The caller an erlang_reply_op answers: a base, so that it is built before call_op, which
// keeps the address of its node.
struct erlang_caller_holder {
  erlang_caller c_;
};

// A call op that answers a BEAM caller.
template <class Reply>
class erlang_reply_op final : private erlang_caller_holder, public call_op<Reply> {
 public:
  erlang_reply_op(dist::distribution& d, logger& log, erlang_caller c, std::string_view target)
      : erlang_caller_holder{std::move(c)}, call_op<Reply>(0, &c_.node, target), d_(d), log_(log) {}

  void format_from(std::string& out) const override { format_erlang_from(out, c_); }

 private:
  void deliver(result<Reply>&& r) override {
    if (!r) {
      fail_erlang_call(d_, log_, c_, this->target(), r.error());
      return;
    }
    // {2, '', Pid}, then {Tag, Reply}: the reply as gen_server:reply sends it (after the
    // distribution header: no version bytes).
    auto frame = dist::erlang_frame_bytes(dist::send_control(c_.pid), nullptr);
    if (frame) {
      etf::detail::writer w(*frame);
      etf::detail::put_tuple_header(w, 2);
      etf::detail::put_term(w, c_.tag);
      if (auto ok = w.finish(); !ok) frame = ok.error();
    }
    if (frame) {
      if (auto ok = etf::encode(r.value(), *frame, etf::encode_options{false}); !ok) {
        frame = ok.error();
      }
    }
    if (!frame) {
      fail_erlang_call(d_, log_, c_, this->target(), frame.error());
      return;
    }
    (void)d_.send_erlang(c_.node, std::move(frame).value(), dist::admission::forced);
  }

  dist::distribution& d_;
  logger& log_;
};

// term_delivery<S, Protocol>: the reader of S's messages from BEAM processes.
template <class S, class Protocol>
struct term_delivery {
  // pointer() -> the reader for cell_base::set_term_delivery, nullptr when none of S's messages
  // can come from a BEAM process.
  static constexpr cell_base::term_delivery pointer() noexcept {
    if constexpr (any_on_beam_v<typename S::nodus_interface, Protocol>) {
      return &deliver;
    } else {
      return nullptr;
    }
  }

  static result<void> deliver(cell_base& base, const dist::erlang_inbound& m) {
    auto& c = static_cast<cell<S>&>(base);
    std::optional<result<void>> r;
    [&]<class... Es>(entry_list<Es...>) {
      (void)(static_cast<bool>(r = try_entry(std::type_identity<Es>{}, c, m)) || ...);
    }(typename S::nodus_interface{});
    if (r) return *r;
    std::string takes;  // the C++ types this kind of message can be read as
    [&]<class... Es>(entry_list<Es...>) {
      (add_accepted(std::type_identity<Es>{}, m.what, takes), ...);
    }(typename S::nodus_interface{});
    error e(
        errc::protocol_mismatch,
        format("'{}' on {} takes no {} {} (from BEAM nodes it reads {})", c.name(), c.rt().self(),
               m.what == dist::erlang_inbound::kind::call   ? "call"
               : m.what == dist::erlang_inbound::kind::cast ? "cast"
                                                            : "message",
               m.message->to_string(200), takes.empty() ? std::string("none") : takes));
    if (m.what == dist::erlang_inbound::kind::call) fail_call(c, m, e);
    return e;
  }

 private:
  static void fail_call(cell<S>& c, const dist::erlang_inbound& m, const error& e) {
    if (auto* d = c.rt().dist()) fail_erlang_call(*d, c.rt().log(), caller_of(m), c.name(), e);
  }
  static erlang_caller caller_of(const dist::erlang_inbound& m) {
    erlang_caller out{*m.from, *m.caller, *m.tag, std::nullopt};
    if (m.monitor != nullptr) out.monitor = *m.monitor;
    return out;
  }

  // add_accepted(entry, kind, out): appends the entry's message type when it is of that kind and
  // can come from a BEAM process.
  template <class E>
  static void add_accepted(std::type_identity<E>, dist::erlang_inbound::kind kind,
                           std::string& out) {
    if constexpr (on_beam_v<E, Protocol>) {
      std::string_view name;
      if constexpr (requires { typename E::request; }) {
        if (kind != dist::erlang_inbound::kind::call) return;
        name = type_name<typename E::request>();
      } else if constexpr (std::is_same_v<E, cast<typename E::message>>) {
        if (kind != dist::erlang_inbound::kind::cast) return;
        name = type_name<typename E::message>();
      } else {
        if (kind != dist::erlang_inbound::kind::info) return;
        name = type_name<typename E::message>();
      }
      if (!out.empty()) out += ", ";
      out += name;
    }
  }

  template <class E>
  static std::optional<result<void>> try_entry(std::type_identity<E>, cell<S>& c,
                                               const dist::erlang_inbound& m) {
    if constexpr (!on_beam_v<E, Protocol>) {
      return std::nullopt;
    } else {
      return try_on_beam(std::type_identity<E>{}, c, m);
    }
  }

  template <class R, class P>
  static std::optional<result<void>> try_on_beam(std::type_identity<call<R, P>>, cell<S>& c,
                                                 const dist::erlang_inbound& m) {
    if (m.what != dist::erlang_inbound::kind::call) return std::nullopt;
    auto request = etf::from_term<R>(*m.message);
    if (!request) return std::nullopt;  // perhaps another entry's request
    auto* d = c.rt().dist();
    if (d == nullptr) return result<void>(error(errc::nodedown, "not distributed"));
    call_ref<P> ref(new erlang_reply_op<P>(*d, c.rt().log(), caller_of(m), c.name()));
    envelope<call<R, P>> env{store<R>(std::move(request).value()), std::move(ref)};
    c.push_call(env);
    return result<void>{};
  }
  template <class M>
  static std::optional<result<void>> try_on_beam(std::type_identity<cast<M>>, cell<S>& c,
                                                 const dist::erlang_inbound& m) {
    return try_message<cast<M>, M>(dist::erlang_inbound::kind::cast, c, m);
  }
  template <class M>
  static std::optional<result<void>> try_on_beam(std::type_identity<info<M>>, cell<S>& c,
                                                 const dist::erlang_inbound& m) {
    return try_message<info<M>, M>(dist::erlang_inbound::kind::info, c, m);
  }
  template <class Entry, class M>
  static std::optional<result<void>> try_message(dist::erlang_inbound::kind kind, cell<S>& c,
                                                 const dist::erlang_inbound& m) {
    if (m.what != kind) return std::nullopt;
    auto message = etf::from_term<M>(*m.message);
    if (!message) return std::nullopt;
    envelope<Entry> env{store<M>(std::move(message).value())};
    return c.push_message(env);
  }
};

}  // namespace nodus::detail

#if defined(NODUS_HEADER_ONLY)
#include "nodus/process/impl/term_delivery.ipp"
#endif

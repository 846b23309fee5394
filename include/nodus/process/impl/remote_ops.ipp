// nodus/process/impl/remote_ops.ipp: the non-template part of process/detail/remote_ops.hpp
// (the outgoing frame of an encoded message; errors of messages whose types do not travel to a
// peer). Included by that header in header-only mode, by nodus/impl/src.hpp otherwise.
#pragma once

#include <span>
#include <string_view>

#include "nodus/codec/etf/decode.hpp"

#include "nodus/process/detail/remote_ops.hpp"

namespace nodus::detail {

NODUS_DECL std::shared_ptr<outgoing_message> make_outgoing(std::shared_ptr<const void> msg) {
  auto o = std::make_shared<outgoing_message>();
  o->msg = std::move(msg);
  return o;
}

NODUS_DECL result<void> send_outgoing(dist::distribution& d, const node_name& peer,
                                      std::shared_ptr<outgoing_message> o, dist::admission a) {
  constexpr std::size_t inline_parts = 8;
  if (o->body.parts.size() < inline_parts) {
    std::span<const std::byte> parts[inline_parts];
    parts[0] = o->header.view();
    std::size_t n = 1;
    for (const auto& part : o->body.parts) parts[n++] = part;
    return d.send(peer, std::span(parts, n), std::move(o), a);
  }
  std::vector<std::span<const std::byte>> parts;
  parts.reserve(o->body.parts.size() + 1);
  parts.push_back(o->header.view());
  for (const auto& part : o->body.parts) parts.push_back(part);
  return d.send(peer, parts, std::move(o), a);
}

NODUS_DECL error not_for_peer(const node_name& peer, std::string_view name, bool beam_peer,
                              std::string_view type) {
  if (beam_peer) {
    return error(errc::protocol_mismatch,
                 format("{} is a BEAM node and {} has no Erlang term mapping (see "
                        "nodus/codec/etf/typed.hpp); not sent to '{}'",
                        peer, type, name));
  }
  return error(errc::protocol_mismatch,
               format("{} is a nodus node and {} is not a message type (see "
                      "nodus/message/reflect.hpp); not sent to '{}'",
                      peer, type, name));
}

NODUS_DECL result<void> send_local_term(runtime& rt, const etf::pid& to,
                                        std::span<const std::byte> term) {
  if (to.node.str() != rt.self().str()) {
    return error(errc::nodedown, format("{} is not distributed", rt.self()));
  }
  const std::string_view name = to.id == 0 ? std::string_view{} : rt.name_of(to.id, to.serial);
  if (name.empty()) return {};  // an instance that ended takes nothing, as in Erlang
  auto message = etf::decode(term);
  if (!message) return message.error();
  dist::erlang_inbound m;
  m.target = name;
  m.from = &rt.self();
  m.message = &*message;
  return rt.deliver_term(m);
}

NODUS_DECL void refuse_native_reply(void* op, const dist::native_frame&, asio::io_context&) {
  static_cast<call_op_base*>(op)->fail(
      error(errc::protocol_mismatch, "a nodus node answered a call that only a BEAM node takes"));
}

}  // namespace nodus::detail

// nodus/dist/impl/erlang_frame.ipp: parsing and building the frames of a BEAM peer (see
// dist/erlang_frame.hpp). Included by that header in header-only mode, by nodus/impl/src.hpp
// otherwise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "nodus/core/format.hpp"
#include "nodus/dist/erlang_frame.hpp"

namespace nodus::dist {

namespace detail {
// arity_of(op) -> the control tuple's size for op; 0 for an operation nodus does not know.
constexpr std::size_t arity_of(std::int64_t op) noexcept {
  switch (op) {
    case 5: return 1;  // NODE_LINK
    case 1:
    case 2:
    case 4:
    case 7:
    case 22:
    case 24:
    case 26:
    case 33: return 3;
    case 3:
    case 6:
    case 8:
    case 12:
    case 19:
    case 20:
    case 23:
    case 25:
    case 27:
    case 28:
    case 34:
    case 35:
    case 36: return 4;
    case 13:
    case 16:
    case 18:
    case 21:
    case 31: return 5;
    case 29:
    case 32: return 6;
    case 30: return 7;
    default: return 0;
  }
}
}  // namespace detail

NODUS_DECL result<erlang_frame> parse_erlang_frame(std::span<const std::byte> f,
                                                   const erlang_limits& limits) {
  auto bad = [&](std::string what) {
    return error(errc::malformed_frame,
                 format("Erlang frame of {} bytes: {}", f.size(), std::move(what)));
  };
  if (f.empty()) return bad("empty");
  if (f[0] != pass_through) {
    return bad(
        format("type byte {} (a pass-through frame, 112, was expected: this node did not "
               "offer the distribution header)",
               std::to_integer<unsigned>(f[0])));
  }
  etf::decode_options o;
  o.max_depth = limits.max_depth;
  o.max_decompressed_size = limits.max_decompressed_size;
  auto control = etf::decode_prefix(f.subspan(1), o);
  if (!control) return bad(format("control message: {}", control.error().reason()));
  const auto* tuple = control->value.as_tuple();
  const std::int64_t* code =
      tuple != nullptr && !tuple->empty() ? (*tuple)[0].as_integer() : nullptr;
  if (code == nullptr) {
    return bad(format("control message {} is not a tuple starting with an operation",
                      control->value.to_string(200)));
  }
  const std::size_t arity = detail::arity_of(*code);
  if (arity == 0) return bad(format("unknown control operation {}", *code));
  if (tuple->size() != arity) {
    return bad(format("control message {} of operation {} has {} elements, not {}",
                      control->value.to_string(200), *code, tuple->size(), arity));
  }
  erlang_frame out;
  out.op = static_cast<erlang_op>(*code);
  const auto rest = f.subspan(1 + control->size);
  if (has_message(out.op)) {
    if (rest.empty()) return bad(format("operation {} without its message", *code));
    auto message = etf::decode(rest, o);
    if (!message) return bad(format("message: {}", message.error().reason()));
    out.message = std::move(message).value();
  } else if (!rest.empty()) {
    return bad(format("{} bytes after the control message of operation {}", rest.size(), *code));
  }
  out.control = std::move(control->value);
  return out;
}

NODUS_DECL result<std::vector<std::byte>> erlang_frame_bytes(const etf::term& control,
                                                             const etf::term* message) {
  std::vector<std::byte> out;
  out.push_back(pass_through);
  if (auto r = etf::encode(control, out); !r) return r.error();
  if (message != nullptr) {
    if (auto r = etf::encode(*message, out); !r) return r.error();
  }
  return out;
}

NODUS_DECL etf::term send_control(const etf::pid& to) {
  return etf::term::tuple(
      {etf::term(static_cast<int>(erlang_op::send)), etf::term(etf::atom()), etf::term(to)});
}

NODUS_DECL etf::term monitor_p_exit_control(const etf::term& from_proc, const etf::pid& to,
                                            const etf::reference& ref, const etf::term& reason) {
  return etf::term::tuple({etf::term(static_cast<int>(erlang_op::monitor_p_exit)), from_proc,
                           etf::term(to), etf::term(ref), reason});
}

NODUS_DECL etf::term exit_control(const etf::pid& from, const etf::pid& to,
                                  const etf::term& reason) {
  return etf::term::tuple(
      {etf::term(static_cast<int>(erlang_op::exit)), etf::term(from), etf::term(to), reason});
}

NODUS_DECL etf::term reg_send_control(const etf::pid& from, const etf::atom& to_name) {
  return etf::term::tuple({etf::term(static_cast<int>(erlang_op::reg_send)), etf::term(from),
                           etf::term(etf::atom()), etf::term(to_name)});
}

NODUS_DECL etf::term monitor_p_control(const etf::pid& from, const etf::term& to_proc,
                                       const etf::reference& ref) {
  return etf::term::tuple({etf::term(static_cast<int>(erlang_op::monitor_p)), etf::term(from),
                           to_proc, etf::term(ref)});
}

NODUS_DECL etf::term demonitor_p_control(const etf::pid& from, const etf::term& to_proc,
                                         const etf::reference& ref) {
  return etf::term::tuple({etf::term(static_cast<int>(erlang_op::demonitor_p)), etf::term(from),
                           to_proc, etf::term(ref)});
}

NODUS_DECL etf::term unlink_id_ack_control(const etf::term& id, const etf::pid& from,
                                           const etf::pid& to) {
  return etf::term::tuple(
      {etf::term(static_cast<int>(erlang_op::unlink_id_ack)), id, etf::term(from), etf::term(to)});
}

}  // namespace nodus::dist

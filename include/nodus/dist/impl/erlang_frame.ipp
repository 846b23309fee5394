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

#include "nodus/codec/etf/tags.hpp"
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

namespace detail {
inline error erlang_frame_error(std::size_t size, std::string what) {
  return error(errc::malformed_frame,
               format("Erlang frame of {} bytes: {}", size, std::move(what)));
}
inline std::uint64_t load_be64(std::span<const std::byte> b, std::size_t at) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | std::to_integer<std::uint64_t>(b[at + i]);
  return v;
}
}  // namespace detail

NODUS_DECL result<erlang_frame> erlang_reader::parse_body(std::span<const std::byte> body,
                                                          std::span<const etf::atom> refs,
                                                          std::size_t size) const {
  auto bad = [&](std::string what) { return detail::erlang_frame_error(size, std::move(what)); };
  etf::decode_options o;
  o.max_depth = limits_.max_depth;
  o.max_decompressed_size = limits_.max_decompressed_size;
  o.atom_cache = refs;
  auto control = etf::decode_prefix(body, o);
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
  const auto rest = body.subspan(control->size);
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

// The atom cache part of a distribution header (erl_ext_dist, "Normal Distribution Header"):
// NumberOfAtomCacheRefs, then, if not 0, NumberOfAtomCacheRefs/2+1 bytes of half-byte flags (for
// reference i: NewCacheEntryFlag 8 | SegmentIndex, in the low half of byte i/2 for an even i, the
// high half for an odd one; the half after the last reference's holds LongAtoms, 1), then each
// reference: InternalSegmentIndex, and for a new entry its length (2 bytes with LongAtoms, else
// 1) and its text, UTF-8 (DFLAG_UTF8_ATOMS is mandatory).
NODUS_DECL result<void> erlang_reader::read_header(std::span<const std::byte> f, std::size_t& at,
                                                   std::vector<etf::atom>& refs) {
  auto bad = [&](std::string what) {
    return detail::erlang_frame_error(f.size(), std::move(what));
  };
  refs.clear();
  if (at >= f.size()) return bad("distribution header without NumberOfAtomCacheRefs");
  const std::size_t n = std::to_integer<std::size_t>(f[at++]);
  if (n == 0) return {};
  const std::size_t flag_bytes = n / 2 + 1;
  if (f.size() - at < flag_bytes) {
    return bad(format("distribution header of {} atom cache references cut short in its flags", n));
  }
  const auto flags = f.subspan(at, flag_bytes);
  at += flag_bytes;
  auto half = [&](std::size_t i) {
    return (std::to_integer<unsigned>(flags[i / 2]) >> ((i % 2) * 4)) & 0xFu;
  };
  const bool long_atoms = (half(n) & 1u) != 0;
  if (!cache_) {
    cache_ = std::make_unique<etf::atom[]>(atom_cache_size);
    cached_.assign(atom_cache_size, false);
  }
  refs.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned flag = half(i);
    if (at >= f.size()) return bad(format("atom cache reference {} of {} cut short", i, n));
    const std::size_t entry = (flag & 7u) * 256 + std::to_integer<std::size_t>(f[at++]);
    if ((flag & 8u) == 0) {
      if (!cached_[entry]) {
        return bad(
            format("atom cache reference {} names entry {} (segment {}), which was never "
                   "set",
                   i, entry, flag & 7u));
      }
      refs.push_back(cache_[entry]);
      ++stats_.atom_cache_hits;
      continue;
    }
    const std::size_t len_size = long_atoms ? 2 : 1;
    if (f.size() - at < len_size) return bad(format("atom cache entry {} without its length", i));
    std::size_t len = std::to_integer<std::size_t>(f[at]);
    if (long_atoms) len = (len << 8) | std::to_integer<std::size_t>(f[at + 1]);
    at += len_size;
    if (f.size() - at < len) {
      return bad(format("atom cache entry {} of {} bytes, but {} are left", i, len, f.size() - at));
    }
    auto a = etf::atom::make(std::string_view(reinterpret_cast<const char*>(f.data() + at), len));
    if (!a) return bad(format("atom cache entry {}: {}", i, a.error().reason()));
    at += len;
    cache_[entry] = *a;
    cached_[entry] = true;
    ++stats_.atom_cache_sets;
    refs.push_back(std::move(a).value());
  }
  return {};
}

NODUS_DECL result<std::optional<erlang_frame>> erlang_reader::read(std::span<const std::byte> f) {
  auto bad = [&](std::string what) {
    return detail::erlang_frame_error(f.size(), std::move(what));
  };
  using out_type = std::optional<erlang_frame>;
  ++stats_.frames;
  if (f.empty()) return bad("empty");
  if (f[0] == pass_through_type) {
    auto fr = parse_body(f.subspan(1), {}, f.size());
    if (!fr) return fr.error();
    return out_type(std::move(fr).value());
  }
  if (f[0] != std::byte{etf::tag::version} || f.size() < 2) {
    return bad(
        format("starts with {}, neither a pass-through frame (112) nor a distribution "
               "header (131)",
               std::to_integer<unsigned>(f[0])));
  }
  const std::byte kind = f[1];
  std::size_t at = 2;
  if (kind == dist_header_tag) {
    if (auto h = read_header(f, at, refs_); !h) return h.error();
    auto fr = parse_body(f.subspan(at), refs_, f.size());
    if (!fr) return fr.error();
    return out_type(std::move(fr).value());
  }
  if (kind != dist_frag_header_tag && kind != dist_frag_cont_tag) {
    return bad(format("distribution header tag {} (68, 69 or 70 expected)",
                      std::to_integer<unsigned>(kind)));
  }
  if (f.size() < 18) return bad("fragment header cut short (SequenceId and FragmentId: 16 bytes)");
  const std::uint64_t seq = detail::load_be64(f, 2);
  const std::uint64_t frag = detail::load_be64(f, 10);
  at = 18;
  if (frag == 0) return bad(format("sequence {}: FragmentId 0 (fragments count down to 1)", seq));
  if (kind == dist_frag_header_tag) {
    if (sequences_.count(seq) != 0) {
      return bad(format("sequence {} started again before its last fragment", seq));
    }
    std::vector<etf::atom> refs;
    if (auto h = read_header(f, at, refs); !h) return h.error();
    if (frag == 1) {
      auto fr = parse_body(f.subspan(at), refs, f.size());
      if (!fr) return fr.error();
      return out_type(std::move(fr).value());
    }
    if (sequences_.size() >= limits_.max_sequences) {
      return bad(
          format("more than {} fragmented messages in progress at once", limits_.max_sequences));
    }
    const std::size_t rest = f.size() - at;
    if (rest > limits_.max_message_size - buffered_) {
      return bad(format("fragments held past the bound of {} bytes", limits_.max_message_size));
    }
    sequence s;
    s.bytes.assign(f.begin() + static_cast<std::ptrdiff_t>(at), f.end());
    s.refs = std::move(refs);
    s.next = frag - 1;
    buffered_ += rest;
    sequences_.emplace(seq, std::move(s));
    return out_type();
  }
  auto it = sequences_.find(seq);
  if (it == sequences_.end()) {
    return bad(format("fragment {} of sequence {}, which never started", frag, seq));
  }
  if (frag != it->second.next) {
    return bad(
        format("fragment {} of sequence {} where {} was expected", frag, seq, it->second.next));
  }
  const std::size_t rest = f.size() - at;
  if (rest > limits_.max_message_size - buffered_) {
    return bad(
        format("sequence {}: a message past the bound of {} bytes", seq, limits_.max_message_size));
  }
  it->second.bytes.insert(it->second.bytes.end(), f.begin() + static_cast<std::ptrdiff_t>(at),
                          f.end());
  buffered_ += rest;
  if (frag > 1) {
    it->second.next = frag - 1;
    return out_type();
  }
  sequence s = std::move(it->second);
  sequences_.erase(it);
  buffered_ -= s.bytes.size();
  ++stats_.fragmented;
  auto fr = parse_body(s.bytes, s.refs, s.bytes.size());
  if (!fr) return fr.error();
  return out_type(std::move(fr).value());
}

NODUS_DECL result<erlang_frame> parse_erlang_frame(std::span<const std::byte> f,
                                                   const erlang_limits& limits) {
  erlang_reader r(limits);
  auto fr = r.read(f);
  if (!fr) return fr.error();
  if (!*fr) return detail::erlang_frame_error(f.size(), "the first fragment of a message");
  return std::move(**fr);
}

NODUS_DECL result<std::vector<std::byte>> erlang_frame_bytes(const etf::term& control,
                                                             const etf::term* message,
                                                             erlang_framing framing) {
  const etf::encode_options o{framing == erlang_framing::pass_through};
  std::vector<std::byte> out(o.version_byte ? 1 : 3);
  if (o.version_byte) {
    out[0] = pass_through_type;
  } else {
    out[0] = std::byte{etf::tag::version};
    out[1] = dist_header_tag;
    out[2] = std::byte{0};
  }
  if (auto r = etf::encode(control, out, o); !r) return r.error();
  if (message != nullptr) {
    if (auto r = etf::encode(*message, out, o); !r) return r.error();
  }
  return out;
}

NODUS_DECL result<std::vector<std::byte>> as_pass_through(std::span<const std::byte> frame) {
  if (frame.size() < 4 || frame[0] != std::byte{etf::tag::version} || frame[1] != dist_header_tag ||
      frame[2] != std::byte{0}) {
    return detail::erlang_frame_error(frame.size(),
                                      "not a frame with a header of no atom cache reference");
  }
  const auto body = frame.subspan(3);
  auto control = etf::decode_prefix(body);
  if (!control) {
    return detail::erlang_frame_error(frame.size(),
                                      format("control message: {}", control.error().reason()));
  }
  std::vector<std::byte> out;
  out.reserve(frame.size() + 1);
  out.push_back(pass_through_type);
  out.push_back(std::byte{etf::tag::version});
  out.insert(out.end(), body.begin(), body.begin() + static_cast<std::ptrdiff_t>(control->size));
  if (control->size < body.size()) {
    out.push_back(std::byte{etf::tag::version});
    out.insert(out.end(), body.begin() + static_cast<std::ptrdiff_t>(control->size), body.end());
  }
  return out;
}

NODUS_DECL std::string_view errc_atom(errc code) noexcept {
  switch (code) {
    case errc::ok: return "normal";
    case errc::timeout: return "timeout";
    case errc::noproc: return "noproc";
    case errc::nodedown: return "nodedown";
    case errc::server_crashed: return "server_crashed";
    case errc::already_registered: return "already_registered";
    case errc::wrong_server_type: return "wrong_server_type";
    case errc::no_reply: return "no_reply";
    case errc::shutdown: return "shutdown";
    case errc::supervisor_gave_up: return "supervisor_gave_up";
    case errc::would_deadlock: return "would_deadlock";
    case errc::invalid_node_name: return "invalid_node_name";
    case errc::bad_cookie: return "bad_cookie";
    case errc::protocol_mismatch: return "bad_call";
    case errc::malformed_frame: return "malformed";
    case errc::frame_too_large: return "frame_too_large";
    case errc::not_connected: return "not_connected";
    case errc::init_failed: return "init_failed";
    case errc::not_running: return "not_running";
    case errc::mailbox_full: return "mailbox_full";
    case errc::busy: return "busy";
    case errc::tls_failed: return "tls_failed";
    case errc::max_children: return "max_children";
  }
  return "nodus_error";
}

NODUS_DECL etf::term erlang_reason(const error& e) {
  const std::string_view name = e.code().category() == error_category()
                                    ? errc_atom(static_cast<errc>(e.code().value()))
                                    : std::string_view("nodus_error");
  etf::term code{etf::atom(name)};
  if (e.reason().empty()) return code;
  return etf::term::tuple({std::move(code), etf::term::binary(e.message())});
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

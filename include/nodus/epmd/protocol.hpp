// nodus/epmd/protocol.hpp: the EPMD (Erlang Port Mapper Daemon) protocol as pure encode/decode
// functions: no I/O, every length bounded and checked.
//
// Source of every number below: the Erlang document erl_dist_protocol, section "EPMD Protocol"
// (erts/doc/guides/erl_dist_protocol.md), checked against erts/epmd/src/epmd_srv.c and against
// Debian's epmd of Erlang/OTP 25 on this machine. "The integers in all multibyte fields are in
// big-endian order." "Each request *_REQ is preceded by a 2 byte length field": Length:2 | Request.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nodus/core/error.hpp"
#include "nodus/epmd/port.hpp"

namespace nodus::epmd {

// A registered node as a NAMES answer lists it; name is the alive name, the part before '@'.
struct node_entry {
  std::string name;
  std::uint16_t port = 0;
  friend bool operator==(const node_entry&, const node_entry&) = default;
};

// Request codes (the first byte of a request, after the length) and response codes.
// erl_dist_protocol: ALIVE2_REQ (120), PORT_PLEASE2_REQ (122), NAMES_REQ (110), DUMP_REQ (100),
// KILL_REQ (107), STOP_REQ (115); ALIVE2_X_RESP (118), ALIVE2_RESP (121), PORT2_RESP (119).
enum class request_code : std::uint8_t {
  alive2 = 120,        // 'x'
  port_please2 = 122,  // 'z'
  names = 110,         // 'n'
  dump = 100,          // 'd'
  kill = 107,          // 'k'
  stop = 115,          // 's'
};
inline constexpr std::uint8_t alive2_x_resp = 118;  // 'v': Result:1 Creation:4
inline constexpr std::uint8_t alive2_resp = 121;    // 'y': Result:1 Creation:2 (before OTP 23)
inline constexpr std::uint8_t port2_resp = 119;     // 'w'

// NodeType: "77 = normal Erlang node, 72 = hidden node (C-node)"; Protocol: "0 = TCP/IPv4".
inline constexpr std::uint8_t node_type_normal = 77;
inline constexpr std::uint8_t node_type_hidden = 72;
inline constexpr std::uint8_t protocol_tcp = 0;
// Distribution versions: "The value in OTP 23 and later is 6" (HighestVersion); OTP 25 and later
// send 6 as LowestVersion too. A server answers ALIVE2_X_RESP when HighestVersion >= 6.
inline constexpr std::uint16_t dist_version = 6;

// Bounds. epmd reads a request into a 1024-byte buffer (INBUF_SIZE in epmd_int.h) and closes the
// connection on a longer one; names are at most 255 characters (epmd_srv.c checks 1..255).
inline constexpr std::size_t max_request_size = 1024;  // the Length field's largest value here
inline constexpr std::size_t max_name_size = 255;      // bytes of NodeName (UTF-8)
inline constexpr std::size_t max_extra_size = 512;     // bytes of Extra

// A node's registration: the body of ALIVE2_REQ, and of a successful PORT2_RESP.
struct node_info {
  std::uint16_t port = 0;  // the node's distribution listening port
  std::uint8_t node_type = node_type_normal;
  std::uint8_t protocol = protocol_tcp;
  std::uint16_t highest_version = dist_version;
  std::uint16_t lowest_version = dist_version;
  std::string name;   // the alive name, without '@host'
  std::string extra;  // opaque Extra bytes
  friend bool operator==(const node_info&, const node_info&) = default;
};

// The answer to ALIVE2_REQ: result 0 is success, anything else is a refusal (epmd sends 1).
struct alive2_response {
  std::uint8_t result = 0;
  std::uint32_t creation = 0;
  bool extended = true;  // ALIVE2_X_RESP (32-bit creation) rather than ALIVE2_RESP (16-bit)
  friend bool operator==(const alive2_response&, const alive2_response&) = default;
};

// The answer to PORT_PLEASE2_REQ: result 0 and the node, or result > 0 ("not registered").
struct port2_response {
  std::uint8_t result = 0;
  node_info node;  // meaningful when result == 0
};

// The answer to NAMES_REQ: EPMDPortNo:4 then one line "name N at port P\n" per node.
struct names_response {
  std::uint32_t epmd_port = 0;
  std::vector<node_entry> nodes;
};

using bytes = std::vector<std::uint8_t>;

namespace detail {

inline void put16(bytes& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}
inline void put32(bytes& out, std::uint32_t v) {
  put16(out, static_cast<std::uint16_t>(v >> 16));
  put16(out, static_cast<std::uint16_t>(v));
}
inline std::uint16_t get16(std::span<const std::uint8_t> in, std::size_t at) {
  return static_cast<std::uint16_t>((in[at] << 8) | in[at + 1]);
}
inline std::uint32_t get32(std::span<const std::uint8_t> in, std::size_t at) {
  return (std::uint32_t{get16(in, at)} << 16) | get16(in, at + 2);
}
inline void put_text(bytes& out, std::string_view s) { out.insert(out.end(), s.begin(), s.end()); }
inline std::string_view as_text(std::span<const std::uint8_t> in) {
  return {reinterpret_cast<const char*>(in.data()), in.size()};
}

// valid_utf8(s) -> s is well-formed UTF-8 (no overlong forms, no surrogates, <= U+10FFFF).
[[nodiscard]] inline bool valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0Fu;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07u;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // the continuation bytes i+1..i+n are missing
    for (std::size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3Fu);
    }
    static constexpr std::uint32_t min_cp[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

// check_name(name, what) -> ok when name is 1..max_name_size bytes of UTF-8 without NUL.
[[nodiscard]] inline result<void> check_name(std::string_view name, std::string_view what) {
  if (name.empty() || name.size() > max_name_size) {
    return nodus::error(errc::malformed_frame, std::string(what) +
                                                   ": a node name must have 1 to 255 bytes, not " +
                                                   std::to_string(name.size()));
  }
  if (name.find('\0') != std::string_view::npos || !valid_utf8(name)) {
    return nodus::error(errc::malformed_frame,
                        std::string(what) + ": the node name is not UTF-8 text without NUL");
  }
  return {};
}

inline nodus::error malformed(std::string reason) {
  return {errc::malformed_frame, std::move(reason)};
}

// Wraps a request body in its 2-byte big-endian length.
inline bytes framed(const bytes& body) {
  bytes out;
  out.reserve(body.size() + 2);
  put16(out, static_cast<std::uint16_t>(body.size()));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

}  // namespace detail

// ---- requests ---------------------------------------------------------------------------------

// encode_alive2_request(node) -> Length:2 | 120 PortNo:2 NodeType:1 Protocol:1 HighestVersion:2
// LowestVersion:2 Nlen:2 NodeName Elen:2 Extra. errc::malformed_frame for a bad name or an
// Extra longer than max_extra_size.
[[nodiscard]] inline result<bytes> encode_alive2_request(const node_info& node) {
  if (auto ok = detail::check_name(node.name, "ALIVE2_REQ"); !ok) return ok.error();
  if (node.extra.size() > max_extra_size) {
    return detail::malformed("ALIVE2_REQ: Extra is longer than 512 bytes");
  }
  bytes body;
  body.reserve(13 + node.name.size() + node.extra.size());
  body.push_back(static_cast<std::uint8_t>(request_code::alive2));
  detail::put16(body, node.port);
  body.push_back(node.node_type);
  body.push_back(node.protocol);
  detail::put16(body, node.highest_version);
  detail::put16(body, node.lowest_version);
  detail::put16(body, static_cast<std::uint16_t>(node.name.size()));
  detail::put_text(body, node.name);
  detail::put16(body, static_cast<std::uint16_t>(node.extra.size()));
  detail::put_text(body, node.extra);
  return detail::framed(body);
}

// encode_port_please2_request(name) -> Length:2 | 122 NodeName ("N = Length - 1").
[[nodiscard]] inline result<bytes> encode_port_please2_request(std::string_view name) {
  if (auto ok = detail::check_name(name, "PORT_PLEASE2_REQ"); !ok) return ok.error();
  bytes body;
  body.push_back(static_cast<std::uint8_t>(request_code::port_please2));
  detail::put_text(body, name);
  return detail::framed(body);
}

// encode_request(code) -> Length:2 | code, for the requests without arguments (NAMES, DUMP, KILL).
[[nodiscard]] inline bytes encode_request(request_code code) {
  return bytes{0, 1, static_cast<std::uint8_t>(code)};
}

// request_length(header) -> the Length field of a request: errc::malformed_frame when it is 0,
// errc::frame_too_large above max_request_size.
[[nodiscard]] inline result<std::size_t> request_length(std::span<const std::uint8_t, 2> header) {
  const std::size_t n = detail::get16(header, 0);
  if (n == 0) return detail::malformed("EPMD request of length 0");
  if (n > max_request_size) {
    return nodus::error(errc::frame_too_large,
                        "EPMD request of " + std::to_string(n) + " bytes (at most 1024 accepted)");
  }
  return n;
}

// decode_alive2_request(body) -> the node; body is the request without its length, starting with
// 120. errc::malformed_frame when a field is truncated, a length overruns, bytes trail, or the name
// is not 1..255 bytes of UTF-8 without NUL.
[[nodiscard]] inline result<node_info> decode_alive2_request(std::span<const std::uint8_t> body) {
  // Fixed part: code 1, PortNo 2, NodeType 1, Protocol 1, Highest 2, Lowest 2, Nlen 2 = 11 bytes,
  // then NodeName, Elen 2, Extra.
  if (body.size() < 13 || body[0] != static_cast<std::uint8_t>(request_code::alive2)) {
    return detail::malformed("ALIVE2_REQ: shorter than its fixed fields");
  }
  node_info node;
  node.port = detail::get16(body, 1);
  node.node_type = body[3];
  node.protocol = body[4];
  node.highest_version = detail::get16(body, 5);
  node.lowest_version = detail::get16(body, 7);
  const std::size_t nlen = detail::get16(body, 9);
  if (11 + nlen + 2 > body.size()) return detail::malformed("ALIVE2_REQ: Nlen overruns");
  const std::size_t elen = detail::get16(body, 11 + nlen);
  if (11 + nlen + 2 + elen != body.size()) {
    return detail::malformed("ALIVE2_REQ: Elen does not match the request length");
  }
  if (elen > max_extra_size) return detail::malformed("ALIVE2_REQ: Extra longer than 512 bytes");
  node.name = detail::as_text(body.subspan(11, nlen));
  if (auto ok = detail::check_name(node.name, "ALIVE2_REQ"); !ok) return ok.error();
  node.extra = detail::as_text(body.subspan(13 + nlen, elen));
  return node;
}

// decode_port_please2_request(body) -> the name asked for (body starts with 122). One trailing NUL
// is ignored, as epmd does. errc::malformed_frame for an empty, overlong or non-UTF-8 name.
[[nodiscard]] inline result<std::string> decode_port_please2_request(
    std::span<const std::uint8_t> body) {
  if (body.empty() || body[0] != static_cast<std::uint8_t>(request_code::port_please2)) {
    return detail::malformed("PORT_PLEASE2_REQ: wrong code");
  }
  auto name = detail::as_text(body.subspan(1));
  if (!name.empty() && name.back() == '\0') name.remove_suffix(1);
  if (auto ok = detail::check_name(name, "PORT_PLEASE2_REQ"); !ok) return ok.error();
  return std::string(name);
}

// ---- responses --------------------------------------------------------------------------------

// encode_alive2_response(r) -> 118 Result:1 Creation:4 (r.extended) or 121 Result:1 Creation:2
// (the low 16 bits of creation). Responses carry no length prefix.
[[nodiscard]] inline bytes encode_alive2_response(const alive2_response& r) {
  bytes out;
  out.push_back(r.extended ? alive2_x_resp : alive2_resp);
  out.push_back(r.result);
  if (r.extended) {
    detail::put32(out, r.creation);
  } else {
    detail::put16(out, static_cast<std::uint16_t>(r.creation));
  }
  return out;
}

// alive2_response_size(first_byte) -> the whole response's size for a response starting with that
// byte (6 for ALIVE2_X_RESP, 4 for ALIVE2_RESP), 0 when it is neither.
[[nodiscard]] constexpr std::size_t alive2_response_size(std::uint8_t first_byte) noexcept {
  return first_byte == alive2_x_resp ? 6 : first_byte == alive2_resp ? 4 : 0;
}

// decode_alive2_response(in) -> the response; in must be exactly one whole response.
[[nodiscard]] inline result<alive2_response> decode_alive2_response(
    std::span<const std::uint8_t> in) {
  if (in.empty() || alive2_response_size(in[0]) == 0) {
    return detail::malformed("not an ALIVE2 response (first byte is neither 118 nor 121)");
  }
  if (in.size() != alive2_response_size(in[0])) {
    return detail::malformed("ALIVE2 response of " + std::to_string(in.size()) + " bytes");
  }
  alive2_response r;
  r.extended = in[0] == alive2_x_resp;
  r.result = in[1];
  r.creation = r.extended ? detail::get32(in, 2) : detail::get16(in, 2);
  return r;
}

// encode_port2_response(node) -> 119 0 PortNo NodeType Protocol Highest Lowest Nlen NodeName Elen
// Extra; encode_port2_error() -> 119 1 ("If Result > 0, the packet only consists of [119,
// Result]").
[[nodiscard]] inline bytes encode_port2_response(const node_info& node) {
  bytes out;
  out.reserve(14 + node.name.size() + node.extra.size());
  out.push_back(port2_resp);
  out.push_back(0);
  detail::put16(out, node.port);
  out.push_back(node.node_type);
  out.push_back(node.protocol);
  detail::put16(out, node.highest_version);
  detail::put16(out, node.lowest_version);
  detail::put16(out, static_cast<std::uint16_t>(node.name.size()));
  detail::put_text(out, node.name);
  detail::put16(out, static_cast<std::uint16_t>(node.extra.size()));
  detail::put_text(out, node.extra);
  return out;
}
[[nodiscard]] inline bytes encode_port2_error() { return bytes{port2_resp, 1}; }

// decode_port2_response(in) -> the response; in is everything the server sent before closing.
// errc::malformed_frame when truncated, overrunning, or followed by other bytes.
[[nodiscard]] inline result<port2_response> decode_port2_response(
    std::span<const std::uint8_t> in) {
  if (in.size() < 2 || in[0] != port2_resp) {
    return detail::malformed("not a PORT2_RESP (first byte is not 119)");
  }
  port2_response r;
  r.result = in[1];
  if (r.result != 0) {
    if (in.size() != 2) return detail::malformed("PORT2_RESP error followed by other bytes");
    return r;
  }
  // 119 Result PortNo:2 NodeType Protocol Highest:2 Lowest:2 Nlen:2 = 12 bytes, then NodeName,
  // Elen:2, Extra.
  if (in.size() < 14) return detail::malformed("PORT2_RESP: shorter than its fixed fields");
  r.node.port = detail::get16(in, 2);
  r.node.node_type = in[4];
  r.node.protocol = in[5];
  r.node.highest_version = detail::get16(in, 6);
  r.node.lowest_version = detail::get16(in, 8);
  const std::size_t nlen = detail::get16(in, 10);
  if (12 + nlen + 2 > in.size()) return detail::malformed("PORT2_RESP: Nlen overruns");
  const std::size_t elen = detail::get16(in, 12 + nlen);
  if (12 + nlen + 2 + elen != in.size()) {
    return detail::malformed("PORT2_RESP: Elen does not match the bytes received");
  }
  r.node.name = detail::as_text(in.subspan(12, nlen));
  r.node.extra = detail::as_text(in.subspan(14 + nlen, elen));
  return r;
}

// encode_names_header(port) -> EPMDPortNo:4, the start of the answer to NAMES_REQ.
[[nodiscard]] inline bytes encode_names_header(std::uint32_t epmd_port) {
  bytes out;
  detail::put32(out, epmd_port);
  return out;
}

// names_line(entry) -> "name n1 at port 4501\n", io:format("name ~ts at port ~p~n", ...).
[[nodiscard]] inline std::string names_line(const node_entry& entry) {
  return "name " + entry.name + " at port " + std::to_string(entry.port) + "\n";
}

// decode_names_response(in) -> the port and the nodes; in is everything the server sent before
// closing. errc::malformed_frame for a line that is not "name N at port P\n" (the last one too).
[[nodiscard]] inline result<names_response> decode_names_response(
    std::span<const std::uint8_t> in) {
  if (in.size() < 4) return detail::malformed("NAMES response shorter than its 4-byte port");
  names_response r;
  r.epmd_port = detail::get32(in, 0);
  std::string_view rest = detail::as_text(in.subspan(4));
  constexpr std::string_view prefix = "name ";
  constexpr std::string_view middle = " at port ";
  while (!rest.empty()) {
    const auto nl = rest.find('\n');
    if (nl == std::string_view::npos) return detail::malformed("NAMES line without its newline");
    const std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl + 1);
    const auto at = line.rfind(middle);
    if (line.substr(0, prefix.size()) != prefix || at == std::string_view::npos ||
        at <= prefix.size()) {
      return detail::malformed("NAMES line not of the form 'name N at port P'");
    }
    const std::string_view digits = line.substr(at + middle.size());
    unsigned long port = 0;
    if (digits.empty() || digits.size() > 5) return detail::malformed("NAMES line: bad port");
    for (const char c : digits) {
      if (c < '0' || c > '9') return detail::malformed("NAMES line: bad port");
      port = port * 10 + static_cast<unsigned long>(c - '0');
    }
    if (port > 65535) return detail::malformed("NAMES line: port above 65535");
    r.nodes.push_back(node_entry{std::string(line.substr(prefix.size(), at - prefix.size())),
                                 static_cast<std::uint16_t>(port)});
  }
  return r;
}

}  // namespace nodus::epmd

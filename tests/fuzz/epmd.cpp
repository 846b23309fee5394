// libFuzzer harness: the port mapper protocol's decoders (epmd/protocol.hpp). The first input
// byte picks what the rest is: 0 a client's requests to the embedded port mapper, a stream of
// Length:2 | Request as server.hpp reads it (request_length, then the decoder of the request
// code); 1 an ALIVE2 response (read as client.hpp does: its size from its first byte), 2 a
// PORT2_RESP and 3 a NAMES response, each the whole answer a client reads from a port mapper. What
// decodes encodes to the same bytes (a NAMES answer: to one that decodes to the same nodes).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

#include <nodus/epmd/protocol.hpp>

namespace epmd = nodus::epmd;

namespace {

void same(const epmd::bytes& a, std::span<const std::uint8_t> b) {
  if (!std::equal(a.begin(), a.end(), b.begin(), b.end())) std::abort();
}

void requests(std::span<const std::uint8_t> in) {
  while (in.size() >= 2) {
    const auto n = epmd::request_length(std::span<const std::uint8_t, 2>(in.data(), 2));
    if (!n) return;  // the server closes the connection
    if (*n > epmd::max_request_size || in.size() - 2 < *n) return;
    const auto framed = in.first(2 + *n);
    const auto body = framed.subspan(2);
    in = in.subspan(2 + *n);
    switch (static_cast<epmd::request_code>(body[0])) {
      case epmd::request_code::alive2:
        if (auto node = epmd::decode_alive2_request(body)) {
          auto again = epmd::encode_alive2_request(*node);
          if (!again) std::abort();
          same(*again, framed);
        }
        break;
      case epmd::request_code::port_please2:
        if (auto name = epmd::decode_port_please2_request(body)) {
          auto again = epmd::encode_port_please2_request(*name);
          if (!again) std::abort();
          // One trailing NUL is dropped by the decoder.
          if (again->size() != framed.size() && again->size() + 1 != framed.size()) std::abort();
          if (!std::equal(again->begin() + 2, again->end(), framed.begin() + 2)) std::abort();
        }
        break;
      default: break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::span<const std::uint8_t> in(data + 1, size - 1);
  switch (data[0] & 3) {
    case 0: requests(in); break;
    case 1:
      // As the client reads it: the first byte tells the size; and the whole input as one answer.
      if (!in.empty()) {
        const std::size_t n = epmd::alive2_response_size(in[0]);
        if (n != 0 && in.size() >= n) {
          auto r = epmd::decode_alive2_response(in.first(n));
          if (!r) std::abort();
          same(epmd::encode_alive2_response(*r), in.first(n));
        }
      }
      if (auto r = epmd::decode_alive2_response(in)) same(epmd::encode_alive2_response(*r), in);
      break;
    case 2:
      if (auto r = epmd::decode_port2_response(in)) {
        same(r->result == 0 ? epmd::encode_port2_response(r->node) : epmd::bytes{in[0], in[1]}, in);
      }
      break;
    case 3:
      if (auto r = epmd::decode_names_response(in)) {
        epmd::bytes again = epmd::encode_names_header(r->epmd_port);
        for (const auto& e : r->nodes) {
          const auto line = epmd::names_line(e);
          again.insert(again.end(), line.begin(), line.end());
        }
        auto back = epmd::decode_names_response(again);
        if (!back || back->epmd_port != r->epmd_port || back->nodes != r->nodes) std::abort();
      }
      break;
  }
  return 0;
}

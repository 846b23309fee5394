// libFuzzer harness: the native codec's check and decode (codec/codec.hpp, codec/view.hpp) of a
// message with every kind of member a protocol type may have: numbers and bools, strings and
// atoms, a pid, vectors of trivial and non-trivial elements, arrays, nested structs. The bytes
// are copied to a 16-aligned buffer, as the transport delivers a payload. A message that checks
// decodes and reads through a view the same; one that does not is refused by both.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <vector>

#include <nodus/codec/codec.hpp>
#include <nodus/codec/etf/term.hpp>
#include <nodus/codec/view.hpp>

#include "message.hpp"

using fuzz::everything;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::unique_ptr<std::byte[], void (*)(std::byte*)> buf(
      new (std::align_val_t{16}) std::byte[size + 1],
      [](std::byte* p) { ::operator delete[](p, std::align_val_t{16}); });
  if (size != 0) std::memcpy(buf.get(), data, size);
  const std::span<const std::byte> bytes(buf.get(), size);
  auto m = nodus::codec::decode<everything>(bytes);
  auto v = nodus::codec::make_view<everything>(bytes);
  if (m.has_value() != v.has_value()) std::abort();
  if (!m) return 0;
  if (v->get<"text">() != m->text || v->get<"topic">() != m->topic.str()) std::abort();
  // What decodes encodes to the same bytes (padding is checked to be zero).
  nodus::codec::gather_list out;
  nodus::codec::encode(*m, out);
  if (out.size != size) std::abort();
  std::size_t at = 0;
  for (const auto& part : out.parts) {
    if (std::memcmp(part.data(), data + at, part.size()) != 0) std::abort();
    at += part.size();
  }
  return 0;
}

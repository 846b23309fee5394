// libFuzzer harness: etf::decode, the Erlang external term format from a BEAM peer
// (codec/etf/decode.hpp). Whatever the bytes, decode returns a term or an error; a term it returns
// encodes, and that encoding decodes to an equal term.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include <nodus/codec/etf/decode.hpp>
#include <nodus/codec/etf/encode.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  nodus::etf::decode_options o;
  o.max_decompressed_size = std::size_t{1} << 20;  // a fuzzer's memory, not a peer's
  auto t = nodus::etf::decode(bytes, o);
  if (!t) return 0;
  std::vector<std::byte> again;
  if (!nodus::etf::encode(*t, again)) return 0;  // e.g. an opaque fun kept as bytes
  auto back = nodus::etf::decode(again, o);
  if (!back || !(*back == *t)) std::abort();
  (void)t->to_string(256);
  return 0;
}

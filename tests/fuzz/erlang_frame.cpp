// libFuzzer harness: dist::erlang_reader, the frames of one BEAM connection (distribution
// header, atom cache, fragments, pass-through). The input is a sequence of frames, each a 2-byte
// big-endian length and its bytes, read in order by one reader as a connection would; the
// first error ends the connection, as it does in the node.
#include <cstddef>
#include <cstdint>
#include <span>

#include <nodus/dist/erlang_frame.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  nodus::dist::erlang_limits limits;
  limits.max_message_size = std::size_t{1} << 20;
  limits.max_decompressed_size = std::size_t{1} << 20;
  limits.max_sequences = 16;
  nodus::dist::erlang_reader reader(limits);
  std::size_t at = 0;
  while (at + 2 <= size) {
    const std::size_t n = (std::size_t{data[at]} << 8) | data[at + 1];
    at += 2;
    if (n > size - at) break;
    const std::span<const std::byte> frame(reinterpret_cast<const std::byte*>(data + at), n);
    at += n;
    auto r = reader.read(frame);
    if (!r) break;
    if (*r) (void)(*r)->control.to_string(128);
  }
  // One frame on its own, too.
  (void)nodus::dist::parse_erlang_frame(
      std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size), limits);
  return 0;
}

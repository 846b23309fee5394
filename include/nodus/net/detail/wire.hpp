// nodus/net/detail/wire.hpp: bounds-checked big-endian reading and writing of handshake fields.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace nodus::net::detail {

// "The integers in all multibyte fields are in big-endian order." (erl_dist_protocol, intro)

// Reads fields from a byte span front to back; every read checks the remaining size first and
// leaves the reader unchanged when it fails.
class byte_reader {
 public:
  explicit byte_reader(std::span<const std::byte> bytes) noexcept : bytes_(bytes) {}

  [[nodiscard]] std::size_t remaining() const noexcept { return bytes_.size() - pos_; }
  [[nodiscard]] std::size_t position() const noexcept { return pos_; }

  // read_u8/u16/u32/u64(v) -> false (and v unchanged) when fewer bytes remain than needed.
  [[nodiscard]] bool read_u8(std::uint8_t& v) noexcept { return read_uint(v); }
  [[nodiscard]] bool read_u16(std::uint16_t& v) noexcept { return read_uint(v); }
  [[nodiscard]] bool read_u32(std::uint32_t& v) noexcept { return read_uint(v); }
  [[nodiscard]] bool read_u64(std::uint64_t& v) noexcept { return read_uint(v); }

  // read_bytes(n, out) -> false when fewer than n bytes remain; else out views the next n bytes.
  [[nodiscard]] bool read_bytes(std::size_t n, std::span<const std::byte>& out) noexcept {
    if (n > remaining()) return false;
    out = bytes_.subspan(pos_, n);
    pos_ += n;
    return true;
  }

  // rest() -> the bytes not read yet (does not consume them).
  [[nodiscard]] std::span<const std::byte> rest() const noexcept { return bytes_.subspan(pos_); }

 private:
  template <class U>
  [[nodiscard]] bool read_uint(U& v) noexcept {
    if (sizeof(U) > remaining()) return false;
    U r = 0;
    for (std::size_t i = 0; i < sizeof(U); ++i) {
      r = static_cast<U>((r << 8) |
                         static_cast<U>(std::to_integer<std::uint8_t>(bytes_[pos_ + i])));
    }
    pos_ += sizeof(U);
    v = r;
    return true;
  }

  std::span<const std::byte> bytes_;
  std::size_t pos_ = 0;
};

// put_uint<U>(out, v): appends v big-endian (sizeof(U) bytes).
template <class U>
void put_uint(std::vector<std::byte>& out, U v) {
  for (std::size_t i = sizeof(U); i-- > 0;) {
    out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xff));
  }
}

inline void put_u8(std::vector<std::byte>& out, std::uint8_t v) { put_uint(out, v); }
inline void put_u16(std::vector<std::byte>& out, std::uint16_t v) { put_uint(out, v); }
inline void put_u32(std::vector<std::byte>& out, std::uint32_t v) { put_uint(out, v); }
inline void put_u64(std::vector<std::byte>& out, std::uint64_t v) { put_uint(out, v); }

// put_text(out, text): appends the bytes of text.
inline void put_text(std::vector<std::byte>& out, std::string_view text) {
  for (const char c : text) out.push_back(static_cast<std::byte>(c));
}

// put_bytes(out, bytes): appends bytes.
inline void put_bytes(std::vector<std::byte>& out, std::span<const std::byte> bytes) {
  out.insert(out.end(), bytes.begin(), bytes.end());
}

// as_text(bytes) -> the bytes viewed as characters.
[[nodiscard]] inline std::string_view as_text(std::span<const std::byte> bytes) noexcept {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace nodus::net::detail

// nodus/codec/codec.hpp: zero-copy encoding of messages into gather lists, and checked decoding.
//
// Wire format (DESIGN section 4), little-endian. A message's encoding starts at an offset aligned
// to 16 bytes (on the receiver the transport puts it at a 16-aligned address); every alignment
// below counts from that start, and padding bytes are zero.
//   - A trivially copyable message: exactly its sizeof bytes (its object representation).
//   - A reflected struct that is not trivially copyable: its members in declaration order, each
//     as follows, with no padding at the end:
//       trivially copyable M (arithmetic, enum, bool, trivially copyable struct, arrays of them):
//         pad to alignof(M), then its sizeof bytes;
//       std::string: pad to 8, u64 length, the chars (no terminator);
//       std::vector<E>, E trivially copyable: pad to 8, u64 count, pad to alignof(E), the
//         elements' bytes;
//       std::vector<E>, other E: pad to 8, u64 count, then each element by these rules;
//       std::array / C array of elements that are not trivially copyable: each element;
//       a nested reflected struct that is not trivially copyable: its members by these rules.
// Bools the codec can see (bool, arrays of bool, members of reflected trivially copyable structs)
// must hold 0 or 1; bools inside other trivially copyable types travel unchecked, as do enum
// values.
#pragma once

#include <cstddef>
#include <new>
#include <span>
#include <type_traits>

#include <nodus/codec/copy_stats.hpp>
#include <nodus/codec/detail/layout.hpp>
#include <nodus/codec/detail/walk.hpp>
#include <nodus/codec/gather_list.hpp>
#include <nodus/core/error.hpp>
#include <nodus/message/reflect.hpp>
#include <nodus/message/type_name.hpp>

namespace nodus::codec {

// encode(msg, out): appends the pieces of msg to out, aligned from where msg's encoding starts
// (out.size at the call, which the caller keeps at a multiple of 16). Copies no payload: the
// pieces point into msg, which must stay alive and unchanged while out is in use.
template <class T>
void encode(const T& msg, gather_list& out) {
  if constexpr (detail::codec_check<T>::ok) {
    detail::gather_sink sink{out, out.size};
    detail::put(msg, sink);
  }
}

// encode(temporary, out) is an error: the pieces would point into a destroyed message.
template <class T>
void encode(const T&& msg, gather_list& out) = delete;

// encoded_size(msg) -> the number of bytes encode(msg, ...) appends.
template <class T>
[[nodiscard]] std::size_t encoded_size(const T& msg) {
  detail::size_sink sink;
  if constexpr (detail::codec_check<T>::ok) detail::put(msg, sink);
  return sink.size;
}

namespace detail {

template <class T>
[[nodiscard]] nodus::error malformed(const reader& r) {
  return {errc::malformed_frame, describe_fault(r, type_name<T>())};
}

// read_message<T>(data) -> T decoded from bytes that check_message<T> accepted, built in place.
template <class T>
[[nodiscard]] result<T> read_message(const std::byte* data) {
  if constexpr (std::is_default_constructible_v<T>) {
    result<T> out;
    cursor c{data};
    read_into(c, *out);
    count_copy(c.copied);
    return out;
  } else {  // trivially copyable without a default constructor: copied, then moved into result
    count_copy(2 * sizeof(T));
    return result<T>(*std::launder(reinterpret_cast<const T*>(data)));
  }
}

}  // namespace detail

// validate<T>(bytes) -> ok when bytes are exactly one valid encoding of T, at an address aligned
// as T's encoding needs (the transport's 16 is always enough). Otherwise errc::malformed_frame
// with a reason naming T, the member and what is wrong (truncated, a length or count larger than
// the bytes left, trailing bytes, a misaligned buffer, nonzero padding, a bool that is not 0/1).
// Reads nothing outside bytes and allocates nothing unless it fails.
template <class T>
[[nodiscard]] result<void> validate(std::span<const std::byte> bytes) {
  if constexpr (detail::codec_check<T>::ok) {
    const detail::reader r = detail::check_message<T>(bytes, nullptr);
    if (r.what != detail::fault::none) return detail::malformed<T>(r);
  }
  return {};
}

// decode<T>(bytes) -> an owning T, after the checks of validate<T> (same errors). Copies the
// payload (counted in copied_bytes()); allocates only after the bytes it describes were found.
template <class T>
[[nodiscard]] result<T> decode(std::span<const std::byte> bytes) {
  if constexpr (detail::codec_check<T>::ok) {
    const detail::reader r = detail::check_message<T>(bytes, nullptr);
    if (r.what != detail::fault::none) return detail::malformed<T>(r);
    return detail::read_message<T>(bytes.data());
  } else {
    return errc::malformed_frame;
  }
}

}  // namespace nodus::codec

// Shared message types and helpers of the codec tests.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include <nodus/codec/codec.hpp>
#include <nodus/codec/view.hpp>

// Boost.Test prints results and errors through these (found by ADL) when a check fails.
namespace nodus {
template <class T>
std::ostream& boost_test_print_type(std::ostream& os, const result<T>& r) {
  return os << (r.has_value() ? std::string("ok") : "error: " + r.error().message());
}
inline std::ostream& boost_test_print_type(std::ostream& os, const error& e) {
  return os << e.message();
}
}  // namespace nodus

namespace ct {

enum class color : std::uint8_t { red = 1, green = 2, blue = 3 };

// Trivially copyable, not reflected, with 4 bytes of internal padding.
struct pod {
  std::int32_t a;
  double b;
  friend bool operator==(const pod&, const pod&) = default;
};

// Reflected and trivially copyable: travels as its bytes.
struct point {
  BOOST_HANA_DEFINE_STRUCT(point, (std::int32_t, x), (std::int32_t, y));
  friend bool operator==(const point&, const point&) = default;
};

// Reflected, trivially copyable, with bools the codec checks.
struct flags {
  BOOST_HANA_DEFINE_STRUCT(flags, (std::uint8_t, level), (bool, on), (std::array<bool, 3>, bits));
  friend bool operator==(const flags&, const flags&) = default;
};

// 16-byte aligned: the largest alignment a message may hold.
struct alignas(16) wide {
  std::uint64_t lo;
  std::uint64_t hi;
  friend bool operator==(const wide&, const wide&) = default;
};

// The struct whose wire layout is pinned byte by byte.
struct small {
  BOOST_HANA_DEFINE_STRUCT(small, (std::uint8_t, tag), (std::string, name),
                           (std::vector<std::uint16_t>, values), (bool, flag));
  friend bool operator==(const small&, const small&) = default;
};

struct inner {
  BOOST_HANA_DEFINE_STRUCT(inner, (std::string, label), (std::vector<std::int32_t>, numbers));
  friend bool operator==(const inner&, const inner&) = default;
};

// Every kind of member the codec knows.
struct everything {
  BOOST_HANA_DEFINE_STRUCT(everything, (bool, flag), (char, letter), (std::int8_t, i8),
                           (std::uint16_t, u16), (std::int64_t, i64), (float, f), (double, d),
                           (color, hue), (std::string, text), (std::vector<point>, points),
                           (std::array<std::uint8_t, 5>, quint), (pod, raw), (point, origin),
                           (std::vector<std::vector<std::int32_t>>, grid),
                           (std::vector<std::string>, tags), (inner, nested),
                           (std::vector<inner>, children), (std::array<std::string, 2>, pair),
                           (flags, bits), (std::vector<wide>, wides), (std::string, empty_text),
                           (std::vector<std::int32_t>, empty_numbers),
                           (std::vector<flags>, flag_list));
  friend bool operator==(const everything&, const everything&) = default;
};

// Adapted from outside (BOOST_HANA_ADAPT_STRUCT below), with C arrays.
struct adapted {
  std::uint16_t port;
  char host[6];
  std::string names[2];
  friend bool operator==(const adapted&, const adapted&) = default;
};

// A vector of 64-bit values, for count * sizeof overflows.
struct counts {
  BOOST_HANA_DEFINE_STRUCT(counts, (std::vector<std::uint64_t>, values));
  friend bool operator==(const counts&, const counts&) = default;
};

// A vector of strings, for counts bounded by the smallest element.
struct words {
  BOOST_HANA_DEFINE_STRUCT(words, (std::vector<std::string>, list));
  friend bool operator==(const words&, const words&) = default;
};

// Not trivially copyable (a member nodus does not see) and no reflected member: encodes to
// nothing.
struct nothing_visible {
  BOOST_HANA_DEFINE_STRUCT(nothing_visible);
  std::string hidden;
};

// A sample with every member set, and a few empty and awkward values.
inline everything sample_everything() {
  everything e;
  e.flag = true;
  e.letter = 'q';
  e.i8 = -5;
  e.u16 = 0xBEEF;
  e.i64 = -1234567890123LL;
  e.f = 1.5F;
  e.d = -2.25;
  e.hue = color::blue;
  e.text = "hello, wire";
  e.points = {{1, 2}, {-3, 4}, {5, -6}};
  e.quint = {1, 2, 3, 4, 5};
  e.raw = {7, 8.5};
  e.origin = {10, 20};
  e.grid = {{1, 2, 3}, {}, {4}};
  e.tags = {"alpha", "", "gamma"};
  e.nested = {"nest", {9, 8, 7}};
  e.children = {{"c1", {1}}, {"", {}}, {"c3", {3, 3, 3}}};
  e.pair = {"left", "right"};
  e.bits = {3, true, {true, false, true}};
  e.wides = {{1, 2}, {3, 4}};
  e.flag_list = {{1, false, {false, false, true}}, {2, true, {true, true, true}}};
  return e;
}

// Bytes in a heap allocation of exactly offset + size bytes (so that ASan sees any read past the
// end), starting offset bytes after a 16-aligned address.
class buffer {
 public:
  explicit buffer(std::size_t size, std::size_t offset = 0)
      : storage_(new (std::align_val_t{16}) std::byte[size + offset](),
                 [](std::byte* p) { ::operator delete[](p, std::align_val_t{16}); }),
        offset_(offset),
        size_(size) {}

  [[nodiscard]] std::byte* data() const noexcept { return storage_.get() + offset_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::span<const std::byte> span() const noexcept { return {data(), size_}; }
  [[nodiscard]] std::span<std::byte> writable() const noexcept { return {data(), size_}; }
  // The storage, to hand to a view as its keep_alive.
  [[nodiscard]] std::shared_ptr<const void> owner() const noexcept { return storage_; }
  [[nodiscard]] std::vector<std::uint8_t> to_vector() const {
    std::vector<std::uint8_t> v(size_);
    if (size_ != 0) std::memcpy(v.data(), data(), size_);
    return v;
  }

 private:
  std::shared_ptr<std::byte[]> storage_;
  std::size_t offset_;
  std::size_t size_;
};

// The bytes of a gather list, in a fresh buffer (a test-side copy, not counted).
inline buffer flatten(const nodus::codec::gather_list& gl, std::size_t offset = 0) {
  buffer b(gl.size, offset);
  std::size_t at = 0;
  for (const auto& part : gl.parts) {
    std::memcpy(b.data() + at, part.data(), part.size());
    at += part.size();
  }
  return b;
}

// The encoding of msg, in a fresh buffer.
template <class T>
buffer encoded(const T& msg, std::size_t offset = 0) {
  nodus::codec::gather_list gl;
  nodus::codec::encode(msg, gl);
  return flatten(gl, offset);
}

// A copy of bytes in a fresh buffer (exactly sized).
inline buffer copy_of(std::span<const std::byte> bytes, std::size_t offset = 0) {
  buffer b(bytes.size(), offset);
  if (!bytes.empty()) std::memcpy(b.data(), bytes.data(), bytes.size());
  return b;
}

// True when one piece of gl holds the n bytes at p: the piece points into that memory.
inline bool covers(const nodus::codec::gather_list& gl, const void* p, std::size_t n) {
  const auto* first = static_cast<const std::byte*>(p);
  for (const auto& part : gl.parts) {
    if (first >= part.data() && first + n <= part.data() + part.size()) return true;
  }
  return false;
}

// True when [p, p + n) lies inside bytes.
inline bool inside(std::span<const std::byte> bytes, const void* p, std::size_t n) {
  const auto* first = static_cast<const std::byte*>(p);
  return first >= bytes.data() && first + n <= bytes.data() + bytes.size();
}

inline void put_u64(std::span<std::byte> bytes, std::size_t at, std::uint64_t v) {
  std::memcpy(bytes.data() + at, &v, sizeof v);
}

}  // namespace ct

BOOST_HANA_ADAPT_STRUCT(ct::adapted, port, host, names);

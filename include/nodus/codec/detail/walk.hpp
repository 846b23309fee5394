// nodus/codec/detail/walk.hpp: the checking walk over encoded bytes (validate, views) and the
// trusting read that fills an owning message (decode).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include <nodus/codec/copy_stats.hpp>
#include <nodus/codec/detail/layout.hpp>
#include <nodus/codec/gather_list.hpp>
#include <nodus/config.hpp>

namespace nodus::codec::detail {

// What is wrong with a buffer (see describe_fault).
enum class fault : unsigned char {
  none,
  misaligned,       // value: the alignment the message needs
  truncated,        // value: the bytes needed at `at`
  length_over,      // value: a string length at `at` larger than the bytes left
  count_over,       // value: an element count at `at` that the bytes left cannot hold
  bad_bool,         // value: the byte at `at`, which is neither 0 nor 1
  nonzero_padding,  // value: the padding byte at `at`
  trailing,         // value: the bytes after the end of the message, which ends at `at`
  bad_text,         // value: the length of the text at `at`, which its type refuses (an atom)
};

// A position in an encoded message, checking every step. Offsets count from the message's first
// byte, which is aligned to the message's largest alignment (checked before walking).
struct reader {
  const std::byte* data = nullptr;
  std::size_t size = 0;
  std::size_t pos = 0;
  fault what = fault::none;
  std::size_t at = 0;         // where the fault is
  std::uint64_t value = 0;    // see fault
  std::size_t left = 0;       // bytes left after the length or count, for length_over / count_over
  std::string_view member{};  // the innermost member being read when the fault was found

  [[nodiscard]] std::size_t remaining() const noexcept { return size - pos; }

  // fail(f, where, v): records the fault; returns false, for `return r.fail(...)`.
  NODUS_DECL bool fail(fault f, std::size_t where, std::uint64_t v) noexcept;
  [[nodiscard]] bool need(std::size_t n) noexcept {
    return n <= remaining() || fail(fault::truncated, pos, n);
  }
  // align(alignment): moves past the padding to alignment, which must be there and be zero.
  [[nodiscard]] NODUS_DECL bool align(std::size_t alignment) noexcept;
  [[nodiscard]] bool read_length(std::uint64_t& n) noexcept {
    if (!align(length_size) || !need(length_size)) return false;
    std::memcpy(&n, data + pos, length_size);
    pos += length_size;
    return true;
  }
};

// bools_ok<U>(p, bad) -> every bool the codec sees in the bytes of U at p is 0 or 1; otherwise
// bad is the offset of the first that is not. p is aligned for U.
template <class U>
[[nodiscard]] bool bools_ok(const std::byte* p, std::size_t& bad) noexcept;

template <class U, class... Fs>
[[nodiscard]] bool member_bools_ok(const std::byte* p, std::size_t& bad,
                                   field_list<Fs...>) noexcept {
  // The bytes hold a U (trivially copyable, suitably aligned): its members' addresses give
  // their offsets without reading any member as a bool.
  const U& object = *std::launder(reinterpret_cast<const U*>(p));
  const auto one = [&](const auto& member) {
    using M = std::remove_cvref_t<decltype(member)>;
    if constexpr (props_v<M>.has_bool) {
      const auto* at = reinterpret_cast<const std::byte*>(std::addressof(member));
      std::size_t inner = 0;
      if (!bools_ok<M>(at, inner)) {
        bad = static_cast<std::size_t>(at - p) + inner;
        return false;
      }
    }
    return true;
  };
  return (one(Fs::get(object)) && ...);
}

template <class U>
[[nodiscard]] bool bools_ok(const std::byte* p, std::size_t& bad) noexcept {
  if constexpr (std::is_same_v<U, bool>) {
    bad = 0;
    return std::to_integer<unsigned>(*p) <= 1;
  } else if constexpr (array_of<U>::extent > 0) {
    using E = typename array_of<U>::element;
    for (std::size_t i = 0; i < array_of<U>::extent; ++i) {
      if (!bools_ok<E>(p + i * sizeof(E), bad)) {
        bad += i * sizeof(E);
        return false;
      }
    }
    return true;
  } else if constexpr (is_reflected_v<U>) {
    return member_bools_ok<U>(p, bad, fields_t<U>{});
  } else {
    return true;
  }
}

template <class U>
[[nodiscard]] bool walk(reader& r) noexcept;

// walk_fields(r, fields, offsets): walks the members in order; offsets (when not null) receives
// where each member's piece starts, before its padding.
template <class... Fs>
[[nodiscard]] bool walk_fields(reader& r, field_list<Fs...>,
                               [[maybe_unused]] std::size_t* offsets) noexcept {
  [[maybe_unused]] std::size_t i = 0;
  [[maybe_unused]] const auto one = [&]<class M>(std::string_view name, std::type_identity<M>) {
    r.member = name;
    if (offsets != nullptr) offsets[i++] = r.pos;
    return walk<M>(r);
  };
  return (one(Fs::name, std::type_identity<typename Fs::type>{}) && ...);
}

// walk<U>(r): checks the encoding of a U at r.pos and moves past it; false (and r.what) when the
// bytes are not a valid encoding. Reads only inside the buffer and allocates nothing.
template <class U>
[[nodiscard]] bool walk(reader& r) noexcept {
  constexpr kind k = kind_v<U>;
  if constexpr (k == kind::bytes) {
    if (!r.align(alignof(U)) || !r.need(sizeof(U))) return false;
    if constexpr (props_v<U>.has_bool) {
      std::size_t bad = 0;
      if (!bools_ok<U>(r.data + r.pos, bad))
        return r.fail(fault::bad_bool, r.pos + bad,
                      std::to_integer<std::uint64_t>(r.data[r.pos + bad]));
    }
    r.pos += sizeof(U);
    return true;
  } else if constexpr (k == kind::string) {
    std::uint64_t n = 0;
    if (!r.read_length(n)) return false;
    if (n > r.remaining()) return r.fail(fault::length_over, r.pos - length_size, n);
    if constexpr (is_wire_string_v<U>) {
      const std::string_view text{reinterpret_cast<const char*>(r.data + r.pos),
                                  static_cast<std::size_t>(n)};
      if (!U::wire_text_ok(text)) return r.fail(fault::bad_text, r.pos, n);
    }
    r.pos += static_cast<std::size_t>(n);
    return true;
  } else if constexpr (k == kind::trivial_vector) {
    using E = typename U::value_type;
    std::uint64_t n = 0;
    if (!r.read_length(n)) return false;
    const std::size_t count_at = r.pos - length_size;
    if (!r.align(alignof(E))) return false;
    if (n > r.remaining() / sizeof(E)) return r.fail(fault::count_over, count_at, n);
    if constexpr (props_v<E>.has_bool) {
      for (std::size_t i = 0; i < n; ++i) {
        std::size_t bad = 0;
        const std::size_t at = r.pos + i * sizeof(E);
        if (!bools_ok<E>(r.data + at, bad))
          return r.fail(fault::bad_bool, at + bad,
                        std::to_integer<std::uint64_t>(r.data[at + bad]));
      }
    }
    r.pos += static_cast<std::size_t>(n) * sizeof(E);
    return true;
  } else if constexpr (k == kind::vector) {
    using E = typename U::value_type;
    std::uint64_t n = 0;
    if (!r.read_length(n)) return false;
    // Each element takes at least min_size bytes (never 0, see codec_check): a bound on the
    // count before anything trusts it.
    if (n > r.remaining() / props_v<E>.min_size)
      return r.fail(fault::count_over, r.pos - length_size, n);
    for (std::uint64_t i = 0; i < n; ++i) {
      if (!walk<E>(r)) return false;
    }
    return true;
  } else if constexpr (k == kind::array) {
    using E = typename array_of<U>::element;
    for (std::size_t i = 0; i < array_of<U>::extent; ++i) {
      if (!walk<E>(r)) return false;
    }
    return true;
  } else {
    return walk_fields(r, fields_t<U>{}, nullptr);
  }
}

// check_message<T>(bytes, offsets) -> a reader whose `what` is fault::none when bytes are exactly
// one valid encoding of T. For a reflected T that is not trivially copyable, offsets (when not
// null) receives where each member starts.
template <class T>
[[nodiscard]] reader check_message(std::span<const std::byte> bytes,
                                   [[maybe_unused]] std::size_t* offsets) noexcept {
  reader r{bytes.data(), bytes.size()};
  constexpr std::size_t alignment = props_v<T>.align;
  if (reinterpret_cast<std::uintptr_t>(bytes.data()) % alignment != 0) {
    r.fail(fault::misaligned, 0, alignment);
    return r;
  }
  bool ok = false;
  if constexpr (kind_v<T> == kind::record) {
    ok = walk_fields(r, fields_t<T>{}, offsets);
  } else {
    ok = walk<T>(r);
  }
  if (ok && r.pos != r.size) {
    r.member = {};
    r.fail(fault::trailing, r.pos, r.size - r.pos);
  }
  return r;
}

// describe_fault(r, type) -> the reason of a malformed_frame error, e.g.
// "app::record, member 'name': string length 900 at offset 8 exceeds the 12 bytes left".
// Built with std::to_string rather than nodus::format, to keep this header light.
NODUS_DECL std::string describe_fault(const reader& r, std::string_view type);

// A position in bytes that check_message accepted: reads without checking, counting the payload
// bytes it copies.
struct cursor {
  const std::byte* data = nullptr;
  std::size_t pos = 0;
  std::size_t copied = 0;

  void align(std::size_t alignment) noexcept { pos += padding(pos, alignment); }
  [[nodiscard]] std::uint64_t read_length() noexcept {
    align(length_size);
    std::uint64_t n = 0;
    std::memcpy(&n, data + pos, length_size);
    pos += length_size;
    return n;
  }
};

// read_into(c, out): fills out from the encoding at c.pos (checked before) and moves past it.
template <class U>
void read_into(cursor& c, U& out) {
  constexpr kind k = kind_v<U>;
  if constexpr (k == kind::bytes) {
    c.align(alignof(U));
    std::memcpy(static_cast<void*>(std::addressof(out)), c.data + c.pos, sizeof(U));
    c.pos += sizeof(U);
    c.copied += sizeof(U);
  } else if constexpr (k == kind::string) {
    const auto n = static_cast<std::size_t>(c.read_length());
    if constexpr (is_wire_string_v<U>) {
      out = U::from_wire_text({reinterpret_cast<const char*>(c.data + c.pos), n});
    } else {
      out.assign(reinterpret_cast<const char*>(c.data + c.pos), n);
    }
    c.pos += n;
    c.copied += n;
  } else if constexpr (k == kind::trivial_vector) {
    using E = typename U::value_type;
    const auto n = static_cast<std::size_t>(c.read_length());
    c.align(alignof(E));
    if (n == 0) {
      out.clear();
    } else {
      const E* first = std::launder(reinterpret_cast<const E*>(c.data + c.pos));
      out.assign(first, first + n);
    }
    c.pos += n * sizeof(E);
    c.copied += n * sizeof(E);
  } else if constexpr (k == kind::vector) {
    const auto n = static_cast<std::size_t>(c.read_length());
    out.clear();
    out.reserve(n);  // bounded by the buffer's size: checked before
    for (std::size_t i = 0; i < n; ++i) read_into(c, out.emplace_back());
  } else if constexpr (k == kind::array) {
    for (auto& e : out) read_into(c, e);
  } else {
    [&]<class... Fs>(field_list<Fs...>) { (read_into(c, Fs::get(out)), ...); }(fields_t<U>{});
  }
}

// The pieces of an encoding: into gather_list (encode) or only counted (encoded_size).
struct gather_sink {
  gather_list& out;
  std::size_t start;
  void pad(std::size_t alignment) { out.append_zeros(padding(out.size - start, alignment)); }
  void piece(const void* p, std::size_t n) {
    out.append(std::span<const std::byte>{static_cast<const std::byte*>(p), n});
  }
  void length(std::uint64_t n) { out.append_u64(n); }
};
struct size_sink {
  std::size_t size = 0;
  void pad(std::size_t alignment) noexcept { size += padding(size, alignment); }
  void piece(const void*, std::size_t n) noexcept { size += n; }
  void length(std::uint64_t) noexcept { size += length_size; }
};

// put(v, sink): the pieces of v, in order (DESIGN section 4). Copies nothing.
template <class U, class Sink>
void put(const U& v, Sink& s) {
  constexpr kind k = kind_v<U>;
  if constexpr (k == kind::bytes) {
    s.pad(alignof(U));
    s.piece(std::addressof(v), sizeof(U));
  } else if constexpr (k == kind::string) {
    const std::string_view text = wire_text(v);
    s.pad(length_size);
    s.length(text.size());
    s.piece(text.data(), text.size());
  } else if constexpr (k == kind::trivial_vector) {
    using E = typename U::value_type;
    s.pad(length_size);
    s.length(v.size());
    s.pad(alignof(E));
    s.piece(v.data(), v.size() * sizeof(E));
  } else if constexpr (k == kind::vector) {
    s.pad(length_size);
    s.length(v.size());
    for (const auto& e : v) put(e, s);
  } else if constexpr (k == kind::array) {
    for (const auto& e : v) put(e, s);
  } else {
    [&]<class... Fs>(field_list<Fs...>) { (put(Fs::get(v), s), ...); }(fields_t<U>{});
  }
}

}  // namespace nodus::codec::detail

#if defined(NODUS_HEADER_ONLY)
#include <nodus/codec/impl/walk.ipp>
#endif

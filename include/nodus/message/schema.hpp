// nodus/message/schema.hpp: a compiler-independent description of a message type's layout.
//
// The schema text of a type (grammar; no spaces):
//   bool | char | i8 i16 i32 i64 (signed) | u8 u16 u32 u64 (unsigned, char8_t..char32_t)
//   f32 | f64 | f<bits>m<mantissa digits> for other floating types (long double)
//   enum<underlying> | string (std::string) | vector<E> | array<E,N> (std::array and C arrays)
//   struct{name:schema,...}            reflected struct that is not trivially copyable
//   struct<size,align>{name:schema,...} reflected struct that is trivially copyable
//   bytes<size,align>                  any other trivially copyable type
// It never contains a compiler's spelling of a type (GCC and clang spell std:: types
// differently), only kinds, sizes, alignments and member names.
#pragma once

#include <climits>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>
#include <type_traits>

#include <nodus/message/detail/fnv1a.hpp>
#include <nodus/message/reflect.hpp>
#include <nodus/message/type_name.hpp>

namespace nodus {
namespace detail {

struct schema_counter {
  std::size_t size = 0;
  constexpr void put(std::string_view text) noexcept { size += text.size(); }
};

struct schema_writer {
  char* out;
  constexpr void put(std::string_view text) noexcept {
    for (const char c : text) *out++ = c;
  }
};

template <class Sink>
constexpr void put_number(Sink& sink, std::size_t value) noexcept {
  char digits[24] = {};
  std::size_t n = sizeof digits;
  do {
    digits[--n] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  sink.put(std::string_view{digits + n, sizeof digits - n});
}

template <class Sink>
constexpr void put_size_align(Sink& sink, std::size_t size, std::size_t align) noexcept {
  sink.put("<");
  put_number(sink, size);
  sink.put(",");
  put_number(sink, align);
  sink.put(">");
}

template <class U, class Sink>
constexpr void write_schema(Sink& sink) noexcept;

template <class Sink, class... Fs>
constexpr void write_fields(Sink& sink, field_list<Fs...>) noexcept {
  bool first = true;
  auto one = [&](std::string_view name, auto write_type) {
    if (!first) sink.put(",");
    first = false;
    sink.put(name);
    sink.put(":");
    write_type();
  };
  (one(Fs::name, [&] { write_schema<typename Fs::type>(sink); }), ...);
}

// Writes the schema text of U to sink (anything with put(std::string_view)).
template <class U, class Sink>
constexpr void write_schema(Sink& sink) noexcept {
  if constexpr (std::is_same_v<U, bool>) {
    sink.put("bool");
  } else if constexpr (std::is_same_v<U, char>) {
    sink.put("char");  // its signedness depends on the platform, its bytes do not
  } else if constexpr (std::is_integral_v<U>) {
    sink.put(std::is_signed_v<U> ? "i" : "u");
    put_number(sink, sizeof(U) * CHAR_BIT);
  } else if constexpr (std::is_floating_point_v<U>) {
    sink.put("f");
    put_number(sink, sizeof(U) * CHAR_BIT);
    constexpr int digits = std::numeric_limits<U>::digits;
    if constexpr (!(sizeof(U) == 4 && digits == 24) && !(sizeof(U) == 8 && digits == 53)) {
      sink.put("m");
      put_number(sink, static_cast<std::size_t>(digits));
    }
  } else if constexpr (std::is_enum_v<U>) {
    sink.put("enum<");
    write_schema<std::underlying_type_t<U>>(sink);
    sink.put(">");
  } else if constexpr (std::is_same_v<U, std::string>) {
    sink.put("string");
  } else if constexpr (is_wire_string_v<U>) {
    sink.put(U::wire_schema);
  } else if constexpr (is_std_vector<U>::value) {
    sink.put("vector<");
    write_schema<typename U::value_type>(sink);
    sink.put(">");
  } else if constexpr (is_std_array<U>::value || std::is_bounded_array_v<U>) {
    sink.put("array<");
    write_schema<std::remove_cvref_t<decltype(std::declval<U&>()[0])>>(sink);
    sink.put(",");
    put_number(sink, sizeof(U) / sizeof(std::declval<U&>()[0]));
    sink.put(">");
  } else if constexpr (is_reflected_v<U>) {
    sink.put("struct");
    if constexpr (std::is_trivially_copyable_v<U>) put_size_align(sink, sizeof(U), alignof(U));
    sink.put("{");
    write_fields(sink, fields_t<U>{});
    sink.put("}");
  } else {
    sink.put("bytes");
    put_size_align(sink, sizeof(U), alignof(U));
  }
}

template <class T>
struct schema_storage {
  static_assert(is_message_v<T>, "nodus: a schema is defined for message types only");
  static constexpr std::size_t size = [] {
    schema_counter c;
    write_schema<T>(c);
    return c.size;
  }();
  static constexpr name_buffer<size> make() noexcept {
    name_buffer<size> b;
    schema_writer w{b.data};
    write_schema<T>(w);
    return b;
  }
  static constexpr name_buffer<size> value = make();
  static constexpr std::uint64_t hash = [] {
    fnv1a64 h;
    write_schema<T>(h);
    return h.state;
  }();
};

}  // namespace detail

// schema_text<T>() -> the schema text of the message type T (grammar at the top of this file),
// e.g. "struct{id:u32,name:string,tags:vector<string>}". Meant for diagnostics and tests.
template <class T>
[[nodiscard]] constexpr std::string_view schema_text() noexcept {
  return {detail::schema_storage<T>::value.data, detail::schema_storage<T>::size};
}

// The schema hash of the message type T: 64-bit FNV-1a of schema_text<T>(). Equal on every
// compiler and platform that lays the type out the same; it changes when a member's name, type or
// order changes, or the size or alignment of a type that travels as bytes.
template <class T>
inline constexpr std::uint64_t schema_hash_v = detail::schema_storage<T>::hash;

}  // namespace nodus

// nodus/codec/view.hpp: view<T>, what a handler may take instead of an owning message: over a
// local object, or over the received bytes without copying them.
//
//   view<ping> v{bytes, keep_alive};          // T trivially copyable: v->seq, v.get(), *v
//   view<record> r{bytes, keep_alive};        // T reflected: r.get<"name">(), r.get<0>()
//   auto owned = r.to_owned();                // an owning copy (counted in copied_bytes())
//
// What get<...>() returns for a member of type M (the same over an object and over bytes):
//   M trivially copyable               -> const M&
//   std::string                        -> std::string_view
//   std::vector<E>, E trivially copyable -> std::span<const E>
//   a reflected struct, not trivially copyable -> view<M>
//   std::vector<E> / std::array<E, N> / E[N], E not trivially copyable -> sequence_view<E>
// Over bytes, references, string_views and spans point into the buffer: they stay valid while
// the buffer lives (the view's keep_alive holds it). Nothing is copied until to_owned().
// Views are cheap to copy (a pointer, or a few offsets and a shared_ptr). Not thread-safe to
// mutate, safe to read from many threads.
#pragma once

#include <array>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <memory>
#include <new>
#include <span>
#include <stdexcept>
#include <string_view>
#include <type_traits>
#include <utility>

#include <nodus/codec/codec.hpp>
#include <nodus/codec/copy_stats.hpp>
#include <nodus/codec/detail/layout.hpp>
#include <nodus/codec/detail/walk.hpp>
#include <nodus/config.hpp>
#include <nodus/core/error.hpp>
#include <nodus/core/fixed_string.hpp>
#include <nodus/message/reflect.hpp>
#include <nodus/message/type_name.hpp>

namespace nodus::codec {

template <class T>
class view;
template <class E>
class sequence_view;
template <class T>
[[nodiscard]] result<view<T>> make_view(std::span<const std::byte> bytes,
                                        std::shared_ptr<const void> keep_alive = {});

namespace detail {

// member_view_t<M> -> what a view hands out for a member of type M (see the top of this file).
template <class M, kind K = kind_v<M>>
struct member_view {
  using type = const M&;
};
template <class M>
struct member_view<M, kind::string> {
  using type = std::string_view;
};
template <class M>
struct member_view<M, kind::trivial_vector> {
  using type = std::span<const typename M::value_type>;
};
template <class M>
struct member_view<M, kind::vector> {
  using type = sequence_view<typename M::value_type>;
};
template <class M>
struct member_view<M, kind::array> {
  using type = sequence_view<typename array_of<M>::element>;
};
template <class M>
struct member_view<M, kind::record> {
  using type = view<M>;
};
template <class M>
using member_view_t = typename member_view<M>::type;

// The bytes of a message a view reads: its first byte (16-aligned), its size, and what keeps the
// buffer alive (may be empty when the caller keeps it alive).
struct buffer_ref {
  const std::byte* base = nullptr;
  std::size_t size = 0;
  std::shared_ptr<const void> keep_alive;
};

// Selects the constructor of a view over a member at a position inside checked bytes.
struct at_position_t {
  explicit at_position_t() = default;
};
inline constexpr at_position_t at_position{};

// throw_unchecked(r, type): throws std::invalid_argument: a view was given bytes that do not
// validate.
[[noreturn]] NODUS_DECL void throw_unchecked(const reader& r, std::string_view type);

[[nodiscard]] inline std::uint64_t load_length(const std::byte* p) noexcept {
  std::uint64_t n = 0;
  std::memcpy(&n, p, length_size);
  return n;
}

// member_of(m) -> the view of a member of a local object.
template <class M>
[[nodiscard]] member_view_t<M> member_of(const M& m) noexcept {
  constexpr kind k = kind_v<M>;
  if constexpr (k == kind::bytes) {
    return m;
  } else if constexpr (k == kind::string) {
    return wire_text(m);
  } else if constexpr (k == kind::trivial_vector) {
    return {m.data(), m.size()};
  } else if constexpr (k == kind::vector || k == kind::array) {
    return {std::data(m), std::size(m)};
  } else {
    return view<M>{m};
  }
}

// member_at<M>(buffer, pos) -> the view of the member whose piece starts at pos (before its
// padding) in checked bytes.
template <class M>
[[nodiscard]] member_view_t<M> member_at(const buffer_ref& b, std::size_t pos) {
  constexpr kind k = kind_v<M>;
  if constexpr (k == kind::bytes) {
    pos += padding(pos, alignof(M));
    return *std::launder(reinterpret_cast<const M*>(b.base + pos));
  } else if constexpr (k == kind::string) {
    pos += padding(pos, length_size);
    const auto n = static_cast<std::size_t>(load_length(b.base + pos));
    return std::string_view{reinterpret_cast<const char*>(b.base + pos + length_size), n};
  } else if constexpr (k == kind::trivial_vector) {
    using E = typename M::value_type;
    pos += padding(pos, length_size);
    const auto n = static_cast<std::size_t>(load_length(b.base + pos));
    pos += length_size;
    pos += padding(pos, alignof(E));
    if (n == 0) return {};
    return {std::launder(reinterpret_cast<const E*>(b.base + pos)), n};
  } else if constexpr (k == kind::vector) {
    pos += padding(pos, length_size);
    const auto n = static_cast<std::size_t>(load_length(b.base + pos));
    return {b, pos + length_size, n};
  } else if constexpr (k == kind::array) {
    return {b, pos, array_of<M>::extent};
  } else {
    return view<M>{at_position, b, pos};
  }
}

}  // namespace detail

// A read-only sequence of the elements of a std::vector, std::array or C array member whose
// elements are not trivially copyable; each element is handed out as a view (see the top of this
// file). A forward range whose iterators stay valid after the sequence_view itself is gone (they
// read what the view<T> it came from keeps alive). Over an object, operator[] is O(1); over bytes
// the elements have variable sizes, so operator[](i) walks i elements (iterate instead).
template <class E>
class sequence_view {
 public:
  // What an element is handed out as.
  using value_type = detail::member_view_t<E>;

  // A forward iterator whose operator* returns an element view by value.
  class iterator {
   public:
    using iterator_concept = std::forward_iterator_tag;
    using iterator_category = std::input_iterator_tag;
    using value_type = sequence_view::value_type;
    using reference = value_type;
    using difference_type = std::ptrdiff_t;

    iterator() = default;
    [[nodiscard]] reference operator*() const {
      if (!over_bytes_) return detail::member_of<E>(first_[index_]);
      return detail::member_at<E>(buffer_, pos_);
    }
    iterator& operator++() {
      if (over_bytes_) {
        detail::reader r{buffer_.base, buffer_.size, pos_};
        const bool ok = detail::walk<E>(r);  // checked before: cannot fail
        assert(ok && "nodus::codec::sequence_view: bytes changed after they were checked");
        static_cast<void>(ok);
        pos_ = r.pos;
      }
      ++index_;
      return *this;
    }
    iterator operator++(int) {
      iterator before = *this;
      ++*this;
      return before;
    }
    [[nodiscard]] friend bool operator==(const iterator& a, const iterator& b) noexcept {
      return a.index_ == b.index_;
    }

   private:
    friend class sequence_view;
    iterator(const sequence_view& seq, std::size_t index)
        : first_(seq.first_),
          buffer_(seq.buffer_),
          index_(index),
          pos_(seq.pos_),
          over_bytes_(seq.over_bytes_) {}

    const E* first_ = nullptr;
    detail::buffer_ref buffer_;
    std::size_t index_ = 0;
    std::size_t pos_ = 0;
    bool over_bytes_ = false;
  };

  sequence_view() = default;
  // Over count elements of a local object, from first.
  sequence_view(const E* first, std::size_t count) noexcept : first_(first), count_(count) {}
  // Over count encoded elements starting at pos in checked bytes (used by the views).
  sequence_view(detail::buffer_ref buffer, std::size_t pos, std::size_t count) noexcept
      : buffer_(std::move(buffer)), pos_(pos), count_(count), over_bytes_(true) {}

  [[nodiscard]] std::size_t size() const noexcept { return count_; }
  [[nodiscard]] bool empty() const noexcept { return count_ == 0; }
  [[nodiscard]] iterator begin() const { return iterator{*this, 0}; }
  // The end: compares equal to an iterator that went past the last element.
  [[nodiscard]] iterator end() const noexcept {
    iterator e;
    e.index_ = count_;
    return e;
  }
  // The element at index (< size()); O(index) over bytes.
  [[nodiscard]] value_type operator[](std::size_t index) const {
    assert(index < count_ && "nodus::codec::sequence_view: index out of range");
    if (!over_bytes_) return detail::member_of<E>(first_[index]);
    iterator it = begin();
    for (std::size_t i = 0; i < index; ++i) ++it;
    return *it;
  }
  // True when the elements are read from received bytes rather than from an object.
  [[nodiscard]] bool over_bytes() const noexcept { return over_bytes_; }

 private:
  const E* first_ = nullptr;
  detail::buffer_ref buffer_;
  std::size_t pos_ = 0;
  std::size_t count_ = 0;
  bool over_bytes_ = false;
};

// view<T> for a T that is neither trivially copyable nor a reflected struct: an error.
template <class T>
class view {
  static_assert(detail::codec_check<T>::ok && nodus::detail::never_true_v<T>,
                "nodus::codec::view<T>: T must be a message type: trivially copyable or a "
                "reflected struct (BOOST_HANA_DEFINE_STRUCT / BOOST_HANA_ADAPT_STRUCT)");
};

// view<T> of a trivially copyable message: a reference to the object, or into the buffer.
template <class T>
requires std::is_trivially_copyable_v<T>
class view<T> {
  static_assert(detail::codec_check<T>::ok,
                "nodus::codec::view<T>: T must be a valid message type (see the error above)");

 public:
  // Over a local object (a message that was never serialized); the object must outlive the view.
  explicit view(const T& object) noexcept : object_(std::addressof(object)) {}
  view(const T&&) = delete;
  // Over bytes that validate<T> accepts (exactly sizeof(T) bytes, aligned for T); keep_alive, if
  // given, keeps the buffer alive as long as the view. Throws std::invalid_argument for other
  // bytes (a programming error: validate first, or use make_view).
  explicit view(std::span<const std::byte> bytes, std::shared_ptr<const void> keep_alive = {})
      : keep_alive_(std::move(keep_alive)), over_bytes_(true) {
    const detail::reader r = detail::check_message<T>(bytes, nullptr);
    if (r.what != detail::fault::none) detail::throw_unchecked(r, type_name<T>());
    object_ = std::launder(reinterpret_cast<const T*>(bytes.data()));
  }

  [[nodiscard]] const T& get() const noexcept { return *object_; }
  [[nodiscard]] const T& operator*() const noexcept { return *object_; }
  [[nodiscard]] const T* operator->() const noexcept { return object_; }
  // An owning copy; its bytes count in copied_bytes() when the view is over bytes.
  [[nodiscard]] T to_owned() const {
    if (over_bytes_) detail::count_copy(sizeof(T));
    return *object_;
  }
  // True when the view reads received bytes rather than a local object.
  [[nodiscard]] bool over_bytes() const noexcept { return over_bytes_; }

 private:
  const T* object_ = nullptr;
  std::shared_ptr<const void> keep_alive_;
  bool over_bytes_ = false;
};

// view<T> of a reflected message that is not trivially copyable: its members by name or index.
template <class T>
requires(is_reflected_v<T> && !std::is_trivially_copyable_v<T>) class view<T> {
  static_assert(detail::codec_check<T>::ok,
                "nodus::codec::view<T>: T must be a valid message type (see the error above)");
  using fields_ = detail::fields_t<T>;
  static constexpr std::size_t field_count_ = nodus::detail::field_list_size<fields_>::value;

 public:
  // Over a local object (a message that was never serialized); the object must outlive the view.
  explicit view(const T& object) noexcept : object_(std::addressof(object)) {}
  view(const T&&) = delete;
  // Over bytes that validate<T> accepts; keep_alive, if given, keeps the buffer alive as long as
  // the view and every view taken from it. Checks the bytes as validate<T> does, in the same pass
  // that finds where each member starts; throws std::invalid_argument for bytes it rejects (a
  // programming error: validate first, or use make_view).
  explicit view(std::span<const std::byte> bytes, std::shared_ptr<const void> keep_alive = {})
      : buffer_{bytes.data(), bytes.size(), std::move(keep_alive)} {
    const detail::reader r = detail::check_message<T>(bytes, offsets_.data());
    if (r.what != detail::fault::none) detail::throw_unchecked(r, type_name<T>());
  }
  // Over a nested member at pos inside checked bytes (used by the views themselves).
  view(detail::at_position_t, detail::buffer_ref buffer, std::size_t pos)
      : buffer_(std::move(buffer)) {
    detail::reader r{buffer_.base, buffer_.size, pos};
    if (!detail::walk_fields(r, fields_{}, offsets_.data()))
      detail::throw_unchecked(r, type_name<T>());
  }

  // get<I>() -> the I-th member (declaration order), as described at the top of this file.
  template <std::size_t I>
  [[nodiscard]] decltype(auto) get() const {
    if constexpr (I >= field_count_) {
      static_assert(I < field_count_,
                    "nodus::codec::view<T>::get<I>(): I must be less than the number of "
                    "members of T");
    } else {
      using F = detail::field_at_t<I, fields_>;
      if (object_ != nullptr) return detail::member_of<typename F::type>(F::get(*object_));
      return detail::member_at<typename F::type>(buffer_, offsets_[I]);
    }
  }

  // get<"name">() -> the member called name, as described at the top of this file.
  template <fixed_string Name>
  [[nodiscard]] decltype(auto) get() const {
    constexpr std::size_t index = detail::field_index(fields_{}, Name.view());
    if constexpr (index >= field_count_) {
      static_assert(index < field_count_,
                    "nodus::codec::view<T>::get<\"name\">(): T has no member of that name (the "
                    "name and T are in the line that required this)");
    } else {
      return get<index>();
    }
  }

  // An owning copy; its payload bytes count in copied_bytes() when the view is over bytes.
  [[nodiscard]] T to_owned() const {
    if (object_ != nullptr) return *object_;
    T out{};
    if constexpr (field_count_ > 0) {
      detail::cursor c{buffer_.base, offsets_[0]};
      detail::read_into(c, out);
      detail::count_copy(c.copied);
    }
    return out;
  }

  // True when the view reads received bytes rather than a local object.
  [[nodiscard]] bool over_bytes() const noexcept { return object_ == nullptr; }

 private:
  template <class U>
  friend result<view<U>> make_view(std::span<const std::byte>, std::shared_ptr<const void>);
  view(detail::buffer_ref buffer, const std::array<std::size_t, field_count_>& offsets) noexcept
      : buffer_(std::move(buffer)), offsets_(offsets) {}

  const T* object_ = nullptr;
  detail::buffer_ref buffer_;
  std::array<std::size_t, field_count_> offsets_{};
};

// make_view<T>(bytes, keep_alive) -> a view over bytes, or errc::malformed_frame with the reason
// of validate<T> (one pass: checking also finds the members). For bytes from the network.
template <class T>
[[nodiscard]] result<view<T>> make_view(std::span<const std::byte> bytes,
                                        std::shared_ptr<const void> keep_alive) {
  if constexpr (is_reflected_v<T> && !std::is_trivially_copyable_v<T>) {
    if constexpr (detail::codec_check<T>::ok) {
      std::array<std::size_t, field_count_v<T>> offsets{};
      const detail::reader r = detail::check_message<T>(bytes, offsets.data());
      if (r.what != detail::fault::none) return detail::malformed<T>(r);
      return view<T>{detail::buffer_ref{bytes.data(), bytes.size(), std::move(keep_alive)},
                     offsets};
    } else {
      return errc::malformed_frame;
    }
  } else {
    if constexpr (detail::codec_check<T>::ok) {
      const detail::reader r = detail::check_message<T>(bytes, nullptr);
      if (r.what != detail::fault::none) return detail::malformed<T>(r);
    }
    return view<T>{bytes, std::move(keep_alive)};
  }
}

}  // namespace nodus::codec

#if defined(NODUS_HEADER_ONLY)
#include <nodus/codec/impl/view.ipp>
#endif

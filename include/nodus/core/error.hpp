// nodus/core/error.hpp: error codes of nodus, their std::error_category, and result<T>.
#pragma once

#include <cassert>
#include <new>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include "nodus/config.hpp"

namespace nodus {

// Expected failures of nodus operations. Values are stable (they may cross the wire later).
enum class errc : int {
  ok = 0,
  timeout = 1,             // a call got no reply within its timeout
  noproc = 2,              // no server is registered under the name
  nodedown = 3,            // the target node is (or went) down
  server_crashed = 4,      // the server crashed while handling the call; reason() says why
  already_registered = 5,  // a second server tried to register a taken name
  wrong_server_type = 6,   // the name is registered by a server of another type
  no_reply = 7,            // the server dropped the caller handle without replying
  shutdown = 8,            // the node or the server is shutting down
  supervisor_gave_up = 9,  // a supervisor exceeded its restart intensity and stopped
  would_deadlock = 10,     // a blocking call was made from a thread that runs the node
  invalid_node_name = 11,  // a node name is not a valid name@host
  bad_cookie = 12,         // the peer's cookie digest did not match
  protocol_mismatch = 13,  // the peer was built from a different nodus protocol
  malformed_frame = 14,    // a frame could not be decoded
  frame_too_large = 15,    // a frame's length exceeds the configured maximum
  not_connected = 16,      // no connection to the node and none could be made
  init_failed = 17,        // a server's init threw; reason() says why
  not_running = 18,        // the node is not running (no thread serves it)
  mailbox_full = 19,       // a bounded mailbox refused or dropped the message; reason() names
                           // the server and its limit
  busy = 20,               // the peer's send queue is over its busy limit (dist_buf_busy_limit)
  tls_failed = 21,         // TLS could not be set up: files that do not load, a peer's
                           // certificate refused (or ours), a peer that does not speak TLS
  max_children = 22,       // a dynamic supervisor already runs its maximum of children
};

// The category of nodus::errc; name() is "nodus".
class error_category_impl final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "nodus"; }
  [[nodiscard]] NODUS_DECL std::string message(int value) const override;
};

// error_category() -> the singleton category of nodus::errc.
[[nodiscard]] NODUS_DECL const std::error_category& error_category() noexcept;

// make_error_code(errc) -> std::error_code in nodus's category (found by ADL).
[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

}  // namespace nodus

template <>
struct std::is_error_code_enum<nodus::errc> : std::true_type {};

namespace nodus {

// An error: a code plus an optional free-text reason ("handler threw: bad state", "n2@h").
class error {
 public:
  error() = default;
  error(std::error_code code) : code_(code) {}        // NOLINT(google-explicit-constructor)
  error(errc code) : code_(make_error_code(code)) {}  // NOLINT(google-explicit-constructor)
  error(std::error_code code, std::string reason) : code_(code), reason_(std::move(reason)) {}
  error(errc code, std::string reason) : code_(make_error_code(code)), reason_(std::move(reason)) {}

  [[nodiscard]] const std::error_code& code() const noexcept { return code_; }
  [[nodiscard]] const std::string& reason() const noexcept { return reason_; }
  // message() -> "server crashed: handler threw: bad state", or the code's message alone.
  [[nodiscard]] NODUS_DECL std::string message() const;
  explicit operator bool() const noexcept { return static_cast<bool>(code_); }

  friend bool operator==(const error& a, const error& b) noexcept { return a.code_ == b.code_; }
  friend bool operator==(const error& a, errc b) noexcept { return a.code_ == make_error_code(b); }

 private:
  std::error_code code_;
  std::string reason_;
};

// A value or an error; the expected-style return type of nodus operations.
// Accessing value() of an error result is a programming error (asserted).
// A tagged union rather than std::variant: result<T> is instantiated for every reply type and
// operation, and std::variant's visitation machinery cost every TU compile time for nothing.
template <class T>
class [[nodiscard]] result {
  static_assert(!std::is_reference_v<T>, "nodus::result<T> requires T to be an object type");
  static_assert(!std::is_same_v<std::remove_cv_t<T>, nodus::error>,
                "nodus::result<error> is ambiguous");

 public:
  using value_type = T;

  result() requires std::is_default_constructible_v<T> : ok_(true) { ::new (&value_) T(); }
  result(T value) : ok_(true) { ::new (&value_) T(std::move(value)); }                 // NOLINT
  result(nodus::error e) : ok_(false) { ::new (&error_) nodus::error(std::move(e)); }  // NOLINT
  result(errc e) : ok_(false) { ::new (&error_) nodus::error(e); }                     // NOLINT
  result(std::error_code e) : ok_(false) { ::new (&error_) nodus::error(e); }          // NOLINT

  result(const result& o) requires std::is_copy_constructible_v<T> : ok_(o.ok_) {
    if (ok_) {
      ::new (&value_) T(o.value_);
    } else {
      ::new (&error_) nodus::error(o.error_);
    }
  }
  result(result&& o) noexcept(std::is_nothrow_move_constructible_v<T>) : ok_(o.ok_) {
    if (ok_) {
      ::new (&value_) T(std::move(o.value_));
    } else {
      ::new (&error_) nodus::error(std::move(o.error_));
    }
  }
  result& operator=(const result& o) requires std::is_copy_constructible_v<T> {
    if (this != &o) {
      destroy();
      ok_ = o.ok_;
      if (ok_) {
        ::new (&value_) T(o.value_);
      } else {
        ::new (&error_) nodus::error(o.error_);
      }
    }
    return *this;
  }
  result& operator=(result&& o) noexcept(std::is_nothrow_move_constructible_v<T>) {
    if (this != &o) {
      destroy();
      ok_ = o.ok_;
      if (ok_) {
        ::new (&value_) T(std::move(o.value_));
      } else {
        ::new (&error_) nodus::error(std::move(o.error_));
      }
    }
    return *this;
  }
  ~result() { destroy(); }

  [[nodiscard]] bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }

  [[nodiscard]] T& value() & { return checked(), value_; }
  [[nodiscard]] const T& value() const& { return checked(), value_; }
  [[nodiscard]] T&& value() && { return checked(), std::move(value_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // error() -> the error; an empty (ok) error when the result holds a value.
  [[nodiscard]] const nodus::error& error() const& noexcept {
    static const nodus::error none;
    return ok_ ? none : error_;
  }
  [[nodiscard]] std::error_code code() const noexcept { return error().code(); }

  template <class U>
  [[nodiscard]] T value_or(U&& fallback) const& {
    return ok_ ? value_ : static_cast<T>(static_cast<U&&>(fallback));
  }

 private:
  void checked() const noexcept { assert(ok_ && "nodus::result: value() of an error"); }
  void destroy() noexcept {
    if (ok_) {
      value_.~T();
    } else {
      error_.~error();
    }
  }
  union {
    T value_;
    nodus::error error_;
  };
  bool ok_;
};

// result<void>: success or an error.
template <>
class [[nodiscard]] result<void> {
 public:
  using value_type = void;
  result() = default;
  result(nodus::error e) : e_(std::move(e)) {}  // NOLINT
  result(errc e) : e_(e) {}                     // NOLINT
  result(std::error_code e) : e_(e) {}          // NOLINT

  [[nodiscard]] bool has_value() const noexcept { return !e_; }
  explicit operator bool() const noexcept { return has_value(); }
  void value() const noexcept { assert(has_value() && "nodus::result: value() of an error"); }
  [[nodiscard]] const nodus::error& error() const& noexcept { return e_; }
  [[nodiscard]] std::error_code code() const noexcept { return e_.code(); }

 private:
  nodus::error e_;
};

}  // namespace nodus

#if defined(NODUS_HEADER_ONLY)
#include "nodus/core/impl/error.ipp"
#endif

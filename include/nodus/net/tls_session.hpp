// nodus/net/tls_session.hpp: what a connection needs of TLS, without TLS's headers: a session
// over its TCP socket, made by a tls_context. The implementation (Asio's SSL stream over
// OpenSSL) is in nodus/net/tls.hpp, which a program includes when it turns TLS on; a connection
// that has no tls_context speaks plain TCP and never touches this.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>

#include "nodus/core/error.hpp"
#include "nodus/net/tls_options.hpp"

namespace nodus::net {

// One TLS session over a connected TCP socket (it refers to the socket, which must outlive it).
// Completion handlers run on the socket's executor, as the socket's own would. One read and one
// write may be outstanding at a time, as on an SSL stream.
class tls_session {
 public:
  using handshake_handler = std::function<void(std::error_code)>;
  using io_handler = std::function<void(std::error_code, std::size_t)>;

  tls_session() = default;
  tls_session(const tls_session&) = delete;
  tls_session& operator=(const tls_session&) = delete;
  virtual ~tls_session() = default;

  // async_handshake(h): the TLS handshake (client or server, as the session was made); h(error)
  // where a refused certificate reads as the verification error OpenSSL gives.
  virtual void async_handshake(handshake_handler h) = 0;
  // async_read_some(b, h): decrypted bytes into b.
  virtual void async_read_some(asio::mutable_buffer b, io_handler h) = 0;
  // async_write(b, h): all of b, encrypted.
  virtual void async_write(asio::const_buffer b, io_handler h) = 0;
  // closed_by_peer(ec) -> ec says the peer closed (or reset) the connection, with or without
  // TLS's close_notify.
  [[nodiscard]] virtual bool closed_by_peer(const std::error_code& ec) const = 0;
  // describe(ec) -> ec as a sentence, with OpenSSL's reason when it is an SSL error.
  [[nodiscard]] virtual std::string describe(const std::error_code& ec) const = 0;
};

// What makes sessions: certificates, keys, the authorities trusted and the checks asked for.
// Thread-safe; shared by every connection of a node.
class tls_context {
 public:
  tls_context() = default;
  tls_context(const tls_context&) = delete;
  tls_context& operator=(const tls_context&) = delete;
  virtual ~tls_context() = default;

  // wrap(socket, client, peer_host) -> a session over socket: the client side (we dialled
  // peer_host) or the server side (we accepted it; peer_host empty).
  [[nodiscard]] virtual std::unique_ptr<tls_session> wrap(asio::ip::tcp::socket& socket,
                                                          bool client,
                                                          std::string_view peer_host) = 0;
};

// The maker of tls_contexts: set by nodus/net/tls.hpp when a TU of the program includes it, or by
// the compiled library; nullptr: this program has no TLS.
using tls_factory = result<std::shared_ptr<tls_context>> (*)(const tls_options& o);
inline tls_factory& registered_tls_factory() noexcept {
  static tls_factory f = nullptr;
  return f;
}
inline bool register_tls_factory(tls_factory f) noexcept {
  registered_tls_factory() = f;
  return true;
}

// make_tls_context(o) -> the context of o through the registered factory. Errors:
// errc::tls_failed when the program has no TLS or o's files do not load.
inline result<std::shared_ptr<tls_context>> make_tls_context(const tls_options& o) {
  if (registered_tls_factory() == nullptr) {
    return error(errc::tls_failed,
                 "TLS distribution was asked for (a certificate is set) but this program has no "
                 "TLS: include <nodus/net/tls.hpp> in one of its files (and link libssl), or "
                 "link the compiled library");
  }
  return registered_tls_factory()(o);
}

}  // namespace nodus::net

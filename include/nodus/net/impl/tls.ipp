// nodus/net/impl/tls.ipp: TLS sessions over Asio's SSL stream (see nodus/net/tls.hpp).
// Included by that header in header-only mode, by nodus/impl/src.hpp otherwise.
#pragma once

#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <asio/ip/address.hpp>
#include <asio/ssl.hpp>
#include <asio/write.hpp>

#include "nodus/net/tls.hpp"

namespace nodus::net {

namespace detail {

// A session: Asio's SSL stream over the connection's socket (by reference).
class asio_tls_session final : public tls_session {
 public:
  asio_tls_session(asio::ssl::context& ctx, asio::ip::tcp::socket& socket, bool client,
                   std::string_view host, bool verify_host)
      : stream_(socket, ctx), ssl_(stream_.native_handle()), client_(client) {
    if (client && !host.empty()) {
      std::error_code ec;
      (void)asio::ip::make_address(std::string(host), ec);
      // SNI names a DNS host only (RFC 6066 section 3: no IP literals).
      if (ec) SSL_set_tlsext_host_name(ssl_, std::string(host).c_str());
      if (verify_host) {
        stream_.set_verify_callback(asio::ssl::host_name_verification(std::string(host)));
      }
    }
  }

  void async_handshake(handshake_handler h) override {
    stream_.async_handshake(
        client_ ? asio::ssl::stream_base::client : asio::ssl::stream_base::server, std::move(h));
  }
  void async_read_some(asio::mutable_buffer b, io_handler h) override {
    stream_.async_read_some(b, std::move(h));
  }
  void async_write(asio::const_buffer b, io_handler h) override {
    asio::async_write(stream_, b, std::move(h));
  }

  [[nodiscard]] bool closed_by_peer(const std::error_code& ec) const override {
    return ec == asio::error::eof || ec == asio::error::connection_reset ||
           ec == asio::ssl::error::stream_truncated;
  }
  [[nodiscard]] std::string describe(const std::error_code& ec) const override {
    std::string out = ec.message();
    const long verify = SSL_get_verify_result(ssl_);
    if (ec.category() == asio::error::get_ssl_category() && verify != X509_V_OK) {
      out += std::string(" (certificate: ") + X509_verify_cert_error_string(verify) + ")";
    }
    if (closed_by_peer(ec)) {
      out +=
          " (the peer closed during the TLS handshake: does it speak TLS, and did it "
          "accept our certificate?)";
    }
    return out;
  }

 private:
  asio::ssl::stream<asio::ip::tcp::socket&> stream_;
  SSL* ssl_;  // stream_'s
  bool client_;
};

class asio_tls_context final : public tls_context {
 public:
  explicit asio_tls_context(bool verify_host)
      : ctx_(asio::ssl::context::tls), verify_host_(verify_host) {}

  asio::ssl::context& native() noexcept { return ctx_; }

  [[nodiscard]] std::unique_ptr<tls_session> wrap(asio::ip::tcp::socket& socket, bool client,
                                                  std::string_view peer_host) override {
    return std::make_unique<asio_tls_session>(ctx_, socket, client, peer_host, verify_host_);
  }

 private:
  asio::ssl::context ctx_;
  bool verify_host_;
};

}  // namespace detail

NODUS_DECL result<std::shared_ptr<tls_context>> make_asio_tls_context(const tls_options& o) {
  auto c = std::make_shared<detail::asio_tls_context>(o.verify_host);
  auto& ctx = c->native();
  std::string step;
  try {
    step = "TLS versions";
    ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                    asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
    step = "the certificate chain '" + o.certfile + "'";
    ctx.use_certificate_chain_file(o.certfile);
    const std::string& key = o.keyfile.empty() ? o.certfile : o.keyfile;
    step = "the private key '" + key + "'";
    ctx.use_private_key_file(key, asio::ssl::context::pem);
    if (o.cafile.empty()) {
      step = "the system's certificate authorities";
      ctx.set_default_verify_paths();
    } else {
      step = "the certificate authorities '" + o.cafile + "'";
      ctx.load_verify_file(o.cafile);
    }
    ctx.set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
  } catch (const std::system_error& e) {
    return error(errc::tls_failed, "cannot load " + step + ": " + e.code().message());
  }
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
    return error(errc::tls_failed,
                 "the private key does not match the certificate '" + o.certfile + "'");
  }
  return std::shared_ptr<tls_context>(std::move(c));
}

}  // namespace nodus::net

// nodus/net/tls_options.hpp: the settings of TLS distribution (Erlang's inet_tls_dist): TLS from
// the first byte on the distribution port, both sides authenticated by certificates, the cookie
// handshake inside. Std only: options.hpp carries it without TLS's headers.
#pragma once

#include <string>

namespace nodus {

// tls_options: where a node's certificate, key and trusted authorities are. TLS is on when
// certfile is set; every connection of the node then uses it, both ways (a peer without TLS, or
// without a certificate the authorities signed, is refused), as erl -proto_dist inet_tls with
// verify_peer and fail_if_no_peer_cert on both sides. Needs nodus/net/tls.hpp in one TU of the
// program in header-only mode (and libssl), or the compiled library.
struct tls_options {
  std::string certfile;  // this node's certificate chain, PEM; empty: TLS off
  std::string keyfile;   // its private key, PEM; empty: in certfile
  std::string cafile;    // the authorities whose signature a peer's certificate needs, PEM;
                         // empty: the system's default ones
  // A node we dial must present a certificate that names its host (the host of its node name:
  // a DNS name or an IP address in subjectAltName), as a browser checks a web server's.
  bool verify_host = true;

  [[nodiscard]] bool enabled() const noexcept { return !certfile.empty(); }
};

}  // namespace nodus

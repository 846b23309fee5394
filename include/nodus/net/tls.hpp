// nodus/net/tls.hpp: TLS distribution (Erlang's inet_tls_dist) over Asio's SSL stream and
// OpenSSL. Include it in one TU of a header-only program that sets options::tls (and link
// libssl: CMake's OpenSSL::SSL, meson's dependency('libssl')); the compiled library has it
// already. It registers the maker of TLS contexts that the distribution uses (see
// net/tls_session.hpp); without it, a node asked for TLS refuses to start, saying so.
#pragma once

#include <memory>

#include "nodus/config.hpp"
#include "nodus/core/error.hpp"
#include "nodus/net/tls_options.hpp"
#include "nodus/net/tls_session.hpp"

namespace nodus::net {

// make_asio_tls_context(o) -> a context that loads o's certificate chain, key and authorities,
// speaks TLS 1.2 or 1.3, and asks every peer for a certificate those authorities signed (both
// ways: mutual authentication). Errors: errc::tls_failed naming the file that did not load.
[[nodiscard]] NODUS_DECL result<std::shared_ptr<tls_context>> make_asio_tls_context(
    const tls_options& o);

namespace detail {
// Registered at static initialisation, once per program (an inline variable).
inline const bool tls_registered = register_tls_factory(&make_asio_tls_context);
}  // namespace detail

}  // namespace nodus::net

#if defined(NODUS_HEADER_ONLY)
#include "nodus/net/impl/tls.ipp"
#endif

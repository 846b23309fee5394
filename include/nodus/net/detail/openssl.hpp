// nodus/net/detail/openssl.hpp: the few OpenSSL 3 calls the handshake needs (link with -lcrypto).
#pragma once

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstddef>
#include <memory>

namespace nodus::net::detail {

struct evp_md_deleter {
  void operator()(EVP_MD* md) const noexcept { EVP_MD_free(md); }
};

// md5() -> OpenSSL's MD5 implementation, fetched once (thread-safe static); nullptr when no loaded
// provider offers MD5 (a FIPS-only configuration).
[[nodiscard]] inline const EVP_MD* md5() noexcept {
  static const std::unique_ptr<EVP_MD, evp_md_deleter> md{EVP_MD_fetch(nullptr, "MD5", nullptr)};
  return md.get();
}

// md5_digest(data, size, out) -> false on failure; else out holds the 16-byte MD5 of data.
[[nodiscard]] inline bool md5_digest(const void* data, std::size_t size,
                                     unsigned char (&out)[16]) noexcept {
  const EVP_MD* md = md5();
  if (md == nullptr) return false;
  unsigned int written = 0;
  if (EVP_Digest(data, size, out, &written, md, nullptr) != 1) return false;
  return written == 16;
}

// equal_constant_time(a, b, size) -> whether the size bytes at a and b are equal, in a time that
// does not depend on where they differ (CRYPTO_memcmp).
[[nodiscard]] inline bool equal_constant_time(const void* a, const void* b,
                                              std::size_t size) noexcept {
  return CRYPTO_memcmp(a, b, size) == 0;
}

// random_bytes(out, size) -> false when OpenSSL's CSPRNG failed; else out holds size random bytes.
[[nodiscard]] inline bool random_bytes(unsigned char* out, int size) noexcept {
  return RAND_bytes(out, size) == 1;
}

}  // namespace nodus::net::detail

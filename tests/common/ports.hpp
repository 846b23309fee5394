// tests/common/ports.hpp: TCP ports on loopback for tests and benchmarks: a free one to give a
// child process (free_port), one held closed (closed_port), and whether something listens on one
// (accepts_now, accepts). Part of the test support library (tests/common/, namespace nodus::test).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <stdexcept>
#include <system_error>

#include "wait.hpp"

namespace nodus::test {

// free_port() -> a TCP port free on both IPv4 and IPv6 just now (bound on [::]:0 dual stack, or
// 127.0.0.1:0 without IPv6, then released: a child process binds it next), never the port
// mapper's default 4369. Throws std::runtime_error when no port can be bound.
inline std::uint16_t free_port() {
  for (int tries = 0; tries < 20; ++tries) {
    std::uint16_t port = 0;
    int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
      int off = 0;
      ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
      sockaddr_in6 a{};
      a.sin6_family = AF_INET6;
      a.sin6_addr = in6addr_any;
      socklen_t len = sizeof a;
      if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
          ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
        port = ntohs(a.sin6_port);
      }
      ::close(fd);
    } else {
      fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      socklen_t len = sizeof a;
      if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
          ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
        port = ntohs(a.sin_port);
      }
      if (fd >= 0) ::close(fd);
    }
    if (port != 0 && port != 4369) return port;
  }
  throw std::runtime_error("free_port: no free port found");
}

// closed_port: a loopback port bound by no listener (a connect to it is refused at once), held
// for the life of the object so that nobody else takes it meanwhile.
class closed_port {
 public:
  closed_port() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      const int err = errno;
      if (fd_ >= 0) ::close(fd_);
      throw std::system_error(err, std::generic_category(), "closed_port");
    }
    port_ = ntohs(a.sin_port);
  }
  closed_port(const closed_port&) = delete;
  closed_port& operator=(const closed_port&) = delete;
  ~closed_port() { ::close(fd_); }
  [[nodiscard]] int port() const noexcept { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

// accepts_now(port) -> something accepts TCP connections on 127.0.0.1:port now (one connect).
inline bool accepts_now(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// accepts(port, timeout) -> something accepts TCP connections on 127.0.0.1:port within timeout
// (tried every 2 ms: a child process's listening socket announces itself no other way).
inline bool accepts(std::uint16_t port, clock_type::duration timeout = step_timeout) {
  return wait_until([port] { return accepts_now(port); }, timeout);
}

}  // namespace nodus::test

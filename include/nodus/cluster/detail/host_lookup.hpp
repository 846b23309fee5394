// nodus/cluster/detail/host_lookup.hpp: host name lookups that never hold up a node's stop.
//
// Asio's resolver runs getaddrinfo on one thread per io_context, and destroying the io_context
// joins that thread: a lookup stuck on a silent DNS server (attempts x timeout of resolv.conf,
// 10 s and more) would stall the node's stop by as long. Here every lookup runs on a detached
// thread of its own and posts its answer only while the io_context is alive (a service of the
// io_context closes the way back when the context shuts down); a late answer is dropped.
#pragma once

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/execution_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/post.hpp>

#include "nodus/core/error.hpp"

namespace nodus::cluster::detail {

// lookup_addresses(host) -> the addresses of host (A and AAAA, in the resolver's order), or why
// not (errc::not_connected). Blocking: getaddrinfo.
inline result<std::vector<asio::ip::address>> lookup_addresses(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;  // A and AAAA
  // No AI_ADDRCONFIG on purpose: it would drop the AAAA answers on a host without a global IPv6
  // address.
  hints.ai_socktype = SOCK_STREAM;  // one entry per address
  addrinfo* list = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &list);
  if (rc != 0) {
    return error(errc::not_connected, rc == EAI_SYSTEM ? std::string(std::strerror(errno))
                                                       : std::string(::gai_strerror(rc)));
  }
  std::vector<asio::ip::address> out;
  for (addrinfo* a = list; a != nullptr; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
      asio::ip::address_v4::bytes_type b;
      std::memcpy(b.data(), &in->sin_addr, 4);
      out.emplace_back(asio::ip::address_v4(b));
    } else if (a->ai_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(a->ai_addr);
      asio::ip::address_v6::bytes_type b;
      std::memcpy(b.data(), &in6->sin6_addr, 16);
      out.emplace_back(asio::ip::address_v6(b, in6->sin6_scope_id));
    }
  }
  ::freeaddrinfo(list);
  return out;
}

// lookup_service: per io_context, the callbacks of the lookups in flight and the way back to the
// io_context. When the io_context shuts down (before its scheduler: services shut down in reverse
// order of creation) the way back closes and the callbacks are destroyed there, as Asio destroys
// the handlers it never ran; a lookup thread that returns later finds nothing to call.
class lookup_service final : public asio::execution_context::service {
 public:
  using key_type = lookup_service;
  static inline asio::execution_context::id id;

  // At most this many lookups run at once per io_context; more fail at once (a silent DNS server
  // and a strategy polling many names must not pile up threads).
  static constexpr std::size_t max_in_flight = 64;

  // A lookup in flight: where its answer goes. The executor stays here, not on the lookup's
  // thread: that thread may end after the io_context is gone, and the last copy of a strand
  // executor must not be destroyed then (its service would be gone). deliver() hands the answer,
  // which the lookup's thread stored before it posted, to the caller's callback.
  struct waiter {
    asio::any_io_executor executor;
    std::function<void()> deliver;
  };
  struct way_back {
    std::mutex m;
    bool open = true;
    std::uint64_t next_id = 0;
    std::unordered_map<std::uint64_t, waiter> waiting;
  };

  explicit lookup_service(asio::execution_context& ctx)
      : asio::execution_context::service(ctx), back_(std::make_shared<way_back>()) {}

  [[nodiscard]] const std::shared_ptr<way_back>& back() const noexcept { return back_; }

 private:
  void shutdown() override {
    std::unordered_map<std::uint64_t, waiter> dropped;
    {
      std::lock_guard lock(back_->m);
      back_->open = false;
      dropped.swap(back_->waiting);
    }
  }
  std::shared_ptr<way_back> back_;
};

// async_blocking<T>(ex, what, work, cb): cb(work()) on ex, work() run on a thread of its own;
// never called (cb is destroyed instead) once ex's io_context has shut down. `what` names the
// lookup in the error cb gets when max_in_flight lookups run already ("look up 'host'").
template <class T>
void async_blocking(const asio::any_io_executor& ex, std::string what,
                    std::function<result<T>()> work, std::function<void(result<T>)> cb) {
  auto& ctx = asio::query(ex, asio::execution::context);
  auto back = asio::use_service<lookup_service>(ctx).back();
  // The answer: written by the lookup's thread before it posts deliver(), read by deliver().
  auto slot = std::make_shared<std::optional<result<T>>>();
  std::uint64_t id = 0;
  {
    std::lock_guard lock(back->m);
    if (back->open && back->waiting.size() < lookup_service::max_in_flight) {
      id = ++back->next_id;
      back->waiting.emplace(id,
                            lookup_service::waiter{ex, [slot, cb]() { cb(std::move(**slot)); }});
    }
  }
  if (id == 0) {
    asio::post(ex, [cb = std::move(cb), what = std::move(what)] {
      cb(error(errc::not_connected,
               "cannot " + what + ": " + std::to_string(lookup_service::max_in_flight) +
                   " lookups are in flight already (is the DNS server answering?)"));
    });
    return;
  }
  std::thread([back, id, slot, work = std::move(work)] {
    slot->emplace(work());
    std::lock_guard lock(back->m);
    auto it = back->waiting.find(id);
    if (!back->open || it == back->waiting.end()) return;  // the node is gone
    asio::post(it->second.executor, std::move(it->second.deliver));
    back->waiting.erase(it);
  }).detach();
}

using lookup_callback = std::function<void(result<std::vector<asio::ip::address>>)>;

// async_lookup(ex, host, cb): cb(addresses or error) on ex, from lookup_addresses(host) on a
// thread of its own; never called (cb is destroyed instead) once ex's io_context has shut down.
inline void async_lookup(const asio::any_io_executor& ex, std::string host, lookup_callback cb) {
  std::string what = "look up '" + host + "'";
  async_blocking<std::vector<asio::ip::address>>(
      ex, std::move(what), [host = std::move(host)] { return lookup_addresses(host); },
      std::move(cb));
}

}  // namespace nodus::cluster::detail

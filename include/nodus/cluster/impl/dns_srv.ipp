// nodus/cluster/impl/dns_srv.ipp: the type-independent part of dns_srv_strategy: the SRV lookup
// (res_nsearch, then our own checked reading of the answer) that a dns_poller runs (see
// cluster/dns_srv.hpp). Included by that header in header-only mode, by nodus/impl/src.hpp
// otherwise.
#pragma once

#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nodus/cluster/detail/srv_answer.hpp"
#include "nodus/cluster/dns_poll.hpp"
#include "nodus/cluster/dns_srv.hpp"
#include "nodus/cluster/impl/dns_poll.ipp"
#include "nodus/core/error.hpp"
#include "nodus/core/format.hpp"

namespace nodus::cluster::detail {

// lookup_srv(query) -> the SRV records of query, from the system resolver, or why not
// (errc::not_connected: no such name, no SRV record, no answer; errc::malformed_frame: an answer
// that does not parse). Blocking: res_nsearch, with a resolver state of its own (thread-safe).
inline result<std::vector<srv_record>> lookup_srv(const std::string& query) {
  struct resolver {
    struct __res_state state {};
    bool ready = false;
    resolver() { ready = ::res_ninit(&state) == 0; }
    resolver(const resolver&) = delete;
    resolver& operator=(const resolver&) = delete;
    ~resolver() {
      if (ready) ::res_nclose(&state);
    }
  } r;
  if (!r.ready) return error(errc::not_connected, "cannot read the resolver's configuration");
  // The largest DNS message (its length is 16 bits, RFC 1035 4.2.2): an answer that came over
  // TCP because it did not fit in UDP (TC) fits here whole.
  std::vector<std::uint8_t> answer(65535);
  constexpr int class_in = 1;   // RFC 1035 3.2.4
  constexpr int type_srv = 33;  // RFC 2782
  const int n = ::res_nsearch(&r.state, query.c_str(), class_in, type_srv, answer.data(),
                              static_cast<int>(answer.size()));
  if (n < 0) {
    // res_nsearch leaves the reason in the state's h_errno (netdb.h).
    switch (r.state.res_h_errno) {
      case HOST_NOT_FOUND: return error(errc::not_connected, "no such name (NXDOMAIN)");
      case NO_DATA: return error(errc::not_connected, "no SRV records");
      case TRY_AGAIN:
        return error(errc::not_connected, "no answer from the DNS server (timeout or SERVFAIL)");
      default:
        return error(errc::not_connected,
                     "the DNS server refused or failed the query (REFUSED, FORMERR or NOTIMP)");
    }
  }
  const auto size = std::min(static_cast<std::size_t>(n), answer.size());
  return parse_srv_answer(std::span<const std::uint8_t>(answer.data(), size));
}

// srv_hosts(records) -> the distinct host names the records target, sorted, for a dns_poller;
// fails with "no SRV records" when there is none. A target "." (RFC 2782: the service is
// decidedly not available) names no host; a target that is no host name is skipped, and said so.
inline result<dns_hosts> srv_hosts(const std::vector<srv_record>& records) {
  if (records.empty()) return error(errc::not_connected, "no SRV records");
  dns_hosts out;
  for (const auto& r : records) {
    if (r.target.empty()) continue;
    if (!r.host_name) {
      out.skipped.push_back(
          format("ignoring the SRV target '{}': not a host name (labels of A-Z "
                 "a-z 0-9 - _ only)",
                 r.target));
      continue;
    }
    out.hosts.push_back(r.target);
  }
  std::sort(out.hosts.begin(), out.hosts.end());
  out.hosts.erase(std::unique(out.hosts.begin(), out.hosts.end()), out.hosts.end());
  return out;
}

NODUS_DECL std::shared_ptr<dns_poller> start_dns_srv_poller(std::shared_ptr<strategy_context> ctx,
                                                            std::string_view query,
                                                            std::string_view basename,
                                                            std::chrono::milliseconds interval) {
  const cluster_options& s = ctx->settings();
  dns_poll_config config{s.srv_query.empty() ? std::string(query) : s.srv_query,
                         s.dns_basename.empty() ? std::string(basename) : s.dns_basename,
                         effective_interval(*ctx, interval), "targets"};
  return make_dns_poller(std::move(ctx), "dns_srv_strategy", "--cluster-dns-srv", std::move(config),
                         [](const std::string& q) -> result<dns_hosts> {
                           auto records = lookup_srv(q);
                           if (!records) return records.error();
                           return srv_hosts(*records);
                         });
}

}  // namespace nodus::cluster::detail

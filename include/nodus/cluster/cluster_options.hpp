// nodus/cluster/cluster_options.hpp: cluster_options, the run-time settings of a node's cluster
// formation, on std types alone so that nodus/options.hpp stays light.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace nodus {

// Run-time settings of a node's cluster formation (options::cluster). Each one, when set,
// extends or overrides what the topology's types say, for every strategy it applies to; unset
// ones keep the types' values. options::from_args fills them from --cluster-* flags, and a node
// fills unset ones from NODUS_CLUSTER_* environment variables when it starts.
struct cluster_options {
  // false: start() leaves the topology's strategies off (--no-cluster); start_cluster() still
  // starts them. For running a program built with a topology on its own.
  bool form = true;
  // epmd_strategy: replaces the host lists of the types (--cluster-hosts a@h,b@h;
  // NODUS_CLUSTER_HOSTS).
  std::optional<std::vector<std::string>> hosts;
  // epmd_strategy: added to the host lists (--cluster-hosts +a@h,b@h).
  std::vector<std::string> extra_hosts;
  // erlang_hosts_strategy: the file that lists the hosts (--cluster-hosts-file PATH;
  // NODUS_CLUSTER_HOSTS_FILE).
  std::string hosts_file;
  // dns_poll_strategy: the name to poll (--cluster-dns NAME; NODUS_CLUSTER_DNS) and the node
  // basename (--cluster-dns-basename B; NODUS_CLUSTER_DNS_BASENAME), which dns_srv_strategy uses
  // too.
  std::string dns_query;
  std::string dns_basename;
  // dns_srv_strategy: the name whose SRV records to poll (--cluster-dns-srv NAME;
  // NODUS_CLUSTER_DNS_SRV).
  std::string srv_query;
  // Every strategy's polling / heartbeat / retry interval (--cluster-interval MS;
  // NODUS_CLUSTER_INTERVAL); 0: each type's own.
  std::chrono::milliseconds interval{0};
  // gossip_strategy's shared secret (--cluster-secret S; prefer NODUS_CLUSTER_SECRET, since
  // command lines are visible to every user of the host).
  std::optional<std::string> secret;
  // gossip_strategy's multicast group address, UDP port, interface address and TTL
  // (--gossip-group A, --gossip-port P, --gossip-if A, --gossip-ttl N); empty / 0 / -1: the
  // type's.
  std::string gossip_group;
  std::uint16_t gossip_port = 0;
  std::string gossip_if;
  int gossip_ttl = -1;
  // start() waits until every strategy ran its first round of connects, for at most this long
  // (--cluster-wait MS); 0: start() does not wait for the cluster.
  std::chrono::milliseconds startup_wait{0};
};

}  // namespace nodus

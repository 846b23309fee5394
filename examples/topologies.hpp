// examples/topologies.hpp: the topology aliases the examples are compiled with, as libcluster's
// `topologies` config. One -D switch picks one (CMake builds simple_cluster once per alias):
//
// clang-format off
//   switch                        strategy                                       executable
//   (none)                        epmd_strategy: the hosts n1, n2, n3 @127.0.0.1  simple_cluster
//   -DNODUS_TOPOLOGY_LOCAL_EPMD   local_epmd_strategy: this host's port mapper   simple_cluster_local_epmd
//   -DNODUS_TOPOLOGY_HOSTS_FILE   erlang_hosts_strategy: ./.hosts.erlang         simple_cluster_hosts_file
//   -DNODUS_TOPOLOGY_GOSSIP       gossip_strategy: multicast 233.252.1.32:45892  simple_cluster_gossip
//   -DNODUS_TOPOLOGY_DNS          dns_poll_strategy: n@<each address of          simple_cluster_dns
//                                 nodes.local>
//   -DNODUS_TOPOLOGY_DNS_SRV      dns_srv_strategy: n@<each SRV target of        simple_cluster_dns_srv
//                                 nodus-headless.default.svc.cluster.local>
// clang-format on
//
// Each can be extended or overridden at run time (see nodus::options::from_args): for example
// `--cluster-hosts a@10.0.0.1,b@10.0.0.2`, `--cluster-dns nodes.prod`, `--cluster-interval 1000`,
// `NODUS_CLUSTER_SECRET=...` for gossip. docs/kubernetes.md deploys the two DNS ones.
#pragma once

#include <nodus/cluster/topology.hpp>

// The gossip and DNS strategies are headers of their own, included only where they are used.
#if defined(NODUS_TOPOLOGY_GOSSIP)
#include <nodus/cluster/gossip.hpp>
#elif defined(NODUS_TOPOLOGY_DNS)
#include <nodus/cluster/dns_poll.hpp>
#elif defined(NODUS_TOPOLOGY_DNS_SRV)
#include <nodus/cluster/dns_srv.hpp>
#endif

#if defined(NODUS_TOPOLOGY_LOCAL_EPMD)
using example_topology = nodus::topology<nodus::named<"example", nodus::local_epmd_strategy<>>>;
#elif defined(NODUS_TOPOLOGY_HOSTS_FILE)
using example_topology = nodus::topology<nodus::named<"example", nodus::erlang_hosts_strategy<>>>;
#elif defined(NODUS_TOPOLOGY_GOSSIP)
using example_topology = nodus::topology<nodus::named<"example", nodus::gossip_strategy<>>>;
#elif defined(NODUS_TOPOLOGY_DNS)
using example_topology = nodus::topology<
    nodus::named<"example", nodus::dns_poll_strategy<nodus::dns_query<"nodes.local">,
                                                     nodus::node_basename<"n">>>>;
#elif defined(NODUS_TOPOLOGY_DNS_SRV)
// libcluster's Kubernetes.DNSSRV: the pods of a StatefulSet behind the headless service
// nodus-headless, each named n@<its pod's FQDN> (docs/kubernetes.md).
using example_topology = nodus::topology<nodus::named<
    "example", nodus::dns_srv_strategy<nodus::srv_query<"nodus-headless.default.svc.cluster.local">,
                                       nodus::node_basename<"n">>>>;
#else
// The seed's libcluster config: topologies: [example: [strategy: Cluster.Strategy.Epmd,
// config: [hosts: [:"n1@127.0.0.1", :"n2@127.0.0.1", :"n3@127.0.0.1"]]]]
using example_topology = nodus::topology<nodus::named<
    "example", nodus::epmd_strategy<nodus::hosts<"n1@127.0.0.1", "n2@127.0.0.1", "n3@127.0.0.1">,
                                    nodus::polling_interval<2000>>>>;
#endif

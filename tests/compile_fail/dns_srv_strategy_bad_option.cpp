// EXPECT-ERROR: dns_srv_strategy<...> takes only nodus::srv_query
// dns_srv_strategy given dns_poll_strategy's dns_query<> (an easy mix-up) says which options it
// takes.
#include <nodus/cluster/dns_srv.hpp>

using strategy =
    nodus::dns_srv_strategy<nodus::dns_query<"nodes.test">, nodus::node_basename<"app">>;

int main() { return static_cast<int>(strategy::interval.count()); }

// tests/formation/dns_poll.cpp: dns_poll_strategy against a real DNS server (dnsmasq) in a network
// namespace, through the real system resolver, with a strategy_context that records what the
// strategy asks for (strategy_run.hpp); and the namespace harness itself (tests/common/netns.hpp):
// a LAN that carries TCP and multicast, and a partition.
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <exception>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "../common/netns.hpp"
#include "nodus/cluster/dns_poll.hpp"
#include "strategy_run.hpp"

namespace {

using namespace std::chrono_literals;
using formation_test::log_line;
using formation_test::poll_run;
using formation_test::skip_without_netns;
using nodus::log_level;
using nodus::test::dnsmasq;
using nodus::test::netns;

using nodes_strategy =
    nodus::dns_poll_strategy<nodus::dns_query<"nodes.test">, nodus::node_basename<"app">,
                             nodus::polling_interval<150>>;

// A namespace with a DNS server on 198.18.7.53 (on its lo), the resolver of the namespace.
struct dns_host {
  dns_host(std::initializer_list<std::pair<std::string, std::string>> records)
      : ns("dns"), dns(with_address(ns), server, dnsmasq::records(records)) {}
  static netns& with_address(netns& n) {
    n.add_address("lo", std::string(server) + "/32");
    return n;
  }
  static constexpr const char* server = "198.18.7.53";
  netns ns;
  dnsmasq dns;
};

const std::vector<std::string> nodes_1_2{"app@198.18.7.1", "app@198.18.7.2"};

}  // namespace

BOOST_AUTO_TEST_SUITE(dns_poll)

BOOST_AUTO_TEST_CASE(resolves_a_records_and_skips_self) {
  if (skip_without_netns()) return;
  dns_host host(
      {{"198.18.7.1", "nodes.test"}, {"198.18.7.2", "nodes.test"}, {"198.18.7.3", "nodes.test"}});
  poll_run<nodes_strategy> run(&host.ns, "app@198.18.7.3");
  auto& ctx = run.ctx();
  // Two polls: the first at once, the next one interval later, both with the same answer.
  BOOST_REQUIRE_MESSAGE(ctx.wait([](const auto& calls, const auto&) { return calls.size() >= 2; }),
                        "no two set_nodes calls" << ctx.transcript());
  for (const auto& c : ctx.calls()) {
    BOOST_TEST(c.names == nodes_1_2, "wrong nodes" << ctx.transcript());
    BOOST_TEST(c.disconnect_vanished);
    BOOST_TEST(!c.any_endpoint);  // the engine asks EPMD on each address
  }
  BOOST_TEST(ctx.add_calls() == 0u);
  BOOST_TEST(ctx.count_lines("failed") == 0u, ctx.transcript());
}

BOOST_AUTO_TEST_CASE(resolves_aaaa_records) {
  if (skip_without_netns()) return;
  // 2001:db8::/32 is the documentation prefix: only data in the answer, never a destination.
  dns_host host({{"198.18.7.1", "nodes.test"}, {"2001:db8::7", "nodes.test"}});
  poll_run<nodes_strategy> run(&host.ns, "app@198.18.7.3");
  auto& ctx = run.ctx();
  BOOST_REQUIRE_MESSAGE(ctx.wait([](const auto& calls, const auto&) { return !calls.empty(); }),
                        "no set_nodes call" << ctx.transcript());
  const std::vector<std::string> expected{"app@198.18.7.1", "app@2001:db8::7"};
  BOOST_TEST(ctx.calls().front().names == expected, ctx.transcript());
}

BOOST_AUTO_TEST_CASE(disconnects_vanished_addresses) {
  if (skip_without_netns()) return;
  dns_host host({{"198.18.7.1", "nodes.test"}, {"198.18.7.2", "nodes.test"}});
  poll_run<nodes_strategy> run(&host.ns, "app@198.18.7.3");
  auto& ctx = run.ctx();
  BOOST_REQUIRE_MESSAGE(ctx.wait([](const auto& calls, const auto&) {
    return !calls.empty() && calls.back().names == nodes_1_2;
  }),
                        "198.18.7.1 and .2 not seen" << ctx.transcript());
  host.dns.set_records({{"198.18.7.1", "nodes.test"}});  // SIGHUP, and .2 is gone from answers
  const std::vector<std::string> only_1{"app@198.18.7.1"};
  BOOST_REQUIRE_MESSAGE(
      ctx.wait([&](const auto& calls, const auto&) { return calls.back().names == only_1; }),
      "the vanished node stayed" << ctx.transcript());
  for (const auto& c : ctx.calls()) {
    BOOST_TEST(c.disconnect_vanished);
    BOOST_TEST((c.names == nodes_1_2 || c.names == only_1), ctx.transcript());
  }
}

BOOST_AUTO_TEST_CASE(failed_lookups_change_nothing) {
  if (skip_without_netns()) return;
  dns_host host({{"198.18.7.1", "nodes.test"}, {"198.18.7.2", "nodes.test"}});
  poll_run<nodes_strategy> run(&host.ns, "app@198.18.7.3");
  auto& ctx = run.ctx();
  BOOST_REQUIRE_MESSAGE(ctx.wait([](const auto& calls, const auto&) { return !calls.empty(); }),
                        "no set_nodes call" << ctx.transcript());
  const std::string failed = "lookup of nodes.test failed";

  // The name removed entirely: the server says "no such name".
  host.dns.set_records({{"198.18.7.9", "other.test"}});
  BOOST_REQUIRE_MESSAGE(ctx.wait_lines(failed, 1), "no failed lookup" << ctx.transcript());
  std::size_t calls = ctx.calls().size();
  std::size_t seen = ctx.count_lines(failed);
  BOOST_REQUIRE_MESSAGE(ctx.wait_lines(failed, seen + 3), "polls stopped" << ctx.transcript());
  BOOST_TEST(ctx.calls().size() == calls, "set_nodes after a failed lookup" << ctx.transcript());
  BOOST_TEST(ctx.count_lines("Name or service not known") >= 3u, ctx.transcript());

  // The server gone: queries meet a closed port.
  host.dns.stop();
  seen = ctx.count_lines(failed);
  BOOST_REQUIRE_MESSAGE(ctx.wait_lines(failed, seen + 3), "polls stopped" << ctx.transcript());
  BOOST_TEST(ctx.calls().size() == calls, "set_nodes without a server" << ctx.transcript());
  for (const auto& c : ctx.calls()) BOOST_TEST(c.names == nodes_1_2, ctx.transcript());
  // The first failure of a streak is a warning, the repeats are debug lines.
  const auto lines = ctx.lines();
  const auto first = std::find_if(lines.begin(), lines.end(), [&](const log_line& l) {
    return l.text.find(failed) != std::string::npos;
  });
  BOOST_REQUIRE(first != lines.end());
  BOOST_TEST((first->level == log_level::warn));
  BOOST_TEST((std::prev(lines.end())->level == log_level::debug), ctx.transcript());

  // A server again, with one address: the next answer replaces the set.
  dnsmasq again(host.ns, dns_host::server, {{"198.18.7.2", "nodes.test"}});
  const std::vector<std::string> only_2{"app@198.18.7.2"};
  BOOST_REQUIRE_MESSAGE(
      ctx.wait([&](const auto& cs, const auto&) { return cs.back().names == only_2; }),
      "no recovery" << ctx.transcript());
  BOOST_TEST(ctx.calls().back().disconnect_vanished);
  BOOST_TEST(ctx.count_lines("lookup of nodes.test answers again") == 1u, ctx.transcript());
}

BOOST_AUTO_TEST_CASE(first_failed_lookup_closes_the_first_round) {
  if (skip_without_netns()) return;
  dns_host host({{"198.18.7.9", "other.test"}});
  poll_run<nodes_strategy> run(&host.ns, "app@198.18.7.3");
  auto& ctx = run.ctx();
  BOOST_REQUIRE_MESSAGE(ctx.wait_lines("lookup of nodes.test failed", 3),
                        "no three failed lookups" << ctx.transcript());
  const auto calls = ctx.calls();
  BOOST_REQUIRE_EQUAL(calls.size(), 1u);  // once, however many lookups fail
  BOOST_TEST(calls.front().names.empty());
  BOOST_TEST(!calls.front().disconnect_vanished);
}

BOOST_AUTO_TEST_CASE(runtime_settings_override_the_types) {
  if (skip_without_netns()) return;
  dns_host host({{"198.18.7.1", "nodes.test"}, {"198.18.7.2", "nodes.test"}});
  nodus::cluster_options settings;
  settings.dns_query = "nodes.test";
  settings.dns_basename = "web";
  settings.interval = 150ms;
  using strategy =
      nodus::dns_poll_strategy<nodus::dns_query<"wrong.test">, nodus::node_basename<"app">,
                               nodus::polling_interval<60000>>;
  poll_run<strategy> run(&host.ns, "web@198.18.7.3", settings);
  auto& ctx = run.ctx();
  // Three polls within the bound: the 150 ms interval, not the type's 60 s.
  BOOST_REQUIRE_MESSAGE(ctx.wait([](const auto& calls, const auto&) { return calls.size() >= 3; }),
                        "not polled every 150 ms" << ctx.transcript());
  const std::vector<std::string> expected{"web@198.18.7.1", "web@198.18.7.2"};
  for (const auto& c : ctx.calls()) BOOST_TEST(c.names == expected, ctx.transcript());
  BOOST_TEST(ctx.count_lines("wrong.test") == 0u, ctx.transcript());
}

BOOST_AUTO_TEST_CASE(without_query_or_basename_it_does_nothing) {
  {
    poll_run<nodus::dns_poll_strategy<nodus::node_basename<"app">>> run(nullptr, "app@127.0.0.1");
    auto& ctx = run.ctx();
    const auto lines = ctx.lines();  // start() logged at once, on the calling thread
    BOOST_REQUIRE_EQUAL(lines.size(), 1u);
    BOOST_TEST((lines.front().level == log_level::error));
    BOOST_TEST(lines.front().text.find("dns_poll_strategy needs a query (--cluster-dns) and a "
                                       "basename") != std::string::npos,
               lines.front().text);
    // Only an empty first round, so that a node's start-up does not wait for this strategy.
    const auto calls = ctx.calls();
    BOOST_REQUIRE_EQUAL(calls.size(), 1u);
    BOOST_TEST(calls.front().names.empty());
    BOOST_TEST(!calls.front().disconnect_vanished);
  }
  {
    nodus::cluster_options settings;
    settings.dns_basename = "not.valid";
    poll_run<nodes_strategy> run(nullptr, "app@127.0.0.1", settings);
    const auto lines = run.ctx().lines();
    BOOST_REQUIRE_EQUAL(lines.size(), 1u);
    BOOST_TEST((lines.front().level == log_level::error));
    BOOST_TEST(lines.front().text.find("invalid basename \"not.valid\"") != std::string::npos,
               lines.front().text);
  }
}

BOOST_AUTO_TEST_CASE(a_hung_lookup_is_bounded) {
  if (skip_without_netns()) return;
  dns_host host({{"198.18.7.1", "nodes.test"}});
  // glibc gives up after 3 s, later than the strategy's guard (1 s: its interval clamped to
  // 1..5 s), and early enough for the teardown, which joins Asio's resolver thread.
  host.ns.set_resolver(dns_host::server, "timeout:3 attempts:1");
  poll_run<nodes_strategy> run(&host.ns, "app@198.18.7.3");
  auto& ctx = run.ctx();
  const std::vector<std::string> only_1{"app@198.18.7.1"};
  BOOST_REQUIRE_MESSAGE(ctx.wait([](const auto& calls, const auto&) { return !calls.empty(); }),
                        "no set_nodes call" << ctx.transcript());
  host.dns.pause();  // receives the queries, answers none
  BOOST_REQUIRE_MESSAGE(ctx.wait_lines("lookup of nodes.test failed: no answer within 1000 ms", 1),
                        "the guard did not fire" << ctx.transcript());
  const std::size_t calls = ctx.calls().size();
  // The polls go on meanwhile, without queueing lookups behind the hung one.
  BOOST_REQUIRE_MESSAGE(ctx.wait_lines("the previous lookup has not returned yet", 2),
                        "no polls while the lookup hangs" << ctx.transcript());
  BOOST_TEST(ctx.calls().size() == calls, ctx.transcript());
  host.dns.resume();
  BOOST_REQUIRE_MESSAGE(ctx.wait([&](const auto& cs, const auto&) { return cs.size() > calls; }),
                        "no recovery after the server answered again" << ctx.transcript());
  for (const auto& c : ctx.calls()) BOOST_TEST(c.names == only_1, ctx.transcript());
}

BOOST_AUTO_TEST_CASE(stop_ends_polling) {
  if (skip_without_netns()) return;
  dns_host host({{"198.18.7.1", "nodes.test"}});
  auto run = std::make_unique<poll_run<nodes_strategy>>(&host.ns, "app@198.18.7.3");
  auto& ctx = run->ctx();
  BOOST_REQUIRE_MESSAGE(ctx.wait([](const auto& calls, const auto&) { return calls.size() >= 2; }),
                        "no two set_nodes calls" << ctx.transcript());
  // Stop while a lookup is inside the resolver: the server holds the query until resume().
  host.dns.pause();
  const std::size_t polls = ctx.count_lines("polling nodes.test");
  BOOST_REQUIRE_MESSAGE(ctx.wait_lines("polling nodes.test", polls + 1),
                        "no poll after the pause" << ctx.transcript());
  run->strategy().stop();      // without ctx.halt(): stop() alone must end it
  BOOST_REQUIRE(run->sync());  // stop's work has run on the strand
  const std::size_t calls = ctx.calls().size();
  const std::size_t lines = ctx.lines().size();
  host.dns.resume();  // the lookup returns now, cancelled or answered: it must change nothing
  // A negative check needs a window: six intervals, in which a poller that went on would poll
  // twice, and the held lookup returns within milliseconds.
  std::this_thread::sleep_for(900ms);
  BOOST_TEST(ctx.calls().size() == calls, ctx.transcript());
  BOOST_TEST(ctx.lines().size() == lines, ctx.transcript());
  run.reset();  // the strategy object goes while Asio may still hold the poller: no use after free
}

BOOST_AUTO_TEST_SUITE_END()

// ---- the harness: a LAN of namespaces
// ------------------------------------------------------------

namespace {

// An owned file descriptor.
struct fd_owner {
  int fd = -1;
  fd_owner() = default;
  explicit fd_owner(int f) : fd(f) {}
  fd_owner(const fd_owner&) = delete;
  fd_owner& operator=(const fd_owner&) = delete;
  ~fd_owner() {
    if (fd >= 0) ::close(fd);
  }
};

// socket_in(ns, type) -> a new IPv4 socket of ns (a socket keeps the namespace it was made in,
// whichever thread uses it later).
int socket_in(const netns& ns, int type) {
  int fd = -1;
  std::exception_ptr failure;
  std::thread t([&] {
    try {
      ns.enter_on_this_thread();
      fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    } catch (...) {
      failure = std::current_exception();
    }
  });
  t.join();
  if (failure) std::rethrow_exception(failure);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  return fd;
}

sockaddr_in ipv4(const std::string& address, std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, address.c_str(), &a.sin_addr);
  return a;
}

// connects(from, to, port, within) -> a TCP connect from namespace `from` completed within the
// bound.
bool connects(const netns& from, const std::string& to, std::uint16_t port,
              std::chrono::milliseconds within) {
  fd_owner s(socket_in(from, SOCK_STREAM | SOCK_NONBLOCK));
  const sockaddr_in a = ipv4(to, port);
  if (::connect(s.fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0) return true;
  if (errno != EINPROGRESS) return false;
  pollfd p{s.fd, POLLOUT, 0};
  if (::poll(&p, 1, static_cast<int>(within.count())) != 1) return false;
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
  return err == 0;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(netns_harness)

BOOST_AUTO_TEST_CASE(lan_carries_tcp_and_multicast_and_partitions) {
  if (!nodus::test::available()) {
    BOOST_TEST_MESSAGE(nodus::test::unavailable_reason());
    return;
  }
  nodus::test::lan net(3, 9);
  BOOST_TEST(net.address(2) == "198.18.9.3");
  BOOST_TEST(net.ifname(0) == "eth0");

  // TCP from host 0 to host 1.
  constexpr std::uint16_t tcp_port = 7000;  // inside our namespaces: no clash with anything
  std::vector<std::unique_ptr<fd_owner>> listeners;
  for (std::size_t i : {1u, 2u}) {
    listeners.push_back(std::make_unique<fd_owner>(socket_in(net.host(i), SOCK_STREAM)));
    const sockaddr_in at = ipv4(net.address(i), tcp_port);
    BOOST_REQUIRE(::bind(listeners.back()->fd, reinterpret_cast<const sockaddr*>(&at), sizeof at) ==
                  0);
    BOOST_REQUIRE(::listen(listeners.back()->fd, 8) == 0);
  }
  BOOST_TEST(connects(net.host(0), net.address(1), tcp_port, 5000ms));

  // Multicast from host 0 reaches hosts 1 and 2 through the route the LAN sets up (no
  // IP_MULTICAST_IF, no interface address in the membership).
  constexpr std::uint16_t udp_port = 7001;
  const std::string group = "239.255.0.9";
  std::vector<std::unique_ptr<fd_owner>> receivers;
  for (std::size_t i : {1u, 2u}) {
    receivers.push_back(std::make_unique<fd_owner>(socket_in(net.host(i), SOCK_DGRAM)));
    const int fd = receivers.back()->fd;
    const sockaddr_in any = ipv4("0.0.0.0", udp_port);
    BOOST_REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&any), sizeof any) == 0);
    ip_mreq m{};
    ::inet_pton(AF_INET, group.c_str(), &m.imr_multiaddr);
    m.imr_interface.s_addr = htonl(INADDR_ANY);
    BOOST_REQUIRE(::setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m) == 0);
  }
  fd_owner sender(socket_in(net.host(0), SOCK_DGRAM));
  const sockaddr_in to_group = ipv4(group, udp_port);
  const std::string hello = "hello";
  BOOST_REQUIRE(::sendto(sender.fd, hello.data(), hello.size(), 0,
                         reinterpret_cast<const sockaddr*>(&to_group),
                         sizeof to_group) == static_cast<ssize_t>(hello.size()));
  for (const auto& r : receivers) {
    pollfd p{r->fd, POLLIN, 0};
    BOOST_REQUIRE_MESSAGE(::poll(&p, 1, 5000) == 1, "no multicast datagram");
    char buf[16] = {};
    BOOST_TEST(::recv(r->fd, buf, sizeof buf, 0) == static_cast<ssize_t>(hello.size()));
    BOOST_TEST(std::string(buf) == hello);
  }

  // A partition: host 1's cable pulled, then plugged back in.
  net.link_down(1);
  BOOST_TEST(!connects(net.host(0), net.address(1), tcp_port, 700ms));
  BOOST_TEST(connects(net.host(0), net.address(2), tcp_port, 5000ms));  // the others still talk
  net.link_up(1);
  BOOST_TEST(connects(net.host(0), net.address(1), tcp_port, 5000ms));
}

BOOST_AUTO_TEST_SUITE_END()

// tests/formation/dns_srv.cpp: dns_srv_strategy (libcluster's Kubernetes.DNSSRV) against a real
// DNS server (dnsmasq, its SRV records from --srv-host) in network namespaces, through the real
// system resolver: first with a strategy_context that records what the strategy asks for
// (strategy_run.hpp), then with real node processes on three hosts that form a cluster through
// the SRV records, as pods of a StatefulSet do behind a headless service. A DNS server of the
// test's own answers malformed SRV records (a pointer loop, RDATA that overruns, counts larger
// than the message). Traffic stays in the test's namespaces (198.18.0.0/15).
#include <boost/test/unit_test.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "../common/netns.hpp"
#include "../dist/cluster.hpp"
#include "nodus/cluster/dns_srv.hpp"
#include "strategy_run.hpp"

namespace {

using namespace std::chrono_literals;
using dist_test::peer;
using formation_test::log_line;
using formation_test::poll_run;
using formation_test::skip_without_netns;
using nodus::log_level;
using nodus::test::dnsmasq;
using nodus::test::netns;

using srv_strategy =
    nodus::dns_srv_strategy<nodus::srv_query<"_nodus._tcp.nodes.test">, nodus::node_basename<"app">,
                            nodus::polling_interval<150>>;

// srv_args(name, targets) -> dnsmasq's --srv-host arguments: an SRV record of name for each
// target (port 4369, priority 10, weight 50; the strategy uses neither).
std::vector<std::string> srv_args(const std::string& name,
                                  const std::vector<std::string>& targets) {
  std::vector<std::string> out;
  for (const auto& t : targets) out.push_back("--srv-host=" + name + "," + t + ",4369,10,50");
  return out;
}

// A namespace whose resolver is a dnsmasq on 198.18.8.53 (on its lo), serving the A records of
// n1..n3.nodes.test and the SRV records given; restart() replaces the server (dnsmasq reads
// --srv-host only when it starts).
struct srv_dns {
  static constexpr const char* server = "198.18.8.53";
  explicit srv_dns(const std::vector<std::string>& args) : ns("srvdns") {
    ns.add_address("lo", std::string(server) + "/32");
    restart(args);
  }
  void restart(const std::vector<std::string>& args) {
    dns.reset();
    dns.emplace(ns, server,
                dnsmasq::records{{"198.18.8.1", "n1.nodes.test"},
                                 {"198.18.8.2", "n2.nodes.test"},
                                 {"198.18.8.3", "n3.nodes.test"}},
                args);
  }
  netns ns;
  std::optional<dnsmasq> dns;
};

const std::vector<std::string> apps_1_2{"app@n1.nodes.test", "app@n2.nodes.test"};

// ---- a DNS server of our own, for answers dnsmasq would never give ------------------------------

using bytes = std::vector<std::uint8_t>;

void put16(bytes& b, unsigned v) {
  b.push_back(static_cast<std::uint8_t>(v >> 8));
  b.push_back(static_cast<std::uint8_t>(v & 0xFF));
}

// name_bytes("a.b") -> the labels of a.b and the zero label.
bytes name_bytes(std::string_view text) {
  bytes b;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto dot = text.find('.', pos);
    if (dot == std::string_view::npos) dot = text.size();
    b.push_back(static_cast<std::uint8_t>(dot - pos));
    b.insert(b.end(), text.begin() + static_cast<std::ptrdiff_t>(pos),
             text.begin() + static_cast<std::ptrdiff_t>(dot));
    pos = dot + 1;
  }
  b.push_back(0);
  return b;
}

// srv_rr(target) -> an SRV record (RFC 2782) whose owner points to the question (offset 12).
bytes srv_rr(std::string_view target) {
  bytes b;
  put16(b, 0xC00C);
  const bytes t = name_bytes(target);
  for (unsigned v : {33u, 1u, 0u, 30u, 6u + static_cast<unsigned>(t.size()), 10u, 50u, 4369u}) {
    put16(b, v);
  }
  b.insert(b.end(), t.begin(), t.end());
  return b;
}

// What the server answers: the records after the question, and the ANCOUNT its header claims.
struct answer_spec {
  bytes records;
  unsigned ancount = 0;
};

// A UDP DNS server on address:53 in a namespace, answering every query with its question and the
// answer section that answer() gives now (the system resolver checks the ID and the question,
// nothing after them). Serves on a thread of its own until destroyed.
class fake_dns {
 public:
  fake_dns(const netns& ns, const std::string& address) {
    std::exception_ptr failure;
    std::thread t([&] {  // a socket keeps the namespace it was made in
      try {
        ns.enter_on_this_thread();
        fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      } catch (...) {
        failure = std::current_exception();
      }
    });
    t.join();
    if (failure) std::rethrow_exception(failure);
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_port = htons(53);
    ::inet_pton(AF_INET, address.c_str(), &at.sin_addr);
    if (::bind(fd_, reinterpret_cast<const sockaddr*>(&at), sizeof at) != 0) {
      const int err = errno;
      ::close(fd_);
      throw std::system_error(err, std::generic_category(), "bind " + address + ":53");
    }
    thread_ = std::thread([this] { serve(); });
  }
  fake_dns(const fake_dns&) = delete;
  fake_dns& operator=(const fake_dns&) = delete;
  ~fake_dns() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }

  void answer(answer_spec spec) {
    const std::lock_guard lock(m_);
    spec_ = std::move(spec);
  }

 private:
  void serve() {
    std::uint8_t query[512];
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) != 1) continue;  // 50 ms: how soon stop_ is seen
      sockaddr_in from{};
      socklen_t len = sizeof from;
      const ssize_t n =
          ::recvfrom(fd_, query, sizeof query, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 12) continue;
      // The question: its name's labels up to the zero label, then QTYPE and QCLASS.
      std::size_t end = 12;
      while (end < static_cast<std::size_t>(n) && query[end] != 0) end += 1 + query[end];
      end += 5;
      if (end > static_cast<std::size_t>(n)) continue;
      bytes reply(query, query + end);
      reply[2] = 0x81;  // QR, RD
      reply[3] = 0x80;  // RA, NOERROR
      answer_spec spec;
      {
        const std::lock_guard lock(m_);
        spec = spec_;
      }
      reply[4] = 0;
      reply[5] = 1;
      reply[6] = static_cast<std::uint8_t>(spec.ancount >> 8);
      reply[7] = static_cast<std::uint8_t>(spec.ancount & 0xFF);
      for (int i = 8; i < 12; ++i) reply[static_cast<std::size_t>(i)] = 0;
      reply.insert(reply.end(), spec.records.begin(), spec.records.end());
      (void)::sendto(fd_, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
    }
  }

  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::mutex m_;
  answer_spec spec_;
  std::thread thread_;
};

// ---- node processes -----------------------------------------------------------------------------

// start_in(host, name, query) -> a formation peer named `name` run inside host, with the
// dns_srv topology (basename "n", 200 ms) polling query. Its log level is debug: a failed lookup
// after another one is a debug line.
std::unique_ptr<peer> start_in(netns& host, const std::string& name, const std::string& query) {
  std::vector<std::string> argv = host.exec_prefix();
  for (const std::string& a :
       {nodus::test::self_exe(), std::string("--peer"), std::string("--name"), name,
        std::string("--cookie"), std::string("formation"), std::string("--port"), std::string("0"),
        std::string("--topology"), std::string("dns_srv"), std::string("--cluster-dns-srv"), query,
        std::string("--log-level"), std::string("debug")}) {
    argv.push_back(a);
  }
  return std::make_unique<peer>(name, argv, peer::launch::node);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(dns_srv)

BOOST_AUTO_TEST_CASE(connects_the_srv_targets_once_each_and_skips_self) {
  if (skip_without_netns()) return;
  // n1 twice (two ports, as a service with two named ports gives), and this node, n3.
  auto args =
      srv_args("_nodus._tcp.nodes.test", {"n1.nodes.test", "n2.nodes.test", "n3.nodes.test"});
  args.push_back("--srv-host=_nodus._tcp.nodes.test,n1.nodes.test,9100,10,50");
  srv_dns host(args);
  poll_run<srv_strategy> run(&host.ns, "app@n3.nodes.test");
  auto& ctx = run.ctx();
  // Two polls: the first at once, the next one interval later, both with the same answer.
  BOOST_REQUIRE_MESSAGE(ctx.wait([](const auto& calls, const auto&) { return calls.size() >= 2; }),
                        "no two set_nodes calls" << ctx.transcript());
  for (const auto& c : ctx.calls()) {
    BOOST_TEST(c.names == apps_1_2, "wrong nodes" << ctx.transcript());
    BOOST_TEST(c.disconnect_vanished);  // as libcluster's load/1
    BOOST_TEST(!c.any_endpoint);        // the engine asks EPMD on each host
  }
  BOOST_TEST(ctx.add_calls() == 0u);
  BOOST_TEST(ctx.count_lines("failed") == 0u, ctx.transcript());
  BOOST_TEST(ctx.count_lines("polling _nodus._tcp.nodes.test") >= 2u, ctx.transcript());
}

BOOST_AUTO_TEST_CASE(runtime_settings_override_the_types_and_a_service_name_works) {
  if (skip_without_netns()) return;
  // libcluster's own query: the headless service's name, no _service._proto labels.
  const std::string service = "nodus-headless.default.svc.cluster.local";
  srv_dns host(srv_args(service, {"nodus-0." + service, "nodus-1." + service}));
  nodus::cluster_options settings;
  settings.srv_query = service;
  settings.dns_basename = "web";
  settings.interval = 150ms;
  using strategy =
      nodus::dns_srv_strategy<nodus::srv_query<"wrong.test">, nodus::node_basename<"app">,
                              nodus::polling_interval<60000>>;
  poll_run<strategy> run(&host.ns, "web@nodus-1." + service, settings);
  auto& ctx = run.ctx();
  // Three polls within the bound: the 150 ms interval, not the type's 60 s.
  BOOST_REQUIRE_MESSAGE(ctx.wait([](const auto& calls, const auto&) { return calls.size() >= 3; }),
                        "not polled every 150 ms" << ctx.transcript());
  const std::vector<std::string> expected{"web@nodus-0." + service};
  for (const auto& c : ctx.calls()) BOOST_TEST(c.names == expected, ctx.transcript());
  BOOST_TEST(ctx.count_lines("wrong.test") == 0u, ctx.transcript());
}

BOOST_AUTO_TEST_CASE(an_answer_too_large_for_udp_comes_over_tcp) {
  if (skip_without_netns()) return;
  // 40 pods: about 1 KiB of records even compressed, over the 512 bytes of a UDP answer without
  // EDNS; dnsmasq sets TC, and the resolver asks again over TCP.
  const std::string service = "nodus-headless.default.svc.cluster.local";
  std::vector<std::string> targets;
  std::vector<std::string> expected;
  for (int i = 0; i < 40; ++i) {
    targets.push_back("nodus-" + std::to_string(i) + "." + service);
    if (i != 7) expected.push_back("app@" + targets.back());
  }
  std::sort(expected.begin(), expected.end());
  srv_dns host(srv_args(service, targets));
  nodus::cluster_options settings;
  settings.srv_query = service;
  poll_run<srv_strategy> run(&host.ns, "app@nodus-7." + service, settings);
  auto& ctx = run.ctx();
  BOOST_REQUIRE_MESSAGE(ctx.wait([](const auto& calls, const auto&) { return !calls.empty(); }),
                        "no set_nodes call" << ctx.transcript());
  BOOST_TEST(ctx.calls().front().names == expected, ctx.transcript());
  BOOST_TEST(ctx.count_lines("failed") == 0u, ctx.transcript());
}

BOOST_AUTO_TEST_CASE(empty_answers_are_failed_lookups_that_change_nothing) {
  if (skip_without_netns()) return;
  const std::string name = "_nodus._tcp.nodes.test";
  srv_dns host(srv_args(name, {"n1.nodes.test", "n2.nodes.test"}));
  poll_run<srv_strategy> run(&host.ns, "app@n3.nodes.test");
  auto& ctx = run.ctx();
  BOOST_REQUIRE_MESSAGE(ctx.wait([](const auto& calls, const auto&) { return !calls.empty(); }),
                        "no set_nodes call" << ctx.transcript());
  const std::string failed = "lookup of " + name + " failed: ";

  // The name without SRV records (a TXT record only): NOERROR with an empty answer.
  host.restart({"--txt-record=" + name + ",no-srv-here"});
  BOOST_REQUIRE_MESSAGE(ctx.wait_lines(failed + "no SRV records", 2),
                        "no failed lookup" << ctx.transcript());
  // The name gone: NXDOMAIN.
  host.restart({});
  BOOST_REQUIRE_MESSAGE(ctx.wait_lines(failed + "no such name (NXDOMAIN)", 2),
                        "no failed lookup" << ctx.transcript());
  // None of that changed the nodes; the first failure of the streak was the warning.
  for (const auto& c : ctx.calls()) BOOST_TEST(c.names == apps_1_2, ctx.transcript());
  const auto lines = ctx.lines();
  const auto first = std::find_if(lines.begin(), lines.end(), [&](const log_line& l) {
    return l.text.find(failed) != std::string::npos;
  });
  BOOST_REQUIRE(first != lines.end());
  BOOST_TEST((first->level == log_level::warn));
  BOOST_TEST((lines.back().level == log_level::debug), ctx.transcript());

  // Records again, n2 only: the answer replaces the set (n1 is disconnected, as in libcluster).
  host.restart(srv_args(name, {"n2.nodes.test"}));
  const std::vector<std::string> only_2{"app@n2.nodes.test"};
  BOOST_REQUIRE_MESSAGE(
      ctx.wait([&](const auto& cs, const auto&) { return cs.back().names == only_2; }),
      "no recovery" << ctx.transcript());
  BOOST_TEST(ctx.calls().back().disconnect_vanished);
  BOOST_TEST(ctx.count_lines("lookup of " + name + " answers again (1 targets)") == 1u,
             ctx.transcript());
}

BOOST_AUTO_TEST_CASE(malformed_answers_are_logged_and_change_nothing) {
  if (skip_without_netns()) return;
  netns ns("fakedns");
  const std::string server = "198.18.8.54";
  ns.add_address("lo", server + "/32");
  ns.set_resolver(server);
  fake_dns dns(ns, server);
  dns.answer({srv_rr("n1.test"), 1});
  poll_run<srv_strategy> run(&ns, "app@n3.nodes.test");
  auto& ctx = run.ctx();
  const std::vector<std::string> only_1{"app@n1.test"};
  BOOST_REQUIRE_MESSAGE(ctx.wait([&](const auto& calls, const auto&) {
    return !calls.empty() && calls.back().names == only_1;
  }),
                        "no answer" << ctx.transcript());
  const std::size_t calls = ctx.calls().size();
  const std::string failed = "lookup of _nodus._tcp.nodes.test failed: malformed DNS answer: ";

  // The target a compression pointer to itself.
  bytes loop = srv_rr("x");
  loop.resize(loop.size() - 3);  // drop "x" and the zero label: the target starts here
  const auto target_at =
      static_cast<unsigned>(12 + name_bytes("_nodus._tcp.nodes.test").size() + 4 + loop.size());
  put16(loop, 0xC000 | target_at);
  loop[11] = 8;  // RDLENGTH: the three fields and the pointer
  loop[10] = 0;
  dns.answer({loop, 1});
  BOOST_REQUIRE_MESSAGE(ctx.wait_lines(failed, 1), "no malformed answer" << ctx.transcript());
  BOOST_TEST(ctx.count_lines("a loop") >= 1u, ctx.transcript());

  // RDATA longer than the message.
  bytes overrun = srv_rr("n1.test");
  overrun[10] = 0x01;  // RDLENGTH 256 + ...
  dns.answer({overrun, 1});
  BOOST_REQUIRE_MESSAGE(ctx.wait_lines("runs past the end of the message", 1),
                        "no overrun seen" << ctx.transcript());

  // An answer count that 11-byte records could not fit in the message.
  dns.answer({srv_rr("n1.test"), 5000});
  BOOST_REQUIRE_MESSAGE(ctx.wait_lines("records, more than its", 1),
                        "no oversized count seen" << ctx.transcript());
  BOOST_TEST(ctx.calls().size() == calls, "set_nodes after a malformed answer" << ctx.transcript());

  // A target that is no host name next to one that is: the first skipped with a warning.
  bytes mixed = srv_rr("n2.test");
  const bytes odd = srv_rr("bad name.test");
  mixed.insert(mixed.end(), odd.begin(), odd.end());
  dns.answer({mixed, 2});
  const std::vector<std::string> only_2{"app@n2.test"};
  BOOST_REQUIRE_MESSAGE(
      ctx.wait([&](const auto& cs, const auto&) { return cs.back().names == only_2; }),
      "no recovery" << ctx.transcript());
  BOOST_TEST(ctx.count_lines("ignoring the SRV target 'bad name.test': not a host name") >= 1u,
             ctx.transcript());
  BOOST_TEST(ctx.count_lines("answers again") == 1u, ctx.transcript());
}

BOOST_AUTO_TEST_CASE(without_query_or_basename_it_does_nothing) {
  poll_run<nodus::dns_srv_strategy<nodus::node_basename<"app">>> run(nullptr, "app@127.0.0.1");
  auto& ctx = run.ctx();
  const auto lines = ctx.lines();  // start() logged at once, on the calling thread
  BOOST_REQUIRE_EQUAL(lines.size(), 1u);
  BOOST_TEST((lines.front().level == log_level::error));
  BOOST_TEST(lines.front().text ==
             "dns_srv_strategy needs a query (--cluster-dns-srv) and a basename "
             "(--cluster-dns-basename); it does nothing");
  const auto calls = ctx.calls();
  BOOST_REQUIRE_EQUAL(calls.size(), 1u);  // an empty first round: start-up need not wait
  BOOST_TEST(calls.front().names.empty());
}

// Three hosts of a LAN, as three pods: node n@nK.nodes.test on host K (dnsmasq on host 0 serves
// every host). n0 and n1 poll _nodus._tcp.nodes.test, which lists n0 and n1; n2 polls a name that
// lists only itself, so it dials nobody: it joins when the records list it.
BOOST_AUTO_TEST_CASE(srv_records_form_a_cluster_and_a_target_added_later_joins) {
  if (skip_without_netns()) return;
  nodus::test::lan lan(3, 43);
  const std::string server = lan.address(0);
  const auto host_of = [](std::size_t i) { return "n" + std::to_string(i) + ".nodes.test"; };
  const dnsmasq::records hosts{
      {lan.address(0), host_of(0)}, {lan.address(1), host_of(1)}, {lan.address(2), host_of(2)}};
  const std::string nodes = "_nodus._tcp.nodes.test";
  const std::string alone = "_nodus._tcp.alone.test";
  const auto records = [&](const std::vector<std::string>& in_nodes) {
    auto args = srv_args(nodes, in_nodes);
    auto more = srv_args(alone, {host_of(2)});
    args.insert(args.end(), more.begin(), more.end());
    return args;
  };
  auto dns =
      std::make_unique<dnsmasq>(lan.host(0), server, hosts, records({host_of(0), host_of(1)}));
  lan.host(1).set_resolver(server);
  lan.host(2).set_resolver(server);
  auto n0 = start_in(lan.host(0), "n@" + host_of(0), nodes);
  auto n1 = start_in(lan.host(1), "n@" + host_of(1), nodes);
  auto n2 = start_in(lan.host(2), "n@" + host_of(2), alone);
  for (peer* p : {n0.get(), n1.get(), n2.get()}) {
    BOOST_REQUIRE_MESSAGE(p->ready(), p->transcript());
  }
  BOOST_REQUIRE_MESSAGE(n0->expect("event up " + n1->name(), 15s), n0->transcript());
  BOOST_REQUIRE_MESSAGE(n1->expect("event up " + n0->name(), 15s), n1->transcript());
  BOOST_TEST(n0->request("list") == n1->name());
  BOOST_TEST(n2->request("list") == "");  // nobody dials n2 yet, and it dials nobody

  // n2 added to the records (dnsmasq restarted with them: the polls between fail, and change
  // nothing). n0 and n1 connect it within the bound.
  dns.reset();
  BOOST_REQUIRE_MESSAGE(n0->expect("lookup of " + nodes + " failed", 15s), n0->transcript());
  dns = std::make_unique<dnsmasq>(lan.host(0), server, hosts,
                                  records({host_of(0), host_of(1), host_of(2)}));
  const auto added = std::chrono::steady_clock::now();
  for (peer* p : {n0.get(), n1.get()}) {
    BOOST_REQUIRE_MESSAGE(p->expect("event up " + n2->name(), 10s), p->transcript());
  }
  BOOST_TEST_MESSAGE("n2 connected by n0 and n1 "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - added)
                            .count()
                     << " ms after its SRV record appeared");
  BOOST_REQUIRE_MESSAGE(n2->expect_all({"event up " + n0->name(), "event up " + n1->name()}),
                        n2->transcript());
  BOOST_TEST(n0->request("list") == n1->name() + "," + n2->name());
  BOOST_TEST(n1->request("list") == n0->name() + "," + n2->name());
  BOOST_TEST(n2->request("list") == n0->name() + "," + n1->name());
  BOOST_TEST(n0->count("event down") == 0, n0->transcript());
  BOOST_TEST(n1->count("event down") == 0, n1->transcript());

  // The name left without SRV records (NODATA): a clear line in the log, and nobody is
  // disconnected for it.
  dns.reset();
  dns = std::make_unique<dnsmasq>(lan.host(0), server, hosts,
                                  std::vector<std::string>{"--txt-record=" + nodes + ",gone"});
  for (peer* p : {n0.get(), n1.get()}) {
    BOOST_REQUIRE_MESSAGE(p->expect("lookup of " + nodes + " failed: no SRV records", 15s),
                          p->transcript());
  }
  BOOST_TEST(n0->request("list") == n1->name() + "," + n2->name());
  BOOST_TEST(n0->count("event down") == 0, n0->transcript());
  BOOST_TEST(n1->count("event down") == 0, n1->transcript());
}

BOOST_AUTO_TEST_SUITE_END()

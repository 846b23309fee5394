// gossip_strategy: the heartbeat format (round trip, rejection of malformed and foreign
// datagrams), the configuration (type options, run-time overrides), and real UDP multicast between
// hosts made of network namespaces (veth pair, bridge), including a shared port, wrong and missing
// secrets, stop(), and recovery once a multicast route appears.
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/post.hpp>
#include <asio/strand.hpp>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "nodus/cluster/gossip.hpp"

namespace {

using namespace std::chrono_literals;
using nodus::gossip_strategy;
using nodus::log_level;
using nodus::node_name;
using nodus::polling_interval;
using nodus::cluster::node_target;
namespace gd = nodus::cluster::detail;
using datagram = std::array<unsigned char, gd::gossip_max_size>;

constexpr auto wait_limit = 5s;

// ---- a strategy_context that records what the strategy reports --------------------------------

struct log_entry {
  log_level level;
  std::string line;
};

// What a strategy reported to its context, in order.
struct recorded {
  std::vector<node_target> added;  // every add_nodes entry
  int set_calls = 0;
  std::vector<node_target> first_set;  // the nodes of the first set_nodes
  std::vector<log_entry> logs;

  // reports_of(name) -> how many add_nodes entries named the node.
  [[nodiscard]] std::size_t reports_of(std::string_view name) const {
    return static_cast<std::size_t>(
        std::count_if(added.begin(), added.end(), [&](const auto& t) { return t.name == name; }));
  }
  // endpoint_of(name) -> the endpoint last reported for the node (add_nodes or the first set).
  [[nodiscard]] std::optional<asio::ip::tcp::endpoint> endpoint_of(std::string_view name) const {
    for (auto it = added.rbegin(); it != added.rend(); ++it) {
      if (it->name == name) return it->endpoint;
    }
    for (const auto& t : first_set) {
      if (t.name == name) return t.endpoint;
    }
    return std::nullopt;
  }
  [[nodiscard]] bool knows(std::string_view name) const { return endpoint_of(name).has_value(); }
  // logs_with(text, level) -> how many log lines contain text (at that level, when given).
  [[nodiscard]] std::size_t logs_with(std::string_view text,
                                      std::optional<log_level> level = std::nullopt) const {
    return static_cast<std::size_t>(std::count_if(logs.begin(), logs.end(), [&](const auto& e) {
      return e.line.find(text) != std::string::npos && (!level || e.level == *level);
    }));
  }
};

class recording_context final : public nodus::cluster::strategy_context {
 public:
  recording_context(asio::io_context& io, std::string_view self, std::uint16_t node_port,
                    nodus::cluster_options settings)
      : self_(node_name::parse(self).value()),
        strand_(asio::make_strand(io)),
        settings_(std::move(settings)),
        node_port_(node_port) {}

  [[nodiscard]] const node_name& self() const override { return self_; }
  [[nodiscard]] std::string_view label() const override { return "gossip"; }
  [[nodiscard]] asio::any_io_executor executor() const override { return strand_; }
  [[nodiscard]] const nodus::cluster_options& settings() const override { return settings_; }
  [[nodiscard]] std::uint16_t node_port() const override { return node_port_; }
  [[nodiscard]] std::uint16_t epmd_port() const override { return 4369; }
  [[nodiscard]] bool stopped() const override { return stopped_.load(); }

  void set_nodes(std::vector<node_target> nodes, bool) override {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (rec_.set_calls++ == 0) rec_.first_set = std::move(nodes);
    cv_.notify_all();
  }
  void add_nodes(std::vector<node_target> nodes) override {
    const std::lock_guard<std::mutex> lock(mutex_);
    rec_.added.insert(rec_.added.end(), nodes.begin(), nodes.end());
    cv_.notify_all();
  }
  void log(log_level level, std::string line) override {
    const std::lock_guard<std::mutex> lock(mutex_);
    rec_.logs.push_back({level, std::move(line)});
    cv_.notify_all();
  }

  // wait_until(pred) -> whether pred(recorded) became true within wait_limit.
  template <class Pred>
  [[nodiscard]] bool wait_until(Pred pred) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, wait_limit, [&] { return pred(rec_); });
  }
  [[nodiscard]] recorded snapshot() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return rec_;
  }
  // drain() -> whether everything posted to the strand before it has run (5 s at most).
  [[nodiscard]] bool drain() const {
    auto done = std::make_shared<std::promise<void>>();
    auto future = done->get_future();
    asio::post(strand_, [done] { done->set_value(); });
    return future.wait_for(wait_limit) == std::future_status::ready;
  }
  void mark_stopped() { stopped_.store(true); }

 private:
  node_name self_;
  asio::strand<asio::io_context::executor_type> strand_;
  nodus::cluster_options settings_;
  std::uint16_t node_port_;
  std::atomic<bool> stopped_{false};
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  recorded rec_;
};

// Prints a context's log lines (for a failed check).
void dump_logs(const recording_context& ctx) {
  for (const auto& e : ctx.snapshot().logs) {
    BOOST_TEST_MESSAGE("  " << ctx.self().str() << " [" << nodus::to_string(e.level) << "] "
                            << e.line);
  }
}

// expect(ctx, pred, what): waits (bounded) for pred on ctx's record; on timeout a test error that
// says what was expected, and ctx's log.
template <class Pred>
bool expect(recording_context& ctx, Pred pred, const std::string& what) {
  if (ctx.wait_until(pred)) return true;
  BOOST_ERROR(ctx.self().str() << ": not within 5 s: " << what);
  dump_logs(ctx);
  return false;
}

// ---- hosts: threads that run an io_context inside a network namespace ---------------------------

// enter_netns(name) -> "" once the calling thread is in the namespace /var/run/netns/<name>
// (setns(2) changes the calling thread only), else why not.
std::string enter_netns(const std::string& name) {
  const std::string path = "/var/run/netns/" + name;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return "open " + path + ": " + std::error_code(errno, std::system_category()).message();
  const int rc = ::setns(fd, CLONE_NEWNET);
  const int err = errno;
  ::close(fd);
  if (rc != 0)
    return "setns " + path + ": " + std::error_code(err, std::system_category()).message();
  return {};
}

// A host: one thread, in a network namespace (or the test's own when ns is empty), running an
// io_context until destroyed. Sockets created by its handlers live in that namespace.
class host {
 public:
  explicit host(const std::string& ns = {}) {
    std::promise<std::string> entered;
    auto result = entered.get_future();
    thread_ = std::thread([this, ns, p = std::move(entered)]() mutable {
      std::string problem = ns.empty() ? std::string() : enter_netns(ns);
      const bool ok = problem.empty();
      p.set_value(std::move(problem));
      if (ok) io_.run();
    });
    error_ = result.get();
  }
  host(const host&) = delete;
  host& operator=(const host&) = delete;
  ~host() {
    work_.reset();
    io_.stop();
    thread_.join();
  }

  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] asio::io_context& io() { return io_; }

  // run(f) -> whether f ran on the host's thread within 5 s.
  [[nodiscard]] bool run(std::function<void()> f) {
    auto done = std::make_shared<std::promise<void>>();
    auto future = done->get_future();
    asio::post(io_, [f = std::move(f), done] {
      f();
      done->set_value();
    });
    return future.wait_for(wait_limit) == std::future_status::ready;
  }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::thread thread_;
  std::string error_;
};

// One strategy under test with its recording context, started and stopped on its host's thread.
template <class Strategy>
struct gossip_node {
  gossip_node(host& on, std::string_view name, std::uint16_t node_port,
              nodus::cluster_options settings = {})
      : h(on), ctx(std::make_shared<recording_context>(on.io(), name, node_port, settings)) {
    BOOST_REQUIRE_MESSAGE(h.error().empty(), "host thread: " << h.error());
    BOOST_REQUIRE(h.run([this] { strategy.start(ctx); }));
  }
  gossip_node(const gossip_node&) = delete;
  gossip_node& operator=(const gossip_node&) = delete;
  ~gossip_node() { stop(); }

  // stop(): as the node does it; returns once the strategy's pending work on the strand ran.
  void stop() {
    if (stopped) return;
    stopped = true;
    (void)h.run([this] { strategy.stop(); });
    (void)ctx->drain();
  }

  host& h;
  std::shared_ptr<recording_context> ctx;
  Strategy strategy;
  bool stopped = false;
};

// ---- network namespaces, removed again at the end (also when a check fails) ---------------------

// sh(command) -> whether it exited 0 (its output is discarded).
bool sh(const std::string& command) {
  const std::string quiet = command + " >/dev/null 2>&1";
  return std::system(quiet.c_str()) == 0;  // NOLINT(cert-env33-c): fixed commands of this test
}

// poll_until(pred) -> whether pred() became true within 5 s; for a counter of the strategy, which
// raises no event a test could wait on (checked every 10 ms).
template <class Pred>
bool poll_until(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + wait_limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// udp_sockets_in(ns, local) -> how many UDP sockets of namespace ns are bound to local
// ("239.255.77.1:46000"), as ss(8) lists them; -1 when ss fails.
int udp_sockets_in(const std::string& ns, const std::string& local) {
  const std::string command = "ip netns exec " + ns + " ss -Huan 2>/dev/null";
  FILE* out = ::popen(command.c_str(), "r");
  if (out == nullptr) return -1;
  int count = 0;
  std::array<char, 512> line{};
  while (std::fgets(line.data(), static_cast<int>(line.size()), out) != nullptr) {
    if (std::string_view(line.data()).find(" " + local + " ") != std::string_view::npos) ++count;
  }
  return ::pclose(out) == 0 ? count : -1;
}

// Why the namespace tests cannot run here ("" when they can).
std::string netns_unavailable() {
  if (::geteuid() != 0) return "not root";
  if (!sh("ip -V")) return "the ip command (iproute2) is missing";
  return {};
}

// Network namespaces named "ngs<pid>_<suffix>" (unique per test process); the destructor deletes
// them, which also removes their veth ends and bridges.
class netns_lab {
 public:
  netns_lab() = default;
  netns_lab(const netns_lab&) = delete;
  netns_lab& operator=(const netns_lab&) = delete;
  ~netns_lab() {
    for (auto it = names_.rbegin(); it != names_.rend(); ++it) sh("ip netns del " + *it);
  }

  // add(suffix) -> the new namespace's name, its loopback up.
  std::string add(const std::string& suffix) {
    std::string name = "ngs" + std::to_string(::getpid()) + "_" + suffix;
    names_.push_back(name);  // registered before it exists: cleaned up whatever happens next
    BOOST_REQUIRE_MESSAGE(sh("ip netns add " + name), "ip netns add " << name);
    must("ip -n " + name + " link set lo up");
    return name;
  }

  // must(command): runs it; a failure ends the test case.
  static void must(const std::string& command) {
    BOOST_REQUIRE_MESSAGE(sh(command), "failed: " << command);
  }

  // link(ns1, if1, ns2, if2): a veth pair with one end in each namespace (created there directly,
  // so its names never appear in the test's own namespace).
  static void link(const std::string& ns1, const std::string& if1, const std::string& ns2,
                   const std::string& if2) {
    must("ip link add " + if1 + " netns " + ns1 + " type veth peer name " + if2 + " netns " + ns2);
  }

  // address(ns, dev, cidr): gives dev the address and brings it up.
  static void address(const std::string& ns, const std::string& dev, const std::string& cidr) {
    must("ip -n " + ns + " addr add " + cidr + " dev " + dev);
    must("ip -n " + ns + " link set " + dev + " up");
  }

  // multicast_route(ns, dev): sends multicast (224.0.0.0/4) out of dev.
  static void multicast_route(const std::string& ns, const std::string& dev) {
    must("ip -n " + ns + " route add 224.0.0.0/4 dev " + dev);
  }

 private:
  std::vector<std::string> names_;
};

#define NODUS_SKIP_WITHOUT_NETNS()                                                      \
  do {                                                                                  \
    if (const std::string why = netns_unavailable(); !why.empty()) {                    \
      BOOST_TEST_MESSAGE("skipped: network namespace test needs root and ip: " << why); \
      return;                                                                           \
    }                                                                                   \
  } while (false)

std::optional<asio::ip::tcp::endpoint> tcp_at(const char* address, std::uint16_t port) {
  return asio::ip::tcp::endpoint(asio::ip::make_address(address), port);
}

gd::gossip_heartbeat make_heartbeat(std::string_view name) {
  gd::gossip_heartbeat hb;
  hb.name = node_name::parse(name).value();
  hb.port = 45123;
  hb.incarnation = 0x0123456789abcdefULL;
  hb.sequence = 42;
  return hb;
}

std::span<const unsigned char> bytes(const datagram& d, std::size_t size) {
  return {d.data(), size};
}

std::string hex(std::span<const unsigned char> b) {
  std::string s;
  for (const unsigned char c : b) {
    s += "0123456789abcdef"[c >> 4];
    s += "0123456789abcdef"[c & 15];
  }
  return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(gossip)

// ---- the heartbeat format -----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(hmac_sha256_matches_rfc_4231_and_the_key_derivation_is_fixed) {
  // RFC 4231, section 4.3 (test case 2): key "Jefe", data "what do ya want for nothing?".
  const std::string_view key = "Jefe";
  const std::string_view data = "what do ya want for nothing?";
  std::array<unsigned char, 32> mac{};
  BOOST_REQUIRE(gd::hmac_sha256({reinterpret_cast<const unsigned char*>(key.data()), key.size()},
                                {reinterpret_cast<const unsigned char*>(data.data()), data.size()},
                                mac));
  BOOST_TEST(hex(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // K = HMAC-SHA256(key "nodus gossip v1", secret); value from
  // `printf s3cret | openssl dgst -sha256 -hmac "nodus gossip v1"`. Changing it breaks the format.
  const auto k = gd::derive_gossip_key("s3cret");
  BOOST_REQUIRE(k.has_value());
  BOOST_TEST(hex(*k) == "afaa2481fad36ae560a6fa500aa2e91e8ca01062df18400f975bb5b79480d62b");
}

BOOST_AUTO_TEST_CASE(heartbeat_round_trip_without_and_with_a_secret) {
  const auto hb = make_heartbeat("n1@198.18.0.1");
  const auto key = gd::derive_gossip_key("s3cret").value();
  datagram d{};
  for (const gd::gossip_key* k : {static_cast<const gd::gossip_key*>(nullptr), &key}) {
    const std::size_t n = gd::encode_heartbeat(hb, k, d);
    BOOST_TEST(n == 25 + hb.name.size() + (k != nullptr ? 32 : 0));
    // The documented layout: magic, version, flags, port, incarnation, sequence, name length.
    BOOST_TEST(hex({d.data(), 25}) == std::string("4e444753") + "01" +
                                          (k != nullptr ? "01" : "00") + "b043" +
                                          "0123456789abcdef" + "000000000000002a" + "0d");
    BOOST_TEST(std::string_view(reinterpret_cast<const char*>(d.data() + 25), hb.name.size()) ==
               "n1@198.18.0.1");
    const auto r = gd::decode_heartbeat(bytes(d, n), k);
    BOOST_TEST_REQUIRE(gd::to_string(r.problem) == "valid");
    BOOST_TEST(r.heartbeat.name.str() == hb.name.str());
    BOOST_TEST(r.heartbeat.port == hb.port);
    BOOST_TEST(r.heartbeat.incarnation == hb.incarnation);
    BOOST_TEST(r.heartbeat.sequence == hb.sequence);
  }
  // The longest name fits the largest datagram.
  const std::string longest = std::string(250, 'a') + "@h.xy";
  auto big = hb;
  big.name = node_name::parse(longest).value();
  const std::size_t n = gd::encode_heartbeat(big, &key, d);
  BOOST_TEST(n == gd::gossip_max_size);
  BOOST_TEST(gd::decode_heartbeat(bytes(d, n), &key).heartbeat.name.str() == big.name.str());
  // Nothing to send without a name or a port.
  BOOST_TEST(gd::encode_heartbeat(gd::gossip_heartbeat{}, nullptr, d) == 0U);
  auto no_port = hb;
  no_port.port = 0;
  BOOST_TEST(gd::encode_heartbeat(no_port, nullptr, d) == 0U);
}

BOOST_AUTO_TEST_CASE(truncated_oversized_and_altered_heartbeats_are_rejected) {
  using p = gd::heartbeat_problem;
  const auto hb = make_heartbeat("n1@198.18.0.1");
  const auto key = gd::derive_gossip_key("s3cret").value();
  for (const gd::gossip_key* k : {static_cast<const gd::gossip_key*>(nullptr), &key}) {
    datagram d{};
    const std::size_t n = gd::encode_heartbeat(hb, k, d);
    for (std::size_t cut = 0; cut < n; ++cut) {  // every truncation
      BOOST_TEST((gd::decode_heartbeat(bytes(d, cut), k).problem != p::none), "cut at " << cut);
    }
    std::vector<unsigned char> longer(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(n));
    longer.push_back(0);  // one trailing byte
    BOOST_TEST((gd::decode_heartbeat(longer, k).problem == p::bad_length));
    std::vector<unsigned char> huge(gd::gossip_max_size + 1, 0);
    std::copy(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(n), huge.begin());
    BOOST_TEST((gd::decode_heartbeat(huge, k).problem == p::too_long));
    std::vector<unsigned char> jumbo(65507, 0x4e);
    BOOST_TEST((gd::decode_heartbeat(jumbo, k).problem == p::too_long));
  }
  // Every single bit flipped in an authenticated heartbeat: rejected (the MAC covers it all).
  datagram d{};
  const std::size_t n = gd::encode_heartbeat(hb, &key, d);
  for (std::size_t bit = 0; bit < 8 * n; ++bit) {
    datagram flipped = d;
    flipped[bit / 8] ^= static_cast<unsigned char>(1U << (bit % 8));
    BOOST_TEST((gd::decode_heartbeat(bytes(flipped, n), &key).problem != p::none), "bit " << bit);
  }
  // Without a secret, altered header fields are still caught by the format.
  const std::size_t plain = gd::encode_heartbeat(hb, nullptr, d);
  const auto altered = [&](std::size_t offset, unsigned char value) {
    datagram c = d;
    c[offset] = value;
    return gd::decode_heartbeat(bytes(c, plain), nullptr).problem;
  };
  BOOST_TEST((altered(0, 'X') == p::bad_magic));
  BOOST_TEST((altered(4, 2) == p::bad_version));
  BOOST_TEST((altered(5, 0x80) == p::bad_flags));
  BOOST_TEST((altered(5, 0x01) == p::bad_length));  // claims a MAC that is not there
  BOOST_TEST((altered(24, 0) == p::bad_length));
  BOOST_TEST((altered(24, 200) == p::bad_length));
  BOOST_TEST((altered(25 + 2, 'x') == p::bad_name));  // "n1x198.18.0.1": no '@'
  BOOST_TEST((altered(25, ' ') == p::bad_name));
  datagram zero_port = d;
  zero_port[6] = zero_port[7] = 0;
  BOOST_TEST((gd::decode_heartbeat(bytes(zero_port, plain), nullptr).problem == p::bad_port));
}

BOOST_AUTO_TEST_CASE(garbage_is_rejected_without_reading_outside_the_datagram) {
  std::mt19937 random(20240601);  // fixed seed: the same datagrams on every run
  const auto key = gd::derive_gossip_key("s3cret").value();
  std::size_t accepted = 0;
  for (int i = 0; i < 4000; ++i) {
    // Each datagram its own allocation of exactly its size, so ASan sees any overread.
    std::vector<unsigned char> g(random() % 400);
    for (auto& b : g) b = static_cast<unsigned char>(random());
    if (i % 2 == 0 && g.size() >= 6) {  // half of them pass the magic and version check
      const unsigned char start[] = {'N', 'D', 'G', 'S', 1, static_cast<unsigned char>(i % 4)};
      std::copy(std::begin(start), std::end(start), g.begin());
    }
    if (gd::decode_heartbeat(g, nullptr).problem == gd::heartbeat_problem::none) ++accepted;
    if (gd::decode_heartbeat(g, &key).problem == gd::heartbeat_problem::none) ++accepted;
  }
  BOOST_TEST(accepted == 0U);
}

BOOST_AUTO_TEST_CASE(secrets_must_match_on_both_sides) {
  using p = gd::heartbeat_problem;
  const auto hb = make_heartbeat("n1@198.18.0.1");
  const auto right = gd::derive_gossip_key("s3cret").value();
  const auto wrong = gd::derive_gossip_key("s3creT").value();
  datagram d{};
  const std::size_t with_mac = gd::encode_heartbeat(hb, &right, d);
  BOOST_TEST((gd::decode_heartbeat(bytes(d, with_mac), &wrong).problem == p::mac_mismatch));
  BOOST_TEST((gd::decode_heartbeat(bytes(d, with_mac), nullptr).problem == p::mac_unexpected));
  // The MAC stripped and its flag cleared: a heartbeat without a MAC, which a node with a secret
  // refuses.
  datagram stripped = d;
  stripped[5] = 0;
  BOOST_TEST(
      (gd::decode_heartbeat(bytes(stripped, with_mac - 32), &right).problem == p::mac_missing));
  const std::size_t without = gd::encode_heartbeat(hb, nullptr, d);
  BOOST_TEST((gd::decode_heartbeat(bytes(d, without), &right).problem == p::mac_missing));
  for (const auto problem : {p::mac_missing, p::mac_unexpected, p::mac_mismatch}) {
    BOOST_TEST(gd::is_auth_problem(problem));
  }
  BOOST_TEST(!gd::is_auth_problem(p::bad_name));
}

// ---- configuration ------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(ipv4_text_is_parsed_strictly) {
  static_assert(gd::parse_ipv4("233.252.1.32").value == 0xE9FC0120U);
  BOOST_TEST(gd::parse_ipv4("0.0.0.0").ok);
  BOOST_TEST(gd::parse_ipv4("255.255.255.255").value == 0xFFFFFFFFU);
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1..2.3", "a.b.c.d",
                          "1.2.3.4 ", "1.2.3.1000", "::1", "ff02::1"}) {
    BOOST_TEST(!gd::parse_ipv4(bad).ok, bad);
  }
  BOOST_TEST(gd::is_ipv4_multicast(gd::parse_ipv4("224.0.0.1").value));
  BOOST_TEST(gd::is_ipv4_multicast(gd::parse_ipv4("239.255.255.255").value));
  BOOST_TEST(!gd::is_ipv4_multicast(gd::parse_ipv4("240.0.0.1").value));
  BOOST_TEST(!gd::is_ipv4_multicast(gd::parse_ipv4("198.18.0.1").value));
}

BOOST_AUTO_TEST_CASE(type_options_and_run_time_overrides) {
  using defaults = gossip_strategy<>;
  static_assert(defaults::label == "gossip");
  constexpr auto d = defaults::type_config();
  BOOST_TEST(asio::ip::address_v4(d.group).to_string() == "233.252.1.32");  // libcluster's
  BOOST_TEST(d.port == 45892);                                              // libcluster's
  BOOST_TEST(d.interface_address == 0U);
  BOOST_TEST(d.ttl == 1);
  BOOST_TEST(!d.secret.has_value());
  BOOST_TEST(d.interval.count() == 5000);

  using custom = gossip_strategy<nodus::multicast_group<"239.1.2.3">, nodus::multicast_port<4000>,
                                 nodus::multicast_if<"198.18.0.1">, nodus::multicast_ttl<4>,
                                 nodus::gossip_secret<"s3cret">, polling_interval<250>>;
  constexpr auto c = custom::type_config();
  BOOST_TEST(asio::ip::address_v4(c.group).to_string() == "239.1.2.3");
  BOOST_TEST(c.port == 4000);
  BOOST_TEST(asio::ip::address_v4(c.interface_address).to_string() == "198.18.0.1");
  BOOST_TEST(c.ttl == 4);
  BOOST_TEST(c.secret.value_or("") == "s3cret");
  BOOST_TEST(c.interval.count() == 250);

  // The type's values stand when nothing is set at run time.
  const auto same = gd::resolve_gossip_config(c, {}, c.interval);
  BOOST_TEST_REQUIRE(same.has_value());
  BOOST_TEST(same->group.to_string() == "239.1.2.3");
  BOOST_TEST(same->port == 4000);
  BOOST_TEST(same->interface_address.to_string() == "198.18.0.1");
  BOOST_TEST(same->ttl == 4);
  BOOST_TEST((same->key == gd::derive_gossip_key("s3cret")));

  // Every run-time setting wins over the type.
  nodus::cluster_options o;
  o.gossip_group = "239.9.9.9";
  o.gossip_port = 4001;
  o.gossip_if = "0.0.0.0";
  o.gossip_ttl = 0;
  o.secret = "other";
  const auto over = gd::resolve_gossip_config(c, o, std::chrono::milliseconds(120));
  BOOST_TEST_REQUIRE(over.has_value());
  BOOST_TEST(over->group.to_string() == "239.9.9.9");
  BOOST_TEST(over->port == 4001);
  BOOST_TEST(over->interface_address.is_unspecified());
  BOOST_TEST(over->ttl == 0);
  BOOST_TEST((over->key == gd::derive_gossip_key("other")));
  BOOST_TEST(over->interval.count() == 120);

  // Invalid overrides are errors that name the setting.
  const auto fails = [&](auto change, std::string_view text) {
    nodus::cluster_options bad;
    change(bad);
    const auto r = gd::resolve_gossip_config(c, bad, c.interval);
    BOOST_TEST(!r.has_value(), text);
    BOOST_TEST(r.error().reason().find(text) != std::string::npos, r.error().reason());
  };
  fails([](auto& b) { b.gossip_group = "198.18.0.1"; }, "gossip group '198.18.0.1'");
  fails([](auto& b) { b.gossip_group = "ff02::1"; }, "IPv6");
  fails([](auto& b) { b.gossip_if = "eth0"; }, "gossip interface 'eth0'");
  fails([](auto& b) { b.gossip_ttl = 256; }, "TTL 256");
  fails([](auto& b) { b.secret = ""; }, "secret is set but empty");
}

BOOST_AUTO_TEST_CASE(an_invalid_setting_disables_gossip_but_ends_the_first_round) {
  host h;
  nodus::cluster_options o;
  o.gossip_group = "10.1.2.3";
  gossip_node<gossip_strategy<polling_interval<100>>> n(h, "n1@127.0.0.1", 5001, o);
  BOOST_TEST(expect(
      *n.ctx, [](const recorded& r) { return r.set_calls == 1; }, "the first round reported"));
  const auto r = n.ctx->snapshot();
  BOOST_TEST(r.first_set.empty());
  BOOST_TEST(r.logs_with("gossip disabled: gossip group '10.1.2.3'", log_level::error) == 1U);
  BOOST_TEST(!n.strategy.stats().socket_open);
}

// ---- real multicast between network namespaces --------------------------------------------------

// Two hosts joined by a veth pair: one sends through its interface address (multicast_if, from
// the type), the other through a multicast route. Each learns the other's name, at the address
// the heartbeat came from and the port it advertised; the first round is reported once. Then:
// another program holding the port with SO_REUSEPORT alone does not keep a node out; a node with
// a long interval (run-time override) reports a known node at most once per interval however
// often it hears it; and a node that starts late hears such a slow node within its first round
// (the slow node answers a newcomer at once instead of at its next interval).
BOOST_AUTO_TEST_CASE(two_hosts_on_a_veth_pair_find_each_other) {
  NODUS_SKIP_WITHOUT_NETNS();
  netns_lab lab;
  const std::string ns1 = lab.add("v1");
  const std::string ns2 = lab.add("v2");
  netns_lab::link(ns1, "gv1", ns2, "gv2");
  netns_lab::address(ns1, "gv1", "198.18.1.1/24");
  netns_lab::address(ns2, "gv2", "198.18.1.2/24");
  netns_lab::multicast_route(ns2, "gv2");  // h1 has none: it uses multicast_if

  host h1(ns1);
  host h2(ns2);
  // Another program on h2 bound to the gossip port with SO_REUSEPORT only (no SO_REUSEADDR).
  asio::ip::udp::socket holder(h2.io());
  std::error_code holder_error;
  BOOST_REQUIRE(h2.run([&] {
    holder.open(asio::ip::udp::v4(), holder_error);
    const int on = 1;
    if (!holder_error &&
        ::setsockopt(holder.native_handle(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
      holder_error = std::error_code(errno, std::system_category());
    }
    if (!holder_error) holder.bind({asio::ip::address_v4::any(), 45892}, holder_error);
  }));
  BOOST_REQUIRE_MESSAGE(!holder_error, "the SO_REUSEPORT holder: " << holder_error.message());

  gossip_node<gossip_strategy<polling_interval<100>, nodus::multicast_if<"198.18.1.1">>> a(
      h1, "a@198.18.1.1", 5001);
  gossip_node<gossip_strategy<polling_interval<100>>> b(h2, "b@198.18.1.2", 5002);

  BOOST_TEST(expect(
      *a.ctx, [](const recorded& r) { return r.knows("b@198.18.1.2"); }, "a hears b"));
  BOOST_TEST(expect(
      *b.ctx, [](const recorded& r) { return r.knows("a@198.18.1.1"); }, "b hears a"));
  BOOST_TEST(expect(
      *a.ctx, [](const recorded& r) { return r.set_calls >= 1; }, "a's first round"));
  BOOST_TEST(expect(
      *b.ctx, [](const recorded& r) { return r.set_calls >= 1; }, "b's first round"));
  const auto ra = a.ctx->snapshot();
  const auto rb = b.ctx->snapshot();
  BOOST_TEST((ra.endpoint_of("b@198.18.1.2") == tcp_at("198.18.1.2", 5002)));
  BOOST_TEST((rb.endpoint_of("a@198.18.1.1") == tcp_at("198.18.1.1", 5001)));
  BOOST_TEST(ra.set_calls == 1);
  BOOST_TEST(rb.set_calls == 1);
  BOOST_TEST(!ra.knows("a@198.18.1.1"));  // never itself, though it hears its own heartbeats
  BOOST_TEST(!rb.knows("b@198.18.1.2"));
  BOOST_TEST(expect(
      *a.ctx, [](const recorded& r) { return r.reports_of("b@198.18.1.2") >= 3; },
      "b reported again"));
  const auto stats = a.strategy.stats();
  BOOST_TEST(stats.socket_open);
  BOOST_TEST(stats.sent >= 1U);  // b heard a
  BOOST_TEST(stats.malformed == 0U);
  BOOST_TEST(stats.unauthenticated == 0U);

  // A slow node on h1 (interval 5 s at run time) hears b ten times a second, but reports it once
  // per interval only.
  nodus::cluster_options slow_settings;
  slow_settings.interval = std::chrono::milliseconds(5000);
  slow_settings.gossip_if = "198.18.1.1";
  gossip_node<gossip_strategy<polling_interval<100>>> slow(h1, "slow@198.18.1.1", 5003,
                                                           slow_settings);
  BOOST_TEST(expect(
      *slow.ctx, [](const recorded& r) { return r.set_calls >= 1; }, "slow's first round"));
  BOOST_TEST(poll_until([&] { return slow.strategy.stats().accepted >= 12; }),
             "slow hears a dozen heartbeats");
  BOOST_TEST(slow.ctx->snapshot().reports_of("b@198.18.1.2") == 1U);

  // A node that starts now hears slow within its first round (500 ms), long before slow's next
  // regular heartbeat.
  nodus::cluster_options late_settings;
  late_settings.interval = std::chrono::milliseconds(5000);
  gossip_node<gossip_strategy<polling_interval<100>>> late(h2, "late@198.18.1.2", 5004,
                                                           late_settings);
  BOOST_TEST(expect(
      *late.ctx, [](const recorded& r) { return r.set_calls >= 1; }, "late's first round"));
  const auto first = late.ctx->snapshot().first_set;
  const auto in_first = [&](std::string_view name) {
    return std::any_of(first.begin(), first.end(), [&](const auto& t) { return t.name == name; });
  };
  BOOST_TEST(in_first("slow@198.18.1.1"), "late's first round lacks the slow node");
  BOOST_TEST(in_first("a@198.18.1.1"));
  BOOST_TEST(in_first("b@198.18.1.2"));
}

// Three hosts on a bridge. h1 runs two nodes that share the port; h2 one; all three have the
// secret and run-time group, port and interface settings. h3 runs a node with a wrong secret and
// one with none. The three with the secret find each other (the two on h1 also hear each other);
// nobody accepts the two others, and those two accept nothing. Then one node of h1 stops: its
// socket is closed and it reports nothing more while its neighbour still hears h2.
BOOST_AUTO_TEST_CASE(bridge_shared_port_and_secrets) {
  NODUS_SKIP_WITHOUT_NETNS();
  netns_lab lab;
  const std::string br = lab.add("br");
  const std::string ns1 = lab.add("h1");
  const std::string ns2 = lab.add("h2");
  const std::string ns3 = lab.add("h3");
  netns_lab::must("ip -n " + br + " link add gbr type bridge mcast_snooping 0");
  netns_lab::must("ip -n " + br + " link set gbr up");
  int i = 1;
  for (const auto& ns : {ns1, ns2, ns3}) {
    const std::string port = "gp" + std::to_string(i);
    netns_lab::link(ns, "ge0", br, port);
    netns_lab::must("ip -n " + br + " link set " + port + " master gbr up");
    netns_lab::address(ns, "ge0", "198.18.2." + std::to_string(i) + "/24");
    ++i;
  }
  netns_lab::multicast_route(ns2, "ge0");
  netns_lab::multicast_route(ns3, "ge0");

  nodus::cluster_options o;  // run-time settings over the type's defaults
  o.gossip_group = "239.255.77.1";
  o.gossip_port = 46000;
  nodus::cluster_options o1 = o;
  o1.gossip_if = "198.18.2.1";  // h1 has no multicast route
  nodus::cluster_options wrong = o;
  wrong.secret = "not-the-secret";

  using secret_gossip = gossip_strategy<polling_interval<100>, nodus::gossip_secret<"s3cret">>;
  using plain_gossip = gossip_strategy<polling_interval<100>>;
  host h1a(ns1);
  host h1b(ns1);
  host h2(ns2);
  host h3a(ns3);
  host h3b(ns3);
  gossip_node<secret_gossip> a1(h1a, "a1@198.18.2.1", 5011, o1);
  gossip_node<secret_gossip> a2(h1b, "a2@198.18.2.1", 5012, o1);
  gossip_node<secret_gossip> b(h2, "b@198.18.2.2", 5020, o);
  gossip_node<secret_gossip> c(h3a, "c@198.18.2.3", 5030, wrong);
  gossip_node<plain_gossip> d(h3b, "d@198.18.2.3", 5040, o);

  const auto knows_at = [](const char* name, const char* address, std::uint16_t port) {
    return [=](const recorded& r) { return r.endpoint_of(name) == tcp_at(address, port); };
  };
  BOOST_TEST(expect(*a1.ctx, knows_at("a2@198.18.2.1", "198.18.2.1", 5012), "a1 hears a2"));
  BOOST_TEST(expect(*a1.ctx, knows_at("b@198.18.2.2", "198.18.2.2", 5020), "a1 hears b"));
  BOOST_TEST(expect(*a2.ctx, knows_at("a1@198.18.2.1", "198.18.2.1", 5011), "a2 hears a1"));
  BOOST_TEST(expect(*a2.ctx, knows_at("b@198.18.2.2", "198.18.2.2", 5020), "a2 hears b"));
  BOOST_TEST(expect(*b.ctx, knows_at("a1@198.18.2.1", "198.18.2.1", 5011), "b hears a1"));
  BOOST_TEST(expect(*b.ctx, knows_at("a2@198.18.2.1", "198.18.2.1", 5012), "b hears a2"));
  // The rejections are events too: each node logs (debug) the first datagram it refuses.
  for (auto* n : {&a1, &a2, &b}) {
    BOOST_TEST(expect(
        *n->ctx,
        [](const recorded& r) { return r.logs_with("unauthenticated", log_level::debug) > 0; },
        "rejects the heartbeats of c and d"));
  }
  for (auto* ctx : {c.ctx.get(), d.ctx.get()}) {
    BOOST_TEST(expect(
        *ctx,
        [](const recorded& r) { return r.logs_with("unauthenticated", log_level::debug) > 0; },
        "rejects the heartbeats of the others"));
    BOOST_TEST(expect(
        *ctx, [](const recorded& r) { return r.set_calls >= 1; }, "the first round"));
  }
  // Let a few more heartbeats of everyone pass (b reported to a1 three more times).
  const std::size_t before = a1.ctx->snapshot().reports_of("b@198.18.2.2");
  BOOST_TEST(expect(
      *a1.ctx, [&](const recorded& r) { return r.reports_of("b@198.18.2.2") >= before + 3; },
      "a1 keeps hearing b"));
  for (auto* ctx : {a1.ctx.get(), a2.ctx.get(), b.ctx.get()}) {
    const auto r = ctx->snapshot();
    BOOST_TEST(!r.knows("c@198.18.2.3"), ctx->self().str() << " accepted c (wrong secret)");
    BOOST_TEST(!r.knows("d@198.18.2.3"), ctx->self().str() << " accepted d (no secret)");
  }
  for (auto* ctx : {c.ctx.get(), d.ctx.get()}) {
    const auto r = ctx->snapshot();
    BOOST_TEST(r.added.empty(), ctx->self().str() << " accepted a heartbeat");
    BOOST_TEST(r.first_set.empty());
  }
  BOOST_TEST(c.strategy.stats().accepted == 0U);
  BOOST_TEST(c.strategy.stats().unauthenticated >= 3U);  // a1, a2 and b at least once each
  BOOST_TEST(d.strategy.stats().accepted == 0U);
  BOOST_TEST(a1.strategy.stats().unauthenticated >= 2U);  // c and d at least once each

  // stop(): a1's socket closes at once; it receives nothing more while a2 still hears b.
  BOOST_TEST(udp_sockets_in(ns1, "239.255.77.1:46000") == 2);
  a1.stop();
  BOOST_TEST(udp_sockets_in(ns1, "239.255.77.1:46000") == 1);
  const auto a1_stats = a1.strategy.stats();
  const std::size_t a1_reports = a1.ctx->snapshot().added.size();
  BOOST_TEST(!a1_stats.socket_open);
  const std::size_t a2_before = a2.ctx->snapshot().reports_of("b@198.18.2.2");
  BOOST_TEST(expect(
      *a2.ctx, [&](const recorded& r) { return r.reports_of("b@198.18.2.2") >= a2_before + 3; },
      "a2 keeps hearing b"));
  BOOST_TEST(a1.strategy.stats().accepted == a1_stats.accepted);
  BOOST_TEST(a1.strategy.stats().sent == a1_stats.sent);
  BOOST_TEST(a1.ctx->snapshot().added.size() == a1_reports);
}

// A host without a multicast route and without an interface setting cannot join the group: the
// strategy says why (once at warn, then at debug), still ends its first round, retries every
// interval, and joins as soon as a route exists.
BOOST_AUTO_TEST_CASE(no_multicast_route_is_logged_and_retried_until_one_exists) {
  NODUS_SKIP_WITHOUT_NETNS();
  netns_lab lab;
  const std::string ns1 = lab.add("r1");
  const std::string ns2 = lab.add("r2");
  netns_lab::link(ns1, "gr1", ns2, "gr2");
  netns_lab::address(ns1, "gr1", "198.18.3.1/24");
  netns_lab::address(ns2, "gr2", "198.18.3.2/24");
  netns_lab::multicast_route(ns2, "gr2");

  host h1(ns1);
  host h2(ns2);
  gossip_node<gossip_strategy<polling_interval<100>>> a(h1, "a@198.18.3.1", 5001);
  gossip_node<gossip_strategy<polling_interval<100>>> b(h2, "b@198.18.3.2", 5002);

  BOOST_TEST(expect(
      *a.ctx, [](const recorded& r) { return r.logs_with("cannot join the group") >= 2; },
      "two failed attempts to join"));
  BOOST_TEST(expect(
      *a.ctx, [](const recorded& r) { return r.set_calls == 1; }, "the first round, empty"));
  {
    const auto r = a.ctx->snapshot();
    BOOST_TEST(r.first_set.empty());
    BOOST_TEST(r.logs_with("cannot join the group", log_level::warn) == 1U);  // then at debug
    BOOST_TEST(r.logs_with("retrying every 100ms") >= 2U);
    BOOST_TEST(!a.strategy.stats().socket_open);
    BOOST_TEST(a.strategy.stats().open_errors >= 2U);
  }
  netns_lab::multicast_route(ns1, "gr1");
  BOOST_TEST(expect(
      *a.ctx, [](const recorded& r) { return r.logs_with("ready after", log_level::info) == 1; },
      "the socket joins once the route exists"));
  BOOST_TEST(expect(
      *a.ctx,
      [](const recorded& r) { return r.endpoint_of("b@198.18.3.2") == tcp_at("198.18.3.2", 5002); },
      "a hears b"));
  BOOST_TEST(expect(
      *b.ctx,
      [](const recorded& r) { return r.endpoint_of("a@198.18.3.1") == tcp_at("198.18.3.1", 5001); },
      "b hears a"));
  BOOST_TEST(a.strategy.stats().socket_open);
}

BOOST_AUTO_TEST_SUITE_END()

// nodus/cluster/gossip.hpp: gossip_strategy, libcluster's Cluster.Strategy.Gossip for nodus: the
// nodes of a LAN find each other by UDP multicast heartbeats, optionally authenticated with a
// shared secret (HMAC-SHA256). IPv4 only.
#pragma once

#include <algorithm>
#include <array>
#include <asio/any_io_executor.hpp>
#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/ip/address_v4.hpp>
#include <asio/ip/multicast.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/socket.h>
#endif

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "nodus/cluster/strategy.hpp"
#include "nodus/core/error.hpp"
#include "nodus/core/fixed_string.hpp"
#include "nodus/core/format.hpp"
#include "nodus/core/log.hpp"
#include "nodus/core/node_name.hpp"
#include "nodus/net/detail/openssl.hpp"

namespace nodus {

namespace cluster::detail {

// ---- IPv4 addresses in text ---------------------------------------------------------------------

// An IPv4 address read from dotted-quad text; value in host byte order.
struct ipv4_text {
  bool ok = false;
  std::uint32_t value = 0;
};

// parse_ipv4("233.252.1.32") -> the address; usable at compile time. Only the strict form a.b.c.d
// with decimal octets 0..255 and no leading zeros (inet_aton would read "010" as octal).
[[nodiscard]] constexpr ipv4_text parse_ipv4(std::string_view text) noexcept {
  std::uint32_t value = 0;
  std::size_t i = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (i >= text.size() || text[i] != '.') return {};
      ++i;
    }
    const std::size_t first = i;
    std::uint32_t octet = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (i - first == 3) return {};
      octet = octet * 10 + static_cast<std::uint32_t>(text[i] - '0');
      ++i;
    }
    if (i == first || octet > 255) return {};
    if (i - first > 1 && text[first] == '0') return {};
    value = (value << 8) | octet;
  }
  if (i != text.size()) return {};
  return {true, value};
}

// is_ipv4_multicast(a) -> whether a is in 224.0.0.0/4 (RFC 5771).
[[nodiscard]] constexpr bool is_ipv4_multicast(std::uint32_t address) noexcept {
  return (address >> 28) == 0xE;
}

// ---- the heartbeat datagram ---------------------------------------------------------------------
//
// nodus' own format (libcluster's Gossip strategy multicasts an optionally encrypted Erlang term
// instead, without a MAC; the two do not interoperate). Integers are big-endian.
//
//   offset  size  field
//   0       4     magic "NDGS" (0x4e 0x44 0x47 0x53)
//   4       1     version: 1
//   5       1     flags: bit 0 set = a MAC follows the name; the other bits are 0
//   6       2     the sender's distribution (TCP) port, 1..65535 (strategy_context::node_port)
//   8       8     incarnation: random, drawn at each start() of the sender's strategy
//   16      8     sequence: 0 for the first heartbeat of an incarnation, then +1 per heartbeat
//   24      1     N: the length of the node name, 1..255
//   25      N     the sender's node name, name@host (node_name::parse must accept it)
//   25+N    32    with flag bit 0 only: HMAC-SHA256 (RFC 2104 over FIPS 180-4 SHA-256) of bytes
//                 [0, 25+N), keyed with K = HMAC-SHA256(key "nodus gossip v1", the secret)
//
// Nothing may follow: a datagram is exactly 25+N bytes, or 25+N+32 with the MAC; at most 312.
// The receiver takes the node's address from the datagram's source address, not from the name.

inline constexpr unsigned char gossip_magic[4] = {'N', 'D', 'G', 'S'};
inline constexpr std::uint8_t gossip_version = 1;
inline constexpr std::uint8_t gossip_flag_mac = 0x01;
inline constexpr std::size_t gossip_header_size = 25;
inline constexpr std::size_t gossip_mac_size = 32;
inline constexpr std::size_t gossip_max_size =
    gossip_header_size + node_name::max_size + gossip_mac_size;
// The salt of the key derivation, fixed by the format (version 1).
inline constexpr std::string_view gossip_key_label = "nodus gossip v1";

// The 32-byte HMAC key derived from a gossip secret.
using gossip_key = std::array<unsigned char, 32>;

// What a heartbeat says.
struct gossip_heartbeat {
  node_name name;
  std::uint16_t port = 0;
  std::uint64_t incarnation = 0;
  std::uint64_t sequence = 0;
};

// Why a datagram is not a heartbeat this node accepts (none: it is one).
enum class heartbeat_problem : unsigned char {
  none,
  too_short,       // fewer than 25 bytes
  too_long,        // more than 312 bytes
  bad_magic,       // does not start with "NDGS"
  bad_version,     // a version this node does not speak
  bad_flags,       // a flag bit this version does not define
  bad_port,        // port 0
  bad_length,      // the size does not match the name length (and MAC flag)
  bad_name,        // the name is not a valid name@host
  mac_missing,     // this node has a secret; the heartbeat carries no MAC
  mac_unexpected,  // this node has no secret; the heartbeat carries a MAC (another cluster)
  mac_mismatch,    // wrong MAC: another secret, or altered in transit
  crypto_failure,  // OpenSSL could not compute HMAC-SHA256
};

// to_string(problem) -> a short reason for log lines.
[[nodiscard]] constexpr std::string_view to_string(heartbeat_problem problem) noexcept {
  switch (problem) {
    case heartbeat_problem::none: return "valid";
    case heartbeat_problem::too_short: return "shorter than a heartbeat header";
    case heartbeat_problem::too_long: return "longer than the largest heartbeat";
    case heartbeat_problem::bad_magic: return "not a nodus gossip heartbeat (magic)";
    case heartbeat_problem::bad_version: return "unknown heartbeat version";
    case heartbeat_problem::bad_flags: return "unknown flag bits";
    case heartbeat_problem::bad_port: return "port 0";
    case heartbeat_problem::bad_length: return "size does not match the name length";
    case heartbeat_problem::bad_name: return "invalid node name";
    case heartbeat_problem::mac_missing: return "no MAC, but this node has a gossip secret";
    case heartbeat_problem::mac_unexpected: return "has a MAC, but this node has no gossip secret";
    case heartbeat_problem::mac_mismatch: return "wrong MAC (another secret?)";
    case heartbeat_problem::crypto_failure: return "OpenSSL failed to compute HMAC-SHA256";
  }
  return "?";
}

// is_auth_problem(p) -> whether p is about the MAC (another cluster) rather than the format.
[[nodiscard]] constexpr bool is_auth_problem(heartbeat_problem problem) noexcept {
  return problem == heartbeat_problem::mac_missing ||
         problem == heartbeat_problem::mac_unexpected ||
         problem == heartbeat_problem::mac_mismatch || problem == heartbeat_problem::crypto_failure;
}

// The outcome of decode_heartbeat: the heartbeat when problem is none.
struct heartbeat_decoded {
  heartbeat_problem problem = heartbeat_problem::none;
  gossip_heartbeat heartbeat;
};

struct evp_mac_deleter {
  void operator()(EVP_MAC* mac) const noexcept { EVP_MAC_free(mac); }
};
struct evp_mac_ctx_deleter {
  void operator()(EVP_MAC_CTX* ctx) const noexcept { EVP_MAC_CTX_free(ctx); }
};

// hmac_sha256(key, data, out) -> false when OpenSSL failed; else out holds HMAC-SHA256(key, data)
// (OpenSSL 3 EVP_MAC "HMAC" with digest "SHA256"; the algorithm is fetched once).
[[nodiscard]] inline bool hmac_sha256(std::span<const unsigned char> key,
                                      std::span<const unsigned char> data,
                                      std::span<unsigned char, 32> out) noexcept {
  static const std::unique_ptr<EVP_MAC, evp_mac_deleter> algorithm{
      EVP_MAC_fetch(nullptr, "HMAC", nullptr)};
  if (!algorithm) return false;
  const std::unique_ptr<EVP_MAC_CTX, evp_mac_ctx_deleter> ctx{EVP_MAC_CTX_new(algorithm.get())};
  if (!ctx) return false;
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
  static constexpr unsigned char nothing[1] = {0};
  if (EVP_MAC_init(ctx.get(), key.empty() ? nothing : key.data(), key.size(), params) != 1) {
    return false;
  }
  if (!data.empty() && EVP_MAC_update(ctx.get(), data.data(), data.size()) != 1) return false;
  std::size_t written = 0;
  if (EVP_MAC_final(ctx.get(), out.data(), &written, out.size()) != 1) return false;
  return written == out.size();
}

// derive_gossip_key(secret) -> K = HMAC-SHA256(key "nodus gossip v1", secret); nullopt when
// OpenSSL failed.
[[nodiscard]] inline std::optional<gossip_key> derive_gossip_key(std::string_view secret) noexcept {
  gossip_key key{};
  const auto* label = reinterpret_cast<const unsigned char*>(gossip_key_label.data());
  const auto* text = reinterpret_cast<const unsigned char*>(secret.data());
  if (!hmac_sha256({label, gossip_key_label.size()}, {text, secret.size()}, key)) {
    return std::nullopt;
  }
  return key;
}

inline void put_be(unsigned char* out, std::uint64_t value, std::size_t size) noexcept {
  for (std::size_t i = 0; i < size; ++i) {
    out[i] = static_cast<unsigned char>(value >> (8 * (size - 1 - i)));
  }
}

[[nodiscard]] inline std::uint64_t get_be(const unsigned char* in, std::size_t size) noexcept {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < size; ++i) value = (value << 8) | in[i];
  return value;
}

// encode_heartbeat(hb, key, out) -> the datagram's size in out (with a MAC when key is not
// null); 0 when hb has an empty name or port 0, or OpenSSL failed.
[[nodiscard]] inline std::size_t encode_heartbeat(const gossip_heartbeat& hb, const gossip_key* key,
                                                  std::span<unsigned char, gossip_max_size> out) {
  if (hb.name.empty() || hb.port == 0) return 0;
  unsigned char* p = out.data();
  for (std::size_t i = 0; i < 4; ++i) p[i] = gossip_magic[i];
  p[4] = gossip_version;
  p[5] = key != nullptr ? gossip_flag_mac : 0;
  put_be(p + 6, hb.port, 2);
  put_be(p + 8, hb.incarnation, 8);
  put_be(p + 16, hb.sequence, 8);
  const std::string_view name = hb.name.str();
  p[24] = static_cast<unsigned char>(name.size());
  for (std::size_t i = 0; i < name.size(); ++i) p[gossip_header_size + i] = name[i];
  const std::size_t body = gossip_header_size + name.size();
  if (key == nullptr) return body;
  if (!hmac_sha256(*key, {p, body}, std::span<unsigned char, 32>{p + body, gossip_mac_size})) {
    return 0;
  }
  return body + gossip_mac_size;
}

// decode_heartbeat(datagram, key) -> the heartbeat, or why the datagram is rejected. Reads only
// inside datagram. With a key, only heartbeats with the right MAC pass (compared in constant
// time); without one, only heartbeats without a MAC.
[[nodiscard]] inline heartbeat_decoded decode_heartbeat(std::span<const unsigned char> datagram,
                                                        const gossip_key* key) {
  using p = heartbeat_problem;
  const std::size_t n = datagram.size();
  if (n < gossip_header_size) return {p::too_short, {}};
  if (n > gossip_max_size) return {p::too_long, {}};
  const unsigned char* d = datagram.data();
  for (std::size_t i = 0; i < 4; ++i) {
    if (d[i] != gossip_magic[i]) return {p::bad_magic, {}};
  }
  if (d[4] != gossip_version) return {p::bad_version, {}};
  if ((d[5] & ~gossip_flag_mac) != 0) return {p::bad_flags, {}};
  const bool has_mac = (d[5] & gossip_flag_mac) != 0;
  gossip_heartbeat hb;
  hb.port = static_cast<std::uint16_t>(get_be(d + 6, 2));
  if (hb.port == 0) return {p::bad_port, {}};
  hb.incarnation = get_be(d + 8, 8);
  hb.sequence = get_be(d + 16, 8);
  const std::size_t name_size = d[24];
  const std::size_t body = gossip_header_size + name_size;
  if (name_size == 0 || n != body + (has_mac ? gossip_mac_size : 0)) return {p::bad_length, {}};
  if (key != nullptr && !has_mac) return {p::mac_missing, {}};
  if (key == nullptr && has_mac) return {p::mac_unexpected, {}};
  if (has_mac) {
    std::array<unsigned char, gossip_mac_size> expected{};
    if (!hmac_sha256(*key, {d, body}, expected)) return {p::crypto_failure, {}};
    if (!net::detail::equal_constant_time(expected.data(), d + body, gossip_mac_size)) {
      return {p::mac_mismatch, {}};
    }
  }
  auto name = node_name::parse({reinterpret_cast<const char*>(d + gossip_header_size), name_size});
  if (!name) return {p::bad_name, {}};
  hb.name = *name;
  return {p::none, hb};
}

// ---- static options -----------------------------------------------------------------------------

inline constexpr std::string_view default_gossip_group = "233.252.1.32";  // libcluster's default
inline constexpr std::uint16_t default_gossip_port = 45892;               // libcluster's default
inline constexpr int default_gossip_ttl = 1;

}  // namespace cluster::detail

// multicast_group<"233.252.1.32">: a gossip_strategy option: the IPv4 multicast group heartbeats
// go to (default 233.252.1.32, libcluster's). Run-time override: cluster_options::gossip_group.
template <fixed_string Addr>
struct multicast_group {
  static_assert(
      cluster::detail::parse_ipv4(Addr.view()).ok &&
          cluster::detail::is_ipv4_multicast(cluster::detail::parse_ipv4(Addr.view()).value),
      "nodus: multicast_group<\"A\"> needs an IPv4 multicast address (224.0.0.0 to "
      "239.255.255.255) in dotted form, e.g. \"233.252.1.32\"; IPv6 is not supported");
  static constexpr std::uint32_t value = cluster::detail::parse_ipv4(Addr.view()).value;
};

// multicast_port<45892>: a gossip_strategy option: the UDP port of the group (default 45892,
// libcluster's). Run-time override: cluster_options::gossip_port.
template <std::uint16_t Port>
struct multicast_port {
  static_assert(Port != 0, "nodus: multicast_port<P> needs a port from 1 to 65535");
  static constexpr std::uint16_t value = Port;
};

// multicast_if<"198.18.0.1">: a gossip_strategy option: the address of the local interface to
// send heartbeats from (IP_MULTICAST_IF) and to join the group on (default "0.0.0.0": the kernel
// picks the interface of its route to the group). Run-time override: cluster_options::gossip_if.
template <fixed_string Addr>
struct multicast_if {
  static_assert(cluster::detail::parse_ipv4(Addr.view()).ok,
                "nodus: multicast_if<\"A\"> needs the IPv4 address of a local interface in dotted "
                "form, e.g. \"198.18.0.1\", or \"0.0.0.0\" for the kernel's choice");
  static constexpr std::uint32_t value = cluster::detail::parse_ipv4(Addr.view()).value;
};

// multicast_ttl<1>: a gossip_strategy option: the IP TTL of heartbeats (default 1: the local
// network only). Run-time override: cluster_options::gossip_ttl.
template <int Ttl>
struct multicast_ttl {
  static_assert(Ttl >= 0 && Ttl <= 255, "nodus: multicast_ttl<N> needs N from 0 to 255");
  static constexpr int value = Ttl;
};

// gossip_secret<"s3cret">: a gossip_strategy option: the cluster's shared secret; heartbeats then
// carry an HMAC-SHA256 and only nodes with the same secret hear each other (default: none,
// unauthenticated). Run-time override: cluster_options::secret (NODUS_CLUSTER_SECRET); prefer it,
// since a secret in a type is in the binary.
template <fixed_string Secret>
struct gossip_secret {
  static_assert(!Secret.empty(), "nodus: gossip_secret<\"S\"> needs a non-empty secret");
  static constexpr std::string_view value = Secret.view();
};

namespace cluster::detail {

template <class T>
struct is_multicast_group : std::false_type {};
template <fixed_string A>
struct is_multicast_group<multicast_group<A>> : std::true_type {};
template <class T>
struct is_multicast_port : std::false_type {};
template <std::uint16_t P>
struct is_multicast_port<multicast_port<P>> : std::true_type {};
template <class T>
struct is_multicast_if : std::false_type {};
template <fixed_string A>
struct is_multicast_if<multicast_if<A>> : std::true_type {};
template <class T>
struct is_multicast_ttl : std::false_type {};
template <int N>
struct is_multicast_ttl<multicast_ttl<N>> : std::true_type {};
template <class T>
struct is_gossip_secret : std::false_type {};
template <fixed_string S>
struct is_gossip_secret<gossip_secret<S>> : std::true_type {};

// gossip_option_value<Trait, Options...>(fallback) -> Options::value of the option Trait picks,
// else fallback.
template <template <class> class Trait, class Value, class... Options>
constexpr Value gossip_option_value(Value fallback) {
  Value r = fallback;
  (
      [&] {
        if constexpr (Trait<Options>::value) r = Options::value;
      }(),
      ...);
  return r;
}

template <template <class> class Trait, class... Options>
inline constexpr std::size_t gossip_option_count = (std::size_t{Trait<Options>::value} + ... + 0);

// gossip_options_unique<Options...>: no option kind is given twice.
template <class... Options>
inline constexpr bool gossip_options_unique =
    gossip_option_count<is_multicast_group, Options...> <= 1 &&
    gossip_option_count<is_multicast_port, Options...> <= 1 &&
    gossip_option_count<is_multicast_if, Options...> <= 1 &&
    gossip_option_count<is_multicast_ttl, Options...> <= 1 &&
    gossip_option_count<is_gossip_secret, Options...> <= 1 &&
    gossip_option_count<is_polling_interval, Options...> <= 1;

// The configuration a gossip_strategy type carries (its options, else libcluster's defaults).
struct gossip_type_config {
  std::uint32_t group = parse_ipv4(default_gossip_group).value;
  std::uint16_t port = default_gossip_port;
  std::uint32_t interface_address = 0;
  int ttl = default_gossip_ttl;
  std::optional<std::string_view> secret;
  std::chrono::milliseconds interval = default_interval;
};

// The configuration a running gossip strategy uses: the type's, with the run-time overrides.
struct gossip_config {
  asio::ip::address_v4 group;
  std::uint16_t port = 0;
  asio::ip::address_v4 interface_address;  // any(): the kernel's choice
  int ttl = default_gossip_ttl;
  std::optional<gossip_key> key;
  std::chrono::milliseconds interval = default_interval;
};

// resolve_gossip_config(type, settings) -> the configuration, settings winning over the type; an
// error (std::errc::invalid_argument, the reason naming the setting) for an invalid override.
[[nodiscard]] inline result<gossip_config> resolve_gossip_config(
    const gossip_type_config& type, const cluster_options& settings,
    std::chrono::milliseconds interval) {
  const auto invalid = [](std::string reason) {
    return nodus::error(std::make_error_code(std::errc::invalid_argument), std::move(reason));
  };
  gossip_config c;
  std::uint32_t group = type.group;
  if (!settings.gossip_group.empty()) {
    const ipv4_text t = parse_ipv4(settings.gossip_group);
    if (!t.ok || !is_ipv4_multicast(t.value)) {
      return invalid(nodus::format(
          "gossip group '{}' is not an IPv4 multicast address (224.0.0.0 to 239.255.255.255; "
          "IPv6 groups are not supported)",
          settings.gossip_group));
    }
    group = t.value;
  }
  c.group = asio::ip::address_v4(group);
  c.port = settings.gossip_port != 0 ? settings.gossip_port : type.port;
  std::uint32_t iface = type.interface_address;
  if (!settings.gossip_if.empty()) {
    const ipv4_text t = parse_ipv4(settings.gossip_if);
    if (!t.ok) {
      return invalid(nodus::format(
          "gossip interface '{}' is not an IPv4 address in dotted form (0.0.0.0: any)",
          settings.gossip_if));
    }
    iface = t.value;
  }
  c.interface_address = asio::ip::address_v4(iface);
  c.ttl = type.ttl;
  if (settings.gossip_ttl != -1) {
    if (settings.gossip_ttl < 0 || settings.gossip_ttl > 255) {
      return invalid(nodus::format("gossip TTL {} is not in 0..255", settings.gossip_ttl));
    }
    c.ttl = settings.gossip_ttl;
  }
  std::optional<std::string_view> secret = type.secret;
  if (settings.secret) {
    if (settings.secret->empty()) {
      // Fail closed: an empty NODUS_CLUSTER_SECRET must not silently turn authentication off.
      return invalid("the gossip secret is set but empty");
    }
    secret = *settings.secret;
  }
  if (secret) {
    c.key = derive_gossip_key(*secret);
    if (!c.key) return invalid("OpenSSL could not derive the gossip key (HMAC-SHA256)");
  }
  c.interval = interval.count() > 0 ? interval : default_interval;
  return c;
}

// ---- the running strategy -----------------------------------------------------------------------

// Counts a kind of event and logs it at debug at most once per `period` (never per datagram).
struct rate_limited_note {
  std::uint64_t pending = 0;
  std::chrono::steady_clock::time_point last{};
  bool logged = false;

  // note(now, period) -> the count to report now (0: stay quiet).
  [[nodiscard]] std::uint64_t note(std::chrono::steady_clock::time_point now,
                                   std::chrono::steady_clock::duration period) noexcept {
    ++pending;
    if (logged && now - last < period) return 0;
    logged = true;
    last = now;
    return std::exchange(pending, 0);
  }
};

// Counters of a gossip strategy (atomics: read from any thread).
struct gossip_counters {
  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> send_errors{0};
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> malformed{0};
  std::atomic<std::uint64_t> unauthenticated{0};
  std::atomic<std::uint64_t> ignored{0};
  std::atomic<std::uint64_t> open_errors{0};
  std::atomic<bool> socket_open{false};
};

// The state of one started gossip strategy, shared by its handlers. Every member function but
// start(), stop() and the counters runs on the context's strand.
class gossip_session : public std::enable_shared_from_this<gossip_session> {
 public:
  // The most nodes remembered; beyond, heartbeats from new names are ignored (a flood of forged
  // names without a secret cannot grow memory without bound).
  static constexpr std::size_t max_peers = 4096;
  // Malformed or unauthenticated datagrams are logged (debug) at most once per this period.
  static constexpr std::chrono::seconds report_period{5};
  // The window after start in which the first round hears the others, at most.
  static constexpr std::chrono::milliseconds first_round_max{500};
  // The shortest gap between the extra heartbeats that answer newly heard nodes.
  static constexpr std::chrono::milliseconds answer_gap{100};

  gossip_session(std::shared_ptr<strategy_context> ctx, gossip_type_config type)
      : ctx_(std::move(ctx)),
        type_(type),
        socket_(ctx_->executor()),
        tick_timer_(ctx_->executor()),
        first_round_timer_(ctx_->executor()),
        answer_timer_(ctx_->executor()) {}

  // start(): begins on the strand (sockets are created on a thread that runs the context).
  void start() {
    asio::post(ctx_->executor(), [self = shared_from_this()] { self->begin(); });
  }

  // stop(): from any thread; closes the socket and timers on the strand. Idempotent.
  void stop() {
    if (stopping_.exchange(true)) return;
    asio::post(ctx_->executor(), [self = shared_from_this()] { self->shutdown(); });
  }

  [[nodiscard]] const gossip_counters& counters() const noexcept { return counters_; }

 private:
  struct peer {
    asio::ip::tcp::endpoint endpoint;
    std::uint64_t incarnation = 0;
    std::uint64_t sequence = 0;
    std::chrono::steady_clock::time_point heard{};
    std::chrono::steady_clock::time_point reported{};
  };

  [[nodiscard]] bool done() const { return stopping_.load() || ctx_->stopped(); }

  template <class... Args>
  void log(log_level level, std::string_view fmt, const Args&... args) {
    ctx_->log(level, nodus::format(fmt, args...));
  }

  [[nodiscard]] std::string group_text() const {
    return nodus::format("{}:{}", config_.group.to_string(), config_.port);
  }

  void begin() {
    if (done() || started_) return;
    started_ = true;
    auto config =
        resolve_gossip_config(type_, ctx_->settings(), effective_interval(*ctx_, type_.interval));
    if (!config) {
      log(log_level::error, "gossip disabled: {}", config.error().reason());
      report_first_round();
      return;
    }
    config_ = std::move(*config);
    incarnation_ = random_incarnation();
    log(log_level::info, "gossip on {} (interface {}, ttl {}, every {}, {})", group_text(),
        config_.interface_address.is_unspecified() ? std::string("any")
                                                   : config_.interface_address.to_string(),
        config_.ttl, config_.interval, config_.key ? "authenticated" : "unauthenticated");
    if (open_socket()) send_heartbeat();
    first_round_timer_.expires_after(std::min(config_.interval, first_round_max));
    first_round_timer_.async_wait([self = shared_from_this()](const std::error_code& ec) {
      if (ec || self->done()) return;
      self->report_first_round();
    });
    schedule_tick();
  }

  void shutdown() {
    std::error_code ignored;
    tick_timer_.cancel();
    first_round_timer_.cancel();
    answer_timer_.cancel();
    socket_.close(ignored);
    counters_.socket_open.store(false);
    peers_.clear();
  }

  [[nodiscard]] static std::uint64_t random_incarnation() {
    unsigned char bytes[8] = {};
    if (net::detail::random_bytes(bytes, sizeof bytes)) return get_be(bytes, sizeof bytes);
    std::random_device device;  // OpenSSL's CSPRNG failed: any distinct value will do
    return (std::uint64_t{device()} << 32) ^ device();
  }

  void schedule_tick() {
    tick_timer_.expires_after(config_.interval);
    tick_timer_.async_wait([self = shared_from_this()](const std::error_code& ec) {
      if (ec || self->done()) {
        if (!ec) self->shutdown();  // the node stopped the strategy without stop()
        return;
      }
      if (self->open_socket()) self->send_heartbeat();
      self->forget_silent(std::chrono::steady_clock::now());
      self->schedule_tick();
    });
  }

  void report_first_round() {
    if (first_round_done_) return;
    first_round_done_ = true;
    std::vector<node_target> nodes;
    nodes.reserve(peers_.size());
    for (const auto& [name, p] : peers_) nodes.push_back({name, p.endpoint});
    ctx_->set_nodes(std::move(nodes));
  }

  // open_socket() -> whether the socket is open (opening it if needed); a failure is logged (warn
  // the first time, debug while it repeats) and retried at the next tick.
  bool open_socket() {
    if (socket_.is_open()) return true;
    std::error_code ec;
    const char* step = "open";
    const auto check = [&](const char* what) {
      if (!ec) step = what;
      return !ec;
    };
    using asio::ip::udp;
    socket_.open(udp::v4(), ec);
    if (check("set SO_REUSEADDR")) socket_.set_option(udp::socket::reuse_address(true), ec);
#if defined(SO_REUSEPORT)
    if (check("set SO_REUSEPORT")) {
      const int on = 1;
      if (::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
        ec = std::error_code(errno, std::system_category());
      }
    }
#endif
    // Bound to the group address, not 0.0.0.0: the socket then receives only datagrams for this
    // group, not those of another group that some other socket of the host joined on this port.
    if (check("bind")) socket_.bind(udp::endpoint(config_.group, config_.port), ec);
    if (check("join the group")) {
      socket_.set_option(asio::ip::multicast::join_group(config_.group, config_.interface_address),
                         ec);
    }
    if (check("set IP_MULTICAST_TTL"))
      socket_.set_option(asio::ip::multicast::hops(config_.ttl), ec);
    if (check("set IP_MULTICAST_LOOP")) {
      socket_.set_option(asio::ip::multicast::enable_loopback(true), ec);
    }
    if (!config_.interface_address.is_unspecified() && check("set IP_MULTICAST_IF")) {
      socket_.set_option(asio::ip::multicast::outbound_interface(config_.interface_address), ec);
    }
    if (ec) {
      std::error_code ignored;
      socket_.close(ignored);
      counters_.open_errors.fetch_add(1);
      std::string reason = nodus::format("cannot {} for {}: {}", step, group_text(), ec.message());
      const bool repeated = reason == open_error_;
      log(repeated ? log_level::debug : log_level::warn, "{}; retrying every {}", reason,
          config_.interval);
      open_error_ = std::move(reason);
      ++open_failures_;
      return false;
    }
    if (open_failures_ > 0) {
      log(log_level::info, "gossip socket on {} ready after {} failed attempt(s)", group_text(),
          open_failures_);
    }
    open_failures_ = 0;
    open_error_.clear();
    counters_.socket_open.store(true);
    start_receive();
    return true;
  }

  void close_socket() {
    std::error_code ignored;
    socket_.close(ignored);
    counters_.socket_open.store(false);
  }

  void send_heartbeat() {
    if (!socket_.is_open() || sending_) return;
    gossip_heartbeat hb;
    hb.name = ctx_->self();
    hb.port = ctx_->node_port();
    hb.incarnation = incarnation_;
    hb.sequence = sequence_++;
    const std::size_t size =
        encode_heartbeat(hb, config_.key ? &*config_.key : nullptr, send_buffer_);
    if (size == 0) {
      note_send_error(hb.name.empty() || hb.port == 0
                          ? std::string("this node has no name or no distribution port yet")
                          : std::string("OpenSSL failed to compute HMAC-SHA256"));
      return;
    }
    sending_ = true;
    last_send_ = std::chrono::steady_clock::now();
    socket_.async_send_to(asio::buffer(send_buffer_.data(), size),
                          asio::ip::udp::endpoint(config_.group, config_.port),
                          [self = shared_from_this()](const std::error_code& ec, std::size_t) {
                            self->sending_ = false;
                            if (self->done() || ec == asio::error::operation_aborted) return;
                            if (ec) {
                              self->note_send_error(ec.message());
                              return;
                            }
                            self->counters_.sent.fetch_add(1);
                            if (!self->send_error_.empty()) {
                              self->log(log_level::info, "gossip heartbeats to {} go out again",
                                        self->group_text());
                              self->send_error_.clear();
                            }
                          });
  }

  void note_send_error(std::string reason) {
    counters_.send_errors.fetch_add(1);
    const bool repeated = reason == send_error_;
    log(repeated ? log_level::debug : log_level::warn,
        "cannot send a gossip heartbeat to {}: {}; retrying every {}", group_text(), reason,
        config_.interval);
    send_error_ = std::move(reason);
  }

  // answer_newcomer(): one extra heartbeat soon after a node is first heard, so that a node that
  // just started hears the others within its first round instead of after a whole interval.
  // Coalesced, and at most one per answer_gap.
  void answer_newcomer() {
    if (answer_pending_) return;
    answer_pending_ = true;
    const auto now = std::chrono::steady_clock::now();
    const auto at = std::max(now, last_send_ + answer_gap);
    answer_timer_.expires_at(at);
    answer_timer_.async_wait([self = shared_from_this()](const std::error_code& ec) {
      self->answer_pending_ = false;
      if (ec || self->done()) return;
      self->send_heartbeat();
    });
  }

  void start_receive() {
    socket_.async_receive_from(
        asio::buffer(receive_buffer_), sender_,
        [self = shared_from_this()](const std::error_code& ec, std::size_t size) {
          if (self->done() || ec == asio::error::operation_aborted) return;
          if (ec) {
            self->log(log_level::warn,
                      "cannot receive gossip heartbeats on {}: {}; reopening the socket",
                      self->group_text(), ec.message());
            self->close_socket();
            return;  // the next tick reopens it
          }
          self->on_datagram(size);
          if (self->socket_.is_open()) self->start_receive();
        });
  }

  void on_datagram(std::size_t size) {
    const auto now = std::chrono::steady_clock::now();
    const heartbeat_decoded d =
        decode_heartbeat({receive_buffer_.data(), size}, config_.key ? &*config_.key : nullptr);
    if (d.problem != heartbeat_problem::none) {
      const bool auth = is_auth_problem(d.problem);
      (auth ? counters_.unauthenticated : counters_.malformed).fetch_add(1);
      rate_limited_note& note = auth ? unauthenticated_note_ : malformed_note_;
      if (const std::uint64_t count = note.note(now, report_period); count > 0) {
        log(log_level::debug, "ignored {} {} datagram(s) on {}; the last from {}: {}", count,
            auth ? "unauthenticated" : "malformed", group_text(), sender_.address().to_string(),
            to_string(d.problem));
      }
      return;
    }
    const gossip_heartbeat& hb = d.heartbeat;
    if (hb.name == ctx_->self()) {
      counters_.ignored.fetch_add(1);
      if (hb.incarnation != incarnation_) {
        if (const std::uint64_t count = conflict_note_.note(now, report_period); count > 0) {
          log(log_level::warn, "a node at {} sends gossip heartbeats under this node's name {}",
              sender_.address().to_string(), hb.name);
        }
      }
      return;
    }
    const asio::ip::tcp::endpoint endpoint(sender_.address(), hb.port);
    auto it = peers_.find(hb.name);
    bool fresh = false;  // a node not known, or known under another incarnation (it restarted)
    bool changed = false;
    if (it == peers_.end()) {
      if (peers_.size() >= max_peers) forget_silent(now);
      if (peers_.size() >= max_peers) {
        counters_.ignored.fetch_add(1);
        if (const std::uint64_t count = full_note_.note(now, report_period); count > 0) {
          log(log_level::debug, "ignored {} heartbeat(s) of new nodes: {} nodes known already",
              count, peers_.size());
        }
        return;
      }
      it = peers_.emplace(hb.name, peer{}).first;
      fresh = true;
    } else if (it->second.incarnation == hb.incarnation) {
      if (hb.sequence <= it->second.sequence) {  // a duplicate, a late or a replayed heartbeat
        counters_.ignored.fetch_add(1);
        return;
      }
      changed = it->second.endpoint != endpoint;
    } else {
      fresh = true;
    }
    changed = changed || fresh;
    peer& p = it->second;
    p.endpoint = endpoint;
    p.incarnation = hb.incarnation;
    p.sequence = hb.sequence;
    p.heard = now;
    counters_.accepted.fetch_add(1);
    if (changed || now - p.reported >= config_.interval) {
      if (changed) {
        log(log_level::debug, "heard {} at {}:{}", hb.name, endpoint.address().to_string(),
            endpoint.port());
      }
      p.reported = now;
      ctx_->add_nodes({node_target{hb.name, endpoint}});
    }
    if (fresh) answer_newcomer();
  }

  // Forgets the nodes not heard for ten intervals (and at least a minute); they count as new when
  // heard again.
  void forget_silent(std::chrono::steady_clock::time_point now) {
    const auto silence = std::max<std::chrono::steady_clock::duration>(10 * config_.interval,
                                                                       std::chrono::minutes(1));
    std::erase_if(peers_, [&](const auto& entry) { return now - entry.second.heard > silence; });
  }

  std::shared_ptr<strategy_context> ctx_;
  gossip_type_config type_;
  gossip_config config_;
  asio::ip::udp::socket socket_;
  asio::steady_timer tick_timer_;
  asio::steady_timer first_round_timer_;
  asio::steady_timer answer_timer_;
  std::array<unsigned char, gossip_max_size> send_buffer_{};
  // Larger than any heartbeat, so that an oversized datagram shows as such (not cut to fit).
  std::array<unsigned char, gossip_max_size + 64> receive_buffer_{};
  asio::ip::udp::endpoint sender_;
  std::unordered_map<node_name, peer> peers_;
  std::uint64_t incarnation_ = 0;
  std::uint64_t sequence_ = 0;
  std::chrono::steady_clock::time_point last_send_{};
  std::string open_error_;
  std::string send_error_;
  std::uint64_t open_failures_ = 0;
  rate_limited_note malformed_note_;
  rate_limited_note unauthenticated_note_;
  rate_limited_note conflict_note_;
  rate_limited_note full_note_;
  bool started_ = false;
  bool first_round_done_ = false;
  bool sending_ = false;
  bool answer_pending_ = false;
  std::atomic<bool> stopping_{false};
  gossip_counters counters_;
};

}  // namespace cluster::detail

// What a gossip strategy did so far (a snapshot; for tests and diagnostics).
struct gossip_stats {
  std::uint64_t sent = 0;             // heartbeats sent
  std::uint64_t send_errors = 0;      // heartbeats that could not be sent
  std::uint64_t accepted = 0;         // valid heartbeats of other nodes
  std::uint64_t malformed = 0;        // datagrams that are not heartbeats (bounded parsing)
  std::uint64_t unauthenticated = 0;  // heartbeats of another cluster: wrong, missing or extra MAC
  std::uint64_t ignored = 0;          // own heartbeats, duplicates, and new nodes beyond the limit
  std::uint64_t open_errors = 0;      // failed attempts to open, bind or join the socket
  bool socket_open = false;           // the socket is open and in the group
};

// gossip_strategy<Options...>: libcluster's Cluster.Strategy.Gossip: every node multicasts a UDP
// heartbeat (its name and distribution port) at start and every interval, and connects to the
// nodes it hears, at the heartbeat's source address. Options: multicast_group, multicast_port,
// multicast_if, multicast_ttl, gossip_secret, polling_interval (heartbeat interval, default 5 s);
// cluster_options (gossip_group, gossip_port, gossip_if, gossip_ttl, secret, interval) override
// them at run time. IPv4 only. The first round ends min(interval, 500 ms) after start with the
// nodes heard by then. Nodes are never disconnected by this strategy (add_nodes only). Errors
// (no multicast route, cannot bind or join) are logged and retried every interval, never fatal.
// Several nodes on one host share the port (SO_REUSEPORT) and hear each other (multicast loop).
template <class... Options>
struct gossip_strategy {
  static_assert(((cluster::detail::is_multicast_group<Options>::value ||
                  cluster::detail::is_multicast_port<Options>::value ||
                  cluster::detail::is_multicast_if<Options>::value ||
                  cluster::detail::is_multicast_ttl<Options>::value ||
                  cluster::detail::is_gossip_secret<Options>::value ||
                  cluster::detail::is_polling_interval<Options>::value) &&
                 ...),
                "nodus: gossip_strategy accepts only the options multicast_group<\"A\">, "
                "multicast_port<P>, multicast_if<\"A\">, multicast_ttl<N>, gossip_secret<\"S\"> "
                "and polling_interval<Ms>");
  static_assert(cluster::detail::gossip_options_unique<Options...>,
                "nodus: gossip_strategy takes each option at most once");

  static constexpr std::string_view label = "gossip";

  // The configuration this type carries (before run-time overrides).
  static constexpr cluster::detail::gossip_type_config type_config() noexcept {
    namespace d = cluster::detail;
    d::gossip_type_config c;
    c.group = d::gossip_option_value<d::is_multicast_group, std::uint32_t, Options...>(c.group);
    c.port = d::gossip_option_value<d::is_multicast_port, std::uint16_t, Options...>(c.port);
    c.interface_address =
        d::gossip_option_value<d::is_multicast_if, std::uint32_t, Options...>(c.interface_address);
    c.ttl = d::gossip_option_value<d::is_multicast_ttl, int, Options...>(c.ttl);
    if constexpr (d::gossip_option_count<d::is_gossip_secret, Options...> != 0) {
      c.secret = d::gossip_option_value<d::is_gossip_secret, std::string_view, Options...>({});
    }
    if constexpr (sizeof...(Options) != 0) {  // interval_of<> warns (unused variable) with none
      c.interval = d::interval_of<Options...>(d::default_interval);
    }
    return c;
  }

  // start(ctx): begins gossiping on ctx's strand (the socket is created there). Called once by the
  // node; a second call restarts (a new incarnation).
  void start(std::shared_ptr<cluster::strategy_context> ctx) {
    stop();
    session_ = std::make_shared<cluster::detail::gossip_session>(std::move(ctx), type_config());
    session_->start();
  }

  // stop(): closes the socket and timers (asynchronously, on the strand); afterwards no handler
  // touches this object. Safe to call more than once, and from any thread.
  void stop() {
    if (session_) session_->stop();
  }

  // stats() -> counters of the current (or last) start; zeros before start. May be called from
  // any thread while the strategy runs, but not concurrently with start().
  [[nodiscard]] gossip_stats stats() const noexcept {
    gossip_stats s;
    if (!session_) return s;
    const auto& c = session_->counters();
    s.sent = c.sent.load();
    s.send_errors = c.send_errors.load();
    s.accepted = c.accepted.load();
    s.malformed = c.malformed.load();
    s.unauthenticated = c.unauthenticated.load();
    s.ignored = c.ignored.load();
    s.open_errors = c.open_errors.load();
    s.socket_open = c.socket_open.load();
    return s;
  }

 private:
  std::shared_ptr<cluster::detail::gossip_session> session_;
};

}  // namespace nodus

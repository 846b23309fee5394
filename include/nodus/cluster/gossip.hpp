// nodus/cluster/gossip.hpp: gossip_strategy, libcluster's Cluster.Strategy.Gossip for nodus: the
// nodes of a LAN find each other by UDP multicast heartbeats, optionally authenticated with a
// shared secret (HMAC-SHA256). IPv4 only.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>

#include <asio/ip/address_v4.hpp>

#include "nodus/cluster/strategy.hpp"
#include "nodus/config.hpp"
#include "nodus/core/error.hpp"
#include "nodus/core/fixed_string.hpp"
#include "nodus/core/node_name.hpp"

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

// hmac_sha256(key, data, out) -> false when OpenSSL failed; else out holds HMAC-SHA256(key, data)
// (OpenSSL 3 EVP_MAC "HMAC" with digest "SHA256"; the algorithm is fetched once).
[[nodiscard]] NODUS_DECL bool hmac_sha256(std::span<const unsigned char> key,
                                          std::span<const unsigned char> data,
                                          std::span<unsigned char, 32> out) noexcept;

// derive_gossip_key(secret) -> K = HMAC-SHA256(key "nodus gossip v1", secret); nullopt when
// OpenSSL failed.
[[nodiscard]] NODUS_DECL std::optional<gossip_key> derive_gossip_key(
    std::string_view secret) noexcept;

// put_be(out, value, size): the size low bytes of value at out, big-endian.
NODUS_DECL void put_be(unsigned char* out, std::uint64_t value, std::size_t size) noexcept;

// get_be(in, size) -> the big-endian integer of the size bytes at in.
[[nodiscard]] NODUS_DECL std::uint64_t get_be(const unsigned char* in, std::size_t size) noexcept;

// encode_heartbeat(hb, key, out) -> the datagram's size in out (with a MAC when key is not
// null); 0 when hb has an empty name or port 0, or OpenSSL failed.
[[nodiscard]] NODUS_DECL std::size_t encode_heartbeat(
    const gossip_heartbeat& hb, const gossip_key* key,
    std::span<unsigned char, gossip_max_size> out);

// decode_heartbeat(datagram, key) -> the heartbeat, or why the datagram is rejected. Reads only
// inside datagram. With a key, only heartbeats with the right MAC pass (compared in constant
// time); without one, only heartbeats without a MAC.
[[nodiscard]] NODUS_DECL heartbeat_decoded decode_heartbeat(std::span<const unsigned char> datagram,
                                                            const gossip_key* key);

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
[[nodiscard]] NODUS_DECL result<gossip_config> resolve_gossip_config(
    const gossip_type_config& type, const cluster_options& settings,
    std::chrono::milliseconds interval);

// ---- the running strategy -----------------------------------------------------------------------

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

// gossip_session: the state of one started gossip strategy (its socket, timers and the nodes it
// heard), shared by its handlers. Defined in impl/gossip.ipp: opaque here, so that this header
// needs neither OpenSSL nor Asio's UDP and multicast headers.
class gossip_session;

// start_gossip_session(ctx, type) -> a new session for ctx, begun on ctx's strand (the socket is
// created there).
[[nodiscard]] NODUS_DECL std::shared_ptr<gossip_session> start_gossip_session(
    std::shared_ptr<strategy_context> ctx, gossip_type_config type);

// stop_gossip_session(session): from any thread; closes the socket and timers on the strand.
// Idempotent.
NODUS_DECL void stop_gossip_session(gossip_session& session);

// gossip_session_counters(session) -> its counters (atomics: read from any thread).
[[nodiscard]] NODUS_DECL const gossip_counters& gossip_session_counters(
    const gossip_session& session) noexcept;

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
    session_ = cluster::detail::start_gossip_session(std::move(ctx), type_config());
  }

  // stop(): closes the socket and timers (asynchronously, on the strand); afterwards no handler
  // touches this object. Safe to call more than once, and from any thread.
  void stop() {
    if (session_) cluster::detail::stop_gossip_session(*session_);
  }

  // stats() -> counters of the current (or last) start; zeros before start. May be called from
  // any thread while the strategy runs, but not concurrently with start().
  [[nodiscard]] gossip_stats stats() const noexcept {
    gossip_stats s;
    if (!session_) return s;
    const auto& c = cluster::detail::gossip_session_counters(*session_);
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

#if defined(NODUS_HEADER_ONLY)
#include "nodus/cluster/impl/gossip.ipp"
#endif

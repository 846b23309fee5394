// nodus/cluster/impl/gossip.ipp: the type-independent part of gossip_strategy: the heartbeat's
// encoding and HMAC-SHA256 (OpenSSL), the configuration's resolution and the running session (its
// UDP multicast socket and timers). See cluster/gossip.hpp. Included by that header in
// header-only mode, by nodus/impl/src.hpp otherwise.
#pragma once

#include <algorithm>
#include <array>
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
#include <unordered_map>
#include <utility>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/socket.h>
#endif

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/ip/address_v4.hpp>
#include <asio/ip/multicast.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include "nodus/cluster/gossip.hpp"
#include "nodus/cluster/strategy.hpp"
#include "nodus/core/error.hpp"
#include "nodus/core/format.hpp"
#include "nodus/core/log.hpp"
#include "nodus/core/node_name.hpp"
#include "nodus/net/detail/openssl.hpp"

namespace nodus::cluster::detail {

struct evp_mac_deleter {
  void operator()(EVP_MAC* mac) const noexcept { EVP_MAC_free(mac); }
};
struct evp_mac_ctx_deleter {
  void operator()(EVP_MAC_CTX* ctx) const noexcept { EVP_MAC_CTX_free(ctx); }
};

NODUS_DECL bool hmac_sha256(std::span<const unsigned char> key, std::span<const unsigned char> data,
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

NODUS_DECL std::optional<gossip_key> derive_gossip_key(std::string_view secret) noexcept {
  gossip_key key{};
  const auto* label = reinterpret_cast<const unsigned char*>(gossip_key_label.data());
  const auto* text = reinterpret_cast<const unsigned char*>(secret.data());
  if (!hmac_sha256({label, gossip_key_label.size()}, {text, secret.size()}, key)) {
    return std::nullopt;
  }
  return key;
}

NODUS_DECL void put_be(unsigned char* out, std::uint64_t value, std::size_t size) noexcept {
  for (std::size_t i = 0; i < size; ++i) {
    out[i] = static_cast<unsigned char>(value >> (8 * (size - 1 - i)));
  }
}

NODUS_DECL std::uint64_t get_be(const unsigned char* in, std::size_t size) noexcept {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < size; ++i) value = (value << 8) | in[i];
  return value;
}

NODUS_DECL std::size_t encode_heartbeat(const gossip_heartbeat& hb, const gossip_key* key,
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

NODUS_DECL heartbeat_decoded decode_heartbeat(std::span<const unsigned char> datagram,
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

NODUS_DECL result<gossip_config> resolve_gossip_config(const gossip_type_config& type,
                                                       const cluster_options& settings,
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

NODUS_DECL std::shared_ptr<gossip_session> start_gossip_session(
    std::shared_ptr<strategy_context> ctx, gossip_type_config type) {
  auto session = std::make_shared<gossip_session>(std::move(ctx), type);
  session->start();
  return session;
}

NODUS_DECL void stop_gossip_session(gossip_session& session) { session.stop(); }

NODUS_DECL const gossip_counters& gossip_session_counters(const gossip_session& session) noexcept {
  return session.counters();
}

}  // namespace nodus::cluster::detail

// nodus/impl/options.ipp: the flag table of nodus::options and the parser, environment reader
// and help text that walk it (see nodus/options.hpp and nodus/config.hpp).
#pragma once

#include "nodus/options.hpp"

#include <charconv>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "nodus/core/format.hpp"  // already included by core/log.hpp: no extra cost

namespace nodus {

namespace detail {

NODUS_DECL result<unsigned long long> parse_number(std::string_view flag, std::string_view text) {
  unsigned long long v = 0;
  const auto* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || p != end)
    return error(std::make_error_code(std::errc::invalid_argument),
                 format("{} expects a number, got '{}'", flag, text));
  return v;
}

NODUS_DECL std::vector<std::string> split_list(std::string_view list) {
  std::vector<std::string> out;
  while (!list.empty()) {
    const auto comma = list.find(',');
    if (comma != 0) out.emplace_back(list.substr(0, comma));
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return out;
}

NODUS_DECL error bad_option(std::string message) {
  return error(std::make_error_code(std::errc::invalid_argument), std::move(message));
}

NODUS_DECL result<unsigned long long> option_number(std::string_view flag, std::string_view text,
                                                    unsigned long long lo, unsigned long long hi,
                                                    std::string_view range) {
  auto n = parse_number(flag, text);
  if (!n) return n;
  if (*n < lo || *n > hi) return bad_option(format("{} expects {}", flag, range));
  return n;
}

NODUS_DECL result<std::chrono::milliseconds> option_ms(std::string_view flag, std::string_view text,
                                                       bool positive) {
  auto n =
      option_number(flag, text, positive ? 1 : 0, std::numeric_limits<unsigned long long>::max(),
                    "a positive number of milliseconds");
  if (!n) return n.error();
  return std::chrono::milliseconds(static_cast<long long>(*n));
}

// The setters below name their own flag in their errors (the table's setter type takes none); a
// test checks that each numeric flag's error names it.
NODUS_DECL std::span<const option_flag> option_table() {
  using sv = std::string_view;
  static constexpr option_flag table[] = {
      {"--help", "", nullptr, "print this help and exit (also -h)",
       [](options& o, sv) -> result<void> {
         o.help_requested = true;
         return {};
       },
       nullptr},
      {"--name", "NAME@HOST", nullptr,
       "the node's name, which makes it distributed (default: none: nonode@nohost, "
       "not distributed)",
       [](options& o, sv v) -> result<void> {
         auto n = node_name::parse(v);
         if (!n) return n.error();
         o.name = *n;
         return {};
       },
       nullptr},
      {"--cookie", "C", nullptr, "the cookie the nodes of a cluster share (default: empty)",
       [](options& o, sv v) -> result<void> {
         o.cookie = std::string(v);
         return {};
       },
       nullptr},
      {"--threads", "N", nullptr, "threads that run the node, 1 to 256 (default: 1)",
       [](options& o, sv v) -> result<void> {
         auto n = option_number("--threads", v, 1, 256, "1 to 256");
         if (!n) return n.error();
         o.threads = static_cast<unsigned>(*n);
         return {};
       },
       nullptr},
      {"--call-timeout", "MS", nullptr, "the default timeout of a call (default: 5000)",
       [](options& o, sv v) -> result<void> {
         auto t = option_ms("--call-timeout", v, false);
         if (!t) return t.error();
         o.call_timeout = *t;
         return {};
       },
       nullptr},
      {"--log-level", "LEVEL", nullptr,
       "the lowest level logged: debug, info, warn, error or off (default: info)",
       [](options& o, sv l) -> result<void> {
         if (l == "debug")
           o.level = log_level::debug;
         else if (l == "info")
           o.level = log_level::info;
         else if (l == "warn")
           o.level = log_level::warn;
         else if (l == "error")
           o.level = log_level::error;
         else if (l == "off")
           o.level = log_level::off;
         else
           return bad_option(
               format("--log-level expects debug, info, warn, error or off, got '{}'", l));
         return {};
       },
       nullptr},
      {"--busy-poll", "US", nullptr,
       "microseconds an idle thread polls before it sleeps, up to 1000000 (default: 0, none)",
       [](options& o, sv v) -> result<void> {
         auto n = option_number("--busy-poll", v, 0, 1000000, "0 to 1000000");
         if (!n) return n.error();
         o.busy_poll = std::chrono::microseconds(*n);
         return {};
       },
       nullptr},
      {"--address", "IP", nullptr,
       "the IPv4 or IPv6 address to listen on (default: the name's host if it is an "
       "IP, else 0.0.0.0)",
       [](options& o, sv v) -> result<void> {
         o.address = std::string(v);
         return {};
       },
       nullptr},
      {"--port", "P", nullptr,
       "the TCP port to listen on, 0 to 65535 (default: 0, an ephemeral one)",
       [](options& o, sv v) -> result<void> {
         auto n = option_number("--port", v, 0, 65535, "0 to 65535");
         if (!n) return n.error();
         o.port = static_cast<std::uint16_t>(*n);
         return {};
       },
       nullptr},
      {"--hidden", "", nullptr,
       "a hidden node: not in other nodes' lists, never meshed (default: off)",
       [](options& o, sv) -> result<void> {
         o.hidden = true;
         return {};
       },
       nullptr},
      {"--net-ticktime", "MS", nullptr, "a silent peer is down after this, > 0 (default: 60000)",
       [](options& o, sv v) -> result<void> {
         auto t = option_ms("--net-ticktime", v, true);
         if (!t) return t.error();
         o.net_ticktime = *t;
         return {};
       },
       nullptr},
      {"--net-setuptime", "MS", nullptr, "the longest a handshake may take, > 0 (default: 7000)",
       [](options& o, sv v) -> result<void> {
         auto t = option_ms("--net-setuptime", v, true);
         if (!t) return t.error();
         o.net_setuptime = *t;
         return {};
       },
       nullptr},
      {"--net-connect-resend", "MS", nullptr,
       "a connect unanswered this long sends a fresh SYN beside it; 0: only the kernel's "
       "retransmissions (default: 250)",
       [](options& o, sv v) -> result<void> {
         auto t = option_ms("--net-connect-resend", v, false);
         if (!t) return t.error();
         o.net_connect_resend = *t;
         return {};
       },
       nullptr},
      {"--max-frame-size", "BYTES", nullptr,
       "a peer sending a longer frame is cut off, 1024 to 4294967280 (default: 64 MiB)",
       [](options& o, sv v) -> result<void> {
         auto n = option_number("--max-frame-size", v, 1024, 0xFFFFFFF0ull,
                                "1024 to 4294967280 (a frame's length has 4 bytes)");
         if (!n) return n.error();
         o.max_frame_size = static_cast<std::size_t>(*n);
         return {};
       },
       nullptr},
      {"--tls-cert", "PEM", nullptr,
       "TLS distribution (as erl -proto_dist inet_tls) with this certificate chain (default: "
       "none, plain TCP)",
       [](options& o, sv v) -> result<void> {
         o.tls.certfile = std::string(v);
         return {};
       },
       nullptr},
      {"--tls-key", "PEM", nullptr, "the private key of --tls-cert (default: in that file)",
       [](options& o, sv v) -> result<void> {
         o.tls.keyfile = std::string(v);
         return {};
       },
       nullptr},
      {"--tls-ca", "PEM", nullptr,
       "the authorities that must sign a peer's certificate (default: the system's)",
       [](options& o, sv v) -> result<void> {
         o.tls.cafile = std::string(v);
         return {};
       },
       nullptr},
      {"--tls-no-verify-host", "", nullptr,
       "with TLS, accept a dialled node's certificate that does not name its host",
       [](options& o, sv) -> result<void> {
         o.tls.verify_host = false;
         return {};
       },
       nullptr},
      {"--dist-buf-busy-limit", "BYTES", nullptr,
       "bytes queued for a peer before casts to it fail with busy, 0 for no limit "
       "(default: 1 MiB)",
       [](options& o, sv v) -> result<void> {
         auto n = option_number("--dist-buf-busy-limit", v, 0,
                                std::numeric_limits<unsigned long long>::max(), "0 or more");
         if (!n) return n.error();
         o.dist_buf_busy_limit = static_cast<std::size_t>(*n);
         return {};
       },
       nullptr},
      {"--sync-nodes-optional", "A,B,..", nullptr,
       "name@host[:port] nodes start() connects to and waits for, up to "
       "--sync-nodes-timeout (default: none)",
       [](options& o, sv v) -> result<void> {
         o.sync_nodes_optional = split_list(v);
         return {};
       },
       nullptr},
      {"--sync-nodes-mandatory", "A,B,..", nullptr,
       "name@host[:port] nodes start() needs: it fails without them after "
       "--sync-nodes-timeout (default: none)",
       [](options& o, sv v) -> result<void> {
         o.sync_nodes_mandatory = split_list(v);
         return {};
       },
       nullptr},
      {"--sync-nodes-timeout", "MS", nullptr,
       "how long start() waits for the sync nodes (default: 0)",
       [](options& o, sv v) -> result<void> {
         auto t = option_ms("--sync-nodes-timeout", v, false);
         if (!t) return t.error();
         o.sync_nodes_timeout = *t;
         return {};
       },
       nullptr},
      {"--epmd-port", "P", nullptr,
       "the port mapper's TCP port on every host, 1 to 65535 (default: $ERL_EPMD_PORT, else "
       "4369)",
       [](options& o, sv v) -> result<void> {
         auto n = option_number("--epmd-port", v, 1, 65535, "1 to 65535");
         if (!n) return n.error();
         o.epmd_port = static_cast<std::uint16_t>(*n);
         return {};
       },
       nullptr},
      {"--no-epmd", "", nullptr,
       "no port mapper: no registration, no lookups; peers are name@ip:port (default: "
       "use it, and serve one when none answers)",
       [](options& o, sv) -> result<void> {
         o.epmd = false;
         return {};
       },
       nullptr},
      {"--no-cluster", "", nullptr,
       "start() leaves the topology's strategies off (default: start() starts them)",
       [](options& o, sv) -> result<void> {
         o.cluster.form = false;
         return {};
       },
       nullptr},
      {"--cluster-hosts", "[+]A,B,..", "NODUS_CLUSTER_HOSTS",
       "epmd_strategy's name@host nodes: replace the topology's, or add to them "
       "with a leading '+' (default: the topology's)",
       [](options& o, sv v) -> result<void> {
         if (!v.empty() && v.front() == '+') {
           o.cluster.extra_hosts = split_list(v.substr(1));
         } else {
           o.cluster.hosts = split_list(v);
         }
         return {};
       },
       [](const options& o) {
         return o.cluster.hosts.has_value() || !o.cluster.extra_hosts.empty();
       }},
      {"--cluster-hosts-file", "PATH", "NODUS_CLUSTER_HOSTS_FILE",
       "erlang_hosts_strategy's file of hosts (default: the topology's)",
       [](options& o, sv v) -> result<void> {
         o.cluster.hosts_file = std::string(v);
         return {};
       },
       [](const options& o) { return !o.cluster.hosts_file.empty(); }},
      {"--cluster-dns", "NAME", "NODUS_CLUSTER_DNS",
       "dns_poll_strategy's DNS name to poll (default: the topology's)",
       [](options& o, sv v) -> result<void> {
         o.cluster.dns_query = std::string(v);
         return {};
       },
       [](const options& o) { return !o.cluster.dns_query.empty(); }},
      {"--cluster-dns-srv", "NAME", "NODUS_CLUSTER_DNS_SRV",
       "dns_srv_strategy's DNS name whose SRV records to poll (default: the topology's)",
       [](options& o, sv v) -> result<void> {
         o.cluster.srv_query = std::string(v);
         return {};
       },
       [](const options& o) { return !o.cluster.srv_query.empty(); }},
      {"--cluster-dns-basename", "B", "NODUS_CLUSTER_DNS_BASENAME",
       "dns_poll_strategy's and dns_srv_strategy's node basename, as in B@ip or B@host "
       "(default: the topology's)",
       [](options& o, sv v) -> result<void> {
         o.cluster.dns_basename = std::string(v);
         return {};
       },
       [](const options& o) { return !o.cluster.dns_basename.empty(); }},
      {"--cluster-interval", "MS", "NODUS_CLUSTER_INTERVAL",
       "every strategy's polling, heartbeat and retry interval, > 0 (default: each "
       "strategy's own)",
       [](options& o, sv v) -> result<void> {
         auto t = option_ms("--cluster-interval", v, true);
         if (!t) return t.error();
         o.cluster.interval = *t;
         return {};
       },
       [](const options& o) { return o.cluster.interval.count() != 0; }},
      {"--cluster-secret", "S", "NODUS_CLUSTER_SECRET",
       "gossip_strategy's shared secret; prefer the variable: command lines are "
       "visible to every user of the host (default: the topology's)",
       [](options& o, sv v) -> result<void> {
         o.cluster.secret = std::string(v);
         return {};
       },
       [](const options& o) { return o.cluster.secret.has_value(); }},
      {"--cluster-wait", "MS", "NODUS_CLUSTER_WAIT",
       "start() waits at most this long for the strategies' first connects "
       "(default: 0, no wait)",
       [](options& o, sv v) -> result<void> {
         auto t = option_ms("--cluster-wait", v, false);
         if (!t) return t.error();
         o.cluster.startup_wait = *t;
         return {};
       },
       [](const options& o) { return o.cluster.startup_wait.count() != 0; }},
      {"--gossip-group", "ADDR", nullptr,
       "gossip_strategy's multicast group (default: the topology's, else 233.252.1.32)",
       [](options& o, sv v) -> result<void> {
         o.cluster.gossip_group = std::string(v);
         return {};
       },
       nullptr},
      {"--gossip-port", "P", nullptr,
       "gossip_strategy's UDP port, 1 to 65535 (default: the topology's, else 45892)",
       [](options& o, sv v) -> result<void> {
         auto n = option_number("--gossip-port", v, 1, 65535, "1 to 65535");
         if (!n) return n.error();
         o.cluster.gossip_port = static_cast<std::uint16_t>(*n);
         return {};
       },
       nullptr},
      {"--gossip-if", "ADDR", nullptr,
       "gossip_strategy's interface address (default: the topology's, else the "
       "kernel's choice)",
       [](options& o, sv v) -> result<void> {
         o.cluster.gossip_if = std::string(v);
         return {};
       },
       nullptr},
      {"--gossip-ttl", "N", nullptr,
       "gossip_strategy's multicast TTL, 0 to 255 (default: the topology's, else 1)",
       [](options& o, sv v) -> result<void> {
         auto n = option_number("--gossip-ttl", v, 0, 255, "0 to 255");
         if (!n) return n.error();
         o.cluster.gossip_ttl = static_cast<int>(*n);
         return {};
       },
       nullptr},
  };
  return table;
}

NODUS_DECL std::vector<std::string_view> option_flags() {
  std::vector<std::string_view> out;
  for (const auto& f : option_table()) out.push_back(f.flag);
  return out;
}

NODUS_DECL const option_flag* find_option(std::string_view flag) {
  if (flag == "-h") flag = "--help";
  for (const auto& f : option_table())
    if (f.flag == flag) return &f;
  return nullptr;
}

NODUS_DECL void apply_cluster_env(options& o, logger& log) {
  for (const auto& f : option_table()) {
    if (f.env == nullptr || (f.is_set != nullptr && f.is_set(o))) continue;
    const char* value = std::getenv(f.env);
    if (value == nullptr || *value == '\0') continue;
    if (auto r = f.set(o, value); !r) {
      log.warn("ignoring {}: {}", f.env, r.error().message());
    }
  }
}

NODUS_DECL void wrap(std::string& out, std::string_view text, std::size_t indent,
                     std::size_t width) {
  constexpr auto npos = std::string_view::npos;
  std::size_t column = indent;
  bool line_empty = true;
  while (!text.empty()) {
    auto space = text.find(' ');
    // "(default: X" stays on one line: a lone "1)" on the next one reads badly.
    if (space != npos && text.substr(0, space).ends_with("(default:"))
      space = text.find(' ', space + 1);
    const std::string_view word = text.substr(0, space);
    if (!line_empty && column + 1 + word.size() > width) {
      out += '\n';
      out.append(indent, ' ');
      column = indent;
      line_empty = true;
    }
    if (!line_empty) {
      out += ' ';
      ++column;
    }
    out += word;
    column += word.size();
    line_empty = false;
    if (space == npos) break;
    text.remove_prefix(space + 1);
  }
}

}  // namespace detail

NODUS_DECL result<options> options::from_args(int argc, const char* const* argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> std::optional<std::string_view> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string_view(argv[++i]);
    };
    const auto* f = detail::find_option(a);
    if (f == nullptr) {
      // Unknown --cluster-* / --gossip-* flags are errors, not left to the program: a typo there
      // would silently leave the cluster unformed.
      if (a.rfind("--cluster-", 0) == 0 || a.rfind("--gossip-", 0) == 0) {
        if (!value()) return detail::bad_option(format("{} needs a value", a));
        return detail::bad_option(format("unknown option {}", a));
      }
      o.rest.emplace_back(a);
      continue;
    }
    std::string_view v;
    if (!f->value.empty()) {
      auto next = value();
      if (!next) return detail::bad_option(format("{} needs a value", a));
      v = *next;
    }
    if (auto r = f->set(o, v); !r) return r.error();
  }
  return o;
}

NODUS_DECL std::string options::help(std::string_view program) {
  constexpr std::size_t width = 80;
  std::size_t column = 0;  // where the help texts start: past the longest "  --flag VALUE"
  for (const auto& f : detail::option_table()) {
    const std::size_t w = 2 + f.flag.size() + (f.value.empty() ? 0 : 1 + f.value.size());
    if (w > column) column = w;
  }
  column += 2;
  std::string out = format("usage: {} [flags] [program arguments]\n\n", program);
  out += "Flags (other arguments are left to the program):\n";
  for (const auto& f : detail::option_table()) {
    std::string line = "  ";
    line += f.flag;
    if (!f.value.empty()) {
      line += ' ';
      line += f.value;
    }
    line.append(column - line.size(), ' ');
    out += line;
    detail::wrap(out, f.help, column, width);
    out += '\n';
    if (f.env != nullptr) {
      out.append(column, ' ');
      out += format("env: {}\n", f.env);
    }
  }
  out += "\nAn env: variable applies when neither a flag nor the program set its setting.\n";
  return out;
}

}  // namespace nodus

// nodus/options.hpp: nodus::options, the run-time settings of a node, and their command-line
// parser. Light on purpose (std, core and cluster_options only): a program's main() can parse
// its flags and print --help without the network stack.
//
//   auto opts = nodus::options::from_args(argc, argv);  // an error names the bad argument
//   if (opts && opts->help_requested) std::fputs(nodus::options::help(argv[0]).c_str(), stdout);
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nodus/cluster/cluster_options.hpp"
#include "nodus/config.hpp"
#include "nodus/core/error.hpp"
#include "nodus/core/log.hpp"
#include "nodus/core/node_name.hpp"
#include "nodus/net/tls_options.hpp"

namespace nodus {

// options: the run-time settings of a node.
struct options {
  node_name name;  // empty: a node that is not distributed, named nonode@nohost like Erlang's
  std::string cookie;
  unsigned threads = 1;                          // threads that run the node
  std::chrono::milliseconds call_timeout{5000};  // default timeout of call (GenServer's 5 s)
  log_level level = log_level::info;
  // Busy polling: a thread that runs out of ready work keeps polling (handlers, then the sockets
  // without blocking, yielding the CPU in between) for up to this long before it sleeps in the
  // kernel, as Erlang's schedulers spin before they sleep. Cuts the wake-up from a round trip's
  // latency at the price of a busy CPU while idle; 0 (the default): block at once.
  std::chrono::microseconds busy_poll{0};

  // Distribution (used when name is set).
  std::string address;     // where to listen; empty: the name's host if it is an IP, else 0.0.0.0
  std::uint16_t port = 0;  // TCP port to listen on; 0: an ephemeral one (see node::port())
  bool hidden = false;     // a hidden node: not in others' list(), never meshed (erl -hidden)
  std::chrono::milliseconds net_ticktime{60000};  // a silent peer is down after this (Erlang 60 s)
  std::chrono::milliseconds net_setuptime{7000};  // bound of a connection's handshake (7 s)
  // A connect (to a node or a port mapper) unanswered this long sends a fresh SYN on another
  // socket, so a dial started during a partition connects as soon as it heals instead of at the
  // kernel's next retransmission (1 s, 3 s, 7 s); 0: leave it to the kernel. See net::tcp_dial.
  std::chrono::milliseconds net_connect_resend{250};
  std::size_t max_frame_size = std::size_t{64}
                               << 20;  // a longer frame: the peer is cut off (<= 2^32 - 16)
  // Backpressure (Erlang's dist_buf_busy_limit, 1 MiB by default): once this many bytes wait to
  // be written to a peer, a cast or send to it fails with errc::busy (or, given wait_if_busy,
  // waits until the queue drains) and a call fails at once with errc::busy. Replies and the
  // distribution's own messages are never refused. 0: no limit.
  std::size_t dist_buf_busy_limit = std::size_t{1} << 20;
  // TLS distribution (erl -proto_dist inet_tls): on when tls.certfile is set; see tls_options.
  tls_options tls;
  // Nodes start() connects to before starting the servers (kernel's sync_nodes_*), as
  // "name@host:port" (or a name whose port is known); start() fails naming a missing mandatory
  // one after sync_nodes_timeout; optional ones are only waited for.
  std::vector<std::string> sync_nodes_optional;
  std::vector<std::string> sync_nodes_mandatory;
  std::chrono::milliseconds sync_nodes_timeout{0};

  // The port mapper (EPMD). A named node registers its name and port with the port mapper of
  // its host, and serves one itself when none answers (see epmd::agent); connect("n2@host")
  // asks host's port mapper for n2's port. false: no registration and no lookups (peers are
  // then given as "name@ip:port", or learnt from the mesh).
  bool epmd = true;
  // The port mapper's TCP port on every host; 0: $ERL_EPMD_PORT, else 4369 (as Erlang).
  std::uint16_t epmd_port = 0;

  // Run-time settings of the topology's strategies (hosts, DNS name, interval, secret, ...).
  cluster_options cluster;

  // --help or -h was given: the program should print help(argv[0]) and exit. The node itself
  // ignores it.
  bool help_requested = false;

  // from_args(argc, argv): --name NAME@HOST, --cookie C, --threads N, --call-timeout MS,
  // --log-level debug|info|warn|error|off, --busy-poll US, --address IP, --port P, --hidden,
  // --net-ticktime MS, --net-setuptime MS, --net-connect-resend MS, --max-frame-size BYTES,
  // --dist-buf-busy-limit BYTES,
  // --tls-cert PEM, --tls-key PEM, --tls-ca PEM, --tls-no-verify-host,
  // --sync-nodes-optional A,B,..,
  // --sync-nodes-mandatory A,B,.., --sync-nodes-timeout MS, --epmd-port P, --no-epmd, and the
  // cluster settings: --no-cluster, --cluster-hosts [+]A,B,.. (replace, or add with a leading '+'),
  // --cluster-hosts-file PATH, --cluster-dns NAME, --cluster-dns-srv NAME,
  // --cluster-dns-basename B, --cluster-interval MS, --cluster-secret S, --cluster-wait MS,
  // --gossip-group ADDR,
  // --gossip-port P, --gossip-if ADDR, --gossip-ttl N; --help or -h set help_requested. Other
  // arguments are left for the program (see `rest`), except unknown --cluster-* and --gossip-*
  // flags, which are errors (a typo there would silently leave a cluster unformed). Fails with a
  // message naming the bad argument.
  [[nodiscard]] NODUS_DECL static result<options> from_args(int argc, const char* const* argv);
  // help(program) -> the usage text of from_args: every flag, its value, what it sets, its default
  // and its NODUS_CLUSTER_* environment variable, in lines of at most 80 columns.
  [[nodiscard]] NODUS_DECL static std::string help(std::string_view program);
  std::vector<std::string> rest;  // arguments from_args did not consume, in order
};

namespace detail {

// option_flag: one row of the flag table that from_args, apply_cluster_env and help() all walk,
// so that a flag, its environment variable and its help line cannot drift apart.
struct option_flag {
  std::string_view flag;   // "--cluster-hosts"
  std::string_view value;  // the value's placeholder in help ("[+]A,B,.."); empty: a switch
  const char* env;         // NODUS_CLUSTER_* variable read by apply_cluster_env, or nullptr
  std::string_view help;   // what it sets, and its default
  // set(o, value): applies the flag (value is empty for a switch); an error names the flag.
  result<void> (*set)(options&, std::string_view);
  // is_set(o): the setting was given already (by a flag or by code), so env does not apply;
  // nullptr when env is.
  bool (*is_set)(const options&);
};

// option_table() -> every flag from_args knows, in help() order.
[[nodiscard]] NODUS_DECL std::span<const option_flag> option_table();
// option_flags() -> the flag names of option_table() ("--name", ...).
[[nodiscard]] NODUS_DECL std::vector<std::string_view> option_flags();

// parse_number(flag, text) -> text as a decimal number; fails with "FLAG expects a number, got
// 'TEXT'" (invalid_argument).
[[nodiscard]] NODUS_DECL result<unsigned long long> parse_number(std::string_view flag,
                                                                 std::string_view text);
// split_list("a,,b") -> {"a", "b"}: a comma-separated list, empty items dropped.
[[nodiscard]] NODUS_DECL std::vector<std::string> split_list(std::string_view list);
// apply_cluster_env(o, log): the NODUS_CLUSTER_* environment variables, for settings not set
// already (flags and code win); a bad value is logged as a warning and ignored.
NODUS_DECL void apply_cluster_env(options& o, logger& log);

// The pieces of the table's setters and of help() (options.ipp).
// bad_option(message) -> an invalid_argument error with that reason.
[[nodiscard]] NODUS_DECL error bad_option(std::string message);
// option_number(flag, text, lo, hi, range) -> text as a number in [lo, hi]; else fails with
// "FLAG expects RANGE" (or parse_number's error).
[[nodiscard]] NODUS_DECL result<unsigned long long> option_number(std::string_view flag,
                                                                  std::string_view text,
                                                                  unsigned long long lo,
                                                                  unsigned long long hi,
                                                                  std::string_view range);
// option_ms(flag, text, positive) -> text as milliseconds; positive: 0 is refused.
[[nodiscard]] NODUS_DECL result<std::chrono::milliseconds> option_ms(std::string_view flag,
                                                                     std::string_view text,
                                                                     bool positive);
// find_option(flag) -> its row of option_table(), or nullptr ("-h" finds --help's).
[[nodiscard]] NODUS_DECL const option_flag* find_option(std::string_view flag);
// wrap(out, text, indent, width): text appended word by word, lines broken before width and
// continued after indent spaces; out's last line is taken to be indent long already. A word
// longer than the line overflows it.
NODUS_DECL void wrap(std::string& out, std::string_view text, std::size_t indent,
                     std::size_t width);

}  // namespace detail

}  // namespace nodus

#if defined(NODUS_HEADER_ONLY)
#include "nodus/impl/options.ipp"
#endif

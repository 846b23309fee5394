// TLS distribution (options::tls, nodus/net/tls.hpp): nodus nodes over TLS with certificates the
// test makes with the openssl tool; a plain node and a node whose certificate another authority
// signed are refused, both ways; and a real Erlang node started with -proto_dist inet_tls
// connects, calls and is called. Skipped (not failed) without the openssl tool, or for the
// Erlang part without erl and its ssl application (Debian erlang-ssl).
#include <boost/hana/define_struct.hpp>
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nodus/net/tls.hpp>
#include <nodus/nodus.hpp>

#include "../net/erl_child.hpp"

using namespace std::chrono_literals;

namespace {

struct t_ping {
  static constexpr nodus::fixed_string etf_tag = "ping";
};
struct t_pong {
  static constexpr nodus::fixed_string etf_tag = "ok";
  BOOST_HANA_DEFINE_STRUCT(t_pong, (nodus::node_name, node),
                           (nodus::etf::atom_constant<"pong">, answer));
};
using protocol = nodus::protocol<t_ping, t_pong>;

struct tls_ping : nodus::server<tls_ping, nodus::call<t_ping, t_pong>> {
  static constexpr nodus::fixed_string name = "tls_ping";
  t_pong handle_call(const t_ping&) { return {self_node(), {}}; }
};
using erl_shell = nodus::remote_server<"tls_shell", nodus::call<t_ping, t_pong>>;

constexpr const char* cookie = "nodus_tls_cookie";

// A certificate authority, a certificate for 127.0.0.1 it signed (for every node of the test),
// and a certificate from another authority, all made by the openssl tool in a fresh directory.
struct pki {
  std::filesystem::path dir;
  std::string why_not;  // empty when made

  pki() {
    char tmpl[] = "/tmp/nodus-tls-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      why_not = "mkdtemp failed";
      return;
    }
    dir = tmpl;
    const std::string d = dir.string();
    // EC P-256 keys (fast); the node certificate names 127.0.0.1 (as an IP address and, for
    // OTP's check, which matches a node's host as a DNS name, as a DNS name too) and localhost,
    // and serves both ends of a connection.
    const std::string script =
        "set -e; cd '" + d + "'\n" +
        "key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $1; }\n"
        "ca() { key $1.key; openssl req -x509 -new -key $1.key -out $1.pem -days 2 "
        "-subj \"/CN=$2\"; }\n"
        "leaf() { key $1.key; openssl req -new -key $1.key -out $1.csr -subj /CN=127.0.0.1; "
        "printf "
        "'subjectAltName=IP:127.0.0.1,DNS:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth,"
        "clientAuth\\n' > $1.ext; openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2.key "
        "-CAcreateserial -out $1.pem -days 2 -extfile $1.ext; }\n"
        "ca ca 'nodus test authority'; leaf node ca\n"
        "ca rogue_ca 'another authority'; leaf rogue rogue_ca\n";
    std::ofstream(dir / "make.sh") << script;
    const std::string cmd = "command -v openssl >/dev/null 2>&1 && bash '" + d + "/make.sh' > '" +
                            d + "/make.log' 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      why_not = "the openssl tool is missing or failed (Debian: openssl); see " + d + "/make.log";
    }
  }
  pki(const pki&) = delete;
  pki& operator=(const pki&) = delete;
  ~pki() {
    std::error_code ignored;
    if (!dir.empty()) std::filesystem::remove_all(dir, ignored);
  }

  [[nodiscard]] std::string file(const std::string& name) const { return (dir / name).string(); }
  [[nodiscard]] nodus::tls_options good() const {
    return {file("node.pem"), file("node.key"), file("ca.pem"), true};
  }
  [[nodiscard]] nodus::tls_options rogue() const {
    return {file("rogue.pem"), file("rogue.key"), file("ca.pem"), true};
  }
};

// A node of the test, with its log kept.
struct tls_node {
  explicit tls_node(const std::string& name, std::optional<nodus::tls_options> tls) {
    nodus::options o;
    o.name = nodus::node_name::parse(name).value();
    o.cookie = cookie;
    o.epmd = false;
    o.cluster.form = false;
    o.net_setuptime = 3000ms;
    if (tls) o.tls = *tls;
    node.emplace(o);
    node->log().set_sink([this](const nodus::log_record& r) {
      std::lock_guard lock(m);
      lines.push_back(nodus::logger::format_line(r));
    });
    started = node->start(nodus::supervisor<nodus::one_for_one, tls_ping>{});
    if (started) node->run_in_background();
  }
  ~tls_node() {
    node->stop();
    (void)node->join();
  }
  [[nodiscard]] std::string address() const {
    return std::string(node->self().str()) + ":" + std::to_string(node->port());
  }
  // logged(needle) -> a line logged so far contains needle.
  bool logged(const std::string& needle) {
    std::lock_guard lock(m);
    for (const auto& l : lines)
      if (l.find(needle) != std::string::npos) return true;
    return false;
  }
  std::string log_text() {
    std::lock_guard lock(m);
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
  }

  std::optional<nodus::node<nodus::no_topology, protocol>> node;
  nodus::result<void> started;
  std::mutex m;
  std::vector<std::string> lines;
};

bool skip(const pki& p) {
  if (p.why_not.empty()) return false;
  BOOST_TEST_MESSAGE("skipped: " << p.why_not);
  return true;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tls)

BOOST_AUTO_TEST_CASE(nodus_nodes_call_each_other_over_tls_and_refuse_plain_and_foreign_peers) {
  pki p;
  if (skip(p)) return;
  tls_node a("a@127.0.0.1", p.good()), b("b@127.0.0.1", p.good());
  BOOST_REQUIRE_MESSAGE(a.started, a.started.error().message());
  BOOST_REQUIRE_MESSAGE(b.started, b.started.error().message());
  BOOST_REQUIRE_MESSAGE(b.node->connect(a.address()), b.log_text() << a.log_text());
  auto r = b.node->call<tls_ping>(a.node->self(), t_ping{});
  BOOST_REQUIRE_MESSAGE(r, r.error().message());
  BOOST_TEST((r->node == a.node->self()));

  // A node without TLS: neither side completes a connection with the other.
  tls_node plain("plain@127.0.0.1", std::nullopt);
  BOOST_REQUIRE(plain.started);
  BOOST_TEST(!plain.node->connect(a.address()));
  BOOST_TEST(!a.node->connect(plain.address()));
  BOOST_TEST(a.logged("TLS handshake"), a.log_text());

  // A node whose certificate another authority signed: refused by a, and it refuses a's.
  tls_node rogue("rogue@127.0.0.1", p.rogue());
  BOOST_REQUIRE(rogue.started);
  BOOST_TEST(!rogue.node->connect(a.address()));
  BOOST_TEST(!a.node->connect(rogue.address()));
  BOOST_TEST(a.logged("certificate"), a.log_text());
  BOOST_TEST((a.node->list() == std::vector<nodus::node_name>{b.node->self()}));
}

BOOST_AUTO_TEST_CASE(a_node_with_a_certificate_that_does_not_load_refuses_to_start) {
  pki p;
  if (skip(p)) return;
  auto missing = p.good();
  missing.certfile = p.file("nowhere.pem");
  tls_node n("n@127.0.0.1", missing);
  BOOST_REQUIRE(!n.started);
  BOOST_TEST((n.started.error() == nodus::errc::tls_failed), n.started.error().message());
  BOOST_TEST(n.started.error().reason().find("nowhere.pem") != std::string::npos,
             n.started.error().message());
}

BOOST_AUTO_TEST_CASE(an_erlang_node_with_inet_tls_dist_calls_and_is_called) {
  pki p;
  if (skip(p)) return;
  if (!erl_test::erl_installed()) {
    BOOST_TEST_MESSAGE("skipped: erl is not installed");
    return;
  }
  const std::string opts = p.file("ssl_dist.conf");
  {
    // erl's side of the same rules: its certificate, the authority, a peer certificate required.
    const std::string mine = "{certfile, \"" + p.file("node.pem") + "\"}, {keyfile, \"" +
                             p.file("node.key") + "\"}, {cacertfile, \"" + p.file("ca.pem") +
                             "\"}, {verify, verify_peer}";
    std::ofstream(opts) << "[{server, [" << mine << ", {fail_if_no_peer_cert, true}]},\n"
                        << " {client, [" << mine << "]}].\n";
  }
  const std::string ps = std::to_string(erl_test::free_port());
  // clang-format off
  erl_test::erl_process erl(std::vector<std::string>{
      "erl", "-name", "etls@127.0.0.1", "-setcookie", cookie, "-noshell",
      "-proto_dist", "inet_tls", "-ssl_dist_optfile", opts,
      "-start_epmd", "false", "-erl_epmd_port", ps,
      "-kernel", "inet_dist_listen_min", ps, "-kernel", "inet_dist_listen_max", ps,
      "-eval", erl_test::eval_program(60000)});
  // clang-format on
  if (!erl.wait_for("ready etls@127.0.0.1", 20s)) {
    if (erl.seen("ssl") || erl.seen("inet_tls")) {
      BOOST_TEST_MESSAGE("skipped: erl cannot run inet_tls_dist (Debian: erlang-ssl):\n"
                         << erl.transcript());
      return;
    }
    BOOST_FAIL("erl did not start:\n" << erl.transcript());
  }
  auto eval = [&](const std::string& e) {
    return erl_test::eval(erl, e, 15s).value_or("<no result>\n" + erl.transcript());
  };
  // A gen_server-like shell process on erl: answers ping with {ok, node(), pong}.
  BOOST_REQUIRE(eval("register(tls_shell, spawn(fun F() -> receive {'$gen_call', From, ping} -> "
                     "gen_server:reply(From, {ok, node(), pong}), F() end end)).") == "{ok,true}");

  tls_node n("n1@127.0.0.1", p.good());
  BOOST_REQUIRE_MESSAGE(n.started, n.started.error().message());
  BOOST_REQUIRE_MESSAGE(n.node->connect("etls@127.0.0.1:" + ps), n.log_text() << erl.transcript());
  // erl -> nodus, over the TLS connection.
  BOOST_TEST(eval("gen_server:call({tls_ping, 'n1@127.0.0.1'}, ping, 5000).") ==
             "{ok,{ok,'n1@127.0.0.1',pong}}");
  BOOST_TEST(eval("nodes().") == "{ok,['n1@127.0.0.1']}");
  // nodus -> erl.
  auto r = n.node->call<erl_shell>(nodus::node_name::parse("etls@127.0.0.1").value(), t_ping{});
  BOOST_REQUIRE_MESSAGE(r, r.error().message());
  BOOST_TEST(r->node.str() == "etls@127.0.0.1");

  // A nodus node whose certificate another authority signed: erl refuses it.
  tls_node rogue("rogue@127.0.0.1", p.rogue());
  BOOST_REQUIRE(rogue.started);
  BOOST_TEST(!rogue.node->connect("etls@127.0.0.1:" + ps), rogue.log_text());
  BOOST_TEST(eval("nodes().") == "{ok,['n1@127.0.0.1']}");
}

BOOST_AUTO_TEST_SUITE_END()

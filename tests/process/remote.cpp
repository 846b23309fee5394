// Remote messaging between two nodes in this process, over real loopback TCP: calls, casts and
// infos to {name, node}, monitor_nodes ordering, nodedown at once, late replies, zero copy, bad
// input on the wire, wrong cookie and protocol mismatch. (Multi-process tests: tests/dist/.)
#include <boost/test/unit_test.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <boost/hana/define_struct.hpp>
#include <thread>

#include <nodus/cluster/node_table.hpp>
#include <nodus/codec/copy_stats.hpp>
#include <nodus/net/connection.hpp>
#include <nodus/nodus.hpp>

#include "common.hpp"

using namespace std::chrono_literals;
using nodus::errc;
using nodus::node_name;

namespace {

struct ping {
  int n = 0;
};
struct pong {
  node_name node;
  int n = 0;
};
// A reflected message with owning fields: travels as a gather list, can be taken as a view.
struct note {
  BOOST_HANA_DEFINE_STRUCT(note, (std::string, text), (std::vector<std::int32_t>, numbers));
};
struct big {
  std::array<std::byte, std::size_t{1} << 20> bytes;
};
struct slow {
  int delay_ms = 0;
  int tag = 0;
};
struct hello_from {
  node_name node;
};
using protocol = nodus::protocol<ping, pong, note, big, slow, hello_from>;
using other_protocol = nodus::protocol<ping, pong>;

// wait_until(pred[, bound]) -> pred() became true within bound (checked every 2 ms).
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds bound = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// What the servers of a test saw, in order.
struct record {
  std::mutex m;
  std::vector<std::string> events;
  std::atomic<std::size_t> big_seen{0};
  std::atomic<bool> big_aligned{false};
  std::atomic<std::uint64_t> copies_at_big{0};
  void add(std::string e) {
    std::lock_guard lock(m);
    events.push_back(std::move(e));
  }
  std::vector<std::string> snapshot() {
    std::lock_guard lock(m);
    return events;
  }
  bool has(const std::string& e) {
    std::lock_guard lock(m);
    for (const auto& x : events)
      if (x == e) return true;
    return false;
  }
};
record* rec = nullptr;  // set by each test before its nodes start

struct ping_server
    : nodus::server<ping_server, nodus::call<ping, pong>, nodus::call<slow, pong>,
                    nodus::cast<note>, nodus::cast<big>, nodus::info<hello_from>,
                    nodus::info<nodus::node_up>, nodus::info<nodus::node_down>, nodus::info<slow>> {
  static constexpr nodus::fixed_string name = "ping";
  std::vector<std::pair<int, nodus::caller<pong>>> held;  // (tag, caller)

  void init() { monitor_nodes(); }
  pong handle_call(const ping& p, nodus::caller<pong>& from) {
    rec->add(nodus::format("call from {}", from.node()));
    return {self_node(), p.n + 1};
  }
  // Answers after s.delay_ms (a negative delay: never; the caller is held).
  void handle_call(const slow& s, nodus::caller<pong>& from) {
    held.emplace_back(s.tag, std::move(from));
    if (s.delay_ms >= 0) send_after(std::chrono::milliseconds(s.delay_ms), slow{-1, s.tag});
  }
  void handle_info(const slow& s) {
    for (auto& [tag, c] : held)
      if (tag == s.tag) c.reply({self_node(), s.tag});
    std::erase_if(held, [](const auto& h) { return !h.second.pending(); });
  }
  // A view: fields straight from the received frame, no owning copy.
  void handle_cast(nodus::codec::view<note> v) {
    const std::string_view text = v.get<"text">();
    const auto numbers = v.get<"numbers">();
    std::int64_t sum = 0;
    for (std::size_t i = 0; i < numbers.size(); ++i) sum += numbers[i];
    rec->add(nodus::format("note {} {}", text, sum));
  }
  void handle_cast(const big& b) {
    rec->copies_at_big = nodus::codec::copied_bytes();
    rec->big_aligned = reinterpret_cast<std::uintptr_t>(&b) % 16 == 0;
    rec->big_seen += 1;
  }
  void handle_info(const hello_from& h) { rec->add(nodus::format("hello {}", h.node)); }
  void handle_info(const nodus::node_up& e) { rec->add(nodus::format("up {}", e.node)); }
  void handle_info(const nodus::node_down& e) {
    rec->add(nodus::format("down {} {}", e.node, e.reason));
  }
};

// Servers that exist only on the caller's side, to reach what the other node does not have.
struct absent_server : nodus::server<absent_server, nodus::call<ping, pong>> {
  static constexpr nodus::fixed_string name = "absent";
  pong handle_call(const ping&) { return {}; }
};
struct imposter : nodus::server<imposter, nodus::call<note, pong>> {
  static constexpr nodus::fixed_string name = "ping";
  pong handle_call(const note&) { return {}; }
};

template <class Protocol = protocol>
struct test_node {
  explicit test_node(const char* name, std::string cookie = "secret") {
    nodus::options o;
    o.name = node_name::parse(name).value();
    o.cookie = std::move(cookie);
    o.net_ticktime = 2000ms;
    o.epmd = false;  // peers are given as name@ip:port; no port mapper shared with other tests
    node = std::make_unique<nodus::node<nodus::no_topology, Protocol>>(o);
    node->log().set_sink([this](const nodus::log_record& r) { log.add(std::string(r.message)); });
    BOOST_REQUIRE(node->start(nodus::supervisor<nodus::one_for_one, ping_server>{}));
    node->run_in_background();
  }
  ~test_node() {
    node->stop();
    (void)node->join();
  }
  std::string address() const { return nodus::format("{}:{}", node->self(), node->port()); }
  const node_name& self() const { return node->self(); }
  std::string log_text() {
    std::lock_guard lock(log.m);
    std::string out;
    for (const auto& l : log.events) out += l + "\n";
    return out;
  }
  bool logged(const std::string& needle) {
    std::lock_guard lock(log.m);
    for (const auto& l : log.events)
      if (l.find(needle) != std::string::npos) return true;
    return false;
  }
  std::unique_ptr<nodus::node<nodus::no_topology, Protocol>> node;
  record log;
};

struct fixture {
  record recorded;
  fixture() { rec = &recorded; }
  ~fixture() { rec = nullptr; }
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(remote, fixture)

BOOST_AUTO_TEST_CASE(call_cast_and_info_reach_servers_on_another_node) {
  test_node a("a@127.0.0.1");
  test_node b("b@127.0.0.1");
  BOOST_REQUIRE(a.node->connect(b.address()));
  BOOST_TEST((a.node->list() == std::vector<node_name>{b.self()}));
  // The other side sees it up a moment later (after our protocol check frame reaches it).
  BOOST_TEST(wait_until([&] { return b.node->list() == std::vector<node_name>{a.self()}; }));

  auto r = a.node->call<ping_server>(b.self(), ping{41});
  BOOST_REQUIRE(r);
  BOOST_TEST(r->n == 42);
  BOOST_TEST((r->node == b.self()));
  BOOST_TEST(rec->has("call from a@127.0.0.1"));

  note n;
  n.text = "hello";
  n.numbers = {1, 2, 3, 4};
  BOOST_TEST(a.node->cast<ping_server>(b.self(), n));
  BOOST_TEST(a.node->send<ping_server>(b.self(), hello_from{a.self()}));
  BOOST_TEST(
      wait_until([&] { return rec->has("note hello 10") && rec->has("hello a@127.0.0.1"); }));

  // The same view handler takes a local message (over the object).
  BOOST_TEST(b.node->cast<ping_server>(n));
  BOOST_TEST(wait_until([&] {
    auto ev = rec->snapshot();
    return std::count(ev.begin(), ev.end(), "note hello 10") == 2;
  }));

  // multi_call: this node and the other one, in the order given.
  auto all = a.node->multi_call<ping_server>({a.self(), b.self()}, ping{1});
  BOOST_REQUIRE(all.size() == 2U);
  BOOST_TEST((all[0].first == a.self()));
  BOOST_TEST((all[0].second && all[0].second->node == a.self()));
  BOOST_TEST((all[1].second && all[1].second->node == b.self()));
}

BOOST_AUTO_TEST_CASE(nodes_on_ipv6_loopback) {
  test_node a("a@::1");
  test_node b("b@::1");
  BOOST_REQUIRE(a.node->connect(nodus::format("b@::1:{}", b.node->port())));
  auto r = a.node->call<ping_server>(b.self(), ping{1});
  BOOST_REQUIRE(r);
  BOOST_TEST(r->n == 2);
  BOOST_TEST(wait_until([&] { return b.node->list().size() == 1; }));
}

BOOST_AUTO_TEST_CASE(node_up_comes_before_the_first_message_and_node_down_after_the_last) {
  test_node a("a@127.0.0.1");
  test_node b("b@127.0.0.1");
  // b sends from inside its own node_up callback: before anything else can happen on the link.
  b.node->on_node_up([&](const nodus::node_up& e) {
    (void)b.node->send<ping_server>(e.node, hello_from{b.self()});
  });
  BOOST_REQUIRE(a.node->connect(b.address()));
  BOOST_REQUIRE(wait_until([&] { return b.node->list().size() == 1; }));  // b's side is up too
  BOOST_REQUIRE(b.node->send<ping_server>(a.self(), hello_from{b.self()}));
  BOOST_REQUIRE(b.node->disconnect(a.self()));
  BOOST_REQUIRE(wait_until([&] { return rec->has("down b@127.0.0.1 connection_closed"); }));
  // a's server saw, about b: up, the two hellos, down: in that order.
  std::vector<std::string> about_b;
  for (const auto& e : rec->snapshot()) {
    if (e.find("b@127.0.0.1") != std::string::npos && e.find("a@") == std::string::npos)
      about_b.push_back(e);
  }
  const std::vector<std::string> expected{"up b@127.0.0.1", "hello b@127.0.0.1",
                                          "hello b@127.0.0.1",
                                          "down b@127.0.0.1 connection_closed"};
  std::string seen;
  for (const auto& e : rec->snapshot()) seen += e + "; ";
  BOOST_TEST(about_b == expected, seen);
  BOOST_TEST(wait_until([&] { return rec->has("down a@127.0.0.1 disconnect"); }));
}

BOOST_AUTO_TEST_CASE(a_call_to_a_node_that_goes_down_fails_at_once_with_nodedown) {
  test_node a("a@127.0.0.1");
  auto b = std::make_unique<test_node<>>("b@127.0.0.1");
  BOOST_REQUIRE(a.node->connect(b->address()));
  const auto b_name = b->self();
  std::atomic<bool> done{false};
  nodus::result<pong> got = errc::ok;
  a.node->async_call<ping_server>(b_name, slow{-1, 7}, 30s, [&](nodus::result<pong> r) {
    got = std::move(r);
    done = true;
  });
  BOOST_REQUIRE(wait_until([&] { return rec->has("up a@127.0.0.1"); }));
  const auto start = std::chrono::steady_clock::now();
  // The link breaks (b's side closes it) while b's server still holds the call unanswered.
  BOOST_REQUIRE(b->node->disconnect(a.self()));
  BOOST_REQUIRE(wait_until([&] { return done.load(); }));
  BOOST_TEST((std::chrono::steady_clock::now() - start < 5s));
  BOOST_TEST((got.error() == errc::nodedown), got.error().message());
  BOOST_TEST(got.error().reason().find("b@127.0.0.1") != std::string::npos);
  b.reset();
  // Not connected any more: a new call fails at once too.
  auto again = a.node->call<ping_server>(b_name, ping{1});
  BOOST_TEST((again.error() == errc::nodedown), again.error().message());
  auto cast = a.node->cast<ping_server>(b_name, note{});
  BOOST_TEST((cast.error() == errc::nodedown));
}

BOOST_AUTO_TEST_CASE(a_late_reply_is_dropped_never_given_to_a_later_call) {
  test_node a("a@127.0.0.1");
  test_node b("b@127.0.0.1");
  BOOST_REQUIRE(a.node->connect(b.address()));
  auto first = a.node->call<ping_server>(b.self(), slow{300, 1}, 100ms);
  BOOST_TEST((first.error() == errc::timeout), first.error().message());
  // The reply to the first call (tag 1) arrives while the second one waits; the second gets tag 2.
  auto second = a.node->call<ping_server>(b.self(), slow{400, 2}, 3s);
  BOOST_REQUIRE(second);
  BOOST_TEST(second->n == 2);
}

BOOST_AUTO_TEST_CASE(errors_travel_back_as_error_replies) {
  test_node a("a@127.0.0.1");
  test_node b("b@127.0.0.1");
  BOOST_REQUIRE(a.node->connect(b.address()));
  // No server by that name there: noproc, with the other node's reason.
  auto none = a.node->call<absent_server>(b.self(), ping{1});
  BOOST_TEST((none.error() == errc::noproc), none.error().message());
  BOOST_TEST(none.error().reason().find("'absent' on b@127.0.0.1") != std::string::npos);
  // A server of that name that takes no such call: a clear error, the link stays up.
  auto m = a.node->call<imposter>(b.self(), note{});
  BOOST_TEST((m.error() == errc::protocol_mismatch), m.error().message());
  BOOST_TEST(a.node->list().size() == 1U);
  BOOST_TEST(a.node->call<ping_server>(b.self(), ping{1}).has_value());
}

namespace {
// A hand-made nodus peer: the real handshake and protocol check, then whatever frames a test
// writes. Its own io_context runs on a thread of its own.
struct raw_nodus_peer {
  asio::io_context io;
  std::shared_ptr<nodus::net::connection> conn;
  std::mutex m;
  std::vector<std::vector<std::byte>> frames;
  std::atomic<bool> up{false};
  std::atomic<bool> down{false};
  std::thread runner;

  raw_nodus_peer(const char* self, const node_name& peer, std::uint16_t port) {
    nodus::net::connection_options o;
    o.handshake.self = node_name::parse(self).value();
    o.handshake.cookie = "secret";
    o.handshake.creation = 7;
    nodus::net::connection_handlers h;
    h.on_up = [this](const node_name&, nodus::net::dist_flags) {
      conn->send(nodus::cluster::detail::encode_hello(protocol::fingerprint));
      up = true;
    };
    h.on_frame = [this](std::span<const std::byte> f) {
      std::lock_guard lock(m);
      frames.emplace_back(f.begin(), f.end());
    };
    h.on_down = [this](const nodus::error&) { down = true; };
    conn = nodus::net::connection::dial(
        io.get_executor(), {asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port)},
        peer, o, h);
    runner = std::thread([this] { io.run_for(20s); });
  }
  ~raw_nodus_peer() {
    conn->close();
    io.stop();
    runner.join();
  }
  // frame_with(kind, ...) -> a native frame body as nodus::dist::frame_header lays it out.
  static std::vector<std::byte> frame_with(nodus::dist::frame_kind k, std::string_view name,
                                           std::uint64_t a, std::uint64_t b,
                                           std::vector<std::byte> payload) {
    nodus::dist::frame_header h;
    h.set(k, name, a, b, payload.size());
    std::vector<std::byte> out(h.bytes.begin(), h.bytes.begin() + h.size);
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
  }
  bool has_reply_error(std::uint64_t call_id, errc code) {
    std::lock_guard lock(m);
    for (const auto& f : frames) {
      auto w = nodus::dist::parse(f);
      if (w && w->kind == nodus::dist::frame_kind::reply_error && w->call_id() == call_id &&
          w->error_code() == static_cast<std::uint64_t>(code))
        return true;
    }
    return false;
  }
};
}  // namespace

// The native frame parser checks every byte it does not use: the reserved bytes, the zeros after
// the target name and after the payload, and that a reply names no target.
BOOST_AUTO_TEST_CASE(the_native_frame_parser_refuses_nonzero_reserved_and_padding_bytes) {
  using wire_kind = nodus::dist::frame_kind;
  const std::vector<std::byte> payload{std::byte{1}, std::byte{2}, std::byte{3}};
  auto good = raw_nodus_peer::frame_with(wire_kind::cast, "ping", 7, 0, payload);
  good.resize(good.size() + 13, std::byte{0});  // the zeros to the frame alignment
  auto parsed = nodus::dist::parse(good);
  BOOST_REQUIRE_MESSAGE(parsed.has_value(), parsed.error().message());
  BOOST_TEST(parsed->target == "ping");
  BOOST_TEST(parsed->payload.size() == payload.size());

  const auto refused = [&](std::size_t at, std::string_view why) {
    auto f = good;
    f[at] = std::byte{0x5a};
    auto r = nodus::dist::parse(f);
    BOOST_TEST_REQUIRE(!r.has_value(), "byte " << at << " accepted");
    BOOST_TEST(r.error().message().find(why) != std::string::npos, r.error().message());
  };
  refused(2, "bytes 2-3 are not zero");
  refused(3, "bytes 2-3 are not zero");
  refused(28 + 4, "the name's padding is not zero");               // right after "ping"
  refused(nodus::dist::header_size(4) - 1, "the name's padding");  // the last of it
  refused(good.size() - 1, "the padding after the payload is not zero");

  auto reply = raw_nodus_peer::frame_with(wire_kind::reply, "ping", 9, 0, {});
  auto r = nodus::dist::parse(reply);
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().message().find("a reply names a target") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_frames_get_an_error_reply_or_a_clean_disconnect) {
  test_node b("b@127.0.0.1");
  using wire_kind = nodus::dist::frame_kind;
  {
    raw_nodus_peer p("raw@127.0.0.1", b.self(), b.node->port());
    BOOST_REQUIRE(wait_until([&] { return p.up.load() && b.node->list().size() == 1; }));
    // A call whose payload is truncated (2 bytes for a 4-byte ping): an error reply, logged.
    p.conn->send(raw_nodus_peer::frame_with(wire_kind::call, "ping", nodus::message_id_v<ping>, 77,
                                            {std::byte{1}, std::byte{2}}));
    // A call with an unknown message id: an error reply.
    p.conn->send(raw_nodus_peer::frame_with(wire_kind::call, "ping", 12345, 78, {}));
    // A reply to a call nobody made: dropped.
    p.conn->send(raw_nodus_peer::frame_with(wire_kind::reply, {}, 999, 0, {}));
    BOOST_TEST(wait_until([&] {
      return p.has_reply_error(77, errc::malformed_frame) &&
             p.has_reply_error(78, errc::protocol_mismatch);
    }));
    BOOST_TEST(b.logged("refused"));
    BOOST_TEST(b.node->list().size() == 1U);  // still connected
    // An unknown frame kind: the peer is disconnected, with a log line saying why.
    std::vector<std::byte> junk(28, std::byte{0});
    junk[0] = std::byte{9};
    p.conn->send(junk);
    BOOST_TEST(wait_until([&] { return p.down.load(); }));
    BOOST_TEST(b.logged("unknown kind 9"));
    BOOST_TEST(wait_until([&] { return b.node->list().empty(); }));
  }
  {
    // A payload length past the end of the frame: disconnected too.
    raw_nodus_peer p("raw2@127.0.0.1", b.self(), b.node->port());
    BOOST_REQUIRE(wait_until([&] { return p.up.load() && b.node->list().size() == 1; }));
    auto f = raw_nodus_peer::frame_with(wire_kind::cast, "ping", nodus::message_id_v<ping>, 0,
                                        {std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}});
    nodus::dist::put_le64(f.data() + 20, std::uint64_t{1} << 40);
    p.conn->send(f);
    BOOST_TEST(wait_until([&] { return p.down.load(); }));
    BOOST_TEST(b.logged("past the end"));
  }
  // The node still works.
  test_node a("a@127.0.0.1");
  BOOST_REQUIRE(a.node->connect(b.address()));
  BOOST_TEST(a.node->call<ping_server>(b.self(), ping{1}).has_value());
}

BOOST_AUTO_TEST_CASE(a_1mib_trivially_copyable_message_is_never_copied) {
  test_node a("a@127.0.0.1");
  test_node b("b@127.0.0.1");
  BOOST_REQUIRE(a.node->connect(b.address()));
  auto msg = std::make_unique<big>();
  for (std::size_t i = 0; i < msg->bytes.size(); ++i) msg->bytes[i] = std::byte(i & 0xff);
  const auto before = nodus::codec::copied_bytes();
  BOOST_REQUIRE(a.node->cast<ping_server>(b.self(), std::move(msg)));
  BOOST_REQUIRE(wait_until([&] { return rec->big_seen.load() == 1; }));
  // Zero payload bytes copied beyond the socket read: sent from the sender's own object, read
  // into a buffer where the handler uses it in place (aligned).
  BOOST_TEST(rec->copies_at_big.load() - before == 0U);
  BOOST_TEST(rec->big_aligned.load());

  // The counter does count: the same message sent by value is moved (copied) once.
  const auto before_by_value = nodus::codec::copied_bytes();
  BOOST_REQUIRE(a.node->cast<ping_server>(b.self(), big{}));
  BOOST_REQUIRE(wait_until([&] { return rec->big_seen.load() == 2; }));
  BOOST_TEST(rec->copies_at_big.load() - before_by_value >= sizeof(big));
}

BOOST_AUTO_TEST_CASE(a_wrong_cookie_connects_nobody_and_says_who) {
  test_node a("a@127.0.0.1", "one");
  test_node b("b@127.0.0.1", "two");
  BOOST_TEST(!a.node->connect(b.address()));
  BOOST_TEST(a.node->list().empty());
  BOOST_TEST(b.node->list().empty());
  BOOST_TEST(wait_until([&] { return a.logged("b@127.0.0.1") && b.logged("a@127.0.0.1"); }));
  BOOST_TEST(a.logged("cookie"));
  BOOST_TEST(!rec->has("up a@127.0.0.1"));
  BOOST_TEST(!rec->has("up b@127.0.0.1"));
}

BOOST_AUTO_TEST_CASE(nodes_built_from_different_protocols_refuse_each_other) {
  test_node a("a@127.0.0.1");
  test_node<other_protocol> c("c@127.0.0.1");
  BOOST_TEST(!a.node->connect(c.address()));
  BOOST_TEST(a.node->list().empty());
  BOOST_TEST(wait_until([&] {
               return a.logged("refused c@127.0.0.1") && c.logged("refused a@127.0.0.1");
             }),
             a.log_text() + " / " + c.log_text());
  BOOST_TEST(a.logged("nodus::protocol"));
  BOOST_TEST(!rec->has("up c@127.0.0.1"));
}

BOOST_AUTO_TEST_SUITE_END()

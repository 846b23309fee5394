// Bounded mailboxes: the bound and overflow policy a server type declares (drop_newest,
// drop_oldest, fail_sender), the mailbox counters, calls never dropped silently, reply
// continuations never dropped, and messages from another node under the same policy.
//
// Each test blocks the server in a handler (on a gate the test opens; every wait bounded), fills
// its mailbox past the limit while it is blocked, then opens the gate and checks which messages
// the server handled.
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nodus/nodus.hpp>

#include "common.hpp"

using namespace std::chrono_literals;
using nodus::errc;
using nodus::overflow;
using test::events;

namespace {

// gate(): where a blocked handler waits until the test opens it (10 s at most: a test that never
// opens it fails its checks instead of hanging).
class gate_t {
 public:
  void close() {
    std::lock_guard lock(m_);
    open_ = false;
  }
  void open() {
    {
      std::lock_guard lock(m_);
      open_ = true;
    }
    cv_.notify_all();
  }
  bool wait() {
    std::unique_lock lock(m_);
    return cv_.wait_for(lock, 10s, [&] { return open_; });
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool open_ = false;
};
gate_t& gate() {
  static gate_t g;
  return g;
}

// wait_until(pred[, bound]) -> pred() became true within bound (checked every millisecond).
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds bound = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// ready(f) -> the future is ready within 10 s (a call that should fail at once, with an hour's
// timeout).
template <class T>
bool ready(std::future<T>& f) {
  return f.wait_for(10s) == std::future_status::ready;
}

struct block {};  // the handler waits at the gate
struct item {
  int n = 0;
};
struct ask {
  int n = 0;
};
struct answer {
  int n = 0;
};
struct read_stats {};
using protocol = nodus::protocol<item, ask, answer>;

// A server whose mailbox holds at most 3 messages, with Policy. (The three names are 11
// characters long: one fixed_string type for the three.)
template <overflow Policy>
struct bounded
    : nodus::server<bounded<Policy>, nodus::cast<block>, nodus::cast<item>, nodus::info<item>,
                    nodus::call<ask, answer>, nodus::call<read_stats, nodus::mailbox_counters>> {
  static constexpr nodus::fixed_string name = Policy == overflow::drop_newest   ? "drop_newest"
                                              : Policy == overflow::drop_oldest ? "drop_oldest"
                                                                                : "fail_sender";
  static constexpr nodus::mailbox_limit mailbox{3, Policy};

  static std::string tag() { return std::string(name.view()); }
  void handle_cast(const block&) {
    events().add(tag() + " blocked");
    (void)gate().wait();
  }
  void handle_cast(const item& i) { events().add(tag() + " item " + std::to_string(i.n)); }
  void handle_info(const item& i) { events().add(tag() + " info " + std::to_string(i.n)); }
  answer handle_call(const ask& a) {
    events().add(tag() + " ask " + std::to_string(a.n));
    return {a.n};
  }
  nodus::mailbox_counters handle_call(const read_stats&) { return this->mailbox_stats(); }
};
using drop_newest_server = bounded<overflow::drop_newest>;
using drop_oldest_server = bounded<overflow::drop_oldest>;
using fail_sender_server = bounded<overflow::fail_sender>;

// An unbounded server (nothing declared).
struct plain
    : nodus::server<plain, nodus::cast<item>, nodus::call<read_stats, nodus::mailbox_counters>> {
  static constexpr nodus::fixed_string name = "plain";
  void handle_cast(const item&) {}
  nodus::mailbox_counters handle_call(const read_stats&) { return mailbox_stats(); }
};

// A server that keeps the caller of an ask until told to answer, and one with a bounded mailbox
// that calls it: when the answer comes while relay is blocked, its continuation waits in relay's
// mailbox.
struct answer_now {};
struct echo : nodus::server<echo, nodus::call<ask, int>, nodus::cast<answer_now>> {
  static constexpr nodus::fixed_string name = "echo";
  std::vector<std::pair<int, nodus::caller<int>>> held;
  void handle_call(const ask& a, nodus::caller<int>& from) {
    held.emplace_back(a.n, std::move(from));
    events().add("echo held");
  }
  void handle_cast(const answer_now&) {
    for (auto& [n, from] : held) from.reply(n);
    held.clear();
  }
};
struct start {};
struct relay : nodus::server<relay, nodus::cast<start>, nodus::cast<block>, nodus::cast<item>> {
  static constexpr nodus::fixed_string name = "relay";
  static constexpr nodus::mailbox_limit mailbox{2, overflow::drop_oldest};
  static std::string tag() { return "relay"; }
  void handle_cast(const start&) {
    call<echo>(
        ask{7},
        [](nodus::result<int> r) {
          events().add("relay reply " + (r ? std::to_string(*r) : r.error().message()));
        },
        3600s);
  }
  void handle_cast(const block&) {
    events().add("relay blocked");
    (void)gate().wait();
  }
  void handle_cast(const item& i) { events().add("relay item " + std::to_string(i.n)); }
};

// A node running S (and echo, relay) on two threads; the gate closed.
struct gated_node {
  static nodus::options opts() {
    nodus::options o;
    o.threads = 2;
    return o;
  }
  gated_node() : node(opts()) {
    log.attach(node.log());
    events().clear();
    gate().close();
    BOOST_REQUIRE(node.spawn<drop_newest_server>());
    BOOST_REQUIRE(node.spawn<drop_oldest_server>());
    BOOST_REQUIRE(node.spawn<fail_sender_server>());
    BOOST_REQUIRE(node.spawn<plain>());
    BOOST_REQUIRE(node.spawn<echo>());
    BOOST_REQUIRE(node.spawn<relay>());
    node.run_in_background();
  }
  ~gated_node() {
    gate().open();
    node.stop();
    BOOST_CHECK(node.join());
  }
  // call_async<S>(msg) -> the future of an async call with an hour's timeout.
  template <class S>
  std::future<nodus::result<answer>> call_async(ask msg) {
    auto p = std::make_shared<std::promise<nodus::result<answer>>>();
    auto f = p->get_future();
    node.async_call<S>(msg, 3600s, [p](nodus::result<answer> r) { p->set_value(std::move(r)); });
    return f;
  }
  // block_server<S>(): S's handler waits at the gate.
  template <class S>
  void block_server() {
    BOOST_REQUIRE(node.cast<S>(block{}));
    BOOST_REQUIRE(events().wait_count(S::tag() + " blocked", 1));
  }
  test::captured_log log;
  nodus::node<> node;
};

void check_counters(const nodus::mailbox_counters& c, std::size_t queued, std::size_t max_queued,
                    std::size_t limit, std::uint64_t dropped) {
  BOOST_TEST(c.queued == queued);
  BOOST_TEST(c.max_queued == max_queued);
  BOOST_TEST(c.limit == limit);
  BOOST_TEST(c.dropped == dropped);
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

// A non-static member named mailbox is state, not a bound.
struct keeps_letters : nodus::server<keeps_letters, nodus::cast<item>> {
  static constexpr nodus::fixed_string name = "keeps_letters";
  std::vector<item> mailbox;
  void handle_cast(const item& i) { mailbox.push_back(i); }
};

static_assert(nodus::detail::bounded_mailbox_v<drop_oldest_server>);
static_assert(!nodus::detail::bounded_mailbox_v<plain>);
static_assert(!nodus::detail::bounded_mailbox_v<keeps_letters>);
static_assert(static_cast<int>(errc::mailbox_full) == 19);

BOOST_AUTO_TEST_SUITE(mailbox)

BOOST_FIXTURE_TEST_CASE(drop_newest_discards_what_arrives_at_a_full_mailbox, gated_node) {
  using S = drop_newest_server;
  block_server<S>();
  for (int i = 1; i <= 6; ++i) BOOST_TEST(node.cast<S>(item{i}));  // lossy: the sender is told ok
  BOOST_TEST(node.send<S>(item{7}));                               // an info: the same
  // A call is never dropped silently: it fails at once, while the server is still blocked.
  auto call = call_async<S>(ask{1});
  BOOST_REQUIRE(ready(call));
  auto r = call.get();
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error() == errc::mailbox_full));
  BOOST_TEST(contains(r.error().message(), "'drop_newest'"), r.error().message());
  BOOST_TEST(contains(r.error().message(), "3 messages"), r.error().message());
  check_counters(node.mailbox_stats<S>(), 3, 3, 3, 5);  // items 4, 5, 6, info 7, the call

  gate().open();
  BOOST_REQUIRE(events().wait_count("drop_newest item 3", 1));
  auto inside = node.call<S>(read_stats{}, 10s);  // the server's own view
  BOOST_REQUIRE(inside);
  check_counters(*inside, 0, 3, 3, 5);
  const std::vector<std::string> handled{"drop_newest blocked", "drop_newest item 1",
                                         "drop_newest item 2", "drop_newest item 3"};
  BOOST_TEST(events().snapshot() == handled, boost::test_tools::per_element());
}

BOOST_FIXTURE_TEST_CASE(drop_oldest_discards_the_oldest_and_fails_a_dropped_call_at_once,
                        gated_node) {
  using S = drop_oldest_server;
  block_server<S>();
  auto call = call_async<S>(ask{1});  // queued first: the oldest
  BOOST_TEST(node.cast<S>(item{1}));
  BOOST_TEST(node.cast<S>(item{2}));                               // full: ask 1, item 1, item 2
  BOOST_TEST((call.wait_for(0s) == std::future_status::timeout));  // waits in the mailbox
  BOOST_TEST(node.cast<S>(item{3}));  // drops the call, which fails now, not in an hour
  BOOST_REQUIRE(ready(call));
  auto r = call.get();
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error() == errc::mailbox_full));
  BOOST_TEST(contains(r.error().message(), "'drop_oldest'"), r.error().message());
  BOOST_TEST(contains(r.error().message(), "oldest"), r.error().message());
  BOOST_TEST(node.cast<S>(item{4}));  // drops item 1
  BOOST_TEST(node.cast<S>(item{5}));  // drops item 2
  BOOST_TEST(node.send<S>(item{6}));  // drops item 3
  check_counters(node.mailbox_stats<S>(), 3, 3, 3, 4);

  gate().open();
  BOOST_REQUIRE(events().wait_count("drop_oldest info 6", 1));
  const std::vector<std::string> handled{"drop_oldest blocked", "drop_oldest item 4",
                                         "drop_oldest item 5", "drop_oldest info 6"};
  BOOST_TEST(events().snapshot() == handled, boost::test_tools::per_element());
  auto inside = node.call<S>(read_stats{}, 10s);
  BOOST_REQUIRE(inside);
  check_counters(*inside, 0, 3, 3, 4);
}

BOOST_FIXTURE_TEST_CASE(fail_sender_refuses_casts_sends_and_calls_with_mailbox_full, gated_node) {
  using S = fail_sender_server;
  block_server<S>();
  for (int i = 1; i <= 3; ++i) BOOST_TEST(node.cast<S>(item{i}));
  auto cast = node.cast<S>(item{4});
  BOOST_REQUIRE(!cast);
  BOOST_TEST((cast.error() == errc::mailbox_full));
  const auto why = cast.error().message();
  BOOST_TEST(contains(why, "mailbox full"), why);
  BOOST_TEST(contains(why, "'fail_sender' on nonode@nohost already holds 3 messages"), why);
  BOOST_TEST(contains(why, "fail_sender)"), why);
  auto send = node.send<S>(item{5});
  BOOST_TEST((send.error() == errc::mailbox_full));
  auto call = call_async<S>(ask{1});
  BOOST_REQUIRE(ready(call));
  BOOST_TEST((call.get().error() == errc::mailbox_full));
  check_counters(node.mailbox_stats<S>(), 3, 3, 3, 3);

  gate().open();
  BOOST_REQUIRE(events().wait_count("fail_sender item 3", 1));
  // Room again: the server takes messages as before.
  auto after = node.call<S>(ask{9}, 10s);
  BOOST_REQUIRE(after);
  BOOST_TEST(after->n == 9);
  const std::vector<std::string> handled{"fail_sender blocked", "fail_sender item 1",
                                         "fail_sender item 2", "fail_sender item 3",
                                         "fail_sender ask 9"};
  BOOST_TEST(events().snapshot() == handled, boost::test_tools::per_element());
  check_counters(node.mailbox_stats<S>(), 0, 3, 3, 3);
}

BOOST_FIXTURE_TEST_CASE(drop_oldest_never_drops_a_reply_continuation, gated_node) {
  // relay (limit 2, drop_oldest) calls echo, then blocks: echo's reply waits in relay's mailbox
  // as a continuation, which the bound counts but never drops.
  BOOST_REQUIRE(node.cast<relay>(start{}));
  BOOST_REQUIRE(events().wait_count("echo held", 1));
  block_server<relay>();
  BOOST_REQUIRE(node.cast<echo>(answer_now{}));  // on the node's other thread
  BOOST_REQUIRE(wait_until([&] { return node.mailbox_stats<relay>().queued == 1; }));
  BOOST_TEST(node.cast<relay>(item{1}));  // full: the reply, item 1
  BOOST_TEST(node.cast<relay>(item{2}));  // drops item 1, not the reply before it
  BOOST_TEST(node.cast<relay>(item{3}));  // drops item 2
  check_counters(node.mailbox_stats<relay>(), 2, 2, 2, 2);
  gate().open();
  BOOST_REQUIRE(events().wait_count("relay item 3", 1));
  const std::vector<std::string> handled{"echo held", "relay blocked", "relay reply 7",
                                         "relay item 3"};
  BOOST_TEST(events().snapshot() == handled, boost::test_tools::per_element());
}

BOOST_FIXTURE_TEST_CASE(an_unbounded_mailbox_counts_nothing, gated_node) {
  for (int i = 0; i < 100; ++i) BOOST_REQUIRE(node.cast<plain>(item{i}));
  auto inside = node.call<plain>(read_stats{}, 10s);
  BOOST_REQUIRE(inside);
  check_counters(*inside, 0, 0, 0, 0);
  check_counters(node.mailbox_stats<plain>(), 0, 0, 0, 0);
}

BOOST_AUTO_TEST_CASE(stats_of_a_server_not_running_here_give_its_declared_limit) {
  nodus::node<> node;
  check_counters(node.mailbox_stats<fail_sender_server>(), 0, 0, 3, 0);
  check_counters(node.mailbox_stats<plain>(), 0, 0, 0, 0);
}

BOOST_AUTO_TEST_CASE(messages_from_another_node_meet_the_same_policy) {
  events().clear();
  gate().close();
  using node_t = nodus::node<nodus::no_topology, protocol>;
  auto make = [](const char* name) {
    nodus::options o;
    o.name = nodus::node_name::parse(name).value();
    o.cookie = "secret";
    o.epmd = false;  // peers are given as name@ip:port
    o.threads = 2;   // one for the blocked server, one for the rest
    return std::make_unique<node_t>(o);
  };
  auto a = make("a@127.0.0.1");
  auto b = make("b@127.0.0.1");
  test::captured_log b_log;
  b_log.attach(b->log());
  a->log().set_sink([](const nodus::log_record&) {});
  BOOST_REQUIRE(a->listen());
  BOOST_REQUIRE(
      b->start(nodus::supervisor<nodus::one_for_one, fail_sender_server, drop_oldest_server>{}));
  a->run_in_background();
  b->run_in_background();
  struct stop_both {
    node_t& a;
    node_t& b;
    ~stop_both() {
      gate().open();
      a.stop();
      b.stop();
      (void)a.join();
      (void)b.join();
    }
  } guard{*a, *b};
  BOOST_REQUIRE(a->connect(nodus::format("{}:{}", b->self(), b->port())));
  auto remote_call = [&]<class S>(std::type_identity<S>, int n) {
    auto p = std::make_shared<std::promise<nodus::result<answer>>>();
    auto f = p->get_future();
    a->async_call<S>(b->self(), ask{n}, 3600s,
                     [p](nodus::result<answer> r) { p->set_value(std::move(r)); });
    return f;
  };

  // fail_sender: a remote call is answered with mailbox_full at once; a remote cast is refused
  // (the distribution logs it) and counted.
  using FS = fail_sender_server;
  BOOST_REQUIRE(b->cast<FS>(block{}));
  BOOST_REQUIRE(events().wait_count("fail_sender blocked", 1));
  for (int i = 1; i <= 3; ++i) BOOST_REQUIRE(b->cast<FS>(item{i}));
  auto refused = remote_call(std::type_identity<FS>{}, 1);
  BOOST_REQUIRE(ready(refused));
  auto r = refused.get();
  BOOST_TEST((r.error() == errc::mailbox_full));
  BOOST_TEST(contains(r.error().message(), "'fail_sender' on b@127.0.0.1"), r.error().message());
  BOOST_TEST(a->cast<FS>(b->self(), item{4}));  // not confirmed, as in Erlang
  BOOST_TEST(wait_until([&] { return b->mailbox_stats<FS>().dropped == 2; }));
  BOOST_TEST(wait_until([&] { return b_log.contains("mailbox full"); }));
  gate().open();
  BOOST_REQUIRE(events().wait_count("fail_sender item 3", 1));
  gate().close();

  // drop_oldest: a remote call waiting in the mailbox is dropped for a newer message, and its
  // caller on the other node gets mailbox_full at once.
  using DO = drop_oldest_server;
  BOOST_REQUIRE(b->cast<DO>(block{}));
  BOOST_REQUIRE(events().wait_count("drop_oldest blocked", 1));
  auto dropped = remote_call(std::type_identity<DO>{}, 2);
  BOOST_REQUIRE(wait_until([&] { return b->mailbox_stats<DO>().queued == 1; }));
  BOOST_REQUIRE(b->cast<DO>(item{1}));
  BOOST_REQUIRE(b->cast<DO>(item{2}));
  BOOST_TEST((dropped.wait_for(0s) == std::future_status::timeout));
  BOOST_REQUIRE(b->cast<DO>(item{3}));  // drops the remote call
  BOOST_REQUIRE(ready(dropped));
  auto d = dropped.get();
  BOOST_TEST((d.error() == errc::mailbox_full));
  BOOST_TEST(contains(d.error().message(), "oldest"), d.error().message());

  gate().open();
  BOOST_TEST(events().wait_count("drop_oldest item 3", 1));
  BOOST_TEST(events().count("fail_sender item 4") == 0);
  BOOST_TEST(events().count("drop_oldest ask 2") == 0);
  check_counters(b->mailbox_stats<FS>(), 0, 3, 3, 2);
  check_counters(b->mailbox_stats<DO>(), 0, 3, 3, 1);
}

BOOST_AUTO_TEST_SUITE_END()

// Named servers on one node: calls, casts, infos, timers, deferred replies, crashes, timeouts.
#include <boost/test/unit_test.hpp>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>

#include <asio/use_future.hpp>
#if defined(ASIO_HAS_CO_AWAIT)
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/use_awaitable.hpp>
#endif

#include "common.hpp"

using namespace std::chrono_literals;
using test::events;

namespace {

struct ping {};
struct pong {
  int count;
};
struct crash {};
struct get {};
struct add {
  int n;
};
struct hold {};  // the server keeps the caller and answers on `release`
struct release {
  int value;
};
struct drop {};    // the server drops the caller without replying
struct refuse {};  // the server answers with an error, without crashing
struct tick {};
struct big {
  std::array<char, 4096> bytes;
};
struct big_echo {
  std::array<char, 4096> bytes;
};

struct counter
    : nodus::server<counter, nodus::call<ping, pong>, nodus::call<crash, pong>,
                    nodus::call<get, int>, nodus::cast<add>, nodus::call<hold, int>,
                    nodus::cast<release>, nodus::call<drop, int>, nodus::call<refuse, int>,
                    nodus::info<tick>, nodus::call<big, big_echo>> {
  static constexpr nodus::fixed_string name = "counter";
  int count = 0;
  int ticks = 0;
  std::vector<nodus::caller<int>> held;

  void init() { events().add("init counter"); }
  void terminate(const nodus::error& e) { events().add("terminate counter " + e.message()); }

  pong handle_call(const ping&) { return {++count}; }
  pong handle_call(const crash&) { throw std::runtime_error("boom"); }
  int handle_call(const get&) { return count; }
  void handle_cast(const add& a) { count += a.n; }
  void handle_call(const hold&, nodus::caller<int>& from) {
    held.push_back(std::move(from));
    events().add("held");
  }
  void handle_cast(const release& r) {
    for (auto& c : held) c.reply(r.value);
    held.clear();
  }
  void handle_call(const drop&, nodus::caller<int>&) {}
  nodus::result<int> handle_call(const refuse&) {
    return nodus::error(nodus::errc::noproc, "refused on purpose");
  }
  void handle_info(const tick&) {
    ++ticks;
    events().add("tick");
  }
  big_echo handle_call(const big& b) { return {b.bytes}; }
};

struct other_counter : nodus::server<other_counter, nodus::call<ping, pong>> {
  static constexpr nodus::fixed_string name = "counter";  // same name, other type
  pong handle_call(const ping&) { return {-1}; }
};

struct nobody : nodus::server<nobody, nodus::call<ping, pong>> {
  static constexpr nodus::fixed_string name = "nobody";
  pong handle_call(const ping&) { return {0}; }
};

// A fixture: a node running `counter` on two threads, log lines captured.
struct running_node {
  nodus::options opts() {
    nodus::options o;
    o.threads = 2;
    return o;
  }
  running_node() : node(opts()) {
    log.attach(node.log());
    events().clear();
    BOOST_REQUIRE(node.spawn<counter>());
    node.run_in_background();
  }
  ~running_node() {
    node.stop();
    BOOST_CHECK(node.join());
  }
  test::captured_log log;
  nodus::node<> node;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(servers)

BOOST_FIXTURE_TEST_CASE(call_returns_typed_reply_and_state_persists, running_node) {
  for (int i = 1; i <= 5; ++i) {
    auto r = node.call<counter>(ping{});
    BOOST_REQUIRE(r);
    BOOST_TEST(r->count == i);
  }
  BOOST_TEST(node.is_running<counter>());
  BOOST_TEST(node.registered() == std::vector<std::string>{"counter"});
}

BOOST_FIXTURE_TEST_CASE(call_to_unregistered_name_fails_with_noproc_at_once, running_node) {
  auto r = node.call<nobody>(ping{}, 3600s);  // at once: a timeout would take an hour
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error() == nodus::errc::noproc));
  BOOST_TEST(r.error().message().find("nobody") != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(crash_fails_the_call_at_once_with_the_reason, running_node) {
  auto r = node.call<counter>(crash{}, 3600s);
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error() == nodus::errc::server_crashed));
  const auto msg = r.error().message();
  BOOST_TEST(msg.find("boom") != std::string::npos, msg);
  BOOST_TEST(msg.find("handle_call") != std::string::npos, msg);
  BOOST_TEST(msg.find("counter") != std::string::npos, msg);
  BOOST_TEST(events().wait_count("terminate counter " + msg, 1));
  BOOST_TEST(log.contains("[error] " + msg));
  // Unsupervised: the server is gone for good.
  auto again = node.call<counter>(ping{}, 3600s);
  BOOST_TEST((again.error() == nodus::errc::noproc));
}

BOOST_FIXTURE_TEST_CASE(casts_are_handled_in_order_before_a_later_call, running_node) {
  for (int i = 0; i < 1000; ++i) BOOST_REQUIRE(node.cast<counter>(add{1}));
  auto r = node.call<counter>(get{});
  BOOST_REQUIRE(r);
  BOOST_TEST(*r == 1000);
}

BOOST_FIXTURE_TEST_CASE(deferred_reply_through_a_kept_caller, running_node) {
  auto f1 = std::async(std::launch::async, [&] { return node.call<counter>(hold{}); });
  auto f2 = std::async(std::launch::async, [&] { return node.call<counter>(hold{}); });
  BOOST_REQUIRE(events().wait_count("held", 2));
  BOOST_TEST((f1.wait_for(0s) == std::future_status::timeout));  // held, not answered
  BOOST_REQUIRE(node.cast<counter>(release{42}));
  auto r1 = f1.get();
  auto r2 = f2.get();
  BOOST_REQUIRE(r1);
  BOOST_REQUIRE(r2);
  BOOST_TEST(*r1 == 42);
  BOOST_TEST(*r2 == 42);
}

BOOST_FIXTURE_TEST_CASE(dropped_caller_fails_with_no_reply, running_node) {
  auto r = node.call<counter>(drop{}, 3600s);
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error() == nodus::errc::no_reply));
}

BOOST_FIXTURE_TEST_CASE(handler_may_answer_with_an_error_without_crashing, running_node) {
  auto r = node.call<counter>(refuse{});
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().reason() == "refused on purpose");
  BOOST_TEST(node.call<counter>(ping{}).has_value());  // still alive, same state
}

BOOST_FIXTURE_TEST_CASE(kept_caller_of_a_crashing_server_gets_the_crash_reason, running_node) {
  auto held = std::async(std::launch::async, [&] { return node.call<counter>(hold{}, 3600s); });
  BOOST_REQUIRE(events().wait_count("held", 1));
  auto crashed = node.call<counter>(crash{}, 3600s);
  BOOST_REQUIRE(!crashed);
  auto r = held.get();
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error() == nodus::errc::server_crashed));
  BOOST_TEST(r.error().message().find("boom") != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(timeout_then_late_reply_is_dropped, running_node) {
  auto r = node.call<counter>(hold{}, 50ms);
  BOOST_REQUIRE(!r);
  BOOST_TEST((r.error() == nodus::errc::timeout));
  BOOST_TEST(r.error().message().find("counter") != std::string::npos);
  // The late reply (7) must not reach the next call, which is held and answered with 8.
  BOOST_REQUIRE(node.cast<counter>(release{7}));
  auto next = std::async(std::launch::async, [&] { return node.call<counter>(hold{}); });
  BOOST_REQUIRE(events().wait_count("held", 2));
  BOOST_REQUIRE(node.cast<counter>(release{8}));
  auto v = next.get();
  BOOST_REQUIRE(v);
  BOOST_TEST(*v == 8);
}

BOOST_FIXTURE_TEST_CASE(infos_and_large_messages, running_node) {
  BOOST_REQUIRE(node.send<counter>(tick{}));
  BOOST_TEST(events().wait_count("tick", 1));
  big b{};
  b.bytes[0] = 'x';
  b.bytes[4095] = 'y';
  auto r = node.call<counter>(b);
  BOOST_REQUIRE(r);
  BOOST_TEST(r->bytes[0] == 'x');
  BOOST_TEST(r->bytes[4095] == 'y');
}

BOOST_FIXTURE_TEST_CASE(async_call_takes_completion_tokens, running_node) {
  // use_future
  auto fut = node.async_call<counter>(ping{}, asio::use_future);
  auto r = fut.get();
  BOOST_REQUIRE(r);
  BOOST_TEST(r->count == 1);
  // a callback, with an explicit timeout
  std::promise<nodus::result<pong>> p;
  node.async_call<counter>(ping{}, 1s, [&p](nodus::result<pong> x) { p.set_value(x); });
  auto r2 = p.get_future().get();
  BOOST_REQUIRE(r2);
  BOOST_TEST(r2->count == 2);
#if defined(ASIO_HAS_CO_AWAIT)
  std::promise<int> done;
  asio::co_spawn(
      node.io_context(),
      [&]() -> asio::awaitable<void> {
        auto x = co_await node.async_call<counter>(ping{}, asio::use_awaitable);
        done.set_value(x ? x->count : -1);
      },
      asio::detached);
  BOOST_TEST(done.get_future().get() == 3);
#endif
}

BOOST_FIXTURE_TEST_CASE(second_registration_and_wrong_type, running_node) {
  auto again = node.spawn<counter>();
  BOOST_REQUIRE(!again);
  BOOST_TEST((again.error() == nodus::errc::already_registered));
  BOOST_TEST(again.error().message().find("counter") != std::string::npos);
  auto other = node.spawn<other_counter>();
  BOOST_TEST((other.error() == nodus::errc::already_registered));
  auto wrong = node.call<other_counter>(ping{});
  BOOST_REQUIRE(!wrong);
  BOOST_TEST((wrong.error() == nodus::errc::wrong_server_type));
  BOOST_TEST(node.call<counter>(ping{}).has_value());  // the first one still serves
}

BOOST_AUTO_TEST_CASE(calls_queued_behind_a_crash_fail_at_once_with_the_reason) {
  nodus::node<> node;
  BOOST_REQUIRE(node.spawn<counter>());
  // Queue a crash and three calls before any thread runs the node, so all wait in the mailbox.
  std::promise<nodus::result<pong>> first;
  std::promise<nodus::result<int>> second;
  node.async_call<counter>(crash{}, 3600s, [](nodus::result<pong>) {});
  node.async_call<counter>(ping{}, 3600s, [&](nodus::result<pong> r) { first.set_value(r); });
  node.async_call<counter>(get{}, 3600s, [&](nodus::result<int> r) { second.set_value(r); });
  node.run_in_background();
  auto f = first.get_future();
  auto s = second.get_future();
  BOOST_REQUIRE((f.wait_for(10s) == std::future_status::ready));  // not after the hour
  BOOST_REQUIRE((s.wait_for(10s) == std::future_status::ready));
  auto r1 = f.get();
  auto r2 = s.get();
  BOOST_TEST((r1.error() == nodus::errc::server_crashed));
  BOOST_TEST((r2.error() == nodus::errc::server_crashed));
  BOOST_TEST(r1.error().message().find("boom") != std::string::npos);
}

// joins_within(node, bound, what) -> node.join() succeeded within bound. A node whose threads do
// not end cannot be joined: the test program ends then, with the error shown, instead of hanging.
static bool joins_within(nodus::node<>& node, std::chrono::seconds bound, const std::string& what) {
  std::promise<bool> joined;
  auto done = joined.get_future();
  std::thread joiner([&] { joined.set_value(node.join().has_value()); });
  if (done.wait_for(bound) != std::future_status::ready) {
    BOOST_ERROR(what << ": join() did not return within " << bound.count() << " s");
    std::fflush(nullptr);
    std::_Exit(2);
  }
  joiner.join();
  return done.get();
}

// A stop that arrives while the server's drain finds its queue empty must still end the
// instance: the drain checks for a stop under the mailbox lock before it goes idle. A lost stop
// would leave join() waiting forever, so the wait is bounded and a miss ends the program.
BOOST_AUTO_TEST_CASE(stop_racing_an_emptying_mailbox_always_completes) {
  for (int round = 0; round < 1000; ++round) {
    nodus::options o;
    o.threads = 2;
    nodus::node<> node(o);
    BOOST_REQUIRE(node.spawn<counter>());
    node.run_in_background();
    std::atomic<bool> go{true};
    std::thread caster([&] {
      for (int i = 0; i < 2000 && go.load(); ++i) (void)node.cast<counter>(add{1});
    });
    BOOST_REQUIRE(node.call<counter>(ping{}, 10s));  // the drain runs on the node's threads
    node.stop();
    go = false;
    caster.join();
    BOOST_TEST(joins_within(node, 20s, "round " + std::to_string(round)));
  }
}

BOOST_AUTO_TEST_CASE(a_busy_polling_node_serves_in_order_and_stops) {
  nodus::options o;
  o.threads = 2;
  o.busy_poll = 2ms;
  nodus::node<> node(o);
  BOOST_REQUIRE(node.spawn<counter>());
  node.run_in_background();
  for (int i = 0; i < 500; ++i) {
    BOOST_REQUIRE(node.cast<counter>(add{1}));
    auto r = node.call<counter>(get{}, 10s);
    BOOST_REQUIRE(r);
    BOOST_REQUIRE(*r == i + 1);
  }
  // Idle for longer than the spin: the threads block, and a call still wakes them.
  std::this_thread::sleep_for(20ms);  // not a synchronisation: lets the spin run out
  auto r = node.call<counter>(get{}, 10s);
  BOOST_REQUIRE(r);
  BOOST_TEST(*r == 500);
  node.stop();
  BOOST_TEST(joins_within(node, 20s, "busy polling"));
}

BOOST_AUTO_TEST_CASE(blocking_call_without_a_running_node_fails_with_not_running) {
  nodus::node<> node;
  BOOST_REQUIRE(node.spawn<counter>());  // starts even though no thread runs yet
  auto r = node.call<counter>(ping{});
  BOOST_TEST((r.error() == nodus::errc::not_running));
  BOOST_TEST((node.cast<counter>(add{1}).has_value()));  // queued; runs once the node runs
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------

namespace {

struct echo_request {
  std::string text;
};
struct relay_request {
  std::string text;
};
struct deadlock_probe {};
struct start_timers {
  int after_ms;
  int every_ms;
};
struct stop_timers {};
struct beat {};
struct once {};
struct stop_me {};

nodus::node<>* probe_node = nullptr;

struct echo : nodus::server<echo, nodus::call<echo_request, std::string>> {
  static constexpr nodus::fixed_string name = "echo";
  std::atomic<int> inside{0};
  std::string handle_call(const echo_request& r) {
    if (inside.fetch_add(1) != 0) throw std::logic_error("two handlers of one server at once");
    std::string out = r.text;
    inside.fetch_sub(1);
    return out;
  }
};

// relay calls echo from inside a handler and answers its own caller from the continuation.
struct relay : nodus::server<relay, nodus::call<relay_request, std::string>,
                             nodus::call<deadlock_probe, int>, nodus::call<start_timers, int>,
                             nodus::cast<stop_timers>, nodus::info<beat>, nodus::info<once>,
                             nodus::cast<stop_me>> {
  static constexpr nodus::fixed_string name = "relay";
  int beats = 0;
  nodus::timer_ref interval;

  void handle_call(const relay_request& r, nodus::caller<std::string>& from) {
    call<echo>(echo_request{r.text + "!"},
               [this, from = std::move(from)](nodus::result<std::string> x) mutable {
                 ++beats;  // runs in this server's context: touching state is safe
                 if (x) {
                   from.reply("relayed " + *x);
                 } else {
                   from.reply_error(x.error());
                 }
               });
  }
  int handle_call(const deadlock_probe&) {
    auto r = probe_node->call<echo>(echo_request{"x"});
    return r ? 0 : static_cast<int>(r.code().value());
  }
  int handle_call(const start_timers& t) {
    send_after(std::chrono::milliseconds(t.after_ms), once{});
    interval = send_interval(std::chrono::milliseconds(t.every_ms), beat{});
    return 0;
  }
  void handle_cast(const stop_timers&) {
    interval.cancel();
    events().add("timers stopped");
  }
  void handle_info(const beat&) { events().add("beat"); }
  void handle_info(const once&) { events().add("once"); }
  void handle_cast(const stop_me&) { stop(); }
  void terminate(const nodus::error& e) { events().add("relay terminate " + e.reason()); }
};

struct bad_init : nodus::server<bad_init, nodus::call<ping, pong>> {
  static constexpr nodus::fixed_string name = "bad_init";
  void init() { throw std::runtime_error("no config"); }
  pong handle_call(const ping&) { return {0}; }
};
struct refusing_init : nodus::server<refusing_init, nodus::call<ping, pong>> {
  static constexpr nodus::fixed_string name = "refusing_init";
  nodus::result<void> init() { return nodus::error(nodus::errc::noproc, "database missing"); }
  pong handle_call(const ping&) { return {0}; }
};
struct with_args : nodus::server<with_args, nodus::call<get, int>> {
  static constexpr nodus::fixed_string name = "with_args";
  explicit with_args(int v) : value(v) {}
  int value;
  int handle_call(const get&) { return value; }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(interplay)

BOOST_AUTO_TEST_CASE(server_calls_server_and_replies_from_the_continuation) {
  nodus::options o;
  o.threads = 2;
  nodus::node<> node(o);
  BOOST_REQUIRE(node.spawn<echo>());
  BOOST_REQUIRE(node.spawn<relay>());
  node.run_in_background();
  auto r = node.call<relay>(relay_request{"hi"});
  BOOST_REQUIRE(r);
  BOOST_TEST(*r == "relayed hi!");
}

BOOST_AUTO_TEST_CASE(handlers_of_one_server_never_overlap_under_concurrent_callers) {
  nodus::options o;
  o.threads = 2;
  nodus::node<> node(o);
  BOOST_REQUIRE(node.spawn<echo>());
  node.run_in_background();
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t)
    clients.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        auto text = std::to_string(t) + ":" + std::to_string(i);
        auto r = node.call<echo>(echo_request{text});
        if (r && *r == text) ok.fetch_add(1);
      }
    });
  for (auto& c : clients) c.join();
  BOOST_TEST(ok.load() == 2000);  // a handler overlap would have crashed echo (noproc after)
}

BOOST_AUTO_TEST_CASE(blocking_call_from_a_node_thread_is_refused) {
  nodus::node<> node;
  probe_node = &node;
  BOOST_REQUIRE(node.spawn<echo>());
  BOOST_REQUIRE(node.spawn<relay>());
  node.run_in_background();
  auto r = node.call<relay>(deadlock_probe{});
  BOOST_REQUIRE(r);
  BOOST_TEST(*r == static_cast<int>(nodus::errc::would_deadlock));
  probe_node = nullptr;
}

BOOST_AUTO_TEST_CASE(send_after_send_interval_and_cancel) {
  nodus::node<> node;
  events().clear();
  BOOST_REQUIRE(node.spawn<relay>());
  node.run_in_background();
  BOOST_REQUIRE(node.call<relay>(start_timers{20, 5}));
  BOOST_TEST(events().wait_count("once", 1));
  BOOST_TEST(events().wait_count("beat", 3));
  BOOST_REQUIRE(node.cast<relay>(stop_timers{}));
  BOOST_TEST(events().wait_count("timers stopped", 1));
  const int beats = events().count("beat");
  // A cancelled interval stays silent: a 100 ms window would hold 20 beats of a live one.
  std::this_thread::sleep_for(100ms);  // absence of an event can only be observed over time
  BOOST_TEST(events().count("beat") == beats);
  BOOST_TEST(events().count("once") == 1);
}

BOOST_AUTO_TEST_CASE(init_failures_are_reported_with_their_reason) {
  nodus::node<> node;
  auto a = node.spawn<bad_init>();
  BOOST_REQUIRE(!a);
  BOOST_TEST((a.error() == nodus::errc::init_failed));
  BOOST_TEST(a.error().message().find("no config") != std::string::npos);
  auto b = node.spawn<refusing_init>();
  BOOST_REQUIRE(!b);
  BOOST_TEST(b.error().message().find("database missing") != std::string::npos);
  BOOST_TEST(node.spawn<with_args>(41));
  node.run_in_background();
  auto v = node.call<with_args>(get{});
  BOOST_REQUIRE(v);
  BOOST_TEST(*v == 41);
}

BOOST_AUTO_TEST_CASE(stop_ends_a_server_normally_and_terminate_runs) {
  nodus::node<> node;
  events().clear();
  BOOST_REQUIRE(node.spawn<relay>());
  node.run_in_background();
  BOOST_REQUIRE(node.cast<relay>(stop_me{}));
  BOOST_TEST(events().wait_count("relay terminate normal", 1));
  auto r = node.call<relay>(start_timers{1, 1}, 3600s);
  BOOST_TEST((r.error() == nodus::errc::noproc));
}

BOOST_AUTO_TEST_CASE(stopping_the_node_fails_queued_calls_and_terminates_servers) {
  events().clear();
  std::future<nodus::result<int>> held;
  {
    nodus::node<> node;
    BOOST_REQUIRE(node.spawn<counter>());
    node.run_in_background();
    held = std::async(std::launch::async, [&] { return node.call<counter>(hold{}, 3600s); });
    BOOST_REQUIRE(events().wait_count("held", 1));
    node.stop();
    BOOST_TEST(node.join());
    BOOST_TEST(events().count("terminate counter shutting down: shutdown") == 1);
    auto r = held.get();
    BOOST_REQUIRE(!r);
    BOOST_TEST((r.error() == nodus::errc::shutdown));
  }
}

BOOST_AUTO_TEST_SUITE_END()

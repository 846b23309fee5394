#include <nodus/core/log.hpp>
#include <nodus/core/node_name.hpp>

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

using namespace std::chrono_literals;
using nodus::log_level;
using nodus::log_record;
using nodus::logger;
using namespace nodus::literals;

namespace {

// What localtime gives for t, as HH:MM:SS.
std::string local_hms(std::time_t t) {
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

// Whether line is "HH:MM:SS.mmm " (digits in range) followed by rest, exactly.
bool has_shape(const std::string& line, const std::string& rest) {
  const std::string shape = "00:00:00.000 ";
  if (line.size() != shape.size() + rest.size()) return false;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    const bool digit = line[i] >= '0' && line[i] <= '9';
    if (shape[i] == '0' ? !digit : line[i] != shape[i]) return false;
  }
  const auto two = [&line](std::size_t at) { return (line[at] - '0') * 10 + (line[at + 1] - '0'); };
  return two(0) < 24 && two(3) < 60 && two(6) < 61 &&
         line.compare(shape.size(), rest.size(), rest) == 0;
}

struct captured {
  log_level level;
  std::chrono::system_clock::time_point time;
  std::string message;
};

// A sink that stores what it receives (the logger serialises calls).
struct capture {
  std::vector<captured> records;
  logger::sink_type sink() {
    return [this](const log_record& r) {
      records.push_back({r.level, r.time, std::string(r.message)});
    };
  }
};

// Counts how often it is formatted.
struct expensive {
  std::atomic<int>* count;
};
void nodus_format(std::string& out, const expensive& e) {
  ++*e.count;
  out += "expensive";
}

// Runs f with stdout redirected to a temporary file, and returns what was written.
template <class F>
std::string capture_stdout(F f) {
  std::fflush(stdout);
  std::FILE* tmp = std::tmpfile();
  BOOST_TEST_REQUIRE(tmp != nullptr);
  const int saved = ::dup(1);
  ::dup2(::fileno(tmp), 1);
  f();
  std::fflush(stdout);
  ::dup2(saved, 1);
  ::close(saved);
  std::string text;
  std::rewind(tmp);
  char buf[512];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, tmp)) > 0) text.append(buf, n);
  std::fclose(tmp);
  return text;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(log_suite)

BOOST_AUTO_TEST_CASE(line_has_elixirs_shape) {
  const std::time_t t = 1621663360;  // any fixed instant
  const auto time = std::chrono::system_clock::from_time_t(t) + 129ms;
  const std::string line =
      logger::format_line({log_level::info, time, "--- Node up: n2@127.0.0.1"});
  BOOST_TEST(line == local_hms(t) + ".129 [info]  --- Node up: n2@127.0.0.1");
  BOOST_TEST(has_shape(line, "[info]  --- Node up: n2@127.0.0.1"));
  BOOST_TEST(!has_shape(line, "[info] --- Node up: n2@127.0.0.1"));
  BOOST_TEST(!has_shape("6:02:40.129 [info]  x", "[info]  x"));
}

BOOST_AUTO_TEST_CASE(level_names_are_padded_to_five) {
  const std::time_t t = 1621663360;
  const auto time = std::chrono::system_clock::from_time_t(t);
  const std::string hms = local_hms(t) + ".000 ";
  BOOST_TEST(logger::format_line({log_level::debug, time, "x"}) == hms + "[debug] x");
  BOOST_TEST(logger::format_line({log_level::info, time, "x"}) == hms + "[info]  x");
  BOOST_TEST(logger::format_line({log_level::warn, time, "x"}) == hms + "[warn]  x");
  BOOST_TEST(logger::format_line({log_level::error, time, "x"}) == hms + "[error] x");
  BOOST_TEST(logger::format_line({log_level::info, time, ""}) == hms + "[info]  ");
}

BOOST_AUTO_TEST_CASE(milliseconds_are_three_digits) {
  const std::time_t t = 1621663360;
  const auto base = std::chrono::system_clock::from_time_t(t);
  BOOST_TEST(logger::format_line({log_level::info, base + 5ms, "m"}).substr(8, 4) == ".005");
  BOOST_TEST(logger::format_line({log_level::info, base + 50ms, "m"}).substr(8, 4) == ".050");
  BOOST_TEST(logger::format_line({log_level::info, base + 999ms + 999us, "m"}).substr(8, 4) ==
             ".999");
  // Sub-millisecond parts are truncated, and instants before a second boundary stay in range.
  BOOST_TEST(logger::format_line({log_level::info, base - 1ms, "m"}) ==
             local_hms(t - 1) + ".999 [info]  m");
  BOOST_TEST(logger::format_line({log_level::info, std::chrono::system_clock::from_time_t(0) - 1ms,
                                  "m"}) == local_hms(-1) + ".999 [info]  m");
}

BOOST_AUTO_TEST_CASE(levels) {
  logger log;
  BOOST_TEST((log.level() == log_level::info));
  BOOST_TEST(!log.enabled(log_level::debug));
  BOOST_TEST(log.enabled(log_level::info));
  BOOST_TEST(log.enabled(log_level::warn));
  BOOST_TEST(log.enabled(log_level::error));
  BOOST_TEST(!log.enabled(log_level::off));
  log.set_level(log_level::error);
  BOOST_TEST(!log.enabled(log_level::warn));
  BOOST_TEST(log.enabled(log_level::error));
  log.set_level(log_level::debug);
  BOOST_TEST(log.enabled(log_level::debug));
  BOOST_TEST(!log.enabled(log_level::off));
  log.set_level(log_level::off);
  BOOST_TEST(!log.enabled(log_level::error));
  BOOST_TEST(nodus::to_string(log_level::warn) == "warn");
  BOOST_TEST(nodus::to_string(log_level::off) == "off");
}

BOOST_AUTO_TEST_CASE(custom_sink_receives_formatted_records) {
  logger log;
  capture cap;
  log.set_sink(cap.sink());
  const auto before = std::chrono::system_clock::now();
  log.info("--- Node up: {}", "n2@127.0.0.1"_node);
  log.warn("[libcluster:example] unable to connect to :\"{}\"", "n2@127.0.0.1"_node);
  log.error("{} failed after {}", "call", 5000ms);
  log.write(log_level::info, "raw {} text");
  const auto after = std::chrono::system_clock::now();
  BOOST_TEST_REQUIRE(cap.records.size() == 4u);
  BOOST_TEST((cap.records[0].level == log_level::info));
  BOOST_TEST(cap.records[0].message == "--- Node up: n2@127.0.0.1");
  BOOST_TEST((cap.records[1].level == log_level::warn));
  BOOST_TEST(cap.records[1].message ==
             "[libcluster:example] unable to connect to :\"n2@127.0.0.1\"");
  BOOST_TEST((cap.records[2].level == log_level::error));
  BOOST_TEST(cap.records[2].message == "call failed after 5000ms");
  BOOST_TEST(cap.records[3].message == "raw {} text");  // write() does not format
  for (const auto& r : cap.records) {
    BOOST_TEST((r.time >= before));
    BOOST_TEST((r.time <= after));
  }
}

BOOST_AUTO_TEST_CASE(filtering) {
  logger log;
  capture cap;
  log.set_sink(cap.sink());
  log.debug("hidden {}", 1);
  log.info("shown {}", 2);
  log.write(log_level::debug, "hidden");
  log.write(log_level::off, "never");
  BOOST_TEST_REQUIRE(cap.records.size() == 1u);
  BOOST_TEST(cap.records[0].message == "shown 2");

  log.set_level(log_level::debug);
  log.debug("now shown");
  BOOST_TEST(cap.records.size() == 2u);

  log.set_level(log_level::off);
  log.error("off means off");
  log.write(log_level::off, "never");
  BOOST_TEST(cap.records.size() == 2u);

  log.set_level(log_level::warn);
  log.info("no");
  log.warn("yes");
  log.log(log_level::error, "yes {}", "again");
  BOOST_TEST_REQUIRE(cap.records.size() == 4u);
  BOOST_TEST(cap.records[3].message == "yes again");
}

BOOST_AUTO_TEST_CASE(disabled_levels_skip_formatting) {
  logger log;
  capture cap;
  log.set_sink(cap.sink());
  std::atomic<int> count{0};
  log.debug("{}", expensive{&count});
  BOOST_TEST(count.load() == 0);
  log.info("{}", expensive{&count});
  BOOST_TEST(count.load() == 1);
  BOOST_TEST(cap.records.back().message == "expensive");
}

BOOST_AUTO_TEST_CASE(default_sink_writes_one_line_to_stdout) {
  logger log;
  const std::string out = capture_stdout([&] {
    log.info("--- Node up: {}", "n2@127.0.0.1"_node);
    log.debug("hidden");
  });
  BOOST_TEST(has_shape(out, "[info]  --- Node up: n2@127.0.0.1\n"));

  // An empty sink restores the default.
  capture cap;
  log.set_sink(cap.sink());
  const std::string silent = capture_stdout([&] { log.info("to the capture"); });
  BOOST_TEST(silent.empty());
  BOOST_TEST(cap.records.size() == 1u);
  log.set_sink({});
  const std::string again = capture_stdout([&] { log.error("back"); });
  BOOST_TEST(has_shape(again, "[error] back\n"));
}

BOOST_AUTO_TEST_CASE(concurrent_writers) {
  logger log;
  capture cap;  // not synchronised itself: relies on the logger calling the sink under its mutex
  log.set_sink(cap.sink());
  constexpr int threads = 4;
  constexpr int per_thread = 500;
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&log, t] {
      for (int i = 0; i < per_thread; ++i) log.info("thread {} line {}", t, i);
    });
  }
  // Changing the level while others log is allowed.
  log.set_level(log_level::debug);
  for (auto& th : pool) th.join();
  BOOST_TEST_REQUIRE(cap.records.size() == static_cast<std::size_t>(threads * per_thread));
  std::vector<int> next(threads, 0);
  for (const auto& r : cap.records) {
    int t = -1;
    int i = -1;
    BOOST_TEST_REQUIRE(std::sscanf(r.message.c_str(), "thread %d line %d", &t, &i) == 2);
    BOOST_TEST_REQUIRE((t >= 0 && t < threads));
    BOOST_TEST(i == next[static_cast<std::size_t>(t)]);  // each thread's lines in order
    next[static_cast<std::size_t>(t)] = i + 1;
  }
}

BOOST_AUTO_TEST_CASE(default_logger_is_one_instance) {
  nodus::logger& a = nodus::default_logger();
  nodus::logger& b = nodus::default_logger();
  BOOST_TEST(&a == &b);
  const log_level saved = a.level();
  b.set_level(log_level::warn);
  BOOST_TEST((a.level() == log_level::warn));
  a.set_level(saved);
}

BOOST_AUTO_TEST_SUITE_END()

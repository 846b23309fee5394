// The node's run-time settings: options::from_args, help() and the NODUS_CLUSTER_* variables,
// all driven by one flag table (nodus/impl/options.ipp). Includes nodus/options.hpp alone: the
// parser must not need the network stack.
#include <boost/test/unit_test.hpp>

#include <array>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nodus/options.hpp"

namespace {

template <std::size_t N>
nodus::result<nodus::options> parse(const std::array<const char*, N>& args) {
  return nodus::options::from_args(static_cast<int>(N), args.data());
}

nodus::result<nodus::options> parse(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  argv.reserve(args.size());
  for (const auto& a : args) argv.push_back(a.c_str());
  return nodus::options::from_args(static_cast<int>(argv.size()), argv.data());
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// A scoped environment variable (nullptr: unset).
struct env_var {
  env_var(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  env_var(const env_var&) = delete;
  env_var& operator=(const env_var&) = delete;
  ~env_var() {
    if (old_.empty()) {
      ::unsetenv(name_);
    } else {
      ::setenv(name_, old_.c_str(), 1);
    }
  }
  const char* name_;
  std::string old_;
};

// A logger whose lines land in `lines`.
struct captured_logger {
  captured_logger() {
    log.set_sink([this](const nodus::log_record& r) { lines.emplace_back(r.message); });
  }
  nodus::logger log;
  std::vector<std::string> lines;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(node_options)

BOOST_AUTO_TEST_CASE(options_from_args_reads_the_known_flags_and_keeps_the_rest) {
  auto o =
      parse(std::array{"prog", "--name", "n1@127.0.0.1", "--cookie", "secret", "--threads", "3",
                       "--call-timeout", "250", "--log-level", "debug", "--smoke", "extra"});
  BOOST_REQUIRE(o);
  BOOST_TEST(o->name.str() == "n1@127.0.0.1");
  BOOST_TEST(o->cookie == "secret");
  BOOST_TEST(o->threads == 3u);
  BOOST_TEST(o->call_timeout.count() == 250);
  BOOST_TEST((o->level == nodus::log_level::debug));
  BOOST_TEST(o->rest == (std::vector<std::string>{"--smoke", "extra"}));
}

BOOST_AUTO_TEST_CASE(options_from_args_names_the_bad_argument) {
  auto bad_name = parse(std::array{"prog", "--name", "n1"});
  BOOST_REQUIRE(!bad_name);
  BOOST_TEST((bad_name.error() == nodus::errc::invalid_node_name));
  BOOST_TEST(bad_name.error().message().find("n1") != std::string::npos);

  auto missing = parse(std::array{"prog", "--cookie"});
  BOOST_REQUIRE(!missing);
  BOOST_TEST(missing.error().message().find("--cookie needs a value") != std::string::npos);

  auto threads = parse(std::array{"prog", "--threads", "two"});
  BOOST_REQUIRE(!threads);
  BOOST_TEST(threads.error().message().find("'two'") != std::string::npos);

  auto zero = parse(std::array{"prog", "--threads", "0"});
  BOOST_TEST(!zero);

  auto level = parse(std::array{"prog", "--log-level", "loud"});
  BOOST_REQUIRE(!level);
  BOOST_TEST(level.error().message().find("loud") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(help_and_h_set_help_requested_and_stay_out_of_rest) {
  for (const char* flag : {"--help", "-h"}) {
    auto o = parse(std::array{"prog", "--threads", "2", flag, "extra"});
    BOOST_REQUIRE(o.has_value());
    BOOST_TEST(o->help_requested);
    BOOST_TEST(o->threads == 2u);
    BOOST_TEST(o->rest == (std::vector<std::string>{"extra"}));
  }
  auto o = parse(std::array{"prog"});
  BOOST_REQUIRE(o.has_value());
  BOOST_TEST(!o->help_requested);
}

BOOST_AUTO_TEST_CASE(help_lists_the_program_every_flag_its_value_and_its_variable) {
  const std::string help = nodus::options::help("my-prog");
  BOOST_TEST(contains(help, "usage: my-prog "));
  const auto flags = nodus::detail::option_flags();
  BOOST_TEST(flags.size() == nodus::detail::option_table().size());
  for (const auto& f : nodus::detail::option_table()) {
    std::string line = "\n  " + std::string(f.flag);
    if (!f.value.empty()) line += " " + std::string(f.value);
    line += " ";  // not a prefix of a longer flag
    BOOST_TEST(contains(help, line), "help has no line " << line);
    if (f.env != nullptr) BOOST_TEST(contains(help, f.env), "help does not name " << f.env);
  }
  for (const char* env : {"NODUS_CLUSTER_HOSTS", "NODUS_CLUSTER_HOSTS_FILE", "NODUS_CLUSTER_DNS",
                          "NODUS_CLUSTER_DNS_SRV", "NODUS_CLUSTER_DNS_BASENAME",
                          "NODUS_CLUSTER_INTERVAL", "NODUS_CLUSTER_SECRET", "NODUS_CLUSTER_WAIT"}) {
    BOOST_TEST(contains(help, env), "help does not name " << env);
  }
  std::size_t start = 0;
  while (start < help.size()) {
    const auto end = help.find('\n', start);
    BOOST_TEST(end - start <= 80u, "help line longer than 80: " << help.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
}

BOOST_AUTO_TEST_CASE(the_table_names_each_flag_once_and_every_switch_sets_something) {
  const auto flags = nodus::detail::option_flags();
  for (std::size_t i = 0; i < flags.size(); ++i)
    for (std::size_t j = i + 1; j < flags.size(); ++j) BOOST_TEST(flags[i] != flags[j]);
  for (const auto& f : nodus::detail::option_table()) {
    if (!f.value.empty()) continue;
    auto o = parse(std::vector<std::string>{"prog", std::string(f.flag)});
    BOOST_REQUIRE_MESSAGE(o.has_value(), f.flag << ": " << o.error().message());
    BOOST_TEST(o->rest.empty(), f.flag << " went to rest");
  }
}

BOOST_AUTO_TEST_CASE(every_switch_works) {
  auto none = parse(std::array{"prog"});
  BOOST_REQUIRE(none.has_value());
  BOOST_TEST(!none->hidden);
  BOOST_TEST(none->epmd);
  BOOST_TEST(none->cluster.form);
  auto all = parse(std::array{"prog", "--hidden", "--no-epmd", "--no-cluster", "--help"});
  BOOST_REQUIRE(all.has_value());
  BOOST_TEST(all->hidden);
  BOOST_TEST(!all->epmd);
  BOOST_TEST(!all->cluster.form);
  BOOST_TEST(all->help_requested);
  BOOST_TEST(all->rest.empty());
}

BOOST_AUTO_TEST_CASE(a_value_flag_at_the_end_fails_naming_the_flag) {
  for (const auto& f : nodus::detail::option_table()) {
    if (f.value.empty()) continue;
    auto o = parse(std::vector<std::string>{"prog", "--hidden", std::string(f.flag)});
    BOOST_REQUIRE_MESSAGE(!o.has_value(), f.flag << " without a value was accepted");
    BOOST_TEST(contains(o.error().message(), std::string(f.flag) + " needs a value"),
               o.error().message());
  }
}

BOOST_AUTO_TEST_CASE(a_numeric_flag_given_text_fails_naming_the_flag) {
  for (const auto& f : nodus::detail::option_table()) {
    if (f.value != "MS" && f.value != "N" && f.value != "P" && f.value != "BYTES" &&
        f.value != "US")
      continue;
    auto o = parse(std::vector<std::string>{"prog", std::string(f.flag), "x1"});
    BOOST_REQUIRE_MESSAGE(!o.has_value(), f.flag << " x1 was accepted");
    BOOST_TEST(contains(o.error().message(), std::string(f.flag) + " expects a number, got 'x1'"),
               o.error().message());
  }
}

BOOST_AUTO_TEST_CASE(options_from_args_reads_every_value_flag) {
  std::vector<std::string> args{"prog"};
  for (const auto& [flag, value] : std::vector<std::pair<const char*, const char*>>{
           {"--address", "::1"},
           {"--port", "65535"},
           {"--net-ticktime", "1000"},
           {"--net-setuptime", "2000"},
           {"--net-connect-resend", "0"},
           {"--max-frame-size", "1024"},
           {"--dist-buf-busy-limit", "4096"},
           {"--busy-poll", "50"},
           {"--sync-nodes-optional", "a@h:1,,b@h:2"},
           {"--sync-nodes-mandatory", "c@h:3"},
           {"--sync-nodes-timeout", "0"},
           {"--epmd-port", "4370"},
           {"--cluster-hosts-file", "/etc/hosts.erlang"},
           {"--cluster-dns", "app.local"},
           {"--cluster-dns-srv", "app-headless.default.svc.cluster.local"},
           {"--cluster-dns-basename", "app"},
           {"--cluster-interval", "250"},
           {"--cluster-secret", "s3"},
           {"--cluster-wait", "0"},
           {"--gossip-group", "239.1.2.3"},
           {"--gossip-port", "45000"},
           {"--gossip-if", "10.0.0.1"},
           {"--gossip-ttl", "0"},
       }) {
    args.emplace_back(flag);
    args.emplace_back(value);
  }
  auto o = parse(args);
  BOOST_REQUIRE_MESSAGE(o.has_value(), o.error().message());
  BOOST_TEST(o->address == "::1");
  BOOST_TEST(o->port == 65535u);
  BOOST_TEST(o->net_ticktime.count() == 1000);
  BOOST_TEST(o->net_setuptime.count() == 2000);
  BOOST_TEST(o->net_connect_resend.count() == 0);
  BOOST_TEST(o->max_frame_size == 1024u);
  BOOST_TEST(o->dist_buf_busy_limit == 4096u);
  BOOST_TEST(o->busy_poll.count() == 50);
  BOOST_TEST(o->sync_nodes_optional == (std::vector<std::string>{"a@h:1", "b@h:2"}));
  BOOST_TEST(o->sync_nodes_mandatory == (std::vector<std::string>{"c@h:3"}));
  BOOST_TEST(o->sync_nodes_timeout.count() == 0);
  BOOST_TEST(o->epmd_port == 4370u);
  BOOST_TEST(o->cluster.hosts_file == "/etc/hosts.erlang");
  BOOST_TEST(o->cluster.dns_query == "app.local");
  BOOST_TEST(o->cluster.srv_query == "app-headless.default.svc.cluster.local");
  BOOST_TEST(o->cluster.dns_basename == "app");
  BOOST_TEST(o->cluster.interval.count() == 250);
  BOOST_TEST(o->cluster.secret.value_or("") == "s3");
  BOOST_TEST(o->cluster.startup_wait.count() == 0);
  BOOST_TEST(o->cluster.gossip_group == "239.1.2.3");
  BOOST_TEST(o->cluster.gossip_port == 45000u);
  BOOST_TEST(o->cluster.gossip_if == "10.0.0.1");
  BOOST_TEST(o->cluster.gossip_ttl == 0);
  BOOST_TEST(o->rest.empty());
}

BOOST_AUTO_TEST_CASE(cluster_hosts_replaces_the_list_or_adds_to_it_with_a_plus) {
  auto replace = parse(std::array{"prog", "--cluster-hosts", "a@h,b@h"});
  BOOST_REQUIRE(replace.has_value());
  BOOST_REQUIRE(replace->cluster.hosts.has_value());
  BOOST_TEST(*replace->cluster.hosts == (std::vector<std::string>{"a@h", "b@h"}));
  BOOST_TEST(replace->cluster.extra_hosts.empty());

  auto add = parse(std::array{"prog", "--cluster-hosts", "+c@h"});
  BOOST_REQUIRE(add.has_value());
  BOOST_TEST(!add->cluster.hosts.has_value());
  BOOST_TEST(add->cluster.extra_hosts == (std::vector<std::string>{"c@h"}));
}

BOOST_AUTO_TEST_CASE(out_of_range_values_fail_with_todays_messages) {
  const std::vector<std::pair<std::array<const char*, 3>, std::string_view>> cases = {
      {{"prog", "--threads", "257"}, "--threads expects 1 to 256"},
      {{"prog", "--port", "65536"}, "--port expects 0 to 65535"},
      {{"prog", "--max-frame-size", "1023"}, "--max-frame-size expects 1024 to 4294967280"},
      {{"prog", "--max-frame-size", "4294967281"}, "--max-frame-size expects 1024 to 4294967280"},
      {{"prog", "--net-connect-resend", "x"}, "--net-connect-resend"},
      {{"prog", "--busy-poll", "1000001"}, "--busy-poll expects 0 to 1000000"},
      {{"prog", "--net-ticktime", "0"}, "--net-ticktime expects a positive number of milliseconds"},
      {{"prog", "--net-setuptime", "0"},
       "--net-setuptime expects a positive number of milliseconds"},
      {{"prog", "--cluster-interval", "0"},
       "--cluster-interval expects a positive number of milliseconds"},
      {{"prog", "--gossip-ttl", "256"}, "--gossip-ttl expects 0 to 255"},
      {{"prog", "--gossip-port", "0"}, "--gossip-port expects 1 to 65535"},
      {{"prog", "--epmd-port", "65536"}, "--epmd-port expects 1 to 65535"},
      {{"prog", "--cluster-typo", "x"}, "unknown option --cluster-typo"},
      {{"prog", "--gossip-typo", "x"}, "unknown option --gossip-typo"},
  };
  for (const auto& [args, message] : cases) {
    auto o = parse(args);
    BOOST_REQUIRE_MESSAGE(!o.has_value(), args[1] << " " << args[2] << " was accepted");
    BOOST_TEST(contains(o.error().message(), message), o.error().message());
  }
  auto typo = parse(std::array{"prog", "--cluster-typo"});
  BOOST_REQUIRE(!typo.has_value());
  BOOST_TEST(contains(typo.error().message(), "--cluster-typo needs a value"));
}

BOOST_AUTO_TEST_CASE(cluster_variables_fill_only_what_flags_left_unset) {
  const env_var hosts("NODUS_CLUSTER_HOSTS", "+e@h");
  const env_var dns("NODUS_CLUSTER_DNS", "env.local");
  const env_var interval("NODUS_CLUSTER_INTERVAL", "750");
  const env_var secret("NODUS_CLUSTER_SECRET", "from-env");
  const env_var wait("NODUS_CLUSTER_WAIT", "oops");
  const env_var file("NODUS_CLUSTER_HOSTS_FILE", "");
  const env_var basename("NODUS_CLUSTER_DNS_BASENAME", nullptr);
  auto o = parse(std::array{"prog", "--cluster-dns", "flag.local", "--cluster-secret", "s"});
  BOOST_REQUIRE(o.has_value());
  captured_logger log;
  nodus::detail::apply_cluster_env(*o, log.log);
  BOOST_TEST(o->cluster.extra_hosts == (std::vector<std::string>{"e@h"}));
  BOOST_TEST(!o->cluster.hosts.has_value());
  BOOST_TEST(o->cluster.dns_query == "flag.local");  // the flag wins
  BOOST_TEST(o->cluster.secret.value_or("") == "s");
  BOOST_TEST(o->cluster.interval.count() == 750);
  BOOST_TEST(o->cluster.startup_wait.count() == 0);  // a bad value is ignored, with a warning
  BOOST_TEST(o->cluster.hosts_file.empty());
  BOOST_TEST(o->cluster.dns_basename.empty());
  BOOST_REQUIRE(log.lines.size() == 1u);
  BOOST_TEST(contains(log.lines[0], "ignoring NODUS_CLUSTER_WAIT: "));
  BOOST_TEST(contains(log.lines[0], "--cluster-wait expects a number, got 'oops'"));

  nodus::options code;  // settings given in code win too
  code.cluster.interval = std::chrono::milliseconds(10);
  code.cluster.hosts = std::vector<std::string>{"c@h"};
  nodus::detail::apply_cluster_env(code, log.log);
  BOOST_TEST(code.cluster.interval.count() == 10);
  BOOST_TEST(code.cluster.extra_hosts.empty());
  BOOST_TEST(code.cluster.dns_query == "env.local");
}

BOOST_AUTO_TEST_SUITE_END()

// The embedded server under bad or hostile clients: garbage, truncated and oversized requests,
// unknown codes, name theft, double registration, thousands of idle connections, connection
// limits, slow clients and descriptor exhaustion. Raw loopback sockets feed it bytes; after each
// abuse the server must still answer others correctly.
#include <boost/test/unit_test.hpp>

#include <dirent.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nodus/epmd/protocol.hpp"
#include "nodus/epmd/server.hpp"

#include "common.hpp"

namespace epmd = nodus::epmd;
using namespace std::chrono_literals;
using namespace epmd_test;

namespace {

// Raises RLIMIT_NOFILE's soft limit to the hard one for the whole test run (the idle-connection
// test holds thousands of sockets on both ends).
struct nofile_limit {
  nofile_limit() { raise_nofile_limit(); }
};
BOOST_TEST_GLOBAL_FIXTURE(nofile_limit);

struct served {
  explicit served(epmd::server_options o = {}) {
    o.port = 0;
    o.log = log.sink();
    auto s = epmd::server::listen(io.executor(), std::move(o));
    BOOST_REQUIRE_MESSAGE(s, s.error().message());
    server = std::move(s.value());
    port = server->port();
  }
  ~served() { server.reset(); }

  log_capture log;  // outlives the io thread, which may still log
  io_thread io;
  std::unique_ptr<epmd::server> server;
  std::uint16_t port = 0;
};

// names_of(port) -> the NAMES answer of the server at port, fetched on a new raw connection.
std::vector<epmd::node_entry> names_of(std::uint16_t port) {
  raw_client c(port);
  BOOST_REQUIRE(c.open());
  BOOST_REQUIRE(c.send(epmd::encode_request(epmd::request_code::names)));
  const auto answer = c.read_to_close();
  BOOST_REQUIRE(answer.closed);
  auto r = epmd::decode_names_response(answer.data);
  BOOST_REQUIRE_MESSAGE(r, r.error().message());
  BOOST_TEST(r->epmd_port == port);
  return r->nodes;
}

// port_of(port, name) -> the PORT2_RESP for name, fetched on a new raw connection.
epmd::port2_response port_of(std::uint16_t port, const std::string& name) {
  raw_client c(port);
  BOOST_REQUIRE(c.send(epmd::encode_port_please2_request(name).value()));
  const auto answer = c.read_to_close();
  BOOST_REQUIRE(answer.closed);
  auto r = epmd::decode_port2_response(answer.data);
  BOOST_REQUIRE_MESSAGE(r, r.error().message());
  return *r;
}

// register_as(port, name, node_port) -> the open registration connection.
raw_client register_as(std::uint16_t port, const std::string& name, std::uint16_t node_port) {
  raw_client c(port);
  BOOST_REQUIRE(c.send(alive2(name, node_port)));
  const auto answer = epmd::decode_alive2_response(c.read_exactly(6));
  BOOST_REQUIRE(answer);
  BOOST_REQUIRE(answer->result == 0);
  return c;
}

// Sends data, expects the server to close without a byte of answer.
void expect_dropped(std::uint16_t port, const bytes& data, const std::string& what) {
  raw_client c(port);
  BOOST_REQUIRE(c.open());
  BOOST_REQUIRE(c.send(data));
  const auto r = c.read_to_close(5s);
  BOOST_TEST(r.closed, what << ": connection left open");
  BOOST_TEST(r.data.empty(), what << ": got " << r.data.size() << " bytes of answer");
}

bytes cat(bytes a, const bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

int open_fds() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d) != nullptr) ++n;
    ::closedir(d);
  }
  return n - 3;  // ".", ".." and the directory's own descriptor
}

}  // namespace

BOOST_AUTO_TEST_SUITE(epmd_server_robustness)

BOOST_AUTO_TEST_CASE(garbage_unknown_codes_and_oversized_requests_are_dropped) {
  served s;
  auto holder = register_as(s.port, "n1", 4501);

  expect_dropped(s.port, {'G', 'E', 'T', ' ', '/', ' ', 'H', 'T', 'T', 'P', '\r', '\n'},
                 "HTTP request");  // "GE" = a length of 18245
  expect_dropped(s.port, {0xff, 0xff, 'x'}, "length 65535");
  expect_dropped(s.port, cat({0x04, 0x01}, bytes(1025, 'z')), "length 1025");
  expect_dropped(s.port, {0, 0}, "length 0");
  for (const std::uint8_t code : {0, 1, 99, 101, 108, 111, 118, 119, 121, 123, 200, 255}) {
    expect_dropped(s.port, {0, 3, code, 'n', '1'}, "code " + std::to_string(code));
  }
  // Requests that are well framed but wrong inside.
  expect_dropped(s.port, cat({0x04, 0x00, 122}, bytes(1023, 'a')), "1023-byte name");
  expect_dropped(s.port, {0, 1, 122}, "PORT_PLEASE2 without a name");
  expect_dropped(s.port, {0, 4, 122, 'a', 0, 'b'}, "name with NUL");
  expect_dropped(s.port, {0, 5, 120, 0, 1, 77, 0}, "truncated ALIVE2 fields");
  expect_dropped(s.port, {0, 15, 120, 0x11, 0x95, 77, 0, 0, 6, 0, 6, 0, 9, 'n', '1', 0, 0},
                 "ALIVE2 Nlen overrun");
  expect_dropped(s.port, {0, 15, 120, 0x11, 0x95, 77, 0, 0, 6, 0, 6, 0, 0, 'n', '1', 0, 0},
                 "ALIVE2 with an empty name");
  // STOP is refused without an answer, as epmd without -relaxed_command_check does.
  expect_dropped(s.port, {0, 3, 115, 'n', '1'}, "STOP_REQ");

  // Through all this the registration stayed and others are served.
  BOOST_TEST((names_of(s.port) == std::vector<epmd::node_entry>{{"n1", 4501}}));
  BOOST_TEST(port_of(s.port, "n1").node.port == 4501);
  BOOST_TEST(!holder.closed_by_peer(0ms));
}

BOOST_AUTO_TEST_CASE(truncated_requests_then_close) {
  served s;
  const bytes whole = alive2("n1", 4501);
  for (std::size_t len = 1; len < whole.size(); ++len) {
    raw_client c(s.port);
    BOOST_REQUIRE(c.send(bytes(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(len))));
    ::shutdown(c.fd(), SHUT_WR);  // no more bytes: the server must give up on the request
    const auto r = c.read_to_close(5s);
    BOOST_TEST(r.closed, "truncated to " << len);
    BOOST_TEST(r.data.empty());
  }
  BOOST_TEST(s.server->names().empty());
  BOOST_TEST(names_of(s.port).empty());
  // Split into single bytes (but complete) it works.
  raw_client c(s.port);
  for (const auto b : whole) BOOST_REQUIRE(c.send({b}));
  const auto answer = epmd::decode_alive2_response(c.read_exactly(6));
  BOOST_REQUIRE(answer);
  BOOST_TEST(answer->result == 0);
  BOOST_TEST(answer->extended);
  BOOST_TEST(answer->creation != 0u);
  BOOST_TEST((s.server->names() == std::vector<epmd::node_entry>{{"n1", 4501}}));
}

BOOST_AUTO_TEST_CASE(a_held_name_is_refused_and_never_evicted) {
  served s;
  auto holder = register_as(s.port, "n1", 4501);
  for (int i = 0; i < 3; ++i) {
    raw_client thief(s.port);
    BOOST_REQUIRE(thief.send(alive2("n1", 6666)));
    const auto r = thief.read_to_close(5s);
    BOOST_TEST(r.closed);
    const auto answer = epmd::decode_alive2_response(r.data);
    BOOST_REQUIRE(answer);
    BOOST_TEST(answer->result == 1);
  }
  BOOST_TEST(port_of(s.port, "n1").node.port == 4501);
  BOOST_TEST(!holder.closed_by_peer(0ms));
  // Once the holder goes, the name is free.
  holder.close();
  BOOST_REQUIRE(s.log.wait_for("unregistered 'n1'"));
  auto next = register_as(s.port, "n1", 4502);
  BOOST_TEST(port_of(s.port, "n1").node.port == 4502);
}

BOOST_AUTO_TEST_CASE(second_alive2_on_a_registered_connection_is_refused) {
  served s;
  auto c = register_as(s.port, "n1", 4501);
  for (const auto& [name, port] :
       {std::pair<std::string, std::uint16_t>{"n1", 4600}, {"n2", 4601}}) {
    BOOST_REQUIRE(c.send(alive2(name, port)));
    const auto answer = epmd::decode_alive2_response(c.read_exactly(6));
    BOOST_REQUIRE(answer);
    BOOST_TEST(answer->result == 1);
  }
  BOOST_TEST((names_of(s.port) == std::vector<epmd::node_entry>{{"n1", 4501}}));
  BOOST_TEST(port_of(s.port, "n2").result == 1);
  // Anything else on a registration connection closes it (as epmd does), and the name goes.
  BOOST_REQUIRE(c.send(epmd::encode_request(epmd::request_code::names)));
  BOOST_TEST(c.closed_by_peer());
  BOOST_REQUIRE(s.log.wait_for("unregistered 'n1'"));
  BOOST_TEST(names_of(s.port).empty());
}

BOOST_AUTO_TEST_CASE(old_alive2_gets_the_old_answer) {
  served s;
  raw_client c(s.port);
  BOOST_REQUIRE(c.send(alive2("old", 4501, 5)));
  const auto data = c.read_exactly(4);
  const auto answer = epmd::decode_alive2_response(data);
  BOOST_REQUIRE(answer);
  BOOST_TEST(!answer->extended);
  BOOST_TEST(answer->result == 0);
  BOOST_TEST(answer->creation >= 1u);
  BOOST_TEST(answer->creation <= 3u);
  // The connection stays registered: nothing more arrives, nothing closes.
  BOOST_TEST(!c.closed_by_peer(50ms));
  const auto p = port_of(s.port, "old");
  BOOST_TEST(p.node.highest_version == 5);
}

BOOST_AUTO_TEST_CASE(kill_is_refused_and_dump_answers) {
  served s;
  auto holder = register_as(s.port, "n1", 4501);
  {
    raw_client c(s.port);
    BOOST_REQUIRE(c.send(epmd::encode_request(epmd::request_code::kill)));
    const auto r = c.read_to_close();
    BOOST_TEST(r.closed);
    BOOST_TEST(r.data == (bytes{'N', 'O'}), boost::test_tools::per_element());
  }
  {
    raw_client c(s.port);
    BOOST_REQUIRE(c.send(epmd::encode_request(epmd::request_code::dump)));
    const auto r = c.read_to_close();
    BOOST_TEST(r.closed);
    BOOST_REQUIRE(r.data.size() > 4u);
    BOOST_TEST(epmd::detail::get32(r.data, 0) == s.port);
    const std::string text(r.data.begin() + 4, r.data.end());
    BOOST_TEST(text.find("active name     <n1> at port 4501, fd = ") == 0u, text);
    BOOST_TEST(text.back() == '\0');
  }
  // Still alive and serving.
  BOOST_TEST(port_of(s.port, "n1").node.port == 4501);
}

BOOST_AUTO_TEST_CASE(request_timeout_closes_silent_connections_but_not_registrations) {
  epmd::server_options o;
  o.request_timeout = 200ms;
  served s(o);
  auto registered = register_as(s.port, "n1", 4501);
  raw_client silent(s.port);
  raw_client partial(s.port);
  BOOST_REQUIRE(partial.send({0, 15, 120, 0x11}));
  const auto t0 = clock_type::now();
  BOOST_TEST(silent.closed_by_peer(5s));
  BOOST_TEST(partial.closed_by_peer(5s));
  BOOST_TEST((clock_type::now() - t0 >= 150ms));
  // Three timeouts later the registration is still there.
  BOOST_TEST(!registered.closed_by_peer(600ms));
  BOOST_TEST((names_of(s.port) == std::vector<epmd::node_entry>{{"n1", 4501}}));
}

BOOST_AUTO_TEST_CASE(thousands_of_idle_connections) {
  const rlim_t limit = raise_nofile_limit();
  // Each idle connection costs two descriptors here (our end and the server's).
  const std::size_t wanted = 3000;
  const std::size_t n =
      std::min<std::size_t>(wanted, limit > 400 ? static_cast<std::size_t>(limit - 200) / 2 : 100);
  BOOST_TEST_MESSAGE("RLIMIT_NOFILE " << limit << ": " << n << " idle connections");
  BOOST_WARN(n == wanted);
  served s;
  auto early = register_as(s.port, "early", 4501);
  std::vector<raw_client> idle(n);
  for (std::size_t i = 0; i < n; ++i) {
    BOOST_REQUIRE_MESSAGE(idle[i].connect(s.port), "connection " << i << " failed");
  }
  // Meanwhile it serves others: a new registration, lookups and listings, promptly.
  const auto t0 = clock_type::now();
  auto late = register_as(s.port, "late", 4502);
  BOOST_TEST(port_of(s.port, "early").node.port == 4501);
  BOOST_TEST(port_of(s.port, "late").node.port == 4502);
  BOOST_TEST(names_of(s.port).size() == 2u);
  BOOST_TEST((clock_type::now() - t0 < 5s));
  // None of the idle ones was dropped (4096 allowed by default): the first still waits.
  BOOST_TEST(!idle.front().closed_by_peer(0ms));
  BOOST_TEST(!idle.back().closed_by_peer(0ms));
  idle.clear();
  BOOST_TEST(names_of(s.port).size() == 2u);
}

BOOST_AUTO_TEST_CASE(max_connections_evicts_the_oldest_idle_never_a_registration) {
  epmd::server_options o;
  o.max_connections = 50;
  served s(o);
  auto reg = register_as(s.port, "n1", 4501);
  std::vector<raw_client> idle(100);
  for (auto& c : idle) BOOST_REQUIRE(c.connect(s.port));
  // 1 registration + at most 49 idle: the first 51 idle ones were closed, oldest first.
  BOOST_TEST(idle.front().closed_by_peer(5s));
  BOOST_TEST(idle[50].closed_by_peer(5s));
  // A lookup evicts one more idle connection (idle[51]) and is answered.
  BOOST_TEST(port_of(s.port, "n1").node.port == 4501);
  BOOST_TEST(idle[51].closed_by_peer(5s));
  BOOST_TEST(!idle.back().closed_by_peer(0ms));
  BOOST_TEST(!reg.closed_by_peer(0ms));
  idle.clear();

  // All slots registrations: a new connection is refused, no registration is touched.
  epmd::server_options tiny;
  tiny.max_connections = 2;
  served t(tiny);
  auto r1 = register_as(t.port, "a", 1);
  auto r2 = register_as(t.port, "b", 2);
  raw_client extra(t.port);
  BOOST_TEST(extra.closed_by_peer(5s));
  BOOST_TEST(t.server->names().size() == 2u);
  BOOST_TEST(!r1.closed_by_peer(0ms));
  BOOST_TEST(!r2.closed_by_peer(0ms));
}

BOOST_AUTO_TEST_CASE(out_of_descriptors_it_pauses_and_recovers) {
  served s;
  auto reg = register_as(s.port, "n1", 4501);
  // Restores the limit and frees the filler descriptors whatever happens below.
  struct exhaustion {
    rlimit saved{};
    std::vector<int> fds;
    exhaustion() { ::getrlimit(RLIMIT_NOFILE, &saved); }
    ~exhaustion() {
      release();
      ::setrlimit(RLIMIT_NOFILE, &saved);
    }
    void release() {
      for (const int fd : fds) ::close(fd);
      fds.clear();
    }
  } ex;
  rlimit low = ex.saved;
  low.rlim_cur = static_cast<rlim_t>(open_fds() + 64);
  BOOST_REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);

  // Client sockets first, then fill this process's descriptor table (client and server share
  // it) to the last slot, then connect: the server's accept finds no descriptor.
  std::vector<int> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  for (;;) {
    const int fd = ::dup(clients.front());
    if (fd < 0) break;
    ex.fds.push_back(fd);
  }
  BOOST_REQUIRE(errno == EMFILE);
  for (const int fd : clients) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(s.port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);  // backlog
  }
  BOOST_REQUIRE_MESSAGE(s.log.wait_for("accept failed"), s.log.all());
  BOOST_TEST(s.log.all().find("Too many open files") != std::string::npos, s.log.all());
  BOOST_TEST(!reg.closed_by_peer(300ms));  // the registration is untouched meanwhile

  // Descriptors come back: the server accepts again and answers.
  ex.release();
  BOOST_REQUIRE_MESSAGE(s.log.wait_for("accepting again"), s.log.all());
  BOOST_TEST(s.log.count("accept failed") == 1);  // one warning per episode, no log storm
  BOOST_TEST((names_of(s.port) == std::vector<epmd::node_entry>{{"n1", 4501}}));
  for (const int fd : clients) ::close(fd);
  BOOST_TEST(!reg.closed_by_peer(0ms));
}

BOOST_AUTO_TEST_SUITE_END()

// Interoperation with the real epmd (Debian erlang-base) and a real Erlang node, on free ports
// (never 4369): our agent and lookups against epmd, and epmd's client and an erl node against
// our embedded server. Every child process is killed when its test ends, pass or fail.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nodus/epmd/client.hpp"
#include "nodus/epmd/server.hpp"

#include "common.hpp"

namespace epmd = nodus::epmd;
using asio::ip::tcp;
using nodus::errc;
using nodus::result;
using namespace std::chrono_literals;
using namespace epmd_test;

namespace {

tcp::endpoint loopback(std::uint16_t port) { return {asio::ip::make_address("127.0.0.1"), port}; }

result<std::uint16_t> port_please(asio::any_io_executor ex, std::uint16_t mapper,
                                  const std::string& name) {
  awaited<result<std::uint16_t>> answer;
  epmd::async_port_please(std::move(ex), loopback(mapper), name, 3s,
                          [&](result<std::uint16_t> r) { answer.set(std::move(r)); });
  auto r = answer.wait();
  BOOST_REQUIRE_MESSAGE(r, "async_port_please never completed");
  return *r;
}

result<std::vector<epmd::node_entry>> names(asio::any_io_executor ex, std::uint16_t mapper) {
  awaited<result<std::vector<epmd::node_entry>>> answer;
  epmd::async_names(std::move(ex), loopback(mapper), 3s,
                    [&](result<std::vector<epmd::node_entry>> r) { answer.set(std::move(r)); });
  auto r = answer.wait();
  BOOST_REQUIRE_MESSAGE(r, "async_names never completed");
  return *r;
}

result<void> start(const std::shared_ptr<epmd::agent>& a) {
  awaited<result<void>> done;
  a->start([&](result<void> r) { done.set(std::move(r)); });
  auto r = done.wait();
  BOOST_REQUIRE_MESSAGE(r, "agent::start never completed");
  return *r;
}

std::shared_ptr<epmd::agent> make_agent(asio::any_io_executor ex, std::string name,
                                        std::uint16_t node_port, std::uint16_t epmd_port,
                                        bool serve) {
  epmd::agent_options o;
  o.name = std::move(name);
  o.node_port = node_port;
  o.epmd_port = epmd_port;
  o.serve = serve;
  return epmd::agent::create(std::move(ex), std::move(o));
}

// run_epmd_client(args) -> what `epmd <args>` printed, after it exited (bounded).
std::string run_epmd_client(const std::vector<std::string>& args) {
  std::vector<std::string> argv{epmd_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  child_process c(argv);
  BOOST_REQUIRE_MESSAGE(c.wait_exit(), "epmd client did not exit in time");
  return c.output();
}

// A real epmd serving on a free port, killed (SIGKILL to its group) when this goes.
struct real_epmd {
  real_epmd() : port(free_port()), process({epmd_path(), "-port", std::to_string(port)}) {
    BOOST_REQUIRE_MESSAGE(accepts(port), "epmd did not start listening on port " << port);
  }
  std::uint16_t port;
  child_process process;
};

bool have_epmd() {
  if (!epmd_path().empty()) return true;
  BOOST_TEST_MESSAGE("epmd not installed (Debian: erlang-base): interop tests skipped");
  return false;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(epmd_interop)

BOOST_AUTO_TEST_CASE(our_agent_and_lookups_with_the_real_epmd) {
  if (!have_epmd()) return;
  io_thread io;
  real_epmd real;
  auto a1 = make_agent(io.executor(), "n1", 4501, real.port, /*serve=*/false);
  auto a2 = make_agent(io.executor(), "n2", 4502, real.port, /*serve=*/true);
  const auto r1 = start(a1);
  BOOST_REQUIRE_MESSAGE(r1, r1.error().message());
  BOOST_REQUIRE(start(a2));
  BOOST_TEST(a1->creation() != 0u);  // epmd 25 answers ALIVE2_X_RESP with a 32-bit creation
  BOOST_TEST(!a2->serving());        // a port mapper answered: nothing to serve

  const auto p = port_please(io.executor(), real.port, "n1");
  BOOST_REQUIRE_MESSAGE(p, p.error().message());
  BOOST_TEST(*p == 4501);
  const auto missing = port_please(io.executor(), real.port, "n9");
  BOOST_TEST((missing.error() == errc::nodedown));

  auto listed = names(io.executor(), real.port);
  BOOST_REQUIRE_MESSAGE(listed, listed.error().message());
  std::sort(listed->begin(), listed->end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  BOOST_TEST((*listed == std::vector<epmd::node_entry>{{"n1", 4501}, {"n2", 4502}}));

  // epmd's own client sees our registrations.
  const auto out = run_epmd_client({"-port", std::to_string(real.port), "-names"});
  BOOST_TEST(out.find("name n1 at port 4501") != std::string::npos, out);

  // The real epmd refuses a taken name; our agent reports it.
  auto thief = make_agent(io.executor(), "n1", 4999, real.port, false);
  const auto stolen = start(thief);
  BOOST_REQUIRE(!stolen);
  BOOST_TEST((stolen.error() == errc::already_registered));
  BOOST_TEST(stolen.error().reason() ==
             "the name 'n1' is already registered with the port mapper at 127.0.0.1:" +
                 std::to_string(real.port));

  // Closing the registration unregisters at epmd too.
  a1->stop();
  BOOST_TEST(wait_until(
      [&] { return port_please(io.executor(), real.port, "n1").error() == errc::nodedown; }));
  a2->stop();
  thief->stop();
}

// A hidden node's registration says so (NodeType 72), as the real epmd's PORT2_RESP shows.
BOOST_AUTO_TEST_CASE(a_hidden_node_registers_as_hidden) {
  if (!have_epmd()) return;
  io_thread io;
  real_epmd real;
  epmd::agent_options o;
  o.name = "h1";
  o.node_port = 4511;
  o.epmd_port = real.port;
  o.serve = false;
  o.hidden = true;
  auto hidden = epmd::agent::create(io.executor(), std::move(o));
  auto normal = make_agent(io.executor(), "v1", 4512, real.port, /*serve=*/false);
  BOOST_REQUIRE(start(hidden));
  BOOST_REQUIRE(start(normal));
  auto type_of = [&](const char* name) -> int {
    asio::io_context c;
    asio::ip::tcp::socket s(c);
    s.connect(loopback(real.port));
    asio::write(s, asio::buffer(epmd::encode_port_please2_request(name).value()));
    std::vector<std::uint8_t> answer(512);
    std::error_code ec;
    const std::size_t n = asio::read(s, asio::buffer(answer), ec);  // epmd closes after it
    answer.resize(n);
    auto r = epmd::decode_port2_response(answer);
    BOOST_REQUIRE_MESSAGE(r, r.error().message());
    return r->node.node_type;
  };
  BOOST_TEST(type_of("h1") == 72);
  BOOST_TEST(type_of("v1") == 77);
  hidden->stop();
  normal->stop();
}

BOOST_AUTO_TEST_CASE(agent_re_registers_when_the_real_epmd_is_restarted) {
  if (!have_epmd()) return;
  io_thread io;
  auto real = std::make_unique<real_epmd>();
  const auto port = real->port;
  auto a = make_agent(io.executor(), "n1", 4501, port, /*serve=*/false);
  counter registrations;
  a->on_registered([&] { registrations.bump(); });
  BOOST_REQUIRE(start(a));
  BOOST_REQUIRE(registrations.wait_for(1));
  real.reset();  // epmd killed
  child_process again({epmd_path(), "-port", std::to_string(port)});
  BOOST_REQUIRE(accepts(port));
  BOOST_REQUIRE(registrations.wait_for(2));
  const auto p = port_please(io.executor(), port, "n1");
  BOOST_REQUIRE_MESSAGE(p, p.error().message());
  BOOST_TEST(*p == 4501);
  a->stop();
}

BOOST_AUTO_TEST_CASE(epmd_client_against_our_server) {
  if (!have_epmd()) return;
  io_thread io;
  epmd::server_options o;
  o.port = free_port();
  auto server = epmd::server::listen(io.executor(), o);
  BOOST_REQUIRE_MESSAGE(server, server.error().message());
  auto a1 = make_agent(io.executor(), "n1", 4501, o.port, false);
  auto a2 = make_agent(io.executor(), "n2", 4502, o.port, false);
  BOOST_REQUIRE(start(a1));
  BOOST_REQUIRE(start(a2));

  const auto out = run_epmd_client({"-port", std::to_string(o.port), "-names"});
  BOOST_TEST(out.find("up and running on port " + std::to_string(o.port)) != std::string::npos,
             out);
  BOOST_TEST(out.find("name n1 at port 4501") != std::string::npos, out);
  BOOST_TEST(out.find("name n2 at port 4502") != std::string::npos, out);

  // `epmd -kill` is refused as epmd refuses it while nodes live; the server keeps serving.
  const auto kill = run_epmd_client({"-port", std::to_string(o.port), "-kill"});
  BOOST_TEST(kill.find("Killing not allowed") != std::string::npos, kill);
  BOOST_TEST(server.value()->names().size() == 2u);
  BOOST_TEST(a1->registered());
  a1->stop();
  a2->stop();
}

BOOST_AUTO_TEST_CASE(erlang_node_registers_with_our_server) {
  if (!have_epmd()) return;
  const auto erl = find_program("erl");
  if (erl.empty()) {
    BOOST_TEST_MESSAGE("erl not installed: skipped");
    return;
  }
  log_capture log;
  io_thread io;
  epmd::server_options o;
  o.port = free_port();
  o.log = log.sink();
  auto server = epmd::server::listen(io.executor(), o);
  BOOST_REQUIRE_MESSAGE(server, server.error().message());
  auto ours = make_agent(io.executor(), "ours", 4501, o.port, false);
  BOOST_REQUIRE(start(ours));

  // erl registers with the port mapper at ERL_EPMD_PORT, and lists its names from there.
  child_process node({erl, "-noshell", "-noinput", "-name", "beam@127.0.0.1", "-setcookie",
                      "epmdtest", "-start_epmd", "false", "-eval",
                      "{ok, Names} = net_adm:names(), io:format(\"names ~p~n\", [Names]), "
                      "timer:sleep(30000), erlang:halt(0)."},
                     process_options().env({"ERL_EPMD_PORT=" + std::to_string(o.port)}));
  BOOST_REQUIRE_MESSAGE(log.wait_for("registered 'beam'", 30s), log.all() << node.output());
  const auto listed = node.wait_output("}]", 30s);
  BOOST_REQUIRE_MESSAGE(listed, "erl printed no names: " << node.output());
  BOOST_TEST(listed->find("{\"ours\",4501}") != std::string::npos, *listed);
  BOOST_TEST(listed->find("{\"beam\",") != std::string::npos, *listed);
  const auto p = port_please(io.executor(), o.port, "beam");
  BOOST_REQUIRE_MESSAGE(p, p.error().message());
  BOOST_TEST(*p != 0);
  node.stop();
  ours->stop();
}

BOOST_AUTO_TEST_SUITE_END()

// tests/net/erl_child.hpp: a real Erlang node (Debian erlang-base) as a child process of a test,
// shared by the tests that talk to one (erl_interop.cpp, connection.cpp, tests/etf/interop.cpp,
// tests/dist/beam.cpp, tests/dist/tls.cpp) and benchmarks/beam_calls.cpp: erl_process, a
// child_process of the test support library (tests/common/process.hpp) with the stdin erl reads,
// and the Erlang programs those tests give it.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "../common/ports.hpp"
#include "../common/process.hpp"
#include "../common/programs.hpp"
#include "../common/wait.hpp"

namespace erl_test {

using clock_type = nodus::test::clock_type;
using nodus::test::erl_installed;
using nodus::test::free_port;
using nodus::test::step_timeout;
using namespace std::chrono_literals;

// An erl (or any program that reads its stdin) in its own process group, stdin and
// stdout+stderr piped to us. stop() and the destructor close its stdin (erl halts at the end of
// its input), wait up to 3 s for it to exit, then kill its group (erl_child_setup too) and reap
// it.
class erl_process : public nodus::test::child_process {
 public:
  explicit erl_process(const std::vector<std::string>& argv)
      : child_process(argv, nodus::test::process_options().stdin_pipe().stop_grace(3s)) {}
};

// The program erl evaluates (-eval): report node up/down, obey "connect NODE" and "send NODE SIZE"
// ({big, Binary of SIZE sevens} to sink on NODE) on stdin.
inline constexpr const char* erl_program = R"erl(
Parent = self(),
spawn(fun() ->
  ok = net_kernel:monitor_nodes(true),
  Parent ! monitoring,
  W = fun W() ->
    receive
      {nodeup, N} -> io:format("nodeup ~s~n", [N]);
      {nodedown, N} -> io:format("nodedown ~s~n", [N])
    end,
    W()
  end,
  W()
end),
receive monitoring -> ok after 5000 -> erlang:halt(2) end,
{ok, _} = timer:apply_after(60000, erlang, halt, [3]),
io:format("ready ~s ~s~n", [node(), erlang:system_info(otp_release)]),
L = fun L() ->
  case io:get_line("") of
    eof -> erlang:halt(0);
    {error, _} -> erlang:halt(0);
    Line ->
      case string:lexemes(Line, " \n") of
        ["connect", N] ->
          io:format("connect ~s ~p~n", [N, net_kernel:connect_node(list_to_atom(N))]);
        ["send", N, Size] ->
          {sink, list_to_atom(N)} ! {big, binary:copy(<<7>>, list_to_integer(Size))},
          io:format("sent~n");
        _ -> io:format("unknown command ~s", [Line])
      end,
      L()
  end
end,
L().
)erl";

// eval_program(halt_after_ms): an `erl -eval` program that prints "ready NODE", then evaluates
// one Erlang expression per line of its stdin and prints "result {ok, Value}" (or
// "result {Class, Reason}") for each, with ~w; it halts at the end of its input, and after
// halt_after_ms in any case.
inline std::string eval_program(long halt_after_ms) {
  return R"erl(
io:format("ready ~s~n", [node()]),
{ok, _} = timer:apply_after()erl" +
         std::to_string(halt_after_ms) + R"erl(, erlang, halt, [3]),
L = fun L() ->
  case io:get_line("") of
    eof -> erlang:halt(0);
    {error, _} -> erlang:halt(0);
    Line ->
      R = try
            {ok, Toks, _} = erl_scan:string(Line),
            {ok, Exprs} = erl_parse:parse_exprs(Toks),
            {value, V, _} = erl_eval:exprs(Exprs, []),
            {ok, V}
          catch C:E -> {C, E}
          end,
      io:format("result ~w~n", [R]),
      L()
  end
end,
L().
)erl";
}

// eval(erl, expression, timeout) -> what an eval_program printed for expression, after "result ";
// nothing when it printed nothing within timeout.
inline std::optional<std::string> eval(erl_process& erl, const std::string& expression,
                                       clock_type::duration timeout) {
  if (!erl.write_line(expression)) return std::nullopt;
  const auto deadline = clock_type::now() + timeout;
  while (clock_type::now() < deadline) {
    auto line = erl.next_line(deadline - clock_type::now());
    if (!line) break;
    if (line->rfind("result ", 0) == 0) return line->substr(7);
  }
  return std::nullopt;
}

}  // namespace erl_test

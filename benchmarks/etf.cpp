// Benchmark: nodus' Erlang external term format codec (nodus/codec/etf) next to Erlang's own
// binary_to_term / term_to_binary, timed inside erl, over the same bytes, in the same run.
//
//   etf                  full run: 5 interleaved repetitions, each figure about 150 ms (~1 min)
//   etf --quick          one short pass of everything (a few seconds; --smoke is the same)
//   etf --reps N         repetitions (median shown)
//   etf --only TEXT      only the terms whose name contains TEXT ("list", "binary", "call")
//
// The corpus is a fixed list of terms that matter for distribution traffic, encoded by erl at
// start-up with term_to_binary(T, [{minor_version, 2}]) (UTF-8 atoms: what OTP 26 and later write
// by default and what a node sends a peer that takes UTF-8 atoms): the walkthrough's
// gen_server:call, {'$gen_call', {Pid, [alias|Ref]}, ping}, and its reply,
// {[alias|Ref], {ok, 'n1@127.0.0.1', pong}} (Pid and Ref of node n2@127.0.0.1, made with
// binary_to_term as that node would send them), an atom, binaries of 32 B, 1 KiB and 1 MiB, the
// list 1..1000, a map of 100 atom keys to integers, a nested record-like tuple (binaries, floats,
// a list of tuples), a charlist and a bignum. The Erlang module below (erlang_module) builds them;
// corpus_names and nodus_corpus() follow it term by term.
//
// Per term:
//   nodus decode       etf::decode(bytes) -> etf::term (the result destroyed in the loop)
//   nodus encode       etf::encode(term, out) into one buffer, cleared and reused (a send path)
//   nodus encode, new  etf::encode(term) -> a new std::vector each time (term_to_binary returns a
//                      new binary each time), in a second table
//   erl binary_to_term, erl term_to_binary(T, [{minor_version, 2}])
//       in a compiled Erlang module, a tail-recursive loop of N calls timed with
//       erlang:monotonic_time(nanosecond), in a process spawned for the measurement (defaults:
//       its garbage collections are part of the cost, as the frees are on the nodus side)
// and for the call and its reply the typed path too: etf::decode<T>(bytes) and
// etf::encode(const T&, out) with C++ structs mirroring them (the [alias|Ref] tag, an improper
// list, is an etf::term member: the typed mapping has no improper lists).
//
// Iteration counts: each figure's N is chosen once (the first repetition: doubling N until a run
// takes a tenth of the target, then scaled to the target, 150 ms; --quick: 10 ms), in erl for
// erl's figures; every timed run is preceded by a warm-up of N/10 + 1 calls. Repetitions are
// interleaved (nodus decode, erl binary_to_term, nodus encode, erl term_to_binary, ... for every
// term, then again) so that drift hits both sides alike; the table shows medians, the lines
// after it the spread. Ratios are nodus time / erl time: below 1, nodus is faster.
//
// erl runs as one child process (`erl -noshell`, its own process group), reading commands on
// stdin and answering one line each; the module is compiled from the text below by
// compile:forms at start-up (no file is written). Every wait for erl is bounded (erl_timeout);
// erl halts when its stdin closes or after 2 minutes without a command, and the driver kills its
// process group at the end and on SIGINT / SIGTERM / SIGHUP. Without erl on PATH the corpus is
// encoded by nodus from the same terms built in C++ (the map's order then differs from a BEAM
// node's), the nodus figures are printed and the baseline is said to be absent (exit status 0).
//
// Figures hold for this machine and this run only: compare the ratios, not absolute times.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <nodus/codec/etf.hpp>

namespace etf = nodus::etf;

// The walkthrough's call and reply as C++ types (typed rows).
namespace bench {

struct ping {  // ping
  static constexpr nodus::fixed_string etf_tag = "ping";
};

struct call_from {  // {Pid, [alias|Ref]}: the caller and the reply tag, an improper list
  BOOST_HANA_DEFINE_STRUCT(call_from, (etf::pid, pid), (etf::term, tag));
};

struct gen_call {  // {'$gen_call', {Pid, [alias|Ref]}, ping}
  static constexpr nodus::fixed_string etf_tag = "$gen_call";
  BOOST_HANA_DEFINE_STRUCT(gen_call, (call_from, from), (ping, request));
};

struct pong {  // {ok, 'n1@127.0.0.1', pong}
  static constexpr nodus::fixed_string etf_tag = "ok";
  BOOST_HANA_DEFINE_STRUCT(pong, (nodus::node_name, node), (etf::atom_constant<"pong">, answer));
};

struct gen_reply {  // {[alias|Ref], {ok, 'n1@127.0.0.1', pong}}
  BOOST_HANA_DEFINE_STRUCT(gen_reply, (etf::term, tag), (pong, reply));
};

}  // namespace bench

namespace {

using bench_clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// ---- settings ---------------------------------------------------------------------------------

struct settings {
  int reps = 5;                       // interleaved repetitions of every figure
  double target_ns = 150e6;           // what one timed run of a figure should take
  std::chrono::seconds erl_wait{60};  // bound of every wait for erl (start-up, one answer)
};

settings quick_settings() {
  settings s;
  s.reps = 1;
  s.target_ns = 10e6;
  return s;
}

double elapsed_ns(bench_clock::time_point a, bench_clock::time_point b) {
  return std::chrono::duration<double, std::nano>(b - a).count();
}

std::string program_name = "etf";

// The erl child's process group (0: none), for the signal handler and fail().
volatile std::sig_atomic_t erl_group = 0;

extern "C" void on_fatal_signal(int sig) {
  if (erl_group > 0) ::kill(-static_cast<pid_t>(erl_group), SIGKILL);
  ::_exit(128 + sig);
}

[[noreturn]] void fail(std::string_view what) {
  std::fprintf(stderr, "%s: %.*s\n", program_name.c_str(), static_cast<int>(what.size()),
               what.data());
  if (erl_group > 0) ::kill(-static_cast<pid_t>(erl_group), SIGKILL);
  std::exit(1);
}

// keep(v): the optimiser must assume v is read, so the work that made it stays.
template <class T>
inline void keep(T& v) {
  asm volatile("" : : "r"(&v) : "memory");
}

// ---- the corpus -------------------------------------------------------------------------------

// The Erlang side: builds the corpus, prints it, times binary_to_term and term_to_binary.
// Commands on stdin, one answer line each:
//   corpus            -> "term I HEX" for I = 1..count (term_to_binary, minor_version 2), then
//                        "corpus done COUNT"
//   time KIND I N T   -> "time KIND I N NS": N calls (N = 0: chosen so that they take about T ns)
//                        of binary_to_term on term I's encoding (KIND b2t) or term_to_binary of
//                        term I (KIND t2b), after a warm-up of N div 10 + 1 calls; NS in total
// No macros: the text is parsed with erl_parse, without the preprocessor.
constexpr const char* erlang_module = R"erl(
%% etf_bench_peer: the Erlang side of nodus' benchmarks/etf.cpp, compiled by it at start-up from
%% its text (edit it there).
-module(etf_bench_peer).
-export([main/0]).

main() ->
    ok = io:setopts(standard_io, [binary]),
    Guard = spawn_link(fun guard/0),
    Corpus = list_to_tuple(corpus()),
    io:format("ready ~s ~s ~b~n", [erlang:system_info(otp_release),
                                   erlang:system_info(emu_flavor),
                                   erlang:system_info(schedulers_online)]),
    loop(Corpus, Guard).

%% Halts the node after 2 minutes without a command (the driver is gone).
guard() ->
    receive
        alive -> guard()
    after 120000 ->
        io:format("guard: no command for 120 s, halting~n"),
        erlang:halt(3)
    end.

%% The terms, in the order of corpus_names in etf.cpp. Pid and Ref belong to the calling node,
%% n2@127.0.0.1, as it would send them (binary_to_term of their external form).
corpus() ->
    Caller = <<"n2@127.0.0.1">>,
    Node = <<119, (byte_size(Caller)), Caller/binary>>,
    Creation = 16#6614A3B1,
    Pid = binary_to_term(<<131, 88, Node/binary, 91:32, 0:32, Creation:32>>),
    Ref = binary_to_term(<<131, 90, 3:16, Node/binary, Creation:32,
                           16#0003BFF2:32, 16#D1B50002:32, 16#DFB309F3:32>>),
    Tag = [alias | Ref],
    Bytes = list_to_binary(lists:seq(0, 255)),
    [{'$gen_call', {Pid, Tag}, ping},
     {Tag, {ok, 'n1@127.0.0.1', pong}},
     pong,
     binary:copy(<<"0123456789abcdef">>, 2),
     binary:copy(Bytes, 4),
     binary:copy(Bytes, 4096),
     lists:seq(1, 1000),
     maps:from_list([{list_to_atom("key" ++ integer_to_list(I)), I} || I <- lists:seq(1, 100)]),
     {order, 1042, <<"Ada Lovelace">>, {geo, 51.5072, -0.1276},
      [{item, <<"widget">>, 3, 9.99}, {item, <<"gadget">>, 1, 24.5}], true},
     "the quick brown fox jumps over the lazy dog",
     (1 bsl 256) - 189].

t2b(T) -> term_to_binary(T, [{minor_version, 2}]).

loop(Corpus, Guard) ->
    Guard ! alive,
    case io:get_line("") of
        eof -> erlang:halt(0);
        {error, _} -> erlang:halt(0);
        Line ->
            case binary:split(string:trim(Line), <<" ">>, [global]) of
                [<<"corpus">>] ->
                    Terms = tuple_to_list(Corpus),
                    _ = [io:format("term ~b ~s~n", [I, binary:encode_hex(t2b(T))])
                         || {I, T} <- lists:zip(lists:seq(1, length(Terms)), Terms)],
                    io:format("corpus done ~b~n", [length(Terms)]);
                [<<"time">>, Kind, I, N, Target] ->
                    T = element(binary_to_integer(I), Corpus),
                    {N1, Ns} = measure(Kind, T, binary_to_integer(N), binary_to_integer(Target)),
                    io:format("time ~s ~s ~b ~b~n", [Kind, I, N1, Ns]);
                _ ->
                    io:format("unknown ~s~n", [Line])
            end,
            loop(Corpus, Guard)
    end.

%% measure(Kind, T, N, Target) -> {N, Ns}, in a process of its own with default settings.
measure(Kind, T, N0, Target) ->
    Parent = self(),
    {Pid, Mref} = spawn_monitor(
        fun() ->
            Run = case Kind of
                      <<"b2t">> -> B = t2b(T), fun(K) -> time_b2t(B, K) end;
                      <<"t2b">> -> fun(K) -> time_t2b(T, K) end
                  end,
            N = case N0 of
                    0 -> calibrate(Run, 1, Target);
                    _ -> N0
                end,
            _ = Run(N div 10 + 1),
            Parent ! {self(), N, Run(N)}
        end),
    receive
        {Pid, N, Ns} -> erlang:demonitor(Mref, [flush]), {N, Ns};
        {'DOWN', Mref, process, Pid, Why} -> exit(Why)
    end.

%% calibrate(Run, N, Target) -> the N for which Run(N) takes about Target ns.
calibrate(Run, N, Target) ->
    Ns = Run(N),
    if
        Ns >= Target div 10; N >= 1 bsl 40 -> max(1, (N * Target) div max(Ns, 1));
        Ns < Target div 1000 -> calibrate(Run, N * 16, Target);
        true -> calibrate(Run, N * 2, Target)
    end.

now_ns() -> erlang:monotonic_time(nanosecond).

time_b2t(B, N) ->
    T0 = now_ns(),
    _ = b2t(B, N, []),
    now_ns() - T0.

b2t(_B, 0, Last) -> Last;
b2t(B, N, _) -> b2t(B, N - 1, binary_to_term(B)).

time_t2b(T, N) ->
    T0 = now_ns(),
    _ = t2b(T, N, <<>>),
    now_ns() - T0.

t2b(_T, 0, Last) -> Last;
t2b(T, N, _) -> t2b(T, N - 1, term_to_binary(T, [{minor_version, 2}])).
)erl";

// The terms' names, in the order of the Erlang corpus() above.
constexpr std::array<const char*, 11> corpus_names = {"call",
                                                      "reply",
                                                      "atom pong",
                                                      "binary 32 B",
                                                      "binary 1 KiB",
                                                      "binary 1 MiB",
                                                      "list 1..1000",
                                                      "map, 100 atom keys",
                                                      "record-like tuple",
                                                      "charlist, 43",
                                                      "bignum 2^256-189"};
constexpr std::size_t call_index = 0;
constexpr std::size_t reply_index = 1;

// nodus_corpus() -> the corpus built in C++, the same terms as the Erlang corpus() (used when erl
// is absent, and checked against erl's bytes when it is there).
std::vector<etf::term> nodus_corpus() {
  using etf::term;
  const auto a = [](std::string_view name) { return term(etf::atom(name)); };
  const etf::atom caller("n2@127.0.0.1");
  constexpr std::uint32_t creation = 0x6614A3B1;
  const term pid = etf::pid{caller, 91, 0, creation};
  const term ref = etf::reference{caller, creation, 3, {0x0003BFF2, 0xD1B50002, 0xDFB309F3}};
  const term tag = term::list({a("alias")}, ref);
  std::vector<std::byte> bytes256(256);
  for (std::size_t i = 0; i < 256; ++i) bytes256[i] = static_cast<std::byte>(i);
  const auto copies = [&](std::size_t n) {
    std::vector<std::byte> out;
    for (std::size_t i = 0; i < n; ++i) out.insert(out.end(), bytes256.begin(), bytes256.end());
    return term::binary(std::move(out));
  };
  std::vector<term> seq;
  for (int i = 1; i <= 1000; ++i) seq.emplace_back(i);
  std::vector<etf::map_entry> keys;
  for (int i = 1; i <= 100; ++i) keys.push_back({a("key" + std::to_string(i)), i});
  std::vector<term> chars;
  for (const char c : std::string_view("the quick brown fox jumps over the lazy dog")) {
    chars.emplace_back(static_cast<int>(c));
  }
  etf::big_integer big{false, std::vector<std::uint8_t>(32, 0xFF)};
  big.magnitude[0] = 0x43;  // 2^256 - 189, least significant byte first
  return {
      term::tuple({a("$gen_call"), term::tuple({pid, tag}), a("ping")}),
      term::tuple({tag, term::tuple({a("ok"), a("n1@127.0.0.1"), a("pong")})}),
      a("pong"),
      term::binary("0123456789abcdef0123456789abcdef"),
      copies(4),
      copies(4096),
      term::list(std::move(seq)),
      term::map(std::move(keys)),
      term::tuple({a("order"), 1042, term::binary("Ada Lovelace"),
                   term::tuple({a("geo"), 51.5072, -0.1276}),
                   term::list({term::tuple({a("item"), term::binary("widget"), 3, 9.99}),
                               term::tuple({a("item"), term::binary("gadget"), 1, 24.5})}),
                   a("true")}),
      term::list(std::move(chars)),
      term(std::move(big)),
  };
}

// ---- erl as a child process -------------------------------------------------------------------

// erl_on_path() -> an executable `erl` is on PATH.
bool erl_on_path() {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  std::string_view rest(path);
  while (!rest.empty()) {
    const auto colon = rest.find(':');
    const std::string dir(rest.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
    if (!dir.empty() && ::access((dir + "/erl").c_str(), X_OK) == 0) return true;
  }
  return false;
}

std::string to_hex(std::string_view s) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * s.size());
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    out += digits[u >> 4];
    out += digits[u & 15];
  }
  return out;
}

std::optional<std::vector<std::byte>> from_hex(std::string_view hex) {
  const auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return std::nullopt;
  std::vector<std::byte> out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = digit(hex[2 * i]);
    const int lo = digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<std::byte>(hi * 16 + lo);
  }
  return out;
}

// The -eval program: compiles erlang_module (given as hex, so that no quoting is needed) with
// compile:forms, loads it and runs etf_bench_peer:main(); any error is printed and halts erl.
std::string erl_eval() {
  return "try "
         "  Src = binary_to_list(binary:decode_hex(<<\"" +
         to_hex(erlang_module) +
         "\">>)), "
         "  {ok, Toks, _} = erl_scan:string(Src), "
         "  Split = fun S([], [], Acc) -> lists:reverse(Acc); "
         "              S([{dot, _} = D | T], Cur, Acc) -> S(T, [], [lists:reverse([D | Cur]) | "
         "Acc]); "
         "              S([Tok | T], Cur, Acc) -> S(T, [Tok | Cur], Acc) end, "
         "  Forms = [begin {ok, F} = erl_parse:parse_form(Ts), F end || Ts <- Split(Toks, [], "
         "[])], "
         "  {ok, Mod, Bin} = compile:forms(Forms, [return_errors]), "
         "  {module, Mod} = code:load_binary(Mod, \"etf_bench_peer.erl\", Bin), "
         "  Mod:main() "
         "catch C:E:S -> io:format(\"error ~p:~p ~p~n\", [C, E, S]), erlang:halt(2) end.";
}

// erl -noshell in its own process group, stdin and stdout + stderr piped to us. The destructor
// closes its stdin (erl halts at end of input), waits a little, kills its group and reaps it.
class erl_child {
 public:
  erl_child() {
    int in[2];
    int out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) {
      fail("pipe2: " + std::string(std::strerror(errno)));
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, out[1], 2);
    // Our fatal signals stay blocked until erl_group is set; erl starts with them unblocked.
    sigset_t fatal, before, pipe_only;
    sigemptyset(&fatal);
    for (const int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&fatal, sig);
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    ::sigprocmask(SIG_BLOCK, &fatal, &before);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &before);
    posix_spawnattr_setsigdefault(&attr, &pipe_only);
    // No crash dump file (erl_crash.dump in the working directory) if erl fails.
    const std::vector<std::string> argv = {"erl", "-noshell", "-env",    "ERL_CRASH_DUMP_BYTES",
                                           "0",   "-eval",    erl_eval()};
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int rc = ::posix_spawnp(&pid_, "erl", &actions, &attr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    ::close(in[0]);
    ::close(out[1]);
    in_ = in[1];
    out_ = out[0];
    if (rc != 0) {
      ::sigprocmask(SIG_SETMASK, &before, nullptr);
      pid_ = -1;
      fail("cannot start erl: " + std::string(std::strerror(rc)));
    }
    erl_group = pid_;
    ::sigprocmask(SIG_SETMASK, &before, nullptr);
    ::fcntl(out_, F_SETFL, ::fcntl(out_, F_GETFL) | O_NONBLOCK);
  }
  erl_child(const erl_child&) = delete;
  erl_child& operator=(const erl_child&) = delete;
  ~erl_child() { stop(); }

  // send(line) -> false when erl no longer reads.
  bool send(std::string line) {
    line += '\n';
    std::size_t put = 0;
    while (in_ >= 0 && put < line.size()) {
      const ssize_t n = ::write(in_, line.data() + put, line.size() - put);
      if (n > 0) {
        put += static_cast<std::size_t>(n);
      } else if (n < 0 && errno != EINTR) {
        return false;
      }
    }
    return put == line.size();
  }

  // next_line(deadline) -> the next line erl prints; nullopt when the deadline passes or erl
  // closes its output first.
  std::optional<std::string> next_line(bench_clock::time_point deadline) {
    for (;;) {
      const auto nl = partial_.find('\n', scanned_);
      if (nl != std::string::npos) {
        std::string line = partial_.substr(0, nl);
        partial_.erase(0, nl + 1);
        scanned_ = 0;
        lines_.push_back(line.size() > 300 ? line.substr(0, 300) + "..." : line);
        return line;
      }
      scanned_ = partial_.size();
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - bench_clock::now());
      if (left.count() <= 0 || out_ < 0) return std::nullopt;
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count()) + 1) < 0 && errno != EINTR) {
        return std::nullopt;
      }
      read_available();
    }
  }

  // transcript() -> the last lines erl printed (each cut at 300 characters), for failures.
  [[nodiscard]] std::string transcript() {
    read_available();
    std::string t;
    const std::size_t from = lines_.size() > 20 ? lines_.size() - 20 : 0;
    for (std::size_t i = from; i < lines_.size(); ++i) t += "  | " + lines_[i] + "\n";
    if (!partial_.empty()) t += "  | " + partial_.substr(0, 300) + "\n";
    return t.empty() ? "  (no output)\n" : t;
  }

  void stop() {
    if (in_ >= 0) {
      ::close(in_);
      in_ = -1;
    }
    if (pid_ > 0) {
      // Not reaped before the kill: while the leader is a zombie its group id cannot be reused,
      // so the kill reaches only processes we started.
      const auto deadline = bench_clock::now() + 2s;
      for (;;) {
        siginfo_t info{};
        if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
            info.si_pid != 0 || bench_clock::now() >= deadline) {
          break;
        }
        ::usleep(10'000);
      }
      ::kill(-pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      erl_group = 0;
      pid_ = -1;
    }
    if (out_ >= 0) {
      ::close(out_);
      out_ = -1;
    }
  }

 private:
  void read_available() {
    char buf[65536];
    while (out_ >= 0) {
      const ssize_t n = ::read(out_, buf, sizeof buf);
      if (n > 0) {
        partial_.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0) {
        ::close(out_);
        out_ = -1;
      }
      break;
    }
  }

  pid_t pid_ = -1;
  int in_ = -1;
  int out_ = -1;
  std::string partial_;             // output not yet returned as a line
  std::size_t scanned_ = 0;         // partial_ holds no newline before this
  std::vector<std::string> lines_;  // every line returned, cut, for transcript()
};

// The erl session: the child, what it said when ready, and whether it still answers.
struct erl_session {
  erl_child child;
  std::string otp, flavor, schedulers;
  std::chrono::seconds wait{60};
  bool broken = false;

  // answer(prefix) -> the next line, which must start with prefix; nullopt (reported, the session
  // marked broken) otherwise.
  std::optional<std::string> answer(std::string_view prefix, std::string_view what) {
    const auto line = child.next_line(bench_clock::now() + wait);
    if (line && line->compare(0, prefix.size(), prefix) == 0) return line;
    std::fprintf(stderr, "%s: erl: %.*s: %s; erl printed:\n%s", program_name.c_str(),
                 static_cast<int>(what.size()), what.data(),
                 line ? ("unexpected answer '" + line->substr(0, 200) + "'").c_str()
                      : ("no answer within " + std::to_string(wait.count()) + " s").c_str(),
                 child.transcript().c_str());
    broken = true;
    return std::nullopt;
  }
};

// ---- measuring --------------------------------------------------------------------------------

struct stats {
  std::vector<double> v;
  [[nodiscard]] bool empty() const { return v.empty(); }
  [[nodiscard]] double median() const {
    auto s = v;
    std::sort(s.begin(), s.end());
    const auto n = s.size();
    return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  }
  [[nodiscard]] double min() const { return *std::min_element(v.begin(), v.end()); }
  [[nodiscard]] double max() const { return *std::max_element(v.begin(), v.end()); }
};

// One figure: run(n) times n operations (n = 0: chooses n first) and returns {n, total ns};
// nullopt when it failed. The n chosen in the first repetition is kept for the others.
struct figure {
  std::function<std::optional<std::pair<long, double>>(long)> run;
  long n = 0;
  stats ns_per_op;
};

// nodus_figure(op, target_ns) -> a figure for op(), one operation: n chosen by doubling until a
// run takes a tenth of the target, then scaled to it; a warm-up of n/10 + 1 before each run.
template <class Op>
figure nodus_figure(Op op, double target_ns) {
  figure f;
  f.run = [op, target_ns](long n) mutable -> std::optional<std::pair<long, double>> {
    const auto timed = [&op](long k) {
      const auto t0 = bench_clock::now();
      for (long i = 0; i < k; ++i) op();
      return elapsed_ns(t0, bench_clock::now());
    };
    if (n == 0) {
      for (n = 1;;) {
        const double ns = timed(n);
        if (ns >= target_ns / 10 || n >= (1L << 40)) {
          n = std::max(1L, static_cast<long>(static_cast<double>(n) * target_ns / ns));
          break;
        }
        n *= ns < target_ns / 1000 ? 16 : 2;
      }
    }
    timed(n / 10 + 1);
    return std::pair{n, timed(n)};
  };
  return f;
}

// erl_figure(erl, kind, index, target_ns) -> a figure timed in erl: kind "b2t" or "t2b" of the
// corpus term index (0-based here, 1-based in erl).
figure erl_figure(erl_session& erl, const char* kind, std::size_t index, double target_ns) {
  figure f;
  f.run = [&erl, kind, index, target_ns](long n) -> std::optional<std::pair<long, double>> {
    if (erl.broken) return std::nullopt;
    const std::string i = std::to_string(index + 1);
    const std::string what = std::string("time ") + kind + " " + i;
    if (!erl.child.send(what + " " + std::to_string(n) + " " +
                        std::to_string(static_cast<long long>(target_ns)))) {
      std::fprintf(stderr, "%s: erl no longer reads its commands\n%s", program_name.c_str(),
                   erl.child.transcript().c_str());
      erl.broken = true;
      return std::nullopt;
    }
    const auto line = erl.answer(what + " ", what);
    if (!line) return std::nullopt;
    long long got_n = 0;
    double ns = 0;
    if (std::sscanf(line->c_str() + what.size(), " %lld %lf", &got_n, &ns) != 2 || got_n <= 0 ||
        ns <= 0) {
      std::fprintf(stderr, "%s: erl: bad answer '%s'\n", program_name.c_str(), line->c_str());
      erl.broken = true;
      return std::nullopt;
    }
    return std::pair{static_cast<long>(got_n), ns};
  };
  return f;
}

// ---- output -----------------------------------------------------------------------------------

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// time_text(ns): 3 significant digits, "84.2 ns", "1.25 us", "312 us", "1.04 ms".
std::string time_text(double ns) {
  const auto three = [](double v, const char* unit) {
    return fixed(v, v >= 100 ? 0 : v >= 10 ? 1 : 2) + " " + unit;
  };
  if (ns < 1e3) return three(ns, "ns");
  if (ns < 1e6) return three(ns / 1e3, "us");
  return three(ns / 1e6, "ms");
}

std::string cell(const stats& s) { return s.empty() ? "n/a" : time_text(s.median()); }

std::string ratio(const stats& a, const stats& b) {
  if (a.empty() || b.empty()) return "n/a";
  const double r = a.median() / b.median();
  return fixed(r, r >= 10 ? 1 : 2) + "x";
}

std::string size_text(std::size_t n) {
  if (n >= 1 << 20) return fixed(static_cast<double>(n) / (1 << 20), 2) + " MiB";
  if (n >= 10 * 1024) return fixed(static_cast<double>(n) / 1024, 1) + " KiB";
  return std::to_string(n) + " B";
}

std::string load_average() {
  std::string out = "?";
  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
    double a = 0, b = 0, c = 0;
    if (std::fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3) {
      out = fixed(a, 2) + " " + fixed(b, 2) + " " + fixed(c, 2);
    }
    std::fclose(f);
  }
  return out;
}

// print_table(rows, text_columns): rows[0] is the head; the first text_columns columns are text
// (left-aligned), the others figures (right-aligned).
void print_table(const std::vector<std::vector<std::string>>& rows, std::size_t text_columns = 1) {
  std::vector<std::size_t> w(rows.at(0).size(), 0);
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], r[i].size());
  }
  auto line = [&](const std::vector<std::string>& r) {
    std::string out;
    for (std::size_t i = 0; i < r.size(); ++i) {
      const std::string pad(w[i] - r[i].size(), ' ');
      out += i < text_columns ? r[i] + pad : pad + r[i];
      if (i + 1 < r.size()) out += "  ";
    }
    std::printf("%s\n", out.c_str());
  };
  line(rows[0]);
  std::string rule;
  for (std::size_t i = 0; i < w.size(); ++i) {
    rule += std::string(w[i], '-') + (i + 1 < w.size() ? "  " : "");
  }
  std::printf("%s\n", rule.c_str());
  for (std::size_t i = 1; i < rows.size(); ++i) line(rows[i]);
}

[[noreturn]] void usage() {
  std::fprintf(stderr, "usage: %s [--quick | --smoke] [--reps N] [--only TEXT]\n",
               program_name.c_str());
  std::exit(2);
}

// One term of the corpus and its figures.
struct entry {
  std::string name;
  std::vector<std::byte> bytes;  // erl's term_to_binary (nodus' encoding without erl)
  etf::term value;               // bytes decoded
  figure decode, encode, encode_new, erl_b2t, erl_t2b;
  std::optional<figure> typed_decode, typed_encode;  // the call and the reply
  bool re_encodes = false;                           // encode(decode(bytes)) == bytes
  bool typed_re_encodes = false;
};

// typed_figures(e, target_ns): etf::decode<T>(e.bytes) and etf::encode(const T&, out) of the
// value it gives (into a reused buffer, as the term rows).
template <class T>
void typed_figures(entry& e, double target_ns) {
  auto v = etf::decode<T>(e.bytes);
  if (!v) fail("decode<" + std::string(nodus::type_name<T>()) + ">: " + v.error().message());
  const T value = std::move(*v);
  std::vector<std::byte> again;
  if (!etf::encode(value, again)) fail("typed encode of " + e.name);
  e.typed_re_encodes = again == e.bytes;
  const std::span<const std::byte> bytes = e.bytes;
  e.typed_decode = nodus_figure(
      [bytes] {
        auto r = etf::decode<T>(bytes);
        if (!r) fail("decode<T>: " + r.error().message());
        keep(r);
      },
      target_ns);
  e.typed_encode = nodus_figure(
      [value, out = std::vector<std::byte>()]() mutable {
        out.clear();
        if (!etf::encode(value, out)) fail("typed encode failed");
        keep(out);
      },
      target_ns);
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  settings s;
  std::string only;  // measure only the terms whose name contains it
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--quick" || a == "--smoke") {
      const int reps = s.reps;
      s = quick_settings();
      if (reps != settings{}.reps) s.reps = reps;  // --reps before --quick stays
    } else if (a == "--reps" && i + 1 < argc) {
      char* end = nullptr;
      const long r = std::strtol(argv[i + 1], &end, 10);
      if (end == argv[i + 1] || *end != '\0' || r < 1 || r > 1000) usage();
      s.reps = static_cast<int>(r);
      ++i;
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else {
      usage();
    }
  }
  for (const int sig : {SIGINT, SIGTERM, SIGHUP}) ::signal(sig, on_fatal_signal);
  const std::string load_before = load_average();
  const auto started = bench_clock::now();

  // The corpus: from erl when it is there, else encoded by nodus.
  const std::vector<etf::term> built = nodus_corpus();
  std::optional<erl_session> erl;
  std::string erl_note;
  int failures = 0;
  std::vector<std::vector<std::byte>> encodings;
  if (erl_on_path()) {
    erl.emplace();
    erl->wait = s.erl_wait;
    if (const auto ready = erl->answer("ready ", "start-up")) {
      char otp[32] = {}, flavor[32] = {}, sched[32] = {};
      if (std::sscanf(ready->c_str(), "ready %31s %31s %31s", otp, flavor, sched) == 3) {
        erl->otp = otp;
        erl->flavor = flavor;
        erl->schedulers = sched;
      }
    }
    if (!erl->broken && !erl->child.send("corpus")) erl->broken = true;
    for (std::size_t i = 0; !erl->broken && i < corpus_names.size(); ++i) {
      const std::string prefix = "term " + std::to_string(i + 1) + " ";
      const auto line = erl->answer(prefix, "corpus");
      if (!line) break;
      auto b = from_hex(std::string_view(*line).substr(prefix.size()));
      if (!b) fail("erl sent term " + std::to_string(i + 1) + " as bad hex");
      encodings.push_back(std::move(*b));
    }
    if (!erl->broken) {
      erl->answer("corpus done " + std::to_string(corpus_names.size()), "end of the corpus");
    }
    if (erl->broken) {
      erl_note = "erl did not start or did not send the corpus (see above): baseline absent";
      ++failures;
      encodings.clear();
      erl->child.stop();
    }
  } else {
    erl_note = "erl is not on PATH (Debian: apt-get install erlang-base): baseline absent";
  }
  const bool from_erl = !encodings.empty();
  if (!from_erl) {
    for (const etf::term& t : built) {
      auto b = etf::encode(t);
      if (!b) fail("encode: " + b.error().message());
      encodings.push_back(std::move(*b));
    }
  }

  std::vector<entry> entries(corpus_names.size());
  std::vector<std::string> mismatches;  // terms where erl's and the C++ corpus differ
  for (std::size_t i = 0; i < entries.size(); ++i) {
    entry& e = entries[i];
    e.name = corpus_names[i];
    e.bytes = std::move(encodings[i]);
    auto t = etf::decode(e.bytes);
    if (!t) fail(e.name + ": " + t.error().message());
    e.value = std::move(*t);
    if (!(e.value == built[i])) mismatches.push_back(e.name);
    e.re_encodes = etf::encode(e.value).value_or(std::vector<std::byte>{}) == e.bytes;
    const std::span<const std::byte> bytes = e.bytes;
    e.decode = nodus_figure(
        [bytes] {
          auto r = etf::decode(bytes);
          if (!r) fail("decode: " + r.error().message());
          keep(r);
        },
        s.target_ns);
    const etf::term* value = &e.value;
    e.encode = nodus_figure(
        [value, out = std::vector<std::byte>()]() mutable {
          out.clear();
          if (!etf::encode(*value, out)) fail("encode failed");
          keep(out);
        },
        s.target_ns);
    e.encode_new = nodus_figure(
        [value] {
          auto r = etf::encode(*value);
          if (!r) fail("encode failed");
          keep(r);
        },
        s.target_ns);
    if (from_erl) {
      e.erl_b2t = erl_figure(*erl, "b2t", i, s.target_ns);
      e.erl_t2b = erl_figure(*erl, "t2b", i, s.target_ns);
    }
  }
  typed_figures<bench::gen_call>(entries[call_index], s.target_ns);
  typed_figures<bench::gen_reply>(entries[reply_index], s.target_ns);

  // Repetitions outermost, then terms, nodus and erl alternating.
  auto measure = [&](figure& f) {
    if (!f.run) return;
    const auto r = f.run(f.n);
    if (!r) {
      ++failures;
      return;
    }
    f.n = r->first;
    f.ns_per_op.v.push_back(r->second / static_cast<double>(r->first));
  };
  for (int rep = 0; rep < s.reps; ++rep) {
    for (entry& e : entries) {
      if (e.name.find(only) == std::string::npos) continue;
      measure(e.decode);
      measure(e.erl_b2t);
      if (e.typed_decode) measure(*e.typed_decode);
      measure(e.encode);
      measure(e.erl_t2b);
      if (e.typed_encode) measure(*e.typed_encode);
      measure(e.encode_new);
    }
  }
  if (erl) erl->child.stop();
  const double total_s = elapsed_ns(started, bench_clock::now()) / 1e9;

  // ---- report ---------------------------------------------------------------------------------
  std::printf(
      "nodus ETF codec benchmark: etf::decode / etf::encode next to erl's binary_to_term / "
      "term_to_binary over the same bytes, %u CPUs online\n",
      std::thread::hardware_concurrency());
  std::printf("load average before: %s, after: %s (other work makes figures noisier)\n",
              load_before.c_str(), load_average().c_str());
  if (erl && !erl->otp.empty()) {
    std::printf(
        "erl: OTP %s, emulator flavor %s (%s), %s schedulers online; binary_to_term(B) and "
        "term_to_binary(T, [{minor_version, 2}]) in a loop of compiled Erlang\n",
        erl->otp.c_str(), erl->flavor.c_str(),
        erl->flavor == "jit" ? "the JIT is on" : "the JIT is off", erl->schedulers.c_str());
    for (const char* v : {"ERL_FLAGS", "ERL_AFLAGS", "ERL_ZFLAGS"}) {
      if (const char* e = std::getenv(v)) std::printf("erl: %s=\"%s\" applies\n", v, e);
    }
  }
  if (!erl_note.empty()) std::printf("%s\n", erl_note.c_str());
  std::printf("corpus: %s\n", from_erl ? "term_to_binary(T, [{minor_version, 2}]) by erl"
                                       : "encoded by nodus from the same terms built in C++ "
                                         "(the map's order is not a BEAM node's)");
  std::printf(
      "median of %d interleaved repetitions, each figure's run about %.0f ms after a warm-up; "
      "nodus encode appends to one reused buffer\n",
      s.reps, s.target_ns / 1e6);
  std::printf("figures are for this machine and this run only; compare ratios, not times\n\n");

  std::vector<std::vector<std::string>> rows{{"term", "bytes", "nodus decode", "erl binary_to_term",
                                              "ratio", "nodus encode", "erl term_to_binary",
                                              "ratio"}};
  for (const entry& e : entries) {
    if (e.decode.ns_per_op.empty()) continue;  // left out by --only
    rows.push_back({e.name, size_text(e.bytes.size()), cell(e.decode.ns_per_op),
                    cell(e.erl_b2t.ns_per_op), ratio(e.decode.ns_per_op, e.erl_b2t.ns_per_op),
                    cell(e.encode.ns_per_op), cell(e.erl_t2b.ns_per_op),
                    ratio(e.encode.ns_per_op, e.erl_t2b.ns_per_op)});
    if (e.typed_decode) {
      rows.push_back({e.name + ", typed", size_text(e.bytes.size()),
                      cell(e.typed_decode->ns_per_op), cell(e.erl_b2t.ns_per_op),
                      ratio(e.typed_decode->ns_per_op, e.erl_b2t.ns_per_op),
                      cell(e.typed_encode->ns_per_op), cell(e.erl_t2b.ns_per_op),
                      ratio(e.typed_encode->ns_per_op, e.erl_t2b.ns_per_op)});
    }
  }
  print_table(rows);

  std::printf(
      "\nencode into a new buffer each time (etf::encode(term) -> std::vector; term_to_binary "
      "returns a new binary each time too)\n");
  std::vector<std::vector<std::string>> fresh{
      {"term", "nodus encode, new", "nodus encode, reused", "erl term_to_binary", "new/erl"}};
  for (const entry& e : entries) {
    if (e.decode.ns_per_op.empty()) continue;
    fresh.push_back({e.name, cell(e.encode_new.ns_per_op), cell(e.encode.ns_per_op),
                     cell(e.erl_t2b.ns_per_op),
                     ratio(e.encode_new.ns_per_op, e.erl_t2b.ns_per_op)});
  }
  print_table(fresh);

  std::printf("\nnotes:\n");
  std::printf(
      "  ratio = nodus median / erl median (below 1: nodus is faster). \"typed\": "
      "etf::decode<T> / etf::encode(const T&) with C++ structs mirroring the term; the erl "
      "figures are those of the same bytes and term.\n");
  std::printf(
      "  typed decode is etf::decode to an etf::term, then the term read into T "
      "(etf::from_term); the [alias|Ref] tag is an etf::term member (an improper list), copied.\n");
  if (from_erl) {
    std::vector<std::string> met, missed;
    for (const entry& e : entries) {
      for (const figure* f : {&e.decode, e.typed_decode ? &*e.typed_decode : nullptr}) {
        if (f == nullptr || f->ns_per_op.empty() || e.erl_b2t.ns_per_op.empty()) continue;
        const std::string n = f == &e.decode ? e.name : e.name + ", typed";
        (f->ns_per_op.median() <= e.erl_b2t.ns_per_op.median() ? met : missed)
            .push_back(n + " " + ratio(f->ns_per_op, e.erl_b2t.ns_per_op));
      }
    }
    std::printf(
        "  target: decoding a term at least as fast as binary_to_term for the same bytes: "
        "met by %zu of %zu rows",
        met.size(), met.size() + missed.size());
    if (!missed.empty()) {
      std::printf("; missed by");
      for (std::size_t i = 0; i < missed.size(); ++i) {
        std::printf("%s %s", i == 0 ? "" : ",", missed[i].c_str());
      }
    }
    std::printf("\n");
    if (mismatches.empty()) {
      std::printf("  erl's corpus decodes to the terms nodus_corpus() builds in C++: all %zu\n",
                  entries.size());
    } else {
      std::printf("  erl's corpus differs from nodus_corpus() for:");
      for (const auto& m : mismatches) std::printf(" %s;", m.c_str());
      std::printf(" (keep the two in step)\n");
    }
  }
  std::size_t exact = 0;
  for (const entry& e : entries) exact += e.re_encodes ? 1 : 0;
  std::printf("  nodus re-encodes the bytes byte for byte: %zu of %zu terms", exact,
              entries.size());
  for (const entry& e : entries) {
    if (!e.re_encodes) std::printf(" (not %s)", e.name.c_str());
  }
  std::printf("; typed call %s, typed reply %s\n",
              entries[call_index].typed_re_encodes ? "yes" : "no",
              entries[reply_index].typed_re_encodes ? "yes" : "no");
  std::printf("  terms:\n");
  for (const entry& e : entries) {
    if (e.decode.ns_per_op.empty()) continue;
    std::printf("    %-18s %s\n", e.name.c_str(), e.value.to_string(90).c_str());
  }
  std::printf("  spread over repetitions (min .. max) and iterations per run:\n");
  const auto spread = [](const char* what, const figure& f) {
    if (f.ns_per_op.empty()) return std::string();
    return std::string("  ") + what + " " + time_text(f.ns_per_op.min()) + " .. " +
           time_text(f.ns_per_op.max()) + " (" + std::to_string(f.n) + ")";
  };
  for (const entry& e : entries) {
    if (e.decode.ns_per_op.empty()) continue;
    std::string l = "    " + e.name + ":" + spread("decode", e.decode) + spread("b2t", e.erl_b2t) +
                    spread("encode", e.encode) + spread("t2b", e.erl_t2b) +
                    spread("encode new", e.encode_new);
    if (e.typed_decode) {
      l += spread("typed decode", *e.typed_decode) + spread("typed encode", *e.typed_encode);
    }
    std::printf("%s\n", l.c_str());
  }
  std::printf("total run time %.1f s\n", total_s);
  if (failures != 0) {
    std::fprintf(stderr, "%s: %d measurement(s) failed (see above)\n", program_name.c_str(),
                 failures);
    return 1;
  }
  return 0;
}

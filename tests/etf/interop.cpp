// Against a real Erlang/OTP (Debian erlang-base; skipped with a message when `erl` is absent):
//   - a corpus of Erlang expressions, each encoded by term_to_binary three ways (minor_version 2,
//     the default, compressed), decodes to the C++ term expected, re-encodes to the same bytes,
//     and what nodus encodes is =:= to the expression in erl's binary_to_term;
//   - typed values (the walkthrough's :ping and {:ok, node(), :pong}) both ways;
//   - a property test: erl generates random terms from a fixed seed (NODUS_ETF_SEED overrides
//     it), nodus decodes them and encodes them back, and erl checks every one is =:= to the term
//     it made and byte for byte what term_to_binary wrote.
// One erl process serves every test case, reading commands on stdin, answering one line each.
#include "common.hpp"

#include <nodus/codec/etf.hpp>

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "../net/erl_child.hpp"

namespace app {

struct ping {
  static constexpr nodus::fixed_string etf_tag = "ping";
};

struct pong {
  static constexpr nodus::fixed_string etf_tag = "ok";
  BOOST_HANA_DEFINE_STRUCT(pong, (nodus::node_name, node),
                           (nodus::etf::atom_constant<"pong">, answer));
};

using scores = std::map<std::string, std::vector<int>>;

struct report {
  static constexpr nodus::fixed_string etf_tag = "report";
  BOOST_HANA_DEFINE_STRUCT(report, (std::string, title), (scores, by_name),
                           (std::optional<double>, mean));
};

}  // namespace app

namespace {

using etf_test::a;
using etf_test::bytes;
using etf_test::from_hex;
using etf_test::to_hex;
using etf_test::to_list;
using nodus::etf::atom;
using nodus::etf::big_integer;
using nodus::etf::decode;
using nodus::etf::term;
using namespace nodus::literals;

// The program erl evaluates: a loop over commands on stdin, one answer line each.
//   eval HEX(expr)            -> value HEX(t2b(V, minor 2)) HEX(t2b(V)) HEX(t2b(V, compressed))
//   check HEX(expr) HEX(bin)  -> check equal | check differs <W> | check error <why>
//   random SEED COUNT         -> COUNT lines "term HEX(minor 2) HEX(compressed)", then "terms done"
//   back HEX(bin)             -> nothing: compared with the next random term
//   verdict                   -> verdict Count Equal Exact Unanswered [first differences]
// The closures come first, so that their environments hold nothing else.
constexpr const char* erl_program = R"erl(
Y = 7, F1 = fun(X) -> X + Y end, F2 = fun() -> ok end,
{ok, _} = timer:apply_after(120000, erlang, halt, [3]),
ok = io:setopts(standard_io, [binary]),
Hex = fun(B) -> binary:encode_hex(B) end,
Unhex = fun(H) -> binary:decode_hex(H) end,
Eval = fun(Text) ->
  {ok, Toks, _} = erl_scan:string(unicode:characters_to_list(Text)),
  {ok, Exprs} = erl_parse:parse_exprs(Toks),
  {value, V, _} = erl_eval:exprs(Exprs, []),
  V
end,
Pick = fun(L) -> lists:nth(rand:uniform(length(L)), L) end,
Bytes = fun(N) -> << <<(rand:uniform(256) - 1)>> || _ <- lists:seq(1, N) >> end,
Atoms = [ok, error, nil, true, false, '', 'hello world', 'Caps', 'n1@127.0.0.1', 'it\'s',
         list_to_atom([16#3B1, 16#3B2]), list_to_atom([228, 246]),
         list_to_atom(lists:duplicate(255, $a)), list_to_atom(lists:duplicate(255, 16#1F600)),
         list_to_atom(lists:duplicate(200, 233))],
Crafted = fun() ->
  N = Pick([<<"other@host">>, <<"n1@127.0.0.1">>, <<"x@y">>]),
  A = <<119, (byte_size(N)), N/binary>>,
  C = rand:uniform(16#FFFFFFFF),
  case rand:uniform(3) of
    1 -> binary_to_term(<<131, 88, A/binary, (rand:uniform(1 bsl 32) - 1):32,
                          (rand:uniform(1 bsl 32) - 1):32, C:32>>);
    2 -> L = rand:uniform(5),
         binary_to_term(<<131, 90, L:16, A/binary, C:32, (Bytes(4 * L))/binary>>);
    3 -> binary_to_term(<<131, 120, A/binary, (rand:uniform(1 bsl 64) - 1):64, C:32>>)
  end
end,
Float = fun() ->
  case rand:uniform(6) of
    1 -> 0.0; 2 -> -0.0; 3 -> 5.0e-324; 4 -> 1.7976931348623157e308;
    _ -> rand:normal() * math:pow(10, rand:uniform(40) - 20)
  end
end,
Int = fun() ->
  case rand:uniform(6) of
    1 -> rand:uniform(256) - 1;
    2 -> rand:uniform(1 bsl 32) - (1 bsl 31) - 1;
    3 -> rand:uniform(1 bsl 40) - (1 bsl 39);
    4 -> rand:uniform(1 bsl 64) - (1 bsl 63) - 1;
    5 -> Pick([1, -1]) * ((1 bsl (60 + rand:uniform(200))) + rand:uniform(1000));
    6 -> Pick([1, -1]) * (1 bsl (2040 + rand:uniform(100)))
  end
end,
Funs = [fun lists:map/2, fun erlang:self/0, F1, F2],
Leaf = fun() ->
  case rand:uniform(13) of
    1 -> Int(); 2 -> Int(); 3 -> Float(); 4 -> Pick(Atoms); 5 -> Pick(Atoms);
    6 -> Bytes(rand:uniform(40) - 1);
    7 -> Bits = rand:uniform(7),
         <<(Bytes(rand:uniform(5) - 1))/binary, (rand:uniform(1 bsl Bits) - 1):Bits>>;
    8 -> [rand:uniform(256) - 1 || _ <- lists:seq(1, rand:uniform(20))];
    9 -> [rand:uniform(16#10FFFF) || _ <- lists:seq(1, rand:uniform(10))];
    10 -> Pick([self(), make_ref(), hd(erlang:ports()), alias()]);
    11 -> Crafted();
    12 -> Pick(Funs);
    13 -> Pick([[], {}, #{}, <<>>])
  end
end,
Gen = fun G(0) -> Leaf();
          G(D) ->
            Some = fun(Max) -> [G(D - 1) || _ <- lists:seq(1, rand:uniform(Max + 1) - 1)] end,
            case rand:uniform(7) of
              1 -> list_to_tuple(Some(4));
              2 -> Some(4);
              3 -> lists:foldl(fun(E, Acc) -> [E | Acc] end, Leaf(), [G(D - 1) | Some(2)]);
              4 -> maps:from_list([{G(D - 1), G(D - 1)} || _ <- Some(4)]);
              5 -> case rand:uniform(20) of
                     1 -> list_to_tuple([Leaf() || _ <- lists:seq(1, 256 + rand:uniform(50))]);
                     2 -> maps:from_list([{I, Leaf()} || I <- lists:seq(1, 33 + rand:uniform(20))]);
                     _ -> Leaf()
                   end;
              _ -> Leaf()
            end
      end,
B2I = fun(true) -> 1; (false) -> 0 end,
M2 = [{minor_version, 2}],
io:format("ready ~s~n", [erlang:system_info(otp_release)]),
Loop = fun L(State) ->
  case io:get_line("") of
    eof -> erlang:halt(0);
    {error, _} -> erlang:halt(0);
    Line ->
      case binary:split(string:trim(Line), <<" ">>, [global]) of
        [<<"eval">>, E] ->
          try Eval(Unhex(E)) of
            V -> io:format("value ~s ~s ~s~n", [Hex(term_to_binary(V, M2)),
                                                Hex(term_to_binary(V)),
                                                Hex(term_to_binary(V, [compressed]))])
          catch C:Why -> io:format("error ~p:~P~n", [C, Why, 12])
          end,
          L(State);
        [<<"check">>, E, B] ->
          R = try {Eval(Unhex(E)), binary_to_term(Unhex(B))} of
                {V, V} -> "equal";
                {_, W} -> io_lib:format("differs ~P", [W, 12])
              catch C:Why -> io_lib:format("error ~p:~P", [C, Why, 12])
              end,
          io:format("check ~s~n", [R]),
          L(State);
        [<<"random">>, Seed, Count] ->
          rand:seed(exsss, binary_to_integer(Seed)),
          Ts = [Gen(3) || _ <- lists:seq(1, binary_to_integer(Count))],
          [io:format("term ~s ~s~n", [Hex(term_to_binary(T, M2)),
                                      Hex(term_to_binary(T, [compressed]))]) || T <- Ts],
          io:format("terms done~n"),
          L({Ts, 0, 0, 0, []});
        [<<"back">>, B] ->
          {[T | Rest], N, Eq, Ex, Bad} = State,
          Bin = Unhex(B),
          Exact = Bin =:= term_to_binary(T, M2),
          Equal = try binary_to_term(Bin) =:= T catch _:_ -> false end,
          Bad2 = case (Equal and Exact) or (length(Bad) >= 3) of
                   true -> Bad;
                   false -> [{N + 1, Equal, Exact, T} | Bad]
                 end,
          L({Rest, N + 1, Eq + B2I(Equal), Ex + B2I(Exact), Bad2});
        [<<"verdict">>] ->
          {Left, N, Eq, Ex, Bad} = State,
          io:format("verdict ~b ~b ~b ~b ~P~n", [N, Eq, Ex, length(Left), lists:reverse(Bad), 20]),
          L(State);
        _ ->
          io:format("unknown ~s~n", [Line]),
          L(State)
      end
  end
end,
Loop(none).
)erl";

// One erl for the whole test program, started on first use.
class erl_session {
 public:
  // get() -> the session, or nullptr when erl is not installed (after a test message saying so).
  static erl_session* get() {
    if (!erl_test::erl_installed()) {
      BOOST_TEST_MESSAGE("erl is not installed (Debian: apt-get install erlang-base): skipped");
      return nullptr;
    }
    static std::unique_ptr<erl_session> session;
    if (!session) {
      session = std::make_unique<erl_session>();
      for (;;) {  // anything erl prints before it is ready is skipped
        const auto line = session->erl_.next_line();
        if (!line.has_value()) BOOST_FAIL("erl did not start:\n" << session->erl_.transcript());
        if (line->rfind("ready ", 0) == 0) {
          BOOST_TEST_MESSAGE("erl is up: OTP " << line->substr(6));
          break;
        }
      }
    }
    return session.get();
  }

  // No crash dump file (erl_crash.dump in the working directory) if erl fails.
  erl_session()
      : erl_({"erl", "-noshell", "-env", "ERL_CRASH_DUMP_BYTES", "0", "-eval", erl_program}) {}

  // send(line) then the next line of output, which must start with prefix; returns what follows.
  std::string ask(const std::string& line, std::string_view prefix) {
    BOOST_REQUIRE(erl_.write_line(line));
    return answer(prefix);
  }
  void send(const std::string& line) { BOOST_REQUIRE(erl_.write_line(line)); }
  // Messages are built only on failure: a transcript of thousands of lines is costly.
  std::string answer(std::string_view prefix) {
    const auto reply = erl_.next_line();
    if (!reply.has_value()) BOOST_FAIL("erl gave no answer; it printed:\n" << erl_.transcript());
    if (reply->rfind(prefix, 0) != 0) {
      BOOST_FAIL("erl answered '" << reply->substr(0, 300) << "', expected '" << prefix << "...'");
    }
    return reply->substr(prefix.size());
  }

  // The three encodings erl gives of an expression: minor_version 2, default, compressed.
  std::vector<bytes> eval(std::string_view expression) {
    const std::string answer = ask(
        "eval " + to_hex(std::as_bytes(std::span(expression.data(), expression.size()))), "value ");
    std::vector<bytes> out;
    std::istringstream words(answer);
    std::string word;
    while (words >> word) out.push_back(from_hex(word));
    BOOST_REQUIRE(out.size() == 3u);
    return out;
  }

  // check(expression, encoding) -> "equal" when erl finds binary_to_term(encoding) =:= expression.
  std::string check(std::string_view expression, std::span<const std::byte> encoding) {
    return ask("check " + to_hex(std::as_bytes(std::span(expression.data(), expression.size()))) +
                   " " + to_hex(encoding),
               "check ");
  }

 private:
  erl_test::erl_process erl_;
};

struct corpus_entry {
  std::string_view expression;
  term expected;
};

big_integer power_of_two(unsigned bits, bool negative) {
  big_integer b{negative, std::vector<std::uint8_t>(bits / 8 + 1)};
  b.magnitude.back() = static_cast<std::uint8_t>(1u << (bits % 8));
  return b;
}

std::vector<corpus_entry> corpus() {
  std::vector<nodus::etf::map_entry> squares_map;
  for (int i = 1; i <= 40; ++i) squares_map.push_back({i, i * i});
  std::vector<term> seq300;
  for (int i = 1; i <= 300; ++i) seq300.emplace_back(i);
  std::vector<term> seq70000;
  for (int i = 1; i <= 70000; ++i) seq70000.emplace_back(i);
  term nested = a("x");
  for (int i = 0; i < 100; ++i) nested = term::tuple({std::move(nested)});
  return {
      {"ok.", a("ok")},
      {"''.", a("")},
      {"'n1@127.0.0.1'.", a("n1@127.0.0.1")},
      {"'h\xc3\xa9llo'.", a("h\xc3\xa9llo")},  // Latin-1 by default in OTP 25
      {"'\xce\xb1\xce\xb2'.", a("\xce\xb1\xce\xb2")},
      {"list_to_atom(lists:duplicate(255, 16#1F600)).",
       [] {
         std::string s;
         for (int i = 0; i < 255; ++i) s += "\xf0\x9f\x98\x80";
         return a(s);
       }()},
      {"0.", 0},
      {"255.", 255},
      {"256.", 256},
      {"-1.", -1},
      {"2147483647.", 2147483647},
      {"-2147483648.", std::int64_t{-2147483648LL}},
      {"2147483648.", std::int64_t{2147483648LL}},
      {"9223372036854775807.", std::int64_t{9223372036854775807LL}},
      {"-9223372036854775808.", std::numeric_limits<std::int64_t>::min()},
      {"18446744073709551615.", std::numeric_limits<std::uint64_t>::max()},
      {"1 bsl 200.", term(power_of_two(200, false))},
      {"-(1 bsl 2100).", term(power_of_two(2100, true))},
      {"1.5.", 1.5},
      {"-0.0.", -0.0},
      {"1.0e300.", 1.0e300},
      {"5.0e-324.", 5.0e-324},
      {"{}.", term::tuple({})},
      {"{ok, 1, <<\"x\">>}.", term::tuple({a("ok"), 1, term::binary("x")})},
      {"list_to_tuple(lists:seq(1, 300)).", term::tuple(seq300)},
      {"[].", term::nil()},
      {"\"abc\".", term::list({97, 98, 99})},
      {"[1, 2 | 3].", term::list({1, 2}, 3)},
      {"[ok, [], {}].", term::list({a("ok"), term::nil(), term::tuple({})})},
      {"lists:seq(1, 70000).", term::list(seq70000)},
      {"lists:duplicate(65535, 7).", term::list(std::vector<term>(65535, term(7)))},
      {"[256].", term::list({256})},
      {"<<>>.", term::binary("")},
      {"<<1, 2, 3>>.", term::binary("\x01\x02\x03")},
      {"<<\"h\xc3\xa9llo\"/utf8>>.", term::binary("h\xc3\xa9llo")},
      {"<<1, 2:3>>.", term(nodus::etf::bit_binary{{std::byte{1}, std::byte{64}}, 3})},
      {"<<0:7>>.", term(nodus::etf::bit_binary{{std::byte{0}}, 7})},
      {"#{}.", term::map({})},
      {"#{a => 1, <<\"b\">> => [2]}.",
       term::map({{a("a"), 1}, {term::binary("b"), term::list({2})}})},
      {"maps:from_list([{I, I * I} || I <- lists:seq(1, 40)]).", term::map(squares_map)},
      {"{ok, 'n1@127.0.0.1', pong}.", term::tuple({a("ok"), a("n1@127.0.0.1"), a("pong")})},
      {"lists:foldl(fun(_, A) -> {A} end, x, lists:seq(1, 100)).", nested},
      {"binary_to_term(<<131, 88, 119, 3, \"n@h\", 1:32, 2:32, 3:32>>).",
       term(nodus::etf::pid{atom("n@h"), 1, 2, 3})},
      {"binary_to_term(<<131, 90, 5:16, 119, 3, \"n@h\", 9:32, 1:32, 2:32, 3:32, 4:32, 5:32>>).",
       term(nodus::etf::reference{atom("n@h"), 9, 5, {1, 2, 3, 4, 5}})},
      {"binary_to_term(<<131, 120, 119, 3, \"n@h\", (1 bsl 40):64, 3:32>>).",
       term(nodus::etf::port{atom("n@h"), std::uint64_t{1} << 40, 3})},
      {"binary_to_term(<<131, 89, 119, 3, \"n@h\", 5:32, 3:32>>).",
       term(nodus::etf::port{atom("n@h"), 5, 3})},
  };
}

}  // namespace

BOOST_AUTO_TEST_SUITE(etf_interop)

BOOST_AUTO_TEST_CASE(erl_corpus_decodes_and_re_encodes) {
  erl_session* erl = erl_session::get();
  if (erl == nullptr) return;
  std::size_t compressed = 0;
  for (const corpus_entry& entry : corpus()) {
    BOOST_TEST_CONTEXT("expression " << entry.expression) {
      const std::vector<bytes> encodings = erl->eval(entry.expression);
      for (const bytes& e : encodings) {
        const auto t = decode(e);
        BOOST_REQUIRE_MESSAGE(t.has_value(), t.error().message());
        BOOST_TEST(*t == entry.expected);
      }
      if (encodings[2].size() > 1 && encodings[2][1] == std::byte{80}) ++compressed;
      // What erl wrote with minor_version 2 re-encodes byte for byte.
      BOOST_TEST(to_list(etf_test::encoded(*decode(encodings[0]))) == to_list(encodings[0]));
      // What nodus writes for the expected term is the expression, for erl.
      BOOST_TEST(erl->check(entry.expression, etf_test::encoded(entry.expected)) == "equal");
    }
  }
  BOOST_TEST_MESSAGE(compressed << " of the corpus came compressed from term_to_binary");
  BOOST_TEST(compressed >= 3u);
}

BOOST_AUTO_TEST_CASE(erl_pids_references_ports_and_funs_round_trip) {
  erl_session* erl = erl_session::get();
  if (erl == nullptr) return;
  // Values of erl's own node, stable across evaluations in its one process.
  const std::vector<std::string_view> expressions = {
      "self().",
      "hd(erlang:ports()).",
      "list_to_ref(\"#Ref<0.1.2.3>\").",
      "case get(r) of undefined -> put(r, {make_ref(), alias()}), get(r); R -> R end.",
      "{self(), element(1, get(r)), hd(erlang:ports())}.",
      "fun lists:map/2.",
      "fun erlang:'+'/2.",
      "fun(X) -> X end.",
      "Z = 5, fun(X) -> {X, Z, self()} end.",
  };
  for (const std::string_view expression : expressions) {
    BOOST_TEST_CONTEXT("expression " << expression) {
      const std::vector<bytes> encodings = erl->eval(expression);
      const auto t = decode(encodings[0]);
      BOOST_REQUIRE_MESSAGE(t.has_value(), t.error().message());
      BOOST_TEST_MESSAGE(expression << " -> " << t->to_string(200));
      for (const bytes& e : encodings) BOOST_TEST(*decode(e) == *t);
      const bytes again = etf_test::encoded(*t);
      BOOST_TEST(to_list(again) == to_list(encodings[0]));
      BOOST_TEST(erl->check(expression, again) == "equal");
    }
  }
  const auto self = decode(erl->eval("self().")[0]);
  BOOST_REQUIRE(self->as_pid() != nullptr);
  BOOST_TEST(self->as_pid()->node == "nonode@nohost");
  BOOST_TEST(decode(erl->eval("fun lists:map/2.")[1])->to_string() == "fun lists:map/2");
}

BOOST_AUTO_TEST_CASE(typed_values_both_ways) {
  erl_session* erl = erl_session::get();
  if (erl == nullptr) return;
  // {:ok, node(), :pong} from erl, read as the C++ reply struct, and written back.
  const auto p = nodus::etf::decode<app::pong>(erl->eval("{ok, 'n2@127.0.0.1', pong}.")[1]);
  BOOST_REQUIRE_MESSAGE(p.has_value(), p.error().message());
  BOOST_TEST(p->node == "n2@127.0.0.1"_node);
  BOOST_TEST(erl->check("{ok, 'n2@127.0.0.1', pong}.", *nodus::etf::encode(*p)) == "equal");
  BOOST_TEST(erl->check("ping.", *nodus::etf::encode(app::ping{})) == "equal");
  BOOST_TEST(nodus::etf::decode<app::ping>(erl->eval("ping.")[1]).has_value());
  BOOST_TEST(!nodus::etf::decode<app::ping>(erl->eval("pang.")[1]).has_value());

  // A struct of strings, a map of lists and an optional; Erlang strings come as charlists too.
  const std::string_view expression =
      "{report, <<\"t\xc3\xaft\"/utf8>>, #{<<\"ann\">> => [1, 2], <<\"bob\">> => []}, 2.5}.";
  const auto r = nodus::etf::decode<app::report>(erl->eval(expression)[0]);
  BOOST_REQUIRE_MESSAGE(r.has_value(), r.error().message());
  BOOST_TEST(r->title == "t\xc3\xaft");
  BOOST_TEST((r->by_name.at("ann") == std::vector<int>{1, 2}));
  BOOST_TEST(r->by_name.at("bob").empty());
  BOOST_TEST(*r->mean == 2.5);
  BOOST_TEST(erl->check(expression, *nodus::etf::encode(*r)) == "equal");
  const auto charlist =
      nodus::etf::decode<app::report>(erl->eval("{report, \"t\xc3\xaft\", #{}, nil}.")[1]);
  BOOST_REQUIRE_MESSAGE(charlist.has_value(), charlist.error().message());
  BOOST_TEST(charlist->title == "t\xc3\xaft");
  BOOST_TEST(!charlist->mean.has_value());
  BOOST_TEST(erl->check("{report, <<\"t\xc3\xaft\"/utf8>>, #{}, nil}.",
                        *nodus::etf::encode(*charlist)) == "equal");
}

BOOST_AUTO_TEST_CASE(random_terms_from_erl_round_trip) {
  erl_session* erl = erl_session::get();
  if (erl == nullptr) return;
  std::uint64_t seed = 20240611;
  if (const char* s = std::getenv("NODUS_ETF_SEED")) seed = std::strtoull(s, nullptr, 10);
  constexpr int count = 2000;
  BOOST_TEST_MESSAGE("random terms: seed " << seed << " (NODUS_ETF_SEED=" << seed
                                           << " repeats this run), " << count << " terms");
  const auto start = std::chrono::steady_clock::now();
  erl->send("random " + std::to_string(seed) + " " + std::to_string(count));
  std::vector<std::string> back;
  back.reserve(count);
  std::size_t failures = 0;
  std::size_t total_bytes = 0;
  for (int i = 0; i < count; ++i) {
    const std::string line = erl->answer("term ");
    const std::size_t space = line.find(' ');
    const bytes plain = from_hex(std::string_view(line).substr(0, space));
    const bytes packed = from_hex(std::string_view(line).substr(space + 1));
    total_bytes += plain.size();
    const auto t = decode(plain);
    const auto tz = decode(packed);
    if (!t.has_value() || !tz.has_value() || !(*t == *tz)) {
      if (++failures <= 3) {
        BOOST_ERROR(
            "seed " << seed << ", term " << i + 1 << ": "
                    << (t ? (tz ? std::string("compressed form differs") : tz.error().message())
                          : t.error().message())
                    << "; bytes " << to_list(plain).substr(0, 400));
      }
      back.push_back("00");
      continue;
    }
    back.push_back(to_hex(etf_test::encoded(*t)));
  }
  erl->answer("terms done");
  for (const std::string& hex : back) erl->send("back " + hex);
  const std::string verdict = erl->ask("verdict", "verdict ");
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  BOOST_TEST_MESSAGE("erl's verdict (count, =:=, byte-exact, unanswered, first differences): "
                     << verdict << "; " << total_bytes << " bytes of terms, " << elapsed.count()
                     << " ms");
  std::istringstream in(verdict);
  int n = 0;
  int equal = 0;
  int exact = 0;
  int unanswered = -1;
  in >> n >> equal >> exact >> unanswered;
  BOOST_TEST(failures == 0u);
  BOOST_TEST(n == count);
  BOOST_TEST_INFO("seed " << seed << ": " << verdict.substr(0, 2000));
  BOOST_TEST(equal == count);
  BOOST_TEST_INFO("seed " << seed << ": " << verdict.substr(0, 2000));
  BOOST_TEST(exact == count);
  BOOST_TEST(unanswered == 0);
}

BOOST_AUTO_TEST_SUITE_END()

#!/usr/bin/env bash
# Coverage-guided fuzzing of the decoders that take bytes from outside (libFuzzer, clang++ with
# AddressSanitizer and UndefinedBehaviorSanitizer):
#   etf_decode      the Erlang external term format (codec/etf/decode.hpp)
#   erlang_frame    a BEAM connection's frames: distribution header, atom cache, fragments
#   global_member   the messages a BEAM peer sends global_name_server (dist/global_member.hpp)
#   native_message  the native codec's check, decode and views (codec/codec.hpp, view.hpp)
#   handshake       the distribution handshake's machine, either side, and its decoders
#                   (net/handshake.hpp)
#   epmd            the port mapper's requests (as its server reads them) and answers (as its
#                   client reads them) (epmd/protocol.hpp)
#   gossip          gossip heartbeats, with and without a secret (cluster/gossip.hpp)
#   hosts_file      the .hosts.erlang parser (cluster/topology.hpp parse_hosts_erlang)
#   dns_srv         DNS responses with SRV records (cluster/detail/srv_answer.hpp
#                   parse_srv_answer)
#   node_name       node names and name@ip:port targets (core/node_name.hpp, parse_node_address,
#                   parse_target)
#   native_frame    a nodus peer's frames: native frame headers (dist/native_frame.hpp) and the
#                   mesh's control frames, hello and peer list (cluster/node_table.hpp)
# Seed corpora come from nodus's own encoders (tests/fuzz/seeds.cpp).
#
#   tests/fuzz/run.sh [SECONDS]      each harness for SECONDS (default 15; CI's short run: 10)
#   RUNS=1000000 tests/fuzz/run.sh   each harness for RUNS executions instead (a long run)
#   ONLY=etf_decode tests/fuzz/run.sh
#
# Builds into ${NODUS_FUZZ_DIR:-build-fuzz}/: bin/ the harnesses, <harness>/corpus that grows run
# after run, <harness>/last.log, crash files. Exits 1 when a harness finds a crash, leak or sanitizer report: its input is kept as
# build-fuzz/<harness>/crash-* (make it a regression test). Needs clang++ with libFuzzer
# (Debian: clang, libclang-rt-14-dev); skips with a message (exit 0) without it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
seconds=${1:-15}
dir=${NODUS_FUZZ_DIR:-build-fuzz}
cxx=${NODUS_FUZZ_CXX:-clang++}
harnesses=(etf_decode erlang_frame global_member native_message handshake epmd gossip hosts_file
  node_name native_frame dns_srv)
if [[ -n ${ONLY:-} ]]; then IFS=, read -r -a harnesses <<<"$ONLY"; fi

flags=(-std=c++20 -g -O1 -DASIO_STANDALONE -DASIO_NO_DEPRECATED -Iinclude)
libs=(-lz -lcrypto)
mkdir -p "$dir/bin"
probe=$dir/probe.cpp
printf '#include <cstddef>\n#include <cstdint>\nextern "C" int LLVMFuzzerTestOneInput(const std::uint8_t*, std::size_t) { return 0; }\n' >"$probe"
if ! command -v "$cxx" >/dev/null || ! "$cxx" -fsanitize=fuzzer "$probe" -o "$dir/probe" 2>/dev/null; then
  echo "fuzz: $cxx with libFuzzer is not available (Debian: apt-get install clang): skipped"
  exit 0
fi

start=$SECONDS
echo "fuzz: building the seed writer and ${#harnesses[@]} harnesses with $cxx"
"$cxx" "${flags[@]}" tests/fuzz/seeds.cpp -o "$dir/seeds" "${libs[@]}"
"$dir/seeds" "$dir/seeds-out" >/dev/null
pids=()
for h in "${harnesses[@]}"; do
  "$cxx" "${flags[@]}" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    "tests/fuzz/$h.cpp" -o "$dir/bin/$h" "${libs[@]}" &
  pids+=($!)
  # Two at a time: the machine has two cores.
  if ((${#pids[@]} == 2)); then
    wait "${pids[0]}"
    pids=("${pids[1]}")
  fi
done
for p in "${pids[@]}"; do wait "$p"; done
echo "fuzz: built in $((SECONDS - start)) s"

if [[ -n ${RUNS:-} ]]; then
  bound=(-runs="$RUNS")
else
  bound=(-max_total_time="$seconds")
fi
failed=0
for h in "${harnesses[@]}"; do
  work=$dir/$h
  mkdir -p "$work/corpus"
  log=$work/last.log
  if (cd "$work" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "../bin/$h" "${bound[@]}" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    corpus "../seeds-out/$h") >"$log" 2>&1; then
    stats=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
    echo "fuzz: $h: ${stats:-done}"
  else
    failed=1
    echo "fuzz: $h FAILED; its log ($log) ends:"
    tail -n 40 "$log"
    ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null || true
  fi
done
echo "fuzz: $((SECONDS - start)) s in all"
exit $failed

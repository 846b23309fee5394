#!/usr/bin/env bash
# benchmarks/compile_time.sh: how long a typical nodus TU takes to compile, next to a baseline TU
# that includes only <asio.hpp> and <boost/hana.hpp> whole (benchmarks/compile_time/bare.cpp).
#
#   benchmarks/compile_time.sh            3 runs of each compile, median wall time
#   RUNS=5 benchmarks/compile_time.sh     more runs
#   CXX=clang++ benchmarks/compile_time.sh
#   DEMO=path/to/tu.cpp benchmarks/compile_time.sh   time another TU against the baseline
#   benchmarks/compile_time.sh --quick    1 run of each (a smoke test of the script)
#
# The demo TU is $DEMO if set, else examples/demo.cpp when it exists, else
# benchmarks/compile_time/demo_like.cpp.
# Each compile is `$CXX -std=c++20 -c -O0` (what a developer does while editing), then -O2;
# runs are interleaved (bare, demo, bare, demo, ...) so that a drifting machine load affects both.
# Only the ratio demo/bare is meaningful, and only within one run on one machine.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cxx="${CXX:-g++}"
runs="${RUNS:-3}"
if [[ "${1:-}" == "--quick" || "${1:-}" == "--smoke" ]]; then
  runs=1
elif [[ $# -gt 0 ]]; then
  echo "usage: $0 [--quick]   (environment: CXX, RUNS)" >&2
  exit 2
fi

bare="$here/compile_time/bare.cpp"
if [[ -n "${DEMO:-}" ]]; then
  demo="$(cd "$(dirname "$DEMO")" && pwd)/$(basename "$DEMO")"
elif [[ -f "$root/examples/demo.cpp" ]]; then
  demo="$root/examples/demo.cpp"
else
  demo="$here/compile_time/demo_like.cpp"
fi

# Same definitions as the nodus::nodus CMake target; the Asio and Boost headers are in /usr/include.
common=(-std=c++20 -DASIO_STANDALONE -DASIO_NO_DEPRECATED "-I$root/include" -pthread)

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# compile_seconds FILE OPT -> wall seconds of one compile (fails the script on a compile error).
compile_seconds() {
  local file="$1" opt="$2" start end
  start=$(date +%s.%N)
  if ! "$cxx" "${common[@]}" "$opt" -c "$file" -o "$tmp/out.o" 2>"$tmp/err"; then
    echo "compile_time.sh: compiling $file failed:" >&2
    cat "$tmp/err" >&2
    exit 1
  fi
  end=$(date +%s.%N)
  echo "$start $end" | awk '{ printf "%.3f\n", $2 - $1 }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# headers FILE -> the number of distinct headers the TU reads.
headers() { "$cxx" "${common[@]}" -M "$1" | tr -s ' \\' '\n' | grep -c '\.h' || true; }

declare -A result
for opt in -O0 -O2; do
  : >"$tmp/bare$opt"
  : >"$tmp/demo$opt"
  for ((i = 0; i < runs; ++i)); do
    compile_seconds "$bare" "$opt" >>"$tmp/bare$opt"
    compile_seconds "$demo" "$opt" >>"$tmp/demo$opt"
  done
  result[bare$opt]=$(median <"$tmp/bare$opt")
  result[demo$opt]=$(median <"$tmp/demo$opt")
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
spread() { sort -g "$1" | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.2f..%.2f", lo, hi }'; }

demo_name="${demo#"$root/"}"
bare_name="${bare#"$root/"}"
echo "compile time: $("$cxx" --version | head -n 1)"
echo "$(nproc) CPUs, load average $(cut -d ' ' -f 1-3 /proc/loadavg) (1/5/15 min) at the end"
echo "wall seconds, median of $runs run(s) (interleaved); figures are for this machine and this run"
echo
printf '%-56s | %8s | %8s | %7s\n' "TU" "-O0 -c" "-O2 -c" "headers"
printf '%-56s-+-%8s-+-%8s-+-%7s\n' "$(printf '%.0s-' {1..56})" "--------" "--------" "-------"
printf '%-56s | %8.2f | %8.2f | %7s\n' "$bare_name (asio.hpp + hana.hpp)" \
  "${result[bare-O0]}" "${result[bare-O2]}" "$(headers "$bare")"
printf '%-56s | %8.2f | %8.2f | %7s\n' "$demo_name" \
  "${result[demo-O0]}" "${result[demo-O2]}" "$(headers "$demo")"
printf '%-56s | %8s | %8s | %7s\n' "ratio demo / bare" \
  "$(ratio "${result[demo-O0]}" "${result[bare-O0]}")" \
  "$(ratio "${result[demo-O2]}" "${result[bare-O2]}")" ""
if ((runs > 1)); then
  echo
  echo "spread (min..max s): bare -O0 $(spread "$tmp/bare-O0"), demo -O0 $(spread "$tmp/demo-O0")," \
    "bare -O2 $(spread "$tmp/bare-O2"), demo -O2 $(spread "$tmp/demo-O2")"
fi

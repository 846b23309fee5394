#!/usr/bin/env bash
# benchmarks/compile_time.sh: what nodus costs a TU in compile time and compiler memory, next to a
# baseline TU that includes only <asio.hpp> and <boost/hana.hpp> whole
# (benchmarks/compile_time/bare.cpp), measured in the same run. Run with --help for the usage.
#
# Each compile is `$CXX -std=c++20 -c` at -O0 (what a developer does while editing), then at -O2;
# every run compiles the bare TU and then each TU in turn, so that a drifting machine load
# affects all of them. Only the ratios to the bare TU are meaningful, and only within one run on
# one machine. The tables go to stdout (Markdown, ready to paste into README.md), progress to
# stderr.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cxx="${CXX:-g++}"
runs="${RUNS:-3}"
quick=0

usage() {
  cat <<EOF
usage: benchmarks/compile_time.sh [--quick] [--help]

Times \`\$CXX -std=c++20 -c\` at -O0 and -O2 (wall seconds, the fastest of RUNS runs) and the
compiler's peak memory (max RSS, /usr/bin/time) for:
  bare             benchmarks/compile_time/bare.cpp: <asio.hpp> + <boost/hana.hpp>, the baseline
  demo             examples/demo.cpp (or \$DEMO): two servers, a supervisor, nodus.hpp
  simple_cluster   examples/simple_cluster.cpp (-Iexamples): a cluster with every strategy
  one_server       benchmarks/compile_time/one_server.cpp: one local server, node.hpp only
  asio_floor       benchmarks/compile_time/asio_floor.cpp: not nodus; an io_context, a strand, a
                   timer and a post (the least a header-only Asio runtime compiles)
  net_floor        benchmarks/compile_time/net_floor.cpp: not nodus; asio_floor plus one TCP
                   accept, connect, read and write, a resolve and a TLS handshake, read and write
each in header-only mode (the default) and in compiled mode (-DNODUS_SEPARATE_COMPILATION
-DASIO_SEPARATE_COMPILATION, what nodus::compiled gives its users),
plus, in compiled mode, <nodus/impl/src.hpp> compiled once (the library part). Then each
public header (include/nodus/**/*.hpp outside detail/ and impl/) alone in a TU, -O0, one run.
A compile that fails shows "n/a (compile failed: <first error line>)" in its cell; the script
exits 1 at the end if demo, simple_cluster or one_server failed in header-only mode.

  --quick     1 run of each, and only the first 5 public headers (a smoke test of the script)
  --help      this text

environment:
  CXX=clang++            the compiler (default g++)
  RUNS=5                 runs per figure (default 3; --quick: 1)
  ONLY=demo,one_server   only these TU rows (bare, compiled once and the headers always run)
  DEMO=path/to/tu.cpp    time another TU in the demo row

Takes about 15 minutes on 2 cores (--quick: about 3). Needs /usr/bin/time (Debian: time).
EOF
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick | --smoke) quick=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      echo "compile_time.sh: unknown argument '$1'" >&2
      usage >&2
      exit 2
      ;;
  esac
  shift
done
if ((quick)); then runs=1; fi
if ! [[ "$runs" =~ ^[1-9][0-9]*$ ]]; then
  echo "compile_time.sh: RUNS must be a positive integer, not '$runs'" >&2
  exit 2
fi
if [[ ! -x /usr/bin/time ]]; then
  echo "compile_time.sh: /usr/bin/time is missing (it measures the compiler's memory):" \
    "apt-get install time" >&2
  exit 2
fi
if ! command -v "$cxx" >/dev/null; then
  echo "compile_time.sh: compiler '$cxx' not found (set CXX)" >&2
  exit 2
fi

# The TUs: name -> file and extra flags.
all_tus=(demo simple_cluster one_server asio_floor net_floor)
declare -A tu_file=(
  [demo]="$root/examples/demo.cpp"
  [simple_cluster]="$root/examples/simple_cluster.cpp"
  [one_server]="$here/compile_time/one_server.cpp"
  [asio_floor]="$here/compile_time/asio_floor.cpp"
  [net_floor]="$here/compile_time/net_floor.cpp"
)
# Flags are one a line.
declare -A tu_flags=([demo]="" [simple_cluster]="-I$root/examples" [one_server]=""
  [asio_floor]="" [net_floor]="")
if [[ -n "${DEMO:-}" ]]; then
  tu_file[demo]="$(cd "$(dirname "$DEMO")" && pwd)/$(basename "$DEMO")"
fi

# ONLY keeps the order of the table whatever its own order.
tus=("${all_tus[@]}")
if [[ -n "${ONLY:-}" ]]; then
  declare -A wanted=()
  IFS=',' read -r -a names <<<"$ONLY"
  for name in "${names[@]}"; do
    if [[ -z $name ]]; then continue; fi
    if [[ -z "${tu_file[$name]+set}" ]]; then
      echo "compile_time.sh: ONLY: unknown TU '$name' (known: ${all_tus[*]})" >&2
      exit 2
    fi
    wanted[$name]=1
  done
  tus=()
  for name in "${all_tus[@]}"; do
    if [[ -n "${wanted[$name]+set}" ]]; then tus+=("$name"); fi
  done
  if ((${#tus[@]} == 0)); then
    echo "compile_time.sh: ONLY names no TU (known: ${all_tus[*]})" >&2
    exit 2
  fi
fi
for name in "${tus[@]}"; do
  if [[ ! -f "${tu_file[$name]}" ]]; then
    echo "compile_time.sh: ${tu_file[$name]} does not exist" >&2
    exit 2
  fi
done

# Same definitions as the nodus::nodus CMake target; the Asio and Boost headers are in /usr/include.
common=(-std=c++20 -DASIO_STANDALONE -DASIO_NO_DEPRECATED "-I$root/include" -pthread)
# What nodus::compiled gives its users (with NODUS_COMPILED_ASIO, the default): nodus's and Asio's
# non-template code are both compiled once, in impl/src.hpp.
compiled=(-DNODUS_SEPARATE_COMPILATION -DASIO_SEPARATE_COMPILATION)

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/res" "$tmp/headers"
printf '#include <nodus/impl/src.hpp>\n' >"$tmp/src.cpp"

# The jobs, in the order of the table: "name mode" -> file and flags (mode: header-only, compiled).
jobs=()
declare -A job_file job_flags
for mode in header-only compiled; do
  for name in "${tus[@]}"; do
    job="$name $mode"
    jobs+=("$job")
    job_file[$job]="${tu_file[$name]}"
    job_flags[$job]="${tu_flags[$name]}"
    if [[ $mode == compiled ]]; then
      job_flags[$job]+="${job_flags[$job]:+$'\n'}$(printf '%s\n' "${compiled[@]}")"
    fi
  done
done
job="src compiled"
jobs+=("$job")
job_file[$job]="$tmp/src.cpp"
job_flags[$job]="$(printf '%s\n' "${compiled[@]}")"

# first_error FILE -> the first error line of a compiler's stderr, fit for a Markdown cell.
first_error() {
  local line
  line="$(grep -m 1 -E '(error|Error)[: ]' "$1" || head -n 1 "$1" || true)"
  line="${line//"$root/"/}"
  line="${line//"$tmp/"/}"
  line="${line//|/\\|}"
  line="$(sed -E 's/^[[:space:]]+//; s/[[:space:]]+$//' <<<"$line")"
  if ((${#line} > 200)); then line="${line:0:197}..."; fi
  echo "${line:-no message}"
}

# compile FILE OPT [FLAGS...]: one compile; sets seconds and kib, or failure (the first error
# line; empty on success).
compile() {
  local file="$1" opt="$2" start end status
  shift 2
  seconds="" kib="" failure=""
  start=$(date +%s.%N)
  if /usr/bin/time -o "$tmp/rss" -f '%M' \
    "$cxx" "${common[@]}" "$@" "$opt" -c "$file" -o "$tmp/out.o" 2>"$tmp/err"; then
    end=$(date +%s.%N)
    seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f\n", b - a }')
    kib=$(tail -n 1 "$tmp/rss")
  else
    status=$?
    failure="$(first_error "$tmp/err")"
    if [[ $failure == "no message" ]]; then failure="exit status $status"; fi
  fi
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# fastest: the least disturbed run (a VM's noise only ever adds time; the median of 3 let one
# slow burst on two runs of the bare TU skew every ratio).
fastest() { sort -g | head -n 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
secs() { awk -v a="$1" 'BEGIN { printf "%.2f", a }'; }
mib() { awk -v a="$1" 'BEGIN { printf "%.0f", a / 1024 }'; }
progress() { echo "compile_time.sh: $*" >&2; }

# key KIND JOB OPT -> a file name under $tmp/res.
key() { local k="$2$3"; echo "$tmp/res/$1.${k// /_}"; }

declare -A failed # "job opt" -> first error line
for opt in -O0 -O2; do
  for ((i = 1; i <= runs; ++i)); do
    compile "$here/compile_time/bare.cpp" "$opt"
    if [[ -n $failure ]]; then
      echo "compile_time.sh: the bare TU does not compile ($opt): $failure" >&2
      cat "$tmp/err" >&2
      exit 1
    fi
    echo "$seconds" >>"$(key s bare "$opt")"
    echo "$kib" >>"$(key m bare "$opt")"
    progress "$opt run $i/$runs: bare ${seconds} s"
    for job in "${jobs[@]}"; do
      [[ -n "${failed[$job $opt]+set}" ]] && continue
      flags=()
      if [[ -n "${job_flags[$job]}" ]]; then mapfile -t flags <<<"${job_flags[$job]}"; fi
      compile "${job_file[$job]}" "$opt" "${flags[@]}"
      if [[ -n $failure ]]; then
        failed[$job $opt]="$failure"
        progress "$opt run $i/$runs: $job FAILED: $failure"
        continue
      fi
      echo "$seconds" >>"$(key s "$job" "$opt")"
      echo "$kib" >>"$(key m "$job" "$opt")"
      progress "$opt run $i/$runs: $job ${seconds} s"
    done
  done
done

# The public headers alone, -O0, one run each, header-only.
mapfile -t headers < <(cd "$root/include" && find nodus -name '*.hpp' \
  -not -path '*/detail/*' -not -path '*/impl/*' | LC_ALL=C sort)
if ((quick)); then headers=("${headers[@]:0:5}"); fi
: >"$tmp/header_ok"
: >"$tmp/header_failed"
for header in "${headers[@]}"; do
  tu="$tmp/headers/${header//\//_}.cpp"
  printf '#include <%s>\n' "$header" >"$tu"
  compile "$tu" -O0
  if [[ -n $failure ]]; then
    printf '%s\t%s\n' "$header" "$failure" >>"$tmp/header_failed"
    progress "header $header FAILED: $failure"
  else
    printf '%s\t%s\n' "$seconds" "$header" >>"$tmp/header_ok"
    progress "header $header ${seconds} s"
  fi
done

# ---- output --------------------------------------------------------------------------------------
bare_s0=$(fastest <"$(key s bare -O0)")
bare_s2=$(fastest <"$(key s bare -O2)")
bare_m2=$(median <"$(key m bare -O2)")

# time_cells JOB OPT BARE -> "| s | x bare" for the table.
time_cells() {
  local job="$1" opt="$2" bare="$3" s
  if [[ -n "${failed[$job $opt]+set}" ]]; then
    if [[ $opt == -O2 && "${failed[$job -O0]:-}" == "${failed[$job -O2]}" ]]; then
      printf ' | n/a (compile failed: same error as -O0) | n/a'
    else
      printf ' | n/a (compile failed: %s) | n/a' "${failed[$job $opt]}"
    fi
  else
    s=$(fastest <"$(key s "$job" "$opt")")
    printf ' | %s | %s' "$(secs "$s")" "$(ratio "$s" "$bare")"
  fi
}
memory_cells() {
  local job="$1" m
  if [[ -n "${failed[$job -O2]+set}" ]]; then
    printf ' | n/a | n/a'
  else
    m=$(median <"$(key m "$job" -O2)")
    printf ' | %s | %s' "$(mib "$m")" "$(ratio "$m" "$bare_m2")"
  fi
}

label() {
  case "$1" in
    src) echo "compiled once (impl/src.hpp)" ;;
    asio_floor) echo "asio_floor (not nodus)" ;;
    net_floor) echo "net_floor (not nodus)" ;;
    demo)
      if [[ -n "${DEMO:-}" ]]; then echo "demo (${tu_file[demo]#"$root/"})"; else echo demo; fi
      ;;
    *) echo "$1" ;;
  esac
}

echo "### Compile time and memory"
echo
echo "| TU | mode | -O0 s | -O0 x bare | -O2 s | -O2 x bare | -O2 peak MB | x bare MB |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
echo "| bare (asio.hpp + hana.hpp) | - | $(secs "$bare_s0") | 1.00x | $(secs "$bare_s2") | 1.00x" \
  "| $(mib "$bare_m2") | 1.00x |"
for job in "${jobs[@]}"; do
  read -r name mode <<<"$job"
  printf '| %s | %s' "$(label "$name")" "$mode"
  time_cells "$job" -O0 "$bare_s0"
  time_cells "$job" -O2 "$bare_s2"
  memory_cells "$job"
  printf ' |\n'
done
echo
echo "### Each public header alone (-O0, header-only, one run)"
echo
echo "| header | -O0 s | x bare |"
echo "| --- | --- | --- |"
sort -t "$(printf '\t')" -k 1,1gr "$tmp/header_ok" | while IFS=$'\t' read -r s header; do
  echo "| $header | $(secs "$s") | $(ratio "$s" "$bare_s0") |"
done
while IFS=$'\t' read -r header failure; do
  echo "| $header | n/a (compile failed: $failure) | n/a |"
done <"$tmp/header_failed"
echo
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git -C "$root" status --porcelain 2>/dev/null)" ]]; then commit+=" + changes"; fi
echo "Wall seconds, the fastest of $runs run(s), each run compiling bare.cpp then every TU in turn;"
echo "peak MB: the compiler's max RSS (/usr/bin/time %M), median. Compiled mode: every TU with"
echo "-DNODUS_SEPARATE_COMPILATION -DASIO_SEPARATE_COMPILATION, as nodus::compiled gives them"
echo "(compile only, no link); the library part (impl/src.hpp, with Asio's) is compiled once, its"
echo "own row. Figures are for this machine and this run only."
echo
echo "- compiler: $("$cxx" --version | head -n 1)"
echo "- $(nproc) CPUs, load average $(cut -d ' ' -f 1-3 /proc/loadavg) (1/5/15 min) at the end"
echo "- commit $commit"

status=0
for name in "${tus[@]}"; do
  for opt in -O0 -O2; do
    if [[ -n "${failed[$name header-only $opt]+set}" ]]; then
      echo "compile_time.sh: $name does not compile in header-only mode ($opt)" >&2
      status=1
    fi
  done
done
exit "$status"

#!/usr/bin/env bash
# Part 2 of the series with three real examples/db_cleaner processes on 127.0.0.1 (the cluster
# forms by itself, the Epmd strategy over n1, n2, n3). Checks, each wait bounded:
#   - all three meet (Node up on each for the two others);
#   - over 4.5 s (two 2-second runs) exactly one node's DatabaseCleaner logs deleted records;
#   - kill -9 of that node: within 3 s another one starts it, and over the next 4.5 s exactly
#     one of the two left logs deleted records.
#
#   tests/examples/db_cleaner.sh PATH/TO/db_cleaner
#
# The nodes share a port mapper of their own (the first node serves it) on a free port, so
# nothing touches port 4369. Every child is killed and the work folder removed at exit.
set -euo pipefail

bin=${1:?usage: $0 PATH/TO/db_cleaner}
# shellcheck source=tests/examples/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

count() { grep -cF -- "$2" "$work/$1.log" 2>/dev/null || true; }

# cleaning NODES...: which of NODES log deleted records over the next 4.5 s (two runs).
cleaning() {
  local -A before
  local n out=()
  for n in "$@"; do before[$n]=$(count "$n" "DatabaseCleaner: deleted"); done
  sleep 4.5
  for n in "$@"; do
    (($(count "$n" "DatabaseCleaner: deleted") > before[$n])) && out+=("$n")
  done
  echo "${out[@]}"
}

port=$(free_port)
declare -A pid
for n in n1 n2 n3; do
  "$bin" --name "$n@127.0.0.1" --cookie "db_cleaner_$$" --epmd-port "$port" \
    --net-ticktime 1000 >"$work/$n.log" 2>&1 &
  pids+=($!)
  pid[$n]=$!
done
for n in n1 n2 n3; do
  for m in n1 n2 n3; do
    [[ $n == "$m" ]] || wait_for "$work/$n.log" "Node up: $m@127.0.0.1"
  done
done

holders=$(cleaning n1 n2 n3)
echo "the cleaner runs on: $holders"
[[ $(wc -w <<<"$holders") -eq 1 ]] || {
  echo "FAILED: the cleaner ran on '$holders', not on exactly one node" >&2
  exit 1
}
holder=$holders
rest=()
for n in n1 n2 n3; do [[ $n == "$holder" ]] || rest+=("$n"); done
declare -A started
for n in "${rest[@]}"; do started[$n]=$(count "$n" "DatabaseCleaner started"); done

{
  kill -9 "${pid[$holder]}"
  wait "${pid[$holder]}"
} 2>/dev/null || true
echo "killed $holder"
deadline=$((SECONDS + 3))
moved=""
while ((SECONDS < deadline)) && [[ -z $moved ]]; do
  for n in "${rest[@]}"; do
    (($(count "$n" "DatabaseCleaner started") > started[$n])) && moved=$n
  done
  sleep 0.05
done
[[ -n $moved ]] || {
  echo "FAILED: no node started the cleaner within 3 s of the kill" >&2
  exit 1
}
echo "the cleaner moved to $moved"
holders=$(cleaning "${rest[@]}")
[[ $holders == "$moved" ]] || {
  echo "FAILED: after the move the cleaner ran on '$holders', not on $moved alone" >&2
  exit 1
}
echo "db_cleaner: ok"

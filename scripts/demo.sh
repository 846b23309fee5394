#!/usr/bin/env bash
# The main demo: the walkthrough's story with three real node processes on loopback.
# Builds examples/simple_cluster.cpp (CMake target `simple_cluster`) into build/ (NODUS_BUILD_DIR
# picks another directory), starts n1, n2 and n3 on 127.0.0.1, and drives their prompts:
#   n1: connect n2      -> true, "Node up" on both
#   n3: connect n1      -> true; n3 meets n2 too (full mesh, as Erlang's connect_all)
#   n3: list, n1: ping  -> one {ok, node, pong} per node
#   n2: quit            -> "Node down" on n1 and n3
# Every line is prefixed with the node that printed it. Each wait is bounded.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir=${NODUS_BUILD_DIR:-build}
generator=()
[[ -f $build_dir/CMakeCache.txt ]] || generator=(-G Ninja)
log=$(mktemp)
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$log" "$work"
}
trap cleanup EXIT
# Configure quietly (an unchanged configuration rebuilds nothing); show the log only on failure.
if ! cmake -S . -B "$build_dir" "${generator[@]}" -DNODUS_BUILD_EXAMPLES=ON >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
cmake --build "$build_dir" --target simple_cluster
bin="$build_dir/examples/simple_cluster"

# start NAME: runs a node with its prompt on a fifo, its output prefixed and kept in a file.
start() {
  local name=$1
  mkfifo "$work/$name.in"
  "$bin" --name "$name@127.0.0.1" --cookie demo --port 0 --net-ticktime 2000 \
    <"$work/$name.in" >"$work/$name.out" 2>&1 &
  pids+=($!)
  exec {fd}>"$work/$name.in"
  eval "fd_$name=$fd"
  tail -n +1 -f "$work/$name.out" --pid=$! | sed -u "s/^/[$name] /" &
  pids+=($!)
}
# say NAME TEXT: types TEXT at NAME's prompt.
say() {
  local fd_var="fd_$1"
  echo "\$ $1> $2"
  echo "$2" >&"${!fd_var}"
}
# wait_for NAME TEXT: waits (10 s at most) until NAME has printed a line containing TEXT.
wait_for() {
  for _ in $(seq 100); do
    grep -qF -- "$2" "$work/$1.out" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "demo: $1 did not print '$2' within 10 s" >&2
  exit 1
}
port_of() { sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$work/$1.out" | head -n 1; }

for n in n1 n2 n3; do start $n; done
for n in n1 n2 n3; do wait_for $n "listening on port"; done
p1=$(port_of n1)
p2=$(port_of n2)

say n1 "connect n2@127.0.0.1:$p2"
wait_for n2 "Node up: n1@127.0.0.1"
say n3 "connect n1@127.0.0.1:$p1"
wait_for n3 "Node up: n2@127.0.0.1"
say n3 "list"
wait_for n3 "[n1@127.0.0.1, n2@127.0.0.1]"
say n1 "ping"
wait_for n1 "{ok, n3@127.0.0.1, pong}"
say n2 "quit"
wait_for n1 "Node down: n2@127.0.0.1"
wait_for n3 "Node down: n2@127.0.0.1"
say n1 "list"
wait_for n1 "[n3@127.0.0.1]"
say n1 "quit"
say n3 "quit"
wait_for n3 "Node down: n1@127.0.0.1"
sleep 0.2  # let the prefixed output catch up before the script ends
echo "demo: done"

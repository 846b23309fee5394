#!/usr/bin/env bash
# The main demo: the walkthrough's story with three real node processes on loopback, the cluster
# formed by libcluster's Epmd strategy in nodus form (examples/topologies.hpp):
#   n1, n2, n3 start in a random order, with no manual connect: each registers with the port
#   mapper (the first one serves it: no epmd needs to run), logs "[nodus:example] unable to
#   connect to ..." for the nodes not started yet, and they all meet ("Node up" on each);
#   n3: list, n1: ping  -> one {ok, node, pong} per node
#   n2: quit            -> "Node down" on n1 and n3; n2 again -> "Node up" on n1 and n3
# Builds examples/simple_cluster.cpp (CMake target `simple_cluster`) into build/ (NODUS_BUILD_DIR
# picks another directory). Every line is prefixed with the node that printed it. Each wait is
# bounded. The port mapper port is ERL_EPMD_PORT when set, else 4369.
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
  rm -f "$work/$name.in"
  mkfifo "$work/$name.in"
  "$bin" --name "$name@127.0.0.1" --cookie demo --net-ticktime 2000 \
    <"$work/$name.in" >>"$work/$name.out" 2>&1 &
  pids+=($!)
  exec {fd}>"$work/$name.in"
  eval "fd_$name=$fd"
  tail -n 0 -F "$work/$name.out" --pid=$! 2>/dev/null | sed -u "s/^/[$name] /" &
  pids+=($!)
}
# say NAME TEXT: types TEXT at NAME's prompt.
say() {
  local fd_var="fd_$1"
  echo "\$ $1> $2"
  echo "$2" >&"${!fd_var}"
}
# wait_for NAME TEXT [N]: waits (10 s at most) until NAME has printed N (default 1) lines
# containing TEXT.
wait_for() {
  local want=${3:-1}
  for _ in $(seq 100); do
    [[ $(grep -cF -- "$2" "$work/$1.out" 2>/dev/null || true) -ge $want ]] && return 0
    sleep 0.1
  done
  echo "demo: $1 did not print '$2' within 10 s" >&2
  exit 1
}

order=$(printf 'n1\nn2\nn3\n' | shuf | tr '\n' ' ')
echo "# starting ${order% } (a random order), no manual connect"
for n in $order; do
  : >"$work/$n.out"
  start "$n"
  wait_for "$n" "listening on port"
done
for n in n1 n2 n3; do
  for m in n1 n2 n3; do
    [[ $n == "$m" ]] || wait_for "$n" "Node up: $m@127.0.0.1"
  done
done
say n3 "list"
wait_for n3 "[n1@127.0.0.1, n2@127.0.0.1]"
say n1 "ping"
wait_for n1 "{ok, n3@127.0.0.1, pong}"
say n2 "quit"
wait_for n1 "Node down: n2@127.0.0.1"
wait_for n3 "Node down: n2@127.0.0.1"
echo "# n2 comes back"
start n2
wait_for n1 "Node up: n2@127.0.0.1" 2
wait_for n3 "Node up: n2@127.0.0.1" 2
say n1 "list"
wait_for n1 "[n2@127.0.0.1, n3@127.0.0.1]"
say n1 "quit"
say n2 "quit"
wait_for n3 "Node down: n1@127.0.0.1"
wait_for n3 "Node down: n2@127.0.0.1" 2
say n3 "quit"
sleep 0.2  # let the prefixed output catch up before the script ends
echo "demo: done"

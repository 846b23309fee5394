#!/usr/bin/env bash
# Part 4 of the series with three real examples/version_monitor processes on 127.0.0.1 (the
# cluster forms by itself, the Epmd strategy over n1, n2, n3; each node joins the others before
# it starts its servers: --sync-nodes-optional, so that a restarted node's singleton stands by). A rolling deploy from 1.0.0 to 2.0.0, each wait
# bounded:
#   - all three at 1.0.0 meet, and the monitor logs that every node runs 1.0.0;
#   - n1 is killed and restarted at 2.0.0: the monitor logs that the versions are out of sync;
#   - n2, then n3 likewise: the monitor announces the new major version 2 on every node.
#
#   tests/examples/version_monitor.sh PATH/TO/version_monitor
#
# The nodes share a port mapper of their own (the first node serves it) on a free port, so
# nothing touches port 4369. Every child is killed and the work folder removed at exit.
set -euo pipefail

bin=${1:?usage: $0 PATH/TO/version_monitor}
work=$(mktemp -d)
pids=()
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do
    {
      kill -9 "$p"
      wait "$p"
    } 2>/dev/null || true
  done
  if ((rc != 0)); then
    for f in "$work"/*.log; do
      [[ -e $f ]] || continue
      echo "---- $(basename "$f")"
      cat "$f"
    done
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for FILE TEXT [SECONDS]: until FILE has a line containing TEXT (a fixed string); fails
# after SECONDS (default 20).
wait_for() {
  local file=$1 text=$2 limit=${3:-20}
  local deadline=$((SECONDS + limit))
  while ((SECONDS < deadline)); do
    grep -qF -- "$text" "$file" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "FAILED: no line with '$text' in $(basename "$file") within $limit s" >&2
  return 1
}

# any_log TEXT [SECONDS]: until one of the logs has a line containing TEXT.
any_log() {
  local text=$1 limit=${2:-20}
  local deadline=$((SECONDS + limit))
  while ((SECONDS < deadline)); do
    cat "$work"/*.log 2>/dev/null | grep -qF -- "$text" && return 0
    sleep 0.1
  done
  echo "FAILED: no log has a line with '$text' within $limit s" >&2
  return 1
}

port=$(free_port)
declare -A pid
# start NAME VERSION: the node, logging to NAME.VERSION.log.
start() {
  "$bin" --name "$1@127.0.0.1" --cookie "version_monitor_$$" --epmd-port "$port" \
    --net-ticktime 1000 --sync-nodes-optional n1@127.0.0.1,n2@127.0.0.1,n3@127.0.0.1 \
    --sync-nodes-timeout 3000 --app-version "$2" >"$work/$1.$2.log" 2>&1 &
  pids+=($!)
  pid[$1]=$!
}
# A node logs "listening" once started: after it joined the others (sync_nodes).
for n in n1 n2 n3; do start "$n" 1.0.0; done
for n in n1 n2 n3; do wait_for "$work/$n.1.0.0.log" "listening on port"; done
any_log "VersionMonitor: every node runs 1.0.0"
echo "every node runs 1.0.0"

first=1
for n in n1 n2 n3; do
  {
    kill -9 "${pid[$n]}"
    wait "${pid[$n]}"
  } 2>/dev/null || true
  start "$n" 2.0.0
  wait_for "$work/$n.2.0.0.log" "listening on port"
  echo "$n runs 2.0.0"
  if ((first)); then
    any_log "VersionMonitor: versions out of sync"
    echo "the monitor saw the versions out of sync"
    first=0
  fi
done
any_log "VersionMonitor: new major version 2 runs on every node"
echo "version_monitor: ok"

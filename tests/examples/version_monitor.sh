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
# shellcheck source=tests/examples/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

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

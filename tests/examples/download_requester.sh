#!/usr/bin/env bash
# Part 3 of the series with three real examples/download_requester processes on 127.0.0.1 (the
# cluster forms by itself, the Epmd strategy over n1, n2, n3); n3 runs the view of alice's
# downloads; requests go to n1's standard input. Each wait bounded:
#   - three requests on n1 are accepted, processed where their ids hash to, and n3's view shows
#     each at 100%, ready, with its file URL;
#   - n3 is killed and started again: its view recovers the three from the other nodes' stores;
#   - a download whose worker is n2 is in progress when n2 is killed: it starts again on another
#     node and the view shows it ready there;
#   - the stores keep a download for the time to live (--ttl-ms 6000) after its last change: the
#     view then shows it expired.
#
#   tests/examples/download_requester.sh PATH/TO/download_requester
#
# The nodes share a port mapper of their own (the first node serves it) on a free port, so
# nothing touches port 4369. Every child is killed and the work folder removed at exit.
set -euo pipefail

bin=${1:?usage: $0 PATH/TO/download_requester}
# shellcheck source=tests/examples/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

port=$(free_port)
declare -A pid
# start NAME LOG INPUT [ARGS...]: the node, reading INPUT, logging to LOG.log.
start() {
  local name=$1 log=$2 input=$3
  shift 3
  "$bin" --name "$name@127.0.0.1" --cookie "download_requester_$$" --epmd-port "$port" \
    --net-ticktime 1000 --sync-nodes-optional n1@127.0.0.1,n2@127.0.0.1,n3@127.0.0.1 \
    --sync-nodes-timeout 3000 --step-ms 300 --ttl-ms 6000 "$@" <"$input" >"$work/$log.log" 2>&1 &
  pids+=($!)
  pid[$name]=$!
}
# n1 reads its requests from a FIFO that this script holds open (so that it never ends).
mkfifo "$work/n1.in"
exec 3<>"$work/n1.in"
start n1 n1 "$work/n1.in"
start n2 n2 /dev/null
start n3 n3.first /dev/null --watch alice
# A node logs "listening" once started: after it joined the others (sync_nodes).
for n in n1 n2 n3.first; do wait_for "$work/$n.log" "listening on port"; done

# accepted_count: how many requests n1 accepted so far.
accepted_count() { grep -c '^accepted ' "$work/n1.log" || true; }

for i in 1 2 3; do echo "request alice https://example.org/file$i.pdf" >&3; done
deadline=$((SECONDS + 20))
until (($(accepted_count) >= 3)); do
  ((SECONDS < deadline)) || {
    echo "FAILED: n1 did not accept the three requests" >&2
    exit 1
  }
  sleep 0.1
done
mapfile -t first < <(grep '^accepted ' "$work/n1.log" | awk '{print $2}')
echo "accepted: $(grep '^accepted ' "$work/n1.log" | tr '\n' ';')"
for id in "${first[@]}"; do
  wait_for "$work/n3.first.log" "[view] alice $id [####################] 100% ready on" 30
done
echo "the view shows the three downloads ready"

# The view's node restarts: the other nodes' stores give it the three back.
{
  kill -9 "${pid[n3]}"
  wait "${pid[n3]}"
} 2>/dev/null || true
start n3 n3.second /dev/null --watch alice
wait_for "$work/n3.second.log" "listening on port"
for id in "${first[@]}"; do
  wait_for "$work/n3.second.log" "[view] alice $id [####################] 100% ready on" 15
done
echo "the restarted view recovered the three downloads"

# A download in progress on n2 when n2 dies starts again elsewhere. Requests until one hashes to
# n2 (each does with probability 1/3; at most 12).
victim=""
for i in $(seq 4 15); do
  before=$(accepted_count)
  echo "request alice https://example.org/big$i.iso" >&3
  deadline=$((SECONDS + 10))
  until (($(accepted_count) > before)); do
    ((SECONDS < deadline)) || {
      echo "FAILED: n1 did not accept request $i" >&2
      exit 1
    }
    sleep 0.05
  done
  line=$(grep '^accepted ' "$work/n1.log" | tail -n 1)
  if [[ $line == *" on n2@127.0.0.1" ]]; then
    victim=$(awk '{print $2}' <<<"$line")
    break
  fi
done
[[ -n $victim ]] || {
  echo "FAILED: none of 12 requests went to n2" >&2
  exit 1
}
wait_for "$work/n3.second.log" "[view] alice $victim [##" 10
{
  kill -9 "${pid[n2]}"
  wait "${pid[n2]}"
} 2>/dev/null || true
echo "killed n2 while it processed $victim"
wait_for "$work/n3.second.log" "[view] alice $victim [####################] 100% ready on" 30
grep -F "[view] alice $victim [####################] 100% ready on" "$work/n3.second.log" |
  grep -qv "on n2@127.0.0.1" || {
  echo "FAILED: $victim was not finished by another node" >&2
  exit 1
}
echo "$victim was started again and finished on another node"

# The time to live: the first downloads leave the stores, and the view, 6 s after their last
# change (the restarted node's store counts from when it received them).
for id in "${first[@]}"; do wait_for "$work/n3.second.log" "[view] $id expired" 20; done
echo "download_requester: ok"

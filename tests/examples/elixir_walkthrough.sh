#!/usr/bin/env bash
# The walkthrough, mixed: an Elixir node running the walkthrough's own SimpleCluster modules
# (examples/elixir/walkthrough.exs) and two nodus nodes running examples/simple_cluster, in one
# cluster on 127.0.0.1. Checks, each wait bounded:
#   - both nodus nodes connect to the Elixir node, and its Observer logs Node up for each;
#   - SimpleCluster.Ping.ping() on the Elixir node gets {:ok, :"nN@127.0.0.1", :pong} from both,
#     and the nodus Ping logs the Elixir caller's From;
#   - `ping` on a nodus node gets {ok, e1@127.0.0.1, pong} from the Elixir node;
#   - a nodus node quits: the Elixir Observer logs Node down; the Elixir node halts: the nodus
#     Observer logs Node down.
#
#   tests/examples/elixir_walkthrough.sh PATH/TO/simple_cluster
#
# Exits 77 (skipped) without `elixir` (Debian: apt-get install elixir). The Elixir node listens on
# a free port P without a port mapper (-start_epmd false -erl_epmd_port P); the nodus nodes dial it
# there and share a port mapper of their own on another free port, so nothing touches port 4369
# and the test can run beside others. Every child is killed and the work folder removed at exit.
set -euo pipefail

bin=${1:?usage: $0 PATH/TO/simple_cluster}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exs="$here/../../examples/elixir/walkthrough.exs"
if ! command -v elixir >/dev/null; then
  echo "elixir is not installed (Debian: apt-get install elixir): skipped"
  exit 77
fi

# shellcheck source=tests/examples/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cookie=walkthrough_$$
eport=$(free_port)
mport=$(free_port)

# The Elixir node, its stdin a FIFO held open on descriptor 3.
mkfifo "$work/e1.in"
elixir --name e1@127.0.0.1 --cookie "$cookie" \
  --erl "-start_epmd false -erl_epmd_port $eport -kernel inet_dist_use_interface {127,0,0,1}" \
  --erl "-kernel inet_dist_listen_min $eport -kernel inet_dist_listen_max $eport" \
  "$exs" <"$work/e1.in" >"$work/e1.log" 2>&1 &
pids+=($!)
exec 3>"$work/e1.in"
wait_for "$work/e1.log" "ready e1@127.0.0.1" 60

# Two nodus nodes, each dialing the Elixir node; they find each other through their port mapper.
# They do not inherit the FIFOs' write ends (3, 4): the end of a node's input is ours to give.
start_nodus() {
  local n=$1
  mkfifo "$work/$n.in"
  "$bin" --name "$n@127.0.0.1" --cookie "$cookie" --epmd-port "$mport" \
    --connect "e1@127.0.0.1:$eport" <"$work/$n.in" >"$work/$n.log" 2>&1 3>&- 4>&- &
  pids+=($!)
}
start_nodus n1
exec 4>"$work/n1.in"
start_nodus n2
exec 5>"$work/n2.in"
wait_for -x "$work/n1.log" "true"
wait_for -x "$work/n2.log" "true"
wait_for "$work/e1.log" "--- Node up: n1@127.0.0.1"
wait_for "$work/e1.log" "--- Node up: n2@127.0.0.1"
wait_for "$work/n1.log" "--- Node up: e1@127.0.0.1"

# SimpleCluster.Ping.ping() on the Elixir node: a pong from each nodus node, whose Ping logs the
# Elixir caller as gen_server's From, {Pid, Tag}.
echo ping >&3
wait_for "$work/e1.log" '{:ok, :"n1@127.0.0.1", :pong}'
wait_for "$work/e1.log" '{:ok, :"n2@127.0.0.1", :pong}'
wait_for "$work/n1.log" "--- Receiving ping from {<'e1@127.0.0.1'."

# ping on a nodus node: a pong from the Elixir node, whose Ping logs the nodus caller.
echo ping >&4
wait_for "$work/n1.log" "{ok, e1@127.0.0.1, pong}"
wait_for "$work/e1.log" "--- Receiving ping from"

# n2 quits: the Elixir Observer sees it go.
echo quit >&5
exec 5>&-
wait_for "$work/e1.log" "--- Node down: n2@127.0.0.1"

# The Elixir node halts (end of its input): the nodus Observer sees it go.
exec 3>&-
wait_for "$work/n1.log" "--- Node down: e1@127.0.0.1"
echo quit >&4
exec 4>&-
# ... and stops cleanly (exit status 0), within the bound.
n1_pid=${pids[1]}
for _ in $(seq 100); do
  kill -0 "$n1_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$n1_pid" 2>/dev/null; then
  echo "FAILED: n1 did not stop within 10 s of quit" >&2
  exit 1
fi
wait "$n1_pid" || {
  echo "FAILED: n1 exited with status $?" >&2
  exit 1
}

echo "elixir_walkthrough: all checks passed"

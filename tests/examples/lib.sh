# tests/examples/lib.sh: what the multi-process example tests share; sourced, not run. It makes
# the work folder ($work) and the list of children ($pids, each killed at exit), prints every
# *.log of the work folder when the test fails, and defines free_port and wait_for.
# KEEP_WORK=1 keeps the work folder (its path is in the output of mktemp: /tmp/tmp.*).
# shellcheck shell=bash

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
  [[ -n ${KEEP_WORK:-} ]] || rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

# free_port: a TCP port free on 127.0.0.1 just now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for [-x] FILE TEXT [SECONDS]: until FILE has a line containing TEXT (with -x: that is
# TEXT), a fixed string; fails after SECONDS (default 20).
wait_for() {
  local how=-qF
  if [[ $1 == -x ]]; then
    how=-qxF
    shift
  fi
  local file=$1 text=$2 limit=${3:-20}
  local deadline=$((SECONDS + limit))
  while ((SECONDS < deadline)); do
    grep "$how" -- "$text" "$file" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "FAILED: no line with '$text' in $(basename "$file") within $limit s" >&2
  return 1
}

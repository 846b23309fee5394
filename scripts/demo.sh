#!/usr/bin/env bash
# Builds the demo (examples/demo.cpp, CMake target `demo`) into build/ and runs it.
# Arguments are passed to the demo; NODUS_BUILD_DIR picks another build directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir=${NODUS_BUILD_DIR:-build}
generator=()
[[ -f $build_dir/CMakeCache.txt ]] || generator=(-G Ninja)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Configure quietly (an unchanged configuration rebuilds nothing); show the log only on failure.
if ! cmake -S . -B "$build_dir" "${generator[@]}" -DNODUS_BUILD_EXAMPLES=ON >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
cmake --build "$build_dir" --target demo
"$build_dir/examples/demo" "$@"

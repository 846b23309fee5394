#!/usr/bin/env bash
# Negative compile test runner.
#   run.sh <c++ compiler> <file.cpp> [compiler flags...]
# Passes iff compiling <file.cpp> (-fsyntax-only) FAILS and the compiler output matches the extended
# regex given on the file's first line:   // EXPECT-ERROR: <ERE>
# Prints why when it does not pass.
set -uo pipefail

if (($# < 2)); then
  echo "usage: $0 <c++ compiler> <file.cpp> [flags...]" >&2
  exit 2
fi
cxx=$1
file=$2
shift 2

first_line=$(head -n 1 -- "$file") || { echo "compile_fail: cannot read $file" >&2; exit 2; }
prefix='// EXPECT-ERROR: '
if [[ $first_line != "$prefix"* ]]; then
  echo "compile_fail: $file: first line must be '${prefix}<extended regex>', found: $first_line"
  exit 1
fi
regex=${first_line#"$prefix"}
regex=${regex%$'\r'}
if [[ -z ${regex// /} ]]; then
  echo "compile_fail: $file: the EXPECT-ERROR regex is empty"
  exit 1
fi
grep -Eq -- "$regex" </dev/null
if (($? == 2)); then
  echo "compile_fail: $file: the EXPECT-ERROR regex is not a valid extended regex: $regex"
  exit 1
fi

# Plain ASCII, uncoloured diagnostics, so that the regex sees the same text on every machine.
cmd=("$cxx" -fsyntax-only -fdiagnostics-color=never "$@" "$file")
output=$(LC_ALL=C "${cmd[@]}" 2>&1)
status=$?

if ((status == 0)); then
  echo "compile_fail: FAILED: $file compiled without error, but it must not compile."
  echo "command: ${cmd[*]}"
  exit 1
fi
if ! grep -Eq -- "$regex" <<<"$output"; then
  echo "compile_fail: FAILED: $file failed to compile (exit $status), but the output does not"
  echo "match the expected regex: $regex"
  echo "command: ${cmd[*]}"
  echo "---- compiler output ----"
  printf '%s\n' "$output"
  exit 1
fi
echo "compile_fail: ok: $file fails to compile as expected (matched: $regex)"
printf '%s\n' "$output" | grep -E -m 3 -- "$regex"
exit 0

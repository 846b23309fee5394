#!/usr/bin/env bash
# Builds and runs every nodus test: the meson list check, CMake + Ninja + ctest, then meson test
# (all but the compile_fail suite and test_headers, which ctest runs).
# Assumes the dependencies are installed (scripts/install-deps.sh). Exits non-zero on any failure.
#
#   scripts/test.sh            everything
#   scripts/test.sh lists      only check that the meson file lists name every file that exists
#   scripts/test.sh fix-lists  rewrite those lists from the tree (then review the diff)
#   scripts/test.sh cmake      only the CMake build and ctest
#   scripts/test.sh meson      only the meson build and meson test
#
# Environment (all optional):
#   NODUS_BUILD_DIR=build              CMake build directory
#   NODUS_MESON_BUILD_DIR=build-meson  meson build directory
#   NODUS_BUILD_TYPE=Debug             CMake build type (Debug: a header-only test TU compiles in
#                                      half the time and memory of RelWithDebInfo with g++; the
#                                      sanitizer stage of .ci/run builds RelWithDebInfo)
#   NODUS_SANITIZE=address,undefined   sanitizers for the test/example builds (default: none)
#   NODUS_WARNINGS_AS_ERRORS=ON        -Werror on nodus' own targets (default OFF)
#   NODUS_BUILD_BENCHMARKS=ON          build the benchmarks too (default: ON in the compiled mode,
#                                      OFF header-only, where each is a heavy -O2 TU)
#   NODUS_BUILD_EXAMPLE_VARIANTS=ON    CMake: simple_cluster once per topology alias too (default: ON
#                                      in the compiled mode; header-only, each is a heavy TU, and
#                                      meson and CI's sanitizer stage build them all)
#   NODUS_SKIP_MESON=1                 skip the meson build (same as `scripts/test.sh cmake`)
#   NODUS_COMPILED=OFF                 CMake: build our tests/examples against nodus::compiled (ON)
#                                      or header-only (OFF, the default)
#   NODUS_MESON_COMPILED=true          meson: against nodus_compiled_dep (true, the default) or
#                                      header-only (false); so the README's test command builds
#                                      both modes
#   NODUS_JOBS=N                       parallel compile and test jobs (default: nproc)
#   CXX=clang++                        compiler, for a fresh build directory
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

what=${1:-all}
case $what in all | lists | fix-lists | cmake | meson) ;; *)
  echo "usage: $0 [all|lists|fix-lists|cmake|meson]" >&2
  exit 2
  ;;
esac

build_dir=${NODUS_BUILD_DIR:-build}
meson_dir=${NODUS_MESON_BUILD_DIR:-build-meson}
build_type=${NODUS_BUILD_TYPE:-Debug}
sanitize=${NODUS_SANITIZE:-}
werror=${NODUS_WARNINGS_AS_ERRORS:-OFF}
compiled=${NODUS_COMPILED:-OFF}
benchmarks=${NODUS_BUILD_BENCHMARKS:-$compiled}
variants=${NODUS_BUILD_EXAMPLE_VARIANTS:-$compiled}
meson_compiled=${NODUS_MESON_COMPILED:-true}
jobs=${NODUS_JOBS:-$(nproc)}

step() { printf '\n==== test.sh: %s\n' "$*"; }

# ---- the meson lists must name every file that exists (meson has no glob) -----------------------
# Prints one line per file to add to (or remove from) a list, and fails if there is any.
check_meson_lists() {
  step "meson file lists vs. the tree"
  local problems=0 f rel layer dir
  shopt -s nullglob
  report() {
    echo "meson lists: $*"
    problems=$((problems + 1))
  }

  # Public headers (not detail/, impl/) -> nodus_public_headers in tests/meson.build.
  while IFS= read -r rel; do
    grep -qF "'$rel'" tests/meson.build ||
      report "add '$rel' to nodus_public_headers in tests/meson.build"
  done < <(cd include && find nodus -name '*.hpp' -not -path '*/detail/*' -not -path '*/impl/*' |
    LC_ALL=C sort)

  # tests/<layer>/*.cpp -> nodus_test_layers['<layer>'] in tests/meson.build.
  for dir in tests/*/; do
    layer=$(basename "$dir")
    case $layer in compile_fail | headers | consumer | fuzz) continue ;; esac
    local sources=("$dir"*.cpp)
    ((${#sources[@]} > 0)) || continue
    [[ -f $dir/main.cpp ]] ||
      report "tests/$layer/ has .cpp files but no main.cpp (#define BOOST_TEST_MODULE nodus_$layer)"
    grep -qE "^[[:space:]]*'$layer'[[:space:]]*:" tests/meson.build ||
      report "add the key '$layer': [ ] to nodus_test_layers in tests/meson.build"
    for f in "${sources[@]}"; do
      rel=$layer/$(basename "$f")
      grep -qF "'$rel'" tests/meson.build ||
        report "add '$rel' to nodus_test_layers['$layer'] in tests/meson.build"
    done
  done

  # tests/compile_fail/*.cpp -> nodus_compile_fail in tests/meson.build.
  for f in tests/compile_fail/*.cpp; do
    rel=compile_fail/$(basename "$f")
    grep -qF "'$rel'" tests/meson.build ||
      report "add '$rel' to nodus_compile_fail in tests/meson.build"
  done

  # examples/*.cpp -> nodus_examples in meson.build.
  for f in examples/*.cpp; do
    grep -qF "'$f'" meson.build || report "add '$f' to nodus_examples in meson.build"
  done

  # Entries naming a file that no longer exists.
  while IFS= read -r rel; do
    case $rel in nodus/*) f=include/$rel ;; *) f=tests/$rel ;; esac
    [[ -f $f ]] || report "remove '$rel' from tests/meson.build ($f does not exist)"
  done < <(grep -v '^[[:space:]]*#' tests/meson.build | grep -oE "'[^']+\.(hpp|cpp)'" | tr -d "'")
  while IFS= read -r rel; do
    [[ -f $rel ]] || report "remove '$rel' from meson.build (it does not exist)"
  done < <(grep -v '^[[:space:]]*#' meson.build | grep -oE "'examples/[^']+'" | tr -d "'")
  shopt -u nullglob

  if ((problems > 0)); then
    echo "meson lists: $problems problem(s); fix the lists above (meson has no glob)."
    return 1
  fi
  echo "meson lists: up to date"
}

# Rewrites the lists in meson.build and tests/meson.build from the tree (python3 comes with meson).
fix_meson_lists() {
  step "rewriting the meson file lists from the tree"
  python3 - <<'PY'
import pathlib, re

def block(items, indent):
    return "".join(f"{indent}'{i}',\n" for i in items)

def replace_list(text, name, items):
    pattern = re.compile(rf"^{name} = \[\n(?:.*?\n)?\]", re.S | re.M)
    assert pattern.search(text), f"list {name} not found"
    return pattern.sub(lambda m: f"{name} = [\n{block(items, '  ')}]", text, count=1)

tests = pathlib.Path("tests")
headers = sorted(str(p.relative_to("include")) for p in pathlib.Path("include/nodus").rglob("*.hpp")
                 if not {"detail", "impl"} & set(p.parts))
text = (tests / "meson.build").read_text()
text = replace_list(text, "nodus_public_headers", headers)
text = replace_list(text, "nodus_compile_fail",
                    sorted(f"compile_fail/{p.name}" for p in (tests / "compile_fail").glob("*.cpp")))
old = re.search(r"^nodus_test_layers = \{\n(.*?)^\}", text, re.S | re.M)
layers = re.findall(r"^  '([^']+)': \[", old.group(1), re.M)
layers += sorted(d.name for d in tests.iterdir() if d.is_dir() and d.name not in layers
                 and d.name not in ("compile_fail", "headers", "consumer", "fuzz") and any(d.glob("*.cpp")))
body = "".join(f"  '{l}': [\n" + block(sorted(f"{l}/{p.name}" for p in (tests / l).glob("*.cpp")), "    ")
               + "  ],\n" for l in layers)
text = text[:old.start(1)] + body + text[old.end(1):]
(tests / "meson.build").write_text(text)
root = pathlib.Path("meson.build")
root.write_text(replace_list(root.read_text(), "nodus_examples",
                             sorted(f"examples/{p.name}" for p in pathlib.Path("examples").glob("*.cpp"))))
PY
  echo "meson lists: rewritten; review with git diff meson.build tests/meson.build"
}

run_cmake() {
  local start=$SECONDS
  step "CMake configure ($build_dir, $build_type${sanitize:+, sanitize=$sanitize}, compiled=$compiled)"
  local generator=()
  [[ -f $build_dir/CMakeCache.txt ]] || generator=(-G Ninja)
  cmake -S . -B "$build_dir" "${generator[@]}" \
    -DCMAKE_BUILD_TYPE="$build_type" \
    -DNODUS_SANITIZE="$sanitize" \
    -DNODUS_WARNINGS_AS_ERRORS="$werror" \
    -DNODUS_BUILD_TESTS=ON -DNODUS_BUILD_EXAMPLES=ON \
    -DNODUS_BUILD_BENCHMARKS="$benchmarks" \
    -DNODUS_BUILD_EXAMPLE_VARIANTS="$variants" \
    -DNODUS_COMPILED="$compiled"
  step "CMake build ($build_dir, -j$jobs)"
  cmake --build "$build_dir" --parallel "$jobs"
  step "ctest ($build_dir)"
  ctest --test-dir "$build_dir" --output-on-failure --no-tests=error --parallel "$jobs"
  echo "test.sh: CMake stage took $((SECONDS - start)) s"
}

run_meson() {
  local start=$SECONDS
  local options=("-Dwerror=$([[ $werror =~ ^(ON|on|1|true|TRUE)$ ]] && echo true || echo false)")
  options+=("-Db_sanitize=${sanitize:-none}" "-Dcompiled=$meson_compiled")
  # Each public header alone is a property of the headers: CMake's test_headers checks it (in both
  # of .ci/run's CMake builds); meson's would add some 65 TUs (134 s of g++ in a 1053 s build).
  options+=("-Dheader_tests=false")
  if [[ -f $meson_dir/meson-private/coredata.dat ]]; then
    step "meson setup --reconfigure ($meson_dir)"
    meson setup --reconfigure "$meson_dir" "${options[@]}"
  else
    step "meson setup ($meson_dir)"
    meson setup "$meson_dir" "${options[@]}"
  fi
  step "meson compile ($meson_dir, -j$jobs)"
  meson compile -C "$meson_dir" -j "$jobs"
  step "meson test ($meson_dir)"
  # The compile_fail suite is left to ctest, which runs it in both CMake modes: it checks our
  # static_asserts, not the meson build.
  meson test -C "$meson_dir" --print-errorlogs --num-processes "$jobs" --no-suite compile_fail
  echo "test.sh: meson stage took $((SECONDS - start)) s"
}

case $what in
  lists) check_meson_lists ;;
  fix-lists) fix_meson_lists && check_meson_lists ;;
  cmake) run_cmake ;;
  meson) check_meson_lists && run_meson ;;
  all)
    check_meson_lists
    run_cmake
    if [[ ${NODUS_SKIP_MESON:-0} == 1 ]]; then
      echo "test.sh: meson skipped (NODUS_SKIP_MESON=1)"
    else
      run_meson
    fi
    ;;
esac
echo "test.sh: all good"

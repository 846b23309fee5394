#!/usr/bin/env bash
# Consumer tests: builds and runs tests/consumer/{cmake,meson} against this repo, as a user would,
# each twice: header-only (consumer) and against the compiled library (consumer_compiled).
#   tests/consumer/run.sh [all|install|subdir|meson]
#   install  cmake --install nodus into a temporary prefix; find_package(nodus CONFIG REQUIRED)
#   subdir   the same consumer with add_subdirectory(<repo>)
#   meson    the repo copied to subprojects/nodus of the meson consumer
# Everything happens in a temporary directory, removed on exit. Exits non-zero on any failure.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$repo/tests/consumer
what=${1:-all}
case $what in all | install | subdir | meson) ;; *)
  echo "usage: $0 [all|install|subdir|meson]" >&2
  exit 2
  ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/nodus-consumer.XXXXXX")
trap 'rm -rf "$work"' EXIT
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
step() { printf '\n==== consumer: %s\n' "$*"; }

consumer_install() {
  step "install nodus into $work/prefix, then find_package(nodus CONFIG REQUIRED)"
  cmake -S "$repo" -B "$work/nodus-build" "${generator[@]}" \
    -DNODUS_BUILD_TESTS=OFF -DNODUS_BUILD_EXAMPLES=OFF -DNODUS_BUILD_BENCHMARKS=OFF
  cmake --build "$work/nodus-build"  # the compiled library (nodus::compiled)
  cmake --install "$work/nodus-build" --prefix "$work/prefix"
  cmake -S "$here/cmake" -B "$work/install-build" "${generator[@]}" \
    -DCMAKE_PREFIX_PATH="$work/prefix"
  # The package must come from the prefix just installed, not from anywhere else on the machine.
  local found
  found=$(sed -n 's/^nodus_DIR:PATH=//p' "$work/install-build/CMakeCache.txt")
  if [[ $found != "$work/prefix/"* ]]; then
    echo "consumer: nodus was found in '$found', not in $work/prefix" >&2
    return 1
  fi
  cmake --build "$work/install-build"
  "$work/install-build/consumer"
  "$work/install-build/consumer_compiled"
}

consumer_subdir() {
  step "add_subdirectory(<repo>)"
  cmake -S "$here/cmake" -B "$work/subdir-build" "${generator[@]}" -DNODUS_SOURCE_DIR="$repo"
  cmake --build "$work/subdir-build"
  "$work/subdir-build/consumer"
  "$work/subdir-build/consumer_compiled"
}

# Copies the repo's files (tracked and untracked, minus what .gitignore excludes, such as build
# directories) to $1; without git, a plain copy minus .git and build*/.
copy_repo() {
  local dest=$1
  mkdir -p "$dest"
  if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$repo" && git ls-files -z --cached --others --exclude-standard |
      while IFS= read -r -d '' f; do if [[ -f $f ]]; then printf '%s\0' "$f"; fi; done |
      tar --null -T - -cf -) | tar -C "$dest" -xf -
  else
    (cd "$repo" && tar --exclude=./.git --exclude='./build*' -cf - .) | tar -C "$dest" -xf -
  fi
}

consumer_meson() {
  step "meson subproject (subprojects/nodus)"
  mkdir -p "$work/meson"
  cp -R "$here/meson/." "$work/meson/"
  copy_repo "$work/meson/subprojects/nodus"
  meson setup "$work/meson-build" "$work/meson"
  meson compile -C "$work/meson-build"
  "$work/meson-build/consumer"
  "$work/meson-build/consumer_compiled"
}

start=$SECONDS
case $what in
  install) consumer_install ;;
  subdir) consumer_subdir ;;
  meson) consumer_meson ;;
  all)
    consumer_install
    consumer_subdir
    consumer_meson
    ;;
esac
echo "consumer: $what passed in $((SECONDS - start)) s"

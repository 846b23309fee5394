#!/usr/bin/env bash
# Builds the API reference from the public headers' comments (docs/Doxyfile, Doxygen from Debian's
# `doxygen` package, installed by scripts/install-deps.sh) into build-docs/html/. Fails on any
# Doxygen warning (a broken doc comment, a reference that does not resolve): the warnings are
# printed with the header's file:line and kept in build-docs/warnings.log.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

command -v doxygen >/dev/null || {
  echo "docs: doxygen is not installed (scripts/install-deps.sh installs it)" >&2
  exit 1
}
# The input filter runs once per header: start the interpreter itself, not a version manager's
# shim (pyenv's costs about a second per header). -S: the filter needs no site packages.
python=$(python3 -c 'import sys; print(sys.executable)')

out=build-docs
start=$SECONDS
rm -rf "$out/html"
mkdir -p "$out"
status=0
{
  cat docs/Doxyfile
  printf 'FILTER_PATTERNS = "*.hpp=%s -S scripts/doxygen_filter.py"\n' "$python"
} | doxygen - 2>"$out/warnings.log" || status=$?
if ((status != 0)) || [[ -s $out/warnings.log ]]; then
  cat "$out/warnings.log" >&2
  echo "docs: FAILED: $(grep -c . "$out/warnings.log") warning line(s) (doxygen exit $status)" >&2
  exit 1
fi
echo "docs: API reference built in $((SECONDS - start)) s: $out/html/index.html"

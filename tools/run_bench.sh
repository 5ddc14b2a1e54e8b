#!/bin/bash
# Runs every benchmark: build/bench/* binaries, then bench/*.sh scripts
# (which may start their own servers).  Each prints its own ratios.
set -u
BUILD=${BUILD:-build}
export WARDEN="$PWD/$BUILD/warden" BUILD
rc=0
for b in "$BUILD"/bench/*; do
  [ -x "$b" ] && [ -f "$b" ] || continue
  # A benchmark with a bench/NAME.sh wrapper is run by that script.
  [ -f "bench/$(basename "$b").sh" ] && continue
  echo "== $b"; "$b" || rc=1
done
for s in bench/*.sh; do
  [ -f "$s" ] || continue
  echo "== $s"; bash "$s" || rc=1
done
exit $rc

#!/bin/bash
# Runs each libFuzzer target given for SECS seconds on a scratch copy of its
# seed corpus (tests/fuzz/corpus/<target>/), from the repository root.
# Prints one line per target with its exec count; a crash, leak or timeout
# fails it and leaves the reproducer in build-fuzz/crashes/<target>/.
# Usage: tools/run_fuzz.sh SECS TARGET...
set -u
secs=$1; shift
fails=0
for t in "$@"; do
  name=$(basename "$t")
  seeds="tests/fuzz/corpus/${name#fuzz_}"
  [ "$name" = fuzz_json ] && seeds=tests/fuzz/corpus/event   # the same documents
  work=$(mktemp -d)
  [ -d "$seeds" ] && cp -r "$seeds"/. "$work"/
  crashes="build-fuzz/crashes/$name"; mkdir -p "$crashes"
  log="build-fuzz/$name.log"
  if "$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
       -artifact_prefix="$crashes/" -print_final_stats=1 "$work" >"$log" 2>&1; then
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
    echo "fuzz: $name ok, ${execs:-?} execs in ${secs}s"
  else
    echo "fuzz: $name FAILED (log $log, reproducer in $crashes/)"
    grep -E 'ERROR|SUMMARY|==[0-9]+==' "$log" | head -5
    fails=$((fails + 1))
  fi
  rm -rf "$work"
done
[ "$fails" = 0 ]

#!/bin/bash
# Runs the unit test binaries given as arguments, then (unless UNIT_ONLY=1)
# every tests/integration/*.sh against the real binary.  Scripts named
# kafka_* get a private Kafka broker, db_* a private MariaDB, kafka_db_*
# both, started once here and stopped on exit.  With SANITIZE=1, also the
# sanitizer stage: the unit tests of build-asan/ (ASan+UBSan), the
# server-less integration scripts on the ASan binary, and every unit test
# under valgrind.  With FUZZ_SECS=N, each libFuzzer target of build-fuzz/
# for N seconds.  Unit binaries named test_broker* need a broker: they are
# left out of the unit, ASan and valgrind stages and run (and counted) once
# by the kafka_* integration script that starts them against the broker
# (tests/integration/kafka_broker.sh).  A unit binary that exits 77 skipped
# itself: counted as skipped, not passed.
#
# The integration stage mostly waits on the broker, the sanitizer and fuzz
# stages mostly burn one core, so on a machine with more than one core
# (or PARALLEL=1) those two stages run in the background beside the
# integration stage, their output kept in $BUILD/stage-*.log and printed
# after it.  PARALLEL=0 runs everything in one sequence.
# SCRIPTS="a.sh b.sh" runs only those integration scripts (with the servers
# their names ask for).
# Ends with the line "N passed, N failed" (plus ", N skipped" when some were).
set -u
BUILD=${BUILD:-build}
export WARDEN="$PWD/$BUILD/warden" BUILD
pass=0; fail=0; skip=0; failed=(); skipped=()
T0=$(date +%s)
VG=""
[ "${VALGRIND:-0}" = 1 ] && export WARDEN_VALGRIND=1 && VG="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --suppressions=$PWD/tools/valgrind.supp"
# Unit binaries that need no server; the others are noted as skipped.
units=()
for t in "$@"; do
  case "$(basename "$t")" in
    *.d) ;;   # make's dependency files, matched by a build/tests/*/test_* glob
    test_broker*) ;;   # needs a broker: run (and counted) once by tests/integration/kafka_broker.sh
    *) units+=("$t") ;;
  esac
done
# Runs one unit binary (after a prefix command such as valgrind, if any):
# returns 0 passed, 1 failed, 2 skipped itself (exit 77).
run_unit() {
  local rc=0
  "$@" || rc=$?
  [ "$rc" = 0 ] && return 0
  [ "$rc" = 77 ] && return 2
  return 1
}
count() {   # result label
  case "$1" in
    0) pass=$((pass+1)) ;;
    2) skip=$((skip+1)); skipped+=("$2 (skipped itself)") ;;
    *) fail=$((fail+1)); failed+=("$2") ;;
  esac
}
elapsed() { echo "$(( $(date +%s) - $1 ))s"; }

# On exit: stop the servers this script started and any background stage.
cleanup() {
  [ -n "${KAFKA_STARTED:-}" ] && tests/kafka/broker.sh stop >/dev/null 2>&1
  [ -n "${DB_STARTED:-}" ] && tests/db/mariadb.sh stop >/dev/null 2>&1
  local j; j=$(jobs -p); [ -n "$j" ] && kill $j 2>/dev/null
  return 0
}
trap cleanup EXIT

stage_units() {
  local t r
  for t in "${units[@]+"${units[@]}"}"; do
    echo "== unit: $t"
    r=0; run_unit $VG "$t" || r=$?
    count "$r" "$t"
  done
}

stage_integration() {
  local scripts s start
  scripts=${SCRIPTS:-$(ls tests/integration/*.sh 2>/dev/null)}
  if echo "$scripts" | grep -q '/kafka_'; then
    if tests/kafka/broker.sh start; then KAFKA_STARTED=1; eval "$(tests/kafka/broker.sh env)"
    else echo "FAIL: could not start the Kafka broker"; fail=$((fail+1)); failed+=("kafka broker"); fi
  fi
  if echo "$scripts" | grep -q '/db_\|/kafka_db_'; then
    if tests/db/mariadb.sh start; then DB_STARTED=1; eval "$(tests/db/mariadb.sh env)"
    else echo "FAIL: could not start MariaDB"; fail=$((fail+1)); failed+=("mariadb"); fi
  fi
  for s in $scripts; do
    case "$s" in
      */kafka_db_*) [ -n "${KAFKA_STARTED:-}" ] && [ -n "${DB_STARTED:-}" ] || continue ;;
      */kafka_*) [ -n "${KAFKA_STARTED:-}" ] || continue ;;
      */db_*) [ -n "${DB_STARTED:-}" ] || continue ;;
    esac
    echo "== integration: $s"
    start=$(date +%s)
    if bash "$s"; then pass=$((pass+1)); echo "-- ok ($(elapsed "$start"))"
    else fail=$((fail+1)); failed+=("$s"); echo "-- FAILED ($(elapsed "$start"))"; fi
  done
}

stage_sanitize() {
  local t at s r start tmp
  tmp=$(mktemp)
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1
  for t in "${units[@]+"${units[@]}"}"; do
    at="build-asan/${t#"$BUILD"/}"
    echo "== asan unit: $at"
    r=0; run_unit "$at" >"$tmp" 2>&1 || r=$?
    [ "$r" = 1 ] && cat "$tmp"
    count "$r" "asan $at"
  done
  for s in tests/integration/*.sh; do
    case "$s" in */kafka_*|*/db_*) continue ;; esac
    echo "== asan integration: $s"
    if WARDEN="$PWD/build-asan/warden" bash "$s"; then pass=$((pass+1))
    else fail=$((fail+1)); failed+=("asan $s"); fi
  done
  for t in "${units[@]+"${units[@]}"}"; do
    echo "== valgrind unit: $t"
    start=$(date +%s)
    r=0; WARDEN_VALGRIND=1 run_unit valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
         --suppressions="$PWD/tools/valgrind.supp" "$t" >"$tmp" 2>&1 || r=$?
    [ "$r" = 1 ] && cat "$tmp"
    count "$r" "valgrind $t"
    echo "-- $(elapsed "$start")"
  done
  rm -f "$tmp"
}

# Each libFuzzer target of build-fuzz/fuzz/ (built by `make fuzz`) for
# FUZZ_SECS seconds on its seed corpus, which replays every earlier crash
# kept there as a regression.
stage_fuzz() {
  local t
  for t in build-fuzz/fuzz/fuzz_*; do
    case "$t" in *.o) continue ;; esac
    echo "== fuzz: $t (${FUZZ_SECS}s)"
    if tools/run_fuzz.sh "$FUZZ_SECS" "$t"; then pass=$((pass+1)); else fail=$((fail+1)); failed+=("fuzz $t"); fi
  done
}

# A stage run in a subshell: its output goes to a log, its counts to a
# file that merge_stage adds in.
bg_stage() {   # name function
  local log="$BUILD/stage-$1.log" res="$BUILD/stage-$1.res"
  rm -f "$res"
  (
    pass=0; fail=0; skip=0; failed=(); skipped=()
    s0=$(date +%s)
    "$2"
    echo "== stage $1 took $(elapsed "$s0")"
    { echo "$pass $fail $skip"
      for f in "${failed[@]+"${failed[@]}"}"; do echo "F $f"; done
      for f in "${skipped[@]+"${skipped[@]}"}"; do echo "S $f"; done; } >"$res"
  ) >"$log" 2>&1 &
}
merge_stage() {   # name
  local log="$BUILD/stage-$1.log" res="$BUILD/stage-$1.res" p f s line
  echo "==== stage $1 (run beside the integration stage; log $log)"
  cat "$log"
  if [ ! -s "$res" ]; then fail=$((fail+1)); failed+=("stage $1 (no result)"); return; fi
  read -r p f s <"$res"
  pass=$((pass+p)); fail=$((fail+f)); skip=$((skip+s))
  while IFS= read -r line; do
    case "$line" in F\ *) failed+=("${line#F }") ;; S\ *) skipped+=("${line#S }") ;; esac
  done <"$res"
}

par=${PARALLEL:-}
[ -z "$par" ] && { [ "$(nproc 2>/dev/null || echo 1)" -gt 1 ] && par=1 || par=0; }
[ "${UNIT_ONLY:-0}" = 1 ] && par=0
stage_units
bg=()
if [ "$par" = 1 ]; then
  if [ "${SANITIZE:-0}" = 1 ]; then bg_stage sanitize stage_sanitize; bg+=(sanitize); fi
fi
if [ "${UNIT_ONLY:-0}" != 1 ]; then
  s0=$(date +%s); stage_integration; echo "== stage integration took $(elapsed "$s0")"
fi
if [ "$par" = 1 ]; then
  wait
  for n in "${bg[@]+"${bg[@]}"}"; do merge_stage "$n"; done
else
  [ "${SANITIZE:-0}" = 1 ] && stage_sanitize
fi
# The fuzz targets use both cores' worth of memory and CPU bursts: after the rest.
[ -n "${FUZZ_SECS:-}" ] && stage_fuzz
for f in "${skipped[@]+"${skipped[@]}"}"; do echo "skipped: $f"; done
for f in "${failed[@]+"${failed[@]}"}"; do echo "failed: $f"; done
echo "== suite took $(elapsed "$T0")"
if [ "$skip" -gt 0 ]; then echo "$pass passed, $fail failed, $skip skipped"; else echo "$pass passed, $fail failed"; fi
[ "$fail" = 0 ]

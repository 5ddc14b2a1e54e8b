#!/bin/bash
# Runs the unit test binaries given as arguments, then (unless UNIT_ONLY=1)
# every tests/integration/*.sh against the real binary.  Scripts named
# kafka_* get a private Kafka broker, db_* a private MariaDB, kafka_db_*
# both, started once here and stopped on exit.  With SANITIZE=1, then: the unit tests of
# build-asan/ (ASan+UBSan) and the server-less integration scripts on the
# ASan binary, and every unit test under valgrind.  Unit binaries named test_broker* need
# a broker: they are left out of the unit, ASan and valgrind stages and run
# (and counted) once by the kafka_* integration script that starts them
# against the broker (tests/integration/kafka_broker.sh).  A unit binary that exits 77 skipped
# itself: counted as skipped, not passed.  Ends with the line
# "N passed, N failed" (plus ", N skipped" when some were).
set -u
BUILD=${BUILD:-build}
export WARDEN="$PWD/$BUILD/warden" BUILD
pass=0; fail=0; skip=0; failed=(); skipped=()
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
for t in "${units[@]+"${units[@]}"}"; do
  echo "== unit: $t"
  r=0; run_unit $VG "$t" || r=$?
  count "$r" "$t"
done
if [ "${UNIT_ONLY:-0}" != 1 ]; then
  scripts=$(ls tests/integration/*.sh 2>/dev/null)
  cleanup() {
    [ -n "${KAFKA_STARTED:-}" ] && tests/kafka/broker.sh stop >/dev/null 2>&1
    [ -n "${DB_STARTED:-}" ] && tests/db/mariadb.sh stop >/dev/null 2>&1
  }
  trap cleanup EXIT
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
    if bash "$s"; then pass=$((pass+1)); echo "-- ok ($(( $(date +%s) - start ))s)"
    else fail=$((fail+1)); failed+=("$s"); echo "-- FAILED ($(( $(date +%s) - start ))s)"; fi
  done
fi
if [ "${SANITIZE:-0}" = 1 ]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1
  for t in "${units[@]+"${units[@]}"}"; do
    at="build-asan/${t#"$BUILD"/}"
    echo "== asan unit: $at"
    r=0; run_unit "$at" >/tmp/warden-asan.$$ 2>&1 || r=$?
    [ "$r" = 1 ] && cat /tmp/warden-asan.$$
    count "$r" "asan $at"
  done
  rm -f /tmp/warden-asan.$$
  for s in tests/integration/*.sh; do
    case "$s" in */kafka_*|*/db_*) continue ;; esac
    echo "== asan integration: $s"
    if WARDEN="$PWD/build-asan/warden" bash "$s"; then pass=$((pass+1))
    else fail=$((fail+1)); failed+=("asan $s"); fi
  done
  for t in "${units[@]+"${units[@]}"}"; do
    echo "== valgrind unit: $t"
    r=0; WARDEN_VALGRIND=1 run_unit valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
         --suppressions="$PWD/tools/valgrind.supp" "$t" >/tmp/warden-vg.$$ 2>&1 || r=$?
    [ "$r" = 1 ] && cat /tmp/warden-vg.$$
    count "$r" "valgrind $t"
  done
  rm -f /tmp/warden-vg.$$
fi
# Fuzz stage: each libFuzzer target of build-fuzz/fuzz/ (built by `make
# fuzz`) for FUZZ_SECS seconds on its seed corpus, which replays every
# earlier crash kept there as a regression.
if [ -n "${FUZZ_SECS:-}" ]; then
  for t in build-fuzz/fuzz/fuzz_*; do
    case "$t" in *.o) continue ;; esac
    echo "== fuzz: $t (${FUZZ_SECS}s)"
    if tools/run_fuzz.sh "$FUZZ_SECS" "$t"; then pass=$((pass+1)); else fail=$((fail+1)); failed+=("fuzz $t"); fi
  done
fi
for f in "${skipped[@]+"${skipped[@]}"}"; do echo "skipped: $f"; done
for f in "${failed[@]+"${failed[@]}"}"; do echo "failed: $f"; done
if [ "$skip" -gt 0 ]; then echo "$pass passed, $fail failed, $skip skipped"; else echo "$pass passed, $fail failed"; fi
[ "$fail" = 0 ]

#!/bin/bash
# Runs the unit test binaries given as arguments, then (unless UNIT_ONLY=1)
# every tests/integration/*.sh against the real binary.  Scripts named
# kafka_* get a private Kafka broker, db_* a private MariaDB, kafka_db_*
# both, started once here and stopped on exit.  With SANITIZE=1, then: the unit tests of
# build-asan/ (ASan+UBSan) and the server-less integration scripts on the
# ASan binary, and every unit test under valgrind.  Ends with the line
# "N passed, N failed".
set -u
BUILD=${BUILD:-build}
export WARDEN="$PWD/$BUILD/warden" BUILD
pass=0; fail=0; failed=()
VG=""
[ "${VALGRIND:-0}" = 1 ] && VG="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --suppressions=$PWD/tools/valgrind.supp"
for t in "$@"; do
  echo "== unit: $t"
  if $VG "$t"; then pass=$((pass+1)); else fail=$((fail+1)); failed+=("$t"); fi
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
  for t in "$@"; do
    at="build-asan/${t#"$BUILD"/}"
    echo "== asan unit: $at"
    if "$at" >/tmp/warden-asan.$$ 2>&1; then pass=$((pass+1))
    else cat /tmp/warden-asan.$$; fail=$((fail+1)); failed+=("asan $at"); fi
  done
  rm -f /tmp/warden-asan.$$
  for s in tests/integration/*.sh; do
    case "$s" in */kafka_*|*/db_*) continue ;; esac
    echo "== asan integration: $s"
    if WARDEN="$PWD/build-asan/warden" bash "$s"; then pass=$((pass+1))
    else fail=$((fail+1)); failed+=("asan $s"); fi
  done
  for t in "$@"; do
    echo "== valgrind unit: $t"
    if valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
         --suppressions="$PWD/tools/valgrind.supp" "$t" >/tmp/warden-vg.$$ 2>&1; then pass=$((pass+1))
    else cat /tmp/warden-vg.$$; fail=$((fail+1)); failed+=("valgrind $t"); fi
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
for f in "${failed[@]+"${failed[@]}"}"; do echo "failed: $f"; done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]

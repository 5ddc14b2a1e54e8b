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
# (tests/integration/kafka_broker.sh); so is test_store_mysql, which needs
# MariaDB (tests/integration/db_store.sh).  A unit binary that exits 77 skipped
# itself: counted as skipped, not passed.
#
# Knobs:
#   JOBS=N      integration scripts run at once (default 4; 1 = one after
#               another); see stage_integration for what runs alone.
#   PARALLEL=0  everything in one sequence.  By default (more than one core,
#               or PARALLEL=1) the unit tests then valgrind, and the ASan
#               part then the fuzz targets, run as two background streams
#               (niced by BG_NICE, default 5) beside the integration stage,
#               their output kept in $BUILD/stage-*.log and printed after it.
#   SANITIZE_BUILD="cmd"  run first in the ASan stream (make test: its ASan
#               and fuzz builds, which so overlap the integration stage).
#   SCRIPTS="a.sh b.sh"  only those integration scripts (with the servers
#               their names ask for); UNIT_ONLY=1 no integration scripts.
# At the end: each integration script's wall time, longest first, their sum
# against the stage's wall time, and each stage's wall time.
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
    test_store_mysql) ;;   # needs MariaDB: run (and counted) once by tests/integration/db_store.sh
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

# The integration stage.  Up to JOBS scripts (default 4) run at once
# against the one broker and MariaDB: each names its topics, groups,
# transactional ids and databases after its own pid (tests/kafka/lib.sh
# kt_init, DB=warden_x_$$), and most of its time is spent waiting on the
# servers.  Each script's output goes to $BUILD/integration/NAME.log and is
# printed whole when it ends, with its wall time.  Exceptions:
#  - a script that stops MariaDB (`tests/db/mariadb.sh pause|restart`) gets
#    a private MariaDB of its own for its run (WARDEN_DB_DIR and the env of
#    tests/db/mariadb.sh), so the others never see the outage;
#  - a script with a line `# suite: alone` (one that asserts wall-time
#    bounds) runs after the others, with no other script beside it.
# The longest scripts start first: the order is the wall times of the last
# run in this build dir ($BUILD/integration/times.tsv), else the list below.
SLOW_FIRST="kafka_db_chaos kafka_db_docs_commands kafka_outage kafka_leaks kafka_changelog
  db_store_outage kafka_db_demo eval_state_ceiling kafka_repart_crash kafka_db_outage kafka_config
  kafka_admin_replays kafka_rewind replay_html"
order_scripts() {   # scripts... -> the same, longest first
  local times="$BUILD/integration/times.tsv" s n t
  for s in "$@"; do
    n=$(basename "$s" .sh); t=""
    [ -f "$times" ] && t=$(awk -v n="$n" '$2 == n { print $1; exit }' "$times")
    if [ -z "$t" ]; then
      t=0
      case " $(echo $SLOW_FIRST) " in *" $n "*) t=$(( 1000 - $(echo $SLOW_FIRST | tr ' ' '\n' | grep -n -x "$n" | cut -d: -f1) )) ;; esac
    fi
    echo "$t $s"
  done | sort -s -k1,1 -rn | cut -d' ' -f2
}
# Runs one script, its output into its log; exit status its own.
run_script() {   # script log
  local s=$1 log=$2
  (
    if grep -qE 'mariadb\.sh (pause|restart)' "$s"; then
      WARDEN_DB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/warden-mariadb-$(basename "$s" .sh).XXXXXX") || exit 1
      export WARDEN_DB_DIR
      trap 'tests/db/mariadb.sh stop >/dev/null 2>&1' EXIT
      tests/db/mariadb.sh start || { echo "FAIL: could not start a private MariaDB"; exit 1; }
      eval "$(tests/db/mariadb.sh env)"
      echo "(a private MariaDB on port $WARDEN_DB_PORT: this script stops it)"
    fi
    bash "$s"
  ) >"$log" 2>&1 </dev/null
}
stage_integration() {
  local scripts s n start jobs alone=() pool=() pid rc
  local -A pid_script=() pid_start=()
  scripts=${SCRIPTS:-$(ls tests/integration/*.sh 2>/dev/null)}
  jobs=${JOBS:-4}
  # The two servers start side by side.
  local kp="" dp=""
  if echo "$scripts" | grep -q '/kafka_'; then tests/kafka/broker.sh start & kp=$!; fi
  if echo "$scripts" | grep -q '/db_\|/kafka_db_'; then tests/db/mariadb.sh start & dp=$!; fi
  if [ -n "$kp" ]; then
    if wait "$kp"; then KAFKA_STARTED=1; eval "$(tests/kafka/broker.sh env)"
    else echo "FAIL: could not start the Kafka broker"; fail=$((fail+1)); failed+=("kafka broker"); fi
  fi
  if [ -n "$dp" ]; then
    if wait "$dp"; then DB_STARTED=1; eval "$(tests/db/mariadb.sh env)"
    else echo "FAIL: could not start MariaDB"; fail=$((fail+1)); failed+=("mariadb"); fi
  fi
  mkdir -p "$BUILD/integration"
  : >"$BUILD/integration/times.new"
  for s in $(order_scripts $scripts); do
    case "$s" in
      */kafka_db_*) [ -n "${KAFKA_STARTED:-}" ] && [ -n "${DB_STARTED:-}" ] || continue ;;
      */kafka_*) [ -n "${KAFKA_STARTED:-}" ] || continue ;;
      */db_*) [ -n "${DB_STARTED:-}" ] || continue ;;
    esac
    if grep -q '^# suite: alone' "$s"; then alone+=("$s"); else pool+=("$s"); fi
  done
  # One finished script: its log, its result, its time.
  reap() {   # pid rc
    local s=${pid_script[$1]} t=$(( $(date +%s) - ${pid_start[$1]} ))
    unset "pid_script[$1]" "pid_start[$1]"
    echo "== integration: $s"
    cat "$BUILD/integration/$(basename "$s" .sh).log"
    if [ "$2" = 0 ]; then pass=$((pass+1)); echo "-- ok (${t}s)"
    else fail=$((fail+1)); failed+=("$s"); echo "-- FAILED (${t}s, log $BUILD/integration/$(basename "$s" .sh).log)"; fi
    echo "$t $(basename "$s" .sh)" >>"$BUILD/integration/times.new"
  }
  wait_one() {
    local p r=0
    wait -n -p p "${!pid_script[@]}" || r=$?
    reap "$p" "$r"
  }
  for s in "${pool[@]+"${pool[@]}"}" "${alone[@]+"${alone[@]}"}"; do
    n=$(basename "$s" .sh)
    if grep -q '^# suite: alone' "$s"; then
      while [ ${#pid_script[@]} -gt 0 ]; do wait_one; done
    else
      while [ ${#pid_script[@]} -ge "$jobs" ]; do wait_one; done
    fi
    start=$(date +%s)
    run_script "$s" "$BUILD/integration/$n.log" &
    pid=$!
    pid_script[$pid]=$s; pid_start[$pid]=$start
    if grep -q '^# suite: alone' "$s"; then wait_one; fi
  done
  while [ ${#pid_script[@]} -gt 0 ]; do wait_one; done
  sort -rn "$BUILD/integration/times.new" >"$BUILD/integration/times.tsv"
  rm -f "$BUILD/integration/times.new"
}

# The per-script wall times of the integration stage, longest first, their
# sum against the stage's wall time (what running JOBS at once saved).
integration_times() {   # stage-seconds
  local f="$BUILD/integration/times.tsv" sum
  [ -s "$f" ] || return 0
  sum=$(awk '{ s += $1 } END { print s }' "$f")
  echo "== integration scripts by wall time (s):"
  awk '{ printf "  %5d  %s\n", $1, $2 }' "$f"
  echo "== integration: $(wc -l <"$f") scripts, ${sum}s of script time in ${1}s of wall time (JOBS=${JOBS:-4})"
}

# The sanitizer stage, in two parts: stage_asan (the unit tests of
# build-asan/ and the server-less integration scripts on its binary; first
# SANITIZE_BUILD, when set, the command that builds build-asan/ and
# build-fuzz/: `make test` passes its ASan and fuzz builds, so they overlap
# the integration stage instead of delaying it) and stage_valgrind (every
# unit test under valgrind).
stage_asan() {
  local t at s r tmp start
  if [ -n "${SANITIZE_BUILD:-}" ]; then
    echo "== sanitizer builds: $SANITIZE_BUILD"
    r=0; env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL bash -c "$SANITIZE_BUILD" || r=$?
    if [ "$r" != 0 ]; then fail=$((fail+1)); failed+=("sanitizer builds ($SANITIZE_BUILD)"); return; fi
  fi
  tmp=$(mktemp)
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1
  for t in "${units[@]+"${units[@]}"}"; do
    at="build-asan/${t#"$BUILD"/}"
    echo "== asan unit: $at"
    start=$(date +%s)
    r=0; run_unit "$at" >"$tmp" 2>&1 || r=$?
    [ "$r" = 1 ] && cat "$tmp"
    count "$r" "asan $at"
    echo "-- $(elapsed "$start")"
  done
  for s in tests/integration/*.sh; do
    case "$s" in */kafka_*|*/db_*) continue ;; esac
    echo "== asan integration: $s"
    start=$(date +%s)
    if WARDEN="$PWD/build-asan/warden" bash "$s" </dev/null; then pass=$((pass+1))
    else fail=$((fail+1)); failed+=("asan $s"); fi
    echo "-- $(elapsed "$start")"
  done
  rm -f "$tmp"
}
stage_valgrind() {
  local t r start tmp
  tmp=$(mktemp)
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
    [ "${BG_NICE:-5}" != 0 ] && renice -n "${BG_NICE:-5}" -p "$BASHPID" >/dev/null 2>&1
    pass=0; fail=0; skip=0; failed=(); skipped=()
    s0=$(date +%s)
    "$2"
    echo "== stage $1 took $(elapsed "$s0")"
    { echo "$pass $fail $skip"
      for f in "${failed[@]+"${failed[@]}"}"; do echo "F $f"; done
      for f in "${skipped[@]+"${skipped[@]}"}"; do echo "S $f"; done; } >"$res"
  ) >"$log" 2>&1 </dev/null &
  bg_pid[$1]=$!
}
wait_stage() { wait "${bg_pid[$1]}" 2>/dev/null || :; }
declare -A bg_pid=()
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
# In parallel: the unit tests then valgrind, and the ASan part then the fuzz
# targets, as two background streams (niced by BG_NICE, default 5, so the
# integration stage, which asserts on timeouts, gets the CPU first) beside
# the integration stage.
stream_asan() { stage_asan; [ -n "${FUZZ_SECS:-}" ] && stage_fuzz; return 0; }
stream_units() { stage_units; [ "${SANITIZE:-0}" = 1 ] && stage_valgrind; return 0; }
bg=()
if [ "$par" = 1 ]; then
  bg_stage units stream_units; bg+=(units)
  if [ "${SANITIZE:-0}" = 1 ] || [ -n "${FUZZ_SECS:-}" ]; then
    if [ "${SANITIZE:-0}" = 1 ]; then bg_stage asan stream_asan; else bg_stage asan stage_fuzz; fi
    bg+=(asan)
  fi
else
  stage_units
fi
if [ "${UNIT_ONLY:-0}" != 1 ]; then
  s0=$(date +%s); stage_integration; si=$(( $(date +%s) - s0 ))
  echo "== stage integration took ${si}s"
fi
if [ "$par" = 1 ]; then
  for n in "${bg[@]}"; do wait_stage "$n"; done
  for n in "${bg[@]}"; do merge_stage "$n"; done
else
  [ "${SANITIZE:-0}" = 1 ] && { stage_asan; stage_valgrind; }
  # The fuzz targets use both cores' worth of memory and CPU bursts: after the rest.
  [ -n "${FUZZ_SECS:-}" ] && stage_fuzz
fi
[ -n "${si:-}" ] && integration_times "$si"
for n in "${bg[@]+"${bg[@]}"}"; do grep -h '^== stage ' "$BUILD/stage-$n.log"; done
[ -n "${si:-}" ] && echo "== stage integration took ${si}s"
for f in "${skipped[@]+"${skipped[@]}"}"; do echo "skipped: $f"; done
for f in "${failed[@]+"${failed[@]}"}"; do echo "failed: $f"; done
echo "== suite took $(elapsed "$T0")"
if [ "$skip" -gt 0 ]; then echo "$pass passed, $fail failed, $skip skipped"; else echo "$pass passed, $fail failed"; fi
[ "$fail" = 0 ]

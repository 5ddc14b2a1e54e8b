# tests/kafka/lib.sh — helpers for tests/integration/kafka_*.sh (sourced).
# Each test gets a work dir, unique topic/group names, and a cleanup trap
# that stops (by pid) every warden process it started.
#
#   kt_init NAME          work dir $KT, id $KID (use in topic and group names)
#   kt_config FILE BODY   a warden.lua with kafka bootstrap + BODY (Lua table fields)
#   kt_warden LOG ARGS…   start $WARDEN ARGS… in the background; pid in $KT_PID,
#                         its log in $KT_LOG (kt_wait_count shows its tail if it exits);
#                         run and split get --stats-json LOG's .json (kt_stats_file);
#                         run gets --set run.repartition=$KT_REPARTITION (default
#                         off: the broker makes every topic 4 partitions, and the
#                         tests of the per-partition path read its slots and
#                         changelog; the kafka_repart_* tests set it on)
#   kt_stop PID [SECS]    SIGTERM, wait (default 30 s); returns warden's exit status
#   kt_count TOPIC        records in TOPIC visible to read_committed
#   kt_read TOPIC [FMT]   dump TOPIC (read_committed), one record a line
#   kt_wait_count TOPIC N SECS   until kt_count TOPIC >= N, else fail
#   kt_stats_file LOG     the --stats-json file of the process logging to LOG
#   kt_stat LOG FIELD     a field of that file (path with /: store/retries,
#                         events_by_topic/TOPIC); empty when absent
#   kt_wait_stat LOG FIELD N SECS   until kt_stat LOG FIELD >= N, else fail
#   kt_final LOG          fail unless the file is the final one (clean exit)
#   kt_wait_log LOG PATTERN N SECS  until PATTERN occurs N times in LOG
#   kt_sample BATCH_MAX BATCH_MS [FIELDS]  the sample events on topic $RAW,
#                         eval's actions/hits in $KT/eval_actions.jsonl and
#                         $KT/eval_hits.jsonl (counts $want, $hits), and a
#                         $KT/warden.lua running the example pack on $RAW
#   kt_fail MSG           print and exit 1

: "${KAFKA_BOOTSTRAP:?run under tools/run_tests.sh, or eval \$(tests/kafka/broker.sh env)}"
WARDEN=${WARDEN:-$PWD/build/warden}
KT_PIDS=()

kt_fail() { echo "FAIL: $*" >&2; exit 1; }

# Waits until URL/readyz answers 200 (the admin API of a warden run whose
# log is LOG), at most SECONDS (default 60: the suite runs four scripts and
# two builds at once); fails with the log's end otherwise.
kt_wait_ready() {
    local url=$1 log=$2 secs=${3:-60} i
    for i in $(seq 1 $((secs * 10))); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" = 200 ] && return 0
        sleep 0.1
    done
    tail -20 "$log" >&2
    kt_fail "$url/readyz: not ready within $secs s"
}

kt_cleanup() {
    local p
    for p in "${KT_PIDS[@]+"${KT_PIDS[@]}"}"; do
        if kill -0 "$p" 2>/dev/null; then kill -KILL "$p" 2>/dev/null || :; fi
    done
    wait 2>/dev/null || :
    if [ "${KT_KEEP:-0}" != 1 ] && [ -n "${KT:-}" ]; then rm -rf "$KT"; fi
}

kt_init() {
    KT=$(mktemp -d "${TMPDIR:-/tmp}/warden-$1.XXXXXX")
    KID="$1.$$.$(date +%s)"
    trap kt_cleanup EXIT
}

kt_config() {
    local file=$1 body=$2
    cat >"$file" <<EOF
return {
  -- heartbeats every 500 ms: a member that joins is taken in within about
  -- that (at librdkafka's 3 s a fast process drained a test's input alone)
  kafka = { ["bootstrap.servers"] = "$KAFKA_BOOTSTRAP", ["session.timeout.ms"] = 6000,
            ["heartbeat.interval.ms"] = 500, ["transaction.timeout.ms"] = 10000 },
  -- The sample events carry fixed 2026 times, produced now: keep the
  -- comparison with warden eval independent of the machine's clock.
  engine = { max_future_ms = 0 },
$body
}
EOF
}

kt_stats_file() { echo "${1%.log}.json"; }

kt_warden() {
    local log=$1; shift
    case "${1:-}" in
        run) set -- "$1" --stats-json "$(kt_stats_file "$log")" --set "run.repartition=${KT_REPARTITION:-off}" "${@:2}" ;;
        split) set -- "$1" --stats-json "$(kt_stats_file "$log")" "${@:2}" ;;
    esac
    WARDEN_LOG=${WARDEN_LOG:-info} "$WARDEN" "$@" >"$log" 2>&1 &
    KT_PID=$!
    KT_LOG=$log
    KT_PIDS+=("$KT_PID")
}

kt_stop() {
    local pid=$1 secs=${2:-30} i
    kill -TERM "$pid" 2>/dev/null || :
    for i in $(seq 1 $((secs * 10))); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "warden $pid did not stop within ${secs}s of SIGTERM" >&2
        kill -KILL "$pid" 2>/dev/null || :
    fi
    wait "$pid"
}

kt_read() {
    timeout 30 kcat -b "$KAFKA_BOOTSTRAP" -C -t "$1" -e -q -X isolation.level=read_committed \
        -f "${2:-%s\n}" 2>/dev/null
}

kt_count() { kt_read "$1" 'x\n' | wc -l; }

kt_wait_count() {
    local topic=$1 n=$2 secs=$3 t0 c
    t0=$(date +%s)
    while :; do
        c=$(kt_count "$topic")
        [ "$c" -ge "$n" ] && return 0
        if [ -n "${KT_PID:-}" ] && ! kill -0 "$KT_PID" 2>/dev/null; then
            local rc=0; wait "$KT_PID" 2>/dev/null || rc=$?
            [ -n "${KT_LOG:-}" ] && grep -v 'level=debug' "$KT_LOG" | tail -15 >&2
            kt_fail "warden (pid $KT_PID) exited (status $rc) while $topic had $c of $n records"
        fi
        [ $(( $(date +%s) - t0 )) -ge "$secs" ] && kt_fail "$topic has $c records, want $n (after ${secs}s)"
        sleep 0.5
    done
}

kt_stat() {
    python3 -c '
import json, sys
try:
    v = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    sys.exit(0)
for part in sys.argv[2].split("/"):
    if not isinstance(v, dict) or part not in v:
        sys.exit(0)
    v = v[part]
print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)
' "$(kt_stats_file "$1")" "$2" 2>/dev/null || :
}

kt_wait_stat() {
    local log=$1 field=$2 n=$3 secs=$4 t0 v
    t0=$(date +%s)
    while :; do
        v=$(kt_stat "$log" "$field")
        [ -n "$v" ] && [ "$v" -ge "$n" ] 2>/dev/null && return 0
        [ $(( $(date +%s) - t0 )) -ge "$secs" ] && { tail -20 "$log" >&2; kt_fail "$field is ${v:-absent} in $(kt_stats_file "$log"), want >= $n (after ${secs}s)"; }
        sleep 0.2
    done
}

kt_final() {
    [ "$(kt_stat "$1" final)" = true ] || { tail -5 "$1" >&2; kt_fail "$(kt_stats_file "$1") is not the final stats (did the process exit cleanly?)"; }
}

kt_wait_log() {
    local log=$1 pat=$2 n=$3 secs=$4 t0 c
    t0=$(date +%s)
    while :; do
        c=$(grep -c -- "$pat" "$log" 2>/dev/null || :)
        [ "${c:-0}" -ge "$n" ] && return 0
        [ $(( $(date +%s) - t0 )) -ge "$secs" ] && { tail -20 "$log" >&2; kt_fail "\"$pat\" seen ${c:-0} times in $log, want $n (after ${secs}s)"; }
        sleep 0.2
    done
}

kt_sample() {
    local bmax=$1 bms=$2 extra=${3:-}
    SAMPLE=examples/events/sample.jsonl
    RAW="raw.$KID"
    "$WARDEN" eval -q --actions "$KT/eval_actions.jsonl" examples/rules "$SAMPLE" >"$KT/eval_hits.jsonl"
    want=$(wc -l <"$KT/eval_actions.jsonl")
    hits=$(wc -l <"$KT/eval_hits.jsonl")
    timeout 60 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -p 0 -l "$SAMPLE"
    kt_config "$KT/warden.lua" "
  streams = { topics = { '$RAW' } },
  rules = '$PWD/examples/rules',
  $extra
  run = { group = 'g.$KID', actions_topic = 'actions.$KID', dlq_topic = 'dlq.$KID',
          batch_max = $bmax, batch_ms = $bms },"
}

# tests/kafka/lib.sh — helpers for tests/integration/kafka_*.sh (sourced).
# Each test gets a work dir, unique topic/group names, and a cleanup trap
# that stops (by pid) every warden process it started.
#
#   kt_init NAME          work dir $KT, id $KID (use in topic and group names)
#   kt_config FILE BODY   a warden.lua with kafka bootstrap + BODY (Lua table fields)
#   kt_warden LOG ARGS…   start $WARDEN ARGS… in the background; pid in $KT_PID
#   kt_stop PID [SECS]    SIGTERM, wait (default 30 s); returns warden's exit status
#   kt_count TOPIC        records in TOPIC visible to read_committed
#   kt_read TOPIC [FMT]   dump TOPIC (read_committed), one record a line
#   kt_wait_count TOPIC N SECS   until kt_count TOPIC >= N, else fail
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
  kafka = { ["bootstrap.servers"] = "$KAFKA_BOOTSTRAP", ["session.timeout.ms"] = 6000,
            ["transaction.timeout.ms"] = 10000 },
  -- The sample events carry fixed 2026 times, produced now: keep the
  -- comparison with warden eval independent of the machine's clock.
  engine = { max_future_ms = 0 },
$body
}
EOF
}

kt_warden() {
    local log=$1; shift
    WARDEN_LOG=${WARDEN_LOG:-debug} "$WARDEN" "$@" >"$log" 2>&1 &
    KT_PID=$!
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
            kt_fail "warden (pid $KT_PID) exited while $topic had $c of $n records"
        fi
        [ $(( $(date +%s) - t0 )) -ge "$secs" ] && kt_fail "$topic has $c records, want $n (after ${secs}s)"
        sleep 0.5
    done
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

#!/bin/bash
# bench/kafka.sh — warden run against the raw librdkafka I/O baselines, in
# one run against a private local broker that it starts and stops:
#   C: build/bench/kafka_passthrough with OUT "-" — a plain,
#      non-transactional consume of the input (the I/O ceiling);
#   P: build/bench/kafka_passthrough — consume → produce every event, with
#      warden run's batching and transactions (the transactional baseline);
#   W1, W2: warden run with the example pack at its default settings (batch
#      size and time, commits in flight) over PARTITIONS partitions, one
#      process (twice: W1b with the broker warm) and two processes in one
#      group;
#   R: the repartitioned path (run.repartition=on, one hop per counter key
#      field), same events; its rate over the last hop's busy time (its
#      first event to the commit of the last), the rate with start-up beside;
#   V, VR: issue 9's velocity job (bench/velocity: failed logins per user in
#      an hour above a threshold) on VELOCITY_EVENTS logins: V over input
#      keyed by user id without repartitioning, VR over unkeyed input
#      repartitioned by user id (loaded by kcat's default sticky
#      partitioner: runs of tens of thousands of consecutive events per
#      partition), VRe the same over input spread event by event (as many
#      producers writing live give); each with warden eval's hit count
#      beside; then VR's and VRe's ratios against the quoted Kafka Streams
#      figures;
#   restore: a slot's changelog of RESTORE_KEYS (default 1,000,000) keys
#      restored at start, timed.
# Each line: events/s, p50/p99 poll→commit, changelog bytes per event,
# warden CPU-seconds and the broker's (from /proc), and the rate against C
# and P; beside them, for reference, Kafka Streams figures quoted from
# issue 9 (not measured here).  EVENTS (default 1000000) events from
# examples/gen_events.  BATCH_MAX / BATCH_MS: the batching of P (default
# warden run's defaults) and, when set, of every warden line.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
WARDEN=${WARDEN:-$PWD/$BUILD/warden}
EVENTS=${EVENTS:-1000000}
PARTITIONS=${PARTITIONS:-4}
RESTORE_KEYS=${RESTORE_KEYS:-1000000}
WSET=()   # warden run at its defaults unless BATCH_MAX / BATCH_MS are given
[ -n "${BATCH_MAX:-}" ] && WSET+=(--set "run.batch_max=$BATCH_MAX")
[ -n "${BATCH_MS:-}" ] && WSET+=(--set "run.batch_ms=$BATCH_MS")
BATCH_MAX=${BATCH_MAX:-10000}   # P's batching: warden run's defaults
BATCH_MS=${BATCH_MS:-100}
for b in "$WARDEN" "$BUILD/bench/kafka_passthrough" "$BUILD/examples/gen_events"; do
    [ -x "$b" ] || { echo "bench/kafka: $b missing (make all first)"; exit 1; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/warden-bench-kafka.XXXXXX")
export WARDEN_KAFKA_DIR="$T/broker" KAFKA_PARTITIONS="$PARTITIONS"
PIDS=()
cleanup() {
    local p
    for p in ${WPID:-} "${PIDS[@]+"${PIDS[@]}"}"; do kill -TERM "$p" 2>/dev/null || :; done
    sleep 1
    for p in ${WPID:-} "${PIDS[@]+"${PIDS[@]}"}"; do kill -KILL "$p" 2>/dev/null || :; done
    tests/kafka/broker.sh stop >/dev/null 2>&1 || :
    rm -rf "$T"
}
trap cleanup EXIT
tests/kafka/broker.sh start
eval "$(tests/kafka/broker.sh env)"
TCK=$(getconf CLK_TCK)
broker_cpu() { awk -v t="$TCK" '{printf "%.2f", ($14 + $15) / t}' "/proc/$KAFKA_BROKER_PID/stat"; }
broker_rss() { awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$KAFKA_BROKER_PID/status"; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b - a}'; }

# 1 M events span about a month of event time: start that far back, so no
# event is stamped after its message time (the engine rejects those).
start=$(date -u -d "-$(( EVENTS / 12000 * 9 / 24 + 2 )) days" +%Y-%m-%dT00:00:00Z)
"$BUILD/examples/gen_events" --count "$EVENTS" --start "$start" --out "$T/events.jsonl"
bytes=$(wc -c <"$T/events.jsonl")
c0=$(broker_cpu); t0=$(date +%s.%N)
timeout 300 kcat -b "$KAFKA_BOOTSTRAP" -P -t in -l -X linger.ms=50 -X batch.num.messages=10000 "$T/events.jsonl"
c1=$(broker_cpu); t1=$(date +%s.%N)
echo "loaded $EVENTS events ($((bytes / 1048576)) MiB) over $PARTITIONS partitions in $(secs "$t0" "$t1") s; broker CPU $(secs "$c0" "$c1") s"

proc_cpu() { awk -v t="$TCK" '{printf "%.2f", ($14 + $15) / t}' "/proc/$1/stat" 2>/dev/null || echo 0; }
jget() { python3 -c 'import json,sys
try: print(json.load(open(sys.argv[1])).get(sys.argv[2], sys.argv[3]))
except Exception: print(sys.argv[3])' "$1" "$2" "${3:-0}"; }
field() { echo "$1" | sed -n "s/.* $2=\([0-9.]*\).*/\1/p"; }
ROWS=()   # name|events/s|p50 us|p99 us|changelog bytes|warden cpu|broker cpu|note
row() { ROWS+=("$1|$2|$3|$4|$5|$6|$7|${8:-}"); }

# C: the I/O ceiling, a plain consume.
c0=$(broker_cpu)
C_OUT=$(timeout 600 "$BUILD/bench/kafka_passthrough" "$KAFKA_BOOTSTRAP" in - bench.c "$EVENTS")
c1=$(broker_cpu)
echo "$C_OUT"
C_RATE=$(field "$C_OUT" events_per_s)
row "C: plain consume (I/O ceiling)" "$C_RATE" "" "" "" "$(field "$C_OUT" cpu_s)" "$(secs "$c0" "$c1")"

# P: the raw librdkafka transactional passthrough.
c0=$(broker_cpu)
P_OUT=$(timeout 600 "$BUILD/bench/kafka_passthrough" "$KAFKA_BOOTSTRAP" in passthrough.out bench.p \
        "$EVENTS" "$BATCH_MAX" "$BATCH_MS")
c1=$(broker_cpu)
echo "$P_OUT"
P_RATE=$(field "$P_OUT" events_per_s)
row "P: transactional passthrough" "$P_RATE" "$(field "$P_OUT" latency_p50_us)" \
    "$(field "$P_OUT" latency_p99_us)" "" "$(field "$P_OUT" cpu_s)" "$(secs "$c0" "$c1")" \
    "batch $BATCH_MAX / $BATCH_MS ms"

# W1: warden run, one process, default settings.
cat >"$T/warden.lua" <<EOF
return {
  kafka = { ["bootstrap.servers"] = "$KAFKA_BOOTSTRAP" },
  streams = { topics = { "in" } },
  rules = "$PWD/examples/rules",
  store = "null:",
  log_level = "warn",
  run = { group = "bench.w", actions_topic = "bench.actions", dlq_topic = "bench.dlq", repartition = "off" },
}
EOF
# One run of config $2 until --max-events EVENTS, as row $1.
# W1 runs twice, the second time with the broker warm (its first run after
# the passthrough met a busier broker: 134,000 against 150,000-161,000
# events/s in the runs after).
w1_run() {
    local name=$1 cfg=$2 x c0 c1 S
    c0=$(broker_cpu)
    WARDEN_LOG=info timeout 600 "$WARDEN" run -c "$cfg" --instance bench --max-events "$EVENTS" \
        --stats-json "$T/w1.json" "${WSET[@]+"${WSET[@]}"}" >"$T/warden.log" 2>&1 &
    WPID=$!
    W1_CPU=0
    while kill -0 "$WPID" 2>/dev/null; do   # warden's CPU (not timeout's) just before it exits
        x=$(proc_cpu "$(jget "$T/w1.json" pid 1)"); [ "$x" = 0 ] || W1_CPU=$x
        sleep 0.2
    done
    wait "$WPID" || { tail -20 "$T/warden.log"; echo "bench/kafka: warden run failed"; exit 1; }
    WPID=
    rm -f "$T/w1.json"
    c1=$(broker_cpu)
    S=$(grep "summary events=" "$T/warden.log" | tail -1)
    echo "warden $(echo "$S" | grep -o 'events=[0-9]* actions=[0-9]* hits=[0-9]* dead_letters=[0-9]* rejected=[0-9]*') commits=$(field "$S" commits) commits_overlapped=$(field "$S" commits_overlapped) commit_seconds=$(field "$S" commit_seconds) commit_stall_seconds=$(field "$S" commit_stall_seconds) snapshot_bytes=$(field "$S" snapshot_bytes) seconds=$(field "$S" busy_seconds) events_per_s=$(field "$S" busy_events_per_s) latency_p50_us=$(field "$S" latency_p50_us) latency_p99_us=$(field "$S" latency_p99_us)"
    row "$name" "$(field "$S" busy_events_per_s)" "$(field "$S" latency_p50_us)" \
        "$(field "$S" latency_p99_us)" "$(field "$S" snapshot_bytes)" "$W1_CPU" "$(secs "$c0" "$c1")" \
        "$(field "$S" commits) commits, $(field "$S" commits_overlapped) in flight"
}
w1_run "W1: warden run, 1 process" "$T/warden.lua"
sed -e 's/group = "bench.w"/group = "bench.w1b"/' -e 's/bench.actions/bench.w1b.actions/' "$T/warden.lua" >"$T/w1b.lua"
w1_run "W1b: the same, again" "$T/w1b.lua"

# W2: two processes in one group (two partitions each), same events, on a
# topic of their own: its first event only until the group has settled
# (both hold partitions, all of them assigned), then the rest, produced
# while they run; timed from the settled group to the moment the sum
# reaches EVENTS.  (Over the loaded topic one process could take every
# partition and be half done before the second joined.)
sed -e 's/group = "bench.w"/group = "bench.w2"/' -e 's/bench.actions/bench.w2.actions/' \
    -e 's/topics = { "in" }/topics = { "in.w2" }/' "$T/warden.lua" >"$T/w2.lua"
head -1 "$T/events.jsonl" | timeout 60 kcat -b "$KAFKA_BOOTSTRAP" -P -t in.w2
c0=$(broker_cpu)
PIDS=()
for i in a b; do
    WARDEN_LOG=info timeout 900 "$WARDEN" run -c "$T/w2.lua" --instance "bench$i" --stats-json "$T/w2$i.json" \
        "${WSET[@]+"${WSET[@]}"}" >"$T/w2$i.log" 2>&1 &
    PIDS+=($!)
done
w2_events() { echo $(( $(jget "$T/w2a.json" events) + $(jget "$T/w2b.json" events) )); }
t0=; e0=0
for i in $(seq 1 6000); do
    pa=$(jget "$T/w2a.json" partitions); pb=$(jget "$T/w2b.json" partitions)
    if [ -z "$t0" ] && [ "$pa" -gt 0 ] && [ "$pb" -gt 0 ] && [ $((pa + pb)) -ge "$PARTITIONS" ]; then
        t0=$(date +%s.%N); e0=$(w2_events)
        tail -n +2 "$T/events.jsonl" | timeout 300 kcat -b "$KAFKA_BOOTSTRAP" -P -t in.w2 \
            -X linger.ms=50 -X batch.num.messages=10000 &
    fi
    [ "$(w2_events)" -ge "$EVENTS" ] && break
    for p in "${PIDS[@]}"; do
        kill -0 "$p" 2>/dev/null || { tail -20 "$T"/w2?.log; echo "bench/kafka: warden run (2 processes) failed"; exit 1; }
    done
    sleep 0.1
done
t1=$(date +%s.%N)
W2_CPU=$(awk -v a="$(proc_cpu "$(jget "$T/w2a.json" pid 1)")" -v b="$(proc_cpu "$(jget "$T/w2b.json" pid 1)")" \
    'BEGIN {printf "%.2f", a + b}')
c1=$(broker_cpu)
for p in "${PIDS[@]}"; do kill -TERM "$p"; done
for p in "${PIDS[@]}"; do wait "$p" || :; done
PIDS=()
W2_RATE=$(awk -v n="$EVENTS" -v e="$e0" -v a="${t0:-$t1}" -v b="$t1" 'BEGIN {s = b - a; r = 0; if (s > 0) r = (n - e) / s; printf "%.0f", r}')
W2_P50=$(( $(jget "$T/w2a.json" latency_p50_us) > $(jget "$T/w2b.json" latency_p50_us) ? $(jget "$T/w2a.json" latency_p50_us) : $(jget "$T/w2b.json" latency_p50_us) ))
W2_P99=$(( $(jget "$T/w2a.json" latency_p99_us) > $(jget "$T/w2b.json" latency_p99_us) ? $(jget "$T/w2a.json" latency_p99_us) : $(jget "$T/w2b.json" latency_p99_us) ))
W2_CL=$(( $(jget "$T/w2a.json" snapshot_bytes) + $(jget "$T/w2b.json" snapshot_bytes) ))
row "W2: warden run, 2 processes" "$W2_RATE" "$W2_P50" "$W2_P99" "$W2_CL" "$W2_CPU" "$(secs "$c0" "$c1")" \
    "events $(jget "$T/w2a.json" events) + $(jget "$T/w2b.json" events), $e0 before the group settled; p50/p99 the larger"

# The repartitioned path (exact counters over the partitions: one hop per
# counter key field, docs/state.md): run config $2 until the last hop has
# evaluated $3 events (stats file $1.json).  Sets RP_RATE (events per second
# of the last hop's busy time: its first event to the commit of the last),
# RP_WALL (events per second from the start, start-up included), RP_CPU
# (the process and its hop processes, from /proc just before the stop),
# RP_CL (changelog bytes of all hops), RP_HOPS, RP_BROKER (broker CPU) and
# RP_JSON; prints a line per hop.
repart_run() {
    local name=$1 cfg=$2 n=$3 i f hp c0 c1 t0 t1
    c0=$(broker_cpu); t0=$(date +%s.%N)
    WARDEN_LOG=info timeout 1200 "$WARDEN" run -c "$cfg" --instance bench --stats-json "$T/$name.json" \
        "${WSET[@]+"${WSET[@]}"}" >"$T/$name.log" 2>&1 &
    WPID=$!
    for i in $(seq 1 2400); do
        [ "$(jget "$T/$name.json" events)" -ge "$n" ] && break
        kill -0 "$WPID" 2>/dev/null || { tail -20 "$T/$name.log"; echo "bench/kafka: warden run ($name) failed"; exit 1; }
        sleep 0.5
    done
    t1=$(date +%s.%N)
    RP_CPU=$(proc_cpu "$(jget "$T/$name.json" pid)")
    RP_BUSY=$(jget "$T/$name.json" busy_seconds)
    echo "  $name last hop: cpu $RP_CPU s, busy $RP_BUSY s"
    RP_HOPS=$(ls "$T/$name".json.hop*.json 2>/dev/null | wc -l)
    RP_CL=$(jget "$T/$name.json" snapshot_bytes)
    for f in "$T/$name".json.hop*.json; do
        [ -f "$f" ] || continue
        hp=$(jget "$f" pid)
        RP_CPU=$(awk -v a="$RP_CPU" -v b="$(proc_cpu "$hp")" 'BEGIN {printf "%.2f", a + b}')
        RP_CL=$(( RP_CL + $(jget "$f" snapshot_bytes) ))
        python3 -c '
import json, sys
d = json.load(open(sys.argv[1])); n = max(int(sys.argv[2]), 1)
print("  %s hop %d: events %d, out %d, bytes out per event %.0f, watermarks out %d, held max %d, late %d, cpu %s s" % (
    sys.argv[4], d["hop"], d["events"], d["out"], d["bytes_out"] / n, d["watermarks_out"], d["held_max"], d["late"],
    sys.argv[3]))
' "$f" "$n" "$(proc_cpu "$hp")" "$name"
    done
    c1=$(broker_cpu)
    kill -TERM "$WPID"; wait "$WPID" || :
    WPID=
    RP_BROKER=$(secs "$c0" "$c1")
    RP_WALL=$(awk -v n="$n" -v s="$(secs "$t0" "$t1")" 'BEGIN {printf "%.0f", n / s}')
    RP_RATE=$(awk -v n="$n" -v s="$RP_BUSY" -v w="$RP_WALL" 'BEGIN {printf "%.0f", (s > 0 ? n / s : w)}')
    RP_JSON=$T/$name.json
}

# R: the repartitioned path with the example pack (counters on four key
# fields), same events.
sed -e 's/group = "bench.w"/group = "bench.r"/' -e 's/repartition = "off"/repartition = "on"/' \
    -e 's/bench.actions/bench.r.actions/' "$T/warden.lua" >"$T/repart.lua"
repart_run r "$T/repart.lua" "$EVENTS"
row "R: warden run, repartitioned" "$RP_RATE" "$(jget "$RP_JSON" latency_p50_us)" \
    "$(jget "$RP_JSON" latency_p99_us)" "$RP_CL" "$RP_CPU" "$RP_BROKER" \
    "$RP_HOPS hops + the last; $RP_WALL ev/s with start-up"

# V, VR: issue 9's velocity job (bench/velocity: failed logins per user in a
# sliding hour above 20) over VELOCITY_EVENTS logins (default EVENTS) in
# PARTITIONS partitions.  V: the input keyed by user id, no repartitioning
# (counts are exact because the input is partitioned by the counter's key).
# VR: the input spread over the partitions without a key, repartitioned by
# user id (one hop).  Both must give warden eval's hits, printed beside.
VEVENTS=${VELOCITY_EVENTS:-$EVENTS}
awk -v n="$VEVENTS" -v t0="$(( ($(date +%s) - 2 * 86400) * 1000 ))" 'BEGIN {
    srand(7)
    for (i = 0; i < n; i++) {
        hot = rand() < 0.02
        u = hot ? "a" int(rand() * 100) : "u" int(rand() * 100000)
        ok = hot ? "false" : (rand() < 0.3 ? "false" : "true")
        printf "%s\t{\"type\":\"login\",\"id\":\"v%d\",\"ts\":%d,\"user\":{\"id\":\"%s\"},\"login\":{\"ip\":\"10.%d.%d.%d\",\"success\":%s}}\n", \
            u, i, t0 + int(i * 7200000 / n), u, int(rand() * 256), int(rand() * 256), int(rand() * 256), ok
    }
}' >"$T/velocity.keyed"
cut -f2- "$T/velocity.keyed" >"$T/velocity.jsonl"
timeout 300 kcat -b "$KAFKA_BOOTSTRAP" -P -t vel.keyed -K $'\t' -l -X linger.ms=50 -X batch.num.messages=10000 \
    "$T/velocity.keyed"
timeout 300 kcat -b "$KAFKA_BOOTSTRAP" -P -t vel.spread -l -X linger.ms=50 -X batch.num.messages=10000 \
    "$T/velocity.jsonl"
timeout 300 kcat -b "$KAFKA_BOOTSTRAP" -P -t vel.each -l -X linger.ms=50 -X batch.num.messages=10000 \
    -X sticky.partitioning.linger.ms=0 "$T/velocity.jsonl"
V_EVAL=$("$WARDEN" eval -q bench/velocity "$T/velocity.jsonl" | wc -l)
sed -e 's/group = "bench.w"/group = "bench.v"/' -e 's/bench.actions/bench.v.actions/' \
    -e 's/topics = { "in" }/topics = { "vel.keyed" }/' -e "s|rules = \"[^\"]*\"|rules = \"$PWD/bench/velocity\"|" \
    "$T/warden.lua" >"$T/velocity.lua"
c0=$(broker_cpu)
WARDEN_LOG=info timeout 600 "$WARDEN" run -c "$T/velocity.lua" --instance bench --max-events "$VEVENTS" \
    --stats-json "$T/v.json" "${WSET[@]+"${WSET[@]}"}" >"$T/v.log" 2>&1 &
WPID=$!
V_CPU=0
while kill -0 "$WPID" 2>/dev/null; do
    x=$(proc_cpu "$(jget "$T/v.json" pid 1)"); [ "$x" = 0 ] || V_CPU=$x
    sleep 0.2
done
wait "$WPID" || { tail -20 "$T/v.log"; echo "bench/kafka: warden run (velocity) failed"; exit 1; }
WPID=
c1=$(broker_cpu)
S=$(grep "summary events=" "$T/v.log" | tail -1)
row "V: velocity job, keyed input" "$(field "$S" busy_events_per_s)" "$(field "$S" latency_p50_us)" \
    "$(field "$S" latency_p99_us)" "$(field "$S" snapshot_bytes)" "$V_CPU" "$(secs "$c0" "$c1")" \
    "hits $(field "$S" hits), warden eval $V_EVAL"
sed -e 's/group = "bench.v"/group = "bench.vr"/' -e 's/bench.v.actions/bench.vr.actions/' \
    -e 's/repartition = "off"/repartition = "on"/' -e 's/"vel.keyed"/"vel.spread"/' "$T/velocity.lua" >"$T/vr.lua"
repart_run vr "$T/vr.lua" "$VEVENTS"
VR_RATE=$RP_RATE VR_CPU=$RP_CPU
row "VR: velocity job, repartitioned" "$RP_RATE" "$(jget "$RP_JSON" latency_p50_us)" \
    "$(jget "$RP_JSON" latency_p99_us)" "$RP_CL" "$RP_CPU" "$RP_BROKER" \
    "hits $(jget "$RP_JSON" hits), warden eval $V_EVAL; $RP_HOPS hop + the last; $RP_WALL ev/s with start-up"
sed -e 's/group = "bench.vr"/group = "bench.vre"/' -e 's/bench.vr.actions/bench.vre.actions/' \
    -e 's/"vel.spread"/"vel.each"/' "$T/vr.lua" >"$T/vre.lua"
repart_run vre "$T/vre.lua" "$VEVENTS"
VRE_RATE=$RP_RATE VRE_CPU=$RP_CPU
row "VRe: the same, event-spread input" "$RP_RATE" "$(jget "$RP_JSON" latency_p50_us)" \
    "$(jget "$RP_JSON" latency_p99_us)" "$RP_CL" "$RP_CPU" "$RP_BROKER" \
    "hits $(jget "$RP_JSON" hits), warden eval $V_EVAL; $RP_WALL ev/s with start-up"

# The restore of RESTORE_KEYS keys: users seen once on one partition (a
# one-counter pack), one run writes their changelog, the next process
# restores the slot before its first event (restore_ms).
mkdir -p "$T/rpack/t"
cat >"$T/rpack/counters.lua" <<'LUA'
return {
  { name = "logins_by_user", stream = "login", key = "user.id", windows = { "1d" } },
}
LUA
cat >"$T/rpack/t/seen.lua" <<'LUA'
return {
  name = "t.seen", version = 1, description = "counts every user", streams = { "login" },
  mode = "shadow", fields = { "user.id" },
  evaluate = function(ev, ctx) ctx.count("logins_by_user", ev.user.id, "1d") end,
}
LUA
awk -v n="$RESTORE_KEYS" -v d="$(date -u -d '-1 hour' +%Y-%m-%dT%H:00:00Z)" 'BEGIN {
    for (i = 0; i <= n; i++) printf "{\"type\":\"login\",\"id\":\"r%d\",\"ts\":\"%s\",\"user\":{\"id\":\"u%d\"}}\n", i, d, i }' \
    >"$T/restore.jsonl"
timeout 300 kcat -b "$KAFKA_BOOTSTRAP" -P -t restore.in -p 0 -l -X linger.ms=50 -X batch.num.messages=10000 \
    "$T/restore.jsonl"
sed -e 's/group = "bench.w"/group = "bench.restore"/' -e 's/bench.actions/bench.restore.actions/' \
    -e 's/topics = { "in" }/topics = { "restore.in" }/' -e "s|rules = \"[^\"]*\"|rules = \"$T/rpack\"|" \
    "$T/warden.lua" >"$T/restore.lua"
WARDEN_LOG=info timeout 600 "$WARDEN" run -c "$T/restore.lua" --instance bench --max-events "$RESTORE_KEYS" \
    >"$T/restore1.log" 2>&1 || { tail -20 "$T/restore1.log"; echo "bench/kafka: the restore's first run failed"; exit 1; }
WARDEN_LOG=info timeout 600 "$WARDEN" run -c "$T/restore.lua" --instance bench --max-events 1 \
    >"$T/restore2.log" 2>&1 || { tail -20 "$T/restore2.log"; echo "bench/kafka: the restore's second run failed"; exit 1; }
S1=$(grep "summary events=" "$T/restore1.log" | tail -1)
S2=$(grep "summary events=" "$T/restore2.log" | tail -1)
RESTORED=$(field "$S2" restored_records)
RESTORE_MS=$(field "$S2" restore_ms)
echo "restore: $RESTORED records ($(field "$S1" snapshot_bytes) bytes written by $(field "$S1" commits) commits of the first run) restored in $RESTORE_MS ms"

echo
uptime
printf '%-32s %9s %7s %7s %9s %8s %8s %6s %6s  %s\n' "kafka, $EVENTS events, $PARTITIONS partitions" \
    "events/s" "p50 ms" "p99 ms" "CL B/ev" "warden s" "broker s" "/C" "/P" "(CPU-seconds; CL: changelog)"
for r in "${ROWS[@]}"; do
    IFS='|' read -r name rate p50 p99 cl wcpu bcpu note <<<"$r"
    awk -v name="$name" -v rate="$rate" -v p50="$p50" -v p99="$p99" -v cl="$cl" -v w="$wcpu" -v b="$bcpu" \
        -v c="$C_RATE" -v p="$P_RATE" -v n="$EVENTS" -v note="$note" 'BEGIN {
        printf "%-32s %9s %7s %7s %9s %8s %8s %6s %6s  %s\n", name, rate,
            p50 == "" ? "-" : sprintf("%.1f", p50 / 1000), p99 == "" ? "-" : sprintf("%.1f", p99 / 1000),
            cl == "" ? "-" : sprintf("%.0f", cl / n), w, b,
            (c > 0 ? sprintf("%.2f", rate / c) : "-"), (p > 0 ? sprintf("%.2f", rate / p) : "-"), note }'
done
printf '%-32s %9s %7s %7s %9s %8s %8s %6s %6s  %s\n' "K: Kafka Streams 3.9 (quoted)" "67000" "-" "251.0" "-" \
    "20.5" "-" "-" "-" "issue 9's velocity job, EOS v2 + repartition; NOT measured here"
for v in "VR $VR_RATE $VR_CPU" "VRe $VRE_RATE $VRE_CPU"; do
    set -- $v
    awk -v l="$1" -v r="$2" -v c="$3" -v n="$VEVENTS" 'BEGIN {
        printf "%s against K: %.2fx the rate (aim >= 2), %.2fx the events per CPU-second (aim >= 5; K: 1M events in 20.5 s)\n",
            l, r / 67000, (c > 0 ? (n / c) / (1000000 / 20.5) : 0) }'
done
echo "restore of $RESTORED changelog records (keys) at start: $RESTORE_MS ms"
echo "aims (issue 9): W1 >= 150000 events/s, p99 <= 250 ms, changelog <= 100 bytes/event"
echo "broker RSS $(broker_rss) MB"

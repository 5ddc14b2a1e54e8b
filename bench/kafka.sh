#!/bin/bash
# bench/kafka.sh — warden run against the raw librdkafka I/O baseline, in one
# run against a private local broker that it starts and stops:
#   P: build/bench/kafka_passthrough — consume → produce every event, with
#      warden run's batching and transactions (the I/O baseline);
#   W: warden run with the example pack (actions, DLQ, changelog snapshots,
#      results to null:) on the same events.
# Prints both rates, W/P, poll-to-commit latency (p50/p99) and the broker's
# CPU time during each phase (from /proc).  EVENTS (default 1000000) events
# from examples/gen_events over PARTITIONS (default 4) partitions.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
WARDEN=${WARDEN:-$PWD/$BUILD/warden}
EVENTS=${EVENTS:-1000000}
PARTITIONS=${PARTITIONS:-4}
BATCH_MAX=${BATCH_MAX:-10000}   # warden run's defaults
BATCH_MS=${BATCH_MS:-100}
for b in "$WARDEN" "$BUILD/bench/kafka_passthrough" "$BUILD/examples/gen_events"; do
    [ -x "$b" ] || { echo "bench/kafka: $b missing (make all first)"; exit 1; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/warden-bench-kafka.XXXXXX")
export WARDEN_KAFKA_DIR="$T/broker" KAFKA_PARTITIONS="$PARTITIONS"
cleanup() {
    if [ -n "${WPID:-}" ]; then kill -KILL "$WPID" 2>/dev/null || :; fi
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

# P: the raw librdkafka passthrough.
c0=$(broker_cpu)
P_OUT=$(timeout 600 "$BUILD/bench/kafka_passthrough" "$KAFKA_BOOTSTRAP" in passthrough.out bench.p \
        "$EVENTS" "$BATCH_MAX" "$BATCH_MS")
c1=$(broker_cpu)
P_CPU=$(secs "$c0" "$c1")
echo "$P_OUT"
P_RATE=$(echo "$P_OUT" | sed -n 's/.* events_per_s=\([0-9]*\).*/\1/p')
P_P99=$(echo "$P_OUT" | sed -n 's/.* latency_p99_us=\([0-9]*\).*/\1/p')

# W: warden run, same events, same batching.
cat >"$T/warden.lua" <<EOF
return {
  kafka = { ["bootstrap.servers"] = "$KAFKA_BOOTSTRAP" },
  streams = { topics = { "in" } },
  rules = "$PWD/examples/rules",
  store = "null:",
  log_level = "warn",
  run = { group = "bench.w", actions_topic = "bench.actions", dlq_topic = "bench.dlq",
          batch_max = $BATCH_MAX, batch_ms = $BATCH_MS, repartition = "off" },
}
EOF
c0=$(broker_cpu)
WARDEN_LOG=info timeout 600 "$WARDEN" run -c "$T/warden.lua" --instance bench --max-events "$EVENTS" \
    >"$T/warden.log" 2>&1 &
WPID=$!
wait "$WPID" || { tail -20 "$T/warden.log"; echo "bench/kafka: warden run failed"; exit 1; }
WPID=
c1=$(broker_cpu)
W_CPU=$(secs "$c0" "$c1")
S=$(grep "summary events=" "$T/warden.log" | tail -1)
W_RATE=$(echo "$S" | sed -n 's/.* busy_events_per_s=\([0-9]*\).*/\1/p')
W_P50=$(echo "$S" | sed -n 's/.* latency_p50_us=\([0-9]*\).*/\1/p')
W_P99=$(echo "$S" | sed -n 's/.* latency_p99_us=\([0-9]*\).*/\1/p')
W_BUSY=$(echo "$S" | sed -n 's/.* busy_seconds=\([0-9.]*\).*/\1/p')
echo "warden $(echo "$S" | grep -o 'events=[0-9]* actions=[0-9]* hits=[0-9]* dead_letters=[0-9]* rejected=[0-9]*') commits=$(echo "$S" | sed -n 's/.* commits=\([0-9]*\).*/\1/p') snapshot_bytes=$(echo "$S" | sed -n 's/.* snapshot_bytes=\([0-9]*\).*/\1/p') seconds=$W_BUSY events_per_s=$W_RATE latency_p50_us=$W_P50 latency_p99_us=$W_P99"
echo
printf '%-34s %12s %16s %14s\n' "kafka, $EVENTS events" "events/s" "p99 poll→commit" "broker CPU s"
printf '%-34s %12s %13s ms %14s\n' "P: librdkafka passthrough" "$P_RATE" "$(awk -v u="$P_P99" 'BEGIN {printf "%.1f", u / 1000}')" "$P_CPU"
printf '%-34s %12s %13s ms %14s\n' "W: warden run (example pack)" "$W_RATE" "$(awk -v u="$W_P99" 'BEGIN {printf "%.1f", u / 1000}')" "$W_CPU"
awk -v w="$W_RATE" -v p="$P_RATE" 'BEGIN {r = 0; if (p > 0) r = w / p; printf "ratio W/P = %.2f (aim: >= 0.50)\n", r}'
W_CL=$(echo "$S" | sed -n 's/.* snapshot_bytes=\([0-9]*\).*/\1/p')
echo "changelog bytes per event: $(awk -v b="$W_CL" -v n="$EVENTS" 'BEGIN {printf "%.0f", b / n}') (aim: <= 100)"

# R: the repartitioned path (exact counters over the partitions: one hop per
# counter key field, docs/state.md), same events, same batching.  Drained
# when the last hop has evaluated every event; warden CPU is the process and
# its hop processes, from /proc just before the stop.
proc_cpu() { awk -v t="$TCK" '{printf "%.2f", ($14 + $15) / t}' "/proc/$1/stat" 2>/dev/null || echo 0; }
sed -e 's/group = "bench.w"/group = "bench.r"/' -e 's/repartition = "off"/repartition = "on"/' \
    -e 's/bench.actions/bench.r.actions/' "$T/warden.lua" >"$T/repart.lua"
c0=$(broker_cpu); t0=$(date +%s.%N)
WARDEN_LOG=info timeout 1200 "$WARDEN" run -c "$T/repart.lua" --instance bench --stats-json "$T/r.json" \
    >"$T/repart.log" 2>&1 &
WPID=$!
for i in $(seq 1 2400); do
    n=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["events"])' "$T/r.json" 2>/dev/null || echo 0)
    [ "$n" -ge "$EVENTS" ] && break
    kill -0 "$WPID" 2>/dev/null || { tail -20 "$T/repart.log"; echo "bench/kafka: warden run (repartitioned) failed"; exit 1; }
    sleep 0.5
done
t1=$(date +%s.%N)
R_PID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$T/r.json")
R_WCPU=$(proc_cpu "$R_PID")
echo "  last hop: cpu $R_WCPU s"
HOPS=$(ls "$T"/r.json.hop*.json 2>/dev/null | wc -l)
for f in "$T"/r.json.hop*.json; do
    hp=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$f")
    R_WCPU=$(awk -v a="$R_WCPU" -v b="$(proc_cpu "$hp")" 'BEGIN {printf "%.2f", a + b}')
    python3 -c '
import json, sys
d = json.load(open(sys.argv[1])); n = max(int(sys.argv[2]), 1)
print("  hop %d: events %d, out %d, bytes out per event %.0f, watermarks out %d, held max %d, late %d, cpu %s s" % (
    d["hop"], d["events"], d["out"], d["bytes_out"] / n, d["watermarks_out"], d["held_max"], d["late"], sys.argv[3]))
' "$f" "$EVENTS" "$(proc_cpu "$hp")"
done
c1=$(broker_cpu)
kill -TERM "$WPID"; wait "$WPID" || :
WPID=
R_SECS=$(secs "$t0" "$t1")
R_RATE=$(awk -v n="$EVENTS" -v s="$R_SECS" 'BEGIN {printf "%.0f", n / s}')
R_P99=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("latency_p99_us", 0))' "$T/r.json")
printf '%-34s %12s %13s ms %14s   warden CPU %s s over %s hops + the last (start-up included)\n' \
    "R: warden run, repartitioned" "$R_RATE" "$(awk -v u="$R_P99" 'BEGIN {printf "%.1f", u / 1000}')" \
    "$(secs "$c0" "$c1")" "$R_WCPU" "$HOPS"
echo "broker RSS $(broker_rss) MB"

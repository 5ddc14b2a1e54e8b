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
          batch_max = $BATCH_MAX, batch_ms = $BATCH_MS },
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
echo "broker RSS $(broker_rss) MB"

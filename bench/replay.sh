#!/bin/bash
# bench/replay.sh — warden replay from Kafka next to warden eval on the same
# events from a file, in one run against a private local broker that it
# starts and stops.  EVENTS (default 1000000) events from examples/gen_events
# retained over PARTITIONS (default 4) partitions; the example pack.
#   E:  warden eval examples/rules FILE (no output: -o /dev/null)
#   R1: warden replay -c (Kafka) with one pack      aim: >= 80% of E's rate
#   R2: warden replay -c with candidate + baseline  aim: >= 45% of E's rate
#   F1: warden replay --input FILE with one pack (the file path, for reference)
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
WARDEN=${WARDEN:-$PWD/$BUILD/warden}
EVENTS=${EVENTS:-1000000}
PARTITIONS=${PARTITIONS:-4}
for b in "$WARDEN" "$BUILD/examples/gen_events"; do
    [ -x "$b" ] || { echo "bench/replay: $b missing (make all first)"; exit 1; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/warden-bench-replay.XXXXXX")
export WARDEN_KAFKA_DIR="$T/broker" KAFKA_PARTITIONS="$PARTITIONS"
cleanup() {
    tests/kafka/broker.sh stop >/dev/null 2>&1 || :
    rm -rf "$T"
}
trap cleanup EXIT
tests/kafka/broker.sh start
eval "$(tests/kafka/broker.sh env)"
now() { date +%s.%N; }
rate() { awk -v n="$EVENTS" -v a="$1" -v b="$2" 'BEGIN {printf "%.0f", n / (b - a)}'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f", 100 * a / b}'; }

# Events end a day ago and are stamped before their message times.
start=$(date -u -d "-$(( EVENTS / 12000 * 9 / 24 + 2 )) days" +%Y-%m-%dT00:00:00Z)
"$BUILD/examples/gen_events" --count "$EVENTS" --start "$start" --out "$T/events.jsonl"
timeout 300 kcat -b "$KAFKA_BOOTSTRAP" -P -t in -l -X linger.ms=50 -X batch.num.messages=10000 "$T/events.jsonl"
cat > "$T/warden.lua" <<LUA
return {
  kafka = { ["bootstrap.servers"] = "$KAFKA_BOOTSTRAP" },
  streams = { topics = { "in" } },
  rules = "$PWD/examples/rules",
  engine = { max_future_ms = 0 },
}
LUA
echo "loaded $EVENTS events over $PARTITIONS partitions"

t0=$(now); "$WARDEN" eval -q -o /dev/null examples/rules "$T/events.jsonl"; t1=$(now)
E=$(rate "$t0" "$t1")
t0=$(now); "$WARDEN" replay -q -c "$T/warden.lua" --from "$start" --to now --warmup 0 --json "$T/r1.json"; t1=$(now)
R1=$(rate "$t0" "$t1")
t0=$(now); "$WARDEN" replay -q -c "$T/warden.lua" --from "$start" --to now --warmup 0 \
    --baseline examples/rules --json "$T/r2.json"; t1=$(now)
R2=$(rate "$t0" "$t1")
t0=$(now); "$WARDEN" replay -q --input "$T/events.jsonl" --rules examples/rules --json "$T/f1.json"; t1=$(now)
F1=$(rate "$t0" "$t1")
read1=$(python3 -c "import json; r=json.load(open('$T/r1.json')); print(r['events']['read'], r['candidate']['hits'])")
echo "replay read/hits (one pack): $read1"
printf '%-44s %9s ev/s\n' "E  warden eval (file)" "$E"
printf '%-44s %9s ev/s  %3s%% of E (aim 80%%)\n' "R1 warden replay -c, one pack" "$R1" "$(pct "$R1" "$E")"
printf '%-44s %9s ev/s  %3s%% of E (aim 45%%)\n' "R2 warden replay -c, candidate + baseline" "$R2" "$(pct "$R2" "$E")"
printf '%-44s %9s ev/s  %3s%% of E\n' "F1 warden replay --input, one pack" "$F1" "$(pct "$F1" "$E")"

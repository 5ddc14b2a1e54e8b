#!/bin/bash
# bench/replay.sh — warden replay from Kafka next to warden eval on the same
# events from a file, in one run against a private local broker that it
# starts and stops.  EVENTS (default 1000000) events from examples/gen_events
# retained over PARTITIONS (default 4) partitions; the example pack.
#   E:  warden eval examples/rules FILE (no output: -o /dev/null)
#   R1: warden replay -c (Kafka) with one pack      aim: >= 80% of E's rate
#   R2: warden replay -c with candidate + baseline  aim: >= 45% of E's rate
#   F1: warden replay --input FILE with one pack (the file path, for reference)
# Each rate is events over wall time (the process start included) and over
# CPU time (user + sys, librdkafka's threads included): on a shared machine
# the wall ratios move with the neighbours' load, the CPU ratios much less.
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
# timed NAME CMD...: runs CMD, sets NAME_wall and NAME_cpu (seconds).
timed() {
  local name=$1 t w u s
  shift
  t=$( { TIMEFORMAT='%R %U %S'; time "$@" >/dev/null 2>"$T/$name.err"; } 2>&1 ) \
    || { cat "$T/$name.err"; exit 1; }
  read -r w u s <<<"$t"
  printf -v "${name}_wall" %s "$w"
  printf -v "${name}_cpu" %s "$(awk -v u="$u" -v s="$s" 'BEGIN {print u + s}')"
}
rate() { awk -v n="$EVENTS" -v t="$1" 'BEGIN {printf "%.0f", n / t}'; }
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

# measure WARDEN [PREFIX]: the four runs with that binary.
measure() {
  local bin=$1 p=${2:-}
  timed "${p}E" "$bin" eval -q -o /dev/null examples/rules "$T/events.jsonl"
  timed "${p}R1" "$bin" replay -q -c "$T/warden.lua" --from "$start" --to now --warmup 0 --json "$T/r1.json"
  timed "${p}R2" "$bin" replay -q -c "$T/warden.lua" --from "$start" --to now --warmup 0 \
      --baseline examples/rules --json "$T/r2.json"
  timed "${p}F1" "$bin" replay -q --input "$T/events.jsonl" --rules examples/rules --json "$T/f1.json"
}
line() {  # label name aim
  local w c ew ec
  w=$(eval echo "\$${2}_wall") c=$(eval echo "\$${2}_cpu")
  printf '%-44s %9s %9s' "$1" "$(rate "$w")" "$(rate "$c")"
  case "$2" in
    *E) ;;
    *) ew=$(eval echo "\$${2%%[RF]*}E_wall") ec=$(eval echo "\$${2%%[RF]*}E_cpu")
       printf '   %3s%% %3s%%%s' "$(pct "$ew" "$w")" "$(pct "$ec" "$c")" "${3:+  (aim $3)}" ;;
  esac
  echo
}
table() {  # title [PREFIX]
  echo "$1"
  printf '%-44s %9s %9s   %s\n' "" "ev/s wall" "ev/s CPU" "% of E (wall, CPU)"
  line "E  warden eval (file)" "${2:-}E"
  line "R1 warden replay -c, one pack" "${2:-}R1" "80%"
  line "R2 warden replay -c, candidate + baseline" "${2:-}R2" "45%"
  line "F1 warden replay --input, one pack" "${2:-}F1"
}
# COMPARE=/path/to/another/warden measures that binary too, right after this
# one, on the same events (before/after numbers under about the same load).
measure "$WARDEN"
read1=$(python3 -c "import json; r=json.load(open('$T/r1.json')); print(r['events']['read'], r['candidate']['hits'])")
[ -n "${COMPARE:-}" ] && measure "$COMPARE" C_
echo "replay read/hits (one pack): $read1"
table "$WARDEN"
[ -z "${COMPARE:-}" ] || table "$COMPARE (COMPARE)" C_

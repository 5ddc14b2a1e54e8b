#!/bin/bash
# bench/eval.sh — the evaluation benchmark (issue 2): 1,000,000 evaluations
# of generated events (100,000 distinct, made by examples/gen_events, cycled
# ten times) through (1) the example pack and (2) a synthetic 50-rule pack,
# each next to its pure-Lua baseline measured in the same process.
set -eu
BUILD=${BUILD:-build}
TOTAL=${WARDEN_BENCH_EVENTS:-1000000}
events="$BUILD/bench/events-100k.jsonl"
[ -s "$events" ] || "$BUILD/examples/gen_events" --seed 7 --count 100000 --out "$events"
pack50=$(mktemp -d)
trap 'rm -rf "$pack50"' EXIT
bash bench/gen_pack50.sh "$pack50/pack50" >/dev/null
echo "-- example pack (examples/rules)"
"$BUILD/bench/eval" examples/rules "$events" "$TOTAL"
echo "-- synthetic 50-rule pack (bench/gen_pack50.sh)"
"$BUILD/bench/eval" "$pack50/pack50" "$events" "$TOTAL"

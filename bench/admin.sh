#!/bin/bash
# bench/admin.sh — what the admin API costs warden run: the bench/kafka
# workload (example pack, null: store) consumed by warden run without the
# admin API (B) and with it while /metrics is scraped every 100 ms (A), in
# turns, ROUNDS (default 2) times each on a private local broker; the best
# rate of each counts.  Prints both rates and A/B (aim: >= 0.98, i.e. the
# scraping costs under 2% of throughput).  EVENTS (default 300000).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
WARDEN=${WARDEN:-$PWD/$BUILD/warden}
EVENTS=${EVENTS:-300000}
PARTITIONS=${PARTITIONS:-4}
ROUNDS=${ROUNDS:-2}
for b in "$WARDEN" "$BUILD/examples/gen_events"; do
    [ -x "$b" ] || { echo "bench/admin: $b missing (make all first)"; exit 1; }
done
command -v curl >/dev/null || { echo "bench/admin: curl missing (make test-deps)"; exit 1; }
T=$(mktemp -d "${TMPDIR:-/tmp}/warden-bench-admin.XXXXXX")
export WARDEN_KAFKA_DIR="$T/broker" KAFKA_PARTITIONS="$PARTITIONS"
cleanup() {
    if [ -n "${WPID:-}" ]; then kill -KILL "$WPID" 2>/dev/null || :; fi
    if [ -n "${SPID:-}" ]; then kill "$SPID" 2>/dev/null || :; fi
    tests/kafka/broker.sh stop >/dev/null 2>&1 || :
    rm -rf "$T"
}
trap cleanup EXIT
tests/kafka/broker.sh start
eval "$(tests/kafka/broker.sh env)"
start=$(date -u -d "-$(( EVENTS / 12000 * 9 / 24 + 2 )) days" +%Y-%m-%dT00:00:00Z)
"$BUILD/examples/gen_events" --count "$EVENTS" --start "$start" --out "$T/events.jsonl"
timeout 300 kcat -b "$KAFKA_BOOTSTRAP" -P -t in -l -X linger.ms=50 -X batch.num.messages=10000 "$T/events.jsonl"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# run NAME ADMIN(0|1): one warden run over every event; prints its busy rate.
run() {
    local name=$1 admin=$2 extra=""
    [ "$admin" = 1 ] && extra="admin = { listen = '127.0.0.1:$PORT' },"
    cat >"$T/$name.lua" <<EOF
return {
  kafka = { ["bootstrap.servers"] = "$KAFKA_BOOTSTRAP" },
  streams = { topics = { "in" } },
  rules = "$PWD/examples/rules",
  store = "null:",
  log_level = "warn",
  $extra
  run = { group = "bench.$name", actions_topic = "bench.actions", dlq_topic = "bench.dlq" },
}
EOF
    WARDEN_LOG=info timeout 600 "$WARDEN" run -c "$T/$name.lua" --instance "$name" --max-events "$EVENTS" \
        >"$T/$name.log" 2>&1 &
    WPID=$!
    if [ "$admin" = 1 ]; then
        ( n=0; while kill -0 "$WPID" 2>/dev/null; do
              curl -s -o /dev/null "http://127.0.0.1:$PORT/metrics" && n=$((n + 1)); sleep 0.1
          done; echo "$n" >"$T/$name.scrapes" ) &
        SPID=$!
    fi
    wait "$WPID" || { tail -20 "$T/$name.log" >&2; echo "bench/admin: warden run failed" >&2; exit 1; }
    WPID=
    if [ "$admin" = 1 ]; then wait "$SPID" || :; SPID=; fi
    grep "summary events=" "$T/$name.log" | tail -1 | sed -n 's/.* busy_events_per_s=\([0-9]*\).*/\1/p'
}
best_b=0; best_a=0; scrapes=0
for i in $(seq 1 "$ROUNDS"); do
    b=$(run "b$i" 0); a=$(run "a$i" 1)
    s=$(cat "$T/a$i.scrapes" 2>/dev/null || echo 0); scrapes=$((scrapes + s))
    echo "round $i: without admin $b events/s, with /metrics every 100 ms $a events/s ($s scrapes)"
    [ "$b" -gt "$best_b" ] && best_b=$b
    [ "$a" -gt "$best_a" ] && best_a=$a
done
[ "$scrapes" -gt 0 ] || { echo "bench/admin: no scrape succeeded"; exit 1; }
printf '%-44s %12s\n' "admin, $EVENTS events (best of $ROUNDS)" "events/s"
printf '%-44s %12s\n' "B: warden run, no admin API" "$best_b"
printf '%-44s %12s\n' "A: warden run, /metrics every 100 ms" "$best_a"
awk -v a="$best_a" -v b="$best_b" 'BEGIN {r = 0; if (b > 0) r = a / b; printf "ratio A/B = %.3f (aim: >= 0.98)\n", r}'

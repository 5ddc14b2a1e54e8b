#!/bin/bash
# tools/demo.sh — `make demo`: warden end to end on this machine.
#
# Starts a private Kafka broker and MariaDB (tests/kafka/broker.sh,
# tests/db/mariadb.sh, state under the demo's own directory), migrates the
# store, starts `warden split` and two `warden run` processes (one consumer
# group, 4 partitions per topic, the example pack, the admin API), streams
# generated events with injected abuse for DEMO_SECONDS (default 60), then
# shows: the actions topic (kcat), hits per rule in MariaDB (mariadb), a
# /metrics excerpt, a replay of the streamed window with a candidate pack
# (one threshold changed) and its diff report, and the auto-shadow breaker
# moving a runaway rule (one that fails on every event) to shadow (/rules).
# Everything it started is stopped on exit, Ctrl-C included.
#
# Environment: DEMO_SECONDS (how long events stream), DEMO_RATE (events per
# second, default 200), DEMO_DIR (keep the artifacts there: actions.jsonl,
# rules-a.json, rules-b.json, metrics-a.txt, metrics-b.txt, report.json,
# report.md, hits_by_rule.tsv, logs; default a temporary directory removed at
# exit), WARDEN (the binary, default build/warden).
# tests/integration/kafka_db_demo.sh runs it short and checks those files.
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
SECS=${DEMO_SECONDS:-60}
RATE=${DEMO_RATE:-200}
WARDEN=${WARDEN:-$ROOT/build/warden}
GEN=${GEN:-$ROOT/build/examples/gen_events}
[ -x "$WARDEN" ] && [ -x "$GEN" ] || { echo "demo: build first (make)" >&2; exit 1; }
for t in kcat mariadb curl python3; do
    command -v "$t" >/dev/null || { echo "demo: $t is missing (tools/deps.sh test)" >&2; exit 1; }
done

if [ -n "${DEMO_DIR:-}" ]; then KEEP=1; mkdir -p "$DEMO_DIR"; D=$(cd "$DEMO_DIR" && pwd)
else KEEP=0; D=$(mktemp -d "${TMPDIR:-/tmp}/warden-demo.XXXXXX"); fi
# The servers keep their state under the demo's directory: a test suite or
# another demo running on the same machine has its own.
export WARDEN_KAFKA_DIR=$D/kafka WARDEN_DB_DIR=$D/mariadb KAFKA_PARTITIONS=4
# The demo runs in a background job and this shell only waits for it: the
# wait builtin returns at once on a trapped signal, so Ctrl-C (SIGINT) or
# SIGTERM always reaches cleanup.  (A foreground child that handles SIGINT
# itself, as kcat and python do, would make bash ignore a Ctrl-C.)  The
# job records what it starts in $D/.pids.
: >"$D/.pids"
MAIN=""
cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    if [ -n "$MAIN" ] && kill -0 "$MAIN" 2>/dev/null; then
        for p in $(pgrep -P "$MAIN" 2>/dev/null); do kill -TERM "$p" 2>/dev/null || :; done
        kill -TERM "$MAIN" 2>/dev/null || :
    fi
    for p in $(cat "$D/.pids" 2>/dev/null); do kill -TERM "$p" 2>/dev/null || :; done
    for p in $(cat "$D/.pids" 2>/dev/null); do
        for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || :
    done
    wait 2>/dev/null || :
    [ -d "$WARDEN_KAFKA_DIR" ] && tests/kafka/broker.sh stop >/dev/null 2>&1
    [ -d "$WARDEN_DB_DIR" ] && tests/db/mariadb.sh stop >/dev/null 2>&1
    if [ "$KEEP" = 0 ]; then rm -rf "$D"; else rm -f "$D/.pids"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted, stopping what it started"; exit 130' INT TERM
# track PID: a process the demo started, stopped by cleanup
track() { echo "$1" >>"$D/.pids"; }

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# stat LOG FIELD: a field of a process's --stats-json file
stat() { local v; v=$(sed -n "s/^ \"$2\": \([0-9]*\).*/\1/p" "${1%.log}.json" 2>/dev/null); echo "${v:-0}"; }

demo() {
set -eu
step "servers: a private Kafka broker and MariaDB"
tests/kafka/broker.sh start >"$D/broker.out" 2>&1 || { cat "$D/broker.out"; exit 1; }
eval "$(tests/kafka/broker.sh env)"
tests/db/mariadb.sh start >"$D/mariadb.out" 2>&1 || { cat "$D/mariadb.out"; exit 1; }
eval "$(tests/db/mariadb.sh env)"
echo "kafka $KAFKA_BOOTSTRAP, store $WARDEN_DB_URL"
M=(mariadb --no-defaults -h127.0.0.1 -P"$WARDEN_DB_PORT" -uroot warden)

step "store: warden migrate"
"$WARDEN" migrate "$WARDEN_DB_URL"

# The live pack is a copy, so the breaker step can add a rule to it.
cp -r examples/rules "$D/pack"
STREAMS="pin_create follow login post_create payment report account_update"
TOPICS=""; for s in $STREAMS; do TOPICS="$TOPICS'demo.stream.$s', "; done
PORT_A=$(free_port); PORT_B=$(free_port)
export WARDEN_ADMIN_TOKEN="demo-$$-$RANDOM"
cat >"$D/warden.lua" <<EOF
-- made by tools/demo.sh
return {
  kafka = { ["bootstrap.servers"] = "$KAFKA_BOOTSTRAP", ["session.timeout.ms"] = 6000 },
  streams = { topics = { "demo.raw" }, prefix = "demo.stream" },
  rules = "pack",
  store = "$WARDEN_DB_URL",
  split = { group = "demo-split", partitions = 4, dlq_topic = "demo.dlq" },
  run = { group = "demo", topics = { $TOPICS }, actions_topic = "demo.actions",
          dlq_topic = "demo.dlq", batch_ms = 200 },
  admin = { listen = "127.0.0.1:$PORT_A", audit_file = "audit.jsonl",
            breaker_error_pct = 50, breaker_min_evals = 3 },
}
EOF

# The events: one file, timestamps ending about now, streamed in slices.
N=$((SECS * RATE))
START=$(date -u -d "@$(( $(date +%s) - N * 5 / 2 ))" +%Y-%m-%dT%H:%M:%SZ)
"$GEN" --seed 7 --count "$N" --start "$START" --out "$D/events.jsonl"
# The last sixth is kept for the breaker step.
MAIN=$((N * 5 / 6))
head -n "$MAIN" "$D/events.jsonl" >"$D/main.jsonl"
tail -n +"$((MAIN + 1))" "$D/events.jsonl" >"$D/late.jsonl"
# produce FILE: the lines of FILE to demo.raw, RATE a second
produce() {
    local f=$1 total off=1
    total=$(wc -l <"$f")
    while [ "$off" -le "$total" ]; do
        sed -n "${off},$((off + RATE - 1))p" "$f" | kcat -b "$KAFKA_BOOTSTRAP" -P -t demo.raw
        off=$((off + RATE))
        printf '\r  produced %d of %d events' "$(( off - 1 < total ? off - 1 : total ))" "$total"
        sleep 1
    done
    echo
}

step "topics: demo.raw (4 partitions); split creates demo.stream.*, run the actions, DLQ and changelog topics"
echo '{"type":"warmup","id":"w0","ts":"'"$START"'"}' | kcat -b "$KAFKA_BOOTSTRAP" -P -t demo.raw
step "services: warden split, and warden run twice (group demo, admin on :$PORT_A and :$PORT_B)"
(cd "$D" && exec "$WARDEN" split -c warden.lua --instance s1 --stats-json split.json >split.log 2>&1) & track $!; SPLIT=$!
(cd "$D" && exec "$WARDEN" run -c warden.lua --instance a --stats-json run-a.json >run-a.log 2>&1) & track $!; RUN_A=$!
(cd "$D" && exec "$WARDEN" run -c warden.lua --instance b --set admin.listen=127.0.0.1:"$PORT_B" \
    --set admin.audit_file=audit-b.jsonl --stats-json run-b.json >run-b.log 2>&1) & track $!; RUN_B=$!
for p in $PORT_A $PORT_B; do
    for _ in $(seq 1 300); do curl -sf -o /dev/null "http://127.0.0.1:$p/healthz" && break; sleep 0.1; done
done
echo "split pid $SPLIT, run pids $RUN_A $RUN_B"

step "streaming $MAIN events with injected abuse ($RATE/s)"
produce "$D/main.jsonl"
# wait_evaluated N: until the two run processes have evaluated N events
wait_evaluated() {
    for _ in $(seq 1 1500); do
        [ $(( $(stat "$D/run-a.log" events) + $(stat "$D/run-b.log" events) )) -ge "$1" ] && return 0
        sleep 0.2
    done
    echo "demo: the run processes evaluated fewer than $1 events in 300 s" >&2
}
wait_evaluated "$MAIN"
echo "evaluated: run a $(stat "$D/run-a.log" events), run b $(stat "$D/run-b.log" events) events"

step "actions: kcat -C -t demo.actions -X isolation.level=read_committed (first 5)"
timeout 60 kcat -b "$KAFKA_BOOTSTRAP" -C -t demo.actions -e -q -X isolation.level=read_committed \
    -f '%k\t%s\n' >"$D/actions.tsv"
cut -f2 "$D/actions.tsv" >"$D/actions.jsonl"
head -5 "$D/actions.tsv" | cut -c1-200
echo "$(wc -l <"$D/actions.jsonl") actions"

step "hits per rule in MariaDB (rule_results, run_id live)"
sleep 1
"${M[@]}" -e "SELECT rule, mode, verdict, COUNT(*) AS hits FROM rule_results WHERE run_id = 'live'
              GROUP BY rule, mode, verdict ORDER BY hits DESC" | tee "$D/hits_by_rule.tsv" | column -t

step "metrics: curl http://127.0.0.1:$PORT_A/metrics (excerpt)"
curl -s "http://127.0.0.1:$PORT_A/metrics" >"$D/metrics-a.txt"
curl -s "http://127.0.0.1:$PORT_B/metrics" >"$D/metrics-b.txt"
grep -E '^warden_(events_consumed_total|decisions_total|actions_produced_total|partitions_assigned|transaction_commits_total|store_rows_total|rule_hits_total\{rule="spam)' \
    "$D/metrics-a.txt" | head -20

step "replay: the streamed window through a candidate pack (spam.link_burst at 10 pins an hour instead of 20)"
cp -r examples/rules "$D/candidate"
sed -i 's/^local MAX_PINS_PER_HOUR = 20$/local MAX_PINS_PER_HOUR = 10/' "$D/candidate/spam/link_burst.lua"
grep -q 'MAX_PINS_PER_HOUR = 10$' "$D/candidate/spam/link_burst.lua" || { echo "demo: could not edit the candidate" >&2; exit 1; }
(cd "$D" && "$WARDEN" replay -q -c warden.lua --from "$START" --to now --rules candidate --baseline "$ROOT/examples/rules" \
    --json report.json --report report.md)
sed -n '1,40p' "$D/report.md"

step "explain: why was the first blocked event blocked? (warden explain over the streamed events)"
BLOCKED=$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    a = json.loads(line)
    if a.get("verdict") == "block":
        print(a["event_id"]); break
' "$D/actions.jsonl")
if [ -n "$BLOCKED" ]; then
    "$WARDEN" explain --input "$D/main.jsonl" --id "$BLOCKED" --rules "$ROOT/examples/rules" \
        --json >"$D/explain.json"
    "$WARDEN" explain --input "$D/main.jsonl" --id "$BLOCKED" --rules "$ROOT/examples/rules" | sed -n '1,40p'
else
    echo "no block among the actions to explain"
fi

step "breaker: a runaway rule (it fails on every event) is reloaded into the live pack"
cat >"$D/pack/demo_runaway.lua" <<'LUA'
-- A rule with a bug: it reads a field the events do not have (pin.owner is
-- nil), so every evaluation fails.  The breaker (admin.breaker_error_pct)
-- moves it to shadow; its events go to the dead-letter topic meanwhile.
return {
  name = "demo.runaway", version = 1, mode = "enforce",
  streams = { "pin_create" }, fields = { "pin.owner.id" },
  evaluate = function(ev, ctx)
    return ctx.block{ entity = ev.pin.owner.id, reason = "runaway" }
  end,
}
LUA
"$WARDEN" admin --url "http://127.0.0.1:$PORT_A" reload
"$WARDEN" admin --url "http://127.0.0.1:$PORT_B" reload
produce "$D/late.jsonl"
wait_evaluated "$N"
tripped=0
for _ in $(seq 1 900); do
    for p in $PORT_A $PORT_B; do
        curl -s -H "Authorization: Bearer $WARDEN_ADMIN_TOKEN" "http://127.0.0.1:$p/rules/demo.runaway" >"$D/runaway.json" || :
        grep -q '"mode_source": *"breaker"' "$D/runaway.json" && tripped=1
    done
    [ "$tripped" = 1 ] && break
    sleep 0.2
done
[ "$tripped" = 1 ] || echo "demo: the breaker did not trip" >&2
# The override is durable (the overrides topic): the other process applies
# it between its batches.
sleep 3
curl -s -H "Authorization: Bearer $WARDEN_ADMIN_TOKEN" "http://127.0.0.1:$PORT_A/rules" >"$D/rules-a.json"
curl -s -H "Authorization: Bearer $WARDEN_ADMIN_TOKEN" "http://127.0.0.1:$PORT_B/rules" >"$D/rules-b.json"
for p in $PORT_A $PORT_B; do
    echo "warden admin --url http://127.0.0.1:$p rules"
    "$WARDEN" admin --url "http://127.0.0.1:$p" rules | grep -E 'RULE|demo.runaway|spam.link_burst'
done
grep -h 'breaker:' "$D"/run-*.log | head -2 || :

step "stopping"
for p in $SPLIT $RUN_A $RUN_B; do kill -TERM "$p" 2>/dev/null || :; done
for p in $SPLIT $RUN_A $RUN_B; do wait "$p" 2>/dev/null || :; done
echo "demo: done${DEMO_DIR:+ (artifacts in $D)}"
}

demo &
MAIN=$!
wait "$MAIN"

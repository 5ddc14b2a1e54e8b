#!/bin/bash
# No fd or thread leak across reloads and rebalances: one `warden run`
# process with the admin API over a 4-partition topic; after a warm-up
# reload and rebalance its open fds and threads are counted, then it goes
# through RELOADS (default 100) pack reloads through the admin API and
# REBALANCES (default 40 in the suite; `make soak` runs 100) rebalances (a second member joins and leaves),
# events flowing throughout; afterwards both counts are back where they
# were, and every event was evaluated once (stats).
set -eu
. tests/kafka/lib.sh
kt_init leaks
RELOADS=${RELOADS:-100}
REBALANCES=${REBALANCES:-40}
RAW="raw.$KID"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
export WARDEN_ADMIN_TOKEN="leaks-$KID"
AUTH=(-H "Authorization: Bearer $WARDEN_ADMIN_TOKEN")
# Fast group protocol so that a rebalance takes well under a second.
kt_config "$KT/warden.lua" "
  streams = { topics = { '$RAW' } },
  rules = '$PWD/examples/rules',
  store = 'null:',
  run = { group = 'g.$KID', actions_topic = 'actions.$KID', dlq_topic = 'dlq.$KID',
          batch_max = 200, batch_ms = 50 },
  admin = { listen = '127.0.0.1:$PORT' },"
sed -i 's/\["session.timeout.ms"\] = 6000/["session.timeout.ms"] = 6000, ["heartbeat.interval.ms"] = 100/' "$KT/warden.lua"
grep -v "admin = " "$KT/warden.lua" >"$KT/b.lua"    # member b: no admin port
# The sample keyed by user id, in 40 chunks produced along the way.
python3 -c '
import json, sys
for line in open(sys.argv[1]):
    ev = json.loads(line)
    print((ev.get("user") or {}).get("id", "none") + "\t" + line.rstrip("\n"))
' examples/events/sample.jsonl >"$KT/keyed.txt"
split -n l/40 -d -a 2 "$KT/keyed.txt" "$KT/chunk."
chunks=("$KT"/chunk.*); next=0
produce_next() {
    [ "$next" -lt "${#chunks[@]}" ] || return 0
    timeout 30 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -K $'\t' -l "${chunks[$next]}"
    next=$((next + 1))
}
produce_next
kt_warden "$KT/a.log" run -c "$KT/warden.lua" --instance a; A=$KT_PID
kt_wait_ready "$URL" "$KT/a.log"
kt_wait_stat "$KT/a.log" partitions 4 30

reload() {
    local code
    code=$(curl -s -o "$KT/op" -w '%{http_code}' -X POST "${AUTH[@]}" "$URL/rules/reload")
    [ "$code" = 200 ] || { cat "$KT/op"; kt_fail "reload: HTTP $code"; }
}
# One join and leave of member b: two rebalances; a holds all 4 after it.
bounce() {
    kt_warden "$KT/b.log" run -c "$KT/b.lua" --instance b; local b=$KT_PID
    kt_wait_stat "$KT/b.log" partitions 1 30
    kt_stop "$b" || kt_fail "member b exited non-zero on SIGTERM"
    kt_wait_stat "$KT/a.log" partitions 4 30
}
fds() { ls /proc/"$A"/fd | wc -l; }
threads() { ls /proc/"$A"/task | wc -l; }

reload; bounce            # warm-up: lazily opened resources stay open after it
fd0=$(fds); th0=$(threads)
echo "after warm-up: $fd0 fds, $th0 threads"
t0=$(date +%s)
for i in $(seq 1 "$RELOADS"); do
    reload
    [ $((i % 10)) = 0 ] && produce_next
done
fd1=$(fds); th1=$(threads)
echo "after $RELOADS reloads ($(( $(date +%s) - t0 ))s): $fd1 fds, $th1 threads"
t0=$(date +%s)
for i in $(seq 1 $((REBALANCES / 2))); do
    bounce
    [ $((i % 3)) = 0 ] && produce_next
done
while [ "$next" -lt "${#chunks[@]}" ]; do produce_next; done
fd2=$(fds); th2=$(threads)
echo "after $REBALANCES rebalances ($(( $(date +%s) - t0 ))s): $fd2 fds, $th2 threads"
# librdkafka keeps one fd and thread per broker connection, which come and
# go with the coordinator: allow 2 beyond the warm-up counts, no growth.
[ "$fd1" -le $((fd0 + 2)) ] || kt_fail "fds grew over $RELOADS reloads: $fd0 -> $fd1"
[ "$th1" -le $((th0 + 2)) ] || kt_fail "threads grew over $RELOADS reloads: $th0 -> $th1"
[ "$fd2" -le $((fd0 + 2)) ] || kt_fail "fds grew over $REBALANCES rebalances: $fd0 -> $fd2"
[ "$th2" -le $((th0 + 2)) ] || kt_fail "threads grew over $REBALANCES rebalances: $th0 -> $th2"
kt_wait_stat "$KT/a.log" events 12000 60
reloads=$(curl -s "$URL/metrics" | awk '$1 == "warden_rule_pack_reloads_total" { print $2 }')
[ "$reloads" = $((RELOADS + 1)) ] || kt_fail "want $((RELOADS + 1)) reloads in /metrics, got '$reloads'"
kt_stop "$A" || kt_fail "warden run exited non-zero"
kt_final "$KT/a.log"
# a's count includes what it evaluated; b's runs took some: together each
# event at least once, and the transactions made it exactly once on the
# actions topic (kafka_group checks that equality; here the resources).
echo "ok: $RELOADS reloads and $REBALANCES rebalances: fds $fd0 -> $fd2, threads $th0 -> $th2"

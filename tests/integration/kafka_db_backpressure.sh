#!/bin/bash
# Bounded resources under a slow store and a stalled broker, on a private
# broker and a private MariaDB (this script stops and pauses them):
#   start   warden run is started with the broker paused (SIGSTOP) and
#           MariaDB down; it waits for both and starts (it used to exit 1:
#           "control topic …: no metadata from the brokers", or the store's
#           "cannot connect");
#   slow    another session holds LOCK TABLES rule_results WRITE for 10 s:
#           each commit waits for its rows to be durable, so the loop
#           consumes nothing meanwhile (store.flush_wait_max_ms near 10 s)
#           and the sink's buffer stays under buffer_rows (buffer_rows_max);
#   stall   the broker is paused 11 s mid-run, past transaction.timeout.ms.
# Throughout, warden's VmHWM stays under its start-up RSS plus the
# configured ceilings (state_max_mb, buffer_mb, the consumer's prefetch
# queue) plus a margin; afterwards the actions topic (read_committed) and
# rule_results hold exactly what warden eval computes: lost = 0,
# duplicated = 0.
set -eu
. tests/kafka/lib.sh
kt_init backpressure
N=${BP_EVENTS:-10000}
STATE_MB=32 BUFFER_ROWS=1000 BUFFER_MB=4 PREFETCH_KB=16384 MARGIN_MB=96
export WARDEN_KAFKA_DIR="$KT/broker" WARDEN_DB_DIR="$KT/db"
tests/kafka/broker.sh start 2>"$KT/broker.log" &
bpid=$!
tests/db/mariadb.sh start >"$KT/db.log" 2>&1 || { cat "$KT/db.log"; kt_fail "private MariaDB did not start"; }
wait "$bpid" || { cat "$KT/broker.log"; kt_fail "private broker did not start"; }
cleanup() {
    [ -n "${KAFKA_BROKER_PID:-}" ] && kill -CONT "$KAFKA_BROKER_PID" 2>/dev/null
    [ -n "${LOCKER:-}" ] && kill "$LOCKER" 2>/dev/null
    # The servers' state lives under $KT: stop them before kt_cleanup
    # removes it (the other order left the private MariaDB running).
    local keep=${KT_KEEP:-0}
    KT_KEEP=1 kt_cleanup
    tests/db/mariadb.sh stop >/dev/null 2>&1
    tests/kafka/broker.sh stop >/dev/null 2>&1
    [ "$keep" = 1 ] || rm -rf "$KT"
}
trap cleanup EXIT
eval "$(tests/kafka/broker.sh env)"
eval "$(tests/db/mariadb.sh env)"
URL="mysql://root@127.0.0.1:$WARDEN_DB_PORT/warden"
M="mariadb --no-defaults -h127.0.0.1 -P$WARDEN_DB_PORT -uroot warden"
"$WARDEN" migrate "$URL" --quiet

# The example pack without the rules keyed on other fields than the
# partition key (as kafka_db_chaos.sh), so that eval is the reference.
PACK="$KT/pack"
cp -r examples/rules "$PACK"
rm -f "$PACK/ato/password_spray.lua" "$PACK/spam/report_brigade.lua" "$PACK/spam/brigade_member.lua" \
      "$PACK/unsafe/fanout.lua"
"$BUILD/examples/gen_events" --seed 4242 --count "$N" --out "$KT/events.jsonl"
# A 2 s rule time limit in both (kafka_db_chaos.sh says why).
"$WARDEN" eval -q --time-limit-ms 2000 --actions "$KT/eval_actions.jsonl" "$PACK" "$KT/events.jsonl" >"$KT/eval_hits.jsonl"
want=$(wc -l <"$KT/eval_actions.jsonl"); hits=$(wc -l <"$KT/eval_hits.jsonl")
[ "$want" -gt 0 ] || kt_fail "the pack produced no actions on the generated events"
python3 -c '
import json, sys
for line in open(sys.argv[1]):
    ev = json.loads(line)
    print(str((ev.get("user") or {}).get("id", "none")) + "\t" + line.rstrip("\n"))
' "$KT/events.jsonl" >"$KT/keyed.txt"
RAW="raw.$KID"
timeout 60 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -K $'\t' -l "$KT/keyed.txt"
cat >"$KT/warden.lua" <<EOF
return {
  kafka = { ["bootstrap.servers"] = "$KAFKA_BOOTSTRAP", ["session.timeout.ms"] = 6000,
            ["transaction.timeout.ms"] = 10000, ["queued.max.messages.kbytes"] = $PREFETCH_KB },
  engine = { max_future_ms = 0, state_max_mb = $STATE_MB, time_limit_ms = 2000 },
  streams = { topics = { '$RAW' } },
  rules = '$PACK',
  store = '$URL?batch_rows=200&buffer_rows=$BUFFER_ROWS&buffer_mb=$BUFFER_MB&backoff_max_ms=500',
  run = { group = 'g.$KID', actions_topic = 'actions.$KID', dlq_topic = 'dlq.$KID',
          batch_max = 500, batch_ms = 100 },
}
EOF

# RSS of warden, sampled in the background into $KT/rss (kB: VmRSS VmHWM).
sample() {
    while kill -0 "$1" 2>/dev/null; do
        awk '/^VmRSS/ {r=$2} /^VmHWM/ {h=$2} END {if (r) print r, h}' "/proc/$1/status" 2>/dev/null >>"$KT/rss"
        sleep 0.25
    done
}

# start: broker paused, MariaDB down.
tests/db/mariadb.sh pause >/dev/null || kt_fail "could not stop MariaDB"
kill -STOP "$KAFKA_BROKER_PID"
kt_warden "$KT/run.log" run -c "$KT/warden.lua" --instance a
W=$KT_PID
sleep 7
kill -CONT "$KAFKA_BROKER_PID"
sleep 2
kill -0 "$W" 2>/dev/null || { tail -5 "$KT/run.log"; kt_fail "warden run exited while the broker was paused at start"; }
# slow: the table locked for 10 s from the moment MariaDB is back.
tests/db/mariadb.sh resume >/dev/null || kt_fail "could not restart MariaDB"
$M -e "LOCK TABLES rule_results WRITE; SELECT SLEEP(10); UNLOCK TABLES" >/dev/null 2>&1 &
LOCKER=$!
kt_wait_stat "$KT/run.log" commits 0 60   # the stats file: the loop is up
base=$(awk '/^VmRSS/ {print $2}' "/proc/$W/status")
sample "$W" &
wait "$LOCKER" || kt_fail "the table lock session failed"
LOCKER=""
echo "slow store: 10 s of LOCK TABLES rule_results WRITE done; actions so far $(kt_count "actions.$KID") of $want"
# stall: once a third of the actions are out, the broker paused 11 s.
kt_wait_count "actions.$KID" $((want / 3)) 120
kill -STOP "$KAFKA_BROKER_PID"
sleep 11
kill -CONT "$KAFKA_BROKER_PID"
echo "stalled broker: paused 11 s mid-run"
kt_wait_count "actions.$KID" "$want" 180
rows() { $M -N -e "SELECT COUNT(*) FROM rule_results WHERE run_id = 'live'" 2>/dev/null || echo 0; }
for _ in $(seq 1 300); do [ "$(rows)" -ge "$hits" ] && break; sleep 0.2; done
sleep 1
kt_stop "$W" 60 || kt_fail "warden run exited non-zero"
kt_final "$KT/run.log"

read -r hwm_kb < <(awk '{print $2}' "$KT/rss" | sort -n | tail -1)
bound_kb=$((base + (STATE_MB + 2 * BUFFER_MB + MARGIN_MB) * 1024 + PREFETCH_KB))
fwait=$(kt_stat "$KT/run.log" store/flush_wait_max_ms); bmax=$(kt_stat "$KT/run.log" store/buffer_rows_max)
cap=$(kt_stat "$KT/run.log" store/buffer_cap)
kt_read "actions.$KID" | LC_ALL=C sort >"$KT/actions.sorted"
LC_ALL=C sort "$KT/eval_actions.jsonl" >"$KT/eval.sorted"
lost=$(LC_ALL=C comm -23 "$KT/eval.sorted" "$KT/actions.sorted" | wc -l)
extra=$(LC_ALL=C comm -13 "$KT/eval.sorted" "$KT/actions.sorted" | wc -l)
dup=$(( $(wc -l <"$KT/actions.sorted") - $(LC_ALL=C sort -u "$KT/actions.sorted" | wc -l) ))
$M -N -e "SELECT CONCAT(event_id, ' ', rule, ' ', verdict) FROM rule_results WHERE run_id = 'live'" \
    | LC_ALL=C sort >"$KT/db.keys"
python3 -c '
import json, sys
for l in open(sys.argv[1]):
    h = json.loads(l); print(h["event_id"] + " " + h["rule"] + " " + h["verdict"])
' "$KT/eval_hits.jsonl" | LC_ALL=C sort >"$KT/eval.keys"
rlost=$(LC_ALL=C comm -23 "$KT/eval.keys" "$KT/db.keys" | wc -l)
rextra=$(LC_ALL=C comm -13 "$KT/eval.keys" "$KT/db.keys" | wc -l)
echo "backpressure: events=$N rss_start_kb=$base vmhwm_kb=$hwm_kb bound_kb=$bound_kb" \
     "store: buffer_rows_max=$bmax buffer_cap=$cap flush_wait_max_ms=$fwait" \
     "aborts=$(kt_stat "$KT/run.log" aborts) producer_restarts=$(kt_stat "$KT/run.log" producer_restarts)"
echo "backpressure: actions want=$want lost=$lost duplicated=$dup unexpected=$extra; rule_results want=$hits lost=$rlost unexpected=$rextra"
[ "$hwm_kb" -le "$bound_kb" ] || kt_fail "VmHWM ${hwm_kb} kB above the configured bound ${bound_kb} kB"
[ "$cap" = "$BUFFER_ROWS" ] && [ "$bmax" -gt 0 ] && [ "$bmax" -le "$cap" ] \
    || kt_fail "store buffer: $bmax rows at most, want 1..$cap"
[ "$fwait" -ge 3000 ] || kt_fail "a commit waited at most ${fwait} ms for the store under a 10 s lock"
[ "$lost" = 0 ] && [ "$dup" = 0 ] && [ "$extra" = 0 ] || kt_fail "the actions topic differs from warden eval's"
[ "$rlost" = 0 ] && [ "$rextra" = 0 ] || kt_fail "rule_results differ from warden eval's hits"
echo "ok: paused broker and store at start, a 10 s table lock and an 11 s broker stall: RSS bounded, exactly eval's actions and hits"

#!/bin/bash
# Regression: the example pack over 4 input partitions keyed by user id.
# ato.password_spray counts distinct users per IP, a key the input is not
# partitioned by: counted per partition it went from 20 hits to 0, silently.
# warden run on the repartitioned path gives exactly warden eval's hits and
# actions on the same events in event-time order (ties: partition, offset),
# and with repartition off the difference shows (the test can fail).
set -eu
. tests/kafka/lib.sh
. tests/kafka/repart_lib.sh
export KT_REPARTITION=on
kt_init repart_spray
SAMPLE=examples/events/sample.jsonl
RAW="raw.$KID"
N=12000
rp_produce "$SAMPLE" user.id
rp_eval_order "$KT/ordered.jsonl"
"$WARDEN" eval -q --actions "$KT/eval_actions.jsonl" examples/rules "$KT/ordered.jsonl" >"$KT/eval_hits.jsonl"
# warden check says, per stream and rule, what the repartitioned path does.
"$WARDEN" check --guarantees examples/rules >"$KT/check.txt"
grep -qx 'stream login: hops keyed by login.ip -> user.id' "$KT/check.txt" || kt_fail "check names no login hops"
grep -q '^ato.password_spray: exact' "$KT/check.txt" || kt_fail "check gives password_spray no guarantee"
grep -q '^ato.credential_stuffing: exact for labels on user.id' "$KT/check.txt" || kt_fail "check states no label guarantee"
spray=$(grep -c '"rule":"ato.password_spray"' "$KT/eval_hits.jsonl" || :)
[ "$spray" = 20 ] || kt_fail "eval gives password_spray $spray hits, want 20"

cfg() {   # name group
    kt_config "$KT/$1.lua" "
  streams = { topics = { '$RAW' } },
  rules = '$PWD/examples/rules',
  store = 'jsonl:$1.hits.jsonl',
  run = { group = '$2', actions_topic = 'actions.$2', dlq_topic = 'dlq.$2',
          batch_max = 2000, batch_ms = 100 },"
}
cfg rp "g.$KID"
t0=$(date +%s.%N)
kt_warden "$KT/rp.log" run -c "$KT/rp.lua" --instance a
rp_drained "$KT/rp.log" 120
t1=$(date +%s.%N)
kt_stop "$KT_PID" || { tail -20 "$KT/rp.log"; kt_fail "warden run exited non-zero"; }
kt_final "$KT/rp.log"
grep -q 'guarantee rule=ato.password_spray is="exact' "$KT/rp.log" || kt_fail "no per-rule guarantee at start"
[ "$(kt_stat "$KT/rp.log" late)" = 0 ] || kt_fail "records were handed out late"
got=$(grep -c '"rule":"ato.password_spray"' "$KT/rp.hits.jsonl" || :)
sort "$KT/eval_hits.jsonl" >"$KT/e.sorted"; sort "$KT/rp.hits.jsonl" >"$KT/r.sorted"
diff "$KT/e.sorted" "$KT/r.sorted" >"$KT/hits.diff" || { head "$KT/hits.diff"; kt_fail "hits differ from warden eval (password_spray $got)"; }
kt_read "actions.g.$KID" | sort >"$KT/a.sorted"
sort "$KT/eval_actions.jsonl" | diff - "$KT/a.sorted" >"$KT/actions.diff" || { head "$KT/actions.diff"; kt_fail "actions differ from warden eval"; }
echo "ok: repartitioned run = eval: $(wc -l <"$KT/r.sorted") hits (password_spray $got), $(wc -l <"$KT/a.sorted") actions, $(python3 -c "print(round($t1-$t0,1))") s"

# Holding 1 KiB per partition: hop 0's pacing and the last hop's merge
# pause their partitions at the broker over and over (every resume fetches
# again what the pause dropped); the answers stay eval's.
cfg hold "hold.$KID"
kt_warden "$KT/hold.log" run -c "$KT/hold.lua" --instance a --set run.hold_max_kb=1
rp_drained "$KT/hold.log" 120
kt_stop "$KT_PID" || { tail -20 "$KT/hold.log"; kt_fail "warden run (hold_max_kb=1) exited non-zero"; }
kt_final "$KT/hold.log"
hold_paused=$(python3 -c '
import json, glob, sys
print(sum(json.load(open(f)).get("paused", 0) for f in [sys.argv[1]] + glob.glob(sys.argv[1] + ".hop*.json")))' \
    "$(kt_stats_file "$KT/hold.log")")
[ "$hold_paused" -gt 10 ] || kt_fail "holding 1 KiB paused partitions $hold_paused times: the test does not pause"
sort "$KT/hold.hits.jsonl" | diff "$KT/e.sorted" - >"$KT/hold.diff" || { head "$KT/hold.diff"; kt_fail "hits differ from warden eval with hold_max_kb=1"; }
kt_read "actions.hold.$KID" | sort | diff - "$KT/a.sorted" >/dev/null || kt_fail "actions differ from warden eval with hold_max_kb=1"
echo "ok: holding 1 KiB per partition ($hold_paused pauses): the same hits and actions"

# The same input counted per partition: the loss the path fixes.
cfg off "off.$KID"
KT_REPARTITION=off kt_warden "$KT/off.log" run -c "$KT/off.lua" --instance a
rp_drained "$KT/off.log" 60
kt_stop "$KT_PID" || kt_fail "warden run (repartition off) exited non-zero"
off=$(grep -c '"rule":"ato.password_spray"' "$KT/off.hits.jsonl" || :)
[ "$off" != 20 ] || kt_fail "repartition off also gives 20: the input does not exercise the path"
echo "ok: counted per partition password_spray has $off hits (repartitioned: 20)"

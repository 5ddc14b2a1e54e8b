#!/bin/bash
# The broker goes away in the middle of the stream — stopped for 5 s, then
# killed outright for 12 s, longer than transaction.timeout.ms (10 s here),
# so the coordinator aborts the open transaction and fences the producer —
# and comes back on the same port with its data: warden run rides both
# outages out (the batch is aborted, or a new producer is started, and the
# batch is redone from the last committed offsets and state) and the actions
# topic (read_committed) ends up holding exactly warden eval's actions, none
# lost, none twice.  A private broker: the shared one is not disturbed.
set -eu
. tests/kafka/lib.sh
kt_init outage
export WARDEN_KAFKA_DIR="$KT/broker"
tests/kafka/broker.sh start 2>"$KT/broker.log" || { cat "$KT/broker.log"; kt_fail "private broker did not start"; }
trap 'tests/kafka/broker.sh stop >/dev/null 2>&1; kt_cleanup' EXIT
eval "$(tests/kafka/broker.sh env)"

# Many small transactions, so each outage lands mid-stream.
kt_sample 50 20
kt_warden "$KT/run.log" run -c "$KT/warden.lua" --instance a --set store=null:
kt_wait_stat "$KT/run.log" commits 20 60
tests/kafka/broker.sh restart 5 term 2>>"$KT/broker.log" || kt_fail "broker restart failed"
before=$(kt_stat "$KT/run.log" commits)
kt_wait_stat "$KT/run.log" commits $((before + 20)) 90
kill -0 "$KT_PID" 2>/dev/null || { tail -20 "$KT/run.log"; kt_fail "warden run died in the first outage"; }
tests/kafka/broker.sh restart 12 kill 2>>"$KT/broker.log" || kt_fail "broker restart (after kill -9) failed"
kt_wait_count "actions.$KID" "$want" 180
sleep 1
kt_stop "$KT_PID" 60 || { tail -20 "$KT/run.log"; kt_fail "warden run exited non-zero after the outages"; }

kt_read "actions.$KID" | sort >"$KT/actions.sorted"
sort "$KT/eval_actions.jsonl" >"$KT/eval.sorted"
diff "$KT/eval.sorted" "$KT/actions.sorted" >"$KT/diff" || { head "$KT/diff"; kt_fail "actions after the outages differ from eval (lost or duplicated)"; }
kt_final "$KT/run.log"
field() { kt_stat "$KT/run.log" "$1"; }
echo "ok: $want actions exactly once across a 5 s broker stop and a 12 s broker crash" \
     "($(field aborts) batches redone, $(field producer_restarts) new producers)"

#!/bin/bash
# The repartitioned path through failures: two processes over 4 partitions,
# one killed -9 mid-stream (its hop processes die with it) and restarted,
# then a third process added mid-stream (a rebalance of every hop).  The
# actions (read_committed) are exactly warden eval's — none lost, none
# twice — and the hits, rewritten by redone batches, are the same set.
set -eu
. tests/kafka/lib.sh
. tests/kafka/repart_lib.sh
export KT_REPARTITION=on
kt_init repart_crash
PACK=$PWD/tests/integration/repart/rules
RAW="raw.$KID"
N=12000
# Everything is on the input before the first process starts: a partition
# is caught up (idle) only once it is drained, so no event arrives behind an
# idle mark and the merged order is exact (docs/state.md, "Idle inputs").
rp_expect
for i in a b b2 c; do
    kt_config "$KT/$i.lua" "
  streams = { topics = { '$RAW' } },
  rules = '$PACK',
  store = 'jsonl:$i.hits.jsonl',   -- the jsonl sink starts its file afresh: one per process
  run = { group = 'g.$KID', actions_topic = 'actions.$KID', dlq_topic = 'dlq.$KID',
          batch_max = 200, batch_ms = 100 },"
done
kt_warden "$KT/a.log" run -c "$KT/a.lua" --instance a; A=$KT_PID
kt_warden "$KT/b.log" run -c "$KT/b.lua" --instance b; B=$KT_PID
KT_PID=$A
kt_wait_stat "$KT/b.log" events 100 180
kill -KILL "$B"; wait "$B" 2>/dev/null || :
echo "b killed -9 after $(kt_stat "$KT/b.log" events) events"
sleep 1
pgrep -f -- "-c $KT/b.lua " >/dev/null && kt_fail "b's hop processes outlived it"
mv "$KT/b.json" "$KT/b1.json" 2>/dev/null || :
kt_warden "$KT/b2.log" run -c "$KT/b2.lua" --instance b; B=$KT_PID
KT_PID=$A
kt_warden "$KT/c.log" run -c "$KT/c.lua" --instance c; C=$KT_PID
KT_PID=$A
kt_wait_stat "$KT/c.log" partitions 1 120
kt_wait_count "actions.$KID" "$want" 300
sleep 3   # a duplicate would show now
for p in $A $B $C; do kt_stop "$p" || kt_fail "a process exited non-zero on SIGTERM"; done
for l in a b2 c; do
    [ "$(kt_stat "$KT/$l.log" late)" = 0 ] || kt_fail "$l handed records out late"
done
rp_same_as_eval " after kill -9 and a rebalance" "$KT"/*.hits.jsonl
cin=0; for h in 0 1 2; do cin=$((cin + $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["consumed"])' "$KT/c.json.hop$h.json"))); done
echo "ok: kill -9, restart and an added process: $want actions exactly once, $(wc -l <"$KT/r.sorted") hits = warden eval (b evaluated $(kt_stat "$KT/b2.log" events) after its restart; c's hops consumed $cin records, its last hop evaluated $(kt_stat "$KT/c.log" events))"

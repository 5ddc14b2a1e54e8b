#!/bin/bash
# warden split → warden run on the repartitioned path: the multi-key pack
# (counters on user id, IP, device id and reported target, two distinct
# counts, labels set on logins and reports and read on payments) over raw
# input in 4 partitions keyed by user id, split by 2 processes into 4
# partitions per stream topic, then evaluated by 2 run processes with
# run.repartition = "on" — gives exactly the hits and actions warden eval
# gives on the raw events in (event time, raw partition, raw offset) order:
# the split topics' records carry warden.origin, the order the hops follow
# (docs/state.md).
set -eu
. tests/kafka/lib.sh
. tests/kafka/repart_lib.sh
export KT_REPARTITION=on
kt_init repart_split
PACK=$PWD/tests/integration/repart/rules
RAW="raw.$KID"
PREFIX="s.$KID"
N=6000
rp_expect
rp_pack_hits

# Split: 2 processes in one group; each raw partition's events go to the
# same partition of every stream topic (4 each: one per raw partition).
rp_split_start 500
rp_split_complete "$KT/sa.log"
kt_stop "$SA" || kt_fail "split a exited non-zero"
kt_stop "$SB" || kt_fail "split b exited non-zero"
# One config for split and run: with run.repartition on, split's default
# (auto) is origin partitioning.
[ "$(kt_stat "$KT/sa.log" partitioning)" = origin ] || kt_fail "split did not choose origin partitioning"

# Run: 2 processes, repartitioned, over the split topics.
list=$(for t in $topics; do printf "'%s', " "$t"; done)
for i in a b; do
    kt_config "$KT/$i.lua" "
  streams = { topics = { $list } },
  rules = '$PACK',
  store = 'jsonl:$i.hits.jsonl',
  run = { group = 'g.$KID', actions_topic = 'actions.$KID', dlq_topic = 'dlq.$KID',
          batch_max = 500, batch_ms = 100 },"
done
kt_warden "$KT/a.log" run -c "$KT/a.lua" --instance ra; A=$KT_PID
kt_warden "$KT/b.log" run -c "$KT/b.lua" --instance rb; B=$KT_PID
KT_PID=$A
kt_wait_count "actions.$KID" "$want" 180
sleep 2   # a duplicate would show now
kt_stop "$A" || { tail "$KT/a.log"; kt_fail "process a exited non-zero"; }
kt_stop "$B" || { tail "$KT/b.log"; kt_fail "process b exited non-zero"; }
ea=$(kt_stat "$KT/a.log" events); eb=$(kt_stat "$KT/b.log" events)
[ "$ea" -gt 0 ] && [ "$eb" -gt 0 ] || kt_fail "both processes should evaluate events (a: $ea, b: $eb)"
[ $((ea + eb)) = "$N" ] || kt_fail "the last hops evaluated $((ea + eb)) events, want $N"
for i in a b; do
    [ "$(kt_stat "$KT/$i.log" late)" = 0 ] || kt_fail "$i handed records out late"
    [ "$(kt_stat "$KT/$i.log" repartition/labels_off_key)" = 0 ] || kt_fail "$i counted label calls off the key"
done
rp_same_as_eval "" "$KT/a.hits.jsonl" "$KT/b.hits.jsonl"
echo "ok: split (2 processes, $(echo "$topics" | wc -l) topics x 4 partitions) -> run (2 processes, repartitioned): $want actions and $(wc -l <"$KT/r.sorted") hits = warden eval (a evaluated $ea, b $eb)"

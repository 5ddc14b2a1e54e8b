#!/bin/bash
# The repartitioned path with counters keyed on four fields (user id, IP,
# device id, reported target; two distinct counts), a rule reading three of
# them on one event, and labels set on one stream (login, report) and read
# on another (payment): warden run over 4 partitions with 2 processes gives
# exactly the hits and actions warden eval gives on the same events in
# event-time order (ties: partition, offset).  Every label here is set on
# the stream's evaluation key, where labels are exact (docs/state.md): the
# stats must count no label call off it.
set -eu
. tests/kafka/lib.sh
. tests/kafka/repart_lib.sh
export KT_REPARTITION=on
kt_init repart_keys
PACK=$PWD/tests/integration/repart/rules
RAW="raw.$KID"
N=6000
rp_expect
rp_pack_hits
for i in a b; do
    kt_config "$KT/$i.lua" "
  streams = { topics = { '$RAW' } },
  rules = '$PACK',
  store = 'jsonl:$i.hits.jsonl',
  run = { group = 'g.$KID', actions_topic = 'actions.$KID', dlq_topic = 'dlq.$KID',
          batch_max = 500, batch_ms = 100 },"
done
t0=$(date +%s.%N)
kt_warden "$KT/a.log" run -c "$KT/a.lua" --instance a; A=$KT_PID
kt_warden "$KT/b.log" run -c "$KT/b.lua" --instance b; B=$KT_PID
KT_PID=$A
kt_wait_count "actions.$KID" "$want" 180
t1=$(date +%s.%N)
sleep 2   # a duplicate would show now
kt_stop "$A" || { tail "$KT/a.log"; kt_fail "process a exited non-zero"; }
kt_stop "$B" || { tail "$KT/b.log"; kt_fail "process b exited non-zero"; }
ea=$(kt_stat "$KT/a.log" events); eb=$(kt_stat "$KT/b.log" events)
[ "$ea" -gt 0 ] && [ "$eb" -gt 0 ] || kt_fail "both processes should evaluate events (a: $ea, b: $eb)"
for i in a b; do
    [ "$(kt_stat "$KT/$i.log" late)" = 0 ] || kt_fail "$i handed records out late"
    [ "$(kt_stat "$KT/$i.log" repartition/labels_off_key)" = 0 ] || kt_fail "$i counted label calls off the key"
done
rp_same_as_eval "" "$KT/a.hits.jsonl" "$KT/b.hits.jsonl"
echo "ok: 2 processes, 4 partitions, 3 hops: $want actions and $(wc -l <"$KT/r.sorted") hits = warden eval (a evaluated $ea, b $eb) in $(python3 -c "print(round($t1-$t0,1))") s"

#!/bin/bash
# Two warden run processes in one consumer group share the partitions; one
# is stopped (SIGTERM) in the middle of the stream and the other takes its
# partitions over with their state from the changelog.  The actions equal
# those of one uninterrupted process over the same partitioned input.
set -eu
. tests/kafka/lib.sh
kt_init group
SAMPLE=examples/events/sample.jsonl
RAW="raw.$KID"
# Keyed by user id over 4 partitions (state is per partition, so the
# reference is an uninterrupted run over the same partitioning, not eval).
python3 -c '
import json, sys
for line in open(sys.argv[1]):
    ev = json.loads(line)
    print((ev.get("user") or {}).get("id", "none") + "\t" + line.rstrip("\n"))
' "$SAMPLE" >"$KT/keyed.txt"
head -6000 "$KT/keyed.txt" >"$KT/part1.txt"
tail -n +6001 "$KT/keyed.txt" >"$KT/part2.txt"
produce() { timeout 60 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -K $'\t' -l "$1"; }
produce "$KT/part1.txt"

cfg() {   # name group actions
    kt_config "$KT/$1.lua" "
  streams = { topics = { '$RAW' } },
  rules = '$PWD/examples/rules',
  store = 'null:',
  run = { group = '$2', actions_topic = '$3', dlq_topic = 'dlq.$KID', batch_max = 200, batch_ms = 50 },"
}
cfg grp "g.$KID" "actions.$KID"
cfg ref "ref.$KID" "refactions.$KID"

kt_warden "$KT/a.log" run -c "$KT/grp.lua" --instance a; A=$KT_PID
kt_warden "$KT/b.log" run -c "$KT/grp.lua" --instance b; B=$KT_PID
# Both hold partitions (either may have drained part 1 before the other
# joined, so neither need have committed yet).
kt_wait_stat "$KT/a.log" partitions 1 30
kt_wait_stat "$KT/b.log" partitions 1 30
ca=$(kt_stat "$KT/a.log" commits); cb=$(kt_stat "$KT/b.log" commits)
produce "$KT/part2.txt" &
PRODUCER=$!
# Both are working on part 2 when a stops.
kt_wait_stat "$KT/a.log" commits $((ca + 1)) 30
kt_wait_stat "$KT/b.log" commits $((cb + 1)) 30
kt_stop "$A" || kt_fail "process a exited non-zero on SIGTERM"
kt_final "$KT/a.log"
echo "a stopped after $(kt_stat "$KT/a.log" commits) commits"
wait "$PRODUCER"
KT_PID=$B
kt_wait_stat "$KT/b.log" partitions 4 40    # b now holds all 4
kt_wait_stat "$KT/b.log" restored 2 30      # a's two slots at least, from the changelog

kt_warden "$KT/ref.log" run -c "$KT/ref.lua" --instance r
want_events=12000
kt_wait_stat "$KT/ref.log" commits 1 30
# Wait for both to drain: the reference's action count is stable and b's equals it.
for i in $(seq 1 120); do
    r=$(kt_count "refactions.$KID"); g=$(kt_count "actions.$KID")
    [ "$r" -gt 0 ] && [ "$r" = "$g" ] && sleep 1 && [ "$(kt_count "refactions.$KID")" = "$r" ] && break
    sleep 0.5
done
kt_stop "$KT_PID" || kt_fail "reference exited non-zero"
kt_stop "$B" || kt_fail "process b exited non-zero"
kt_final "$KT/ref.log"
[ "$(kt_stat "$KT/ref.log" events)" = "$want_events" ] || kt_fail "the reference did not see every event"
kt_read "refactions.$KID" | sort >"$KT/ref.sorted"
kt_read "actions.$KID" | sort >"$KT/grp.sorted"
[ -s "$KT/ref.sorted" ] || kt_fail "no reference actions"
diff "$KT/ref.sorted" "$KT/grp.sorted" >"$KT/diff" || { head "$KT/diff"; kt_fail "group output differs from the uninterrupted run"; }
echo "ok: $(wc -l <"$KT/ref.sorted") actions equal across a mid-stream stop of one of two processes"

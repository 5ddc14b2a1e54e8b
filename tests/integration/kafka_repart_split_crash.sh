#!/bin/bash
# warden split → warden run on the repartitioned path through failures.
# Split: two processes over the raw input (4 partitions), one killed -9
# mid-stream and restarted under its instance name, then a third added (a
# rebalance); the split topics hold every event of the pack's streams
# exactly once.  Run: two processes over the split topics, one killed -9
# mid-stream (its hop processes die with it) and restarted, then a third
# added; the actions (read_committed) are exactly warden eval's on the raw
# events in (event time, raw partition, raw offset) order and the hits the
# same set.  The run starts once the split topics are complete: an input
# partition caught up for run.idle_ms says it is idle, and an event that
# came behind that mark would count as late (docs/state.md, "Idle inputs").
set -eu
. tests/kafka/lib.sh
. tests/kafka/repart_lib.sh
export KT_REPARTITION=on
kt_init repart_split_crash
PACK=$PWD/tests/integration/repart/rules
RAW="raw.$KID"
PREFIX="s.$KID"
N=12000
rp_expect
rp_pack_hits

# Split, with a kill -9, a restart and an added process.
rp_split_start 200
kt_wait_stat "$KT/sb.log" events 200 120
kill -KILL "$SB"; wait "$SB" 2>/dev/null || :
echo "split b killed -9 after $(kt_stat "$KT/sb.log" events) events"
kt_warden "$KT/sb2.log" split -c "$KT/split.lua" --instance sb; SB=$KT_PID
kt_warden "$KT/sc.log" split -c "$KT/split.lua" --instance sc; SC=$KT_PID
rp_split_complete "$KT/sa.log"
for p in $SA $SB $SC; do kt_stop "$p" || kt_fail "a split process exited non-zero on SIGTERM"; done
# Every event once, by its raw origin (split's records carry warden.origin).
for t in $topics; do
    timeout 60 kcat -b "$KAFKA_BOOTSTRAP" -C -t "$t" -e -q -X isolation.level=read_committed -f '%h\n'
done | grep -o 'warden.origin=[0-9]*/[0-9]*' | sort >"$KT/origins.txt"
[ "$(wc -l <"$KT/origins.txt")" = "$n" ] || kt_fail "$(wc -l <"$KT/origins.txt") of the $n split records carry warden.origin"
uniq -d "$KT/origins.txt" >"$KT/dup_origins.txt"
[ ! -s "$KT/dup_origins.txt" ] || { head -3 "$KT/dup_origins.txt"; kt_fail "a raw record is in the split topics twice"; }
echo "ok: split, 2 processes, one killed -9 and restarted, one added: $n records in $(echo "$topics" | wc -l) topics, each raw record once"

# Run, with a kill -9, a restart and an added process.
rp_crash_run "$(for t in $topics; do printf "'%s', " "$t"; done)" r
rp_same_as_eval " after split's and run's kill -9 and rebalances" "$KT"/*.hits.jsonl
echo "ok: split -> run, each with a kill -9, a restart and an added process: $want actions exactly once, $(wc -l <"$KT/r.sorted") hits = warden eval (run b evaluated $(kt_stat "$KT/b2.log" events) after its restart, c $(kt_stat "$KT/c.log" events))"

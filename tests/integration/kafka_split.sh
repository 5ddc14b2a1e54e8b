#!/bin/bash
# warden split → warden run over the split topics gives the same actions as
# warden run over the raw topic (and as warden eval): pruned events keep
# every field the rules read, and run puts the co-partitioned split topics
# back in raw order (timestamps + warden.origin).  split reports per-stream
# counts and bytes saved; events of streams no rule uses are dropped.
set -eu
. tests/kafka/lib.sh
kt_init split
SAMPLE=examples/events/sample.jsonl
RAW="raw.$KID"
PREFIX="s.$KID"
"$WARDEN" eval --actions "$KT/eval_actions.jsonl" examples/rules "$SAMPLE" >/dev/null 2>&1
want=$(wc -l <"$KT/eval_actions.jsonl")
timeout 60 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -p 0 -l "$SAMPLE"
# One event of a stream no rule or counter uses: pruned by split.
echo '{"type":"nosuch","id":"x1","ts":"2026-11-21T00:00:00Z"}' | timeout 30 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -p 0 -l

kt_config "$KT/split.lua" "
  streams = { topics = { '$RAW' }, prefix = '$PREFIX' },
  rules = '$PWD/examples/rules',
  split = { group = 'split.$KID', dlq_topic = 'dlq.$KID', partitions = 1 },"
kt_warden "$KT/split.log" split -c "$KT/split.lua" --instance a
kt_wait_stat "$KT/split.log" commits 1 30
topics=$(python3 -c 'import json, sys; print("\n".join(sorted(s["topic"] for s in json.load(open(sys.argv[1]))["streams"].values())))' \
    "$(kt_stats_file "$KT/split.log")")
[ -n "$topics" ] || kt_fail "split named no output topics"
# Drained when the output counts stop moving.
prev=-1
for i in $(seq 1 60); do
    n=0; for t in $topics; do n=$((n + $(kt_count "$t"))); done
    [ "$n" -gt 0 ] && [ "$n" = "$prev" ] && break
    prev=$n; sleep 1
done
kt_stop "$KT_PID" || kt_fail "warden split exited non-zero"
sed -n '/^stream /,/^total/p' "$KT/split.log"
kt_final "$KT/split.log"
[ "$(kt_stat "$KT/split.log" events)" = 12001 ] && [ "$(kt_stat "$KT/split.log" dropped)" = 1 ] \
    || { cat "$(kt_stats_file "$KT/split.log")"; kt_fail "split did not read every event"; }
total=$(kt_stat "$KT/split.log" out)
[ "$total" = "$n" ] || kt_fail "split says $total out, topics hold $n"
# Only declared fields survive (post text is not read by any rule).
t1=$(echo "$topics" | head -1)
kt_read "$t1" | head -1 | grep -q '"device"' && kt_fail "undeclared fields were kept in $t1"

list=$(for t in $topics; do printf "'%s', " "$t"; done)
kt_config "$KT/run.lua" "
  streams = { topics = { $list } },
  rules = '$PWD/examples/rules',
  store = 'null:',
  run = { group = 'run.$KID', actions_topic = 'actions.$KID', dlq_topic = 'dlq.$KID' },"
kt_warden "$KT/run.log" run -c "$KT/run.lua" --instance a
kt_wait_count "actions.$KID" "$want" 60
kt_wait_stat "$KT/run.log" commits 1 10
sleep 1
kt_stop "$KT_PID" || kt_fail "warden run exited non-zero"
kt_final "$KT/run.log"
[ "$(kt_stat "$KT/run.log" misaligned)" = 0 ] || { cat "$(kt_stats_file "$KT/run.log")"; kt_fail "alignment gave up waiting"; }
kt_read "actions.$KID" | sort >"$KT/split_actions.sorted"
sort "$KT/eval_actions.jsonl" >"$KT/eval.sorted"
diff "$KT/eval.sorted" "$KT/split_actions.sorted" >"$KT/diff" || {
    head "$KT/diff"; kt_fail "run over split topics differs from run over raw (= eval)"; }
echo "ok: split → run gives the same $want actions as run on raw"

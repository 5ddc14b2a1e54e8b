#!/bin/bash
# A partition whose state outgrows one changelog record (run.snapshot_max_kb)
# keeps running: least recently used keys are shed until the snapshot fits,
# with a warning and a count, every snapshot written stays within the limit,
# and a restart restores it without complaint.  Without the limit the same
# state is several times larger, so the limit is what bound it.
set -eu
. tests/kafka/lib.sh
kt_init snaplimit
SAMPLE=examples/events/sample.jsonl
RAW="raw.$KID"
timeout 60 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -p 0 -l "$SAMPLE"
total=$(wc -l <"$SAMPLE")
half=$((total / 2))

kt_config "$KT/warden.lua" "
  streams = { topics = { '$RAW' } },
  rules = '$PWD/examples/rules',
  run = { group = 'g.$KID', actions_topic = 'actions.$KID', dlq_topic = 'dlq.$KID',
          batch_max = 1000, batch_ms = 100, snapshot_max_kb = 16 },"
summary_field() { kt_stat "$1" "$2"; }

kt_warden "$KT/run1.log" run -c "$KT/warden.lua" --instance a --set store="jsonl:$KT/hits1.jsonl" \
    --max-events "$half"
wait "$KT_PID" || { tail -5 "$KT/run1.log"; kt_fail "warden run with a 16 KiB snapshot limit exited non-zero"; }
kt_final "$KT/run1.log"
ev=$(summary_field "$KT/run1.log" snapshot_evictions)
[ "${ev:-0}" -gt 0 ] || kt_fail "summary snapshot_evictions=$ev, expected > 0"
[ "$(summary_field "$KT/run1.log" events)" = "$half" ] || kt_fail "run 1 did not evaluate $half events"

kt_warden "$KT/run2.log" run -c "$KT/warden.lua" --instance a --set store="jsonl:$KT/hits2.jsonl" \
    --max-events $((total - half))
wait "$KT_PID" || { tail -5 "$KT/run2.log"; kt_fail "the restarted run exited non-zero"; }
kt_final "$KT/run2.log"
[ "$(summary_field "$KT/run2.log" restored)" = 1 ] || kt_fail "the restart did not restore the partition's state"
restored=$(summary_field "$KT/run2.log" restored_bytes)
[ "$restored" -gt 0 ] && [ "$restored" -le 16384 ] || kt_fail "restored snapshot is $restored bytes, limit 16384"
[ "$(summary_field "$KT/run2.log" state_resets)" = 0 ] || kt_fail "the bounded snapshot did not load"
[ "$(summary_field "$KT/run2.log" events)" = "$((total - half))" ] || kt_fail "run 2 did not finish the stream"

# Every record on the changelog is within the limit.
big=$(kt_read "g.$KID.changelog" '%S\n' | awk '$1 > 16384' | wc -l)
[ "$big" = 0 ] || kt_fail "$big changelog records over 16384 bytes"

# The same first half without the limit: the state is several times larger.
sed -i 's/snapshot_max_kb = 16/snapshot_max_kb = 16384/; s/g\.'"$KID"'/g2.'"$KID"'/' "$KT/warden.lua"
kt_warden "$KT/run3.log" run -c "$KT/warden.lua" --instance a --set store="jsonl:$KT/hits3.jsonl" \
    --max-events "$half"
wait "$KT_PID" || kt_fail "the unbounded run exited non-zero"
free=$(kt_read "g2.$KID.changelog" '%S\n' | sort -n | tail -1)
[ "${free:-0}" -gt $((2 * 16384)) ] || kt_fail "unbounded snapshot is only ${free:-0} bytes: the test does not bind"
echo "ok: state shed $ev keys to fit 16 KiB snapshots (unbounded: $free bytes), restored $restored bytes"

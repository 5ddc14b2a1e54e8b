#!/bin/bash
# kill -9 of warden run in the middle of the stream, twice, then a restart
# under the same instance name: the actions topic (read_committed) holds
# every action exactly once — equal to warden eval's on the same file — so
# counters were restored correctly from the changelog, and the results store
# (upserts on run_id, event_id, rule) holds exactly eval's hits.
set -eu
. tests/kafka/lib.sh
kt_init crash
# Small transactions so that a kill lands mid-stream with work in flight.
kt_sample 150 50
for round in 1 2; do
    kt_warden "$KT/run$round.log" run -c "$KT/warden.lua" --instance a --set store="jsonl:$KT/hits$round.jsonl"
    kt_wait_stat "$KT/run$round.log" commits $((round * 5)) 60
    kill -KILL "$KT_PID" 2>/dev/null || :; wait "$KT_PID" 2>/dev/null || :
    echo "round $round: killed after $(kt_stat "$KT/run$round.log" commits) commits (as last written)"
done
[ "$(kt_stat "$KT/run2.log" restored)" = 1 ] || kt_fail "the second run did not restore state from the changelog"
kt_warden "$KT/run3.log" run -c "$KT/warden.lua" --instance a --set store="jsonl:$KT/hits3.jsonl"
kt_wait_count "actions.$KID" "$want" 60
kt_wait_stat "$KT/run3.log" commits 1 10
sleep 1
kt_stop "$KT_PID" || kt_fail "warden run exited non-zero"
kt_final "$KT/run3.log"
[ "$(kt_stat "$KT/run3.log" restored)" = 1 ] || kt_fail "the third run did not restore state"

kt_read "actions.$KID" | sort >"$KT/actions.sorted"
sort "$KT/eval_actions.jsonl" >"$KT/eval.sorted"
diff "$KT/eval.sorted" "$KT/actions.sorted" >"$KT/diff" || { head "$KT/diff"; kt_fail "actions after two crashes differ from eval (lost or duplicated)"; }
[ "$(sort -u "$KT/actions.sorted" | wc -l)" = "$want" ] || kt_fail "duplicate actions"
# Results: a redelivered batch may write a hit twice; upserts on
# (run_id, event_id, rule) make that one row — the set equals eval's.
cat "$KT"/hits*.jsonl | sort -u >"$KT/hits.sorted"
sort -u "$KT/eval_hits.jsonl" | diff - "$KT/hits.sorted" >/dev/null || kt_fail "results differ from eval's"
echo "ok: $want actions exactly once across two kill -9s"

#!/bin/bash
# warden run over the sample events on a real broker: the actions topic
# (read_committed) and the results store equal exactly what `warden eval`
# computes on the same file — live and embedded evaluation agree.
set -eu
. tests/kafka/lib.sh
kt_init run_eval
SAMPLE=examples/events/sample.jsonl
RAW="raw.$KID"

"$WARDEN" eval --actions "$KT/eval_actions.jsonl" examples/rules "$SAMPLE" >"$KT/eval_hits.jsonl" 2>/dev/null
want=$(wc -l <"$KT/eval_actions.jsonl")
[ "$want" -gt 0 ] || kt_fail "eval produced no actions"

# All events in one partition: one state, the order of the file.
timeout 60 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -p 0 -l "$SAMPLE"

kt_config "$KT/warden.lua" "
  streams = { topics = { '$RAW' } },
  rules = '$PWD/examples/rules',
  store = 'jsonl:hits.jsonl',
  run = { group = 'g.$KID', actions_topic = 'actions.$KID', dlq_topic = 'dlq.$KID', batch_max = 1000 },"
kt_warden "$KT/run.log" run -c "$KT/warden.lua" --instance a
kt_wait_count "actions.$KID" "$want" 60
kt_wait_stat "$KT/run.log" commits 1 10
sleep 1   # anything extra (a duplicate) would show up now
rc=0; kt_stop "$KT_PID" || rc=$?
[ "$rc" = 0 ] || { tail -20 "$KT/run.log"; kt_fail "warden run exited $rc after SIGTERM"; }
kt_final "$KT/run.log"
[ "$(kt_stat "$KT/run.log" events)" = 12000 ] || { cat "$(kt_stats_file "$KT/run.log")"; kt_fail "not every event was evaluated"; }
[ "$(kt_stat "$KT/run.log" "events_by_topic/$RAW")" = 12000 ] || kt_fail "events_by_topic/$RAW is not 12000"
[ "$(kt_stat "$KT/run.log" actions)" = "$want" ] || kt_fail "stats say $(kt_stat "$KT/run.log" actions) actions, want $want"
[ "$(kt_stat "$KT/run.log" hits)" = "$(wc -l <"$KT/eval_hits.jsonl")" ] || kt_fail "stats hits differ from eval's"
[ "$(kt_stat "$KT/run.log" error)" = null ] || kt_fail "a clean stop reports an error"

kt_read "actions.$KID" | sort >"$KT/actions.sorted"
sort "$KT/eval_actions.jsonl" >"$KT/eval_actions.sorted"
diff "$KT/eval_actions.sorted" "$KT/actions.sorted" >"$KT/actions.diff" || {
    head -20 "$KT/actions.diff"; kt_fail "actions differ from warden eval --actions"; }
# Keys are the action's TYPE:ENTITY (format v2).
kt_read "actions.$KID" '%k\t%s\n' | while IFS=$'\t' read -r key val; do
    case "$val" in *"\"entity\":\"${key#*:}\",\"entity_type\":\"${key%%:*}\""*) ;;
        *) kt_fail "action key $key is not its type:entity: $val" ;; esac
done
sort "$KT/hits.jsonl" | diff <(sort "$KT/eval_hits.jsonl") - >/dev/null || kt_fail "hits differ from warden eval"
echo "ok: $want actions and $(wc -l <"$KT/hits.jsonl") hits equal warden eval's"

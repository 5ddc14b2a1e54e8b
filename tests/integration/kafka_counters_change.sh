#!/bin/bash
# A deploy that changes counters.lua (here: adds a counter no rule reads yet)
# and restarts warden run mid-stream: the restored partitions keep the state
# of every unchanged counter and all labels, so the actions of the whole
# stream are exactly warden eval's, as if nothing had restarted.  Before,
# any counters change threw all state away.
set -eu
. tests/kafka/lib.sh
kt_init ctrchg
cp -r examples/rules "$KT/pack"
SAMPLE=examples/events/sample.jsonl
RAW="raw.$KID"
"$WARDEN" eval -q --actions "$KT/eval_actions.jsonl" examples/rules "$SAMPLE" >/dev/null
want=$(wc -l <"$KT/eval_actions.jsonl")
timeout 60 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -p 0 -l "$SAMPLE"
kt_config "$KT/warden.lua" "
  streams = { topics = { '$RAW' } },
  rules = 'pack',
  store = 'null:',
  run = { group = 'g.$KID', actions_topic = 'actions.$KID', dlq_topic = 'dlq.$KID',
          batch_max = 500, batch_ms = 50 },"
half=$(( $(wc -l <"$SAMPLE") / 2 ))
kt_warden "$KT/run1.log" run -c "$KT/warden.lua" --instance a --max-events "$half"
wait "$KT_PID" || { tail -5 "$KT/run1.log"; kt_fail "the first run failed"; }

# The deploy: one more counter.
python3 - "$KT/pack/counters.lua" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
i = s.index("return {") + len("return {")
s = s[:i] + '\n  { name = "logins_by_ip_new", stream = "login", key = "ip", windows = { "1h" } },' + s[i:]
open(p, "w").write(s)
PY
"$WARDEN" check "$KT/pack" >/dev/null || kt_fail "the changed pack does not load"
kt_warden "$KT/run2.log" run -c "$KT/warden.lua" --instance a
kt_wait_count "actions.$KID" "$want" 60
sleep 1
kt_stop "$KT_PID" || kt_fail "the second run exited non-zero"
kt_final "$KT/run2.log"
# Per-key changelog records name their counter and its spec: every record
# of the unchanged counters applies, none is passed over.
[ "$(kt_stat "$KT/run2.log" restored_records)" -gt 0 ] && [ "$(kt_stat "$KT/run2.log" changelog_records_skipped)" = 0 ] \
    || { kt_stat "$KT/run2.log" restored_records; kt_fail "the restart did not carry the state over"; }
[ "$(kt_stat "$KT/run2.log" state_resets)" = 0 ] || kt_fail "the state was rejected"
kt_read "actions.$KID" | sort >"$KT/actions.sorted"
sort "$KT/eval_actions.jsonl" | diff - "$KT/actions.sorted" >"$KT/diff" \
    || { head "$KT/diff"; kt_fail "actions across the counters change differ from eval's"; }
echo "ok: $want actions equal eval's across a restart with a changed counters.lua"

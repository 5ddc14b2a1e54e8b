#!/bin/bash
# --max-events N on the repartitioned path stops after N events evaluated:
# the watermarks and idle marks the last hop merges are not events (they
# were counted, so the run stopped short of N).
set -eu
. tests/kafka/lib.sh
. tests/kafka/repart_lib.sh
export KT_REPARTITION=on
kt_init repart_max_events
RAW="raw.$KID"
N=12000
rp_produce examples/events/sample.jsonl user.id
kt_config "$KT/rp.lua" "
  streams = { topics = { '$RAW' } },
  rules = '$PWD/examples/rules',
  store = 'null:',
  run = { group = 'g.$KID', actions_topic = 'actions.$KID', dlq_topic = 'dlq.$KID',
          batch_max = 2000, batch_ms = 100 },"
kt_warden "$KT/rp.log" run -c "$KT/rp.lua" --instance a --max-events "$N"
for i in $(seq 1 1800); do kill -0 "$KT_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$KT_PID" 2>/dev/null && { tail -20 "$KT/rp.log"; kt_fail "warden run --max-events $N still running after 180 s"; }
wait "$KT_PID" || { tail -20 "$KT/rp.log"; kt_fail "warden run --max-events exited non-zero"; }
kt_final "$KT/rp.log"
ev=$(kt_stat "$KT/rp.log" events)
wm=$(kt_stat "$KT/rp.log" watermarks_in)
[ "$ev" = "$N" ] || kt_fail "--max-events $N stopped after $ev events ($wm watermarks merged)"
[ "${wm:-0}" -gt 0 ] || kt_fail "no watermark merged: the run does not exercise the count"
echo "ok: --max-events $N stopped after $ev events ($wm watermarks merged, not counted)"

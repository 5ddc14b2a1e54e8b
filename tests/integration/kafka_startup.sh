#!/bin/bash
# warden run started many times against topics that do not exist yet: it
# creates them (actions, dead letters, changelog) and must start every time.
# A check that ran before the broker's metadata showed a topic it had just
# created failed 1 start in 4 ("changelog topic … does not exist and could
# not be created", exit 4).
set -eu
. tests/kafka/lib.sh
kt_init startup
head -5 examples/events/sample.jsonl >"$KT/five.jsonl"
N=${STARTS:-10}
for i in $(seq 1 "$N"); do
    id="$KID.$i"
    timeout 30 kcat -b "$KAFKA_BOOTSTRAP" -P -t "raw.$id" -l "$KT/five.jsonl"
    kt_config "$KT/w$i.lua" "
  streams = { topics = { 'raw.$id' } },
  rules = '$PWD/examples/rules',
  run = { group = 'g.$id', actions_topic = 'actions.$id', dlq_topic = 'dlq.$id',
          batch_max = 100, batch_ms = 100 },"
    rc=0
    timeout 90 "$WARDEN" run -c "$KT/w$i.lua" --max-events 5 --stats-json "$KT/s$i.json" \
        >"$KT/run$i.log" 2>&1 || rc=$?
    [ "$rc" = 0 ] || { tail -5 "$KT/run$i.log"; kt_fail "start $i of $N: exit $rc"; }
    python3 - "$KT/s$i.json" <<'PY' || kt_fail "start $i: stats do not show the 5 events committed"
import json, sys
s = json.load(open(sys.argv[1]))
sys.exit(0 if s.get("final") and s.get("events") == 5 and s.get("commits", 0) >= 1 else 1)
PY
done
echo "ok: $N starts against new topics, every one started and committed its events"

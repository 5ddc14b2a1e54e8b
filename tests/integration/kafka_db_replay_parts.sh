#!/bin/bash
# Fidelity over several partitions: the sample keyed by user id over 4
# partitions (each in event-time order), `warden run` on the repartitioned
# path (exact counters whatever the key) records rule_results in MariaDB;
# `warden replay -c` of that window with the same pack, into the same
# database under its own run_id, reproduces exactly the rows run recorded
# (event, rule, version, verdict, entity type and entity, reason, score,
# event time, rule source), and both equal warden eval's hits on the same
# events in event-time order.  Needs both servers.
set -eu
. tests/kafka/lib.sh
. tests/kafka/repart_lib.sh
: "${WARDEN_DB_PORT:?start tests/db/mariadb.sh and eval its env first}"
export KT_REPARTITION=on
kt_init dbreplay_parts
DB="warden_krpp_$$"
URL="mysql://root@127.0.0.1:$WARDEN_DB_PORT/$DB"
M="mariadb --no-defaults -h127.0.0.1 -P$WARDEN_DB_PORT -uroot"
trap '$M -e "DROP DATABASE IF EXISTS $DB" 2>/dev/null; kt_cleanup' EXIT
$M -e "CREATE DATABASE $DB"
"$WARDEN" migrate "$URL" --quiet
RAW="raw.$KID"
N=12000
rp_produce examples/events/sample.jsonl user.id
parts=$(timeout 30 kcat -b "$KAFKA_BOOTSTRAP" -C -t "$RAW" -e -q -f '%p\n' | sort -u | wc -l)
[ "$parts" -ge 4 ] || kt_fail "the input went to $parts partitions, want 4"
rp_eval_order "$KT/ordered.jsonl"
"$WARDEN" eval -q examples/rules "$KT/ordered.jsonl" >"$KT/eval_hits.jsonl"
hits=$(wc -l <"$KT/eval_hits.jsonl")
kt_config "$KT/warden.lua" "
  streams = { topics = { '$RAW' } },
  rules = '$PWD/examples/rules',
  store = '$URL',
  run = { group = 'g.$KID', actions_topic = 'actions.$KID', dlq_topic = 'dlq.$KID',
          batch_max = 2000, batch_ms = 100 },"
kt_warden "$KT/run.log" run -c "$KT/warden.lua" --instance a
rp_drained "$KT/run.log" 180
rows() { $M -N -e "SELECT COUNT(*) FROM $DB.rule_results WHERE run_id='live'"; }
for _ in $(seq 1 150); do [ "$(rows)" -ge "$hits" ] && break; sleep 0.2; done
kt_stop "$KT_PID" 60 || { tail -5 "$KT/run.log"; kt_fail "warden run exited non-zero"; }
[ "$(rows)" = "$hits" ] || kt_fail "warden run recorded $(rows) rows over $parts partitions, eval has $hits hits"

"$WARDEN" replay -q -c "$KT/warden.lua" --from 2026-11-19T00:00:00Z --to now --warmup 0 \
  --store "$URL" --run-id rp.$KID --json "$KT/r.json" || kt_fail "replay exited $?"
q="SELECT event_id, rule, version, verdict, entity_type, entity, COALESCE(reason,''), COALESCE(score,''),
          event_ts, rule_sha256 FROM $DB.rule_results WHERE run_id = '%s' ORDER BY 1, 2"
$M -N -e "$(printf "$q" live)" > "$KT/live.rows"
$M -N -e "$(printf "$q" "rp.$KID")" > "$KT/replay.rows"
[ "$(wc -l <"$KT/live.rows")" = "$hits" ] || kt_fail "live rows: $(wc -l <"$KT/live.rows"), want $hits"
diff "$KT/live.rows" "$KT/replay.rows" > "$KT/diff" || { head "$KT/diff"; kt_fail "replay's rule_results differ from what warden run recorded over $parts partitions"; }
# And both are eval's hits (event, rule, verdict, entity).
python3 -c '
import json, sys
for l in open(sys.argv[1]):
    h = json.loads(l); print("\t".join([h["event_id"], h["rule"], h["verdict"], h["entity"]]))
' "$KT/eval_hits.jsonl" | LC_ALL=C sort >"$KT/eval.keys"
cut -f1,2,4,6 "$KT/live.rows" | LC_ALL=C sort >"$KT/live.keys"
diff "$KT/eval.keys" "$KT/live.keys" >"$KT/ediff" || { head "$KT/ediff"; kt_fail "the recorded rows differ from warden eval's hits"; }
spray=$(grep -c $'\tato.password_spray\t' "$KT/live.rows" || :)
echo "ok: over $parts partitions, replay reproduces all $hits rule_results rows warden run recorded (= eval; password_spray $spray)"

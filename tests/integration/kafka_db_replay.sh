#!/bin/bash
# Fidelity: `warden run` records rule_results for the sample on a real
# broker and MariaDB; `warden replay -c` of that window with the pack that
# ran live, into the same database under its own run_id, reproduces exactly
# the rows run recorded (event, rule, version, verdict, entity, reason,
# score, event time, topic/partition/offset, rule source), and its rule_runs
# row says kind replay.  Needs both servers.
set -eu
. tests/kafka/lib.sh
: "${WARDEN_DB_PORT:?start tests/db/mariadb.sh and eval its env first}"
kt_init dbreplay
DB="warden_krp_$$"
URL="mysql://root@127.0.0.1:$WARDEN_DB_PORT/$DB"
M="mariadb --no-defaults -h127.0.0.1 -P$WARDEN_DB_PORT -uroot"
trap '$M -e "DROP DATABASE IF EXISTS $DB" 2>/dev/null; kt_cleanup' EXIT

$M -e "CREATE DATABASE $DB"
"$WARDEN" migrate "$URL" --quiet
kt_sample 1000 100 "store = '$URL',"
kt_warden "$KT/run.log" run -c "$KT/warden.lua" --instance a
kt_wait_count "actions.$KID" "$want" 120
rows() { $M -N -e "SELECT COUNT(*) FROM $DB.rule_results WHERE run_id='live'"; }
for _ in $(seq 1 100); do [ "$(rows)" -ge "$hits" ] && break; sleep 0.2; done
kt_stop "$KT_PID" 60 || { tail -5 "$KT/run.log"; kt_fail "warden run exited non-zero"; }
[ "$(rows)" = "$hits" ] || kt_fail "warden run recorded $(rows) rows, eval has $hits hits"

# The window: all of it (message times are now; event times 2026-11-20).
"$WARDEN" replay -q -c "$KT/warden.lua" --from 2026-11-19T00:00:00Z --to now --warmup 0 \
  --store "$URL" --run-id rp.$KID --json "$KT/r.json" || kt_fail "replay exited $?"
q="SELECT event_id, rule, version, verdict, entity, COALESCE(reason,''), COALESCE(score,''), event_ts,
          topic, kafka_partition, kafka_offset, rule_sha256 FROM $DB.rule_results WHERE run_id = '%s' ORDER BY 1, 2"
$M -N -e "$(printf "$q" live)" > "$KT/live.rows"
$M -N -e "$(printf "$q" "rp.$KID")" > "$KT/replay.rows"
diff "$KT/live.rows" "$KT/replay.rows" > "$KT/diff" || { head "$KT/diff"; kt_fail "replay's rule_results differ from what warden run recorded"; }
kind=$($M -N -e "SELECT kind, status FROM $DB.rule_runs WHERE run_id = 'rp.$KID'" | tr '\t' ' ')
[ "$kind" = "replay finished" ] || kt_fail "rule_runs for the replay: '$kind'"
echo "ok: replay of the live window reproduces all $hits rule_results rows of warden run exactly (run_id rp.$KID, kind replay)"

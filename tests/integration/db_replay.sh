#!/bin/bash
# warden replay --store mysql://: the run is recorded (rule_runs kind
# "replay", its window in params, counts), the candidate's rule versions are
# in rule_versions, its hits are in rule_results under the replay's run_id
# and nowhere else, exactly the hits of the report; `warden eval --store`
# without --run-id writes no "live" rows.  Needs the private MariaDB
# (tests/db/mariadb.sh; run_tests.sh starts it for db_* scripts).
set -u
: "${WARDEN_DB_PORT:?start tests/db/mariadb.sh and eval its env first}"
WARDEN=${WARDEN:-build/warden}
DB=warden_replay_$$
URL="mysql://root@127.0.0.1:$WARDEN_DB_PORT/$DB"
M="mariadb --no-defaults -h127.0.0.1 -P$WARDEN_DB_PORT -uroot"
tmp=$(mktemp -d)
trap '$M -e "DROP DATABASE IF EXISTS $DB" 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }
S=examples/events/sample.jsonl

$M -e "CREATE DATABASE $DB" || fail "create database"
"$WARDEN" migrate "$URL" --quiet || fail "migrate"
# A candidate: spam.link_burst at 10 pins an hour instead of 20.
cp -r examples/rules "$tmp/cand"
sed -i 's/^local MAX_PINS_PER_HOUR = 20/local MAX_PINS_PER_HOUR = 10/; s/^  version = 1,/  version = 2,/' "$tmp/cand/spam/link_burst.lua"
"$WARDEN" replay -q --input "$S" --rules "$tmp/cand" --baseline examples/rules \
  --from 2026-11-20T02:00:00Z --to 2026-11-20T06:00:00Z --warmup 1h \
  --run-id rp1 --store "$URL" --json "$tmp/r.json" || fail "replay --store"
hits=$(python3 -c "import json; print(json.load(open('$tmp/r.json'))['candidate']['hits'])")
inwin=$(python3 -c "import json; print(json.load(open('$tmp/r.json'))['events']['in_window'])")
got=$($M -N -e "SELECT COUNT(*) FROM $DB.rule_results WHERE run_id='rp1'")
[ "$got" = "$hits" ] && [ "$hits" -gt 0 ] || fail "rule_results has $got rows for rp1, the report $hits hits"
other=$($M -N -e "SELECT COUNT(*) FROM $DB.rule_results WHERE run_id<>'rp1'")
[ "$other" = 0 ] || fail "$other rows under another run_id"
outside=$($M -N -e "SELECT COUNT(*) FROM $DB.rule_results WHERE event_ts < '2026-11-20 02:00:00' OR event_ts >= '2026-11-20 06:00:00'")
[ "$outside" = 0 ] || fail "$outside stored hits outside the window"
run=$($M -N -e "SELECT kind, status, events, hits, rules_sha256 IS NOT NULL, finished_at IS NOT NULL,
                 JSON_VALUE(params, '$.warmup_ms'), JSON_VALUE(params, '$.baseline')
                 FROM $DB.rule_runs WHERE run_id='rp1'" | tr '\t' ' ')
[ "$run" = "replay finished $inwin $hits 1 1 3600000 examples/rules" ] || fail "rule_runs row: '$run' (want replay finished $inwin $hits 1 1 3600000 examples/rules)"
v=$($M -N -e "SELECT version FROM $DB.rule_versions WHERE name='spam.link_burst'")
[ "$v" = 2 ] || fail "rule_versions has spam.link_burst version '$v', want the candidate's 2"
joined=$($M -N -e "SELECT COUNT(*) FROM $DB.rule_results r JOIN $DB.rule_versions v
                   ON v.name = r.rule AND v.version = r.version AND v.sha256 = r.rule_sha256 WHERE r.run_id='rp1'")
[ "$joined" = "$hits" ] || fail "only $joined of $hits hits join their rule version"
dec=$($M -N -e "SELECT COUNT(*) FROM $DB.decisions WHERE run_id='rp1'")
act=$(python3 -c "import json; print(json.load(open('$tmp/r.json'))['candidate']['actions'])")
[ "$dec" = "$act" ] || fail "decisions has $dec rows for rp1, the report $act actions"
ok "replay --store: rule_runs (kind replay, finished, $inwin events, $hits hits), rule_versions, $hits rule_results and $dec decisions under rp1"

"$WARDEN" eval -q --store "$URL" examples/rules "$S" || fail "eval --store"
live=$($M -N -e "SELECT COUNT(*) FROM $DB.rule_results WHERE run_id='live'")
kind=$($M -N -e "SELECT COUNT(*) FROM $DB.rule_runs WHERE kind='eval' AND run_id LIKE 'eval-%'")
[ "$live" = 0 ] && [ "$kind" = 1 ] || fail "eval --store wrote $live live rows, $kind eval-* runs"
ok "eval --store without --run-id: its own eval-* run, no live rows"

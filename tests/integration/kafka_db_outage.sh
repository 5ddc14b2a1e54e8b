#!/bin/bash
# The results store goes away under `warden run`: MariaDB stops for 10 s in
# the middle of the stream.  The service must wait (the writer retries with
# backoff, the commit waits for its rows, the loop stops consuming) and
# never commit offsets of rows not written — then carry on.  In the end the
# actions topic (read_committed) holds exactly warden eval's actions and
# rule_results exactly its hits, none lost, none twice.  Needs both servers.
set -eu
. tests/kafka/lib.sh
: "${WARDEN_DB_PORT:?start tests/db/mariadb.sh and eval its env first}"
kt_init dbout
DB="warden_kdb_$$"
URL="mysql://root@127.0.0.1:$WARDEN_DB_PORT/$DB"
M="mariadb --no-defaults -h127.0.0.1 -P$WARDEN_DB_PORT -uroot"
trap 'tests/db/mariadb.sh resume >/dev/null 2>&1; $M -e "DROP DATABASE IF EXISTS $DB" 2>/dev/null; kt_cleanup' EXIT

$M -e "CREATE DATABASE $DB"
"$WARDEN" migrate "$URL" --quiet
kt_sample 50 20 "store = '$URL?batch_rows=50&buffer_rows=200&backoff_max_ms=1000',"
kt_warden "$KT/run.log" run -c "$KT/warden.lua" --instance a
rows() { $M -N -e "SELECT COUNT(*) FROM $DB.rule_results" 2>/dev/null || echo 0; }
for _ in $(seq 1 600); do
    [ "$(rows)" -ge 100 ] && break
    kill -0 "$KT_PID" 2>/dev/null || break
    sleep 0.05
done
kill -0 "$KT_PID" 2>/dev/null || { tail -5 "$KT/run.log"; kt_fail "warden run exited before the outage"; }
at=$(rows)
[ "$at" -lt "$hits" ] || kt_fail "all $hits rows were written before the outage: it would test nothing"
tests/db/mariadb.sh pause >/dev/null || kt_fail "could not stop MariaDB"
acts_down=$(kt_count "actions.$KID")
sleep 10
kill -0 "$KT_PID" 2>/dev/null || { tail -5 "$KT/run.log"; kt_fail "warden run exited during the store outage"; }
acts_late=$(kt_count "actions.$KID")
tests/db/mariadb.sh resume >/dev/null || kt_fail "could not restart MariaDB"
echo "store down at $at rows for 10 s; committed actions $acts_down -> $acts_late while it was down"
kt_wait_count "actions.$KID" "$want" 120
for _ in $(seq 1 100); do [ "$(rows)" -ge "$hits" ] && break; sleep 0.2; done
sleep 1
kt_stop "$KT_PID" 60 || { tail -5 "$KT/run.log"; kt_fail "warden run exited non-zero after the outage"; }
kt_final "$KT/run.log"
[ "$(kt_stat "$KT/run.log" store/retries)" -gt 0 ] || kt_fail "no store retry counted: the outage did not hit a write"
# Commits wait for their rows: at most the batch open at the stop could
# have committed during the outage (its rows were already written).
[ "$acts_late" -le $((acts_down + 50)) ] || kt_fail "actions kept committing while the store was down"

kt_read "actions.$KID" | sort >"$KT/actions.sorted"
sort "$KT/eval_actions.jsonl" | diff - "$KT/actions.sorted" >"$KT/diff" || { head "$KT/diff"; kt_fail "actions differ from eval's"; }
$M -N -e "SELECT CONCAT(event_id, ' ', rule) FROM $DB.rule_results WHERE run_id = 'live' ORDER BY 1" >"$KT/db.keys"
python3 -c '
import json, sys
for l in open(sys.argv[1]):
    h = json.loads(l); print(h["event_id"] + " " + h["rule"])
' "$KT/eval_hits.jsonl" | LC_ALL=C sort >"$KT/eval.keys"
LC_ALL=C sort -o "$KT/db.keys" "$KT/db.keys"
diff "$KT/eval.keys" "$KT/db.keys" >"$KT/rdiff" || { head "$KT/rdiff"; kt_fail "rule_results differ from eval's hits"; }
echo "ok: $want actions and $hits result rows exactly once across a 10 s store outage under warden run"

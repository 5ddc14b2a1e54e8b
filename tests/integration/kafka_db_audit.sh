#!/bin/bash
# The admin API's audit log reaches the store: with a mysql:// store (schema
# v6), a mode change, a rejected (401) reload, a clear, a runtime list entry
# and a manual label leave one audit_log row each, the same entries as the audit file, token ids only.
# Needs both servers.
set -eu
. tests/kafka/lib.sh
: "${WARDEN_DB_PORT:?start tests/db/mariadb.sh and eval its env first}"
kt_init dbaudit
DB="warden_audit_$$"
URL="mysql://root@127.0.0.1:$WARDEN_DB_PORT/$DB"
M="mariadb --no-defaults -h127.0.0.1 -P$WARDEN_DB_PORT -uroot"
trap '$M -e "DROP DATABASE IF EXISTS $DB" 2>/dev/null; kt_cleanup' EXIT
q() { $M -N --batch "$DB" -e "$1"; }
$M -e "CREATE DATABASE $DB"
"$WARDEN" migrate "$URL" --quiet
[ "$(q 'SELECT MAX(version) FROM schema_version')" = 8 ] || kt_fail "schema is not at version 8 (the current one)"
RAW="raw.$KID"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URLA="http://127.0.0.1:$PORT"
export WARDEN_ADMIN_TOKEN="dbaudit-$KID"
printf '{"type":"login","id":"e1","ts":"2026-11-20T10:00:00Z","user":{"id":"u1"}}\n' >"$KT/b1"
timeout 30 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -p 0 -l "$KT/b1"
kt_config "$KT/warden.lua" "
  streams = { topics = { '$RAW' } },
  rules = '$PWD/examples/rules',
  store = '$URL',
  run = { group = 'g.$KID', actions_topic = 'actions.$KID', dlq_topic = 'dlq.$KID', batch_ms = 50 },
  admin = { listen = '127.0.0.1:$PORT', audit_file = 'audit.jsonl' },"
kt_warden "$KT/run.log" run -c "$KT/warden.lua" --instance a
kt_wait_ready "$URLA" "$KT/run.log"
"$WARDEN" admin --url "$URLA" mode spam.link_burst shadow >/dev/null || kt_fail "mode change"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URLA/rules/reload")" = 401 ] || kt_fail "reload without a token: not 401"
"$WARDEN" admin --url "$URLA" mode spam.link_burst file >/dev/null || kt_fail "clear the override"
# A runtime list entry and a manual label: one row each, the control record in after_v.
AUTH="Authorization: Bearer $WARDEN_ADMIN_TOKEN"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "$AUTH" -d '{"reason":"spam wave"}' "$URLA/lists/shady_domains/bad.example")" = 200 ] || kt_fail "PUT /lists"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "$AUTH" -d '{"ttl":"1d","reason":"ring"}' "$URLA/labels/user/u1/fraud")" = 200 ] || kt_fail "PUT /labels"
sleep 0.5
kt_stop "$KT_PID" || kt_fail "warden run exited non-zero"
[ "$(q 'SELECT COUNT(*) FROM audit_log')" = "$(wc -l <"$KT/audit.jsonl")" ] \
    || { q 'SELECT * FROM audit_log'; cat "$KT/audit.jsonl"; kt_fail "audit_log rows differ from the audit file"; }
[ "$(q "SELECT COUNT(*) FROM audit_log WHERE action='mode' AND rule='spam.link_burst' AND before_v='enforce' AND after_v='shadow' AND status=200 AND token LIKE 'sha256:%'")" = 1 ] \
    || { q 'SELECT * FROM audit_log'; kt_fail "no row for the mode change"; }
[ "$(q "SELECT COUNT(*) FROM audit_log WHERE action='POST /rules/reload' AND status=401 AND result='unauthorized'")" = 1 ] || kt_fail "no row for the 401"
[ "$(q "SELECT COUNT(*) FROM audit_log WHERE action='mode_clear' AND after_v='enforce' AND status=200")" = 1 ] || kt_fail "no row for the clear"
[ "$(q "SELECT COUNT(*) FROM audit_log WHERE action='list.put' AND status=200 AND rule='list/shady_domains/bad.example' AND after_v='add' AND result LIKE 'ok %spam wave%'")" = 1 ] || { q 'SELECT * FROM audit_log'; kt_fail "no row for the list entry"; }
[ "$(q "SELECT COUNT(*) FROM audit_log WHERE action='label.put' AND status=200 AND rule='label/user/fraud/u1' AND result LIKE 'ok %ring%'")" = 1 ] || kt_fail "no row for the manual label"
[ "$(q "SELECT COUNT(*) FROM audit_log WHERE token LIKE '%$WARDEN_ADMIN_TOKEN%' OR result LIKE '%$WARDEN_ADMIN_TOKEN%'")" = 0 ] || kt_fail "a token in audit_log"
echo "ok: $(q 'SELECT COUNT(*) FROM audit_log') audit_log rows equal the audit file"

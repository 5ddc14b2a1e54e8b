#!/bin/bash
# tests/integration/db_store.sh — the mysql:// sink and `warden migrate`
# against the private MariaDB (tests/db/mariadb.sh; `make test` starts it):
#   1. tests/storage/test_store_mysql (upserts, hostile strings byte-exact,
#      migrations from empty and each older version, --force, schema check);
#   2. the real binary: `warden migrate` creates, reports and refuses as
#      documented, and `warden eval --store` refuses an unmigrated database
#      with the message that says what to run, then writes once migrated.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
WARDEN=${WARDEN:-$BUILD/warden}
: "${WARDEN_DB_URL:?start tests/db/mariadb.sh and eval its env first}"
: "${WARDEN_DB_PORT:?}"
DB=warden_cli_$$
# the schema version this binary writes: one migration file per version
REQ=$(ls storage/schema/mariadb/*.sql | wc -l)
URL="mysql://root@127.0.0.1:$WARDEN_DB_PORT/$DB"
M="mariadb --no-defaults -h127.0.0.1 -P$WARDEN_DB_PORT -uroot"
tmp=$(mktemp -d)
trap '$M -e "DROP DATABASE IF EXISTS $DB" 2>/dev/null; rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# 1. the C driver
if "$BUILD/tests/storage/test_store_mysql"; then ok "test_store_mysql"; else bad "test_store_mysql"; fi

# 2. the binary
$M -e "CREATE DATABASE $DB" || exit 1
if "$WARDEN" eval --store "$URL" examples/rules examples/events/sample.jsonl >/dev/null 2>"$tmp/err"; then
    bad "eval wrote to a database without schema"
elif grep -q "schema version 0 < required $REQ: run warden migrate mysql://root@127.0.0.1:$WARDEN_DB_PORT/$DB" "$tmp/err"; then
    ok "eval refuses an unmigrated database: $(grep -o 'schema version.*' "$tmp/err" | head -1)"
else
    cat "$tmp/err"; bad "eval's refusal does not say what to run"
fi
"$WARDEN" migrate "$URL" --status >"$tmp/st" 2>&1
[ $? = 3 ] && grep -q "schema version 0, required $REQ" "$tmp/st" && ok "migrate --status before" || { cat "$tmp/st"; bad "migrate --status before"; }
"$WARDEN" migrate "$URL" --to 1 2>"$tmp/m1" && grep -q "applied version 1" "$tmp/m1" && ! grep -q "version 2" "$tmp/m1" \
    && ok "migrate --to 1" || { cat "$tmp/m1"; bad "migrate --to 1"; }
if "$WARDEN" eval --store "$URL" examples/rules examples/events/sample.jsonl >/dev/null 2>"$tmp/err"; then
    bad "eval wrote to a version-1 database"
else
    grep -q "schema version 1 < required $REQ" "$tmp/err" && ok "eval refuses schema v1" || { cat "$tmp/err"; bad "eval v1 message"; }
fi
"$WARDEN" migrate "$URL" 2>"$tmp/m2" && grep -q "applied version 2" "$tmp/m2" && grep -q "applied version 3" "$tmp/m2" \
    && grep -q "applied version 4" "$tmp/m2" \
    && ok "migrate v1 -> v4" || { cat "$tmp/m2"; bad "migrate v1 -> v4"; }
"$WARDEN" migrate "$URL" 2>"$tmp/m3" && grep -q "nothing to do" "$tmp/m3" && ok "migrate again: nothing to do" \
    || { cat "$tmp/m3"; bad "migrate is not idempotent"; }
"$WARDEN" migrate "$URL" --status | grep -q "schema version $REQ, required $REQ" && ok "migrate --status after" || bad "migrate --status after"
"$WARDEN" migrate --print starrocks | grep -q "PRIMARY KEY (event_day, run_id, event_id, rule)" \
    && ok "migrate --print starrocks" || bad "migrate --print starrocks"

if "$WARDEN" eval -q --run-id t1 --store "$URL" examples/rules examples/events/sample.jsonl 2>"$tmp/err"; then
    "$WARDEN" eval -q examples/rules examples/events/sample.jsonl > "$tmp/hits.jsonl" 2>/dev/null
    want=$(wc -l < "$tmp/hits.jsonl")
    got=$($M -N -e "SELECT COUNT(*) FROM $DB.rule_results")
    [ "$got" = "$want" ] && ok "eval --store wrote $got hits (stdout has $want)" || bad "eval --store: $got rows, want $want"
    # once more: upserts, so the same count
    "$WARDEN" eval -q --run-id t1 --store "$URL" examples/rules examples/events/sample.jsonl 2>/dev/null
    got=$($M -N -e "SELECT COUNT(*) FROM $DB.rule_results")
    [ "$got" = "$want" ] && ok "eval --store twice: still $got rows" || bad "eval --store twice: $got rows, want $want"
    # every hit names the exact rule source: rule_sha256 = rule_versions.sha256
    nosha=$($M -N -e "SELECT COUNT(*) FROM $DB.rule_results WHERE rule_sha256 IS NULL")
    joined=$($M -N -e "SELECT COUNT(*) FROM $DB.rule_results r JOIN $DB.rule_versions v
                       ON v.name = r.rule AND v.version = r.version AND v.sha256 = r.rule_sha256")
    [ "$nosha" = 0 ] && [ "$joined" = "$want" ] \
        && ok "rule_results.rule_sha256 = rule_versions.sha256 for all $joined hits" \
        || bad "rule_sha256: $nosha rows without it, $joined of $want join rule_versions"
else
    cat "$tmp/err"; bad "eval --store on a migrated database"
fi
[ "$fails" = 0 ]

#!/bin/bash
# tests/integration/db_queries.sh — runs the ten queries of docs/queries.md
# against the private MariaDB, on data made by the real binary:
#   live      `warden eval --run-id live --store` of the example pack on the sample
#             events (eval --store defaults to its own run id, never "live");
#   replay-1  the same events through a candidate pack (one rule removed,
#             one rule's block turned into review, one new rule).
# rule_runs / rule_versions are what warden itself recorded (nothing is
# seeded here).  Each query must run without error and return at least one
# row; query 10 must find every hit's run and rule source.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
WARDEN=${WARDEN:-$BUILD/warden}
: "${WARDEN_DB_PORT:?start tests/db/mariadb.sh and eval its env first}"
DB=warden_queries_$$
URL="mysql://root@127.0.0.1:$WARDEN_DB_PORT/$DB"
M="mariadb --no-defaults -h127.0.0.1 -P$WARDEN_DB_PORT -uroot"
tmp=$(mktemp -d)
trap '$M -e "DROP DATABASE IF EXISTS $DB" 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

$M -e "CREATE DATABASE $DB" || fail "create database"
"$WARDEN" migrate "$URL" --quiet || fail "migrate"
"$WARDEN" eval -q --run-id live --store "$URL" examples/rules examples/events/sample.jsonl 2>"$tmp/live.err" \
    || { tail -3 "$tmp/live.err"; fail "eval live"; }

# The candidate pack.
# Of the blocking rules with live hits, drop the busiest, soften the next.
cp -r examples/rules "$tmp/cand"
$M -N -e "SELECT rule, COUNT(*) FROM $DB.rule_results WHERE verdict='block' GROUP BY rule ORDER BY 2 DESC, 1" > "$tmp/busy"
python3 - "$tmp/cand" "$tmp/busy" <<'PY' || fail "could not build the candidate pack"
import glob, os, re, sys
root = sys.argv[1]
busy = [l.split("\t")[0] for l in open(sys.argv[2])]
byname = {}
for f in sorted(glob.glob(os.path.join(root, "*", "*.lua"))):
    m = re.search(r'name\s*=\s*"([^"]+)"', open(f).read())
    if m and "ctx.block{" in open(f).read():
        byname[m.group(1)] = f
blocks = [byname[r] for r in busy if r in byname]
assert len(blocks) >= 2, "the example pack needs two blocking rules with hits"
os.remove(blocks[0])                                   # a rule dropped
src = open(blocks[1]).read().replace("ctx.block{", "ctx.review{")
open(blocks[1], "w").write(src)                        # a rule softened
os.makedirs(os.path.join(root, "spam"), exist_ok=True)
open(os.path.join(root, "spam", "follow_candidate.lua"), "w").write('''
return {
  name = "spam.follow_candidate", version = 1, description = "young accounts that follow",
  streams = { "follow" }, mode = "shadow", fields = { "user.id", "user.age_days" },
  evaluate = function(ev, ctx)
    if ev.user and ev.user.age_days and ev.user.age_days < 30 then
      return ctx.flag{ entity = ev.user.id, reason = "young follower" }
    end
  end,
}
''')                                                   # a rule added
PY
"$WARDEN" eval -q --run-id replay-1 --store "$URL" "$tmp/cand" examples/events/sample.jsonl 2>"$tmp/cand.err" \
    || { tail -3 "$tmp/cand.err"; fail "eval replay-1"; }

echo "data: $($M -N -e "SELECT GROUP_CONCAT(CONCAT(run_id, '=', n)) FROM (SELECT run_id, COUNT(*) n FROM $DB.rule_results GROUP BY run_id) x") hits"

# The queries, in order, with @entity set to the busiest entity of this data.
top=$($M -N -e "SELECT entity FROM $DB.rule_results WHERE run_id='live' GROUP BY entity ORDER BY COUNT(*) DESC, entity LIMIT 1")
python3 - docs/queries.md "$tmp" "$top" <<'PY' || fail "could not extract the queries"
import re, sys
doc, out, top = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(doc, encoding="utf-8").read()
parts = re.findall(r"^## (\d+)\. (.+?)\n(.*?)(?=^## |\Z)", text, re.S | re.M)
n = 0
for num, title, body in parts:
    blocks = re.findall(r"```sql\n(.*?)```", body, re.S)
    assert len(blocks) == 1, f"query {num} has {len(blocks)} sql blocks"
    q = re.sub(r"(SET @entity = )'[^']*'", lambda m: m.group(1) + "'" + top + "'", blocks[0])
    n += 1
    open(f"{out}/q{n}.sql", "w", encoding="utf-8").write(q)
    open(f"{out}/q{n}.title", "w", encoding="utf-8").write(title)
assert n == 10, f"docs/queries.md has {n} queries, want 10"
PY
fails=0
for i in $(seq 1 10); do
    title=$(cat "$tmp/q$i.title")
    if $M -N --batch "$DB" < "$tmp/q$i.sql" > "$tmp/q$i.out" 2> "$tmp/q$i.err"; then
        rows=$(wc -l < "$tmp/q$i.out")
        if [ "$rows" -ge 1 ]; then echo "ok: query $i ($title): $rows rows"
        else echo "FAIL: query $i ($title): no rows"; fails=$((fails + 1)); fi
    else
        echo "FAIL: query $i ($title): $(cat "$tmp/q$i.err")"; fails=$((fails + 1))
    fi
done
# Query 10 traces every hit to the run and the rule source warden recorded.
bad=$(awk -F'\t' '$2 == "NULL" || $6 == "NULL" || $9 == "NULL"' "$tmp/q10.out" | wc -l)
if [ "$bad" = 0 ]; then echo "ok: query 10: every hit has its run and rule source"
else echo "FAIL: query 10: $bad lines without their run or rule source (rule_runs/rule_versions not recorded)"; fails=$((fails + 1)); fi
[ "$fails" = 0 ]

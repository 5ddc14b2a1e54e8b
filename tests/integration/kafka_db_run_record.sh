#!/bin/bash
# `warden run` against a real broker and MariaDB records its run and the
# source of every rule it loads, so docs/queries.md query 10 traces live
# hits to their exact rule source:
#   - rule_runs has the live run (kind live, status running, the pack's hash);
#   - rule_versions has every rule of the pack with the sha256 of its file
#     (sha256sum) and the file's text;
#   - query 10 returns, for every live hit, the run and the rule's source;
#   - after a SIGHUP reload with one rule's version bumped, the new version's
#     row is there, the run row names the new pack, and the hits of the
#     events that follow point to the new version and its sha256.
# The sample events go over the broker's default 4 partitions, keyed by
# user.  The rule changed (spam.shady_domain) is stateless, so its hits are
# exactly warden eval's whatever the partitioning.  Needs both servers.
set -eu
. tests/kafka/lib.sh
: "${WARDEN_DB_PORT:?start tests/db/mariadb.sh and eval its env first}"
kt_init runrec
DB="warden_runrec_$$"
URL="mysql://root@127.0.0.1:$WARDEN_DB_PORT/$DB"
M="mariadb --no-defaults -h127.0.0.1 -P$WARDEN_DB_PORT -uroot"
trap '$M -e "DROP DATABASE IF EXISTS $DB" 2>/dev/null; kt_cleanup' EXIT
q() { $M -N --batch "$DB" -e "$1"; }

$M -e "CREATE DATABASE $DB"
"$WARDEN" migrate "$URL" --quiet
cp -r examples/rules "$KT/pack"
RULE=spam.shady_domain
RULE_FILE="$KT/pack/spam/shady_domain.lua"
SAMPLE=examples/events/sample.jsonl
RAW="raw.$KID"
python3 -c '
import json, sys
for line in open(sys.argv[1]):
    ev = json.loads(line)
    print((ev.get("user") or {}).get("id", "none") + "\t" + line.rstrip("\n"))
' "$SAMPLE" >"$KT/keyed.txt"
head -6000 "$KT/keyed.txt" >"$KT/part1.txt"
tail -n +6001 "$KT/keyed.txt" >"$KT/part2.txt"
# The changed rule's hits per part, from warden eval (ids of part 2 too).
"$WARDEN" eval -q examples/rules "$SAMPLE" >"$KT/eval_hits.jsonl"
python3 - "$KT" "$RULE" <<'PY'
import json, sys
kt, rule = sys.argv[1], sys.argv[2]
part2 = {json.loads(l.split("\t", 1)[1])["id"] for l in open(kt + "/part2.txt")}
n1 = n2 = 0
with open(kt + "/part2.ids", "w") as out:
    for i in sorted(part2):
        print(i, file=out)
for l in open(kt + "/eval_hits.jsonl"):
    h = json.loads(l)
    if h["rule"] == rule:
        if h["event_id"] in part2: n2 += 1
        else: n1 += 1
open(kt + "/counts", "w").write(f"{n1} {n2}\n")
PY
read -r N1 N2 <"$KT/counts"
[ "$N1" -gt 0 ] && [ "$N2" -gt 0 ] || kt_fail "$RULE needs hits in both parts (got $N1, $N2)"
produce() { timeout 60 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -K $'\t' -l "$1"; }
produce "$KT/part1.txt"

kt_config "$KT/warden.lua" "
  streams = { topics = { '$RAW' } },
  rules = '$KT/pack',
  store = '$URL',
  run = { group = 'g.$KID', actions_topic = 'actions.$KID', dlq_topic = 'dlq.$KID',
          batch_max = 200, batch_ms = 50 },"
kt_warden "$KT/run.log" run -c "$KT/warden.lua" --instance a

# Until every part-1 hit of the rule is in (then part 1 is consumed far
# enough that nothing of it is left for the new pack).
wait_rows() {   # SQL-condition N SECS
    local t0 c
    t0=$(date +%s)
    while :; do
        c=$(q "SELECT COUNT(*) FROM rule_results WHERE $1" 2>/dev/null || echo 0)
        [ "$c" -ge "$2" ] && return 0
        kill -0 "$KT_PID" 2>/dev/null || { tail -5 "$KT/run.log"; kt_fail "warden run exited ($c of $2 rows where $1)"; }
        [ $(( $(date +%s) - t0 )) -ge "$3" ] && kt_fail "$c rows where $1, want $2 (after ${3}s)"
        sleep 0.3
    done
}
wait_rows "rule = '$RULE'" "$N1" 120

pack_hash() { "$WARDEN" check "$KT/pack" | sed -n 's/.*pack sha256 \([0-9a-f]*\).*/\1/p'; }
versions_want() {   # name version sha256 of every rule file of the pack
    for f in "$KT"/pack/*/*.lua; do
        name=$(sed -n 's/^  name = "\([^"]*\)".*/\1/p' "$f" | head -1)
        ver=$(sed -n 's/^  version = \([0-9]*\).*/\1/p' "$f" | head -1)
        [ -n "$name" ] && [ -n "$ver" ] || kt_fail "$f: no name/version line"
        echo "$name $ver $(sha256sum "$f" | cut -d' ' -f1)"
    done
}

# The live run.
run_row=$(q "SELECT kind, status, JSON_VALUE(params, '$.command'), JSON_VALUE(params, '$.group'),
                    LEFT(rules_sha256, 12), started_at IS NOT NULL FROM rule_runs WHERE run_id = 'live'")
[ "$run_row" = "$(printf 'live\trunning\trun\tg.%s\t%s\t1' "$KID" "$(pack_hash)")" ] \
    || kt_fail "rule_runs has no live run row of this pack: '$run_row'"
# Every rule of the pack, with the sha256 of its file and its text.
versions_want >"$KT/versions.raw"
LC_ALL=C sort -o "$KT/versions.want" "$KT/versions.raw"
q "SELECT CONCAT(name, ' ', version, ' ', sha256) FROM rule_versions" | LC_ALL=C sort >"$KT/versions.got"
diff "$KT/versions.want" "$KT/versions.got" >"$KT/vdiff" || { cat "$KT/vdiff"; kt_fail "rule_versions differ from the pack's files"; }
[ "$(q "SELECT COUNT(*) FROM rule_versions WHERE CAST(SHA2(source, 256) AS BINARY) <> CAST(sha256 AS BINARY)")" = 0 ] \
    || kt_fail "a rule_versions source is not the text of its file"
echo "run row and $(wc -l <"$KT/versions.got") rule versions recorded; $N1 part-1 hits of $RULE in"

# docs/queries.md query 10, as written there.
python3 - docs/queries.md "$KT/q10.sql" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
body = re.search(r"^## 10\. .*?\n(.*?)(?=^## |\Z)", text, re.S | re.M).group(1)
open(sys.argv[2], "w").write(re.search(r"```sql\n(.*?)```", body, re.S).group(1))
PY
q10() { $M -N --batch "$DB" <"$KT/q10.sql"; }
# Columns: run_id kind started_at rule version sha256 first_seen hits source_head.
check_q10() {
    q10 >"$KT/q10.out"
    [ -s "$KT/q10.out" ] || kt_fail "query 10 returned nothing"
    awk -F'\t' '$1 != "live" || $2 != "live" || $3 == "NULL" || $6 == "NULL" || $9 == "NULL"' \
        "$KT/q10.out" >"$KT/q10.bad"
    [ ! -s "$KT/q10.bad" ] || { head -3 "$KT/q10.bad"; kt_fail "query 10 has live hits without their run or rule source"; }
    [ "$(awk -F'\t' '{ n += $8 } END { print n }' "$KT/q10.out")" = "$(q "SELECT COUNT(*) FROM rule_results")" ] \
        || kt_fail "query 10 does not account for every hit"
}
check_q10
echo "query 10: $(wc -l <"$KT/q10.out") rule versions with live hits, each with its run and source"

# A new version of one rule, reloaded.
old_sha=$(sha256sum "$RULE_FILE" | cut -d' ' -f1)
sed -i 's/^  version = 1,/  version = 2,/' "$RULE_FILE"
new_sha=$(sha256sum "$RULE_FILE" | cut -d' ' -f1)
[ "$old_sha" != "$new_sha" ] || kt_fail "could not bump $RULE's version"
kill -HUP "$KT_PID"
for _ in $(seq 1 100); do
    [ "$(q "SELECT COUNT(*) FROM rule_versions WHERE name = '$RULE' AND version = 2 AND sha256 = '$new_sha'")" = 1 ] && break
    sleep 0.2
done
[ "$(q "SELECT COUNT(*) FROM rule_versions WHERE name = '$RULE' AND version = 2 AND sha256 = '$new_sha'")" = 1 ] \
    || kt_fail "no rule_versions row for $RULE version 2 after the reload"
[ "$(q "SELECT LEFT(rules_sha256, 12) FROM rule_runs WHERE run_id = 'live'")" = "$(pack_hash)" ] \
    || kt_fail "the run row does not name the reloaded pack"
produce "$KT/part2.txt"
wait_rows "rule = '$RULE'" $((N1 + N2)) 120
sleep 1
kt_stop "$KT_PID" 60 || { tail -5 "$KT/run.log"; kt_fail "warden run exited non-zero"; }

# Every rule version now, the old one of $RULE included.
versions_want >"$KT/versions.raw"
echo "$RULE 1 $old_sha" >>"$KT/versions.raw"
LC_ALL=C sort -o "$KT/versions.want" "$KT/versions.raw"
q "SELECT CONCAT(name, ' ', version, ' ', sha256) FROM rule_versions" | LC_ALL=C sort >"$KT/versions.got"
diff "$KT/versions.want" "$KT/versions.got" >"$KT/vdiff" || { cat "$KT/vdiff"; kt_fail "rule_versions after the reload differ"; }
# Hits of part 1 point to version 1, hits of part 2 to version 2.
q "SELECT event_id, version, rule_sha256 FROM rule_results WHERE rule = '$RULE'" >"$KT/rule_hits"
python3 - "$KT" "$old_sha" "$new_sha" "$N1" "$N2" <<'PY'
import sys
kt, old, new, n1, n2 = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
part2 = set(open(kt + "/part2.ids").read().split())
got = {1: 0, 2: 0}
for l in open(kt + "/rule_hits"):
    eid, ver, sha = l.rstrip("\n").split("\t")
    want = (2, new) if eid in part2 else (1, old)
    if (int(ver), sha) != want:
        sys.exit(f"FAIL: hit on {eid} has version {ver} sha {sha[:12]}, want {want[0]} {want[1][:12]}")
    got[want[0]] += 1
if got != {1: n1, 2: n2}:
    sys.exit(f"FAIL: hits per version {got}, want {{1: {n1}, 2: {n2}}}")
PY
check_q10
lines=$(awk -F'\t' -v r="$RULE" '$4 == r { print $5 " " $6 " " $8 }' "$KT/q10.out" | sort)
[ "$lines" = "$(printf '1 %s %s\n2 %s %s' "$old_sha" "$N1" "$new_sha" "$N2")" ] \
    || kt_fail "query 10 for $RULE: '$lines'"
echo "ok: warden run recorded its run and rule versions; query 10 traces $N1 hits to $RULE v1 and $N2 to v2 after SIGHUP"

#!/bin/bash
# tests/integration/db_store_outage.sh — MariaDB goes away in the middle of
# `warden eval --store mysql://…` over 100,000 events and comes back 10 s
# later: eval must wait (backpressure), retry with backoff, and finish with
# exactly the hits `warden eval` prints to stdout for the same input — every
# one present, none twice, byte-identical entity and reason.
# Needs the private MariaDB of tests/db/mariadb.sh (WARDEN_DB_PORT); run by
# `make test` (tools/run_tests.sh starts it for db_* scripts).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
WARDEN=${WARDEN:-$BUILD/warden}
: "${WARDEN_DB_PORT:?start tests/db/mariadb.sh and eval its env first}"
DB=warden_outage_$$
URL="mysql://root@127.0.0.1:$WARDEN_DB_PORT/$DB"
M="mariadb --no-defaults -h127.0.0.1 -P$WARDEN_DB_PORT -uroot"
tmp=$(mktemp -d)
evalpid=""
cleanup() {
    [ -n "$evalpid" ] && kill "$evalpid" 2>/dev/null
    tests/db/mariadb.sh resume >/dev/null 2>&1
    $M -e "DROP DATABASE IF EXISTS $DB" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

# A pack that hits on every event (enforce) and on every other one (shadow),
# with quotes and backslashes in its reasons.
mkdir -p "$tmp/pack/t"
cat > "$tmp/pack/t/every.lua" <<'LUA'
return {
  name = "t.every", version = 1, description = "every ping", streams = { "ping" },
  mode = "enforce", fields = { "user.id", "n" },
  evaluate = function(ev, ctx)
    return ctx.block{ entity = ev.user.id, reason = "it's \"every\" \\ ping " .. ev.n, score = 0.5 }
  end,
}
LUA
cat > "$tmp/pack/t/odd.lua" <<'LUA'
return {
  name = "t.odd", version = 2, description = "odd pings", streams = { "ping" },
  mode = "shadow", fields = { "n", "user.id" },
  evaluate = function(ev, ctx)
    if ev.n % 2 == 1 then return ctx.flag{ entity = ev.user.id, reason = "odd" } end
  end,
}
LUA
python3 - > "$tmp/events.jsonl" <<'PY'
import json
for i in range(100000):
    print(json.dumps({"type": "ping", "id": "p%06d" % i, "ts": 1795168800000 + i * 10,
                      "user": {"id": "u%d" % (i % 977)}, "n": i}))
PY
"$WARDEN" eval -q "$tmp/pack" "$tmp/events.jsonl" > "$tmp/expected.jsonl" || fail "warden eval to stdout"
expected=$(wc -l < "$tmp/expected.jsonl")
[ "$expected" = 150000 ] || fail "expected 150000 reference hits, got $expected"

$M -e "CREATE DATABASE $DB" || fail "create database"
"$WARDEN" migrate "$URL" --quiet || fail "warden migrate"

# Small batches and a small buffer: eval is still writing when the server
# stops, and backpressure (not memory) absorbs the outage.
WARDEN_LOG=info "$WARDEN" eval -q --store "$URL?batch_rows=200&buffer_rows=2000&backoff_max_ms=2000" \
    "$tmp/pack" "$tmp/events.jsonl" > "$tmp/eval.out" 2> "$tmp/eval.err" &
evalpid=$!
rows=0
for _ in $(seq 1 600); do
    rows=$($M -N -e "SELECT COUNT(*) FROM $DB.rule_results" 2>/dev/null || echo 0)
    [ "$rows" -ge 20000 ] && break
    kill -0 "$evalpid" 2>/dev/null || break
    sleep 0.05
done
kill -0 "$evalpid" 2>/dev/null || fail "eval finished before the outage began ($rows rows)"
echo "stopping MariaDB at $rows rows"
tests/db/mariadb.sh pause || fail "could not stop MariaDB"
kill -0 "$evalpid" 2>/dev/null || fail "eval exited while the store was down: $(tail -3 "$tmp/eval.err")"
sleep 10
kill -0 "$evalpid" 2>/dev/null || fail "eval exited during the outage: $(tail -3 "$tmp/eval.err")"
echo "restarting MariaDB"
tests/db/mariadb.sh resume || fail "could not restart MariaDB"
wait "$evalpid"
rc=$?
evalpid=""
[ "$rc" = 0 ] || { tail -5 "$tmp/eval.err"; fail "warden eval exited $rc"; }
retries=$(grep -c 'msg="retrying batch"' "$tmp/eval.err")
[ "$retries" -ge 1 ] || fail "no retry was logged: the outage did not hit a write"
grep -q 'msg="writing again"' "$tmp/eval.err" || fail "no recovery was logged"
echo "eval waited through the outage: $retries retries logged"

# Exactly the reference hits, none twice, byte-identical.
$M -N --raw -e "SELECT event_id, rule, version, mode, verdict, entity, reason, score,
    DATE_FORMAT(event_ts, '%Y-%m-%dT%H:%i:%s.%f') FROM $DB.rule_results" > "$tmp/db.tsv" \
    || fail "reading rule_results"
python3 - "$tmp/expected.jsonl" "$tmp/db.tsv" <<'PY' || fail "table differs from eval's hits"
import json, sys
exp = {}
for line in open(sys.argv[1], encoding="utf-8"):
    h = json.loads(line)
    ts = h["event_ts"].rstrip("Z")
    if "." not in ts:
        ts += ".000"
    exp[(h["event_id"], h["rule"])] = [h["event_id"], h["rule"], str(h["version"]), h["mode"],
                                       h["verdict"], h["entity"], h["reason"] or "NULL",
                                       "NULL" if h["score"] is None else repr(h["score"]),
                                       ts.ljust(26, "0")]
got, dup = {}, 0
for line in open(sys.argv[2], encoding="utf-8"):
    f = line.rstrip("\n").split("\t")
    k = (f[0], f[1])
    dup += k in got
    got[k] = f
missing = [k for k in exp if k not in got]
extra = [k for k in got if k not in exp]
diff = [k for k in exp if k in got and got[k] != exp[k]]
print(f"table: {len(got)} rows, reference: {len(exp)}, missing {len(missing)}, extra {len(extra)}, "
      f"duplicates {dup}, differing {len(diff)}")
for k in (missing + extra + diff)[:5]:
    print("  e.g.", k, got.get(k), exp.get(k))
sys.exit(0 if not (missing or extra or dup or diff) else 1)
PY
dec=$($M -N -e "SELECT COUNT(*) FROM $DB.decisions")
[ "$dec" = 100000 ] || fail "decisions: $dec rows, want 100000"
echo "ok: 150000 hits and 100000 decisions, exactly once, after a 10 s outage"

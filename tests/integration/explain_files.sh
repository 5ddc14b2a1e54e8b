#!/bin/bash
# warden explain --input --id (no servers): a known hit of the sample
# explained — the counter value that crossed the rule's threshold, counted
# here by hand from the events, and the verdict equal to warden eval's for
# that event; 12 hit events and a non-hit one reproduce eval's rows
# (--store jsonl:); a changed recorded row and a changed pack are reported
# as not reproduced, with the difference; --warmup 0 loses the history;
# rejected events say why; unknown ids and usage errors exit 1 and 2.
set -eu
W=${WARDEN:-build/warden}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }
S=examples/events/sample.jsonl
R=examples/rules
# jget FILE EXPR: a value of a JSON file (python expression on r).
jget() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1"; }

"$W" eval -q "$R" "$S" > "$T/hits.jsonl"

# ---- a known hit: spam.link_burst on e002577 ------------------------------
ID=e002577
"$W" explain --input "$S" --id "$ID" --rules "$R" --json > "$T/x.json" || fail "explain exited $?"
python3 - "$S" "$T" "$ID" <<'PY' || fail "explain of $ID does not match eval and the events"
import json, sys, datetime
src, t, eid = sys.argv[1:4]
def ts(e): return int(datetime.datetime.fromisoformat(e["ts"].replace("Z", "+00:00")).timestamp())
evs = [json.loads(l) for l in open(src)]
i = next(k for k, e in enumerate(evs) if e["id"] == eid)
tgt = evs[i]
user, t0 = tgt["user"]["id"], ts(tgt)
# pins_by_user over "1h" at t counts minute buckets b with floor(t)-1h < b <= floor(t) (docs/state.md)
tm = t0 // 60 * 60
n = sum(1 for e in evs[:i + 1] if e["type"] == "pin_create" and e["user"]["id"] == user
        and tm - 3600 < ts(e) // 60 * 60 <= tm)
assert n > 20, n           # the rule's threshold: more than 20 pins in an hour
x = json.load(open(f"{t}/x.json"))
assert x["event"]["event_id"] == eid and x["event"]["status"] == "ok" and x["event"]["stream"] == "pin_create", x["event"]
assert x["history"]["events"] == i, (x["history"], i)   # every earlier event is inside the 8-day warm-up
rule = next(r for r in x["rules"] if r["rule"] == "spam.link_burst")
c = [c for c in rule["counters"] if c["counter"] == "pins_by_user" and c["window"] == "1h"]
assert len(c) == 1 and c[0]["key"] == user and c[0]["value"] == n, (c, n)
f = {f["path"]: f for f in rule["fields"]}
assert f["user.id"] == {"path": "user.id", "type": "string", "value": user}, f
assert f["user.age_days"]["type"] == "integer" and f["user.age_days"]["value"] == tgt["user"]["age_days"], f
hits = [json.loads(l) for l in open(f"{t}/hits.jsonl")]
mine = {h["rule"]: h for h in hits if h["event_id"] == eid}
lb = mine["spam.link_burst"]
assert rule["result"]["verdict"] == lb["verdict"] == "block", (rule["result"], lb)
assert rule["result"]["entity"] == lb["entity"] and rule["result"]["reason"] == lb["reason"], rule["result"]
assert rule["result"]["score"] == lb["score"], rule["result"]
assert rule["version"] == lb["version"] and rule["mode"] == lb["mode"], rule
assert len(rule["sha256"]) == 64 and rule["file"].endswith("spam/link_burst.lua"), rule
got = {r["rule"]: r["result"]["verdict"] for r in x["rules"] if r["result"]}
assert got == {k: v["verdict"] for k, v in mine.items()}, (got, mine)
assert x["decision"]["verdict"] == "block" and x["decision"]["rules"] == ["spam.link_burst"], x["decision"]
assert x["reproduced"] is None and x["store"] is None and rule["reproduced"] is None, x["reproduced"]
print(f"{eid}: pins_by_user[{user}] 1h = {n} (> 20), block as eval")
PY
"$W" explain --input "$S" --id "$ID" --rules "$R" > "$T/x.txt"
grep -q 'count    pins_by_user\["u101504"\] over 1h = 25' "$T/x.txt" || fail "text output lacks the count line"
grep -q '^reproduced: no recorded hit to compare' "$T/x.txt" || fail "text output without a store must say so"
ok "explain $ID: the counter that crossed the threshold and the verdict of warden eval"

# ---- reproduced against eval's rows (jsonl store), 12 hit events + one without
python3 - "$T" <<'PY' > "$T/ids"
import json, sys
seen = []
for l in open(f"{sys.argv[1]}/hits.jsonl"):
    e = json.loads(l)["event_id"]
    if e not in seen:
        seen.append(e)
step = max(1, len(seen) // 12)
print("\n".join(seen[::step][:12]))
PY
n=0
while read -r id; do
  "$W" explain --input "$S" --id "$id" --rules "$R" --store "jsonl:$T/hits.jsonl" --json > "$T/r.json" \
    || fail "explain $id exited $?"
  [ "$(jget "$T/r.json" "r['reproduced']")" = True ] || { cat "$T/r.json"; fail "$id: not reproduced"; }
  [ "$(jget "$T/r.json" "r['store']['rows']")" = "$(grep -c "\"event_id\":\"$id\"" "$T/hits.jsonl")" ] \
    || fail "$id: rows read back != eval's"
  n=$((n + 1))
done < "$T/ids"
[ "$n" = 12 ] || fail "explained $n hit events, want 12"
"$W" explain --input "$S" --id e000002 --rules "$R" --store "jsonl:$T/hits.jsonl" --json > "$T/n.json"
[ "$(jget "$T/n.json" "(r['hits'], r['reproduced'], r['store']['rows'], r['decision'])")" = "(0, True, 0, None)" ] \
  || fail "a non-hit event: $(cat "$T/n.json")"
"$W" explain --input "$S" --id e000002 --rules "$R" --store "jsonl:$T/hits.jsonl" | grep -q '^no rule hit this event' \
  || fail "text for a non-hit event"
ok "$n hit events and a non-hit one reproduce eval's rows"

# ---- differences are found -----------------------------------------------
sed "/\"event_id\":\"$ID\",.*spam.link_burst/s/\"verdict\":\"block\"/\"verdict\":\"review\"/" "$T/hits.jsonl" > "$T/changed.jsonl"
"$W" explain --input "$S" --id "$ID" --rules "$R" --store "jsonl:$T/changed.jsonl" --json > "$T/d.json"
python3 - "$T/d.json" <<'PY' || fail "a changed recorded verdict is not reported"
import json, sys
x = json.load(open(sys.argv[1]))
assert x["reproduced"] is False
r = {r["rule"]: r for r in x["rules"]}
assert r["spam.link_burst"]["reproduced"] is False
assert r["spam.link_burst"]["differences"] == ["verdict: recorded review, explain block"], r["spam.link_burst"]
assert all(v["reproduced"] for k, v in r.items() if k != "spam.link_burst")
PY
cp -r "$R" "$T/pack"
sed -i 's/^local MAX_PINS_PER_HOUR = 20/local MAX_PINS_PER_HOUR = 30/' "$T/pack/spam/link_burst.lua"
"$W" explain --input "$S" --id "$ID" --rules "$T/pack" --store "jsonl:$T/hits.jsonl" --json > "$T/p.json"
[ "$(jget "$T/p.json" "[x['differences'] for x in r['rules'] if x['rule'] == 'spam.link_burst'][0]")" \
  = "['recorded a block hit, explain made none']" ] || fail "a changed threshold: $(cat "$T/p.json")"
"$W" explain --input "$S" --id "$ID" --rules "$R" --store "jsonl:$T/hits.jsonl" --warmup 0 --json > "$T/w.json"
[ "$(jget "$T/w.json" "(r['history']['skipped_older'] > 2500, r['reproduced'], [c['value'] for x in r['rules'] for c in x['counters'] if c['counter'] == 'pins_by_user'])")" \
  = "(True, False, [1])" ] || fail "--warmup 0: $(cat "$T/w.json")"
ok "changed rows, a changed threshold and a missing warm-up are reported as not reproduced"

# ---- rejected events, unknown ids, usage ----------------------------------
{ head -3 "$S"; echo '{"type":"login","id":"bad1","ts":"yesterday"}'; echo '{ not json'; } > "$T/bad.jsonl"
"$W" explain --input "$T/bad.jsonl" --id bad1 --rules "$R" --json > "$T/b.json" || fail "explain of a rejected event exited $?"
[ "$(jget "$T/b.json" "(r['event']['status'], r['event']['reason'], r['rules'])")" \
  = "('rejected', \"timestamp field 'ts' is not RFC 3339\", [])" ] || fail "rejected: $(cat "$T/b.json")"
"$W" explain --input "$T/bad.jsonl" --id "$T/bad.jsonl:5" --rules "$R" > "$T/b.txt"
grep -q '^REJECTED: ' "$T/b.txt" && grep -q 'dead-letter' "$T/b.txt" || fail "malformed line: $(cat "$T/b.txt")"
{ echo '{ not json'; head -5 "$S"; } > "$T/pre.jsonl"
"$W" explain --input "$T/pre.jsonl" --id e000005 --rules "$R" --json > "$T/pre.json"
[ "$(jget "$T/pre.json" "(r['history']['events'], r['history']['rejected'], r['event']['status'])")" = "(5, 1, 'ok')" ] \
  || fail "a malformed line in the history: $(cat "$T/pre.json")"
set +e
"$W" explain --input "$S" --id no-such-id --rules "$R" 2> "$T/e1"; rc=$?
set -e
[ "$rc" = 1 ] && grep -q "no event with id 'no-such-id' in $S" "$T/e1" || fail "unknown id: rc $rc, $(cat "$T/e1")"
for args in "--input $S --rules $R" "--input $S --id x --event t/0/1 --rules $R" "-c x.lua" "--input $S --id x" \
            "-c x.lua --event nope" "--input $S --id x --rules $R --warmup soon"; do
  set +e
  # shellcheck disable=SC2086
  "$W" explain $args > /dev/null 2>&1; rc=$?
  set -e
  [ "$rc" = 2 ] || fail "warden explain $args: exit $rc, want 2 (usage)"
done
"$W" --help | grep -q '^  explain ' || fail "warden --help does not list explain"
ok "rejected events say why; unknown id exits 1; usage errors exit 2"

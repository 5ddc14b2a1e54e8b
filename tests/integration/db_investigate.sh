#!/bin/bash
# tests/integration/db_investigate.sh — `warden investigate` against the
# private MariaDB, on the example pack's sample stored by `warden eval
# --store`: for the entities with the most hits, the history lists exactly
# the hits `warden eval` wrote for them (rule, version, verdict, reason,
# score, event time, in time order) and exactly its actions (format v2);
# every block carries the command that reproduces it; --type, --since and
# the lists work; the labels at a time are exactly those eval's hits set
# (the latest expiry of each, from the hit that gave it); a jsonl: store
# is refused with a clear message.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
WARDEN=${WARDEN:-$BUILD/warden}
: "${WARDEN_DB_PORT:?start tests/db/mariadb.sh and eval its env first}"
DB=warden_inv_$$
URL="mysql://root@127.0.0.1:$WARDEN_DB_PORT/$DB"
M="mariadb --no-defaults -h127.0.0.1 -P$WARDEN_DB_PORT -uroot"
tmp=$(mktemp -d)
trap '$M -e "DROP DATABASE IF EXISTS $DB" 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

$M -e "CREATE DATABASE $DB" || fail "create database"
"$WARDEN" migrate "$URL" --quiet || fail "migrate"
S=examples/events/sample.jsonl
"$WARDEN" eval -q --time-limit-ms 0 --run-id inv --store "$URL" examples/rules "$S" || fail "eval --store"
"$WARDEN" eval -q --time-limit-ms 0 --run-id inv --actions "$tmp/actions.jsonl" examples/rules "$S" >"$tmp/hits.jsonl" \
    || fail "eval"
# A login whose IP is on the pack's tor_exits list (a CIDR list).
ip=$(python3 -c "
import json
for l in open('$S'):
    e = json.loads(l)
    ip = (e.get('login') or {}).get('ip')
    if ip and ip.startswith('185.220.101.'):
        print(ip); break")
[ -n "$ip" ] || fail "the sample has no Tor exit login"

python3 - "$WARDEN" "$URL" "$tmp" "$ip" <<'PY' || fail "investigate differs from warden eval"
import collections, json, subprocess, sys
warden, url, tmp, ip = sys.argv[1:5]
hits = [json.loads(l) for l in open(tmp + "/hits.jsonl")]
acts = [json.loads(l) for l in open(tmp + "/actions.jsonl")]
def inv(*args):
    out = subprocess.run([warden, "investigate", "--json", "--store", url, "--rules", "examples/rules",
                          *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out)
by = collections.Counter((h["entity_type"], h["entity"]) for h in hits)
checked = 0
for (etype, ent), n in by.most_common(5) + [(("user", a["entity"]), 0) for a in acts[:3]]:
    r = inv("--type", etype, ent)
    got = [h for h in r["history"] if h["kind"] == "hit"]
    want = [h for h in hits if h["entity"] == ent and h["entity_type"] == etype]
    key = lambda h: (h["event_ts"], h["event_id"], h["rule"])
    want.sort(key=key)
    pick = lambda h: (h["event_ts"], h["event_id"], h["rule"], h["version"], h["mode"], h["verdict"],
                      h["reason"], h["score"], h["entity_type"], h["run_id"])
    assert [pick(h) for h in got] == [pick(h) for h in want], (ent, got[:3], want[:3])
    assert all(len(h["sha256"]) == 64 for h in got)
    gota = [h for h in r["history"] if h["kind"] == "action"]
    wanta = sorted((a for a in acts if a["entity"] == ent and a["entity_type"] == etype),
                   key=lambda a: (a["event_ts"], a["event_id"]))
    assert [(a["event_id"], a["verdict"], a["rules"], a["ttl"]) for a in gota] == \
           [(a["event_id"], a["verdict"], [x["rule"] for x in a["rules"]], a["ttl"]) for a in wanta], (ent, gota[:2], wanta[:2])
    ts = [h["event_ts"] for h in r["history"]]
    assert ts == sorted(ts), "not in time order"
    for h in r["history"]:
        if h["verdict"] == "block":
            assert h["reproduce"] == "warden explain --rules examples/rules --input EVENTS.jsonl --id " + h["event_id"], h
        else:
            assert "reproduce" not in h
    assert r["labels"]["available"] is True and r["labels"]["control_topic"] is False
    checked += len(got) + len(gota)
# Labels at a time: what eval's enforce hits set on the entity at or before
# it, the latest expiry of each label, still in force.
def want_labels(ent, at):
    best = {}
    for h in sorted(hits, key=lambda h: (h["event_ts"], h["event_id"], h["rule"])):
        if h["entity"] != ent or h["mode"] != "enforce" or h["event_ts"] > at:
            continue
        for l in h.get("labels", []):
            if "entity" in l:
                continue
            if l["label"] not in best or l["expires"] > best[l["label"]][0]:
                best[l["label"]] = (l["expires"], h["rule"], h["version"], h["event_id"])
    return sorted((k,) + v for k, v in best.items() if v[0] > at)
labelled = sorted({(h["entity"], h["event_ts"]) for h in hits if h.get("labels") and h["mode"] == "enforce"})
assert len(labelled) >= 5, labelled
nlab = 0
for ent, ts in labelled[:6] + labelled[-3:]:
    for at in (ts, "2026-11-20T12:00:00Z", "2026-11-30T00:00:00Z"):
        r = inv("--run-id", "inv", "--at", at, ent)
        got = sorted((i["label"], i["expires"], i["rule"], i["version"], i["event_id"]) for i in r["labels"]["items"])
        assert all(i["source"] == "rule" for i in r["labels"]["items"]) and r["labels"]["removed"] == []
        assert got == want_labels(ent, at), (ent, at, got, want_labels(ent, at))
        nlab += len(got)
assert nlab >= 5, nlab
print("labels: %d in force at the times asked, each with eval's expiry" % nlab)
# Without --type: every type's hits; --since cuts by event time.
ent = by.most_common(1)[0][0][1]
r_all = inv(ent)
assert len(r_all["history"]) >= len([h for h in hits if h["entity"] == ent])
mid = r_all["history"][len(r_all["history"]) // 2]["event_ts"]
r_since = inv("--since", mid, ent)
assert r_since["history"] and all(h["event_ts"] >= mid for h in r_since["history"])
assert len(r_since["history"]) < len(r_all["history"])
# Lists: the Tor exit IP is on tor_exits.
r_ip = inv("--type", "ip", ip)
assert "tor_exits" in r_ip["lists"], r_ip["lists"]
at = "2026-11-20T12:00:00Z"
assert inv("--at", at, "--type", "user", "nobody-at-all") == {"entity": "nobody-at-all", "entity_type": "user",
    "since": None, "history": [], "lists": [], "labels": inv("--at", at, "--type", "ip", ip)["labels"]}
print("ok: investigate lists exactly eval's %d hits and actions of %d entities" % (checked, 8))
PY
# Human-readable output names the rule and the reproduce command.
top=$(python3 -c "
import collections, json
c = collections.Counter(json.loads(l)['entity'] for l in open('$tmp/hits.jsonl') if '\"block\"' in l)
print(c.most_common(1)[0][0])")
"$WARDEN" investigate --store "$URL" --type user "$top" >"$tmp/human.txt" || fail "human output"
grep -q "^entity user:$top: " "$tmp/human.txt" && grep -q "reproduce: warden explain" "$tmp/human.txt" \
    && grep -q "^labels at " "$tmp/human.txt" \
    || { cat "$tmp/human.txt"; fail "human output lacks the entity, a reproduce line or the labels note"; }
rc=0; "$WARDEN" investigate --store "jsonl:$tmp/x.jsonl" u1 2>"$tmp/err" || rc=$?
[ "$rc" = 1 ] && grep -q "a jsonl: file is not queryable" "$tmp/err" || { cat "$tmp/err"; fail "jsonl: store: exit $rc"; }
rc=0; "$WARDEN" investigate --store "$URL" --type "Bad Type" u1 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "bad --type: exit $rc, want 2"
echo "ok: human output, jsonl: refused, usage errors"

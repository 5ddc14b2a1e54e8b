#!/bin/bash
# `warden undo` removes the labels the undone rule version set, against a
# real broker and MariaDB.  t.set (v1) labels the user of a marked login
# "suspect" (and u4 also "extra") and reviews it; t.keep labels u2
# "suspect" too (another rule); an analyst labels u3 "suspect" by hand;
# t.read blocks a login whose user has "suspect", t.readx flags "extra".
# Then:
#   - the hits' labels in the store (rule_results.labels) are what
#     `warden eval` writes in its JSONL hits for the same events;
#   - undo --dry-run reports what it would remove and writes nothing (no
#     control record, no revocation);
#   - undo removes u1's and u4's labels (3 control-topic deletions,
#     audited), keeps u2's (t.keep set it) and u3's (manual), and says so;
#   - a label item whose entity is not a string is counted unreadable by
#     undo, GET /entities and investigate alike, and acted on by none;
#   - after it, a login of u1 or u4 no longer hits the readers while u2's
#     and u3's still do, in the live service and in a replay over the same
#     window; u1 labelled again by t.set afterwards is seen again.
set -eu
. tests/kafka/lib.sh
: "${WARDEN_DB_PORT:?start tests/db/mariadb.sh and eval its env first}"
kt_init undolab
DB="warden_undolab_$$"
URL="mysql://root@127.0.0.1:$WARDEN_DB_PORT/$DB"
M="mariadb --no-defaults -h127.0.0.1 -P$WARDEN_DB_PORT -uroot"
trap '$M -e "DROP DATABASE IF EXISTS $DB" 2>/dev/null; kt_cleanup' EXIT
q() { $M -N --batch "$DB" -e "$1"; }
$M -e "CREATE DATABASE $DB"
"$WARDEN" migrate "$URL" --quiet

mkdir -p "$KT/pack"
cat >"$KT/pack/set.lua" <<'LUA'
return { name = "t.set", version = 1, streams = { "login" }, mode = "enforce", fields = { "user", "set" },
  evaluate = function(ev, ctx)
    if not ev.set then return end
    ctx.label(ev.user, "suspect", "1d")
    if ev.user == "u4" then ctx.label(ev.user, "extra", "2d") end
    return ctx.review{ entity = ev.user, entity_type = "user", reason = "set" }
  end }
LUA
cat >"$KT/pack/keep.lua" <<'LUA'
return { name = "t.keep", version = 1, streams = { "login" }, mode = "enforce", fields = { "user", "keep" },
  evaluate = function(ev, ctx)
    if ev.keep then
      ctx.label(ev.user, "suspect", "3d")
      return ctx.flag{ entity = ev.user, entity_type = "user", reason = "keep" }
    end
  end }
LUA
cat >"$KT/pack/read.lua" <<'LUA'
return { name = "t.read", version = 1, streams = { "login" }, mode = "enforce", fields = { "user" },
  evaluate = function(ev, ctx)
    if ctx.has_label(ev.user, "suspect") then return ctx.block{ entity = ev.user, entity_type = "user", reason = "suspect" } end
  end }
LUA
cat >"$KT/pack/readx.lua" <<'LUA'
return { name = "t.readx", version = 1, streams = { "login" }, mode = "enforce", fields = { "user" },
  evaluate = function(ev, ctx)
    if ctx.has_label(ev.user, "extra") then return ctx.flag{ entity = ev.user, entity_type = "user", reason = "extra" } end
  end }
LUA
RAW="raw.$KID"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export WARDEN_ADMIN_TOKEN="tok-$KID"
AUTH=(-H "Authorization: Bearer $WARDEN_ADMIN_TOKEN")
NOW=$(date +%s%3N)
BASE=$((NOW - 20 * 60000))
# events FILE TS0 SPEC...: SPEC is id:user[:set][:keep], one second apart.
events() {
    python3 - "$@" <<'PY'
import json, sys
out, ts = sys.argv[1], int(sys.argv[2])
with open(out, "w") as f:
    for i, spec in enumerate(sys.argv[3:]):
        p = spec.split(":")
        ev = {"id": p[0], "type": "login", "ts": ts + 1000 * i, "user": p[1],
              "set": "set" in p[2:], "keep": "keep" in p[2:]}
        print(json.dumps(ev, separators=(",", ":")), file=f)
PY
}
events "$KT/p1.jsonl" "$BASE" e01:u1:set e02:u2:set:keep e03:u3:set e04:u4:set e05:u1 e06:u2 e07:u3 e08:u4
"$WARDEN" eval -q --out "$KT/eval.hits" "$KT/pack" "$KT/p1.jsonl" >/dev/null
timeout 60 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -p 0 -l "$KT/p1.jsonl"
kt_config "$KT/warden.lua" "
  streams = { topics = { '$RAW' } },
  rules = '$KT/pack',
  store = '$URL',
  admin = { listen = '127.0.0.1:$PORT', audit_file = '$KT/audit.jsonl' },
  run = { group = 'g.$KID', actions_topic = 'actions.$KID', dlq_topic = 'dlq.$KID',
          batch_max = 20, batch_ms = 50 },"
CTL="g.$KID.control"
kt_warden "$KT/run.log" run -c "$KT/warden.lua" --instance a
kt_wait_stat "$KT/run.log" events 8 60
hits_live() { q "SELECT COUNT(*) FROM rule_results WHERE run_id = 'live'"; }
for _ in $(seq 1 100); do [ "$(hits_live)" -ge "$(wc -l <"$KT/eval.hits")" ] && break; sleep 0.2; done

# The store's labels are eval's.
q "SELECT event_id, rule, labels FROM rule_results WHERE run_id = 'live' AND labels IS NOT NULL" >"$KT/db.labels"
python3 - "$KT" <<'PY' || kt_fail "the store's labels differ from warden eval's"
import json, sys
kt = sys.argv[1]
ev = {(h["event_id"], h["rule"]): h["labels"] for h in map(json.loads, open(kt + "/eval.hits")) if "labels" in h}
db = {}
for l in open(kt + "/db.labels"):
    e, r, lab = l.rstrip("\n").split("\t")
    db[(e, r)] = json.loads(lab)
assert ev == db, (ev, db)
assert len(ev) == 5, ev   # t.set on 4 events, t.keep on one
assert ev[("e04", "t.set")][1]["label"] == "extra" and ev[("e04", "t.set")][1]["ttl_ms"] == 172800000
print("labels: %d hits, the store = eval" % len(ev))
PY
# A label item whose entity is not a string (no warden writes one) is
# unreadable to undo, GET /entities and investigate alike: counted, never
# taken for the hit's entity (undo would delete u1's "odd") nor skipped.
q "UPDATE rule_results SET labels = JSON_ARRAY_APPEND(labels, '\$', JSON_OBJECT('label', 'odd', 'ttl_ms', 86400000, 'entity', 7))
   WHERE run_id = 'live' AND event_id = 'e01' AND rule = 't.set'"

# An analyst's label on u3.
code=$(curl -s -o "$KT/put.json" -w '%{http_code}' -X PUT "${AUTH[@]}" -d '{"ttl":"1d","reason":"analyst says"}' \
       "http://127.0.0.1:$PORT/labels/user/u3/suspect")
[ "$code" = 200 ] || { cat "$KT/put.json"; kt_fail "PUT label: $code"; }

# --from/--to want RFC 3339.
rfc() { python3 -c 'import sys, datetime; print(datetime.datetime.fromtimestamp(int(sys.argv[1]) / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")' "$1"; }
FROM=$(rfc $((BASE - 60000)))
TO=$(rfc $((BASE + 60000)))
undo() { "$WARDEN" undo -c "$KT/warden.lua" --rule t.set --version 1 --from "$FROM" --to "$TO" --json "$@"; }
snapshot() { echo "$(kt_count "$CTL") $(kt_count "actions.$KID") $(wc -l <"$KT/audit.jsonl")"; }
s0=$(snapshot)
undo --dry-run >"$KT/dry.json" || kt_fail "dry run failed"
[ "$(snapshot)" = "$s0" ] || kt_fail "--dry-run changed something: $s0 -> $(snapshot)"
undo >"$KT/undo.json" || kt_fail "undo failed"
python3 - "$KT" <<'PY' || kt_fail "undo: wrong label report"
import json, sys
kt = sys.argv[1]
for f in ("/dry.json", "/undo.json"):
    r = json.load(open(kt + f))["labels"]
    got = sorted((i["entity"], i["label"], i["result"], json.dumps(i.get("kept_by", {}).get("rule")),
                  i.get("kept_by", {}).get("manual", False)) for i in r["items"])
    want = [("u1", "suspect", "removed", "null", False), ("u2", "suspect", "kept", '"t.keep"', False),
            ("u3", "suspect", "kept", "null", True), ("u4", "extra", "removed", "null", False),
            ("u4", "suspect", "removed", "null", False)]
    assert got == want, (f, got)
    assert (r["removed"], r["kept"], r["expired"], r["unreadable"]) == (3, 2, 0, 1), r
    m = [i for i in r["items"] if i["entity"] == "u3"][0]["kept_by"]
    assert m["reason"] == "analyst says" and m["who"].startswith("sha256:"), m
print("undo labels: 3 removed, kept: t.keep's and the analyst's")
PY
[ "$(kt_count "$CTL")" = $(( $(echo "$s0" | cut -d' ' -f1) + 3 )) ] || kt_fail "want 3 label deletions on $CTL"
kt_read "$CTL" '%k %s\n' | grep '"who":"undo:' >"$KT/dels.txt" || :
python3 - "$KT/dels.txt" <<'PY' || kt_fail "the deletion records"
import json, sys
rows = [l.rstrip("\n").split(" ", 1) for l in open(sys.argv[1])]
assert sorted(k for k, _ in rows) == ["label/user/extra/u4", "label/user/suspect/u1", "label/user/suspect/u4"], rows
for k, v in rows:
    v = json.loads(v)
    assert v["op"] == "del" and v["rule_labels_until"] and v["reason"].endswith("of t.set v1"), v
PY
[ "$(grep -c '"action":"label.delete"' "$KT/audit.jsonl")" = 3 ] || kt_fail "3 label.delete audit lines"
grep -q '"action":"undo".*labels_removed=3' "$KT/audit.jsonl" || kt_fail "the undo's audit line counts the labels"

# The service applied them (4 control records: the PUT and 3 deletions) …
for _ in $(seq 1 100); do
    curl -s "${AUTH[@]}" "http://127.0.0.1:$PORT/metrics" >"$KT/m"
    grep -q '^warden_control_records_total 4$' "$KT/m" && break; sleep 0.1
done
grep -q '^warden_control_records_total 4$' "$KT/m" || kt_fail "the service has not applied the 4 control records"
# … so logins from now on: u1 and u4 without labels, u2 and u3 with; then
# t.set labels u1 again and it is seen again.
T2=$(($(date +%s%3N) + 1000))
events "$KT/p2.jsonl" "$T2" e09:u1 e10:u2 e11:u3 e12:u4 e13:u1:set e14:u1
timeout 60 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -p 0 -l "$KT/p2.jsonl"
kt_wait_stat "$KT/run.log" events 14 60
sleep 1
# The labels now: GET /entities on the service and warden investigate -c
# agree, from the store's sets and the control topic's changes.
AT=$(rfc $((T2 + 10000)))
for u in u1 u2 u3 u4; do
    curl -s "${AUTH[@]}" "http://127.0.0.1:$PORT/entities/user/$u?run_id=live&at=$AT" >"$KT/ent.$u.json"
    "$WARDEN" investigate --json -c "$KT/warden.lua" --run-id live --type user --at "$AT" "$u" >"$KT/inv.$u.json" \
        2>/dev/null || kt_fail "investigate $u"
done
python3 - "$KT" <<'PY' || kt_fail "the entities' labels"
import json, sys
kt = sys.argv[1]
def lab(u):
    a, b = (json.load(open("%s/%s.%s.json" % (kt, f, u)))["labels"] for f in ("ent", "inv"))
    assert a == b, (u, a, b)
    assert a["control_topic"] is True and a["note"] is None, a
    assert a["unreadable"] == (1 if u == "u1" else 0), (u, a)   # e01's item with entity 7
    return (sorted((i["label"], i["source"], i.get("rule") or i.get("who")[:7], i["expires"]) for i in a["items"]),
            sorted((i["label"], i["rule"], i["removed_by"][:5]) for i in a["removed"]))
hits = {h["id"]: h for f in ("/p1.jsonl", "/p2.jsonl") for h in map(json.loads, open(kt + f))}
import datetime
def exp(eid, d):
    ms = hits[eid]["ts"] + d * 86400000
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + \
        (".%03dZ" % (ms % 1000) if ms % 1000 else "Z")
assert lab("u1") == ([("suspect", "rule", "t.set", exp("e13", 1))], []), lab("u1")   # set again after the undo
assert lab("u2") == ([("suspect", "rule", "t.keep", exp("e02", 3))], []), lab("u2")
i3, r3 = lab("u3")
assert r3 == [] and [x[:3] for x in i3] == [("suspect", "manual", "sha256:"), ("suspect", "rule", "t.set")], i3
assert i3[1][3] == exp("e03", 1)
assert lab("u4") == ([], [("extra", "t.set", "undo:"), ("suspect", "t.set", "undo:")]), lab("u4")
print("labels: GET /entities = investigate -c; expiry from the hits, the undo's removals named")
PY
kt_stop "$KT_PID"
q "SELECT event_id, rule FROM rule_results WHERE run_id = 'live' AND rule IN ('t.read', 't.readx') ORDER BY 1, 2" \
    | tr '\t' ' ' >"$KT/live.readers"
printf '%s\n' "e05 t.read" "e06 t.read" "e07 t.read" "e08 t.read" "e08 t.readx" "e10 t.read" "e11 t.read" \
    "e14 t.read" | diff - "$KT/live.readers" || kt_fail "live: the readers' hits are not what the undo implies"

# A replay over the same window reads the same control records.  The
# window ends after the last event's time (e14: T2 + 5 s, which may still be
# ahead of the clock on a fast run) and after now.
sleep 1
RTO=$(($(date +%s%3N) + 1000)); [ "$RTO" -gt $((T2 + 6000)) ] || RTO=$((T2 + 6000))
"$WARDEN" replay -q -c "$KT/warden.lua" --from $((BASE - 60000)) --to "$RTO" --warmup 0 \
    --store "jsonl:$KT/replay.hits" --run-id rp1 --json "$KT/replay.json" || kt_fail "replay exited $?"
python3 -c '
import json, sys
for l in open(sys.argv[1]):
    h = json.loads(l); print(h["event_id"], h["rule"])' "$KT/replay.hits" | sort >"$KT/replayed"
q "SELECT event_id, rule FROM rule_results WHERE run_id = 'live' ORDER BY 1, 2" | tr '\t' ' ' | sort >"$KT/live.all"
diff "$KT/live.all" "$KT/replayed" || kt_fail "the replay's hits differ from the live hits"
echo "ok: undo removed 3 labels through the control topic (2 kept, dry run wrote nothing); $(wc -l <"$KT/live.all") live hits = the replay's"

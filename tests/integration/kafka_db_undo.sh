#!/bin/bash
# `warden undo` against a real broker and MariaDB.  warden run evaluates 60
# logins with three enforce rules: t.bad (v2, blocks the user of every
# event with bad = true — the rule to undo), t.other (reviews the user of
# every third event: another rule on the same entity) and t.ip (blocks the
# IP of every event).  Then:
#   - undo --dry-run reports what it would revoke and changes nothing (the
#     actions topic, the actions table, undo_runs, the audit file);
#   - undo writes exactly one revocation per action t.bad took part in
#     inside the window, read_committed, naming the original event, rule
#     and entity; those on entities t.other also acted on say what is kept;
#   - the same undo again emits nothing ("already done"); still once;
#   - every other action (t.ip's, t.bad's outside the window) is untouched,
#     the undo is in undo_runs, the store's audit_log and the audit file.
set -eu
. tests/kafka/lib.sh
: "${WARDEN_DB_PORT:?start tests/db/mariadb.sh and eval its env first}"
kt_init undo
DB="warden_undo_$$"
URL="mysql://root@127.0.0.1:$WARDEN_DB_PORT/$DB"
M="mariadb --no-defaults -h127.0.0.1 -P$WARDEN_DB_PORT -uroot"
trap '$M -e "DROP DATABASE IF EXISTS $DB" 2>/dev/null; kt_cleanup' EXIT
q() { $M -N --batch "$DB" -e "$1"; }
$M -e "CREATE DATABASE $DB"
"$WARDEN" migrate "$URL" --quiet

mkdir -p "$KT/pack"
cat >"$KT/pack/bad.lua" <<'LUA'
return { name = "t.bad", version = 2, streams = { "login" }, mode = "enforce", fields = { "user", "bad" },
  evaluate = function(ev, ctx)
    if ev.bad then return ctx.block{ entity = ev.user, entity_type = "user", reason = "bad", ttl = "1d" } end
  end }
LUA
cat >"$KT/pack/other.lua" <<'LUA'
return { name = "t.other", version = 1, streams = { "login" }, mode = "enforce", fields = { "user", "n" },
  evaluate = function(ev, ctx)
    if ev.n % 3 == 0 then return ctx.review{ entity = ev.user, entity_type = "user", reason = "third" } end
  end }
LUA
cat >"$KT/pack/ip.lua" <<'LUA'
return { name = "t.ip", version = 1, streams = { "login" }, mode = "enforce", fields = { "ip" },
  evaluate = function(ev, ctx) return ctx.block{ entity = ev.ip, entity_type = "ip", reason = "ip" } end }
LUA
RAW="raw.$KID"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export WARDEN_ADMIN_TOKEN="tok-$KID"
python3 - "$KT/events.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for n in range(60):
        ev = {"id": "e%02d" % n, "type": "login", "ts": "2026-11-20T10:%02d:00Z" % n,
              "user": "u%d" % (n % 7), "ip": "10.0.0.%d" % (n % 5), "n": n, "bad": n % 2 == 0}
        print(json.dumps(ev, separators=(",", ":")), file=f)
PY
"$WARDEN" eval -q --actions "$KT/eval_actions.jsonl" "$KT/pack" "$KT/events.jsonl" >/dev/null
want=$(wc -l <"$KT/eval_actions.jsonl")
timeout 60 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -p 0 -l "$KT/events.jsonl"
kt_config "$KT/warden.lua" "
  streams = { topics = { '$RAW' } },
  rules = '$KT/pack',
  store = '$URL',
  admin = { listen = '127.0.0.1:$PORT', audit_file = '$KT/audit.jsonl' },
  run = { group = 'g.$KID', actions_topic = 'actions.$KID', dlq_topic = 'dlq.$KID',
          batch_max = 20, batch_ms = 50 },"
kt_warden "$KT/run.log" run -c "$KT/warden.lua" --instance a
kt_wait_count "actions.$KID" "$want" 60
# GET /entities/{type}/{id} on the running service: u0's hits and actions
# as warden investigate gives them from the store; 401 without the token.
sleep 1
auth="Authorization: Bearer $WARDEN_ADMIN_TOKEN"
curl -s -H "$auth" "http://127.0.0.1:$PORT/entities/user/u0?run_id=live&at=2026-11-20T12:00:00Z" >"$KT/ent.json"
"$WARDEN" investigate --json -c "$KT/warden.lua" --store "$URL" --rules "$KT/pack" --run-id live --type user \
    --at 2026-11-20T12:00:00Z u0 >"$KT/inv.json" 2>/dev/null
python3 - "$KT" <<'PY' || kt_fail "GET /entities differs from warden investigate"
import json, sys
a, b = (json.load(open(sys.argv[1] + f)) for f in ("/ent.json", "/inv.json"))
assert a == b, (a, b)
hits = [h for h in a["history"] if h["kind"] == "hit"]
assert len(hits) == 5 + 3 and {h["rule"] for h in hits} == {"t.bad", "t.other"}, len(hits)
PY
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/entities/user/u0")" = 401 ] || kt_fail "no 401"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "$auth" "http://127.0.0.1:$PORT/entities/Bad/u0")" = 400 ] || kt_fail "no 400"
kt_stop "$KT_PID"
kt_read "actions.$KID" | sort >"$KT/before.sorted"
sort "$KT/eval_actions.jsonl" | diff - "$KT/before.sorted" >/dev/null || kt_fail "run's actions differ from eval's"
[ "$(q "SELECT COUNT(*) FROM actions WHERE run_id = 'live'")" = "$want" ] || kt_fail "actions table != $want"

# The window 10:10 .. 10:40: t.bad blocked e10, e12, …, e38 (15 events).
undo() { "$WARDEN" undo -c "$KT/warden.lua" --rule t.bad --version 2 --from 2026-11-20T10:10:00Z \
             --to 2026-11-20T10:40:00Z --json "$@"; }
snapshot() { echo "$(kt_count "actions.$KID") $(q "SELECT COUNT(*) FROM actions") $(q "SELECT COUNT(*) FROM undo_runs") $(wc -c <"$KT/audit.jsonl" 2>/dev/null || echo 0)"; }
s0=$(snapshot)
undo --dry-run >"$KT/dry.json" || kt_fail "dry run failed"
[ "$(snapshot)" = "$s0" ] || kt_fail "--dry-run changed something: $s0 -> $(snapshot)"
undo >"$KT/undo1.json" || kt_fail "undo failed"
undo >"$KT/undo2.json" || kt_fail "second undo failed"
kt_read "actions.$KID" >"$KT/after.jsonl"
kt_read "actions.$KID" '%k %h\n' | grep "warden.undo=" >"$KT/revoke_keys.txt" || :
python3 - "$KT" <<'PY' || kt_fail "undo: wrong revocations"
import json, sys
kt = sys.argv[1]
dry, u1, u2 = (json.load(open(kt + f)) for f in ("/dry.json", "/undo1.json", "/undo2.json"))
before = [json.loads(l) for l in open(kt + "/before.sorted")]
after = [json.loads(l) for l in open(kt + "/after.jsonl")]
rev = [a for a in after if a["verdict"] == "revoke"]
rest = sorted(json.dumps(a, sort_keys=True) for a in after if a["verdict"] != "revoke")
assert rest == sorted(json.dumps(a, sort_keys=True) for a in before), "other actions changed"
# What t.bad took part in inside the window, from the original actions.
target = [a for a in before if "2026-11-20T10:10:00Z" <= a["event_ts"] < "2026-11-20T10:40:00Z"
          and any(r["rule"] == "t.bad" for r in a["rules"])]
assert len(target) == 15, len(target)
assert len(rev) == len(target), ("revocations", len(rev), len(target))
assert sorted((r["event_id"], r["entity"]) for r in rev) == sorted((a["event_id"], a["entity"]) for a in target)
for r in rev:
    assert r["schema"] == 2 and r["entity_type"] == "user" and r["undo_id"] == u1["undo_id"]
    assert r["rules"][0]["rule"] == "t.bad" and r["rules"][0]["version"] == 2
    assert r["revokes"] == {"run_id": "live", "verdict": "block",
                            "rules": [x["rule"] for x in next(a for a in target if a["event_id"] == r["event_id"])["rules"]]}
    n = int(r["event_id"][1:])
    if n % 3 == 0:
        assert r["kept"] == {"verdict": "review", "rules": ["t.other"]}, r
    else:
        assert r["kept"] is None, r
kept = sum(1 for a in target if int(a["event_id"][1:]) % 3 == 0)
assert (dry["dry_run"], dry["revoked"] + dry["kept"], dry["kept"]) == (True, 15, kept), dry
assert (u1["state"], u1["revoked"], u1["kept"]) == ("done", 15 - kept, kept), u1
assert (u2["state"], u2["revoked"], u2["kept"]) == ("already done", 15 - kept, kept), u2
assert len(dry["actions"]) == 15 and u2["actions"] == []
print("ok: %d revocations (%d keep t.other's review), once; %d other actions untouched" % (len(rev), kept, len(rest)))
PY
[ "$(wc -l <"$KT/revoke_keys.txt")" = 15 ] && grep -qv '^user:u[0-6] ' "$KT/revoke_keys.txt" && kt_fail "revocation keys are not user:ENTITY" || :
id=$(python3 -c "import json; print(json.load(open('$KT/undo1.json'))['undo_id'])")
[ "$(q "SELECT status, revoked + kept FROM undo_runs WHERE undo_id = '$id'")" = "$(printf 'done\t15')" ] || kt_fail "undo_runs"
[ "$(q "SELECT COUNT(*) FROM actions WHERE run_id = 'undo:$id' AND verdict = 'revoke'")" = 15 ] || kt_fail "store revocations"
[ "$(q "SELECT COUNT(*) FROM audit_log WHERE action = 'undo' AND rule = 't.bad'")" = 1 ] || kt_fail "audit_log row"
[ "$(grep -c '"action":"undo","rule":"t.bad","before":"v2","after":"revoked"' "$KT/audit.jsonl")" = 1 ] || kt_fail "audit file line"
# An undo of a window with nothing in it commits nothing and is done.
"$WARDEN" undo -c "$KT/warden.lua" --rule t.bad --from 2027-01-01T00:00:00Z --to 2027-01-02T00:00:00Z >/dev/null
[ "$(kt_count "actions.$KID")" = $((want + 15)) ] || kt_fail "the empty undo produced something"
echo "ok: undo exactly once (read_committed, run twice), dry run changes nothing, store and audit record it"

#!/bin/bash
# The admin API of `warden run`, through curl and `warden admin`: health,
# readiness, /metrics (promtool check metrics), /rules, a rule's source,
# reload (good, broken with file:line errors, 409 while one runs), mode
# overrides (they decide the next events, survive a reload and a restart:
# the overrides topic), every error status (400, 401 missing/wrong token,
# 404, 405, 409, 413), the audit file, and the auto-shadow breaker
# tripping on a rule that errors on 60% of its events and its manual
# restore.
set -eu
. tests/kafka/lib.sh
kt_init admin
command -v promtool >/dev/null || kt_fail "promtool is not installed (make test-deps: Debian's prometheus)"
RAW="raw.$KID"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
export WARDEN_ADMIN_TOKEN="tok-$KID-secret"
mkdir -p "$KT/pack"
cat >"$KT/pack/a.lua" <<'LUA'
return {
  name = "t.a", version = 1, streams = { "t" }, mode = "enforce", fields = { "user" },
  evaluate = function(ev, ctx) return ctx.block{ entity = ev.user, reason = "a" } end,
}
LUA
cat >"$KT/pack/runaway.lua" <<'LUA'
return {
  name = "t.runaway", version = 1, streams = { "t" }, mode = "enforce", fields = { "n" },
  evaluate = function(ev, ctx)
    if ev.n and ev.n % 5 < 3 then error("runaway") end
  end,
}
LUA
ev() { printf '{"type":"t","id":"%s","ts":"2026-11-20T10:00:%02dZ","user":"%s","n":%d}\n' "$1" "$(( $4 % 60 ))" "$2" "$3"; }
send() { timeout 30 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -p 0 -l "$1"; }
kt_config "$KT/warden.lua" "
  streams = { topics = { '$RAW' } },
  rules = 'pack',
  store = 'jsonl:$KT/hits.jsonl',
  run = { group = 'g.$KID', actions_topic = 'actions.$KID', dlq_topic = 'dlq.$KID', batch_ms = 100 },
  admin = { listen = '127.0.0.1:$PORT', audit_file = 'audit.jsonl',
            breaker_error_pct = 50, breaker_min_evals = 20 },"
# status BODYFILE METHOD PATH [curl args…]: the HTTP status; body in BODYFILE
st() { local out=$1 m=$2 p=$3; shift 3; curl -s -o "$out" -w '%{http_code}' -X "$m" "$@" "$URL$p"; }
AUTH=(-H "Authorization: Bearer $WARDEN_ADMIN_TOKEN")
jf() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))
for p in sys.argv[2].split("/"):
    v = v[int(p)] if isinstance(v, list) else v.get(p)
print(json.dumps(v) if isinstance(v,(dict,list,bool)) or v is None else v)' "$@"; }
rule_field() { # RULE FIELD: from GET /rules
    st "$KT/r.json" GET /rules "${AUTH[@]}" >/dev/null
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
print([r for r in d["rules"] if r["name"]==sys.argv[2]][0][sys.argv[3]])' "$KT/r.json" "$1" "$2"; }

ev e0 u0 1 0 >"$KT/b0"; send "$KT/b0"
kt_warden "$KT/run.log" run -c "$KT/warden.lua" --instance a
for _ in $(seq 1 100); do curl -s -o /dev/null "$URL/healthz" && break; sleep 0.1; done
[ "$(st "$KT/o" GET /healthz)" = 200 ] || kt_fail "/healthz: not 200"
kt_wait_count "actions.$KID" 1 30
for _ in $(seq 1 100); do [ "$(st "$KT/o" GET /readyz)" = 200 ] && break; sleep 0.1; done
[ "$(st "$KT/o" GET /readyz)" = 200 ] || { cat "$KT/o"; kt_fail "/readyz: not ready with a partition assigned"; }
[ "$(jf "$KT/o" ready)" = true ] || kt_fail "/readyz body"

# Auth: missing, wrong, right; every non-GET needs it, /rules too.
[ "$(st "$KT/o" GET /rules)" = 401 ] || kt_fail "/rules without a token: not 401"
grep -q '"error"' "$KT/o" || kt_fail "401 without an error body"
[ "$(st "$KT/o" GET /rules -H 'Authorization: Bearer wrong')" = 401 ] || kt_fail "wrong token: not 401"
[ "$(st "$KT/o" POST /rules/reload)" = 401 ] || kt_fail "reload without a token: not 401"
[ "$(st "$KT/o" PUT /rules/t.a/mode -H 'Authorization: Bearer nope' -d '{"mode":"off"}')" = 401 ] \
    || kt_fail "mode with a wrong token: not 401"
[ "$(st "$KT/o" GET /rules "${AUTH[@]}")" = 200 ] || kt_fail "/rules with the token: not 200"
[ "$(jf "$KT/o" rules/0/name)" = t.a ] && [ "$(jf "$KT/o" rules/0/mode)" = enforce ] \
    && [ "$(jf "$KT/o" rules/0/mode_source)" = file ] || { cat "$KT/o"; kt_fail "/rules content"; }
[ "$(jf "$KT/o" rules/0/sha256)" = "$(sha256sum "$KT/pack/a.lua" | cut -c1-64)" ] || kt_fail "/rules sha256"
[ "$(st "$KT/o" GET /rules/t.a "${AUTH[@]}")" = 200 ] && grep -q 'ctx.block' "$KT/o" || kt_fail "/rules/t.a source"
! grep -q -- "$WARDEN_ADMIN_TOKEN" "$KT/run.log" || kt_fail "the token appears in the log"

# Error statuses.
[ "$(st "$KT/o" GET /rules/nope "${AUTH[@]}")" = 404 ] || kt_fail "unknown rule: not 404"
[ "$(st "$KT/o" PUT /rules/nope/mode "${AUTH[@]}" -d '{"mode":"shadow"}')" = 404 ] || kt_fail "mode of an unknown rule: not 404"
[ "$(st "$KT/o" GET /nowhere)" = 404 ] || kt_fail "unknown path: not 404"
[ "$(st "$KT/o" DELETE /rules "${AUTH[@]}")" = 405 ] || kt_fail "DELETE /rules: not 405"
[ "$(st "$KT/o" POST /metrics)" = 405 ] || kt_fail "POST /metrics: not 405"
[ "$(st "$KT/o" GET /rules/reload "${AUTH[@]}")" = 404 ] || :   # a rule named "reload" does not exist
[ "$(st "$KT/o" PUT /rules/t.a/mode "${AUTH[@]}" -d '{"mode":')" = 400 ] || kt_fail "malformed JSON: not 400"
[ "$(st "$KT/o" PUT /rules/t.a/mode "${AUTH[@]}" -d '{"mode":"loud"}')" = 400 ] || kt_fail "bad mode: not 400"
head -c 70000 /dev/zero | tr '\0' 'x' >"$KT/big"
[ "$(st "$KT/o" PUT /rules/t.a/mode "${AUTH[@]}" --data-binary @"$KT/big")" = 413 ] || kt_fail "big body: not 413"
# /replays has its own test (kafka_admin_replays.sh): here only that it answers.
[ "$(st "$KT/o" POST /replays "${AUTH[@]}" -d '{}')" = 400 ] || kt_fail "POST /replays without from: not 400"
[ "$(st "$KT/o" GET /replays "${AUTH[@]}")" = 200 ] || kt_fail "GET /replays: not 200"

# /metrics: promtool's lint, and the numbers.
[ "$(st "$KT/m" GET /metrics)" = 200 ] || kt_fail "/metrics: not 200"
promtool check metrics <"$KT/m" || kt_fail "promtool check metrics failed"
grep -q "^warden_events_consumed_total{topic=\"$RAW\"} 1$" "$KT/m" || { grep consumed "$KT/m"; kt_fail "consumed metric"; }
grep -q '^warden_rule_hits_total{rule="t.a",verdict="block",mode="enforce"} 1$' "$KT/m" || kt_fail "hits metric"
grep -q '^warden_rule_evaluation_seconds_count{rule="t.a"} 1$' "$KT/m" || kt_fail "evaluation histogram"
grep -q '^warden_actions_produced_total 1$' "$KT/m" || kt_fail "actions metric"
grep -q '^warden_transaction_commits_total [1-9]' "$KT/m" || kt_fail "commits metric"
grep -q '^warden_stream_events_total{stream="t"} 1$' "$KT/m" || kt_fail "events per stream metric"
grep -q "^warden_consumer_lag{topic=\"$RAW\",partition=\"0\"} 0$" "$KT/m" || { grep lag "$KT/m"; kt_fail "consumer lag metric"; }

# A mode override: t.a to shadow decides the next event (no action).
[ "$(st "$KT/o" PUT /rules/t.a/mode "${AUTH[@]}" -d '{"mode":"shadow"}')" = 200 ] || { cat "$KT/o"; kt_fail "PUT mode"; }
[ "$(jf "$KT/o" before)" = enforce ] && [ "$(jf "$KT/o" after)" = shadow ] || kt_fail "PUT mode answer"
[ "$(rule_field t.a mode)" = shadow ] && [ "$(rule_field t.a mode_source)" = override ] || kt_fail "override not listed"
ev e1 u1 3 1 >"$KT/b1"; send "$KT/b1"
kt_wait_stat "$KT/run.log" events 2 30
sleep 2
[ "$(kt_count "actions.$KID")" = 1 ] || kt_fail "a shadow rule produced an action"
grep '"event_id":"e1"' "$KT/hits.jsonl" | grep -q '"mode":"shadow"' || kt_fail "e1's hit does not say shadow"

# Reload: a good one keeps the override; a broken one is rejected with file:line.
[ "$(st "$KT/o" POST /rules/reload "${AUTH[@]}")" = 200 ] || { cat "$KT/o"; kt_fail "reload"; }
[ "$(rule_field t.a mode)" = shadow ] || kt_fail "the override did not survive a reload"
cp "$KT/pack/a.lua" "$KT/a.good"; echo 'return {' >"$KT/pack/a.lua"
[ "$(st "$KT/o" POST /rules/reload "${AUTH[@]}")" = 400 ] || { cat "$KT/o"; kt_fail "broken reload: not 400"; }
jf "$KT/o" errors | grep -q 'a.lua:[0-9]' || { cat "$KT/o"; kt_fail "broken reload: no file:line error"; }
cp "$KT/a.good" "$KT/pack/a.lua"
# 409: while a reload runs (a pack with a big list takes a second or two to
# load), a second one is refused.
mkdir -p "$KT/pack/lists"; seq 1 3000000 | sed 's/^/v/' >"$KT/pack/lists/big.txt"
st "$KT/o1" POST /rules/reload "${AUTH[@]}" >"$KT/s1" &
sleep 0.2
s2=$(st "$KT/o2" POST /rules/reload "${AUTH[@]}")
wait $!
[ "$(cat "$KT/s1")" = 200 ] && [ "$s2" = 409 ] || { cat "$KT/o1" "$KT/o2"; kt_fail "concurrent reloads: $(cat "$KT/s1") and $s2, want 200 and 409"; }
grep -q 'already running' "$KT/o2" || kt_fail "409 without its message"
rm -r "$KT/pack/lists"

# The CLI: tables, --json, an HTTP error's message and exit status.
"$WARDEN" admin --url "$URL" rules | grep -E '^t\.a +1 +shadow +override' >/dev/null || { "$WARDEN" admin --url "$URL" rules; kt_fail "warden admin rules"; }
[ "$("$WARDEN" admin --url "$URL" --json rule t.a | jf /dev/stdin mode)" = shadow ] || kt_fail "warden admin --json rule"
"$WARDEN" admin --url "$URL" status | grep -q ready || kt_fail "warden admin status"
if out=$("$WARDEN" admin --url "$URL" mode t.a loud 2>&1); then kt_fail "warden admin mode t.a loud exited 0"; fi
echo "$out" | grep -q "bad mode" || kt_fail "warden admin did not print the server's message: $out"
if WARDEN_ADMIN_TOKEN=bad "$WARDEN" admin --url "$URL" rules >/dev/null 2>&1; then kt_fail "a wrong token exited 0"; fi
"$WARDEN" admin --url "$URL" mode t.a off >/dev/null || kt_fail "warden admin mode t.a off"
[ "$(rule_field t.a mode)" = off ] || kt_fail "CLI mode change not applied"

# Restart: the override (off) is read back from the overrides topic.
kt_stop "$KT_PID" || kt_fail "warden run exited non-zero"
kt_warden "$KT/run2.log" run -c "$KT/warden.lua" --instance a
for _ in $(seq 1 200); do [ "$(st "$KT/o" GET /readyz)" = 200 ] && break; sleep 0.1; done
[ "$(rule_field t.a mode)" = off ] && [ "$(rule_field t.a mode_source)" = override ] \
    || { cat "$KT/r.json"; kt_fail "the override did not survive a restart"; }
"$WARDEN" admin --url "$URL" mode t.a enforce >/dev/null || kt_fail "mode t.a enforce"

# The breaker: t.runaway errors on 3 of every 5 events (60% > 50%).
: >"$KT/b3"
for i in $(seq 10 109); do ev "r$i" "u$i" "$i" 30 >>"$KT/b3"; done
send "$KT/b3"
for _ in $(seq 1 100); do [ "$(rule_field t.runaway mode)" = shadow ] && break; sleep 0.2; done
[ "$(rule_field t.runaway mode)" = shadow ] && [ "$(rule_field t.runaway mode_source)" = breaker ] \
    || { cat "$KT/r.json"; kt_fail "the breaker did not move t.runaway to shadow"; }
grep -q 'breaker: rule=t.runaway moved to shadow reason="error_rate' "$KT/run2.log" || kt_fail "no breaker log line"
st "$KT/m" GET /metrics >/dev/null
grep -q '^warden_rule_auto_shadow_total{rule="t.runaway"} 1$' "$KT/m" || kt_fail "breaker metric"
promtool check metrics <"$KT/m" || kt_fail "promtool check metrics failed (second process)"
"$WARDEN" admin --url "$URL" mode t.runaway enforce >/dev/null || kt_fail "restore t.runaway"
[ "$(rule_field t.runaway mode)" = enforce ] && [ "$(rule_field t.runaway mode_source)" = override ] || kt_fail "restore not applied"
kt_stop "$KT_PID" || kt_fail "warden run exited non-zero (second)"

# The audit file: one line per change, never the token.
A="$KT/audit.jsonl"
! grep -q -- "$WARDEN_ADMIN_TOKEN" "$A" || kt_fail "the token is in the audit file"
python3 - "$A" <<'PY' || kt_fail "audit file content"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def has(**kw): return any(all(r.get(k) == v for k, v in kw.items()) for r in rows)
assert all(set(r) >= {"ts", "token", "action", "rule", "before", "after", "result", "status"} for r in rows)
assert has(action="mode", rule="t.a", before="enforce", after="shadow", status=200), "mode change"
assert has(action="reload", status=200) and has(action="reload", status=400, result="rejected"), "reloads"
assert has(action="auto_shadow", rule="t.runaway", before="enforce", after="shadow", token="breaker"), "breaker"
assert has(action="mode", rule="t.runaway", after="enforce", status=200), "restore"
assert has(result="unauthorized", status=401), "401s"
assert has(action="mode", rule="t.a", status=400), "bad value"
tok = [r["token"] for r in rows if r["status"] == 200 and r["action"] == "mode"]
assert all(t.startswith("sha256:") for t in tok), tok
print("audit: %d lines" % len(rows))
PY
echo "ok: endpoints, statuses, auth, promtool, overrides across reload and restart, CLI, breaker, audit"

#!/bin/bash
# Replay jobs inside `warden run` (POST/GET/DELETE /replays) against the real
# broker: the example pack runs live on the sample (4 partitions); a job
# replays the retained window through a candidate pack (one threshold
# changed) against the example pack as baseline, and its report's numbers
# equal `warden replay -c` on the same window; live enforcement keeps
# producing actions while a job runs; a slow job is cancelled (status
# cancelled, a partial report); the job limit answers 429; every error
# status (400, 401, 404, 405, 413); the CPU share holds; the CLI (`warden
# admin replay start|list|status|cancel`); every POST/DELETE is audited.
# And the restore-time metric: after a restart that restores a non-empty
# changelog, warden_state_restore_seconds_total is > 0.
set -eu
. tests/kafka/lib.sh
kt_init areplay
RAW="raw.$KID"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
export WARDEN_ADMIN_TOKEN="tok-$KID-secret"
AUTH=(-H "Authorization: Bearer $WARDEN_ADMIN_TOKEN")
st() { local out=$1 m=$2 p=$3; shift 3; curl -s -o "$out" -w '%{http_code}' -X "$m" "$@" "$URL$p"; }
jf() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))
for p in sys.argv[2].split("/"):
    v = v[int(p)] if isinstance(v, list) else v.get(p)
print(json.dumps(v) if isinstance(v,(dict,list,bool)) or v is None else v)' "$@"; }
# wait_job ID STATUS SECS: poll GET /replays/ID until its status is STATUS
wait_job() {
    local t0; t0=$(date +%s)
    while :; do
        st "$KT/j.json" GET "/replays/$1" "${AUTH[@]}" >/dev/null
        [ "$(jf "$KT/j.json" status)" = "$2" ] && return 0
        [ $(( $(date +%s) - t0 )) -ge "$3" ] && { head -c 2000 "$KT/j.json"; kt_fail "job $1 is $(jf "$KT/j.json" status), want $2 after $3 s"; }
        sleep 0.3
    done
}

# The candidate: the example pack with spam.brigade_member's threshold at 5.
cp -r examples/rules "$KT/cand"
sed -i 's/^local MIN_REPORTERS = 10$/local MIN_REPORTERS = 5/' "$KT/cand/spam/brigade_member.lua"
grep -q 'MIN_REPORTERS = 5' "$KT/cand/spam/brigade_member.lua" || kt_fail "candidate threshold not changed"
# A slow pack: one more rule that spins on every event (for cancel and 429).
cp -r examples/rules "$KT/slow"
cat >"$KT/slow/spin.lua" <<'LUA'
return {
  name = "t.spin", version = 1, streams = { "pin_create", "login", "follow", "report", "payment" },
  mode = "shadow", fields = { "user.id" },
  evaluate = function(ev, ctx)
    local x = 0
    for i = 1, 40000 do x = x + i % 7 end
    if x < 0 then return ctx.flag{ entity = "x", reason = "never" } end
  end,
}
LUA

S=examples/events/sample.jsonl
for p in 0 1 2 3; do
  awk -v p=$p '(NR - 1) % 4 == p' "$S" > "$KT/p$p.jsonl"
  timeout 60 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -p $p -l "$KT/p$p.jsonl"
done
sleep 1
TO=$(python3 -c 'import time; print(int(time.time()*1000))')
sleep 1
kt_config "$KT/warden.lua" "
  streams = { topics = { '$RAW' } },
  rules = '$PWD/examples/rules',
  run = { group = 'g.$KID', actions_topic = 'actions.$KID', dlq_topic = 'dlq.$KID', batch_ms = 100 },
  admin = { listen = '127.0.0.1:$PORT', audit_file = 'audit.jsonl', replay_jobs_max = 2, replay_cpu_pct = 25 },"
kt_warden "$KT/run.log" run -c "$KT/warden.lua" --instance a
for _ in $(seq 1 200); do [ "$(st "$KT/o" GET /readyz)" = 200 ] && break; sleep 0.1; done
kt_wait_stat "$KT/run.log" events 12000 120
sleep 1
want=$(kt_count "actions.$KID")
[ "$want" -gt 0 ] || kt_fail "the live run produced no actions"

# A job over the retained window; the same window through warden replay -c.
body="{\"rules\":\"$KT/cand\",\"baseline\":\"$PWD/examples/rules\",\"from\":\"2026-11-20T03:00:00Z\",\"to\":$TO,\"warmup\":\"1h\"}"
[ "$(st "$KT/p.json" POST /replays "${AUTH[@]}" -d "$body")" = 202 ] || { cat "$KT/p.json"; kt_fail "POST /replays: not 202"; }
J1=$(jf "$KT/p.json" id)
wait_job "$J1" done 180
cp "$KT/j.json" "$KT/job1.json"
"$WARDEN" replay -q -c "$KT/warden.lua" --rules "$KT/cand" --baseline examples/rules \
  --from 2026-11-20T03:00:00Z --to "$TO" --warmup 1h --json "$KT/cli.json" || kt_fail "warden replay -c exited $?"
python3 - "$KT/job1.json" "$KT/cli.json" <<'PY' || kt_fail "the job's report differs from warden replay's"
import json, sys
job = json.load(open(sys.argv[1])); cli = json.load(open(sys.argv[2]))
r = job["report"]
assert job["status"] == "done" and r["partial"] is False, job["status"]
assert r["events"] == cli["events"], (r["events"], cli["events"])
assert r["events"]["read"] == 12000, r["events"]
for side in ("candidate", "baseline"):
    assert r[side]["hits"] == cli[side]["hits"] and r[side]["actions"] == cli[side]["actions"], side
assert r["decisions"] == cli["decisions"], (r["decisions"], cli["decisions"])
def rules(x):
    return {u["rule"]: (u["candidate"] and u["candidate"]["hits"], u["baseline"] and u["baseline"]["hits"],
                        u.get("added"), u.get("removed")) for u in x["rules"]}
assert rules(r) == rules(cli), (rules(r), rules(cli))
bm = rules(r)["spam.brigade_member"]
assert bm[0] > bm[1] and bm[2] > 0, bm   # the lower threshold adds hits
assert job["progress"]["done"] == job["progress"]["total"] == 12000, job["progress"]
assert job["progress"]["fraction"] == 1.0
print("job %s: %d events, candidate %d hits, baseline %d; brigade_member %d vs %d (+%d) = warden replay -c"
      % (job["id"], r["events"]["read"], r["candidate"]["hits"], r["baseline"]["hits"], bm[0], bm[1], bm[2]))
PY
# A job never produces: the actions topic holds the live run's only.
[ "$(kt_count "actions.$KID")" = "$want" ] || kt_fail "the actions topic grew during a job: $(kt_count "actions.$KID") != $want"

# A slow job; while it runs, live enforcement keeps producing actions.
slow="{\"rules\":\"$KT/slow\",\"from\":\"2026-11-20T03:00:00Z\",\"to\":$TO,\"warmup\":\"0\"}"
[ "$(st "$KT/p.json" POST /replays "${AUTH[@]}" -d "$slow")" = 202 ] || { cat "$KT/p.json"; kt_fail "POST slow job"; }
J2=$(jf "$KT/p.json" id)
wait_job "$J2" running 30
sed 's/"id":"/"id":"live2-/' "$S" > "$KT/live2.jsonl"
timeout 60 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -p 0 -l "$KT/live2.jsonl"
t0=$(date +%s)
kt_wait_count "actions.$KID" $((want + 1)) 60
st "$KT/j2.json" GET "/replays/$J2" "${AUTH[@]}" >/dev/null
[ "$(jf "$KT/j2.json" status)" = running ] || kt_fail "the slow job finished before live actions were checked"
echo "live: actions produced $(( $(date +%s) - t0 )) s after new events while job $J2 ran"
# The limit: a second slow job fills the 2 slots, a third is refused.
[ "$(st "$KT/p.json" POST /replays "${AUTH[@]}" -d "$slow")" = 202 ] || { cat "$KT/p.json"; kt_fail "POST second slow job"; }
J3=$(jf "$KT/p.json" id)
[ "$(st "$KT/o" POST /replays "${AUTH[@]}" -d "$slow")" = 429 ] || { cat "$KT/o"; kt_fail "a third job: not 429"; }
grep -q 'replay_jobs_max' "$KT/o" || kt_fail "429 without its message"
st "$KT/l.json" GET /replays "${AUTH[@]}" >/dev/null
[ "$(jf "$KT/l.json" running)" = 2 ] || { cat "$KT/l.json"; kt_fail "GET /replays: running != 2"; }
# The CLI: list and status tables, --json.
"$WARDEN" admin --url "$URL" replay list | grep -E "^$J2 +running" >/dev/null || { "$WARDEN" admin --url "$URL" replay list; kt_fail "warden admin replay list"; }
[ "$("$WARDEN" admin --url "$URL" --json replay status "$J1" | jf /dev/stdin status)" = done ] || kt_fail "admin --json replay status"
"$WARDEN" admin --url "$URL" replay status "$J1" | grep -E '^spam\.brigade_member +[0-9]+ +[0-9]+ +[1-9]' >/dev/null \
    || { "$WARDEN" admin --url "$URL" replay status "$J1"; kt_fail "warden admin replay status table"; }
# The CPU share: the two slow jobs together stay near 25% of a core.
sleep 4
st "$KT/j2.json" GET "/replays/$J2" "${AUTH[@]}" >/dev/null
python3 - "$KT/j2.json" <<'PY' || kt_fail "the CPU share is not held"
import json, sys, time
j = json.load(open(sys.argv[1]))
wall = time.time() - j["started"]
share = j["cpu_seconds"] / wall
print("job %s: cpu %.2f s over %.1f s wall = %.0f%% of a core (its part: 12.5%%), throttled %.1f s, %.1f%% done"
      % (j["id"], j["cpu_seconds"], wall, 100 * share, j["throttled_seconds"], 100 * j["progress"]["fraction"]))
assert share < 0.20 and j["throttled_seconds"] > 0, share
assert j["progress"]["fraction"] < 1
PY
# Cancel: DELETE a running job → cancelled, a partial report; DELETE again forgets it.
[ "$(st "$KT/o" DELETE "/replays/$J2" "${AUTH[@]}")" = 200 ] && [ "$(jf "$KT/o" status)" = cancelled ] \
    || { cat "$KT/o"; kt_fail "DELETE a running job"; }
out=$("$WARDEN" admin --url "$URL" replay cancel "$J3") && echo "$out" | grep -q "$J3 cancelled" || kt_fail "warden admin replay cancel: $out"
for _ in $(seq 1 100); do
    st "$KT/j2.json" GET "/replays/$J2" "${AUTH[@]}" >/dev/null
    [ "$(jf "$KT/j2.json" finished)" != 0.0 ] && [ "$(jf "$KT/j2.json" finished)" != 0 ] && break; sleep 0.1
done
[ "$(jf "$KT/j2.json" status)" = cancelled ] && [ "$(jf "$KT/j2.json" report/partial)" = true ] \
    || { head -c 600 "$KT/j2.json"; kt_fail "cancelled job: status or partial report"; }
for _ in $(seq 1 100); do [ "$(st "$KT/o" DELETE "/replays/$J2" "${AUTH[@]}")" = 200 ] && break; sleep 0.1; done
[ "$(jf "$KT/o" deleted)" = true ] || { cat "$KT/o"; kt_fail "DELETE a cancelled job: not forgotten"; }
[ "$(st "$KT/o" GET "/replays/$J2" "${AUTH[@]}")" = 404 ] || kt_fail "a forgotten job: not 404"

# Every error status.
[ "$(st "$KT/o" POST /replays -d "$body")" = 401 ] || kt_fail "POST /replays without a token: not 401"
[ "$(st "$KT/o" GET /replays -H 'Authorization: Bearer wrong')" = 401 ] || kt_fail "GET /replays, wrong token: not 401"
[ "$(st "$KT/o" DELETE "/replays/$J1" -H 'Authorization: Bearer wrong')" = 401 ] || kt_fail "DELETE, wrong token: not 401"
[ "$(st "$KT/o" POST /replays "${AUTH[@]}" -d '{"rules":')" = 400 ] && grep -q malformed "$KT/o" || kt_fail "malformed JSON: not 400"
[ "$(st "$KT/o" POST /replays "${AUTH[@]}" -d '[1]')" = 400 ] || kt_fail "not an object: not 400"
[ "$(st "$KT/o" POST /replays "${AUTH[@]}" -d '{"frm":"-1h"}')" = 400 ] && grep -q 'unknown parameter' "$KT/o" || kt_fail "unknown key: not 400"
[ "$(st "$KT/o" POST /replays "${AUTH[@]}" -d '{"to":"now"}')" = 400 ] && grep -q 'is required for a Kafka window' "$KT/o" || kt_fail "no from: not 400"
[ "$(st "$KT/o" POST /replays "${AUTH[@]}" -d '{"from":"yesterday"}')" = 400 ] || kt_fail "bad time: not 400"
[ "$(st "$KT/o" POST /replays "${AUTH[@]}" -d '{"from":"now","to":"-1h"}')" = 400 ] || kt_fail "from after to: not 400"
[ "$(st "$KT/o" POST /replays "${AUTH[@]}" -d '{"from":"-1h","samples":0}')" = 400 ] || kt_fail "bad samples: not 400"
mkdir -p "$KT/broken"; echo 'return {' >"$KT/broken/x.lua"
[ "$(st "$KT/o" POST /replays "${AUTH[@]}" -d "{\"from\":\"-1h\",\"rules\":\"$KT/broken\"}")" = 400 ] \
    && jf "$KT/o" errors | grep -q 'x.lua:[0-9]' || { cat "$KT/o"; kt_fail "a broken pack: not 400 with file:line"; }
[ "$(st "$KT/o" GET /replays/r999 "${AUTH[@]}")" = 404 ] || kt_fail "unknown job: not 404"
[ "$(st "$KT/o" DELETE /replays/r999 "${AUTH[@]}")" = 404 ] || kt_fail "DELETE unknown job: not 404"
[ "$(st "$KT/o" PUT /replays "${AUTH[@]}" -d '{}')" = 405 ] || kt_fail "PUT /replays: not 405"
[ "$(st "$KT/o" POST "/replays/$J1" "${AUTH[@]}" -d '{}')" = 405 ] || kt_fail "POST /replays/ID: not 405"
head -c 70000 /dev/zero | tr '\0' 'x' >"$KT/big"
[ "$(st "$KT/o" POST /replays "${AUTH[@]}" --data-binary @"$KT/big")" = 413 ] || kt_fail "big body: not 413"
if out=$("$WARDEN" admin --url "$URL" replay start --from yesterday 2>&1); then kt_fail "admin replay start with a bad time exited 0"; fi
echo "$out" | grep -q 'HTTP 400' || kt_fail "admin replay start did not print the server's message: $out"
if "$WARDEN" admin --url "$URL" replay status r999 >/dev/null 2>&1; then kt_fail "admin replay status r999 exited 0"; fi
# The CLI starts one (options → the JSON body) that runs to the end.
out=$("$WARDEN" admin --url "$URL" replay start --rules "$KT/cand" --from 2026-11-20T03:00:00Z --to "$TO" --warmup 0) \
    || kt_fail "warden admin replay start exited $?"
J4=$(echo "$out" | awk '{print $3}')
wait_job "$J4" done 180
[ "$(jf "$KT/j.json" report/events/read)" = 12000 ] || kt_fail "CLI-started job read $(jf "$KT/j.json" report/events/read)"

# Restore time: a restart reads the (non-empty) changelog back.
kt_stop "$KT_PID" || kt_fail "warden run exited non-zero"
kt_warden "$KT/run2.log" run -c "$KT/warden.lua" --instance a
for _ in $(seq 1 300); do [ "$(st "$KT/o" GET /readyz)" = 200 ] && break; sleep 0.1; done
kt_wait_stat "$KT/run2.log" restored 1 60
for _ in $(seq 1 50); do
    st "$KT/m" GET /metrics >/dev/null
    grep -q '^warden_state_restores_total [1-9]' "$KT/m" && break; sleep 0.2
done
rs=$(awk '$1 == "warden_state_restore_seconds_total" {print $2}' "$KT/m")
python3 -c "import sys; v=float(sys.argv[1]); assert v > 0, v" "${rs:-0}" \
    || { grep restore "$KT/m"; kt_fail "warden_state_restore_seconds_total is ${rs:-absent} after a restore"; }
echo "restore: $(kt_stat "$KT/run2.log" restored_records) records, warden_state_restore_seconds_total $rs"
kt_stop "$KT_PID" || kt_fail "warden run exited non-zero (second)"

# The audit file: every POST and DELETE, never the token.
A="$KT/audit.jsonl"
! grep -q -- "$WARDEN_ADMIN_TOKEN" "$A" || kt_fail "the token is in the audit file"
python3 - "$A" "$J1" "$J2" <<'PY' || kt_fail "audit file content"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def has(**kw): return any(all(r.get(k) == v for k, v in kw.items()) for r in rows)
assert has(action="replay start", after=sys.argv[2], status=202), "start"
assert has(action="replay start", status=429), "429"
assert has(action="replay start", status=400), "400"
assert has(action="replay cancel", after=sys.argv[3], before="running", status=200), "cancel"
assert has(action="replay forget", after=sys.argv[3], status=200), "forget"
assert has(action="replay cancel", status=404), "404"
assert has(result="unauthorized", status=401, action="POST /replays"), "401"
print("audit: %d lines" % len(rows))
PY
echo "ok: replay jobs = warden replay -c, live actions while a job ran, cancel, 429, errors, CPU share, CLI, restore metric, audit"

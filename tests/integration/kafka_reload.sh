#!/bin/bash
# SIGHUP reloads the rule pack between batches: a pack that fails to load is
# rejected with its errors logged and the old pack keeps deciding; a good
# pack replaces it for the events that follow; a pack whose counters changed
# keeps the state of the unchanged ones.
set -eu
. tests/kafka/lib.sh
kt_init reload
RAW="raw.$KID"
mkdir -p "$KT/pack"
cat >"$KT/pack/counters.lua" <<'LUA'
return { { name = "per_user", stream = "t", key = "user", windows = { "1d" } } }
LUA
cat >"$KT/pack/old.lua" <<'LUA'
return {
  name = "t.old", version = 1, streams = { "t" }, mode = "enforce", fields = { "user" },
  evaluate = function(ev, ctx) return ctx.block{ entity = ev.user, reason = "old" } end,
}
LUA
ev() { printf '{"type":"t","id":"%s","ts":"2026-11-20T10:00:00Z","user":"%s"}\n' "$1" "$2"; }
send() { timeout 30 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -p 0 -l "$1"; }
kt_config "$KT/warden.lua" "
  streams = { topics = { '$RAW' } },
  rules = 'pack',
  store = 'jsonl:$KT/hits.jsonl',
  run = { group = 'g.$KID', actions_topic = 'actions.$KID', dlq_topic = 'dlq.$KID', batch_ms = 20 },"
ev e1 u1 >"$KT/b1"; send "$KT/b1"
kt_warden "$KT/run.log" run -c "$KT/warden.lua" --instance a
kt_wait_count "actions.$KID" 1 30
# Idle now: SIGUSR1 rewrites the stats file (a running one: not final).
w0=$(kt_stat "$KT/run.log" written_ms)
[ "$(kt_stat "$KT/run.log" final)" = false ] || kt_fail "the stats file of a running process says final"
sleep 0.1; kill -USR1 "$KT_PID"
for _ in $(seq 1 50); do [ "$(kt_stat "$KT/run.log" written_ms)" != "$w0" ] && break; sleep 0.1; done
[ "$(kt_stat "$KT/run.log" written_ms)" != "$w0" ] || kt_fail "SIGUSR1 did not rewrite the stats file"
kill -0 "$KT_PID" || kt_fail "SIGUSR1 stopped warden"

# A broken pack: rejected, the old rule keeps deciding.
echo 'return { name = "t.new", version = 1, streams = { "t" }, mode = "enforce", fields = { "user" },' \
    >"$KT/pack/old.lua.broken"
cp "$KT/pack/old.lua" "$KT/old.lua.good"
mv "$KT/pack/old.lua.broken" "$KT/pack/old.lua"
kill -HUP "$KT_PID"
kt_wait_stat "$KT/run.log" reload_failures 1 20
grep -q "reload error: .*old.lua" "$KT/run.log" || kt_fail "the pack's load error was not logged"
ev e2 u2 >"$KT/b2"; send "$KT/b2"
kt_wait_count "actions.$KID" 2 30
kt_read "actions.$KID" | grep '"event_id":"e2"' | grep -q '"rules":\[{"rule":"t.old",' || kt_fail "e2 was not decided by the old pack"

# A good pack: switches.
cat >"$KT/pack/old.lua" <<'LUA'
return {
  name = "t.new", version = 1, streams = { "t" }, mode = "enforce", fields = { "user" },
  evaluate = function(ev, ctx) return ctx.review{ entity = ev.user, reason = "new" } end,
}
LUA
kill -HUP "$KT_PID"
kt_wait_stat "$KT/run.log" reloads 1 20
ev e3 u3 >"$KT/b3"; send "$KT/b3"
kt_wait_count "actions.$KID" 3 30
kt_read "actions.$KID" | grep '"event_id":"e3"' | grep '"verdict":"review"' | grep -q '"rules":\[{"rule":"t.new",' \
    || { kt_read "actions.$KID"; kt_fail "e3 was not decided by the new pack"; }

# Counters changed (one added, one kept): the kept one keeps counting
# across the reload (u1 was seen once before), the new one starts at 1.
cat >"$KT/pack/counters.lua" <<'LUA'
return { { name = "added", stream = "t", key = "user", windows = { "1h" } },
         { name = "per_user", stream = "t", key = "user", windows = { "1d" } } }
LUA
cat >"$KT/pack/old.lua" <<'LUA'
return {
  name = "t.count", version = 1, streams = { "t" }, mode = "enforce", fields = { "user" },
  evaluate = function(ev, ctx)
    return ctx.flag{ entity = ev.user, reason = "per_user=" .. ctx.count("per_user", ev.user, "1d")
                     .. " added=" .. ctx.count("added", ev.user, "1h") }
  end,
}
LUA
kill -HUP "$KT_PID"
kt_wait_stat "$KT/run.log" reloads 2 20
[ "$(kt_stat "$KT/run.log" reload_carry/count)" = 1 ] && [ "$(kt_stat "$KT/run.log" reload_carry/counters_kept)" = 1 ] \
    && [ "$(kt_stat "$KT/run.log" reload_carry/counters_dropped)" = 0 ] \
    || { kt_stat "$KT/run.log" reload_carry; kt_fail "the reload did not carry the state over"; }
ev e4 u1 >"$KT/b4"; send "$KT/b4"
kt_wait_count "actions.$KID" 4 30
grep '"event_id":"e4"' "$KT/hits.jsonl" | grep -q 'per_user=2 added=1' \
    || { cat "$KT/hits.jsonl"; kt_fail "e4: the kept counter did not keep counting (want per_user=2 added=1)"; }
kill -0 "$KT_PID" || kt_fail "warden died"
kt_stop "$KT_PID" || kt_fail "warden run exited non-zero"
kt_final "$KT/run.log"
[ "$(kt_stat "$KT/run.log" reloads)" = 2 ] && [ "$(kt_stat "$KT/run.log" reload_failures)" = 1 ] || kt_fail "reload counts wrong"
echo "ok: broken pack rejected (old kept), good pack switched, changed counters carried over"

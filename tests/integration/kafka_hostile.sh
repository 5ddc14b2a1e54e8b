#!/bin/bash
# Hostile events under warden run: a NUL inside the stream field followed
# by 400 KB used to crash routing (SIGSEGV) before the offset was
# committed, so every restart crashed on it again (a poison pill).  Now it
# is an unknown stream, dead-lettered with its name escaped, and the
# service goes on.  Ids beyond int64 keep their digits: two users
# 10000000000000000001 and ...002 get two actions keyed by their own ids.
# suite: alone (asserts a bound on the time to stop on SIGTERM)
set -eu
. tests/kafka/lib.sh
kt_init hostile
RAW="raw.$KID"
mkdir -p "$KT/pack"
cat >"$KT/pack/r.lua" <<'LUA'
return {
  name = "t.r", version = 1, streams = { "t" }, mode = "enforce", fields = { "user" },
  evaluate = function(ev, ctx) return ctx.block{ entity = ev.user, reason = "always" } end,
}
LUA
{
  printf 'k1\t{"type":"t\\u0000'
  head -c 400000 /dev/zero | tr '\0' x
  printf '","id":"e1","ts":"2026-11-20T10:00:00Z","user":"u1"}\n'
  printf 'k2\t{"type":"t","id":"e2","ts":"2026-11-20T10:00:01Z","user":10000000000000000001}\n'
  printf 'k3\t{"type":"t","id":"e3","ts":"2026-11-20T10:00:02Z","user":10000000000000000002}\n'
} >"$KT/in.txt"
timeout 30 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -p 0 -K $'\t' -l "$KT/in.txt"

kt_config "$KT/warden.lua" "
  streams = { topics = { '$RAW' } },
  rules = 'pack',
  store = 'jsonl:hits.jsonl',
  run = { group = 'g.$KID', actions_topic = 'actions.$KID', dlq_topic = 'dlq.$KID' },"
kt_warden "$KT/run.log" run -c "$KT/warden.lua" --instance a
kt_wait_count "dlq.$KID" 1 30
kt_wait_count "actions.$KID" 2 30
sleep 1
kill -0 "$KT_PID" 2>/dev/null || { tail -5 "$KT/run.log"; kt_fail "warden run died"; }
kt_stop "$KT_PID" || kt_fail "warden run exited non-zero"

kt_read "dlq.$KID" '%k|%h\n' >"$KT/dlq.txt"
[ "$(wc -l <"$KT/dlq.txt")" = 1 ] || { cat "$KT/dlq.txt"; kt_fail "want 1 dead letter"; }
grep -q '^k1|.*warden.reason=unknown_stream: t\\x00xxx' "$KT/dlq.txt" \
  || { cut -c1-300 "$KT/dlq.txt"; kt_fail "the NUL event is not an unknown stream shown escaped"; }
kt_read "actions.$KID" '%k\n' | sort | tr '\n' ' ' | grep -qx 'unknown:10000000000000000001 unknown:10000000000000000002 ' \
  || { kt_read "actions.$KID" '%k\n'; kt_fail "actions are not keyed by the two exact ids"; }
kt_read "actions.$KID" '%s\n' | grep -q '"event_id":"e3","stream":"t","entity":"10000000000000000002","entity_type":"unknown"' \
  || kt_fail "the action of e3 lacks its exact entity"
echo "ok: a NUL stream is dead-lettered (no crash, no poison pill); big ids keep their digits"

# A rule stuck in a C call with every limit off (time_limit_ms = 0, a huge
# budget): SIGTERM finishes nothing of the stuck batch but ends warden run
# within a few seconds (the evaluation is cut 1 s after the signal), and
# the event stays uncommitted (no action for it).
STUCK="stuck.$KID"
mkdir -p "$KT/spack"
cat >"$KT/spack/r.lua" <<'LUA'
return {
  name = "t.s", version = 1, streams = { "t" }, mode = "enforce", fields = { "user", "k" },
  evaluate = function(ev, ctx)
    if ev.k == "stuck" then table.move({}, 1, math.maxinteger - 1, 2) end
    return ctx.block{ entity = ev.user, reason = "always" }
  end,
}
LUA
printf '%s\n' 'k1	{"type":"t","id":"s1","ts":"2026-11-20T10:00:00Z","user":"u1"}' \
  'k2	{"type":"t","id":"s2","ts":"2026-11-20T10:00:01Z","user":"u2","k":"stuck"}' >"$KT/stuck.txt"
timeout 30 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$STUCK" -p 0 -K $'\t' -l "$KT/stuck.txt"
kt_config "$KT/stuck.lua" "
  engine = { max_future_ms = 0, time_limit_ms = 0, instr_budget = 1000000000000000 },
  streams = { topics = { '$STUCK' } },
  rules = 'spack',
  store = 'jsonl:shits.jsonl',
  run = { group = 'gs.$KID', actions_topic = 'sactions.$KID', dlq_topic = 'sdlq.$KID', batch_max = 1 },"
kt_warden "$KT/stuck.log" run -c "$KT/stuck.lua" --instance a
kt_wait_count "sactions.$KID" 1 30
sleep 2
kill -0 "$KT_PID" 2>/dev/null || { tail -5 "$KT/stuck.log"; kt_fail "warden run died on the stuck event"; }
t0=$(date +%s%3N)
kt_stop "$KT_PID" 10 || :
t1=$(date +%s%3N)
[ $((t1 - t0)) -lt 5000 ] || kt_fail "warden run took $((t1 - t0)) ms to stop on SIGTERM"
[ "$(kt_count "sactions.$KID")" = 1 ] || kt_fail "want only the action of s1"
echo "ok: SIGTERM stops warden run stuck in a C call in $((t1 - t0)) ms"

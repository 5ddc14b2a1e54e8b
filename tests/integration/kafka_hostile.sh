#!/bin/bash
# Hostile events under warden run: a NUL inside the stream field followed
# by 400 KB used to crash routing (SIGSEGV) before the offset was
# committed, so every restart crashed on it again (a poison pill).  Now it
# is an unknown stream, dead-lettered with its name escaped, and the
# service goes on.  Ids beyond int64 keep their digits: two users
# 10000000000000000001 and ...002 get two actions keyed by their own ids.
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
kt_read "actions.$KID" '%k\n' | sort | tr '\n' ' ' | grep -qx '10000000000000000001 10000000000000000002 ' \
  || { kt_read "actions.$KID" '%k\n'; kt_fail "actions are not keyed by the two exact ids"; }
kt_read "actions.$KID" '%s\n' | grep -q '"event_id":"e3","stream":"t","entity":"10000000000000000002"' \
  || kt_fail "the action of e3 lacks its exact entity"
echo "ok: a NUL stream is dead-lettered (no crash, no poison pill); big ids keep their digits"

#!/bin/bash
# Bad events go to the dead-letter topic with their original bytes, key and
# headers plus warden.reason / warden.source (topic/partition/offset) /
# warden.rule, and the service keeps going: malformed JSON, a missing
# stream field, an unknown stream (run.unknown_stream = "dlq"; with "drop"
# it is only counted), a rule that errors.
set -eu
. tests/kafka/lib.sh
kt_init dlq
RAW="raw.$KID"
mkdir -p "$KT/pack"
cat >"$KT/pack/boom.lua" <<'LUA'
return {
  name = "t.boom", version = 1, streams = { "t" }, mode = "enforce",
  fields = { "user", "boom" },
  evaluate = function(ev, ctx)
    if ev.boom then error("kaboom") end
    return ctx.block{ entity = ev.user, reason = "always" }
  end,
}
LUA
cat >"$KT/in.txt" <<'IN'
k1	{"type":"t","id":"e1","ts":"2026-11-20T10:00:00Z","user":"u1"}
k2	{"type":"t","id":"e2","ts":"2026-11-20T10:00:01Z",
k3	{"id":"e3","ts":"2026-11-20T10:00:02Z","user":"u3"}
k4	{"type":"nosuch","id":"e4","ts":"2026-11-20T10:00:03Z","user":"u4"}
k5	{"type":"t","id":"e5","ts":"2026-11-20T10:00:04Z","user":"u5","boom":true}
k6	{"type":"t","id":"e6","ts":"2026-11-20T10:00:05Z","user":"u6"}
IN
timeout 30 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -p 0 -K $'\t' -H origin=test -l "$KT/in.txt"

kt_config "$KT/warden.lua" "
  streams = { topics = { '$RAW' } },
  rules = 'pack',
  store = 'jsonl:hits.jsonl',
  run = { group = 'g.$KID', actions_topic = 'actions.$KID', dlq_topic = 'dlq.$KID' },"
kt_warden "$KT/run.log" run -c "$KT/warden.lua" --instance a
kt_wait_count "dlq.$KID" 4 30
kt_wait_count "actions.$KID" 2 30
sleep 1
kt_stop "$KT_PID" || kt_fail "warden run exited non-zero"
kt_final "$KT/run.log"
for f in dead_letters:4 dead_letters_by_reason/malformed:2 dead_letters_by_reason/unknown_stream:1 \
         dead_letters_by_reason/rule_error:1 actions:2 events:6; do
    [ "$(kt_stat "$KT/run.log" "${f%%:*}")" = "${f#*:}" ] || { cat "$(kt_stats_file "$KT/run.log")"; kt_fail "stats ${f%%:*} is not ${f#*:}"; }
done

kt_read "dlq.$KID" '%k|%h|%s\n' >"$KT/dlq.txt"
[ "$(wc -l <"$KT/dlq.txt")" = 4 ] || { cat "$KT/dlq.txt"; kt_fail "want 4 dead letters"; }
check() {   # key, pattern that its line must match
    grep -F "$1|" "$KT/dlq.txt" | grep -q -- "$2" || { cat "$KT/dlq.txt"; kt_fail "dead letter $1 lacks $2"; }
}
check k2 'warden.reason=malformed: '
check k2 "warden.source=$RAW/0/1"
check k2 'origin=test'                       # original headers are kept
check k2 '|{"type":"t","id":"e2","ts":"2026-11-20T10:00:01Z",$'   # original bytes
check k3 'warden.reason=malformed: '
check k3 "warden.source=$RAW/0/2"
check k4 'warden.reason=unknown_stream: nosuch'
check k4 "warden.source=$RAW/0/3"
check k5 'warden.reason=rule_error: .*kaboom'
check k5 'warden.rule=t.boom'
check k5 "warden.source=$RAW/0/4"
grep -F "k1|" "$KT/dlq.txt" && kt_fail "a good event was dead-lettered"
# The service kept going: e1 and e6 were acted on.
# (Keys are TYPE:ENTITY; the rule declares no entity_type.)
kt_read "actions.$KID" '%k\n' | sort | tr '\n' ' ' | grep -qx 'unknown:u1 unknown:u6 ' || kt_fail "actions are not u1, u6"

# unknown_stream = drop: counted, not dead-lettered.
kt_warden "$KT/run2.log" run -c "$KT/warden.lua" --instance b --set run.group="g2.$KID" \
    --set run.dlq_topic="dlq2.$KID" --set run.actions_topic="actions2.$KID" --set run.unknown_stream=drop
kt_wait_count "dlq2.$KID" 3 30
kt_wait_count "actions2.$KID" 2 30
kt_wait_stat "$KT/run2.log" commits 1 10
kt_stop "$KT_PID" || kt_fail "warden run exited non-zero"
kt_read "dlq2.$KID" '%k\n' | grep -q k4 && kt_fail "unknown stream was dead-lettered with unknown_stream=drop"
kt_final "$KT/run2.log"
[ "$(kt_stat "$KT/run2.log" unknown_stream)" = 1 ] && [ "$(kt_stat "$KT/run2.log" dropped)" = 1 ] \
    && [ "$(kt_stat "$KT/run2.log" dead_letters_by_reason/unknown_stream)" = 0 ] \
    || { cat "$(kt_stats_file "$KT/run2.log")"; kt_fail "the drop was not counted"; }
echo "ok: malformed, stream-less, unknown-stream and rule-error events dead-lettered with headers"

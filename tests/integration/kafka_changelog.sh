#!/bin/bash
# The per-key changelog at scale: 1,000,000 users seen once, a restart, then
# the same users again.  A one-counter pack blocks a user's second event, so
# the second run blocks every one of its 1,000,000 events exactly when the
# restart restored every key before the first of them was evaluated (a key
# missing, or a slot evaluated before its restore completed, reads 1, not 2)
# — what an uninterrupted run gives.  The state is far beyond the 16 MiB of
# one Kafka record (the old whole-slot snapshot's ceiling); the changelog
# holds one record per key (each key changed in one batch) plus one clock
# record per commit; the restore time is printed.  First the loop's own
# restore test (tests/kafka/test_broker_restore: every slot read to its
# end while another changelog partition has a transaction open that ends
# during the restore, as a process killed mid-batch leaves it).
set -eu
. tests/kafka/lib.sh
BUILD=${BUILD:-build}
kt_init changelog
KAFKA_BOOTSTRAP=$KAFKA_BOOTSTRAP timeout 180 "$BUILD/tests/kafka/test_broker_restore" || kt_fail "test_broker_restore"
N=${CHANGELOG_KEYS:-1000000}
RAW="raw.$KID"
mkdir -p "$KT/pack/t"
cat >"$KT/pack/counters.lua" <<'LUA'
return {
  { name = "logins_by_user", stream = "login", key = "user.id", windows = { "1d" } },
}
LUA
cat >"$KT/pack/t/second.lua" <<'LUA'
return {
  name = "t.second_login",
  version = 1,
  description = "a user's second login",
  streams = { "login" },
  mode = "enforce",
  fields = { "user.id" },
  evaluate = function(ev, ctx)
    if ctx.count("logins_by_user", ev.user.id, "1d") == 2 then
      return ctx.block{ entity = ev.user.id, reason = "second" }
    end
  end,
}
LUA
"$WARDEN" check "$KT/pack" >/dev/null || kt_fail "the test pack does not load"
awk -v n="$N" 'BEGIN { for (p = 0; p < 2; p++) for (i = 0; i < n; i++)
    printf "{\"type\":\"login\",\"id\":\"e%d_%d\",\"ts\":\"2026-11-20T00:00:00Z\",\"user\":{\"id\":\"u%d\"}}\n", p, i, i }' \
    >"$KT/events.jsonl"
timeout 300 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -p 0 -l -X linger.ms=50 -X batch.num.messages=10000 \
    "$KT/events.jsonl"
kt_config "$KT/warden.lua" "
  streams = { topics = { '$RAW' } },
  rules = 'pack',
  store = 'null:',
  run = { group = 'g.$KID', actions_topic = 'actions.$KID', dlq_topic = 'dlq.$KID' },"

kt_warden "$KT/run1.log" run -c "$KT/warden.lua" --instance a --max-events "$N"
wait "$KT_PID" || { tail -5 "$KT/run1.log"; kt_fail "the first run failed"; }
kt_final "$KT/run1.log"
[ "$(kt_stat "$KT/run1.log" actions)" = 0 ] || kt_fail "first sightings were blocked"
commits=$(kt_stat "$KT/run1.log" commits)
records=$(kt_stat "$KT/run1.log" snapshots)
# one record per key (each changed in one batch) and a clock record per commit
[ "$records" -le $((N + commits)) ] && [ "$records" -ge "$N" ] \
    || kt_fail "run 1 wrote $records changelog records for $N keys in $commits commits"
kt_read "g.$KID.changelog" '%k\n' | tr '\0' '|' >"$KT/keys"
total=$(wc -l <"$KT/keys")
entries=$(grep -c '|C' "$KT/keys" || :)
unique=$(grep '|C' "$KT/keys" | sort -u | wc -l)
[ "$entries" = "$N" ] && [ "$unique" = "$N" ] \
    || kt_fail "changelog: $entries entry records, $unique distinct keys, want $N of each"

kt_warden "$KT/run2.log" run -c "$KT/warden.lua" --instance a --max-events "$N"
wait "$KT_PID" || { tail -5 "$KT/run2.log"; kt_fail "the restarted run failed"; }
kt_final "$KT/run2.log"
[ "$(kt_stat "$KT/run2.log" restored)" = 1 ] || kt_fail "the restart did not restore its slot"
[ "$(kt_stat "$KT/run2.log" restored_records)" -ge "$N" ] || kt_fail "the restart read fewer than $N records"
rbytes=$(kt_stat "$KT/run2.log" restored_bytes)
[ "$rbytes" -gt $((16 << 20)) ] || kt_fail "restored only $rbytes bytes: the state does not pass 16 MiB"
[ "$(kt_stat "$KT/run2.log" state_resets)" = 0 ] && [ "$(kt_stat "$KT/run2.log" changelog_records_rejected)" = 0 ] \
    || kt_fail "records were rejected on restore"
blocked=$(kt_stat "$KT/run2.log" actions)
[ "$blocked" = "$N" ] || kt_fail "the restarted run blocked $blocked second logins of $N"
[ "$(kt_count "actions.$KID")" = "$N" ] || kt_fail "the actions topic does not hold $N blocks"
echo "ok: $N keys ($((rbytes >> 20)) MiB of changelog, $total records) restored in $(kt_stat "$KT/run2.log" restore_ms) ms; counts exact after the restart"

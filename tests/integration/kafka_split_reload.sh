#!/bin/bash
# warden split reloads the rule pack on SIGHUP like warden run: a field a
# rule declares after the reload is kept from then on (before, pruned), so a
# new rule's fields are never pruned away by a split still on the old pack.
set -eu
. tests/kafka/lib.sh
kt_init split_reload
RAW="raw.$KID"
PREFIX="s.$KID"
cp -r examples/rules "$KT/rules"
kt_config "$KT/split.lua" "
  streams = { topics = { '$RAW' }, prefix = '$PREFIX' },
  rules = '$KT/rules',
  split = { group = 'split.$KID', dlq_topic = 'dlq.$KID', partitions = 1, batch_ms = 50 },"
ev() { echo "{\"type\":\"login\",\"id\":\"$1\",\"ts\":\"2026-11-20T00:00:0$2Z\",\"user\":{\"id\":\"u1\"},\"device\":{\"os\":\"ios\"},\"login\":{\"ip\":\"10.0.0.1\",\"success\":true}}"; }
ev x1 1 | timeout 30 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -p 0
kt_warden "$KT/split.log" split -c "$KT/split.lua" --instance a
kt_wait_count "$PREFIX.login" 1 60
kt_read "$PREFIX.login" | grep -q '"os"' && kt_fail "device.os kept before any rule declares it"
# A rule on login now reads device.os.
sed -i 's/fields = { "user.id", "login.success" }/fields = { "user.id", "login.success", "device.os" }/' \
    "$KT/rules/ato/credential_stuffing.lua"
grep -q '"device.os"' "$KT/rules/ato/credential_stuffing.lua" || kt_fail "the test's edit did not apply"
kill -HUP "$KT_PID"
kt_wait_stat "$KT/split.log" reloads 1 30
ev x2 2 | timeout 30 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -p 0
kt_wait_count "$PREFIX.login" 2 60
kt_read "$PREFIX.login" | grep '"x2"' | grep -q '"os":"ios"' || { kt_read "$PREFIX.login"; kt_fail "device.os pruned after the reload"; }
# A pack that fails to load is refused; the old one keeps splitting.
echo 'return {' >"$KT/rules/broken.lua"
kill -HUP "$KT_PID"
kt_wait_stat "$KT/split.log" reload_failures 1 30
ev x3 3 | timeout 30 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -p 0
kt_wait_count "$PREFIX.login" 3 60
kt_stop "$KT_PID" || kt_fail "warden split exited non-zero"
echo "ok: split reloads on SIGHUP: a newly declared field is kept from the next event on; a broken pack is refused"

#!/bin/bash
# warden run's start-up and fatal paths through the real binary: a bad
# config is refused with precise errors (exit 1) before anything connects,
# bad usage exits 2, and a second process started under the same instance
# name fences the first, which stops with a clear fatal log line (exit 4).
set -eu
. tests/kafka/lib.sh
kt_init config
RAW="raw.$KID"
cat >"$KT/bad.lua" <<'EOF2'
return {
  kafka = { ["linger.mss"] = 5, ["sasl.password"] = "x" },
  run = { batch_mx = 10, create_topics = 1 },
  rules = "no/such/pack",
  store = "postgres://u@h/db",
}
EOF2
rc=0; "$WARDEN" run -c "$KT/bad.lua" >"$KT/bad.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || { cat "$KT/bad.out"; kt_fail "bad config: exit $rc, want 1"; }
for want in 'run: unknown key "batch_mx" (did you mean "batch_max"?)' \
            'run.create_topics: expected a boolean, got integer' \
            'kafka["linger.mss"]: No such configuration property' \
            'kafka["sasl.password"]: secrets are not read from the config file; set WARDEN_KAFKA_SASL_PASSWORD' \
            'store: unknown URL scheme "postgres"'; do
    grep -qF "$want" "$KT/bad.out" || { cat "$KT/bad.out"; kt_fail "missing error: $want"; }
done
echo 'return { rules = "'"$PWD"'/examples/rules", streams = { topics = { "x" } } }' >"$KT/nokafka.lua"
rc=0; "$WARDEN" run -c "$KT/nokafka.lua" >"$KT/nokafka.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q 'kafka: "bootstrap.servers" is required' "$KT/nokafka.out" || { cat "$KT/nokafka.out"; kt_fail "missing bootstrap.servers not reported"; }
echo 'return { rules = "no/such/pack" }' >"$KT/nopack.lua"
rc=0; "$WARDEN" run -c "$KT/nopack.lua" -X bootstrap.servers=127.0.0.1:1 >"$KT/nopack.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q 'rules: cannot read the rule pack' "$KT/nopack.out" || { cat "$KT/nopack.out"; kt_fail "unreadable pack not reported"; }
# The admin API is not built: its settings are refused, not ignored; the
# example config (admin commented out) still loads.
cat >"$KT/admin.lua" <<EOF2
return {
  rules = "$PWD/examples/rules",
  admin = { listen = "127.0.0.1:9100" },
}
EOF2
rc=0; "$WARDEN" run -c "$KT/admin.lua" -X bootstrap.servers=127.0.0.1:1 >"$KT/admin.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -qF "admin.lua:3: admin.listen: not supported yet (the admin API is not built)" "$KT/admin.out" \
    || { cat "$KT/admin.out"; kt_fail "admin.listen: exit $rc, want 1 with the line that sets it"; }
rc=0; "$WARDEN" run -c "$KT/nopack.lua" -X bootstrap.servers=127.0.0.1:1 --set admin.token_file=/t >"$KT/admin.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -qF "admin.token_file: not supported yet" "$KT/admin.out" \
    || { cat "$KT/admin.out"; kt_fail "--set admin.token_file: exit $rc, want 1"; }
# (a bad --set is reported only once the file itself loaded)
rc=0; "$WARDEN" run -c examples/warden.lua --set run.batch_max=0 >"$KT/example.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -qF -- "--set run.batch_max: 0 is out of range" "$KT/example.out" && ! grep -q admin "$KT/example.out" \
    || { cat "$KT/example.out"; kt_fail "examples/warden.lua does not load"; }
rc=0; "$WARDEN" run >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || kt_fail "no -c: exit $rc, want 2"
rc=0; "$WARDEN" run -c "$KT/nopack.lua" -X nonsense >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || kt_fail "bad -X: exit $rc, want 2"

# Fencing: the same instance name twice.
kt_config "$KT/warden.lua" "
  streams = { topics = { '$RAW' } },
  rules = '$PWD/examples/rules',
  store = 'null:',
  run = { group = 'g.$KID', actions_topic = 'actions.$KID', dlq_topic = 'dlq.$KID', batch_ms = 50 },"
head -100 examples/events/sample.jsonl | timeout 30 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -l
kt_warden "$KT/a.log" run -c "$KT/warden.lua" --instance same; A=$KT_PID
kt_wait_stat "$KT/a.log" commits 1 30
kt_warden "$KT/b.log" run -c "$KT/warden.lua" --instance same; B=$KT_PID
kt_wait_stat "$KT/b.log" pid 1 30     # written once b is up (its producer fenced a's)
# Work for both; a's next transaction finds it was fenced.
for i in 1 2 3 4 5 6 7 8 9 10; do
    kill -0 "$A" 2>/dev/null || break
    sed -n "$((i * 100 + 1)),$((i * 100 + 100))p" examples/events/sample.jsonl |
        timeout 30 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -l
    sleep 1
done
rc=0; wait "$A" || rc=$?
[ "$rc" = 4 ] || { tail -5 "$KT/a.log"; kt_fail "fenced process: exit $rc, want 4"; }
grep -q "level=error .*kafka fatal: .*fenced" "$KT/a.log" || { grep -i "fatal\|fenc" "$KT/a.log" | tail -5; kt_fail "no clear fatal log line"; }
kt_final "$KT/a.log"
kt_stat "$KT/a.log" error | grep -q "fenced" || { cat "$(kt_stats_file "$KT/a.log")"; kt_fail "a's final stats do not give the fatal error"; }
kill -0 "$B" || kt_fail "the new process died too"
kt_stop "$B" || kt_fail "the new process exited non-zero"
echo "ok: config errors exit 1 with precise messages; usage exits 2; a fenced process exits 4 with a clear log"

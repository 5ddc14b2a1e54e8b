#!/bin/bash
# Hostile rules and events through the real binary: a rule looping inside a
# C call is bounded by the time limit, a stop signal ends a stuck warden eval
# at once, loads (rule files, the config) are bounded too, and padding a
# declared field changes no verdict of a rule that does not read it.
# suite: alone (asserts bounds on wall time)
set -eu
W=${WARDEN:-build/warden}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }
now_ms() { date +%s%3N; }

# a.stuck loops in C (table.move over a huge range) on events with k = "stuck";
# b.flag flags every event.
mkdir -p "$T/pack"
cat >"$T/pack/a.lua" <<'LUA'
return { name = "a.stuck", version = 1, streams = { "s" }, mode = "enforce", fields = { "id", "k" },
  evaluate = function(ev, ctx)
    if ev.k == "stuck" then table.move({}, 1, math.maxinteger - 1, 2) end
    return ctx.block{ entity = ev.id }
  end }
LUA
cat >"$T/pack/b.lua" <<'LUA'
return { name = "b.flag", version = 1, streams = { "s" }, mode = "enforce", fields = { "id", "pad" },
  evaluate = function(ev, ctx) return ctx.flag{ entity = ev.id } end }
LUA
printf '%s\n' '{"type":"s","id":"e1","ts":1}' '{"type":"s","id":"e2","ts":2,"k":"stuck"}' \
  '{"type":"s","id":"e3","ts":3}' >"$T/ev.jsonl"

# Default limits: the stuck evaluation ends in the time limit, the other rule
# and the other events still get their verdicts.
t0=$(now_ms)
"$W" eval -q "$T/pack" "$T/ev.jsonl" >"$T/hits" 2>"$T/err"
t1=$(now_ms)
[ $((t1 - t0)) -lt 5000 ] || fail "eval with a C loop took $((t1 - t0)) ms"
got=$(jq -r '"\(.event_id) \(.rule)"' "$T/hits" | tr '\n' ' ')
[ "$got" = "e1 a.stuck e1 b.flag e2 b.flag e3 a.stuck e3 b.flag " ] || fail "hits: $got"
ok "a rule looping in C is cut by the time limit; every other verdict stands ($((t1 - t0)) ms)"

# No limits at all: only the signal can stop it.  SIGTERM ends eval within
# 2 s, with 128+15, the hits before the stuck event flushed and none of its.
{ head -1 "$T/ev.jsonl"; sed -n 2p "$T/ev.jsonl"; } >"$T/stuck.jsonl"
"$W" eval -q --time-limit-ms 0 --budget 1000000000000000 --out "$T/hits2" "$T/pack" \
  "$T/stuck.jsonl" 2>"$T/err2" &
pid=$!
sleep 1
kill -0 "$pid" 2>/dev/null || fail "eval without limits did not get stuck (exited early)"
t0=$(now_ms)
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
t1=$(now_ms)
[ "$rc" = 143 ] || fail "eval stopped by SIGTERM exited $rc, want 143"
[ $((t1 - t0)) -lt 2000 ] || fail "eval took $((t1 - t0)) ms to stop after SIGTERM"
got=$(jq -r '"\(.event_id) \(.rule)"' "$T/hits2" | tr '\n' ' ')
[ "$got" = "e1 a.stuck e1 b.flag " ] || fail "hits after SIGTERM: $got"
ok "SIGTERM stops a stuck eval in $((t1 - t0)) ms (exit 143), earlier hits flushed"

# Loads are bounded: a rule file looping in C at load time, and the config.
mkdir -p "$T/badpack"
cp "$T/pack/b.lua" "$T/badpack/"
printf 'table.move({}, 1, math.maxinteger - 1, 2)\nreturn {}\n' >"$T/badpack/loop.lua"
t0=$(now_ms)
rc=0
"$W" check "$T/badpack" >/dev/null 2>"$T/err3" || rc=$?
t1=$(now_ms)
[ "$rc" = 1 ] || fail "check of a looping rule file exited $rc"
[ $((t1 - t0)) -lt 5000 ] || fail "check took $((t1 - t0)) ms"
grep -q "loop.lua:1: .*\(time limit\|instruction budget\)" "$T/err3" || fail "check: $(cat "$T/err3")"
ok "warden check: a rule file looping in C fails its load ($((t1 - t0)) ms)"
printf 'string.find(("a"):rep(5000), ("a-"):rep(12) .. "b")\nreturn {}\n' >"$T/warden.lua"
t0=$(now_ms)
rc=0
"$W" run -c "$T/warden.lua" >/dev/null 2>"$T/err4" || rc=$?
t1=$(now_ms)
[ "$rc" = 1 ] || fail "run -c with a looping config exited $rc"
[ $((t1 - t0)) -lt 5000 ] || fail "run -c took $((t1 - t0)) ms"
ok "warden run -c: a config backtracking in C fails to load ($((t1 - t0)) ms)"

# Padding: 300,000 empty objects in a declared field (900 KB) change no
# verdict; the checking view agrees.
python3 -c '
import json
print(json.dumps({"type": "s", "id": "p1", "ts": 1, "pad": [{}] * 300000}, separators=(",", ":")))
print(json.dumps({"type": "s", "id": "p2", "ts": 2}))' >"$T/pad.jsonl"
[ "$(head -1 "$T/pad.jsonl" | wc -c)" -lt 1000000 ] || fail "the padded event is over 1 MB"
"$W" eval -q --strict "$T/pack" "$T/pad.jsonl" >"$T/hits5" || fail "padded event: rule errors"
got=$(jq -r '"\(.event_id) \(.rule) \(.verdict)"' "$T/hits5" | tr '\n' ' ')
[ "$got" = "p1 a.stuck block p1 b.flag flag p2 a.stuck block p2 b.flag flag " ] || fail "padded: $got"
"$W" eval -q --strict --check-fields "$T/pack" "$T/pad.jsonl" | cmp -s - "$T/hits5" \
  || fail "the checking view disagrees on the padded event"
ok "padding a declared field changes no verdict (both views)"

#!/bin/bash
# Hostile packs and snapshots through the real binary: symbolic links that
# loop or leave the pack are load errors found at once (not an endless
# walk, not the machine's files); a valid pack whose comments and strings
# mention undeclared counters loads; a CRC-valid snapshot with an
# impossible clock is refused by --state-in; `items.sku` reads the same in
# warden eval, --check-fields and warden test.
# suite: alone (asserts bounds on wall time)
set -eu
W=${WARDEN:-build/warden}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }

mkdir -p "$T/loop"
cat >"$T/loop/r.lua" <<'LUA'
return { name = "r", version = 1, streams = { "s" }, mode = "enforce",
  evaluate = function(ev, ctx) end }
LUA
ln -s . "$T/loop/a"; ln -s . "$T/loop/b"; ln -s / "$T/loop/root"
start=$(date +%s%N)
set +e
timeout 20 "$W" check "$T/loop" >"$T/out" 2>"$T/err"; rc=$?
set -e
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$rc" = 1 ] || fail "check of a looping pack exited $rc (124: timed out), want 1"
[ "$ms" -lt 2000 ] || fail "check took $ms ms"
grep -qx "$T/loop/a: symbolic link to a directory already in the rule pack (a loop, or a second copy)" "$T/err" \
  || fail "no error naming the link a: $(cat "$T/err")"
grep -q "^$T/loop/b: symbolic link to a directory already in the rule pack" "$T/err" || fail "no error naming b"
grep -qx "$T/loop/root: symbolic link to / points outside the rule pack" "$T/err" || fail "no error naming root"
ok "check: links to . and / are load errors naming them ($ms ms)"

mkdir -p "$T/refs/lists"
echo x >"$T/refs/lists/ok.txt"
cat >"$T/refs/counters.lua" <<'LUA'
return { { name = "c", stream = "s", key = "u", windows = { "1h" } } }
LUA
cat >"$T/refs/r.lua" <<'LUA'
-- was: ctx.count("old_counter", ev.u, "1h") > 5
--[==[ ctx.in_list("gone", ev.u) ]==]
local help = "use ctx.count('nope', key, '7d') to count"
return { name = "r", version = 1, streams = { "s" }, mode = "enforce", fields = { "u" },
  evaluate = function(ev, ctx)
    if ctx.count("c", ev.u, "1h") > 1 and ctx.in_list("ok", ev.u) then -- not ctx.count("x")
      return ctx.flag{ entity = ev.u, reason = [[ctx.in_list("nolist", v)]] }
    end
  end }
LUA
"$W" check "$T/refs" >"$T/out" 2>"$T/err" || fail "a valid pack mentioning counters in comments and strings was refused: $(cat "$T/err")"
printf '%s\n' '{"type":"s","id":"1","ts":1,"u":"x"}' '{"type":"s","id":"2","ts":2,"u":"x"}' >"$T/refs.jsonl"
[ "$("$W" eval -q "$T/refs" "$T/refs.jsonl" | wc -l)" = 1 ] || fail "the pack does not run"
ok "check: calls in comments and strings are not references"

"$W" eval -q --state-out "$T/state.snap" "$T/refs" "$T/refs.jsonl" >/dev/null
"$W" eval -q --state-in "$T/state.snap" "$T/refs" "$T/refs.jsonl" >/dev/null || fail "the snapshot does not load back"
python3 - "$T/state.snap" "$T/bad.snap" <<'PY'
import struct, sys, zlib
b = bytearray(open(sys.argv[1], 'rb').read())
b[40:48] = struct.pack('<q', 2**62)                 # the clock, far beyond any event
b[32:36] = struct.pack('<I', zlib.crc32(bytes(b[40:])))
b[36:40] = struct.pack('<I', zlib.crc32(bytes(b[:36])))
open(sys.argv[2], 'wb').write(b)
PY
set +e
"$W" eval -q --state-in "$T/bad.snap" "$T/refs" "$T/refs.jsonl" >/dev/null 2>"$T/err"; rc=$?
set -e
[ "$rc" = 1 ] || fail "--state-in with an impossible clock exited $rc, want 1"
grep -q "impossible clock" "$T/err" || fail "no reason given: $(cat "$T/err")"
ok "--state-in: a CRC-valid snapshot with an impossible clock is refused"

mkdir -p "$T/items"
cat >"$T/items/r.lua" <<'LUA'
return { name = "items", version = 1, streams = { "order" }, mode = "enforce",
  fields = { "items.sku" },
  evaluate = function(ev, ctx)
    local ks = {}
    for k in pairs(ev.items[1]) do ks[#ks + 1] = k end
    return ctx.flag{ entity = ev.items[1].sku .. ev.items[2].sku .. #ev.items .. table.concat(ks, ",") }
  end,
  tests = { { name = "sku read", events = { { items = { { sku = "a", price = 1 }, { sku = "b" } } } },
              expect = { { entity = "ab2sku" } } } } }
LUA
echo '{"type":"order","id":"o1","ts":1,"items":[{"sku":"a","price":1},{"sku":"b","price":2}]}' >"$T/items.jsonl"
"$W" eval -q "$T/items" "$T/items.jsonl" | grep -q '"entity":"ab2sku"' || fail "the table view shows other fields of items[1]"
"$W" eval -q --check-fields "$T/items" "$T/items.jsonl" | grep -q '"entity":"ab2sku"' || fail "the checking view differs"
"$W" test "$T/items" >"$T/out" || fail "warden test: $(cat "$T/out")"
ok "items.sku: the table view, the checking view and warden test agree"

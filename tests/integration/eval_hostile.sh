#!/bin/bash
# Hostile input through the real binary: events and rules that used to
# crash warden or make it lose or merge data.  Reads the hits, actions and
# exit statuses, never log prose.
set -eu
W=${WARDEN:-build/warden}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }

mkdir -p "$T/p"
cat >"$T/p/r.lua" <<'LUA'
return { name = "r", version = 1, streams = { "login" }, mode = "enforce", fields = { "user.id" },
  evaluate = function(ev, ctx) return ctx.block{ entity = ev.user.id } end }
LUA

# A NUL inside the stream name, followed by a few hundred KB: routing used
# to read past the heap string (SIGSEGV; a poison pill under warden run).
{
  printf '{"type":"login\\u0000'
  head -c 400000 /dev/zero | tr '\0' x
  printf '","id":"e1","ts":1,"user":{"id":"u1"}}\n'
  printf '{"type":"login","id":"e2","ts":2,"user":{"id":"u2"}}\n'
} >"$T/nul.jsonl"
set +e
"$W" eval -q --strict "$T/p" "$T/nul.jsonl" >"$T/nul.out" 2>"$T/nul.err"; rc=$?
set -e
[ "$rc" = 0 ] || fail "a NUL in the stream exited $rc: $(head -c 2000 "$T/nul.err")"
[ "$(wc -l <"$T/nul.out")" = 1 ] || fail "want one hit (e2), got: $(cat "$T/nul.out")"
grep -q '"event_id":"e2"' "$T/nul.out" || fail "the hit is not e2's: $(cat "$T/nul.out")"
ok "a NUL in the stream field routes nowhere, and the next event is evaluated"

# warden test compares expectations by length: "a\0WRONG" is not "a\0REAL".
mkdir -p "$T/t"
cat >"$T/t/r.lua" <<'LUA'
return { name = "r", version = 1, streams = { "s" }, mode = "enforce",
  evaluate = function(ev, ctx) return ctx.block{ entity = "a\0REAL" } end,
  tests = { { name = "right", events = { {} }, expect = { { entity = "a\0REAL" } } },
            { name = "wrong", events = { {} }, expect = { { entity = "a\0WRONG" } } } } }
LUA
set +e
"$W" test "$T/t" >"$T/t.out" 2>&1; rc=$?
set -e
[ "$rc" = 1 ] || fail "warden test with a wrong NUL expectation exited $rc: $(cat "$T/t.out")"
grep -q '2 cases in 1 rules: 1 ok, 1 FAILED' "$T/t.out" || fail "want 1 ok, 1 failed: $(cat "$T/t.out")"
ok "warden test: an expectation differing after a NUL fails"

# Every output that fails is an error with its path and a non-zero exit:
# --actions and --rejects to /dev/full used to lose every line and exit 0.
S=examples/events/sample.jsonl
{ cat "$S"; echo "not json"; } >"$T/some.jsonl"
expect_write_error() {   # what, expected text on stderr, command...
  local what=$1 want=$2; shift 2
  set +e
  "$@" >"$T/w.out" 2>"$T/w.err"; local rc=$?
  set -e
  [ "$rc" != 0 ] || fail "$what: a failing output exited 0"
  grep -q -- "$want" "$T/w.err" || fail "$what: stderr lacks '$want': $(cat "$T/w.err")"
  ok "$what: exit $rc, '$want'"
}
expect_write_error "--actions /dev/full" "/dev/full: write error" \
  "$W" eval -q --actions /dev/full examples/rules "$T/some.jsonl"
expect_write_error "--rejects /dev/full" "/dev/full: write error" \
  "$W" eval -q --rejects /dev/full examples/rules "$T/some.jsonl"
expect_write_error "--out /dev/full" "write to /dev/full failed" \
  "$W" eval -q --out /dev/full examples/rules "$T/some.jsonl"
expect_write_error "hits on stdout to /dev/full" "write to stdout failed" \
  sh -c '"$0" eval -q examples/rules "$1" >/dev/full' "$W" "$T/some.jsonl"
expect_write_error "warden test, report on stdout to /dev/full" "stdout: write failed" \
  sh -c '"$0" test -v examples/rules >/dev/full' "$W"
# --state-out renames a snapshot over the path: over a device it used to
# replace the device with a file and exit 0.  A private node (as root), so
# that the old behaviour cannot clobber /dev/full itself.
if mknod "$T/full" c 1 7 2>/dev/null; then
  expect_write_error "--state-out on a device" "not a regular file" \
    "$W" eval -q --state-out "$T/full" examples/rules "$T/some.jsonl"
  [ -c "$T/full" ] || fail "--state-out replaced the device node"
else
  mkfifo "$T/fifo"
  expect_write_error "--state-out on a FIFO" "not a regular file" \
    "$W" eval -q --state-out "$T/fifo" examples/rules "$T/some.jsonl"
  [ -p "$T/fifo" ] || fail "--state-out replaced the FIFO"
fi
# A state-out directory that does not exist: reported, non-zero.
expect_write_error "--state-out in a missing directory" "$T/nodir/s.snap" \
  "$W" eval -q --state-out "$T/nodir/s.snap" examples/rules "$T/some.jsonl"

# The same events give byte-identical output on every run and in both
# views: math.random is per rule and seeded from the rule and the event,
# pairs over the event walks it in document order.  (Lua seeds its PRNG
# and string hashes anew in every process.)
mkdir -p "$T/d"
cat >"$T/d/a.lua" <<'LUA'
return { name = "a", version = 1, streams = { "s" }, mode = "shadow", fields = { "u" },
  evaluate = function(ev, ctx) math.randomseed(1) end }
LUA
cat >"$T/d/r.lua" <<'LUA'
return { name = "r", version = 1, streams = { "s" }, mode = "enforce", fields = { "u" },
  evaluate = function(ev, ctx)
    local keys = {}
    for k, v in pairs(ev.u) do keys[#keys + 1] = k .. "=" .. tostring(v) end
    if math.random() < 0.5 then return end
    return ctx.flag{ entity = table.concat(keys, ","), reason = tostring(math.random(1000000)) }
  end }
LUA
for i in $(seq 1 300); do
  printf '{"type":"s","id":"e%d","ts":%d,"u":{"z%d":1,"y":2,"x":3,"w":4,"v":5,"k%d":6,"a":7,"b":8}}\n' "$i" "$i" "$i" "$i"
done >"$T/d.jsonl"
"$W" eval -q "$T/d" "$T/d.jsonl" >"$T/d1.out"
"$W" eval -q "$T/d" "$T/d.jsonl" >"$T/d2.out"
"$W" eval -q --check-fields "$T/d" "$T/d.jsonl" >"$T/d3.out"
n=$(wc -l <"$T/d1.out")
[ "$n" -gt 100 ] && [ "$n" -lt 200 ] || fail "want about 150 of 300 events flagged, got $n"
cmp -s "$T/d1.out" "$T/d2.out" || fail "two runs of the same events differ"
cmp -s "$T/d1.out" "$T/d3.out" || fail "the checking view differs from the table view"
head -1 "$T/d1.out" | grep -q '"entity":"z[0-9]*=1,y=2,x=3,w=4,v=5,k[0-9]*=6,a=7,b=8"' \
  || fail "pairs did not follow the document: $(head -1 "$T/d1.out")"
ok "math.random and pairs: $n hits, byte-identical in two runs and in both views"

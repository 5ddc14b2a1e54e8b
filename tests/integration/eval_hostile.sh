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
expect_write_error "--actions /dev/full" "/dev/full: write failed" \
  "$W" eval -q --actions /dev/full examples/rules "$T/some.jsonl"
expect_write_error "--rejects /dev/full" "/dev/full: write failed" \
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

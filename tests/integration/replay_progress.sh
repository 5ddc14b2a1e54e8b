#!/bin/bash
# warden replay's progress: on a terminal (a pty from script(1)) stderr gets
# "\rreplay: N events, P% of T bytes, R events/s, ETA S s" lines, events and
# percentage never going back, the last one at 100% of the input's bytes
# with the report's event count; with stderr not a terminal (a file, a
# pipe; stdout a terminal or not) or with -q there is no progress line.
set -eu
W=${WARDEN:-build/warden}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }
command -v script >/dev/null || fail "script(1) (util-linux) is missing"
for i in 1 2 3 4 5; do cat examples/events/sample.jsonl; done > "$T/in.jsonl"
size=$(stat -c %s "$T/in.jsonl")
run="$W replay --input $T/in.jsonl --rules examples/rules --json $T/r.json"

# progress LOG JSON: checks the progress lines of LOG; prints how many.
progress() {
  python3 - "$1" "$2" "$size" <<'PY'
import json, re, sys
log, rep, size = open(sys.argv[1], "rb").read().decode(), json.load(open(sys.argv[2])), int(sys.argv[3])
pat = re.compile(r"replay: (\d+) events, (\d+\.\d)% of (\d+) bytes, (\d+) events/s, ETA (\d+) s *$")
lines = [l for l in re.split(r"[\r\n]", log) if l.startswith("replay:")]
got = [pat.match(l) for l in lines]
assert lines and all(got), "unparsable progress lines: %r" % [l for l, m in zip(lines, got) if not m][:3]
ev = [int(m.group(1)) for m in got]
pct = [float(m.group(2)) for m in got]
assert len(lines) >= 2, "%d progress lines" % len(lines)
assert ev == sorted(ev) and pct == sorted(pct), "progress went back: %s %s" % (ev, pct)
assert all(int(m.group(3)) == size for m in got), "total is not the input's %d bytes" % size
assert pct[-1] == 100.0 and ev[-1] == rep["events"]["read"], "last line %s, read %d" % (lines[-1], rep["events"]["read"])
assert "\r" in log, "progress lines are not \\r-terminated rewrites"
print(len(lines))
PY
}

# ---- a terminal: progress lines --------------------------------------------
script -qefc "$run" /dev/null > "$T/tty.log" || fail "replay under script failed"
n=$(progress "$T/tty.log" "$T/r.json") || fail "progress on a terminal"
grep -q 'warden replay: 60000 events in' "$T/tty.log" || fail "no summary line on the terminal"
ok "terminal: $n progress lines, monotonic, the last at 100% of $size bytes with the report's 60000 events"

# ---- stderr a file while stdout is a terminal: none --------------------------
script -qefc "$run 2>$T/err.log" /dev/null > "$T/tty2.log" || fail "replay under script (stderr to a file) failed"
grep -q 'replay: [0-9]* events, ' "$T/err.log" "$T/tty2.log" && fail "progress with stderr not a terminal"
[ "$(grep -c '^warden replay: ' "$T/err.log")" = 1 ] || fail "stderr lacks the one summary line: $(cat "$T/err.log")"

# ---- no terminal at all (stderr a pipe, stdout a file): none --------------
$run 2>&1 >"$T/out.log" | cat > "$T/pipe.log"
grep -q 'replay: [0-9]* events, ' "$T/pipe.log" "$T/out.log" && fail "progress into a pipe"
[ "$(wc -l < "$T/pipe.log")" = 1 ] || fail "a pipe got more than the summary: $(head -c 300 "$T/pipe.log")"

# ---- -q on a terminal: nothing ----------------------------------------------
script -qefc "$run -q" /dev/null > "$T/quiet.log" || fail "replay -q under script failed"
[ ! -s "$T/quiet.log" ] || fail "-q wrote to the terminal: $(head -c 300 "$T/quiet.log")"
ok "no progress with stderr a file (stdout a terminal), a pipe, or -q on a terminal"

#!/bin/bash
# warden replay -c warden.lua against the real broker: the bounded reader's
# own tests (tests/kafka/test_broker_replay: exact offset ranges by time,
# event-time merge, empty range, past-retention error naming the earliest
# retained time, transactional input), then the command end to end: the
# sample spread over 4 partitions, a window with warm-up gives exactly
# warden eval's hits on the same events in the replay's merge order and no
# actions topic appears (replay has no producer); progress on a terminal
# counts the ranges' messages to 100%; an empty window is an
# empty report.
set -eu
. tests/kafka/lib.sh
BUILD=${BUILD:-build}
kt_init replay
KAFKA_BOOTSTRAP=$KAFKA_BOOTSTRAP timeout 180 "$BUILD/tests/kafka/test_broker_replay" || kt_fail "test_broker_replay"

S=examples/events/sample.jsonl
RAW="raw.$KID"
for p in 0 1 2 3; do
  awk -v p=$p '(NR - 1) % 4 == p' "$S" > "$KT/p$p.jsonl"
  timeout 60 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -p $p -l "$KT/p$p.jsonl"
done
kt_config "$KT/warden.lua" "
  streams = { topics = { '$RAW' } },
  rules = '$PWD/examples/rules',
  run = { group = 'g.$KID', actions_topic = 'actions.$KID', dlq_topic = 'dlq.$KID' },"

# Message times are now; the event-time window is [03:00, now) on 2026-11-20's events.
"$WARDEN" replay -q -c "$KT/warden.lua" --from 2026-11-20T03:00:00Z --to now --warmup 1h \
  --baseline examples/rules --json "$KT/r.json" --store "jsonl:$KT/r.hits" --run-id k1 \
  || kt_fail "replay -c exited $?"
# The replay's order: merge the 4 partitions by event time, ties by partition.
python3 - "$KT" <<'PY' || kt_fail "replay's hits differ from warden eval's on the same events in merge order"
import json, sys, datetime
t = sys.argv[1]
def ts(l):
    return datetime.datetime.fromisoformat(json.loads(l)["ts"].replace("Z", "+00:00"))
parts = [open(f"{t}/p{p}.jsonl").readlines() for p in range(4)]
pos = [0] * 4
order = []
while True:
    best = None
    for p in range(4):
        if pos[p] < len(parts[p]) and (best is None or ts(parts[p][pos[p]]) < ts(parts[best][pos[best]])):
            best = p
    if best is None:
        break
    order.append(parts[best][pos[best]])
    pos[best] += 1
start = datetime.datetime(2026, 11, 20, 2, tzinfo=datetime.timezone.utc)
open(f"{t}/merged.jsonl", "w").writelines(l for l in order if ts(l) >= start)
r = json.load(open(f"{t}/r.json"))
ev = r["events"]
n_before = sum(1 for l in order if ts(l) < start)
n_warm = sum(1 for l in order if start <= ts(l) < start + datetime.timedelta(hours=1))
assert (ev["read"], ev["before_window"], ev["warmup"], ev["after_window"]) == (12000, n_before, n_warm, 0), ev
assert r["decisions"]["changed"] == 0 and all(x["added"] + x["removed"] == 0 for x in r["rules"])
assert len(r["input"]["kafka"]) == 4 and r["input"]["messages"] == 12000, r["input"]
PY
"$WARDEN" eval -q examples/rules "$KT/merged.jsonl" > "$KT/e.hits"
python3 - "$KT" <<'PY' || kt_fail "replay's hits differ from warden eval's on the same events in merge order"
import json, sys
t = sys.argv[1]
want = [json.loads(l) for l in open(f"{t}/e.hits") if json.loads(l)["event_ts"] >= "2026-11-20T03:00:00Z"]
got = [json.loads(l) for l in open(f"{t}/r.hits")]
key = lambda h: (h["event_id"], h["rule"], h["verdict"], h["entity"], h.get("reason"))
assert sorted(map(key, want)) == sorted(map(key, got)), (len(want), len(got))
assert len(got) > 300, len(got)
PY
n=$(wc -l < "$KT/r.hits")
ok_msg="replay -c: 4 partitions merged by event time, $n hits = warden eval's on the same events"
# Its own consumer: no group offsets, no actions produced.
if kcat -b "$KAFKA_BOOTSTRAP" -L -t "actions.$KID" 2>/dev/null | grep -q "partition 0"; then
  kt_fail "replay created or produced to the actions topic"
fi
echo "ok: $ok_msg; no actions topic"

# Progress on a terminal (a pty from script(1)): "of N messages", N the
# report's offset ranges, never going back, the last line at 100%.
script -qefc "$WARDEN replay -c $KT/warden.lua --from 2026-11-20T03:00:00Z --to now --warmup 1h --json $KT/p.json" \
  /dev/null > "$KT/tty.log" || kt_fail "replay -c under script exited $?"
python3 - "$KT" <<'PY' || kt_fail "Kafka replay progress on a terminal"
import json, re, sys
t = sys.argv[1]
log, rep = open(t + "/tty.log", "rb").read().decode(), json.load(open(t + "/p.json"))
pat = re.compile(r"replay: (\d+) events, (\d+\.\d)% of (\d+) messages, (\d+) events/s, ETA (\d+) s *$")
got = [pat.match(l) for l in re.split(r"[\r\n]", log) if l.startswith("replay:")]
assert len(got) >= 2 and all(got), repr(log[-800:])
ev, pct = [int(m.group(1)) for m in got], [float(m.group(2)) for m in got]
assert ev == sorted(ev) and pct == sorted(pct), (ev, pct)
assert all(int(m.group(3)) == rep["input"]["messages"] for m in got), (got[0].group(3), rep["input"]["messages"])
assert pct[-1] == 100.0 and ev[-1] == rep["events"]["read"], (pct[-1], ev[-1], rep["events"]["read"])
PY
echo "ok: replay -c on a terminal: progress of the offset ranges' messages, ending at 100%"

# An empty window: nothing produced in the last second.
sleep 2
"$WARDEN" replay -q -c "$KT/warden.lua" --from -1s --warmup 0 --json "$KT/empty.json" --report "$KT/empty.md" \
  || kt_fail "empty window exited $?"
python3 -c "
import json; r = json.load(open('$KT/empty.json'))
assert r['events']['read'] == 0 and r['candidate']['hits'] == 0 and r['input']['messages'] == 0, r['events']" \
  || kt_fail "empty window: $(cat "$KT/empty.json")"
echo "ok: replay -c --from -1s --warmup 0: an empty window is an empty report, exit 0"

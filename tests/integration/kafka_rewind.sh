#!/bin/bash
# warden rewind against the real broker.  Events of six hours over three
# partitions, each record stamped with its event time (kt_produce), a pack
# whose block reason carries the exact 1 h count and a second rule reading a
# label the first one sets.  warden run consumes them all and stops; then:
#   - rewind --dry-run: the old offsets (the ends) and the new ones (the
#     first record at or after T, per partition, computed here) are printed,
#     and neither the group's offsets nor the changelog change;
#   - with a warden run member in the group, rewind is refused (exit 6)
#     and changes nothing;
#   - rewind --to T: the offsets move to T, the changelog gets per slot the
#     tombstones of what it held, the reset marker and the rebuilt state;
#   - warden run again to the end: its hits (the events from T on) are
#     exactly those of `warden replay --from T` (a fresh engine with the
#     same warm-up, [T - 1 h, T)) on the same topic — count for count in
#     the reasons, so a double-counted state (the restore loading the newest
#     state whatever the offset) would show.
set -eu
. tests/kafka/lib.sh
BUILD=${BUILD:-build}
KT_PRODUCE=$BUILD/tests/kafka/kt_produce
[ -x "$KT_PRODUCE" ] || kt_fail "$KT_PRODUCE is not built (make build)"
kt_init rewind
IN="in.$KID"
mkdir -p "$KT/pack/t"
cat >"$KT/pack/counters.lua" <<'LUA'
return {
  { name = "posts_by_user", stream = "post", key = "user", windows = { "1h" } },
}
LUA
cat >"$KT/pack/t/burst.lua" <<'LUA'
return {
  name = "t.burst", version = 1, description = "four posts or more in an hour",
  streams = { "post" }, mode = "enforce", fields = { "user" },
  evaluate = function(ev, ctx)
    local n = ctx.count("posts_by_user", ev.user, "1h")
    if n >= 4 then
      ctx.label(ev.user, "bursty", "30m")
      return ctx.block{ entity = ev.user, reason = "posts in 1h: " .. n }
    end
  end,
}
LUA
cat >"$KT/pack/t/again.lua" <<'LUA'
return {
  name = "t.again", version = 1, description = "a post from an account marked bursty",
  streams = { "post" }, mode = "enforce", fields = { "user" },
  evaluate = function(ev, ctx)
    if ctx.has_label(ev.user, "bursty") then
      return ctx.flag{ entity = ev.user, reason = "bursty" }
    end
  end,
}
LUA
"$WARDEN" check "$KT/pack" >/dev/null || kt_fail "the test pack does not load"

# S = the hour 7 h ago (inside the broker's retention: record times are
# event times); six hours; user u<i> on partition i % 3; a few heavy users
# so the counts cross the threshold; T is mid-way, off the minute.
python3 - "$KT" <<'PY'
import json, random, sys, datetime
kt = sys.argv[1]
random.seed(11)
import time
S = (int(time.time()) // 3600 - 7) * 3600_000
T = S + 3 * 3600_000 + 7 * 60_000 + 13_000
t, n = S, 0
lines, before = [], [0, 0, 0]
while t < S + 6 * 3600_000:
    u = random.choice(range(30)) if random.random() < 0.6 else random.choice(range(3))
    p = u % 3
    ts = datetime.datetime.fromtimestamp(t / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    ev = {"type": "post", "id": f"e{n:05d}", "ts": ts, "user": f"u{u}"}
    lines.append(f"{p}\t{t}\tu{u}\t{json.dumps(ev, separators=(',', ':'))}\n")
    before[p] += t < T
    n += 1
    t += random.randint(5, 60) * 1000
open(f"{kt}/records.tsv", "w").writelines(lines)
json.dump({"S": S, "T": T, "n": n, "before": before,
           "total": [sum(1 for l in lines if l.startswith(f"{p}\t")) for p in range(3)]},
          open(f"{kt}/fixture.json", "w"))
PY
fx() { python3 -c "import json,sys; print(eval(sys.argv[1], json.load(open('$KT/fixture.json'))))" "$1"; }
N=$(fx n); T=$(fx T); END=$(( $(fx S) + 7 * 3600000 ))
timeout 120 "$KT_PRODUCE" "$KAFKA_BOOTSTRAP" "$IN" 3 <"$KT/records.tsv" || kt_fail "kt_produce failed"

for i in 1 2; do
  kt_config "$KT/warden$i.lua" "
  streams = { topics = { '$IN' } },
  rules = '$KT/pack',
  store = 'jsonl:$KT/run$i.hits',
  run = { group = 'g.$KID', actions_topic = 'actions.$KID', dlq_topic = 'dlq.$KID',
          changelog_topic = 'cl.$KID', batch_max = 100, batch_ms = 100 },"
done
CL="cl.$KID"

kt_warden "$KT/run1.log" run -c "$KT/warden1.lua" --instance a --max-events "$N"
wait "$KT_PID" || { tail -5 "$KT/run1.log"; kt_fail "the first run failed"; }
kt_final "$KT/run1.log"
[ "$(kt_stat "$KT/run1.log" events)" = "$N" ] || kt_fail "run 1 saw $(kt_stat "$KT/run1.log" events) of $N events"
cl_before=$(kt_count "$CL")
[ "$cl_before" -gt 0 ] || kt_fail "run 1 wrote no changelog"

# check_offsets FILE OLD NEW: the JSON's per-partition old and new offsets
check_offsets() {
  python3 - "$KT" "$@" <<'PY' || kt_fail "rewind JSON $2: offsets are not $3 -> $4: $(cat "$2")"
import json, sys
kt, path, old, new = sys.argv[1:5]
fx = json.load(open(f"{kt}/fixture.json"))
r = json.load(open(path))
want = lambda k: fx[k] if k in ("before", "total") else [int(x) for x in k.split(",")]
ps = sorted(r["partitions"], key=lambda p: p["partition"])
assert [p["partition"] for p in ps] == [0, 1, 2], ps
assert [p["old"] for p in ps] == want(old), ([p["old"] for p in ps], want(old))
assert [p["new"] for p in ps] == want(new), ([p["new"] for p in ps], want(new))
assert [p["slot"] for p in ps] == ["*/0", "*/1", "*/2"], ps
PY
}

# Dry run: prints the move, changes nothing.
"$WARDEN" rewind -q -c "$KT/warden1.lua" --to "$T" --dry-run --json >"$KT/dry1.json" \
  || kt_fail "rewind --dry-run exited $?"
check_offsets "$KT/dry1.json" total before
python3 - "$KT/dry1.json" <<'PY' || kt_fail "dry run report: $(cat "$KT/dry1.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["dry_run"] is True and r["written"] == {"tombstones": 0, "markers": 0, "records": 0}, r
assert all(s["records_before"] > 0 and s["records_rebuilt"] > 0 for s in r["slots"]), r["slots"]
assert r["warmup_ms"] == 3600000 and r["warmup"]["evaluated"] > 0 and r["warmup"]["rejected"] == 0, r
PY
"$WARDEN" rewind -q -c "$KT/warden1.lua" --to "$T" --dry-run >"$KT/dry1.txt" || kt_fail "rewind --dry-run (text) exited $?"
grep -q "dry run: would rewind group g.$KID" "$KT/dry1.txt" || kt_fail "dry run text: $(cat "$KT/dry1.txt")"
[ "$(kt_count "$CL")" = "$cl_before" ] || kt_fail "the dry run wrote to the changelog"
"$WARDEN" rewind -q -c "$KT/warden1.lua" --to "$T" --dry-run --json >"$KT/dry2.json"
check_offsets "$KT/dry2.json" total before
echo "ok: rewind --dry-run: old offsets $(fx total), new $(fx before); offsets and changelog ($cl_before records) unchanged"

# Refused while a warden run is in the group.
kt_warden "$KT/member.log" run -c "$KT/warden1.lua" --instance b
member=$KT_PID
kt_wait_stat "$KT/member.log" partitions 3 60
set +e
"$WARDEN" rewind -q -c "$KT/warden1.lua" --to "$T" --json >"$KT/refused.json" 2>"$KT/refused.err"
rc=$?
set -e
[ "$rc" = 6 ] || kt_fail "rewind with an active member exited $rc, want 6: $(cat "$KT/refused.err")"
grep -q "group g.$KID has 1 active member" "$KT/refused.err" || kt_fail "refusal message: $(cat "$KT/refused.err")"
[ ! -s "$KT/refused.json" ] || kt_fail "a refused rewind printed a report"
kt_stop "$member" || kt_fail "the member run exited $?"
"$WARDEN" rewind -q -c "$KT/warden1.lua" --to "$T" --dry-run --json >"$KT/dry3.json"
check_offsets "$KT/dry3.json" total before
[ "$(kt_count "$CL")" = "$cl_before" ] || kt_fail "the refused rewind wrote to the changelog"
echo "ok: rewind refused with exit 6 while a warden run was in the group; offsets and changelog unchanged"

# The rewind.
t0=$(date +%s.%N)
"$WARDEN" rewind -q -c "$KT/warden1.lua" --to "$T" --json >"$KT/rw.json" || kt_fail "rewind exited $?"
t1=$(date +%s.%N)
check_offsets "$KT/rw.json" total before
python3 - "$KT/rw.json" <<'PY' || kt_fail "rewind report: $(cat "$KT/rw.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["dry_run"] is False, r
# every record it held but the clock's gets a tombstone; the clock's is the marker
assert r["written"]["tombstones"] + 3 == sum(s["records_before"] for s in r["slots"]), r
assert r["written"]["markers"] == 3, r
assert r["written"]["records"] == sum(s["records_rebuilt"] for s in r["slots"]) > 0, r
PY
tomb=$(python3 -c "import json; print(json.load(open('$KT/rw.json'))['written']['tombstones'])")
recs=$(python3 -c "import json; print(json.load(open('$KT/rw.json'))['written']['records'])")
# per slot: the tombstones, the marker, the rebuilt records
[ "$(kt_count "$CL")" = $((cl_before + tomb + 3 + recs)) ] \
  || kt_fail "changelog has $(kt_count "$CL") records, want $cl_before + $tomb + 3 + $recs"
"$WARDEN" rewind -q -c "$KT/warden1.lua" --to "$T" --dry-run --json >"$KT/dry4.json"
check_offsets "$KT/dry4.json" before before
echo "ok: rewind --to T in $(python3 -c "print(round($t1 - $t0, 2))") s: offsets at T, $tomb tombstones, 3 markers, $recs rebuilt records"

# Run again to the end, and compare with a replay from T.
left=$(( N - $(fx 'sum(before)') ))
kt_warden "$KT/run2.log" run -c "$KT/warden2.lua" --instance a --max-events "$left"
wait "$KT_PID" || { tail -5 "$KT/run2.log"; kt_fail "the run after the rewind failed"; }
kt_final "$KT/run2.log"
[ "$(kt_stat "$KT/run2.log" events)" = "$left" ] || kt_fail "run 2 saw $(kt_stat "$KT/run2.log" events) events, want $left"
[ "$(kt_stat "$KT/run2.log" restored)" = 3 ] || kt_fail "run 2 restored $(kt_stat "$KT/run2.log" restored) slots, want 3"
"$WARDEN" replay -q -c "$KT/warden1.lua" --from "$T" --to "$END" --json "$KT/replay.json" \
  --store "jsonl:$KT/replay.hits" --run-id rp || kt_fail "replay exited $?"
actions2=$(kt_stat "$KT/run2.log" actions)
python3 - "$KT" "$actions2" <<'PY' || kt_fail "the hits after the rewind differ from a replay from T with warm-up"
import json, sys
kt, actions2 = sys.argv[1], int(sys.argv[2])
key = lambda h: (h["event_id"], h["rule"], h["verdict"], h["entity"], h["reason"])
got = sorted(map(key, map(json.loads, open(f"{kt}/run2.hits"))))
want = sorted(map(key, map(json.loads, open(f"{kt}/replay.hits"))))
only_got, only_want = sorted(set(got) - set(want)), sorted(set(want) - set(got))
assert got == want, (len(got), len(want), only_got[:5], only_want[:5])
assert len(got) > 50 and sum(1 for k in got if k[1] == "t.again") > 10, len(got)
# every event with a hit got one action (both rules enforce)
assert actions2 == len({k[0] for k in got}), (actions2, len({k[0] for k in got}))
PY
n2=$(wc -l <"$KT/run2.hits")
echo "ok: after the rewind warden run gave exactly replay --from T's $n2 hits ($actions2 actions)"

# Again: a second rewind to T over a changelog that already holds a marker,
# and a third run gives the same hits once more.
"$WARDEN" rewind -q -c "$KT/warden1.lua" --to "$T" --json >"$KT/rw2.json" || kt_fail "the second rewind exited $?"
check_offsets "$KT/rw2.json" total before
kt_config "$KT/warden3.lua" "
  streams = { topics = { '$IN' } },
  rules = '$KT/pack',
  store = 'jsonl:$KT/run3.hits',
  run = { group = 'g.$KID', actions_topic = 'actions.$KID', dlq_topic = 'dlq.$KID',
          changelog_topic = 'cl.$KID', batch_max = 100, batch_ms = 100 },"
kt_warden "$KT/run3.log" run -c "$KT/warden3.lua" --instance a --max-events "$left"
wait "$KT_PID" || { tail -5 "$KT/run3.log"; kt_fail "the run after the second rewind failed"; }
kt_final "$KT/run3.log"
python3 - "$KT" <<'PY' || kt_fail "the hits after a second rewind differ from the first's"
import json, sys
kt = sys.argv[1]
key = lambda h: (h["event_id"], h["rule"], h["verdict"], h["entity"], h["reason"])
a = sorted(map(key, map(json.loads, open(f"{kt}/run2.hits"))))
b = sorted(map(key, map(json.loads, open(f"{kt}/run3.hits"))))
assert a == b, (len(a), len(b))
PY
echo "ok: a second rewind to T over the rewound changelog: the same $n2 hits again"

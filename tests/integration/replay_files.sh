#!/bin/bash
# warden replay --input: bounds of the window and warm-up, candidate =
# baseline gives an empty diff, a known threshold change gives exactly the
# added/removed hits and decision changes computed by hand, precision and
# recall on a labelled fixture computed by hand, the field check flags a
# renamed field and a changed type, Ctrl-C gives a partial report, and a
# replay's hits over a window are exactly warden eval's over the same
# events (warm-up state included).
set -eu
W=${WARDEN:-build/warden}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }
S=examples/events/sample.jsonl
# jget FILE EXPR: a value of the JSON report (python expression on r).
jget() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1"; }

# ---- candidate = baseline: an empty diff, and eval's hits -----------------
"$W" replay -q --input "$S" --rules examples/rules --baseline examples/rules \
  --json "$T/same.json" --report "$T/same.md" --store "jsonl:$T/same.hits" --run-id r1
[ "$(jget "$T/same.json" "sum(x['added']+x['removed']+x['verdict_changed']+x['entity_changed']+x['decisions_changed']+x['entities_affected']+len(x['samples']) for x in r['rules'])")" = 0 ] \
  || fail "candidate = baseline has a diff"
[ "$(jget "$T/same.json" "r['decisions']['changed']")" = 0 ] || fail "candidate = baseline changes decisions"
want=$(wc -l < examples/expected/sample.hits.jsonl)
[ "$(jget "$T/same.json" "r['candidate']['hits']")" = "$want" ] || fail "candidate hits != eval's $want"
[ "$(jget "$T/same.json" "r['baseline']['hits']")" = "$want" ] || fail "baseline hits != eval's $want"
sed 's/"run_id":"r1"/"run_id":"live"/' "$T/same.hits" | cmp -s - examples/expected/sample.hits.jsonl \
  || fail "replay's stored hits differ from eval's"
grep -q '^# Replay report' "$T/same.md" || fail "no Markdown report"
grep -q '^## Overlap' "$T/same.md" || fail "Markdown report has no overlap section"
ok "candidate = baseline: empty diff, $want hits exactly as warden eval's"

# ---- a window with warm-up equals eval over [from - warmup, to) -----------
FROM=2026-11-20T03:00:00Z TO=2026-11-20T05:00:00Z
"$W" replay -q --input "$S" --rules examples/rules --from "$FROM" --to "$TO" --warmup 1h \
  --json "$T/win.json" --store "jsonl:$T/win.hits" --run-id win
python3 - "$S" "$T" <<'PY'
import json, sys
src, t = sys.argv[1], sys.argv[2]
with open(src) as f, open(t + "/warm.jsonl", "w") as w:
    for line in f:
        ts = json.loads(line)["ts"]
        if "2026-11-20T02:00:00Z" <= ts < "2026-11-20T05:00:00Z":
            w.write(line)
PY
"$W" eval -q examples/rules "$T/warm.jsonl" > "$T/warm.hits"
python3 - "$T" <<'PY' || fail "replay's window hits differ from eval's (with warm-up) over the same events"
import json, sys
t = sys.argv[1]
want = [l.replace('"run_id":"live"', '"run_id":"win"') for l in open(t + "/warm.hits")
        if "2026-11-20T03:00:00Z" <= json.loads(l)["event_ts"] < "2026-11-20T05:00:00Z"]
got = open(t + "/win.hits").readlines()
assert want == got, (len(want), len(got))
assert len(got) > 50, len(got)
PY
counts=$(python3 -c "
import json,sys
b=a=w=i=0
for l in open('$S'):
    ts=json.loads(l)['ts']
    if ts < '2026-11-20T02:00:00Z': b+=1
    elif ts < '2026-11-20T03:00:00Z': w+=1
    elif ts < '2026-11-20T05:00:00Z': i+=1
    else: a+=1
print(b,w,i,a)")
[ "$(jget "$T/win.json" "'%d %d %d %d' % (r['events']['before_window'], r['events']['warmup'], r['events']['in_window'], r['events']['after_window'])")" = "$counts" ] \
  || fail "window counts $(jget "$T/win.json" "r['events']") want before/warmup/in/after $counts"
ok "window [03:00, 05:00) with 1h warm-up: $(wc -l < "$T/win.hits") hits = eval's over [02:00, 05:00) in the window; before/warm-up/in/after $counts"

# ---- bounds: events before from - warmup and after to are never evaluated --
mkdir -p "$T/cnt"
cat > "$T/cnt/counters.lua" <<'LUA'
return { { name = "n_by_user", stream = "s", key = "user", windows = { "1d" } } }
LUA
cat > "$T/cnt/seen.lua" <<'LUA'
return { name = "seen", version = 1, streams = { "s" }, mode = "shadow", fields = { "user" },
  evaluate = function(ev, ctx)
    return ctx.flag{ entity = ev.user, reason = "n=" .. ctx.count("n_by_user", ev.user, "1d") }
  end }
LUA
for h in 01 02 03 04 05 06; do
  echo "{\"type\":\"s\",\"id\":\"h$h\",\"ts\":\"2026-11-20T$h:00:00Z\",\"user\":\"u\"}"
done > "$T/cnt.jsonl"
"$W" replay -q --input "$T/cnt.jsonl" --rules "$T/cnt" --from 2026-11-20T03:00:00Z \
  --to 2026-11-20T05:00:00Z --warmup 1h --json "$T/cnt.json" --store "jsonl:$T/cnt.hits"
got=$(python3 -c "import json; print(' '.join(json.loads(l)['event_id']+':'+json.loads(l)['reason'] for l in open('$T/cnt.hits')))")
[ "$got" = "h03:n=2 h04:n=3" ] || fail "bounded counts: got '$got', want 'h03:n=2 h04:n=3' (01:00 before the warm-up, 05:00 and later after the window)"
[ "$(jget "$T/cnt.json" "r['rules'][0]['candidate']['hits']")" = 2 ] || fail "hits outside the window were counted"
"$W" replay -q --input "$T/cnt.jsonl" --rules "$T/cnt" --from 2026-11-20T03:00:00Z \
  --to 2026-11-20T05:00:00Z --store "jsonl:$T/cnt2.hits" --json /dev/null
# the default warm-up is the pack's longest counter window (1d): everything before counts
got=$(python3 -c "import json; print(' '.join(json.loads(l)['reason'] for l in open('$T/cnt2.hits')))")
[ "$got" = "n=3 n=4" ] || fail "default warm-up: got '$got', want 'n=3 n=4'"
ok "bounds: before from - warmup and after to never evaluated; default warm-up = longest window"

# ---- empty window --------------------------------------------------------
"$W" replay -q --input "$S" --rules examples/rules --baseline examples/rules --from -1h \
  --json "$T/empty.json" --report "$T/empty.md"
[ "$(jget "$T/empty.json" "(r['events']['in_window'], r['events']['before_window'], r['candidate']['hits'])")" = "(0, 12000, 0)" ] \
  || fail "empty window: $(jget "$T/empty.json" "r['events']")"
ok "empty window (--from -1h on last month's events): an empty report, exit 0"

# ---- a known threshold and verdict change --------------------------------
mkdir -p "$T/base" "$T/cand"
rule() {  # dir name threshold-expression verdict
  cat > "$1/$2.lua" <<LUA
return { name = "$2", version = 1, streams = { "pay" }, mode = "enforce", fields = { "user", "amount" },
  evaluate = function(ev, ctx)
    local a = ev.amount
    if $3 then return ctx.$4{ entity = ev.user, reason = "amount" } end
  end,
  tests = { { name = "small passes", events = { { type = "pay", user = "x", amount = 1 } }, expect = {} } } }
LUA
}
rule "$T/base" r "a > 10" flag
rule "$T/base" v "a > 10" flag
rule "$T/cand" r "a > 5 and a < 15" flag
rule "$T/cand" v "a > 10" block
cat > "$T/cand/f.lua" <<'LUA'
return { name = "f", version = 1, streams = { "pay" }, mode = "shadow", fields = { "amt" },
  evaluate = function(ev, ctx) if ev.amt then return ctx.flag{ entity = "x" } end end }
LUA
n=0
for a in 3 7 12 20; do
  n=$((n+1))
  echo "{\"type\":\"pay\",\"id\":\"$(printf "\\x$(printf %x $((96+n)))")\",\"ts\":$((1000*n)),\"user\":\"u$n\",\"amount\":$a}"
done > "$T/pay.jsonl"
cat > "$T/truth.jsonl" <<'EOF2'
{"event_id":"a","label":"abusive"}
{"event_id":"c","label":"abusive"}
{"event_id":"d","label":"benign"}
{"entity":"u2","label":"abusive"}
EOF2
"$W" replay -q --input "$T/pay.jsonl" --rules "$T/cand" --baseline "$T/base" --truth "$T/truth.jsonl" \
  --json "$T/diff.json" --report "$T/diff.md"
# By hand: events a(3) b(7) c(12) d(20), users u1..u4.
# baseline r,v flag c,d; candidate r flags b,c, v blocks c,d.
rv() { jget "$T/diff.json" "[x for x in r['rules'] if x['rule']=='$1'][0]$2"; }
[ "$(jget "$T/diff.json" "[(x['added'],x['removed'],x['verdict_changed'],x['entities_affected'],x['decisions_changed'],x['unique_hits']) for x in r['rules'] if x['rule']=='r'][0]")" = "(1, 1, 0, 2, 2, 1)" ] \
  || fail "rule r diff: $(rv r "")"
[ "$(jget "$T/diff.json" "[(x['added'],x['removed'],x['verdict_changed'],x['entities_affected'],x['decisions_changed'],x['unique_hits']) for x in r['rules'] if x['rule']=='v'][0]")" = "(0, 0, 2, 2, 2, 1)" ] \
  || fail "rule v diff: $(rv v "")"
[ "$(jget "$T/diff.json" "sorted((s['event_id'],s['candidate'],s['baseline']) for x in r['rules'] if x['rule']=='r' for s in x['samples'])")" = "[('b', 'flag', None), ('d', None, 'flag')]" ] \
  || fail "rule r samples: $(rv r "['samples']")"
[ "$(jget "$T/diff.json" "[s['source'] for x in r['rules'] if x['rule']=='r' for s in x['samples']][0]")" = "$T/pay.jsonl:2" ] \
  || fail "sample source is not file:line"
[ "$(jget "$T/diff.json" "tuple(r['decisions'][k] for k in ('candidate','baseline','changed','added','removed','verdict_changed'))")" = "(3, 2, 3, 1, 0, 2)" ] \
  || fail "decisions: $(jget "$T/diff.json" "r['decisions']")"
[ "$(jget "$T/diff.json" "[(o['a'],o['b'],o['both'],o['either'],o['jaccard']) for o in r['overlap']]")" = "[('r', 'v', 1, 3, 0.3333)]" ] \
  || fail "overlap: $(jget "$T/diff.json" "r['overlap']")"
[ "$(jget "$T/diff.json" "[x['baseline'] for x in r['rules'] if x['rule']=='f'][0]")" = None ] || fail "a new rule shows a baseline"
ok "threshold change: r +1/-1 hits, v 2 verdict changes, 3 decisions changed (1 new, 2 verdicts), Jaccard(r,v) = 1/3"

# Precision/recall by hand.  Abusive: events a, c (seen) + entity u2 = 3.
# cand r hits b(u2: abusive entity), c(abusive): tp 2 fp 0 fn 1
# cand v hits c, d(benign): tp 1 fp 1 fn 2;   cand pack: b c d: tp 2 fp 1 fn 1
# base r = base v = base pack hit c, d: tp 1 fp 1 fn 2
pr() { jget "$T/diff.json" "(lambda p: (p['tp'],p['fp'],p['fn'],p['precision'],p['recall']))(r['truth']$1)"; }
[ "$(pr "['candidate']['rules']['r']")" = "(2, 0, 1, 1.0, 0.6667)" ] || fail "truth cand r: $(pr "['candidate']['rules']['r']")"
[ "$(pr "['candidate']['rules']['v']")" = "(1, 1, 2, 0.5, 0.3333)" ] || fail "truth cand v: $(pr "['candidate']['rules']['v']")"
[ "$(pr "['candidate']['pack']")" = "(2, 1, 1, 0.6667, 0.6667)" ] || fail "truth cand pack: $(pr "['candidate']['pack']")"
[ "$(pr "['baseline']['rules']['r']")" = "(1, 1, 2, 0.5, 0.3333)" ] || fail "truth base r: $(pr "['baseline']['rules']['r']")"
[ "$(pr "['baseline']['pack']")" = "(1, 1, 2, 0.5, 0.3333)" ] || fail "truth base pack: $(pr "['baseline']['pack']")"
grep -q '^## Ground truth' "$T/diff.md" || fail "Markdown report has no ground truth section"
ok "ground truth: precision/recall per rule and pack, candidate vs baseline, as computed by hand"

# ---- field check: a renamed field, a changed type --------------------------
[ "$(jget "$T/diff.json" "[x['flag'] for x in r['fields'] if x['rule']=='f'][0]")" = "absent from every event of the rule's streams" ] \
  || fail "renamed field not flagged: $(jget "$T/diff.json" "r['fields']")"
[ "$(jget "$T/diff.json" "[x['flag'] for x in r['fields'] if x['rule']!='f']")" = "[None, None, None, None]" ] \
  || fail "fields flagged that are fine: $(jget "$T/diff.json" "r['fields']")"
grep -q '| f | pay | amt | 0 | absent' "$T/diff.md" || fail "Markdown field check lacks the renamed field"
echo '{"type":"pay","id":"e","ts":5000,"user":"u5","amount":"12"}' >> "$T/pay.jsonl"
"$W" replay -q --input "$T/pay.jsonl" --rules "$T/cand" --json "$T/types.json" --report /dev/null
[ "$(jget "$T/types.json" "[(x['types'],x['flag']) for x in r['fields'] if x['rule']=='r' and x['field']=='amount'][0]")" = "({'number': 4, 'string': 1}, \"type string never used by the rule's tests\")" ] \
  || fail "changed type not flagged: $(jget "$T/types.json" "r['fields']")"
[ "$(jget "$T/types.json" "[x['candidate']['errors'] for x in r['rules'] if x['rule']=='r'][0]")" = 1 ] \
  || fail "the rule error on the string amount was not counted"
ok "field check: renamed field absent, a string where the tests have numbers, rule errors counted"

# ---- Ctrl-C: a clean stop with a partial report -----------------------------
for i in $(seq 1 30); do cat "$S"; done > "$T/big.jsonl"
"$W" replay -q --input "$T/big.jsonl" --rules examples/rules --baseline examples/rules \
  --json "$T/part.json" --store "jsonl:$T/part.hits" & pid=$!
sleep 1.5
kill -INT $pid
set +e; wait $pid; rc=$?; set -e
[ "$rc" = 5 ] || fail "SIGINT: exit $rc, want 5"
[ "$(jget "$T/part.json" "r['partial']")" = True ] || fail "the report after SIGINT is not marked partial"
n=$(jget "$T/part.json" "r['events']['read']")
[ "$n" -gt 0 ] && [ "$n" -lt 360000 ] || fail "partial report read $n events"
[ "$(wc -l < "$T/part.hits")" = "$(jget "$T/part.json" "r['candidate']['hits']")" ] || fail "partial: stored hits != reported hits"
ok "SIGINT: exit 5, partial report after $n of 360000 events, its hits stored"

# ---- usage -----------------------------------------------------------------
set +e
"$W" replay --input "$S" >/dev/null 2>&1; rc1=$?
"$W" replay --input "$S" --rules examples/rules --store "jsonl:$T/x" --run-id live >/dev/null 2>&1; rc2=$?
"$W" replay --input "$S" --rules examples/rules --from yesterday >/dev/null 2>&1; rc3=$?
"$W" replay --input "$S" --rules "$T/nope" >/dev/null 2>&1; rc4=$?
set -e
[ "$rc1$rc2$rc3$rc4" = 2221 ] || fail "usage exits: no --rules $rc1, run-id live $rc2, bad time $rc3, bad pack $rc4 (want 2 2 2 1)"
ok "usage: --rules needed, never run_id live, bad times refused, a broken pack exits 1"

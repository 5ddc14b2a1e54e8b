#!/bin/bash
# warden eval end to end: its options, exit statuses and bad-input handling,
# on the example pack and small packs made here.
set -eu
W=${WARDEN:-build/warden}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }
S=examples/events/sample.jsonl
X=examples/expected/sample.hits.jsonl

# --out writes the hits there, nothing on stdout.
"$W" eval -q --out "$T/hits.jsonl" examples/rules "$S" >"$T/stdout"
cmp -s "$T/hits.jsonl" "$X" || fail "--out differs from the expected hits"
[ ! -s "$T/stdout" ] || fail "--out still wrote to stdout"
ok "--out FILE"

# The checking view (--check-fields) gives the same answer as the table view.
"$W" eval -q --check-fields --strict examples/rules "$S" | cmp -s - "$X" \
  || fail "--check-fields output differs from the table view's"
ok "--check-fields: both event views agree on the sample"

# --actions: one line per (event, entity) with an enforce-mode hit, format
# v2: "schema":2, the entity's type, each rule with version, sha256, reason,
# score.  The example pack's enforce rules all name a user, so here there is
# one action per event with a decision, as many as --actions-format v1 gives.
"$W" eval -q --actions "$T/actions.jsonl" examples/rules "$S" >/dev/null
"$W" eval -q --actions-format v1 --actions "$T/actions_v1.jsonl" examples/rules "$S" >/dev/null
n=$(wc -l <"$T/actions.jsonl")
[ "$n" -gt 100 ] || fail "--actions wrote $n lines"
[ "$(wc -l <"$T/actions_v1.jsonl")" = "$n" ] || fail "v1 and v2 disagree on the sample's action count"
python3 - "$T/actions.jsonl" "$T/actions_v1.jsonl" <<'PY' || fail "--actions v2/v1 lines are not the documented format"
import json, sys
v2 = [json.loads(l) for l in open(sys.argv[1])]
v1 = [json.loads(l) for l in open(sys.argv[2])]
for a, b in zip(v2, v1):
    assert a["schema"] == 2 and a["entity_type"] == "user", a
    assert list(a) == ["schema", "event_id", "stream", "entity", "entity_type", "verdict", "ttl",
                       "rules", "event_ts", "run_id"], list(a)
    for r in a["rules"]:
        assert list(r) == ["rule", "version", "sha256", "verdict", "reason", "score", "ttl"], r
        assert len(r["sha256"]) == 64
    assert "schema" not in b and list(b) == ["event_id", "stream", "entity", "verdict", "rules",
                                             "ttl", "event_ts", "run_id"], list(b)
    assert (a["event_id"], a["entity"], a["verdict"]) == (b["event_id"], b["entity"], b["verdict"])
    assert [r["rule"] for r in a["rules"]] == b["rules"]
PY
ok "--actions ($n actions, v2; --actions-format v1 gives the old lines)"

# One login, an IP-block rule and a user-review rule: two actions, one per
# entity with its own verdict and rules; v1 gives the old single action (the
# IP, both rules).  An entity_type that is not a short identifier is a rule
# error naming the rule.
mkdir -p "$T/two"
cat >"$T/two/ip_block.lua" <<'LUA'
return { name = "t.ip_block", version = 3, streams = { "login" }, mode = "enforce",
  fields = { "ip" },
  evaluate = function(ev, ctx)
    return ctx.block{ entity = ev.ip, entity_type = "ip", reason = "bad ip", score = 0.9, ttl = "1h" }
  end }
LUA
cat >"$T/two/user_review.lua" <<'LUA'
return { name = "t.user_review", version = 1, streams = { "login" }, mode = "enforce",
  fields = { "user" },
  evaluate = function(ev, ctx)
    return ctx.review{ entity = ev.user, entity_type = "user", reason = "odd login" }
  end }
LUA
ev='{"id":"L1","type":"login","ts":"2026-11-20T10:00:00Z","ip":"1.2.3.4","user":"u7"}'
"$W" eval -q --actions "$T/two.v2" "$T/two" - <<<"$ev" >"$T/two.hits"
"$W" eval -q --actions-format v1 --actions "$T/two.v1" "$T/two" - <<<"$ev" >/dev/null
python3 - "$T/two.v2" "$T/two.v1" "$T/two.hits" <<'PY' || fail "IP + user on one login"
import json, sys
v2 = [json.loads(l) for l in open(sys.argv[1])]
v1 = [json.loads(l) for l in open(sys.argv[2])]
hits = [json.loads(l) for l in open(sys.argv[3])]
assert [(a["entity_type"], a["entity"], a["verdict"], a["ttl"], [r["rule"] for r in a["rules"]])
        for a in v2] == [("ip", "1.2.3.4", "block", "1h", ["t.ip_block"]),
                         ("user", "u7", "review", None, ["t.user_review"])], v2
assert v2[0]["rules"][0]["version"] == 3 and v2[0]["rules"][0]["reason"] == "bad ip"
assert v2[0]["rules"][0]["score"] == 0.9 and v2[1]["rules"][0]["score"] is None
assert [(a["entity"], a["verdict"], a["rules"]) for a in v1] == \
    [("1.2.3.4", "block", ["t.ip_block", "t.user_review"])], v1
assert [(h["rule"], h["entity_type"]) for h in hits] == [("t.ip_block", "ip"), ("t.user_review", "user")]
PY
sed -i 's/entity_type = "user"/entity_type = "User Id"/' "$T/two/user_review.lua"
"$W" eval -q "$T/two" - <<<"$ev" >"$T/two.bad" 2>"$T/two.err" || true
grep -q "t.user_review failed on event L1: .*'entity_type' must be a short lower-case identifier" "$T/two.err" \
  || { cat "$T/two.err"; fail "a bad entity_type is not a rule error naming the rule"; }
rc=0; "$W" eval -q --actions-format v3 "$T/two" - </dev/null 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "--actions-format v3: exit $rc, want 2"
ok "IP block + user review on one login: two typed actions (v2), one (v1); bad entity_type is a rule error"

# An actions or rejects file that cannot be written is a failure, not a
# silent loss: exit 1 naming the file.
for opt in --actions --rejects; do
    rc=0; "$W" eval -q $opt /dev/full examples/rules "$S" - >/dev/null 2>"$T/full.err" <<<'not json' || rc=$?
    [ "$rc" = 1 ] && grep -q "/dev/full: write error" "$T/full.err" || { cat "$T/full.err"; fail "$opt /dev/full: exit $rc, want 1"; }
done
ok "--actions/--rejects write errors exit 1"

# Bad lines: file:line: reason on stderr, kept verbatim in --rejects, the run goes on.
{ head -3 "$S"; echo '{"type":"pin_create",'; echo 'not json'; echo '{"id":"x","ts":1}'; tail -2 "$S"; } >"$T/mixed.jsonl"
"$W" eval --rejects "$T/rej.jsonl" examples/rules "$T/mixed.jsonl" >"$T/h" 2>"$T/err"; rc=$?
[ "$rc" = 0 ] || fail "rejects without --strict exited $rc"
grep -q "^$T/mixed.jsonl:4: invalid JSON" "$T/err" || fail "no file:line for the truncated line: $(cat "$T/err")"
grep -q "^$T/mixed.jsonl:5: invalid JSON" "$T/err" || fail "no file:line for the non-JSON line"
grep -q "^$T/mixed.jsonl:6: missing or non-string stream field 'type'" "$T/err" || fail "no reason for the stream-less line"
[ "$(wc -l <"$T/rej.jsonl")" = 3 ] || fail "rejects file has $(wc -l <"$T/rej.jsonl") lines, want 3"
sed -n 2p "$T/rej.jsonl" | grep -qx 'not json' || fail "rejects are not verbatim"
grep -q "5 evaluated, 0 unrouted, 3 rejected" "$T/err" || fail "summary does not count the rejects: $(grep 'warden eval:' "$T/err")"
ok "malformed lines: file:line: reason, counted, kept in --rejects"

# --strict: exit 3 on rejects (and on rule errors).
set +e
"$W" eval -q --strict examples/rules "$T/mixed.jsonl" >/dev/null 2>&1; rc=$?
set -e
[ "$rc" = 3 ] || fail "--strict with rejects exited $rc, want 3"
mkdir -p "$T/p1"
cat >"$T/p1/r.lua" <<'LUA'
return { name = "r", version = 1, streams = { "s" }, mode = "enforce", fields = { "n" },
  evaluate = function(ev, ctx) if ev.n == 2 then error("bad event") end
    return ctx.flag{ entity = "e" .. ev.n } end }
LUA
printf '%s\n' '{"type":"s","id":"a","ts":1,"n":1}' '{"type":"s","id":"b","ts":2,"n":2}' '{"type":"s","id":"c","ts":3,"n":3}' >"$T/p1.jsonl"
set +e
"$W" eval -q --strict "$T/p1" "$T/p1.jsonl" >"$T/p1.out" 2>"$T/p1.err"; rc=$?
set -e
[ "$rc" = 3 ] || fail "--strict with a rule error exited $rc, want 3"
grep -q "rule r failed on event b: $T/p1/r.lua:2: bad event" "$T/p1.err" || fail "rule error lacks rule/event/file:line: $(cat "$T/p1.err")"
[ "$(wc -l <"$T/p1.out")" = 2 ] || fail "the rule error stopped the run"
ok "--strict: exit 3 on rejects and on rule errors; the run goes on"

# Custom stream/id/ts fields, epoch ms and RFC 3339 with offsets, stdin.
printf '%s\n' '{"kind":"s","eid":"k1","at":"2026-11-20T10:00:00+01:00","n":1}' '{"kind":"s","eid":"k2","at":1763632800000,"n":3}' \
  | "$W" eval -q --stream-field kind --id-field eid --ts-field at "$T/p1" - >"$T/cf.out"
grep -q '"event_id":"k1".*"event_ts":"2026-11-20T09:00:00Z"' "$T/cf.out" || fail "custom fields / offset time: $(cat "$T/cf.out")"
grep -q '"event_id":"k2".*"event_ts":"2025-11-20T10:00:00Z"' "$T/cf.out" || fail "custom fields / epoch ms: $(cat "$T/cf.out")"
ok "--stream-field, --id-field, --ts-field; RFC 3339 offsets and epoch ms; stdin"

# Exit 1: the pack does not load (with file:line); exit 2: usage.
mkdir -p "$T/bad"; printf 'return { name = "x" \n' >"$T/bad/x.lua"
set +e
"$W" eval "$T/bad" "$S" >/dev/null 2>"$T/bad.err"; rc=$?
[ "$rc" = 1 ] || fail "broken pack exited $rc, want 1"
grep -q "$T/bad/x.lua:[0-9]*:" "$T/bad.err" || fail "broken pack message lacks file:line"
"$W" eval >/dev/null 2>&1; rc=$?; [ "$rc" = 2 ] || fail "no arguments exited $rc, want 2"
"$W" eval --bogus examples/rules "$S" >/dev/null 2>&1; rc=$?; [ "$rc" = 2 ] || fail "unknown option exited $rc, want 2"
"$W" eval -q examples/rules "$T/missing.jsonl" >/dev/null 2>&1; rc=$?; [ "$rc" = 2 ] || fail "missing input exited $rc, want 2"
"$W" eval -q --store "bogus://x" examples/rules "$S" >/dev/null 2>&1; rc=$?; [ "$rc" = 1 ] || fail "unusable store exited $rc, want 1"
set -e
ok "exit 1 for a broken pack (file:line) or sink, 2 for usage"

# State snapshots: two halves with --state-out/--state-in equal one run.
head -6000 "$S" >"$T/a.jsonl"; tail -n +6001 "$S" >"$T/b.jsonl"
"$W" eval -q --state-out "$T/st" examples/rules "$T/a.jsonl" >"$T/halves"
"$W" eval -q --state-in "$T/st" examples/rules "$T/b.jsonl" >>"$T/halves"
cmp -s "$T/halves" "$X" || fail "split run with a snapshot differs from one run"
printf 'X' | dd of="$T/st" bs=1 seek=100 conv=notrunc 2>/dev/null
set +e
"$W" eval -q --state-in "$T/st" examples/rules "$T/b.jsonl" >/dev/null 2>"$T/st.err"; rc=$?
set -e
[ "$rc" = 1 ] || fail "corrupt snapshot exited $rc, want 1"
grep -q "checksum" "$T/st.err" || fail "corrupt snapshot message: $(cat "$T/st.err")"
ok "--state-out/--state-in continue exactly; a corrupt snapshot is refused"

# --state-max-mb: a tiny ceiling evicts least recently used keys, and says so.
"${BUILD:-build}/examples/gen_events" --seed 3 --count 30000 --out "$T/big.jsonl"
"$W" eval --state-max-mb 1 examples/rules "$T/big.jsonl" >/dev/null 2>"$T/mm.err"
grep -Eq "[1-9][0-9]* evicted" "$T/mm.err" || fail "no evictions reported under --state-max-mb 1: $(grep state: "$T/mm.err")"
ok "--state-max-mb: $(grep -o '[0-9]* evicted' "$T/mm.err")"

# --store never defaults to the live run id (a test run must not overwrite
# the live service's rows); JSONL on stdout keeps "live", the contract's example.
"$W" eval -q --store "jsonl:$T/st.jsonl" examples/rules "$S"
ids=$(python3 -c "import json; print(' '.join(sorted({json.loads(l)['run_id'] for l in open('$T/st.jsonl')})))")
case "$ids" in eval-*) ;; *) fail "eval --store wrote run_id '$ids', want eval-<time>-<pid>" ;; esac
[ "$ids" != live ] && [ "$(echo "$ids" | wc -w)" = 1 ] || fail "eval --store run ids: $ids"
"$W" eval -q --store "jsonl:$T/st2.jsonl" --run-id mine examples/rules "$S"
grep -q '"run_id":"mine"' "$T/st2.jsonl" || fail "--run-id is not used with --store"
ok "eval --store defaults to run_id $ids, not live"

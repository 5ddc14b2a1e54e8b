#!/bin/bash
# `make demo` in short (tools/demo.sh, DEMO_SECONDS=10): it starts its own
# broker and MariaDB, so it runs with the server scripts (kafka_db_*) but
# uses neither of the suite's.  Checks what the demo leaves in DEMO_DIR, not
# its prose: every streamed event evaluated once by the two run processes,
# actions on the actions topic, hits per rule in MariaDB, a replay report
# whose candidate (one threshold changed) differs from the baseline, the
# runaway rule moved to shadow by the breaker per /rules, and every metric
# family /metrics exposes documented in docs/operations.md.
set -eu
WARDEN=${WARDEN:-$PWD/build/warden}
D=$(mktemp -d "${TMPDIR:-/tmp}/warden-demo-test.XXXXXX")
trap 'rm -rf "$D"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

SECS=10 RATE=600
DEMO_SECONDS=$SECS DEMO_RATE=$RATE DEMO_DIR="$D" WARDEN="$WARDEN" tools/demo.sh >"$D/demo.out" 2>&1 \
    || { tail -30 "$D/demo.out"; fail "tools/demo.sh exited non-zero"; }

py() { python3 - "$D" "$@"; }
# Every event of the main part was evaluated exactly once across the group.
py $((SECS * RATE * 5 / 6)) <<'PY' || fail "events evaluated by the group"
import json, sys
d, want = sys.argv[1], int(sys.argv[2])
# the final stats of each run process (written at exit)
a, b = (json.load(open(f"{d}/run-{x}.json")) for x in "ab")
assert a["final"] and b["final"], "a run process did not exit cleanly"
got = a["events"] + b["events"]
late = sum(1 for _ in open(f"{d}/late.jsonl"))
assert got == want + late, (got, want, late)
assert a["events"] > 0 and b["events"] > 0, ("both processes get partitions", a["events"], b["events"])
PY
n=$(wc -l <"$D/actions.jsonl")
[ "$n" -gt 0 ] || fail "no actions on the actions topic"
py <<'PY' || fail "actions are not decisions"
import json, sys
for line in open(sys.argv[1] + "/actions.jsonl"):
    a = json.loads(line)
    assert a["verdict"] in ("block", "review", "flag") and a["entity"] != "" and a["rules"], a
PY
[ "$(tail -n +2 "$D/hits_by_rule.tsv" | wc -l)" -gt 1 ] || { cat "$D/hits_by_rule.tsv"; fail "MariaDB holds hits of fewer than two rules"; }
py <<'PY' || fail "the replay report shows no difference for spam.link_burst"
import json, sys
r = json.load(open(sys.argv[1] + "/report.json"))
assert not r["partial"]
lb = [x for x in r["rules"] if x["rule"] == "spam.link_burst"][0]
assert lb["added"] > 0 and lb["removed"] == 0, lb
assert lb["candidate"]["hits"] > lb["baseline"]["hits"], lb
PY
py <<'PY' || fail "the breaker did not move demo.runaway to shadow (per /rules)"
import json, sys
modes = []
for x in "ab":
    for r in json.load(open(f"{sys.argv[1]}/rules-{x}.json"))["rules"]:
        if r["name"] == "demo.runaway":
            modes.append((r["mode"], r["mode_source"]))
assert ("shadow", "breaker") in modes, modes
PY
py <<'PY' || fail "the explained block does not show its block verdict"
import json, sys
j = json.load(open(sys.argv[1] + "/explain.json"))
got = [r for r in j["rules"] if (r.get("result") or {}).get("verdict") == "block"]
assert got, [(r["rule"], r.get("result")) for r in j["rules"]]
PY
# Every metric family of /metrics is in the metrics reference.
missing=""
for m in $(grep -h '^# TYPE ' "$D/metrics-a.txt" "$D/metrics-b.txt" | awk '{print $3}' | sort -u); do
    grep -q -- "\`$m\`" docs/operations.md || missing="$missing $m"
done
[ -z "$missing" ] || fail "metrics missing from docs/operations.md:$missing"
echo "demo: $n actions, $(tail -n +2 "$D/hits_by_rule.tsv" | wc -l) rule/verdict rows, breaker tripped, replay diff non-empty"

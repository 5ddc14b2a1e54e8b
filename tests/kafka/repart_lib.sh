# tests/kafka/repart_lib.sh — helpers for the repartitioned-path tests
# (sourced after tests/kafka/lib.sh).
#
#   rp_produce FILE KEYFIELD   events of FILE to $RAW keyed by KEYFIELD (dotted
#                              path) with librdkafka's partitioner, in event-time
#                              order (stable): each partition in event-time order,
#                              as the repartitioned path requires (docs/state.md)
#   rp_eval_order OUT          $RAW read back and sorted by (event time,
#                              partition, offset): the order warden eval is
#                              given, the one the repartitioned path follows
#   rp_drained LOG SECS        until the last hop's stats stop moving with
#                              every event evaluated (events >= $N)
#   rp_expect                  the test pack's $N generated events to $RAW keyed
#                              by user id, and warden eval of them in that order:
#                              $KT/eval_actions.jsonl, $KT/eval_hits.jsonl, want
#                              (the action count)
#   rp_pack_hits               fails unless eval gives each of the pack's rules
#                              that read counters of other keys or labels a hit
#   rp_same_as_eval WHAT HITS… the actions topic and the hits files (deduplicated)
#                              equal warden eval's; WHAT ends the actions message

rp_produce() {
    python3 -c '
import json, sys
from datetime import datetime
path = sys.argv[2].split(".")
def ms(ts):
    return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000) if isinstance(ts, str) else int(ts)
lines = sorted(open(sys.argv[1]), key=lambda l: ms(json.loads(l)["ts"]))
for line in lines:
    ev = json.loads(line)
    v = ev
    for p in path:
        v = v.get(p) if isinstance(v, dict) else None
    print(("none" if v is None else str(v)) + "\t" + line.rstrip("\n"))
' "$1" "$2" >"$KT/keyed.txt"
    timeout 120 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -K $'\t' -l "$KT/keyed.txt"
}

rp_eval_order() {
    timeout 60 kcat -b "$KAFKA_BOOTSTRAP" -C -t "$RAW" -e -q -f '%p\t%o\t%s\n' >"$KT/readback.txt"
    python3 -c '
import json, sys
from datetime import datetime
rows = []
for line in open(sys.argv[1]):
    p, o, s = line.rstrip("\n").split("\t", 2)
    ts = json.loads(s)["ts"]
    t = int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000) if isinstance(ts, str) else int(ts)
    rows.append((t, int(p), int(o), s))
rows.sort()
with open(sys.argv[2], "w") as f:
    for r in rows:
        f.write(r[3] + "\n")
' "$KT/readback.txt" "$1"
}

rp_drained() {
    local log=$1 secs=$2 prev=-1 i v
    for i in $(seq 1 $((secs * 2))); do
        v=$(kt_stat "$log" events)
        if [ -n "$v" ] && [ "$v" -ge "$N" ] && [ "$v" = "$prev" ]; then return 0; fi
        prev=${v:--1}
        sleep 0.5
    done
    tail -20 "$log" >&2
    kt_fail "$log: events ${v:-absent}, want $N and stable (after ${secs}s)"
}

rp_expect() {
    python3 tests/integration/repart/gen.py "$N" >"$KT/events.jsonl"
    rp_produce "$KT/events.jsonl" user.id
    rp_eval_order "$KT/ordered.jsonl"
    "$WARDEN" eval -q --actions "$KT/eval_actions.jsonl" "$PACK" "$KT/ordered.jsonl" >"$KT/eval_hits.jsonl"
    want=$(wc -l <"$KT/eval_actions.jsonl")
}

rp_pack_hits() {
    local r
    for r in t.multi_key_login t.reported t.pay_after_label; do
        grep -q "\"rule\":\"$r\"" "$KT/eval_hits.jsonl" || kt_fail "eval gives $r no hit: the pack tests nothing"
    done
}

rp_same_as_eval() {
    local what=$1; shift
    kt_read "actions.$KID" | sort >"$KT/a.sorted"
    sort "$KT/eval_actions.jsonl" | diff - "$KT/a.sorted" >"$KT/actions.diff" || {
        head "$KT/actions.diff"; kt_fail "actions differ from warden eval$what"; }
    sort -u "$@" >"$KT/r.sorted"
    sort "$KT/eval_hits.jsonl" | diff - "$KT/r.sorted" >"$KT/hits.diff" || { head "$KT/hits.diff"; kt_fail "hits differ from warden eval"; }
}

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
#   rp_split_start BATCH_MAX   $KT/split.lua (split of $RAW into $PREFIX.STREAM
#                              for $PACK, batches of BATCH_MAX, run.repartition
#                              on) and two split processes, sa and sb ($SA, $SB)
#   rp_split_complete LOG      a split process's stats (LOG) name the stream
#                              topics ($topics); waits until they hold every
#                              event of the pack's streams in $KT/events.jsonl,
#                              then fails unless exactly that many ($n)
#   rp_crash_run TOPICS INST   warden run over TOPICS (a Lua list) with 2
#                              processes (instances INSTa, INSTb), b killed -9
#                              mid-stream and restarted, then INSTc added;
#                              until the actions topic holds $want, then stops
#                              all and fails on a late record; hits files
#                              $KT/{a,b,b2,c}.hits.jsonl

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

rp_split_start() {
    kt_config "$KT/split.lua" "
  streams = { topics = { '$RAW' }, prefix = '$PREFIX' },
  rules = '$PACK',
  split = { group = 'split.$KID', dlq_topic = 'sdlq.$KID', batch_max = $1, batch_ms = 100 },
  run = { repartition = 'on' },"
    kt_warden "$KT/sa.log" split -c "$KT/split.lua" --instance sa; SA=$KT_PID
    kt_warden "$KT/sb.log" split -c "$KT/split.lua" --instance sb; SB=$KT_PID
}

rp_split_complete() {
    local log=$1 expect i t
    kt_wait_stat "$log" events 0 60   # its stats name the stream topics
    topics=$(python3 -c 'import json, sys
print("\n".join(sorted(s["topic"] for s in json.load(open(sys.argv[1]))["streams"].values())))' "$(kt_stats_file "$log")")
    # every event of a stream the pack uses, once
    expect=$(python3 -c 'import json, sys
names = set(json.load(open(sys.argv[1]))["streams"])
print(sum(1 for l in open(sys.argv[2]) if json.loads(l)["type"] in names))' "$(kt_stats_file "$log")" "$KT/events.jsonl")
    for i in $(seq 1 240); do
        n=0; for t in $topics; do n=$((n + $(kt_count "$t"))); done
        [ "$n" -ge "$expect" ] && break
        sleep 0.5
    done
    sleep 3   # a duplicate would show now
    n=0; for t in $topics; do n=$((n + $(kt_count "$t"))); done
    [ "$n" = "$expect" ] || kt_fail "the split topics hold $n records, want $expect"
}

rp_crash_run() {
    local list=$1 inst=$2 i p A B C
    for i in a b b2 c; do
        kt_config "$KT/$i.lua" "
  streams = { topics = { $list } },
  rules = '$PACK',
  store = 'jsonl:$i.hits.jsonl',   -- the jsonl sink starts its file afresh: one per process
  run = { group = 'g.$KID', actions_topic = 'actions.$KID', dlq_topic = 'dlq.$KID',
          batch_max = 200, batch_ms = 100 },"
    done
    kt_warden "$KT/a.log" run -c "$KT/a.lua" --instance "${inst}a"; A=$KT_PID
    kt_warden "$KT/b.log" run -c "$KT/b.lua" --instance "${inst}b"; B=$KT_PID
    KT_PID=$A
    kt_wait_stat "$KT/b.log" events 100 180
    kill -KILL "$B"; wait "$B" 2>/dev/null || :
    echo "b killed -9 after $(kt_stat "$KT/b.log" events) events"
    sleep 1
    pgrep -f -- "-c $KT/b.lua " >/dev/null && kt_fail "b's hop processes outlived it"
    mv "$KT/b.json" "$KT/b1.json" 2>/dev/null || :
    kt_warden "$KT/b2.log" run -c "$KT/b2.lua" --instance "${inst}b"; B=$KT_PID
    KT_PID=$A
    kt_warden "$KT/c.log" run -c "$KT/c.lua" --instance "${inst}c"; C=$KT_PID
    KT_PID=$A
    kt_wait_stat "$KT/c.log" partitions 1 120
    kt_wait_count "actions.$KID" "$want" 300
    sleep 3   # a duplicate would show now
    for p in $A $B $C; do kt_stop "$p" || kt_fail "a run process exited non-zero on SIGTERM"; done
    for i in a b2 c; do
        [ "$(kt_stat "$KT/$i.log" late)" = 0 ] || kt_fail "$i handed records out late"
    done
}

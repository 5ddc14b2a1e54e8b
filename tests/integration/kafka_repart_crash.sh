#!/bin/bash
# The repartitioned path through failures: two processes over 4 partitions,
# one killed -9 mid-stream (its hop processes die with it) and restarted,
# then a third process added mid-stream (a rebalance of every hop).  The
# actions (read_committed) are exactly warden eval's — none lost, none
# twice — and the hits, rewritten by redone batches, are the same set.
set -eu
. tests/kafka/lib.sh
. tests/kafka/repart_lib.sh
export KT_REPARTITION=on
kt_init repart_crash
PACK=$PWD/tests/integration/repart/rules
RAW="raw.$KID"
N=12000
# Everything is on the input before the first process starts: a partition
# is caught up (idle) only once it is drained, so no event arrives behind an
# idle mark and the merged order is exact (docs/state.md, "Idle inputs").
rp_expect
rp_crash_run "'$RAW'" ""
rp_same_as_eval " after kill -9 and a rebalance" "$KT"/*.hits.jsonl
cin=0; for h in 0 1 2; do cin=$((cin + $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["consumed"])' "$KT/c.json.hop$h.json"))); done
echo "ok: kill -9, restart and an added process: $want actions exactly once, $(wc -l <"$KT/r.sorted") hits = warden eval (b evaluated $(kt_stat "$KT/b2.log" events) after its restart; c's hops consumed $cin records, its last hop evaluated $(kt_stat "$KT/c.log" events))"

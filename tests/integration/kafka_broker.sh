#!/bin/bash
# The private test broker (tests/kafka/broker.sh) works for what warden needs:
# kcat produce/consume and group consumption, then tests/kafka/test_broker
# (transactions + read_committed, offsets in transactions, offsets-for-times).
set -eu
: "${KAFKA_BOOTSTRAP:?run under tools/run_tests.sh or eval \$(tests/kafka/broker.sh env)}"
BUILD=${BUILD:-build}
t="it.broker.$$.$(date +%s)"
seq 1 20 | sed 's/^/k:v/' | timeout 20 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$t" -K: -p 0
n=$(timeout 20 kcat -b "$KAFKA_BOOTSTRAP" -C -t "$t" -e -q -f '%s\n' | wc -l)
[ "$n" = 20 ] || { echo "kcat consumed $n of 20"; exit 1; }
n=$(timeout 30 kcat -b "$KAFKA_BOOTSTRAP" -G "g.$t" "$t" -e -q -X auto.offset.reset=earliest -f '%s\n' | wc -l)
[ "$n" = 20 ] || { echo "group consumer saw $n of 20"; exit 1; }
KAFKA_BOOTSTRAP=$KAFKA_BOOTSTRAP timeout 120 "$BUILD/tests/kafka/test_broker"

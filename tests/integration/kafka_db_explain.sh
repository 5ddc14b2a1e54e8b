#!/bin/bash
# warden explain -c --event against the real broker and MariaDB: the sample
# spread over 4 partitions, `warden run` records its hits in MariaDB; for a
# stored hit in every partition, `warden explain --event topic/p/o --json`
# (the config's store, run id live) says reproduced=true, reads only that
# partition (run counts per partition), and its counter values are those
# of `warden explain --input` over that partition's events alone; an event
# without hits says no rule hit; an offset out of range, a partition that
# does not exist and a transaction marker are precise errors (exit 1).
set -eu
. tests/kafka/lib.sh
: "${WARDEN_DB_PORT:?start tests/db/mariadb.sh and eval its env first}"
kt_init explain
DB="warden_kx_$$"
URL="mysql://root@127.0.0.1:$WARDEN_DB_PORT/$DB"
M="mariadb --no-defaults -h127.0.0.1 -P$WARDEN_DB_PORT -uroot"
trap '$M -e "DROP DATABASE IF EXISTS $DB" 2>/dev/null; kt_cleanup' EXIT
jget() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1"; }

$M -e "CREATE DATABASE $DB"
"$WARDEN" migrate "$URL" --quiet
S=examples/events/sample.jsonl
RAW="raw.$KID"
for p in 0 1 2 3; do
  awk -v p=$p '(NR - 1) % 4 == p' "$S" > "$KT/p$p.jsonl"
  timeout 60 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -p $p -l "$KT/p$p.jsonl"
done
kt_config "$KT/warden.lua" "
  streams = { topics = { '$RAW' } },
  rules = '$PWD/examples/rules',
  store = '$URL',
  run = { group = 'g.$KID', actions_topic = 'actions.$KID', dlq_topic = 'dlq.$KID' },"
# What run will record: per partition, eval over that partition's events.
hits=0
for p in 0 1 2 3; do
  "$WARDEN" eval -q examples/rules "$KT/p$p.jsonl" > "$KT/e$p.hits"
  hits=$((hits + $(wc -l < "$KT/e$p.hits")))
done
kt_warden "$KT/run.log" run -c "$KT/warden.lua" --instance a
kt_wait_stat "$KT/run.log" events 12000 180
rows() { $M -N -e "SELECT COUNT(*) FROM $DB.rule_results WHERE run_id='live'"; }
for _ in $(seq 1 100); do [ "$(rows)" -ge "$hits" ] && break; sleep 0.2; done
kt_stop "$KT_PID" 60 || { tail -5 "$KT/run.log"; kt_fail "warden run exited non-zero"; }
[ "$(rows)" = "$hits" ] || kt_fail "warden run recorded $(rows) rows, eval per partition has $hits hits"

# A stored hit in every partition: the one latest in the partition (the
# longest history) of a rule that reads a counter.
n=0
for p in 0 1 2 3; do
  read -r off eid < <($M -N -e "SELECT kafka_offset, event_id FROM $DB.rule_results WHERE run_id = 'live'
      AND kafka_partition = $p AND rule IN ('spam.follow_burst', 'fraud.card_testing', 'unsafe.fanout',
      'spam.link_burst', 'ato.credential_stuffing', 'spam.report_brigade') ORDER BY kafka_offset DESC LIMIT 1")
  [ -n "${off:-}" ] || kt_fail "no counter rule hit stored for partition $p"
  "$WARDEN" explain -c "$KT/warden.lua" --event "$RAW/$p/$off" --json > "$KT/k$p.json" \
    || kt_fail "explain $RAW/$p/$off exited $?"
  "$WARDEN" explain --input "$KT/p$p.jsonl" --id "$eid" --rules examples/rules --json > "$KT/f$p.json" \
    || kt_fail "explain --input p$p.jsonl --id $eid exited $?"
  python3 - "$KT/k$p.json" "$KT/f$p.json" "$RAW" "$p" "$off" "$eid" <<'PY' || kt_fail "explain of $RAW/$p/$off ($eid)"
import json, sys
k, f = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
topic, p, off, eid = sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
assert k["event"]["event_id"] == eid and k["event"]["source"] == f"{topic}/{p}/{off}", k["event"]
assert k["reproduced"] is True, [(r["rule"], r["differences"]) for r in k["rules"] if not r["reproduced"]]
assert k["store"]["run_id"] == "live" and k["store"]["rows"] == k["hits"] >= 1, k["store"]
assert all(r["reproduced"] for r in k["rules"]) and k["recorded_elsewhere"] == []
# only this partition was read: the offsets before the target
assert k["history"]["input"]["kafka"] == [{"topic": topic, "partition": p, "start": 0, "end": off}], k["history"]
assert k["history"]["input"]["past_retention"] == [], k["history"]
assert k["history"]["events"] == off, (k["history"]["events"], off)
def counters(x):
    return sorted((r["rule"], c["counter"], c["key"], c["window"], c["value"]) for r in x["rules"] for c in r["counters"])
assert counters(k) and counters(k) == counters(f), (counters(k), counters(f))
assert [r["result"] for r in k["rules"]] == [r["result"] for r in f["rules"]]
print(f"  {topic}/{p}/{off} {eid}: reproduced, {len(counters(k))} counter reads = the partition's own")
PY
  n=$((n + 1))
done
echo "ok: a stored hit in each of $n partitions is reproduced with the partition's counter values"

# An event no rule hit (its id has no row).
for off in $(seq 0 50); do
  eid=$(sed -n "$((off + 1))p" "$KT/p0.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  [ "$($M -N -e "SELECT COUNT(*) FROM $DB.rule_results WHERE event_id = '$eid'")" = 0 ] && break
done
"$WARDEN" explain -c "$KT/warden.lua" --event "$RAW/0/$off" --json > "$KT/n.json"
[ "$(jget "$KT/n.json" "(r['hits'], r['reproduced'], r['store']['rows'], r['event']['event_id'])")" = "(0, True, 0, '$eid')" ] \
  || kt_fail "a non-hit event: $(cat "$KT/n.json")"
"$WARDEN" explain -c "$KT/warden.lua" --event "$RAW/0/$off" | grep -q '^no rule hit this event' \
  || kt_fail "the text of a non-hit event does not say no rule hit"
echo "ok: $RAW/0/$off ($eid) has no hit: explain says no rule hit, reproduced"

# Errors: out of range, no such partition.
# The actions topic is transactional: after its last record in a partition
# comes the commit marker, which no read_committed consumer is given.
read -r ap last < <(kt_read "actions.$KID" '%p %o\n' | sort -n -k1 -k2 | awk '{p=$1; o=$2} END {print p, o}')
set +e
"$WARDEN" explain -c "$KT/warden.lua" --event "$RAW/1/3000" 2> "$KT/e1"; r1=$?
"$WARDEN" explain -c "$KT/warden.lua" --event "$RAW/9/0" 2> "$KT/e2"; r2=$?
"$WARDEN" explain -c "$KT/warden.lua" --event "actions.$KID/$ap/$((last + 1))" 2> "$KT/e3"; r3=$?
set -e
[ "$r3" = 1 ] && grep -q "actions.$KID/$ap/$((last + 1)) is not a committed message" "$KT/e3" \
  || kt_fail "a commit marker: exit $r3, $(cat "$KT/e3")"
[ "$r1" = 1 ] && grep -q "$RAW/1/3000: offset out of range: the partition holds offsets 0..2999" "$KT/e1" \
  || kt_fail "out of range: exit $r1, $(cat "$KT/e1")"
[ "$r2" = 1 ] && grep -q "$RAW/9/0: no such partition (topic $RAW has 4: 0..3)" "$KT/e2" \
  || kt_fail "no such partition: exit $r2, $(cat "$KT/e2")"
echo "ok: offset out of range, an unknown partition and a commit marker are precise errors (exit 1)"

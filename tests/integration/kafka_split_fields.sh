#!/bin/bash
# warden split keeps what the rules can read, byte for byte: numbers keep
# their text (1.0 stays a float, -0.0 keeps its sign, a 20-digit integer
# its digits), `items.sku` keeps items with each element pruned to sku,
# undeclared fields go; and warden eval gives the same hits on the raw
# events as on what split wrote (types and counter keys unchanged).
set -eu
. tests/kafka/lib.sh
kt_init splitf
RAW="raw.$KID"
PREFIX="s.$KID"
P="$KT/pack"
mkdir -p "$P"
cat >"$P/counters.lua" <<'LUA'
return { { name = "by_user", stream = "order", key = "user.id", windows = { "1h" } } }
LUA
cat >"$P/r.lua" <<'LUA'
return {
  name = "order.types", version = 1, streams = { "order" }, mode = "enforce",
  fields = { "user.id", "amount", "neg", "big", "items.sku" },
  evaluate = function(ev, ctx)
    local first = ev.items and ev.items[1]
    return ctx.flag{ entity = tostring(ev.user.id), reason = table.concat({
      math.type(ev.amount), tostring(ev.amount), tostring(1 / ev.neg), string.format("%.0f", ev.big),
      first and first.sku or "-", tostring(first and first.price), tostring(ev.items and #ev.items),
      "n=" .. ctx.count("by_user", ev.user.id, "1h") }, " ") }
  end,
}
LUA
cat >"$KT/raw.jsonl" <<'EOF'
{"type":"order","id":"e1","ts":"2026-11-20T10:00:00Z","user":{"id":1.0,"name":"ann"},"amount":1.0,"neg":-0.0,"big":12345678901234567890,"items":[{"sku":"A","price":3},{"sku":"B","price":4}],"note":"drop me"}
{"type":"order","id":"e2","ts":"2026-11-20T10:00:01Z","user":{"id":1,"name":"bob"},"amount":2,"neg":-1.5e0,"big":1,"items":[{"price":5}],"note":"drop me"}
{"type":"order","id":"e3","ts":"2026-11-20T10:00:02Z","user":{"id":1.0},"amount":10.50,"neg":0.0,"big":-99999999999999999999,"items":[],"note":"drop me"}
EOF
timeout 30 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -p 0 -l "$KT/raw.jsonl"

kt_config "$KT/split.lua" "
  streams = { topics = { '$RAW' }, prefix = '$PREFIX' },
  rules = '$P',
  split = { group = 'split.$KID', dlq_topic = 'dlq.$KID', partitions = 1 },"
kt_warden "$KT/split.log" split -c "$KT/split.lua" --instance a
kt_wait_count "$PREFIX.order" 3 60
kt_stop "$KT_PID" || kt_fail "warden split exited non-zero"
kt_read "$PREFIX.order" >"$KT/split.jsonl"
cat "$KT/split.jsonl"
[ "$(wc -l <"$KT/split.jsonl")" = 3 ] || kt_fail "split wrote $(wc -l <"$KT/split.jsonl") events, want 3"
e1=$(sed -n 1p "$KT/split.jsonl")
for want in '"amount":1.0' '"neg":-0.0' '"big":12345678901234567890' '"user":{"id":1.0}' \
            '"items":[{"sku":"A"},{"sku":"B"}]' '"id":"e1"' '"ts":"2026-11-20T10:00:00Z"' '"type":"order"'; do
    case "$e1" in *"$want"*) ;; *) kt_fail "split event 1 lacks $want: $e1" ;; esac
done
case "$e1" in *price*|*note*|*ann*) kt_fail "split kept undeclared fields: $e1" ;; esac
grep -q '"items":\[{}\]' "$KT/split.jsonl" || kt_fail "an element without sku did not stay as {}"
grep -q '"big":-99999999999999999999' "$KT/split.jsonl" || kt_fail "a big negative integer lost digits"
grep -q '"amount":10.50' "$KT/split.jsonl" || kt_fail "10.50 was re-encoded"
echo "ok: split keeps declared fields with their original text, items[].sku only"

"$WARDEN" eval -q "$P" "$KT/raw.jsonl" >"$KT/raw.hits"
"$WARDEN" eval -q "$P" "$KT/split.jsonl" >"$KT/split.hits"
cat "$KT/raw.hits"
[ "$(wc -l <"$KT/raw.hits")" = 3 ] || kt_fail "eval on the raw events gave $(wc -l <"$KT/raw.hits") hits, want 3"
grep -q '"reason":"float 1.0 -inf 12345678901234567168 A nil 2 n=1"' "$KT/raw.hits" \
  || kt_fail "raw hit 1 is not what the rule should see"
grep -q '"entity":"1","entity_type":"unknown","reason":"integer 2 -0.66666666666667 1 - nil 1 n=1"' "$KT/raw.hits" \
  || kt_fail "raw hit 2: user.id 1 and 1.0 are different counter keys"
cmp -s "$KT/raw.hits" "$KT/split.hits" || { diff "$KT/raw.hits" "$KT/split.hits"; kt_fail "eval on split output differs from eval on raw"; }
echo "ok: warden eval gives the same 3 hits on raw and split events"

#!/bin/bash
# Runtime lists and manual labels without a deploy, against the real broker:
# a 2-process `warden run` group over 4 partitions; a list entry added
# through process a's admin API (effective: the time the API gave) and one
# produced straight to the control topic with kcat (effective: the time in
# the record) are seen by both processes from their effective time on and
# not before, whichever process owns the partition, even for events
# evaluated after the change; a delete through process b (also of a file
# entry) takes effect the same way; a manual label set through the API
# makes a has_label rule hit on the entity's next event; `warden replay`
# over the whole span reproduces the live hits exactly; the audit file
# has every change; a CIDR list takes runtime ranges (PUT with a %2F
# slash, and through the topic) that match the addresses in them; 401
# without the token, 400 for a label without a reason or a bad CIDR
# range (with the reason), 404 for an unknown list.
set -eu
. tests/kafka/lib.sh
kt_init lists
RAW="raw.$KID"
CTL="g.$KID.control"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PA=$(port); PB=$(port)
export WARDEN_ADMIN_TOKEN="lists-$KID"
AUTH=(-H "Authorization: Bearer $WARDEN_ADMIN_TOKEN")
mkdir -p "$KT/pack/lists"
printf '9.9.9.9\n8.8.8.8\n' >"$KT/pack/lists/blocked_ips.txt"
printf '10.0.0.0/8\n' >"$KT/pack/lists/nets.cidr"
cat >"$KT/pack/ip.lua" <<'LUA'
return {
  name = "ip.listed", version = 1, streams = { "login" }, mode = "enforce", fields = { "ip" },
  evaluate = function(ev, ctx)
    if ctx.in_list("blocked_ips", ev.ip) then return ctx.block{ entity = ev.ip, reason = "listed" } end
  end,
}
LUA
cat >"$KT/pack/net.lua" <<'LUA'
return {
  name = "net.listed", version = 1, streams = { "login" }, mode = "enforce", fields = { "ip" },
  evaluate = function(ev, ctx)
    if ctx.in_list("nets", ev.ip) then return ctx.flag{ entity = ev.ip, entity_type = "ip", reason = "net" } end
  end,
}
LUA
cat >"$KT/pack/user.lua" <<'LUA'
return {
  name = "user.labelled", version = 1, streams = { "login" }, mode = "enforce", fields = { "user" },
  evaluate = function(ev, ctx)
    if ctx.has_label(ev.user, "fraud") then return ctx.review{ entity = ev.user, reason = "labelled" } end
  end,
}
LUA
cfg() {   # name port
    kt_config "$KT/$1.lua" "
  streams = { topics = { '$RAW' }, field = 'type' },
  rules = '$KT/pack',
  store = 'jsonl:$KT/$1.hits',
  run = { group = 'g.$KID', actions_topic = 'actions.$KID', dlq_topic = 'dlq.$KID', batch_ms = 50 },
  admin = { listen = '127.0.0.1:$2', audit_file = '$KT/audit.jsonl' },"
}
cfg a "$PA"; cfg b "$PB"
st() { local out=$1 m=$2 u=$3; shift 3; curl -s -o "$out" -w '%{http_code}' -X "$m" "$@" "$u"; }
jf() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))
for p in sys.argv[2].split("/"):
    v = v[int(p)] if isinstance(v, list) else v.get(p)
print(json.dumps(v) if isinstance(v,(dict,list,bool)) or v is None else v)' "$@"; }
# ev ID PARTITION TS_MS IP USER → one event on that partition
: >"$KT/events"
ev() { printf '{"type":"login","id":"%s","ts":%s,"ip":"%s","user":"%s"}\n' "$1" "$3" "$4" "$5" >>"$KT/p$2"
       echo "$1" >>"$KT/events"; }
flush() { for p in 0 1 2 3; do [ -s "$KT/p$p" ] && timeout 30 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$RAW" -p $p -l "$KT/p$p"; rm -f "$KT/p$p"; done; }
evaluated() { echo $(( $(kt_stat "$KT/a.log" events || echo 0) + $(kt_stat "$KT/b.log" events || echo 0) )); }
wait_evaluated() {
    local n=$1 i
    for i in $(seq 1 300); do [ "$(evaluated)" -ge "$n" ] && return 0; sleep 0.1; done
    kt_fail "$(evaluated) events evaluated, want $n"
}
# seen_by URL VALUE OP: until GET /lists/blocked_ips on URL shows VALUE with OP
seen_by() {
    local i
    for i in $(seq 1 100); do
        st "$KT/l.json" GET "$1/lists/blocked_ips" "${AUTH[@]}" >/dev/null
        python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
sys.exit(0 if any(e["value"]==sys.argv[2] and e["op"]==sys.argv[3] for e in d["runtime"]) else 1)' \
            "$KT/l.json" "$2" "$3" && return 0
        sleep 0.1
    done
    cat "$KT/l.json"; kt_fail "$1 does not show $2 as $3"
}

# A first event creates the 4-partition input topic.
ev e0 0 1795000000000 1.2.3.4 u0; flush
kt_warden "$KT/a.log" run -c "$KT/a.lua" --instance a; A=$KT_PID
kt_warden "$KT/b.log" run -c "$KT/b.lua" --instance b; B=$KT_PID
kt_wait_stat "$KT/a.log" partitions 1 60
kt_wait_stat "$KT/b.log" partitions 1 60
wait_evaluated 1
for u in "http://127.0.0.1:$PA" "http://127.0.0.1:$PB"; do
    for _ in $(seq 1 100); do [ "$(st "$KT/o" GET "$u/readyz")" = 200 ] && break; sleep 0.1; done
done
UA="http://127.0.0.1:$PA"; UB="http://127.0.0.1:$PB"

# Errors first (nothing reaches the topic).
[ "$(st "$KT/o" PUT "$UA/lists/blocked_ips/1.1.1.1")" = 401 ] || kt_fail "PUT without a token: not 401"
[ "$(st "$KT/o" GET "$UA/lists")" = 401 ] || kt_fail "GET /lists without a token: not 401"
[ "$(st "$KT/o" PUT "$UA/lists/nope/1.1.1.1" "${AUTH[@]}")" = 404 ] || { cat "$KT/o"; kt_fail "unknown list: not 404"; }
[ "$(st "$KT/o" GET "$UA/lists/nope" "${AUTH[@]}")" = 404 ] || kt_fail "GET unknown list: not 404"
[ "$(st "$KT/o" PUT "$UA/lists/nets/10.1.1.1%2F8" "${AUTH[@]}")" = 400 ] || kt_fail "bad CIDR range: not 400"
grep -q 'host bits set (the network is 10.0.0.0/8)' "$KT/o" || { cat "$KT/o"; kt_fail "the 400 does not give the reason"; }
[ "$(st "$KT/o" PUT "$UA/labels/user/u9/fraud" "${AUTH[@]}" -d '{"ttl":"1h"}')" = 400 ] || kt_fail "label without a reason: not 400"
grep -q reason "$KT/o" || kt_fail "the 400 does not name the reason"
[ "$(st "$KT/o" PUT "$UA/labels/user/u9/fraud" "${AUTH[@]}" -d '{"reason":"x"}')" = 400 ] || kt_fail "label without a ttl: not 400"
[ "$(st "$KT/o" PUT "$UA/labels/user/u9/fraud" "${AUTH[@]}" -d '{"ttl":"1h","reason":')" = 400 ] || kt_fail "malformed JSON: not 400"
[ "$(st "$KT/o" PUT "$UA/labels/user/fraud" "${AUTH[@]}" -d '{"ttl":"1h","reason":"x"}')" = 400 ] || kt_fail "short label path: not 400"
[ "$(st "$KT/o" POST "$UA/lists/blocked_ips/1.1.1.1" "${AUTH[@]}")" = 405 ] || kt_fail "POST: not 405"
[ "$(st "$KT/o" GET "$UA/lists" "${AUTH[@]}")" = 200 ] || kt_fail "GET /lists"
[ "$(jf "$KT/o" lists/0/name)" = blocked_ips ] && [ "$(jf "$KT/o" lists/0/file_values)" = 2 ] \
    && [ "$(jf "$KT/o" lists/0/runtime_added)" = 0 ] && [ "$(jf "$KT/o" lists/1/kind)" = cidr ] \
    && [ "$(jf "$KT/o" topic)" = "$CTL" ] || { cat "$KT/o"; kt_fail "GET /lists content"; }

# 1.1.1.1 through a's API (effective T1), 2.2.2.2 through the topic (T2 = T1 + 60 s).
[ "$(st "$KT/o" PUT "$UA/lists/blocked_ips/1.1.1.1" "${AUTH[@]}" -d '{"reason":"wave 1"}')" = 200 ] || { cat "$KT/o"; kt_fail "PUT list entry"; }
T1=$(jf "$KT/o" time_ms)
[ "$(jf "$KT/o" key)" = "list/blocked_ips/1.1.1.1" ] || kt_fail "PUT answer key"
T2=$((T1 + 60000))
printf 'list/blocked_ips/2.2.2.2\t{"op":"add","time":%s,"who":"kcat","reason":"feed"}\n' "$T2" \
    | timeout 30 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$CTL" -K $'\t'
seen_by "$UA" 1.1.1.1 add; seen_by "$UB" 1.1.1.1 add
seen_by "$UA" 2.2.2.2 add; seen_by "$UB" 2.2.2.2 add
# 3.3.3.3 through the topic with a time an hour in the past: it takes
# effect when it was written (its record timestamp), not before.
TW0=$(date +%s%3N)
printf 'list/blocked_ips/3.3.3.3\t{"op":"add","time":%s,"who":"kcat","reason":"late feed"}\n' "$((T1 - 3600000))" \
    | timeout 30 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$CTL" -K $'\t'
seen_by "$UA" 3.3.3.3 add; seen_by "$UB" 3.3.3.3 add
TW=$(jf "$KT/l.json" runtime | python3 -c 'import json,sys; print([e["time"] for e in json.load(sys.stdin) if e["value"]=="3.3.3.3"][0])')
TWMS=$(python3 -c 'import sys, datetime; print(int(datetime.datetime.fromisoformat(sys.argv[1].replace("Z","+00:00")).timestamp()*1000))' "$TW")
[ "$TWMS" -ge "$TW0" ] || kt_fail "the past-dated record was not clamped to its write time ($TW)"

# On every partition: before and after each point (all evaluated after the changes).
for p in 0 1 2 3; do
    ev "x1b$p" $p $((T1 - 30000)) 1.1.1.1 "ua$p"    # before T1: not listed
    ev "x1a$p" $p $((T1 + 1000)) 1.1.1.1 "ub$p"     # after: listed
    ev "x2b$p" $p $((T2 - 1000)) 2.2.2.2 "uc$p"     # before T2: not listed
    ev "x2a$p" $p $((T2 + 1000)) 2.2.2.2 "ud$p"     # after: listed
    ev "xf$p" $p $((T1 + 2000)) 9.9.9.9 "ue$p"      # a file entry: listed
    ev "x3b$p" $p $((T1 - 1000)) 3.3.3.3 "un$p"     # past the record's time, before its write: not listed
    ev "x3a$p" $p $((TWMS + 1000)) 3.3.3.3 "uo$p"   # after its write: listed
done
flush
wait_evaluated 29

# Deletes through b: the runtime 1.1.1.1 and the file's 9.9.9.9 (a mask), effective T3.
[ "$(st "$KT/o" DELETE "$UB/lists/blocked_ips/1.1.1.1" "${AUTH[@]}")" = 200 ] || { cat "$KT/o"; kt_fail "DELETE list entry"; }
T3=$(jf "$KT/o" time_ms)
[ "$(st "$KT/o" DELETE "$UB/lists/blocked_ips/9.9.9.9" "${AUTH[@]}" -d '{"reason":"false positive"}')" = 200 ] || kt_fail "DELETE file entry"
T3F=$(jf "$KT/o" time_ms)
seen_by "$UA" 1.1.1.1 del; seen_by "$UA" 9.9.9.9 del
for p in 0 1 2 3; do
    ev "y1b$p" $p $((T3 - 1)) 1.1.1.1 "uf$p"       # between T1 and T3: listed
    ev "y1a$p" $p $((T3F + 1000)) 1.1.1.1 "ug$p"   # after the delete: not listed
    ev "yfa$p" $p $((T3F + 1000)) 9.9.9.9 "uh$p"   # the file entry masked
    ev "y8$p" $p $((T3F + 1000)) 8.8.8.8 "ui$p"    # other file entries stay
done
flush
wait_evaluated 45

# A CIDR list: 172.16.0.0/12 through a's API (%2F: the slash, effective TC),
# 192.168.0.0/16 through the topic (TC2 = TC + 60 s).
[ "$(st "$KT/o" PUT "$UA/lists/nets/172.16.0.0%2F12" "${AUTH[@]}" -d '{"reason":"range"}')" = 200 ] \
    || { cat "$KT/o"; kt_fail "PUT a CIDR range"; }
[ "$(jf "$KT/o" key)" = "list/nets/172.16.0.0/12" ] || kt_fail "PUT range answer key"
TC=$(jf "$KT/o" time_ms); TC2=$((TC + 60000))
printf 'list/nets/192.168.0.0/16\t{"op":"add","time":%s,"who":"kcat","reason":"feed"}\n' "$TC2" \
    | timeout 30 kcat -b "$KAFKA_BOOTSTRAP" -P -t "$CTL" -K $'\t'
for _ in $(seq 1 50); do
    st "$KT/m" GET "$UB/metrics" >/dev/null
    grep -q '^warden_control_records_total 7$' "$KT/m" && break; sleep 0.1
done
grep -q '^warden_control_records_total 7$' "$KT/m" || kt_fail "b has not applied the 2 CIDR records"
for p in 0 1 2 3; do
    ev "c1b$p" $p $((TC - 1000)) 172.16.5.5 "uj$p"      # before TC: not listed
    ev "c1a$p" $p $((TC + 1000)) 172.31.255.1 "uk$p"    # after: in the range
    ev "c2b$p" $p $((TC2 - 1000)) 192.168.1.1 "ul$p"    # before TC2: not listed
    ev "c2a$p" $p $((TC2 + 1000)) 192.168.1.1 "um$p"    # after: listed
done
flush
wait_evaluated 61

# A manual label through a's API: visible to the entity's next event on any process.
[ "$(st "$KT/o" PUT "$UA/labels/user/analyst-u/fraud" "${AUTH[@]}" -d '{"ttl":"1h","reason":"chargeback ring"}')" = 200 ] \
    || { cat "$KT/o"; kt_fail "PUT label"; }
TL=$(jf "$KT/o" time_ms)
for _ in $(seq 1 50); do
    st "$KT/m" GET "$UB/metrics" >/dev/null
    grep -q '^warden_control_records_total 8$' "$KT/m" && break; sleep 0.1
done
grep -q '^warden_control_records_total 8$' "$KT/m" || { grep control "$KT/m"; kt_fail "b has not applied 8 control records"; }
grep -q '^warden_control_rejected_total 0$' "$KT/m" || kt_fail "rejected control records"
for p in 0 1 2 3; do
    ev "zlb$p" $p $((TL - 1000)) 5.5.5.5 analyst-u   # before the label
    ev "zla$p" $p $((TL + 1000)) 5.5.5.5 analyst-u   # after: labelled
    ev "zlx$p" $p $((TL + 3600000 + 1000)) 5.5.5.5 analyst-u   # past its ttl
done
flush
wait_evaluated 73

kt_stop "$A" || kt_fail "process a exited non-zero"
kt_stop "$B" || kt_fail "process b exited non-zero"
[ -s "$KT/a.hits" ] && [ -s "$KT/b.hits" ] || kt_fail "one process wrote no hits (the partitions were not shared)"
sort -u "$KT/a.hits" "$KT/b.hits" | python3 -c '
import json, sys
for l in sys.stdin:
    h = json.loads(l); print(h["event_id"], h["rule"])' | sort >"$KT/live"
{
    for p in 0 1 2 3; do
        echo "x1a$p ip.listed"; echo "x2a$p ip.listed"; echo "xf$p ip.listed"; echo "x3a$p ip.listed"
        echo "y1b$p ip.listed"; echo "y8$p ip.listed"; echo "zla$p user.labelled"
        echo "c1a$p net.listed"; echo "c2a$p net.listed"
    done
} | sort >"$KT/want"
diff "$KT/want" "$KT/live" || kt_fail "live hits differ from the list and label changes by effective time"
# Each process hit listed events of its own partitions.
for f in a b; do grep -q '"rule":"ip.listed"' "$KT/$f.hits" || kt_fail "process $f saw no listed event"; done

# A replay across every point reproduces the same hits (it reads the control topic too).
"$WARDEN" replay -q -c "$KT/a.lua" --from $((T1 - 3600000)) --to $((TL + 7200000)) --warmup 0 \
    --store "jsonl:$KT/replay.hits" --run-id rp1 --json "$KT/replay.json" || kt_fail "replay exited $?"
python3 -c '
import json, sys
for l in open(sys.argv[1]):
    h = json.loads(l); print(h["event_id"], h["rule"])' "$KT/replay.hits" | sort >"$KT/replayed"
diff "$KT/live" "$KT/replayed" || kt_fail "the replay's hits differ from the live hits"

# The audit file: the changes, the 401 and the 400s, token ids only.
! grep -q -- "$WARDEN_ADMIN_TOKEN" "$KT/audit.jsonl" || kt_fail "the token is in the audit file"
python3 - "$KT/audit.jsonl" <<'PY' || kt_fail "audit file content"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def n(**kw): return sum(all(r.get(k) == v for k, v in kw.items()) for r in rows)
assert n(action="list.put", status=200) == 2, "list.put"
assert n(action="list.delete", status=200) == 2, "list.delete"
assert n(action="label.put", status=200) == 1, "label.put"
assert n(result="unauthorized", status=401) == 1, "401"
assert n(action="label.put", status=400) >= 3, "label 400s"
assert n(action="list.put", status=404) == 1 and n(action="list.put", status=400) == 1, "404 and cidr 400"
ok = [r for r in rows if r["status"] == 200]
assert all(r["token"].startswith("sha256:") for r in ok)
def record(r):
    assert r["result"].startswith("ok "), r
    return json.loads(r["result"][3:])
put = [r for r in ok if r["action"] == "list.put"][0]
assert [r for r in ok if r["action"] == "list.put"][1]["rule"] == "list/nets/172.16.0.0/12"
assert put["rule"] == "list/blocked_ips/1.1.1.1" and put["after"] == "add", put
assert record(put)["key"] == put["rule"] and record(put)["value"]["reason"] == "wave 1", put
dels = [r for r in ok if r["action"] == "list.delete"]
assert sorted(r["rule"] for r in dels) == ["list/blocked_ips/1.1.1.1", "list/blocked_ips/9.9.9.9"], dels
assert all(r["after"] == "del" for r in dels)
lab = [r for r in ok if r["action"] == "label.put"][0]
assert lab["rule"] == "label/user/fraud/analyst-u" and record(lab)["value"]["ttl"] == "1h", lab
print("audit: %d lines" % len(rows))
PY
echo "ok: 2 processes, 4 partitions: API and kcat list entries, deletes and a manual label by effective time; $(wc -l <"$KT/live") hits = the replay's; audit; 401/400/404"

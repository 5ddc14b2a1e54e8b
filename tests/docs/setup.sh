#!/bin/bash
# tests/docs/setup.sh NAME — the hidden setup steps of the documentation's
# runnable examples (tools/doc_blocks.py: a block tagged `setup=NAME`).  They
# run in the page's copy of the tree, once per page, with the page's broker
# and MariaDB env (KAFKA_BOOTSTRAP, WARDEN_DB_URL); DOCS_STATE is the page's
# state directory, DOCS_PIDS the file of background pids doc_blocks.py stops
# at the end of the page, DOCS_ENV the file of NAME=VALUE lines it sets for
# the blocks that name a setup.  Readiness is polled, never slept for.
#
#   topic    `warden.lua` (the example pack, the sample on partition 0 of
#            topic `events`, group `warden`, results in the page's MariaDB)
#            and the sample produced to the topic
#   ran      what a reader's service has done: topic, the store migrated, and
#            one `warden run` over the 12,000 sample events, stopped (its
#            group has no member, so `warden rewind` may run)
#   service  ran, then that `warden run` in the background with the admin API
#            (WARDEN_ADMIN_URL, WARDEN_ADMIN_TOKEN), ready (/readyz)
set -eu
: "${DOCS_STATE:?run by tools/doc_blocks.py}" "${KAFKA_BOOTSTRAP:?a kafka block}"
WARDEN=${WARDEN:-warden}
TOKEN=docs-token

fail() { echo "setup: $*" >&2; exit 1; }

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Polls CMD (a shell condition) every 0.1 s for at most SECS seconds.
wait_for() {
    local secs=$1 what=$2; shift 2
    local end=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $end ] || { echo "setup: $what not within ${secs}s" >&2; return 1; }
        sleep 0.1
    done
}

stat_ge() {  # FILE FIELD N: the stats file's FIELD >= N
    python3 -c 'import json, sys; sys.exit(0 if json.load(open(sys.argv[1])).get(sys.argv[2], -1) >= int(sys.argv[3]) else 1)' "$@"
}

topic() {
    [ -e "$DOCS_STATE/topic" ] && return 0
    local port; port=$(free_port)
    cat >warden.lua <<EOF
-- The service of the documentation's examples: examples/warden.lua with a
-- MariaDB store, over the sample on topic "events".
return {
  kafka = { ["bootstrap.servers"] = "$KAFKA_BOOTSTRAP" },
  streams = { topics = { "events" } },
  rules = "examples/rules",
  store = "${WARDEN_DB_URL:-null:}",
  run = { group = "warden" },
  engine = { time_limit_ms = 1000 },   -- the counts the docs assert, also on a loaded machine
  admin = { listen = "127.0.0.1:$port", audit_file = "audit.jsonl", replay_cpu_pct = 100 },
}
EOF
    timeout 60 kcat -b "$KAFKA_BOOTSTRAP" -t events -p 0 -P -l examples/events/sample.jsonl
    echo "$port" >"$DOCS_STATE/topic"
}

ran() {
    [ -e "$DOCS_STATE/ran" ] && return 0
    : "${WARDEN_DB_URL:?setup ran: a db block}"
    topic
    "$WARDEN" migrate "$WARDEN_DB_URL" --quiet
    WARDEN_LOG=warn timeout 120 "$WARDEN" run -c warden.lua --set admin.listen= --max-events 12000 \
        --stats-json "$DOCS_STATE/ran.json" 2>"$DOCS_STATE/ran.log" \
        || { tail -20 "$DOCS_STATE/ran.log" >&2; fail "warden run over the sample failed"; }
    stat_ge "$DOCS_STATE/ran.json" events 12000 || fail "warden run did not evaluate the 12000 events"
    touch "$DOCS_STATE/ran"
}

service() {
    ran
    local port; port=$(cat "$DOCS_STATE/topic")
    if [ ! -e "$DOCS_STATE/service" ]; then     # started once per page, even when it was slow to get ready
        WARDEN_ADMIN_TOKEN=$TOKEN WARDEN_LOG=warn "$WARDEN" run -c warden.lua --stats-json "$DOCS_STATE/service.json" \
            </dev/null >"$DOCS_STATE/service.log" 2>&1 &
        echo $! >>"$DOCS_PIDS"
        echo $! >"$DOCS_STATE/service"
    fi
    kill -0 "$(cat "$DOCS_STATE/service")" 2>/dev/null || { tail -20 "$DOCS_STATE/service.log" >&2; fail "the service exited"; }
    wait_for 180 "the service's /readyz" curl -sf "http://127.0.0.1:$port/readyz" \
        || { tail -20 "$DOCS_STATE/service.log" >&2; exit 1; }
    printf 'WARDEN_ADMIN_URL=http://127.0.0.1:%s\nWARDEN_ADMIN_TOKEN=%s\n' "$port" "$TOKEN" >>"$DOCS_ENV"
}

case "${1:-}" in
    topic) topic ;;
    ran) ran ;;
    service) service ;;
    *) fail "unknown setup '${1:-}' (topic, ran, service)" ;;
esac

-- Demo configuration for `warden run -c examples/warden.lua`: the example
-- rule pack over a local broker, results to a JSONL file.
--
-- Relative paths resolve against this file's directory (examples/).
-- The test broker (tests/kafka/broker.sh start) listens on a free port;
-- give it with -X, which overrides the kafka section:
--   eval "$(tests/kafka/broker.sh env)"
--   kcat -b "$KAFKA_BOOTSTRAP" -t events.raw -p 0 -P -l examples/events/sample.jsonl
--   build/warden run -c examples/warden.lua -X bootstrap.servers="$KAFKA_BOOTSTRAP" \
--       --max-events 12000
-- gives the same 786 hits (build/results.jsonl) and 364 actions as warden eval.
-- Secrets never go here: WARDEN_STORE_PASSWORD, WARDEN_ADMIN_TOKEN.
return {
  kafka = {
    -- librdkafka properties, passed through verbatim
    ["bootstrap.servers"] = "127.0.0.1:9092",
    ["client.id"] = "warden-demo",
  },

  streams = {
    topics = { "events.raw" },   -- mixed raw events, as examples/gen_events writes them
    field = "type",              -- which field names the stream (pin_create, login, ...)
    id_field = "id",
    ts_field = "ts",             -- RFC 3339 event time: windows slide over it
    prefix = "warden.stream",    -- split topics: warden.stream.pin_create, ...
  },

  rules = "rules",                           -- examples/rules
  store = "jsonl:../build/results.jsonl",    -- build/results.jsonl from the repo root

  run = {
    group = "warden-demo",
    actions_topic = "warden.actions",
    dlq_topic = "warden.dlq",
  },

  -- The admin API (docs/operations.md): health, /metrics, /rules, reload,
  -- mode overrides, the auto-shadow breaker; the token from
  -- WARDEN_ADMIN_TOKEN (without one, only /healthz, /readyz, /metrics answer).
  admin = { listen = "127.0.0.1:9100", audit_file = "../build/audit.jsonl",
            breaker_error_pct = 50 },
}

-- Demo configuration for `warden run -c examples/warden.lua`: the example
-- rule pack over a local broker, results to a JSONL file.
--
-- Relative paths resolve against this file's directory (examples/).
-- The test broker (tests/kafka/broker.sh start) listens on a free port:
--   eval "$(tests/kafka/broker.sh env)"   # sets KAFKA_BOOTSTRAP
-- and give that address to warden in place of the default below (the file
-- runs sandboxed and cannot read the environment).
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

  admin = {
    listen = "127.0.0.1:9100",   -- token from WARDEN_ADMIN_TOKEN
  },
}

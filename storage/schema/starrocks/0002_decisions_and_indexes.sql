-- warden schema v2 (StarRocks): per-event decisions, partitioned by day.
-- (Primary Key tables are sorted by ORDER BY; no secondary indexes needed.)
CREATE TABLE IF NOT EXISTS decisions (
  event_day  DATE NOT NULL,
  run_id     VARCHAR(128) NOT NULL,
  event_id   VARCHAR(512) NOT NULL,
  stream     VARCHAR(128) NOT NULL,
  entity     VARCHAR(1048576) NOT NULL,
  verdict    VARCHAR(16) NOT NULL,
  rules      VARCHAR(65533) NOT NULL,
  event_ts   DATETIME NULL,
  written_at DATETIME NULL
) PRIMARY KEY (event_day, run_id, event_id)
PARTITION BY date_trunc('day', event_day)
DISTRIBUTED BY HASH(run_id, event_id)
ORDER BY (verdict, event_ts);

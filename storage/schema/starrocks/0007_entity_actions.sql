-- warden schema v7 (StarRocks): typed entities and per-entity actions (see
-- the MariaDB file).  actions is keyed like the other tables on row_key,
-- here sha256 over the length-prefixed run_id, event_id and "type:entity".
ALTER TABLE rule_results ADD COLUMN entity_type VARCHAR(32) NOT NULL DEFAULT 'unknown';

ALTER TABLE decisions ADD COLUMN entity_type VARCHAR(32) NOT NULL DEFAULT 'unknown';

CREATE TABLE IF NOT EXISTS actions (
  event_day       DATE NOT NULL,
  row_key         VARCHAR(32) NOT NULL,
  run_id          VARCHAR(128) NOT NULL,
  event_id        VARCHAR(512) NOT NULL,
  entity_key      VARCHAR(32) NOT NULL,
  stream          VARCHAR(128) NOT NULL,
  entity_type     VARCHAR(32) NOT NULL,
  entity          VARCHAR(1048576) NOT NULL,
  verdict         VARCHAR(16) NOT NULL,
  rules           VARCHAR(65533) NOT NULL,
  ttl             VARCHAR(32) NULL,
  event_ts        DATETIME NULL,
  topic           VARCHAR(255) NULL,
  kafka_partition INT NULL,
  kafka_offset    BIGINT NULL,
  written_at      DATETIME NULL
) PRIMARY KEY (event_day, row_key)
PARTITION BY date_trunc('day', event_day)
DISTRIBUTED BY HASH(row_key)
ORDER BY (entity_key, event_ts);

CREATE TABLE IF NOT EXISTS undo_runs (
  undo_id     VARCHAR(32) NOT NULL,
  rule        VARCHAR(128) NOT NULL,
  version     INT NULL,
  from_ts     DATETIME NOT NULL,
  to_ts       DATETIME NOT NULL,
  status      VARCHAR(16) NOT NULL,
  revoked     BIGINT NOT NULL,
  kept        BIGINT NOT NULL,
  started_at  DATETIME NOT NULL,
  finished_at DATETIME NULL
) PRIMARY KEY (undo_id)
DISTRIBUTED BY HASH(undo_id) BUCKETS 1;

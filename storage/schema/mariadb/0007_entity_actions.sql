-- warden schema v7 (MariaDB / MySQL): typed entities and per-entity actions
-- (action format v2).  rule_results and decisions gain the entity_type the
-- rule declared ('unknown' for rows written before v7 and for rules that
-- declare none).  actions holds one row per (event, entity): the entity's
-- most severe enforce-mode verdict, its rules and ttl, and where the event
-- came from; entity_key is the first 32 hex digits of
-- sha256("type:entity"), so the key stays short whatever the entity.
-- undo_runs records every `warden undo` (a rerun of the same undo emits
-- nothing).  Additive: instant columns and new tables.
ALTER TABLE rule_results ADD COLUMN IF NOT EXISTS entity_type VARCHAR(32) CHARACTER SET ascii NOT NULL DEFAULT 'unknown', ALGORITHM=INSTANT;

ALTER TABLE decisions ADD COLUMN IF NOT EXISTS entity_type VARCHAR(32) CHARACTER SET ascii NOT NULL DEFAULT 'unknown', ALGORITHM=INSTANT;

CREATE TABLE IF NOT EXISTS actions (
  run_id          VARBINARY(128) NOT NULL,
  event_id        VARBINARY(512) NOT NULL,
  entity_key      CHAR(32) CHARACTER SET ascii NOT NULL,
  stream          VARBINARY(128) NOT NULL,
  entity_type     VARCHAR(32) CHARACTER SET ascii NOT NULL,
  entity          MEDIUMBLOB NOT NULL,
  verdict         VARCHAR(16) CHARACTER SET ascii NOT NULL,
  rules           BLOB NOT NULL,
  ttl             VARCHAR(32) CHARACTER SET ascii NULL,
  event_ts        DATETIME(3) NULL,
  topic           VARBINARY(255) NULL,
  kafka_partition INT NULL,
  kafka_offset    BIGINT NULL,
  written_at      DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (run_id, event_id, entity_key),
  KEY actions_by_entity (entity_key, event_ts)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS undo_runs (
  undo_id     CHAR(32) CHARACTER SET ascii NOT NULL PRIMARY KEY,
  rule        VARBINARY(128) NOT NULL,
  version     INT NULL,
  from_ts     DATETIME(3) NOT NULL,
  to_ts       DATETIME(3) NOT NULL,
  status      VARCHAR(16) CHARACTER SET ascii NOT NULL,
  revoked     BIGINT UNSIGNED NOT NULL DEFAULT 0,
  kept        BIGINT UNSIGNED NOT NULL DEFAULT 0,
  started_at  DATETIME(3) NOT NULL,
  finished_at DATETIME(3) NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- warden schema v2 (MariaDB / MySQL): per-event decisions and the indexes
-- behind docs/queries.md.  Additive: runs online (no table copy, no lock).
CREATE TABLE IF NOT EXISTS decisions (
  run_id     VARBINARY(128) NOT NULL,
  event_id   VARBINARY(512) NOT NULL,
  stream     VARBINARY(128) NOT NULL,
  entity     MEDIUMBLOB NOT NULL,
  verdict    VARCHAR(16) CHARACTER SET ascii NOT NULL,
  rules      BLOB NOT NULL,
  event_ts   DATETIME(3) NULL,
  written_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (run_id, event_id),
  KEY decisions_by_entity (entity(64), event_ts)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE INDEX IF NOT EXISTS results_by_rule_ts ON rule_results (rule, event_ts) ALGORITHM=INPLACE LOCK=NONE;

CREATE INDEX IF NOT EXISTS results_by_entity ON rule_results (entity(64), event_ts) ALGORITHM=INPLACE LOCK=NONE;

CREATE INDEX IF NOT EXISTS results_by_run_rule ON rule_results (run_id, rule, verdict) ALGORITHM=INPLACE LOCK=NONE;

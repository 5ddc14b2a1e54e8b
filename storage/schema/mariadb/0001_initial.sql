-- warden schema v1 (MariaDB / MySQL): results, runs, rule versions.
-- Identifiers, entities and reasons are binary strings: they hold whatever
-- bytes the events carried (invalid UTF-8, NUL) and round-trip byte-exact.
-- Timestamps are UTC, DATETIME(3).
CREATE TABLE IF NOT EXISTS schema_version (
  version     INT NOT NULL PRIMARY KEY,
  description VARCHAR(255) NOT NULL,
  applied_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS rule_results (
  run_id          VARBINARY(128) NOT NULL,
  event_id        VARBINARY(512) NOT NULL,
  rule            VARBINARY(128) NOT NULL,
  stream          VARBINARY(128) NOT NULL,
  version         INT NOT NULL,
  mode            VARCHAR(16) CHARACTER SET ascii NOT NULL,
  verdict         VARCHAR(16) CHARACTER SET ascii NOT NULL,
  entity          MEDIUMBLOB NOT NULL,
  reason          MEDIUMBLOB NULL,
  score           DOUBLE NULL,
  event_ts        DATETIME(3) NULL,
  topic           VARBINARY(255) NULL,
  kafka_partition INT NULL,
  kafka_offset    BIGINT NULL,
  written_at      DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (run_id, event_id, rule)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS rule_runs (
  run_id       VARBINARY(128) NOT NULL PRIMARY KEY,
  kind         VARCHAR(16) CHARACTER SET ascii NOT NULL,
  status       VARCHAR(16) CHARACTER SET ascii NOT NULL,
  started_at   DATETIME(3) NOT NULL,
  finished_at  DATETIME(3) NULL,
  rules_sha256 CHAR(64) CHARACTER SET ascii NULL,
  params       MEDIUMTEXT CHARACTER SET utf8mb4 NULL,
  events       BIGINT UNSIGNED NULL,
  hits         BIGINT UNSIGNED NULL,
  rejected     BIGINT UNSIGNED NULL,
  errors       BIGINT UNSIGNED NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS rule_versions (
  name       VARBINARY(128) NOT NULL,
  version    INT NOT NULL,
  sha256     CHAR(64) CHARACTER SET ascii NOT NULL,
  source     MEDIUMBLOB NOT NULL,
  first_seen DATETIME(3) NOT NULL,
  PRIMARY KEY (name, version, sha256)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- warden schema v1 (StarRocks >= 3.1): Primary Key tables, so a Stream Load
-- or INSERT of an existing key replaces the row (the upsert).  Results are
-- partitioned by event day; key columns come first and are NOT NULL.
-- Apply with: warden migrate 'mysql://user@fe-host:9030/db?dialect=starrocks'
CREATE TABLE IF NOT EXISTS schema_version (
  version     INT NOT NULL,
  description VARCHAR(255) NOT NULL,
  applied_at  DATETIME NULL
) PRIMARY KEY (version)
DISTRIBUTED BY HASH(version) BUCKETS 1;

CREATE TABLE IF NOT EXISTS rule_results (
  event_day       DATE NOT NULL,
  run_id          VARCHAR(128) NOT NULL,
  event_id        VARCHAR(512) NOT NULL,
  rule            VARCHAR(128) NOT NULL,
  stream          VARCHAR(128) NOT NULL,
  version         INT NOT NULL,
  mode            VARCHAR(16) NOT NULL,
  verdict         VARCHAR(16) NOT NULL,
  entity          VARCHAR(1048576) NOT NULL,
  reason          VARCHAR(1048576) NULL,
  score           DOUBLE NULL,
  event_ts        DATETIME NULL,
  topic           VARCHAR(255) NULL,
  kafka_partition INT NULL,
  kafka_offset    BIGINT NULL,
  written_at      DATETIME NULL
) PRIMARY KEY (event_day, run_id, event_id, rule)
PARTITION BY date_trunc('day', event_day)
DISTRIBUTED BY HASH(run_id, event_id)
ORDER BY (rule, event_ts);

CREATE TABLE IF NOT EXISTS rule_runs (
  run_id       VARCHAR(128) NOT NULL,
  kind         VARCHAR(16) NOT NULL,
  status       VARCHAR(16) NOT NULL,
  started_at   DATETIME NOT NULL,
  finished_at  DATETIME NULL,
  rules_sha256 VARCHAR(64) NULL,
  params       VARCHAR(65533) NULL,
  events       BIGINT NULL,
  hits         BIGINT NULL,
  rejected     BIGINT NULL,
  errors       BIGINT NULL
) PRIMARY KEY (run_id)
DISTRIBUTED BY HASH(run_id) BUCKETS 1;

CREATE TABLE IF NOT EXISTS rule_versions (
  name       VARCHAR(128) NOT NULL,
  version    INT NOT NULL,
  sha256     VARCHAR(64) NOT NULL,
  source     VARCHAR(1048576) NOT NULL,
  first_seen DATETIME NOT NULL
) PRIMARY KEY (name, version, sha256)
DISTRIBUTED BY HASH(name) BUCKETS 1;

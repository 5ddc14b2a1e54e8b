-- warden schema v5 (StarRocks): fixed-size primary keys.  StarRocks cancels a
-- whole load when one row's primary key encodes to more than
-- primary_key_limit_size (128 bytes by default); run_id + event_id + rule can
-- reach 768 bytes and rule_versions' key 196.  The tables are rebuilt keyed
-- on row_key: the first 32 hex digits of sha256 over the length-prefixed
-- natural key, computed by the sinks (store_row_key) and below for the rows
-- already there.  The readable columns stay.  The old tables are kept as
-- *_v4 (dropped by warden migrate only on a database it created in the same
-- run, where they are empty); drop them yourself once the new ones check out.
CREATE TABLE IF NOT EXISTS rule_results_k (
  event_day       DATE NOT NULL,
  row_key         VARCHAR(32) NOT NULL,
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
  written_at      DATETIME NULL,
  rule_sha256     VARCHAR(64) NULL
) PRIMARY KEY (event_day, row_key)
PARTITION BY date_trunc('day', event_day)
DISTRIBUTED BY HASH(row_key)
ORDER BY (rule, event_ts);

INSERT INTO rule_results_k (event_day, row_key, run_id, event_id, rule, stream, version, mode,
  verdict, entity, reason, score, event_ts, topic, kafka_partition, kafka_offset, written_at,
  rule_sha256)
SELECT event_day,
  left(sha2(concat(cast(length(run_id) AS VARCHAR), ':', run_id,
                   cast(length(event_id) AS VARCHAR), ':', event_id, rule), 256), 32),
  run_id, event_id, rule, stream, version, mode, verdict, entity, reason, score, event_ts,
  topic, kafka_partition, kafka_offset, written_at, rule_sha256
FROM rule_results;

ALTER TABLE rule_results RENAME rule_results_v4;

ALTER TABLE rule_results_k RENAME rule_results;

CREATE TABLE IF NOT EXISTS decisions_k (
  event_day  DATE NOT NULL,
  row_key    VARCHAR(32) NOT NULL,
  run_id     VARCHAR(128) NOT NULL,
  event_id   VARCHAR(512) NOT NULL,
  stream     VARCHAR(128) NOT NULL,
  entity     VARCHAR(1048576) NOT NULL,
  verdict    VARCHAR(16) NOT NULL,
  rules      VARCHAR(65533) NOT NULL,
  event_ts   DATETIME NULL,
  written_at DATETIME NULL
) PRIMARY KEY (event_day, row_key)
PARTITION BY date_trunc('day', event_day)
DISTRIBUTED BY HASH(row_key)
ORDER BY (verdict, event_ts);

INSERT INTO decisions_k (event_day, row_key, run_id, event_id, stream, entity, verdict, rules,
  event_ts, written_at)
SELECT event_day,
  left(sha2(concat(cast(length(run_id) AS VARCHAR), ':', run_id,
                   cast(length(event_id) AS VARCHAR), ':', event_id), 256), 32),
  run_id, event_id, stream, entity, verdict, rules, event_ts, written_at
FROM decisions;

ALTER TABLE decisions RENAME decisions_v4;

ALTER TABLE decisions_k RENAME decisions;

CREATE TABLE IF NOT EXISTS rule_versions_k (
  row_key    VARCHAR(32) NOT NULL,
  name       VARCHAR(128) NOT NULL,
  version    INT NOT NULL,
  sha256     VARCHAR(64) NOT NULL,
  source     VARCHAR(1048576) NOT NULL,
  first_seen DATETIME NOT NULL
) PRIMARY KEY (row_key)
DISTRIBUTED BY HASH(row_key) BUCKETS 1;

INSERT INTO rule_versions_k (row_key, name, version, sha256, source, first_seen)
SELECT left(sha2(concat(cast(length(name) AS VARCHAR), ':', name,
                        cast(length(cast(version AS VARCHAR)) AS VARCHAR), ':',
                        cast(version AS VARCHAR), sha256), 256), 32),
  name, version, sha256, source, first_seen
FROM rule_versions;

ALTER TABLE rule_versions RENAME rule_versions_v4;

ALTER TABLE rule_versions_k RENAME rule_versions;

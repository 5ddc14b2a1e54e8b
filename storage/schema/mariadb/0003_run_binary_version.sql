-- warden schema v3 (MariaDB / MySQL): which warden build made each run.
-- Additive: a nullable column appended instantly.
ALTER TABLE rule_runs ADD COLUMN IF NOT EXISTS warden_version VARCHAR(32) CHARACTER SET ascii NULL, ALGORITHM=INSTANT;

-- warden schema v4 (MariaDB / MySQL): the exact rule source behind each hit
-- (rule_versions.sha256), so a rule edited without a version bump still
-- joins unambiguously.  Additive: a nullable column appended instantly;
-- rows written before v4 keep NULL.
ALTER TABLE rule_results ADD COLUMN IF NOT EXISTS rule_sha256 CHAR(64) CHARACTER SET ascii NULL, ALGORITHM=INSTANT;

-- warden schema v4 (StarRocks): the exact rule source behind each hit.
ALTER TABLE rule_results ADD COLUMN rule_sha256 VARCHAR(64) NULL;

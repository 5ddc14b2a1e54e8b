-- warden schema v3 (StarRocks): which warden build made each run.
ALTER TABLE rule_runs ADD COLUMN warden_version VARCHAR(32) NULL;

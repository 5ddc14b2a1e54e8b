-- warden schema v5 (MariaDB/MySQL): nothing to change.  Version 5 gives the
-- StarRocks tables fixed-size digest keys (its primary keys are limited to
-- 128 bytes); InnoDB keys hold the natural key (run_id, event_id, rule) of at
-- most 768 bytes as they are.  The statement keeps the versions in step.
DO 0;

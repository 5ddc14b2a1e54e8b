-- warden schema v8 (StarRocks): the labels a hit's evaluation set (see the
-- MariaDB file).
ALTER TABLE rule_results ADD COLUMN labels VARCHAR(65533) NULL;

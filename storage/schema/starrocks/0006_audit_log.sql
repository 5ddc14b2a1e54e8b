-- warden schema v6 (StarRocks): the admin API's audit log (see the MariaDB
-- file); id is short, so it is the key as it is.
CREATE TABLE IF NOT EXISTS audit_log (
  id        VARCHAR(128) NOT NULL,
  ts        DATETIME NOT NULL,
  instance  VARCHAR(255) NOT NULL,
  token     VARCHAR(64) NULL,
  action    VARCHAR(255) NOT NULL,
  rule      VARCHAR(128) NULL,
  before_v  VARCHAR(128) NULL,
  after_v   VARCHAR(128) NULL,
  result    VARCHAR(65533) NULL,
  status    INT NOT NULL
) PRIMARY KEY (id)
DISTRIBUTED BY HASH(id) BUCKETS 1;

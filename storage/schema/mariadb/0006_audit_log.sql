-- warden schema v6 (MariaDB/MySQL): the admin API's audit log, one row per
-- mutating call and per automatic mode change (the breaker), as in the
-- audit file.  id is "instance:unix-ns:seq", unique per process; token is a
-- hash prefix of the bearer token, never the token.
CREATE TABLE IF NOT EXISTS audit_log (
  id        VARBINARY(128) NOT NULL PRIMARY KEY,
  ts        DATETIME(3) NOT NULL,
  instance  VARBINARY(255) NOT NULL,
  token     VARCHAR(64) CHARACTER SET ascii NULL,
  action    VARBINARY(255) NOT NULL,
  rule      VARBINARY(128) NULL,
  before_v  VARBINARY(128) NULL,
  after_v   VARBINARY(128) NULL,
  result    BLOB NULL,
  status    INT NOT NULL,
  KEY audit_by_time (ts)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

/* storage/store_migrate.c — versioned migrations and `warden migrate`
 * (storage/store_migrate.h).  The statements below are the files in
 * storage/schema/{mariadb,starrocks}/ with comments removed; the unit test
 * tests/storage/test_store_schema.c keeps the two in step. */
#include "storage/store_migrate.h"
#include "base/wd_alloc.h"
#include "storage/store_int.h"
#include "storage/store_mysql.h"
#include "storage/store_url.h"

#include <ctype.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- embedded schema (generated from storage/schema/) ------------------- */

static const char *const mariadb_v1[] = {
        "CREATE TABLE IF NOT EXISTS schema_version (\n"
        "  version     INT NOT NULL PRIMARY KEY,\n"
        "  description VARCHAR(255) NOT NULL,\n"
        "  applied_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)\n"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
        "CREATE TABLE IF NOT EXISTS rule_results (\n"
        "  run_id          VARBINARY(128) NOT NULL,\n"
        "  event_id        VARBINARY(512) NOT NULL,\n"
        "  rule            VARBINARY(128) NOT NULL,\n"
        "  stream          VARBINARY(128) NOT NULL,\n"
        "  version         INT NOT NULL,\n"
        "  mode            VARCHAR(16) CHARACTER SET ascii NOT NULL,\n"
        "  verdict         VARCHAR(16) CHARACTER SET ascii NOT NULL,\n"
        "  entity          MEDIUMBLOB NOT NULL,\n"
        "  reason          MEDIUMBLOB NULL,\n"
        "  score           DOUBLE NULL,\n"
        "  event_ts        DATETIME(3) NULL,\n"
        "  topic           VARBINARY(255) NULL,\n"
        "  kafka_partition INT NULL,\n"
        "  kafka_offset    BIGINT NULL,\n"
        "  written_at      DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),\n"
        "  PRIMARY KEY (run_id, event_id, rule)\n"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
        "CREATE TABLE IF NOT EXISTS rule_runs (\n"
        "  run_id       VARBINARY(128) NOT NULL PRIMARY KEY,\n"
        "  kind         VARCHAR(16) CHARACTER SET ascii NOT NULL,\n"
        "  status       VARCHAR(16) CHARACTER SET ascii NOT NULL,\n"
        "  started_at   DATETIME(3) NOT NULL,\n"
        "  finished_at  DATETIME(3) NULL,\n"
        "  rules_sha256 CHAR(64) CHARACTER SET ascii NULL,\n"
        "  params       MEDIUMTEXT CHARACTER SET utf8mb4 NULL,\n"
        "  events       BIGINT UNSIGNED NULL,\n"
        "  hits         BIGINT UNSIGNED NULL,\n"
        "  rejected     BIGINT UNSIGNED NULL,\n"
        "  errors       BIGINT UNSIGNED NULL\n"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
        "CREATE TABLE IF NOT EXISTS rule_versions (\n"
        "  name       VARBINARY(128) NOT NULL,\n"
        "  version    INT NOT NULL,\n"
        "  sha256     CHAR(64) CHARACTER SET ascii NOT NULL,\n"
        "  source     MEDIUMBLOB NOT NULL,\n"
        "  first_seen DATETIME(3) NOT NULL,\n"
        "  PRIMARY KEY (name, version, sha256)\n"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    NULL,
};

static const char *const mariadb_v2[] = {
        "CREATE TABLE IF NOT EXISTS decisions (\n"
        "  run_id     VARBINARY(128) NOT NULL,\n"
        "  event_id   VARBINARY(512) NOT NULL,\n"
        "  stream     VARBINARY(128) NOT NULL,\n"
        "  entity     MEDIUMBLOB NOT NULL,\n"
        "  verdict    VARCHAR(16) CHARACTER SET ascii NOT NULL,\n"
        "  rules      BLOB NOT NULL,\n"
        "  event_ts   DATETIME(3) NULL,\n"
        "  written_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),\n"
        "  PRIMARY KEY (run_id, event_id),\n"
        "  KEY decisions_by_entity (entity(64), event_ts)\n"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
        "CREATE INDEX IF NOT EXISTS results_by_rule_ts ON rule_results (rule, event_ts) ALGORITHM=INPLACE LOCK=NONE",
        "CREATE INDEX IF NOT EXISTS results_by_entity ON rule_results (entity(64), event_ts) ALGORITHM=INPLACE LOCK=NONE",
        "CREATE INDEX IF NOT EXISTS results_by_run_rule ON rule_results (run_id, rule, verdict) ALGORITHM=INPLACE LOCK=NONE",
    NULL,
};

static const char *const mariadb_v3[] = {
        "ALTER TABLE rule_runs ADD COLUMN IF NOT EXISTS warden_version VARCHAR(32) CHARACTER SET ascii NULL, ALGORITHM=INSTANT",
    NULL,
};

static const char *const mariadb_v4[] = {
        "ALTER TABLE rule_results ADD COLUMN IF NOT EXISTS rule_sha256 CHAR(64) CHARACTER SET ascii NULL, ALGORITHM=INSTANT",
    NULL,
};

static const char *const mariadb_v5[] = {
        "DO 0",
    NULL,
};

static const char *const mariadb_v6[] = {
        "CREATE TABLE IF NOT EXISTS audit_log (\n"
        "  id        VARBINARY(128) NOT NULL PRIMARY KEY,\n"
        "  ts        DATETIME(3) NOT NULL,\n"
        "  instance  VARBINARY(255) NOT NULL,\n"
        "  token     VARCHAR(64) CHARACTER SET ascii NULL,\n"
        "  action    VARBINARY(255) NOT NULL,\n"
        "  rule      VARBINARY(128) NULL,\n"
        "  before_v  VARBINARY(128) NULL,\n"
        "  after_v   VARBINARY(128) NULL,\n"
        "  result    BLOB NULL,\n"
        "  status    INT NOT NULL,\n"
        "  KEY audit_by_time (ts)\n"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    NULL,
};

static const char *const mariadb_v7[] = {
        "ALTER TABLE rule_results ADD COLUMN IF NOT EXISTS entity_type VARCHAR(32) CHARACTER SET ascii NOT NULL DEFAULT 'unknown', ALGORITHM=INSTANT",
        "ALTER TABLE decisions ADD COLUMN IF NOT EXISTS entity_type VARCHAR(32) CHARACTER SET ascii NOT NULL DEFAULT 'unknown', ALGORITHM=INSTANT",
        "CREATE TABLE IF NOT EXISTS actions (\n"
        "  run_id          VARBINARY(128) NOT NULL,\n"
        "  event_id        VARBINARY(512) NOT NULL,\n"
        "  entity_key      CHAR(32) CHARACTER SET ascii NOT NULL,\n"
        "  stream          VARBINARY(128) NOT NULL,\n"
        "  entity_type     VARCHAR(32) CHARACTER SET ascii NOT NULL,\n"
        "  entity          MEDIUMBLOB NOT NULL,\n"
        "  verdict         VARCHAR(16) CHARACTER SET ascii NOT NULL,\n"
        "  rules           BLOB NOT NULL,\n"
        "  ttl             VARCHAR(32) CHARACTER SET ascii NULL,\n"
        "  event_ts        DATETIME(3) NULL,\n"
        "  topic           VARBINARY(255) NULL,\n"
        "  kafka_partition INT NULL,\n"
        "  kafka_offset    BIGINT NULL,\n"
        "  written_at      DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),\n"
        "  PRIMARY KEY (run_id, event_id, entity_key),\n"
        "  KEY actions_by_entity (entity_key, event_ts)\n"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
        "CREATE TABLE IF NOT EXISTS undo_runs (\n"
        "  undo_id     CHAR(32) CHARACTER SET ascii NOT NULL PRIMARY KEY,\n"
        "  rule        VARBINARY(128) NOT NULL,\n"
        "  version     INT NULL,\n"
        "  from_ts     DATETIME(3) NOT NULL,\n"
        "  to_ts       DATETIME(3) NOT NULL,\n"
        "  status      VARCHAR(16) CHARACTER SET ascii NOT NULL,\n"
        "  revoked     BIGINT UNSIGNED NOT NULL DEFAULT 0,\n"
        "  kept        BIGINT UNSIGNED NOT NULL DEFAULT 0,\n"
        "  started_at  DATETIME(3) NOT NULL,\n"
        "  finished_at DATETIME(3) NULL\n"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    NULL,
};

static const char *const mariadb_v8[] = {
        "ALTER TABLE rule_results ADD COLUMN IF NOT EXISTS labels BLOB NULL, ALGORITHM=INSTANT",
    NULL,
};

static const store_migration_t mariadb_migrations[] = {
    { 1, "initial", 0, mariadb_v1, NULL },
    { 2, "decisions and indexes", 0, mariadb_v2, NULL },
    { 3, "run binary version", 0, mariadb_v3, NULL },
    { 4, "rule source hash", 0, mariadb_v4, NULL },
    { 5, "digest keys", 0, mariadb_v5, NULL },
    { 6, "audit log", 0, mariadb_v6, NULL },
    { 7, "entity actions", 0, mariadb_v7, NULL },
    { 8, "hit labels", 0, mariadb_v8, NULL },
};

static const char *const starrocks_v1[] = {
        "CREATE TABLE IF NOT EXISTS schema_version (\n"
        "  version     INT NOT NULL,\n"
        "  description VARCHAR(255) NOT NULL,\n"
        "  applied_at  DATETIME NULL\n"
        ") PRIMARY KEY (version)\n"
        "DISTRIBUTED BY HASH(version) BUCKETS 1",
        "CREATE TABLE IF NOT EXISTS rule_results (\n"
        "  event_day       DATE NOT NULL,\n"
        "  run_id          VARCHAR(128) NOT NULL,\n"
        "  event_id        VARCHAR(512) NOT NULL,\n"
        "  rule            VARCHAR(128) NOT NULL,\n"
        "  stream          VARCHAR(128) NOT NULL,\n"
        "  version         INT NOT NULL,\n"
        "  mode            VARCHAR(16) NOT NULL,\n"
        "  verdict         VARCHAR(16) NOT NULL,\n"
        "  entity          VARCHAR(1048576) NOT NULL,\n"
        "  reason          VARCHAR(1048576) NULL,\n"
        "  score           DOUBLE NULL,\n"
        "  event_ts        DATETIME NULL,\n"
        "  topic           VARCHAR(255) NULL,\n"
        "  kafka_partition INT NULL,\n"
        "  kafka_offset    BIGINT NULL,\n"
        "  written_at      DATETIME NULL\n"
        ") PRIMARY KEY (event_day, run_id, event_id, rule)\n"
        "PARTITION BY date_trunc('day', event_day)\n"
        "DISTRIBUTED BY HASH(run_id, event_id)\n"
        "ORDER BY (rule, event_ts)",
        "CREATE TABLE IF NOT EXISTS rule_runs (\n"
        "  run_id       VARCHAR(128) NOT NULL,\n"
        "  kind         VARCHAR(16) NOT NULL,\n"
        "  status       VARCHAR(16) NOT NULL,\n"
        "  started_at   DATETIME NOT NULL,\n"
        "  finished_at  DATETIME NULL,\n"
        "  rules_sha256 VARCHAR(64) NULL,\n"
        "  params       VARCHAR(65533) NULL,\n"
        "  events       BIGINT NULL,\n"
        "  hits         BIGINT NULL,\n"
        "  rejected     BIGINT NULL,\n"
        "  errors       BIGINT NULL\n"
        ") PRIMARY KEY (run_id)\n"
        "DISTRIBUTED BY HASH(run_id) BUCKETS 1",
        "CREATE TABLE IF NOT EXISTS rule_versions (\n"
        "  name       VARCHAR(128) NOT NULL,\n"
        "  version    INT NOT NULL,\n"
        "  sha256     VARCHAR(64) NOT NULL,\n"
        "  source     VARCHAR(1048576) NOT NULL,\n"
        "  first_seen DATETIME NOT NULL\n"
        ") PRIMARY KEY (name, version, sha256)\n"
        "DISTRIBUTED BY HASH(name) BUCKETS 1",
    NULL,
};

static const char *const starrocks_v2[] = {
        "CREATE TABLE IF NOT EXISTS decisions (\n"
        "  event_day  DATE NOT NULL,\n"
        "  run_id     VARCHAR(128) NOT NULL,\n"
        "  event_id   VARCHAR(512) NOT NULL,\n"
        "  stream     VARCHAR(128) NOT NULL,\n"
        "  entity     VARCHAR(1048576) NOT NULL,\n"
        "  verdict    VARCHAR(16) NOT NULL,\n"
        "  rules      VARCHAR(65533) NOT NULL,\n"
        "  event_ts   DATETIME NULL,\n"
        "  written_at DATETIME NULL\n"
        ") PRIMARY KEY (event_day, run_id, event_id)\n"
        "PARTITION BY date_trunc('day', event_day)\n"
        "DISTRIBUTED BY HASH(run_id, event_id)\n"
        "ORDER BY (verdict, event_ts)",
    NULL,
};

static const char *const starrocks_v3[] = {
        "ALTER TABLE rule_runs ADD COLUMN warden_version VARCHAR(32) NULL",
    NULL,
};

static const char *const starrocks_v4[] = {
        "ALTER TABLE rule_results ADD COLUMN rule_sha256 VARCHAR(64) NULL",
    NULL,
};

static const char *const starrocks_v5[] = {
        "CREATE TABLE IF NOT EXISTS rule_results_k (\n"
        "  event_day       DATE NOT NULL,\n"
        "  row_key         VARCHAR(32) NOT NULL,\n"
        "  run_id          VARCHAR(128) NOT NULL,\n"
        "  event_id        VARCHAR(512) NOT NULL,\n"
        "  rule            VARCHAR(128) NOT NULL,\n"
        "  stream          VARCHAR(128) NOT NULL,\n"
        "  version         INT NOT NULL,\n"
        "  mode            VARCHAR(16) NOT NULL,\n"
        "  verdict         VARCHAR(16) NOT NULL,\n"
        "  entity          VARCHAR(1048576) NOT NULL,\n"
        "  reason          VARCHAR(1048576) NULL,\n"
        "  score           DOUBLE NULL,\n"
        "  event_ts        DATETIME NULL,\n"
        "  topic           VARCHAR(255) NULL,\n"
        "  kafka_partition INT NULL,\n"
        "  kafka_offset    BIGINT NULL,\n"
        "  written_at      DATETIME NULL,\n"
        "  rule_sha256     VARCHAR(64) NULL\n"
        ") PRIMARY KEY (event_day, row_key)\n"
        "PARTITION BY date_trunc('day', event_day)\n"
        "DISTRIBUTED BY HASH(row_key)\n"
        "ORDER BY (rule, event_ts)",
        "INSERT INTO rule_results_k (event_day, row_key, run_id, event_id, rule, stream, version, mode,\n"
        "  verdict, entity, reason, score, event_ts, topic, kafka_partition, kafka_offset, written_at,\n"
        "  rule_sha256)\n"
        "SELECT event_day,\n"
        "  left(sha2(concat(cast(length(run_id) AS VARCHAR), ':', run_id,\n"
        "                   cast(length(event_id) AS VARCHAR), ':', event_id, rule), 256), 32),\n"
        "  run_id, event_id, rule, stream, version, mode, verdict, entity, reason, score, event_ts,\n"
        "  topic, kafka_partition, kafka_offset, written_at, rule_sha256\n"
        "FROM rule_results",
        "ALTER TABLE rule_results RENAME rule_results_v4",
        "ALTER TABLE rule_results_k RENAME rule_results",
        "CREATE TABLE IF NOT EXISTS decisions_k (\n"
        "  event_day  DATE NOT NULL,\n"
        "  row_key    VARCHAR(32) NOT NULL,\n"
        "  run_id     VARCHAR(128) NOT NULL,\n"
        "  event_id   VARCHAR(512) NOT NULL,\n"
        "  stream     VARCHAR(128) NOT NULL,\n"
        "  entity     VARCHAR(1048576) NOT NULL,\n"
        "  verdict    VARCHAR(16) NOT NULL,\n"
        "  rules      VARCHAR(65533) NOT NULL,\n"
        "  event_ts   DATETIME NULL,\n"
        "  written_at DATETIME NULL\n"
        ") PRIMARY KEY (event_day, row_key)\n"
        "PARTITION BY date_trunc('day', event_day)\n"
        "DISTRIBUTED BY HASH(row_key)\n"
        "ORDER BY (verdict, event_ts)",
        "INSERT INTO decisions_k (event_day, row_key, run_id, event_id, stream, entity, verdict, rules,\n"
        "  event_ts, written_at)\n"
        "SELECT event_day,\n"
        "  left(sha2(concat(cast(length(run_id) AS VARCHAR), ':', run_id,\n"
        "                   cast(length(event_id) AS VARCHAR), ':', event_id), 256), 32),\n"
        "  run_id, event_id, stream, entity, verdict, rules, event_ts, written_at\n"
        "FROM decisions",
        "ALTER TABLE decisions RENAME decisions_v4",
        "ALTER TABLE decisions_k RENAME decisions",
        "CREATE TABLE IF NOT EXISTS rule_versions_k (\n"
        "  row_key    VARCHAR(32) NOT NULL,\n"
        "  name       VARCHAR(128) NOT NULL,\n"
        "  version    INT NOT NULL,\n"
        "  sha256     VARCHAR(64) NOT NULL,\n"
        "  source     VARCHAR(1048576) NOT NULL,\n"
        "  first_seen DATETIME NOT NULL\n"
        ") PRIMARY KEY (row_key)\n"
        "DISTRIBUTED BY HASH(row_key) BUCKETS 1",
        "INSERT INTO rule_versions_k (row_key, name, version, sha256, source, first_seen)\n"
        "SELECT left(sha2(concat(cast(length(name) AS VARCHAR), ':', name,\n"
        "                        cast(length(cast(version AS VARCHAR)) AS VARCHAR), ':',\n"
        "                        cast(version AS VARCHAR), sha256), 256), 32),\n"
        "  name, version, sha256, source, first_seen\n"
        "FROM rule_versions",
        "ALTER TABLE rule_versions RENAME rule_versions_v4",
        "ALTER TABLE rule_versions_k RENAME rule_versions",
    NULL,
};

/* Run only when the migration run began on an empty database: the *_v4
 * tables v5 leaves behind were made (empty) by the same run. */
static const char *const starrocks_v5_fresh[] = {
    "DROP TABLE IF EXISTS rule_results_v4",
    "DROP TABLE IF EXISTS decisions_v4",
    "DROP TABLE IF EXISTS rule_versions_v4",
    NULL,
};

static const char *const starrocks_v6[] = {
        "CREATE TABLE IF NOT EXISTS audit_log (\n"
        "  id        VARCHAR(128) NOT NULL,\n"
        "  ts        DATETIME NOT NULL,\n"
        "  instance  VARCHAR(255) NOT NULL,\n"
        "  token     VARCHAR(64) NULL,\n"
        "  action    VARCHAR(255) NOT NULL,\n"
        "  rule      VARCHAR(128) NULL,\n"
        "  before_v  VARCHAR(128) NULL,\n"
        "  after_v   VARCHAR(128) NULL,\n"
        "  result    VARCHAR(65533) NULL,\n"
        "  status    INT NOT NULL\n"
        ") PRIMARY KEY (id)\n"
        "DISTRIBUTED BY HASH(id) BUCKETS 1",
    NULL,
};

static const char *const starrocks_v7[] = {
        "ALTER TABLE rule_results ADD COLUMN entity_type VARCHAR(32) NOT NULL DEFAULT 'unknown'",
        "ALTER TABLE decisions ADD COLUMN entity_type VARCHAR(32) NOT NULL DEFAULT 'unknown'",
        "CREATE TABLE IF NOT EXISTS actions (\n"
        "  event_day       DATE NOT NULL,\n"
        "  row_key         VARCHAR(32) NOT NULL,\n"
        "  run_id          VARCHAR(128) NOT NULL,\n"
        "  event_id        VARCHAR(512) NOT NULL,\n"
        "  entity_key      VARCHAR(32) NOT NULL,\n"
        "  stream          VARCHAR(128) NOT NULL,\n"
        "  entity_type     VARCHAR(32) NOT NULL,\n"
        "  entity          VARCHAR(1048576) NOT NULL,\n"
        "  verdict         VARCHAR(16) NOT NULL,\n"
        "  rules           VARCHAR(65533) NOT NULL,\n"
        "  ttl             VARCHAR(32) NULL,\n"
        "  event_ts        DATETIME NULL,\n"
        "  topic           VARCHAR(255) NULL,\n"
        "  kafka_partition INT NULL,\n"
        "  kafka_offset    BIGINT NULL,\n"
        "  written_at      DATETIME NULL\n"
        ") PRIMARY KEY (event_day, row_key)\n"
        "PARTITION BY date_trunc('day', event_day)\n"
        "DISTRIBUTED BY HASH(row_key)\n"
        "ORDER BY (entity_key, event_ts)",
        "CREATE TABLE IF NOT EXISTS undo_runs (\n"
        "  undo_id     VARCHAR(32) NOT NULL,\n"
        "  rule        VARCHAR(128) NOT NULL,\n"
        "  version     INT NULL,\n"
        "  from_ts     DATETIME NOT NULL,\n"
        "  to_ts       DATETIME NOT NULL,\n"
        "  status      VARCHAR(16) NOT NULL,\n"
        "  revoked     BIGINT NOT NULL,\n"
        "  kept        BIGINT NOT NULL,\n"
        "  started_at  DATETIME NOT NULL,\n"
        "  finished_at DATETIME NULL\n"
        ") PRIMARY KEY (undo_id)\n"
        "DISTRIBUTED BY HASH(undo_id) BUCKETS 1",
    NULL,
};

static const char *const starrocks_v8[] = {
        "ALTER TABLE rule_results ADD COLUMN labels VARCHAR(65533) NULL",
    NULL,
};

static const store_migration_t starrocks_migrations[] = {
    { 1, "initial", 0, starrocks_v1, NULL },
    { 2, "decisions and indexes", 0, starrocks_v2, NULL },
    { 3, "run binary version", 0, starrocks_v3, NULL },
    { 4, "rule source hash", 0, starrocks_v4, NULL },
    { 5, "digest keys", 1, starrocks_v5, starrocks_v5_fresh },
    { 6, "audit log", 0, starrocks_v6, NULL },
    { 7, "entity actions", 0, starrocks_v7, NULL },
    { 8, "hit labels", 0, starrocks_v8, NULL },
};


#define NMIG(a) (sizeof(a) / sizeof((a)[0]))

int store_schema_required(void)
{
    return mariadb_migrations[NMIG(mariadb_migrations) - 1].version;
}

const store_migration_t *store_migrations(const char *dialect, size_t *n)
{
    if (dialect && strcmp(dialect, "starrocks") == 0) {
        *n = NMIG(starrocks_migrations);
        return starrocks_migrations;
    }
    *n = NMIG(mariadb_migrations);
    return mariadb_migrations;
}

/* Case-insensitive search for word w in s with non-identifier neighbours. */
static int has_word(const char *s, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = s; *p; p++) {
        if (strncasecmp(p, w, n) != 0)
            continue;
        int before = p == s || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
        int after = !(isalnum((unsigned char)p[n]) || p[n] == '_');
        if (before && after)
            return 1;
    }
    return 0;
}

int store_migration_is_destructive(const store_migration_t *m)
{
    if (m->destructive)
        return 1;
    static const char *const words[] = { "DROP", "RENAME", "TRUNCATE", "DELETE", "MODIFY",
                                          "CHANGE", "REPLACE", NULL };
    for (size_t i = 0; m->stmts[i]; i++)
        for (size_t k = 0; words[k]; k++)
            if (has_word(m->stmts[i], words[k]))
                return 1;
    return 0;
}

/* MySQL lacks MariaDB's IF NOT EXISTS on CREATE INDEX and ADD COLUMN; there
 * the "already exists" errors below make the step idempotent instead. */
static char *dialect_stmt(const char *s, int dialect)
{
    char *out = wd_strdup(s);
    if (!out || dialect != STORE_DIALECT_MYSQL)
        return out;
    char *p;
    if ((strncasecmp(out, "CREATE INDEX IF NOT EXISTS", 26) == 0 && (p = out + 12)) ||
        ((p = strstr(out, "ADD COLUMN IF NOT EXISTS")) && (p += 10))) {
        memmove(p, p + 14, strlen(p + 14) + 1);
    }
    return out;
}

typedef struct conn {
    store_url_t url;
    char       *redacted;
    MYSQL      *m;
    int         dialect;
} conn_t;

/* 1 when stmt failed only because it already took effect: MySQL's and
 * MariaDB's duplicate codes; StarRocks answers a generic code with "already
 * exists" text ("Can not add column which already exists …", "Table 'x'
 * already exists"), taken as applied for CREATE and ADD COLUMN only (a
 * RENAME onto an existing name is a real conflict). */
static int already_applied(const conn_t *c, const char *stmt)
{
    unsigned err = mysql_errno(c->m);
    if (err == ER_DUP_KEYNAME || err == ER_DUP_FIELDNAME || err == ER_TABLE_EXISTS_ERROR)
        return 1;
    if (c->dialect != STORE_DIALECT_STARROCKS || !strcasestr(mysql_error(c->m), "already exists"))
        return 0;
    return strncasecmp(stmt, "CREATE", 6) == 0 || strcasestr(stmt, "ADD COLUMN") != NULL;
}

/* The table an "ALTER TABLE t ADD COLUMN …" changes, into out; 0 if stmt is
 * not one. */
static int add_column_table(const char *stmt, char *out, size_t size)
{
    if (strncasecmp(stmt, "ALTER TABLE ", 12) != 0 || !strcasestr(stmt, " ADD COLUMN "))
        return 0;
    const char *p = stmt + 12;
    size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
    if (n == 0 || n >= size)
        return 0;
    memcpy(out, p, n);
    out[n] = '\0';
    return 1;
}

/* StarRocks runs ADD COLUMN on a Primary Key table as an asynchronous
 * schema-change job: waits (polling once a second, at most timeout_s) until
 * the newest job of table is FINISHED.  No job listed means the change was
 * applied at once (fast schema evolution).  Returns 0, or -1 with a message
 * (CANCELLED with StarRocks' reason, or still running at the timeout). */
static int wait_alter_job(conn_t *c, const char *table, int timeout_s, char *err, size_t errsz)
{
    char q[256];
    snprintf(q, sizeof(q),
             "SHOW ALTER TABLE COLUMN WHERE TableName = '%s' ORDER BY CreateTime DESC LIMIT 1", table);
    for (int waited = 0;; waited++) {
        if (mysql_query(c->m, q) != 0) {
            snprintf(err, errsz, "SHOW ALTER TABLE COLUMN for %s: %s", table, mysql_error(c->m));
            return -1;
        }
        MYSQL_RES *r = mysql_store_result(c->m);
        MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
        if (!row) {
            mysql_free_result(r);
            return 0;
        }
        const char *state = NULL, *msg = "";
        unsigned nf = mysql_num_fields(r);
        MYSQL_FIELD *f = mysql_fetch_fields(r);
        for (unsigned i = 0; i < nf; i++) {
            if (strcasecmp(f[i].name, "State") == 0 && row[i])
                state = row[i];
            else if (strcasecmp(f[i].name, "Msg") == 0 && row[i])
                msg = row[i];
        }
        int done = state && strcasecmp(state, "FINISHED") == 0;
        int cancelled = state && strcasecmp(state, "CANCELLED") == 0;
        if (cancelled)
            snprintf(err, errsz, "schema change of %s was cancelled: %s", table, msg);
        mysql_free_result(r);
        if (done)
            return 0;
        if (cancelled)
            return -1;
        if (waited >= timeout_s) {
            snprintf(err, errsz,
                     "schema change of %s still %s after %d s; rerun warden migrate once "
                     "SHOW ALTER TABLE COLUMN says FINISHED", table, state ? state : "running",
                     timeout_s);
            return -1;
        }
        struct timespec ts = { 1, 0 };
        nanosleep(&ts, NULL);
    }
}

static void conn_close(conn_t *c)
{
    if (c->m)
        mysql_close(c->m);
    free(c->redacted);
    store_url_free(&c->url);
    memset(c, 0, sizeof(*c));
}

static int conn_open(conn_t *c, const char *url, char *errstr, size_t errstr_size)
{
    memset(c, 0, sizeof(*c));
    if (strncmp(url, "mysql://", 8) != 0)
        return store_seterr(errstr, errstr_size,
                            "migrate: %s: want a mysql:// URL (for StarRocks, its FE MySQL port "
                            "with ?dialect=starrocks)", strncmp(url, "starrocks://", 12) == 0 ? "starrocks://" : "URL");
    if (store_url_parse(&c->url, url, errstr, errstr_size) != 0)
        return -1;
    c->redacted = store_url_redacted(&c->url);
    store_myconn_opts_t o;
    char err[512];
    int retriable;
    if (!c->url.db) {
        store_seterr(errstr, errstr_size, "migrate: %s: no database in the URL", c->redacted);
        goto fail;
    }
    if (store_my_check_params(&c->url, errstr, errstr_size) != 0 ||
        store_my_opts_from_url(&c->url, &o, errstr, errstr_size) != 0)
        goto fail;
    c->m = store_my_connect(&c->url, &o, &c->dialect, &retriable, err, sizeof(err));
    if (!c->m) {
        store_seterr(errstr, errstr_size, "migrate: %s: %s", c->redacted, err);
        goto fail;
    }
    return 0;
fail:
    conn_close(c);
    return -1;
}

int store_schema_current(const char *url, int *version, char *errstr, size_t errstr_size)
{
    conn_t c;
    char err[512];
    if (conn_open(&c, url, errstr, errstr_size) != 0)
        return -1;
    int rc = store_my_schema_version(c.m, version, NULL, err, sizeof(err));
    if (rc != 0)
        store_seterr(errstr, errstr_size, "migrate: %s: %s", c.redacted, err);
    conn_close(&c);
    return rc;
}

int store_migrate(const char *url, const store_migration_t *list, size_t n, int target,
                  int force, int quiet, char *errstr, size_t errstr_size)
{
    conn_t c;
    char err[512];
    int rc = -1, locked = 0, have;
    if (conn_open(&c, url, errstr, errstr_size) != 0)
        return -1;
    if (!list)
        list = store_migrations(store_dialect_name(c.dialect), &n);
    int last = n ? list[n - 1].version : 0;
    if (target <= 0 || target > last)
        target = last;
    /* One migrator at a time (MariaDB/MySQL; StarRocks has no GET_LOCK). */
    if (c.dialect != STORE_DIALECT_STARROCKS) {
        if (mysql_query(c.m, "SELECT GET_LOCK('warden_migrate', 60)") != 0) {
            store_seterr(errstr, errstr_size, "migrate: %s: GET_LOCK: %s", c.redacted, mysql_error(c.m));
            goto done;
        }
        MYSQL_RES *r = mysql_store_result(c.m);
        MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
        locked = row && row[0] && strcmp(row[0], "1") == 0;
        mysql_free_result(r);
        if (!locked) {
            store_seterr(errstr, errstr_size, "migrate: %s: another migration holds the lock", c.redacted);
            goto done;
        }
    }
    if (store_my_schema_version(c.m, &have, NULL, err, sizeof(err)) != 0) {
        store_seterr(errstr, errstr_size, "migrate: %s: %s", c.redacted, err);
        goto done;
    }
    if (have >= target) {
        if (!quiet)
            fprintf(stderr, "migrate: %s: schema version %d%s, nothing to do\n", c.redacted, have,
                    have > last ? " (newer than this binary)" : "");
        rc = 0;
        goto done;
    }
    int fresh = have == 0;   /* nothing to lose: destructive steps need no --force */
    for (size_t i = 0; i < n; i++) {
        const store_migration_t *mg = &list[i];
        if (mg->version <= have || mg->version > target)
            continue;
        if (store_migration_is_destructive(mg) && !force && !fresh) {
            store_seterr(errstr, errstr_size,
                         "migrate: %s: migration %d (%s) is destructive (drops or rewrites data); "
                         "schema stays at version %d: back up, then rerun with --force",
                         c.redacted, mg->version, mg->description, have);
            goto done;
        }
        size_t k;
        for (k = 0; mg->stmts[k]; k++) {
            char *q = dialect_stmt(mg->stmts[k], c.dialect);
            if (!q) {
                store_seterr(errstr, errstr_size, "migrate: out of memory");
                goto done;
            }
            int bad = mysql_query(c.m, q) != 0 && !already_applied(&c, q);
            if (!bad)
                mysql_free_result(mysql_store_result(c.m));
            if (bad) {
                store_seterr(errstr, errstr_size,
                             "migrate: %s: migration %d (%s), statement %zu: %s (error %u); "
                             "schema stays at version %d", c.redacted, mg->version,
                             mg->description, k + 1, mysql_error(c.m), mysql_errno(c.m), have);
                free(q);
                goto done;
            }
            char table[130];
            if (c.dialect == STORE_DIALECT_STARROCKS && add_column_table(q, table, sizeof(table)) &&
                wait_alter_job(&c, table, 600, err, sizeof(err)) != 0) {
                store_seterr(errstr, errstr_size,
                             "migrate: %s: migration %d (%s), statement %zu: %s; schema stays at "
                             "version %d", c.redacted, mg->version, mg->description, k + 1, err, have);
                free(q);
                goto done;
            }
            free(q);
        }
        for (size_t f = 0; fresh && mg->fresh_stmts && mg->fresh_stmts[f]; f++) {
            if (mysql_query(c.m, mg->fresh_stmts[f]) != 0) {
                store_seterr(errstr, errstr_size, "migrate: %s: migration %d (%s), clean-up: %s",
                             c.redacted, mg->version, mg->description, mysql_error(c.m));
                goto done;
            }
            mysql_free_result(mysql_store_result(c.m));
        }
        char ins[512];
        snprintf(ins, sizeof(ins),
                 "INSERT INTO schema_version (version, description, applied_at) VALUES (%d, '%s', %s)",
                 mg->version, mg->description,
                 c.dialect == STORE_DIALECT_STARROCKS ? "NOW()" : "UTC_TIMESTAMP(3)");
        if (mysql_query(c.m, ins) != 0 && mysql_errno(c.m) != ER_DUP_ENTRY) {
            store_seterr(errstr, errstr_size, "migrate: %s: recording version %d: %s", c.redacted,
                         mg->version, mysql_error(c.m));
            goto done;
        }
        have = mg->version;
        if (!quiet)
            fprintf(stderr, "migrate: %s: applied version %d (%s, %zu statements%s)\n", c.redacted,
                    mg->version, mg->description, k,
                    store_migration_is_destructive(mg) ? ", destructive, forced" : ", online");
    }
    rc = 0;
done:
    if (locked && mysql_query(c.m, "SELECT RELEASE_LOCK('warden_migrate')") == 0)
        mysql_free_result(mysql_store_result(c.m));
    conn_close(&c);
    return rc;
}

/* tests/storage/test_store_mysql.c — the mysql:// sink and warden migrate
 * against a real MariaDB: upsert idempotency, hostile strings byte-exact on
 * both write paths (array binding and escaped multi-row INSERT), runs /
 * rule versions / decisions, migrations from empty and from each older
 * version, refusal of destructive steps, the schema-version check, fatal
 * row errors.  Needs WARDEN_DB_URL (tests/db/mariadb.sh env; run by
 * tests/integration/db_store.sh, which counts it); without it, exits 77
 * (skipped, which the suite never counts as a pass).  Each
 * test works in its own fresh database, dropped afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <mysql.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/wd_buf.h"
#include "storage/store.h"
#include "cmd/cmd.h"
#include "storage/store_migrate.h"
#include "storage/store_url.h"

static const char *base_url;
static MYSQL *admin;
static char db[64];
static char url[512];
static int seq;

static MYSQL *connect_db(const char *dbname)
{
    store_url_t u;
    char err[256];
    assert_int_equal(store_url_parse(&u, base_url, err, sizeof(err)), 0);
    MYSQL *m = mysql_init(NULL);
    if (!mysql_real_connect(m, u.host, u.user, u.password, dbname, u.port, NULL, 0))
        fail_msg("connect: %s", mysql_error(m));
    mysql_set_character_set(m, "binary");
    store_url_free(&u);
    return m;
}

static void sql(MYSQL *m, const char *fmt, ...)
{
    char q[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof(q), fmt, ap);
    va_end(ap);
    if (mysql_query(m, q) != 0)
        fail_msg("%s: %s", q, mysql_error(m));
    mysql_free_result(mysql_store_result(m));
}

static long long scalar(const char *fmt, ...)
{
    char q[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof(q), fmt, ap);
    va_end(ap);
    MYSQL *m = connect_db(db);
    if (mysql_query(m, q) != 0)
        fail_msg("%s: %s", q, mysql_error(m));
    MYSQL_RES *r = mysql_store_result(m);
    MYSQL_ROW row = mysql_fetch_row(r);
    long long v = row && row[0] ? atoll(row[0]) : -1;
    mysql_free_result(r);
    mysql_close(m);
    return v;
}

/* A fresh database and url pointing at it, with extra URL parameters. */
static void fresh_db(const char *params)
{
    snprintf(db, sizeof(db), "warden_t%d_%d", (int)getpid(), ++seq);
    sql(admin, "CREATE DATABASE %s", db);
    store_url_t u;
    char err[256];
    assert_int_equal(store_url_parse(&u, base_url, err, sizeof(err)), 0);
    snprintf(url, sizeof(url), "mysql://%s@%s:%u/%s%s%s", u.user ? u.user : "root", u.host,
             u.port ? u.port : 3306, db, params && *params ? "?" : "", params ? params : "");
    store_url_free(&u);
}

static int setup_db(void **st)
{
    (void)st;
    fresh_db(NULL);
    return 0;
}

static int drop_db(void **st)
{
    (void)st;
    sql(admin, "DROP DATABASE IF EXISTS %s", db);
    return 0;
}

static void migrate_latest(void)
{
    char err[1024];
    if (store_migrate(url, NULL, 0, 0, 0, 1, err, sizeof(err)) != 0)
        fail_msg("%s", err);
}

static store_t *open_sink(const char *params)
{
    char u2[600], err[1024];
    snprintf(u2, sizeof(u2), "%s%s%s", url, params && *params ? (strchr(url, '?') ? "&" : "?") : "",
             params ? params : "");
    store_t *s;
    if (store_open(&s, u2, NULL, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    return s;
}

static store_row_t row(const char *id, const char *entity, size_t elen, const char *reason, size_t rlen)
{
    store_row_t r = {
        .run_id = "live", .event_id = id, .stream = "pin_create", .rule = "spam.link_burst",
        .version = 3, .mode = "enforce", .verdict = "block", .entity = entity, .entity_len = elen,
        .reason = reason, .reason_len = rlen, .has_score = 1, .score = 0.9,
        .event_ts_ms = 1795168800123LL, .topic = "pins", .partition = 1, .offset = 42,
    };
    return r;
}

/* Every column of rule_results but written_at, in key order, as one blob. */
static void dump_results(wd_buf_t *out)
{
    MYSQL *m = connect_db(db);
    assert_int_equal(mysql_query(m, "SELECT run_id, event_id, rule, stream, version, mode, verdict, "
                                    "entity, reason, score, event_ts, topic, kafka_partition, "
                                    "kafka_offset, rule_sha256 FROM rule_results "
                                    "ORDER BY run_id, event_id, rule"), 0);
    MYSQL_RES *r = mysql_store_result(m);
    MYSQL_ROW row;
    unsigned nf = mysql_num_fields(r);
    while ((row = mysql_fetch_row(r))) {
        unsigned long *len = mysql_fetch_lengths(r);
        for (unsigned i = 0; i < nf; i++) {
            wd_buf_printf(out, "%lu:", row[i] ? len[i] : 0ul);
            if (row[i])
                wd_buf_add(out, row[i], len[i]);
            else
                wd_buf_adds(out, "NULL");
            wd_buf_addc(out, '|');
        }
        wd_buf_addc(out, '\n');
    }
    mysql_free_result(r);
    mysql_close(m);
}

/* ---- schema version and migrations -------------------------------------- */

static void test_open_refuses_a_database_without_schema(void **st)
{
    (void)st;
    store_t *s;
    char err[1024];
    assert_int_equal(store_open(&s, url, NULL, err, sizeof(err)), -1);
    char want[80];
    snprintf(want, sizeof(want), "schema version 0 < required %d: run warden migrate mysql://",
             store_schema_required());
    assert_non_null(strstr(err, want));
}

static void test_migrate_from_empty_is_idempotent(void **st)
{
    (void)st;
    char err[1024];
    assert_int_equal(store_migrate(url, NULL, 0, 0, 0, 1, err, sizeof(err)), 0);
    int v;
    assert_int_equal(store_schema_current(url, &v, err, sizeof(err)), 0);
    assert_int_equal(v, store_schema_required());
    assert_int_equal(store_migrate(url, NULL, 0, 0, 0, 1, err, sizeof(err)), 0);
    assert_int_equal(scalar("SELECT COUNT(*) FROM schema_version"), store_schema_required());
    assert_int_equal(scalar("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='%s'", db), 8);   /* + audit_log (v6), actions and undo_runs (v7) */
    assert_int_equal(scalar("SELECT COUNT(DISTINCT index_name) FROM information_schema.statistics "
                            "WHERE table_schema='%s' AND table_name='rule_results'", db), 4);
    /* The command form agrees. */
    char *argv[] = { "migrate", url, "--quiet" };
    assert_int_equal(cmd_migrate(3, argv), 0);
    char *status[] = { "migrate", url, "--status" };
    assert_int_equal(cmd_migrate(3, status), 0);
}

static void test_migrate_from_each_older_version(void **st)
{
    (void)st;
    int need = store_schema_required();
    for (int from = 1; from < need; from++) {
        if (from > 1) {
            drop_db(NULL);
            fresh_db(NULL);
        }
        char err[1024];
        assert_int_equal(store_migrate(url, NULL, 0, from, 0, 1, err, sizeof(err)), 0);
        int v;
        assert_int_equal(store_schema_current(url, &v, err, sizeof(err)), 0);
        assert_int_equal(v, from);
        /* Rows written by an older binary survive the upgrade. */
        sql(admin, "INSERT INTO %s.rule_results (run_id, event_id, rule, stream, version, mode, "
                   "verdict, entity) VALUES ('old', 'e0', 'r', 's', 1, 'shadow', 'flag', 'u')", db);
        store_t *s;
        char want[128];
        snprintf(want, sizeof(want), "schema version %d < required %d: run warden migrate", from, need);
        assert_int_equal(store_open(&s, url, NULL, err, sizeof(err)), -1);
        if (!strstr(err, want))
            fail_msg("want \"%s\" in \"%s\"", want, err);
        char *status[] = { "migrate", url, "--status" };
        assert_int_equal(cmd_migrate(3, status), 3);
        assert_int_equal(store_migrate(url, NULL, 0, 0, 0, 1, err, sizeof(err)), 0);
        s = open_sink(NULL);
        store_run_t run = { .run_id = "r1", .kind = "eval", .started_ms = 1795168800000LL };
        assert_int_equal(store_begin_run(s, &run, err, sizeof(err)), 0);
        assert_int_equal(store_close(s, err, sizeof(err)), 0);
        assert_int_equal(scalar("SELECT COUNT(*) FROM rule_results WHERE run_id='old'"), 1);
        assert_int_equal(scalar("SELECT COUNT(*) FROM rule_runs WHERE warden_version IS NOT NULL"), 1);
        /* v4: the old row has no rule source hash; a new one keeps it. */
        assert_int_equal(scalar("SELECT COUNT(*) FROM rule_results WHERE rule_sha256 IS NULL"), 1);
        s = open_sink(NULL);
        store_row_t nr = row("e1", "u", 1, NULL, 0);
        nr.rule_sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_int_equal(store_write(s, &nr, 1, err, sizeof(err)), 0);
        assert_int_equal(store_close(s, err, sizeof(err)), 0);
        assert_int_equal(scalar("SELECT COUNT(*) FROM rule_results WHERE event_id='e1' AND rule_sha256="
                                "'0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'"), 1);
    }
}

static const char *const drop_topic[] = { "ALTER TABLE rule_results DROP COLUMN topic", NULL };

static void test_destructive_migration_needs_force(void **st)
{
    (void)st;
    size_t n;
    const store_migration_t *builtin = store_migrations("mariadb", &n);
    store_migration_t list[16];
    memcpy(list, builtin, n * sizeof(*list));
    list[n] = (store_migration_t){ (int)n + 1, "drop topic", 0, drop_topic, NULL };
    char err[1024];
    /* a database that already holds a schema (version n): data to lose */
    assert_int_equal(store_migrate(url, list, n, 0, 0, 1, err, sizeof(err)), 0);
    assert_int_equal(store_migrate(url, list, n + 1, 0, 0, 1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "destructive"));
    assert_non_null(strstr(err, "--force"));
    int v;
    assert_int_equal(store_schema_current(url, &v, err, sizeof(err)), 0);
    assert_int_equal(v, (int)n);   /* the additive steps before it were applied */
    assert_int_equal(scalar("SELECT COUNT(*) FROM information_schema.columns WHERE table_schema='%s' "
                            "AND table_name='rule_results' AND column_name='topic'", db), 1);
    assert_int_equal(store_migrate(url, list, n + 1, 0, 1, 1, err, sizeof(err)), 0);
    assert_int_equal(store_schema_current(url, &v, err, sizeof(err)), 0);
    assert_int_equal(v, (int)n + 1);
    assert_int_equal(scalar("SELECT COUNT(*) FROM information_schema.columns WHERE table_schema='%s' "
                            "AND table_name='rule_results' AND column_name='topic'", db), 0);
}

/* Run after a step only on a database the run created. */
static const char *const fresh_mark[] = { "CREATE TABLE fresh_mark (x INT)", NULL };

/* From an empty database nothing can be lost: the whole chain, destructive
 * steps included, runs without --force, and a step's fresh-only clean-up
 * runs; on a database that held a schema the clean-up does not. */
static void test_destructive_migration_on_a_new_database_needs_no_force(void **st)
{
    (void)st;
    size_t n;
    const store_migration_t *builtin = store_migrations("mariadb", &n);
    store_migration_t list[16];
    memcpy(list, builtin, n * sizeof(*list));
    list[n] = (store_migration_t){ (int)n + 1, "drop topic", 0, drop_topic, fresh_mark };
    char err[1024];
    assert_int_equal(store_migrate(url, list, n + 1, 0, 0, 1, err, sizeof(err)), 0);
    int v;
    assert_int_equal(store_schema_current(url, &v, err, sizeof(err)), 0);
    assert_int_equal(v, (int)n + 1);
    assert_int_equal(scalar("SELECT COUNT(*) FROM information_schema.columns WHERE table_schema='%s' "
                            "AND table_name='rule_results' AND column_name='topic'", db), 0);
    assert_int_equal(scalar("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='%s' "
                            "AND table_name='fresh_mark'", db), 1);
    /* one more step with a clean-up, from version n + 1: not fresh */
    static const char *const noop[] = { "DO 0", NULL };
    static const char *const fresh_mark2[] = { "CREATE TABLE fresh_mark2 (x INT)", NULL };
    list[n + 1] = (store_migration_t){ (int)n + 2, "noop", 0, noop, fresh_mark2 };
    assert_int_equal(store_migrate(url, list, n + 2, 0, 0, 1, err, sizeof(err)), 0);
    assert_int_equal(scalar("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='%s' "
                            "AND table_name='fresh_mark2'", db), 0);
}

static void test_newer_schema_is_accepted(void **st)
{
    (void)st;
    migrate_latest();
    sql(admin, "INSERT INTO %s.schema_version (version, description) VALUES (99, 'future')", db);
    store_t *s = open_sink(NULL);
    char err[256];
    assert_int_equal(store_close(s, err, sizeof(err)), 0);
    /* and migrate leaves it alone */
    assert_int_equal(store_migrate(url, NULL, 0, 0, 0, 1, err, sizeof(err)), 0);
}

/* ---- rows --------------------------------------------------------------- */

static void upsert_twice(const char *params)
{
    migrate_latest();
    char err[1024];
    store_row_t rows[1000];
    char ids[1000][16], ents[1000][16];
    for (int i = 0; i < 1000; i++) {
        snprintf(ids[i], sizeof(ids[i]), "e%d", i);
        snprintf(ents[i], sizeof(ents[i]), "u%d", i % 37);
        rows[i] = row(ids[i], ents[i], strlen(ents[i]), i % 3 ? "burst" : NULL, i % 3 ? 5 : 0);
        if (i % 5 == 0)
            rows[i].has_score = 0;
        if (i % 7 == 0) {
            rows[i].event_ts_ms = INT64_MIN;
            rows[i].topic = NULL;
        }
        if (i % 2 == 0)
            rows[i].rule_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    }
    store_t *s = open_sink(params);
    assert_int_equal(store_write(s, rows, 1000, err, sizeof(err)), 0);
    assert_int_equal(store_flush(s, err, sizeof(err)), 0);
    wd_buf_t first = WD_BUF_INIT, second = WD_BUF_INIT;
    dump_results(&first);
    /* The same batch again, as after a redelivery. */
    assert_int_equal(store_write(s, rows, 1000, err, sizeof(err)), 0);
    assert_int_equal(store_flush(s, err, sizeof(err)), 0);
    dump_results(&second);
    assert_int_equal(scalar("SELECT COUNT(*) FROM rule_results"), 1000);
    assert_int_equal(first.len, second.len);
    assert_memory_equal(first.data, second.data, first.len);
    assert_int_equal(scalar("SELECT COUNT(*) FROM rule_results WHERE score IS NULL"), 200);
    assert_int_equal(scalar("SELECT COUNT(*) FROM rule_results WHERE event_ts IS NULL"), 143);
    assert_int_equal(scalar("SELECT COUNT(*) FROM rule_results WHERE reason IS NULL"), 334);
    assert_int_equal(scalar("SELECT COUNT(*) FROM rule_results WHERE rule_sha256 IS NULL"), 500);
    assert_int_equal(scalar("SELECT COUNT(*) FROM rule_results WHERE rule_sha256="
                            "'9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'"), 500);
    assert_int_equal(scalar("SELECT COUNT(*) FROM rule_results WHERE event_ts = '2026-11-20 10:00:00.123'"), 857);
    /* A changed verdict for the same key replaces the row. */
    rows[0].verdict = "review";
    assert_int_equal(store_write(s, rows, 1, err, sizeof(err)), 0);
    assert_int_equal(store_close(s, err, sizeof(err)), 0);
    assert_int_equal(scalar("SELECT COUNT(*) FROM rule_results"), 1000);
    assert_int_equal(scalar("SELECT COUNT(*) FROM rule_results WHERE verdict='review' AND event_id='e0'"), 1);
    wd_buf_free(&first);
    wd_buf_free(&second);
}

static void test_same_batch_twice_gives_the_same_rows_bulk(void **st)
{
    (void)st;
    upsert_twice("batch_rows=300");
}

static void test_same_batch_twice_gives_the_same_rows_text(void **st)
{
    (void)st;
    upsert_twice("batch_rows=300&bulk=0");
}

static void hostile(const char *params)
{
    migrate_latest();
    /* Each case is an (entity, reason) pair that must come back byte-exact. */
    char bytes[256];
    for (int i = 0; i < 256; i++)
        bytes[i] = (char)i;
    size_t big = 1u << 20;
    char *mb = malloc(big), *mb2 = malloc(big);
    for (size_t i = 0; i < big; i++) {
        mb[i] = (char)(i * 2654435761u >> 13);
        mb2[i] = "'\\\"\0%_\n"[i % 7];
    }
    struct { const char *s; size_t n; } cases[] = {
        { "it's", 4 }, { "\"quoted\"", 8 }, { "back\\slash\\", 11 }, { "\\'", 2 },
        { "a\0b\0", 4 }, { "\0", 1 }, { "\xff\xfe\xc3(\xed\xa0\x80", 7 },
        { "'); DROP TABLE rule_results; --", 31 }, { "%_*?", 4 }, { "\r\n\t\x1a", 4 },
        { bytes, 256 }, { mb, big }, { mb2, big }, { "", 0 },
    };
    size_t nc = sizeof(cases) / sizeof(cases[0]);
    char err[1024];
    store_t *s = open_sink(params);
    char ids[32][64];
    for (size_t i = 0; i < nc; i++) {
        /* Hostile event ids too (key column, up to 512 bytes). */
        size_t idn = (size_t)snprintf(ids[i], sizeof(ids[i]), "e%zu'\\\"", i);
        ids[i][idn] = '\0';
        store_row_t r = row(ids[i], cases[i].s, cases[i].n, cases[i].s, cases[i].n);
        if (cases[i].n == 0)
            r.entity = "";   /* empty entity (len 0 → strlen) */
        assert_int_equal(store_write(s, &r, 1, err, sizeof(err)), 0);
    }
    assert_int_equal(store_close(s, err, sizeof(err)), 0);
    MYSQL *m = connect_db(db);
    for (size_t i = 0; i < nc; i++) {
        char q[512], esc[200];
        mysql_real_escape_string(m, esc, ids[i], (unsigned long)strlen(ids[i]));
        snprintf(q, sizeof(q), "SELECT entity, reason FROM rule_results WHERE event_id='%s'", esc);
        assert_int_equal(mysql_query(m, q), 0);
        MYSQL_RES *res = mysql_store_result(m);
        assert_int_equal(mysql_num_rows(res), 1);
        MYSQL_ROW row = mysql_fetch_row(res);
        unsigned long *len = mysql_fetch_lengths(res);
        if (len[0] != cases[i].n || len[1] != cases[i].n)
            fail_msg("case %zu: lengths %lu/%lu, want %zu", i, len[0], len[1], cases[i].n);
        if (cases[i].n) {
            assert_memory_equal(row[0], cases[i].s, cases[i].n);
            assert_memory_equal(row[1], cases[i].s, cases[i].n);
        }
        mysql_free_result(res);
    }
    mysql_close(m);
    assert_int_equal(scalar("SELECT COUNT(*) FROM rule_results"), (long long)nc);
    free(mb);
    free(mb2);
}

static void test_hostile_strings_round_trip_byte_exact_bulk(void **st)
{
    (void)st;
    hostile(NULL);
}

static void test_hostile_strings_round_trip_byte_exact_text(void **st)
{
    (void)st;
    hostile("bulk=0");
}

static void test_runs_versions_and_decisions(void **st)
{
    (void)st;
    migrate_latest();
    char err[1024];
    store_t *s = open_sink(NULL);
    store_run_t run = { .run_id = "replay-7", .kind = "replay", .started_ms = 1795168800000LL,
                        .rules_sha256 = "ab12", .params = "{\"from\":\"2026-11-19T00:00:00Z\"}" };
    assert_int_equal(store_begin_run(s, &run, err, sizeof(err)), 0);
    const char src[] = "return { name = \"spam.x\" } -- \0binary\xff";
    store_rule_version_t rv = { .name = "spam.x", .version = 2, .sha256 = "cafe", .source = src,
                                .source_len = sizeof(src) - 1, .seen_ms = 1795168900000LL };
    assert_int_equal(store_rule_version(s, &rv, err, sizeof(err)), 0);
    assert_int_equal(store_flush(s, err, sizeof(err)), 0);
    assert_int_equal(scalar("SELECT COUNT(*) FROM rule_runs WHERE status='running' AND finished_at IS NULL"), 1);
    rv.seen_ms = 1795168700000LL;   /* seen earlier by another process: first_seen moves back */
    assert_int_equal(store_rule_version(s, &rv, err, sizeof(err)), 0);
    rv.seen_ms = 1795169999000LL;   /* later: first_seen stays */
    assert_int_equal(store_rule_version(s, &rv, err, sizeof(err)), 0);
    const char *rules[] = { "spam.a", "spam.b" };
    store_decision_t d = { .run_id = "replay-7", .event_id = "e1", .stream = "pin_create",
                           .entity = "u1", .verdict = "block", .rules = rules, .nrules = 2,
                           .event_ts_ms = 1795168800000LL };
    assert_int_equal(store_write_decision(s, &d, err, sizeof(err)), 0);
    assert_int_equal(store_write_decision(s, &d, err, sizeof(err)), 0);
    run.finished_ms = 1795169000000LL;
    run.events = 12000;
    run.hits = 321;
    run.rejected = 2;
    run.errors = 1;
    assert_int_equal(store_end_run(s, &run, err, sizeof(err)), 0);
    assert_int_equal(store_close(s, err, sizeof(err)), 0);
    assert_int_equal(scalar("SELECT COUNT(*) FROM rule_runs WHERE run_id='replay-7' AND status='finished' "
                            "AND events=12000 AND hits=321 AND rejected=2 AND errors=1 AND kind='replay' "
                            "AND finished_at='2026-11-20 10:03:20' AND JSON_VALUE(params,'$.from') "
                            "LIKE '2026-11-19%%'"), 1);
    assert_int_equal(scalar("SELECT COUNT(*) FROM rule_versions WHERE first_seen='2026-11-20 09:58:20' "
                            "AND LENGTH(source)=%zu", sizeof(src) - 1), 1);
    assert_int_equal(scalar("SELECT COUNT(*) FROM decisions WHERE FIND_IN_SET('spam.b', rules)"), 1);
}

/* Decision entities keep NUL bytes: "u\0a" and "u\0b" are two entities
 * (as C strings both were "u"). */
static void test_decision_entities_keep_their_nul_bytes(void **st)
{
    (void)st;
    migrate_latest();
    char err[1024];
    store_t *s = open_sink(NULL);
    const char *rules[] = { "r" };
    store_decision_t d = { .run_id = "live", .event_id = "e1", .stream = "s", .entity = "u\0a",
                           .entity_len = 3, .verdict = "block", .rules = rules, .nrules = 1,
                           .event_ts_ms = 1795168800000LL };
    assert_int_equal(store_write_decision(s, &d, err, sizeof(err)), 0);
    d.event_id = "e2";
    d.entity = "u\0b";
    assert_int_equal(store_write_decision(s, &d, err, sizeof(err)), 0);
    assert_int_equal(store_close(s, err, sizeof(err)), 0);
    assert_int_equal(scalar("SELECT COUNT(DISTINCT entity) FROM decisions WHERE LENGTH(entity)=3"), 2);
    assert_int_equal(scalar("SELECT COUNT(*) FROM decisions WHERE entity=X'750062'"), 1);
}

static void test_a_row_the_server_rejects_fails_the_sink(void **st)
{
    (void)st;
    migrate_latest();
    char err[1024] = "", id[600];
    memset(id, 'x', 599);
    id[599] = '\0';   /* event_id is VARBINARY(512): strict mode refuses */
    store_t *s = open_sink(NULL);
    store_row_t r = row(id, "u", 1, NULL, 0);
    assert_int_equal(store_write(s, &r, 1, err, sizeof(err)), 0);
    assert_int_equal(store_flush(s, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "too long"));
    assert_int_equal(store_health(s, err, sizeof(err)), -1);
    store_stats_t stats;
    store_stats(s, &stats);
    assert_int_equal(stats.healthy, 0);
    assert_int_equal(stats.retries, 0);
    assert_int_equal(stats.rows_written, 0);
    r = row("fine", "u", 1, NULL, 0);
    assert_int_equal(store_write(s, &r, 1, err, sizeof(err)), -1);
    assert_int_equal(store_close(s, err, sizeof(err)), -1);
}

static long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Polls until rule_results holds n rows, at most secs seconds. */
static void wait_rows(long n, int secs)
{
    for (int i = 0; i < secs * 100 && scalar("SELECT COUNT(*) FROM rule_results") < n; i++)
        usleep(10000);
    assert_int_equal(scalar("SELECT COUNT(*) FROM rule_results"), n);
}

/* Batches are sealed at batch_rows rows, and an open batch after batch_ms.
 * Neither check depends on how the scheduler runs the writer: the rows part
 * uses a batch_ms no run reaches, and the time part writes its rows in one
 * call (one batch) and bounds the time it took from below. */
static void test_batches_by_rows_and_time(void **st)
{
    (void)st;
    migrate_latest();
    char err[256];
    store_stats_t stats;
    /* By rows: 250 rows make two full batches at once; the last 50 wait. */
    store_t *s = open_sink("batch_rows=100&batch_ms=3600000");
    char ids[250][16];
    for (int i = 0; i < 250; i++) {
        snprintf(ids[i], sizeof(ids[i]), "b%d", i);
        store_row_t r = row(ids[i], "u", 1, NULL, 0);
        assert_int_equal(store_write(s, &r, 1, err, sizeof(err)), 0);
    }
    wait_rows(200, 10);
    usleep(200000);
    assert_int_equal(scalar("SELECT COUNT(*) FROM rule_results"), 200);
    store_stats(s, &stats);
    assert_int_equal(stats.batches, 2);
    assert_int_equal(stats.rows_written, 200);
    assert_int_equal(stats.buffer_rows, 50);
    assert_int_equal(store_flush(s, err, sizeof(err)), 0);
    assert_int_equal(scalar("SELECT COUNT(*) FROM rule_results"), 250);
    store_stats(s, &stats);
    assert_int_equal(stats.batches, 3);
    assert_int_equal(stats.rows_written, 250);
    assert_int_equal(stats.rows_queued, 250);
    assert_true(stats.batch_us_max >= stats.batch_us_last);
    assert_true(stats.batch_us_total >= stats.batch_us_max);
    assert_int_equal(stats.buffer_rows, 0);
    assert_int_equal(stats.healthy, 1);
    assert_int_equal(store_close(s, err, sizeof(err)), 0);

    /* By time: 50 rows, fewer than batch_rows, are written after batch_ms
     * (not before) with no flush. */
    s = open_sink("batch_rows=100&batch_ms=50");
    char tids[50][16];
    store_row_t rs[50];
    for (int i = 0; i < 50; i++) {
        snprintf(tids[i], sizeof(tids[i]), "t%d", i);
        rs[i] = row(tids[i], "u", 1, NULL, 0);
    }
    long t0 = mono_ms();
    assert_int_equal(store_write(s, rs, 50, err, sizeof(err)), 0);
    wait_rows(300, 10);
    long took = mono_ms() - t0;
    assert_true(took >= 50);
    store_stats(s, &stats);
    assert_int_equal(stats.batches, 1);
    assert_int_equal(stats.rows_written, 50);
    assert_int_equal(stats.buffer_rows, 0);
    assert_int_equal(store_close(s, err, sizeof(err)), 0);
}

typedef struct writer_arg {
    store_t    *s;
    atomic_int  done;
    int         rc;
} writer_arg_t;

static void *write_200(void *p)
{
    writer_arg_t *a = p;
    char err[256], id[32];
    for (int i = 0; i < 200; i++) {
        snprintf(id, sizeof(id), "bp%d", i);
        store_row_t r = row(id, "u", 1, NULL, 0);
        if (store_write(a->s, &r, 1, err, sizeof(err)) != 0)
            a->rc = -1;
        atomic_fetch_add(&a->done, 1);
    }
    return NULL;
}

static void test_backpressure_blocks_writes_while_the_server_stalls(void **st)
{
    (void)st;
    migrate_latest();
    char err[256];
    store_t *s = open_sink("batch_rows=10&buffer_rows=50&batch_ms=5");
    MYSQL *lock = connect_db(db);
    sql(lock, "LOCK TABLES rule_results WRITE");
    writer_arg_t a = { .s = s };
    atomic_init(&a.done, 0);
    pthread_t th;
    pthread_create(&th, NULL, write_200, &a);
    usleep(700000);
    /* The writer is stuck behind the lock: the caller is held at the cap. */
    assert_int_equal(atomic_load(&a.done), 50);
    store_stats_t stats;
    store_stats(s, &stats);
    assert_int_equal(stats.buffer_rows, 50);
    assert_int_equal(stats.buffer_cap, 50);
    assert_int_equal(stats.rows_written, 0);
    sql(lock, "UNLOCK TABLES");
    pthread_join(th, NULL);
    assert_int_equal(a.rc, 0);
    assert_int_equal(store_flush(s, err, sizeof(err)), 0);
    assert_int_equal(scalar("SELECT COUNT(*) FROM rule_results"), 200);
    assert_int_equal(store_close(s, err, sizeof(err)), 0);
    mysql_close(lock);
}

static void test_lost_connection_is_retried_without_duplicates(void **st)
{
    (void)st;
    migrate_latest();
    char err[256], id[32];
    store_t *s = open_sink("backoff_ms=10");
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof(id), "k%d", i);
        store_row_t r = row(id, "u", 1, NULL, 0);
        assert_int_equal(store_write(s, &r, 1, err, sizeof(err)), 0);
    }
    assert_int_equal(store_flush(s, err, sizeof(err)), 0);
    /* Kill the sink's connection behind its back (as a server restart or a
     * proxy timeout would). */
    long long id_conn = scalar("SELECT id FROM information_schema.processlist WHERE db='%s' "
                               "AND id <> CONNECTION_ID() ORDER BY id LIMIT 1", db);
    assert_true(id_conn > 0);
    char q[64];
    snprintf(q, sizeof(q), "KILL %lld", id_conn);
    sql(admin, q);
    for (int i = 0; i < 200; i++) {   /* 100 again (redelivered) + 100 new */
        snprintf(id, sizeof(id), "k%d", i);
        store_row_t r = row(id, "u", 1, NULL, 0);
        assert_int_equal(store_write(s, &r, 1, err, sizeof(err)), 0);
    }
    assert_int_equal(store_flush(s, err, sizeof(err)), 0);
    store_stats_t stats;
    store_stats(s, &stats);
    assert_int_equal(stats.retries, 1);
    assert_int_equal(stats.failures, 1);
    assert_int_equal(stats.healthy, 1);
    assert_int_equal(store_close(s, err, sizeof(err)), 0);
    assert_int_equal(scalar("SELECT COUNT(*) FROM rule_results"), 200);
}

int main(void)
{
    base_url = getenv("WARDEN_DB_URL");
    if (!base_url || !*base_url) {
        printf("test_store_mysql: skipped: WARDEN_DB_URL is not set "
               "(run tests/integration/db_store.sh, or eval \"$(tests/db/mariadb.sh env)\")\n");
        return 77;
    }
    admin = connect_db(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_refuses_a_database_without_schema, setup_db, drop_db),
        cmocka_unit_test_setup_teardown(test_migrate_from_empty_is_idempotent, setup_db, drop_db),
        cmocka_unit_test_setup_teardown(test_migrate_from_each_older_version, setup_db, drop_db),
        cmocka_unit_test_setup_teardown(test_destructive_migration_needs_force, setup_db, drop_db),
        cmocka_unit_test_setup_teardown(test_destructive_migration_on_a_new_database_needs_no_force, setup_db, drop_db),
        cmocka_unit_test_setup_teardown(test_newer_schema_is_accepted, setup_db, drop_db),
        cmocka_unit_test_setup_teardown(test_same_batch_twice_gives_the_same_rows_bulk, setup_db, drop_db),
        cmocka_unit_test_setup_teardown(test_same_batch_twice_gives_the_same_rows_text, setup_db, drop_db),
        cmocka_unit_test_setup_teardown(test_hostile_strings_round_trip_byte_exact_bulk, setup_db, drop_db),
        cmocka_unit_test_setup_teardown(test_hostile_strings_round_trip_byte_exact_text, setup_db, drop_db),
        cmocka_unit_test_setup_teardown(test_runs_versions_and_decisions, setup_db, drop_db),
        cmocka_unit_test_setup_teardown(test_decision_entities_keep_their_nul_bytes, setup_db, drop_db),
        cmocka_unit_test_setup_teardown(test_a_row_the_server_rejects_fails_the_sink, setup_db, drop_db),
        cmocka_unit_test_setup_teardown(test_batches_by_rows_and_time, setup_db, drop_db),
        cmocka_unit_test_setup_teardown(test_backpressure_blocks_writes_while_the_server_stalls, setup_db, drop_db),
        cmocka_unit_test_setup_teardown(test_lost_connection_is_retried_without_duplicates, setup_db, drop_db),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    mysql_close(admin);
    return rc;
}

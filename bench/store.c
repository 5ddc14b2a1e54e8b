/* bench/store.c — result rows into MariaDB through the mysql:// sink, next
 * to LOAD DATA LOCAL INFILE of the same rows (MariaDB's fastest bulk path)
 * in the same run, both over a single connection into identical empty
 * tables.  Prints rows/s for both and the ratio (aim: >= 50%).
 * Needs WARDEN_DB_URL (bench/store.sh starts a private MariaDB); exits 0
 * with a message without it.  BENCH_ROWS overrides the 1,000,000 rows;
 * BENCH_SINK_PARAMS adds URL parameters to the sink (e.g. batch_rows=5000). */
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/wd_buf.h"
#include "storage/store.h"
#include "storage/store_migrate.h"
#include "storage/store_url.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench/store: %s: %s\n", what, msg);
    exit(1);
}

static MYSQL *connect_db(const store_url_t *u, const char *db, int local_infile)
{
    MYSQL *m = mysql_init(NULL);
    unsigned int on = (unsigned)local_infile;
    mysql_optionsv(m, MYSQL_OPT_LOCAL_INFILE, &on);
    if (!mysql_real_connect(m, u->host, u->user, u->password, db, u->port, NULL, 0))
        die("connect", mysql_error(m));
    return m;
}

static void sql(MYSQL *m, const char *q)
{
    if (mysql_query(m, q) != 0)
        die(q, mysql_error(m));
    mysql_free_result(mysql_store_result(m));
}

static long long count(MYSQL *m, const char *table)
{
    char q[128];
    snprintf(q, sizeof(q), "SELECT COUNT(*) FROM %s", table);
    if (mysql_query(m, q) != 0)
        die(q, mysql_error(m));
    MYSQL_RES *r = mysql_store_result(m);
    MYSQL_ROW row = mysql_fetch_row(r);
    long long n = atoll(row[0]);
    mysql_free_result(r);
    return n;
}

/* The rows: what a busy rule pack produces (ids, a few hundred thousand
 * entities, a short reason, a score, event time and Kafka position). */
typedef struct rows {
    store_row_t *r;
    char        *text;
    size_t       n;
} rows_t;

static void make_rows(rows_t *rs, size_t n)
{
    static const char *const rules[] = { "spam.link_burst", "spam.shady_domain", "fraud.card_testing",
                                         "ato.new_country_device", "unsafe.fanout" };
    static const char *const reasons[] = { "link burst", "shady domain bit.ly", NULL,
                                           "new country and device", "fanout to 40 minors" };
    rs->n = n;
    rs->r = calloc(n, sizeof(store_row_t));
    rs->text = malloc(n * 32);
    for (size_t i = 0; i < n; i++) {
        char *id = rs->text + i * 32, *ent = id + 16;
        snprintf(id, 16, "e%09u", (unsigned)(i % 1000000000u));
        snprintf(ent, 16, "u%u", (unsigned)((i * 7919) % 300000));
        size_t k = i % 5;
        rs->r[i] = (store_row_t){
            .run_id = "live", .event_id = id, .stream = k < 2 ? "pin_create" : "login",
            .rule = rules[k], .version = (int)k + 1, .mode = k == 4 ? "shadow" : "enforce",
            .verdict = k == 2 ? "review" : "block", .entity = ent, .entity_len = strlen(ent),
            .reason = reasons[k], .reason_len = reasons[k] ? strlen(reasons[k]) : 0,
            .has_score = k != 3, .score = 0.25 * (double)(k + 1),
            .event_ts_ms = 1795168800000LL + (int64_t)i * 37, .topic = "events.pins",
            .partition = (int32_t)(i % 12), .offset = (int64_t)(i / 12),
        };
    }
}

/* LOAD DATA's default text format: tab-separated, backslash escapes, \N. */
static void tsv_str(wd_buf_t *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        switch (c) {
        case '\t': wd_buf_add(b, "\\t", 2); break;
        case '\n': wd_buf_add(b, "\\n", 2); break;
        case '\\': wd_buf_add(b, "\\\\", 2); break;
        case '\0': wd_buf_add(b, "\\0", 2); break;
        default: wd_buf_addc(b, c); break;
        }
    }
}

static void write_tsv(const rows_t *rs, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        die(path, "cannot create");
    wd_buf_t b = WD_BUF_INIT;
    for (size_t i = 0; i < rs->n; i++) {
        const store_row_t *r = &rs->r[i];
        wd_buf_printf(&b, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t", r->run_id, r->event_id, r->rule,
                       r->stream, r->version, r->mode, r->verdict);
        tsv_str(&b, r->entity, r->entity_len);
        wd_buf_addc(&b, '\t');
        if (r->reason)
            tsv_str(&b, r->reason, r->reason_len);
        else
            wd_buf_add(&b, "\\N", 2);
        if (r->has_score)
            wd_buf_printf(&b, "\t%.17g\t", r->score);
        else
            wd_buf_add(&b, "\t\\N\t", 4);
        time_t t = (time_t)(r->event_ts_ms / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        wd_buf_printf(&b, "%04d-%02d-%02d %02d:%02d:%02d.%03d\t%s\t%d\t%lld\n", tm.tm_year + 1900,
                       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                       (int)(r->event_ts_ms % 1000), r->topic, r->partition, (long long)r->offset);
        if (b.len > (1u << 20)) {
            fwrite(b.data, 1, b.len, f);
            wd_buf_reset(&b);
        }
    }
    fwrite(b.data ? b.data : "", 1, b.len, f);
    fclose(f);
    wd_buf_free(&b);
}

static double run_sink(const char *url, const rows_t *rs)
{
    char err[1024];
    store_t *s;
    double t0 = now();
    if (store_open(&s, url, NULL, err, sizeof(err)) != 0)
        die("store_open", err);
    /* As the engine hands them over: one event's hits at a time. */
    for (size_t i = 0; i < rs->n; i += 2) {
        size_t k = rs->n - i < 2 ? rs->n - i : 2;
        if (store_write(s, rs->r + i, k, err, sizeof(err)) != 0)
            die("store_write", err);
    }
    store_stats_t st;
    if (store_flush(s, err, sizeof(err)) != 0)
        die("store_flush", err);
    double t = now() - t0;
    store_stats(s, &st);
    if (store_close(s, err, sizeof(err)) != 0)
        die("store_close", err);
    printf("  sink: %llu batches, mean %.1f ms, max %.1f ms, %llu retries\n",
           (unsigned long long)st.batches,
           st.batches ? (double)st.batch_us_total / (double)st.batches / 1000.0 : 0.0,
           (double)st.batch_us_max / 1000.0, (unsigned long long)st.retries);
    return t;
}

static double run_load(MYSQL *m, const char *path)
{
    char q[1024];
    snprintf(q, sizeof(q),
             "LOAD DATA LOCAL INFILE '%s' INTO TABLE rule_results_load "
             "(run_id, event_id, rule, stream, version, mode, verdict, entity, reason, score, "
             "event_ts, topic, kafka_partition, kafka_offset)", path);
    double t0 = now();
    sql(m, q);
    return now() - t0;
}

int main(void)
{
    const char *base = getenv("WARDEN_DB_URL");
    if (!base || !*base) {
        printf("bench/store: skipped: WARDEN_DB_URL is not set (bench/store.sh starts a private MariaDB)\n");
        return 0;
    }
    size_t n = getenv("BENCH_ROWS") ? (size_t)atol(getenv("BENCH_ROWS")) : 1000000;
    const char *extra = getenv("BENCH_SINK_PARAMS");
    store_url_t u;
    char err[1024];
    if (store_url_parse(&u, base, err, sizeof(err)) != 0)
        die("WARDEN_DB_URL", err);
    const char *db = "warden_bench";
    char url[512];
    snprintf(url, sizeof(url), "mysql://%s@%s:%u/%s%s%s", u.user ? u.user : "root", u.host,
             u.port ? u.port : 3306, db, extra && *extra ? "?" : "", extra ? extra : "");
    MYSQL *admin = connect_db(&u, NULL, 0);
    sql(admin, "DROP DATABASE IF EXISTS warden_bench");
    sql(admin, "CREATE DATABASE warden_bench");
    if (store_migrate(url, NULL, 0, 0, 0, 1, err, sizeof(err)) != 0)
        die("migrate", err);
    MYSQL *m = connect_db(&u, db, 1);
    sql(m, "CREATE TABLE rule_results_load LIKE rule_results");

    rows_t rs;
    make_rows(&rs, n);
    char path[256];
    snprintf(path, sizeof(path), "%s/warden-bench-%d.tsv", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (int)getpid());
    write_tsv(&rs, path);
    printf("bench/store: %zu rows, one connection each, into empty identical tables\n", n);

    /* Two rounds, alternating, best of each: the machine is shared. */
    double best_sink = 1e9, best_load = 1e9;
    for (int round = 0; round < 2; round++) {
        if (round) {
            sql(m, "TRUNCATE TABLE rule_results");
            sql(m, "TRUNCATE TABLE rule_results_load");
        }
        double tl = run_load(m, path);
        if (count(m, "rule_results_load") != (long long)n)
            die("LOAD DATA", "row count differs");
        double ts = run_sink(url, &rs);
        if (count(m, "rule_results") != (long long)n)
            die("sink", "row count differs");
        printf("  round %d: LOAD DATA %.2f s, sink %.2f s\n", round + 1, tl, ts);
        best_load = tl < best_load ? tl : best_load;
        best_sink = ts < best_sink ? ts : best_sink;
    }
    double rl = (double)n / best_load, rsk = (double)n / best_sink;
    printf("bench/store: LOAD DATA LOCAL INFILE %.0f rows/s\n", rl);
    printf("bench/store: mysql:// sink (array-bound upsert) %.0f rows/s\n", rsk);
    printf("bench/store: sink/baseline = %.0f%% (aim >= 50%%)\n", 100.0 * rsk / rl);
    unlink(path);
    sql(admin, "DROP DATABASE warden_bench");
    mysql_close(m);
    mysql_close(admin);
    store_url_free(&u);
    free(rs.r);
    free(rs.text);
    return 0;
}

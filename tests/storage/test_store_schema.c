/* tests/storage/test_store_schema.c — the migrations embedded in the binary
 * are exactly storage/schema/{mariadb,starrocks}/NNNN_*.sql (comments
 * aside), numbered without gaps, and destructive steps are recognised. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/wd_buf.h"
#include "cmd/cmd.h"
#include "storage/store_migrate.h"

/* Statements of a .sql file: comment lines dropped, split at ';' ending a
 * line, trimmed (the rule the embedded copy was made with). */
static size_t file_stmts(const char *path, char **out, size_t max)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    wd_buf_t all = WD_BUF_INIT;
    char line[4096];
    while (fgets(line, sizeof(line), f)) {
        const char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp(p, "--", 2) == 0)
            continue;
        wd_buf_adds(&all, line);
    }
    fclose(f);
    size_t n = 0;
    char *s = all.data ? all.data : (char *)"";
    for (;;) {
        char *end = s;
        /* next ';' followed by spaces and a newline or the end */
        while (*end) {
            if (*end == ';') {
                char *q = end + 1;
                while (*q == ' ' || *q == '\t')
                    q++;
                if (*q == '\n' || *q == '\0')
                    break;
            }
            end++;
        }
        char *a = s, *b = end;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        if (b > a) {
            assert_true(n < max);
            out[n++] = strndup(a, (size_t)(b - a));
        }
        if (!*end)
            break;
        s = end + 1;
    }
    wd_buf_free(&all);
    return n;
}

static void check_dialect(const char *dialect)
{
    char pattern[128];
    snprintf(pattern, sizeof(pattern), "storage/schema/%s/*.sql", dialect);
    glob_t g;
    assert_int_equal(glob(pattern, 0, NULL, &g), 0);
    size_t n;
    const store_migration_t *m = store_migrations(dialect, &n);
    assert_int_equal(g.gl_pathc, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(m[i].version, (int)i + 1);
        const char *base = strrchr(g.gl_pathv[i], '/') + 1;
        assert_int_equal(atoi(base), m[i].version);
        char desc[128];
        snprintf(desc, sizeof(desc), "%s", base + 5);
        *strrchr(desc, '.') = '\0';
        for (char *p = desc; *p; p++)
            if (*p == '_')
                *p = ' ';
        assert_string_equal(desc, m[i].description);
        char *st[64];
        size_t k = file_stmts(g.gl_pathv[i], st, 64);
        size_t e = 0;
        while (m[i].stmts[e])
            e++;
        if (k != e)
            fail_msg("%s: %zu statements in the file, %zu embedded", g.gl_pathv[i], k, e);
        for (size_t j = 0; j < k; j++) {
            if (strcmp(st[j], m[i].stmts[j]) != 0)
                fail_msg("%s statement %zu differs from the embedded copy in "
                         "storage/store_migrate.c:\n%s\n---\n%s", g.gl_pathv[i], j + 1, st[j],
                         m[i].stmts[j]);
            free(st[j]);
        }
        /* The shipped steps are additive, but for StarRocks v5, which
         * rebuilds three tables under digest keys: it needs --force on a
         * database that already held a schema. */
        int rebuild = strcmp(dialect, "starrocks") == 0 && m[i].version == 5;
        assert_int_equal(store_migration_is_destructive(&m[i]), rebuild);
    }
    globfree(&g);
}

static void test_mariadb_files_match_embedded_migrations(void **st)
{
    (void)st;
    check_dialect("mariadb");
}

static void test_starrocks_files_match_embedded_migrations(void **st)
{
    (void)st;
    check_dialect("starrocks");
}

static void test_required_version_is_the_last_of_both_dialects(void **st)
{
    (void)st;
    size_t a, b;
    const store_migration_t *ma = store_migrations("mariadb", &a);
    const store_migration_t *mb = store_migrations("starrocks", &b);
    assert_int_equal(store_schema_required(), ma[a - 1].version);
    assert_int_equal(store_schema_required(), mb[b - 1].version);
}

static void test_destructive_statements_are_recognised(void **st)
{
    (void)st;
    static const char *const drop[] = { "ALTER TABLE rule_results DROP COLUMN topic", NULL };
    static const char *const modify[] = { "alter table t modify c int", NULL };
    static const char *const rename[] = { "RENAME TABLE a TO b", NULL };
    static const char *const add[] = { "ALTER TABLE t ADD COLUMN dropped_at DATETIME NULL",
                                       "CREATE INDEX changes_idx ON t (changed)", NULL };
    store_migration_t m = { 9, "x", 0, drop, NULL };
    assert_true(store_migration_is_destructive(&m));
    m.stmts = modify;
    assert_true(store_migration_is_destructive(&m));
    m.stmts = rename;
    assert_true(store_migration_is_destructive(&m));
    m.stmts = add;   /* words inside identifiers do not count */
    assert_false(store_migration_is_destructive(&m));
    m.destructive = 1;   /* the flag alone is enough */
    assert_true(store_migration_is_destructive(&m));
}

static void test_migrate_command_usage(void **st)
{
    (void)st;
    char *none[] = { "migrate" };
    assert_int_equal(cmd_migrate(1, none), 2);
    char *bad[] = { "migrate", "mysql://h/d", "--to", "x" };
    assert_int_equal(cmd_migrate(4, bad), 2);
    char *typo[] = { "migrate", "mysql://h/d?sockt=/tmp/x" };
    assert_int_equal(cmd_migrate(2, typo), 1);   /* refused before connecting */
    char *sr[] = { "migrate", "starrocks://h:8030/d" };
    assert_int_equal(cmd_migrate(2, sr), 1);   /* Stream Load URLs cannot run DDL */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mariadb_files_match_embedded_migrations),
        cmocka_unit_test(test_starrocks_files_match_embedded_migrations),
        cmocka_unit_test(test_required_version_is_the_last_of_both_dialects),
        cmocka_unit_test(test_destructive_statements_are_recognised),
        cmocka_unit_test(test_migrate_command_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* tests/storage/test_store_url.c — sink URL parsing, parameter checks and
 * redaction (storage/store_url.h), and the scheme registry (store_open). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "storage/store.h"
#include "storage/store_url.h"

static void test_full_mysql_url(void **st)
{
    (void)st;
    unsetenv("WARDEN_STORE_PASSWORD");
    store_url_t u;
    char err[256];
    assert_int_equal(store_url_parse(&u, "mysql://root@127.0.0.1:3307/warden?dialect=starrocks&batch_rows=500",
                                     err, sizeof(err)), 0);
    assert_string_equal(u.scheme, "mysql");
    assert_string_equal(u.user, "root");
    assert_null(u.password);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 3307);
    assert_string_equal(u.db, "warden");
    assert_int_equal(u.nparams, 2);
    assert_string_equal(store_url_param(&u, "dialect"), "starrocks");
    long v = 0;
    assert_int_equal(store_url_param_long(&u, "batch_rows", 1, 1000, &v, err, sizeof(err)), 0);
    assert_int_equal(v, 500);
    assert_null(store_url_param(&u, "socket"));
    store_url_free(&u);
}

static void test_password_from_env_and_percent_decoding(void **st)
{
    (void)st;
    setenv("WARDEN_STORE_PASSWORD", "p@ss", 1);
    store_url_t u;
    char err[256];
    assert_int_equal(store_url_parse(&u, "mysql://an%40alyst@db.example:3306/my%20db?socket=%2Ftmp%2Fm.sock",
                                     err, sizeof(err)), 0);
    assert_string_equal(u.user, "an@alyst");
    assert_string_equal(u.password, "p@ss");
    assert_string_equal(u.db, "my db");
    assert_string_equal(store_url_param(&u, "socket"), "/tmp/m.sock");
    store_url_free(&u);
    /* A password in the URL wins over the environment. */
    assert_int_equal(store_url_parse(&u, "mysql://a:b%3Ac@h/d", err, sizeof(err)), 0);
    assert_string_equal(u.password, "b:c");
    assert_int_equal(u.port, 0);
    store_url_free(&u);
    unsetenv("WARDEN_STORE_PASSWORD");
}

static void test_ipv6_host_and_no_user(void **st)
{
    (void)st;
    store_url_t u;
    char err[256];
    assert_int_equal(store_url_parse(&u, "starrocks://[::1]:8030/db", err, sizeof(err)), 0);
    assert_null(u.user);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 8030);
    char *r = store_url_redacted(&u);
    assert_string_equal(r, "starrocks://[::1]:8030/db");
    free(r);
    store_url_free(&u);
}

static void test_redaction_never_shows_the_password(void **st)
{
    (void)st;
    store_url_t u;
    char err[256];
    assert_int_equal(store_url_parse(&u, "mysql://bob:hunter2@h:1/d", err, sizeof(err)), 0);
    char *r = store_url_redacted(&u);
    assert_string_equal(r, "mysql://bob@h:1/d");
    free(r);
    store_url_free(&u);
    assert_int_equal(store_url_parse(&u, "mysql://bob:hunter2@h/d?socket=%2Fs", err, sizeof(err)), 0);
    r = store_url_redacted(&u);
    assert_string_equal(r, "mysql://bob@h/d");   /* no port given: none shown */
    free(r);
    store_url_free(&u);
    /* Nor does an error message about a URL holding one. */
    assert_int_equal(store_url_parse(&u, "mysql://bob:hunter2@h:99999/d", err, sizeof(err)), -1);
    assert_null(strstr(err, "hunter2"));
    assert_non_null(strstr(err, "port out of range"));
}

static void test_bad_urls_are_named(void **st)
{
    (void)st;
    static const struct { const char *url, *msg; } bad[] = {
        { "mysql:/h/d", "expected scheme://host" },
        { "mysql://:3306/d", "no host" },
        { "mysql://h:x/d", "port is not a number" },
        { "mysql://h:0/d", "port out of range" },
        { "mysql://h:/d", "bad port" },
        { "mysql://[::1/d", "unterminated" },
        { "mysql://h/a/b", "contains '/'" },
        { "mysql://h/d?=x", "bad query parameter" },
        { "mysql://u%zz@h/d", "bad %-escape" },
        { "mysql://h/d%00x", "bad %-escape" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        store_url_t u;
        char err[256] = "";
        assert_int_equal(store_url_parse(&u, bad[i].url, err, sizeof(err)), -1);
        if (!strstr(err, bad[i].msg))
            fail_msg("%s: got \"%s\", want \"%s\"", bad[i].url, err, bad[i].msg);
    }
}

static void test_unknown_and_out_of_range_params(void **st)
{
    (void)st;
    store_url_t u;
    char err[256];
    assert_int_equal(store_url_parse(&u, "mysql://h/d?batch_row=5&timeout=0", err, sizeof(err)), 0);
    static const char *const known[] = { "batch_rows", "timeout", NULL };
    assert_int_equal(store_url_check_params(&u, known, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "unknown parameter ?batch_row="));
    assert_non_null(strstr(err, "batch_rows, timeout"));
    long v = 7;
    assert_int_equal(store_url_param_long(&u, "timeout", 1, 10, &v, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "?timeout=0"));
    assert_int_equal(v, 7);
    assert_int_equal(store_url_param_long(&u, "absent", 1, 10, &v, err, sizeof(err)), 0);
    assert_int_equal(v, 7);
    store_url_free(&u);
}

static void test_registry_rejects_unknown_scheme_and_bad_params(void **st)
{
    (void)st;
    store_t *s = (store_t *)1;
    char err[512];
    assert_int_equal(store_open(&s, "postgres://h/d", NULL, err, sizeof(err)), -1);
    assert_null(s);
    assert_non_null(strstr(err, "unknown URL scheme"));
    assert_int_equal(store_open(&s, "", NULL, err, sizeof(err)), -1);
    assert_int_equal(store_open(&s, "mysql://h/d?nope=1", NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "unknown parameter ?nope="));
    assert_int_equal(store_open(&s, "mysql://h", NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "no database"));
    assert_int_equal(store_open(&s, "starrocks://h/d?label_prefix=a%20b", NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "label_prefix"));
    assert_int_equal(store_open(&s, "null:", NULL, err, sizeof(err)), 0);
    assert_string_equal(store_scheme(s), "null");
    assert_int_equal(store_close(s, err, sizeof(err)), 0);
    assert_int_equal(store_close(NULL, err, sizeof(err)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_mysql_url),
        cmocka_unit_test(test_password_from_env_and_percent_decoding),
        cmocka_unit_test(test_ipv6_host_and_no_user),
        cmocka_unit_test(test_redaction_never_shows_the_password),
        cmocka_unit_test(test_bad_urls_are_named),
        cmocka_unit_test(test_unknown_and_out_of_range_params),
        cmocka_unit_test(test_registry_rejects_unknown_scheme_and_bad_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

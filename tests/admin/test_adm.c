/* tests/admin/test_adm.c — the admin API's pieces that need no broker:
 * the constant-time token compare, token ids, the listen address, and the
 * server answering health and auth errors over real HTTP (libcurl). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "admin/adm.h"
#include "admin/adm_int.h"

static void test_token_equal_only_for_identical_bytes(void **s)
{
    (void)s;
    assert_true(adm_token_equal("abc", 3, "abc", 3));
    assert_false(adm_token_equal("abc", 3, "abd", 3));
    assert_false(adm_token_equal("abc", 3, "abcd", 4));
    assert_false(adm_token_equal("abcd", 4, "abc", 3));
    assert_false(adm_token_equal("", 0, "a", 1));
    assert_true(adm_token_equal("", 0, "", 0));
    /* A NUL inside counts like any byte; the prefix is not enough. */
    assert_false(adm_token_equal("ab\0c", 4, "ab\0d", 4));
    assert_false(adm_token_equal("ab", 2, "ab\0", 3));
}

/* The time of a compare must not depend on where the strings differ:
 * first byte vs last byte of a 4 KiB token, many rounds, within 3x. */
static void test_token_equal_time_does_not_depend_on_the_mismatch(void **s)
{
    (void)s;
    enum { N = 4096, R = 3000 };
    char *a = malloc(N), *b1 = malloc(N), *b2 = malloc(N);
    memset(a, 'x', N);
    memcpy(b1, a, N);
    memcpy(b2, a, N);
    b1[0] = 'y';
    b2[N - 1] = 'y';
    double best[2] = { 1e30, 1e30 };
    for (int round = 0; round < 5; round++) {
        for (int w = 0; w < 2; w++) {
            struct timespec t0, t1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            int eq = 0;
            for (int i = 0; i < R; i++)
                eq += adm_token_equal(a, N, w ? b2 : b1, N);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            assert_int_equal(eq, 0);
            double d = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
            if (d < best[w])
                best[w] = d;
        }
    }
    /* An early-exit compare would make the first-byte case ~4096x faster. */
    assert_true(best[0] * 3 > best[1]);
    assert_true(best[1] * 3 > best[0]);
    free(a);
    free(b1);
    free(b2);
}

static void test_token_id_is_a_hash_prefix_not_the_token(void **s)
{
    (void)s;
    char id[32];
    adm_token_id("s3cret-token", id);
    assert_non_null(strstr(id, "sha256:"));
    assert_null(strstr(id, "s3cret"));
    char id2[32];
    adm_token_id("s3cret-tokeN", id2);
    assert_string_not_equal(id, id2);
}

static void test_bad_listen_address_is_refused(void **s)
{
    (void)s;
    adm_opts_t o;
    memset(&o, 0, sizeof o);
    char err[256];
    const char *bad[] = { "nohost:", "1.2.3:9100", "127.0.0.1:99999", "127.0.0.1:x", NULL };
    for (int i = 0; bad[i]; i++) {
        o.listen = bad[i];
        assert_null(adm_new(&o, err, sizeof err));
        assert_non_null(strstr(err, "admin.listen"));
    }
}

static size_t sink(char *p, size_t sz, size_t n, void *ud)
{
    size_t *len = ud;
    (void)p;
    *len += sz * n;
    return sz * n;
}

static long http(int port, const char *method, const char *path, const char *auth)
{
    CURL *c = curl_easy_init();
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    struct curl_slist *h = auth ? curl_slist_append(NULL, auth) : NULL;
    size_t len = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &len);
    long status = -1;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

static void test_server_health_and_auth_statuses(void **s)
{
    (void)s;
    adm_opts_t o;
    memset(&o, 0, sizeof o);
    o.listen = "127.0.0.1:0";
    o.token = "t0ken";
    o.open_health = 1;
    char err[256];
    adm_t *a = adm_new(&o, err, sizeof err);
    assert_non_null(a);
    int port = adm_port(a);
    assert_true(port > 0);
    assert_int_equal(http(port, "GET", "/healthz", NULL), 200);
    assert_int_equal(http(port, "GET", "/readyz", NULL), 503);   /* nothing published yet */
    assert_int_equal(http(port, "GET", "/metrics", NULL), 200);
    assert_int_equal(http(port, "GET", "/rules", NULL), 401);
    assert_int_equal(http(port, "GET", "/rules", "Authorization: Bearer t0keN"), 401);
    assert_int_equal(http(port, "GET", "/rules", "Authorization: Bearer t0ken"), 200);
    assert_int_equal(http(port, "GET", "/rules/x", "Authorization: Bearer t0ken"), 404);
    assert_int_equal(http(port, "POST", "/healthz", NULL), 405);
    assert_int_equal(http(port, "GET", "/replays", "Authorization: Bearer t0ken"), 501);
    assert_int_equal(http(port, "GET", "/other", NULL), 404);
    adm_destroy(a);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_equal_only_for_identical_bytes),
        cmocka_unit_test(test_token_equal_time_does_not_depend_on_the_mismatch),
        cmocka_unit_test(test_token_id_is_a_hash_prefix_not_the_token),
        cmocka_unit_test(test_bad_listen_address_is_refused),
        cmocka_unit_test(test_server_health_and_auth_statuses),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}

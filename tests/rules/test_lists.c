/* tests/rules/test_lists.c — rules/rule_lists: exact lists (comments,
 * blank lines, trimming, CRLF, BOM, repeats, exact bytes), CIDR lists
 * (/0, /32, /128, IPv4-mapped IPv6 both ways, merged and adjacent ranges,
 * bad masks, host bits, non-addresses), unknown names, duplicate names and
 * a pack without lists/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "rules/rule_lists.h"

typedef struct fx {
    char dir[64];
    char lists[96];
} fx_t;

static int setup(void **st)
{
    fx_t *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof f->dir, "/tmp/test_lists.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->lists, sizeof f->lists, "%s/lists", f->dir);
    assert_int_equal(mkdir(f->lists, 0755), 0);
    *st = f;
    return 0;
}

static int teardown(void **st)
{
    fx_t *f = *st;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void put(fx_t *f, const char *name, const char *text, size_t len)
{
    char p[160];
    snprintf(p, sizeof p, "%s/%s", f->lists, name);
    FILE *fp = fopen(p, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, len, fp), len);
    fclose(fp);
}

#define PUT(f, name, text) put((f), (name), (text), sizeof(text) - 1)

static int in(const rule_list_t *l, const char *v)
{
    return rule_list_contains(l, v, strlen(v));
}

static void test_exact_list_comments_blanks_trim_crlf_bom(void **st)
{
    fx_t *f = *st;
    PUT(f, "domains.txt", "\xEF\xBB\xBF"
                          "# disposable mail domains\n"
                          "mailinator.com\n"
                          "\n"
                          "   10minutemail.com   \n"
                          "\tguerrilla.org\r\n"
                          "  # indented comment\n"
                          "mailinator.com\n"
                          "with space.example\n"
                          "last-no-newline.net");
    char err[512];
    rule_lists_t *ls = rule_lists_load(f->dir, err, sizeof err);
    if (ls == NULL)
        fail_msg("%s", err);
    const rule_list_t *l = rule_lists_get(ls, "domains");
    assert_non_null(l);
    assert_false(rule_list_is_cidr(l));
    assert_int_equal(rule_list_size(l), 5);
    assert_true(in(l, "mailinator.com"));
    assert_true(in(l, "10minutemail.com"));
    assert_true(in(l, "guerrilla.org"));
    assert_true(in(l, "with space.example"));
    assert_true(in(l, "last-no-newline.net"));
    assert_false(in(l, "MAILINATOR.COM"));          /* bytes, exactly */
    assert_false(in(l, " mailinator.com"));
    assert_false(in(l, "# disposable mail domains"));
    assert_false(in(l, ""));
    assert_false(in(l, "mailinator.co"));
    assert_int_equal(rule_list_contains(l, "mailinator.comX", 14), 1);  /* length given */
    assert_null(rule_lists_get(ls, "nope"));
    assert_null(rule_lists_get(ls, "domains.txt"));
    assert_int_equal(rule_lists_count(ls), 1);
    assert_string_equal(rule_lists_name(ls, 0), "domains");
    rule_lists_destroy(ls);
}

static void test_exact_list_many_values(void **st)
{
    fx_t *f = *st;
    size_t cap = 100000 * 16, n = 0;
    char *text = malloc(cap);
    for (int i = 0; i < 100000; i++)
        n += (size_t)snprintf(text + n, cap - n, "user-%d\n", i * 3);
    put(f, "bad_users.txt", text, n);
    free(text);
    char err[512];
    rule_lists_t *ls = rule_lists_load(f->dir, err, sizeof err);
    assert_non_null(ls);
    const rule_list_t *l = rule_lists_get(ls, "bad_users");
    assert_int_equal(rule_list_size(l), 100000);
    for (int i = 0; i < 300000; i++) {
        char v[24];
        snprintf(v, sizeof v, "user-%d", i);
        assert_int_equal(in(l, v), i % 3 == 0);
    }
    rule_lists_destroy(ls);
}

static void test_cidr_edges(void **st)
{
    fx_t *f = *st;
    PUT(f, "v4.cidr", "# office ranges\n"
                      "10.0.0.0/8   # RFC 1918\n"
                      "192.0.2.7/32\n"
                      "198.51.100.9\n"
                      "172.16.0.0/13\n"
                      "172.24.0.0/13\n"         /* adjacent: merges with the line above */
                      "10.1.0.0/16\n");         /* inside 10/8 */
    PUT(f, "v6.cidr", "2001:db8::/32\n"
                      "2001:db8:1::1/128\n"
                      "::ffff:203.0.113.0/120\n");  /* v4-mapped form of 203.0.113.0/24 */
    PUT(f, "all4.cidr", "0.0.0.0/0\n");
    PUT(f, "all.cidr", "::/0\n");
    PUT(f, "none.cidr", "# nothing yet\n\n");
    char err[512];
    rule_lists_t *ls = rule_lists_load(f->dir, err, sizeof err);
    if (ls == NULL)
        fail_msg("%s", err);
    const rule_list_t *v4 = rule_lists_get(ls, "v4"), *v6 = rule_lists_get(ls, "v6");
    assert_true(rule_list_is_cidr(v4));
    assert_int_equal(rule_list_size(v4), 4);   /* 10/8 (holds 10.1/16), 172.16/12 (two /13s), two /32s */
    assert_true(in(v4, "10.0.0.0"));
    assert_true(in(v4, "10.255.255.255"));
    assert_false(in(v4, "11.0.0.0"));
    assert_false(in(v4, "9.255.255.255"));
    assert_true(in(v4, "192.0.2.7"));
    assert_false(in(v4, "192.0.2.6"));
    assert_false(in(v4, "192.0.2.8"));
    assert_true(in(v4, "198.51.100.9"));
    assert_true(in(v4, "172.16.0.1"));
    assert_true(in(v4, "172.31.255.255"));
    assert_false(in(v4, "172.32.0.0"));
    /* the v4-mapped IPv6 spelling of an IPv4 address is the same address */
    assert_true(in(v4, "::ffff:10.20.30.40"));
    assert_true(in(v4, "::ffff:a14:1e28"));
    assert_false(in(v4, "::10.20.30.40"));        /* IPv4-compatible is not mapped */
    assert_false(in(v4, "2001:db8::1"));
    /* not addresses: simply not in the list */
    assert_false(in(v4, ""));
    assert_false(in(v4, "10.0.0"));
    assert_false(in(v4, "10.0.0.1/32"));
    assert_false(in(v4, " 10.0.0.1"));
    assert_false(in(v4, "10.0.0.256"));
    assert_false(in(v4, "host.example"));
    assert_false(in(v4, "fe80::1%eth0"));
    assert_false(in(v4, "000000000000000000000000000000000000000000000000000000010.0.0.1"));
    assert_true(in(v6, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
    assert_true(in(v6, "2001:DB8::"));
    assert_false(in(v6, "2001:db9::"));
    assert_true(in(v6, "203.0.113.77"));           /* plain IPv4 in a mapped range */
    assert_false(in(v6, "203.0.114.0"));
    const rule_list_t *a4 = rule_lists_get(ls, "all4"), *all = rule_lists_get(ls, "all");
    assert_true(in(a4, "0.0.0.0"));
    assert_true(in(a4, "255.255.255.255"));
    assert_false(in(a4, "::1"));                   /* /0 of IPv4 is all IPv4 only */
    assert_true(in(all, "::"));
    assert_true(in(all, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    assert_true(in(all, "8.8.8.8"));
    assert_false(in(all, "not-an-ip"));
    const rule_list_t *none = rule_lists_get(ls, "none");
    assert_int_equal(rule_list_size(none), 0);
    assert_false(in(none, "10.0.0.1"));
    rule_lists_destroy(ls);
}

static void expect_error(fx_t *f, const char *name, const char *text, const char *want)
{
    put(f, name, text, strlen(text));
    char err[1024];
    rule_lists_t *ls = rule_lists_load(f->dir, err, sizeof err);
    if (ls != NULL)
        fail_msg("%s loaded, expected \"%s\"", name, want);
    if (strstr(err, want) == NULL)
        fail_msg("error \"%s\" does not contain \"%s\"", err, want);
    char p[160];
    snprintf(p, sizeof p, "%s/%s", f->lists, name);
    unlink(p);
}

static void test_cidr_errors_name_file_and_line(void **st)
{
    fx_t *f = *st;
    char want[160];
    snprintf(want, sizeof want, "%s/lists/bad.cidr:3: bad prefix length in \"10.0.0.0/33\" (0 to 32)",
             f->dir);
    expect_error(f, "bad.cidr", "10.0.0.0/8\n# c\n10.0.0.0/33\n", want);
    expect_error(f, "bad.cidr", "2001:db8::/129\n", "bad.cidr:1: bad prefix length");
    expect_error(f, "bad.cidr", "10.0.0.0/-1\n", "bad.cidr:1: bad prefix length");
    expect_error(f, "bad.cidr", "10.0.0.0/\n", "bad.cidr:1: bad prefix length");
    expect_error(f, "bad.cidr", "10.0.0.0/8x\n", "bad.cidr:1: bad prefix length");
    expect_error(f, "bad.cidr", "\n\n10.0.0.1/8\n",
                 "bad.cidr:3: \"10.0.0.1/8\" has host bits set (the network is 10.0.0.0/8)");
    expect_error(f, "bad.cidr", "2001:db8::1/32\n", "the network is 2001:db8::/32");
    expect_error(f, "bad.cidr", "example.com\n",
                 "bad.cidr:1: \"example.com\" is not an IPv4 or IPv6 address or range");
    expect_error(f, "bad.cidr", "10.0.0.0 /8\n", "is not an IPv4 or IPv6 address");
    expect_error(f, "bad.cidr", "300.0.0.0/8\n", "is not an IPv4 or IPv6 address");
    /* every bad line is reported, one a line */
    put(f, "two.cidr", "1.2.3.4/40\nok\n", 15);
    char err[1024];
    assert_null(rule_lists_load(f->dir, err, sizeof err));
    assert_non_null(strstr(err, "two.cidr:1:"));
    assert_non_null(strstr(err, "\n"));
    assert_non_null(strstr(err, "two.cidr:2:"));
    char p[160];
    snprintf(p, sizeof p, "%s/two.cidr", f->lists);
    unlink(p);
    /* /0 with host bits */
    expect_error(f, "bad.cidr", "1.0.0.0/0\n", "the network is 0.0.0.0/0");
}

static void test_same_name_twice_and_ignored_files(void **st)
{
    fx_t *f = *st;
    PUT(f, "ips.txt", "1.2.3.4\n");
    PUT(f, "README.md", "not a list\n");
    PUT(f, ".hidden.txt", "x\n");
    char d[160];
    snprintf(d, sizeof d, "%s/sub.txt", f->lists);
    assert_int_equal(mkdir(d, 0755), 0);       /* a directory named like a list */
    char err[512];
    rule_lists_t *ls = rule_lists_load(f->dir, err, sizeof err);
    assert_non_null(ls);
    assert_int_equal(rule_lists_count(ls), 1);
    assert_null(rule_lists_get(ls, "hidden"));
    assert_null(rule_lists_get(ls, ".hidden"));
    rule_lists_destroy(ls);
    PUT(f, "ips.cidr", "1.2.3.0/24\n");
    assert_null(rule_lists_load(f->dir, err, sizeof err));
    assert_non_null(strstr(err, "list \"ips\" is also defined by"));
}

static void test_pack_without_lists_dir_is_empty(void **st)
{
    fx_t *f = *st;
    rmdir(f->lists);
    char err[512];
    rule_lists_t *ls = rule_lists_load(f->dir, err, sizeof err);
    assert_non_null(ls);
    assert_int_equal(rule_lists_count(ls), 0);
    assert_null(rule_lists_get(ls, "anything"));
    assert_null(rule_lists_name(ls, 0));
    rule_lists_destroy(ls);
    rule_lists_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exact_list_comments_blanks_trim_crlf_bom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exact_list_many_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cidr_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cidr_errors_name_file_and_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_name_twice_and_ignored_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pack_without_lists_dir_is_empty, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

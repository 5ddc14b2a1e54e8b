/* tests/rules/testutil.h — helpers shared by the rules/ and engine tests:
 * a rule pack in a private temp directory, rule files from a template, one
 * event through a real engine, and lookups in its outcome.  Header-only
 * (static functions), included once per test binary. */
#ifndef WARDEN_TESTS_RULES_TESTUTIL_H
#define WARDEN_TESTS_RULES_TESTUTIL_H

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

#include "engine/eng_engine.h"
#include "base/wd_log.h"

/* A pack directory under /tmp; removed by tu_pack_free. */
typedef struct tu_pack {
    char dir[64];
} tu_pack_t;

static inline void tu_pack_init(tu_pack_t *p)
{
    snprintf(p->dir, sizeof p->dir, "/tmp/warden_test.XXXXXX");
    assert_non_null(mkdtemp(p->dir));
}

static inline void tu_pack_free(tu_pack_t *p)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p->dir);
    assert_int_equal(system(cmd), 0);
}

/* Writes text to dir/rel, creating rel's directories.  Returns the full
 * path in a static buffer (valid until the next call). */
static inline const char *tu_write(const tu_pack_t *p, const char *rel, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", p->dir, rel);
    for (char *s = path + strlen(p->dir) + 1; (s = strchr(s, '/')) != NULL; s++) {
        *s = '\0';
        mkdir(path, 0755);
        *s = '/';
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* Writes rule `name` (file name.lua) on stream "s" from a template; body is
 * the inside of evaluate(ev, ctx) and starts on line 7.  fields: a Lua list
 * ("{ \"a.b\" }") or NULL for none; mode NULL means "enforce".  Production
 * evaluation shows rules only the fields their stream's rules declare. */
static inline void tu_rule(const tu_pack_t *p, const char *name, const char *mode,
                           const char *fields, const char *body)
{
    char rel[128], *src = NULL;
    snprintf(rel, sizeof rel, "%s.lua", name);
    int n = asprintf(&src,
                     "return {\n"
                     "  name = \"%s\",\n"
                     "  version = 1,\n"
                     "  streams = { \"s\" },\n"
                     "  mode = \"%s\",\n"
                     "  evaluate = function(ev, ctx)\n"
                     "%s\n"
                     "  end,\n"
                     "%s%s%s"
                     "}\n",
                     name, mode ? mode : "enforce", body, fields ? "  fields = " : "",
                     fields ? fields : "", fields ? ",\n" : "");
    assert_true(n > 0);
    tu_write(p, rel, src);
    free(src);
}

/* Engine options for tests: defaults, logging quiet. */
static inline eng_opts_t tu_opts(void)
{
    eng_opts_t o;
    eng_opts_default(&o);
    /* No wall-clock limits unless a test sets them: the budget and the cap
     * decide, the same under valgrind and on a busy machine. */
    o.time_limit_ms = 0;
    o.load_time_limit_ms = 0;
    wd_log_level = WD_LOG_ERROR;
    return o;
}

/* Loads the pack; fails the test with the loader's message if it does not. */
static inline eng_engine_t *tu_engine(const tu_pack_t *p, const eng_opts_t *o)
{
    static char err[16384];
    eng_opts_t d = tu_opts();
    eng_engine_t *e = eng_engine_new(o ? o : &d, p->dir, err, sizeof err);
    if (e == NULL)
        fail_msg("rule pack did not load:\n%s", err);
    return e;
}

/* Loads the pack expecting failure; returns the message (static buffer). */
static inline const char *tu_load_err(const tu_pack_t *p)
{
    static char err[16384];
    eng_opts_t o = tu_opts();
    eng_engine_t *e = eng_engine_new(&o, p->dir, err, sizeof err);
    if (e != NULL) {
        eng_engine_destroy(e);
        fail_msg("rule pack %s loaded, but an error was expected", p->dir);
    }
    return err;
}

/* Evaluates one raw JSON event as line `line` of file "events.jsonl". */
static inline const eng_outcome_t *tu_eval_raw_at(eng_engine_t *e, const char *json, long line)
{
    const eng_outcome_t *o = NULL;
    eng_src_t src = { .topic = NULL, .msg_ts_ms = INT64_MIN, .file = "events.jsonl", .line = line };
    assert_int_equal(eng_engine_eval(e, NULL, json, strlen(json), &src, &o), 0);
    assert_non_null(o);
    return o;
}

static inline const eng_outcome_t *tu_eval_raw(eng_engine_t *e, const char *json)
{
    return tu_eval_raw_at(e, json, 1);
}

/* Evaluates {"type":"s","id":"e1","ts":1000 ,MORE} where MORE is printf'd
 * (may be empty).  The event is expected to be evaluated (not rejected). */
static inline const eng_outcome_t *tu_evalf(eng_engine_t *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline const eng_outcome_t *tu_evalf(eng_engine_t *e, const char *fmt, ...)
{
    char more[8192], json[8300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(more, sizeof more, fmt, ap);
    va_end(ap);
    snprintf(json, sizeof json, "{\"type\":\"s\",\"id\":\"e1\",\"ts\":1000%s%s}", *more ? "," : "",
             more);
    const eng_outcome_t *o = tu_eval_raw(e, json);
    if (o->status != ENG_EVENT_OK)
        fail_msg("event %s: status %d (%s)", json, o->status,
                 o->reject_reason ? o->reject_reason : "");
    return o;
}

static inline const eng_hit_t *tu_hit(const eng_outcome_t *o, const char *rule)
{
    for (size_t i = 0; i < o->nhits; i++)
        if (strcmp(o->hits[i].rule, rule) == 0)
            return &o->hits[i];
    return NULL;
}

/* The error message of rule in o, or NULL when it did not fail. */
static inline const char *tu_error(const eng_outcome_t *o, const char *rule)
{
    for (size_t i = 0; i < o->nerrors; i++)
        if (strcmp(o->errors[i].rule, rule) == 0)
            return o->errors[i].message;
    return NULL;
}

/* Asserts rule failed on o with a message containing `want`. */
#define tu_assert_error(o, rule, want)                                                        \
    do {                                                                                      \
        const char *m_ = tu_error((o), (rule));                                               \
        if (m_ == NULL)                                                                       \
            fail_msg("rule %s did not fail (wanted \"%s\")", (rule), (want));                 \
        if (strstr(m_, (want)) == NULL)                                                       \
            fail_msg("rule %s failed with \"%s\", wanted \"%s\"", (rule), m_, (want));        \
    } while (0)

/* Asserts rule ran cleanly on o (no error) */
#define tu_assert_no_error(o, rule)                                                           \
    do {                                                                                      \
        const char *m_ = tu_error((o), (rule));                                               \
        if (m_ != NULL)                                                                       \
            fail_msg("rule %s failed: %s", (rule), m_);                                       \
    } while (0)

/* The hit's entity / reason as NUL-terminated copies in a static buffer. */
static inline const char *tu_str(const char *s, size_t n)
{
    static char buf[4][1024];
    static int k;
    char *b = buf[k++ & 3];
    if (s == NULL)
        return NULL;
    snprintf(b, sizeof buf[0], "%.*s", (int)n, s);
    return b;
}

static inline const eng_rule_stats_t *tu_stats(const eng_engine_t *e, const char *rule)
{
    const eng_rule_stats_t *st;
    size_t n = eng_engine_rule_stats(e, &st);
    for (size_t i = 0; i < n; i++)
        if (strcmp(st[i].rule, rule) == 0)
            return &st[i];
    fail_msg("no stats for rule %s", rule);
    return NULL;
}


/* Sizes of the heavy cases (padding, 100k keys): full in the plain and ASan
 * stages, a tenth under valgrind (tools/run_tests.sh sets WARDEN_VALGRIND=1),
 * which checks the same paths for memory errors, not their scale. */
static inline int tu_scaled(int n)
{
    const char *v = getenv("WARDEN_VALGRIND");
    return v && *v == '1' ? n / 10 : n;
}

#endif

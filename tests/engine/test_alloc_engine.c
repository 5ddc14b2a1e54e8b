/* tests/engine/test_alloc_engine.c — the evaluation core with allocation N
 * failing for N = 1, 2, … (base/wd_alloc.h, tests/base/alloc_loop.h):
 * creating an engine over the example pack, and evaluating one event of
 * every stream of the sample.  A failing call returns an error saying
 * memory (no crash, no abort, nothing leaked under LSan/valgrind); a
 * successful evaluation gives the hits, errors and actions of an
 * evaluation without failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/wd_buf.h"
#include "base/wd_log.h"
#include "base/wd_util.h"
#include "engine/eng_engine.h"
#include "tests/base/alloc_loop.h"

#define PACK "examples/rules"

/* ---- creating the engine --------------------------------------------------- */

typedef struct mk {
    eng_engine_t *e;
    char          hash[65];
} mk_t;

static int new_op(void *ud, char *err, size_t errn)
{
    mk_t *m = ud;
    m->e = eng_engine_new(NULL, PACK, err, errn);
    return m->e ? 0 : -1;
}

static void new_done(void *ud, int rc)
{
    mk_t *m = ud;
    if (rc == 0) {
        assert_string_equal(eng_engine_pack_hash(m->e), m->hash);
        eng_engine_destroy(m->e);
        m->e = NULL;
    }
}

static void test_alloc_engine_new(void **st)
{
    (void)st;
    char err[4096];
    mk_t m = { 0 };
    eng_engine_t *e = eng_engine_new(NULL, PACK, err, sizeof err);
    if (e == NULL)
        fail_msg("%s", err);
    snprintf(m.hash, sizeof m.hash, "%s", eng_engine_pack_hash(e));
    eng_engine_destroy(e);
    al_report_t r;
    alloc_loop("engine over the example pack", new_op, new_done, &m, &r);
    assert_true(r.c_failures > 0);
}

/* ---- evaluating an event of every stream ----------------------------------- */

/* The outcome as text. */
static void dump(const eng_outcome_t *o, wd_buf_t *b)
{
    wd_buf_printf(b, "status %d id %s stream %s ts %lld reject %s\n", o->status,
                  o->event_id ? o->event_id : "-", o->stream ? o->stream : "-",
                  (long long)o->event_ts_ms, o->reject_reason ? o->reject_reason : "-");
    for (size_t i = 0; i < o->nhits; i++) {
        const eng_hit_t *h = &o->hits[i];
        wd_buf_printf(b, "hit %s v%d %d %d %s:", h->rule, h->version, h->mode, h->verdict, h->entity_type);
        wd_buf_add(b, h->entity, h->entity_len);
        wd_buf_addc(b, ' ');
        if (h->reason)
            wd_buf_add(b, h->reason, h->reason_len);
        wd_buf_addc(b, '\n');
    }
    for (size_t i = 0; i < o->nerrors; i++)
        wd_buf_printf(b, "error %s: %s\n", o->errors[i].rule, o->errors[i].message);
    wd_buf_printf(b, "decision %d, %zu actions\n", o->decision, o->nactions);
}

typedef struct ev {
    eng_engine_t *e;
    const char   *json;
    size_t        len;
    wd_buf_t      want;
    const eng_outcome_t *out;
} ev_t;

static int eval_op(void *ud, char *err, size_t errn)
{
    ev_t *v = ud;
    eng_src_t src = { .msg_ts_ms = INT64_MIN, .file = "sample.jsonl", .line = 1 };
    if (eng_engine_eval(v->e, NULL, v->json, v->len, &src, &v->out) != 0) {
        snprintf(err, errn, "out of memory while evaluating the event");
        return -1;
    }
    return 0;
}

/* A success equals the evaluation without failure. */
static void eval_done(void *ud, int rc)
{
    ev_t *v = ud;
    if (rc == 0) {
        wd_buf_t got = WD_BUF_INIT;
        dump(v->out, &got);
        if (strcmp(got.data, v->want.data) != 0)
            fail_msg("the evaluation differs: got\n%.600s\nwant\n%.600s", got.data, v->want.data);
        wd_buf_free(&got);
    }
    /* A fresh engine: a warm one has grown its buffers and arena and
     * allocates nothing for the next event. */
    char err[4096];
    eng_engine_destroy(v->e);
    v->e = eng_engine_new(NULL, PACK, err, sizeof err);
    if (v->e == NULL)
        fail_msg("%s", err);
}

static void test_alloc_eval_every_stream(void **st)
{
    (void)st;
    char err[4096];
    eng_engine_t *e = eng_engine_new(NULL, PACK, err, sizeof err);
    if (e == NULL)
        fail_msg("%s", err);
    char *sample;
    size_t slen;
    assert_int_equal(wd_read_file("examples/events/sample.jsonl", &sample, &slen, err, sizeof err), 0);
    /* The first event of each stream, as the sample has them. */
    char seen[64][64];
    int nseen = 0, hits = 0;
    for (char *line = sample; line < sample + slen && nseen < 64;) {
        char *nl = memchr(line, '\n', (size_t)(sample + slen - line));
        size_t l = nl ? (size_t)(nl - line) : strlen(line);
        const char *t = strstr(line, "\"type\":\"");
        if (t && t < line + l) {
            t += 8;
            const char *q = strchr(t, '"');
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)(q - t), t);
            int dup = 0;
            for (int i = 0; i < nseen; i++)
                dup |= strcmp(seen[i], name) == 0;
            if (!dup) {
                snprintf(seen[nseen++], sizeof seen[0], "%s", name);
                ev_t v = { .json = line, .len = l, .want = WD_BUF_INIT };
                const eng_outcome_t *o;
                eng_src_t src = { .msg_ts_ms = INT64_MIN, .file = "sample.jsonl", .line = 1 };
                assert_int_equal(eng_engine_eval(e, NULL, line, l, &src, &o), 0);
                dump(o, &v.want);
                hits += (int)o->nhits;
                eng_engine_destroy(e);
                e = v.e = eng_engine_new(NULL, PACK, err, sizeof err);
                assert_non_null(e);
                char what[128];
                snprintf(what, sizeof what, "an event of stream %s", name);
                al_report_t r;
                alloc_loop(what, eval_op, eval_done, &v, &r);
                assert_true(r.c_allocs > 0);
                e = v.e;
                wd_buf_free(&v.want);
            }
        }
        line = nl ? nl + 1 : sample + slen;
    }
    print_message("%d streams evaluated, %d hits on their first events\n", nseen, hits);
    assert_true(nseen >= 5);
    free(sample);
    eng_engine_destroy(e);
}

int main(void)
{
    wd_log_level = WD_LOG_ERROR;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_engine_new),
        cmocka_unit_test(test_alloc_eval_every_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

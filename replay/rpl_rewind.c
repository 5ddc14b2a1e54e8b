/* replay/rpl_rewind.c — rebuilding per-slot state as of a time for
 * `warden rewind` (replay/rpl_rewind.h).  The event-time bound is the one
 * rpl_feed applies to a replay's warm-up, so a rewound slot starts from the
 * state a replay --from TIME starts its window with. */
#include "replay/rpl_rewind.h"

#include <stdio.h>
#include <string.h>

#include "base/wd_json.h"

typedef struct rebuild {
    eng_engine_t         *e;
    const eng_opts_t     *eo;
    int64_t               start_ms;
    state_t             **states;
    size_t                nstates;
    rpl_slot_fn           slot_of;
    void                 *ud;
    wd_json_t            *json;
    volatile sig_atomic_t *stop;
    rpl_rebuild_counts_t *c;
    char                 *err;
    size_t                errn;
} rebuild_t;

static int rebuild_event(void *ud, const char *buf, size_t len, const eng_src_t *src, uint64_t done,
                         uint64_t total)
{
    (void)done;
    (void)total;
    rebuild_t *b = ud;
    b->c->read++;
    long slot = b->slot_of(b->ud, src->topic, src->partition);
    if (slot < 0 || (size_t)slot >= b->nstates) {
        snprintf(b->err, b->errn, "%s/%d: not a partition of the group's state slots", src->topic,
                 (int)src->partition);
        return -1;
    }
    wd_jval_t root;
    char perr[128];
    const char *why;
    int64_t ts;
    /* An event without a usable time is evaluated (the engine rejects it),
     * as in a replay and in warden run. */
    if (wd_json_parse(b->json, buf, len, &root, perr, sizeof perr) == 0 && wd_jval_type(root) == WD_JOBJECT &&
        eng_event_time(b->eo, root, src, &ts, &why) == 0 && ts < b->start_ms) {
        b->c->before++;
        return 0;
    }
    const eng_outcome_t *o;
    if (eng_engine_eval(b->e, b->states[slot], buf, len, src, &o) != 0) {
        snprintf(b->err, b->errn, "internal error evaluating %s/%d/%lld (out of memory)", src->topic,
                 (int)src->partition, (long long)src->offset);
        return -1;
    }
    b->c->evaluated++;
    b->c->rejected += o->status == ENG_EVENT_REJECTED;
    b->c->unrouted += o->status == ENG_EVENT_UNROUTED;
    return b->stop && *b->stop ? 1 : 0;
}

int rpl_rebuild(rpl_kafka_t *in, eng_engine_t *e, const eng_opts_t *eo, int64_t start_ms,
                state_t **states, size_t nstates, rpl_slot_fn slot_of, void *ud,
                volatile sig_atomic_t *stop, rpl_rebuild_counts_t *out, char *errstr, size_t n)
{
    static volatile sig_atomic_t never;
    memset(out, 0, sizeof(*out));
    rebuild_t b = { e, eo, start_ms, states, nstates, slot_of, ud, wd_json_new(0), stop, out, errstr, n };
    if (!b.json) {
        snprintf(errstr, n, "out of memory");
        return -1;
    }
    errstr[0] = '\0';
    int rc = rpl_kafka_run(in, rebuild_event, &b, stop ? stop : &never, errstr, n);
    wd_json_destroy(b.json);
    return rc;
}

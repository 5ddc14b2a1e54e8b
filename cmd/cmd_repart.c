/* cmd/cmd_repart.c — the repartitioned path of `warden run` (cmd_repart.h).
 *
 * The plan.  For each stream, its chain: the distinct key fields of its
 * counters in declaration order, the first counter's key (the stream's
 * evaluation key, which also owns its labels) moved to the end; a stream
 * without counters has run.entity_field.  H is the longest chain; chains
 * are right-aligned so every stream ends at hop H, where all streams meet
 * in one merged order (a label set on a login is seen by the payment that
 * follows it).  Before its chain starts a stream passes a hop keyed by its
 * chain's first field, counting nothing.
 *
 * The order.  Every record carries warden.pos (event time, source
 * partition, source offset: the raw record's for split input).  Hop 0
 * writes each input partition's records in input order to its own topic
 * GROUP.repartition.1.U; hop k>0 merges its U upstream topics by warden.pos
 * (kafka/kfk_align.c, merge mode) and writes its own merged order to
 * GROUP.repartition.K+1.P.  With every input partition in event-time order
 * each slot sees its events in the one global order (ts, partition, offset)
 * — the order `warden eval` is given.  Every commit, and every tick while
 * idle, each slot writes a watermark (its position — on hop 0 the instant
 * before the oldest event its pacing holds, when later — or "idle") to
 * every partition of the next hop's topic, so a slot with nothing for a
 * partition never holds it up.
 *
 * Exactly once: each hop is a consume-transform-produce loop of its own
 * (kafka/kfk.h; group GROUP.hopK, transactional.id GROUP.INSTANCE.hopK, its
 * state in CHANGELOG.hopK). */
#include "cmd/cmd_repart.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/wd_buf.h"
#include "base/wd_json.h"
#include "base/wd_log.h"
#include "base/wd_util.h"
#include "cmd/cmd_stats.h"
#include "rules/rule_counters.h"
#include "rules/rule_pack.h"
#include "rules/rule_prune.h"
#include "state/state.h"

typedef struct rp_stream {
    const char         *name;         /* engine-owned */
    const char        **chain;        /* key paths, evaluation key last */
    size_t              nchain;
    rule_prune_t       *prune;
    rule_counter_spec_t keyspec[1];   /* scratch: extracts a key path as a counter would */
} rp_stream_t;

struct cmd_rp {
    const wd_config_t *cfg;
    eng_engine_t      *eng;
    rp_stream_t       *streams;
    size_t             nstreams;
    int                H;             /* hops that keep counters; hop H runs the rules */
    int                P;             /* partitions of every internal topic */
    char             **in_topics;     /* the input topics, sorted */
    int               *in_parts;
    int               *in_base;       /* first upstream index of each */
    size_t             nin;
    int                U1;            /* input partitions in all */
    char            ***topics;        /* topics[k][u]: hop k's inputs, k = 1..H */
    int               *ntopics;       /* U of hop k */
    unsigned char    **local;         /* local[k][c]: hop k keeps counter c */
    pid_t             *pids;          /* hop 0..H-1 */
    int                exited;
    const char        *entity;
    FILE              *chains_to;     /* warden check: print the chains here */
    /* hop H's scratch */
    int64_t           *vals;
    unsigned char     *have;
    eng_carry_t        carry;
    char               src_topic[256];
};

/* ---- the plan ------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void add_key(rp_stream_t *s, const char *key)
{
    for (size_t i = 0; i < s->nchain; i++)
        if (strcmp(s->chain[i], key) == 0)
            return;
    s->chain[s->nchain++] = key;
}

/* The chain key stream s is partitioned by at hop k (1..H), and whether
 * its counters on that key are kept there (else it only passes). */
static const char *hop_key(const cmd_rp_t *rp, const rp_stream_t *s, int k, int *keeps)
{
    int j = k - (rp->H - (int)s->nchain) - 1;
    *keeps = j >= 0;
    return s->chain[j >= 0 ? j : 0];
}

static rp_stream_t *stream_of(const cmd_rp_t *rp, const char *name)
{
    for (size_t i = 0; i < rp->nstreams; i++)
        if (strcmp(rp->streams[i].name, name) == 0)
            return &rp->streams[i];
    return NULL;
}

/* Every stream's chain and H (no Kafka needed).  0, or -1 out of memory. */
static int build_chains(cmd_rp_t *rp, eng_engine_t *e)
{
    const rule_counters_t *cs = eng_engine_counters(e);
    size_t nc = rule_counters_count(cs);
    const char *const *names;
    size_t ns = eng_engine_streams(e, &names);
    rp->streams = calloc(ns ? ns : 1, sizeof(*rp->streams));
    if (!rp->streams)
        return -1;
    rp->H = 1;
    for (size_t i = 0; i < ns; i++) {
        rp_stream_t *s = &rp->streams[rp->nstreams++];
        s->name = names[i];
        s->chain = calloc(nc + 1, sizeof(char *));
        if (!s->chain)
            return -1;
        const char *evkey = NULL;
        for (size_t c = 0; c < nc; c++) {
            const rule_counter_spec_t *sp = rule_counters_get(cs, c);
            if (strcmp(sp->stream, s->name) != 0)
                continue;
            if (!evkey)
                evkey = sp->key;
            else if (strcmp(sp->key, evkey) != 0)
                add_key(s, sp->key);
        }
        add_key(s, evkey ? evkey : rp->entity);
        if ((int)s->nchain > rp->H)
            rp->H = (int)s->nchain;
        const char *const *fields;
        size_t nf = eng_engine_stream_fields(e, s->name, &fields);
        if (!(s->prune = rule_prune_new(fields, nf)))
            return -1;
        char chain[512];
        size_t at = 0;
        for (size_t j = 0; j < s->nchain && at < sizeof chain; j++)
            at += (size_t)snprintf(chain + at, sizeof chain - at, "%s%s", j ? " -> " : "", s->chain[j]);
        if (rp->chains_to)
            fprintf(rp->chains_to, "stream %s: hops keyed by %s\n", s->name, chain);
        else
            LOG_INFO("repartition stream=%s chain=\"%s\"", s->name, chain);
    }
    return 0;
}

int cmd_rp_plan_pack(eng_engine_t *e, const char *entity, cmd_rp_t **out)
{
    cmd_rp_t *rp = calloc(1, sizeof(*rp));
    *out = NULL;
    if (!rp)
        return -1;
    rp->eng = e;
    rp->entity = entity;
    rp->chains_to = stdout;
    if (build_chains(rp, e) != 0) {
        cmd_rp_destroy(rp);
        return -1;
    }
    *out = rp;
    return 0;
}

int cmd_rp_plan(const wd_config_t *cfg, eng_engine_t *e, const char *const *topics, size_t ntopics,
                cmd_rp_t **out, char *errstr, size_t n)
{
    *out = NULL;
    const char *mode = wd_config_str(cfg, "run.repartition");
    if (strcmp(mode, "off") == 0)
        return 0;
    cmd_rp_t *rp = calloc(1, sizeof(*rp));
    if (!rp) {
        snprintf(errstr, n, "out of memory");
        return -1;
    }
    rp->cfg = cfg;
    rp->eng = e;
    rp->entity = wd_config_str(cfg, "run.entity_field");
    rp->nin = ntopics;
    rp->in_topics = calloc(ntopics + 1, sizeof(char *));
    rp->in_parts = calloc(ntopics + 1, sizeof(int));
    rp->in_base = calloc(ntopics + 1, sizeof(int));
    if (!rp->in_topics || !rp->in_parts || !rp->in_base)
        goto oom;
    for (size_t i = 0; i < ntopics; i++)
        if (!(rp->in_topics[i] = strdup(topics[i])))
            goto oom;
    qsort(rp->in_topics, ntopics, sizeof(char *), cmp_str);
    if (kfk_topic_partitions(cfg, (const char *const *)rp->in_topics, ntopics, rp->in_parts, errstr, n) != 0)
        goto fail;
    int maxp = 0;
    for (size_t i = 0; i < ntopics; i++) {
        if (rp->in_parts[i] <= 0) {
            snprintf(errstr, n, "input topic %s does not exist (the repartitioned path needs its partition count)",
                     rp->in_topics[i]);
            goto fail;
        }
        rp->in_base[i] = rp->U1;
        rp->U1 += rp->in_parts[i];
        if (rp->in_parts[i] > maxp)
            maxp = rp->in_parts[i];
    }
    if (strcmp(mode, "auto") == 0 && maxp <= 1) {
        cmd_rp_destroy(rp);   /* one partition per topic: one slot sees everything in order */
        return 0;
    }
    rp->P = (int)wd_config_int(cfg, "run.partitions");
    if (rp->P <= 0)
        rp->P = maxp;

    if (build_chains(rp, e) != 0)
        goto oom;
    const rule_counters_t *cs = eng_engine_counters(e);
    size_t nc = rule_counters_count(cs);
    rp->local = calloc((size_t)rp->H + 1, sizeof(*rp->local));
    rp->topics = calloc((size_t)rp->H + 1, sizeof(*rp->topics));
    rp->ntopics = calloc((size_t)rp->H + 1, sizeof(int));
    rp->pids = calloc((size_t)rp->H, sizeof(pid_t));
    if (!rp->local || !rp->topics || !rp->ntopics || !rp->pids)
        goto oom;
    const char *group = wd_config_str(cfg, "run.group");
    for (int k = 1; k <= rp->H; k++) {
        rp->local[k] = calloc(nc + 1, 1);
        rp->ntopics[k] = k == 1 ? rp->U1 : rp->P;
        rp->topics[k] = calloc((size_t)rp->ntopics[k] + 1, sizeof(char *));
        if (!rp->local[k] || !rp->topics[k])
            goto oom;
        for (int u = 0; u < rp->ntopics[k]; u++) {
            char t[512];
            snprintf(t, sizeof t, "%s.repartition.%d.%d", group, k, u);
            if (!(rp->topics[k][u] = strdup(t)))
                goto oom;
        }
        for (size_t c = 0; c < nc; c++) {
            const rule_counter_spec_t *sp = rule_counters_get(cs, c);
            rp_stream_t *s = stream_of(rp, sp->stream);
            int keeps;
            if (s && strcmp(hop_key(rp, s, k, &keeps), sp->key) == 0 && keeps)
                rp->local[k][c] = 1;
        }
    }
    size_t nv = eng_engine_value_slots(e);
    rp->vals = calloc(nv + 1, sizeof(int64_t));
    rp->have = calloc(nv + 1, 1);
    if (!rp->vals || !rp->have)
        goto oom;
    LOG_INFO("repartition hops=%d partitions=%d input_partitions=%d", rp->H, rp->P, rp->U1);
    *out = rp;
    return 0;
oom:
    snprintf(errstr, n, "out of memory");
fail:
    cmd_rp_destroy(rp);
    return -1;
}

void cmd_rp_destroy(cmd_rp_t *rp)
{
    if (!rp)
        return;
    for (size_t i = 0; i < rp->nstreams; i++) {
        free(rp->streams[i].chain);
        rule_prune_destroy(rp->streams[i].prune);
    }
    free(rp->streams);
    for (size_t i = 0; i < rp->nin; i++)
        free(rp->in_topics[i]);
    free(rp->in_topics);
    free(rp->in_parts);
    free(rp->in_base);
    for (int k = 1; rp->topics && k <= rp->H; k++) {
        for (int u = 0; rp->topics[k] && u < rp->ntopics[k]; u++)
            free(rp->topics[k][u]);
        free(rp->topics[k]);
        if (rp->local)
            free(rp->local[k]);
    }
    free(rp->topics);
    free(rp->local);
    free(rp->ntopics);
    free(rp->pids);
    free(rp->vals);
    free(rp->have);
    free(rp);
}

/* ---- guarantees ---------------------------------------------------------- */

size_t cmd_rp_guarantees(const cmd_rp_t *rp, FILE *f)
{
    const rule_pack_t *pack = eng_engine_pack(rp->eng);
    rule_t *const *rules;
    size_t n = rule_pack_rules(pack, &rules), cond = 0;
    for (size_t i = 0; i < n; i++) {
        const rule_t *r = rules[i];
        int labels = memmem(r->source, r->source_len, "ctx.label(", 10) ||
                     memmem(r->source, r->source_len, "ctx.has_label(", 14);
        const char *key = NULL;
        for (size_t j = 0; j < r->nstreams && !key; j++) {
            const rp_stream_t *s = stream_of(rp, r->streams[j]);
            if (s)
                key = s->chain[s->nchain - 1];
        }
        if (!labels || !key) {
            fprintf(f, "%s: exact (counters repartitioned by their key; ctx.count/distinct for the event's own key)\n",
                    r->name);
            continue;
        }
        cond++;
        fprintf(f, "%s: exact for labels on %s, the stream's evaluation key; a label on another entity is "
                "kept by the partition of the event that sets it (counted: labels_off_key)\n", r->name, key);
    }
    return cond;
}

/* ---- records --------------------------------------------------------------- */

static uint64_t fnv1a(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* The partition of the next hop for stream s's event root at hop k: its
 * key field as a counter reads it, hashed; no such field: partition 0. */
static int32_t partition_for(const cmd_rp_t *rp, rp_stream_t *s, int k, wd_jval_t root, const char **key,
                             size_t *kl, char kbuf[RULE_NUMBUF])
{
    int keeps;
    memset(s->keyspec, 0, sizeof s->keyspec);
    s->keyspec->key = hop_key(rp, s, k, &keeps);
    if (!rule_counter_match(s->keyspec, root, key, kl, kbuf, NULL, NULL, NULL)) {
        *key = NULL;
        *kl = 0;
        return 0;
    }
    return (int32_t)(fnv1a(*key, *kl) % (uint64_t)rp->P);
}

/* Reads the carried values of record f ((u32 slot, i64 value)*,
 * big-endian, either format) into vals/have (cleared first).  0, or -1
 * when they are damaged. */
static int read_cv(const cmd_rp_t *rp, const kfk_frame_t *f, int64_t *vals, unsigned char *have)
{
    size_t nv = eng_engine_value_slots(rp->eng);
    memset(have, 0, nv);
    if (!f->cv)
        return 0;
    if (f->cv_len % 12)
        return -1;
    const unsigned char *b = f->cv;
    for (size_t i = 0; i < f->cv_len; i += 12) {
        uint32_t slot = (uint32_t)wd_get_be(b + i, 4);
        if (slot >= nv)
            return -1;
        vals[slot] = (int64_t)wd_get_be(b + i + 4, 8);
        have[slot] = 1;
    }
    return 0;
}

/* The carried values as the frame holds them, into scratch. */
static void put_cv(const cmd_rp_t *rp, const int64_t *vals, const unsigned char *have, wd_buf_t *scratch)
{
    size_t nv = eng_engine_value_slots(rp->eng);
    wd_buf_reset(scratch);
    for (size_t s = 0; s < nv; s++) {
        if (!have[s])
            continue;
        unsigned char b[12];
        wd_put_be(b, s, 4);
        wd_put_be(b + 4, (uint64_t)vals[s], 8);
        wd_buf_add(scratch, b, sizeof b);
    }
}

/* The input record's source of record f (m), its topic copied into buf.
 * 0, or -1 when f has none. */
static int read_src(const kfk_frame_t *f, const rd_kafka_message_t *m, eng_src_t *src, char *buf, size_t bufn)
{
    if (!f->src_topic || f->src_topic_len >= bufn)
        return -1;
    memcpy(buf, f->src_topic, f->src_topic_len);
    buf[f->src_topic_len] = '\0';
    memset(src, 0, sizeof *src);
    src->topic = buf;
    src->partition = f->src_partition;
    src->offset = f->src_offset;
    int64_t ts = rd_kafka_message_timestamp(m, NULL);
    src->msg_ts_ms = ts >= 0 ? ts : INT64_MIN;
    return 0;
}

/* ---- a hop process ----------------------------------------------------------- */

typedef struct hslot {
    struct hop   *hop;
    state_t      *state;       /* hops 1..H-1 */
    const char   *out;         /* the next hop's topic this slot writes */
    int           u;           /* its upstream index there */
    kfk_pos_t     pos, cpos;   /* position handed on, and as of the last commit */
    kfk_pos_t     fpos;        /* as of the batch whose commit is in flight (sealed) */
    int           has_pos, has_cpos, has_fpos, sealed;
    int           wm_due;      /* records went out since its last watermark */
    struct hslot *next;
} hslot_t;

typedef struct hop {
    cmd_rp_t   *rp;
    int         k;
    hslot_t    *slots;
    wd_buf_t    cv;          /* scratch: the carried values */
    wd_buf_t    rec;         /* scratch: the record handed on */
    char        src[256];
    uint64_t    events, out, watermarks_out, bytes_out, dead_letters, rejected;
    const char *stats;
    uint64_t    t0_ns;
    int         unknown_dlq;
    wd_json_t  *pace_json;   /* hop 0: parses an event for its time (pacing) */
} hop_t;

static kfk_rc_t hop_assign(void *ud, const char *topic, int32_t partition, void **part)
{
    hop_t *h = ud;
    hslot_t *s = calloc(1, sizeof(*s));
    if (!s)
        return KFK_FATAL;
    s->hop = h;
    int u = partition;
    if (h->k == 0) {
        for (size_t i = 0; i < h->rp->nin; i++)
            if (topic && strcmp(h->rp->in_topics[i], topic) == 0)
                u = h->rp->in_base[i] + partition;
    }
    if (u < 0 || u >= h->rp->ntopics[h->k + 1]) {
        LOG_ERROR("repartition hop=%d: slot %s/%d has no topic of its own (partitions changed since start?)",
                  h->k, topic ? topic : "*", (int)partition);
        free(s);
        return KFK_FATAL;
    }
    s->out = h->rp->topics[h->k + 1][u];
    s->u = u;
    if (h->k > 0) {
        s->state = state_new_like(eng_engine_state(h->rp->eng));
        if (!s->state || state_log_track(s->state, 1) != 0) {
            state_destroy(s->state);
            free(s);
            return KFK_FATAL;
        }
    }
    s->next = h->slots;
    h->slots = s;
    *part = s;
    return KFK_OK;
}

static void hop_revoke(void *ud, void *part)
{
    hop_t *h = ud;
    for (hslot_t **pp = &h->slots; *pp; pp = &(*pp)->next)
        if (*pp == part) {
            *pp = ((hslot_t *)part)->next;
            break;
        }
    state_destroy(((hslot_t *)part)->state);
    free(part);
}

/* One record of hop k: hop 0 an input event, hop k>0 an internal record
 * (either format).  What it hands on is one format-2 record: the frame
 * (position, source, carried values) and the event's bytes (pruned at
 * hop 0), built in h->rec. */
static kfk_rc_t hop_message(void *ud, kfk_t *k, const rd_kafka_message_t *m, void *part)
{
    hop_t *h = ud;
    cmd_rp_t *rp = h->rp;
    hslot_t *s = part;
    kfk_frame_t in, out;
    eng_src_t src;
    const char *ev = m->payload;
    size_t evlen = m->len;
    memset(&out, 0, sizeof out);
    out.kind = KFK_POS_RECORD;
    if (h->k > 0) {
        int kind = kfk_frame_of(m, &in);
        if (kind == KFK_POS_IDLE)
            return KFK_OK;
        if (kind == KFK_POS_WM) {
            /* everything before it is handed on: say so downstream (never
             * backwards: a watermark that comes late says less than pos) */
            if (!s->has_pos || kfk_pos_cmp(&in.pos, &s->pos) > 0) {
                s->pos = in.pos;
                s->has_pos = 1;
                s->wm_due = 1;
            }
            return KFK_OK;
        }
        if (kind != KFK_POS_RECORD || read_src(&in, m, &src, h->src, sizeof h->src) != 0) {
            h->dead_letters++;
            return kfk_dead_letter(k, m, "internal: a repartition record without its position or source", NULL);
        }
        out.pos = in.pos;
        ev = in.val;
        evlen = in.val_len;
    } else {
        h->events++;
        if (!m->payload || m->len == 0) {
            h->rejected++;
            return kfk_dead_letter(k, m, "malformed: empty message", NULL);
        }
        memset(&src, 0, sizeof src);
        src.topic = rd_kafka_topic_name(m->rkt);
        src.partition = m->partition;
        src.offset = m->offset;
        int64_t ts = rd_kafka_message_timestamp(m, NULL);
        src.msg_ts_ms = ts >= 0 ? ts : INT64_MIN;
    }
    const eng_outcome_t *o;
    wd_jval_t root;
    int64_t *vals = rp->vals;
    unsigned char *have = rp->have;
    if (h->k > 0 && read_cv(rp, &in, vals, have) != 0) {
        h->dead_letters++;
        return kfk_dead_letter(k, m, "internal: damaged carried values (warden.cv)", NULL);
    }
    if (h->k == 0)
        memset(have, 0, eng_engine_value_slots(rp->eng));
    if (eng_engine_hop(rp->eng, s->state, ev, evlen, &src, h->k > 0 ? rp->local[h->k] : NULL, vals,
                       have, &o, &root) != 0)
        return KFK_FATAL;
    if (o->status == ENG_EVENT_REJECTED) {
        h->rejected++;
        wd_buf_t r = WD_BUF_INIT;
        wd_buf_printf(&r, "malformed: %s", o->reject_reason ? o->reject_reason : "rejected");
        kfk_rc_t rc = kfk_dead_letter(k, m, r.data, NULL);
        wd_buf_free(&r);
        return rc;
    }
    if (o->status == ENG_EVENT_UNROUTED) {
        if (!h->unknown_dlq)
            return KFK_OK;
        wd_buf_t r = WD_BUF_INIT;
        wd_buf_printf(&r, "unknown_stream: %s", o->stream ? o->stream : "");
        kfk_rc_t rc = kfk_dead_letter(k, m, r.data, NULL);
        wd_buf_free(&r);
        return rc;
    }
    rp_stream_t *st = stream_of(rp, o->stream);
    if (!st)
        return KFK_FATAL;
    if (h->k == 0) {
        out.pos.ts = o->event_ts_ms;
        if (!kfk_origin_of(m, &out.pos.part, &out.pos.off)) {
            out.pos.part = s->u;
            out.pos.off = m->offset;
        }
    }
    out.src_topic = src.topic;
    out.src_topic_len = strlen(src.topic);
    out.src_partition = src.partition;
    out.src_offset = src.offset;
    put_cv(rp, vals, have, &h->cv);
    out.cv = (const unsigned char *)h->cv.data;
    out.cv_len = h->cv.len;
    wd_buf_reset(&h->rec);
    if (wd_buf_failed(&h->cv) || kfk_frame_put(&h->rec, &out) != 0) {
        LOG_ERROR("repartition hop=%d: out of memory (or a source topic name too long) writing a record", h->k);
        return KFK_FATAL;
    }
    if (h->k > 0 || rule_prune_write(st->prune, root, ev, evlen, &h->rec) != 0)
        wd_buf_add(&h->rec, ev, evlen);
    if (wd_buf_failed(&h->rec)) {
        LOG_ERROR("repartition hop=%d: out of memory writing a record", h->k);
        return KFK_FATAL;
    }
    const char *key;
    size_t kl;
    char kbuf[RULE_NUMBUF];
    int32_t to = partition_for(rp, st, h->k + 1, root, &key, &kl, kbuf);
    int64_t mts = rd_kafka_message_timestamp(m, NULL);
    kfk_rc_t rc = kfk_produce(k, s->out, to, key, kl, h->rec.data, h->rec.len, mts > 0 ? mts : 0, NULL);
    if (rc != KFK_OK)
        return rc;
    h->out++;
    h->bytes_out += h->rec.len;
    if (h->k > 0)
        h->events++;
    s->pos = out.pos;
    s->has_pos = 1;
    s->wm_due = 1;
    return KFK_OK;
}

/* Hop 0 reads its input partitions side by side in event time (the loop's
 * pacing, kfk_handler_t.pace_time): from a backlog, one partition would
 * otherwise run days of event time ahead of another, and hop 1's merge
 * would hold everything in between.  One more parse per event (~0.3 µs). */
static int64_t hop_pace_time(void *ud, const rd_kafka_message_t *m)
{
    hop_t *h = ud;
    wd_jval_t root;
    char perr[128];
    const char *why;
    int64_t ts;
    eng_src_t src;
    memset(&src, 0, sizeof src);
    src.topic = rd_kafka_topic_name(m->rkt);
    src.partition = m->partition;
    src.offset = m->offset;
    int64_t mts = rd_kafka_message_timestamp(m, NULL);
    src.msg_ts_ms = mts >= 0 ? mts : INT64_MIN;
    if (!m->payload || wd_json_parse(h->pace_json, m->payload, m->len, &root, perr, sizeof perr) != 0 ||
        wd_jval_type(root) != WD_JOBJECT || eng_event_time(eng_engine_opts(h->rp->eng), root, &src, &ts, &why) != 0)
        return INT64_MIN;   /* rejected at once when its turn comes */
    return ts;
}

/* A slot's watermark: its position (everything up to it handed on); on
 * hop 0 the position just before the oldest event it holds, when that is
 * later: the slot's input partition is in event-time order, so nothing it
 * hands on later is older (an event that is counts as late, as it would
 * against the position), and the next hop need not wait for events of
 * the slot's that the pacing holds behind another partition's older ones.
 * 0 when there is none; *held 1 when the held events gave it. */
static int slot_watermark(const hop_t *h, kfk_t *k, const hslot_t *s, kfk_pos_t *w, int *held)
{
    int64_t ts;
    int have = s->has_pos;
    *held = 0;
    if (have)
        *w = s->pos;
    if (h->k == 0 && kfk_slot_held_min(k, s, &ts) && ts > INT64_MIN) {
        kfk_pos_t b = { ts - 1, INT64_MAX, INT64_MAX };
        if (!have || kfk_pos_cmp(&b, w) > 0) {
            *w = b;
            *held = 1;
        }
        have = 1;
    }
    return have;
}

static kfk_rc_t hop_precommit(void *ud, kfk_t *k)
{
    hop_t *h = ud;
    int np = h->rp->P;
    /* with every commit while the held events give it (a few records a
     * commit: nothing to remember, so nothing an abort could leave stale) */
    for (hslot_t *s = h->slots; s; s = s->next) {
        kfk_pos_t w;
        int held;
        if (!slot_watermark(h, k, s, &w, &held) || (!s->wm_due && !held))
            continue;
        kfk_rc_t rc = kfk_watermark(k, s->out, np, &w);
        if (rc != KFK_OK)
            return rc == KFK_REDO ? KFK_REDO : KFK_FATAL;
        h->watermarks_out += (uint64_t)np;
        s->wm_due = 0;
    }
    return KFK_OK;
}

static kfk_rc_t hop_tick(void *ud, kfk_t *k, void *part, int idle)
{
    hop_t *h = ud;
    hslot_t *s = part;
    kfk_pos_t w;
    int held;
    if (!s || (!idle && !slot_watermark(h, k, s, &w, &held)))
        return KFK_OK;
    kfk_rc_t rc = kfk_watermark(k, s->out, h->rp->P, idle ? NULL : &w);
    if (rc == KFK_OK)
        h->watermarks_out += (uint64_t)h->rp->P;
    return rc;
}

static int put_record(void *ud, const void *id, size_t idlen, const void *val, size_t vlen)
{
    kfk_rc_t rc = kfk_changelog_put(ud, id, idlen, val, vlen);
    return rc == KFK_OK ? 0 : rc == KFK_REDO ? 1 : 2;
}

static kfk_rc_t hop_changes(void *ud, void *part, kfk_changelog_t *cl, char *errstr, size_t n)
{
    (void)ud;
    hslot_t *s = part;
    int rc = state_log_changes(s->state, put_record, cl);
    if (rc == 1)
        return KFK_REDO;
    if (rc != 0) {
        snprintf(errstr, n, "%s", rc == 2 ? "producing a changelog record failed" : state_strerror(rc));
        return KFK_FATAL;
    }
    return KFK_OK;
}

/* The position committed is the sealed batch's when its commit was in
 * flight (the next batch has moved pos on since), else the batch's own. */
static void hop_committed(void *ud, void *part)
{
    (void)ud;
    hslot_t *s = part;
    if (s->state)
        state_log_commit(s->state);
    s->cpos = s->sealed ? s->fpos : s->pos;
    s->has_cpos = s->sealed ? s->has_fpos : s->has_pos;
    s->sealed = 0;
}

/* The batch's commit goes in flight (kfk_handler_t.seal): its position and
 * its state's log are kept apart from the next batch's. */
static kfk_rc_t hop_seal(void *ud, void *part, char *errstr, size_t n)
{
    (void)ud;
    hslot_t *s = part;
    int rc = s->state ? state_log_seal(s->state) : 0;
    if (rc != 0) {
        snprintf(errstr, n, "%s", state_strerror(rc));
        return KFK_FATAL;
    }
    s->fpos = s->pos;
    s->has_fpos = s->has_pos;
    s->sealed = 1;
    return KFK_OK;
}

static kfk_rc_t hop_rollback(void *ud, void *part, char *errstr, size_t n)
{
    (void)ud;
    hslot_t *s = part;
    s->pos = s->cpos;
    s->has_pos = s->has_cpos;
    s->wm_due = 0;
    s->sealed = 0;
    if (s->state && state_log_rollback(s->state) != 0) {
        snprintf(errstr, n, "rollback failed");
        return KFK_FATAL;
    }
    return KFK_OK;
}

static kfk_rc_t hop_apply(void *ud, void *part, const void *id, size_t idlen, const void *val, size_t vlen,
                          char *errstr, size_t n)
{
    (void)ud;
    (void)errstr;
    (void)n;
    hslot_t *s = part;
    char err[512];
    int rc = state_log_apply(s->state, id, idlen, val, vlen, err, sizeof err);
    if (rc < 0)
        LOG_WARN("repartition: changelog record rejected, its key starts empty reason=\"%s\"", err);
    return KFK_OK;
}

static kfk_rc_t hop_restored(void *ud, void *part, char *errstr, size_t n)
{
    (void)ud;
    (void)errstr;
    (void)n;
    state_log_restored(((hslot_t *)part)->state);
    return KFK_OK;
}

static void hop_stats(hop_t *h, kfk_t *k, int final, const char *error)
{
    if (!h->stats)
        return;
    kfk_stats_t ks;
    if (final)
        kfk_stats(k, &ks);
    else
        kfk_counters(k, &ks);
    char path[1024], cmd[32];
    snprintf(path, sizeof path, "%s.hop%d.json", h->stats, h->k);
    snprintf(cmd, sizeof cmd, "run.hop%d", h->k);
    json_t *o = cmd_stats_new(cmd, wd_config_str(h->rp->cfg, "run.instance"), final,
                              (double)(wd_now_ns() - h->t0_ns) / 1e9);
    if (o) {
        cmd_stats_kafka(o, &ks, final);
        cmd_stats_u64(o, "hop", (uint64_t)h->k);
        cmd_stats_u64(o, "events", h->events);
        cmd_stats_u64(o, "out", h->out);
        cmd_stats_u64(o, "bytes_out", h->bytes_out);
        cmd_stats_u64(o, "watermarks_out", h->watermarks_out);
        cmd_stats_u64(o, "rejected", h->rejected);
        cmd_stats_u64(o, "internal_errors", h->dead_letters);
        if (final)
            json_object_set_new(o, "error", error ? json_string(error) : json_null());
    }
    char err[512];
    cmd_stats_write(path, o, err, sizeof err);
}

static void hop_report(void *ud, kfk_t *k) { hop_stats(ud, k, 0, NULL); }

/* The body of hop process k: its loop until SIGTERM.  Returns the exit
 * status. */
static int hop_main(cmd_rp_t *rp, int k, const char *stats)
{
    hop_t h;
    memset(&h, 0, sizeof h);
    h.rp = rp;
    h.k = k;
    h.stats = stats;
    h.t0_ns = wd_now_ns();
    h.unknown_dlq = strcmp(wd_config_str(rp->cfg, "run.unknown_stream"), "dlq") == 0;
    const wd_config_t *cfg = rp->cfg;
    char group[512], txn[600], cl[600], err[1024];
    snprintf(group, sizeof group, "%s.hop%d", wd_config_str(cfg, "run.group"), k);
    snprintf(txn, sizeof txn, "%s.%s.hop%d", wd_config_str(cfg, "run.group"), wd_config_str(cfg, "run.instance"), k);
    snprintf(cl, sizeof cl, "%s.hop%d", wd_config_str(cfg, "run.changelog_topic"), k);
    kfk_opts_t ko = {
        .topics = k == 0 ? (const char *const *)rp->in_topics : (const char *const *)rp->topics[k],
        .ntopics = k == 0 ? rp->nin : (size_t)rp->ntopics[k],
        .group = group,
        .txn_id = txn,
        .changelog = k > 0 ? cl : NULL,
        .dlq = wd_config_str(cfg, "run.dlq_topic"),
        .create_missing = wd_config_bool(cfg, "run.create_topics"),
        .batch_max = wd_config_int(cfg, "run.batch_max"),
        .batch_ms = wd_config_int(cfg, "run.batch_ms"),
        .client_id = "warden-run-hop",
        .merge = k > 0,
        .per_partition = k == 0,
        .tick_ms = wd_config_int(cfg, "run.tick_ms"),
        .idle_ms = wd_config_int(cfg, "run.idle_ms"),
        .align_ms = k == 0 ? wd_config_int(cfg, "run.align_ms") : 0,
        .overlap = wd_config_bool(cfg, "run.commit_overlap"),
        .hold_max_bytes = (size_t)wd_config_int(cfg, "run.hold_max_kb") * 1024,
    };
    kfk_handler_t hh = {
        .ud = &h,
        .assign = hop_assign,
        .revoke = hop_revoke,
        .message = hop_message,
        .precommit = hop_precommit,
        .committed = hop_committed,
        .rollback = hop_rollback,
        .seal = hop_seal,
        .tick = hop_tick,
        .report = hop_report,
    };
    if (k == 0 && rp->U1 > 1) {
        if (!(h.pace_json = wd_json_new(0))) {
            LOG_ERROR("repartition hop=%d: out of memory", k);
            return 4;
        }
        hh.pace_time = hop_pace_time;
    }
    if (k > 0) {
        hh.changes = hop_changes;
        hh.apply = hop_apply;
        hh.restored = hop_restored;
    }
    kfk_install_signals();
    kfk_t *kk = kfk_new(cfg, &ko, &hh, err, sizeof err);
    if (!kk) {
        LOG_ERROR("repartition hop=%d: %s", k, err);
        return 4;
    }
    LOG_INFO("repartition hop=%d started group=%s transactional_id=%s inputs=%zu", k, group, txn, ko.ntopics);
    int lrc = kfk_run(kk, err, sizeof err);
    hop_stats(&h, kk, 1, lrc ? err : NULL);
    kfk_destroy(kk);
    while (h.slots) {
        hslot_t *s = h.slots;
        h.slots = s->next;
        state_destroy(s->state);
        free(s);
    }
    wd_buf_free(&h.cv);
    wd_buf_free(&h.rec);
    wd_json_destroy(h.pace_json);
    return lrc ? 4 : 0;
}

int cmd_rp_start(cmd_rp_t *rp, const char *stats, char *errstr, size_t n)
{
    /* Every internal topic first, so each hop's loop finds its inputs. */
    size_t nt = 0;
    for (int k = 1; k <= rp->H; k++)
        nt += (size_t)rp->ntopics[k];
    const char **names = calloc(nt + 1, sizeof(char *));
    int *parts = calloc(nt + 1, sizeof(int)), *compact = calloc(nt + 1, sizeof(int));
    if (!names || !parts || !compact) {
        free(names);
        free(parts);
        free(compact);
        snprintf(errstr, n, "out of memory");
        return -1;
    }
    nt = 0;
    for (int k = 1; k <= rp->H; k++)
        for (int u = 0; u < rp->ntopics[k]; u++) {
            names[nt] = rp->topics[k][u];
            parts[nt++] = rp->P;
        }
    int rc = kfk_create(rp->cfg, names, parts, compact, nt, errstr, n);
    free(names);
    free(parts);
    free(compact);
    if (rc != 0)
        return -1;
    pid_t parent = getpid();
    fflush(NULL);
    for (int k = 0; k < rp->H; k++) {
        pid_t pid = fork();
        if (pid < 0) {
            snprintf(errstr, n, "fork: %s", strerror(errno));
            return -1;
        }
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);   /* kill -9 of run takes its hops along */
            if (getppid() != parent)
                _exit(4);
            _exit(hop_main(rp, k, stats));
        }
        rp->pids[k] = pid;
        LOG_INFO("repartition hop=%d pid=%d", k, (int)pid);
    }
    return 0;
}

void cmd_rp_final_opts(cmd_rp_t *rp, kfk_opts_t *ko)
{
    static char cl[600];
    snprintf(cl, sizeof cl, "%s.hop%d", ko->changelog, rp->H);
    ko->changelog = cl;
    ko->topics = (const char *const *)rp->topics[rp->H];
    ko->ntopics = (size_t)rp->ntopics[rp->H];
    ko->merge = 1;
    ko->hold_max_bytes = (size_t)wd_config_int(rp->cfg, "run.hold_max_kb") * 1024;
    rp->carry.local = rp->local[rp->H];
    rp->carry.vals = rp->vals;
    rp->carry.have = rp->have;
}

int cmd_rp_final_msg(cmd_rp_t *rp, const rd_kafka_message_t *m, eng_src_t *src, const eng_carry_t **carry,
                     const void **ev, size_t *evlen, const char **why)
{
    kfk_frame_t f;
    int kind = kfk_frame_of(m, &f);
    if (kind == KFK_POS_WM || kind == KFK_POS_IDLE)
        return 1;
    if (kind != KFK_POS_RECORD || read_src(&f, m, src, rp->src_topic, sizeof rp->src_topic) != 0) {
        *why = "internal: a repartition record without its position or source";
        return -1;
    }
    if (read_cv(rp, &f, rp->vals, rp->have) != 0) {
        *why = "internal: damaged carried values (warden.cv)";
        return -1;
    }
    rp->carry.entity = m->key;
    rp->carry.entity_len = m->key ? m->key_len : 0;
    *carry = &rp->carry;
    *ev = f.val;
    *evlen = f.val_len;
    return 0;
}

void cmd_rp_set_engine(cmd_rp_t *rp, eng_engine_t *e) { rp->eng = e; }

int cmd_rp_check(cmd_rp_t *rp)
{
    if (rp->exited)
        return -1;
    for (int k = 0; k < rp->H; k++) {
        int st;
        if (rp->pids[k] > 0 && waitpid(rp->pids[k], &st, WNOHANG) == rp->pids[k]) {
            LOG_ERROR("repartition hop=%d (pid %d) exited (status %d): stopping", k, (int)rp->pids[k],
                      WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
            rp->pids[k] = 0;
            rp->exited = 1;
            return -1;
        }
    }
    return 0;
}

int cmd_rp_stop(cmd_rp_t *rp)
{
    int bad = rp->exited;
    for (int k = 0; k < rp->H; k++)
        if (rp->pids[k] > 0)
            kill(rp->pids[k], SIGTERM);
    for (int k = 0; k < rp->H; k++) {
        int st;
        if (rp->pids[k] > 0 && waitpid(rp->pids[k], &st, 0) == rp->pids[k] &&
            !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
            bad = 1;
        rp->pids[k] = 0;
    }
    return bad ? -1 : 0;
}

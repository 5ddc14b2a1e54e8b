/* kafka/kfk.c — the exactly-once consume-transform-produce loop.
 *
 * One consumer (group, read_committed, no auto-commit) and one
 * transactional producer.  A batch opens a transaction at its first message;
 * the handler produces its outputs into it; at batch_max messages or
 * batch_ms the loop runs the handler's precommit (results to the store),
 * writes a state snapshot per touched partition to the compacted changelog
 * (key "topic/partition"), sends the consumed offsets and commits — outputs,
 * state and offsets become visible together or not at all.
 *
 * An abortable error aborts the transaction, seeks every touched partition
 * back to its batch's first offset (= the committed offset) and reloads its
 * state from the last committed snapshot kept in memory, so the batch is
 * redone from the same state.  A fatal error (fenced producer, …) stops the
 * loop with a non-zero exit.  On revoke the in-flight batch commits first;
 * on assign each partition's state is restored from the changelog
 * (read_committed) before its first message is handed out. */
#include "kafka/kfk.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/wd_config.h"
#include "base/wd_log.h"
#include "base/wd_lua.h"
#include "base/wd_util.h"

#define SNAPSHOT_MAX_BYTES ((size_t)16 << 20)
#define SNAPSHOT_FRAMING   1024   /* record and batch headers, generously */
#define PRODUCER_RESTARTS  3      /* new producers in a row without a commit */
#define PRODUCER_INIT_MAX_S 300   /* a new producer waits this long for its coordinator */
#define LAT_MAX_SAMPLES    (4u << 20)

/* Signals are process-wide by nature: the only file-level state. */
static volatile sig_atomic_t sig_stop;
static volatile sig_atomic_t sig_hup;

/* SIGTERM/SIGINT: finish the batch and stop.  A rule evaluation still
 * running a second after (a normal one takes microseconds; one stuck in a
 * C call or under a disabled time limit does not end) is cut short; a
 * second signal cuts it at once (base/wd_lua.h). */
static void on_signal(int sig)
{
    if (sig == SIGHUP) {
        sig_hup = 1;
        return;
    }
    wd_lua_interrupt_in(sig_stop ? 0 : 1000);
    sig_stop = 1;
}

void kfk_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

void kfk_request_stop(void) { sig_stop = 1; }

/* A state slot: partition N of every input topic (co-partitioned inputs)
 * or of one topic.  It owns the handler's object and its snapshots. */
typedef struct kslot {
    char      *topic;          /* NULL: co-partitioned, all input topics */
    int32_t    partition;
    int32_t    cl_part;        /* changelog partition */
    char      *key;            /* changelog key: "TOPIC/N", or "* /N" without the space */
    void      *user;
    int        refs;           /* assigned topic-partitions using it */
    int        dirty;          /* touched in the open batch */
    wd_buf_t  committed;      /* snapshot as of the last commit */
    int        has_committed;
    wd_buf_t  pending;        /* snapshot written in the open transaction */
} kslot_t;

/* One assigned input topic-partition. */
typedef struct ktp {
    char                 *topic;
    int32_t               partition;
    kslot_t              *slot;
    int                   dirty;        /* consumed in the open batch */
    int64_t               batch_first;  /* offset of its first message in the batch */
    int64_t               next;         /* offset after its last message handed out */
    int                   eof;          /* caught up (no message fetched since EOF) */
    int64_t               polled_next;  /* offset after the last message polled, -1 before */
    rd_kafka_message_t  **q;            /* held for event-time alignment */
    uint64_t             *q_ns;         /* when each was polled */
    size_t                qhead, qlen, qcap;
} ktp_t;

struct kfk {
    const wd_config_t  *cfg;
    kfk_opts_t     o;
    kfk_handler_t  h;
    rd_kafka_t          *c;
    rd_kafka_t          *p;
    rd_kafka_t          *restorer;
    kslot_t            **slots;
    size_t               nslots, capslots;
    ktp_t              **tps;
    size_t               ntps, captps;
    int                  copart;         /* slots span all input topics */
    int                  align;          /* hold messages for event-time order */
    size_t               held;           /* messages held, all partitions */
    int                  open;           /* a transaction is open */
    int                  stopping;       /* finish the batch and return (max_events) */
    size_t               nbatch;
    uint64_t             batch_start_ns;
    uint64_t            *poll_ns;        /* per message of the batch */
    uint32_t            *lat;            /* µs samples */
    size_t               nlat, caplat;
    int                  fatal;
    char                 fatal_msg[512];
    rd_kafka_conf_t     *pconf;          /* the producer's config, for a new producer */
    int                  pfailed;        /* the producer failed fatally (pfail_msg) */
    int                  pabort;         /* a produce found the transaction needing an abort */
    char                 pfail_msg[512];
    int                  prestarts;      /* new producers since the last commit */
    long                 txn_timeout_ms; /* the producer's transaction.timeout.ms */
    int32_t              cl_parts;       /* changelog partition count */
    char               **tp_names;       /* input topics, sorted, with */
    int32_t             *tp_base;        /* their first changelog partition */
    size_t               ntp;
    kfk_stats_t    st;
};

#define ALIGN_MAX_HELD 200000   /* past this, messages go out without waiting */

static void set_fatal(kfk_t *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_fatal(kfk_t *k, const char *fmt, ...)
{
    if (k->fatal)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->fatal_msg, sizeof k->fatal_msg, fmt, ap);
    va_end(ap);
    k->fatal = 1;
    LOG_ERROR("kafka fatal: %s", k->fatal_msg);
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    int l = level <= 3 ? WD_LOG_ERROR : level == 4 ? WD_LOG_WARN : WD_LOG_DEBUG;
    /* One kafka section serves consumer and producer: librdkafka warns about
     * the other client's properties.  Not worth a warning. */
    if (strcmp(fac, "CONFWARN") == 0 && strstr(buf, "will be ignored by this"))
        l = WD_LOG_DEBUG;
    WD_LOG_(l, "rdkafka client=%s fac=%s msg=\"%s\"", rd_kafka_name(rk), fac, buf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char msg[512];
        rd_kafka_fatal_error(rk, msg, sizeof msg);
        LOG_ERROR("kafka client=%s fatal error: %s", rd_kafka_name(rk), msg);
    } else if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        LOG_WARN("kafka client=%s err=%s reason=\"%s\"", rd_kafka_name(rk), rd_kafka_err2name(err), reason);
    } else {
        LOG_DEBUG("kafka client=%s err=%s reason=\"%s\"", rd_kafka_name(rk), rd_kafka_err2name(err), reason);
    }
}

/* Sets key=val unless the config file's kafka section set key. */
static int conf_default(const wd_config_t *cfg, rd_kafka_conf_t *conf, const char *key,
                        const char *val, char *errstr, size_t n)
{
    if (cfg && wd_config_kafka_get(cfg, key))
        return 0;
    if (rd_kafka_conf_set(conf, key, val, errstr, n) != RD_KAFKA_CONF_OK)
        return -1;
    return 0;
}

/* Sets key=val whatever the file says (warden's correctness depends on it). */
static int conf_force(const wd_config_t *cfg, rd_kafka_conf_t *conf, const char *key,
                      const char *val, char *errstr, size_t n)
{
    const char *mine = cfg ? wd_config_kafka_get(cfg, key) : NULL;
    if (mine && strcmp(mine, val) != 0)
        LOG_WARN("kafka property %s=%s from the config is overridden with %s (exactly-once needs it)",
                 key, mine, val);
    if (rd_kafka_conf_set(conf, key, val, errstr, n) != RD_KAFKA_CONF_OK)
        return -1;
    return 0;
}

static rd_kafka_conf_t *base_conf(const kfk_t *k, const char *role, char *errstr, size_t n)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (k->cfg && wd_config_kafka_apply(k->cfg, conf, errstr, n) != 0)
        goto fail;
    char cid[256];
    snprintf(cid, sizeof cid, "%s-%s", k->o.client_id ? k->o.client_id : "warden", role);
    if (conf_default(k->cfg, conf, "client.id", cid, errstr, n) != 0)
        goto fail;
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* ---- slots and partitions ------------------------------------------------ */

static ktp_t *tp_find(kfk_t *k, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < k->ntps; i++) {
        ktp_t *t = k->tps[i];
        if (t->partition == partition && strcmp(t->topic, topic) == 0)
            return t;
    }
    return NULL;
}

static kslot_t *slot_find(kfk_t *k, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < k->nslots; i++) {
        kslot_t *s = k->slots[i];
        if (s->partition == partition && (k->copart || strcmp(s->topic, topic) == 0))
            return s;
    }
    return NULL;
}

/* The changelog partition of a slot: co-partitioned, N; else the input
 * partitions of the sorted input topics numbered consecutively.  With as
 * many changelog partitions as slots each slot has its own (one writer). */
static int32_t cl_partition(const kfk_t *k, const char *topic, int32_t partition)
{
    int32_t base = 0;
    for (size_t i = 0; !k->copart && i < k->ntp; i++)
        if (strcmp(k->tp_names[i], topic) == 0)
            base = k->tp_base[i];
    return k->cl_parts > 0 ? (base + partition) % k->cl_parts : 0;
}

static void q_clear(kfk_t *k, ktp_t *t)
{
    for (size_t i = 0; i < t->qlen; i++)
        rd_kafka_message_destroy(t->q[(t->qhead + i) % t->qcap]);
    k->held -= t->qlen;
    t->qhead = t->qlen = 0;
}

static int q_push(ktp_t *t, rd_kafka_message_t *m, uint64_t ns)
{
    if (t->qlen == t->qcap) {
        size_t cap = t->qcap ? t->qcap * 2 : 256;
        rd_kafka_message_t **q = malloc(cap * sizeof(*q));
        uint64_t *qn = malloc(cap * sizeof(*qn));
        if (!q || !qn) {
            free(q);
            free(qn);
            return -1;
        }
        for (size_t i = 0; i < t->qlen; i++) {
            q[i] = t->q[(t->qhead + i) % t->qcap];
            qn[i] = t->q_ns[(t->qhead + i) % t->qcap];
        }
        free(t->q);
        free(t->q_ns);
        t->q = q;
        t->q_ns = qn;
        t->qcap = cap;
        t->qhead = 0;
    }
    size_t at = (t->qhead + t->qlen) % t->qcap;
    t->q[at] = m;
    t->q_ns[at] = ns;
    t->qlen++;
    return 0;
}

static void slot_release(kfk_t *k, kslot_t *s)
{
    if (--s->refs > 0)
        return;
    for (size_t i = 0; i < k->nslots; i++)
        if (k->slots[i] == s) {
            k->slots[i] = k->slots[--k->nslots];
            break;
        }
    if (k->h.revoke)
        k->h.revoke(k->h.ud, s->user);
    LOG_INFO("released state slot=%s", s->key);
    wd_buf_free(&s->committed);
    wd_buf_free(&s->pending);
    free(s->topic);
    free(s->key);
    free(s);
}

static void tp_free(kfk_t *k, ktp_t *t)
{
    q_clear(k, t);
    free(t->q);
    free(t->q_ns);
    if (t->slot)
        slot_release(k, t->slot);
    free(t->topic);
    free(t);
}

/* Reads the changelog partitions of the new slots (read committed, from
 * the start to the end) and keeps the newest snapshot of each, then hands
 * it to the handler.  Returns 0 or -1 (fatal). */
static int restore(kfk_t *k, kslot_t **ns, size_t n)
{
    char errstr[512];
    if (!k->h.load || n == 0)
        return 0;
    uint64_t t0 = wd_now_ns();
    rd_kafka_topic_partition_list_t *a = rd_kafka_topic_partition_list_new((int)n);
    int want = 0;
    for (size_t i = 0; i < n; i++) {
        if (rd_kafka_topic_partition_list_find(a, k->o.changelog, ns[i]->cl_part))
            continue;
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t e;
        /* A changelog created a moment ago may not have a leader yet. */
        for (int tries = 0;; tries++) {
            e = rd_kafka_query_watermark_offsets(k->restorer, k->o.changelog, ns[i]->cl_part, &lo, &hi, 10000);
            if (tries >= 100 || (e != RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION &&
                                 e != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE &&
                                 e != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART &&
                                 e != RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION &&
                                 e != RD_KAFKA_RESP_ERR__TRANSPORT && e != RD_KAFKA_RESP_ERR__TIMED_OUT))
                break;
            usleep(200000);
        }
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR && hi <= lo)
            continue;   /* empty: no snapshot yet */
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            set_fatal(k, "restore: watermarks of %s [%d]: %s", k->o.changelog, (int)ns[i]->cl_part,
                      rd_kafka_err2str(e));
            rd_kafka_topic_partition_list_destroy(a);
            return -1;
        }
        rd_kafka_topic_partition_list_add(a, k->o.changelog, ns[i]->cl_part)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
        want++;
    }
    int rc = 0;
    if (want > 0) {
        rd_kafka_assign(k->restorer, a);
        int eofs = 0;
        uint64_t deadline = wd_now_ns() + 120ull * 1000000000ull;
        while (eofs < want) {
            if (wd_now_ns() > deadline) {
                set_fatal(k, "restore: reading %s took over 120 s (a transaction pending on it?)", k->o.changelog);
                rc = -1;
                break;
            }
            rd_kafka_message_t *m = rd_kafka_consumer_poll(k->restorer, 200);
            if (!m)
                continue;
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                eofs++;
            } else if (m->err) {
                LOG_WARN("restore: %s: %s", k->o.changelog, rd_kafka_message_errstr(m));
            } else if (m->key) {
                for (size_t i = 0; i < n; i++) {
                    kslot_t *s = ns[i];
                    if (s->cl_part != m->partition || m->key_len != strlen(s->key) ||
                        memcmp(m->key, s->key, m->key_len) != 0)
                        continue;
                    wd_buf_reset(&s->committed);
                    s->has_committed = m->payload != NULL;
                    if (m->payload)
                        wd_buf_add(&s->committed, m->payload, m->len);
                }
            }
            rd_kafka_message_destroy(m);
        }
        rd_kafka_assign(k->restorer, NULL);
    }
    rd_kafka_topic_partition_list_destroy(a);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        kslot_t *s = ns[i];
        if (k->h.load(k->h.ud, s->user, s->has_committed ? s->committed.data : NULL,
                      s->has_committed ? s->committed.len : 0, errstr, sizeof errstr) != 0) {
            set_fatal(k, "restore: state of %s from %s: %s", s->key, k->o.changelog, errstr);
            return -1;
        }
        if (s->has_committed) {
            k->st.restored++;
            LOG_INFO("restored slot=%s bytes=%zu from=%s/%d", s->key, s->committed.len, k->o.changelog,
                     (int)s->cl_part);
        }
    }
    LOG_DEBUG("restore: %zu slots in %.1f ms", n, (double)(wd_now_ns() - t0) / 1e6);
    return 0;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 16;
    while (c < need)
        c *= 2;
    void *n = realloc(*arr, c * elem);
    if (!n)
        return -1;
    *arr = n;
    *cap = c;
    return 0;
}

static int on_assign(kfk_t *k, const rd_kafka_topic_partition_list_t *parts)
{
    kslot_t **ns = calloc((size_t)parts->cnt + 1, sizeof(*ns));
    if (!ns || grow((void **)&k->tps, &k->captps, k->ntps + (size_t)parts->cnt, sizeof(ktp_t *)) ||
        grow((void **)&k->slots, &k->capslots, k->nslots + (size_t)parts->cnt, sizeof(kslot_t *))) {
        free(ns);
        set_fatal(k, "out of memory");
        return -1;
    }
    size_t n = 0;
    for (int i = 0; i < parts->cnt && !k->fatal; i++) {
        const rd_kafka_topic_partition_t *tp = &parts->elems[i];
        if (tp_find(k, tp->topic, tp->partition))
            continue;
        ktp_t *t = calloc(1, sizeof(*t));
        if (!t || !(t->topic = strdup(tp->topic))) {
            free(t);
            set_fatal(k, "out of memory");
            break;
        }
        t->partition = tp->partition;
        t->polled_next = -1;
        kslot_t *s = slot_find(k, tp->topic, tp->partition);
        if (!s) {
            s = calloc(1, sizeof(*s));
            char key[512];
            if (k->copart)
                snprintf(key, sizeof key, "*/%d", (int)tp->partition);
            else
                snprintf(key, sizeof key, "%s/%d", tp->topic, (int)tp->partition);
            if (!s || !(s->key = strdup(key)) || (!k->copart && !(s->topic = strdup(tp->topic)))) {
                if (s)
                    free(s->key);
                free(s);
                free(t->topic);
                free(t);
                set_fatal(k, "out of memory");
                break;
            }
            s->partition = tp->partition;
            s->cl_part = cl_partition(k, tp->topic, tp->partition);
            if (k->h.assign && k->h.assign(k->h.ud, s->topic, s->partition, &s->user) != 0) {
                free(s->topic);
                free(s->key);
                free(s);
                free(t->topic);
                free(t);
                set_fatal(k, "assign %s failed", key);
                break;
            }
            k->slots[k->nslots++] = s;
            ns[n++] = s;
        }
        s->refs++;
        t->slot = s;
        k->tps[k->ntps++] = t;
        LOG_INFO("assigned partition=%s/%d slot=%s", t->topic, (int)t->partition, s->key);
    }
    int rc = k->fatal ? -1 : restore(k, ns, n);
    free(ns);
    return rc;
}

static int commit_batch(kfk_t *k);

static void on_revoke(kfk_t *k, const rd_kafka_topic_partition_list_t *parts)
{
    /* Finish the in-flight batch while the partitions are still ours. */
    if (k->open && !k->fatal)
        commit_batch(k);
    for (int i = 0; i < parts->cnt; i++) {
        for (size_t j = 0; j < k->ntps; j++) {
            ktp_t *t = k->tps[j];
            if (t->partition == parts->elems[i].partition && strcmp(t->topic, parts->elems[i].topic) == 0) {
                LOG_INFO("revoked partition=%s/%d", t->topic, (int)t->partition);
                k->tps[j] = k->tps[--k->ntps];
                tp_free(k, t);
                break;
            }
        }
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque);

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    kfk_t *k = opaque;
    int coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        on_assign(k, parts);
        if (coop) {
            rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, parts);
            if (e) {
                set_fatal(k, "incremental_assign: %s", rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
            }
        } else {
            rd_kafka_assign(rk, parts);
        }
    } else {
        on_revoke(k, parts);
        if (coop) {
            rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
            if (e)
                rd_kafka_error_destroy(e);
        } else {
            rd_kafka_assign(rk, NULL);
        }
    }
}

/* ---- transactions -------------------------------------------------------- */

enum { TXN_OK = 0, TXN_ABORTED = 1, TXN_FATAL = -1, TXN_RETRY = 2 };

/* Aborts the open transaction and rewinds: every touched partition seeks
 * back to its batch's first offset and reloads its last committed state. */
static int restart_producer(kfk_t *k, const char *why);
static int rewind_batch(kfk_t *k);

static int abort_and_rewind(kfk_t *k, const char *why)
{
    LOG_WARN("kafka transaction aborted: %s; rewinding %zu events", why, k->nbatch);
    for (;;) {
        rd_kafka_error_t *e = rd_kafka_abort_transaction(k->p, 30000);
        if (!e)
            break;
        int retry = rd_kafka_error_is_retriable(e), fatal = rd_kafka_error_is_fatal(e);
        if (!retry) {
            char msg[512];
            snprintf(msg, sizeof msg, "abort_transaction: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            if (fatal)
                return restart_producer(k, msg);
            set_fatal(k, "%s", msg);
            return TXN_FATAL;
        }
        rd_kafka_error_destroy(e);
        usleep(100000);
    }
    k->st.aborts++;
    return rewind_batch(k);
}

/* Puts the open batch back: every touched slot's state to its last
 * committed snapshot, every touched partition's position to the batch's
 * first offset.  The transaction is already aborted (or gone). */
static int rewind_batch(kfk_t *k)
{
    k->pabort = 0;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
    char errstr[512];
    for (size_t i = 0; i < k->nslots; i++) {
        kslot_t *sl = k->slots[i];
        if (!sl->dirty)
            continue;
        if (k->h.load && k->h.load(k->h.ud, sl->user, sl->has_committed ? sl->committed.data : NULL,
                                   sl->has_committed ? sl->committed.len : 0, errstr, sizeof errstr) != 0) {
            set_fatal(k, "rewind: reloading the state of %s: %s", sl->key, errstr);
            rd_kafka_topic_partition_list_destroy(l);
            return TXN_FATAL;
        }
        wd_buf_reset(&sl->pending);
        sl->dirty = 0;
    }
    for (size_t i = 0; i < k->ntps; i++) {
        ktp_t *t = k->tps[i];
        if (!t->dirty)
            continue;
        rd_kafka_topic_partition_list_add(l, t->topic, t->partition)->offset = t->batch_first;
        q_clear(k, t);   /* held messages come again after the seek */
        t->dirty = 0;
        t->eof = 0;
        t->polled_next = -1;
        t->next = t->batch_first;
    }
    if (l->cnt > 0) {
        rd_kafka_error_t *e = rd_kafka_seek_partitions(k->c, l, 10000);
        if (e) {
            set_fatal(k, "rewind: seek: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            rd_kafka_topic_partition_list_destroy(l);
            return TXN_FATAL;
        }
        for (int i = 0; i < l->cnt; i++)
            if (l->elems[i].err) {
                set_fatal(k, "rewind: seek %s [%d]: %s", l->elems[i].topic, (int)l->elems[i].partition,
                          rd_kafka_err2str(l->elems[i].err));
                rd_kafka_topic_partition_list_destroy(l);
                return TXN_FATAL;
            }
    }
    rd_kafka_topic_partition_list_destroy(l);
    k->open = 0;
    k->nbatch = 0;
    return TXN_ABORTED;
}

/* What to do with an error from a transactional call: retry it
 * (TXN_RETRY), abort and rewind (TXN_ABORTED, done here), or stop
 * (TXN_FATAL).  Consumes e. */
static int txn_error(kfk_t *k, rd_kafka_error_t *e, const char *what)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s: %s", what, rd_kafka_error_string(e));
    int retriable = rd_kafka_error_is_retriable(e), abortable = rd_kafka_error_txn_requires_abort(e);
    int fatal = rd_kafka_error_is_fatal(e);
    rd_kafka_error_destroy(e);
    if (fatal)
        return restart_producer(k, msg);
    if (abortable)
        return abort_and_rewind(k, msg);
    if (retriable) {
        LOG_WARN("kafka %s; retrying", msg);
        usleep(100000);
        return TXN_RETRY;
    }
    /* Neither: treat as abortable to be safe (state is rewound). */
    return abort_and_rewind(k, msg);
}

static int begin_batch(kfk_t *k)
{
    /* A producer found failed here failed while no transaction was open,
     * so not by a transaction timeout: restart_producer stops (age 0). */
    k->batch_start_ns = wd_now_ns();
    rd_kafka_error_t *e = rd_kafka_begin_transaction(k->p);
    if (e && rd_kafka_error_is_fatal(e)) {
        char msg[512];
        snprintf(msg, sizeof msg, "begin_transaction: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        restart_producer(k, msg);
        return -1;
    }
    if (e) {
        set_fatal(k, "begin_transaction: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        return -1;
    }
    k->open = 1;
    k->nbatch = 0;
    k->batch_start_ns = wd_now_ns();
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void record_latency(kfk_t *k)
{
    uint64_t now = wd_now_ns();
    for (size_t i = 0; i < k->nbatch; i++) {
        if (k->nlat >= LAT_MAX_SAMPLES)
            break;
        if (k->nlat == k->caplat) {
            size_t cap = k->caplat ? k->caplat * 2 : 4096;
            uint32_t *n = realloc(k->lat, cap * sizeof(*n));
            if (!n)
                return;
            k->lat = n;
            k->caplat = cap;
        }
        uint64_t us = (now - k->poll_ns[i]) / 1000;
        k->lat[k->nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    }
}

/* Commits the open batch.  Returns TXN_OK, TXN_ABORTED (rewound; the loop
 * goes on) or TXN_FATAL. */
static int commit_batch(kfk_t *k)
{
    char errstr[512];
    if (!k->open)
        return TXN_OK;
    if (k->h.precommit && k->h.precommit(k->h.ud, k) != 0) {
        set_fatal(k, "results could not be made durable before the commit");
        rd_kafka_error_t *e = rd_kafka_abort_transaction(k->p, 10000);
        if (e)
            rd_kafka_error_destroy(e);
        k->open = 0;
        return TXN_FATAL;
    }
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(4);
    for (size_t i = 0; i < k->ntps; i++)
        if (k->tps[i]->dirty)
            rd_kafka_topic_partition_list_add(offs, k->tps[i]->topic, k->tps[i]->partition)->offset =
                k->tps[i]->next;
    for (size_t i = 0; k->h.save && i < k->nslots; i++) {
        kslot_t *sl = k->slots[i];
        if (!sl->dirty)
            continue;
        wd_buf_reset(&sl->pending);
        /* The record limits (producer message.max.bytes, the topic's
         * max.message.bytes) count the key and the batch framing too. */
        size_t room = k->o.snapshot_max - strlen(sl->key) - SNAPSHOT_FRAMING;
        if (k->h.save(k->h.ud, sl->user, room, &sl->pending, errstr, sizeof errstr) != 0) {
            set_fatal(k, "snapshot of %s: %s", sl->key, errstr);
            goto fatal;
        }
        if (sl->pending.len > room) {
            set_fatal(k, "state snapshot of %s is %zu bytes, over the %zu-byte record limit",
                      sl->key, sl->pending.len, room);
            goto fatal;
        }
        if (kfk_produce(k, k->o.changelog, sl->cl_part, sl->key, strlen(sl->key),
                              sl->pending.data ? sl->pending.data : "", sl->pending.len, 0, NULL) != 0) {
            if (k->fatal)
                goto fatal;
            rd_kafka_topic_partition_list_destroy(offs);
            if (k->pfailed)
                return restart_producer(k, k->pfail_msg);
            k->pabort = 0;
            return abort_and_rewind(k, "changelog produce failed");
        }
        k->st.snapshots++;
        k->st.snapshot_bytes += sl->pending.len;
    }

    for (;;) {
        rd_kafka_consumer_group_metadata_t *gm = rd_kafka_consumer_group_metadata(k->c);
        rd_kafka_error_t *e = rd_kafka_send_offsets_to_transaction(k->p, offs, gm, -1);
        rd_kafka_consumer_group_metadata_destroy(gm);
        if (!e)
            break;
        int r = txn_error(k, e, "send_offsets_to_transaction");
        if (r != TXN_RETRY) {
            rd_kafka_topic_partition_list_destroy(offs);
            return r;
        }
    }
    rd_kafka_topic_partition_list_destroy(offs);
    for (;;) {
        rd_kafka_error_t *e = rd_kafka_commit_transaction(k->p, -1);
        if (!e)
            break;
        int r = txn_error(k, e, "commit_transaction");
        if (r != TXN_RETRY)
            return r;
    }
    for (size_t i = 0; i < k->nslots; i++) {
        kslot_t *sl = k->slots[i];
        if (!sl->dirty)
            continue;
        if (k->h.save) {
            wd_buf_t t = sl->committed;
            sl->committed = sl->pending;
            sl->pending = t;
            wd_buf_reset(&sl->pending);
            sl->has_committed = 1;
        }
        sl->dirty = 0;
    }
    for (size_t i = 0; i < k->ntps; i++)
        k->tps[i]->dirty = 0;
    record_latency(k);
    k->prestarts = 0;
    k->st.commits++;
    k->st.last_commit_ns = wd_now_ns();
    LOG_DEBUG("kafka commit events=%zu ms=%.1f", k->nbatch, (double)(wd_now_ns() - k->batch_start_ns) / 1e6);
    k->open = 0;
    k->nbatch = 0;
    return TXN_OK;
fatal:
    rd_kafka_topic_partition_list_destroy(offs);
    {
        rd_kafka_error_t *e = rd_kafka_abort_transaction(k->p, 10000);
        if (e)
            rd_kafka_error_destroy(e);
    }
    k->open = 0;
    return TXN_FATAL;
}

/* init_transactions, retried while the coordinator is not there yet, for
 * at most max_s seconds (0: no limit) and not after a stop signal.
 * Returns 0, or -1 with errstr. */
static int init_txn(kfk_t *k, int max_s, char *errstr, size_t n)
{
    uint64_t t0 = wd_now_ns();
    for (;;) {
        rd_kafka_error_t *e = rd_kafka_init_transactions(k->p, 60000);
        if (!e)
            return 0;
        int waited_out = max_s > 0 && wd_now_ns() - t0 >= (uint64_t)max_s * 1000000000ull;
        if (rd_kafka_error_is_retriable(e) && !sig_stop && !waited_out) {
            LOG_WARN("init_transactions: %s; retrying", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            continue;
        }
        snprintf(errstr, n, "init_transactions (transactional.id %s): %s", k->o.txn_id,
                 rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        return -1;
    }
}

/* A producer that failed fatally is not always the end of the service.  A
 * broker outage longer than transaction.timeout.ms has the coordinator
 * abort the open transaction and bump the producer epoch, and the producer
 * then reads as fenced.  So, as Kafka Streams does: a new producer under
 * the same transactional.id (its init_transactions fences the old epoch
 * and finishes what it left open) and the batch again from the last
 * commit.  But a transaction younger than transaction.timeout.ms cannot
 * have timed out: fenced then, another live process has our
 * transactional.id and we are the zombie — stop (exit 4), as before.  And
 * after PRODUCER_RESTARTS new producers without a commit, stop too.
 * Returns TXN_ABORTED or TXN_FATAL. */
static int restart_producer(kfk_t *k, const char *why)
{
    char msg[512], errstr[512];
    snprintf(msg, sizeof msg, "%s", why);
    k->pfailed = 0;
    uint64_t age_ms = (wd_now_ns() - k->batch_start_ns) / 1000000ull;
    if (age_ms < (uint64_t)k->txn_timeout_ms) {
        set_fatal(k, "producer fenced or failed (is another process using transactional.id %s?) "
                  "in a %llu ms old transaction: %s", k->o.txn_id, (unsigned long long)age_ms, msg);
        return TXN_FATAL;
    }
    if (k->prestarts >= PRODUCER_RESTARTS) {
        set_fatal(k, "producer fenced or failed %d times in a row without a commit (is another process "
                  "using transactional.id %s?): %s", PRODUCER_RESTARTS, k->o.txn_id, msg);
        return TXN_FATAL;
    }
    k->prestarts++;
    k->st.producer_restarts++;
    LOG_WARN("kafka producer failed: %s; starting a new producer (transactional.id %s) and redoing "
             "%zu events from the last commit", msg, k->o.txn_id, k->nbatch);
    /* The new producer first: on failure the old (failed) one stays, so
     * k->p is never NULL for the rest of the loop. */
    rd_kafka_conf_t *pc = rd_kafka_conf_dup(k->pconf);
    rd_kafka_t *np = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, sizeof errstr);
    if (!np) {
        rd_kafka_conf_destroy(pc);
        set_fatal(k, "a new producer after \"%s\": %s", msg, errstr);
        return TXN_FATAL;
    }
    rd_kafka_purge(k->p, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_destroy(k->p);
    k->p = np;
    if (init_txn(k, PRODUCER_INIT_MAX_S, errstr, sizeof errstr) != 0) {
        set_fatal(k, "a new producer after \"%s\": %s", msg, errstr);
        return TXN_FATAL;
    }
    k->open = 0;
    k->st.aborts++;
    return rewind_batch(k);
}

/* ---- producing ----------------------------------------------------------- */

int kfk_produce(kfk_t *k, const char *topic, int32_t partition, const void *key,
                      size_t keylen, const void *val, size_t vallen, int64_t ts_ms,
                      rd_kafka_headers_t *headers)
{
    for (int tries = 0;; tries++) {
        rd_kafka_resp_err_t e;
        if (headers)
            e = rd_kafka_producev(k->p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                                  RD_KAFKA_V_KEY((void *)key, keylen), RD_KAFKA_V_VALUE((void *)val, vallen),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
                                  RD_KAFKA_V_TIMESTAMP(ts_ms), RD_KAFKA_V_END);
        else
            e = rd_kafka_producev(k->p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                                  RD_KAFKA_V_KEY((void *)key, keylen), RD_KAFKA_V_VALUE((void *)val, vallen),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(ts_ms),
                                  RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            k->st.produced++;
            return 0;
        }
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && tries < 6000) {
            rd_kafka_poll(k->p, 10);   /* backpressure: wait for deliveries */
            continue;
        }
        if (headers)
            rd_kafka_headers_destroy(headers);
        if (e == RD_KAFKA_RESP_ERR__FATAL) {
            /* The loop starts a new producer (restart_producer). */
            char msg[400];
            rd_kafka_fatal_error(k->p, msg, sizeof msg);
            snprintf(k->pfail_msg, sizeof k->pfail_msg, "produce to %s: %s", topic, msg);
            k->pfailed = 1;
        } else if (e == RD_KAFKA_RESP_ERR__STATE) {
            /* The transaction is in its abortable-error state: the loop
             * aborts and redoes the batch. */
            k->pabort = 1;
            LOG_WARN("produce topic=%s err=%s", topic, rd_kafka_err2str(e));
        } else {
            LOG_WARN("produce topic=%s err=%s", topic, rd_kafka_err2str(e));
        }
        return -1;
    }
}

int kfk_dead_letter(kfk_t *k, const rd_kafka_message_t *m, const char *reason,
                          const char *rule)
{
    rd_kafka_headers_t *orig = NULL, *h;
    if (rd_kafka_message_headers(m, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR && orig)
        h = rd_kafka_headers_copy(orig);
    else
        h = rd_kafka_headers_new(3);
    char src[512];
    snprintf(src, sizeof src, "%s/%d/%lld", rd_kafka_topic_name(m->rkt), (int)m->partition,
             (long long)m->offset);
    rd_kafka_header_add(h, "warden.reason", -1, reason, -1);
    rd_kafka_header_add(h, "warden.source", -1, src, -1);
    if (rule)
        rd_kafka_header_add(h, "warden.rule", -1, rule, -1);
    int rc = kfk_produce(k, k->o.dlq, RD_KAFKA_PARTITION_UA, m->key, m->key_len,
                               m->payload ? m->payload : "", m->len, 0, h);
    if (rc == 0)
        k->st.dead_letters++;
    return rc;
}

/* ---- setup --------------------------------------------------------------- */

int kfk_partitions(kfk_t *k, const char *topic)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(k->p, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int n = -1;
    if (rkt && rd_kafka_metadata(k->p, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
            n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    return n;
}

/* Creates missing topics (existing ones are left alone).  Failures other
 * than "exists" are logged: the topics may be managed elsewhere. */
static void create_topics(kfk_t *k, const char *const *names, const int *parts,
                          const int *compact, size_t n)
{
    char err[512];
    if (n == 0)
        return;
    rd_kafka_NewTopic_t **nt = calloc(n, sizeof(*nt));
    if (!nt)
        return;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        nt[m] = rd_kafka_NewTopic_new(names[i], parts[i], -1, err, sizeof err);
        if (!nt[m]) {
            LOG_WARN("create topic=%s: %s", names[i], err);
            continue;
        }
        if (compact[i]) {
            rd_kafka_NewTopic_set_config(nt[m], "cleanup.policy", "compact");
            rd_kafka_NewTopic_set_config(nt[m], "max.message.bytes", "16777216");
            rd_kafka_NewTopic_set_config(nt[m], "min.cleanable.dirty.ratio", "0.1");
            /* Small segments so compaction keeps the restore read short. */
            rd_kafka_NewTopic_set_config(nt[m], "segment.ms", "600000");
            rd_kafka_NewTopic_set_config(nt[m], "segment.bytes", "67108864");
        }
        m++;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(k->p);
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(k->p, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(ao, 10000, err, sizeof err);
    rd_kafka_CreateTopics(k->p, nt, m, ao, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 20000);
    if (!ev) {
        LOG_WARN("create topics: no answer in 20 s");
    } else if (rd_kafka_event_error(ev)) {
        LOG_WARN("create topics: %s", rd_kafka_event_error_string(ev));
    } else {
        size_t cnt;
        const rd_kafka_topic_result_t **tr =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
        for (size_t i = 0; i < cnt; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
                LOG_INFO("created topic=%s", rd_kafka_topic_result_name(tr[i]));
            else if (e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                LOG_WARN("create topic=%s: %s", rd_kafka_topic_result_name(tr[i]),
                         rd_kafka_topic_result_error_string(tr[i]));
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_queue_destroy(q);
    for (size_t i = 0; i < m; i++)
        rd_kafka_NewTopic_destroy(nt[i]);
    free(nt);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

kfk_t *kfk_new(const wd_config_t *cfg, const kfk_opts_t *opts,
                           const kfk_handler_t *h, char *errstr, size_t n)
{
    kfk_t *k = calloc(1, sizeof(*k));
    if (!k) {
        snprintf(errstr, n, "out of memory");
        return NULL;
    }
    k->cfg = cfg;
    k->h = *h;
    k->o = *opts;
    k->o.topics = NULL;
    k->o.create = NULL;
    k->o.group = dup_or_null(opts->group);
    k->o.txn_id = dup_or_null(opts->txn_id);
    k->o.changelog = dup_or_null(opts->changelog);
    k->o.dlq = dup_or_null(opts->dlq);
    k->o.client_id = dup_or_null(opts->client_id);
    if (k->o.batch_max < 1)
        k->o.batch_max = 1;
    if (k->o.batch_ms < 1)
        k->o.batch_ms = 1;
    if (k->o.snapshot_max == 0 || k->o.snapshot_max > SNAPSHOT_MAX_BYTES)
        k->o.snapshot_max = SNAPSHOT_MAX_BYTES;
    k->poll_ns = calloc((size_t)k->o.batch_max, sizeof(*k->poll_ns));
    k->tp_names = calloc(opts->ntopics + 1, sizeof(char *));
    k->tp_base = calloc(opts->ntopics + 1, sizeof(int32_t));
    if (!k->poll_ns || !k->tp_names || !k->tp_base) {
        snprintf(errstr, n, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < opts->ntopics; i++)
        k->tp_names[k->ntp++] = strdup(opts->topics[i]);
    qsort(k->tp_names, k->ntp, sizeof(char *), cmp_str);

    /* Producer: transactional; outputs of a batch commit with its offsets. */
    rd_kafka_conf_t *pc = base_conf(k, "producer", errstr, n);
    if (!pc)
        goto fail;
    if (conf_force(cfg, pc, "transactional.id", k->o.txn_id, errstr, n) != 0 ||
        conf_force(cfg, pc, "enable.idempotence", "true", errstr, n) != 0 ||
        conf_default(cfg, pc, "transaction.timeout.ms", "30000", errstr, n) != 0 ||
        conf_default(cfg, pc, "linger.ms", "5", errstr, n) != 0 ||
        conf_default(cfg, pc, "message.max.bytes", "16777216", errstr, n) != 0 ||
        conf_default(cfg, pc, "queue.buffering.max.messages", "500000", errstr, n) != 0) {
        rd_kafka_conf_destroy(pc);
        goto fail;
    }
    k->pconf = rd_kafka_conf_dup(pc);
    {
        char v[32];
        size_t vn = sizeof v;
        k->txn_timeout_ms = rd_kafka_conf_get(pc, "transaction.timeout.ms", v, &vn) == RD_KAFKA_CONF_OK
                                ? atol(v) : 60000;
    }
    k->p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, n);
    if (!k->p) {
        rd_kafka_conf_destroy(pc);
        goto fail;
    }

    /* Co-partitioned inputs (one topic, or all with the same partition
     * count) share one state slot per partition number; else each
     * topic-partition has its own.  Changelog: one partition per slot. */
    int32_t total = 0, common = -2;
    for (size_t i = 0; i < k->ntp; i++) {
        int np = kfk_partitions(k, k->tp_names[i]);
        k->tp_base[i] = total;
        total += np > 0 ? np : 1;
        if (common == -2)
            common = np;
        else if (common != np)
            common = -1;
    }
    k->copart = k->ntp == 1 || common > 0;
    if (!k->copart)
        LOG_WARN("input topics differ in partition count (or do not exist yet): state is kept per "
                 "topic-partition, so counters and labels shared across topics are not combined");
    k->align = k->copart && k->ntp > 1 && k->o.align_ms > 0;
    if (k->copart)
        total = common > 0 ? common : 1;
    {
        const char *names[64];
        int parts[64], compact[64];
        size_t nn = 0;
        for (size_t i = 0; opts->create && i < opts->ncreate && nn < 63; i++) {
            names[nn] = opts->create[i];
            parts[nn] = opts->create_partitions > 0 ? opts->create_partitions : -1;
            compact[nn++] = 0;
        }
        if (k->h.save && k->o.changelog && nn < 64) {
            names[nn] = k->o.changelog;
            parts[nn] = total > 0 ? total : 1;
            compact[nn++] = 1;
        }
        if (opts->create_missing)
            create_topics(k, names, parts, compact, nn);
    }
    if (k->h.save && k->o.changelog) {
        int cl = kfk_partitions(k, k->o.changelog);
        if (cl <= 0) {
            snprintf(errstr, n, "changelog topic %s does not exist and could not be created", k->o.changelog);
            goto fail;
        }
        k->cl_parts = cl;
        if (cl < total)
            LOG_WARN("changelog topic=%s has %d partitions for %d input partitions: some share one",
                     k->o.changelog, cl, (int)total);
    }

    if (init_txn(k, 0, errstr, n) != 0)
        goto fail;

    /* Restorer: reads the changelog, committed snapshots only. */
    if (k->h.save) {
        rd_kafka_conf_t *rc = base_conf(k, "restore", errstr, n);
        if (!rc)
            goto fail;
        char gid[512];
        snprintf(gid, sizeof gid, "%s.restore", k->o.group);
        if (conf_force(cfg, rc, "group.id", gid, errstr, n) != 0 ||
            conf_force(cfg, rc, "enable.auto.commit", "false", errstr, n) != 0 ||
            conf_force(cfg, rc, "isolation.level", "read_committed", errstr, n) != 0 ||
            conf_force(cfg, rc, "enable.partition.eof", "true", errstr, n) != 0 ||
            conf_force(cfg, rc, "auto.offset.reset", "earliest", errstr, n) != 0) {
            rd_kafka_conf_destroy(rc);
            goto fail;
        }
        k->restorer = rd_kafka_new(RD_KAFKA_CONSUMER, rc, errstr, n);
        if (!k->restorer) {
            rd_kafka_conf_destroy(rc);
            goto fail;
        }
    }

    /* Consumer: the group; offsets only through the transaction. */
    rd_kafka_conf_t *cc = base_conf(k, "consumer", errstr, n);
    if (!cc)
        goto fail;
    if (conf_force(cfg, cc, "group.id", k->o.group, errstr, n) != 0 ||
        conf_force(cfg, cc, "enable.auto.commit", "false", errstr, n) != 0 ||
        conf_force(cfg, cc, "isolation.level", "read_committed", errstr, n) != 0 ||
        conf_default(cfg, cc, "auto.offset.reset", "earliest", errstr, n) != 0 ||
        conf_force(cfg, cc, "enable.partition.eof", "true", errstr, n) != 0 ||
        (k->copart && k->ntp > 1 &&
         conf_force(cfg, cc, "partition.assignment.strategy", "range", errstr, n) != 0)) {
        rd_kafka_conf_destroy(cc);
        goto fail;
    }
    rd_kafka_conf_set_rebalance_cb(cc, rebalance_cb);
    rd_kafka_conf_set_opaque(cc, k);
    k->c = rd_kafka_new(RD_KAFKA_CONSUMER, cc, errstr, n);
    if (!k->c) {
        rd_kafka_conf_destroy(cc);
        goto fail;
    }
    rd_kafka_poll_set_consumer(k->c);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new((int)opts->ntopics);
    for (size_t i = 0; i < opts->ntopics; i++)
        rd_kafka_topic_partition_list_add(sub, opts->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t se = rd_kafka_subscribe(k->c, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (se) {
        snprintf(errstr, n, "subscribe: %s", rd_kafka_err2str(se));
        goto fail;
    }
    return k;
fail:
    kfk_destroy(k);
    return NULL;
}

void kfk_destroy(kfk_t *k)
{
    if (!k)
        return;
    if (k->c) {
        rd_kafka_consumer_close(k->c);
        rd_kafka_destroy(k->c);
    }
    while (k->ntps)
        tp_free(k, k->tps[--k->ntps]);
    free(k->tps);
    free(k->slots);
    if (k->restorer) {
        rd_kafka_consumer_close(k->restorer);
        rd_kafka_destroy(k->restorer);
    }
    if (k->pconf)
        rd_kafka_conf_destroy(k->pconf);
    if (k->p) {
        rd_kafka_flush(k->p, 10000);
        rd_kafka_destroy(k->p);
    }
    free((char *)k->o.group);
    free((char *)k->o.txn_id);
    free((char *)k->o.changelog);
    free((char *)k->o.dlq);
    free((char *)k->o.client_id);
    for (size_t i = 0; i < k->ntp; i++)
        free(k->tp_names[i]);
    free(k->tp_names);
    free(k->tp_base);
    free(k->poll_ns);
    free(k->lat);
    free(k);
}

/* ---- the loop ------------------------------------------------------------ */

/* Hands one message to the handler inside the open batch (opening it) and
 * commits when the batch is full.  Takes ownership of m.  Returns 0 or -1
 * (fatal). */
static int process(kfk_t *k, ktp_t *t, rd_kafka_message_t *m, uint64_t polled_ns)
{
    if (!k->open && begin_batch(k) != 0) {
        rd_kafka_message_destroy(m);
        return -1;
    }
    if (!t->dirty) {
        t->dirty = 1;
        t->batch_first = m->offset;
    }
    t->slot->dirty = 1;
    k->poll_ns[k->nbatch++] = polled_ns;
    if (!k->st.first_ns)
        k->st.first_ns = polled_ns;
    int rc = k->h.message(k->h.ud, k, m, t->slot->user);
    t->next = m->offset + 1;
    k->st.consumed++;
    if (rc != 0 && k->pfailed && !k->fatal) {
        /* The producer died under the handler: a new one, and the batch
         * (this message included) again from the last commit. */
        rd_kafka_message_destroy(m);
        return restart_producer(k, k->pfail_msg) == TXN_FATAL ? -1 : 0;
    }
    if (rc != 0 && k->pabort && !k->fatal) {
        k->pabort = 0;
        rd_kafka_message_destroy(m);
        return abort_and_rewind(k, "a produce found the transaction failed") == TXN_FATAL ? -1 : 0;
    }
    if (rc != 0)
        set_fatal(k, "the handler failed on %s [%d] offset %lld", t->topic, (int)t->partition,
                  (long long)m->offset);
    rd_kafka_message_destroy(m);
    if (rc != 0)
        return -1;
    if (k->o.max_events && k->st.consumed >= k->o.max_events)
        k->stopping = 1;   /* --max-events: finish like SIGTERM */
    if ((long)k->nbatch >= k->o.batch_max && commit_batch(k) == TXN_FATAL)
        return -1;
    return 0;
}

/* The raw origin of a split record (warden.origin "P/OFFSET"), or 0. */
static int origin_of(rd_kafka_message_t *m, long *part, long long *off)
{
    rd_kafka_headers_t *h;
    const void *v;
    size_t len;
    char buf[64];
    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(h, KFK_ORIGIN_HEADER, &v, &len) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        !v || len == 0 || len >= sizeof buf)
        return 0;
    memcpy(buf, v, len);
    buf[len] = '\0';
    return sscanf(buf, "%ld/%lld", part, off) == 2;
}

/* Orders two held messages of one slot: timestamp, then raw origin (same
 * raw partition), then topic name.  < 0 when a goes first. */
static int aligned_cmp(rd_kafka_message_t *a, const char *ta, rd_kafka_message_t *b, const char *tb)
{
    int64_t x = rd_kafka_message_timestamp(a, NULL), y = rd_kafka_message_timestamp(b, NULL);
    if (x != y)
        return x < y ? -1 : 1;
    long pa, pb;
    long long oa, ob;
    if (origin_of(a, &pa, &oa) && origin_of(b, &pb, &ob) && pa == pb && oa != ob)
        return oa < ob ? -1 : 1;
    return strcmp(ta, tb);
}

/* A partition with nothing held has nothing that could go before the
 * candidate only when it is caught up: at EOF, or polled up to its (cached)
 * high watermark.  Before its first fetch it is not. */
static int caught_up(kfk_t *k, const ktp_t *t)
{
    if (t->eof)
        return 1;
    int64_t lo = -1, hi = -1;
    if (t->polled_next < 0 ||
        rd_kafka_get_watermark_offsets(k->c, t->topic, t->partition, &lo, &hi) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        hi < 0)
        return 0;
    return t->polled_next >= hi;
}

/* Event-time alignment of co-partitioned inputs: of the messages held for
 * a slot, the first by aligned_cmp goes out once every other topic of the slot has a message held,
 * is caught up, or align_ms passed.  Returns 0 or -1 (fatal). */
static int release_aligned(kfk_t *k, int force)
{
    uint64_t wait_ns = (uint64_t)k->o.align_ms * 1000000ull;
    for (;;) {
        int progressed = 0;
        for (size_t si = 0; si < k->nslots && !k->fatal; si++) {
            kslot_t *sl = k->slots[si];
            ktp_t *best = NULL;
            for (size_t i = 0; i < k->ntps; i++) {
                ktp_t *t = k->tps[i];
                if (t->slot != sl || t->qlen == 0)
                    continue;
                if (!best || aligned_cmp(t->q[t->qhead], t->topic, best->q[best->qhead], best->topic) < 0)
                    best = t;
            }
            if (!best)
                continue;
            int ready = 1;
            const ktp_t *behind = NULL;
            for (size_t i = 0; i < k->ntps && !behind; i++) {
                ktp_t *t = k->tps[i];
                if (t->slot == sl && t != best && t->qlen == 0 && !caught_up(k, t))
                    behind = t;
            }
            if (behind && !force) {
                int timed_out = wd_now_ns() - best->q_ns[best->qhead] >= wait_ns;
                ready = timed_out || k->held > ALIGN_MAX_HELD;
                if (ready && (k->st.misaligned++ % 1000) == 0)
                    LOG_WARN("alignment: %s/%d waited for %s/%d over %ld ms (or %zu held); going on in "
                             "arrival order (count=%" PRIu64 ")", best->topic, (int)best->partition,
                             behind->topic, (int)behind->partition, k->o.align_ms, k->held, k->st.misaligned);
            }
            if (!ready)
                continue;
            rd_kafka_message_t *m = best->q[best->qhead];
            uint64_t ns = best->q_ns[best->qhead];
            best->qhead = (best->qhead + 1) % best->qcap;
            best->qlen--;
            k->held--;
            if (process(k, best, m, ns) != 0)
                return -1;
            progressed = 1;
            break;   /* slots and partitions may have changed (commit, rewind) */
        }
        if (!progressed || k->fatal)
            return k->fatal ? -1 : 0;
    }
}

int kfk_run(kfk_t *k, char *errstr, size_t n)
{
    uint64_t batch_ns = (uint64_t)k->o.batch_ms * 1000000ull;
    uint64_t polls = 0;
    while (!k->fatal) {
        if (!k->open) {
            if (sig_stop || k->stopping)
                break;
            if (k->h.between) {
                int flags = 0;
                if (sig_hup) {
                    sig_hup = 0;
                    flags |= KFK_IDLE_HUP;
                }
                k->h.between(k->h.ud, k, flags);
            }
        }
        int timeout = 100;
        if (k->open) {
            uint64_t el = wd_now_ns() - k->batch_start_ns;
            timeout = el >= batch_ns ? 0 : (int)((batch_ns - el) / 1000000ull);
            if (timeout > 100)
                timeout = 100;
        }
        if (k->align && k->held > 0 && timeout > 10)
            timeout = 10;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k->c, timeout);
        if (k->fatal) {   /* e.g. from a rebalance callback inside the poll */
            if (m)
                rd_kafka_message_destroy(m);
            break;
        }
        uint64_t now = wd_now_ns();
        if (m && m->err) {
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                ktp_t *t = m->rkt ? tp_find(k, rd_kafka_topic_name(m->rkt), m->partition) : NULL;
                if (t)
                    t->eof = 1;
            } else if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
                char msg[512];
                rd_kafka_fatal_error(k->c, msg, sizeof msg);
                set_fatal(k, "consumer: %s", msg);
            } else {
                LOG_WARN("consume err=%s topic=%s msg=\"%s\"", rd_kafka_err2name(m->err),
                         m->rkt ? rd_kafka_topic_name(m->rkt) : "-", rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
            m = NULL;
        }
        if (m) {
            ktp_t *t = tp_find(k, rd_kafka_topic_name(m->rkt), m->partition);
            if (!t) {
                /* Not assigned (any more): a stale message; skip it. */
                rd_kafka_message_destroy(m);
            } else if (k->align) {
                t->eof = 0;
                t->polled_next = m->offset + 1;
                if (q_push(t, m, now) != 0) {
                    rd_kafka_message_destroy(m);
                    set_fatal(k, "out of memory holding messages for alignment");
                    break;
                }
                k->held++;
            } else if (process(k, t, m, now) != 0) {
                break;
            }
            if ((++polls & 1023) == 0)
                rd_kafka_poll(k->p, 0);
        }
        if (k->align && k->held > 0 && release_aligned(k, 0) != 0)
            break;
        if (k->open && (wd_now_ns() - k->batch_start_ns >= batch_ns || sig_stop || k->stopping)) {
            if (commit_batch(k) == TXN_FATAL)
                break;
        }
    }
    if (!k->fatal && k->open)
        commit_batch(k);
    if (k->fatal) {
        snprintf(errstr, n, "%s", k->fatal_msg);
        return -1;
    }
    /* Leave the group now (revoke callback, no open batch); messages still
     * held were not processed and come again to the next owner. */
    for (size_t i = 0; i < k->ntps; i++)
        q_clear(k, k->tps[i]);
    rd_kafka_consumer_close(k->c);
    rd_kafka_destroy(k->c);
    k->c = NULL;
    if (k->fatal) {
        snprintf(errstr, n, "%s", k->fatal_msg);
        return -1;
    }
    return 0;
}

void kfk_stop(kfk_t *k) { k->stopping = 1; }

void kfk_stats(const kfk_t *k, kfk_stats_t *out)
{
    *out = k->st;
    if (k->nlat) {
        uint32_t *s = malloc(k->nlat * sizeof(*s));
        if (s) {
            memcpy(s, k->lat, k->nlat * sizeof(*s));
            qsort(s, k->nlat, sizeof(*s), cmp_u32);
            out->lat_p50_us = s[k->nlat / 2];
            out->lat_p99_us = s[(size_t)((double)(k->nlat - 1) * 0.99)];
            out->lat_max_us = s[k->nlat - 1];
            free(s);
        }
    }
}

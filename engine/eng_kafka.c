/* engine/eng_kafka.c — the exactly-once consume-transform-produce loop.
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
#include "engine/eng_kafka.h"

#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/eng_config.h"
#include "engine/eng_log.h"
#include "engine/eng_util.h"

#define SNAPSHOT_MAX_BYTES (16 << 20)
#define LAT_MAX_SAMPLES    (4u << 20)

/* Signals are process-wide by nature: the only file-level state. */
static volatile sig_atomic_t sig_stop;
static volatile sig_atomic_t sig_hup;

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        sig_hup = 1;
    else
        sig_stop = 1;
}

void eng_kafka_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

void eng_kafka_request_stop(void) { sig_stop = 1; }

typedef struct kpart {
    char      *topic;
    int32_t    partition;
    int32_t    cl_part;        /* changelog partition */
    void      *user;
    int        dirty;          /* consumed in the open batch */
    int64_t    batch_first;    /* offset of its first message in the batch */
    int64_t    next;           /* offset after its last message handed out */
    eng_buf_t  committed;      /* snapshot as of the last commit */
    int        has_committed;
    eng_buf_t  pending;        /* snapshot written in the open transaction */
} kpart_t;

struct eng_kafka {
    const eng_config_t  *cfg;
    eng_kafka_opts_t     o;
    eng_kafka_handler_t  h;
    rd_kafka_t          *c;
    rd_kafka_t          *p;
    rd_kafka_t          *restorer;
    kpart_t            **parts;
    size_t               nparts;
    int                  open;           /* a transaction is open */
    size_t               nbatch;
    uint64_t             batch_start_ns;
    uint64_t            *poll_ns;        /* per message of the batch */
    uint32_t            *lat;            /* µs samples */
    size_t               nlat, caplat;
    int                  fatal;
    char                 fatal_msg[512];
    int32_t              cl_parts;       /* changelog partition count */
    char               **tp_names;       /* input topics, sorted, with */
    int32_t             *tp_base;        /* their first changelog partition */
    size_t               ntp;
    eng_kafka_stats_t    st;
    eng_buf_t            scratch;
};

static void set_fatal(eng_kafka_t *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_fatal(eng_kafka_t *k, const char *fmt, ...)
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
    int l = level <= 3 ? ENG_LOG_ERROR : level == 4 ? ENG_LOG_WARN : level <= 6 ? ENG_LOG_INFO : ENG_LOG_DEBUG;
    /* librdkafka's INFO/NOTICE lines are chatty: keep them at debug. */
    if (l == ENG_LOG_INFO)
        l = ENG_LOG_DEBUG;
    ENG_LOG_(l, "rdkafka client=%s fac=%s msg=\"%s\"", rd_kafka_name(rk), fac, buf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char msg[512];
        rd_kafka_fatal_error(rk, msg, sizeof msg);
        LOG_ERROR("kafka client=%s fatal error: %s", rd_kafka_name(rk), msg);
    } else if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__TRANSPORT) {
        LOG_WARN("kafka client=%s err=%s reason=\"%s\"", rd_kafka_name(rk), rd_kafka_err2name(err), reason);
    } else {
        LOG_DEBUG("kafka client=%s err=%s reason=\"%s\"", rd_kafka_name(rk), rd_kafka_err2name(err), reason);
    }
}

/* Sets key=val unless the config file's kafka section set key. */
static int conf_default(const eng_config_t *cfg, rd_kafka_conf_t *conf, const char *key,
                        const char *val, char *errstr, size_t n)
{
    if (cfg && eng_config_kafka_get(cfg, key))
        return 0;
    if (rd_kafka_conf_set(conf, key, val, errstr, n) != RD_KAFKA_CONF_OK)
        return -1;
    return 0;
}

/* Sets key=val whatever the file says (warden's correctness depends on it). */
static int conf_force(const eng_config_t *cfg, rd_kafka_conf_t *conf, const char *key,
                      const char *val, char *errstr, size_t n)
{
    const char *mine = cfg ? eng_config_kafka_get(cfg, key) : NULL;
    if (mine && strcmp(mine, val) != 0)
        LOG_WARN("kafka property %s=%s from the config is overridden with %s (exactly-once needs it)",
                 key, mine, val);
    if (rd_kafka_conf_set(conf, key, val, errstr, n) != RD_KAFKA_CONF_OK)
        return -1;
    return 0;
}

static rd_kafka_conf_t *base_conf(const eng_kafka_t *k, const char *role, char *errstr, size_t n)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (k->cfg && eng_config_kafka_apply(k->cfg, conf, errstr, n) != 0)
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

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque);

/* ---- partitions --------------------------------------------------------- */

static kpart_t *part_find(eng_kafka_t *k, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < k->nparts; i++) {
        kpart_t *p = k->parts[i];
        if (p->partition == partition && strcmp(p->topic, topic) == 0)
            return p;
    }
    return NULL;
}

/* The changelog partition of an input partition: input partitions of the
 * sorted input topics numbered consecutively, so with as many changelog
 * partitions as input partitions each has its own (one writer each). */
static int32_t cl_partition(const eng_kafka_t *k, const char *topic, int32_t partition)
{
    int32_t base = 0;
    for (size_t i = 0; i < k->ntp; i++)
        if (strcmp(k->tp_names[i], topic) == 0)
            base = k->tp_base[i];
    return k->cl_parts > 0 ? (base + partition) % k->cl_parts : 0;
}

static void part_free(eng_kafka_t *k, kpart_t *p)
{
    if (!p)
        return;
    if (k->h.revoke)
        k->h.revoke(k->h.ud, p->user);
    eng_buf_free(&p->committed);
    eng_buf_free(&p->pending);
    free(p->topic);
    free(p);
}

static void snapshot_key(eng_buf_t *b, const char *topic, int32_t partition)
{
    eng_buf_reset(b);
    eng_buf_printf(b, "%s/%d", topic, (int)partition);
}

/* Reads the changelog partitions of the newly assigned partitions (read
 * committed, from the start to the end) and keeps the newest snapshot of
 * each.  Returns 0 or -1 (fatal). */
static int restore(eng_kafka_t *k, kpart_t **np, size_t n)
{
    char errstr[512];
    if (!k->h.load || n == 0)
        return 0;
    uint64_t t0 = eng_now_ns();
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        if (!rd_kafka_topic_partition_list_find(l, k->o.changelog, np[i]->cl_part))
            rd_kafka_topic_partition_list_add(l, k->o.changelog, np[i]->cl_part)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
    /* Skip empty changelog partitions (no snapshot yet). */
    int want = 0;
    for (int i = 0; i < l->cnt; i++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(k->restorer, k->o.changelog,
                                                                 l->elems[i].partition, &lo, &hi, 10000);
        if (e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION || e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
            (e == RD_KAFKA_RESP_ERR_NO_ERROR && hi <= lo)) {
            l->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
            continue;
        }
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            set_fatal(k, "restore: watermarks of %s [%d]: %s", k->o.changelog, (int)l->elems[i].partition,
                      rd_kafka_err2str(e));
            rd_kafka_topic_partition_list_destroy(l);
            return -1;
        }
        want++;
    }
    rd_kafka_topic_partition_list_t *a = rd_kafka_topic_partition_list_new(want ? want : 1);
    for (int i = 0; i < l->cnt; i++)
        if (l->elems[i].offset != RD_KAFKA_OFFSET_INVALID)
            rd_kafka_topic_partition_list_add(a, k->o.changelog, l->elems[i].partition)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_topic_partition_list_destroy(l);
    int rc = 0;
    if (want > 0) {
        rd_kafka_assign(k->restorer, a);
        int eofs = 0;
        eng_buf_t key = ENG_BUF_INIT;
        uint64_t deadline = eng_now_ns() + 120ull * 1000000000ull;
        while (eofs < want) {
            if (eng_now_ns() > deadline) {
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
                    if (np[i]->cl_part != m->partition)
                        continue;
                    snapshot_key(&key, np[i]->topic, np[i]->partition);
                    if (m->key_len != key.len || memcmp(m->key, key.data, key.len) != 0)
                        continue;
                    eng_buf_reset(&np[i]->committed);
                    np[i]->has_committed = m->payload != NULL;
                    if (m->payload)
                        eng_buf_add(&np[i]->committed, m->payload, m->len);
                }
            }
            rd_kafka_message_destroy(m);
        }
        eng_buf_free(&key);
        rd_kafka_assign(k->restorer, NULL);
    }
    rd_kafka_topic_partition_list_destroy(a);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        kpart_t *p = np[i];
        if (k->h.load(k->h.ud, p->user, p->has_committed ? p->committed.data : NULL,
                      p->has_committed ? p->committed.len : 0, errstr, sizeof errstr) != 0) {
            set_fatal(k, "restore: state of %s [%d] from %s: %s", p->topic, (int)p->partition,
                      k->o.changelog, errstr);
            return -1;
        }
        if (p->has_committed) {
            k->st.restored++;
            LOG_INFO("restored partition=%s/%d bytes=%zu from=%s/%d", p->topic, (int)p->partition,
                     p->committed.len, k->o.changelog, (int)p->cl_part);
        }
    }
    LOG_DEBUG("restore: %zu partitions in %.1f ms", n, (double)(eng_now_ns() - t0) / 1e6);
    return 0;
}

static int on_assign(eng_kafka_t *k, const rd_kafka_topic_partition_list_t *parts)
{
    kpart_t **np = calloc((size_t)parts->cnt + 1, sizeof(*np));
    kpart_t **grown = realloc(k->parts, (k->nparts + (size_t)parts->cnt + 1) * sizeof(*grown));
    if (!np || !grown) {
        free(np);
        set_fatal(k, "out of memory");
        return -1;
    }
    k->parts = grown;
    size_t n = 0;
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &parts->elems[i];
        if (part_find(k, tp->topic, tp->partition))
            continue;
        kpart_t *p = calloc(1, sizeof(*p));
        if (!p || !(p->topic = strdup(tp->topic))) {
            free(p);
            set_fatal(k, "out of memory");
            break;
        }
        p->partition = tp->partition;
        p->cl_part = cl_partition(k, tp->topic, tp->partition);
        if (k->h.assign && k->h.assign(k->h.ud, p->topic, p->partition, &p->user) != 0) {
            free(p->topic);
            free(p);
            set_fatal(k, "assign %s [%d] failed", tp->topic, (int)tp->partition);
            break;
        }
        k->parts[k->nparts++] = p;
        np[n++] = p;
        LOG_INFO("assigned partition=%s/%d", p->topic, (int)p->partition);
    }
    int rc = k->fatal ? -1 : restore(k, np, n);
    free(np);
    return rc;
}

static int commit_batch(eng_kafka_t *k);

static void on_revoke(eng_kafka_t *k, const rd_kafka_topic_partition_list_t *parts)
{
    /* Finish the in-flight batch while the partitions are still ours. */
    if (k->open && !k->fatal)
        commit_batch(k);
    for (int i = 0; i < parts->cnt; i++) {
        for (size_t j = 0; j < k->nparts; j++) {
            kpart_t *p = k->parts[j];
            if (p->partition == parts->elems[i].partition && strcmp(p->topic, parts->elems[i].topic) == 0) {
                LOG_INFO("revoked partition=%s/%d", p->topic, (int)p->partition);
                part_free(k, p);
                k->parts[j] = k->parts[--k->nparts];
                break;
            }
        }
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    eng_kafka_t *k = opaque;
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

enum { TXN_OK = 0, TXN_ABORTED = 1, TXN_FATAL = -1 };

/* Aborts the open transaction and rewinds: every touched partition seeks
 * back to its batch's first offset and reloads its last committed state. */
static int abort_and_rewind(eng_kafka_t *k, const char *why)
{
    LOG_WARN("kafka transaction aborted: %s; rewinding %zu events", why, k->nbatch);
    for (;;) {
        rd_kafka_error_t *e = rd_kafka_abort_transaction(k->p, 30000);
        if (!e)
            break;
        int retry = rd_kafka_error_is_retriable(e);
        if (!retry) {
            set_fatal(k, "abort_transaction: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            return TXN_FATAL;
        }
        rd_kafka_error_destroy(e);
        usleep(100000);
    }
    k->st.aborts++;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
    char errstr[512];
    for (size_t i = 0; i < k->nparts; i++) {
        kpart_t *p = k->parts[i];
        if (!p->dirty)
            continue;
        rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = p->batch_first;
        if (k->h.load && k->h.load(k->h.ud, p->user, p->has_committed ? p->committed.data : NULL,
                                   p->has_committed ? p->committed.len : 0, errstr, sizeof errstr) != 0) {
            set_fatal(k, "rewind: reloading the state of %s [%d]: %s", p->topic, (int)p->partition, errstr);
            rd_kafka_topic_partition_list_destroy(l);
            return TXN_FATAL;
        }
        eng_buf_reset(&p->pending);
        p->dirty = 0;
        p->next = p->batch_first;
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

/* What to do with an error from a transactional call: retry (1), abort and
 * rewind (TXN_ABORTED), or stop (TXN_FATAL). Consumes e. */
static int txn_error(eng_kafka_t *k, rd_kafka_error_t *e, const char *what)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s: %s", what, rd_kafka_error_string(e));
    int retriable = rd_kafka_error_is_retriable(e), abortable = rd_kafka_error_txn_requires_abort(e);
    int fatal = rd_kafka_error_is_fatal(e);
    rd_kafka_error_destroy(e);
    if (fatal) {
        set_fatal(k, "%s (the producer was fenced or failed; is another process using transactional.id %s?)",
                  msg, k->o.txn_id);
        return TXN_FATAL;
    }
    if (abortable)
        return abort_and_rewind(k, msg);
    if (retriable) {
        LOG_WARN("kafka %s; retrying", msg);
        usleep(100000);
        return 1;
    }
    /* Neither: treat as abortable to be safe (state is rewound). */
    return abort_and_rewind(k, msg);
}

static int begin_batch(eng_kafka_t *k)
{
    rd_kafka_error_t *e = rd_kafka_begin_transaction(k->p);
    if (e) {
        set_fatal(k, "begin_transaction: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        return -1;
    }
    k->open = 1;
    k->nbatch = 0;
    k->batch_start_ns = eng_now_ns();
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void record_latency(eng_kafka_t *k)
{
    uint64_t now = eng_now_ns();
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
static int commit_batch(eng_kafka_t *k)
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
    eng_buf_t key = ENG_BUF_INIT;
    for (size_t i = 0; i < k->nparts; i++) {
        kpart_t *p = k->parts[i];
        if (!p->dirty)
            continue;
        rd_kafka_topic_partition_list_add(offs, p->topic, p->partition)->offset = p->next;
        if (!k->h.save)
            continue;
        eng_buf_reset(&p->pending);
        if (k->h.save(k->h.ud, p->user, &p->pending, errstr, sizeof errstr) != 0) {
            set_fatal(k, "snapshot of %s [%d]: %s", p->topic, (int)p->partition, errstr);
            goto fatal;
        }
        if (p->pending.len > SNAPSHOT_MAX_BYTES) {
            set_fatal(k, "state snapshot of %s [%d] is %zu bytes, over the %d-byte record limit "
                      "(more partitions spread it)", p->topic, (int)p->partition, p->pending.len,
                      SNAPSHOT_MAX_BYTES);
            goto fatal;
        }
        snapshot_key(&key, p->topic, p->partition);
        if (eng_kafka_produce(k, k->o.changelog, p->cl_part, key.data, key.len,
                              p->pending.data ? p->pending.data : "", p->pending.len, NULL) != 0) {
            if (k->fatal)
                goto fatal;
            int r = abort_and_rewind(k, "changelog produce failed");
            eng_buf_free(&key);
            rd_kafka_topic_partition_list_destroy(offs);
            return r;
        }
        k->st.snapshots++;
        k->st.snapshot_bytes += p->pending.len;
    }
    eng_buf_free(&key);

    for (;;) {
        rd_kafka_consumer_group_metadata_t *gm = rd_kafka_consumer_group_metadata(k->c);
        rd_kafka_error_t *e = rd_kafka_send_offsets_to_transaction(k->p, offs, gm, -1);
        rd_kafka_consumer_group_metadata_destroy(gm);
        if (!e)
            break;
        int r = txn_error(k, e, "send_offsets_to_transaction");
        if (r != 1) {
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
        if (r != 1)
            return r;
    }
    for (size_t i = 0; i < k->nparts; i++) {
        kpart_t *p = k->parts[i];
        if (!p->dirty)
            continue;
        if (k->h.save) {
            eng_buf_t t = p->committed;
            p->committed = p->pending;
            p->pending = t;
            eng_buf_reset(&p->pending);
            p->has_committed = 1;
        }
        p->dirty = 0;
    }
    record_latency(k);
    k->st.commits++;
    LOG_DEBUG("kafka commit events=%zu ms=%.1f", k->nbatch, (double)(eng_now_ns() - k->batch_start_ns) / 1e6);
    k->open = 0;
    k->nbatch = 0;
    return TXN_OK;
fatal:
    eng_buf_free(&key);
    rd_kafka_topic_partition_list_destroy(offs);
    {
        rd_kafka_error_t *e = rd_kafka_abort_transaction(k->p, 10000);
        if (e)
            rd_kafka_error_destroy(e);
    }
    k->open = 0;
    return TXN_FATAL;
}

/* ---- producing ----------------------------------------------------------- */

int eng_kafka_produce(eng_kafka_t *k, const char *topic, int32_t partition, const void *key,
                      size_t keylen, const void *val, size_t vallen, rd_kafka_headers_t *headers)
{
    for (int tries = 0;; tries++) {
        rd_kafka_resp_err_t e;
        if (headers)
            e = rd_kafka_producev(k->p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                                  RD_KAFKA_V_KEY((void *)key, keylen), RD_KAFKA_V_VALUE((void *)val, vallen),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
                                  RD_KAFKA_V_END);
        else
            e = rd_kafka_producev(k->p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                                  RD_KAFKA_V_KEY((void *)key, keylen), RD_KAFKA_V_VALUE((void *)val, vallen),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
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
            char msg[512];
            rd_kafka_fatal_error(k->p, msg, sizeof msg);
            set_fatal(k, "produce to %s: %s", topic, msg);
        } else {
            LOG_WARN("produce topic=%s err=%s", topic, rd_kafka_err2str(e));
        }
        return -1;
    }
}

int eng_kafka_dead_letter(eng_kafka_t *k, const rd_kafka_message_t *m, const char *reason,
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
    int rc = eng_kafka_produce(k, k->o.dlq, RD_KAFKA_PARTITION_UA, m->key, m->key_len,
                               m->payload ? m->payload : "", m->len, h);
    if (rc == 0)
        k->st.dead_letters++;
    return rc;
}

/* ---- setup --------------------------------------------------------------- */

int eng_kafka_partitions(eng_kafka_t *k, const char *topic)
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
static void create_topics(eng_kafka_t *k, const char *const *names, const int *parts,
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
            rd_kafka_NewTopic_set_config(nt[m], "segment.ms", "600000");
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

eng_kafka_t *eng_kafka_new(const eng_config_t *cfg, const eng_kafka_opts_t *opts,
                           const eng_kafka_handler_t *h, char *errstr, size_t n)
{
    eng_kafka_t *k = calloc(1, sizeof(*k));
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
    k->p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, n);
    if (!k->p) {
        rd_kafka_conf_destroy(pc);
        goto fail;
    }

    /* Changelog partitions: one per input partition when we create it. */
    int32_t total = 0;
    for (size_t i = 0; i < k->ntp; i++) {
        int np = eng_kafka_partitions(k, k->tp_names[i]);
        k->tp_base[i] = total;
        total += np > 0 ? np : 1;
    }
    {
        const char *names[64];
        int parts[64], compact[64];
        size_t nn = 0;
        for (size_t i = 0; opts->create && i < opts->ncreate && nn < 63; i++) {
            names[nn] = opts->create[i];
            parts[nn] = -1;
            compact[nn++] = 0;
        }
        if (k->h.save && k->o.changelog && nn < 64) {
            names[nn] = k->o.changelog;
            parts[nn] = total > 0 ? total : 1;
            compact[nn++] = 1;
        }
        create_topics(k, names, parts, compact, nn);
    }
    if (k->h.save && k->o.changelog) {
        int cl = eng_kafka_partitions(k, k->o.changelog);
        if (cl <= 0) {
            snprintf(errstr, n, "changelog topic %s does not exist and could not be created", k->o.changelog);
            goto fail;
        }
        k->cl_parts = cl;
        if (cl < total)
            LOG_WARN("changelog topic=%s has %d partitions for %d input partitions: some share one",
                     k->o.changelog, cl, (int)total);
    }

    for (;;) {
        rd_kafka_error_t *e = rd_kafka_init_transactions(k->p, 60000);
        if (!e)
            break;
        if (rd_kafka_error_is_retriable(e)) {
            LOG_WARN("init_transactions: %s; retrying", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            continue;
        }
        snprintf(errstr, n, "init_transactions (transactional.id %s): %s", k->o.txn_id,
                 rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        goto fail;
    }

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
        conf_default(cfg, cc, "enable.partition.eof", "false", errstr, n) != 0) {
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
    eng_kafka_destroy(k);
    return NULL;
}

void eng_kafka_destroy(eng_kafka_t *k)
{
    if (!k)
        return;
    if (k->c) {
        rd_kafka_consumer_close(k->c);
        rd_kafka_destroy(k->c);
    }
    while (k->nparts)
        part_free(k, k->parts[--k->nparts]);
    free(k->parts);
    if (k->restorer) {
        rd_kafka_consumer_close(k->restorer);
        rd_kafka_destroy(k->restorer);
    }
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
    eng_buf_free(&k->scratch);
    free(k);
}

/* ---- the loop ------------------------------------------------------------ */

int eng_kafka_run(eng_kafka_t *k, char *errstr, size_t n)
{
    uint64_t batch_ns = (uint64_t)k->o.batch_ms * 1000000ull;
    uint64_t polls = 0;
    while (!k->fatal) {
        if (!k->open) {
            if (sig_stop)
                break;
            if (k->h.between) {
                int flags = 0;
                if (sig_hup) {
                    sig_hup = 0;
                    flags |= ENG_KAFKA_IDLE_HUP;
                }
                k->h.between(k->h.ud, k, flags);
            }
        }
        int timeout = 100;
        if (k->open) {
            uint64_t el = eng_now_ns() - k->batch_start_ns;
            timeout = el >= batch_ns ? 0 : (int)((batch_ns - el) / 1000000ull);
            if (timeout > 100)
                timeout = 100;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k->c, timeout);
        if (m && m->err) {
            if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
                char msg[512];
                rd_kafka_fatal_error(k->c, msg, sizeof msg);
                set_fatal(k, "consumer: %s", msg);
            } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                LOG_WARN("consume err=%s topic=%s msg=\"%s\"", rd_kafka_err2name(m->err),
                         m->rkt ? rd_kafka_topic_name(m->rkt) : "-", rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
            m = NULL;
        }
        if (m) {
            const char *topic = rd_kafka_topic_name(m->rkt);
            kpart_t *p = part_find(k, topic, m->partition);
            if (!p) {
                /* Not assigned (any more): a stale message; skip it. */
                rd_kafka_message_destroy(m);
                continue;
            }
            if (!k->open && begin_batch(k) != 0) {
                rd_kafka_message_destroy(m);
                break;
            }
            if (!p->dirty) {
                p->dirty = 1;
                p->batch_first = m->offset;
            }
            k->poll_ns[k->nbatch++] = eng_now_ns();
            int rc = k->h.message(k->h.ud, k, m, p->user);
            p->next = m->offset + 1;
            k->st.consumed++;
            rd_kafka_message_destroy(m);
            if (rc != 0) {
                set_fatal(k, "the handler failed on %s [%d]", topic, (int)p->partition);
                break;
            }
            if ((++polls & 1023) == 0)
                rd_kafka_poll(k->p, 0);
        }
        if (k->open && ((long)k->nbatch >= k->o.batch_max ||
                        eng_now_ns() - k->batch_start_ns >= batch_ns || sig_stop)) {
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
    /* Leave the group now (revoke callback, no open batch). */
    rd_kafka_consumer_close(k->c);
    rd_kafka_destroy(k->c);
    k->c = NULL;
    return k->fatal ? (snprintf(errstr, n, "%s", k->fatal_msg), -1) : 0;
}

void eng_kafka_stats(const eng_kafka_t *k, eng_kafka_stats_t *out)
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

/* kafka/kfk_txn.c — the batch's transaction: begin; produce into it;
 * commit (precommit, the per-key changes of every touched slot to the
 * changelog, the consumed offsets, commit_transaction) — with overlap, the
 * offsets and commit_transaction on the committer thread while the loop
 * evaluates the next batch, whose outputs are held until that commit is
 * done and the next transaction begins; and the two ways back when it
 * cannot commit — abort, or a new producer under the same transactional.id
 * — both followed by the rewind of every touched partition and slot to the
 * last commit, so the batch is redone from the same offsets and state.
 * Errors are classified as librdkafka does: retriable (retry the call),
 * requires abort (KFK_REDO), fatal (a new producer, or KFK_FATAL). */
#include "kafka/kfk_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/wd_log.h"
#include "base/wd_util.h"

/* txn_error's answers: KFK_OK, KFK_REDO, KFK_FATAL, or retry the call. */
enum { TXN_RETRY = 2 };

static kfk_rc_t restart_producer(kfk_t *k, const char *why);
static kfk_rc_t rewind_batch(kfk_t *k);
static kfk_rc_t handoff(kfk_t *k, rd_kafka_topic_partition_list_t *offs);

/* ---- records of a pending batch ------------------------------------------ */

/* One record produced while its batch had no transaction yet: offsets
 * into k->pend (SIZE_MAX: no key / no value). */
struct kpend {
    size_t               topic, key, keylen, val, vallen;
    int32_t              partition;
    int64_t              ts_ms;
    rd_kafka_headers_t  *headers;
};

static void pend_clear(kfk_t *k)
{
    for (size_t i = 0; i < k->npend; i++)
        if (k->pendv[i].headers)
            rd_kafka_headers_destroy(k->pendv[i].headers);
    k->npend = 0;
    wd_buf_reset(&k->pend);
}

static size_t pend_add(kfk_t *k, const void *p, size_t n)
{
    if (!p)
        return SIZE_MAX;
    size_t at = k->pend.len;
    wd_buf_add(&k->pend, p, n);
    return at;
}

/* Holds a record of the pending batch (kfk_produce).  KFK_OK or KFK_FATAL. */
static kfk_rc_t pend_hold(kfk_t *k, const char *topic, int32_t partition, const void *key,
                          size_t keylen, const void *val, size_t vallen, int64_t ts_ms,
                          rd_kafka_headers_t *headers)
{
    if (k->npend == k->cappend) {
        size_t cap = k->cappend ? k->cappend * 2 : 1024;
        struct kpend *v = realloc(k->pendv, cap * sizeof(*v));
        if (!v) {
            if (headers)
                rd_kafka_headers_destroy(headers);
            LOG_ERROR("produce topic=%s: out of memory holding the record until the commit in flight is done",
                      topic);
            return KFK_FATAL;
        }
        k->pendv = v;
        k->cappend = cap;
    }
    struct kpend *r = &k->pendv[k->npend++];
    r->topic = pend_add(k, topic, strlen(topic) + 1);
    r->key = pend_add(k, key, keylen);
    r->keylen = keylen;
    r->val = pend_add(k, val, vallen);
    r->vallen = vallen;
    r->partition = partition;
    r->ts_ms = ts_ms;
    r->headers = headers;
    return KFK_OK;
}

/* The pending batch gets its transaction and its held records.  KFK_OK,
 * KFK_REDO (rewound) or KFK_FATAL. */
static kfk_rc_t pend_promote(kfk_t *k)
{
    uint64_t start = k->batch_start_ns;
    size_t nb = k->nbatch;
    k->pending = 0;
    k->open = 0;
    if (kfk_txn_begin(k) != KFK_OK) {
        pend_clear(k);
        return KFK_FATAL;
    }
    k->nbatch = nb;
    k->batch_start_ns = start;   /* the batch is as old as its first event */
    for (size_t i = 0; i < k->npend; i++) {
        struct kpend *r = &k->pendv[i];
        rd_kafka_headers_t *h = r->headers;
        r->headers = NULL;   /* kfk_produce owns them now */
        const char *d = k->pend.data;
        kfk_rc_t rc = kfk_produce(k, d + r->topic, r->partition, r->key == SIZE_MAX ? NULL : d + r->key,
                                  r->key == SIZE_MAX ? 0 : r->keylen, r->val == SIZE_MAX ? NULL : d + r->val,
                                  r->val == SIZE_MAX ? 0 : r->vallen, r->ts_ms, h);
        if (rc == KFK_REDO && !k->fatal)
            return kfk_txn_redo(k, "producing the records held during the last commit found the transaction "
                                "failed");
        if (rc != KFK_OK) {
            kfk_fatal(k, "producing the records held during the last commit failed");
            pend_clear(k);
            return KFK_FATAL;
        }
    }
    pend_clear(k);
    return KFK_OK;
}

/* Aborts the open transaction and rewinds: every touched partition seeks
 * back to its batch's first offset and its slot rolls back to the last
 * commit. */
static kfk_rc_t abort_and_rewind(kfk_t *k, const char *why)
{
    LOG_WARN("kafka transaction aborted: %s; rewinding %zu events", why, k->nbatch + k->f_nbatch);
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
            kfk_fatal(k, "%s", msg);
            return KFK_FATAL;
        }
        rd_kafka_error_destroy(e);
        usleep(100000);
    }
    k->st.aborts++;
    return rewind_batch(k);
}

/* Puts the open batch back: every touched slot's state as of the last
 * commit (the handler's undo log), every touched partition's position to
 * the batch's first offset.  The transaction is already aborted (or
 * gone). */
static kfk_rc_t rewind_batch(kfk_t *k)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
    char errstr[512];
    pend_clear(k);   /* a pending batch goes with the one in flight */
    k->pending = 0;
    k->f_nbatch = 0;
    for (size_t i = 0; i < k->nslots; i++) {
        kslot_t *sl = k->slots[i];
        if (!sl->dirty && !sl->fdirty)
            continue;
        sl->fdirty = 0;
        if (k->h.rollback && k->h.rollback(k->h.ud, sl->user, errstr, sizeof errstr) != KFK_OK) {
            kfk_fatal(k, "rewind: rolling back the state of %s: %s", sl->key, errstr);
            rd_kafka_topic_partition_list_destroy(l);
            return KFK_FATAL;
        }
        /* a slot migrating from a snapshot stays due for its per-key records */
        sl->dirty = sl->migrate;
        sl->has_pos = 0;
    }
    for (size_t i = 0; i < k->ntps; i++) {
        ktp_t *t = k->tps[i];
        if (!t->dirty && !t->fdirty)
            continue;
        if (t->fdirty)   /* back to the batch in flight's first offset */
            t->batch_first = t->fbatch_first;
        t->fdirty = 0;
        rd_kafka_topic_partition_list_add(l, t->topic, t->partition)->offset = t->batch_first;
        kfk_q_clear(k, t);   /* held messages come again after the seek */
        kfk_mbuf_drop(k, t);   /* and so do the taken ones */
        t->dirty = 0;
        t->eof = 0;
        t->polled_next = -1;
        t->next = t->batch_first;
    }
    if (l->cnt > 0) {
        /* The seek waits for the fetcher threads; on a loaded machine (or
         * under valgrind) 10 s was seen to pass, which stopped the loop. */
        rd_kafka_error_t *e = rd_kafka_seek_partitions(k->c, l, 60000);
        if (e) {
            kfk_fatal(k, "rewind: seek: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            rd_kafka_topic_partition_list_destroy(l);
            return KFK_FATAL;
        }
        for (int i = 0; i < l->cnt; i++)
            if (l->elems[i].err) {
                kfk_fatal(k, "rewind: seek %s [%d]: %s", l->elems[i].topic, (int)l->elems[i].partition,
                          rd_kafka_err2str(l->elems[i].err));
                rd_kafka_topic_partition_list_destroy(l);
                return KFK_FATAL;
            }
    }
    rd_kafka_topic_partition_list_destroy(l);
    k->open = 0;
    k->nbatch = 0;
    return KFK_REDO;
}

/* What to do with an error from a transactional call: retry it
 * (TXN_RETRY), abort (or a new producer) and rewind (KFK_REDO, done here),
 * or stop (KFK_FATAL).  Consumes e. */
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

kfk_rc_t kfk_txn_begin(kfk_t *k)
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
        return KFK_FATAL;
    }
    if (e) {
        kfk_fatal(k, "begin_transaction: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        return KFK_FATAL;
    }
    k->open = 1;
    k->nbatch = 0;
    k->batch_start_ns = wd_now_ns();
    return KFK_OK;
}

static void record_latency(kfk_t *k, const uint64_t *poll_ns, size_t nbatch)
{
    uint64_t now = wd_now_ns();
    for (size_t i = 0; i < nbatch; i++) {
        if (k->nlat >= KFK_LAT_MAX_SAMPLES)
            break;
        if (k->nlat == k->caplat) {
            size_t cap = k->caplat ? k->caplat * 2 : 4096;
            uint32_t *n = realloc(k->lat, cap * sizeof(*n));
            if (!n)
                return;
            k->lat = n;
            k->caplat = cap;
        }
        uint64_t us = (now - poll_ns[i]) / 1000;
        k->lat[k->nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    }
}

/* Commits the open batch (kfk_int.h). */
kfk_rc_t kfk_txn_commit(kfk_t *k)
{
    char errstr[512];
    if (!k->open)
        return KFK_OK;
    if (k->pending) {
        /* its transaction first: the commit before it must be done */
        kfk_rc_t r = kfk_txn_reap(k, 1);
        if (r != KFK_OK || !k->open)
            return r;
    }
    kfk_rc_t pre = k->h.precommit ? k->h.precommit(k->h.ud, k) : KFK_OK;
    if (pre == KFK_REDO && !k->fatal)
        return kfk_txn_redo(k, "the handler's precommit asked for a redo");
    if (pre != KFK_OK) {
        kfk_fatal(k, "results could not be made durable before the commit");
        rd_kafka_error_t *e = rd_kafka_abort_transaction(k->p, 10000);
        if (e)
            rd_kafka_error_destroy(e);
        k->open = 0;
        return KFK_FATAL;
    }
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(4);
    for (size_t i = 0; i < k->ntps; i++)
        if (k->tps[i]->dirty)
            rd_kafka_topic_partition_list_add(offs, k->tps[i]->topic, k->tps[i]->partition)->offset =
                k->tps[i]->next;
    for (size_t i = 0; k->h.changes && i < k->nslots; i++) {
        kslot_t *sl = k->slots[i];
        if (!sl->dirty)
            continue;
        kfk_changelog_t cl = { k, sl, WD_BUF_INIT };
        kfk_rc_t cr = k->h.changes(k->h.ud, sl->user, &cl, errstr, sizeof errstr);
        if (cr == KFK_OK && sl->migrate)
            cr = kfk_changelog_put(&cl, NULL, 0, NULL, 0);   /* the old snapshot's tombstone */
        wd_buf_free(&cl.key);
        if (cr == KFK_REDO && !k->fatal) {
            rd_kafka_topic_partition_list_destroy(offs);
            return kfk_txn_redo(k, "the changelog produce found the transaction failed");
        }
        if (cr != KFK_OK) {
            kfk_fatal(k, "changelog of %s: %s", sl->key, k->fatal ? k->fatal_msg : errstr);
            goto fatal;
        }
    }

    if (k->overlap && !kfk_between_due(k)) {
        for (size_t i = 0; k->h.seal && i < k->nslots; i++) {
            kslot_t *sl = k->slots[i];
            if (sl->dirty && k->h.seal(k->h.ud, sl->user, errstr, sizeof errstr) != KFK_OK) {
                kfk_fatal(k, "changelog of %s: %s", sl->key, errstr);
                goto fatal;
            }
        }
        return handoff(k, offs);
    }
    uint64_t c0 = wd_now_ns();
    for (; offs->cnt > 0;) {
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
    uint64_t dt = (wd_now_ns() - c0) / 1000;
    k->st.commit_us += dt;
    k->st.commit_stall_us += dt;
    for (size_t i = 0; i < k->nslots; i++) {
        kslot_t *sl = k->slots[i];
        if (!sl->dirty)
            continue;
        if (k->h.committed)
            k->h.committed(k->h.ud, sl->user);
        sl->dirty = 0;
        sl->migrate = 0;
    }
    for (size_t i = 0; i < k->ntps; i++)
        k->tps[i]->dirty = 0;
    record_latency(k, k->poll_ns, k->nbatch);
    k->prestarts = 0;
    k->st.commits++;
    k->st.last_commit_ns = wd_now_ns();
    LOG_DEBUG("kafka commit events=%zu ms=%.1f", k->nbatch, (double)(wd_now_ns() - k->batch_start_ns) / 1e6);
    k->open = 0;
    k->nbatch = 0;
    kfk_report(k);
    return KFK_OK;
fatal:
    rd_kafka_topic_partition_list_destroy(offs);
    {
        rd_kafka_error_t *e = rd_kafka_abort_transaction(k->p, 10000);
        if (e)
            rd_kafka_error_destroy(e);
    }
    k->open = 0;
    return KFK_FATAL;
}

/* ---- the commit in flight ------------------------------------------------ */

/* The committer thread: the sealed batch's offsets and commit.  It alone
 * uses the producer until f_done. */
static void *committer(void *arg)
{
    kfk_t *k = arg;
    rd_kafka_error_t *e = NULL;
    k->f_what = "send_offsets_to_transaction";
    if (k->f_offs->cnt > 0)
        e = rd_kafka_send_offsets_to_transaction(k->p, k->f_offs, k->f_gm, -1);
    if (!e) {
        k->f_what = "commit_transaction";
        e = rd_kafka_commit_transaction(k->p, -1);
    }
    k->f_err = e;
    __atomic_store_n(&k->f_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* The open batch (changelog produced, slots sealed) goes in flight: its
 * partitions and slots are marked as the flight's, its poll times kept
 * for the latency, the commit started on the committer thread.  Takes
 * offs.  KFK_OK. */
static kfk_rc_t handoff(kfk_t *k, rd_kafka_topic_partition_list_t *offs)
{
    for (size_t i = 0; i < k->nslots; i++)
        if (k->slots[i]->dirty) {
            k->slots[i]->fdirty = 1;
            k->slots[i]->dirty = 0;
        }
    for (size_t i = 0; i < k->ntps; i++) {
        ktp_t *t = k->tps[i];
        if (t->dirty) {
            t->fdirty = 1;
            t->fbatch_first = t->batch_first;
            t->dirty = 0;
        }
    }
    uint64_t *swap = k->f_poll_ns;
    k->f_poll_ns = k->poll_ns;
    k->poll_ns = swap;
    k->f_nbatch = k->nbatch;
    k->f_start_ns = k->batch_start_ns;
    k->f_offs = offs;
    k->f_gm = rd_kafka_consumer_group_metadata(k->c);
    k->f_err = NULL;
    k->f_done = 0;
    k->f_commit_ns = wd_now_ns();
    LOG_DEBUG("kafka commit in flight events=%zu batch_ms=%.1f", k->nbatch,
              (double)(k->f_commit_ns - k->batch_start_ns) / 1e6);
    k->open = 0;
    k->nbatch = 0;
    k->inflight = 1;
    if (pthread_create(&k->f_thr, NULL, committer, k) != 0) {
        committer(k);   /* no thread: the commit here, then as if it had flown */
        k->inflight = 2;
    }
    return KFK_OK;
}

kfk_rc_t kfk_txn_reap(kfk_t *k, int block)
{
    if (!k->inflight)
        return k->pending ? pend_promote(k) : KFK_OK;
    if (!block && !__atomic_load_n(&k->f_done, __ATOMIC_ACQUIRE))
        return KFK_OK;
    uint64_t w0 = wd_now_ns();
    if (k->inflight == 1)
        pthread_join(k->f_thr, NULL);
    k->inflight = 0;
    uint64_t now = wd_now_ns();
    k->st.commit_stall_us += (now - w0) / 1000;
    rd_kafka_error_t *e = k->f_err;
    const char *what = k->f_what;
    k->f_err = NULL;
    while (e) {
        /* kfk_txn_commit's answers, here: the transaction's age is the
         * flight's; a redo rewinds both batches */
        uint64_t start = k->batch_start_ns;
        k->batch_start_ns = k->f_start_ns;
        int r = txn_error(k, e, what);
        k->batch_start_ns = start;
        e = NULL;
        if (r != TXN_RETRY) {
            rd_kafka_topic_partition_list_destroy(k->f_offs);
            rd_kafka_consumer_group_metadata_destroy(k->f_gm);
            k->f_offs = NULL;
            k->f_gm = NULL;
            return (kfk_rc_t)r;
        }
        if (strcmp(what, "send_offsets_to_transaction") == 0)
            e = rd_kafka_send_offsets_to_transaction(k->p, k->f_offs, k->f_gm, -1);
        if (!e) {
            what = "commit_transaction";
            e = rd_kafka_commit_transaction(k->p, -1);
        }
    }
    rd_kafka_topic_partition_list_destroy(k->f_offs);
    rd_kafka_consumer_group_metadata_destroy(k->f_gm);
    k->f_offs = NULL;
    k->f_gm = NULL;
    now = wd_now_ns();
    for (size_t i = 0; i < k->nslots; i++) {
        kslot_t *sl = k->slots[i];
        if (!sl->fdirty)
            continue;
        if (k->h.committed)
            k->h.committed(k->h.ud, sl->user);
        sl->fdirty = 0;
        sl->migrate = 0;
    }
    for (size_t i = 0; i < k->ntps; i++)
        k->tps[i]->fdirty = 0;
    record_latency(k, k->f_poll_ns, k->f_nbatch);
    k->f_nbatch = 0;
    k->prestarts = 0;
    k->st.commits++;
    k->st.overlapped++;
    k->st.commit_us += (now - k->f_commit_ns) / 1000;
    k->st.last_commit_ns = now;
    LOG_DEBUG("kafka commit done ms=%.1f", (double)(now - k->f_commit_ns) / 1e6);
    kfk_report(k);
    return k->pending ? pend_promote(k) : KFK_OK;
}

kfk_rc_t kfk_txn_drain(kfk_t *k)
{
    kfk_rc_t r = kfk_txn_reap(k, 1);
    if (r == KFK_FATAL)
        return r;
    int ov = k->overlap;
    k->overlap = 0;
    r = k->open ? kfk_txn_commit(k) : KFK_OK;
    k->overlap = ov;
    return r == KFK_FATAL ? r : KFK_OK;
}

void kfk_txn_abandon(kfk_t *k)
{
    if (k->inflight == 1)
        pthread_join(k->f_thr, NULL);
    k->inflight = 0;
    if (k->f_err)
        rd_kafka_error_destroy(k->f_err);
    k->f_err = NULL;
    if (k->f_offs)
        rd_kafka_topic_partition_list_destroy(k->f_offs);
    if (k->f_gm)
        rd_kafka_consumer_group_metadata_destroy(k->f_gm);
    k->f_offs = NULL;
    k->f_gm = NULL;
    pend_clear(k);
    k->pending = 0;
    free(k->pendv);
    k->pendv = NULL;
    k->cappend = 0;
    wd_buf_free(&k->pend);
}

/* init_transactions (kfk_int.h). */
int kfk_txn_init(kfk_t *k, int max_s, char *errstr, size_t n)
{
    uint64_t t0 = wd_now_ns();
    for (;;) {
        rd_kafka_error_t *e = rd_kafka_init_transactions(k->p, 60000);
        if (!e)
            return 0;
        int waited_out = max_s > 0 && wd_now_ns() - t0 >= (uint64_t)max_s * 1000000000ull;
        if (rd_kafka_error_is_retriable(e) && !kfk_stop_requested() && !waited_out) {
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
 * after KFK_PRODUCER_RESTARTS new producers without a commit, stop too.
 * Returns KFK_REDO or KFK_FATAL. */
static kfk_rc_t restart_producer(kfk_t *k, const char *why)
{
    char msg[512], errstr[512];
    snprintf(msg, sizeof msg, "%s", why);
    uint64_t age_ms = (wd_now_ns() - k->batch_start_ns) / 1000000ull;
    if (age_ms < (uint64_t)k->txn_timeout_ms) {
        kfk_fatal(k, "producer fenced or failed (is another process using transactional.id %s?) "
                  "in a %llu ms old transaction: %s", k->o.txn_id, (unsigned long long)age_ms, msg);
        return KFK_FATAL;
    }
    if (k->prestarts >= KFK_PRODUCER_RESTARTS) {
        kfk_fatal(k, "producer fenced or failed %d times in a row without a commit (is another process "
                  "using transactional.id %s?): %s", KFK_PRODUCER_RESTARTS, k->o.txn_id, msg);
        return KFK_FATAL;
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
        kfk_fatal(k, "a new producer after \"%s\": %s", msg, errstr);
        return KFK_FATAL;
    }
    rd_kafka_purge(k->p, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    kfk_topics_drop(k);
    rd_kafka_destroy(k->p);
    k->p = np;
    if (kfk_txn_init(k, KFK_PRODUCER_INIT_MAX_S, errstr, sizeof errstr) != 0) {
        kfk_fatal(k, "a new producer after \"%s\": %s", msg, errstr);
        return KFK_FATAL;
    }
    k->open = 0;
    k->st.aborts++;
    return rewind_batch(k);
}

/* A KFK_REDO (kfk_int.h).  The producer's own state says which way back:
 * failed fatally (fenced, say) needs a new producer; else the transaction
 * is aborted. */
kfk_rc_t kfk_txn_redo(kfk_t *k, const char *why)
{
    char fmsg[400], msg[512];
    if (k->inflight) {
        /* the producer is the committer's until its commit is done */
        kfk_rc_t r = kfk_txn_reap(k, 1);
        if (r != KFK_OK || !k->open)
            return r == KFK_OK ? KFK_REDO : r;
    }
    if (rd_kafka_fatal_error(k->p, fmsg, sizeof fmsg) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(msg, sizeof msg, "%s: producer: %s", why, fmsg);
        return restart_producer(k, msg);
    }
    return abort_and_rewind(k, why);
}

/* ---- producing ----------------------------------------------------------- */

/* The producer's handle of topic, made at its first record (NULL: out
 * of memory, or more topics than kept: then producev looks it up). */
static rd_kafka_topic_t *topic_handle(kfk_t *k, const char *topic)
{
    for (size_t i = 0; i < k->nrkts; i++)
        if (strcmp(k->rkts[i].name, topic) == 0)
            return k->rkts[i].rkt;
    if (k->nrkts == KFK_RKTS)
        return NULL;
    char *name = strdup(topic);
    rd_kafka_topic_t *rkt = name ? rd_kafka_topic_new(k->p, topic, NULL) : NULL;
    if (rkt == NULL) {
        free(name);
        return NULL;
    }
    k->rkts[k->nrkts].name = name;
    k->rkts[k->nrkts++].rkt = rkt;
    return rkt;
}

static kfk_rc_t produce(kfk_t *k, const char *topic, int32_t partition, const void *key, size_t keylen,
                        const void *val, size_t vallen, int64_t ts_ms, rd_kafka_headers_t *headers)
{
    if (k->pending)
        return pend_hold(k, topic, partition, key, keylen, val, vallen, ts_ms, headers);
    rd_kafka_topic_t *rkt = topic_handle(k, topic);
    for (int tries = 0;; tries++) {
        rd_kafka_resp_err_t e;
        /* V_HEADERS(NULL) is no headers */
        if (rkt)
            e = rd_kafka_producev(k->p, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
                                  RD_KAFKA_V_KEY((void *)key, keylen), RD_KAFKA_V_VALUE((void *)val, vallen),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
                                  RD_KAFKA_V_TIMESTAMP(ts_ms), RD_KAFKA_V_END);
        else
            e = rd_kafka_producev(k->p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                                  RD_KAFKA_V_KEY((void *)key, keylen), RD_KAFKA_V_VALUE((void *)val, vallen),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
                                  RD_KAFKA_V_TIMESTAMP(ts_ms), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            k->st.produced++;
            return KFK_OK;
        }
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && tries < 6000) {
            rd_kafka_poll(k->p, 10);   /* backpressure: wait for deliveries */
            continue;
        }
        if (headers)
            rd_kafka_headers_destroy(headers);
        if (e == RD_KAFKA_RESP_ERR__FATAL) {
            /* The producer failed: kfk_txn_redo sees it and starts a new one. */
            char msg[400];
            rd_kafka_fatal_error(k->p, msg, sizeof msg);
            LOG_WARN("produce topic=%s err=%s: %s", topic, rd_kafka_err2str(e), msg);
            return KFK_REDO;
        }
        if (e == RD_KAFKA_RESP_ERR__STATE) {
            /* The transaction is in its abortable-error state: abort, redo. */
            LOG_WARN("produce topic=%s err=%s", topic, rd_kafka_err2str(e));
            return KFK_REDO;
        }
        LOG_ERROR("produce topic=%s err=%s", topic, rd_kafka_err2str(e));
        return KFK_FATAL;
    }
}

kfk_rc_t kfk_produce(kfk_t *k, const char *topic, int32_t partition, const void *key,
                     size_t keylen, const void *val, size_t vallen, int64_t ts_ms,
                     rd_kafka_headers_t *headers)
{
    return produce(k, topic, partition, key, keylen, val, vallen, ts_ms, headers);
}

void kfk_topics_drop(kfk_t *k)
{
    for (size_t i = 0; i < k->nrkts; i++) {
        rd_kafka_topic_destroy(k->rkts[i].rkt);
        free(k->rkts[i].name);
    }
    k->nrkts = 0;
}

kfk_rc_t kfk_changelog_put(kfk_changelog_t *cl, const void *id, size_t idlen, const void *val,
                           size_t vlen)
{
    kfk_t *k = cl->k;
    wd_buf_reset(&cl->key);
    wd_buf_adds(&cl->key, cl->slot->key);
    if (id) {
        wd_buf_addc(&cl->key, '\0');
        wd_buf_add(&cl->key, id, idlen);
    }
    kfk_rc_t rc = produce(k, k->o.changelog, cl->slot->cl_part, cl->key.data, cl->key.len, val,
                          val ? vlen : 0, 0, NULL);
    if (rc == KFK_OK) {
        k->st.snapshots++;
        k->st.snapshot_bytes += cl->key.len + (val ? vlen : 0);
        k->st.tombstones += val == NULL;
    }
    return rc;
}

kfk_rc_t kfk_dead_letter(kfk_t *k, const rd_kafka_message_t *m, const char *reason, const char *rule)
{
    rd_kafka_headers_t *orig = NULL, *h;
    const void *val = m->payload ? m->payload : "";
    size_t vlen = m->len;
    if (rd_kafka_message_headers(m, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR && orig)
        h = rd_kafka_headers_copy(orig);
    else
        h = rd_kafka_headers_new(3);
    kfk_frame_t f;
    if (k->o.merge && kfk_frame_of(m, &f) != KFK_POS_NONE && f.format == 2) {
        /* an internal record: the event and format 1's headers, not the frame */
        kfk_frame_headers(&f, h);
        if (f.kind == KFK_POS_RECORD) {
            val = f.val_len ? f.val : "";
            vlen = f.val_len;
        } else {
            val = "";
            vlen = 0;
        }
    }
    char src[512];
    snprintf(src, sizeof src, "%s/%d/%lld", rd_kafka_topic_name(m->rkt), (int)m->partition,
             (long long)m->offset);
    rd_kafka_header_add(h, "warden.reason", -1, reason, -1);
    rd_kafka_header_add(h, "warden.source", -1, src, -1);
    if (rule)
        rd_kafka_header_add(h, "warden.rule", -1, rule, -1);
    kfk_rc_t rc = kfk_produce(k, k->o.dlq, RD_KAFKA_PARTITION_UA, m->key, m->key_len, val, vlen, 0, h);
    if (rc == KFK_OK)
        k->st.dead_letters++;
    return rc;
}

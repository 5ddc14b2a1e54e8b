/* kafka/kfk_txn.c — the batch's transaction: begin; produce into it;
 * commit (precommit, the per-key changes of every touched slot to the
 * changelog, the consumed offsets, commit_transaction); and the two ways back when it
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

/* Aborts the open transaction and rewinds: every touched partition seeks
 * back to its batch's first offset and its slot rolls back to the last
 * commit. */
static kfk_rc_t abort_and_rewind(kfk_t *k, const char *why)
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
    for (size_t i = 0; i < k->nslots; i++) {
        kslot_t *sl = k->slots[i];
        if (!sl->dirty)
            continue;
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
        if (!t->dirty)
            continue;
        rd_kafka_topic_partition_list_add(l, t->topic, t->partition)->offset = t->batch_first;
        kfk_q_clear(k, t);   /* held messages come again after the seek */
        t->dirty = 0;
        t->eof = 0;
        t->polled_next = -1;
        t->next = t->batch_first;
    }
    if (l->cnt > 0) {
        rd_kafka_error_t *e = rd_kafka_seek_partitions(k->c, l, 10000);
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

static void record_latency(kfk_t *k)
{
    uint64_t now = wd_now_ns();
    for (size_t i = 0; i < k->nbatch; i++) {
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
        uint64_t us = (now - k->poll_ns[i]) / 1000;
        k->lat[k->nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    }
}

/* Commits the open batch (kfk_int.h). */
kfk_rc_t kfk_txn_commit(kfk_t *k)
{
    char errstr[512];
    if (!k->open)
        return KFK_OK;
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
    record_latency(k);
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
    if (rd_kafka_fatal_error(k->p, fmsg, sizeof fmsg) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(msg, sizeof msg, "%s: producer: %s", why, fmsg);
        return restart_producer(k, msg);
    }
    return abort_and_rewind(k, why);
}

/* ---- producing ----------------------------------------------------------- */

kfk_rc_t kfk_produce(kfk_t *k, const char *topic, int32_t partition, const void *key,
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
    kfk_rc_t rc = kfk_produce(k, k->o.changelog, cl->slot->cl_part, cl->key.data, cl->key.len,
                              val, val ? vlen : 0, 0, NULL);
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
    kfk_rc_t rc = kfk_produce(k, k->o.dlq, RD_KAFKA_PARTITION_UA, m->key, m->key_len,
                              m->payload ? m->payload : "", m->len, 0, h);
    if (rc == KFK_OK)
        k->st.dead_letters++;
    return rc;
}

/* kafka/kfk_slots.c — assigned partitions and their state slots.  On
 * assign, each new slot gets the handler's object and its state from the
 * newest committed snapshot on the changelog (read_committed, start to end)
 * before its first message goes out; on revoke, the in-flight batch
 * commits while the partitions are still ours, then the slots whose last
 * partition left are freed.  Eager and cooperative protocols both. */
#include "kafka/kfk_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/wd_log.h"
#include "base/wd_util.h"

ktp_t *kfk_tp_find(kfk_t *k, const char *topic, int32_t partition)
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

void kfk_tp_free(kfk_t *k, ktp_t *t)
{
    kfk_q_clear(k, t);
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
            kfk_fatal(k, "restore: watermarks of %s [%d]: %s", k->o.changelog, (int)ns[i]->cl_part,
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
                kfk_fatal(k, "restore: reading %s took over 120 s (a transaction pending on it?)", k->o.changelog);
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
                      s->has_committed ? s->committed.len : 0, errstr, sizeof errstr) != KFK_OK) {
            kfk_fatal(k, "restore: state of %s from %s: %s", s->key, k->o.changelog, errstr);
            return -1;
        }
        if (s->has_committed) {
            k->st.restored++;
            k->st.restored_bytes += s->committed.len;
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
        kfk_fatal(k, "out of memory");
        return -1;
    }
    size_t n = 0;
    for (int i = 0; i < parts->cnt && !k->fatal; i++) {
        const rd_kafka_topic_partition_t *tp = &parts->elems[i];
        if (kfk_tp_find(k, tp->topic, tp->partition))
            continue;
        ktp_t *t = calloc(1, sizeof(*t));
        if (!t || !(t->topic = strdup(tp->topic))) {
            free(t);
            kfk_fatal(k, "out of memory");
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
                kfk_fatal(k, "out of memory");
                break;
            }
            s->partition = tp->partition;
            s->cl_part = cl_partition(k, tp->topic, tp->partition);
            if (k->h.assign && k->h.assign(k->h.ud, s->topic, s->partition, &s->user) != KFK_OK) {
                free(s->topic);
                free(s->key);
                free(s);
                free(t->topic);
                free(t);
                kfk_fatal(k, "assign %s failed", key);
                break;
            }
            k->slots[k->nslots++] = s;
            ns[n++] = s;
        }
        s->refs++;
        t->slot = s;
        k->tps[k->ntps++] = t;
        k->st.assigned++;
        LOG_INFO("assigned partition=%s/%d slot=%s", t->topic, (int)t->partition, s->key);
    }
    int rc = k->fatal ? -1 : restore(k, ns, n);
    free(ns);
    return rc;
}

static void on_revoke(kfk_t *k, const rd_kafka_topic_partition_list_t *parts)
{
    /* Finish the in-flight batch while the partitions are still ours. */
    if (k->open && !k->fatal)
        kfk_txn_commit(k);
    for (int i = 0; i < parts->cnt; i++) {
        for (size_t j = 0; j < k->ntps; j++) {
            ktp_t *t = k->tps[j];
            if (t->partition == parts->elems[i].partition && strcmp(t->topic, parts->elems[i].topic) == 0) {
                LOG_INFO("revoked partition=%s/%d", t->topic, (int)t->partition);
                k->tps[j] = k->tps[--k->ntps];
                kfk_tp_free(k, t);
                k->st.revoked++;
                break;
            }
        }
    }
}

void kfk_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                      void *opaque)
{
    kfk_t *k = opaque;
    int coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        on_assign(k, parts);
        if (coop) {
            rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, parts);
            if (e) {
                kfk_fatal(k, "incremental_assign: %s", rd_kafka_error_string(e));
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
    if (!k->fatal)
        kfk_report(k);
}


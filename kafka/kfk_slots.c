/* kafka/kfk_slots.c — assigned partitions and their state slots.  On
 * assign, each new slot gets the handler's object and its state from its
 * per-key records on the changelog (read_committed, start to end, applied
 * oldest first) before its first message goes out — the poll that would
 * hand it out is the one running this restore; on revoke, the in-flight batch
 * commits while the partitions are still ours, then the slots whose last
 * partition left are freed.  Eager and cooperative protocols both. */
#include "kafka/kfk_int.h"
#include "kafka/kfk_tail.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
int32_t kfk_cl_partition(const kfk_t *k, const char *topic, int32_t partition)
{
    int32_t base = 0;
    for (size_t i = 0; !k->copart && i < k->ntp; i++)
        if (strcmp(k->tp_names[i], topic) == 0)
            base = k->tp_base[i];
    return k->cl_parts > 0 ? (base + partition) % k->cl_parts : 0;
}

void kfk_slot_key(const kfk_t *k, const char *topic, int32_t partition, char *buf, size_t n)
{
    if (k->copart)
        snprintf(buf, n, "*/%d", (int)partition);
    else
        snprintf(buf, n, "%s/%d", topic, (int)partition);
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
    free(s->topic);
    free(s->key);
    free(s);
}

void kfk_tp_free(kfk_t *k, ktp_t *t)
{
    kfk_q_clear(k, t);
    free(t->q);
    free(t->q_ns);
    free(t->q_pos);
    free(t->q_kind);
    if (t->slot)
        slot_release(k, t->slot);
    free(t->topic);
    free(t);
}

/* One changelog record m for the new slots ns: the slot whose key it
 * carries gets it (apply: "SLOT\0ID"; load: "SLOT", an old whole-slot
 * snapshot).  Returns 0 or -1 (fatal). */
static int restore_record(kfk_t *k, kslot_t **ns, size_t n, const rd_kafka_message_t *m,
                          uint64_t *records)
{
    char errstr[512];
    const char *key = m->key;
    for (size_t i = 0; i < n; i++) {
        kslot_t *s = ns[i];
        size_t sl = strlen(s->key);
        if (s->cl_part != m->partition || m->key_len < sl || memcmp(key, s->key, sl) != 0)
            continue;
        kfk_rc_t rc;
        if (m->key_len == sl) {
            /* the format before the per-key changelog */
            rc = k->h.load ? k->h.load(k->h.ud, s->user, m->payload, m->payload ? m->len : 0, errstr,
                                       sizeof errstr)
                           : KFK_OK;
            if (m->payload && !s->migrate) {
                s->migrate = 1;
                LOG_WARN("restore: slot=%s has a whole-slot snapshot (bytes=%zu): migrating it to "
                         "per-key records at the next commit", s->key, m->len);
            }
        } else if (key[sl] == '\0') {
            rc = k->h.apply(k->h.ud, s->user, key + sl + 1, m->key_len - sl - 1, m->payload,
                            m->payload ? m->len : 0, errstr, sizeof errstr);
        } else {
            continue;   /* another slot whose key starts the same ("t/1" and "t/10") */
        }
        if (rc != KFK_OK) {
            kfk_fatal(k, "restore: state of %s from %s [%d] offset %lld: %s", s->key, k->o.changelog,
                      (int)m->partition, (long long)m->offset, errstr);
            return -1;
        }
        (*records)++;
        k->st.restored_bytes += m->key_len + (m->payload ? m->len : 0);
        return 0;
    }
    return 0;
}

/* Reads the changelog partitions of the new slots (read committed, from
 * the start to the end), hands every record of theirs to the handler
 * oldest first, then tells it each slot is complete.  Nothing of the
 * slots is evaluated meanwhile: this runs inside the rebalance callback,
 * before their partitions are assigned to the consumer.
 *
 * The end is the high watermark read before the restore starts (through
 * a read_uncommitted client: a read_committed one is told the last stable
 * offset), and a partition is complete only at an end-of-partition at or
 * past it.  A
 * read_committed consumer reports end-of-partition at the last stable
 * offset, which stops short of a transaction still open on the changelog
 * (the one of a process killed with a batch open, until its successor
 * fences it or the transaction times out), and reports it again each time
 * that offset moves.  Counting end-of-partition events instead of
 * partitions let one partition's second report stand for another
 * partition still being read, and that slot started with part of its
 * state.  A read that makes no progress for KFK_RESTORE_STALL_S fails; a
 * long one that does is bounded by the changelog's size only.  Returns 0
 * or -1 (fatal). */
static int restore(kfk_t *k, kslot_t **ns, size_t n)
{
    char errstr[512];
    if (!k->h.apply || n == 0)
        return 0;
    uint64_t t0 = wd_now_ns();
    rd_kafka_topic_partition_list_t *a = rd_kafka_topic_partition_list_new((int)n);
    int64_t *ends = calloc(n, sizeof(*ends));   /* per entry of a: the high watermark */
    int *done = calloc(n, sizeof(*done));
    if (!ends || !done) {
        free(ends);
        free(done);
        kfk_fatal(k, "out of memory");
        rd_kafka_topic_partition_list_destroy(a);
        return -1;
    }
    int want = 0;
    for (size_t i = 0; i < n; i++) {
        if (rd_kafka_topic_partition_list_find(a, k->o.changelog, ns[i]->cl_part))
            continue;
        int64_t lo = 0, hi = 0;
        /* A changelog created a moment ago may not have a leader yet. */
        rd_kafka_resp_err_t e = kfk_watermarks_wait(k->wm, k->o.changelog, ns[i]->cl_part, &lo, &hi,
                                                    wd_now_ns() + 30ull * 1000000000ull);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR && hi <= lo)
            continue;   /* empty: nothing written yet */
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            kfk_fatal(k, "restore: watermarks of %s [%d]: %s", k->o.changelog, (int)ns[i]->cl_part,
                      rd_kafka_err2str(e));
            rd_kafka_topic_partition_list_destroy(a);
            free(ends);
            free(done);
            return -1;
        }
        ends[a->cnt] = hi;
        rd_kafka_topic_partition_list_add(a, k->o.changelog, ns[i]->cl_part)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
        want++;
    }
    int rc = 0;
    uint64_t *recs = calloc(n, sizeof(*recs));
    if (!recs) {
        kfk_fatal(k, "out of memory");
        rd_kafka_topic_partition_list_destroy(a);
        free(ends);
        free(done);
        return -1;
    }
    uint64_t total = 0;
    if (want > 0) {
        rd_kafka_assign(k->restorer, a);
        int eofs = 0;
        uint64_t last = wd_now_ns();
        while (eofs < want && rc == 0) {
            if (wd_now_ns() - last > (uint64_t)KFK_RESTORE_STALL_S * 1000000000ull) {
                kfk_fatal(k, "restore: reading %s made no progress for %d s (a transaction pending on it?)",
                          k->o.changelog, KFK_RESTORE_STALL_S);
                rc = -1;
                break;
            }
            rd_kafka_message_t *m = rd_kafka_consumer_poll(k->restorer, 200);
            if (!m)
                continue;
            last = wd_now_ns();
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                /* m->offset: where this end-of-partition was seen */
                for (int j = 0; j < a->cnt; j++)
                    if (a->elems[j].partition == m->partition && !done[j] && m->offset >= ends[j]) {
                        done[j] = 1;
                        eofs++;
                    }
            } else if (m->err) {
                LOG_WARN("restore: %s: %s", k->o.changelog, rd_kafka_message_errstr(m));
            } else if (m->key) {
                uint64_t before = total;
                if (restore_record(k, ns, n, m, &total) != 0)
                    rc = -1;
                for (size_t i = 0; total != before && i < n; i++)
                    if (ns[i]->cl_part == m->partition && m->key_len >= strlen(ns[i]->key) &&
                        memcmp(m->key, ns[i]->key, strlen(ns[i]->key)) == 0)
                        recs[i]++;
            }
            rd_kafka_message_destroy(m);
        }
        rd_kafka_assign(k->restorer, NULL);
    }
    rd_kafka_topic_partition_list_destroy(a);
    free(ends);
    free(done);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        kslot_t *s = ns[i];
        if (k->h.restored && k->h.restored(k->h.ud, s->user, errstr, sizeof errstr) != KFK_OK) {
            kfk_fatal(k, "restore: state of %s from %s: %s", s->key, k->o.changelog, errstr);
            rc = -1;
            break;
        }
        if (s->migrate) {
            s->dirty = 1;   /* the next commit writes its entries per key */
            k->st.migrated++;
        }
        if (recs[i]) {
            k->st.restored++;
            LOG_INFO("restored slot=%s records=%" PRIu64 " from=%s/%d", s->key, recs[i], k->o.changelog,
                     (int)s->cl_part);
        }
    }
    free(recs);
    uint64_t el = wd_now_ns() - t0, ms = el / 1000000ull;
    k->st.restored_records += total;
    k->st.restore_ms += ms;
    k->st.restore_us += el / 1000ull;
    if (rc == 0)
        LOG_INFO("restore: slots=%zu records=%" PRIu64 " ms=%" PRIu64, n, total, ms);
    return rc;
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
            kfk_slot_key(k, tp->topic, tp->partition, key, sizeof key);
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
            s->cl_part = kfk_cl_partition(k, tp->topic, tp->partition);
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
    if ((k->open || k->inflight) && !k->fatal)
        kfk_txn_drain(k);
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
    /* The consumer call that serves this returns right after it: the
     * messages it took were all delivered before the rebalance (a revoked
     * partition's are then skipped; an assigned one's come after). */
    rd_kafka_yield(rk);
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


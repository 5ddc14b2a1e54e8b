/* kafka/kfk_align.c — event-time alignment of co-partitioned inputs: the
 * messages of one slot's topics are held per partition and handed out in
 * Kafka-timestamp order (ties: the raw origin of split records, then the
 * topic name), waiting at most align_ms for a topic that lags behind. */
#include "kafka/kfk_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/wd_log.h"
#include "base/wd_util.h"

void kfk_q_clear(kfk_t *k, ktp_t *t)
{
    for (size_t i = 0; i < t->qlen; i++)
        rd_kafka_message_destroy(t->q[(t->qhead + i) % t->qcap]);
    k->held -= t->qlen;
    t->qhead = t->qlen = 0;
}

int kfk_q_push(ktp_t *t, rd_kafka_message_t *m, uint64_t ns)
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

int kfk_order_cmp(rd_kafka_message_t *a, const char *ta, rd_kafka_message_t *b, const char *tb)
{
    return aligned_cmp(a, ta, b, tb);
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
 * a slot, the first by aligned_cmp goes out once every other topic of the
 * slot has a message held, is caught up, or align_ms passed. */
kfk_rc_t kfk_align_release(kfk_t *k, int force)
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
                ready = timed_out || k->held > KFK_ALIGN_MAX_HELD;
                if (ready) {
                    k->st.misaligned++;
                    LOG_WARN_EVERY(&k->misaligned_log, "alignment: %s/%d waited for %s/%d over %ld ms (or %zu "
                                   "held); going on in arrival order (count=%" PRIu64 ")", best->topic,
                                   (int)best->partition, behind->topic, (int)behind->partition, k->o.align_ms,
                                   k->held, k->st.misaligned);
                }
            }
            if (!ready)
                continue;
            rd_kafka_message_t *m = best->q[best->qhead];
            uint64_t ns = best->q_ns[best->qhead];
            best->qhead = (best->qhead + 1) % best->qcap;
            best->qlen--;
            k->held--;
            if (kfk_process(k, best, m, ns) != KFK_OK)
                return KFK_FATAL;
            progressed = 1;
            break;   /* slots and partitions may have changed (commit, rewind) */
        }
        if (!progressed || k->fatal)
            return k->fatal ? KFK_FATAL : KFK_OK;
    }
}


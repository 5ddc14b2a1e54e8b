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
    t->qbytes = 0;
    kfk_q_resume(k, t);
}

int kfk_q_push(kfk_t *k, ktp_t *t, rd_kafka_message_t *m, uint64_t ns)
{
    if (t->qlen == t->qcap) {
        size_t cap = t->qcap ? t->qcap * 2 : 256;
        rd_kafka_message_t **q = malloc(cap * sizeof(*q));
        uint64_t *qn = malloc(cap * sizeof(*qn));
        kfk_pos_t *qp = malloc(cap * sizeof(*qp));
        int *qk = malloc(cap * sizeof(*qk));
        if (!q || !qn || !qp || !qk) {
            free(q);
            free(qn);
            free(qp);
            free(qk);
            return -1;
        }
        for (size_t i = 0; i < t->qlen; i++) {
            size_t j = (t->qhead + i) % t->qcap;
            q[i] = t->q[j];
            qn[i] = t->q_ns[j];
            qp[i] = t->q_pos[j];
            qk[i] = t->q_kind[j];
        }
        free(t->q);
        free(t->q_ns);
        free(t->q_pos);
        free(t->q_kind);
        t->q = q;
        t->q_ns = qn;
        t->q_pos = qp;
        t->q_kind = qk;
        t->qcap = cap;
        t->qhead = 0;
    }
    size_t at = (t->qhead + t->qlen) % t->qcap;
    t->q[at] = m;
    t->q_ns[at] = ns;
    memset(&t->q_pos[at], 0, sizeof t->q_pos[at]);
    t->q_kind[at] = k->o.merge ? kfk_pos_of(m, &t->q_pos[at]) : KFK_POS_NONE;
    if (k->pace) {
        t->q_pos[at].ts = k->h.pace_time(k->h.ud, m);
        t->q_pos[at].part = m->partition;
        t->q_pos[at].off = m->offset;
    }
    t->qlen++;
    t->qbytes += KFK_HELD_COST(m);
    if ((k->o.merge || k->pace) && !t->paused && t->qbytes > k->hold_max) {
        /* Bounded: a partition far ahead of a slow upstream waits at the broker. */
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, t->topic, t->partition);
        if (rd_kafka_pause_partitions(k->c, l) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            t->paused = 1;
            k->st.paused++;
        }
        rd_kafka_topic_partition_list_destroy(l);
    }
    return 0;
}

void kfk_q_resume(kfk_t *k, ktp_t *t)
{
    if (!t->paused || t->qbytes > k->hold_max / 2 || !k->c)
        return;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, t->topic, t->partition);
    if (rd_kafka_resume_partitions(k->c, l) == RD_KAFKA_RESP_ERR_NO_ERROR)
        t->paused = 0;
    rd_kafka_topic_partition_list_destroy(l);
}

/* ---- the merged order of the repartitioned path ------------------------ */

int kfk_pos_of(const rd_kafka_message_t *m, kfk_pos_t *p)
{
    kfk_frame_t f;
    int kind = kfk_frame_of(m, &f);
    if (kind != KFK_POS_NONE)
        *p = f.pos;
    return kind;
}

int kfk_pos_cmp(const kfk_pos_t *a, const kfk_pos_t *b)
{
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    if (a->part != b->part)
        return a->part < b->part ? -1 : 1;
    if (a->off != b->off)
        return a->off < b->off ? -1 : 1;
    return 0;
}

/* A watermark is a format-2 frame alone (no event, no headers). */
kfk_rc_t kfk_watermark(kfk_t *k, const char *topic, int nparts, const kfk_pos_t *p)
{
    kfk_frame_t f;
    memset(&f, 0, sizeof f);
    f.kind = p ? KFK_POS_WM : KFK_POS_IDLE;
    if (p)
        f.pos = *p;
    wd_buf_t b = WD_BUF_INIT;
    if (kfk_frame_put(&b, &f) != 0) {
        wd_buf_free(&b);
        kfk_fatal(k, "out of memory writing a watermark");
        return KFK_FATAL;
    }
    kfk_rc_t rc = KFK_OK;
    for (int i = 0; i < nparts && rc == KFK_OK; i++)
        rc = kfk_produce(k, topic, i, NULL, 0, b.data, b.len, 0, NULL);
    wd_buf_free(&b);
    return rc;
}

int kfk_slot_held_min(const kfk_t *k, const void *part, int64_t *ts)
{
    int any = 0;
    for (size_t i = 0; k->pace && i < k->ntps; i++) {
        const ktp_t *t = k->tps[i];
        if (!t->slot || t->slot->user != part)
            continue;
        for (size_t j = 0; j < t->qlen; j++) {
            int64_t v = t->q_pos[(t->qhead + j) % t->qcap].ts;
            if (!any || v < *ts)
                *ts = v;
            any = 1;
        }
    }
    return any;
}

static size_t slot_tps(const kfk_t *k, const kslot_t *sl, ktp_t **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < k->ntps && n < max; i++)
        if (k->tps[i]->slot == sl)
            out[n++] = k->tps[i];
    return n;
}

#define KFK_MERGE_MAX_UP 4096

int kfk_merge_idle(const kfk_t *k, const kslot_t *sl)
{
    ktp_t *tp[KFK_MERGE_MAX_UP];
    size_t n = slot_tps(k, sl, tp, KFK_MERGE_MAX_UP);
    if (n < k->ntp)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (tp[i]->qlen != 1 || tp[i]->q_kind[tp[i]->qhead] != KFK_POS_IDLE)
            return 0;
    return 1;
}

/* The head of t's held messages goes out. */
static kfk_rc_t pop_process(kfk_t *k, ktp_t *t)
{
    rd_kafka_message_t *m = t->q[t->qhead];
    uint64_t ns = t->q_ns[t->qhead];
    t->qhead = (t->qhead + 1) % t->qcap;
    t->qlen--;
    t->qbytes -= KFK_HELD_COST(m);
    k->held--;
    kfk_q_resume(k, t);
    return kfk_process(k, t, m, ns);
}

/* A slot hands out its smallest head once every upstream (one input topic
 * each) holds something: a record, a watermark, or an idle mark (which sorts
 * after everything and is passed over once something arrives behind it).
 * An upstream writes in position order, so nothing it writes later can go
 * before what is handed out: the order is exact, never a timeout's guess.
 * Of the slots that can hand something out, the one with the smallest head
 * goes first, so that the slots advance side by side: every slot writes to
 * each partition of the next hop, which waits for the slowest of them (a
 * slot drained to its end before the next one would make the next hop
 * hold everything in between).  O(slots × partitions) per message. */
kfk_rc_t kfk_merge_release(kfk_t *k)
{
    ktp_t *tp[KFK_MERGE_MAX_UP];
    while (!k->fatal) {
        kslot_t *sl = NULL;
        ktp_t *best = NULL;
        int spent = 0;
        for (size_t si = 0; si < k->nslots && !spent; si++) {
            kslot_t *cand_sl = k->slots[si];
            size_t n = slot_tps(k, cand_sl, tp, KFK_MERGE_MAX_UP);
            if (n < k->ntp)
                continue;   /* not every upstream assigned here (yet) */
            ktp_t *cand = NULL;
            int blocked = 0;
            for (size_t i = 0; i < n && !blocked; i++) {
                ktp_t *t = tp[i];
                if (t->qlen >= 2 && t->q_kind[t->qhead] == KFK_POS_IDLE) {
                    /* the upstream spoke again: its idle mark is spent */
                    k->st.watermarks++;
                    if (pop_process(k, t) != KFK_OK)
                        return KFK_FATAL;
                    spent = 1;
                    break;
                }
                if (t->qlen == 0)
                    blocked = 1;
                else if (t->q_kind[t->qhead] != KFK_POS_IDLE &&
                         (!cand || kfk_pos_cmp(&t->q_pos[t->qhead], &cand->q_pos[cand->qhead]) < 0))
                    cand = t;
            }
            if (spent || blocked || !cand)
                continue;
            if (!best || kfk_pos_cmp(&cand->q_pos[cand->qhead], &best->q_pos[best->qhead]) < 0) {
                best = cand;
                sl = cand_sl;
            }
        }
        if (spent)
            continue;
        if (!best)
            return KFK_OK;
        const kfk_pos_t *p = &best->q_pos[best->qhead];
        int kind = best->q_kind[best->qhead];
        if (kind == KFK_POS_RECORD && sl->has_pos && kfk_pos_cmp(p, &sl->pos) < 0)
            k->st.late++;
        if (kind != KFK_POS_NONE && (!sl->has_pos || kfk_pos_cmp(p, &sl->pos) > 0)) {
            sl->pos = *p;
            sl->has_pos = 1;
        }
        if (kind == KFK_POS_WM)
            k->st.watermarks++;
        if (pop_process(k, best) != KFK_OK)
            return KFK_FATAL;
    }
    return KFK_FATAL;
}



int kfk_origin_of(const rd_kafka_message_t *m, int64_t *part, int64_t *off)
{
    rd_kafka_headers_t *h;
    const void *v;
    size_t len;
    char buf[64];
    long long p, o;
    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(h, KFK_ORIGIN_HEADER, &v, &len) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        !v || len == 0 || len >= sizeof buf)
        return 0;
    memcpy(buf, v, len);
    buf[len] = '\0';
    if (sscanf(buf, "%lld/%lld", &p, &o) != 2)
        return 0;
    *part = p;
    *off = o;
    return 1;
}

/* Orders two held messages of one slot: timestamp, then raw origin (same
 * raw partition), then topic name.  < 0 when a goes first. */
static int aligned_cmp(rd_kafka_message_t *a, const char *ta, rd_kafka_message_t *b, const char *tb)
{
    int64_t x = rd_kafka_message_timestamp(a, NULL), y = rd_kafka_message_timestamp(b, NULL);
    if (x != y)
        return x < y ? -1 : 1;
    int64_t pa, pb, oa, ob;
    if (kfk_origin_of(a, &pa, &oa) && kfk_origin_of(b, &pb, &ob) && pa == pb && oa != ob)
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

/* Pacing (kfk_handler_t.pace_time): of every partition's held messages
 * the one with the smallest time goes out once every other partition has
 * one held or is caught up, or it waited align_ms.  O(partitions) per
 * message. */
static kfk_rc_t pace_release(kfk_t *k, int force)
{
    uint64_t wait_ns = (uint64_t)k->o.align_ms * 1000000ull;
    while (!k->fatal) {
        ktp_t *best = NULL;
        for (size_t i = 0; i < k->ntps; i++) {
            ktp_t *t = k->tps[i];
            if (t->qlen > 0 && (!best || kfk_pos_cmp(&t->q_pos[t->qhead], &best->q_pos[best->qhead]) < 0))
                best = t;
        }
        if (!best)
            return KFK_OK;
        if (!force && k->held <= KFK_ALIGN_MAX_HELD) {
            int behind = 0;   /* a partition behind has not been fetched yet */
            for (size_t i = 0; i < k->ntps && !behind; i++)
                behind = k->tps[i] != best && k->tps[i]->qlen == 0 && !caught_up(k, k->tps[i]);
            if (behind && wd_now_ns() - best->q_ns[best->qhead] < wait_ns)
                return KFK_OK;   /* the clock only then: it is read per message */
        }
        if (pop_process(k, best) != KFK_OK)
            return KFK_FATAL;
    }
    return KFK_FATAL;
}

/* Event-time alignment of co-partitioned inputs: of the messages held for
 * a slot, the first by aligned_cmp goes out once every other topic of the
 * slot has a message held, is caught up, or align_ms passed. */
kfk_rc_t kfk_align_release(kfk_t *k, int force)
{
    if (k->pace)
        return pace_release(k, force);
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
            if (pop_process(k, best) != KFK_OK)
                return KFK_FATAL;
            progressed = 1;
            break;   /* slots and partitions may have changed (commit, rewind) */
        }
        if (!progressed || k->fatal)
            return k->fatal ? KFK_FATAL : KFK_OK;
    }
}


/* kafka/kfk_frame.c — the records of the repartitioned path's internal
 * topics (kfk.h, "internal records"): format 2 writes a binary frame at
 * the start of the value, format 1 (still read) carried the same fields in
 * headers.  One writer (kfk_frame_put), one reader (kfk_frame_parse). */
#include "kafka/kfk_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/wd_util.h"

/* Format 2, fixed part (big-endian integers):
 *   0  u8   KFK_FRAME_MAGIC
 *   1  u8   flags: KFK_FRAME_F_WM, KFK_FRAME_F_IDLE
 *   2  u16  source topic length T
 *   4  i64  position: event time
 *  12  i64  position: source partition
 *  20  i64  position: source offset
 *  28  i32  source partition
 *  32  i64  source offset
 *  40  u32  carried values' length C (a multiple of 12)
 *  44  T bytes of the source topic, C bytes of carried values
 *      ((u32 slot, i64 value)*, as warden.cv), then the event's bytes. */
enum { F_FLAGS = 1, F_TLEN = 2, F_POS = 4, F_SPART = 28, F_SOFF = 32, F_CVLEN = 40 };
enum { KFK_FRAME_F_WM = 1, KFK_FRAME_F_IDLE = 2 };

/* A position as 24 bytes (ts, partition, offset, big-endian): in the
 * frame at F_POS, and format 1's warden.pos. */
static void pos_write(unsigned char *b, const kfk_pos_t *p)
{
    wd_put_be(b, (uint64_t)p->ts, 8);
    wd_put_be(b + 8, (uint64_t)p->part, 8);
    wd_put_be(b + 16, (uint64_t)p->off, 8);
}

static void pos_read(const unsigned char *b, kfk_pos_t *p)
{
    p->ts = (int64_t)wd_get_be(b, 8);
    p->part = (int64_t)wd_get_be(b + 8, 8);
    p->off = (int64_t)wd_get_be(b + 16, 8);
}

void kfk_pos_put(rd_kafka_headers_t *h, const kfk_pos_t *p)
{
    unsigned char b[24];
    pos_write(b, p);
    rd_kafka_header_add(h, KFK_POS_HEADER, -1, b, sizeof b);
}

int kfk_frame_put(wd_buf_t *out, const kfk_frame_t *f)
{
    size_t tl = f->kind == KFK_POS_RECORD ? f->src_topic_len : 0;
    size_t cl = f->kind == KFK_POS_RECORD ? f->cv_len : 0;
    if (tl > 0xffff || cl > 0xffffffffu || cl % 12)
        return -1;
    unsigned char b[KFK_FRAME_FIXED];
    b[0] = KFK_FRAME_MAGIC;
    b[F_FLAGS] = f->kind == KFK_POS_WM ? KFK_FRAME_F_WM : f->kind == KFK_POS_IDLE ? KFK_FRAME_F_IDLE : 0;
    wd_put_be(b + F_TLEN, tl, 2);
    kfk_pos_t pos = f->pos;
    if (f->kind == KFK_POS_IDLE)
        memset(&pos, 0, sizeof pos);
    pos_write(b + F_POS, &pos);
    wd_put_be(b + F_SPART, tl ? (uint32_t)f->src_partition : 0, 4);
    wd_put_be(b + F_SOFF, tl ? (uint64_t)f->src_offset : 0, 8);
    wd_put_be(b + F_CVLEN, cl, 4);
    if (wd_buf_reserve(out, sizeof b + tl + cl) != 0)
        return -1;
    wd_buf_add(out, b, sizeof b);
    if (tl)
        wd_buf_add(out, f->src_topic, tl);
    if (cl)
        wd_buf_add(out, f->cv, cl);
    return wd_buf_failed(out) ? -1 : 0;
}

/* Format 2: the frame at the start of val.  KFK_POS_NONE when it is cut
 * short or its lengths do not fit. */
static int parse_v2(const unsigned char *b, size_t len, kfk_frame_t *f)
{
    if (len < KFK_FRAME_FIXED)
        return KFK_POS_NONE;
    size_t tl = (size_t)wd_get_be(b + F_TLEN, 2), cl = (size_t)wd_get_be(b + F_CVLEN, 4);
    if (cl % 12 || tl + cl > len - KFK_FRAME_FIXED)
        return KFK_POS_NONE;
    f->format = 2;
    if (b[F_FLAGS] & KFK_FRAME_F_IDLE) {
        f->pos.ts = f->pos.part = f->pos.off = INT64_MAX;
        return f->kind = KFK_POS_IDLE;
    }
    pos_read(b + F_POS, &f->pos);
    if (b[F_FLAGS] & KFK_FRAME_F_WM)
        return f->kind = KFK_POS_WM;
    if (tl) {
        f->src_topic = (const char *)b + KFK_FRAME_FIXED;
        f->src_topic_len = tl;
        f->src_partition = (int32_t)wd_get_be(b + F_SPART, 4);
        f->src_offset = (int64_t)wd_get_be(b + F_SOFF, 8);
    }
    f->cv = cl ? b + KFK_FRAME_FIXED + tl : NULL;
    f->cv_len = cl;
    f->val = b + KFK_FRAME_FIXED + tl + cl;
    f->val_len = len - KFK_FRAME_FIXED - tl - cl;
    return f->kind = KFK_POS_RECORD;
}

/* Format 1's warden.src ("TOPIC/PARTITION/OFFSET"; the topic may hold
 * '/'), or nothing when it does not parse. */
static void parse_src_v1(const char *v, size_t len, kfk_frame_t *f)
{
    size_t s2 = len, s1;
    while (s2 > 0 && v[s2 - 1] != '/')
        s2--;
    if (s2 < 2)
        return;
    s1 = s2 - 1;
    while (s1 > 0 && v[s1 - 1] != '/')
        s1--;
    if (s1 < 2)
        return;
    char num[32];
    size_t pl = s2 - 1 - s1, ol = len - s2;
    if (pl == 0 || pl >= sizeof num || ol == 0 || ol >= sizeof num)
        return;
    memcpy(num, v + s1, pl);
    num[pl] = '\0';
    f->src_partition = (int32_t)atol(num);
    memcpy(num, v + s2, ol);
    num[ol] = '\0';
    f->src_offset = atoll(num);
    f->src_topic = v;
    f->src_topic_len = s1 - 1;
}

/* Format 1: the fields in headers (warden.wm, warden.pos, warden.src,
 * warden.cv), the value all event. */
static int parse_v1(const void *val, size_t len, const rd_kafka_headers_t *h, kfk_frame_t *f)
{
    const void *v;
    size_t vl;
    if (!h)
        return KFK_POS_NONE;
    f->format = 1;
    int wm = 0;
    if (rd_kafka_header_get_last(h, KFK_WM_HEADER, &v, &vl) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (v && vl == 4 && memcmp(v, "idle", 4) == 0) {
            f->pos.ts = f->pos.part = f->pos.off = INT64_MAX;
            return f->kind = KFK_POS_IDLE;
        }
        wm = 1;
    }
    if (rd_kafka_header_get_last(h, KFK_POS_HEADER, &v, &vl) != RD_KAFKA_RESP_ERR_NO_ERROR || !v || vl != 24)
        return KFK_POS_NONE;
    pos_read(v, &f->pos);
    if (wm)
        return f->kind = KFK_POS_WM;
    if (rd_kafka_header_get_last(h, KFK_SRC_HEADER, &v, &vl) == RD_KAFKA_RESP_ERR_NO_ERROR && v)
        parse_src_v1(v, vl, f);
    if (rd_kafka_header_get_last(h, KFK_CV_HEADER, &v, &vl) == RD_KAFKA_RESP_ERR_NO_ERROR && v && vl) {
        f->cv = v;
        f->cv_len = vl;
    }
    f->val = val;
    f->val_len = val ? len : 0;
    return f->kind = KFK_POS_RECORD;
}

int kfk_frame_parse(const void *val, size_t len, const rd_kafka_headers_t *h, kfk_frame_t *f)
{
    memset(f, 0, sizeof *f);
    if (val && len > 0 && *(const unsigned char *)val == KFK_FRAME_MAGIC)
        return parse_v2(val, len, f);
    return parse_v1(val, len, h, f);
}

int kfk_frame_of(const rd_kafka_message_t *m, kfk_frame_t *f)
{
    rd_kafka_headers_t *h = NULL;
    if (!(m->payload && m->len > 0 && *(const unsigned char *)m->payload == KFK_FRAME_MAGIC) &&
        rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
        h = NULL;
    return kfk_frame_parse(m->payload, m->len, h, f);
}

void kfk_frame_headers(const kfk_frame_t *f, rd_kafka_headers_t *h)
{
    if (f->kind == KFK_POS_IDLE) {
        rd_kafka_header_add(h, KFK_WM_HEADER, -1, "idle", -1);
        return;
    }
    if (f->kind == KFK_POS_WM)
        rd_kafka_header_add(h, KFK_WM_HEADER, -1, "1", -1);
    if (f->kind == KFK_POS_WM || f->kind == KFK_POS_RECORD)
        kfk_pos_put(h, &f->pos);
    if (f->kind != KFK_POS_RECORD)
        return;
    if (f->src_topic) {
        char sb[600];
        int n = snprintf(sb, sizeof sb, "%.*s/%d/%lld", (int)f->src_topic_len, f->src_topic,
                         (int)f->src_partition, (long long)f->src_offset);
        if (n > 0 && (size_t)n < sizeof sb)
            rd_kafka_header_add(h, KFK_SRC_HEADER, -1, sb, n);
    }
    if (f->cv_len)
        rd_kafka_header_add(h, KFK_CV_HEADER, -1, f->cv, (ssize_t)f->cv_len);
}

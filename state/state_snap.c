/* Snapshots and changelog records of state_t.  See state/state.h.
 *
 * Snapshot = 40-byte header + payload, all little-endian:
 *   "WRDNSTAT" | u32 version | u32 flags (0) | u64 spec fingerprint |
 *   u64 payload length | u32 CRC-32 of payload | u32 CRC-32 of the 36
 *   header bytes before it
 * payload = i64 clock | varint ncounters | (version 2) per counter: varint
 * name length, name, u64 fingerprint of its spec alone, u8 distinct |
 * varint nrecords | records,
 * records in global LRU order (least recently used first), each:
 *   varint table (counter index, or ncounters for labels) | varint klen |
 *   key | i64 head | body
 * body of a plain counter: varint nonzero slots, then (varint slot, varint
 * count) pairs; of a distinct counter: varint non-empty slots, then
 * (varint slot, u8 kind, set) with kind 1 = exact (varint n, n x u64
 * value hashes) or 2 = sketch (STATE_HLL_BYTES registers); labels: no body.
 * Ring slots are stored by position: ring sizes follow from the specs,
 * which the fingerprint pins.
 *
 * Changelog records (one per entry, state_log_*): below, before
 * state_log_changes. */
#include "state/state_int.h"
#include "base/wd_util.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SNAP_MAGIC   "WRDNSTAT"
#define SNAP_VERSION 2u      /* 1: no per-counter table; still read */
#define SNAP_HDR     40
#define ENTRY_MAGIC  "WRDE"
#define ENTRY_VERSION 2u      /* 1: whole-state fingerprint, never written to Kafka */
#define MAX_RING     512      /* the largest ring: 366d + slack, rounded up */

/* ---- CRC-32 (IEEE 802.3), slicing by 8 ---- */

static uint32_t crc_tab[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_tab[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_tab[t][i] = (crc_tab[t - 1][i] >> 8) ^ crc_tab[0][crc_tab[t - 1][i] & 255];
}

/* Continues crc (start with 0) over p[0..n). */
static uint32_t crc32_update(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&crc_once, crc_init);
    const unsigned char *p = data;
    crc = ~crc;
    while (n >= 8) {
        uint32_t a = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                            (uint32_t)p[3] << 24);
        crc = crc_tab[7][a & 255] ^ crc_tab[6][(a >> 8) & 255] ^ crc_tab[5][(a >> 16) & 255] ^
              crc_tab[4][a >> 24] ^ crc_tab[3][p[4]] ^ crc_tab[2][p[5]] ^ crc_tab[1][p[6]] ^
              crc_tab[0][p[7]];
        p += 8;
        n -= 8;
    }
    while (n--)
        crc = crc_tab[0][(crc ^ *p++) & 255] ^ (crc >> 8);
    return ~crc;
}

/* ---- writer: to a buffer or a file, with running length and CRC ---- */

typedef struct wr {
    wd_buf_t    *buf;
    FILE         *f;
    unsigned char tmp[1 << 16];
    size_t        tn;
    uint64_t      len;
    uint32_t      crc;
    int           nocrc;   /* len only: the caller needs no CRC, or takes it in one pass */
    int           err;
} wr_t;

static void wr_flush(wr_t *w)
{
    if (w->f && w->tn) {
        if (fwrite(w->tmp, 1, w->tn, w->f) != w->tn)
            w->err = errno ? errno : EIO;
        w->tn = 0;
    }
}

static void wr_bytes(wr_t *w, const void *p, size_t n)
{
    if (!w->nocrc)
        w->crc = crc32_update(w->crc, p, n);
    w->len += n;
    if (w->buf) {
        /* records are written a few bytes at a time: the common case
         * inline (wd_buf_add's room for the NUL kept) */
        wd_buf_t *b = w->buf;
        if (b->len + n < b->cap && !b->failed) {
            memcpy(b->data + b->len, p, n);
            b->len += n;
            b->data[b->len] = '\0';
        } else {
            wd_buf_add(b, p, n);
        }
        return;
    }
    if (w->tn + n > sizeof(w->tmp))
        wr_flush(w);
    if (n > sizeof(w->tmp)) {
        if (fwrite(p, 1, n, w->f) != n)
            w->err = errno ? errno : EIO;
        return;
    }
    memcpy(w->tmp + w->tn, p, n);
    w->tn += n;
}

/* v as a varint at b (room for 10 bytes); returns its length. */
static inline size_t put_varint(unsigned char *b, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        b[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (unsigned char)v;
    return n;
}

static void wr_varint(wr_t *w, uint64_t v)
{
    unsigned char b[10];
    wr_bytes(w, b, put_varint(b, v));
}

static void put_le(unsigned char *b, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *b, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static void wr_u64(wr_t *w, uint64_t v)
{
    unsigned char b[8];
    put_le(b, v, 8);
    wr_bytes(w, b, 8);
}

/* ---- reader ---- */

typedef struct rd {
    const unsigned char *p, *end;
    const char          *err;
} rd_t;

static int rd_varint(rd_t *r, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) {
            r->err = "truncated record";
            return -1;
        }
        unsigned char c = *r->p++;
        x |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *v = x;
            return 0;
        }
    }
    r->err = "bad varint";
    return -1;
}

static int rd_bytes(rd_t *r, const unsigned char **p, size_t n)
{
    if ((size_t)(r->end - r->p) < n) {
        r->err = "truncated record";
        return -1;
    }
    *p = r->p;
    r->p += n;
    return 0;
}

static int rd_u64(rd_t *r, uint64_t *v)
{
    const unsigned char *p;
    if (rd_bytes(r, &p, 8) != 0)
        return -1;
    *v = get_le(p, 8);
    return 0;
}

/* ---- records ---- */

static uint32_t head_slot(const st_counter_t *c, int L, int64_t head)
{
    int64_t b = st_fdiv(head, c->lv[L].gran);
    return c->lv[L].off + (uint32_t)((uint64_t)b & (c->lv[L].n - 1));
}

/* What rec_write writes besides the record's head and body. */
enum { REC_TABLE = 1, REC_KEY = 2 };

static void rec_write(const state_t *st, const st_tab_t *t, uint32_t idx, wr_t *w, int what)
{
    const st_rec_t *r = st_rec(t, idx);
    if (what & REC_TABLE)
        wr_varint(w, t->id);
    if (what & REC_KEY) {
        wr_varint(w, r->klen);
        wr_bytes(w, st_rec_key(r), r->klen);
    }
    wr_u64(w, (uint64_t)r->head);
    if (t->id >= st->nctr)
        return;
    const st_counter_t *c = &st->ctr[t->id];
    const void *pl = st_pay(t, idx);
    uint64_t nz = 0;
    if (!c->distinct) {
        /* the head bucket's counts (r->cur) go into their ring slots: read
         * in place (a record is written at every change and every commit:
         * no copy of the rings), the pairs packed here and written at once */
        const uint32_t *ring = (const uint32_t *)pl + c->base;
        uint32_t hs[ST_LEVELS] = { 0 }, hv[ST_LEVELS] = { 0 };
        int nh = 0;
        for (int L = 0; L < ST_LEVELS; L++)
            if (c->lv[L].n && r->cur[L]) {
                uint32_t at = head_slot(c, L, r->head);
                int h = 0;
                while (h < nh && hs[h] != at)
                    h++;
                if (h == nh) {
                    hs[nh] = at;
                    hv[nh++] = ring[at];
                }
                hv[h] += r->cur[L];
            }
        for (uint32_t i = 0; i < c->nslots; i++)
            nz += ring[i] != 0;
        for (int h = 0; h < nh; h++)
            nz += (uint64_t)(hv[h] != 0) - (uint64_t)(ring[hs[h]] != 0);
        wr_varint(w, nz);
        /* head slots in order, so the scan checks one at a time */
        for (int h = 1; h < nh; h++)
            for (int g = h; g > 0 && hs[g - 1] > hs[g]; g--) {
                uint32_t t0 = hs[g], t1 = hv[g];
                hs[g] = hs[g - 1];
                hv[g] = hv[g - 1];
                hs[g - 1] = t0;
                hv[g - 1] = t1;
            }
        unsigned char b[512];
        size_t n = 0;
        int nexth = 0;
        for (uint32_t i = 0; i < c->nslots; i++) {
            uint32_t x = ring[i];
            if (nexth < nh && hs[nexth] == i)
                x = hv[nexth++];
            if (x == 0)
                continue;
            if (n > sizeof(b) - 20) {
                wr_bytes(w, b, n);
                n = 0;
            }
            n += put_varint(b + n, i);
            n += put_varint(b + n, x);
        }
        wr_bytes(w, b, n);
        return;
    }
    st_dset_t *const *sets = pl;
    for (uint32_t i = 0; i < c->nslots; i++)
        nz += sets[i] != NULL;
    wr_varint(w, nz);
    for (uint32_t i = 0; i < c->nslots; i++) {
        const st_dset_t *s = sets[i];
        if (s == NULL)
            continue;
        wr_varint(w, i);
        if (s->n == ST_DSET_HLL) {
            unsigned char kind = 2;
            wr_bytes(w, &kind, 1);
            wr_bytes(w, s->v, STATE_HLL_BYTES);
        } else {
            unsigned char kind = 1;
            wr_bytes(w, &kind, 1);
            wr_varint(w, s->n);
            for (uint32_t k = 0; k < s->n; k++)
                wr_u64(w, s->v[k]);
        }
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Does v[0..n) (n <= ST_EXACT_MAX) hold a value twice? */
static int has_repeat(const uint64_t *v, uint32_t n)
{
    uint64_t s[ST_EXACT_MAX];
    memcpy(s, v, n * sizeof(*s));
    qsort(s, n, sizeof(*s), cmp_u64);
    for (uint32_t i = 1; i < n; i++)
        if (s[i] == s[i - 1])
            return 1;
    return 0;
}

/* Is ts a clock some run of accepted events could have left (INT64_MIN:
 * no event yet)? */
static int clock_ok(int64_t ts)
{
    return ts == INT64_MIN || (ts > -STATE_TS_LIMIT_MS && ts < STATE_TS_LIMIT_MS);
}

/* Decodes one record's key, head and body from rd into st (table given or
 * read), replacing an existing entry when replace, else refusing a
 * duplicate.  whole: the record must end where rd ends.  Everything is
 * allocated before st changes, so a failure leaves st as it was.  Returns
 * 0, or -1 with rd->err. */
static int rec_read(state_t *st, rd_t *rd, int64_t table, int replace, int tombstone,
                    int whole, int64_t clock)
{
    uint64_t id = 0, klen, head = 0, nz = 0;
    const unsigned char *key;
    if (table < 0) {
        if (rd_varint(rd, &id) != 0)
            return -1;
    } else {
        id = (uint64_t)table;
    }
    if (id > st->nctr) {
        rd->err = "record names an unknown counter";
        return -1;
    }
    if (rd_varint(rd, &klen) != 0)
        return -1;
    if (klen > STATE_MAX_KEY + 4u) {
        rd->err = "key too long";
        return -1;
    }
    if (rd_bytes(rd, &key, klen) != 0)
        return -1;
    st_tab_t *t = st_table(st, (uint32_t)id);
    if (id == st->nctr && (klen < 4 || get_le(key, 4) > klen - 4)) {
        rd->err = "bad label key";
        return -1;
    }
    uint64_t h = st_key_hash((const char *)key, klen);
    uint32_t idx;
    st_rec_t *old = st_find(t, (const char *)key, (uint32_t)klen, h, &idx);
    if (tombstone) {
        if (whole && rd->p != rd->end) {
            rd->err = "trailing bytes after the record";
            return -1;
        }
        if (old)
            st_remove(st, t, idx);
        return 0;
    }
    if (old && !replace) {
        rd->err = "duplicate key";
        return -1;
    }
    if (rd_u64(rd, &head) != 0)
        return -1;
    /* A counter's head is an event it counted: never after the clock (the
     * newest event time), never beyond what the engine accepts. */
    if (id < st->nctr && (clock == INT64_MIN || (int64_t)head > clock ||
                          (int64_t)head <= -STATE_TS_LIMIT_MS)) {
        rd->err = "record newer than the state's clock";
        return -1;
    }

    const st_counter_t *c = id < st->nctr ? &st->ctr[id] : NULL;
    uint32_t counts[MAX_RING * 3];
    st_dset_t *sets[MAX_RING * 3];
    uint32_t nslots = c ? c->nslots : 0;
    if (c) {
        memset(counts, 0, nslots * sizeof(counts[0]));
        memset(sets, 0, nslots * sizeof(sets[0]));
        if (rd_varint(rd, &nz) != 0)
            return -1;
        if (nz > nslots) {
            rd->err = "too many buckets";
            return -1;
        }
    }
    int64_t prev = -1;
    for (uint64_t k = 0; k < nz; k++) {
        uint64_t slot, v;
        if (rd_varint(rd, &slot) != 0)
            goto fail;
        if ((int64_t)slot <= prev || slot >= nslots) {
            rd->err = "bad bucket index";
            goto fail;
        }
        prev = (int64_t)slot;
        if (!c->distinct) {
            if (rd_varint(rd, &v) != 0)
                goto fail;
            if (v == 0 || v > UINT32_MAX) {
                rd->err = "bad bucket count";
                goto fail;
            }
            counts[slot] = (uint32_t)v;
            continue;
        }
        const unsigned char *kind, *data;
        if (rd_bytes(rd, &kind, 1) != 0)
            goto fail;
        if (*kind == 2) {
            if (rd_bytes(rd, &data, STATE_HLL_BYTES) != 0)
                goto fail;
            st_dset_t *s = st_malloc(st, sizeof(*s) + STATE_HLL_BYTES);
            if (s == NULL) {
                rd->err = "out of memory";
                goto fail;
            }
            s->n = ST_DSET_HLL;
            s->cap = 0;
            memcpy(s->v, data, STATE_HLL_BYTES);
            sets[slot] = s;
        } else if (*kind == 1) {
            if (rd_varint(rd, &v) != 0)
                goto fail;
            if (v == 0 || v > ST_EXACT_MAX) {
                rd->err = "bad distinct set size";
                goto fail;
            }
            if (rd_bytes(rd, &data, v * 8) != 0)
                goto fail;
            uint32_t cap = 4;
            while (cap < v)
                cap *= 2;
            st_dset_t *s = st_malloc(st, sizeof(*s) + (size_t)cap * 8);
            if (s == NULL) {
                rd->err = "out of memory";
                goto fail;
            }
            s->n = (uint32_t)v;
            s->cap = cap;
            for (uint64_t j = 0; j < v; j++)
                s->v[j] = get_le(data + 8 * j, 8);
            sets[slot] = s;
            if (has_repeat(s->v, s->n)) {
                rd->err = "distinct set holds a value twice";
                goto fail;
            }
        } else {
            rd->err = "bad distinct set kind";
            goto fail;
        }
    }

    if (whole && rd->p != rd->end) {
        rd->err = "trailing bytes after the record";
        goto fail;
    }
    st_rec_t *r;
    if (st_queue_reserve(st, t) != 0) {
        rd->err = "out of memory";
        goto fail;
    }
    if (old) {
        r = old;
        st->bytes -= st_rec_bytes(st, t, idx);
        if (c && c->distinct) {
            st_dset_t **cur = st_pay(t, idx);
            for (uint32_t i = 0; i < nslots; i++)
                free(cur[i]);
        }
    } else {
        r = st_insert(st, t, (const char *)key, (uint32_t)klen, h, &idx);
        if (r == NULL) {
            rd->err = "out of memory";
            goto fail;
        }
        st->bytes -= st_rec_bytes(st, t, idx);
    }
    r->head = (int64_t)head;
    if (c && !c->distinct)
        for (int L = 0; L < ST_LEVELS; L++) {
            r->cur[L] = 0;
            if (c->lv[L].n) {
                uint32_t hs = head_slot(c, L, r->head);
                r->cur[L] = counts[hs];
                counts[hs] = 0;
            }
        }
    if (c && c->distinct) {
        memcpy(st_pay(t, idx), sets, (size_t)nslots * sizeof(void *));
    } else if (c) {
        uint32_t *pay = st_pay(t, idx);
        memcpy(pay + c->base, counts, (size_t)nslots * sizeof(uint32_t));
        st_resum(c, r, pay);
    }
    st->bytes += st_rec_bytes(st, t, idx);
    st_touch(st, t, r, idx);
    return 0;
fail:
    for (uint32_t i = 0; c && c->distinct && i < nslots; i++)
        free(sets[i]);
    return -1;
}

/* ---- snapshots ---- */

/* Writes header placeholder + payload through w; the caller patches the
 * header from w's length and CRC. */
/* Reads past one record (after its table id) of a counter this state no
 * longer has: key, head and the body its kind implies.  0 or -1. */
static int rec_skip(rd_t *rd, int counter, int distinct)
{
    uint64_t klen, head, nz, slot, v;
    const unsigned char *p;
    if (rd_varint(rd, &klen) != 0 || klen > STATE_MAX_KEY + 4u || rd_bytes(rd, &p, klen) != 0 ||
        rd_u64(rd, &head) != 0)
        return -1;
    if (!counter)
        return 0;
    if (rd_varint(rd, &nz) != 0)
        return -1;
    if (nz > MAX_RING * 3) {
        rd->err = "too many buckets";
        return -1;
    }
    for (uint64_t k = 0; k < nz; k++) {
        if (rd_varint(rd, &slot) != 0)
            return -1;
        if (!distinct) {
            if (rd_varint(rd, &v) != 0)
                return -1;
            continue;
        }
        if (rd_bytes(rd, &p, 1) != 0)
            return -1;
        if (*p == 2) {
            if (rd_bytes(rd, &p, STATE_HLL_BYTES) != 0)
                return -1;
        } else if (*p == 1) {
            if (rd_varint(rd, &v) != 0)
                return -1;
            if (v == 0 || v > ST_EXACT_MAX) {
                rd->err = "bad distinct set size";
                return -1;
            }
            if (rd_bytes(rd, &p, v * 8) != 0)
                return -1;
        } else {
            rd->err = "bad distinct set kind";
            return -1;
        }
    }
    return 0;
}

static void snap_payload(const state_t *st, wr_t *w)
{
    wr_u64(w, (uint64_t)st->clock);
    wr_varint(w, st->nctr);
    for (size_t i = 0; i < st->nctr; i++) {
        const st_counter_t *c = &st->ctr[i];
        unsigned char d = (unsigned char)(c->distinct != 0);
        wr_varint(w, strlen(c->name));
        wr_bytes(w, c->name, strlen(c->name));
        wr_u64(w, c->fp);
        wr_bytes(w, &d, 1);
    }
    uint64_t n = 0;
    for (size_t i = 0; i <= st->nctr; i++)
        n += (i < st->nctr ? &st->ctr[i].tab : &st->labels)->used;
    wr_varint(w, n);
    /* k-way merge of the tables' queues by touch sequence: global LRU order. */
    uint64_t *pos = calloc(st->nctr + 1, sizeof(*pos));
    if (pos == NULL) {
        w->err = ENOMEM;
        return;
    }
    for (size_t i = 0; i <= st->nctr; i++)
        pos[i] = (i < st->nctr ? &st->ctr[i].tab : &st->labels)->q.lo;
    for (;;) {
        const st_tab_t *best = NULL;
        const st_rec_t *br = NULL;
        uint32_t bidx = 0;
        size_t bi = 0;
        for (size_t i = 0; i <= st->nctr; i++) {
            const st_tab_t *t = i < st->nctr ? &st->ctr[i].tab : &st->labels;
            while (pos[i] < t->q.hi) {
                const st_rec_t *r = st_rec(t, t->q.e[pos[i] & t->q.mask]);
                if (r->klen != ST_FREE && r->qpos == pos[i])
                    break;
                pos[i]++;
            }
            if (pos[i] == t->q.hi)
                continue;
            uint32_t ri = t->q.e[pos[i] & t->q.mask];
            const st_rec_t *r = st_rec(t, ri);
            if (br == NULL || r->tseq < br->tseq) {
                best = t;
                br = r;
                bidx = ri;
                bi = i;
            }
        }
        if (best == NULL)
            break;
        rec_write(st, best, bidx, w, REC_TABLE | REC_KEY);
        pos[bi]++;
    }
    free(pos);
}

static void snap_header(unsigned char *h, uint64_t fp, uint64_t len, uint32_t crc)
{
    memcpy(h, SNAP_MAGIC, 8);
    put_le(h + 8, SNAP_VERSION, 4);
    put_le(h + 12, 0, 4);
    put_le(h + 16, fp, 8);
    put_le(h + 24, len, 8);
    put_le(h + 32, crc, 4);
    put_le(h + 36, crc32_update(0, h, 36), 4);
}

int state_save_buf(const state_t *st, wd_buf_t *out)
{
    size_t start = out->len;
    unsigned char hdr[SNAP_HDR] = { 0 };
    wd_buf_add(out, hdr, SNAP_HDR);
    wr_t *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        out->len = start;
        return STATE_ENOMEM;
    }
    w->buf = out;
    snap_payload(st, w);
    int err = w->err;
    if (!err) {
        snap_header(hdr, st->fingerprint, w->len, w->crc);
        memcpy(out->data + start, hdr, SNAP_HDR);
    } else {
        out->len = start;
    }
    free(w);
    return err ? STATE_ENOMEM : 0;
}

size_t state_empty_snapshot_size(const state_t *st)
{
    /* header, clock, two varint counts, the counter table */
    size_t n = SNAP_HDR + 8 + 2 * 10;
    for (size_t i = 0; i < st->nctr; i++)
        n += 10 + strlen(st->ctr[i].name) + 8 + 1;
    return n;
}

int state_save_buf_within(state_t *st, wd_buf_t *out, size_t limit, uint64_t *evicted)
{
    if (evicted)
        *evicted = 0;
    if (limit < state_empty_snapshot_size(st))
        return STATE_ETOOBIG;
    size_t start = out->len;
    uint64_t ev0 = st->evictions;
    size_t ceiling = st->max_bytes;
    int rc = 0;
    /* Snapshot bytes track accounted bytes closely but not exactly (sets,
     * long keys), so shrink by the measured ratio with a margin, again
     * harder if that was not enough, and at last to nothing — which fits. */
    for (int tries = 0;; tries++) {
        out->len = start;
        rc = state_save_buf(st, out);
        if (rc != 0 || out->len - start <= limit)
            break;
        if (st->nkeys == 0 && st->labels.used == 0) {
            rc = STATE_ETOOBIG;   /* cannot happen: the size check above */
            break;
        }
        double keep = (double)limit / (double)(out->len - start) * (tries < 2 ? 0.9 : 0.5);
        size_t target = tries < 6 ? (size_t)((double)st->bytes * keep) : 0;
        state_set_max_bytes(st, target ? target : 1);
    }
    st->max_bytes = ceiling;
    if (rc != 0)
        out->len = start;
    if (evicted)
        *evicted = st->evictions - ev0;
    return rc;
}

int state_save_file(const state_t *st, const char *path, char *errstr,
                        size_t errstr_size)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    wr_t *w = calloc(1, sizeof(*w));
    int rc = -1;
    if (tmp == NULL || w == NULL) {
        snprintf(errstr, errstr_size, "%s: out of memory", path);
        goto done;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        /* The rename below would replace a device or a FIFO (as root,
         * /dev/full itself) with a regular file and report success. */
        snprintf(errstr, errstr_size, "%s: not a regular file", path);
        goto done;
    }
    w->f = fopen(tmp, "wb");
    if (w->f == NULL) {
        snprintf(errstr, errstr_size, "%s: %s", tmp, strerror(errno));
        goto done;
    }
    unsigned char hdr[SNAP_HDR] = { 0 };
    if (fwrite(hdr, 1, SNAP_HDR, w->f) != SNAP_HDR)
        w->err = errno ? errno : EIO;
    snap_payload(st, w);
    wr_flush(w);
    snap_header(hdr, st->fingerprint, w->len, w->crc);
    if (!w->err && (fseek(w->f, 0, SEEK_SET) != 0 || fwrite(hdr, 1, SNAP_HDR, w->f) != SNAP_HDR ||
                    fflush(w->f) != 0 || fsync(fileno(w->f)) != 0))
        w->err = errno ? errno : EIO;
    if (fclose(w->f) != 0 && !w->err)
        w->err = errno ? errno : EIO;
    w->f = NULL;
    if (w->err) {
        snprintf(errstr, errstr_size, "%s: %s", tmp, strerror(w->err));
        unlink(tmp);
        goto done;
    }
    if (rename(tmp, path) != 0) {
        snprintf(errstr, errstr_size, "%s: rename to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        goto done;
    }
    rc = 0;
done:
    free(tmp);
    free(w);
    return rc;
}

static void journal_reset(state_t *st);

/* Swaps the loaded content into st; st keeps its ceiling, its process
 * counters (stats) and the test hook. */
static void adopt(state_t *st, state_t *tmp)
{
    state_t old = *st;
    *st = *tmp;
    st->j = old.j;   /* tracking stays on: reset below */
    old.j = NULL;
    st->js = old.js; /* a sealed batch is not loaded over: there is none (kafka/) */
    st->js_live = 0;
    old.js = NULL;
    st->max_bytes = old.max_bytes;
    st->late_skipped = old.late_skipped;
    st->evictions = old.evictions;
    st->expired = old.expired;
    *tmp = old;
    state_destroy(tmp);
    if (st->j)
        st->j->quiet++;
    st_enforce_ceiling(st, UINT32_MAX, 0);
    if (st->j) {
        st->j->quiet--;
        journal_reset(st);   /* the loaded state is the committed one */
    }
}

/* The loader of both load_buf calls.  carry NULL: the snapshot must be of
 * exactly these counters.  Else counters are matched by name and spec
 * fingerprint (version 2 snapshots): the records of a matched counter
 * load, those of a counter that is gone or changed are passed over, and
 * labels always load; carry says how it went. */
static int load_buf(state_t *st, const void *buf, size_t len, state_carry_t *carry,
                    char *errstr, size_t errstr_size)
{
    const unsigned char *b = buf;
    if (len < SNAP_HDR || memcmp(b, SNAP_MAGIC, 8) != 0) {
        snprintf(errstr, errstr_size, "not a warden state snapshot%s",
                 len < SNAP_HDR ? " (too short)" : " (bad magic)");
        return -1;
    }
    if (crc32_update(0, b, 36) != (uint32_t)get_le(b + 36, 4)) {
        snprintf(errstr, errstr_size, "snapshot header checksum mismatch (corrupt file)");
        return -1;
    }
    uint32_t version = (uint32_t)get_le(b + 8, 4);
    if (version < 1 || version > SNAP_VERSION) {
        snprintf(errstr, errstr_size,
                 "snapshot format version %u is not supported (this build reads versions 1 to %u)",
                 version, SNAP_VERSION);
        return -1;
    }
    uint32_t flags = (uint32_t)get_le(b + 12, 4);
    if (flags != 0) {
        snprintf(errstr, errstr_size, "snapshot has unknown flags 0x%08x (this build knows none)", flags);
        return -1;
    }
    uint64_t fp = get_le(b + 16, 8), plen = get_le(b + 24, 8);
    int same = fp == st->fingerprint;
    if (!same && (carry == NULL || version < 2)) {
        snprintf(errstr, errstr_size,
                 "snapshot was written for other counters (spec fingerprint %016llx, "
                 "this rule pack has %016llx)",
                 (unsigned long long)fp, (unsigned long long)st->fingerprint);
        return -1;
    }
    if (plen != len - SNAP_HDR) {
        snprintf(errstr, errstr_size, "snapshot %s: header says %llu payload bytes, found %llu",
                 plen > len - SNAP_HDR ? "truncated" : "has trailing bytes",
                 (unsigned long long)plen, (unsigned long long)(len - SNAP_HDR));
        return -1;
    }
    if (crc32_update(0, b + SNAP_HDR, plen) != (uint32_t)get_le(b + 32, 4)) {
        snprintf(errstr, errstr_size, "snapshot payload checksum mismatch (corrupt file)");
        return -1;
    }
    state_t *tmp = state_new_like(st);
    if (tmp == NULL) {
        st->fail_after = 0;
        snprintf(errstr, errstr_size, "out of memory loading the snapshot");
        return -1;
    }
    rd_t rd = { b + SNAP_HDR, b + len, NULL };
    uint64_t clock, nctr, nrec;
    int64_t *map = NULL;          /* old counter index -> new, or -1 */
    unsigned char *odist = NULL;  /* old counter is distinct */
    state_carry_t c = { same, 0, 0, 0, 0 };
    if (rd_u64(&rd, &clock) != 0 || rd_varint(&rd, &nctr) != 0)
        goto bad;
    if (!clock_ok((int64_t)clock)) {
        rd.err = "impossible clock (beyond the event times the engine accepts)";
        rd.p = b + SNAP_HDR;
        goto bad;
    }
    if (same && nctr != st->nctr) {
        rd.err = "counter count differs";
        goto bad;
    }
    if (!same && nctr > (uint64_t)(rd.end - rd.p) / 10) {   /* a v2 table entry takes >= 10 bytes */
        rd.err = "too many counters";
        goto bad;
    }
    map = malloc((nctr + 1) * sizeof(*map));
    odist = calloc(nctr + 1, 1);
    if (map == NULL || odist == NULL) {
        rd.err = "out of memory";
        goto bad;
    }
    for (uint64_t i = 0; i < nctr; i++) {
        map[i] = same ? (int64_t)i : -1;
        if (version < 2)
            continue;
        uint64_t nl, cfp;
        const unsigned char *name, *d;
        if (rd_varint(&rd, &nl) != 0 || rd_bytes(&rd, &name, nl) != 0 || rd_u64(&rd, &cfp) != 0 ||
            rd_bytes(&rd, &d, 1) != 0)
            goto bad;
        odist[i] = *d != 0;
        if (same) {
            /* The fingerprint says these are st's counters: so must the table. */
            const st_counter_t *sc = &st->ctr[i];
            if (strlen(sc->name) != nl || memcmp(sc->name, name, nl) != 0 || sc->fp != cfp ||
                (sc->distinct != 0) != odist[i]) {
                rd.err = "counter table does not match the spec fingerprint";
                goto bad;
            }
            continue;
        }
        for (size_t j = 0; j < st->nctr; j++)
            if (strlen(st->ctr[j].name) == nl && memcmp(st->ctr[j].name, name, nl) == 0 &&
                st->ctr[j].fp == cfp && st->ctr[j].distinct == odist[i])
                map[i] = (int64_t)j;
        if (map[i] < 0)
            c.dropped++;
        else
            c.kept++;
    }
    if (same)
        c.kept = (size_t)nctr;
    map[nctr] = (int64_t)st->nctr;   /* labels */
    if (rd_varint(&rd, &nrec) != 0)
        goto bad;
    for (uint64_t i = 0; i < nrec; i++) {
        uint64_t id;
        if (rd_varint(&rd, &id) != 0)
            goto bad;
        if (id > nctr) {
            rd.err = "record names an unknown counter";
            goto bad;
        }
        if (map[id] < 0) {
            if (rec_skip(&rd, id < nctr, odist[id]) != 0)
                goto bad;
            c.records_dropped++;
            continue;
        }
        if (rec_read(tmp, &rd, map[id], 0, 0, 0, (int64_t)clock) != 0)
            goto bad;
        c.records++;
    }
    if (rd.p != rd.end) {
        rd.err = "trailing bytes after the last record";
        goto bad;
    }
    if ((int64_t)clock != INT64_MIN)
        st_set_clock(tmp, (int64_t)clock);
    st->fail_after = tmp->fail_after;
    adopt(st, tmp);
    free(map);
    free(odist);
    if (carry)
        *carry = c;
    return 0;
bad:
    st->fail_after = tmp->fail_after;
    snprintf(errstr, errstr_size, "snapshot rejected: %s at payload byte %zu", rd.err ? rd.err : "bad data",
             (size_t)(rd.p - (b + SNAP_HDR)));
    state_destroy(tmp);
    free(map);
    free(odist);
    return -1;
}

int state_load_buf(state_t *st, const void *buf, size_t len, char *errstr,
                       size_t errstr_size)
{
    return load_buf(st, buf, len, NULL, errstr, errstr_size);
}

int state_load_buf_carry(state_t *st, const void *buf, size_t len, state_carry_t *carry,
                             char *errstr, size_t errstr_size)
{
    return load_buf(st, buf, len, carry, errstr, errstr_size);
}

int state_load_file(state_t *st, const char *path, char *errstr, size_t errstr_size)
{
    char *data = NULL;
    size_t len = 0;
    if (wd_read_file(path, &data, &len, errstr, errstr_size) != 0)
        return -1;
    char err[400];
    int rc = 0;
    if (state_load_buf(st, data, len, err, sizeof(err)) != 0) {
        snprintf(errstr, errstr_size, "%s: %s", path, err);
        rc = -1;
    }
    free(data);
    return rc;
}

/* ---- the per-key changelog ---- */

/* Record id: u8 kind, then
 *   'C' counter entry: varint name length | counter name | key
 *   'L' label:         the label's table key (u32 entity length | entity | label)
 *   'K' the clock:     nothing
 * Record value: "WRDE" | u8 version | u8 kind (as the id) | u64 spec
 * fingerprint of the counter (0 for labels and the clock) | i64 clock |
 * the record as in a snapshot without its table and key (i64 head | body;
 * nothing for the clock; the key is the id's) | u32 CRC-32 of everything
 * before. */
#define LOG_HDR 22

/* A journal's writer (st_journal_t.w): of the undo values as they are
 * noted, and at the commit of the records (state_log_changes, which notes
 * nothing), with the record's id and value kept between commits.  No
 * running CRC: an undo value has none, a record's is taken in one pass. */
typedef struct jw {
    wr_t     w;
    wd_buf_t id, val;
} jw_t;

static st_journal_t *journal_new(void)
{
    st_journal_t *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return NULL;
    jw_t *jw = calloc(1, sizeof(*jw));
    j->w = jw;
    if (jw)
        jw->w.nocrc = 1;
    if (j->w == NULL) {
        free(j);
        return NULL;
    }
    j->clock0 = INT64_MIN;
    return j;
}

static void journal_reset_one(state_t *st, st_journal_t *j)
{
    j->n = 0;
    if (j->mask)
        memset(j->index, 0, ((size_t)j->mask + 1) * sizeof(*j->index));
    /* a migration or a big batch leaves big buffers: let them go */
    if (j->data.cap > (64u << 20)) {
        wd_buf_free(&j->data);
        free(j->index);
        j->index = NULL;
        j->mask = 0;
        free(j->e);
        j->e = NULL;
        j->cap = 0;
    }
    wd_buf_reset(&j->data);
    j->clock0 = st->clock;
    j->broken = 0;
}

static void journal_reset(state_t *st) { journal_reset_one(st, st->j); }

static void journal_free(st_journal_t *j)
{
    if (j == NULL)
        return;
    free(j->e);
    free(j->index);
    wd_buf_free(&j->data);
    jw_t *jw = j->w;
    wd_buf_free(&jw->id);
    wd_buf_free(&jw->val);
    free(jw);
    free(j);
}

void st_journal_free(state_t *st)
{
    journal_free(st->j);
    journal_free(st->js);
    st->j = st->js = NULL;
    st->js_live = 0;
}

int state_log_track(state_t *st, int on)
{
    if (!on) {
        st_journal_free(st);
        return 0;
    }
    if (st->j == NULL && (st->j = journal_new()) == NULL)
        return STATE_ENOMEM;
    journal_reset(st);
    st->j->all = 0;
    return 0;
}

static uint64_t jhash(uint32_t tab, const char *k, uint32_t klen)
{
    return st_key_hash(k, klen) ^ ((uint64_t)tab + 1) * 0x9e3779b97f4a7c15ull;
}

static st_jent_t *jfind(const st_journal_t *j, uint32_t tab, const char *k, uint32_t klen,
                        uint64_t h, uint32_t *slot)
{
    if (j->mask == 0)
        return NULL;
    uint32_t i = (uint32_t)h & j->mask;
    for (; j->index[i]; i = (i + 1) & j->mask) {
        st_jent_t *e = &j->e[j->index[i] - 1];
        if (e->h == h && e->tab == tab && e->klen == klen &&
            memcmp(j->data.data + e->key_off, k, klen) == 0)
            return e;
    }
    *slot = i;
    return NULL;
}

static int jgrow(state_t *st)
{
    st_journal_t *j = st->j;
    if (j->n == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 256;
        if (cap > UINT32_MAX / 2)
            return -1;
        st_jent_t *e = st_realloc(st, j->e, cap * sizeof(*e));
        if (e == NULL)
            return -1;
        j->e = e;
        j->cap = cap;
    }
    if ((uint64_t)(j->n + 1) * 2 > (uint64_t)j->mask + 1 || j->mask == 0) {
        uint32_t size = j->mask ? (j->mask + 1) * 2 : 512;
        uint32_t *ix = st_calloc(st, size, sizeof(*ix));
        if (ix == NULL)
            return -1;
        for (size_t n = 0; n < j->n; n++) {
            uint32_t i = (uint32_t)j->e[n].h & (size - 1);
            while (ix[i])
                i = (i + 1) & (size - 1);
            ix[i] = (uint32_t)n + 1;
        }
        free(j->index);
        j->index = ix;
        j->mask = size - 1;
    }
    return 0;
}

int st_jnote(state_t *st, st_tab_t *t, const char *k, uint32_t klen, const st_rec_t *r,
             uint32_t idx)
{
    st_journal_t *j = st->j;
    if (j->quiet)
        return 0;
    uint64_t h = jhash(t->id, k, klen);
    uint32_t slot = 0;
    if (jfind(j, t->id, k, klen, h, &slot))
        return 0;
    if (jgrow(st) != 0) {
        j->broken = 1;
        return -1;
    }
    if (jfind(j, t->id, k, klen, h, &slot) != NULL)
        return 0;   /* not reached: the index only grew */
    st_jent_t *e = &j->e[j->n];
    e->h = h;
    e->tab = t->id;
    e->klen = klen;
    e->key_off = j->data.len;
    wd_buf_add(&j->data, k, klen);
    e->pre_off = j->data.len;
    e->pre_len = 0;
    if (r) {
        wr_t *w = &((jw_t *)j->w)->w;
        w->buf = &j->data;
        w->len = 0;
        rec_write(st, t, idx, w, REC_KEY);
        e->pre_len = (uint32_t)w->len;
    }
    j->index[slot] = (uint32_t)++j->n;
    return 0;
}

size_t state_log_pending(const state_t *st) { return st->j ? st->j->n : 0; }

void state_log_mark_all(state_t *st)
{
    if (st->j)
        st->j->all = 1;
}

void state_log_commit(state_t *st)
{
    if (st->j == NULL)
        return;
    if (st->js_live) {
        /* the sealed batch is durable; the open one's log stays */
        journal_reset_one(st, st->js);
        st->js->all = 0;
        st->js_live = 0;
        return;
    }
    journal_reset(st);
    st->j->all = 0;
}

int state_log_seal(state_t *st)
{
    if (st->j == NULL)
        return 0;
    assert(!st->js_live);   /* one sealed batch at a time */
    if (st->js == NULL && (st->js = journal_new()) == NULL)
        return STATE_ENOMEM;
    st_journal_t *sealed = st->j;
    st->j = st->js;
    st->js = sealed;
    st->js_live = 1;
    st->j->broken = 0;
    journal_reset(st);
    st->j->all = 0;
    return 0;
}

/* Writes the record id of table t's key k to out. */
static void log_id(const state_t *st, uint32_t tab, const char *k, uint32_t klen, wd_buf_t *out)
{
    wd_buf_reset(out);
    if (tab < st->nctr) {
        const char *name = st->ctr[tab].name;
        size_t nl = strlen(name);
        unsigned char v[10];
        size_t n = 0;
        uint64_t x = nl;
        while (x >= 0x80) {
            v[n++] = (unsigned char)(x | 0x80);
            x >>= 7;
        }
        v[n++] = (unsigned char)x;
        wd_buf_addc(out, 'C');
        wd_buf_add(out, v, n);
        wd_buf_add(out, name, nl);
    } else {
        wd_buf_addc(out, 'L');
    }
    wd_buf_add(out, k, klen);
}

/* Writes the record value of table t's record idx (or the clock, t NULL)
 * to w's buffer; w keeps no running CRC (jw_t). */
static void log_value(const state_t *st, const st_tab_t *t, uint32_t idx, wr_t *w)
{
    unsigned char hdr[LOG_HDR];
    memcpy(hdr, ENTRY_MAGIC, 4);
    hdr[4] = ENTRY_VERSION;
    hdr[5] = t == NULL ? 'K' : t->id < st->nctr ? 'C' : 'L';
    put_le(hdr + 6, t && t->id < st->nctr ? st->ctr[t->id].fp : 0, 8);
    put_le(hdr + 14, (uint64_t)st->clock, 8);
    size_t start = w->buf->len;
    w->len = 0;
    wr_bytes(w, hdr, sizeof(hdr));
    if (t)
        rec_write(st, t, idx, w, 0);   /* without its key: the id has it */
    unsigned char c[4];
    put_le(c, crc32_update(0, w->buf->data + start, w->buf->len - start), 4);
    wd_buf_add(w->buf, c, 4);
}

typedef struct log_out {
    wd_buf_t *id, *val;
    wr_t     *w;
} log_out_t;

static int emit_entry(state_t *st, st_tab_t *t, const char *k, uint32_t klen, log_out_t *o,
                      int pre_exists, state_log_emit_fn emit, void *ud)
{
    uint32_t idx;
    const st_rec_t *r = st_find(t, k, klen, st_key_hash(k, klen), &idx);
    if (r && st_rec_expired(st, t, r))
        r = NULL;
    if (r == NULL && !pre_exists)
        return 0;   /* came and went in the batch: the changelog never had it */
    log_id(st, t->id, k, klen, o->id);
    if (r == NULL)
        return wd_buf_failed(o->id) ? STATE_ENOMEM : emit(ud, o->id->data, o->id->len, NULL, 0);
    wd_buf_reset(o->val);
    o->w->buf = o->val;
    log_value(st, t, idx, o->w);
    if (wd_buf_failed(o->id) || wd_buf_failed(o->val))
        return STATE_ENOMEM;
    return emit(ud, o->id->data, o->id->len, o->val->data, o->val->len);
}

int state_log_changes(state_t *st, state_log_emit_fn emit, void *ud)
{
    st_journal_t *j = st->j;
    if (j == NULL || j->broken)
        return STATE_ENOMEM;
    jw_t *jw = j->w;
    log_out_t o = { &jw->id, &jw->val, &jw->w };
    int rc = 0;
    if (j->all) {
        /* every live entry, then the entries gone that the changelog had */
        for (size_t i = 0; rc == 0 && i <= st->nctr; i++) {
            st_tab_t *t = st_table(st, (uint32_t)i);
            for (uint32_t x = 0; rc == 0 && x < t->nrec; x++) {
                const st_rec_t *r = st_rec(t, x);
                if (r->klen == ST_FREE || st_rec_expired(st, t, r))
                    continue;
                rc = emit_entry(st, t, st_rec_key(r), r->klen, &o, 1, emit, ud);
            }
        }
        for (size_t i = 0; rc == 0 && i < j->n; i++) {
            const st_jent_t *e = &j->e[i];
            st_tab_t *t = st_table(st, e->tab);
            const char *k = j->data.data + e->key_off;
            uint32_t idx;
            const st_rec_t *r = st_find(t, k, e->klen, st_key_hash(k, e->klen), &idx);
            if (r == NULL || st_rec_expired(st, t, r))
                rc = emit_entry(st, t, k, e->klen, &o, e->pre_len != 0, emit, ud);
        }
    } else {
        for (size_t i = 0; rc == 0 && i < j->n; i++) {
            const st_jent_t *e = &j->e[i];
            rc = emit_entry(st, st_table(st, e->tab), j->data.data + e->key_off, e->klen, &o,
                            e->pre_len != 0, emit, ud);
        }
    }
    if (rc == 0 && (st->clock != j->clock0 || j->all)) {
        wd_buf_reset(o.val);
        o.w->buf = o.val;
        log_value(st, NULL, 0, o.w);
        rc = wd_buf_failed(o.val) ? STATE_ENOMEM : emit(ud, "K", 1, o.val->data, o.val->len);
    }
    /* a migration's buffers can be big: let them go (journal_reset_one) */
    if (jw->id.cap > (1u << 20))
        wd_buf_free(&jw->id);
    if (jw->val.cap > (1u << 20))
        wd_buf_free(&jw->val);
    wd_buf_reset(&jw->id);
    wd_buf_reset(&jw->val);
    return rc;
}

/* Puts back what journal j noted (entries and clock as at its start). */
static int journal_undo(state_t *st, st_journal_t *j)
{
    j->quiet = 1;
    /* First out with every changed entry (so the bytes never exceed what
     * they were at the commit), then the old values back in. */
    for (size_t i = 0; i < j->n; i++) {
        const st_jent_t *e = &j->e[i];
        st_tab_t *t = st_table(st, e->tab);
        const char *k = j->data.data + e->key_off;
        uint32_t idx;
        if (st_find(t, k, e->klen, st_key_hash(k, e->klen), &idx))
            st_remove(st, t, idx);
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < j->n; i++) {
        const st_jent_t *e = &j->e[i];
        if (e->pre_len == 0)
            continue;
        const unsigned char *p = (const unsigned char *)j->data.data + e->pre_off;
        rd_t rd = { p, p + e->pre_len, NULL };
        if (rec_read(st, &rd, e->tab, 1, 0, 1, INT64_MAX) != 0)   /* our own pre-image */
            rc = STATE_ENOMEM;
    }
    st_set_clock(st, j->clock0);
    j->quiet = 0;
    return rc;
}

int state_log_rollback(state_t *st)
{
    st_journal_t *j = st->j;
    if (j == NULL)
        return 0;
    if (j->broken || (st->js_live && st->js->broken))
        return STATE_ENOMEM;
    /* the open batch back to the seal, then the sealed one back to the
     * last commit (st_remove notes nothing while j is quiet) */
    int rc = journal_undo(st, j);
    int all = j->all;
    if (rc == 0 && st->js_live) {
        st_journal_t *sj = st->js;
        sj->quiet = 1;
        j->quiet = 1;
        st->j = sj;   /* st_remove and rec_read note into st->j: the sealed, quiet */
        rc = journal_undo(st, sj);
        st->j = j;
        j->quiet = 0;
        all |= sj->all;
        journal_reset_one(st, sj);
        sj->all = 0;
        st->js_live = 0;
    }
    if (rc != 0)
        return rc;
    journal_reset(st);
    j->all = all;
    return 0;
}

/* A record applied on restore for an entry already in the log (an
 * eviction earlier in the restore): the committed value is the applied
 * one now. */
static void jrefresh(state_t *st, st_tab_t *t, const char *k, uint32_t klen)
{
    st_journal_t *j = st->j;
    uint32_t slot;
    st_jent_t *e = j ? jfind(j, t->id, k, klen, jhash(t->id, k, klen), &slot) : NULL;
    if (e == NULL)
        return;
    uint32_t idx;
    const st_rec_t *r = st_find(t, k, klen, st_key_hash(k, klen), &idx);
    e->pre_len = 0;
    if (r) {
        wr_t *w = &((jw_t *)j->w)->w;
        w->buf = &j->data;
        w->len = 0;
        e->pre_off = j->data.len;
        rec_write(st, t, idx, w, REC_KEY);
        e->pre_len = (uint32_t)w->len;
    }
}

/* The clock's tombstone, written by `warden rewind` only (a run never
 * removes its clock): the slot's history restarts here.  Every entry goes
 * and the clock with it, so the records after it — a state rebuilt as of
 * an earlier time — are the whole state, whatever came before (records
 * only move the clock forward).  Not logged as changes: the rewind wrote
 * the tombstones of the entries it knew of itself. */
static void log_reset(state_t *st)
{
    if (st->j)
        st->j->quiet++;
    for (size_t i = 0; i <= st->nctr; i++) {
        st_tab_t *t = st_table(st, (uint32_t)i);
        for (uint32_t x = 0; x < t->nrec; x++) {
            const st_rec_t *r = st_rec(t, x);
            if (r->klen == ST_FREE)
                continue;
            char *k = malloc(r->klen ? r->klen : 1);
            uint32_t kl = r->klen;
            if (k)
                memcpy(k, st_rec_key(r), kl);
            st_remove(st, t, x);
            if (k)
                jrefresh(st, t, k, kl);
            free(k);
        }
    }
    if (st->j)
        st->j->quiet--;
    st->clock = INT64_MIN;
    for (int L = 0; L < ST_LEVELS; L++)
        st->cb[L] = INT64_MIN / 4;   /* as a new state: nothing late or expired */
}

int state_log_apply(state_t *st, const void *idp, size_t idlen, const void *val, size_t vlen,
                    char *errstr, size_t errstr_size)
{
    const unsigned char *id = idp;
    if (idlen < 1 || (id[0] != 'C' && id[0] != 'L' && id[0] != 'K')) {
        snprintf(errstr, errstr_size, "not a warden changelog record id");
        return -1;
    }
    int kind = id[0];
    uint32_t tab = (uint32_t)st->nctr;
    const unsigned char *key = id + 1;
    size_t klen = idlen - 1;
    if (kind == 'C') {
        rd_t r = { id + 1, id + idlen, NULL };
        uint64_t nl;
        const unsigned char *name;
        if (rd_varint(&r, &nl) != 0 || rd_bytes(&r, &name, nl) != 0) {
            snprintf(errstr, errstr_size, "changelog record id: %s", r.err);
            return -1;
        }
        size_t i = 0;
        for (; i < st->nctr; i++)
            if (strlen(st->ctr[i].name) == nl && memcmp(st->ctr[i].name, name, nl) == 0)
                break;
        if (i == st->nctr)
            return 1;   /* a counter this pack does not have */
        tab = (uint32_t)i;
        key = r.p;
        klen = (size_t)(r.end - r.p);
    }
    if (kind != 'K' && klen > 2 * (size_t)STATE_MAX_KEY + 4) {
        snprintf(errstr, errstr_size, "changelog record id: key too long");
        return -1;
    }
    if (val == NULL && kind == 'K') {
        log_reset(st);
        return 0;
    }
    if (val == NULL) {
        {
            st_tab_t *t = st_table(st, tab);
            uint32_t idx;
            if (st_find(t, (const char *)key, (uint32_t)klen, st_key_hash((const char *)key, klen),
                        &idx)) {
                if (st->j)
                    st->j->quiet++;
                st_remove(st, t, idx);
                if (st->j)
                    st->j->quiet--;
            }
            jrefresh(st, t, (const char *)key, (uint32_t)klen);
        }
        return 0;
    }
    const unsigned char *b = val;
    if (vlen < LOG_HDR + 4 || memcmp(b, ENTRY_MAGIC, 4) != 0) {
        snprintf(errstr, errstr_size, "not a warden changelog record");
        return -1;
    }
    if (crc32_update(0, b, vlen - 4) != (uint32_t)get_le(b + vlen - 4, 4)) {
        snprintf(errstr, errstr_size, "changelog record checksum mismatch (corrupt record)");
        return -1;
    }
    if (b[4] != ENTRY_VERSION) {
        snprintf(errstr, errstr_size,
                 "changelog record version %u is not supported (this build reads %u)", b[4],
                 ENTRY_VERSION);
        return -1;
    }
    if (b[5] != kind) {
        snprintf(errstr, errstr_size, "changelog record kind does not match its id");
        return -1;
    }
    if (kind == 'C' && get_le(b + 6, 8) != st->ctr[tab].fp)
        return 1;   /* the counter's spec changed: its old entries do not apply */
    int64_t clock = (int64_t)get_le(b + 14, 8);
    if (!clock_ok(clock)) {
        snprintf(errstr, errstr_size, "changelog record rejected: impossible clock (beyond the "
                 "event times the engine accepts)");
        return -1;
    }
    rd_t rd = { b + LOG_HDR, b + vlen - 4, NULL };
    if (kind != 'K') {
        /* the record as rec_read takes it: the id's key, then the value's body */
        wd_buf_t rb = WD_BUF_INIT;
        unsigned char v[10];
        size_t nv = 0;
        for (uint64_t x = klen;; x >>= 7) {
            v[nv++] = (unsigned char)(x >= 0x80 ? (x & 0x7f) | 0x80 : x);
            if (x < 0x80)
                break;
        }
        wd_buf_add(&rb, v, nv);
        wd_buf_add(&rb, key, klen);
        wd_buf_add(&rb, rd.p, (size_t)(rd.end - rd.p));
        rd = (rd_t){ (const unsigned char *)rb.data, (const unsigned char *)rb.data + rb.len, NULL };
        if (st->j)
            st->j->quiet++;
        int rc = rec_read(st, &rd, tab, 1, 0, 1, clock);
        if (st->j)
            st->j->quiet--;
        wd_buf_free(&rb);
        if (rc != 0) {
            snprintf(errstr, errstr_size, "changelog record rejected: %s",
                     rd.err ? rd.err : "bad record");
            return -1;
        }
        jrefresh(st, st_table(st, tab), (const char *)key, (uint32_t)klen);
    } else if (rd.p != rd.end) {
        snprintf(errstr, errstr_size, "changelog clock record has trailing bytes");
        return -1;
    }
    if (clock > st->clock)
        st_set_clock(st, clock);
    if (st->max_bytes && st->bytes > st->max_bytes)
        st_enforce_ceiling(st, UINT32_MAX, 0);
    return 0;
}

void state_log_restored(state_t *st)
{
    state_expire(st);
    if (st->max_bytes && st->bytes > st->max_bytes)
        st_enforce_ceiling(st, UINT32_MAX, 0);
    if (st->j) {
        /* the restored state is the committed one; what expiry and the
         * ceiling removed goes out as tombstones with the next commit */
        st->j->clock0 = st->clock;
    }
}

/* Rule state: counters, distinct sets, labels, LRU, expiry.  See
 * state/state.h for the contract and docs/state.md for the semantics.
 *
 * Layout.  Every counter has its own open-addressing table of fixed-size
 * records (key + one bucket ring per level it uses); labels have one more
 * table.  A record's rings hold the newest n buckets of its level ending at
 * the key's newest event (head): minute, hour and day rings, each sized to
 * the longest window of that level plus a little slack.  An event adds one
 * to its bucket on every level (an eager roll-up: the hour bucket always
 * equals the sum of its minutes), so a read of window W sums ceil(W/g)
 * buckets of one level and a 7d count never touches a minute.
 *
 * Time.  The state's clock is the newest event time seen.  An event older
 * than its counter's longest window at the clock is skipped; a key whose
 * newest bucket has left its longest window at the clock, or a label whose
 * expiry is at or before the clock, reads as absent and is removed by the
 * sweeps (front of each LRU queue when the clock crosses a minute, a full
 * scan when it crosses an hour).  Sweeps are therefore invisible to reads,
 * and depend on nothing but the calls made, so a run is deterministic.
 *
 * LRU.  Each table keeps a FIFO of record indices in touch order with lazy
 * deletion (an entry is live iff the record's qpos points at it), so a touch
 * is one sequential store; each record also carries a global touch sequence
 * so eviction can pick the least recently used record across tables. */
#include "state/state_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define ST_VALUE_SEED 0x64697374696e63ull

const char *state_strerror(int rc)
{
    switch (rc) {
    case STATE_OK: return "ok";
    case STATE_SKIPPED: return "event older than the counter's longest window";
    case STATE_ENOCOUNTER: return "no such counter";
    case STATE_EKIND: return "counter is of the other kind (count vs distinct)";
    case STATE_EWINDOW: return "window is not declared by the counter";
    case STATE_ENOMEM: return "out of memory";
    case STATE_EKEY: return "key or value too long";
    case STATE_ETOOBIG: return "size limit below that of an empty snapshot";
    default: return "unknown state error";
    }
}

/* ---- allocation (with the test hook) ---- */

static int st_fail(state_t *st)
{
    if (st->fail_after > 0 && --st->fail_after == 0)
        return 1;
    return 0;
}

void *st_malloc(state_t *st, size_t n)
{
    return st_fail(st) ? NULL : malloc(n);
}

void *st_calloc(state_t *st, size_t n, size_t sz)
{
    return st_fail(st) ? NULL : calloc(n, sz);
}

void *st_realloc(state_t *st, void *p, size_t n)
{
    return st_fail(st) ? NULL : realloc(p, n);
}

void state_fail_alloc_after(state_t *st, long n)
{
    st->fail_after = n > 0 ? n : 0;
}

void *st_big_alloc(state_t *st, size_t n, int zero)
{
    if (st_fail(st))
        return NULL;
    void *p = NULL;
    if (posix_memalign(&p, n < ST_HUGE ? 64 : ST_HUGE, n) != 0)
        return NULL;
    if (n >= ST_HUGE)
        madvise(p, n, MADV_HUGEPAGE);   /* advice only: fine if refused */
    if (zero)
        memset(p, 0, n);
    return p;
}

static char *st_strdup(state_t *st, const char *s)
{
    if (s == NULL)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = st_malloc(st, n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* ---- bucket arithmetic ---- */

/* Bucket indices of ts on the three levels (minute, hour, day since the
 * epoch), with constant divisors so the compiler multiplies. */
static inline void st_buckets(int64_t ts, int64_t b[ST_LEVELS])
{
    b[0] = st_fdiv(ts, ST_MINUTE);
    b[1] = st_fdiv(b[0], 60);
    b[2] = st_fdiv(b[1], 24);
}

static inline int64_t st_bucket(int64_t ts, int level)
{
    switch (level) {
    case 0: return st_fdiv(ts, ST_MINUTE);
    case 1: return st_fdiv(ts, ST_HOUR);
    default: return st_fdiv(ts, ST_DAY);
    }
}

static inline uint32_t st_slot(int64_t bucket, uint32_t n)
{
    return (uint32_t)((uint64_t)bucket & (n - 1));
}

static uint32_t next_pow2(uint32_t v)
{
    uint32_t p = 1;
    while (p < v)
        p <<= 1;
    return p;
}

/* ---- tables ---- */

uint64_t st_key_hash(const char *k, size_t n)
{
    return wd_hash64(k, n, ST_HASH_SEED);
}

static inline uint64_t ld64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint32_t ld32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* a[0..n) == b[0..n), without a libc call for the short keys we see */
static inline int key_eq(const char *a, const char *b, uint32_t n)
{
    if (n >= 8) {
        uint32_t i = 0;
        for (; i + 8 < n; i += 8)
            if (ld64(a + i) != ld64(b + i))
                return 0;
        return ld64(a + n - 8) == ld64(b + n - 8);
    }
    if (n >= 4)
        return ld32(a) == ld32(b) && ld32(a + n - 4) == ld32(b + n - 4);
    for (uint32_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

st_rec_t *st_find(st_tab_t *t, const char *k, uint32_t klen, uint64_t h, uint32_t *idx)
{
    if (t->slots == NULL)
        return NULL;
    uint32_t h32 = (uint32_t)(h >> 32);
    uint32_t i = h32 & t->mask;
    for (;;) {
        uint64_t s = t->slots[i];
        if (s == 0)
            return NULL;
        if ((uint32_t)(s >> 32) == h32) {
            uint32_t ri = (uint32_t)s - 1;
            st_rec_t *r = st_rec(t, ri);
            if (r->klen == klen && key_eq(st_rec_key(r), k, klen)) {
                *idx = ri;
                return r;
            }
        }
        i = (i + 1) & t->mask;
    }
}

/* Lookup with a one-entry cache: the engine updates a key and its rules
 * read it right after, so the second lookup skips hashing and probing.
 * *h is computed only on a cache miss (0 means "not yet"). */
static inline st_rec_t *st_lookup(st_tab_t *t, const char *k, uint32_t klen, uint64_t *h,
                                  uint32_t *idx)
{
    if (t->cache) {
        st_rec_t *r = st_rec(t, t->cache - 1);
        if (r->klen == klen && key_eq(st_rec_key(r), k, klen)) {
            *idx = t->cache - 1;
            return r;
        }
    }
    if (*h == 0)
        *h = st_key_hash(k, klen);
    st_rec_t *r = st_find(t, k, klen, *h, idx);
    if (r)
        t->cache = *idx + 1;
    return r;
}

static void slots_put(uint64_t *slots, uint32_t mask, uint64_t s)
{
    uint32_t i = (uint32_t)(s >> 32) & mask;
    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = s;
}

static int slots_grow(state_t *st, st_tab_t *t)
{
    uint32_t cap = t->slots ? t->mask + 1 : 0;
    if (t->slots && (uint64_t)(t->used + 1) * 4 <= (uint64_t)cap * 3)
        return 0;
    uint32_t ncap = cap ? cap * 2 : 16;
    if (ncap == 0)
        return -1;
    uint64_t *ns = st_big_alloc(st, (size_t)ncap * sizeof(*ns), 1);
    if (ns == NULL)
        return -1;
    for (uint32_t i = 0; i < cap; i++)
        if (t->slots[i])
            slots_put(ns, ncap - 1, t->slots[i]);
    free(t->slots);
    t->slots = ns;
    t->mask = ncap - 1;
    return 0;
}

/* A fresh record index: from the free list, else carved from a chunk. */
static int rec_alloc(state_t *st, st_tab_t *t, uint32_t *idx)
{
    if (t->free_head) {
        *idx = t->free_head - 1;
        t->free_head = (uint32_t)st_rec(t, *idx)->head;
        return 0;
    }
    uint64_t have = ((1ull << t->nchunks) - 1) << ST_CHUNK_BASE;
    if (t->nrec >= have) {
        if (t->nrec == UINT32_MAX - 1 || t->nchunks == ST_MAX_CHUNKS)
            return -1;
        size_t n = ((size_t)ST_REC + t->pay_size) << (ST_CHUNK_BASE + t->nchunks);
        unsigned char *ch = st_big_alloc(st, n, 0);
        if (ch == NULL)
            return -1;
        t->chunks[t->nchunks++] = ch;
    }
    *idx = t->nrec++;
    return 0;
}

static void rec_release(st_tab_t *t, uint32_t idx)
{
    st_rec_t *r = st_rec(t, idx);
    r->klen = ST_FREE;
    r->qpos = UINT64_MAX;
    r->head = t->free_head;
    t->free_head = idx + 1;
}

uint64_t st_dset_bytes(const st_dset_t *s)
{
    /* header + data + a typical malloc overhead */
    if (s->n == ST_DSET_HLL)
        return sizeof(st_dset_t) + STATE_HLL_BYTES + 16;
    return sizeof(st_dset_t) + (uint64_t)s->cap * 8 + 16;
}

uint64_t st_rec_bytes(const state_t *st, const st_tab_t *t, uint32_t idx)
{
    const st_rec_t *r = st_rec(t, idx);
    uint64_t b = ST_REC + t->pay_size + ST_ENTRY_OVERHEAD;
    if (r->klen > ST_KEY_INLINE)
        b += r->klen;
    if (t->id < st->nctr && st->ctr[t->id].distinct) {
        st_dset_t *const *sets = st_pay(t, idx);
        for (uint32_t i = 0; i < st->ctr[t->id].nslots; i++)
            if (sets[i])
                b += st_dset_bytes(sets[i]);
    }
    return b;
}

st_rec_t *st_insert(state_t *st, st_tab_t *t, const char *k, uint32_t klen, uint64_t h,
                    uint32_t *idx)
{
    char *heap = NULL;
    if (slots_grow(st, t) != 0)
        return NULL;
    if (klen > ST_KEY_INLINE) {
        heap = st_malloc(st, klen);
        if (heap == NULL)
            return NULL;
        memcpy(heap, k, klen);
    }
    if (rec_alloc(st, t, idx) != 0) {
        free(heap);
        return NULL;
    }
    st_rec_t *r = st_rec(t, *idx);
    memset(r, 0, ST_REC);
    memset(st_pay(t, *idx), 0, t->pay_size);
    r->qpos = UINT64_MAX;
    r->hash = (uint32_t)(h >> 32);
    r->klen = klen;
    if (heap)
        memcpy(r->key, &heap, sizeof(heap));
    else if (klen)
        memcpy(r->key, k, klen);
    slots_put(t->slots, t->mask, ((uint64_t)r->hash << 32) | (*idx + 1));
    t->used++;
    if (t->id < st->nctr)
        st->nkeys++;
    st->bytes += st_rec_bytes(st, t, *idx);
    t->cache = *idx + 1;
    return r;
}

void st_remove(state_t *st, st_tab_t *t, uint32_t idx)
{
    st_rec_t *r = st_rec(t, idx);
    if (st->j)
        (void)st_jnote(st, t, st_rec_key(r), r->klen, r, idx);   /* failure: the log is broken */
    st->bytes -= st_rec_bytes(st, t, idx);
    if (t->id < st->nctr && st->ctr[t->id].distinct) {
        st_dset_t **sets = st_pay(t, idx);
        for (uint32_t i = 0; i < st->ctr[t->id].nslots; i++)
            free(sets[i]);
    }
    if (r->klen > ST_KEY_INLINE)
        free((char *)st_rec_key(r));
    /* Backward-shift deletion keeps probe chains without tombstones. */
    uint32_t mask = t->mask, i = r->hash & mask;
    uint64_t want = ((uint64_t)r->hash << 32) | (idx + 1);
    while (t->slots[i] != want)
        i = (i + 1) & mask;
    for (uint32_t j = (i + 1) & mask; t->slots[j]; j = (j + 1) & mask) {
        uint32_t home = (uint32_t)(t->slots[j] >> 32) & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i] = 0;
    t->used--;
    if (t->id < st->nctr)
        st->nkeys--;
    if (t->cache == idx + 1)
        t->cache = 0;
    rec_release(t, idx);
}

/* ---- LRU queues ---- */

static void queue_compact(st_tab_t *t)
{
    st_queue_t *q = &t->q;
    uint64_t w = q->lo;
    for (uint64_t p = q->lo; p < q->hi; p++) {
        uint32_t idx = q->e[p & q->mask];
        st_rec_t *r = st_rec(t, idx);
        if (r->klen != ST_FREE && r->qpos == p) {
            q->e[w & q->mask] = idx;
            r->qpos = w++;
        }
    }
    q->hi = w;
}

int st_queue_reserve(state_t *st, st_tab_t *t)
{
    st_queue_t *q = &t->q;
    uint64_t cap = q->cap;
    if (q->hi - q->lo < cap)
        return 0;
    if (cap && (uint64_t)t->used * 2 <= cap) {
        queue_compact(t);
        return 0;
    }
    uint64_t ncap = cap ? cap * 2 : 16;
    if (ncap > (1ull << 32))
        return -1;
    uint32_t *ne = st_big_alloc(st, ncap * sizeof(*ne), 0);
    if (ne == NULL)
        return -1;
    for (uint64_t p = q->lo; p < q->hi; p++)
        ne[p & (ncap - 1)] = q->e[p & q->mask];
    free(q->e);
    q->e = ne;
    q->mask = (uint32_t)(ncap - 1);
    q->cap = ncap;
    return 0;
}

/* Fast path of st_queue_reserve. */
static inline int queue_reserve(state_t *st, st_tab_t *t)
{
    return t->q.hi - t->q.lo < t->q.cap ? 0 : st_queue_reserve(st, t);
}

void st_touch(state_t *st, st_tab_t *t, st_rec_t *r, uint32_t idx)
{
    st_queue_t *q = &t->q;
    r->tseq = ++st->seq;
    if (r->head < t->qtop)
        t->unsorted = 1;
    else
        t->qtop = r->head;
    if (r->qpos != UINT64_MAX && r->qpos + 1 == q->hi)
        return;
    q->e[q->hi & q->mask] = idx;
    r->qpos = q->hi++;
}

/* The least recently used live record of t (dropping stale entries from
 * the front), or NULL. */
static st_rec_t *queue_front(st_tab_t *t, uint32_t *idx)
{
    st_queue_t *q = &t->q;
    while (q->lo < q->hi) {
        uint32_t i = q->e[q->lo & q->mask];
        st_rec_t *r = st_rec(t, i);
        if (r->klen != ST_FREE && r->qpos == q->lo) {
            *idx = i;
            return r;
        }
        q->lo++;
    }
    return NULL;
}

void st_enforce_ceiling(state_t *st, uint32_t keep_tab, uint32_t keep_idx)
{
    while (st->max_bytes && st->bytes > st->max_bytes) {
        st_tab_t *best = NULL;
        uint32_t best_idx = 0;
        uint64_t best_seq = UINT64_MAX;
        for (size_t i = 0; i <= st->nctr; i++) {
            st_tab_t *t = st_table(st, (uint32_t)i);
            uint32_t idx;
            st_rec_t *r = queue_front(t, &idx);
            if (r == NULL || (t->id == keep_tab && idx == keep_idx))
                continue;
            if (r->tseq < best_seq) {
                best_seq = r->tseq;
                best = t;
                best_idx = idx;
            }
        }
        if (best == NULL)
            return;
        best->q.lo++;
        st_remove(st, best, best_idx);
        st->evictions++;
    }
}

/* ---- expiry ---- */

int st_rec_expired(const state_t *st, const st_tab_t *t, const st_rec_t *r)
{
    if (t->id >= st->nctr)
        return r->head <= st->clock;
    const st_counter_t *c = &st->ctr[t->id];
    return st_bucket(r->head, c->top) <= st->cb[c->top] - (int64_t)c->top_k;
}

static void sweep_front(state_t *st, st_tab_t *t)
{
    uint32_t idx;
    st_rec_t *r;
    while ((r = queue_front(t, &idx)) != NULL && st_rec_expired(st, t, r)) {
        t->q.lo++;
        st_remove(st, t, idx);
        st->expired++;
    }
}

/* Whether the live entries of t's queue are in head order; sets qtop to
 * the newest head when they are. */
static int queue_sorted(st_tab_t *t)
{
    const st_queue_t *q = &t->q;
    int64_t top = INT64_MIN;
    for (uint64_t p = q->lo; p < q->hi; p++) {
        const st_rec_t *r = st_rec(t, q->e[p & q->mask]);
        if (r->klen == ST_FREE || r->qpos != p)
            continue;   /* a stale entry: the record moved on */
        if (r->head < top)
            return 0;
        top = r->head;
    }
    t->qtop = top;
    return 1;
}

/* Drops every expired record of t.  In head order the expired records are
 * the front of the queue; out of order, every record is looked at. */
static void sweep_all(state_t *st, st_tab_t *t)
{
    if (!t->unsorted) {
        sweep_front(st, t);
        return;
    }
    for (uint32_t i = 0; i < t->nrec; i++) {
        st_rec_t *r = st_rec(t, i);
        if (r->klen != ST_FREE && st_rec_expired(st, t, r)) {
            st_remove(st, t, i);
            st->expired++;
        }
    }
    t->unsorted = !queue_sorted(t);
}

void state_expire(state_t *st)
{
    for (size_t i = 0; i <= st->nctr; i++)
        sweep_all(st, st_table(st, (uint32_t)i));
}

void state_advance(state_t *st, int64_t ts)
{
    if (ts <= st->clock)
        return;
    int64_t old = st->clock, ob[ST_LEVELS];
    memcpy(ob, st->cb, sizeof(ob));
    st->clock = ts;
    st_buckets(ts, st->cb);
    if (old == INT64_MIN)
        return;
    if (st->cb[1] != ob[1]) {
        state_expire(st);
    } else if (st->cb[0] != ob[0]) {
        for (size_t i = 0; i <= st->nctr; i++)
            sweep_front(st, st_table(st, (uint32_t)i));
    }
}

int64_t state_clock(const state_t *st) { return st->clock; }

void st_resum(const st_counter_t *c, st_rec_t *r, uint32_t *pay)
{
    int64_t hb[ST_LEVELS];
    st_buckets(r->head, hb);
    for (size_t w = 0; w < c->nwindows; w++) {
        int L = c->win_level[w];
        const uint32_t *ring = pay + c->base + c->lv[L].off;
        uint32_t v = 0;
        for (int64_t x = hb[L] - (int64_t)c->win_k[w] + 1; x < hb[L]; x++)
            v += ring[st_slot(x, c->lv[L].n)];
        pay[w] = v;
    }
}

void st_set_clock(state_t *st, int64_t ts)
{
    st->clock = ts;
    st_buckets(ts, st->cb);
}

/* ---- construction ---- */

static int level_of(int64_t w)
{
    return w <= ST_HOUR ? 0 : w <= ST_DAY ? 1 : 2;
}

static const int64_t level_gran[ST_LEVELS] = { ST_MINUTE, ST_HOUR, ST_DAY };
static const uint32_t level_slack[ST_LEVELS] = { ST_SLACK_MINUTE, ST_SLACK_HOUR, ST_SLACK_DAY };

static void tab_init(st_tab_t *t, uint32_t id, uint32_t pay_size)
{
    memset(t, 0, sizeof(*t));
    t->id = id;
    t->pay_size = pay_size;
    t->qtop = INT64_MIN;
}

static int counter_init(state_t *st, st_counter_t *c, const state_counter_def_t *d,
                        uint32_t id, char *errstr, size_t errstr_size)
{
    if (d->nwindows == 0) {
        snprintf(errstr, errstr_size, "counter %s: no windows", d->name);
        return -1;
    }
    c->distinct = d->distinct != NULL;
    c->name = st_strdup(st, d->name);
    c->stream = st_strdup(st, d->stream ? d->stream : "");
    c->key = st_strdup(st, d->key ? d->key : "");
    c->distinct_path = st_strdup(st, d->distinct);
    c->windows = st_malloc(st, d->nwindows * sizeof(*c->windows));
    c->win_level = st_malloc(st, d->nwindows);
    c->win_k = st_malloc(st, d->nwindows * sizeof(*c->win_k));
    if (!c->name || !c->stream || !c->key || (d->distinct && !c->distinct_path) || !c->windows ||
        !c->win_level || !c->win_k) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    c->nwindows = d->nwindows;
    uint32_t need[ST_LEVELS] = { 0 };
    int64_t wmax = 0;
    for (size_t w = 0; w < d->nwindows; w++) {
        int64_t ms = d->windows_ms[w];
        if (ms < ST_MINUTE || ms > ST_MAX_WINDOW || ms % ST_MINUTE != 0) {
            snprintf(errstr, errstr_size,
                     "counter %s: window of %lld ms is not a whole number of minutes in 1m..366d",
                     d->name, (long long)ms);
            return -1;
        }
        for (size_t v = 0; v < w; v++)
            if (d->windows_ms[v] == ms) {
                snprintf(errstr, errstr_size, "counter %s: window of %lld ms repeats", d->name,
                         (long long)ms);
                return -1;
            }
        int L = level_of(ms);
        uint32_t k = (uint32_t)((ms + level_gran[L] - 1) / level_gran[L]);
        c->windows[w] = ms;
        c->win_level[w] = (uint8_t)L;
        c->win_k[w] = k;
        if (k > need[L])
            need[L] = k;
        if (ms > wmax) {
            wmax = ms;
            c->top = L;
        }
    }
    c->top_k = need[c->top];
    /* Small rings first: day and hour share cache lines with the header. */
    uint32_t off = 0;
    for (int L = ST_LEVELS - 1; L >= 0; L--) {
        c->lv[L].gran = level_gran[L];
        c->lv[L].n = need[L] ? next_pow2(need[L] + level_slack[L]) : 0;
        c->lv[L].off = off;
        off += c->lv[L].n;
    }
    c->nslots = off;
    c->base = c->distinct ? 0 : (uint32_t)d->nwindows;
    size_t ps = (size_t)(c->base + off) * (c->distinct ? sizeof(void *) : sizeof(uint32_t));
    ps = (ps + 63) & ~(size_t)63;    /* payloads start on cache lines */
    tab_init(&c->tab, id, (uint32_t)ps);
    c->inited = 1;
    return 0;
}

static uint64_t fp_str(uint64_t fp, const char *s)
{
    return s ? wd_hash64(s, strlen(s) + 1, fp) : wd_hash64("", 0, fp ^ 1);
}

int st_init(state_t *st, const state_counter_def_t *defs, size_t n, char *errstr,
            size_t errstr_size)
{
    st->clock = INT64_MIN;
    for (int L = 0; L < ST_LEVELS; L++)
        st->cb[L] = INT64_MIN / 4;   /* nothing is late or expired before the first event */
    if (n >= UINT32_MAX) {
        snprintf(errstr, errstr_size, "too many counters");
        return -1;
    }
    st->ctr = st_calloc(st, n ? n : 1, sizeof(*st->ctr));
    if (st->ctr == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    uint64_t fp = wd_hash64("warden-state-specs", 18, (uint64_t)n);
    for (size_t i = 0; i < n; i++) {
        const state_counter_def_t *d = &defs[i];
        if (d->name == NULL || d->name[0] == '\0') {
            snprintf(errstr, errstr_size, "counter #%zu has no name", i + 1);
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(defs[j].name, d->name) == 0) {
                snprintf(errstr, errstr_size, "counter %s is declared twice", d->name);
                return -1;
            }
        st->nctr = i + 1;   /* so st_free_content frees what was built */
        if (counter_init(st, &st->ctr[i], d, (uint32_t)i, errstr, errstr_size) != 0)
            return -1;
        uint64_t cfp = wd_hash64("warden-counter-spec", 19, 0);
        cfp = fp_str(cfp, d->name);
        cfp = fp_str(cfp, d->stream);
        cfp = fp_str(cfp, d->key);
        cfp = fp_str(cfp, d->distinct);
        fp = fp_str(fp, d->name);
        fp = fp_str(fp, d->stream);
        fp = fp_str(fp, d->key);
        fp = fp_str(fp, d->distinct);
        for (size_t w = 0; w < d->nwindows; w++) {
            unsigned char le[8];
            for (int b = 0; b < 8; b++)
                le[b] = (unsigned char)((uint64_t)d->windows_ms[w] >> (8 * b));
            fp = wd_hash64(le, 8, fp);
            cfp = wd_hash64(le, 8, cfp);
        }
        st->ctr[i].fp = cfp;
    }
    st->nctr = n;
    st->fingerprint = fp;
    tab_init(&st->labels, (uint32_t)n, 0);
    st->labels_inited = 1;
    return 0;
}

state_t *state_new(const state_counter_def_t *defs, size_t ndefs, size_t max_bytes,
                           char *errstr, size_t errstr_size)
{
    state_t *st = calloc(1, sizeof(*st));
    if (st == NULL) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (st_init(st, defs, ndefs, errstr, errstr_size) != 0) {
        state_destroy(st);
        return NULL;
    }
    st->max_bytes = max_bytes;
    return st;
}

state_t *state_new_like(const state_t *proto)
{
    state_counter_def_t *defs = calloc(proto->nctr ? proto->nctr : 1, sizeof(*defs));
    if (defs == NULL)
        return NULL;
    for (size_t i = 0; i < proto->nctr; i++) {
        const st_counter_t *c = &proto->ctr[i];
        defs[i] = (state_counter_def_t){ c->name, c->stream, c->key, c->distinct_path,
                                             c->windows, c->nwindows };
    }
    state_t *st = calloc(1, sizeof(*st));
    char err[256];
    if (st) {
        st->fail_after = proto->fail_after;
        if (st_init(st, defs, proto->nctr, err, sizeof(err)) != 0) {
            state_destroy(st);
            st = NULL;
        } else {
            st->max_bytes = proto->max_bytes;
        }
    }
    free(defs);
    return st;
}

static void tab_free(const state_t *st, st_tab_t *t)
{
    int distinct = t->id < st->nctr && st->ctr[t->id].distinct;
    for (uint32_t i = 0; i < t->nrec; i++) {
        st_rec_t *r = st_rec(t, i);
        if (r->klen == ST_FREE)
            continue;
        if (r->klen > ST_KEY_INLINE)
            free((char *)st_rec_key(r));
        if (distinct) {
            st_dset_t **sets = st_pay(t, i);
            for (uint32_t s = 0; s < st->ctr[t->id].nslots; s++)
                free(sets[s]);
        }
    }
    for (uint32_t i = 0; i < t->nchunks; i++)
        free(t->chunks[i]);
    free(t->slots);
    free(t->q.e);
}

void st_free_content(state_t *st)
{
    for (size_t i = 0; st->ctr && i < st->nctr; i++) {
        st_counter_t *c = &st->ctr[i];
        if (c->inited)
            tab_free(st, &c->tab);
        free(c->name);
        free(c->stream);
        free(c->key);
        free(c->distinct_path);
        free(c->windows);
        free(c->win_level);
        free(c->win_k);
    }
    free(st->ctr);
    if (st->labels_inited)
        tab_free(st, &st->labels);
    free(st->uset);
    free(st->kbuf);
}

void state_destroy(state_t *st)
{
    if (st == NULL)
        return;
    st_free_content(st);
    st_journal_free(st);
    free(st);
}

int state_counter_index(const state_t *st, const char *name)
{
    for (size_t i = 0; i < st->nctr; i++)
        if (strcmp(st->ctr[i].name, name) == 0)
            return (int)i;
    return -1;
}

size_t state_ncounters(const state_t *st) { return st->nctr; }
uint64_t state_fingerprint(const state_t *st) { return st->fingerprint; }

void state_set_max_bytes(state_t *st, size_t max_bytes)
{
    st->max_bytes = max_bytes;
    st_enforce_ceiling(st, UINT32_MAX, 0);
}

void state_stats(const state_t *st, state_stats_t *out)
{
    out->late_skipped = st->late_skipped;
    out->evictions = st->evictions;
    out->expired = st->expired;
    out->keys = st->nkeys;
    out->labels = st->labels.used;
    out->bytes = st->bytes;
}

/* ---- counters ---- */

/* Common entry of the add calls: checks, clock, lateness; fills b with the
 * event's buckets.  Returns 0 to go on, or the rc to return. */
static inline int add_begin(state_t *st, size_t i, int distinct, size_t klen, int64_t ts,
                            int64_t b[ST_LEVELS])
{
    if (i >= st->nctr)
        return STATE_ENOCOUNTER;
    const st_counter_t *c = &st->ctr[i];
    if (c->distinct != distinct)
        return STATE_EKIND;
    if (klen > STATE_MAX_KEY)
        return STATE_EKEY;
    if (ts > st->clock)
        state_advance(st, ts);
    st_buckets(ts, b);
    if (b[c->top] <= st->cb[c->top] - (int64_t)c->top_k) {
        st->late_skipped++;
        return STATE_SKIPPED;
    }
    return 0;
}

/* Finds or creates key's record for an add at ts (buckets b) and fills hb
 * with its head's buckets; an expired record is dropped first (it reads as
 * absent anyway).  NULL when out of memory. */
static inline st_rec_t *add_record(state_t *st, st_counter_t *c, const char *key,
                                   uint32_t klen, int64_t ts, const int64_t b[ST_LEVELS],
                                   int64_t hb[ST_LEVELS], uint32_t *idx, int *created)
{
    st_tab_t *t = &c->tab;
    uint64_t h = 0;
    st_rec_t *r = st_lookup(t, key, klen, &h, idx);
    if (queue_reserve(st, t) != 0)
        return NULL;
    if (st->j && st_jnote(st, t, key, klen, r, *idx) != 0)
        return NULL;
    *created = 0;
    if (r) {
        st_buckets(r->head, hb);
        if (hb[c->top] > st->cb[c->top] - (int64_t)c->top_k)
            return r;
        st_remove(st, t, *idx);
        st->expired++;
    }
    if (h == 0)
        h = st_key_hash(key, klen);
    r = st_insert(st, t, key, klen, h, idx);
    if (r == NULL)
        return NULL;
    r->head = ts;
    memcpy(hb, b, sizeof(int64_t) * ST_LEVELS);
    *created = 1;
    return r;
}

static inline void add_finish(state_t *st, st_tab_t *t, st_rec_t *r, uint32_t idx, int64_t ts)
{
    if (ts > r->head)
        r->head = ts;
    st_touch(st, t, r, idx);
    if (st->max_bytes && st->bytes > st->max_bytes)
        st_enforce_ceiling(st, t->id, idx);
}

int state_add(state_t *st, size_t i, const char *key, size_t klen, int64_t ts)
{
    int64_t b[ST_LEVELS], hb[ST_LEVELS];
    int rc = add_begin(st, i, 0, klen, ts, b);
    if (rc != 0)
        return rc;
    st_counter_t *c = &st->ctr[i];
    uint32_t idx;
    int created;
    st_rec_t *r = add_record(st, c, key, (uint32_t)klen, ts, b, hb, &idx, &created);
    if (r == NULL)
        return STATE_ENOMEM;
    /* The head bucket of each level counts in r->cur (the header line): an
     * event in the key's newest minute touches nothing else.  Moving the
     * head on writes the old head's counts to the ring and clears the
     * buckets skipped over; a late event adds to its ring slot. */
    if (b[0] == hb[0]) {
        r->cur[0]++;
        r->cur[1]++;
        r->cur[2]++;
    } else {
        uint32_t *sums = st_pay(&c->tab, idx), *slots = sums + c->base;
        /* Window sums cover (head - k, head - 1]: when the head moves by d
         * they gain the old head's count and lose the d oldest buckets
         * (read before the rings are cleared below: their slots are next to
         * the ones being written); a late event inside adds one. */
        for (size_t w = 0; w < c->nwindows; w++) {
            int L = c->win_level[w];
            int64_t k = c->win_k[w];
            if (b[L] > hb[L]) {
                if (b[L] - hb[L] >= k) {
                    sums[w] = 0;
                } else {
                    const uint32_t *ring = slots + c->lv[L].off;
                    uint32_t v = sums[w] + r->cur[L];
                    for (int64_t x = hb[L] - k + 1; x <= b[L] - k; x++)
                        v -= ring[st_slot(x, c->lv[L].n)];
                    sums[w] = v;
                }
            } else if (b[L] < hb[L] && b[L] > hb[L] - k) {
                sums[w]++;
            }
        }
        for (int L = 0; L < ST_LEVELS; L++) {
            uint32_t n = c->lv[L].n;
            if (n == 0)
                continue;
            uint32_t *ring = slots + c->lv[L].off;
            if (b[L] > hb[L]) {
                if (b[L] - hb[L] >= n) {
                    memset(ring, 0, n * sizeof(*ring));
                } else {
                    ring[st_slot(hb[L], n)] = r->cur[L];
                    for (int64_t x = hb[L] + 1; x <= b[L]; x++)
                        ring[st_slot(x, n)] = 0;
                }
                r->cur[L] = 1;
            } else if (b[L] == hb[L]) {
                r->cur[L]++;
            } else if (hb[L] - b[L] < n) {
                ring[st_slot(b[L], n)]++;
            }
        }
    }
    add_finish(st, &c->tab, r, idx, ts);
    return STATE_OK;
}

static int dset_has(const st_dset_t *s, uint64_t h)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (s->v[i] == h)
            return 1;
    return 0;
}

static st_dset_t *dset_new_exact(state_t *st, uint32_t cap)
{
    st_dset_t *s = st_malloc(st, sizeof(*s) + (size_t)cap * 8);
    if (s) {
        s->n = 0;
        s->cap = cap;
    }
    return s;
}

static st_dset_t *dset_new_hll(state_t *st)
{
    st_dset_t *s = st_calloc(st, 1, sizeof(*s) + STATE_HLL_BYTES);
    if (s) {
        s->n = ST_DSET_HLL;
        s->cap = 0;
    }
    return s;
}

/* Adds h to a set known to have room (or to be a sketch). */
static void dset_put(st_dset_t *s, uint64_t h)
{
    if (s->n == ST_DSET_HLL)
        state_hll_add((uint8_t *)s->v, h);
    else if (!dset_has(s, h))
        s->v[s->n++] = h;
}

static void ring_free_range(state_t *st, st_dset_t **ring, uint32_t n, int64_t from,
                            int64_t to)
{
    /* buckets (from, to], or the whole ring when that spans it */
    if (to - from >= n) {
        from = to - n;
    }
    for (int64_t x = from + 1; x <= to; x++) {
        st_dset_t **s = &ring[st_slot(x, n)];
        if (*s) {
            st->bytes -= st_dset_bytes(*s);
            free(*s);
            *s = NULL;
        }
    }
}

/* Two phases so that running out of memory leaves the key as it was: first
 * allocate every set that must grow (or become a sketch), then apply. */
int state_add_distinct(state_t *st, size_t i, const char *key, size_t klen,
                           const char *val, size_t vlen, int64_t ts)
{
    if (vlen > STATE_MAX_KEY)
        return STATE_EKEY;
    int64_t b[ST_LEVELS], hb[ST_LEVELS];
    int rc = add_begin(st, i, 1, klen, ts, b);
    if (rc != 0)
        return rc;
    st_counter_t *c = &st->ctr[i];
    uint64_t vh = wd_hash64(val, vlen, ST_VALUE_SEED);
    uint32_t idx;
    int created;
    st_rec_t *r = add_record(st, c, key, (uint32_t)klen, ts, b, hb, &idx, &created);
    if (r == NULL)
        return STATE_ENOMEM;
    st_dset_t **slots = st_pay(&c->tab, idx);
    st_dset_t *fresh[ST_LEVELS] = { NULL, NULL, NULL };
    int target[ST_LEVELS];
    for (int L = 0; L < ST_LEVELS; L++) {
        uint32_t n = c->lv[L].n;
        target[L] = -1;
        if (n == 0)
            continue;
        st_dset_t *cur;
        if (b[L] > hb[L])
            cur = NULL;
        else if (hb[L] - b[L] < n)
            cur = slots[c->lv[L].off + st_slot(b[L], n)];
        else
            continue;
        target[L] = (int)(c->lv[L].off + st_slot(b[L], n));
        if (cur == NULL) {
            fresh[L] = dset_new_exact(st, 4);
        } else if (cur->n != ST_DSET_HLL && cur->n == cur->cap && !dset_has(cur, vh)) {
            if (cur->cap < ST_EXACT_MAX) {
                fresh[L] = dset_new_exact(st, cur->cap * 2);
                if (fresh[L]) {
                    memcpy(fresh[L]->v, cur->v, (size_t)cur->n * 8);
                    fresh[L]->n = cur->n;
                }
            } else {
                fresh[L] = dset_new_hll(st);
                if (fresh[L])
                    for (uint32_t k = 0; k < cur->n; k++)
                        state_hll_add((uint8_t *)fresh[L]->v, cur->v[k]);
            }
        } else {
            continue;
        }
        if (fresh[L] == NULL)
            goto oom;
    }
    for (int L = 0; L < ST_LEVELS; L++) {
        if (target[L] < 0)
            continue;
        uint32_t n = c->lv[L].n;
        if (b[L] > hb[L])
            ring_free_range(st, slots + c->lv[L].off, n, hb[L], b[L]);
        st_dset_t **s = &slots[target[L]];
        if (fresh[L]) {
            if (*s) {
                st->bytes -= st_dset_bytes(*s);
                free(*s);
            }
            *s = fresh[L];
            st->bytes += st_dset_bytes(*s);
        }
        dset_put(*s, vh);
    }
    add_finish(st, &c->tab, r, idx, ts);
    return STATE_OK;
oom:
    for (int L = 0; L < ST_LEVELS; L++)
        free(fresh[L]);
    if (created)
        st_remove(st, &c->tab, idx);
    return STATE_ENOMEM;
}

/* Resolves a read: the record's payload (NULL when absent or expired), the
 * window's level and the inclusive bucket range [*lo, *hi] to read, clipped
 * to the buckets the ring retains.  Returns a negative rc for bad
 * arguments. */
static inline int read_begin(state_t *st, size_t i, int distinct, const char *key,
                             size_t klen, int64_t window, int64_t now, void **pay, int *level,
                             int64_t *lo, int64_t *hi, st_rec_t **rec, int64_t *headb,
                             size_t *wi, int64_t *nowb)
{
    if (i >= st->nctr)
        return STATE_ENOCOUNTER;
    st_counter_t *c = &st->ctr[i];
    if (c->distinct != distinct)
        return STATE_EKIND;
    size_t w = 0;
    while (w < c->nwindows && c->windows[w] != window)
        w++;
    if (w == c->nwindows)
        return STATE_EWINDOW;
    *pay = NULL;
    if (klen > STATE_MAX_KEY)
        return 0;
    uint64_t h = 0;
    uint32_t idx;
    st_rec_t *r = st_lookup(&c->tab, key, (uint32_t)klen, &h, &idx);
    if (r == NULL || st_rec_expired(st, &c->tab, r))
        return 0;
    if (queue_reserve(st, &c->tab) == 0)
        st_touch(st, &c->tab, r, idx);
    int L = c->win_level[w];
    uint32_t n = c->lv[L].n;
    int64_t tb = st_bucket(now, L), hb = st_bucket(r->head, L);
    *hi = tb < hb ? tb : hb;
    *lo = tb - (int64_t)c->win_k[w] + 1;
    if (*lo < hb - (int64_t)n + 1)
        *lo = hb - (int64_t)n + 1;
    *level = L;
    *rec = r;
    *headb = hb;
    *wi = w;
    *nowb = tb;
    if (*lo <= *hi)
        *pay = st_pay(&c->tab, idx);
    return 0;
}

uint64_t state_read_work(const state_t *st) { return st->read_work; }

int64_t state_count(state_t *st, size_t i, const char *key, size_t klen, int64_t window,
                        int64_t now)
{
    void *pay;
    int L;
    int64_t lo, hi, hb, tb;
    size_t w;
    st_rec_t *r;
    int rc = read_begin(st, i, 0, key, klen, window, now, &pay, &L, &lo, &hi, &r, &hb, &w, &tb);
    if (rc < 0 || pay == NULL)
        return rc;
    const st_counter_t *c = &st->ctr[i];
    /* read at the head bucket (the usual case: the event just counted):
     * the window's sum plus the head's count, both at hand */
    if (tb == hb)
        return (int64_t)((const uint32_t *)pay)[w] + r->cur[L];
    uint32_t n = c->lv[L].n;
    /* the head bucket counts in the header; its ring slot holds 0 */
    uint64_t sum = hi == hb ? r->cur[L] : 0;
    const uint32_t *ring = (const uint32_t *)pay + c->base + c->lv[L].off;
    uint32_t s = st_slot(lo, n), cnt = (uint32_t)(hi - lo + 1);
    uint32_t first = cnt < n - s ? cnt : n - s;
    st->read_work += cnt;
    for (uint32_t k = 0; k < first; k++)
        sum += ring[s + k];
    for (uint32_t k = 0; k < cnt - first; k++)
        sum += ring[k];
    return (int64_t)sum;
}

/* Union of exact sets through the scratch hash set; -1 when it cannot grow. */
static int64_t union_exact(state_t *st, st_dset_t **sets, uint32_t nsets, uint64_t total)
{
    uint32_t need = next_pow2((uint32_t)total * 2);
    if (st->uset == NULL || st->uset_mask + 1 < need) {
        uint64_t *u = st_malloc(st, (size_t)need * 8);
        if (u == NULL)
            return -1;
        free(st->uset);
        st->uset = u;
        st->uset_mask = need - 1;
    }
    uint32_t mask = need - 1;
    memset(st->uset, 0, (size_t)need * 8);
    int64_t n = 0;
    int zero = 0;
    for (uint32_t s = 0; s < nsets; s++) {
        for (uint32_t k = 0; k < sets[s]->n; k++) {
            uint64_t h = sets[s]->v[k];
            if (h == 0) {
                n += !zero;
                zero = 1;
                continue;
            }
            uint32_t p = (uint32_t)h & mask;
            while (st->uset[p] && st->uset[p] != h)
                p = (p + 1) & mask;
            if (st->uset[p] == 0) {
                st->uset[p] = h;
                n++;
            }
        }
    }
    return n;
}

int64_t state_distinct(state_t *st, size_t i, const char *key, size_t klen,
                           int64_t window, int64_t now)
{
    void *pay;
    int L;
    int64_t lo, hi, hb, tb;
    size_t w;
    st_rec_t *r;
    int rc = read_begin(st, i, 1, key, klen, window, now, &pay, &L, &lo, &hi, &r, &hb, &w, &tb);
    if (rc < 0 || pay == NULL)
        return rc;
    const st_counter_t *c = &st->ctr[i];
    uint32_t n = c->lv[L].n;
    st_dset_t **ring = (st_dset_t **)pay + c->lv[L].off;
    st_dset_t *sets[512];     /* the largest ring: 366d + slack, rounded up */
    uint32_t nsets = 0;
    uint64_t total = 0;
    int sketch = 0;
    for (int64_t x = lo; x <= hi; x++) {
        st_dset_t *s = ring[st_slot(x, n)];
        if (s == NULL)
            continue;
        sets[nsets++] = s;
        if (s->n == ST_DSET_HLL)
            sketch = 1;
        else
            total += s->n;
    }
    st->read_work += (uint64_t)(hi - lo + 1);
    if (nsets == 0)
        return 0;
    if (!sketch) {
        if (nsets == 1)
            return sets[0]->n;
        st->read_work += total;
        int64_t u = union_exact(st, sets, nsets, total);
        return u < 0 ? STATE_ENOMEM : u;
    }
    memset(st->acc, 0, sizeof(st->acc));
    st->read_work += STATE_HLL_M / 4;   /* the estimate */
    for (uint32_t s = 0; s < nsets; s++) {
        if (sets[s]->n == ST_DSET_HLL) {
            state_hll_merge(st->acc, (const uint8_t *)sets[s]->v);
            st->read_work += STATE_HLL_M / 4;
        } else {
            for (uint32_t k = 0; k < sets[s]->n; k++)
                state_hll_add(st->acc, sets[s]->v[k]);
            st->read_work += sets[s]->n;
        }
    }
    return (int64_t)(state_hll_estimate(st->acc) + 0.5);
}

/* ---- labels ---- */

/* The labels table's key: 4-byte little-endian entity length, entity,
 * label.  Built in buf when it fits, else in the state's scratch. */
static const char *label_key(state_t *st, char *buf, size_t bufsz, const char *e, size_t elen,
                             const char *l, size_t llen, uint32_t *klen)
{
    size_t n = 4 + elen + llen;
    char *k = buf;
    if (n > bufsz) {
        if (n > st->kbuf_cap) {
            char *nb = st_malloc(st, n);
            if (nb == NULL)
                return NULL;
            free(st->kbuf);
            st->kbuf = nb;
            st->kbuf_cap = n;
        }
        k = st->kbuf;
    }
    for (int b = 0; b < 4; b++)
        k[b] = (char)(unsigned char)(elen >> (8 * b));
    memcpy(k + 4, e, elen);
    memcpy(k + 4 + elen, l, llen);
    *klen = (uint32_t)n;
    return k;
}

int state_label_set(state_t *st, const char *entity, size_t elen, const char *label,
                        size_t llen, int64_t expire)
{
    if (elen > STATE_MAX_KEY || llen > STATE_MAX_KEY)
        return STATE_EKEY;
    if (expire <= st->clock)
        return STATE_OK;   /* could never be seen */
    char buf[256];
    uint32_t klen, idx = 0;
    const char *k = label_key(st, buf, sizeof(buf), entity, elen, label, llen, &klen);
    if (k == NULL)
        return STATE_ENOMEM;
    st_tab_t *t = &st->labels;
    uint64_t h = 0;
    st_rec_t *r = st_lookup(t, k, klen, &h, &idx);
    if (queue_reserve(st, t) != 0)
        return STATE_ENOMEM;
    if (st->j && st_jnote(st, t, k, klen, r, idx) != 0)
        return STATE_ENOMEM;
    if (r && st_rec_expired(st, t, r)) {
        st_remove(st, t, idx);
        st->expired++;
        r = NULL;
    }
    if (r == NULL) {
        if (h == 0)
            h = st_key_hash(k, klen);
        r = st_insert(st, t, k, klen, h, &idx);
        if (r == NULL)
            return STATE_ENOMEM;
        r->head = expire;
    } else if (expire > r->head) {
        r->head = expire;
    }
    st_touch(st, t, r, idx);
    if (st->max_bytes && st->bytes > st->max_bytes)
        st_enforce_ceiling(st, t->id, idx);
    return STATE_OK;
}

int state_label_has(state_t *st, const char *entity, size_t elen, const char *label,
                        size_t llen, int64_t now)
{
    int64_t x;
    return state_label_expiry(st, entity, elen, label, llen, now, &x);
}

int state_label_expiry(state_t *st, const char *entity, size_t elen, const char *label,
                       size_t llen, int64_t now, int64_t *expire)
{
    if (elen > STATE_MAX_KEY || llen > STATE_MAX_KEY)
        return 0;
    char buf[256];
    uint32_t klen, idx = 0;
    const char *k = label_key(st, buf, sizeof(buf), entity, elen, label, llen, &klen);
    if (k == NULL)
        return STATE_ENOMEM;
    st_tab_t *t = &st->labels;
    uint64_t h = 0;
    st_rec_t *r = st_lookup(t, k, klen, &h, &idx);
    if (r == NULL || r->head <= now || r->head <= st->clock)
        return 0;
    if (queue_reserve(st, t) == 0)
        st_touch(st, t, r, idx);
    *expire = r->head;
    return 1;
}

/* state/state_int.h — private to state/state*.c: the structures
 * behind state_t (key tables, bucket rings, distinct sets, the LRU
 * queues) and the helpers the snapshot code shares with the hot path. */
#ifndef WARDEN_STATE_STATE_INT_H
#define WARDEN_STATE_STATE_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "state/state_hll.h"
#include "state/state.h"
#include "base/wd_buf.h"

#define ST_MINUTE   60000LL
#define ST_HOUR     3600000LL
#define ST_DAY      86400000LL
#define ST_LEVELS   3               /* minute, hour, day */
#define ST_MAX_WINDOW (366 * ST_DAY)
#define ST_KEY_INLINE 20            /* keys up to this length live in the record */
#define ST_CHUNK_BASE 6             /* chunk c holds 64 << c records */
#define ST_MAX_CHUNKS 27            /* 64 * (2^27 - 1) > 2^32 records */
#define ST_HUGE (2u << 20)          /* allocations this big ask for huge pages */
#define ST_EXACT_MAX 64             /* distinct values kept exactly per bucket */
#define ST_FREE     UINT32_MAX      /* klen of a record on the free list */
#define ST_HASH_SEED 0x5741524445ull
/* Accounted bytes per entry beyond its record: a hash slot and a queue slot
 * at their usual load. */
#define ST_ENTRY_OVERHEAD 24

/* Slack buckets kept beyond what the longest window of a level needs, so
 * that reads at a late event's time stay exact: 4 minutes, 2 hours, 1 day
 * (then rounded up to a power of two). */
#define ST_SLACK_MINUTE 4
#define ST_SLACK_HOUR   2
#define ST_SLACK_DAY    1

/* A key's record: this 64-byte header (one cache line: all a lookup
 * touches) in a dense array, and apart from it the payload: the counter
 * rings, uint32_t counts or st_dset_t pointers for distinct counters
 * (labels have none). */
typedef struct st_rec {
    uint64_t qpos;      /* position of this key's newest entry in its table's queue */
    uint64_t tseq;      /* global touch sequence (LRU order across tables) */
    int64_t  head;      /* counters: newest event ts counted; labels: expiry ts */
    uint32_t hash;      /* high 32 bits of the key hash */
    uint32_t klen;      /* ST_FREE on the free list */
    char     key[ST_KEY_INLINE];   /* the key, or a pointer to it when longer */
    uint32_t cur[ST_LEVELS];       /* plain counters: the head bucket's counts
                                      (its ring slots stay 0) */
} st_rec_t;
#define ST_REC 64
_Static_assert(sizeof(st_rec_t) == ST_REC, "a record header is one cache line");

/* A distinct set: up to ST_EXACT_MAX value hashes, then a dense HLL. */
typedef struct st_dset {
    uint32_t n;         /* exact: hashes held; UINT32_MAX for a sketch */
    uint32_t cap;       /* exact: capacity */
    uint64_t v[];       /* hashes, or STATE_HLL_BYTES of registers */
} st_dset_t;
#define ST_DSET_HLL UINT32_MAX

/* FIFO of record indices in touch order with lazy deletion: an entry at
 * position pos is live iff the record's qpos == pos. */
typedef struct st_queue {
    uint32_t *e;
    uint64_t  lo, hi;   /* live positions [lo, hi) */
    uint32_t  mask;     /* capacity - 1 */
    uint64_t  cap;      /* 0 until the first entry */
} st_queue_t;

/* Open-addressing table (linear probing, backward-shift deletion) over
 * fixed-size records kept in chunks that double in size (so a table with a
 * few keys stays small and a big one sits in a few huge-page chunks);
 * slot = hash32 << 32 | (index + 1). */
typedef struct st_tab {
    uint32_t        id;         /* counter index, or nctr for labels */
    uint32_t        pay_size;   /* payload bytes per record */
    uint64_t       *slots;
    uint32_t        mask;
    uint32_t        used;       /* live records */
    unsigned char  *chunks[ST_MAX_CHUNKS];
    uint32_t        nchunks;
    uint32_t        nrec;       /* records carved so far */
    uint32_t        free_head;  /* free list: index + 1 */
    uint32_t        cache;      /* last record found: index + 1 */
    st_queue_t      q;
    /* Whether the queue is in head order (front oldest), so that the
     * expired records are a prefix of it: then a sweep of the front finds
     * them all.  A touch that pushes a head older than qtop (the newest
     * pushed) breaks the order; a full sweep that finds it whole again
     * restores it. */
    int64_t         qtop;
    int             unsorted;
} st_tab_t;

typedef struct st_level {
    int64_t  gran;      /* ms per bucket */
    uint32_t n;         /* ring size (power of two); 0: level unused */
    uint32_t off;       /* first ring slot in the payload */
} st_level_t;

typedef struct st_counter {
    char      *name, *stream, *key, *distinct_path;
    int        distinct;
    int64_t   *windows;
    uint8_t   *win_level;
    uint32_t  *win_k;       /* buckets a window spans: ceil(W / g) */
    size_t     nwindows;
    st_level_t lv[ST_LEVELS];
    int        top;         /* level of the longest window */
    uint32_t   top_k;       /* its bucket count */
    uint32_t   nslots;      /* ring slots, all levels */
    uint32_t   base;        /* plain counters: payload starts with one uint32_t
                               per window, the window's count over the
                               buckets before the head bucket; rings follow */
    int        inited;      /* tab is set up (for freeing a half-built state) */
    uint64_t   fp;          /* fingerprint of this counter's spec alone */
    st_tab_t   tab;
} st_counter_t;

/* The changelog's undo log (state_log_*): one entry per table entry
 * changed since the last commit, found again through a hash index. */
typedef struct st_jent {
    uint64_t h;         /* key hash mixed with the table */
    uint64_t key_off;   /* the key in data */
    uint64_t pre_off;   /* the value before the first change (rec_write, no
                           table), in data */
    uint32_t pre_len;   /* 0: the entry did not exist */
    uint32_t klen;
    uint32_t tab;
} st_jent_t;

typedef struct st_journal {
    st_jent_t *e;
    size_t     n, cap;
    uint32_t  *index;     /* entry + 1; open addressing */
    uint32_t   mask;      /* index size - 1; 0 before the first entry */
    wd_buf_t   data;
    int64_t    clock0;    /* the clock at the last commit */
    int        all;       /* state_log_mark_all: emit every live entry */
    int        quiet;     /* applying a record or rolling back: not a change */
    int        broken;    /* an allocation failed: the log is incomplete */
    void      *w;         /* a writer for the undo values (state_snap.c) */
} st_journal_t;

struct state {
    uint64_t      read_work;    /* state_read_work() */
    st_counter_t *ctr;
    size_t        nctr;
    st_tab_t      labels;
    int           labels_inited;
    uint64_t      fingerprint;
    int64_t       clock;
    int64_t       cb[ST_LEVELS];   /* the clock's minute, hour and day */
    uint64_t      seq;          /* touch sequence */
    size_t        max_bytes;
    uint64_t      bytes;
    uint64_t      late_skipped, evictions, expired, nkeys;
    /* scratch for distinct reads and composite label keys */
    uint64_t     *uset;
    uint32_t      uset_mask;
    uint8_t       acc[STATE_HLL_BYTES];
    char         *kbuf;
    size_t        kbuf_cap;
    long          fail_after;   /* test hook: countdown to a failing allocation */
    st_journal_t *j;            /* changelog tracking; NULL when off */
    st_journal_t *js;           /* the sealed batch's log (state_log_seal): its
                                 * commit is in flight; NULL or empty (js_live 0) */
    int           js_live;
};

/* ---- shared between state.c and state_snap.c ---- */

void *st_malloc(state_t *st, size_t n);
void *st_calloc(state_t *st, size_t n, size_t sz);
void *st_realloc(state_t *st, void *p, size_t n);
/* n bytes, 64-byte aligned, or 2 MiB-aligned with MADV_HUGEPAGE from
 * ST_HUGE up; free() frees. */
void *st_big_alloc(state_t *st, size_t n, int zero);

/* Record idx lives in chunk c = floor(log2(idx / 64 + 1)), which starts at
 * index 64 * (2^c - 1) and holds 64 << c headers, then as many payloads. */
static inline unsigned st_chunk(uint32_t idx, uint64_t *off)
{
    uint64_t q = ((uint64_t)idx >> ST_CHUNK_BASE) + 1;
    unsigned c = 63u - (unsigned)__builtin_clzll(q);
    *off = idx - (((1ull << c) - 1) << ST_CHUNK_BASE);
    return c;
}
static inline st_rec_t *st_rec(const st_tab_t *t, uint32_t idx)
{
    uint64_t off;
    unsigned c = st_chunk(idx, &off);
    return (st_rec_t *)(void *)(t->chunks[c] + off * ST_REC);
}
static inline void *st_pay(const st_tab_t *t, uint32_t idx)
{
    uint64_t off;
    unsigned c = st_chunk(idx, &off);
    return t->chunks[c] + ((uint64_t)ST_REC << (ST_CHUNK_BASE + c)) + off * t->pay_size;
}
static inline const char *st_rec_key(const st_rec_t *r)
{
    if (r->klen <= ST_KEY_INLINE)
        return r->key;
    const char *p;
    memcpy(&p, r->key, sizeof(p));
    return p;
}
static inline st_tab_t *st_table(state_t *st, uint32_t id)
{
    return id < st->nctr ? &st->ctr[id].tab : &st->labels;
}

/* Floor division (event times may be negative). */
static inline int64_t st_fdiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0)) ? q - 1 : q;
}

uint64_t st_key_hash(const char *k, size_t n);
/* Finds key in t: the record and its index, or NULL. */
st_rec_t *st_find(st_tab_t *t, const char *k, uint32_t klen, uint64_t h, uint32_t *idx);
/* Inserts a new (absent) key; the payload is zeroed, head = 0.  NULL when
 * out of memory (nothing changed). */
st_rec_t *st_insert(state_t *st, st_tab_t *t, const char *k, uint32_t klen, uint64_t h,
                    uint32_t *idx);
/* Removes record idx (frees its sets) and updates the accounting. */
void st_remove(state_t *st, st_tab_t *t, uint32_t idx);
/* Room for one queue append; -1 when growing fails. */
int st_queue_reserve(state_t *st, st_tab_t *t);
/* Marks record idx most recently used (needs a prior successful reserve). */
void st_touch(state_t *st, st_tab_t *t, st_rec_t *r, uint32_t idx);
/* Accounted bytes of record idx of table t (header, payload, long key, sets). */
uint64_t st_rec_bytes(const state_t *st, const st_tab_t *t, uint32_t idx);
uint64_t st_dset_bytes(const st_dset_t *s);
/* Is the record's content invisible at the current clock? */
int st_rec_expired(const state_t *st, const st_tab_t *t, const st_rec_t *r);
/* Evicts LRU entries while over the ceiling, sparing record keep of table
 * keep_tab (UINT32_MAX: none). */
void st_enforce_ceiling(state_t *st, uint32_t keep_tab, uint32_t keep_idx);
/* Recomputes the per-window sums of a plain counter's record from its
 * rings (after loading it). */
void st_resum(const st_counter_t *c, st_rec_t *r, uint32_t *pay);
/* Sets the clock without sweeping (loading a snapshot). */
void st_set_clock(state_t *st, int64_t ts);
/* Builds the counters of st from defs (st zeroed except fail_after). */
int st_init(state_t *st, const state_counter_def_t *defs, size_t n, char *errstr,
            size_t errstr_size);
void st_free_content(state_t *st);
/* Changelog tracking (st->j set): notes table t's entry k (record r at idx,
 * or r NULL when absent) as changed, keeping its value first if this is its
 * first change since the commit.  Call before changing it.  0, or -1 when
 * out of memory (then nothing changed, and the log is marked broken). */
int st_jnote(state_t *st, st_tab_t *t, const char *k, uint32_t klen, const st_rec_t *r,
             uint32_t idx);
void st_journal_free(state_t *st);

#endif

/* engine/eng_state_int.h — private to engine/eng_state*.c: the structures
 * behind eng_state_t (key tables, bucket rings, distinct sets, the LRU
 * queues) and the helpers the snapshot code shares with the hot path. */
#ifndef WARDEN_ENG_STATE_INT_H
#define WARDEN_ENG_STATE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "engine/eng_hll.h"
#include "engine/eng_state.h"

#define ST_MINUTE   60000LL
#define ST_HOUR     3600000LL
#define ST_DAY      86400000LL
#define ST_LEVELS   3               /* minute, hour, day */
#define ST_MAX_WINDOW (366 * ST_DAY)
#define ST_KEY_INLINE 24            /* keys up to this length live in the record */
#define ST_CHUNK_SHIFT 7            /* records per allocation chunk: 128 */
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

/* A key's record: this header, then the payload (counter rings: uint32_t
 * counts, or st_dset_t pointers for distinct counters; nothing for labels). */
typedef struct st_rec {
    uint64_t qpos;      /* position of this key's newest entry in its table's queue */
    uint64_t tseq;      /* global touch sequence (LRU order across tables) */
    int64_t  head;      /* counters: newest event ts counted; labels: expiry ts */
    uint32_t hash;      /* low 32 bits of the key hash */
    uint32_t klen;      /* ST_FREE on the free list */
    union {
        char  in[ST_KEY_INLINE];
        char *ptr;
    } key;
} st_rec_t;

/* A distinct set: up to ST_EXACT_MAX value hashes, then a dense HLL. */
typedef struct st_dset {
    uint32_t n;         /* exact: hashes held; UINT32_MAX for a sketch */
    uint32_t cap;       /* exact: capacity */
    uint64_t v[];       /* hashes, or ENG_HLL_BYTES of registers */
} st_dset_t;
#define ST_DSET_HLL UINT32_MAX

/* FIFO of record indices in touch order with lazy deletion: an entry at
 * position pos is live iff the record's qpos == pos. */
typedef struct st_queue {
    uint32_t *e;
    uint64_t  lo, hi;   /* live positions [lo, hi) */
    uint32_t  mask;     /* capacity - 1 */
} st_queue_t;

/* Open-addressing table (linear probing, backward-shift deletion) over
 * fixed-size records kept in chunks; slot = hash32 << 32 | (index + 1). */
typedef struct st_tab {
    uint32_t        id;         /* counter index, or nctr for labels */
    uint32_t        rec_size;
    uint64_t       *slots;
    uint32_t        mask;
    uint32_t        used;       /* live records */
    unsigned char **chunks;
    uint32_t        nchunks;
    uint32_t        nrec;       /* records carved so far */
    uint32_t        free_head;  /* free list: index + 1 */
    uint32_t        cache;      /* last record found: index + 1 */
    st_queue_t      q;
    int64_t         next_check; /* clock at which to look at the queue front again */
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
    uint32_t   nslots;
    st_tab_t   tab;
} st_counter_t;

struct eng_state {
    st_counter_t *ctr;
    size_t        nctr;
    st_tab_t      labels;
    uint64_t      fingerprint;
    int64_t       clock;
    int64_t       sweep_hour;   /* clock hour of the last full sweep */
    uint64_t      seq;          /* touch sequence */
    size_t        max_bytes;
    uint64_t      bytes;
    uint64_t      late_skipped, evictions, expired, nkeys;
    /* scratch for distinct reads and composite label keys */
    uint64_t     *uset;
    uint32_t      uset_mask;
    uint8_t       acc[ENG_HLL_BYTES];
    char         *kbuf;
    size_t        kbuf_cap;
    long          fail_after;   /* test hook: countdown to a failing allocation */
};

/* ---- shared between eng_state.c and eng_state_snap.c ---- */

void *st_malloc(eng_state_t *st, size_t n);
void *st_calloc(eng_state_t *st, size_t n, size_t sz);
void *st_realloc(eng_state_t *st, void *p, size_t n);

static inline st_rec_t *st_rec(const st_tab_t *t, uint32_t idx)
{
    return (st_rec_t *)(void *)(t->chunks[idx >> ST_CHUNK_SHIFT] +
                                (size_t)(idx & ((1u << ST_CHUNK_SHIFT) - 1)) * t->rec_size);
}
static inline const char *st_rec_key(const st_rec_t *r)
{
    return r->klen <= ST_KEY_INLINE ? r->key.in : r->key.ptr;
}
static inline void *st_payload(st_rec_t *r)
{
    return (char *)r + sizeof(st_rec_t);
}
static inline st_tab_t *st_table(eng_state_t *st, uint32_t id)
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
st_rec_t *st_insert(eng_state_t *st, st_tab_t *t, const char *k, uint32_t klen, uint64_t h,
                    uint32_t *idx);
/* Removes record idx (frees its sets) and updates the accounting. */
void st_remove(eng_state_t *st, st_tab_t *t, uint32_t idx);
/* Room for one queue append; -1 when growing fails. */
int st_queue_reserve(eng_state_t *st, st_tab_t *t);
/* Marks record idx most recently used (needs a prior successful reserve). */
void st_touch(eng_state_t *st, st_tab_t *t, st_rec_t *r, uint32_t idx);
/* Accounted bytes of record r of table t (record, long key, sets). */
uint64_t st_rec_bytes(const eng_state_t *st, const st_tab_t *t, const st_rec_t *r);
uint64_t st_dset_bytes(const st_dset_t *s);
/* Is the record's content invisible at the current clock? */
int st_rec_expired(const eng_state_t *st, const st_tab_t *t, const st_rec_t *r);
/* Evicts LRU entries while over the ceiling, sparing record keep of table
 * keep_tab (UINT32_MAX: none). */
void st_enforce_ceiling(eng_state_t *st, uint32_t keep_tab, uint32_t keep_idx);
/* Builds the counters of st from defs (st zeroed except fail_after). */
int st_init(eng_state_t *st, const eng_state_counter_def_t *defs, size_t n, char *errstr,
            size_t errstr_size);
void st_free_content(eng_state_t *st);

#endif

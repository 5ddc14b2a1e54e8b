/* kafka/kfk_int.h — private to kafka/: the loop's struct and the functions
 * its files share.  One concern per file:
 *   kfk.c        lifecycle (kfk_new/kfk_destroy), topics, stats, fatal errors
 *   kfk_conf.c   client configuration (warden's defaults and forced settings)
 *   kfk_slots.c  partitions and state slots: rebalance, restore from the changelog
 *   kfk_txn.c    transactions: begin/commit/abort+rewind, new producers, produce
 *   kfk_align.c  event-time alignment of co-partitioned inputs
 *   kfk_loop.c   signals and the poll → process loop
 *   kfk_rewind.c `warden rewind`: the group's members and offsets, the
 *                changelog's records per slot, the rewind's transaction
 * Nothing here is API: commands include kafka/kfk.h only. */
#ifndef WARDEN_KAFKA_KFK_INT_H
#define WARDEN_KAFKA_KFK_INT_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>
#include <pthread.h>

#include "base/wd_buf.h"
#include "base/wd_log.h"
#include "kafka/kfk.h"

#define KFK_RESTORE_STALL_S    120      /* a restore that reads nothing this long fails */
#define KFK_PRODUCER_RESTARTS  3        /* new producers in a row without a commit */
#define KFK_PRODUCER_INIT_MAX_S 300     /* a new producer waits this long for its coordinator */
#define KFK_LAT_MAX_SAMPLES    (4u << 20)
#define KFK_ALIGN_MAX_HELD     200000   /* past this, messages go out without waiting */

/* A state slot: partition N of every input topic (co-partitioned inputs)
 * or of one topic.  It owns the handler's object. */
typedef struct kslot {
    char      *topic;          /* NULL: co-partitioned, all input topics */
    int32_t    partition;
    int32_t    cl_part;        /* changelog partition */
    char      *key;            /* changelog key: "TOPIC/N", or "* /N" without the space */
    void      *user;
    int        refs;           /* assigned topic-partitions using it */
    int        dirty;          /* touched in the open batch */
    int        fdirty;         /* touched in the batch whose commit is in flight */
    int        migrate;        /* restored from an old whole-slot snapshot: its
                                  record gets a tombstone at the next commit */
    kfk_pos_t  pos;            /* merge: the last position handed out */
    int        has_pos;
} kslot_t;

struct kfk_changelog {
    kfk_t    *k;
    kslot_t  *slot;
    wd_buf_t  key;             /* scratch: "SLOT\0ID" */
};

/* One assigned input topic-partition. */
typedef struct ktp {
    char                 *topic;
    int32_t               partition;
    kslot_t              *slot;
    int                   dirty;        /* consumed in the open batch */
    int64_t               batch_first;  /* offset of its first message in the batch */
    int                   fdirty;       /* consumed in the batch whose commit is in flight */
    int64_t               fbatch_first; /* that batch's first offset here */
    int64_t               next;         /* offset after its last message handed out */
    int                   eof;          /* caught up (no message fetched since EOF) */
    int64_t               polled_next;  /* offset after the last message polled, -1 before */
    rd_kafka_message_t  **q;            /* held for event-time alignment */
    uint64_t             *q_ns;         /* when each was polled */
    kfk_pos_t            *q_pos;        /* merge: each one's warden.pos; pace: its time */
    int                  *q_kind;       /* merge: KFK_POS_* */
    int                   paused;       /* merge, pace: paused for holding too much */
    uint64_t              eof_ns;       /* when eof was last seen (idle) */
    size_t                qhead, qlen, qcap;
    size_t                qbytes;       /* what is held, counted as KFK_HELD_COST */
} ktp_t;

/* A held message's weight against kfk_t.hold_max: its value and key, and
 * about what librdkafka allocates around it. */
#define KFK_HOLD_MIN (8u << 20)
#define KFK_HELD_COST(m) ((m)->len + (m)->key_len + 256)

#define KFK_RKTS 8   /* actions, dead letters, changelog, internal topics */
#define KFK_MBUF 256 /* messages per consumer call */

struct kfk {
    const wd_config_t   *cfg;
    kfk_opts_t           o;
    kfk_handler_t        h;
    rd_kafka_t          *c;
    rd_kafka_t          *p;
    rd_kafka_t          *restorer;
    rd_kafka_t          *wm;             /* read_uncommitted: the changelog's high watermarks */
    kslot_t            **slots;
    size_t               nslots, capslots;
    ktp_t              **tps;
    size_t               ntps, captps;
    int                  copart;         /* slots span all input topics */
    int                  align;          /* hold messages for event-time order */
    int                  pace;           /* align across every partition by h.pace_time */
    wd_log_every_t       misaligned_log; /* alignment give-ups (repeats suppressed) */
    size_t               held;           /* messages held, all partitions */
    size_t               hold_max;       /* merge, pace: a partition holding more bytes pauses */
    uint64_t             last_tick_ns;   /* the handler's last tick */
    int                  open;           /* a transaction is open */
    int                  stopping;       /* finish the batch and return (max_events) */
    uint64_t             events;         /* messages handed out that are events (max_events) */
    size_t               nbatch;
    uint64_t             batch_start_ns;
    uint64_t            *poll_ns;        /* per message of the batch */
    uint32_t            *lat;            /* µs samples */
    size_t               nlat, caplat;
    int                  fatal;
    char                 fatal_msg[512];
    rd_kafka_conf_t     *pconf;          /* the producer's config, for a new producer */
    int                  prestarts;      /* new producers since the last commit */
    long                 txn_timeout_ms; /* the producer's transaction.timeout.ms */
    int32_t              cl_parts;       /* changelog partition count */
    char               **tp_names;       /* input topics, sorted, with */
    int32_t             *tp_base;        /* their first changelog partition */
    size_t               ntp;
    kfk_stats_t          st;
    /* The commit in flight (kfk_txn.c, "overlap"): send_offsets_to_transaction
     * and commit_transaction of a sealed batch run on the committer thread
     * while the loop evaluates the next batch without a transaction
     * (pending): what that batch produces is held in pend until the commit
     * is done and its own transaction begins.  The main thread touches
     * neither the producer nor the sealed batch's log meanwhile (the next
     * batch's changes go to a log of their own). */
    int                  overlap;        /* on: the handler can seal (or is stateless) */
    int                  inflight;       /* the committer thread runs (or ran, not reaped) */
    int                  pending;        /* the open batch has no transaction yet */
    int                  f_done;         /* set by the committer thread (atomic) */
    pthread_t            f_thr;
    rd_kafka_error_t    *f_err;          /* the committer's error, NULL: committed */
    const char          *f_what;         /* the call that failed */
    rd_kafka_topic_partition_list_t *f_offs;
    rd_kafka_consumer_group_metadata_t *f_gm;
    uint64_t            *f_poll_ns;      /* the sealed batch's poll times */
    size_t               f_nbatch;
    uint64_t             f_start_ns;     /* its start (the transaction's age) */
    uint64_t             f_commit_ns;    /* when it was handed to the thread */
    uint64_t             last_between_ns;
    /* handles on p of the topics produced to, kept: a lookup by name
     * takes the producer's lock per record (kfk_topics_drop frees them) */
    struct kfk_rkt { char *name; rd_kafka_topic_t *rkt; } rkts[KFK_RKTS];
    size_t               nrkts;
    /* messages taken from the consumer in one call and not yet handled
     * (kfk_loop.c: next_message); mbuf[mpos..mn) */
    rd_kafka_queue_t    *cq;             /* the consumer's queue */
    rd_kafka_message_t  *mbuf[KFK_MBUF];
    size_t               mpos, mn;
    wd_buf_t             pend;           /* records of the pending batch, packed */
    size_t               npend;
    struct kpend        *pendv;          /* their places in pend */
    size_t               cappend;
};

/* kfk.c */
/* Records the first fatal error (later ones are dropped) and logs it; the
 * loop stops at its next check. */
void kfk_fatal(kfk_t *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Calls the handler's report hook, if any. */
void kfk_report(kfk_t *k);

/* kfk_conf.c: the three clients' configs.  Return NULL with errstr. */
rd_kafka_conf_t *kfk_conf_producer(kfk_t *k, char *errstr, size_t n);
rd_kafka_conf_t *kfk_conf_consumer(kfk_t *k, char *errstr, size_t n);
rd_kafka_conf_t *kfk_conf_restorer(kfk_t *k, char *errstr, size_t n);
/* read_uncommitted, no group: asks for high watermarks (a read_committed
 * client is told the last stable offset instead). */
rd_kafka_conf_t *kfk_conf_watermarks(kfk_t *k, char *errstr, size_t n);

/* kfk.c: lays out the state slots of the sorted input topics
 * (k->tp_names): sets k->copart and k->tp_base; returns how many slots
 * (the changelog's partition count when warden creates it). */
int32_t kfk_layout(kfk_t *k);

/* kfk_slots.c */
/* The changelog partition of the slot of an input topic-partition. */
int32_t kfk_cl_partition(const kfk_t *k, const char *topic, int32_t partition);
/* The slot's changelog key: "TOPIC/N", or "* /N" (no space) co-partitioned. */
void kfk_slot_key(const kfk_t *k, const char *topic, int32_t partition, char *buf, size_t n);
ktp_t *kfk_tp_find(kfk_t *k, const char *topic, int32_t partition);
/* Frees t, its held messages and (last reference) its slot. */
void kfk_tp_free(kfk_t *k, ktp_t *t);
/* The consumer's rebalance callback (opaque: the kfk_t). */
void kfk_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                      void *opaque);

/* kfk_txn.c.  Internally KFK_REDO means "aborted and rewound: the batch
 * comes again from the consumer", i.e. the redo is already under way. */
/* init_transactions, retried while the coordinator is not there yet, for
 * at most max_s seconds (0: no limit) and not after a stop signal.
 * Returns 0, or -1 with errstr. */
int kfk_txn_init(kfk_t *k, int max_s, char *errstr, size_t n);
/* Opens the batch's transaction.  KFK_OK or KFK_FATAL. */
kfk_rc_t kfk_txn_begin(kfk_t *k);
/* Commits the open batch: precommit, changelog records, offsets, commit.
 * KFK_OK, KFK_REDO (rewound; the loop goes on) or KFK_FATAL. */
kfk_rc_t kfk_txn_commit(kfk_t *k);
/* Acts on a KFK_REDO from a handler or a produce: a new producer when the
 * producer failed fatally, else an abort; then the rewind.  KFK_REDO or
 * KFK_FATAL. */
kfk_rc_t kfk_txn_redo(kfk_t *k, const char *why);

/* The in-flight commit, when there is one: waits for it (block) or looks
 * (!block: returns KFK_OK at once while it runs), and acts on its end —
 * the sealed batch's slots committed, or the abort (or new producer) and
 * the rewind of both batches.  Then a pending batch gets its transaction
 * and its held records.  KFK_OK (KFK_REDO handled) or KFK_FATAL. */
kfk_rc_t kfk_txn_reap(kfk_t *k, int block);
/* Commits everything now: the commit in flight, then the open batch,
 * synchronously (revoke, stop, before the handler's between).  KFK_OK
 * (a redo handled) or KFK_FATAL. */
kfk_rc_t kfk_txn_drain(kfk_t *k);
/* Destroys the topic handles kept on the producer (before it goes). */
void kfk_topics_drop(kfk_t *k);
/* Destroys the taken messages of partition t not yet handled (t NULL:
 * all of them): after a seek they would be stale. */
void kfk_mbuf_drop(kfk_t *k, const ktp_t *t);
/* Before the consumer closes: no taken message may outlive it. */
void kfk_consumer_release(kfk_t *k);
/* After a fatal error: waits for the committer thread, drops its result
 * and the pending records. */
void kfk_txn_abandon(kfk_t *k);

/* kfk_align.c */
void kfk_q_clear(kfk_t *k, ktp_t *t);
/* Holds m (polled at ns) on t's queue (merge: with its warden.pos).  0,
 * or -1 out of memory. */
int kfk_q_push(kfk_t *k, ktp_t *t, rd_kafka_message_t *m, uint64_t ns);
/* Merge: resumes t if it was paused for holding too much. */
void kfk_q_resume(kfk_t *k, ktp_t *t);
/* Hands out held messages in event-time order (force: without waiting for
 * lagging topics).  KFK_OK or KFK_FATAL. */
kfk_rc_t kfk_align_release(kfk_t *k, int force);

/* Merge: hands out held messages of every slot in warden.pos order, as
 * far as every upstream allows.  KFK_OK or KFK_FATAL. */
kfk_rc_t kfk_merge_release(kfk_t *k);
/* Merge: is the slot idle (every upstream's last word is "idle")? */
int kfk_merge_idle(const kfk_t *k, const kslot_t *sl);

/* kfk_loop.c */
/* Hands m to the handler in the open batch (opening it), commits when the
 * batch is full.  Takes ownership of m.  KFK_OK or KFK_FATAL. */
kfk_rc_t kfk_process(kfk_t *k, ktp_t *t, rd_kafka_message_t *m, uint64_t polled_ns);
/* The handler's tick (kfk_handler_t.tick) in a transaction of its own. */
kfk_rc_t kfk_tick(kfk_t *k);
/* Should the batch ending now commit in full rather than in flight (a
 * signal, a stop, the handler's between overdue)? */
int kfk_between_due(const kfk_t *k);
/* 1 once SIGTERM/SIGINT arrived (or kfk_request_stop). */
int kfk_stop_requested(void);

#endif

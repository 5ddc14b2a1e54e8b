/* kafka/kfk.h — the exactly-once consume-transform-produce loop shared
 * by `warden run` and `warden split`: a consumer group on the input topics, a
 * transactional producer, batches bounded in size and time whose outputs,
 * per-partition state snapshots (compacted changelog topic) and consumed
 * offsets commit in one Kafka transaction; abort-and-rewind on abortable
 * errors, a clean exit on fatal ones; dead letters with warden.* headers. */
#ifndef WARDEN_KAFKA_KFK_H
#define WARDEN_KAFKA_KFK_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "base/wd_buf.h"

typedef struct kfk kfk_t;
/* A slot's changelog inside the open transaction (kfk_changelog_put). */
typedef struct kfk_changelog kfk_changelog_t;
typedef struct wd_config wd_config_t;

/* What a handler callback, kfk_produce and kfk_dead_letter tell the loop
 * to do next (the way rd_kafka_error_txn_requires_abort() and
 * rd_kafka_error_is_fatal() classify librdkafka's errors).  The value is
 * the whole contract: there are no side flags. */
typedef enum kfk_rc {
    /* Done; go on with the batch. */
    KFK_OK = 0,
    /* The open transaction cannot commit, but the service can go on: the
     * loop aborts it (or, when the producer itself failed, e.g. fenced
     * after a broker outage longer than transaction.timeout.ms, starts a
     * new producer under the same transactional.id), seeks every partition
     * of the batch back to its last committed offset, puts each touched
     * slot's state back as of the last commit (rollback), and redoes the batch — this
     * message included.  Outputs already produced in the batch are thrown
     * away with the transaction; side effects outside Kafka (store rows)
     * are written again, so they must be idempotent (upserts).  A REDO can
     * still end as FATAL (a zombie producer, too many new producers in a
     * row, an abort that fails). */
    KFK_REDO = 1,
    /* Stop the service: the transaction is aborted, kfk_run returns -1
     * with the reason, and the command exits 4. */
    KFK_FATAL = -1,
} kfk_rc_t;

/* What the command plugs into the loop.  Every callback runs on the loop's
 * thread.  `part` is the handler's per-partition object (from assign). */
typedef struct kfk_handler {
    void *ud;
    /* A state slot was assigned: partition `partition` of every input topic
     * (topic NULL) when the inputs are co-partitioned (same partition
     * count: the range assignor gives partition N of each to one process),
     * else one topic's partition.  Returns the handler's object for it in
     * *part (may stay NULL).  KFK_OK or KFK_FATAL (no batch is open: there
     * is nothing to redo). */
    kfk_rc_t (*assign)(void *ud, const char *topic, int32_t partition, void **part);
    /* The slot was revoked (its batch already committed): free part. */
    void (*revoke)(void *ud, void *part);
    /* One consumed message, inside the open transaction: produce through
     * kfk_produce / kfk_dead_letter and pass on what they return when it
     * is not KFK_OK.  KFK_OK, KFK_REDO or KFK_FATAL (above). */
    kfk_rc_t (*message)(void *ud, kfk_t *k, const rd_kafka_message_t *m, void *part);
    /* Before offsets commit: make side effects durable (store_flush).
     * KFK_OK, KFK_REDO (the batch again) or KFK_FATAL.  May be NULL. */
    kfk_rc_t (*precommit)(void *ud, kfk_t *k);
    /* The per-key changelog (all NULL for a stateless handler: no
     * changelog).  Records of a slot are keyed "SLOT\0ID" (SLOT as in the
     * logs, ID the handler's), so compaction keeps the newest per ID.
     * changes: before the offsets, put what part's state changed in the
     * open batch through kfk_changelog_put (one record per changed key).
     * committed: the batch committed; part's changes are durable.
     * rollback: the batch was aborted; put part back as of the last commit.
     * Restore, on assignment, before the slot's first message: apply gets
     * the slot's records oldest first (val NULL: a tombstone), load an old
     * whole-slot snapshot (a record keyed "SLOT": the format before the
     * per-key changelog; its entries are to be written per key at the next
     * commit), restored the end.  KFK_OK, or KFK_FATAL with errstr (a state
     * that cannot be saved or put back cannot be redone either). */
    kfk_rc_t (*changes)(void *ud, void *part, kfk_changelog_t *cl, char *errstr, size_t errstr_size);
    void (*committed)(void *ud, void *part);
    kfk_rc_t (*rollback)(void *ud, void *part, char *errstr, size_t errstr_size);
    /* After changes: the batch's commit goes on in flight while the next
     * batch is evaluated (kfk_opts_t.overlap); part's log of the sealed
     * batch is kept apart (state_log_seal), so that committed commits it
     * alone and rollback puts back both batches.  KFK_OK or KFK_FATAL.
     * NULL: a stateful handler's commits are never in flight. */
    kfk_rc_t (*seal)(void *ud, void *part, char *errstr, size_t errstr_size);
    kfk_rc_t (*apply)(void *ud, void *part, const void *id, size_t idlen, const void *val, size_t vlen,
                      char *errstr, size_t errstr_size);
    kfk_rc_t (*load)(void *ud, void *part, const void *data, size_t len, char *errstr, size_t errstr_size);
    kfk_rc_t (*restored)(void *ud, void *part, char *errstr, size_t errstr_size);
    /* Between batches (no transaction open), e.g. to reload rules on SIGHUP.
     * flags: KFK_IDLE_HUP when SIGHUP arrived.  May be NULL. */
    void (*between)(void *ud, kfk_t *k, int flags);
    /* The loop's counters moved: after every commit and every rebalance,
     * and between batches after SIGUSR1.  For a stats file; keep it cheap.
     * May be NULL. */
    void (*report)(void *ud, kfk_t *k);
    /* Every tick_ms while no batch is open, once per slot, inside a
     * transaction of its own (an upstream hop writes its watermarks here).
     * idle: the slot has nothing more to hand out for now — its input
     * partitions are caught up (for merge: every upstream said idle) for
     * idle_ms.  KFK_OK, KFK_REDO (the tick is dropped) or KFK_FATAL.  May
     * be NULL. */
    kfk_rc_t (*tick)(void *ud, kfk_t *k, void *part, int idle);
    /* Pacing, for a loop without merge that reads many partitions of a
     * backlog: the time of m in the order the input should be read (the
     * event time; INT64_MIN when it has none).  When set, every
     * partition's messages are held and handed out smallest time first
     * (ties: partition, offset), each once every other partition holds one
     * or is caught up, or after align_ms: the partitions advance side by
     * side instead of one running days of event time ahead of another (a
     * next hop that merges by event time would hold everything in between).
     * An order of reading only; nothing relies on it.  May be NULL. */
    int64_t (*pace_time)(void *ud, const rd_kafka_message_t *m);
} kfk_handler_t;

enum { KFK_IDLE_HUP = 1 };

typedef struct kfk_opts {
    const char *const *topics;      /* input topics */
    size_t             ntopics;
    const char        *group;
    const char        *txn_id;      /* transactional.id */
    const char        *changelog;   /* changelog topic (handlers with changes/apply) */
    const char        *dlq;         /* dead-letter topic */
    int                create_missing;  /* create missing output (and changelog) topics */
    const char *const *create;      /* output topics to create when missing (may be NULL) */
    size_t             ncreate;
    int                create_partitions;  /* their partition count (0: broker default) */
    long               batch_max;
    long               batch_ms;
    const char        *client_id;   /* "warden-run" … */
    uint64_t           max_events;  /* stop (commit, exit 0) after this many events (0: never;
                                     * merge: watermarks and idle marks are not events) */
    long               align_ms;    /* co-partitioned inputs: hand out messages of one
                                     * slot in Kafka-timestamp order, waiting at most
                                     * this long for a lagging topic (0: arrival order) */
    int                merge;       /* the inputs are one hop's internal topics, one per
                                     * upstream slot: hand out a slot's messages in
                                     * warden.pos order, each only once every upstream
                                     * has something held (a record or a watermark) —
                                     * exact, never by timeout (kfk_pos_t) */
    int                per_partition; /* a slot per input topic-partition even when the
                                       * topics are co-partitioned */
    long               tick_ms;     /* the handler's tick period (0: none) */
    long               idle_ms;     /* caught up this long: the slot is idle (tick) */
    size_t             hold_max_bytes; /* merge, pace: pause a partition holding more than
                                        * this (each message counted as KFK_HELD_COST;
                                        * 0: 8 MiB, or three of the consumer's
                                        * max.partition.fetch.bytes if more) */
    int                overlap;     /* evaluate the next batch while a commit is in flight
                                     * (its outputs held until its transaction begins);
                                     * taken when the handler can seal (or keeps no
                                     * state) */
} kfk_opts_t;

/* Counters of the loop (read after kfk_run, or for metrics). */
typedef struct kfk_stats {
    uint64_t consumed;       /* messages handed to the handler */
    uint64_t produced;       /* records produced (outputs, dead letters, changelog) */
    uint64_t dead_letters;
    uint64_t commits;
    uint64_t aborts;         /* batches aborted and redone (KFK_REDO, abortable errors) */
    uint64_t producer_restarts;  /* new producers after a fatal producer error */
    uint64_t snapshots;      /* changelog records written (per key, tombstones included) */
    uint64_t snapshot_bytes; /* their keys' and values' bytes */
    uint64_t tombstones;     /* of them, tombstones (entries evicted or expired) */
    uint64_t restored;       /* slots restored from the changelog (with records) */
    uint64_t restored_bytes; /* the bytes of the records they read */
    uint64_t restored_records;
    uint64_t restore_ms;     /* time spent restoring, in total */
    uint64_t restore_us;     /* the same in microseconds (a short restore is not 0) */
    uint64_t migrated;       /* slots restored from an old whole-slot snapshot */
    uint64_t assigned;       /* topic-partitions assigned, in total */
    uint64_t revoked;        /* topic-partitions revoked, in total */
    uint64_t partitions;     /* topic-partitions held now */
    uint64_t slots;          /* state slots held now */
    uint64_t misaligned;     /* events handed out before a lagging topic caught up */
    uint64_t held;           /* merge: records held now, waiting for every upstream */
    uint64_t held_max;       /* the most held at once */
    uint64_t watermarks;     /* merge: watermark records consumed */
    uint64_t late;           /* merge: records handed out behind one already handed out */
    uint64_t paused;         /* merge: times a partition was paused for holding too much */
    int64_t  wm_lag_ms;      /* merge: newest held event time minus the slowest slot's
                              * position, at the last commit (0: nothing held) */
    uint64_t commit_us;      /* commit calls (send_offsets + commit_transaction), in total */
    uint64_t commit_stall_us;/* of it, time the loop waited for a commit (not evaluating) */
    uint64_t overlapped;     /* commits that ran while the next batch was evaluated */
    uint64_t lat_p50_us;     /* poll → commit of the message's transaction */
    uint64_t lat_p99_us;
    uint64_t lat_max_us;
    uint64_t first_ns;       /* wd_now_ns() of the first message, 0 if none */
    uint64_t last_commit_ns; /* of the last commit */
} kfk_stats_t;

/* Builds the clients (kafka properties from cfg, then warden's defaults for
 * what cfg leaves unset), creates missing output topics, initialises
 * transactions.  Returns NULL with a message in errstr. */
kfk_t *kfk_new(const wd_config_t *cfg, const kfk_opts_t *opts,
                           const kfk_handler_t *h, char *errstr, size_t errstr_size);
/* Closes the clients (commits nothing: call after kfk_run). */
void kfk_destroy(kfk_t *k);

/* Runs until SIGTERM/SIGINT (commit the batch, leave the group, return 0)
 * or a fatal error (return -1 with the reason in errstr and logged). */
int kfk_run(kfk_t *k, char *errstr, size_t errstr_size);

/* Installs the SIGTERM/SIGINT/SIGHUP/SIGUSR1 handlers the loop reacts to. */
void kfk_install_signals(void);
/* Asks every loop to stop after the current batch (as SIGTERM does). */
void kfk_request_stop(void);
/* Asks this loop to stop after the current batch (from a handler). */
void kfk_stop(kfk_t *k);

/* Produces one record inside the open transaction (bytes copied).
 * ts_ms: the record's timestamp (0: now).  headers: may be NULL; ownership
 * passes to the loop.  Waits (up to 60 s) while the producer's queue is
 * full.  Returns KFK_OK; KFK_REDO when the transaction cannot commit any
 * more (it is in its abortable-error state, or the producer failed
 * fatally); KFK_FATAL for an error no redo can cure (unknown topic, record
 * too large, a queue full for a minute), logged with the topic. */
kfk_rc_t kfk_produce(kfk_t *k, const char *topic, int32_t partition,
                      const void *key, size_t keylen, const void *val, size_t vallen,
                      int64_t ts_ms, rd_kafka_headers_t *headers);

/* A record's place in the merged order of the repartitioned path: event
 * time, then the source partition and offset it came from (the raw record
 * for split input).  A watermark record says its writer has written
 * everything up to pos; an idle mark that its input is caught up and idle
 * (pos is meaningless, it sorts last). */
typedef struct kfk_pos {
    int64_t ts, part, off;
} kfk_pos_t;
enum { KFK_POS_NONE = 0, KFK_POS_RECORD = 1, KFK_POS_WM = 2, KFK_POS_IDLE = 3 };

/* Internal records (the topics GROUP.repartition.K.U between hops; docs/
 * state.md).  Format 2, written: the value is a frame — KFK_FRAME_MAGIC
 * (never the first byte of JSON text), flags (watermark, idle), the
 * position, the input record's topic/partition/offset, the carried counter
 * values ((u32 slot, i64 value)*, big-endian) — followed by the event's
 * JSON bytes; no headers.  Format 1, still read (records in flight across
 * an upgrade): the value is the event alone (empty for watermarks) and
 * the fields are headers: warden.pos (24 bytes, three big-endian int64),
 * warden.wm ("1", or "idle"), warden.src ("TOPIC/PARTITION/OFFSET"),
 * warden.cv.  A value starting with the magic byte is format 2, anything
 * else format 1; readers take both. */
#define KFK_POS_HEADER  "warden.pos"
#define KFK_WM_HEADER   "warden.wm"
#define KFK_SRC_HEADER  "warden.src"
#define KFK_CV_HEADER   "warden.cv"
#define KFK_FRAME_MAGIC 0xF2
#define KFK_FRAME_FIXED 44   /* bytes of the frame before its source topic */
typedef struct kfk_frame {
    int                  kind;          /* KFK_POS_*; NONE: not an internal record */
    int                  format;        /* 1 or 2 (0: not one) */
    kfk_pos_t            pos;           /* RECORD, WM (IDLE: all INT64_MAX) */
    const char          *src_topic;     /* RECORD: the input record; not NUL-terminated, */
    size_t               src_topic_len; /*   NULL when the record has none */
    int32_t              src_partition;
    int64_t              src_offset;
    const unsigned char *cv;            /* RECORD: carried values (NULL: none) */
    size_t               cv_len;
    const void          *val;           /* RECORD: the event's JSON bytes */
    size_t               val_len;
} kfk_frame_t;
/* Appends the format-2 frame of f (kind, pos; for RECORD src and cv) to
 * out; the event's bytes go after it.  0, or -1 (out of memory, a topic
 * over 65,535 bytes, cv_len not a multiple of 12). */
int kfk_frame_put(wd_buf_t *out, const kfk_frame_t *f);
/* Reads an internal record of either format (value val[0..len), headers h,
 * may be NULL) into *f: its pointers borrow from val and h.  Returns
 * f->kind; KFK_POS_NONE for a record with no position or a damaged frame.
 * No allocation; format 2 reads no header. */
int kfk_frame_parse(const void *val, size_t len, const rd_kafka_headers_t *h, kfk_frame_t *f);
/* kfk_frame_parse of a message (its headers are looked at for format 1 only). */
int kfk_frame_of(const rd_kafka_message_t *m, kfk_frame_t *f);
/* Adds f's fields to h as format 1's headers (dead letters of internal
 * records keep those: warden.src names the input record). */
void kfk_frame_headers(const kfk_frame_t *f, rd_kafka_headers_t *h);

/* What m is (KFK_POS_*), with its position in *p (RECORD, WM). */
int kfk_pos_of(const rd_kafka_message_t *m, kfk_pos_t *p);
/* Adds the warden.pos header for p to h. */
void kfk_pos_put(rd_kafka_headers_t *h, const kfk_pos_t *p);
/* <0, 0, >0 as a goes before, with, after b. */
int kfk_pos_cmp(const kfk_pos_t *a, const kfk_pos_t *b);
/* Writes a watermark (p; NULL: idle) to every partition of topic, inside
 * the open transaction.  Returns what kfk_produce does. */
kfk_rc_t kfk_watermark(kfk_t *k, const char *topic, int nparts, const kfk_pos_t *p);
/* Pacing: the smallest time (kfk_handler_t.pace_time) of the messages the
 * slot part holds, not handed out yet, in *ts.  1, or 0 when it holds none
 * (or the loop does not pace). */
int kfk_slot_held_min(const kfk_t *k, const void *part, int64_t *ts);

/* Before the loops start: the partition count of each of topics (-1:
 * missing) into parts, and, when create is set, creates the missing ones
 * of names (partitions parts_new[i], compacted when compact[i]), waiting
 * until they show in the metadata.  Returns 0, or -1 with errstr. */
int kfk_topic_partitions(const wd_config_t *cfg, const char *const *topics, size_t nt, int *parts,
                         char *errstr, size_t n);
int kfk_create(const wd_config_t *cfg, const char *const *names, const int *parts_new, const int *compact,
               size_t nt, char *errstr, size_t n);

/* Header `warden.origin` ("PARTITION/OFFSET" of the raw record a split
 * record came from): event-time alignment breaks timestamp ties with it, so
 * `run` over split topics sees a single raw partition's events in their
 * raw order. */
#define KFK_ORIGIN_HEADER "warden.origin"
/* m's warden.origin into part and off: 1, or 0 when it has none (or it is
 * damaged). */
int kfk_origin_of(const rd_kafka_message_t *m, int64_t *part, int64_t *off);

/* The order in which the loop hands out the held messages of one slot's
 * co-partitioned topics: message timestamp, then the raw origin (same raw
 * partition), then the topic name.  < 0 when a (of topic ta) goes first.
 * warden explain rebuilds a slot's history in this order. */
int kfk_order_cmp(rd_kafka_message_t *a, const char *ta, rd_kafka_message_t *b, const char *tb);

/* Puts one changelog record of cl's slot into the open transaction: key
 * "SLOT\0" + id, value val (NULL: a tombstone).  Returns what kfk_produce
 * does. */
kfk_rc_t kfk_changelog_put(kfk_changelog_t *cl, const void *id, size_t idlen, const void *val,
                           size_t vlen);

/* Dead-letters m: its original key, bytes and headers, plus warden.reason,
 * warden.source ("topic/partition/offset") and warden.rule (when rule is
 * not NULL), to the DLQ topic inside the open transaction.  In merge mode
 * (internal records) a format-2 record is dead-lettered as format 1 would
 * be: the event's bytes without the frame, its fields as headers
 * (kfk_frame_headers).  Returns what kfk_produce does. */
kfk_rc_t kfk_dead_letter(kfk_t *k, const rd_kafka_message_t *m, const char *reason,
                          const char *rule);

/* The counters with the latency percentiles (a sort of every sample: call
 * it at the end, not per commit). */
void kfk_stats(const kfk_t *k, kfk_stats_t *out);
/* The counters without the latency percentiles (left 0): cheap, for a
 * stats file rewritten at every commit. */
void kfk_counters(const kfk_t *k, kfk_stats_t *out);

/* Consumer lag of one held topic-partition: the high watermark librdkafka
 * last saw (no broker round trip) minus the next offset to hand out. */
typedef struct kfk_lag {
    const char *topic;       /* borrowed: valid until the next rebalance */
    int32_t     partition;
    int64_t     lag;         /* -1: not known yet */
} kfk_lag_t;
/* Fills out[0..max) for the held partitions; returns how many are held. */
size_t kfk_lags(kfk_t *k, kfk_lag_t *out, size_t max);

/* The partition count of topic (metadata), or -1. */
int kfk_partitions(kfk_t *k, const char *topic);

#endif

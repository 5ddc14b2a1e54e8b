/* kafka/kfk_tail.h — a small compacted topic every process reads whole:
 * read from the beginning to the end it had when asked (before the first
 * event), then followed without blocking (between batches), and written
 * through its own idempotent producer, each record acknowledged (acks=all)
 * before the call returns.  Outside the loop's transactions: its records
 * are settings (runtime list entries, manual labels), not outputs.  The
 * records go to a callback as they are; the caller parses them. */
#ifndef WARDEN_KAFKA_KFK_TAIL_H
#define WARDEN_KAFKA_KFK_TAIL_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

typedef struct kfk_tail kfk_tail_t;
typedef struct wd_config wd_config_t;

/* One record (m->err is 0).  The return value is ignored. */
typedef void (*kfk_tail_fn)(void *ud, const rd_kafka_message_t *m);

/* Opens topic with cfg's kafka properties.  create: create it when missing
 * (one partition, cleanup.policy=compact, min.compaction.lag.ms 7 days so
 * replays of the last week see every change).  Returns NULL with errstr
 * (no brokers, no such topic and create off: then *absent, may be NULL,
 * is 1). */
kfk_tail_t *kfk_tail_open(const wd_config_t *cfg, const char *topic, int create, int *absent,
                          char *errstr, size_t errstr_size);
void kfk_tail_close(kfk_tail_t *t);
const char *kfk_tail_topic(const kfk_tail_t *t);

/* Reads every record up to the high watermarks of now (fn for each),
 * waiting at most timeout_ms.  Returns the records read, or -1 with errstr. */
long kfk_tail_catch_up(kfk_tail_t *t, kfk_tail_fn fn, void *ud, int timeout_ms, char *errstr,
                       size_t errstr_size);
/* The records that arrived since (fn for each), without waiting. */
size_t kfk_tail_follow(kfk_tail_t *t, kfk_tail_fn fn, void *ud);

/* Produces one record (val NULL: a tombstone) with timestamp ts_ms (0:
 * now) and waits up to 10 s for its acknowledgement.  *offset (may be
 * NULL) gets its offset.  0, or -1 with errstr. */
int kfk_tail_put(kfk_tail_t *t, const void *key, size_t klen, const void *val, size_t vlen,
                 int64_t ts_ms, int64_t *offset, char *errstr, size_t errstr_size);

/* A one-partition compacted topic (min.compaction.lag.ms when not NULL);
 * one that exists already is fine.  what names it in messages ("control
 * topic").  0, or -1 with a message. */
int kfk_compacted_create(rd_kafka_t *rk, const char *topic, const char *min_lag_ms, const char *what,
                         char *errstr, size_t n);
/* A topic's partition count from metadata (0: not there, -1: no metadata). */
int kfk_compacted_partitions(rd_kafka_t *rk, const char *topic);

/* rd_kafka_query_watermark_offsets of topic's partition p, retried every
 * 200 ms until until_ns (wd_now_ns time) while the error is one a topic
 * created a moment ago gives (no leader yet, not in the metadata yet, a
 * timeout): 0 or the last error. */
rd_kafka_resp_err_t kfk_watermarks_wait(rd_kafka_t *rk, const char *topic, int p, int64_t *lo, int64_t *hi,
                                        uint64_t until_ns);

/* How long kfk_compacted_ensure waits for the brokers (ms). */
#define KFK_COMPACTED_WAIT_MS 60000
/* The partition count of topic, read through rk, waiting (at most wait_ms,
 * logging once why) while the brokers do not answer — a broker busy or
 * paused at start-up answers late, not never; when it is missing and
 * create is set, creates it (kfk_compacted_create through admin, may be
 * rk) and waits until the metadata shows it.  *absent (may be NULL) is set
 * when it is missing and not created.  > 0, or -1 with a message naming
 * what ("control topic"). */
int kfk_compacted_ensure(rd_kafka_t *rk, rd_kafka_t *admin, const char *topic, int create,
                         const char *min_lag_ms, const char *what, int wait_ms, int *absent,
                         char *errstr, size_t n);

#endif

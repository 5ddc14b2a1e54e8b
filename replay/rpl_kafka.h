/* replay/rpl_kafka.h — the bounded Kafka reader of `warden replay`: for
 * every partition of the input topics, the offsets of a time range
 * (offsets-for-times on the message timestamps), read by its own consumer
 * with no group (a live group's offsets are never touched), read_committed,
 * until every partition reaches its end offset; events handed on in
 * event-time order across partitions (ties by partition, then offset). */
#ifndef WARDEN_REPLAY_RPL_KAFKA_H
#define WARDEN_REPLAY_RPL_KAFKA_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "base/wd_buf.h"
#include "base/wd_config.h"
#include "engine/eng_engine.h"

typedef struct rpl_kafka rpl_kafka_t;

/* Connects with cfg's kafka settings, looks up the partitions of topics and
 * their offsets for [start_ms, to_ms) (message time).  A start older than a
 * partition's retention is an error naming the earliest retained time of
 * every such partition.  Returns NULL with a message in errstr. */
rpl_kafka_t *rpl_kafka_open(const wd_config_t *cfg, const char *const *topics, size_t ntopics,
                            int64_t start_ms, int64_t to_ms, const char *ts_field,
                            char *errstr, size_t errstr_size);
void rpl_kafka_close(rpl_kafka_t *k);

/* The topics and offset ranges as a JSON object, for the report. */
void rpl_kafka_describe(const rpl_kafka_t *k, wd_buf_t *b);
/* The offset range [*start, *end) read from topic/partition: 0, or -1
 * when it is not one of the reader's partitions. */
int rpl_kafka_range(const rpl_kafka_t *k, const char *topic, int32_t partition, int64_t *start,
                    int64_t *end);
/* Messages in the offset ranges (the progress total). */
uint64_t rpl_kafka_total(const rpl_kafka_t *k);

/* Per message: its bytes and source; done/total messages for progress.
 * Return 0 to go on, 1 to stop (signal), -1 to fail. */
typedef int (*rpl_kafka_fn)(void *ud, const char *buf, size_t len, const eng_src_t *src,
                            uint64_t done, uint64_t total);

/* During fn: the message's parsed document (the reader parsed it for the
 * merge order), valid until fn returns; NULL when it did not parse. */
const wd_jval_t *rpl_kafka_doc(const rpl_kafka_t *k);

/* Reads every range to its end.  Returns 0, 1 when stopped (*stop set or fn
 * said so), -1 with a message in errstr. */
int rpl_kafka_run(rpl_kafka_t *k, rpl_kafka_fn fn, void *ud, volatile sig_atomic_t *stop,
                  char *errstr, size_t errstr_size);

#endif

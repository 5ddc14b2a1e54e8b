#include "replay/rpl_kafka.h"

#include <stdio.h>

rpl_kafka_t *rpl_kafka_open(const wd_config_t *cfg, const char *const *topics, size_t ntopics,
                            int64_t start_ms, int64_t to_ms, const char *ts_field,
                            char *errstr, size_t errstr_size)
{
    (void)cfg, (void)topics, (void)ntopics, (void)start_ms, (void)to_ms, (void)ts_field;
    snprintf(errstr, errstr_size, "Kafka replay is not built yet");
    return NULL;
}
void rpl_kafka_close(rpl_kafka_t *k) { (void)k; }
void rpl_kafka_describe(const rpl_kafka_t *k, wd_buf_t *b) { (void)k, (void)b; }
uint64_t rpl_kafka_total(const rpl_kafka_t *k) { (void)k; return 0; }
int rpl_kafka_run(rpl_kafka_t *k, rpl_kafka_fn fn, void *ud, volatile sig_atomic_t *stop,
                  char *errstr, size_t errstr_size)
{
    (void)k, (void)fn, (void)ud, (void)stop;
    snprintf(errstr, errstr_size, "Kafka replay is not built yet");
    return -1;
}

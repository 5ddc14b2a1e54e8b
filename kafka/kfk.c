/* kafka/kfk.c — the exactly-once consume-transform-produce loop.
 *
 * One consumer (group, read_committed, no auto-commit) and one
 * transactional producer.  A batch opens a transaction at its first message;
 * the handler produces its outputs into it; at batch_max messages or
 * batch_ms the loop runs the handler's precommit (results to the store),
 * writes one record per state entry the batch changed to the compacted
 * changelog (key "SLOT\0ID", SLOT "topic/partition" or "* /partition"),
 * sends the consumed offsets and commits — outputs, state and offsets
 * become visible together or not at all.
 *
 * An abortable error aborts the transaction, seeks every touched partition
 * back to its batch's first offset (= the committed offset) and has the
 * handler roll its state back to the last commit (an undo log of the
 * entries the batch changed), so the batch is redone from the same state.  A fatal error (fenced producer, …) stops the
 * loop with a non-zero exit.  On revoke the in-flight batch commits first;
 * on assign each partition's state is restored from the changelog
 * (read_committed) before its first message is handed out.
 *
 * This file: building and closing the clients, topics, the counters and
 * the fatal-error record.  kfk_int.h names the files of the other
 * concerns. */
#include "kafka/kfk_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/wd_config.h"
#include "base/wd_log.h"
#include "base/wd_util.h"

void kfk_fatal(kfk_t *k, const char *fmt, ...)
{
    if (k->fatal)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->fatal_msg, sizeof k->fatal_msg, fmt, ap);
    va_end(ap);
    k->fatal = 1;
    LOG_ERROR("kafka fatal: %s", k->fatal_msg);
}

void kfk_report(kfk_t *k)
{
    if (k->h.report)
        k->h.report(k->h.ud, k);
}

int kfk_partitions(kfk_t *k, const char *topic)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(k->p, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int n = -1;
    if (rkt && rd_kafka_metadata(k->p, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
            n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    return n;
}

/* Creates missing topics (existing ones are left alone).  Failures other
 * than "exists" are logged: the topics may be managed elsewhere. */
static void create_topics(kfk_t *k, const char *const *names, const int *parts,
                          const int *compact, size_t n)
{
    char err[512];
    if (n == 0)
        return;
    rd_kafka_NewTopic_t **nt = calloc(n, sizeof(*nt));
    if (!nt)
        return;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        nt[m] = rd_kafka_NewTopic_new(names[i], parts[i], -1, err, sizeof err);
        if (!nt[m]) {
            LOG_WARN("create topic=%s: %s", names[i], err);
            continue;
        }
        if (compact[i]) {
            rd_kafka_NewTopic_set_config(nt[m], "cleanup.policy", "compact");
            rd_kafka_NewTopic_set_config(nt[m], "max.message.bytes", "16777216");
            rd_kafka_NewTopic_set_config(nt[m], "min.cleanable.dirty.ratio", "0.1");
            /* Small segments so compaction keeps the restore read short. */
            rd_kafka_NewTopic_set_config(nt[m], "segment.ms", "600000");
            rd_kafka_NewTopic_set_config(nt[m], "segment.bytes", "67108864");
        }
        m++;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(k->p);
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(k->p, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(ao, 10000, err, sizeof err);
    rd_kafka_CreateTopics(k->p, nt, m, ao, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 20000);
    if (!ev) {
        LOG_WARN("create topics: no answer in 20 s");
    } else if (rd_kafka_event_error(ev)) {
        LOG_WARN("create topics: %s", rd_kafka_event_error_string(ev));
    } else {
        size_t cnt;
        const rd_kafka_topic_result_t **tr =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
        for (size_t i = 0; i < cnt; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
                LOG_INFO("created topic=%s", rd_kafka_topic_result_name(tr[i]));
            else if (e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                LOG_WARN("create topic=%s: %s", rd_kafka_topic_result_name(tr[i]),
                         rd_kafka_topic_result_error_string(tr[i]));
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_queue_destroy(q);
    for (size_t i = 0; i < m; i++)
        rd_kafka_NewTopic_destroy(nt[i]);
    free(nt);
}

/* Waits until the metadata of every topic in names shows it: a topic the broker has just created is not
 * in every broker's metadata at once, and checking too early failed a start
 * now and then.  Polls every 200 ms for at most wait_ms, logging once which
 * topic it waits for; stops early on a stop signal.  Returns the index of
 * the first topic still missing, or -1 when all are there. */
static int wait_topics(kfk_t *k, const char *const *names, size_t n, int wait_ms)
{
    uint64_t t0 = wd_now_ns();
    int logged = -1;
    for (;;) {
        int missing = -1;
        for (size_t i = 0; i < n && missing < 0; i++) {
            if (kfk_partitions(k, names[i]) <= 0)
                missing = (int)i;
        }
        if (missing < 0)
            return -1;
        if ((wd_now_ns() - t0) / 1000000u >= (uint64_t)wait_ms || kfk_stop_requested())
            return missing;
        if (logged != missing) {
            LOG_INFO("waiting for topic=%s to appear in the broker's metadata", names[missing]);
            logged = missing;
        }
        struct timespec ts = { 0, 200 * 1000000L };
        nanosleep(&ts, NULL);
    }
}

/* Creates the missing ones of names and waits until the metadata shows
 * every one, creating again every 10 s what is still missing: a broker
 * refuses a creation for a while after it started or was stalled (no
 * broker to place the replica on yet), and the first try is then lost.
 * At most wait_ms.  Returns wait_topics' answer. */
static int create_and_wait(kfk_t *k, const char *const *names, const int *parts, const int *compact, size_t n,
                           int wait_ms)
{
    uint64_t t0 = wd_now_ns();
    for (;;) {
        create_topics(k, names, parts, compact, n);
        uint64_t el = (wd_now_ns() - t0) / 1000000ull;
        int left = el >= (uint64_t)wait_ms ? 0 : wait_ms - (int)el;
        int missing = wait_topics(k, names, n, left < 10000 ? left : 10000);
        el = (wd_now_ns() - t0) / 1000000ull;
        if (missing < 0 || el >= (uint64_t)wait_ms || kfk_stop_requested())
            return missing;
        LOG_INFO("topic=%s is not in the broker's metadata %llu ms after its creation was asked: asking again",
                 names[missing], (unsigned long long)el);
    }
}

/* The state slots of the sorted input topics (kfk_int.h). */
int32_t kfk_layout(kfk_t *k)
{
    /* Co-partitioned inputs (one topic, or all with the same partition
     * count) share one state slot per partition number; else each
     * topic-partition has its own.  Changelog: one partition per slot. */
    int32_t total = 0, common = -2;
    for (size_t i = 0; i < k->ntp; i++) {
        int np = kfk_partitions(k, k->tp_names[i]);
        k->tp_base[i] = total;
        total += np > 0 ? np : 1;
        if (common == -2)
            common = np;
        else if (common != np)
            common = -1;
    }
    k->copart = !k->o.per_partition && (k->ntp == 1 || common > 0);
    if (!k->copart && !k->o.per_partition)
        LOG_WARN("input topics differ in partition count (or do not exist yet): state is kept per "
                 "topic-partition, so counters and labels shared across topics are not combined");
    if (k->copart)
        total = common > 0 ? common : 1;
    return total;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/* The consumer's max.partition.fetch.bytes: what one fetch brings of a
 * partition at most.  A merge or pacing loop gets a partition's messages
 * in runs of about that much (one fetch's worth before the next
 * partition's), so it holds a few such runs before it pauses one: a pause
 * drops everything librdkafka had fetched ahead for the partition, to be
 * fetched again after the resume (with 3,000 messages per partition, an
 * input spread over 4 partitions event by event paused 241 times and took
 * 11.5 CPU-seconds per 1,000,000 events instead of 5.9, hop 0's fetcher
 * 3.2 of them; docs/operations.md, "Holding for the merge"). */
static size_t fetch_bytes(rd_kafka_t *c)
{
    char v[64];
    size_t vn = sizeof v;
    long long b = 0;
    if (rd_kafka_conf_get(rd_kafka_conf(c), "max.partition.fetch.bytes", v, &vn) == RD_KAFKA_CONF_OK)
        b = atoll(v);
    return b > 0 ? (size_t)b : 1048576;
}

kfk_t *kfk_new(const wd_config_t *cfg, const kfk_opts_t *opts,
                           const kfk_handler_t *h, char *errstr, size_t n)
{
    kfk_t *k = calloc(1, sizeof(*k));
    if (!k) {
        snprintf(errstr, n, "out of memory");
        return NULL;
    }
    k->cfg = cfg;
    k->h = *h;
    k->o = *opts;
    k->o.topics = NULL;
    k->o.create = NULL;
    k->o.group = dup_or_null(opts->group);
    k->o.txn_id = dup_or_null(opts->txn_id);
    k->o.changelog = dup_or_null(opts->changelog);
    k->o.dlq = dup_or_null(opts->dlq);
    k->o.client_id = dup_or_null(opts->client_id);
    if (k->o.batch_max < 1)
        k->o.batch_max = 1;
    if (k->o.batch_ms < 1)
        k->o.batch_ms = 1;
    k->poll_ns = calloc((size_t)k->o.batch_max, sizeof(*k->poll_ns));
    k->f_poll_ns = calloc((size_t)k->o.batch_max, sizeof(*k->f_poll_ns));
    k->tp_names = calloc(opts->ntopics + 1, sizeof(char *));
    k->tp_base = calloc(opts->ntopics + 1, sizeof(int32_t));
    if (!k->poll_ns || !k->f_poll_ns || !k->tp_names || !k->tp_base) {
        snprintf(errstr, n, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < opts->ntopics; i++)
        k->tp_names[k->ntp++] = strdup(opts->topics[i]);
    qsort(k->tp_names, k->ntp, sizeof(char *), cmp_str);

    /* Producer: transactional; outputs of a batch commit with its offsets. */
    rd_kafka_conf_t *pc = kfk_conf_producer(k, errstr, n);
    if (!pc)
        goto fail;
    k->pconf = rd_kafka_conf_dup(pc);
    {
        char v[32];
        size_t vn = sizeof v;
        k->txn_timeout_ms = rd_kafka_conf_get(pc, "transaction.timeout.ms", v, &vn) == RD_KAFKA_CONF_OK
                                ? atol(v) : 60000;
    }
    k->p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, n);
    if (!k->p) {
        rd_kafka_conf_destroy(pc);
        goto fail;
    }

    int32_t total = kfk_layout(k);
    k->align = k->copart && ((k->ntp > 1 && k->o.align_ms > 0) || k->o.merge);
    if (k->h.pace_time && !k->o.merge)
        k->align = k->pace = 1;
    if (k->o.merge && !k->copart) {
        snprintf(errstr, n, "the internal topics of a repartition hop differ in partition count (or are missing)");
        goto fail;
    }
    /* In flight only where every slot's log can be sealed.  Held messages
     * (align, merge) stay held across the hand-off: a batch's offsets are
     * those of what it processed, and a rewind clears what is held; a tick
     * waits for the commit in flight (kfk_run). */
    k->overlap = k->o.overlap && (k->h.seal || !k->h.changes);
    {
        const char *names[64];
        int parts[64], compact[64];
        size_t nn = 0;
        for (size_t i = 0; opts->create && i < opts->ncreate && nn < 63; i++) {
            names[nn] = opts->create[i];
            parts[nn] = opts->create_partitions > 0 ? opts->create_partitions : -1;
            compact[nn++] = 0;
        }
        if (k->h.changes && k->o.changelog && nn < 64) {
            names[nn] = k->o.changelog;
            parts[nn] = total > 0 ? total : 1;
            compact[nn++] = 1;
        }
        if (opts->create_missing) {
            int missing = create_and_wait(k, names, parts, compact, nn, 60000);
            if (missing >= 0)
                LOG_WARN("topic=%s is not in the broker's metadata 60 s after it was created",
                         names[missing]);
        }
    }
    if (k->h.changes && k->o.changelog) {
        int cl = kfk_partitions(k, k->o.changelog);
        if (cl <= 0) {
            snprintf(errstr, n, "changelog topic %s does not exist and could not be created", k->o.changelog);
            goto fail;
        }
        k->cl_parts = cl;
        if (cl < total)
            LOG_WARN("changelog topic=%s has %d partitions for %d input partitions: some share one",
                     k->o.changelog, cl, (int)total);
    }

    if (kfk_txn_init(k, 0, errstr, n) != 0)
        goto fail;

    /* Restorer: reads the changelog, committed records only. */
    if (k->h.changes) {
        rd_kafka_conf_t *rc = kfk_conf_restorer(k, errstr, n);
        if (!rc)
            goto fail;
        k->restorer = rd_kafka_new(RD_KAFKA_CONSUMER, rc, errstr, n);
        if (!k->restorer) {
            rd_kafka_conf_destroy(rc);
            goto fail;
        }
        rd_kafka_conf_t *wc = kfk_conf_watermarks(k, errstr, n);
        if (!wc)
            goto fail;
        k->wm = rd_kafka_new(RD_KAFKA_CONSUMER, wc, errstr, n);
        if (!k->wm) {
            rd_kafka_conf_destroy(wc);
            goto fail;
        }
    }

    /* Consumer: the group; offsets only through the transaction. */
    rd_kafka_conf_t *cc = kfk_conf_consumer(k, errstr, n);
    if (!cc)
        goto fail;
    rd_kafka_conf_set_rebalance_cb(cc, kfk_rebalance_cb);
    rd_kafka_conf_set_opaque(cc, k);
    k->c = rd_kafka_new(RD_KAFKA_CONSUMER, cc, errstr, n);
    if (!k->c) {
        rd_kafka_conf_destroy(cc);
        goto fail;
    }
    rd_kafka_poll_set_consumer(k->c);
    k->hold_max = k->o.hold_max_bytes;
    if (!k->hold_max) {
        k->hold_max = 3 * fetch_bytes(k->c);
        if (k->hold_max < KFK_HOLD_MIN)
            k->hold_max = KFK_HOLD_MIN;
    }
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new((int)opts->ntopics);
    for (size_t i = 0; i < opts->ntopics; i++)
        rd_kafka_topic_partition_list_add(sub, opts->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t se = rd_kafka_subscribe(k->c, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (se) {
        snprintf(errstr, n, "subscribe: %s", rd_kafka_err2str(se));
        goto fail;
    }
    return k;
fail:
    kfk_destroy(k);
    return NULL;
}

void kfk_destroy(kfk_t *k)
{
    if (!k)
        return;
    kfk_txn_abandon(k);
    if (k->c) {
        kfk_consumer_release(k);
        rd_kafka_consumer_close(k->c);
        rd_kafka_destroy(k->c);
        k->c = NULL;
    }
    while (k->ntps)
        kfk_tp_free(k, k->tps[--k->ntps]);
    free(k->tps);
    free(k->slots);
    if (k->restorer) {
        rd_kafka_consumer_close(k->restorer);
        rd_kafka_destroy(k->restorer);
    }
    if (k->wm)
        rd_kafka_destroy(k->wm);
    if (k->pconf)
        rd_kafka_conf_destroy(k->pconf);
    if (k->p) {
        rd_kafka_flush(k->p, 10000);
        kfk_topics_drop(k);
        rd_kafka_destroy(k->p);
    }
    free((char *)k->o.group);
    free((char *)k->o.txn_id);
    free((char *)k->o.changelog);
    free((char *)k->o.dlq);
    free((char *)k->o.client_id);
    for (size_t i = 0; i < k->ntp; i++)
        free(k->tp_names[i]);
    free(k->tp_names);
    free(k->tp_base);
    free(k->poll_ns);
    free(k->f_poll_ns);
    free(k->lat);
    free(k);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

void kfk_counters(const kfk_t *k, kfk_stats_t *out)
{
    *out = k->st;
    out->partitions = k->ntps;
    out->slots = k->nslots;
    out->held = k->held;
    out->wm_lag_ms = 0;
    for (size_t i = 0; k->o.merge && i < k->ntps; i++) {
        const ktp_t *t = k->tps[i];
        for (size_t j = t->qlen; j > 0; j--) {   /* the newest record held */
            size_t at = (t->qhead + j - 1) % t->qcap;
            if (t->q_kind[at] != KFK_POS_RECORD)
                continue;
            if (t->slot && t->slot->has_pos && t->q_pos[at].ts - t->slot->pos.ts > out->wm_lag_ms)
                out->wm_lag_ms = t->q_pos[at].ts - t->slot->pos.ts;
            break;
        }
    }
}

/* A kfk_t with just enough in it for a producer's config (the probes
 * below run before any loop). */
static rd_kafka_t *probe_new(const wd_config_t *cfg, kfk_t *tmp, char *errstr, size_t n)
{
    memset(tmp, 0, sizeof *tmp);
    tmp->cfg = cfg;
    tmp->o.client_id = "warden-probe";
    tmp->o.txn_id = "warden-probe";
    rd_kafka_conf_t *pc = kfk_conf_producer(tmp, errstr, n);
    if (!pc)
        return NULL;
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, n);
    if (!p)
        rd_kafka_conf_destroy(pc);
    return p;
}

int kfk_topic_partitions(const wd_config_t *cfg, const char *const *topics, size_t nt, int *parts,
                         char *errstr, size_t n)
{
    kfk_t tmp;
    rd_kafka_t *p = probe_new(cfg, &tmp, errstr, n);
    if (!p)
        return -1;
    tmp.p = p;
    for (size_t i = 0; i < nt; i++)
        parts[i] = kfk_partitions(&tmp, topics[i]);
    rd_kafka_destroy(p);
    return 0;
}

int kfk_create(const wd_config_t *cfg, const char *const *names, const int *parts_new, const int *compact,
               size_t nt, char *errstr, size_t n)
{
    kfk_t tmp;
    rd_kafka_t *p = probe_new(cfg, &tmp, errstr, n);
    if (!p)
        return -1;
    tmp.p = p;
    int missing = create_and_wait(&tmp, names, parts_new, compact, nt, 60000);
    rd_kafka_destroy(p);
    if (missing >= 0) {
        snprintf(errstr, n, "topic %s could not be created (not in the broker's metadata after 60 s)",
                 names[missing]);
        return -1;
    }
    return 0;
}

void kfk_stats(const kfk_t *k, kfk_stats_t *out)
{
    kfk_counters(k, out);
    if (k->nlat) {
        uint32_t *s = malloc(k->nlat * sizeof(*s));
        if (s) {
            memcpy(s, k->lat, k->nlat * sizeof(*s));
            qsort(s, k->nlat, sizeof(*s), cmp_u32);
            out->lat_p50_us = s[k->nlat / 2];
            out->lat_p99_us = s[(size_t)((double)(k->nlat - 1) * 0.99)];
            out->lat_max_us = s[k->nlat - 1];
            free(s);
        }
    }
}

size_t kfk_lags(kfk_t *k, kfk_lag_t *out, size_t max)
{
    for (size_t i = 0; i < k->ntps && i < max; i++) {
        const ktp_t *t = k->tps[i];
        int64_t lo = -1, hi = -1;
        out[i].topic = t->topic;
        out[i].partition = t->partition;
        out[i].lag = -1;
        if (rd_kafka_get_watermark_offsets(k->c, t->topic, t->partition, &lo, &hi) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            hi >= 0) {
            int64_t pos = t->next > 0 ? t->next : (t->polled_next > 0 ? t->polled_next : lo);
            out[i].lag = pos >= 0 && hi >= pos ? hi - pos : 0;
        }
    }
    return k->ntps;
}

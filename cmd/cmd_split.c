/* warden split: the stateless split & prune stage.  Reads raw topics (mixed
 * streams), drops events of streams no loaded rule or counter uses, keeps
 * only the fields the stream's rules and counters declare (plus id, ts and
 * the stream field), and writes each event to PREFIX.STREAM keyed by the
 * stream's counter key, so one entity's state lives in one partition
 * downstream.  Exactly once through kafka/kfk.h, like `warden run`.
 * Malformed events go to the dead-letter topic.  Prints per-stream in/out
 * counts and the bytes pruning saved. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/wd_buf.h"
#include "cmd/cmd.h"
#include "base/wd_config.h"
#include "engine/eng_engine.h"
#include "base/wd_json.h"
#include "kafka/kfk.h"
#include "cmd/cmd_kafka.h"
#include "cmd/cmd_stats.h"
#include "base/wd_log.h"
#include "base/wd_util.h"
#include "rules/rule_counters.h"
#include "rules/rule_prune.h"

typedef struct sstream {
    char               *name;
    char               *topic;      /* PREFIX.NAME */
    const char *const  *fields;     /* sorted dotted paths (engine-owned) */
    size_t              nfields;
    rule_prune_t       *prune;      /* keeps those fields, their bytes as they came */
    const char         *key;        /* counter key path, NULL: keep the input key */
    uint64_t            in, out, bytes_in, bytes_out;
} sstream_t;

typedef struct split {
    wd_config_t *cfg;
    rule_counters_t *counters;
    eng_engine_t *eng;
    wd_json_t   *json;
    const char   *stream_field;
    sstream_t    *streams;
    size_t        nstreams;
    wd_buf_t     out;
    wd_buf_t     reason;
    uint64_t      events, malformed, dropped, dropped_bytes;
    const char   *stats_path;    /* --stats-json, NULL: none */
    const char   *instance;
    uint64_t      t0_ns;
    uint64_t      stats_failures;
    uint64_t      reloads, reload_failures;
    /* Origin partitioning: an event goes to partition base[t] + P of
     * PREFIX.STREAM, P its raw partition and t its raw topic (sorted by
     * name), so every split partition has one writer at a time writing one
     * raw partition's events in their raw order (docs/operations.md).
     * Otherwise base is NULL and the partitioner hashes the key. */
    const char  **raw;           /* the raw topics, as configured */
    int          *base;
    size_t        nraw;
    int          *nparts;        /* each raw topic's partitions at start */
    int           origin_parts;  /* the raw partitions in all */
    rd_kafka_topic_t *last_rkt;  /* cache of the last message's topic */
    int           last_base, last_parts;
} split_t;

/* The stream's counter key path: the key of the first counter declared on
 * it in counters.lua (the stream's evaluation key on warden run's
 * repartitioned path), so a split topic is partitioned by the entity its
 * labels and first counters belong to.  The fields of every other counter
 * key are kept too; warden run repartitions by them (docs/state.md).
 * NULL: no counter, keep the input record's key. */
static const char *stream_key(const rule_counters_t *cs, const char *stream)
{
    for (size_t i = 0; cs && i < rule_counters_count(cs); i++) {
        const rule_counter_spec_t *c = rule_counters_get(cs, i);
        if (strcmp(c->stream, stream) == 0)
            return c->key;
    }
    return NULL;
}

static void streams_free(sstream_t *ss, size_t n)
{
    for (size_t i = 0; ss && i < n; i++) {
        free(ss[i].name);
        free(ss[i].topic);
        rule_prune_destroy(ss[i].prune);
    }
    free(ss);
}

/* The output streams of engine e: topic, pruner (its declared fields) and
 * key of each.  Counts of a stream of old (a reload) carry over.  0, or -1
 * out of memory. */
static int streams_build(split_t *sp, eng_engine_t *e, const rule_counters_t *cs, const sstream_t *old,
                         size_t nold, sstream_t **out, size_t *nout)
{
    const char *prefix = wd_config_str(sp->cfg, "split.prefix");
    const char *const *names;
    size_t nn = eng_engine_streams(e, &names);
    sstream_t *ss = calloc(nn ? nn : 1, sizeof(*ss));
    if (!ss)
        return -1;
    for (size_t i = 0; i < nn; i++) {
        sstream_t *s = &ss[i];
        s->name = strdup(names[i]);
        size_t tl = strlen(prefix) + strlen(names[i]) + 2;
        s->topic = malloc(tl);
        if (!s->name || !s->topic) {
            streams_free(ss, i + 1);
            return -1;
        }
        snprintf(s->topic, tl, "%s.%s", prefix, names[i]);
        s->nfields = eng_engine_stream_fields(e, names[i], &s->fields);
        if ((s->prune = rule_prune_new(s->fields, s->nfields)) == NULL) {
            streams_free(ss, i + 1);
            return -1;
        }
        s->key = stream_key(cs, names[i]);
        for (size_t j = 0; j < nold; j++)
            if (strcmp(old[j].name, s->name) == 0) {
                s->in = old[j].in;
                s->out = old[j].out;
                s->bytes_in = old[j].bytes_in;
                s->bytes_out = old[j].bytes_out;
            }
        LOG_INFO("split stream=%s topic=%s fields=%zu key=%s", s->name, s->topic, s->nfields,
                 s->key ? s->key : "(input key)");
    }
    *out = ss;
    *nout = nn;
    return 0;
}

/* The partition count every PREFIX.STREAM topic is created with. */
static int split_partitions(const split_t *sp)
{
    int n = (int)wd_config_int(sp->cfg, "split.partitions");
    return sp->base && n < sp->origin_parts ? sp->origin_parts : n;
}

/* SIGHUP: the pack again, so a new rule's fields are never pruned away by a
 * split still running the old pack.  Topics of new streams are created;
 * a pack that fails to load is logged and the old one keeps running. */
static void h_report(void *ud, kfk_t *k);

static void h_between(void *ud, kfk_t *k, int flags)
{
    split_t *sp = ud;
    if (!(flags & KFK_IDLE_HUP))
        return;
    char *err = malloc(65536);
    if (!err)
        return;
    eng_opts_t opts;
    cmd_engine_opts(sp->cfg, &opts);
    const char *rules = wd_config_str(sp->cfg, "rules");
    eng_engine_t *neu = eng_engine_new(&opts, rules, err, 65536);
    rule_counters_t *cs = NULL;
    sstream_t *ss = NULL;
    size_t ns = 0;
    if (!neu || rule_counters_load(rules, &cs, err, 65536) != 0 ||
        streams_build(sp, neu, cs, sp->streams, sp->nstreams, &ss, &ns) != 0) {
        sp->reload_failures++;
        LOG_ERROR("split reload rejected: the rule pack in %s failed to load; the old one keeps running: %s",
                  rules, err);
        eng_engine_destroy(neu);
        rule_counters_destroy(cs);
        free(err);
        h_report(sp, k);
        return;
    }
    const char **names = calloc(ns + 1, sizeof(char *));
    int *parts = calloc(ns + 1, sizeof(int)), *compact = calloc(ns + 1, sizeof(int));
    for (size_t i = 0; names && parts && compact && i < ns; i++) {
        names[i] = ss[i].topic;
        parts[i] = split_partitions(sp) > 0 ? split_partitions(sp) : -1;
    }
    if (names && parts && compact && kfk_create(sp->cfg, names, parts, compact, ns, err, 65536) != 0)
        LOG_WARN("split reload: %s", err);
    free(names);
    free(parts);
    free(compact);
    streams_free(sp->streams, sp->nstreams);
    eng_engine_destroy(sp->eng);
    rule_counters_destroy(sp->counters);
    sp->streams = ss;
    sp->nstreams = ns;
    sp->eng = neu;
    sp->counters = cs;
    sp->reloads++;
    LOG_INFO("split reload: rule pack %s, streams=%zu", eng_engine_pack_hash(neu), ns);
    free(err);
    h_report(sp, k);
}

/* Origin partitioning: each raw topic's partition count (they must exist)
 * and its first split partition.  0, or -1 with err. */
static int origin_layout(split_t *sp, const char *const *topics, size_t nt, char *err, size_t n)
{
    sp->base = calloc(nt, sizeof(int));
    sp->nparts = calloc(nt, sizeof(int));
    if (!sp->base || !sp->nparts) {
        snprintf(err, n, "out of memory");
        return -1;
    }
    if (kfk_topic_partitions(sp->cfg, topics, nt, sp->nparts, err, n) != 0)
        return -1;
    sp->raw = (const char **)topics;
    sp->nraw = nt;
    for (size_t i = 0; i < nt; i++) {
        if (sp->nparts[i] <= 0) {
            snprintf(err, n, "split.partitioning is origin (or auto with run.repartition on): the raw topic %s "
                     "must exist at start, so that each of its partitions gets its own split partition",
                     topics[i]);
            return -1;
        }
        sp->base[i] = sp->origin_parts;
        sp->origin_parts += sp->nparts[i];
    }
    int want = (int)wd_config_int(sp->cfg, "split.partitions");
    if (want > 0 && want < sp->origin_parts) {
        snprintf(err, n, "split.partitions = %d, but origin partitioning needs one split partition per raw "
                 "partition: %d in all (set it to at least that, or 0)", want, sp->origin_parts);
        return -1;
    }
    return 0;
}

/* Origin partitioning: the PREFIX.STREAM topics (created now, or already
 * there) have a partition for every raw partition.  0, or -1 with err. */
static int origin_check(const split_t *sp, const char *const *out, size_t nt, char *err, size_t n)
{
    int *parts = calloc(nt ? nt : 1, sizeof(int));
    if (!parts) {
        snprintf(err, n, "out of memory");
        return -1;
    }
    int rc = kfk_topic_partitions(sp->cfg, out, nt, parts, err, n);
    for (size_t i = 0; rc == 0 && i < nt; i++)
        if (parts[i] < sp->origin_parts) {
            snprintf(err, n, "%s has %d partitions; origin partitioning needs %d (one per raw partition): "
                     "add partitions to it (kafka-topics --alter) or use another split.prefix", out[i],
                     parts[i], sp->origin_parts);
            rc = -1;
        }
    free(parts);
    return rc;
}

static void split_usage(FILE *f)
{
    fprintf(f,
        "usage: warden split -c warden.lua [options]\n"
        "The stateless first stage: reads the raw topics (split.topics, else\n"
        "streams.topics), drops events no rule or counter needs, keeps only declared\n"
        "fields (+ id, ts, stream) and writes each event to PREFIX.STREAM keyed by the\n"
        "stream's counter key, exactly once: to the key's partition, or with\n"
        "split.partitioning=origin (auto: when run.repartition is on) to the raw\n"
        "record's.  Prints per-stream counts at exit.\n\n"
        "  -c, --config FILE      configuration (docs/operations.md)\n"
        "      --instance NAME    stable process name (transactional.id GROUP.NAME)\n"
        "  -X KEY=VALUE           a librdkafka property\n"
        "      --set KEY=VALUE    any other setting, e.g. --set split.prefix=s\n"
        "      --stats-json FILE  the counters as JSON, rewritten after every commit, on\n"
        "                         SIGUSR1 and at exit (docs/operations.md)\n"
        "      --help-config      every setting with its type and default\n"
        "  -h, --help             this help\n\n"
        "SIGHUP reloads the rule pack between batches (new streams get their topics).\n"
        "Exit status: 0 stopped by a signal, 1 configuration or rule pack error,\n"
        "2 usage error, 4 fatal Kafka error.\n");
}

/* Appends v as JSON. */
static void write_value(wd_buf_t *b, wd_jval_t v)
{
    size_t len;
    const char *s;
    char nbuf[WD_JSON_NUMBUF];
    const char *key;
    size_t klen;
    wd_jval_t x;
    wd_jiter_t it;
    int first = 1;
    switch (wd_jval_type(v)) {
    case WD_JNULL:
        wd_buf_adds(b, "null");
        break;
    case WD_JBOOL:
        wd_buf_adds(b, wd_jval_bool(v) ? "true" : "false");
        break;
    case WD_JINT:
        wd_buf_printf(b, "%" PRId64, wd_jval_int(v));
        break;
    case WD_JDOUBLE:
        /* An integer beyond int64 keeps its digits; as a double it
         * would lose them (and merge ids downstream). */
        if ((s = wd_jval_bigint(v, nbuf, &len)) != NULL)
            wd_buf_add(b, s, len);
        else
            wd_buf_json_num(b, wd_jval_double(v));
        break;
    case WD_JSTRING:
        s = wd_jval_str(v, &len);
        wd_buf_json_str(b, s, len);
        break;
    case WD_JARRAY:
        wd_buf_addc(b, '[');
        wd_jiter_begin(v, &it);
        while (wd_jiter_next(&it, &key, &klen, &x)) {
            if (!first)
                wd_buf_addc(b, ',');
            first = 0;
            write_value(b, x);
        }
        wd_buf_addc(b, ']');
        break;
    case WD_JOBJECT:
        wd_buf_addc(b, '{');
        wd_jiter_begin(v, &it);
        while (wd_jiter_next(&it, &key, &klen, &x)) {
            if (!first)
                wd_buf_addc(b, ',');
            first = 0;
            wd_buf_json_str(b, key, klen);
            wd_buf_addc(b, ':');
            write_value(b, x);
        }
        wd_buf_addc(b, '}');
        break;
    }
}

static sstream_t *find_stream(split_t *sp, const char *name, size_t len)
{
    for (size_t i = 0; i < sp->nstreams; i++)
        if (strlen(sp->streams[i].name) == len && memcmp(sp->streams[i].name, name, len) == 0)
            return &sp->streams[i];
    return NULL;
}

static kfk_rc_t h_message(void *ud, kfk_t *k, const rd_kafka_message_t *m, void *part)
{
    (void)part;
    split_t *sp = ud;
    char err[256];
    wd_jval_t root, sv, kv;
    sp->events++;
    if (!m->payload || m->len == 0) {
        sp->malformed++;
        return kfk_dead_letter(k, m, "malformed: empty message", NULL);
    }
    if (wd_json_parse(sp->json, m->payload, m->len, &root, err, sizeof err) != 0) {
        sp->malformed++;
        wd_buf_reset(&sp->reason);
        wd_buf_printf(&sp->reason, "malformed: %s", err);
        return kfk_dead_letter(k, m, sp->reason.data, NULL);
    }
    if (wd_jval_type(root) != WD_JOBJECT || !wd_jval_path(root, sp->stream_field, &sv) ||
        wd_jval_type(sv) != WD_JSTRING) {
        sp->malformed++;
        wd_buf_reset(&sp->reason);
        wd_buf_printf(&sp->reason, "malformed: no string field \"%s\" names the stream", sp->stream_field);
        return kfk_dead_letter(k, m, sp->reason.data, NULL);
    }
    size_t slen;
    const char *sname = wd_jval_str(sv, &slen);
    sstream_t *s = find_stream(sp, sname, slen);
    if (!s) {
        /* Pruning events: no rule or counter reads this stream. */
        sp->dropped++;
        sp->dropped_bytes += m->len;
        return KFK_OK;
    }
    s->in++;
    s->bytes_in += m->len;
    wd_buf_reset(&sp->out);
    if (rule_prune_write(s->prune, root, m->payload, m->len, &sp->out) != 0) {
        sp->malformed++;
        return kfk_dead_letter(k, m, "malformed: the event text does not match its parse", NULL);
    }
    const void *key = m->key;
    size_t keylen = m->key_len;
    if (s->key && wd_jval_path(root, s->key, &kv)) {
        if (wd_jval_type(kv) == WD_JSTRING) {
            key = wd_jval_str(kv, &keylen);
        } else if (wd_jval_type(kv) != WD_JNULL) {
            /* Numbers and the like: key by their JSON text. */
            wd_buf_reset(&sp->reason);
            write_value(&sp->reason, kv);
            key = sp->reason.data;
            keylen = sp->reason.len;
        }
    }
    /* The raw record's timestamp and origin travel along, so `warden run`
     * over the split topics can put one raw partition's events back in
     * their raw order (event-time alignment). */
    char origin[48];
    snprintf(origin, sizeof origin, "%d/%lld", (int)m->partition, (long long)m->offset);
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(1);
    rd_kafka_header_add(hdrs, KFK_ORIGIN_HEADER, -1, origin, -1);
    int64_t ts = rd_kafka_message_timestamp(m, NULL);
    int32_t to = RD_KAFKA_PARTITION_UA;
    if (sp->base) {
        if (m->rkt != sp->last_rkt) {
            const char *name = rd_kafka_topic_name(m->rkt);
            sp->last_base = -1;
            for (size_t i = 0; i < sp->nraw; i++)
                if (strcmp(sp->raw[i], name) == 0) {
                    sp->last_base = sp->base[i];
                    sp->last_parts = sp->nparts[i];
                }
            sp->last_rkt = m->rkt;
        }
        if (sp->last_base < 0 || m->partition >= sp->last_parts) {
            rd_kafka_headers_destroy(hdrs);
            LOG_ERROR("split: %s [%d] is beyond the %d partitions the raw topic had at start: with origin "
                      "partitioning each raw partition has its own split partition; restart warden split "
                      "(it then creates topics for the new count, or says why it cannot)",
                      rd_kafka_topic_name(m->rkt), (int)m->partition, sp->last_parts);
            return KFK_FATAL;
        }
        to = sp->last_base + m->partition;
    }
    kfk_rc_t rc = kfk_produce(k, s->topic, to, key, keylen, sp->out.data, sp->out.len, ts > 0 ? ts : 0, hdrs);
    if (rc != KFK_OK)
        return rc;
    s->out++;
    s->bytes_out += sp->out.len;
    return KFK_OK;
}

/* The --stats-json file (cmd/cmd_stats.h; fields in docs/operations.md). */
static void write_stats(split_t *sp, const kfk_stats_t *ks, int final, const char *error)
{
    if (!sp->stats_path)
        return;
    json_t *o = cmd_stats_new("split", sp->instance, final, (double)(wd_now_ns() - sp->t0_ns) / 1e9);
    if (o) {
        cmd_stats_kafka(o, ks, final);
        uint64_t out = 0, bin = 0, bout = 0;
        json_t *streams = json_object();
        for (size_t i = 0; i < sp->nstreams; i++) {
            const sstream_t *s = &sp->streams[i];
            json_t *j = json_object();
            json_object_set_new(j, "topic", json_string(s->topic));
            cmd_stats_u64(j, "in", s->in);
            cmd_stats_u64(j, "out", s->out);
            cmd_stats_u64(j, "bytes_in", s->bytes_in);
            cmd_stats_u64(j, "bytes_out", s->bytes_out);
            json_object_set_new(streams, s->name, j);
            out += s->out;
            bin += s->bytes_in;
            bout += s->bytes_out;
        }
        json_object_set_new(o, "streams", streams);
        cmd_stats_u64(o, "events", sp->events);
        json_object_set_new(o, "partitioning", json_string(sp->base ? "origin" : "key"));
        cmd_stats_u64(o, "out", out);
        cmd_stats_u64(o, "dropped", sp->dropped);
        cmd_stats_u64(o, "dropped_bytes", sp->dropped_bytes);
        cmd_stats_u64(o, "malformed", sp->malformed);
        cmd_stats_u64(o, "reloads", sp->reloads);
        cmd_stats_u64(o, "reload_failures", sp->reload_failures);
        cmd_stats_u64(o, "bytes_in", bin + sp->dropped_bytes);
        cmd_stats_u64(o, "bytes_out", bout);
        if (final)
            json_object_set_new(o, "error", error ? json_string(error) : json_null());
    }
    char err[512];
    if (cmd_stats_write(sp->stats_path, o, err, sizeof err) != 0 && sp->stats_failures++ % 1000 == 0)
        LOG_WARN("stats-json: %s (failures=%" PRIu64 ")", err, sp->stats_failures);
}

static void h_report(void *ud, kfk_t *k)
{
    split_t *sp = ud;
    kfk_stats_t ks;
    if (!sp->stats_path)
        return;
    kfk_counters(k, &ks);
    write_stats(sp, &ks, 0, NULL);
}

static void print_summary(const split_t *sp)
{
    uint64_t in = 0, out = 0, bin = 0, bout = 0;
    fprintf(stderr, "%-24s %12s %12s %14s %14s %8s\n", "stream", "in", "out", "bytes_in", "bytes_out", "saved");
    for (size_t i = 0; i < sp->nstreams; i++) {
        const sstream_t *s = &sp->streams[i];
        fprintf(stderr, "%-24s %12" PRIu64 " %12" PRIu64 " %14" PRIu64 " %14" PRIu64 " %7.1f%%\n", s->name,
                s->in, s->out, s->bytes_in, s->bytes_out,
                s->bytes_in ? 100.0 * (double)(s->bytes_in - s->bytes_out) / (double)s->bytes_in : 0.0);
        in += s->in;
        out += s->out;
        bin += s->bytes_in;
        bout += s->bytes_out;
    }
    fprintf(stderr, "%-24s %12" PRIu64 " %12s %14" PRIu64 " %14s %8s\n", "(dropped: no rule)", sp->dropped, "0",
            sp->dropped_bytes, "0", "100.0%");
    fprintf(stderr, "%-24s %12" PRIu64 "\n", "(malformed → DLQ)", sp->malformed);
    uint64_t tin = bin + sp->dropped_bytes;
    fprintf(stderr, "%-24s %12" PRIu64 " %12" PRIu64 " %14" PRIu64 " %14" PRIu64 " %7.1f%%\n", "total", sp->events,
            out, tin, bout, tin ? 100.0 * (double)(tin - bout) / (double)tin : 0.0);
    (void)in;
}

int cmd_split(int argc, char **argv)
{
    cmd_args_t a;
    int rc = cmd_parse_common(argc, argv, "split", 0, &a, split_usage);
    if (rc >= 0)
        return rc;
    split_t sp;
    memset(&sp, 0, sizeof sp);
    int status = CMD_EXIT_LOAD;
    kfk_t *k = NULL;
    const char **create = NULL;
    char *err = malloc(65536);
    if (!err)
        return CMD_EXIT_LOAD;
    sp.cfg = cmd_load_config(&a, err, 65536);
    if (!sp.cfg)
        goto done;
    eng_opts_t opts;
    cmd_engine_opts(sp.cfg, &opts);
    const char *rules = wd_config_str(sp.cfg, "rules");
    sp.eng = eng_engine_new(&opts, rules, err, 65536);
    if (!sp.eng) {
        fprintf(stderr, "warden split: the rule pack in %s failed to load:\n%s", rules, err);
        goto done;
    }
    if (rule_counters_load(rules, &sp.counters, err, 65536) != 0) {
        fprintf(stderr, "warden split: %s", err);
        goto done;
    }
    sp.json = wd_json_new(0);
    sp.stream_field = wd_config_str(sp.cfg, "streams.field");
    const char *prefix = wd_config_str(sp.cfg, "split.prefix");
    if (!sp.json || streams_build(&sp, sp.eng, sp.counters, NULL, 0, &sp.streams, &sp.nstreams) != 0)
        goto done;
    size_t nn = sp.nstreams;
    create = calloc(nn + 2, sizeof(*create));
    if (!create)
        goto done;
    for (size_t i = 0; i < nn; i++)
        create[i] = sp.streams[i].topic;
    const char *const *topics;
    size_t ntopics = wd_config_list(sp.cfg, "split.topics", &topics);
    if (ntopics == 0) {
        fprintf(stderr, "warden split: %s: no input topics (set streams.topics or split.topics)\n",
                wd_config_path(sp.cfg));
        goto done;
    }
    create[nn] = wd_config_str(sp.cfg, "split.dlq_topic");
    const char *how = wd_config_str(sp.cfg, "split.partitioning");
    if (strcmp(how, "origin") == 0 ||
        (strcmp(how, "auto") == 0 && strcmp(wd_config_str(sp.cfg, "run.repartition"), "off") != 0)) {
        if (origin_layout(&sp, topics, ntopics, err, 65536) != 0) {
            fprintf(stderr, "warden split: %s: %s\n", wd_config_path(sp.cfg), err);
            goto done;
        }
    }
    char txn[512];
    snprintf(txn, sizeof txn, "%s.%s", wd_config_str(sp.cfg, "split.group"),
             wd_config_str(sp.cfg, "split.instance"));
    kfk_opts_t ko = {
        .topics = topics,
        .ntopics = ntopics,
        .group = wd_config_str(sp.cfg, "split.group"),
        .txn_id = txn,
        .dlq = wd_config_str(sp.cfg, "split.dlq_topic"),
        .create_missing = 1,
        .create = create,
        .ncreate = nn + 1,
        .create_partitions = split_partitions(&sp),
        .batch_max = wd_config_int(sp.cfg, "split.batch_max"),
        .batch_ms = wd_config_int(sp.cfg, "split.batch_ms"),
        .client_id = "warden-split",
    };
    kfk_handler_t h = { .ud = &sp, .message = h_message, .between = h_between, .report = h_report };
    sp.stats_path = a.stats_json;
    sp.instance = wd_config_str(sp.cfg, "split.instance");
    sp.t0_ns = wd_now_ns();
    kfk_install_signals();
    status = CMD_EXIT_FATAL;
    k = kfk_new(sp.cfg, &ko, &h, err, 65536);
    if (!k) {
        LOG_ERROR("warden split: %s", err);
        goto done;
    }
    if (sp.base && origin_check(&sp, create, nn, err, 65536) != 0) {
        LOG_ERROR("warden split: %s", err);
        status = CMD_EXIT_LOAD;
        goto done;
    }
    h_report(&sp, k);   /* the stats file exists once the service is up */
    LOG_INFO("warden split started group=%s transactional_id=%s topics=%zu streams=%zu prefix=%s "
             "partitioning=%s partitions=%d", ko.group, txn, ntopics, nn, prefix, sp.base ? "origin" : "key",
             split_partitions(&sp));
    uint64_t t0 = wd_now_ns();
    int lrc = kfk_run(k, err, 65536);
    double secs = (double)(wd_now_ns() - t0) / 1e9;
    kfk_stats_t ks;
    kfk_stats(k, &ks);
    LOG_INFO("summary events=%" PRIu64 " dropped=%" PRIu64 " malformed=%" PRIu64 " commits=%" PRIu64
             " aborts=%" PRIu64 " seconds=%.2f events_per_s=%.0f", sp.events, sp.dropped, sp.malformed,
             ks.commits, ks.aborts, secs, secs > 0 ? (double)sp.events / secs : 0.0);
    print_summary(&sp);
    write_stats(&sp, &ks, 1, lrc != 0 ? err : NULL);
    if (lrc != 0) {
        LOG_ERROR("warden split: stopping on a fatal error: %s", err);
        goto done;
    }
    status = CMD_EXIT_OK;
done:
    kfk_destroy(k);
    streams_free(sp.streams, sp.nstreams);
    free(create);
    wd_json_destroy(sp.json);
    eng_engine_destroy(sp.eng);
    rule_counters_destroy(sp.counters);
    wd_config_destroy(sp.cfg);
    cmd_args_free(&a);
    wd_buf_free(&sp.out);
    wd_buf_free(&sp.reason);
    free(sp.base);
    free(sp.nparts);
    free(err);
    return status;
}

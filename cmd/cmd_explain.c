/* warden explain: why one event got its verdicts.  Rebuilds the state the
 * event met from its warm-up of history — JSONL files in eval's order
 * (--input --id), or the same Kafka partition(s) warden run read, in its
 * order (-c --event topic/partition/offset) — evaluates it with tracing on
 * and prints, per rule, what it read and returned, and whether that
 * reproduces the hits a results store recorded for it.  Read-only: writes
 * nothing to Kafka or the store.  docs/replay.md, "warden explain". */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/wd_buf.h"
#include "base/wd_config.h"
#include "base/wd_json.h"
#include "base/wd_jsonl.h"
#include "cmd/cmd.h"
#include "cmd/cmd_kafka.h"
#include "engine/eng_engine.h"
#include "replay/rpl_explain.h"
#include "replay/rpl_replay.h"
#include "storage/store_lookup.h"
#include "storage/store_url.h"

static void explain_usage(FILE *f)
{
    fprintf(f,
        "usage: warden explain --input FILE.jsonl... --id ID --rules DIR [options]\n"
        "       warden explain -c warden.lua --event TOPIC/PARTITION/OFFSET [options]\n"
        "Explains one event's verdicts: rebuilds the state it met from its warm-up of\n"
        "history (the events before it, in the order warden eval / warden run evaluated\n"
        "them), evaluates it with tracing on and prints, for every rule of its stream,\n"
        "the fields it read, the counters, distinct counts, labels and lists it asked\n"
        "for, what it returned (or its error or budget kill), its version and sha256 —\n"
        "and whether that reproduces the hits recorded in the results store.\n\n"
        "  -c, --config FILE       warden.lua: Kafka input, its rules, its store, its run id\n"
        "      --event T/P/O       the event at topic T, partition P, offset O (with -c);\n"
        "                          history: partition P of every co-partitioned input topic\n"
        "      --input FILE        JSONL events (repeatable; more files may follow the\n"
        "                          options); history: the events before the target, in order\n"
        "      --id ID             the event's id (the id field, else FILE:LINE as eval gives it)\n"
        "      --rules DIR         the pack (default: the config's rules)\n"
        "      --warmup DURATION   history to rebuild before the event (default: the longest\n"
        "                          counter window plus its bucket, or the longest label ttl)\n"
        "      --store URL         where the hits were recorded: mysql://… or jsonl:PATH\n"
        "                          (default with -c: the config's store; \"\": no comparison)\n"
        "      --run-id ID         whose rows to compare (default: the config's run.run_id,\n"
        "                          \"live\")\n"
        "      --json              the explanation as one JSON object (for tools)\n"
        "      --stream-field F    --id-field F  --ts-field F  --budget N  --mem-mb N\n"
        "      --time-limit-ms N\n"
        "                          as for warden eval (--input only; -c takes the config's)\n"
        "  -h, --help              this help\n\n"
        "Exit status: 0 explained (reproduced or not: see \"reproduced\"), 1 the pack, config,\n"
        "input or store failed, or no such event (unknown id, offset out of range), 2 usage\n"
        "error.\n");
}

/* ---- files ------------------------------------------------------------------ */

typedef struct find {
    wd_json_t  *json;
    eng_opts_t *eo;
    const char *id;
    const char *file;
    long        line;       /* found at (0: not yet) */
    char       *buf;        /* the target's bytes */
    size_t      len;
} find_t;

/* Is this line the event `id`?  Its event id exactly as the engine forms
 * it: a non-empty string id field, an integer one in decimal, an integer
 * past int64 by its digits, else FILE:LINE. */
static int find_line(void *ud, const char *line, size_t len, long lineno)
{
    find_t *f = ud;
    wd_jval_t root, v;
    char perr[128], nb[WD_JSON_NUMBUF];
    const char *s = NULL;
    size_t n = 0;
    if (wd_json_parse(f->json, line, len, &root, perr, sizeof(perr)) == 0 &&
        wd_jval_type(root) == WD_JOBJECT &&
        wd_jval_get(root, f->eo->id_field, strlen(f->eo->id_field), &v)) {
        if (wd_jval_type(v) == WD_JSTRING) {
            s = wd_jval_str(v, &n);
            if (n == 0)
                s = NULL;
        } else if (wd_jval_type(v) == WD_JINT) {
            n = (size_t)snprintf(nb, sizeof(nb), "%" PRId64, wd_jval_int(v));
            s = nb;
        } else if (wd_jval_type(v) == WD_JDOUBLE) {
            s = wd_jval_bigint(v, nb, &n);
        }
    }
    int hit;
    if (s)
        hit = n == strlen(f->id) && memcmp(s, f->id, n) == 0;
    else {
        char fl[1200];
        snprintf(fl, sizeof(fl), "%s:%ld", f->file, lineno);
        hit = strcmp(fl, f->id) == 0;
    }
    if (!hit)
        return 0;
    f->line = lineno;
    f->buf = malloc(len ? len : 1);
    if (f->buf == NULL)
        cmd_oom("an event line");
    memcpy(f->buf, line, len);
    f->len = len;
    return 1;
}

typedef struct hist {
    rpl_explain_t *x;
    const char    *file;
    long           stop;    /* the target's line in this file (0: the whole file) */
    char           err[512];
} hist_t;

static int hist_line(void *ud, const char *line, size_t len, long lineno)
{
    hist_t *h = ud;
    if (h->stop && lineno >= h->stop)
        return 1;
    eng_src_t src = { .msg_ts_ms = INT64_MIN, .file = h->file, .line = lineno };
    return rpl_explain_history(h->x, line, len, &src, h->err, sizeof(h->err)) != 0 ? 2 : 0;
}

static FILE *open_input(const char *path, const char **name)
{
    *name = strcmp(path, "-") == 0 ? "stdin" : path;
    return strcmp(path, "-") == 0 ? NULL : fopen(path, "r");
}

/* Finds the target, then feeds the history before it.  Returns 0, or the
 * exit status with the message printed. */
static int explain_files(rpl_explain_t *x, eng_opts_t *eo, char **files, size_t n, const char *id)
{
    find_t f = { .json = wd_json_new(0), .eo = eo, .id = id };
    size_t at = n;
    for (size_t i = 0; i < n && at == n; i++) {
        FILE *in = open_input(files[i], &f.file);
        if (in == NULL) {
            fprintf(stderr, "warden explain: %s: cannot open (stdin cannot be read twice: give a file)\n",
                    files[i]);
            wd_json_destroy(f.json);
            return CMD_EXIT_LOAD;
        }
        int rc = wd_jsonl_each(in, find_line, &f);
        fclose(in);
        if (rc < 0) {
            fprintf(stderr, "warden explain: %s: read error\n", files[i]);
            wd_json_destroy(f.json);
            return CMD_EXIT_LOAD;
        }
        if (rc == 1)
            at = i;
    }
    wd_json_destroy(f.json);
    if (at == n) {
        fprintf(stderr, "warden explain: no event with id '%s' in", id);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " %s", files[i]);
        fprintf(stderr, " (ids are the '%s' field, else FILE:LINE)\n", eo->id_field);
        return CMD_EXIT_LOAD;
    }
    eng_src_t tsrc = { .msg_ts_ms = INT64_MIN, .file = files[at], .line = f.line };
    int64_t start;
    int status = 0;
    if (rpl_explain_aim(x, f.buf, f.len, &tsrc, &start) == 0) {
        for (size_t i = 0; i <= at && status == 0; i++) {
            hist_t h = { .x = x, .stop = i == at ? f.line : 0 };
            FILE *in = open_input(files[i], &h.file);
            if (in == NULL) {
                fprintf(stderr, "warden explain: %s: cannot open\n", files[i]);
                status = CMD_EXIT_LOAD;
                break;
            }
            int rc = wd_jsonl_each(in, hist_line, &h);
            fclose(in);
            if (rc == 2 || rc < 0) {
                fprintf(stderr, "warden explain: %s: %s\n", files[i], rc < 0 ? "read error" : h.err);
                status = CMD_EXIT_LOAD;
            }
        }
    }
    char err[512];
    if (status == 0 && rpl_explain_target(x, f.buf, f.len, &tsrc, err, sizeof(err)) != 0) {
        fprintf(stderr, "warden explain: %s\n", err);
        status = CMD_EXIT_LOAD;
    }
    free(f.buf);
    if (status == 0) {
        wd_buf_t in = WD_BUF_INIT;
        wd_buf_adds(&in, "{\"files\":[");
        for (size_t i = 0; i < n; i++) {
            if (i)
                wd_buf_addc(&in, ',');
            wd_buf_json_str(&in, files[i], strlen(files[i]));
        }
        wd_buf_adds(&in, "]}");
        rpl_explain_set_input(x, in.data);
        wd_buf_free(&in);
    }
    return status;
}

/* "topic/partition/offset", split at the last two slashes. */
static int parse_event(const char *s, char *topic, size_t tn, int32_t *part, int64_t *off)
{
    const char *b = strrchr(s, '/');
    if (b == NULL || b == s)
        return -1;
    const char *a = b - 1;
    while (a > s && *a != '/')
        a--;
    if (a == s || (size_t)(a - s) >= tn)
        return -1;
    char *end;
    long p = strtol(a + 1, &end, 10);
    if (end != b || p < 0 || p > INT32_MAX)
        return -1;
    long long o = strtoll(b + 1, &end, 10);
    if (*end || b[1] == '\0' || o < 0)
        return -1;
    memcpy(topic, s, (size_t)(a - s));
    topic[a - s] = '\0';
    *part = (int32_t)p;
    *off = o;
    return 0;
}

/* The URL for messages: no password. */
static char *redacted(const char *url)
{
    store_url_t u;
    char err[256];
    if (strncmp(url, "mysql://", 8) == 0 && store_url_parse(&u, url, err, sizeof(err)) == 0) {
        char *r = store_url_redacted(&u);
        store_url_free(&u);
        return r;
    }
    return strdup(url);
}

int cmd_explain(int argc, char **argv)
{
    static const struct option lopts[] = {
        { "config", required_argument, NULL, 'c' },   { "input", required_argument, NULL, 1040 },
        { "id", required_argument, NULL, 1041 },      { "event", required_argument, NULL, 1042 },
        { "rules", required_argument, NULL, 1043 },   { "warmup", required_argument, NULL, 1044 },
        { "store", required_argument, NULL, 1045 },   { "run-id", required_argument, NULL, 1046 },
        { "json", no_argument, NULL, 1047 },          CMD_ENGINE_LOPTS,
        { "help", no_argument, NULL, 'h' },           { NULL, 0, NULL, 0 },
    };
    rpl_explain_opts_t xo = { .warmup_ms = -1 };
    eng_opts_default(&xo.eng);
    const char *config = NULL, *id = NULL, *event = NULL, *warmup = NULL, *store_url = NULL;
    const char *run_id = NULL;
    char **inputs = calloc((size_t)argc + 1, sizeof(char *));
    size_t ninputs = 0;
    int json = 0, c, engine_flags = 0, status = CMD_EXIT_OK;
    if (inputs == NULL)
        cmd_oom("the input list");
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", lopts, NULL)) != -1) {
        int h = cmd_engine_opt(c, optarg, &xo.eng);
        if (h < 0) {
            free(inputs);
            return CMD_EXIT_USAGE;
        }
        if (h) {
            engine_flags = 1;
            continue;
        }
        switch (c) {
        case 'c': config = optarg; break;
        case 1040: inputs[ninputs++] = optarg; break;
        case 1041: id = optarg; break;
        case 1042: event = optarg; break;
        case 1043: xo.rules = optarg; break;
        case 1044: warmup = optarg; break;
        case 1045: store_url = optarg; break;
        case 1046: run_id = optarg; break;
        case 1047: json = 1; break;
        case 'h': explain_usage(stdout); free(inputs); return CMD_EXIT_OK;
        default: explain_usage(stderr); free(inputs); return CMD_EXIT_USAGE;
        }
    }
    for (int i = optind; i < argc; i++)
        inputs[ninputs++] = argv[i];
#define USAGE(...) do { fprintf(stderr, "warden explain: " __VA_ARGS__); fputc('\n', stderr); \
                        free(inputs); return CMD_EXIT_USAGE; } while (0)
    if (ninputs && config)
        USAGE("--input and -c (Kafka) are exclusive");
    if (!ninputs && !config)
        USAGE("give --input FILE... --id ID, or -c warden.lua --event TOPIC/PARTITION/OFFSET (see --help)");
    if (ninputs && !id)
        USAGE("--input needs --id ID (the event to explain)");
    if (ninputs && event)
        USAGE("--event reads Kafka: it needs -c, not --input");
    if (config && !event)
        USAGE("-c needs --event TOPIC/PARTITION/OFFSET");
    if (config && id)
        USAGE("--id goes with --input; with -c give --event TOPIC/PARTITION/OFFSET");
    if (config && engine_flags)
        USAGE("with -c the stream/id/ts fields and budgets come from the config");
    if (warmup && rpl_parse_warmup(warmup, &xo.warmup_ms) != 0)
        USAGE("--warmup: '%s' is not a duration (\"0\", \"30m\", \"7d\" …)", warmup);
    if (run_id && (strlen(run_id) == 0 || strlen(run_id) > 128))
        USAGE("--run-id must be 1 to 128 bytes");
    char topic[512];
    int32_t part = 0;
    int64_t off = 0;
    if (event && parse_event(event, topic, sizeof(topic), &part, &off) != 0)
        USAGE("--event: '%s' is not TOPIC/PARTITION/OFFSET (e.g. warden.stream.login/3/1234)", event);

    static char err[65536];
    wd_config_t *cfg = NULL;
    rpl_explain_t *x = NULL;
    if (config) {
        if ((cfg = wd_config_load(config, WD_CONFIG_NEED_KAFKA, err, sizeof(err))) == NULL) {
            fprintf(stderr, "%s\nwarden explain: the config failed to load\n", err);
            free(inputs);
            return CMD_EXIT_LOAD;
        }
        cmd_engine_opts(cfg, &xo.eng);
        if (xo.rules == NULL)
            xo.rules = wd_config_str(cfg, "rules");
        if (store_url == NULL)
            store_url = wd_config_str(cfg, "store");
        if (run_id == NULL)
            run_id = wd_config_str(cfg, "run.run_id");
    }
    if (run_id == NULL)
        run_id = "live";
    if (xo.rules == NULL) {
        wd_config_destroy(cfg);
        USAGE("--input needs --rules DIR (the pack)");
    }
    if ((x = rpl_explain_new(&xo, err, sizeof(err))) == NULL) {
        fprintf(stderr, "%s\nwarden explain: the rule pack failed to load\n", err);
        status = CMD_EXIT_LOAD;
        goto done;
    }
    if (config) {
        const char *const *topics;
        size_t nt = wd_config_list(cfg, "run.topics", &topics);
        if (rpl_explain_kafka(x, cfg, topics, nt, topic, part, off, err, sizeof(err)) != 0) {
            fprintf(stderr, "warden explain: %s\n", err);
            status = CMD_EXIT_LOAD;
            goto done;
        }
    } else if ((status = explain_files(x, &xo.eng, inputs, ninputs, id)) != 0) {
        goto done;
    }
    if (store_url && *store_url && rpl_explain_event_id(x)) {
        char *shown = redacted(store_url);
        rpl_explain_set_store(x, shown, run_id);
        long n = store_read_results(store_url, run_id, rpl_explain_event_id(x), rpl_explain_recorded, x,
                                    err, sizeof(err));
        if (rpl_explain_oom(x))
            cmd_oom("the recorded results");
        if (n < 0) {
            fprintf(stderr, "warden explain: results store %s: %s\n", shown, err);
            free(shown);
            status = CMD_EXIT_LOAD;
            goto done;
        }
        free(shown);
    }
    wd_buf_t out = WD_BUF_INIT;
    if (json)
        rpl_explain_json(x, &out);
    else
        rpl_explain_text(x, &out);
    fwrite(out.data, 1, out.len, stdout);
    wd_buf_free(&out);
done:
    rpl_explain_destroy(x);
    wd_config_destroy(cfg);
    free(inputs);
    return status;
#undef USAGE
}

/* warden eval: the embedded evaluator.  JSONL events from files or stdin
 * through the engine; hits to a results sink (JSONL on stdout by default),
 * in input order and, within an event, rule-name order; a summary on
 * stderr.  Bad lines are reported as file:line, counted and skipped. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/cmd_ctx.h"
#include "engine/eng_engine.h"
#include "base/wd_jsonl.h"
#include "base/wd_log.h"
#include "base/wd_lua.h"
#include "cmd/cmd_output.h"
#include "state/state.h"
#include "base/wd_util.h"
#include "storage/store.h"

#define MAX_REPORTED 100   /* per kind of problem, then only counted */

/* The stop signal, if one came: process-wide by nature. */
static volatile sig_atomic_t stop_signal;

/* SIGTERM/SIGINT: the rule evaluation in progress (even one stuck in a C
 * call) fails at once, the event it belonged to is dropped, and eval
 * stops after flushing what it wrote (exit 128 + the signal).  No
 * SA_RESTART: a read of stdin waiting for input returns. */
static void on_stop_signal(int sig)
{
    stop_signal = sig;
    wd_lua_interrupt();
}

static void install_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

static void eval_usage(FILE *f)
{
    fprintf(f,
        "usage: warden eval [options] RULES_DIR [FILE...|-]\n"
        "Evaluates the rule pack on JSONL events (files, or stdin when none or '-')\n"
        "and writes one JSON line per hit.\n\n"
        "  -o, --out FILE          hits as JSONL to FILE (default stdout)\n"
        "      --store URL         hits to a results store instead: jsonl:PATH,\n"
        "                          mysql://user@host:port/db, starrocks://user@host:port/db\n"
        "      --run-id ID         run_id written with each hit (default \"live\" on JSONL\n"
        "                          output; with --store eval-<UTC time>-<pid>, so that a\n"
        "                          test run never overwrites the live service's rows)\n"
        "      --actions FILE      one action per line to FILE: format v2, one per entity\n"
        "                          with an enforce-mode hit (docs/operations.md)\n"
        "      --actions-format F  v2 (default) or v1 (deprecated: one action per event,\n"
        "                          naming only its most severe verdict's entity)\n"
        "      --rejects FILE      malformed input lines, verbatim, to FILE\n"
        "      --stream-field F    field naming the event's stream (default \"type\")\n"
        "      --id-field F        event id field (default \"id\")\n"
        "      --ts-field F        event time field, RFC 3339 or epoch ms (default \"ts\")\n"
        "      --budget N          Lua instructions per rule evaluation (default 1000000)\n"
        "      --mem-mb N          memory cap of the rules' Lua VM in MiB (default 64)\n"
        "      --time-limit-ms N   wall-clock milliseconds per rule evaluation, C calls\n"
        "                          included (default 50; 0: none)\n"
        "      --state-in FILE     start from the counter/label state in FILE (a snapshot)\n"
        "      --state-out FILE    write the final counter/label state to FILE\n"
        "      --state-max-mb N    memory ceiling of the state; LRU keys are evicted past it\n"
        "      --check-fields      read events through the checking view: reading a field\n"
        "                          a rule did not declare is a rule error (as in warden test)\n"
        "      --strict            exit 3 when any line was rejected or any rule errored\n"
        "  -q, --quiet             no summary on stderr\n"
        "  -h, --help              this help\n\n"
        "Exit status: 0 ok, 1 the rule pack failed to load or an output failed\n"
        "(results store, --actions, --rejects, --state-out, stdout), 2 usage error,\n"
        "3 (--strict) rejected lines or rule errors; 128+N stopped by signal N (SIGTERM,\n"
        "SIGINT: the event being evaluated is dropped, what was written is flushed).\n");
}

typedef struct eval_run {
    cmd_ctx_t    *ctx;        /* engine, sink, run record, actions/rejects files */
    eng_engine_t *eng;        /* the context's */
    wd_buf_t     line;
    wd_buf_t     key;
    int           fmt;      /* enum cmd_actions_format */
    uint64_t      events, ok, rejected, unrouted, hits, errors, actions_n;
    int           failed;   /* the sink failed: stop */
} eval_run_t;

static void process(eval_run_t *r, const char *buf, size_t len, const char *file, long lineno)
{
    eng_src_t src = { .topic = NULL, .msg_ts_ms = INT64_MIN, .file = file, .line = lineno };
    const eng_outcome_t *o;
    char err[1024];
    r->events++;
    if (eng_engine_eval(r->eng, NULL, buf, len, &src, &o) != 0) {
        LOG_ERROR("file=%s line=%ld msg=\"internal error evaluating event\"", file, lineno);
        r->failed = 1;
        return;
    }
    if (stop_signal) {   /* its rules were cut short: not an answer */
        r->events--;
        return;
    }
    if (o->status == ENG_EVENT_REJECTED) {
        if (r->rejected++ < MAX_REPORTED)
            fprintf(stderr, "%s:%ld: %s\n", file, lineno, o->reject_reason);
        FILE *rejects = cmd_ctx_rejects(r->ctx);
        if (rejects) {
            fwrite(buf, 1, len, rejects);
            fputc('\n', rejects);
        }
        return;
    }
    if (o->status == ENG_EVENT_UNROUTED) {
        r->unrouted++;
        return;
    }
    r->ok++;
    for (size_t i = 0; i < o->nerrors; i++)
        if (r->errors++ < MAX_REPORTED)
            fprintf(stderr, "%s:%ld: rule %s failed on event %s: %s\n", file, lineno,
                    o->errors[i].rule, o->event_id, o->errors[i].message);
    r->hits += o->nhits;
    if (cmd_ctx_write_outcome(r->ctx, o, &src, err, sizeof(err)) != 0) {
        fprintf(stderr, "warden eval: results store: %s\n", err);
        r->failed = 1;
        return;
    }
    size_t na = cmd_action_count(o, r->fmt);
    r->actions_n += na;
    FILE *actions = cmd_ctx_actions(r->ctx);
    for (size_t i = 0; actions && i < na; i++) {
        cmd_action_json(&r->line, &r->key, o, i, r->fmt, cmd_ctx_run_id(r->ctx));
        wd_buf_addc(&r->line, '\n');
        fwrite(r->line.data, 1, r->line.len, actions);
    }
}

typedef struct eval_file {
    eval_run_t *r;
    const char *name;
} eval_file_t;

static int eval_line(void *ud, const char *line, size_t len, long lineno)
{
    eval_file_t *f = ud;
    process(f->r, line, len, f->name, lineno);
    return f->r->failed || stop_signal;
}

static int eval_stream(eval_run_t *r, FILE *in, const char *name)
{
    eval_file_t f = { r, name };
    if (stop_signal)
        return 0;
    /* A stop signal interrupts a blocking read (no SA_RESTART): not an error. */
    if (wd_jsonl_each(in, eval_line, &f) < 0 && !stop_signal) {
        fprintf(stderr, "warden eval: %s: read error\n", name);
        return -1;
    }
    return 0;
}

static void summary(eval_run_t *r, double secs)
{
    fprintf(stderr,
            "warden eval: %" PRIu64 " events in %.2f s (%.0f events/s): %" PRIu64 " evaluated, %" PRIu64
            " unrouted, %" PRIu64 " rejected; %" PRIu64 " hits, %" PRIu64 " actions, %" PRIu64
            " rule errors\n",
            r->events, secs, secs > 0 ? (double)r->events / secs : 0.0, r->ok, r->unrouted,
            r->rejected, r->hits, r->actions_n, r->errors);
    const eng_rule_stats_t *st;
    size_t n = eng_engine_rule_stats(r->eng, &st);
    fprintf(stderr, "  %-32s %9s %7s %7s %7s %7s\n", "rule", "evals", "block", "review", "flag",
            "errors");
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "  %-32s %9" PRIu64 " %7" PRIu64 " %7" PRIu64 " %7" PRIu64 " %7" PRIu64 "\n",
                st[i].rule, st[i].evals, st[i].hits[RULE_VERDICT_BLOCK],
                st[i].hits[RULE_VERDICT_REVIEW], st[i].hits[RULE_VERDICT_FLAG], st[i].errors);
    state_stats_t ss;
    state_stats(eng_engine_state(r->eng), &ss);
    fprintf(stderr,
            "  state: %" PRIu64 " counter keys, %" PRIu64 " labels, %" PRIu64 " bytes; %" PRIu64
            " late events skipped, %" PRIu64 " expired, %" PRIu64 " evicted (state_max_mb)\n",
            ss.keys, ss.labels, ss.bytes, ss.late_skipped, ss.expired, ss.evictions);
    store_t *store = cmd_ctx_store(r->ctx);
    store_stats_t so;
    store_stats(store, &so);
    fprintf(stderr,
            "  store %s: %" PRIu64 " rows written in %" PRIu64 " batches (max %.1f ms), %" PRIu64
            " retries, %" PRIu64 " failed attempts\n",
            store_scheme(store), so.rows_written, so.batches, (double)so.batch_us_max / 1000.0,
            so.retries, so.failures);
    if (r->rejected > MAX_REPORTED || r->errors > MAX_REPORTED)
        fprintf(stderr, "  (only the first %d rejects and rule errors were printed)\n", MAX_REPORTED);
}

int cmd_engine_opt(int opt, const char *arg, eng_opts_t *o)
{
    char *end;
    long v;
    switch (opt) {
    case CMD_OPT_STREAM_FIELD: o->stream_field = arg; return 1;
    case CMD_OPT_ID_FIELD: o->id_field = arg; return 1;
    case CMD_OPT_TS_FIELD: o->ts_field = arg; return 1;
    case CMD_OPT_BUDGET:
        v = strtol(arg, &end, 10);
        if (*end || v <= 0) {
            fprintf(stderr, "warden: --budget wants a positive integer, got '%s'\n", arg);
            return -1;
        }
        o->instr_budget = v;
        return 1;
    case CMD_OPT_MEM_MB:
        v = strtol(arg, &end, 10);
        if (*end || v <= 0 || v > 65536) {
            fprintf(stderr, "warden: --mem-mb wants an integer in 1..65536, got '%s'\n", arg);
            return -1;
        }
        o->mem_cap = (size_t)v << 20;
        return 1;
    case CMD_OPT_TIME_LIMIT_MS:
        v = strtol(arg, &end, 10);
        if (*end || v < 0) {
            fprintf(stderr, "warden: --time-limit-ms wants an integer >= 0, got '%s'\n", arg);
            return -1;
        }
        o->time_limit_ms = v;
        return 1;
    default:
        return 0;
    }
}

int cmd_eval(int argc, char **argv)
{
    static const struct option lopts[] = {
        { "out", required_argument, NULL, 'o' },
        { "store", required_argument, NULL, CMD_OPT_STORE },
        { "run-id", required_argument, NULL, CMD_OPT_RUN_ID },
        { "actions", required_argument, NULL, CMD_OPT_ACTIONS },
        { "rejects", required_argument, NULL, CMD_OPT_REJECTS },
        { "strict", no_argument, NULL, CMD_OPT_STRICT },
        { "state-in", required_argument, NULL, CMD_OPT_STATE_IN },
        { "state-out", required_argument, NULL, CMD_OPT_STATE_OUT },
        { "state-max-mb", required_argument, NULL, CMD_OPT_STATE_MAX_MB },
        { "check-fields", no_argument, NULL, CMD_OPT_CHECK_FIELDS },
        { "actions-format", required_argument, NULL, CMD_OPT_ACTIONS_FORMAT },
        CMD_ENGINE_LOPTS,
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    eng_opts_t opts;
    eng_opts_default(&opts);
    const char *out = NULL, *store_url = NULL, *actions = NULL, *rejects = NULL;
    const char *run_id = NULL, *state_in = NULL, *state_out = NULL;
    int strict = 0, quiet = 0, c, fmt = CMD_ACTIONS_V2;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qh", lopts, NULL)) != -1) {
        int h = cmd_engine_opt(c, optarg, &opts);
        if (h < 0)
            return CMD_EXIT_USAGE;
        if (h)
            continue;
        switch (c) {
        case 'o': out = optarg; break;
        case CMD_OPT_STORE: store_url = optarg; break;
        case CMD_OPT_RUN_ID: run_id = optarg; break;
        case CMD_OPT_ACTIONS: actions = optarg; break;
        case CMD_OPT_REJECTS: rejects = optarg; break;
        case CMD_OPT_STRICT: strict = 1; break;
        case CMD_OPT_STATE_IN: state_in = optarg; break;
        case CMD_OPT_CHECK_FIELDS: opts.strict_fields = 1; break;
        case CMD_OPT_ACTIONS_FORMAT:
            fmt = cmd_actions_format_parse(optarg);
            if (fmt < 0) {
                fprintf(stderr, "warden eval: --actions-format wants v2 or v1, got '%s'\n", optarg);
                return CMD_EXIT_USAGE;
            }
            break;
        case CMD_OPT_STATE_OUT: state_out = optarg; break;
        case CMD_OPT_STATE_MAX_MB: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v <= 0) {
                fprintf(stderr, "warden eval: --state-max-mb wants a positive integer, got '%s'\n", optarg);
                return CMD_EXIT_USAGE;
            }
            opts.state_max_mb = (size_t)v;
            break;
        }
        case 'q': quiet = 1; break;
        case 'h': eval_usage(stdout); return CMD_EXIT_OK;
        default: eval_usage(stderr); return CMD_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "warden eval: missing RULES_DIR\n\n");
        eval_usage(stderr);
        return CMD_EXIT_USAGE;
    }
    if (out && store_url) {
        fprintf(stderr, "warden eval: --out and --store are exclusive\n");
        return CMD_EXIT_USAGE;
    }
    const char *rules_dir = argv[optind++];
    char idbuf[96];
    if (run_id == NULL && store_url == NULL)
        run_id = "live";   /* JSONL out: the output contract's example, diffable with run's */
    else if (run_id == NULL) {
        time_t t = time(NULL);
        struct tm tm;
        char ts[32];
        gmtime_r(&t, &tm);
        strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
        snprintf(idbuf, sizeof(idbuf), "eval-%s-%ld", ts, (long)getpid());
        run_id = idbuf;
    }
    if (strlen(run_id) == 0 || strlen(run_id) > 128) {
        fprintf(stderr, "warden eval: --run-id must be 1 to 128 bytes\n");
        return CMD_EXIT_USAGE;
    }

    static char err[65536];
    eval_run_t r;
    memset(&r, 0, sizeof(r));
    r.fmt = fmt;
    install_stop_signals();
    r.ctx = cmd_ctx_new(&opts, rules_dir, err, sizeof(err));
    if (r.ctx == NULL) {
        fprintf(stderr, "%s\nwarden eval: the rule pack failed to load\n", err);
        return CMD_EXIT_LOAD;
    }
    r.eng = cmd_ctx_engine(r.ctx);
    int status = CMD_EXIT_OK;
    if (state_in && state_load_file(eng_engine_state(r.eng), state_in, err, sizeof(err)) != 0) {
        fprintf(stderr, "warden eval: --state-in %s: %s\n", state_in, err);
        status = CMD_EXIT_LOAD;
        goto done;
    }
    char url[4200];
    if (store_url == NULL) {
        snprintf(url, sizeof(url), "jsonl:%s", out ? out : "-");
        store_url = url;
    }
    if (cmd_ctx_open_store(r.ctx, store_url, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "warden eval: %s\n", err);
        status = CMD_EXIT_LOAD;   /* the sink failed, as a sink failing later */
        goto done;
    }
    if (cmd_ctx_open_outputs(r.ctx, actions, rejects, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        status = CMD_EXIT_USAGE;
        goto done;
    }
    struct stat sst;
    if (state_out && stat(state_out, &sst) == 0 && !S_ISREG(sst.st_mode)) {
        /* A snapshot is written beside the path and renamed over it. */
        fprintf(stderr, "warden eval: --state-out %s: not a regular file\n", state_out);
        status = CMD_EXIT_USAGE;
        goto done;
    }
    /* rule_runs and rule_versions: every result traces to its exact source. */
    wd_buf_t params = WD_BUF_INIT;
    wd_buf_adds(&params, "{\"command\":\"eval\",\"rules\":");
    wd_buf_json_str(&params, rules_dir, strlen(rules_dir));
    wd_buf_adds(&params, ",\"inputs\":[");
    for (int i = optind; i < argc; i++) {
        if (i > optind)
            wd_buf_addc(&params, ',');
        wd_buf_json_str(&params, argv[i], strlen(argv[i]));
    }
    wd_buf_adds(&params, "]}");
    cmd_run_info_t info = { .run_id = run_id, .kind = "eval", .params = params.data };
    int brc = cmd_ctx_begin_run(r.ctx, &info, err, sizeof(err));
    wd_buf_free(&params);
    if (brc != 0) {
        fprintf(stderr, "warden eval: results store: %s\n", err);
        status = CMD_EXIT_LOAD;
        goto done;
    }

    uint64_t t0 = wd_now_ns();
    if (optind >= argc) {
        if (eval_stream(&r, stdin, "stdin") != 0)
            status = CMD_EXIT_USAGE;
    }
    for (int i = optind; i < argc && !r.failed && !stop_signal; i++) {
        if (strcmp(argv[i], "-") == 0) {
            if (eval_stream(&r, stdin, "stdin") != 0)
                status = CMD_EXIT_USAGE;
            continue;
        }
        FILE *f = fopen(argv[i], "r");
        if (f == NULL) {
            perror(argv[i]);
            status = CMD_EXIT_USAGE;
            continue;
        }
        if (eval_stream(&r, f, argv[i]) != 0)
            status = CMD_EXIT_USAGE;
        fclose(f);
    }
    if (store_flush(cmd_ctx_store(r.ctx), err, sizeof(err)) != 0) {
        fprintf(stderr, "warden eval: results store: %s\n", err);
        r.failed = 1;
    }
    double secs = (double)(wd_now_ns() - t0) / 1e9;
    cmd_run_counts_t counts = { .events = r.events, .hits = r.hits, .rejected = r.rejected,
                                .errors = r.errors, .failed = r.failed,
                                .stopped = stop_signal != 0 };
    if (!r.failed && cmd_ctx_end_run(r.ctx, &counts, err, sizeof(err)) != 0) {
        fprintf(stderr, "warden eval: results store: %s\n", err);
        r.failed = 1;
    }
    if (state_out && !r.failed &&
        state_save_file(eng_engine_state(r.eng), state_out, err, sizeof(err)) != 0) {
        fprintf(stderr, "warden eval: --state-out %s: %s\n", state_out, err);
        r.failed = 1;
    }
    if (!quiet)
        summary(&r, secs);
    if (r.failed)
        status = CMD_EXIT_LOAD;
    else if (stop_signal)
        status = 128 + stop_signal;
    else if (strict && status == CMD_EXIT_OK && (r.rejected || r.errors))
        status = CMD_EXIT_STRICT;
done:
    if (cmd_ctx_destroy(r.ctx, err, sizeof(err)) != 0) {
        fprintf(stderr, "warden eval: %s\n", err);
        if (status == CMD_EXIT_OK)
            status = CMD_EXIT_LOAD;
    }
    wd_buf_free(&r.line);
    wd_buf_free(&r.key);
    return status;
}

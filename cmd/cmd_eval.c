/* warden eval: the embedded evaluator.  JSONL events from files or stdin
 * through the engine; hits to a results sink (JSONL on stdout by default),
 * in input order and, within an event, rule-name order; a summary on
 * stderr.  Bad lines are reported as file:line, counted and skipped. */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/cmd.h"
#include "engine/eng_engine.h"
#include "base/wd_log.h"
#include "base/wd_lua.h"
#include "cmd/cmd_output.h"
#include "state/state.h"
#include "base/wd_util.h"
#include "rules/rule_pack.h"
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
        "      --run-id ID         run_id written with each hit (default \"live\")\n"
        "      --actions FILE      one action (enforce-mode decision) per line to FILE\n"
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
        "Exit status: 0 ok, 1 the rule pack failed to load, 2 usage error,\n"
        "3 (--strict) rejected lines or rule errors; 128+N stopped by signal N (SIGTERM,\n"
        "SIGINT: the event being evaluated is dropped, what was written is flushed).\n");
}

typedef struct eval_run {
    eng_engine_t *eng;
    store_t      *store;
    FILE         *rejects;
    FILE         *actions;
    const char   *run_id;
    store_row_t  *rows;
    wd_buf_t     line;
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
        if (r->rejects) {
            fwrite(buf, 1, len, r->rejects);
            fputc('\n', r->rejects);
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
    if (o->nhits) {
        r->hits += o->nhits;
        cmd_outcome_rows(o, r->run_id, &src, r->rows);
        if (store_write(r->store, r->rows, o->nhits, err, sizeof(err)) != 0) {
            fprintf(stderr, "warden eval: results store: %s\n", err);
            r->failed = 1;
            return;
        }
    }
    if (o->decision != RULE_VERDICT_NONE) {
        r->actions_n++;
        store_decision_t d;
        cmd_outcome_decision(o, r->run_id, &d);
        if (store_write_decision(r->store, &d, err, sizeof(err)) != 0) {
            fprintf(stderr, "warden eval: results store: %s\n", err);
            r->failed = 1;
            return;
        }
        if (r->actions) {
            wd_buf_reset(&r->line);
            cmd_action_json(&r->line, o, r->run_id);
            wd_buf_addc(&r->line, '\n');
            fwrite(r->line.data, 1, r->line.len, r->actions);
        }
    }
}

static int eval_stream(eval_run_t *r, FILE *in, const char *name)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    while (!r->failed && !stop_signal && (n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        size_t i = 0;
        while (i < (size_t)n && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i == (size_t)n)
            continue;   /* blank lines are not events */
        process(r, line, (size_t)n, name, lineno);
    }
    free(line);
    if (ferror(in) && !stop_signal) {
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
    store_stats_t so;
    store_stats(r->store, &so);
    fprintf(stderr,
            "  store %s: %" PRIu64 " rows written in %" PRIu64 " batches (max %.1f ms), %" PRIu64
            " retries, %" PRIu64 " failed attempts\n",
            store_scheme(r->store), so.rows_written, so.batches, (double)so.batch_us_max / 1000.0,
            so.retries, so.failures);
    if (r->rejected > MAX_REPORTED || r->errors > MAX_REPORTED)
        fprintf(stderr, "  (only the first %d rejects and rule errors were printed)\n", MAX_REPORTED);
}

int cmd_engine_opt(int opt, const char *arg, eng_opts_t *o)
{
    char *end;
    long v;
    switch (opt) {
    case 1001: o->stream_field = arg; return 1;
    case 1002: o->id_field = arg; return 1;
    case 1003: o->ts_field = arg; return 1;
    case 1004:
        v = strtol(arg, &end, 10);
        if (*end || v <= 0) {
            fprintf(stderr, "warden: --budget wants a positive integer, got '%s'\n", arg);
            return -1;
        }
        o->instr_budget = v;
        return 1;
    case 1005:
        v = strtol(arg, &end, 10);
        if (*end || v <= 0 || v > 65536) {
            fprintf(stderr, "warden: --mem-mb wants an integer in 1..65536, got '%s'\n", arg);
            return -1;
        }
        o->mem_cap = (size_t)v << 20;
        return 1;
    case 1009:
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
        { "out", required_argument, NULL, 'o' },         { "store", required_argument, NULL, 1010 },
        { "run-id", required_argument, NULL, 1011 },     { "actions", required_argument, NULL, 1012 },
        { "rejects", required_argument, NULL, 1013 },    { "strict", no_argument, NULL, 1014 },
        { "state-in", required_argument, NULL, 1015 },   { "state-out", required_argument, NULL, 1016 },
        { "state-max-mb", required_argument, NULL, 1017 },
        { "check-fields", no_argument, NULL, 1018 },
        CMD_ENGINE_LOPTS,                            { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },              { NULL, 0, NULL, 0 },
    };
    eng_opts_t opts;
    eng_opts_default(&opts);
    const char *out = NULL, *store_url = NULL, *actions = NULL, *rejects = NULL;
    const char *run_id = "live", *state_in = NULL, *state_out = NULL;
    int strict = 0, quiet = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qh", lopts, NULL)) != -1) {
        int h = cmd_engine_opt(c, optarg, &opts);
        if (h < 0)
            return CMD_EXIT_USAGE;
        if (h)
            continue;
        switch (c) {
        case 'o': out = optarg; break;
        case 1010: store_url = optarg; break;
        case 1011: run_id = optarg; break;
        case 1012: actions = optarg; break;
        case 1013: rejects = optarg; break;
        case 1014: strict = 1; break;
        case 1015: state_in = optarg; break;
        case 1018: opts.strict_fields = 1; break;
        case 1016: state_out = optarg; break;
        case 1017: {
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
    if (strlen(run_id) == 0 || strlen(run_id) > 128) {
        fprintf(stderr, "warden eval: --run-id must be 1 to 128 bytes\n");
        return CMD_EXIT_USAGE;
    }

    static char err[65536];
    eval_run_t r;
    memset(&r, 0, sizeof(r));
    r.run_id = run_id;
    install_stop_signals();
    r.eng = eng_engine_new(&opts, rules_dir, err, sizeof(err));
    if (r.eng == NULL) {
        fprintf(stderr, "%s\nwarden eval: the rule pack failed to load\n", err);
        return CMD_EXIT_LOAD;
    }
    if (state_in && state_load_file(eng_engine_state(r.eng), state_in, err, sizeof(err)) != 0) {
        fprintf(stderr, "warden eval: --state-in %s: %s\n", state_in, err);
        eng_engine_destroy(r.eng);
        return CMD_EXIT_LOAD;
    }
    int status = CMD_EXIT_OK;
    char url[4200];
    if (store_url == NULL) {
        snprintf(url, sizeof(url), "jsonl:%s", out ? out : "-");
        store_url = url;
    }
    if (store_open(&r.store, store_url, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "warden eval: %s\n", err);
        eng_engine_destroy(r.eng);
        return CMD_EXIT_LOAD;   /* the sink failed, as a sink failing later */
    }
    if (rejects && (r.rejects = fopen(rejects, "w")) == NULL) {
        perror(rejects);
        status = CMD_EXIT_USAGE;
        goto done;
    }
    if (actions && (r.actions = fopen(actions, "w")) == NULL) {
        perror(actions);
        status = CMD_EXIT_USAGE;
        goto done;
    }
    const eng_rule_stats_t *st;
    r.rows = calloc(eng_engine_rule_stats(r.eng, &st) + 1, sizeof(store_row_t));
    if (r.rows == NULL)
        abort();
    /* rule_runs and rule_versions: every result traces to its exact source. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    store_run_t run = { .run_id = run_id, .kind = "eval",
                        .started_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000,
                        .rules_sha256 = eng_engine_pack_hash(r.eng) };
    wd_buf_t params = WD_BUF_INIT;
    wd_buf_adds(&params, "{\"rules\":");
    wd_buf_json_str(&params, rules_dir, strlen(rules_dir));
    wd_buf_adds(&params, ",\"inputs\":[");
    for (int i = optind; i < argc; i++) {
        if (i > optind)
            wd_buf_addc(&params, ',');
        wd_buf_json_str(&params, argv[i], strlen(argv[i]));
    }
    wd_buf_adds(&params, "]}");
    run.params = params.data;
    if (store_begin_run(r.store, &run, err, sizeof(err)) != 0) {
        fprintf(stderr, "warden eval: results store: %s\n", err);
        wd_buf_free(&params);
        status = CMD_EXIT_LOAD;
        goto done;
    }
    rule_t *const *rules;
    size_t nr = rule_pack_rules(eng_engine_pack(r.eng), &rules);
    for (size_t i = 0; i < nr; i++) {
        store_rule_version_t rv = { .name = rules[i]->name, .version = (int)rules[i]->version,
                                    .sha256 = rules[i]->sha256, .source = rules[i]->source,
                                    .source_len = rules[i]->source_len, .seen_ms = run.started_ms };
        if (store_rule_version(r.store, &rv, err, sizeof(err)) != 0) {
            fprintf(stderr, "warden eval: results store: %s\n", err);
            wd_buf_free(&params);
            status = CMD_EXIT_LOAD;
            goto done;
        }
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
    if (store_flush(r.store, err, sizeof(err)) != 0) {
        fprintf(stderr, "warden eval: results store: %s\n", err);
        r.failed = 1;
    }
    double secs = (double)(wd_now_ns() - t0) / 1e9;
    clock_gettime(CLOCK_REALTIME, &now);
    run.finished_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    run.status = r.failed ? "failed" : stop_signal ? "stopped" : "finished";
    run.events = r.events;
    run.hits = r.hits;
    run.rejected = r.rejected;
    run.errors = r.errors;
    if (!r.failed && store_end_run(r.store, &run, err, sizeof(err)) != 0) {
        fprintf(stderr, "warden eval: results store: %s\n", err);
        r.failed = 1;
    }
    wd_buf_free(&params);
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
    if (store_close(r.store, err, sizeof(err)) != 0) {
        fprintf(stderr, "warden eval: results store: %s\n", err);
        if (status == CMD_EXIT_OK)
            status = CMD_EXIT_LOAD;
    }
    if (r.rejects)
        fclose(r.rejects);
    if (r.actions)
        fclose(r.actions);
    free(r.rows);
    wd_buf_free(&r.line);
    eng_engine_destroy(r.eng);
    return status;
}

/* warden replay: a bounded window of events — JSONL files (--input) or the
 * retained Kafka offsets of a time window (-c CONFIG --from --to) — through
 * a candidate pack and, optionally, a baseline pack in one pass; a report
 * of their difference (Markdown and/or JSON); the candidate's hits to a
 * results store under the replay's own run_id.  Never produces to Kafka.
 * docs/replay.md has the semantics and the report's fields. */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/wd_buf.h"
#include "base/wd_config.h"
#include "base/wd_jsonl.h"
#include "base/wd_lua.h"
#include "base/wd_util.h"
#include "cmd/cmd.h"
#include "cmd/cmd_control.h"
#include "cmd/cmd_kafka.h"
#include "cmd/cmd_output.h"
#include "engine/eng_engine.h"
#include "replay/rpl_kafka.h"
#include "replay/rpl_replay.h"
#include "rules/rule_pack.h"
#include "storage/store.h"

static void replay_usage(FILE *f)
{
    fprintf(f,
        "usage: warden replay --input FILE.jsonl... --rules DIR [options]\n"
        "       warden replay -c warden.lua --from TIME --to TIME [options]\n"
        "Replays a window of events through a candidate rule pack (and a baseline pack,\n"
        "in the same pass, each with its own state) and reports how they differ.\n"
        "Never produces to the actions topic.\n\n"
        "  -c, --config FILE       warden.lua: Kafka input (its kafka settings and topics);\n"
        "                          its rules are the default candidate\n"
        "      --input FILE        JSONL events instead of Kafka (repeatable; more files may\n"
        "                          follow the options); no servers, no config needed\n"
        "      --from TIME         window start (inclusive): RFC 3339, epoch ms, \"now\",\n"
        "                          \"-24h\" (relative to now); default: the start of the input\n"
        "      --to TIME           window end (exclusive); default: the end of the input\n"
        "                          (Kafka: now)\n"
        "      --rules DIR         the candidate pack (default: the config's rules)\n"
        "      --baseline DIR      the pack to compare with (default: none)\n"
        "      --warmup DURATION   events in [from - warmup, from) only build state\n"
        "                          (default: the longest counter window of the packs; \"0\": none)\n"
        "      --run-id ID         run_id of the stored hits (default replay-<UTC time>-<pid>)\n"
        "      --truth FILE        ground truth, JSONL {\"event_id\"|\"entity\":…,\"label\":\"abusive\"|\"benign\"}\n"
        "      --report FILE       the Markdown report to FILE\n"
        "      --json FILE         the JSON report to FILE\n"
        "      --html FILE         one self-contained HTML page: the tables and hits per\n"
        "                          hour per rule as charts (candidate and baseline)\n"
        "                          (none of the three: the Markdown report on stdout)\n"
        "      --store URL         the candidate's hits to a results store (run recorded as\n"
        "                          kind \"replay\"): jsonl:PATH, mysql://…, starrocks://…\n"
        "      --samples N         differing events kept per rule (default 10)\n"
        "      --stream-field F    --id-field F  --ts-field F  --budget N  --mem-mb N\n"
        "      --time-limit-ms N\n"
        "                          as for warden eval (Kafka: the config's streams settings)\n"
        "  -q, --quiet             no summary or progress on stderr\n"
        "  -h, --help              this help\n\n"
        "Progress goes to stderr when it is a terminal.  SIGINT/SIGTERM stop the replay\n"
        "cleanly with a partial report (marked partial, exit 5).\n"
        "Exit status: 0 ok, 1 a pack, config, input or store failed, 2 usage error,\n"
        "5 stopped by a signal (partial report).\n");
}

/* SIGINT/SIGTERM: stop after the event in progress.  A rule evaluation
 * still running a second after is cut short; a second signal cuts it at
 * once (base/wd_lua.h), as for warden run. */
static volatile sig_atomic_t g_stop;
static void on_signal(int sig)
{
    (void)sig;
    wd_lua_interrupt_in(g_stop ? 0 : 1000);
    g_stop = 1;
}

typedef struct replay_cmd {
    rpl_t       *rpl;
    rpl_kafka_t *kin;         /* Kafka input, else NULL */
    store_t     *store;
    const char  *run_id;
    store_row_t *rows;
    store_run_t  run;
    wd_buf_t     params;
    int          failed;      /* the store failed: stop */
    int          progress;    /* stderr is a terminal */
    uint64_t     t0, last_ns;
    uint64_t     done, total; /* bytes of the files, or offsets */
    const char  *unit;
    const char  *file;        /* the file being read */
    char         err[4096];
} replay_cmd_t;

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- the results store ---------------------------------------------------
 * Opens the store, records the run (kind "replay") and the candidate's rule
 * versions.  The one place replay touches the store's run bookkeeping. */
static int replay_store_open(replay_cmd_t *c, const char *url, const char *params_json)
{
    eng_engine_t *e = rpl_candidate(c->rpl);
    if (store_open(&c->store, url, NULL, c->err, sizeof(c->err)) != 0)
        return -1;
    const eng_rule_stats_t *st;
    c->rows = calloc(eng_engine_rule_stats(e, &st) + 1, sizeof(store_row_t));
    if (c->rows == NULL)
        cmd_oom("the result rows");
    c->run = (store_run_t){ .run_id = c->run_id, .kind = "replay", .started_ms = now_ms(),
                            .rules_sha256 = eng_engine_pack_hash(e), .params = params_json };
    if (store_begin_run(c->store, &c->run, c->err, sizeof(c->err)) != 0)
        return -1;
    rule_t *const *rules;
    size_t nr = rule_pack_rules(eng_engine_pack(e), &rules);
    for (size_t i = 0; i < nr; i++) {
        store_rule_version_t rv = { .name = rules[i]->name, .version = (int)rules[i]->version,
                                    .sha256 = rules[i]->sha256, .source = rules[i]->source,
                                    .source_len = rules[i]->source_len, .seen_ms = c->run.started_ms };
        if (store_rule_version(c->store, &rv, c->err, sizeof(c->err)) != 0)
            return -1;
    }
    return 0;
}

/* rpl_hit_fn: the candidate's hits and decision of one window event. */
static void replay_store_hit(void *ud, const eng_outcome_t *o, const eng_src_t *src)
{
    replay_cmd_t *c = ud;
    if (c->store == NULL || c->failed)
        return;
    if (o->nhits) {
        cmd_outcome_rows(o, c->run_id, src, c->rows);
        if (store_write(c->store, c->rows, o->nhits, c->err, sizeof(c->err)) != 0)
            c->failed = 1;
    }
    if (!c->failed && cmd_outcome_store_decisions(c->store, o, c->run_id, src, c->err,
                                                  sizeof(c->err)) != 0)
        c->failed = 1;
}

/* Flushes and records the end of the run.  Returns 0 or -1 (c->err). */
static int replay_store_close(replay_cmd_t *c, int partial)
{
    if (c->store == NULL)
        return 0;
    int rc = 0;
    if (!c->failed && store_flush(c->store, c->err, sizeof(c->err)) != 0)
        c->failed = 1;
    if (!c->failed) {
        rpl_counts_t n;
        rpl_counts(c->rpl, &n);
        c->run.finished_ms = now_ms();
        c->run.status = partial ? "stopped" : "finished";
        c->run.events = n.window;
        c->run.hits = n.hits_candidate;
        c->run.rejected = n.rejected;
        c->run.errors = n.errors_candidate;
        if (store_end_run(c->store, &c->run, c->err, sizeof(c->err)) != 0)
            c->failed = 1;
    }
    char err[1024];
    if (store_close(c->store, err, sizeof(err)) != 0 && !c->failed) {
        snprintf(c->err, sizeof(c->err), "%s", err);
        c->failed = 1;
    }
    if (c->failed)
        rc = -1;
    c->store = NULL;
    return rc;
}

/* ---- input --------------------------------------------------------------- */

/* A progress line at most every 250 ms (force: now, the last one). */
static void tick(replay_cmd_t *c, int force)
{
    if (!c->progress)
        return;
    uint64_t t = wd_now_ns();
    if (!force && t - c->last_ns < 250000000ULL)
        return;
    c->last_ns = t;
    rpl_counts_t n;
    rpl_counts(c->rpl, &n);
    rpl_progress(stderr, c->unit, c->done, c->total, n.read, (double)(t - c->t0) / 1e9);
}

static int replay_line(void *ud, const char *line, size_t len, long lineno)
{
    replay_cmd_t *c = ud;
    eng_src_t src = { .topic = NULL, .msg_ts_ms = INT64_MIN, .file = c->file, .line = lineno };
    if (rpl_feed(c->rpl, line, len, &src, c->err, sizeof(c->err)) != 0)
        return 2;
    c->done += len + 1;
    if ((lineno & 255) == 0)
        tick(c, 0);
    if (c->failed)
        return 2;
    return g_stop ? 1 : 0;
}

/* Reads the files in order.  Returns 0, 1 stopped by a signal, -1 failed. */
static int replay_files(replay_cmd_t *c, char **files, size_t n)
{
    c->unit = "bytes";
    for (size_t i = 0; i < n; i++) {
        struct stat sb;
        if (stat(files[i], &sb) == 0 && S_ISREG(sb.st_mode))
            c->total += (uint64_t)sb.st_size;
    }
    for (size_t i = 0; i < n; i++) {
        FILE *f = strcmp(files[i], "-") == 0 ? stdin : fopen(files[i], "r");
        if (f == NULL) {
            snprintf(c->err, sizeof(c->err), "%s: cannot open", files[i]);
            return -1;
        }
        c->file = f == stdin ? "stdin" : files[i];
        int rc = wd_jsonl_each(f, replay_line, c);
        if (f != stdin)
            fclose(f);
        if (rc == 1)
            return 1;
        if (rc == 2)
            return -1;
        if (rc < 0) {
            snprintf(c->err, sizeof(c->err), "%s: read error", files[i]);
            return -1;
        }
    }
    return 0;
}

/* rpl_kafka's per-event callback. */
static int replay_kafka_event(void *ud, const char *buf, size_t len, const eng_src_t *src,
                              uint64_t done, uint64_t total)
{
    replay_cmd_t *c = ud;
    /* The reader parsed the message for the merge order: evaluate that. */
    if (rpl_feed_doc(c->rpl, buf, len, rpl_kafka_doc(c->kin), src, c->err, sizeof(c->err)) != 0)
        return -1;
    c->done = done;
    c->total = total;
    tick(c, 0);
    if (c->failed)
        return -1;
    return g_stop ? 1 : 0;
}

static int write_file(const char *path, const wd_buf_t *b, char *err, size_t n)
{
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (f == NULL) {
        snprintf(err, n, "%s: cannot write", path);
        return -1;
    }
    size_t w = b->len ? fwrite(b->data, 1, b->len, f) : 0;
    int bad = w != b->len;
    if (f != stdout)
        bad |= fclose(f) != 0;
    else
        bad |= fflush(f) != 0;
    if (bad)
        snprintf(err, n, "%s: write error", path);
    return bad ? -1 : 0;
}

static void json_list(wd_buf_t *b, char **v, size_t n)
{
    wd_buf_addc(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            wd_buf_addc(b, ',');
        wd_buf_json_str(b, v[i], strlen(v[i]));
    }
    wd_buf_addc(b, ']');
}

int cmd_replay(int argc, char **argv)
{
    static const struct option lopts[] = {
        { "config", required_argument, NULL, 'c' },     { "input", required_argument, NULL, 1020 },
        { "from", required_argument, NULL, 1021 },      { "to", required_argument, NULL, 1022 },
        { "rules", required_argument, NULL, 1023 },     { "baseline", required_argument, NULL, 1024 },
        { "warmup", required_argument, NULL, 1025 },    { "run-id", required_argument, NULL, 1026 },
        { "truth", required_argument, NULL, 1027 },     { "report", required_argument, NULL, 1028 },
        { "json", required_argument, NULL, 1029 },      { "store", required_argument, NULL, 1030 },
        { "samples", required_argument, NULL, 1031 },   { "html", required_argument, NULL, 1032 },
        CMD_ENGINE_LOPTS,                               { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },             { NULL, 0, NULL, 0 },
    };
    rpl_opts_t ro;
    rpl_opts_default(&ro);
    const char *config = NULL, *from = NULL, *to = NULL, *warmup = NULL, *run_id = NULL;
    const char *truth = NULL, *report = NULL, *json = NULL, *html = NULL, *store_url = NULL;
    char **inputs = calloc((size_t)argc + 1, sizeof(char *));
    size_t ninputs = 0;
    int quiet = 0, c, status = CMD_EXIT_OK, engine_flags = 0;
    if (inputs == NULL)
        cmd_oom("the input list");
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:qh", lopts, NULL)) != -1) {
        int h = cmd_engine_opt(c, optarg, &ro.eng);
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
        case 1020: inputs[ninputs++] = optarg; break;
        case 1021: from = optarg; break;
        case 1022: to = optarg; break;
        case 1023: ro.candidate = optarg; break;
        case 1024: ro.baseline = optarg; break;
        case 1025: warmup = optarg; break;
        case 1026: run_id = optarg; break;
        case 1027: truth = optarg; break;
        case 1028: report = optarg; break;
        case 1029: json = optarg; break;
        case 1030: store_url = optarg; break;
        case 1032: html = optarg; break;
        case 1031: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v <= 0 || v > 100000) {
                fprintf(stderr, "warden replay: --samples wants an integer in 1..100000\n");
                free(inputs);
                return CMD_EXIT_USAGE;
            }
            ro.samples = (size_t)v;
            break;
        }
        case 'q': quiet = 1; break;
        case 'h': replay_usage(stdout); free(inputs); return CMD_EXIT_OK;
        default: replay_usage(stderr); free(inputs); return CMD_EXIT_USAGE;
        }
    }
    /* Files may follow the options: `--input a.jsonl b.jsonl`. */
    for (int i = optind; i < argc; i++)
        inputs[ninputs++] = argv[i];
#define USAGE(...) do { fprintf(stderr, "warden replay: " __VA_ARGS__); fputc('\n', stderr); \
                        free(inputs); return CMD_EXIT_USAGE; } while (0)
    if (ninputs && config)
        USAGE("--input and -c (Kafka) are exclusive");
    if (!ninputs && !config)
        USAGE("give --input FILE... or -c warden.lua (see --help)");
    if (config && (!from))
        USAGE("Kafka replay needs --from (and --to, default now)");
    if (config && engine_flags)
        USAGE("with -c the stream/id/ts fields and budgets come from the config");
    int64_t now = now_ms();
    if (from && rpl_parse_time(from, now, &ro.from_ms) != 0)
        USAGE("--from: '%s' is not RFC 3339, epoch ms, now or -DURATION", from);
    if (to && rpl_parse_time(to, now, &ro.to_ms) != 0)
        USAGE("--to: '%s' is not RFC 3339, epoch ms, now or -DURATION", to);
    if (config && !to)
        ro.to_ms = now;
    if (ro.from_ms != RPL_UNBOUNDED_FROM && ro.to_ms != RPL_UNBOUNDED_TO && ro.from_ms >= ro.to_ms)
        USAGE("--from must be before --to");
    if (warmup && rpl_parse_warmup(warmup, &ro.warmup_ms) != 0)
        USAGE("--warmup: '%s' is not a duration (\"0\", \"30m\", \"7d\" …)", warmup);
    char idbuf[96];
    if (run_id == NULL) {
        time_t t = (time_t)(now / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        char ts[32];
        strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
        snprintf(idbuf, sizeof(idbuf), "replay-%s-%ld", ts, (long)getpid());
        run_id = idbuf;
    }
    if (strlen(run_id) == 0 || strlen(run_id) > 128)
        USAGE("--run-id must be 1 to 128 bytes");
    if (strcmp(run_id, "live") == 0)
        USAGE("--run-id live is the live service's: a replay never writes its rows");

    static char err[65536];
    wd_config_t *cfg = NULL;
    rpl_kafka_t *kin = NULL;
    cmd_control_t *ctl = NULL;
    if (config) {
        if ((cfg = wd_config_load(config, WD_CONFIG_NEED_KAFKA, err, sizeof(err))) == NULL) {
            fprintf(stderr, "%s\nwarden replay: the config failed to load\n", err);
            free(inputs);
            return CMD_EXIT_LOAD;
        }
        cmd_engine_opts(cfg, &ro.eng);
        if (ro.candidate == NULL)
            ro.candidate = wd_config_str(cfg, "rules");
    }
    if (ro.candidate == NULL)
        USAGE("--input needs --rules DIR (the candidate pack)");

    replay_cmd_t rc;
    memset(&rc, 0, sizeof(rc));
    rc.run_id = run_id;
    rc.progress = !quiet && isatty(STDERR_FILENO);
    ro.on_hit = replay_store_hit;
    ro.on_hit_ud = &rc;
    rc.rpl = rpl_new(&ro, err, sizeof(err));
    if (rc.rpl == NULL) {
        fprintf(stderr, "%s\nwarden replay: a rule pack failed to load\n", err);
        status = CMD_EXIT_LOAD;
        goto done;
    }
    if (truth && rpl_truth_load(rc.rpl, truth, err, sizeof(err)) != 0) {
        fprintf(stderr, "warden replay: --truth %s\n", err);
        status = CMD_EXIT_LOAD;
        goto done;
    }
    /* What was replayed, for the report and rule_runs.params. */
    wd_buf_t in = WD_BUF_INIT;
    if (config) {
        const char *const *topics;
        size_t nt = wd_config_list(cfg, "run.topics", &topics);
        if ((kin = rpl_kafka_open(cfg, topics, nt, rpl_start_ms(rc.rpl), ro.to_ms,
                                  ro.eng.ts_field, err, sizeof(err))) == NULL) {
            fprintf(stderr, "warden replay: %s\n", err);
            status = CMD_EXIT_LOAD;
            goto done;
        }
        rpl_kafka_describe(kin, &in);
        /* The runtime list entries and manual labels, whole: each applies
         * by its effective time, as it did live (never created here). */
        if (!(ctl = cmd_control_open(cfg, 0, 1, err, sizeof(err)))) {
            fprintf(stderr, "warden replay: %s\n", err);
            status = CMD_EXIT_LOAD;
            goto done;
        }
        rpl_set_overlay(rc.rpl, cmd_control_overlay(ctl));
        rc.kin = kin;
        rc.unit = "messages";
    } else {
        wd_buf_adds(&in, "{\"files\":");
        json_list(&in, inputs, ninputs);
        wd_buf_addc(&in, '}');
    }
    rpl_set_input(rc.rpl, in.data);
    wd_buf_adds(&rc.params, "{\"candidate\":");
    wd_buf_json_str(&rc.params, ro.candidate, strlen(ro.candidate));
    wd_buf_adds(&rc.params, ",\"baseline\":");
    if (ro.baseline)
        wd_buf_json_str(&rc.params, ro.baseline, strlen(ro.baseline));
    else
        wd_buf_adds(&rc.params, "null");
    wd_buf_printf(&rc.params, ",\"from_ms\":%" PRId64 ",\"to_ms\":%" PRId64 ",\"warmup_ms\":%" PRId64
                  ",\"input\":%s}",
                  ro.from_ms == RPL_UNBOUNDED_FROM ? -1 : ro.from_ms,
                  ro.to_ms == RPL_UNBOUNDED_TO ? -1 : ro.to_ms, rpl_warmup_ms(rc.rpl), in.data);
    wd_buf_free(&in);
    if (store_url && replay_store_open(&rc, store_url, rc.params.data) != 0) {
        fprintf(stderr, "warden replay: results store: %s\n", rc.err);
        status = CMD_EXIT_LOAD;
        goto done;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    rc.t0 = wd_now_ns();
    int r = config ? rpl_kafka_run(kin, replay_kafka_event, &rc, &g_stop, err, sizeof(err))
                   : replay_files(&rc, inputs, ninputs);
    if (r < 0 && config && !rc.failed && rc.err[0] == '\0')
        snprintf(rc.err, sizeof(rc.err), "%.4000s", err);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (rc.progress) {
        tick(&rc, 1);   /* where it ended: 100% unless stopped */
        fputs("\n", stderr);
    }
    double secs = (double)(wd_now_ns() - rc.t0) / 1e9;
    int partial = r == 1;
    if (partial)
        rpl_set_partial(rc.rpl);
    if (r < 0) {
        fprintf(stderr, "warden replay: %s%s\n", rc.failed ? "results store: " : "", rc.err);
        status = CMD_EXIT_LOAD;
        goto done;
    }
    if (replay_store_close(&rc, partial) != 0) {
        fprintf(stderr, "warden replay: results store: %s\n", rc.err);
        status = CMD_EXIT_LOAD;
        goto done;
    }
    wd_buf_t out = WD_BUF_INIT;
    if (json) {
        rpl_report_json(rc.rpl, &out);
        if (write_file(json, &out, err, sizeof(err)) != 0) {
            fprintf(stderr, "warden replay: --json %s\n", err);
            status = CMD_EXIT_LOAD;
        }
        wd_buf_reset(&out);
    }
    if (html) {
        rpl_report_html(rc.rpl, &out);
        if (write_file(html, &out, err, sizeof(err)) != 0) {
            fprintf(stderr, "warden replay: --html %s\n", err);
            status = CMD_EXIT_LOAD;
        }
        wd_buf_reset(&out);
    }
    if (report || (!json && !html)) {
        rpl_report_md(rc.rpl, &out);
        if (write_file(report ? report : "-", &out, err, sizeof(err)) != 0) {
            fprintf(stderr, "warden replay: --report %s\n", err);
            status = CMD_EXIT_LOAD;
        }
    }
    wd_buf_free(&out);
    if (!quiet) {
        rpl_counts_t n;
        rpl_counts(rc.rpl, &n);
        fprintf(stderr,
                "warden replay: %" PRIu64 " events in %.2f s (%.0f events/s): %" PRIu64
                " in the window, %" PRIu64 " warm-up, %" PRIu64 " before, %" PRIu64 " after, %" PRIu64
                " rejected; %" PRIu64 " candidate hits, %" PRIu64 " baseline hits; run_id %s%s\n",
                n.read, secs, secs > 0 ? (double)n.read / secs : 0.0, n.window, n.warmup, n.before,
                n.after, n.rejected, n.hits_candidate, n.hits_baseline, run_id,
                partial ? " (PARTIAL: stopped by a signal)" : "");
    }
    if (status == CMD_EXIT_OK && partial)
        status = CMD_EXIT_PARTIAL;
done:
    if (rc.store) {
        char e2[512];
        store_close(rc.store, e2, sizeof(e2));
    }
    rpl_kafka_close(kin);
    cmd_control_close(ctl);
    free(rc.rows);
    wd_buf_free(&rc.params);
    rpl_destroy(rc.rpl);
    wd_config_destroy(cfg);
    free(inputs);
    return status;
#undef USAGE
}

/* cmd/cmd_ctx.c — the run context (cmd/cmd_ctx.h): engine, sink, run
 * record, rule versions and output files of one command, so that eval, run
 * and the commands to come wire them the same way.
 *
 * Ordering: the run row and the rule_versions rows are queued on the sink
 * before the hits they explain, and the sink keeps that order (a run or
 * version row never shares a batch with hits), so a hit is never durable
 * before the source of its rule version; and all of them are durable
 * before a Kafka loop's precommit flush returns. */
#include "cmd/cmd_ctx.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/cmd_output.h"
#include "rules/rule_pack.h"

struct cmd_ctx {
    eng_opts_t    opts;
    eng_engine_t *eng;
    store_t      *store;
    FILE         *actions, *rejects;
    char         *actions_path, *rejects_path;
    char         *run_id, *kind, *params;
    int64_t       started_ms;
    int           begun;
    store_row_t  *rows;        /* one outcome's hit rows */
    size_t        caprows;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

__attribute__((format(printf, 3, 4)))
static int seterr(char *errstr, size_t n, const char *fmt, ...)
{
    if (errstr && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

cmd_ctx_t *cmd_ctx_new(const eng_opts_t *opts, const char *rules_dir, char *errstr, size_t errstr_size)
{
    cmd_ctx_t *c = calloc(1, sizeof(*c));
    if (!c) {
        seterr(errstr, errstr_size, "out of memory");
        return NULL;
    }
    c->opts = *opts;
    c->eng = eng_engine_new(&c->opts, rules_dir, errstr, errstr_size);
    if (!c->eng) {
        free(c);
        return NULL;
    }
    return c;
}

int cmd_ctx_open_store(cmd_ctx_t *c, const char *url, const store_opts_t *so, char *errstr,
                       size_t errstr_size)
{
    if (c->store)
        return seterr(errstr, errstr_size, "the results sink is already open");
    return store_open(&c->store, url, so, errstr, errstr_size);
}

static int open_file(FILE **f, char **keep, const char *path, char *errstr, size_t n)
{
    if (!path)
        return 0;
    *keep = strdup(path);
    *f = *keep ? fopen(path, "w") : NULL;
    if (!*f)
        return seterr(errstr, n, "%s: %s", path, *keep ? strerror(errno) : "out of memory");
    return 0;
}

int cmd_ctx_open_outputs(cmd_ctx_t *c, const char *actions_path, const char *rejects_path,
                         char *errstr, size_t errstr_size)
{
    if (open_file(&c->rejects, &c->rejects_path, rejects_path, errstr, errstr_size) != 0 ||
        open_file(&c->actions, &c->actions_path, actions_path, errstr, errstr_size) != 0)
        return -1;
    return 0;
}

/* The run row (again, with the current pack's hash) and every rule's
 * version row of the current engine. */
static int record(cmd_ctx_t *c, eng_engine_t *e, char *errstr, size_t errstr_size)
{
    if (!c->store)
        return 0;
    store_run_t run = { .run_id = c->run_id, .kind = c->kind, .started_ms = c->started_ms,
                        .rules_sha256 = eng_engine_pack_hash(e), .params = c->params };
    if (store_begin_run(c->store, &run, errstr, errstr_size) != 0)
        return -1;
    rule_t *const *rules;
    size_t n = rule_pack_rules(eng_engine_pack(e), &rules);
    int64_t seen = now_ms();
    for (size_t i = 0; i < n; i++) {
        store_rule_version_t rv = { .name = rules[i]->name, .version = (int)rules[i]->version,
                                    .sha256 = rules[i]->sha256, .source = rules[i]->source,
                                    .source_len = rules[i]->source_len, .seen_ms = seen };
        if (store_rule_version(c->store, &rv, errstr, errstr_size) != 0)
            return -1;
    }
    return 0;
}

static char *dup_or_null(const char *s, int *oom)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = 1;
    return d;
}

int cmd_ctx_begin_run(cmd_ctx_t *c, const cmd_run_info_t *info, char *errstr, size_t errstr_size)
{
    int oom = 0;
    free(c->run_id);
    free(c->kind);
    free(c->params);
    c->run_id = dup_or_null(info->run_id ? info->run_id : "live", &oom);
    c->kind = dup_or_null(info->kind ? info->kind : "eval", &oom);
    c->params = dup_or_null(info->params, &oom);
    if (oom)
        return seterr(errstr, errstr_size, "out of memory");
    c->started_ms = now_ms();
    c->begun = 1;
    return record(c, c->eng, errstr, errstr_size);
}

int cmd_ctx_reload(cmd_ctx_t *c, eng_engine_t *neu, char *errstr, size_t errstr_size)
{
    if (c->begun && record(c, neu, errstr, errstr_size) != 0)
        return -1;
    eng_engine_destroy(c->eng);
    c->eng = neu;
    return 0;
}

int cmd_ctx_end_run(cmd_ctx_t *c, const cmd_run_counts_t *n, char *errstr, size_t errstr_size)
{
    if (!c->store || !c->begun)
        return 0;
    store_run_t run = { .run_id = c->run_id, .kind = c->kind, .started_ms = c->started_ms,
                        .finished_ms = now_ms(), .rules_sha256 = eng_engine_pack_hash(c->eng),
                        .params = c->params, .status = n->failed    ? "failed"
                                  : n->stopped ? "stopped"
                                               : "finished",
                        .events = n->events, .hits = n->hits, .rejected = n->rejected,
                        .errors = n->errors };
    return store_end_run(c->store, &run, errstr, errstr_size);
}

int cmd_ctx_write_outcome(cmd_ctx_t *c, const eng_outcome_t *o, const eng_src_t *src,
                          char *errstr, size_t errstr_size)
{
    if (!c->store)
        return 0;
    const char *run_id = cmd_ctx_run_id(c);
    if (o->nhits) {
        if (o->nhits > c->caprows) {
            store_row_t *r = realloc(c->rows, o->nhits * sizeof(*r));
            if (!r)
                return seterr(errstr, errstr_size, "out of memory");
            c->rows = r;
            c->caprows = o->nhits;
        }
        cmd_outcome_rows(o, run_id, src, c->rows);
        if (store_write(c->store, c->rows, o->nhits, errstr, errstr_size) != 0)
            return -1;
    }
    return cmd_outcome_store_decisions(c->store, o, run_id, src, errstr, errstr_size);
}

eng_engine_t *cmd_ctx_engine(const cmd_ctx_t *c) { return c->eng; }
store_t *cmd_ctx_store(const cmd_ctx_t *c) { return c->store; }
FILE *cmd_ctx_actions(const cmd_ctx_t *c) { return c->actions; }
FILE *cmd_ctx_rejects(const cmd_ctx_t *c) { return c->rejects; }
const char *cmd_ctx_run_id(const cmd_ctx_t *c) { return c->run_id ? c->run_id : "live"; }

/* fclose that reports a write error (disk full) the first time. */
static void close_file(FILE *f, const char *path, int *rc, char *errstr, size_t n)
{
    if (!f)
        return;
    int bad = ferror(f);
    if (fclose(f) != 0)
        bad = 1;
    if (bad && *rc == 0)
        *rc = seterr(errstr, n, "%s: write error", path);
}

int cmd_ctx_destroy(cmd_ctx_t *c, char *errstr, size_t errstr_size)
{
    if (!c)
        return 0;
    int rc = 0;
    char serr[1024];
    if (store_close(c->store, serr, sizeof(serr)) != 0)
        rc = seterr(errstr, errstr_size, "results store: %s", serr);
    close_file(c->rejects, c->rejects_path, &rc, errstr, errstr_size);
    close_file(c->actions, c->actions_path, &rc, errstr, errstr_size);
    eng_engine_destroy(c->eng);
    free(c->actions_path);
    free(c->rejects_path);
    free(c->run_id);
    free(c->kind);
    free(c->params);
    free(c->rows);
    free(c);
    return rc;
}

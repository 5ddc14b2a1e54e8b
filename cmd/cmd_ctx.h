/* cmd/cmd_ctx.h — the run context every command opens: the engine (one
 * rule pack), the results sink, the run record (rule_runs) and the version
 * of every rule it loads (rule_versions), and the outputs a command has
 * (actions and rejects files).  One cmd_ctx_destroy closes them all.  A
 * command that compares two packs (replay) opens one context per pack. */
#ifndef WARDEN_CMD_CMD_CTX_H
#define WARDEN_CMD_CMD_CTX_H

#include <stdint.h>
#include <stdio.h>

#include "engine/eng_engine.h"
#include "storage/store.h"

typedef struct cmd_ctx cmd_ctx_t;

/* Loads the rule pack in rules_dir with opts (copied).  Returns NULL with
 * every load error, one "file:line: message" a line, in errstr. */
cmd_ctx_t *cmd_ctx_new(const eng_opts_t *opts, const char *rules_dir, char *errstr, size_t errstr_size);

/* Opens the results sink from url (store.h; so may be NULL).  A context
 * without one (test, check) records nothing.  0, or -1 with the sink's
 * message. */
int cmd_ctx_open_store(cmd_ctx_t *c, const char *url, const store_opts_t *so, char *errstr,
                       size_t errstr_size);

/* Opens (truncates) the actions and rejects files; either path may be NULL.
 * 0, or -1 with "PATH: reason". */
int cmd_ctx_open_outputs(cmd_ctx_t *c, const char *actions_path, const char *rejects_path,
                         char *errstr, size_t errstr_size);

/* What rule_runs says about the run.  Strings are copied. */
typedef struct cmd_run_info {
    const char *run_id;   /* "live", or the replay's / eval's id */
    const char *kind;     /* "live" | "eval" | "replay" */
    const char *params;   /* JSON object text (command, inputs, group…), may be NULL */
} cmd_run_info_t;

/* Records the run as started (now, with the pack's hash) and the version of
 * every rule of the pack, in that order and ahead of any hit written after
 * it.  Without a sink only remembers run_id.  0, or -1 with a message (the
 * sink failed). */
int cmd_ctx_begin_run(cmd_ctx_t *c, const cmd_run_info_t *info, char *errstr, size_t errstr_size);

/* Swaps in neu (a pack loaded with the same options): records the run again
 * with neu's hash and the version of every rule of neu, then destroys the
 * old engine.  Takes ownership of neu on success; on failure (the sink
 * failed) the caller keeps it and the old engine stays in place. */
int cmd_ctx_reload(cmd_ctx_t *c, eng_engine_t *neu, char *errstr, size_t errstr_size);

/* Counts of a finished run. */
typedef struct cmd_run_counts {
    uint64_t events, hits, rejected, errors;
    int      failed;      /* status "failed" instead of "finished" */
    int      stopped;     /* status "stopped" (by a signal) instead of "finished" */
} cmd_run_counts_t;

/* Records the run's end (now) with counts (a no-op without a sink).  0 or
 * -1 with a message. */
int cmd_ctx_end_run(cmd_ctx_t *c, const cmd_run_counts_t *n, char *errstr, size_t errstr_size);

/* Writes one outcome's hit rows and decision (if any) to the sink, tagged
 * with the run's run_id; src gives topic/partition/offset (may be NULL).
 * A no-op without a sink.  0, or -1 with the sink's message (fatal). */
int cmd_ctx_write_outcome(cmd_ctx_t *c, const eng_outcome_t *o, const eng_src_t *src,
                          char *errstr, size_t errstr_size);

/* Borrowed, valid until the next cmd_ctx_reload (engine) or destroy. */
eng_engine_t *cmd_ctx_engine(const cmd_ctx_t *c);
store_t      *cmd_ctx_store(const cmd_ctx_t *c);     /* NULL without a sink */
FILE         *cmd_ctx_actions(const cmd_ctx_t *c);   /* NULL when not opened */
FILE         *cmd_ctx_rejects(const cmd_ctx_t *c);
const char   *cmd_ctx_run_id(const cmd_ctx_t *c);    /* "live" before begin_run */

/* Closes the sink (its final flush), the files and the engine.  Returns 0,
 * or -1 with the first failure (flush, or a write error on a file) in
 * errstr.  cmd_ctx_destroy(NULL, …) is a no-op returning 0. */
int cmd_ctx_destroy(cmd_ctx_t *c, char *errstr, size_t errstr_size);

#endif

/* cmd/cmd.h — the warden binary's subcommands.  Each takes the
 * arguments after the command name (argv[0] is the command) and returns the
 * process exit status.  cmd/cmd_main.c dispatches to them. */
#ifndef WARDEN_CMD_CMD_H
#define WARDEN_CMD_CMD_H

/* Exit statuses shared by the commands. */
enum {
    CMD_EXIT_OK = 0,
    CMD_EXIT_LOAD = 1,     /* the rule pack (or config) failed to load; test failures */
    CMD_EXIT_USAGE = 2,
    CMD_EXIT_STRICT = 3,   /* --strict: some input was rejected or a rule errored;
                            * migrate --status: the schema is behind this binary */
    CMD_EXIT_FATAL = 4,    /* run/split: a fatal Kafka or store error after a clean
                            * start (e.g. fenced by a live twin instance); any
                            * command: out of memory (cmd_oom) */
    CMD_EXIT_PARTIAL = 5,  /* replay: stopped by a signal; the report is partial */
    CMD_EXIT_BUSY = 6,     /* rewind: the group has active members; nothing changed */
};

/* Out of memory in a command-line path (never the service's loop): says
 * what could not be allocated on stderr and exits CMD_EXIT_FATAL. */
void cmd_oom(const char *what) __attribute__((noreturn));

/* Every long option's getopt code, one enum for all commands, so no two
 * options can share a code by accident. */
enum cmd_opt {
    /* engine options: eval, test, check (CMD_ENGINE_LOPTS) */
    CMD_OPT_STREAM_FIELD = 1001,
    CMD_OPT_ID_FIELD,
    CMD_OPT_TS_FIELD,
    CMD_OPT_BUDGET,
    CMD_OPT_MEM_MB,
    CMD_OPT_TIME_LIMIT_MS,
    /* eval */
    CMD_OPT_STORE = 1010,
    CMD_OPT_RUN_ID,
    CMD_OPT_ACTIONS,
    CMD_OPT_REJECTS,
    CMD_OPT_STRICT,
    CMD_OPT_STATE_IN,
    CMD_OPT_STATE_OUT,
    CMD_OPT_STATE_MAX_MB,
    CMD_OPT_CHECK_FIELDS,
    CMD_OPT_ACTIONS_FORMAT,
    /* run and split (cmd/cmd_kafka.c) */
    CMD_OPT_INSTANCE = 1101,
    CMD_OPT_SET,
    CMD_OPT_HELP_CONFIG,
    CMD_OPT_MAX_EVENTS,
    CMD_OPT_STATS_JSON,
};

struct eng_opts;
/* The engine options (--stream-field, --id-field, --ts-field, --budget,
 * --mem-mb, --time-limit-ms).  Returns 1 if opt was one (applied to o), 0
 * if not, -1 on a bad value (message printed). */
int cmd_engine_opt(int opt, const char *arg, struct eng_opts *o);
#define CMD_ENGINE_LOPTS                                                   \
    { "stream-field", required_argument, NULL, CMD_OPT_STREAM_FIELD },     \
    { "id-field", required_argument, NULL, CMD_OPT_ID_FIELD },             \
    { "ts-field", required_argument, NULL, CMD_OPT_TS_FIELD },             \
    { "budget", required_argument, NULL, CMD_OPT_BUDGET },                 \
    { "mem-mb", required_argument, NULL, CMD_OPT_MEM_MB },                 \
    { "time-limit-ms", required_argument, NULL, CMD_OPT_TIME_LIMIT_MS }

int cmd_eval(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_test(int argc, char **argv);
/* cmd/cmd_run.c, cmd/cmd_split.c: the Kafka service and splitter. */
int cmd_run(int argc, char **argv);
int cmd_split(int argc, char **argv);
/* cmd/cmd_replay.c: `warden replay`. */
int cmd_replay(int argc, char **argv);
/* cmd/cmd_explain.c: `warden explain`. */
int cmd_explain(int argc, char **argv);
/* cmd/cmd_rewind.c: `warden rewind`. */
int cmd_rewind(int argc, char **argv);
/* cmd/cmd_admin.c: `warden admin`, the admin API's client. */
int cmd_admin(int argc, char **argv);

/* cmd/cmd_migrate.c: `warden migrate`. */
int cmd_migrate(int argc, char **argv);
/* cmd/cmd_investigate.c, cmd/cmd_undo.c: reading the results store back. */
int cmd_investigate(int argc, char **argv);
int cmd_undo(int argc, char **argv);

#endif

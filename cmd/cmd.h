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
                            * start (e.g. fenced by a live twin instance) */
};

struct eng_opts;
/* getopt codes 1001..1005 and 1009 of the engine options (--stream-field,
 * --id-field, --ts-field, --budget, --mem-mb, --time-limit-ms).  Returns 1 if opt was one (applied to o),
 * 0 if not, -1 on a bad value (message printed). */
int cmd_engine_opt(int opt, const char *arg, struct eng_opts *o);
#define CMD_ENGINE_LOPTS                                           \
    { "stream-field", required_argument, NULL, 1001 },                 \
    { "id-field", required_argument, NULL, 1002 },                     \
    { "ts-field", required_argument, NULL, 1003 },                     \
    { "budget", required_argument, NULL, 1004 },                       \
    { "mem-mb", required_argument, NULL, 1005 },                       \
    { "time-limit-ms", required_argument, NULL, 1009 }

int cmd_eval(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_test(int argc, char **argv);
/* cmd/cmd_run.c, cmd/cmd_split.c: the Kafka service and splitter. */
int cmd_run(int argc, char **argv);
int cmd_split(int argc, char **argv);
/* cmd/cmd_migrate.c: `warden migrate`. */
int cmd_migrate(int argc, char **argv);

#endif

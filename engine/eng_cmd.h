/* engine/eng_cmd.h — the warden binary's subcommands.  Each takes the
 * arguments after the command name (argv[0] is the command) and returns the
 * process exit status.  engine/eng_main.c dispatches to them. */
#ifndef WARDEN_ENG_CMD_H
#define WARDEN_ENG_CMD_H

/* Exit statuses shared by the commands. */
enum {
    ENG_EXIT_OK = 0,
    ENG_EXIT_LOAD = 1,     /* the rule pack (or config) failed to load; test failures */
    ENG_EXIT_USAGE = 2,
    ENG_EXIT_STRICT = 3,   /* --strict: some input was rejected or a rule errored */
};

struct eng_opts;
/* getopt codes 1001..1005 of the engine options (--stream-field, --id-field,
 * --ts-field, --budget, --mem-mb).  Returns 1 if opt was one (applied to o),
 * 0 if not, -1 on a bad value (message printed). */
int eng_cmd_engine_opt(int opt, const char *arg, struct eng_opts *o);
#define ENG_CMD_ENGINE_LOPTS                                           \
    { "stream-field", required_argument, NULL, 1001 },                 \
    { "id-field", required_argument, NULL, 1002 },                     \
    { "ts-field", required_argument, NULL, 1003 },                     \
    { "budget", required_argument, NULL, 1004 },                       \
    { "mem-mb", required_argument, NULL, 1005 }

int eng_cmd_eval(int argc, char **argv);
int eng_cmd_check(int argc, char **argv);
int rule_cmd_test(int argc, char **argv);
/* engine/eng_cmd_run.c, engine/eng_cmd_split.c: the Kafka service and splitter. */
int eng_cmd_run(int argc, char **argv);
int eng_cmd_split(int argc, char **argv);

#endif

/* warden: a trust-and-safety rule engine.  Dispatches to subcommands. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "base/wd_log.h"
#include "storage/store_migrate.h"

typedef struct cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} cmd_t;

static const cmd_t cmds[] = {
    { "eval", cmd_eval, "evaluate a rule pack on JSONL events, hits as JSONL (no servers)" },
    { "test", cmd_test, "run the tests inside each rule file" },
    { "run", cmd_run, "the enforcement service on Kafka: actions, results, dead letters, exactly once" },
    { "split", cmd_split, "split raw topics into pruned per-stream topics, exactly once" },
    { "replay", cmd_replay, "replay a window (files or Kafka) through a candidate and a baseline pack, diff report" },
    { "explain", cmd_explain, "why one event got its verdicts: what each rule read, counted and returned" },
    { "rewind", cmd_rewind, "move warden run's group back to a time, with its state rebuilt as of then" },
    { "check", cmd_check, "load and validate a rule pack without running it" },
    { "migrate", cmd_migrate, "create or upgrade the results schema of a mysql:// store" },
    { "investigate", cmd_investigate, "every hit and action on one entity, from the results store" },
    { "undo", cmd_undo, "revoke every action one rule version produced in a window, exactly once" },
    { "admin", cmd_admin, "a client of the admin API of warden run (status, rules, reload, mode)" },
    { NULL, NULL, NULL },
};

static void usage(FILE *f)
{
    fprintf(f, "usage: warden COMMAND [options] ...\n\ncommands:\n");
    for (const cmd_t *c = cmds; c->name; c++)
        fprintf(f, "  %-11s %s\n", c->name, c->summary);
    fprintf(f, "\n`warden COMMAND --help` shows a command's options.\n"
               "Environment: WARDEN_LOG=error|warn|info|debug (default info).\n");
}

void cmd_oom(const char *what)
{
    fprintf(stderr, "warden: out of memory (%s)\n", what);
    exit(CMD_EXIT_FATAL);
}

int main(int argc, char **argv)
{
    const char *lvl = getenv("WARDEN_LOG");
    if (lvl && wd_log_parse_level(lvl) >= 0)
        wd_log_level = wd_log_parse_level(lvl);
    if (argc < 2) {
        usage(stderr);
        return CMD_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CMD_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("warden %s\n", WARDEN_VERSION);
        return CMD_EXIT_OK;
    }
    for (const cmd_t *c = cmds; c->name; c++) {
        if (strcmp(argv[1], c->name) == 0) {
            int rc = c->fn(argc - 1, argv + 1);
            /* Hits, reports and summaries on stdout: a failed write (a
             * full disk, a closed pipe) is an error, not a silent exit 0. */
            errno = 0;
            if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, "warden %s: stdout: write failed: %s\n", c->name,
                        strerror(errno ? errno : EIO));
                if (rc == CMD_EXIT_OK)
                    rc = CMD_EXIT_LOAD;
            }
            return rc;
        }
    }
    fprintf(stderr, "warden: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return CMD_EXIT_USAGE;
}

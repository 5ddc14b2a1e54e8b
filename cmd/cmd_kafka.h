/* cmd/cmd_kafka.h — what `warden run` and `warden split` share on
 * their command line: -c CONFIG, --instance, -X kafka properties, --set
 * overrides, --help-config; loading and checking the config; engine options
 * from it. */
#ifndef WARDEN_CMD_CMD_KAFKA_H
#define WARDEN_CMD_CMD_KAFKA_H

#include <getopt.h>
#include <stdio.h>

#include "base/wd_config.h"
#include "engine/eng_engine.h"

typedef struct cmd_args {
    const char  *cmd;        /* "run" | "split" */
    const char  *config;
    const char  *instance;
    unsigned long long max_events;   /* --max-events, 0: none */
    const char  *stats_json; /* --stats-json FILE, NULL: none */
    char       **xkeys;      /* -X KEY=VALUE */
    char       **xvals;
    size_t       nx;
    char       **skeys;      /* --set KEY=VALUE */
    char       **svals;
    size_t       ns;
} cmd_args_t;

/* Options beyond the shared ones (-c/--config, -X, --instance, --set,
 * --help-config, --help) that a command takes. */
enum cmd_kafka_extra {
    CMD_KAFKA_MAX_EVENTS = 1,   /* --max-events N (run) */
};

/* Parses argv with the one table of run/split options (cmd/cmd_kafka.c),
 * those of extra (enum cmd_kafka_extra bits) included.  Returns -1 to go
 * on, or the exit status to return now (help, usage). */
int cmd_parse_common(int argc, char **argv, const char *cmd, unsigned extra, cmd_args_t *a,
                     void (*usage)(FILE *));
void cmd_args_free(cmd_args_t *a);

/* Loads a->config, applies -X, --set and --instance, checks that Kafka and
 * the rule pack are there, and sets the log level (WARDEN_LOG wins).
 * Returns NULL with every problem printed to stderr (errstr is scratch). */
wd_config_t *cmd_load_config(const cmd_args_t *a, char *errstr, size_t errstr_size);

/* Engine options from the streams and engine sections. */
void cmd_engine_opts(const wd_config_t *c, eng_opts_t *o);

#endif

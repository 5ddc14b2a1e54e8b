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
    unsigned long long max_events;   /* --max-events (1104), 0: none */
    const char  *stats_json; /* --stats-json FILE (1105), NULL: none */
    char       **xkeys;      /* -X KEY=VALUE */
    char       **xvals;
    size_t       nx;
    char       **skeys;      /* --set KEY=VALUE */
    char       **svals;
    size_t       ns;
} cmd_args_t;

/* Parses argv with lopts (which must map -c to 'c', --instance to 1101,
 * --set to 1102, --help-config to 1103, --help to 'h'; may map
 * --max-events to 1104 and --stats-json to 1105; -X is built in).
 * Returns -1 to go on, or the exit status to return now (help, usage). */
int cmd_parse_common(int argc, char **argv, const struct option *lopts, const char *cmd,
                         cmd_args_t *a, void (*usage)(FILE *));
void cmd_args_free(cmd_args_t *a);

/* Loads a->config, applies -X, --set and --instance, checks that Kafka and
 * the rule pack are there, and sets the log level (WARDEN_LOG wins).
 * Returns NULL with every problem printed to stderr (errstr is scratch). */
wd_config_t *cmd_load_config(const cmd_args_t *a, char *errstr, size_t errstr_size);

/* Engine options from the streams and engine sections. */
void cmd_engine_opts(const wd_config_t *c, eng_opts_t *o);

#endif

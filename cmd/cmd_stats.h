/* cmd/cmd_stats.h — the --stats-json file of `warden run` and `warden
 * split`: one JSON object with the command's counters, rewritten
 * atomically (a temporary file renamed over it) after every commit, on
 * SIGUSR1 and at exit (then with "final": true).  Fields:
 * docs/operations.md.  Off the hot path: once per commit. */
#ifndef WARDEN_CMD_CMD_STATS_H
#define WARDEN_CMD_CMD_STATS_H

#include <jansson.h>

#include "kafka/kfk.h"

/* A new object with what every stats file has: command, pid, instance,
 * final, written_ms (wall clock), uptime_s.  NULL when out of memory. */
json_t *cmd_stats_new(const char *command, const char *instance, int final, double uptime_s);

/* Adds the loop's counters (kfk_counters or, final, kfk_stats: with the
 * latency percentiles) to o. */
void cmd_stats_kafka(json_t *o, const kfk_stats_t *ks, int final);

/* Sets o[key] to the unsigned counter v. */
void cmd_stats_u64(json_t *o, const char *key, uint64_t v);

/* Writes o to path atomically (path.tmp, then rename) and releases o
 * (o may be NULL: out of memory, nothing written).  Returns 0, or -1 with
 * errstr. */
int cmd_stats_write(const char *path, json_t *o, char *errstr, size_t errstr_size);

#endif

/* cmd/cmd_control.h — the control topic (run.control_topic): runtime list
 * entries and manual labels, read whole into a rule overlay before the
 * first event and followed between batches (warden run), or read whole
 * before a replay.  Bad records are logged with their offset, counted and
 * passed over.  docs/operations.md has the record format. */
#ifndef WARDEN_CMD_CMD_CONTROL_H
#define WARDEN_CMD_CMD_CONTROL_H

#include <stddef.h>
#include <stdint.h>

typedef struct cmd_control cmd_control_t;
typedef struct wd_config wd_config_t;
struct rule_overlay;

/* Opens the topic (created when create and missing) and reads it to its
 * end (30 s at most).  missing_ok: a topic that does not exist is an
 * empty one (replay of a group that never had one).  NULL with errstr. */
cmd_control_t *cmd_control_open(const wd_config_t *cfg, int create, int missing_ok, char *errstr,
                                size_t errstr_size);
void cmd_control_close(cmd_control_t *c);

/* Owned by c; valid until cmd_control_close. */
const struct rule_overlay *cmd_control_overlay(const cmd_control_t *c);
const char *cmd_control_topic(const cmd_control_t *c);
/* Applies what arrived since (no wait).  Returns the records read. */
size_t cmd_control_follow(cmd_control_t *c);
/* Writes one record (val NULL: tombstone) and reads the topic up to it,
 * so this process applies it before the call returns.  *offset gets its
 * offset.  0, or -1 with errstr. */
int cmd_control_put(cmd_control_t *c, const void *key, size_t klen, const void *val, size_t vlen,
                    int64_t *offset, char *errstr, size_t errstr_size);

typedef struct cmd_control_stats {
    uint64_t records;    /* read and applied */
    uint64_t rejected;   /* bad records passed over */
    uint64_t entries;    /* list entries and labels with a history */
} cmd_control_stats_t;
void cmd_control_stats(const cmd_control_t *c, cmd_control_stats_t *out);

#endif

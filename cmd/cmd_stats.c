/* cmd/cmd_stats.c — building and writing the --stats-json file. */
#include "cmd/cmd_stats.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

void cmd_stats_u64(json_t *o, const char *key, uint64_t v)
{
    /* json_int_t is long long: counters stay far below 2^63. */
    json_object_set_new(o, key, json_integer((json_int_t)v));
}

json_t *cmd_stats_new(const char *command, const char *instance, int final, double uptime_s)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    json_object_set_new(o, "command", json_string(command));
    json_object_set_new(o, "pid", json_integer((json_int_t)getpid()));
    json_object_set_new(o, "instance", instance ? json_string(instance) : json_null());
    json_object_set_new(o, "final", json_boolean(final));
    json_object_set_new(o, "written_ms", json_integer((json_int_t)tv.tv_sec * 1000 + tv.tv_usec / 1000));
    json_object_set_new(o, "uptime_s", json_real(uptime_s));
    return o;
}

void cmd_stats_kafka(json_t *o, const kfk_stats_t *ks, int final)
{
    cmd_stats_u64(o, "consumed", ks->consumed);
    cmd_stats_u64(o, "produced", ks->produced);
    cmd_stats_u64(o, "dead_letters", ks->dead_letters);
    cmd_stats_u64(o, "commits", ks->commits);
    cmd_stats_u64(o, "aborts", ks->aborts);
    cmd_stats_u64(o, "producer_restarts", ks->producer_restarts);
    cmd_stats_u64(o, "snapshots", ks->snapshots);
    cmd_stats_u64(o, "snapshot_bytes", ks->snapshot_bytes);
    cmd_stats_u64(o, "restored", ks->restored);
    cmd_stats_u64(o, "restored_bytes", ks->restored_bytes);
    cmd_stats_u64(o, "changelog_tombstones", ks->tombstones);
    cmd_stats_u64(o, "restored_records", ks->restored_records);
    cmd_stats_u64(o, "restore_ms", ks->restore_ms);
    cmd_stats_u64(o, "migrated", ks->migrated);
    cmd_stats_u64(o, "misaligned", ks->misaligned);
    cmd_stats_u64(o, "held", ks->held);
    cmd_stats_u64(o, "held_max", ks->held_max);
    cmd_stats_u64(o, "watermarks_in", ks->watermarks);
    cmd_stats_u64(o, "late", ks->late);
    cmd_stats_u64(o, "paused", ks->paused);
    json_object_set_new(o, "watermark_lag_ms", json_integer((json_int_t)ks->wm_lag_ms));
    cmd_stats_u64(o, "assigned", ks->assigned);
    cmd_stats_u64(o, "revoked", ks->revoked);
    cmd_stats_u64(o, "partitions", ks->partitions);
    cmd_stats_u64(o, "slots", ks->slots);
    cmd_stats_u64(o, "commits_overlapped", ks->overlapped);
    json_object_set_new(o, "commit_seconds", json_real((double)ks->commit_us / 1e6));
    json_object_set_new(o, "commit_stall_seconds", json_real((double)ks->commit_stall_us / 1e6));
    if (final) {
        cmd_stats_u64(o, "latency_p50_us", ks->lat_p50_us);
        cmd_stats_u64(o, "latency_p99_us", ks->lat_p99_us);
        cmd_stats_u64(o, "latency_max_us", ks->lat_max_us);
    }
    double busy = ks->first_ns && ks->last_commit_ns > ks->first_ns
                      ? (double)(ks->last_commit_ns - ks->first_ns) / 1e9 : 0.0;
    json_object_set_new(o, "busy_seconds", json_real(busy));
}

int cmd_stats_write(const char *path, json_t *o, char *errstr, size_t n)
{
    if (!o) {
        snprintf(errstr, n, "%s: out of memory", path);
        return -1;
    }
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        snprintf(errstr, n, "%s: path too long", path);
        json_decref(o);
        return -1;
    }
    int rc = -1;
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(errstr, n, "%s: %s", tmp, strerror(errno));
        json_decref(o);
        return -1;
    }
    int bad = json_dumpf(o, f, JSON_SORT_KEYS | JSON_INDENT(1) | JSON_REAL_PRECISION(9)) != 0;
    bad |= fputc('\n', f) == EOF;
    bad |= fclose(f) != 0;
    if (bad)
        snprintf(errstr, n, "%s: %s", tmp, errno ? strerror(errno) : "write failed");
    else if (rename(tmp, path) != 0)
        snprintf(errstr, n, "rename %s to %s: %s", tmp, path, strerror(errno));
    else
        rc = 0;
    if (rc != 0)
        unlink(tmp);
    json_decref(o);
    return rc;
}

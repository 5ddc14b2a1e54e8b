/* base/wd_log.h — leveled, structured (key=value) logging to stderr.
 * Every module logs through these macros with its subject in the message:
 * LOG_WARN("rule=%s event=%s msg=\"%s\"", name, id, msg).  Every %s value
 * is escaped (\n, \", \\, control bytes), and quoted when it follows a bare
 * `key=` and needs it, so no input can forge a line or a key.  Repeats go
 * through LOG_WARN_EVERY, which logs the first WD_LOG_EVERY_FIRST, then
 * every WD_LOG_EVERY_NTH-th, each with suppressed=K since the last one. */
#ifndef WARDEN_BASE_WD_LOG_H
#define WARDEN_BASE_WD_LOG_H

#include <stdint.h>
#include <stdio.h>

enum wd_log_level { WD_LOG_ERROR, WD_LOG_WARN, WD_LOG_INFO, WD_LOG_DEBUG };

/* Messages above this level are dropped (default INFO; WARDEN_LOG=debug…). */
extern int wd_log_level;
/* Parses "error|warn|info|debug"; returns -1 for anything else. */
int wd_log_parse_level(const char *s);
/* Where lines go (NULL: stderr).  For tests. */
void wd_log_set_file(FILE *f);
void wd_log(int level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Formats one message as wd_log does (without the ts/level/src prefix) into
 * out, truncated to n.  Returns the length written.  Exposed for the test. */
size_t wd_log_format(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Repeat suppression for one subject's repeated message (a rule error
 * counter, a partition's shed commits).  Zero-initialise; owned by the
 * subject.  Not thread-safe: one thread per subject. */
#define WD_LOG_EVERY_FIRST 20
#define WD_LOG_EVERY_NTH   1000
typedef struct wd_log_every {
    uint64_t seen;         /* occurrences so far */
    uint64_t suppressed;   /* occurrences not logged since the last logged one */
} wd_log_every_t;
/* Counts one occurrence: 1 when it is to be logged (then *suppressed gets
 * the count skipped since the last logged one, and restarts), else 0. */
int wd_log_every_due(wd_log_every_t *t, uint64_t *suppressed);
void wd_log_every(wd_log_every_t *t, int level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#define WD_LOG_(lvl, ...) \
    do { if ((lvl) <= wd_log_level) wd_log((lvl), __FILE__, __LINE__, __VA_ARGS__); } while (0)
#define LOG_ERROR(...) WD_LOG_(WD_LOG_ERROR, __VA_ARGS__)
#define LOG_WARN(...)  WD_LOG_(WD_LOG_WARN, __VA_ARGS__)
#define LOG_INFO(...)  WD_LOG_(WD_LOG_INFO, __VA_ARGS__)
#define LOG_DEBUG(...) WD_LOG_(WD_LOG_DEBUG, __VA_ARGS__)
/* every: a wd_log_every_t * of the subject; the line gets " suppressed=K". */
#define LOG_WARN_EVERY(every, ...) wd_log_every((every), WD_LOG_WARN, __FILE__, __LINE__, __VA_ARGS__)

#endif

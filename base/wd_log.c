#include "base/wd_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int wd_log_level = WD_LOG_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

int wd_log_parse_level(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

/* One line per call: ts=… level=… src=file:line then the message. */
void wd_log(int level, const char *file, int line, const char *fmt, ...)
{
    char ts[32];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    const char *base = strrchr(file, '/');
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "ts=%s.%03ldZ level=%s src=%s:%d %s\n", ts,
            now.tv_nsec / 1000000, level_names[level], base ? base + 1 : file, line, msg);
}

/* base/wd_log.h — leveled, structured (key=value) logging to stderr.
 * Every module logs through these macros with its subject in the message:
 * LOG_WARN("rule=%s event=%s msg=%s", name, id, msg). */
#ifndef WARDEN_BASE_WD_LOG_H
#define WARDEN_BASE_WD_LOG_H

enum wd_log_level { WD_LOG_ERROR, WD_LOG_WARN, WD_LOG_INFO, WD_LOG_DEBUG };

/* Messages above this level are dropped (default INFO; WARDEN_LOG=debug…). */
extern int wd_log_level;
/* Parses "error|warn|info|debug"; returns -1 for anything else. */
int wd_log_parse_level(const char *s);
void wd_log(int level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define WD_LOG_(lvl, ...) \
    do { if ((lvl) <= wd_log_level) wd_log((lvl), __FILE__, __LINE__, __VA_ARGS__); } while (0)
#define LOG_ERROR(...) WD_LOG_(WD_LOG_ERROR, __VA_ARGS__)
#define LOG_WARN(...)  WD_LOG_(WD_LOG_WARN, __VA_ARGS__)
#define LOG_INFO(...)  WD_LOG_(WD_LOG_INFO, __VA_ARGS__)
#define LOG_DEBUG(...) WD_LOG_(WD_LOG_DEBUG, __VA_ARGS__)

#endif

/* engine/eng_log.h — leveled, structured (key=value) logging to stderr.
 * Every module logs through these macros with its subject in the message:
 * LOG_WARN("rule=%s event=%s msg=%s", name, id, msg). */
#ifndef WARDEN_ENG_LOG_H
#define WARDEN_ENG_LOG_H

enum eng_log_level { ENG_LOG_ERROR, ENG_LOG_WARN, ENG_LOG_INFO, ENG_LOG_DEBUG };

/* Messages above this level are dropped (default INFO; WARDEN_LOG=debug…). */
extern int eng_log_level;
/* Parses "error|warn|info|debug"; returns -1 for anything else. */
int eng_log_parse_level(const char *s);
void eng_log(int level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define ENG_LOG_(lvl, ...) \
    do { if ((lvl) <= eng_log_level) eng_log((lvl), __FILE__, __LINE__, __VA_ARGS__); } while (0)
#define LOG_ERROR(...) ENG_LOG_(ENG_LOG_ERROR, __VA_ARGS__)
#define LOG_WARN(...)  ENG_LOG_(ENG_LOG_WARN, __VA_ARGS__)
#define LOG_INFO(...)  ENG_LOG_(ENG_LOG_INFO, __VA_ARGS__)
#define LOG_DEBUG(...) ENG_LOG_(ENG_LOG_DEBUG, __VA_ARGS__)

#endif

/* engine/eng_util.h — small helpers shared across modules: whole-file
 * reads, sha256, durations and RFC 3339 times. */
#ifndef WARDEN_ENG_UTIL_H
#define WARDEN_ENG_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Reads a whole file into a malloc'd NUL-terminated buffer (caller frees).
 * Returns 0, or -1 with "path: strerror" in errstr. */
int eng_read_file(const char *path, char **out, size_t *len, char *errstr, size_t errstr_size);

/* Hex sha256 of data into out[65]. */
void eng_sha256_hex(const void *data, size_t len, char out[65]);

/* Incremental sha256 (opaque context). */
typedef struct eng_sha256 eng_sha256_t;
eng_sha256_t *eng_sha256_new(void);
void eng_sha256_update(eng_sha256_t *c, const void *data, size_t len);
/* Writes the hex digest and frees the context. */
void eng_sha256_final(eng_sha256_t *c, char out[65]);

/* Parses RFC 3339 ("2026-11-20T10:00:00Z", fractional seconds, ±hh:mm
 * offsets, 't'/'z' and ' ' separators accepted) into ms since the epoch.
 * Returns 0 or -1. */
int eng_parse_rfc3339(const char *s, size_t len, int64_t *ms);

/* Collects load-time problems, one a line, into a caller's buffer (the
 * "every problem at once" reports of the rule pack, counters and lists
 * loaders).  Initialise as { buf, size, 0, 0 }; count keeps counting after
 * the buffer is full. */
typedef struct eng_errs {
    char  *buf;
    size_t size;
    size_t len;
    int    count;
} eng_errs_t;
void eng_errs_add(eng_errs_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Monotonic clock in ns, for rates and latencies (never for event time). */
uint64_t eng_now_ns(void);

#endif

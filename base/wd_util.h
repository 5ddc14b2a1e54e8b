/* base/wd_util.h — small helpers shared across modules: whole-file
 * reads, sha256, durations and RFC 3339 times. */
#ifndef WARDEN_BASE_WD_UTIL_H
#define WARDEN_BASE_WD_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Reads a whole file into a malloc'd NUL-terminated buffer (caller frees):
 * the one whole-file reader (config, counters.lua, rules, lists, state
 * files).  Returns 0, or -1 with "path: strerror" in errstr and errno set
 * (ENOENT for a missing file, ENOMEM, EIO). */
int wd_read_file(const char *path, char **out, size_t *len, char *errstr, size_t errstr_size);

/* Does path, every symbolic link in it resolved, lie inside the directory
 * root_real (itself a realpath(), no trailing slash but for "/")?  Returns
 * 1 (inside or root_real itself), 0 (outside), or -1 with errno when path
 * cannot be resolved (dangling link, link loop).  *resolved, when given,
 * gets the resolved path (malloc'd, caller frees) on 0 and 1. */
int wd_path_within(const char *root_real, const char *path, char **resolved);

/* Hex sha256 of data into out[65]. */
void wd_sha256_hex(const void *data, size_t len, char out[65]);

/* Incremental sha256 (opaque context). */
typedef struct wd_sha256 wd_sha256_t;
wd_sha256_t *wd_sha256_new(void);
void wd_sha256_update(wd_sha256_t *c, const void *data, size_t len);
/* Writes the hex digest and frees the context. */
void wd_sha256_final(wd_sha256_t *c, char out[65]);

/* Parses RFC 3339 ("2026-11-20T10:00:00Z", fractional seconds, ±hh:mm
 * offsets, 't'/'z' and ' ' separators accepted) into ms since the epoch.
 * Returns 0 or -1. */
int wd_parse_rfc3339(const char *s, size_t len, int64_t *ms);

/* Collects load-time problems, one a line (no newline after the last),
 * into a caller's buffer: the "every problem at once" reports of the
 * config, rule pack, counters and lists loaders.  Initialise as
 * { buf, size, 0, 0 } (buf NULL or size 0: count only); count keeps
 * counting after the buffer is full, and the buffer is never overrun. */
typedef struct wd_errs {
    char  *buf;
    size_t size;
    size_t len;
    int    count;
} wd_errs_t;
void wd_errs_add(wd_errs_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void wd_errs_vadd(wd_errs_t *e, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* Monotonic clock in ns, for rates and latencies (never for event time). */
uint64_t wd_now_ns(void);

/* The low `bytes` bytes of v at b, big-endian (the internal records of
 * the repartitioned path). */
static inline void wd_put_be(unsigned char *b, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) {
        b[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

/* The big-endian integer of `bytes` bytes at b. */
static inline uint64_t wd_get_be(const unsigned char *b, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | b[i];
    return v;
}

#endif

/* base/wd_buf.h — a growable byte buffer and JSON string escaping,
 * shared by every module that formats output. */
#ifndef WARDEN_BASE_WD_BUF_H
#define WARDEN_BASE_WD_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct wd_buf {
    char  *data;   /* NUL-terminated when len > 0 */
    size_t len;
    size_t cap;
    int    failed; /* an append ran out of memory: the contents are short */
} wd_buf_t;

#define WD_BUF_INIT { NULL, 0, 0, 0 }

/* Growth failure is sticky, not fatal: the append that could not grow the
 * buffer and every later one change nothing, and failed stays set until
 * wd_buf_reset/wd_buf_free.  Whoever builds a line checks wd_buf_failed()
 * once before using it (one test per line, not one per append).
 * wd_buf_reserve returns 0, or -1 (and sets failed) when out of memory. */
int wd_buf_reserve(wd_buf_t *b, size_t extra);
static inline int wd_buf_failed(const wd_buf_t *b) { return b->failed; }
void wd_buf_add(wd_buf_t *b, const void *p, size_t n);
void wd_buf_adds(wd_buf_t *b, const char *s);
void wd_buf_addc(wd_buf_t *b, char c);
void wd_buf_printf(wd_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s[0..n) as a JSON string with quotes; invalid UTF-8 bytes become
 * U+FFFD, control characters and NUL are \u-escaped. */
void wd_buf_json_str(wd_buf_t *b, const char *s, size_t n);
/* Length of the longest valid UTF-8 prefix of s[0..n): n when all of it is
 * valid (the bytes wd_buf_json_str keeps as they are). */
size_t wd_utf8_valid_prefix(const char *s, size_t n);
/* Appends a double as JSON (shortest round-trip form; integers without ".0"). */
void wd_buf_json_num(wd_buf_t *b, double d);
/* Appends ms since the epoch as RFC 3339 UTC ("2026-11-20T10:00:00Z", with
 * ".mmm" only when ms is not whole seconds). */
void wd_buf_rfc3339(wd_buf_t *b, int64_t ms);
void wd_buf_reset(wd_buf_t *b);
void wd_buf_free(wd_buf_t *b);

#endif

/* engine/eng_buf.h — a growable byte buffer and JSON string escaping,
 * shared by every module that formats output. */
#ifndef WARDEN_ENG_BUF_H
#define WARDEN_ENG_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct eng_buf {
    char  *data;   /* NUL-terminated when len > 0 */
    size_t len;
    size_t cap;
} eng_buf_t;

#define ENG_BUF_INIT { NULL, 0, 0 }

/* Growth failure aborts: buffers hold output lines, not untrusted sizes. */
void eng_buf_reserve(eng_buf_t *b, size_t extra);
void eng_buf_add(eng_buf_t *b, const void *p, size_t n);
void eng_buf_adds(eng_buf_t *b, const char *s);
void eng_buf_addc(eng_buf_t *b, char c);
void eng_buf_printf(eng_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s[0..n) as a JSON string with quotes; invalid UTF-8 bytes become
 * U+FFFD, control characters and NUL are \u-escaped. */
void eng_buf_json_str(eng_buf_t *b, const char *s, size_t n);
/* Appends a double as JSON (shortest round-trip form; integers without ".0"). */
void eng_buf_json_num(eng_buf_t *b, double d);
/* Appends ms since the epoch as RFC 3339 UTC ("2026-11-20T10:00:00Z", with
 * ".mmm" only when ms is not whole seconds). */
void eng_buf_rfc3339(eng_buf_t *b, int64_t ms);
void eng_buf_reset(eng_buf_t *b);
void eng_buf_free(eng_buf_t *b);

#endif

/* base/wd_buf.c — growable byte buffer, JSON string/number formatting and
 * RFC 3339 timestamps (base/wd_buf.h).  Hot path for every output line:
 * appends are amortised O(1), formatting never allocates beyond the buffer. */
#include "base/wd_buf.h"

#include "base/wd_alloc.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int wd_buf_reserve(wd_buf_t *b, size_t extra)
{
    if (b->failed)
        return -1;
    /* +1 keeps room for the terminating NUL. */
    if (extra > SIZE_MAX - b->len - 1) {
        b->failed = 1;
        return -1;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = wd_realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void wd_buf_add(wd_buf_t *b, const void *p, size_t n)
{
    if (n == 0 || wd_buf_reserve(b, n) < 0)
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void wd_buf_adds(wd_buf_t *b, const char *s)
{
    wd_buf_add(b, s, strlen(s));
}

void wd_buf_addc(wd_buf_t *b, char c)
{
    if (wd_buf_reserve(b, 1) < 0)
        return;
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void wd_buf_printf(wd_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    if (b->failed)
        return;
    va_start(ap, fmt);
    size_t room = b->cap > b->len ? b->cap - b->len : 0;
    int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0) {
        /* An encoding error of the format: the line cannot be made. */
        if (room)   /* room > 0: data is there */
            b->data[b->len] = '\0';
        b->failed = 1;
        return;
    }
    if ((size_t)n >= room) {
        if (room)   /* room > 0: data is there */
            b->data[b->len] = '\0';
        if (wd_buf_reserve(b, (size_t)n) < 0)
            return;
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when s[0] does not
 * start one (overlong forms, surrogates and code points past U+10FFFF are
 * invalid). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
    else return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)))
        return 0;
    if (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))
        return 0;
    return len;
}

size_t wd_utf8_valid_prefix(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t l = utf8_seq(p + i, n - i);
        if (l == 0)
            break;
        i += l;
    }
    return i;
}

void wd_buf_json_str(wd_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    /* Worst case is 6 bytes out per byte in (\u00XX); reserve it once. */
    if (n > (SIZE_MAX - 3) / 6) {
        b->failed = 1;
        return;
    }
    if (wd_buf_reserve(b, n * 6 + 2) < 0)
        return;
    char *o = b->data + b->len;
    *o++ = '"';
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            *o++ = (char)c;
            i++;
        } else if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
            i++;
        } else if (c < 0x20) {
            *o++ = '\\'; *o++ = 'u'; *o++ = '0'; *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
            i++;
        } else {
            size_t l = utf8_seq(p + i, n - i);
            if (l == 0) {
                /* U+FFFD, three bytes: fits, since 3 <= 6. */
                *o++ = (char)0xEF; *o++ = (char)0xBF; *o++ = (char)0xBD;
                i++;
            } else {
                memcpy(o, p + i, l);
                o += l;
                i += l;
            }
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
}

void wd_buf_json_num(wd_buf_t *b, double d)
{
    char tmp[40];
    if (!isfinite(d)) {
        /* JSON has no NaN or infinity. */
        wd_buf_add(b, "null", 4);
        return;
    }
    if (d == trunc(d) && fabs(d) < 1e17) {
        snprintf(tmp, sizeof(tmp), "%.0f", d);
        wd_buf_adds(b, tmp);
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
        if (prec == 17 || strtod(tmp, NULL) == d)
            break;
    }
    wd_buf_adds(b, tmp);
}

void wd_buf_rfc3339(wd_buf_t *b, int64_t ms)
{
    int64_t sec = ms / 1000;
    int64_t rem = ms % 1000;
    if (rem < 0) {
        rem += 1000;
        sec -= 1;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        memset(&tm, 0, sizeof(tm));
        tm.tm_year = 70;
        tm.tm_mday = 1;
    }
    if (rem)
        wd_buf_printf(b, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)rem);
    else
        wd_buf_printf(b, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void wd_buf_reset(wd_buf_t *b)
{
    b->len = 0;
    b->failed = 0;
    if (b->data)
        b->data[0] = '\0';
}

void wd_buf_free(wd_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = 0;
}

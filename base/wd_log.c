/* base/wd_log.c — the log writer (base/wd_log.h).
 *
 * Messages are printf formats, but the writer walks the format itself: the
 * numbers go through snprintf one conversion at a time, and every string
 * argument is escaped on its way out, so a producer's event id or a rule's
 * ctx.log text holding a newline, a quote or a backslash stays one value on
 * one line. */
#include "base/wd_log.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int wd_log_level = WD_LOG_INFO;
static FILE *log_file;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

int wd_log_parse_level(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

void wd_log_set_file(FILE *f) { log_file = f; }

/* ---- the formatter ---- */

typedef struct out {
    char  *p;
    size_t n, len;   /* len < n; p[len] == '\0' */
} out_t;

static void put(out_t *o, const char *s, size_t k)
{
    if (o->len + 1 >= o->n)
        return;
    if (k > o->n - 1 - o->len)
        k = o->n - 1 - o->len;
    memcpy(o->p + o->len, s, k);
    o->len += k;
    o->p[o->len] = '\0';
}

static void put_c(out_t *o, char c) { put(o, &c, 1); }

/* A bare value needs no quotes when it is all of these (ids, topics,
 * partitions "topic/3", state slots (a star, a slash, a number), numbers,
 * host:port). */
static int bare_ok(const char *s, size_t k)
{
    if (k == 0)
        return 0;
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("-._:/@+,*", c)))
            return 0;
    }
    return 1;
}

/* Writes s[0..k) with \\, \", \n, \r, \t and \xNN for other control bytes. */
static void put_escaped(out_t *o, const char *s, size_t k)
{
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[5];
        switch (c) {
        case '\\': put(o, "\\\\", 2); break;
        case '"':  put(o, "\\\"", 2); break;
        case '\n': put(o, "\\n", 2); break;
        case '\r': put(o, "\\r", 2); break;
        case '\t': put(o, "\\t", 2); break;
        default:
            if (c < 0x20 || c == 0x7f) {
                snprintf(esc, sizeof esc, "\\x%02x", c);
                put(o, esc, 4);
            } else {
                put_c(o, (char)c);
            }
        }
    }
}

static void put_pad(out_t *o, size_t have, int width)
{
    for (size_t i = have; width > 0 && i < (size_t)width; i++)
        put_c(o, ' ');
}

/* One string argument.  bare: it follows "key=" unquoted in the format,
 * so it is quoted unless bare_ok. */
static void put_string(out_t *o, const char *s, int prec, int width, int left, int bare)
{
    if (s == NULL)
        s = "(null)";
    size_t k = prec >= 0 ? strnlen(s, (size_t)prec) : strlen(s);
    size_t start = o->len;
    if (!left && width > 0 && !bare)
        put_pad(o, k, width);
    int quote = bare && !bare_ok(s, k);
    if (quote)
        put_c(o, '"');
    put_escaped(o, s, k);
    if (quote)
        put_c(o, '"');
    if (left)
        put_pad(o, o->len - start, width);
}

enum { LEN_NONE, LEN_HH, LEN_H, LEN_L, LEN_LL, LEN_Z, LEN_J, LEN_T, LEN_LD };

/* vsnprintf's job, one conversion at a time (see the file comment).  ap is
 * passed by pointer so each va_arg advances the caller's list. */
static void vformat(out_t *o, const char *fmt, va_list *ap)
{
    const char *f = fmt;
    while (*f) {
        if (*f != '%') {
            const char *q = strchr(f, '%');
            size_t k = q ? (size_t)(q - f) : strlen(f);
            put(o, f, k);
            f += k;
            continue;
        }
        const char *spec = f++;
        if (*f == '%') {
            put_c(o, '%');
            f++;
            continue;
        }
        /* Rebuild the conversion with '*' replaced by its argument. */
        char sub[48];
        size_t sl = 0;
        sub[sl++] = '%';
        int left = 0, width = -1, prec = -1;
        while (*f && strchr("-+ #0", *f)) {
            left |= *f == '-';
            if (sl < 8)
                sub[sl++] = *f;
            f++;
        }
        if (*f == '*') {
            width = va_arg(*ap, int);
            if (width < 0) {
                left = 1;
                width = -width;
                sub[sl++] = '-';
            }
            f++;
        } else if (*f >= '0' && *f <= '9') {
            width = 0;
            while (*f >= '0' && *f <= '9')
                width = width * 10 + (*f++ - '0');
        }
        if (width >= 0)
            sl += (size_t)snprintf(sub + sl, sizeof sub - sl, "%d", width);
        if (*f == '.') {
            f++;
            if (*f == '*') {
                prec = va_arg(*ap, int);
                f++;
            } else {
                prec = 0;
                while (*f >= '0' && *f <= '9')
                    prec = prec * 10 + (*f++ - '0');
            }
            if (prec >= 0)
                sl += (size_t)snprintf(sub + sl, sizeof sub - sl, ".%d", prec);
        }
        int len = LEN_NONE;
        const char *lm = f;
        if (f[0] == 'h' && f[1] == 'h') { len = LEN_HH; f += 2; }
        else if (f[0] == 'l' && f[1] == 'l') { len = LEN_LL; f += 2; }
        else if (*f == 'h') { len = LEN_H; f++; }
        else if (*f == 'l') { len = LEN_L; f++; }
        else if (*f == 'z') { len = LEN_Z; f++; }
        else if (*f == 'j') { len = LEN_J; f++; }
        else if (*f == 't') { len = LEN_T; f++; }
        else if (*f == 'L') { len = LEN_LD; f++; }
        memcpy(sub + sl, lm, (size_t)(f - lm));
        sl += (size_t)(f - lm);
        char conv = *f;
        if (conv == '\0')
            break;
        f++;
        sub[sl++] = conv;
        sub[sl] = '\0';
        char num[128];
        switch (conv) {
        case 'd':
        case 'i':
            switch (len) {
            case LEN_L: snprintf(num, sizeof num, sub, va_arg(*ap, long)); break;
            case LEN_LL: snprintf(num, sizeof num, sub, va_arg(*ap, long long)); break;
            case LEN_Z: snprintf(num, sizeof num, sub, va_arg(*ap, ptrdiff_t)); break;
            case LEN_J: snprintf(num, sizeof num, sub, va_arg(*ap, intmax_t)); break;
            case LEN_T: snprintf(num, sizeof num, sub, va_arg(*ap, ptrdiff_t)); break;
            default: snprintf(num, sizeof num, sub, va_arg(*ap, int)); break;
            }
            put(o, num, strlen(num));
            break;
        case 'u':
        case 'o':
        case 'x':
        case 'X':
            switch (len) {
            case LEN_L: snprintf(num, sizeof num, sub, va_arg(*ap, unsigned long)); break;
            case LEN_LL: snprintf(num, sizeof num, sub, va_arg(*ap, unsigned long long)); break;
            case LEN_Z: snprintf(num, sizeof num, sub, va_arg(*ap, size_t)); break;
            case LEN_J: snprintf(num, sizeof num, sub, va_arg(*ap, uintmax_t)); break;
            case LEN_T: snprintf(num, sizeof num, sub, va_arg(*ap, size_t)); break;
            default: snprintf(num, sizeof num, sub, va_arg(*ap, unsigned)); break;
            }
            put(o, num, strlen(num));
            break;
        case 'e': case 'E': case 'f': case 'F': case 'g': case 'G': case 'a': case 'A':
            if (len == LEN_LD)
                snprintf(num, sizeof num, sub, va_arg(*ap, long double));
            else
                snprintf(num, sizeof num, sub, va_arg(*ap, double));
            put(o, num, strlen(num));
            break;
        case 'p':
            snprintf(num, sizeof num, "%p", va_arg(*ap, void *));
            put(o, num, strlen(num));
            break;
        case 'c': {
            char c = (char)va_arg(*ap, int);
            put_escaped(o, &c, 1);
            break;
        }
        case 's': {
            int bare = spec > fmt && spec[-1] == '=';
            put_string(o, va_arg(*ap, const char *), prec, width, left, bare);
            break;
        }
        case 'n':
            (void)va_arg(*ap, int *);   /* never written */
            break;
        default:
            put(o, spec, (size_t)(f - spec));   /* unknown: as written */
        }
    }
}

static size_t vformat_to(char *out, size_t n, const char *fmt, va_list ap)
{
    if (n == 0)
        return 0;
    out_t o = { out, n, 0 };
    out[0] = '\0';
    va_list cp;
    va_copy(cp, ap);
    vformat(&o, fmt, &cp);
    va_end(cp);
    return o.len;
}

size_t wd_log_format(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t len = vformat_to(out, n, fmt, ap);
    va_end(ap);
    return len;
}

/* ---- lines ---- */

/* One line per call: ts=… level=… src=file:line then the message, then
 * " suppressed=K" when suppressed >= 0. */
static void vlog(int level, const char *file, int line, long long suppressed, const char *fmt,
                 va_list ap)
{
    char ts[32];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    const char *base = strrchr(file, '/');
    char msg[4096];
    vformat_to(msg, sizeof msg, fmt, ap);
    FILE *f = log_file ? log_file : stderr;
    if (suppressed >= 0)
        fprintf(f, "ts=%s.%03ldZ level=%s src=%s:%d %s suppressed=%lld\n", ts, now.tv_nsec / 1000000,
                level_names[level], base ? base + 1 : file, line, msg, suppressed);
    else
        fprintf(f, "ts=%s.%03ldZ level=%s src=%s:%d %s\n", ts, now.tv_nsec / 1000000,
                level_names[level], base ? base + 1 : file, line, msg);
}

void wd_log(int level, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, file, line, -1, fmt, ap);
    va_end(ap);
}

int wd_log_every_due(wd_log_every_t *t, uint64_t *suppressed)
{
    t->seen++;
    if (t->seen <= WD_LOG_EVERY_FIRST || t->seen % WD_LOG_EVERY_NTH == 0) {
        *suppressed = t->suppressed;
        t->suppressed = 0;
        return 1;
    }
    t->suppressed++;
    return 0;
}

void wd_log_every(wd_log_every_t *t, int level, const char *file, int line, const char *fmt, ...)
{
    uint64_t sup;
    if (!wd_log_every_due(t, &sup) || level > wd_log_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, file, line, (long long)sup, fmt, ap);
    va_end(ap);
}

#include "base/wd_util.h"

#include "base/wd_alloc.h"

#include <errno.h>
#include <stdint.h>
#include <stdarg.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int wd_read_file(const char *path, char **out, size_t *len, char *errstr, size_t errstr_size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        int err = errno;
        snprintf(errstr, errstr_size, "%s: %s", path, strerror(err));
        errno = err;
        return -1;
    }
    /* A regular file is read in one allocation of its size (+1 for the NUL
     * and to see the end); anything else grows by doubling. */
    struct stat st;
    size_t cap = 4096, n = 0;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        (uintmax_t)st.st_size < SIZE_MAX / 2)
        cap = (size_t)st.st_size + 2;
    char *buf = wd_malloc(cap);
    for (;;) {
        if (buf == NULL)
            break;
        if (cap - n < 2) {
            char *nb = cap < SIZE_MAX / 2 ? wd_realloc(buf, cap * 2) : NULL;
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    int err = ferror(f);
    fclose(f);
    if (buf == NULL || err) {
        snprintf(errstr, errstr_size, "%s: %s", path, buf ? "read error" : "out of memory");
        free(buf);
        errno = buf ? EIO : ENOMEM;
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

int wd_path_within(const char *root_real, const char *path, char **resolved)
{
    char *r = realpath(path, NULL);
    if (r == NULL)
        return -1;
    size_t rl = strlen(root_real);
    int in = strcmp(root_real, "/") == 0 ||
             (strncmp(r, root_real, rl) == 0 && (r[rl] == '/' || r[rl] == '\0'));
    if (resolved)
        *resolved = r;
    else
        free(r);
    return in;
}

/* The context is OpenSSL's own (its allocator, not the wd_ hook).  Its
 * allocation failing is the one abort() left here: a digest has no wrong
 * answer to give instead, and every caller would abort in turn. */
wd_sha256_t *wd_sha256_new(void)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        abort(); /* OpenSSL out of memory: see above */
    return (wd_sha256_t *)md;
}

void wd_sha256_update(wd_sha256_t *c, const void *data, size_t len)
{
    EVP_DigestUpdate((EVP_MD_CTX *)c, data, len);
}

void wd_sha256_final(wd_sha256_t *c, char out[65])
{
    unsigned char d[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex((EVP_MD_CTX *)c, d, &n);
    EVP_MD_CTX_free((EVP_MD_CTX *)c);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
    out[64] = '\0';
}

void wd_sha256_hex(const void *data, size_t len, char out[65])
{
    wd_sha256_t *c = wd_sha256_new();
    wd_sha256_update(c, data, len);
    wd_sha256_final(c, out);
}

static int digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int wd_parse_rfc3339(const char *s, size_t len, int64_t *ms)
{
    int Y, M, D, h, mi, sec;
    if (len < 20 || s[4] != '-' || s[7] != '-' ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':')
        return -1;
    if (digits(s, 4, &Y) || digits(s + 5, 2, &M) || digits(s + 8, 2, &D) ||
        digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &sec))
        return -1;
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || mi > 59 || sec > 60)
        return -1;
    int leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
    if (M == 2 && D == 29 && !leap)
        return -1;
    size_t i = 19;
    int frac_ms = 0;
    if (i < len && s[i] == '.') {
        i++;
        size_t start = i;
        int scale = 100;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            frac_ms += (s[i] - '0') * scale;
            scale /= 10;
            i++;
        }
        if (i == start)
            return -1;
    }
    int off_min = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh, om;
        if (digits(s + i + 1, 2, &oh) || digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        off_min = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return -1;
    }
    if (i != len)
        return -1;
    if (sec == 60)
        sec = 59;   /* leap second: clamp, event time needs no more */
    int64_t days = days_from_civil(Y, M, D);
    *ms = ((days * 86400 + h * 3600 + mi * 60 + sec) - (int64_t)off_min * 60) * 1000 + frac_ms;
    return 0;
}

uint64_t wd_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void wd_errs_vadd(wd_errs_t *e, const char *fmt, va_list ap)
{
    e->count++;
    if (e->buf == NULL || e->size == 0 || e->len + 1 >= e->size)
        return;
    if (e->len) {
        e->buf[e->len++] = '\n';
        e->buf[e->len] = '\0';
    }
    int n = vsnprintf(e->buf + e->len, e->size - e->len, fmt, ap);
    if (n > 0)
        e->len = e->len + (size_t)n < e->size ? e->len + (size_t)n : e->size - 1;
}

void wd_errs_add(wd_errs_t *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    wd_errs_vadd(e, fmt, ap);
    va_end(ap);
}

/* storage/store_url.c — sink URL parsing (storage/store_url.h). */
#include "storage/store_url.h"
#include "base/wd_alloc.h"
#include "storage/store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into a new string; NULL on a bad escape or a
 * decoded NUL. */
static char *pct_decode(const char *s, size_t n)
{
    char *out = wd_malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int h, l;
            if (i + 2 >= n || (h = hexval((unsigned char)s[i + 1])) < 0 ||
                (l = hexval((unsigned char)s[i + 2])) < 0 || (h == 0 && l == 0)) {
                free(out);
                return NULL;
            }
            out[o++] = (char)(h * 16 + l);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

void store_url_free(store_url_t *u)
{
    if (!u)
        return;
    free(u->scheme);
    free(u->user);
    free(u->password);
    free(u->host);
    free(u->db);
    for (size_t i = 0; i < u->nparams; i++) {
        free(u->keys[i]);
        free(u->vals[i]);
    }
    free(u->keys);
    free(u->vals);
    memset(u, 0, sizeof(*u));
}

static int fail(store_url_t *u, char *errstr, size_t errstr_size, const char *url, const char *what)
{
    store_url_free(u);
    /* Never echo a URL that may hold a password: name the problem only. */
    const char *at = strchr(url, '@');
    const char *sep = strstr(url, "://");
    int plen = sep ? (int)(sep - url) : 0;
    if (at && sep && at > sep)
        return store_seterr(errstr, errstr_size, "store: bad URL %.*s://…@%s: %s", plen, url, at + 1, what);
    return store_seterr(errstr, errstr_size, "store: bad URL %s: %s", url, what);
}

int store_url_parse(store_url_t *u, const char *url, char *errstr, size_t errstr_size)
{
    memset(u, 0, sizeof(*u));
    const char *sep = strstr(url, "://");
    if (!sep || sep == url)
        return fail(u, errstr, errstr_size, url, "expected scheme://host");
    u->scheme = wd_strndup(url, (size_t)(sep - url));
    if (!u->scheme)
        return fail(u, errstr, errstr_size, url, "out of memory");
    const char *p = sep + 3;
    const char *end = p + strcspn(p, "/?");
    /* userinfo: up to the last '@' of the authority */
    const char *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@')
            at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *uend = colon ? colon : at;
        if (uend > p && !(u->user = pct_decode(p, (size_t)(uend - p))))
            return fail(u, errstr, errstr_size, url, "bad %-escape in the user name");
        if (colon && !(u->password = pct_decode(colon + 1, (size_t)(at - colon - 1))))
            return fail(u, errstr, errstr_size, url, "bad %-escape in the password");
        p = at + 1;
    }
    /* host[:port], IPv6 in brackets */
    const char *hend;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb)
            return fail(u, errstr, errstr_size, url, "unterminated [IPv6] host");
        u->host = wd_strndup(p + 1, (size_t)(rb - p - 1));
        hend = rb + 1;
    } else {
        hend = p;
        while (hend < end && *hend != ':')
            hend++;
        u->host = wd_strndup(p, (size_t)(hend - p));
    }
    if (!u->host || !*u->host)
        return fail(u, errstr, errstr_size, url, "no host");
    if (hend < end) {
        if (*hend != ':' || hend + 1 == end)
            return fail(u, errstr, errstr_size, url, "bad port");
        unsigned long port = 0;
        for (const char *q = hend + 1; q < end; q++) {
            if (*q < '0' || *q > '9')
                return fail(u, errstr, errstr_size, url, "port is not a number");
            port = port * 10 + (unsigned long)(*q - '0');
            if (port > 65535)
                return fail(u, errstr, errstr_size, url, "port out of range");
        }
        if (port == 0)
            return fail(u, errstr, errstr_size, url, "port out of range");
        u->port = (unsigned)port;
    }
    p = end;
    if (*p == '/') {
        p++;
        size_t n = strcspn(p, "?");
        if (n) {
            if (memchr(p, '/', n))
                return fail(u, errstr, errstr_size, url, "database name contains '/'");
            if (!(u->db = pct_decode(p, n)))
                return fail(u, errstr, errstr_size, url, "bad %-escape in the database name");
        }
        p += n;
    }
    if (*p == '?') {
        p++;
        while (*p) {
            size_t n = strcspn(p, "&");
            if (n) {
                const char *eq = memchr(p, '=', n);
                size_t kn = eq ? (size_t)(eq - p) : n;
                char **nk = wd_realloc(u->keys, (u->nparams + 1) * sizeof(char *));
                if (!nk)
                    return fail(u, errstr, errstr_size, url, "out of memory");
                u->keys = nk;
                char **nv = wd_realloc(u->vals, (u->nparams + 1) * sizeof(char *));
                if (!nv)
                    return fail(u, errstr, errstr_size, url, "out of memory");
                u->vals = nv;
                char *k = pct_decode(p, kn);
                char *v = eq ? pct_decode(eq + 1, n - kn - 1) : wd_strdup("");
                if (!k || !v || !*k) {
                    free(k);
                    free(v);
                    return fail(u, errstr, errstr_size, url, "bad query parameter");
                }
                u->keys[u->nparams] = k;
                u->vals[u->nparams] = v;
                u->nparams++;
            }
            p += n;
            if (*p == '&')
                p++;
        }
    }
    if (!u->password) {
        const char *env = getenv("WARDEN_STORE_PASSWORD");
        if (env && *env && (u->password = wd_strdup(env)) == NULL)
            return fail(u, errstr, errstr_size, url, "out of memory");
    }
    return 0;
}

const char *store_url_param(const store_url_t *u, const char *key)
{
    const char *v = NULL;
    for (size_t i = 0; i < u->nparams; i++)
        if (strcmp(u->keys[i], key) == 0)
            v = u->vals[i];
    return v;
}

int store_url_check_params(const store_url_t *u, const char *const *known,
                           char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < u->nparams; i++) {
        int ok = 0;
        for (size_t k = 0; known[k]; k++)
            if (strcmp(known[k], u->keys[i]) == 0)
                ok = 1;
        if (!ok) {
            char list[512] = "";
            size_t off = 0;
            for (size_t k = 0; known[k] && off < sizeof(list); k++)
                off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", k ? ", " : "", known[k]);
            return store_seterr(errstr, errstr_size, "store: %s URL: unknown parameter ?%s= (known: %s)",
                                u->scheme, u->keys[i], list);
        }
    }
    return 0;
}

int store_url_param_long(const store_url_t *u, const char *key, long min, long max,
                         long *out, char *errstr, size_t errstr_size)
{
    const char *v = store_url_param(u, key);
    if (!v)
        return 0;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < min || x > max)
        return store_seterr(errstr, errstr_size, "store: %s URL: ?%s=%s is not a whole number in [%ld, %ld]",
                            u->scheme, key, v, min, max);
    *out = x;
    return 0;
}

char *store_url_redacted(const store_url_t *u)
{
    char *s = NULL, port[16] = "";
    if (u->port)
        snprintf(port, sizeof(port), ":%u", u->port);
    if (asprintf(&s, "%s://%s%s%s%s%s%s/%s", u->scheme, u->user ? u->user : "",
                 u->user ? "@" : "", strchr(u->host, ':') ? "[" : "", u->host,
                 strchr(u->host, ':') ? "]" : "", port, u->db ? u->db : "") < 0)
        return NULL;
    return s;
}

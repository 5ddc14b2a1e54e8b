/* Lists.  See rules/rule_lists.h.
 *
 * Exact lists: the values are packed in one buffer and indexed by an
 * open-addressing table of (hash, offset, length) with linear probing at
 * load <= 1/2: a lookup hashes once and usually compares one value.
 * CIDR lists: every line becomes an inclusive 128-bit range; ranges are
 * sorted and merged, so a lookup is one address parse and a binary search. */
#include "base/wd_util.h"
#include "base/wd_alloc.h"
#include "rules/rule_lists.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "state/state_hll.h"

#define LIST_SEED 0x6c69737473ull

typedef unsigned __int128 u128;

typedef struct xslot {
    uint64_t h;
    uint32_t off;
    uint32_t len;      /* UINT32_MAX: empty */
} xslot_t;

typedef struct range {
    u128 lo, hi;
} range_t;

struct rule_list {
    char    *name;
    int      cidr;
    size_t   n;
    /* exact */
    char    *data;
    xslot_t *slots;
    size_t   mask;
    /* cidr */
    range_t *r;
};

struct rule_lists {
    rule_list_t **v;     /* sorted by name */
    size_t       n;
};

static void list_free(rule_list_t *l)
{
    if (l == NULL)
        return;
    free(l->name);
    free(l->data);
    free(l->slots);
    free(l->r);
    free(l);
}

void rule_lists_destroy(rule_lists_t *ls)
{
    if (ls == NULL)
        return;
    for (size_t i = 0; i < ls->n; i++)
        list_free(ls->v[i]);
    free(ls->v);
    free(ls);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Calls fn for every line of buf with its 1-based number, trimmed. */
typedef int (*line_fn)(void *ud, const char *s, size_t n, int line);

static int each_line(const char *buf, size_t len, line_fn fn, void *ud)
{
    size_t i = 0;
    int line = 0;
    if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < len) {
        size_t j = i;
        while (j < len && buf[j] != '\n')
            j++;
        line++;
        size_t a = i, b = j;
        while (a < b && is_space(buf[a]))
            a++;
        while (b > a && is_space(buf[b - 1]))
            b--;
        if (fn(ud, buf + a, b - a, line) != 0)
            return -1;
        i = j + 1;
    }
    return 0;
}

/* ---- exact lists ---- */

typedef struct xbuild {
    rule_list_t *l;
    size_t      dlen, dcap;
    int         oom;
} xbuild_t;

static xslot_t *x_find(const rule_list_t *l, const char *v, size_t n, uint64_t h)
{
    size_t i = (size_t)h & l->mask;
    for (;;) {
        xslot_t *s = &l->slots[i];
        if (s->len == UINT32_MAX)
            return s;
        if (s->h == h && s->len == n && memcmp(l->data + s->off, v, n) == 0)
            return s;
        i = (i + 1) & l->mask;
    }
}

static int x_grow(rule_list_t *l)
{
    size_t cap = l->slots ? l->mask + 1 : 0;
    if (l->slots && (l->n + 1) * 2 <= cap)
        return 0;
    size_t ncap = cap ? cap * 2 : 64;
    xslot_t *ns = wd_malloc(ncap * sizeof(*ns));
    if (ns == NULL)
        return -1;
    for (size_t i = 0; i < ncap; i++)
        ns[i].len = UINT32_MAX;
    xslot_t *old = l->slots;
    l->slots = ns;
    l->mask = ncap - 1;
    for (size_t i = 0; i < cap; i++)
        if (old[i].len != UINT32_MAX)
            *x_find(l, l->data + old[i].off, old[i].len, old[i].h) = old[i];
    free(old);
    return 0;
}

static int x_line(void *ud, const char *s, size_t n, int line)
{
    (void)line;
    xbuild_t *b = ud;
    rule_list_t *l = b->l;
    if (n == 0 || s[0] == '#')
        return 0;
    if (x_grow(l) != 0)
        goto oom;
    uint64_t h = wd_hash64(s, n, LIST_SEED);
    xslot_t *slot = x_find(l, s, n, h);
    if (slot->len != UINT32_MAX)
        return 0;   /* repeated value */
    if (b->dlen + n > UINT32_MAX)
        goto oom;
    if (b->dlen + n > b->dcap) {
        size_t nc = b->dcap ? b->dcap * 2 : 4096;
        while (nc < b->dlen + n)
            nc *= 2;
        char *nd = wd_realloc(l->data, nc);
        if (nd == NULL)
            goto oom;
        l->data = nd;
        b->dcap = nc;
    }
    memcpy(l->data + b->dlen, s, n);
    slot->h = h;
    slot->off = (uint32_t)b->dlen;
    slot->len = (uint32_t)n;
    b->dlen += n;
    l->n++;
    return 0;
oom:
    b->oom = 1;
    return -1;
}

/* ---- CIDR lists ---- */

/* Parses an address (no prefix) into the mapped 128-bit space.  Returns 4
 * for IPv4, 6 for IPv6, 0 when it is not an address. */
static int parse_addr(const char *s, size_t n, u128 *out)
{
    char buf[INET6_ADDRSTRLEN + 1];
    if (n == 0 || n >= sizeof(buf))
        return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    unsigned char b[16];
    int fam;
    if (memchr(s, ':', n) == NULL) {
        if (inet_pton(AF_INET, buf, b + 12) != 1)
            return 0;
        memset(b, 0, 10);
        b[10] = b[11] = 0xff;
        fam = 4;
    } else {
        if (inet_pton(AF_INET6, buf, b) != 1)
            return 0;
        fam = 6;
    }
    u128 v = 0;
    for (int i = 0; i < 16; i++)
        v = (v << 8) | b[i];
    *out = v;
    return fam;
}

static void addr_text(u128 v, int fam, char *out, size_t sz)
{
    unsigned char b[16];
    for (int i = 15; i >= 0; i--) {
        b[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
    if (inet_ntop(fam == 4 ? AF_INET : AF_INET6, fam == 4 ? b + 12 : b, out, (socklen_t)sz) == NULL)
        snprintf(out, sz, "?");
}

typedef struct cbuild {
    rule_list_t *l;
    size_t      cap;
    const char *path;
    wd_errs_t     *e;
    int         oom;
} cbuild_t;

/* Parses one address or range into [*lo, *hi]; bits: the mapped prefix.
 * 0, or -1 with the reason (no file or line) in err. */
static int range_parse(const char *s, size_t n, u128 *lo, u128 *hi, int *bitsp, char *err, size_t en)
{
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    u128 a;
    int fam = parse_addr(s, alen, &a);
    if (fam == 0) {
        snprintf(err, en, "\"%.*s\" is not an IPv4 or IPv6 address or range", (int)n, s);
        return -1;
    }
    int maxlen = fam == 4 ? 32 : 128, plen = maxlen;
    if (slash) {
        const char *p = slash + 1, *end = s + n;
        plen = p == end || end - p > 3 ? -1 : 0;
        for (; plen >= 0 && p < end; p++) {
            if (*p < '0' || *p > '9') {
                plen = -1;
                break;
            }
            plen = plen * 10 + (*p - '0');
        }
        if (plen < 0 || plen > maxlen) {
            snprintf(err, en, "bad prefix length in \"%.*s\" (0 to %d)", (int)n, s, maxlen);
            return -1;
        }
    }
    int bits = plen + (fam == 4 ? 96 : 0);
    u128 host = bits == 0 ? ~(u128)0 : bits == 128 ? 0 : (((u128)1) << (128 - bits)) - 1;
    if (a & host) {
        char net[INET6_ADDRSTRLEN];
        addr_text(a & ~host, fam, net, sizeof(net));
        snprintf(err, en, "\"%.*s\" has host bits set (the network is %s/%d)", (int)n, s, net, plen);
        return -1;
    }
    *lo = a;
    *hi = a | host;
    *bitsp = bits;
    return 0;
}

static void u128_bytes(u128 v, unsigned char out[16])
{
    for (int i = 15; i >= 0; i--) {
        out[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

int rule_cidr_parse(const char *s, size_t n, rule_cidr_t *out, char *errstr, size_t errstr_size)
{
    u128 lo, hi;
    if (range_parse(s, n, &lo, &hi, &out->bits, errstr, errstr_size) != 0)
        return -1;
    u128_bytes(lo, out->lo);
    u128_bytes(hi, out->hi);
    return 0;
}

int rule_addr_parse(const char *s, size_t n, unsigned char out[16])
{
    u128 a;
    if (parse_addr(s, n, &a) == 0)
        return -1;
    u128_bytes(a, out);
    return 0;
}

static int c_line(void *ud, const char *s, size_t n, int line)
{
    cbuild_t *b = ud;
    const char *hash = memchr(s, '#', n);
    if (hash) {
        n = (size_t)(hash - s);
        while (n && is_space(s[n - 1]))
            n--;
    }
    if (n == 0)
        return 0;
    u128 lo, hi;
    int bits;
    char err[256];
    if (range_parse(s, n, &lo, &hi, &bits, err, sizeof err) != 0) {
        wd_errs_add(b->e, "%s:%d: %s", b->path, line, err);
        return 0;
    }
    rule_list_t *l = b->l;
    if (l->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 64;
        range_t *nr = wd_realloc(l->r, nc * sizeof(*nr));
        if (nr == NULL) {
            b->oom = 1;
            return -1;
        }
        l->r = nr;
        b->cap = nc;
    }
    l->r[l->n].lo = lo;
    l->r[l->n].hi = hi;
    l->n++;
    return 0;
}

static int cmp_range(const void *x, const void *y)
{
    const range_t *a = x, *b = y;
    return a->lo < b->lo ? -1 : a->lo > b->lo;
}

static void c_merge(rule_list_t *l)
{
    if (l->n == 0)
        return;
    qsort(l->r, l->n, sizeof(*l->r), cmp_range);
    size_t w = 0;
    for (size_t i = 1; i < l->n; i++) {
        range_t *cur = &l->r[w];
        if (cur->hi == ~(u128)0 || l->r[i].lo <= cur->hi + 1) {
            if (l->r[i].hi > cur->hi)
                cur->hi = l->r[i].hi;
        } else {
            l->r[++w] = l->r[i];
        }
    }
    l->n = w + 1;
}

/* ---- loading ---- */

static int cmp_list(const void *a, const void *b)
{
    return strcmp((*(rule_list_t *const *)a)->name, (*(rule_list_t *const *)b)->name);
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

rule_lists_t *rule_lists_load(const char *pack_dir, char *errstr, size_t errstr_size)
{
    wd_errs_t e = { errstr, errstr_size, 0, 0 };
    if (errstr_size)
        errstr[0] = '\0';
    rule_lists_t *ls = wd_calloc(1, sizeof(*ls));
    if (ls == NULL) {
        wd_errs_add(&e, "%s: out of memory", pack_dir);
        return NULL;
    }
    size_t dl = strlen(pack_dir);
    while (dl > 1 && pack_dir[dl - 1] == '/')
        dl--;
    char dir[4096];
    if (dl + 7 >= sizeof(dir)) {
        wd_errs_add(&e, "%s: path too long", pack_dir);
        rule_lists_destroy(ls);
        return NULL;
    }
    memcpy(dir, pack_dir, dl);
    memcpy(dir + dl, "/lists", 7);
    DIR *d = opendir(dir);
    if (d == NULL) {
        if (errno == ENOENT)
            return ls;
        wd_errs_add(&e, "%s: %s", dir, strerror(errno));
        rule_lists_destroy(ls);
        return NULL;
    }
    char **names = NULL;
    size_t nn = 0, ncap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' ||
            !((l > 4 && strcmp(de->d_name + l - 4, ".txt") == 0) ||
              (l > 5 && strcmp(de->d_name + l - 5, ".cidr") == 0)))
            continue;
        if (nn == ncap) {
            char **nv = wd_realloc(names, (ncap ? ncap * 2 : 16) * sizeof(*nv));
            if (nv == NULL) {
                wd_errs_add(&e, "%s: out of memory while listing the lists", dir);
                break;
            }
            names = nv;
            ncap = ncap ? ncap * 2 : 16;
        }
        if ((names[nn] = wd_strdup(de->d_name)) == NULL) {
            /* (a list silently missing would let its members through) */
            wd_errs_add(&e, "%s: out of memory while listing the lists", dir);
            break;
        }
        nn++;
    }
    closedir(d);
    if (nn)
        qsort(names, nn, sizeof(*names), cmp_cstr);
    char *root = realpath(pack_dir, NULL);
    ls->v = wd_calloc(nn ? nn : 1, sizeof(*ls->v));
    if (ls->v == NULL)
        wd_errs_add(&e, "%s: out of memory", dir);
    for (size_t i = 0; ls->v && i < nn; i++) {
        char path[4096 + 256];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        struct stat sb;
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        /* A list is part of the pack: a link out of it (to /etc/passwd)
         * would read the machine into a list. */
        char *to = NULL;
        int in = root ? wd_path_within(root, path, &to) : -1;
        if (in <= 0) {
            if (in == 0)
                wd_errs_add(&e, "%s: symbolic link to %s points outside the rule pack", path, to);
            else
                wd_errs_add(&e, "%s: cannot resolve: %s", path, strerror(errno));
            free(to);
            continue;
        }
        free(to);
        size_t l = strlen(names[i]);
        int cidr = names[i][l - 1] == 'r';
        size_t stem = l - (cidr ? 5 : 4);
        rule_list_t *li = wd_calloc(1, sizeof(*li));
        char *buf = NULL;
        size_t len = 0;
        if (li == NULL || (li->name = wd_strndup(names[i], stem)) == NULL) {
            wd_errs_add(&e, "%s: out of memory", path);
            list_free(li);
            continue;
        }
        li->cidr = cidr;
        for (size_t j = 0; j < ls->n; j++)
            if (strcmp(ls->v[j]->name, li->name) == 0) {
                wd_errs_add(&e, "%s: list \"%s\" is also defined by %s/%s.%s", path, li->name, dir,
                        li->name, ls->v[j]->cidr ? "cidr" : "txt");
                list_free(li);
                li = NULL;
                break;
            }
        if (li == NULL)
            continue;
        char msg[512];
        if (wd_read_file(path, &buf, &len, msg, sizeof msg) != 0) {
            wd_errs_add(&e, "%s", msg);
            list_free(li);
            continue;
        }
        int oom;
        if (cidr) {
            cbuild_t b = { li, 0, path, &e, 0 };
            each_line(buf, len, c_line, &b);
            c_merge(li);
            oom = b.oom;
        } else {
            xbuild_t b = { li, 0, 0, 0 };
            oom = x_grow(li) != 0;
            if (!oom) {
                each_line(buf, len, x_line, &b);
                oom = b.oom;
            }
        }
        free(buf);
        if (oom) {
            wd_errs_add(&e, "%s: out of memory", path);
            list_free(li);
            continue;
        }
        ls->v[ls->n++] = li;
    }
    for (size_t i = 0; i < nn; i++)
        free(names[i]);
    free(names);
    free(root);
    if (e.count) {
        rule_lists_destroy(ls);
        return NULL;
    }
    if (ls->n > 1)
        qsort(ls->v, ls->n, sizeof(*ls->v), cmp_list);
    return ls;
}

const rule_list_t *rule_lists_get(const rule_lists_t *ls, const char *name)
{
    size_t lo = 0, hi = ls->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(ls->v[mid]->name, name);
        if (c == 0)
            return ls->v[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

size_t rule_lists_count(const rule_lists_t *ls) { return ls->n; }

const char *rule_lists_name(const rule_lists_t *ls, size_t i)
{
    return i < ls->n ? ls->v[i]->name : NULL;
}

int rule_list_is_cidr(const rule_list_t *l) { return l->cidr; }
size_t rule_list_size(const rule_list_t *l) { return l->n; }

int rule_list_contains(const rule_list_t *l, const char *v, size_t len)
{
    if (!l->cidr) {
        if (l->n == 0 || len > UINT32_MAX)
            return 0;
        return x_find(l, v, len, wd_hash64(v, len, LIST_SEED))->len != UINT32_MAX;
    }
    u128 a;
    if (l->n == 0 || parse_addr(v, len, &a) == 0)
        return 0;
    /* last range starting at or before a */
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (l->r[mid].lo <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && a <= l->r[lo - 1].hi;
}

/* base/wd_lua_src.c — see wd_lua_src.h.  A small scanner of Lua's
 * lexical grammar (manual §3.1): enough to tell code from comments and
 * strings, and to follow the nesting of table constructors. */
#include "base/wd_lua_src.h"

#include <ctype.h>
#include <string.h>

#define MAX_NEST 64

typedef struct lvl {
    char        open;       /* '{', '(', '[', or 'b' for a block */
    const char *key;        /* the field this table is the value of, or NULL */
    size_t      klen;
    const char *pend;       /* this level's field whose value is being read */
    size_t      plen;
} lvl_t;

typedef struct scan {
    const char *s;
    size_t      len, i;
    int         line;
} scan_t;

/* At "[" of a long bracket: its level (number of '='), or -1 if none. */
static int long_open(const scan_t *c, size_t at)
{
    size_t j = at + 1;
    while (j < c->len && c->s[j] == '=')
        j++;
    return j < c->len && c->s[j] == '[' ? (int)(j - at - 1) : -1;
}

/* Skips a long bracket of that level starting at c->i (its "["). */
static void skip_long(scan_t *c, int level)
{
    c->i += (size_t)level + 2;
    for (; c->i < c->len; c->i++) {
        if (c->s[c->i] == '\n') {
            c->line++;
        } else if (c->s[c->i] == ']') {
            size_t j = c->i + 1;
            while (j < c->len && c->s[j] == '=')
                j++;
            if (j < c->len && c->s[j] == ']' && (int)(j - c->i - 1) == level) {
                c->i = j + 1;
                return;
            }
        }
    }
}

/* Skips a quoted string at c->i; *plain gets whether it had no escapes. */
static void skip_quoted(scan_t *c, int *plain)
{
    char q = c->s[c->i++];
    *plain = 1;
    for (; c->i < c->len; c->i++) {
        char ch = c->s[c->i];
        if (ch == '\\') {
            *plain = 0;
            if (c->i + 1 < c->len && c->s[c->i + 1] == '\n')
                c->line++;
            c->i++;
        } else if (ch == '\n') {
            c->line++;     /* unfinished string: Lua would have refused it */
        } else if (ch == q) {
            c->i++;
            return;
        }
    }
}

static void skip_space(scan_t *c)
{
    while (c->i < c->len && isspace((unsigned char)c->s[c->i])) {
        if (c->s[c->i] == '\n')
            c->line++;
        c->i++;
    }
}

static int path_match(const lvl_t *st, int sp, const char *k, size_t kl, const char *const *path,
                      size_t n)
{
    if ((size_t)sp != n)
        return 0;
    for (int j = 0; j < sp; j++)
        if (st[j].open != '{')
            return 0;
    for (size_t j = 1; j < n; j++)
        if (!st[j].key || st[j].klen != strlen(path[j - 1]) || memcmp(st[j].key, path[j - 1], st[j].klen) != 0)
            return 0;
    return kl == strlen(path[n - 1]) && memcmp(k, path[n - 1], kl) == 0;
}

int wd_lua_field_line(const char *src, size_t len, const char *const *path, size_t n)
{
    if (!src || n == 0 || n > 8)
        return 0;
    scan_t c = { src, len, 0, 1 };
    lvl_t st[MAX_NEST];
    int sp = 0;
    const char *cand = NULL;   /* a name that becomes a field if "=" follows */
    size_t clen = 0;
    int cline = 0;
    /* The level that file-level code ("local t = {") writes its key into. */
    lvl_t top = { 0, NULL, 0, NULL, 0 };

    while (c.i < c.len) {
        char ch = src[c.i];
        lvl_t *cur = sp ? &st[sp - 1] : &top;
        if (isspace((unsigned char)ch)) {
            skip_space(&c);
            continue;
        }
        if (ch == '-' && c.i + 1 < len && src[c.i + 1] == '-') {
            c.i += 2;
            int lv = c.i < len && src[c.i] == '[' ? long_open(&c, c.i) : -1;
            if (lv >= 0) {
                skip_long(&c, lv);
            } else {
                while (c.i < len && src[c.i] != '\n')
                    c.i++;
            }
            continue;
        }
        if (isalpha((unsigned char)ch) || ch == '_') {
            size_t b = c.i;
            while (c.i < len && (isalnum((unsigned char)src[c.i]) || src[c.i] == '_'))
                c.i++;
            size_t wl = c.i - b;
            /* Blocks (a function's body, if/do … end, repeat … until)
             * nest like brackets: their assignments are not fields. */
            if ((wl == 8 && memcmp(src + b, "function", 8) == 0) || (wl == 2 && memcmp(src + b, "if", 2) == 0) ||
                (wl == 2 && memcmp(src + b, "do", 2) == 0) || (wl == 6 && memcmp(src + b, "repeat", 6) == 0)) {
                if (sp == MAX_NEST)
                    return 0;
                lvl_t nl = { 'b', NULL, 0, NULL, 0 };
                st[sp++] = nl;
                cand = NULL;
                continue;
            }
            if ((wl == 3 && memcmp(src + b, "end", 3) == 0) || (wl == 5 && memcmp(src + b, "until", 5) == 0)) {
                if (sp)
                    sp--;
                cand = NULL;
                continue;
            }
            cand = src + b;
            clen = wl;
            cline = c.line;
            continue;
        }
        if (ch == '"' || ch == '\'') {
            int plain;
            skip_quoted(&c, &plain);
            cand = NULL;
            continue;
        }
        if (ch == '[') {
            int lv = long_open(&c, c.i);
            if (lv >= 0) {
                skip_long(&c, lv);
                cand = NULL;
                continue;
            }
            /* ["name"] = : a field key when a table constructor is open */
            scan_t k = c;
            k.i++;
            skip_space(&k);
            if (cur->open == '{' && k.i < len && (src[k.i] == '"' || src[k.i] == '\'')) {
                size_t b = k.i + 1;
                int kline = k.line, plain;
                skip_quoted(&k, &plain);
                size_t e = k.i - 1;
                skip_space(&k);
                if (plain && k.i < len && src[k.i] == ']') {
                    k.i++;
                    skip_space(&k);
                    if (k.i < len && src[k.i] == '=' && (k.i + 1 >= len || src[k.i + 1] != '=')) {
                        if (path_match(st, sp, src + b, e - b, path, n))
                            return kline;
                        cur->pend = src + b;
                        cur->plen = e - b;
                        c = k;
                        c.i++;
                        cand = NULL;
                        continue;
                    }
                }
            }
        }
        if (ch == '=') {
            if (c.i + 1 < len && src[c.i + 1] == '=') {
                c.i += 2;
            } else {
                if (cand && cur->open == '{' && path_match(st, sp, cand, clen, path, n))
                    return cline;
                if (cand) {
                    cur->pend = cand;
                    cur->plen = clen;
                }
                c.i++;
            }
            cand = NULL;
            continue;
        }
        if (ch == '{' || ch == '(' || ch == '[') {
            if (sp == MAX_NEST)
                return 0;
            lvl_t nl = { ch, ch == '{' ? cur->pend : NULL, ch == '{' ? cur->plen : 0, NULL, 0 };
            st[sp++] = nl;
        } else if (ch == '}' || ch == ')' || ch == ']') {
            if (sp)
                sp--;
        } else if (ch == ',' || ch == ';') {
            cur->pend = NULL;
        }
        cand = NULL;
        c.i++;
    }
    return 0;
}

void wd_lua_classify(const char *src, size_t len, unsigned char *out)
{
    scan_t c = { src, len, 0, 1 };
    while (c.i < len) {
        size_t b = c.i;
        unsigned char kind = WD_LUA_CODE;
        char ch = src[c.i];
        if (ch == '-' && c.i + 1 < len && src[c.i + 1] == '-') {
            kind = WD_LUA_COMMENT;
            c.i += 2;
            int lv = c.i < len && src[c.i] == '[' ? long_open(&c, c.i) : -1;
            if (lv >= 0)
                skip_long(&c, lv);
            else
                while (c.i < len && src[c.i] != '\n')
                    c.i++;
        } else if (ch == '"' || ch == '\'') {
            int plain;
            kind = WD_LUA_STRING;
            skip_quoted(&c, &plain);
        } else if (ch == '[' && long_open(&c, c.i) >= 0) {
            kind = WD_LUA_STRING;
            skip_long(&c, long_open(&c, c.i));
        } else {
            c.i++;
        }
        if (c.i > len)   /* an unfinished long bracket or string runs to the end */
            c.i = len;
        memset(out + b, kind, c.i - b);
    }
}

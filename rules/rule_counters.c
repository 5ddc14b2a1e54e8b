/* counters.lua: parse, validate, match.  See rules/rule_counters.h.
 *
 * The file runs in a throwaway VM of the one sandbox (base/wd_lua.h), with
 * the core base functions, string, table and math only (no pcall, no
 * metatables, no utf8); text chunks only; an instruction budget (a looping
 * counters.lua fails with its line), a wall-clock limit and a memory cap.  Without
 * setmetatable no table can have metamethods, so reading the returned table
 * runs no Lua code.  Keys of each table are visited in sorted order so
 * that messages come out in the same order on every run. */
#include "rules/rule_counters.h"

#include <errno.h>
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/wd_alloc.h"
#include "base/wd_lua.h"
#include "base/wd_util.h"

#define CTR_MEM_CAP   (16u << 20)
#define CTR_BUDGET    10000000L
#define CTR_TIME_MS   2000L        /* wall-clock, C library calls included */
#define CHUNK         "counters.lua"

struct rule_counters {
    rule_counter_spec_t     *v;
    state_counter_def_t *defs;
    size_t                   n;
};

int rule_parse_duration(const char *s, int64_t *ms)
{
    if (s == NULL || *s < '1' || *s > '9')
        return -1;
    int64_t n = 0;
    const char *p = s;
    while (*p >= '0' && *p <= '9') {
        n = n * 10 + (*p++ - '0');
        if (n > 100000000)
            return -1;
    }
    int64_t unit;
    switch (*p) {
    case 's': unit = 1000; break;
    case 'm': unit = 60 * 1000; break;
    case 'h': unit = 3600 * 1000; break;
    case 'd': unit = 86400 * 1000; break;
    case 'w': unit = 7 * 86400 * 1000; break;
    default: return -1;
    }
    if (p[1] != '\0')
        return -1;
    *ms = n * unit;
    return 0;
}

/* ---- validation helpers ---- */

typedef struct spec_b {
    char         *name, *stream, *key, *distinct;
    rule_where_t *where;
    size_t        nwhere;
    int64_t      *windows;
    size_t        nwindows;
    int           line;
} spec_b;

static int valid_name(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return 1;
}

/* A dotted field path: non-empty segments without spaces or control bytes. */
static int valid_path(const char *s, size_t n)
{
    if (n == 0 || s[0] == '.' || s[n - 1] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == 127 || (c == '.' && s[i + 1] == '.'))
            return 0;
    }
    return 1;
}

/* Line of the first `"name"` or `'name'` in the source (0 if none). */
static int line_of_name(const char *src, size_t len, const char *name)
{
    size_t nl = strlen(name);
    int line = 1;
    for (size_t i = 0; i + nl + 2 <= len; i++) {
        if (src[i] == '\n')
            line++;
        if ((src[i] == '"' || src[i] == '\'') && src[i + nl + 1] == src[i] &&
            memcmp(src + i + 1, name, nl) == 0)
            return line;
    }
    return 0;
}

/* Sorted string keys of the table at idx (raw); non-string keys are
 * reported through *bad_type (the first one's type name). */
typedef struct keylist {
    const char **k;
    size_t       n;
} keylist_t;

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int table_keys(lua_State *L, int idx, keylist_t *kl, const char **bad_type)
{
    idx = lua_absindex(L, idx);
    size_t cap = 0;
    kl->k = NULL;
    kl->n = 0;
    *bad_type = NULL;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            if (*bad_type == NULL)
                *bad_type = luaL_typename(L, -1);
            continue;
        }
        if (kl->n == cap) {
            cap = cap ? cap * 2 : 8;
            const char **nk = wd_realloc(kl->k, cap * sizeof(*nk));
            if (nk == NULL)
                return -1;
            kl->k = nk;
        }
        /* the string stays alive: it is a key of a table we keep on the stack */
        kl->k[kl->n++] = lua_tostring(L, -1);
    }
    if (kl->n > 1)
        qsort(kl->k, kl->n, sizeof(*kl->k), cmp_cstr);
    return 0;
}

static int cmp_where(const void *a, const void *b)
{
    return strcmp(((const rule_where_t *)a)->path, ((const rule_where_t *)b)->path);
}

/* Validates the counter table at the top of the stack into b.  Messages go
 * to e prefixed with "path: counter #i (name): " (or with path:line: when
 * the name's line is known). */
static void check_counter(lua_State *L, const char *path, const char *src, size_t srclen,
                          size_t i, spec_b *b, wd_errs_t *e, int *oom)
{
    int t = lua_gettop(L);
    char where_s[300];
    /* name first: every other message names the counter */
    lua_getfield(L, t, "name");   /* raw enough: sandbox has no setmetatable */
    size_t nl;
    const char *name = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &nl) : NULL;
    if (name && valid_name(name, nl) && strlen(name) == nl) {
        b->name = wd_strndup(name, nl);
        if (b->name == NULL) {
            lua_pop(L, 1);
            *oom = 1;
            return;
        }
        b->line = line_of_name(src, srclen, b->name);
        if (b->line)
            snprintf(where_s, sizeof(where_s), "%s:%d: counter #%zu (%s)", path, b->line, i, b->name);
        else
            snprintf(where_s, sizeof(where_s), "%s: counter #%zu (%s)", path, i, b->name);
    } else {
        snprintf(where_s, sizeof(where_s), "%s: counter #%zu", path, i);
        if (name == NULL)
            wd_errs_add(e, "%s: 'name' must be a string, got %s", where_s, luaL_typename(L, -1));
        else
            wd_errs_add(e, "%s: name \"%s\" must match [a-z0-9_]+", where_s, name);
    }
    lua_pop(L, 1);
    if (name && b->name == NULL && valid_name(name, nl) && strlen(name) == nl) {
        *oom = 1;
        return;
    }

    keylist_t kl;
    const char *bad;
    if (table_keys(L, t, &kl, &bad) != 0) {
        *oom = 1;
        return;
    }
    if (bad)
        wd_errs_add(e, "%s: unexpected %s key (fields are name, stream, key, distinct, where, windows)",
                where_s, bad);
    for (size_t k = 0; k < kl.n; k++) {
        const char *f = kl.k[k];
        if (strcmp(f, "name") && strcmp(f, "stream") && strcmp(f, "key") && strcmp(f, "distinct") &&
            strcmp(f, "where") && strcmp(f, "windows"))
            wd_errs_add(e, "%s: unknown key \"%s\" (fields are name, stream, key, distinct, where, windows)",
                    where_s, f);
    }
    free(kl.k);

    /* stream, key, distinct */
    static const char *const strf[] = { "stream", "key", "distinct" };
    char **dst[] = { &b->stream, &b->key, &b->distinct };
    for (int f = 0; f < 3; f++) {
        lua_getfield(L, t, strf[f]);
        int ty = lua_type(L, -1);
        size_t sl;
        if (ty == LUA_TNIL && f == 2) {
            /* plain counter */
        } else if (ty != LUA_TSTRING) {
            wd_errs_add(e, "%s: '%s' must be a %s, got %s", where_s, strf[f],
                    f == 0 ? "stream name (string)" : "field path (string)", luaL_typename(L, -1));
        } else {
            const char *s = lua_tolstring(L, -1, &sl);
            if (f == 0 ? (sl == 0 || strlen(s) != sl) : (!valid_path(s, sl) || strlen(s) != sl)) {
                wd_errs_add(e, "%s: '%s' \"%s\" is not a %s", where_s, strf[f], s,
                        f == 0 ? "stream name" : "field path such as \"user.id\"");
            } else if ((*dst[f] = wd_strndup(s, sl)) == NULL) {
                *oom = 1;
            }
        }
        lua_pop(L, 1);
    }

    /* windows */
    lua_getfield(L, t, "windows");
    if (lua_type(L, -1) != LUA_TTABLE) {
        wd_errs_add(e, "%s: 'windows' must be a list of durations such as { \"1h\", \"1d\" }, got %s",
                where_s, luaL_typename(L, -1));
    } else {
        int wt = lua_gettop(L);
        size_t n = (size_t)lua_rawlen(L, wt);
        size_t entries = 0;
        lua_pushnil(L);
        while (lua_next(L, wt)) {
            entries++;
            lua_pop(L, 1);
        }
        if (n == 0 || entries != n) {
            wd_errs_add(e, "%s: 'windows' must be a non-empty list of durations such as { \"1h\", \"1d\" }",
                    where_s);
        } else if ((b->windows = wd_calloc(n, sizeof(*b->windows))) == NULL) {
            *oom = 1;
        } else {
            for (size_t w = 0; w < n; w++) {
                lua_rawgeti(L, wt, (lua_Integer)w + 1);
                int64_t ms = 0;
                const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
                if (s == NULL) {
                    wd_errs_add(e, "%s: window #%zu must be a duration string such as \"1h\", got %s",
                            where_s, w + 1, luaL_typename(L, -1));
                } else if (rule_parse_duration(s, &ms) != 0) {
                    wd_errs_add(e, "%s: window \"%s\" is not a duration (a number and s, m, h, d or w)",
                            where_s, s);
                } else if (ms % RULE_WINDOW_MIN != 0) {
                    wd_errs_add(e, "%s: window \"%s\" is not a whole number of minutes", where_s, s);
                } else if (ms < RULE_WINDOW_MIN || ms > RULE_WINDOW_MAX) {
                    wd_errs_add(e, "%s: window \"%s\" is out of range (1m to 30d)", where_s, s);
                } else {
                    int dup = 0;
                    for (size_t v = 0; v < b->nwindows; v++)
                        dup |= b->windows[v] == ms;
                    if (dup)
                        wd_errs_add(e, "%s: window \"%s\" is declared twice", where_s, s);
                    else
                        b->windows[b->nwindows++] = ms;
                }
                lua_pop(L, 1);
            }
        }
    }
    lua_pop(L, 1);

    /* where */
    lua_getfield(L, t, "where");
    int ty = lua_type(L, -1);
    if (ty != LUA_TNIL && ty != LUA_TTABLE) {
        wd_errs_add(e, "%s: 'where' must be a table of field path = value, got %s", where_s,
                luaL_typename(L, -1));
    } else if (ty == LUA_TTABLE) {
        int wt = lua_gettop(L);
        if (table_keys(L, wt, &kl, &bad) != 0) {
            *oom = 1;
        } else {
            if (bad)
                wd_errs_add(e, "%s: 'where' keys must be field paths (strings), got a %s", where_s, bad);
            if (kl.n && (b->where = wd_calloc(kl.n, sizeof(*b->where))) == NULL)
                *oom = 1;
            for (size_t k = 0; b->where && k < kl.n; k++) {
                const char *p = kl.k[k];
                if (!valid_path(p, strlen(p))) {
                    wd_errs_add(e, "%s: where key \"%s\" is not a field path such as \"user.id\"",
                            where_s, p);
                    continue;
                }
                rule_where_t wc = { 0 };
                lua_getfield(L, wt, p);
                switch (lua_type(L, -1)) {
                case LUA_TSTRING: {
                    size_t sl;
                    const char *s = lua_tolstring(L, -1, &sl);
                    wc.kind = RULE_WHERE_STRING;
                    wc.str = wd_strndup(s, sl);
                    wc.str_len = sl;
                    if (wc.str == NULL)
                        *oom = 1;
                    break;
                }
                case LUA_TNUMBER:
                    wc.kind = RULE_WHERE_NUMBER;
                    wc.num = lua_tonumber(L, -1);
                    if (!isfinite(wc.num)) {
                        wd_errs_add(e, "%s: where \"%s\" must be a finite number", where_s, p);
                        wc.kind = -1;
                    }
                    break;
                case LUA_TBOOLEAN:
                    wc.kind = lua_toboolean(L, -1) ? RULE_WHERE_PRESENT : RULE_WHERE_FALSE;
                    break;
                default:
                    wd_errs_add(e, "%s: where \"%s\" must be a string, number or boolean "
                               "(true: present and not null), got %s",
                            where_s, p, luaL_typename(L, -1));
                    wc.kind = -1;
                }
                lua_pop(L, 1);
                if (wc.kind < 0 || (wc.kind == RULE_WHERE_STRING && wc.str == NULL))
                    continue;
                if ((wc.path = wd_strndup(p, strlen(p))) == NULL) {
                    free((char *)wc.str);
                    *oom = 1;
                    continue;
                }
                b->where[b->nwhere++] = wc;
            }
            free(kl.k);
            if (b->where != NULL && b->nwhere > 1)
                qsort(b->where, b->nwhere, sizeof(*b->where), cmp_where);
        }
    }
    lua_pop(L, 1);
}

static void spec_free(spec_b *b)
{
    free(b->name);
    free(b->stream);
    free(b->key);
    free(b->distinct);
    for (size_t w = 0; w < b->nwhere; w++) {
        free((char *)b->where[w].path);
        free((char *)b->where[w].str);
    }
    free(b->where);
    free(b->windows);
}

void rule_counters_destroy(rule_counters_t *cs)
{
    if (cs == NULL)
        return;
    for (size_t i = 0; i < cs->n; i++) {
        spec_b b = { (char *)cs->v[i].name, (char *)cs->v[i].stream, (char *)cs->v[i].key,
                     (char *)cs->v[i].distinct, (rule_where_t *)cs->v[i].where, cs->v[i].nwhere,
                     (int64_t *)cs->v[i].windows_ms, cs->v[i].nwindows, 0 };
        spec_free(&b);
    }
    free(cs->v);
    free(cs->defs);
    free(cs);
}

/* Validates the list at the top of L (the chunk's result). */
static rule_counters_t *check_list(lua_State *L, const char *path, const char *src, size_t len,
                                   wd_errs_t *e)
{
    if (lua_type(L, -1) != LUA_TTABLE) {
        wd_errs_add(e, "%s: must return a list of counters { { name = ..., stream = ..., key = ..., "
                   "windows = { ... } }, ... }, got %s",
                path, luaL_typename(L, -1));
        return NULL;
    }
    int lt = lua_gettop(L);
    size_t n = (size_t)lua_rawlen(L, lt), entries = 0;
    lua_pushnil(L);
    while (lua_next(L, lt)) {
        entries++;
        lua_pop(L, 1);
    }
    if (entries != n) {
        wd_errs_add(e, "%s: must return a list (a table with keys 1..n only) of counters", path);
        return NULL;
    }
    spec_b *bs = wd_calloc(n ? n : 1, sizeof(*bs));
    rule_counters_t *cs = wd_calloc(1, sizeof(*cs));
    int oom = bs == NULL || cs == NULL;
    for (size_t i = 0; !oom && i < n; i++) {
        lua_rawgeti(L, lt, (lua_Integer)i + 1);
        if (lua_type(L, -1) != LUA_TTABLE)
            wd_errs_add(e, "%s: counter #%zu must be a table, got %s", path, i + 1, luaL_typename(L, -1));
        else
            check_counter(L, path, src, len, i + 1, &bs[i], e, &oom);
        lua_pop(L, 1);
        for (size_t j = 0; bs[i].name && j < i; j++)
            if (bs[j].name && strcmp(bs[j].name, bs[i].name) == 0) {
                wd_errs_add(e, "%s: counter #%zu (%s): name is already used by counter #%zu", path, i + 1,
                        bs[i].name, j + 1);
                break;
            }
    }
    if (oom)
        wd_errs_add(e, "%s: out of memory", path);
    if (e->count || oom) {
        for (size_t i = 0; bs && i < n; i++)
            spec_free(&bs[i]);
        free(bs);
        free(cs);
        return NULL;
    }
    cs->v = wd_calloc(n ? n : 1, sizeof(*cs->v));
    cs->defs = wd_calloc(n ? n : 1, sizeof(*cs->defs));
    if (cs->v == NULL || cs->defs == NULL) {
        wd_errs_add(e, "%s: out of memory", path);
        for (size_t i = 0; i < n; i++)
            spec_free(&bs[i]);
        free(bs);
        free(cs->v);
        free(cs->defs);
        free(cs);
        return NULL;
    }
    cs->n = n;
    for (size_t i = 0; i < n; i++) {
        cs->v[i] = (rule_counter_spec_t){ bs[i].name, bs[i].stream, bs[i].key, bs[i].distinct,
                                          bs[i].where, bs[i].nwhere, bs[i].windows,
                                          bs[i].nwindows, bs[i].line };
        cs->defs[i] = (state_counter_def_t){ bs[i].name, bs[i].stream, bs[i].key,
                                                 bs[i].distinct, bs[i].windows, bs[i].nwindows };
    }
    free(bs);
    return cs;
}

typedef struct parse_args {
    const char      *path, *src;
    size_t           len;
    wd_errs_t          *e;
    rule_counters_t *out;
} parse_args_t;

/* Validation runs protected too: reading the result can still raise
 * "not enough memory" under the cap. */
static int check_protected(lua_State *L)
{
    parse_args_t *a = lua_touserdata(L, 1);
    lua_settop(L, 2);
    a->out = check_list(L, a->path, a->src, a->len, a->e);
    return 0;
}

int rule_counters_parse(const char *src, size_t len, const char *path, rule_counters_t **out,
                        char *errstr, size_t errstr_size)
{
    wd_errs_t e = { errstr, errstr_size, 0, 0 };
    if (errstr_size)
        errstr[0] = '\0';
    *out = NULL;
    static const wd_lua_opts_t opts = { CTR_MEM_CAP, CTR_BUDGET, 0 };
    char msg[256];
    wd_lua_t *vm = wd_lua_new_opts(&opts, msg, sizeof msg);
    if (vm == NULL) {
        wd_errs_add(&e, "%s: cannot create a Lua state (%s)", path, msg);
        return -1;
    }
    wd_lua_set_time_limit(vm, CTR_TIME_MS);
    lua_State *L = wd_lua_state(vm);
    /* A short chunk name, so Lua never truncates it; messages get the real
     * path back below. */
    int st = WD_LUA_ERROR;
    if (wd_lua_load_sandboxed(vm, src, len, "=" CHUNK, msg, sizeof msg) != 0)
        lua_pushstring(L, msg);
    else
        st = wd_lua_pcall(vm, 0, 1);
    if (st != WD_LUA_OK) {
        const char *m = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        size_t cl = strlen(CHUNK);
        if (st == WD_LUA_OOM)
            wd_errs_add(&e, "%s: out of memory (counters.lua may use %u MiB)", path, CTR_MEM_CAP >> 20);
        else if (m && strncmp(m, CHUNK, cl) == 0 && m[cl] == ':')
            wd_errs_add(&e, "%s%s%s", path, m + cl, st == WD_LUA_TIMEOUT ? " (an endless loop?)" : "");
        else
            wd_errs_add(&e, "%s: %s", path, m ? m : "error object is not a string");
        wd_lua_destroy(vm);
        return -1;
    }
    /* Validation runs protected and under the cap too: reading the result
     * can still raise "not enough memory". */
    parse_args_t a = { path, src, len, &e, NULL };
    lua_pushcfunction(L, check_protected);
    lua_pushlightuserdata(L, &a);
    lua_pushvalue(L, -3);
    if (wd_lua_pcall(vm, 2, 0) != WD_LUA_OK) {
        wd_errs_add(&e, "%s: out of memory while reading the counters", path);
        rule_counters_destroy(a.out);
        a.out = NULL;
    }
    wd_lua_destroy(vm);
    if (a.out == NULL)
        return -1;
    *out = a.out;
    return 0;
}

int rule_counters_load(const char *pack_dir, rule_counters_t **out, char *errstr,
                       size_t errstr_size)
{
    size_t dl = strlen(pack_dir);
    while (dl > 1 && pack_dir[dl - 1] == '/')
        dl--;
    char *path = wd_malloc(dl + sizeof("/counters.lua"));
    if (path == NULL) {
        snprintf(errstr, errstr_size, "%s: out of memory", pack_dir);
        return -1;
    }
    memcpy(path, pack_dir, dl);
    memcpy(path + dl, "/counters.lua", sizeof("/counters.lua"));
    /* A link out of the pack would read another file as counters.lua. */
    char *root = realpath(pack_dir, NULL), *to = NULL;
    int in = root ? wd_path_within(root, path, &to) : 1;
    if (in == 0)
        snprintf(errstr, errstr_size, "%s: symbolic link to %s points outside the rule pack", path, to);
    free(root);
    free(to);
    if (in == 0) {
        free(path);
        return -1;
    }
    char *src = NULL;
    size_t len = 0;
    int rc = -1;
    if (wd_read_file(path, &src, &len, errstr, errstr_size) != 0) {
        if (errno == ENOENT) {   /* no counters.lua: no counters */
            *out = wd_calloc(1, sizeof(**out));
            if (*out != NULL)
                rc = 0;
            else
                snprintf(errstr, errstr_size, "%s: out of memory", pack_dir);
        }
    } else {
        rc = rule_counters_parse(src, len, path, out, errstr, errstr_size);
    }
    free(src);
    free(path);
    return rc;
}

size_t rule_counters_count(const rule_counters_t *cs) { return cs->n; }

const rule_counter_spec_t *rule_counters_get(const rule_counters_t *cs, size_t i)
{
    return i < cs->n ? &cs->v[i] : NULL;
}

int rule_counters_find(const rule_counters_t *cs, const char *name)
{
    for (size_t i = 0; i < cs->n; i++)
        if (strcmp(cs->v[i].name, name) == 0)
            return (int)i;
    return -1;
}

const state_counter_def_t *rule_counters_defs(const rule_counters_t *cs) { return cs->defs; }

int rule_counter_has_window(const rule_counter_spec_t *c, int64_t window_ms)
{
    for (size_t i = 0; i < c->nwindows; i++)
        if (c->windows_ms[i] == window_ms)
            return 1;
    return 0;
}

/* ---- matching ---- */

/* Formats a number as Lua 5.4's tostring does: integers plainly, floats
 * with %.14g and a ".0" when that looks like an integer. */
static size_t lua_number_text(wd_jval_t v, char buf[RULE_NUMBUF])
{
    int n;
    if (wd_jval_type(v) == WD_JINT) {
        n = snprintf(buf, RULE_NUMBUF, "%lld", (long long)wd_jval_int(v));
    } else {
        n = snprintf(buf, RULE_NUMBUF, "%.14g", wd_jval_double(v));
        if (n > 0 && n < RULE_NUMBUF - 2 && buf[strspn(buf, "-0123456789")] == '\0') {
            buf[n++] = '.';
            buf[n++] = '0';
            buf[n] = '\0';
        }
    }
    return n > 0 ? (size_t)n : 0;
}

static int scalar_text(wd_jval_t root, const char *path, const char **out, size_t *len,
                       char buf[RULE_NUMBUF])
{
    wd_jval_t v;
    if (!wd_jval_path(root, path, &v))
        return 0;
    switch (wd_jval_type(v)) {
    case WD_JSTRING:
        *out = wd_jval_str(v, len);
        return *len > 0;
    case WD_JDOUBLE:
        /* Beyond int64: the exact digits, which is what rules read too. */
        if ((*out = wd_jval_bigint(v, buf, len)) != NULL)
            return 1;
        /* fallthrough */
    case WD_JINT:
        *len = lua_number_text(v, buf);
        *out = buf;
        return *len > 0;
    default:
        return 0;
    }
}

int rule_counter_match(const rule_counter_spec_t *c, wd_jval_t root, const char **key,
                       size_t *klen, char kbuf[RULE_NUMBUF], const char **val, size_t *vlen,
                       char vbuf[RULE_NUMBUF])
{
    for (size_t i = 0; i < c->nwhere; i++) {
        const rule_where_t *w = &c->where[i];
        wd_jval_t v;
        if (!wd_jval_path(root, w->path, &v))
            return 0;
        int t = wd_jval_type(v);
        switch (w->kind) {
        case RULE_WHERE_PRESENT:
            if (t == WD_JNULL)
                return 0;
            break;
        case RULE_WHERE_FALSE:
            if (t != WD_JBOOL || wd_jval_bool(v))
                return 0;
            break;
        case RULE_WHERE_NUMBER:
            if ((t != WD_JINT && t != WD_JDOUBLE) || wd_jval_double(v) != w->num)
                return 0;
            break;
        default: {
            size_t sl;
            const char *s;
            if (t != WD_JSTRING || (s = wd_jval_str(v, &sl), sl != w->str_len) ||
                memcmp(s, w->str, sl) != 0)
                return 0;
        }
        }
    }
    if (!scalar_text(root, c->key, key, klen, kbuf))
        return 0;
    if (c->distinct) {
        if (val == NULL || vbuf == NULL || !scalar_text(root, c->distinct, val, vlen, vbuf))
            return 0;
    }
    return 1;
}

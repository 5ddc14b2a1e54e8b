/* Rule pack loader: finds rule files, runs each in its own sandbox, checks
 * the returned table against the rule contract (docs/rules.md) and reports every
 * problem as "file:line: message". */
#include "rules/rule_pack.h"

#include <dirent.h>
#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rules/rule_lua.h"
#include "rules/rule_types.h"
#include "base/wd_alloc.h"
#include "base/wd_lua_src.h"
#include "base/wd_util.h"

typedef struct stream_idx {
    char    *name;
    rule_t **rules;
    size_t   nrules;
} stream_idx_t;

struct rule_pack {
    wd_lua_t    *vm;
    char         *dir;
    rule_t      **rules;
    size_t        nrules;
    stream_idx_t *streams;
    size_t        nstreams;
    char          hash[65];
};

/* Out of memory while loading: the allocation gives NULL and sets
 * pack_oom; the rule being loaded is dropped and rule_pack_load fails
 * with "out of memory while loading the rule pack" (everything it made
 * freed), as for any other load error. */
static _Thread_local int pack_oom;

static char *xstrdup(const char *s)
{
    char *d = wd_strdup(s);
    if (d == NULL)
        pack_oom = 1;
    return d;
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = wd_calloc(n ? n : 1, sz);
    if (p == NULL)
        pack_oom = 1;
    return p;
}

/* ---- files ------------------------------------------------------------- */

typedef struct pathlist {
    char  **v;
    size_t  n, cap;
} pathlist_t;

/* Takes p (NULL: a copy that failed, ignored); frees it when out of memory. */
static void pl_add(pathlist_t *l, char *p)
{
    if (p == NULL)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **v = wd_realloc(l->v, cap * sizeof(*l->v));
        if (v == NULL) {
            pack_oom = 1;
            free(p);
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = p;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The pack walk.  A rule pack is a tree of its own: a symbolic link may
 * point at a file or directory inside the pack, never outside it (a link
 * to "/" would read the machine), a directory is entered once (two links
 * to "." would walk forever) and the tree is at most PACK_MAX_DEPTH deep.
 * Each breach is a load error naming the path. */
#define PACK_MAX_DEPTH 32

typedef struct dir_id {
    dev_t dev;
    ino_t ino;
} dir_id_t;

typedef struct walker {
    const char *root;     /* realpath() of the pack directory */
    dir_id_t   *seen;     /* directories entered so far */
    size_t      nseen, cap;
    wd_errs_t  *e;
    pathlist_t *out;
} walker_t;

/* Marks directory st as entered; 0, or -1 when it was already. */
static int enter_dir(walker_t *w, const struct stat *st)
{
    for (size_t i = 0; i < w->nseen; i++)
        if (w->seen[i].dev == st->st_dev && w->seen[i].ino == st->st_ino)
            return -1;
    if (w->nseen == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        dir_id_t *seen = wd_realloc(w->seen, cap * sizeof(*w->seen));
        if (seen == NULL) {
            pack_oom = 1;   /* the walk goes on; the load fails */
            return 0;
        }
        w->seen = seen;
        w->cap = cap;
    }
    w->seen[w->nseen].dev = st->st_dev;
    w->seen[w->nseen++].ino = st->st_ino;
    return 0;
}

/* Every regular file below dir (hidden ones skipped), recursively, in
 * name order. */
static void walk(walker_t *w, const char *dir, int depth)
{
    if (depth > PACK_MAX_DEPTH) {
        wd_errs_add(w->e, "%s: directories nested deeper than %d levels in the rule pack", dir,
                    PACK_MAX_DEPTH);
        return;
    }
    DIR *d = opendir(dir);
    if (d == NULL) {
        wd_errs_add(w->e, "%s: cannot read directory: %s", dir, strerror(errno));
        return;
    }
    pathlist_t names = { 0 };
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            pl_add(&names, xstrdup(de->d_name));
    closedir(d);
    if (names.n)
        qsort(names.v, names.n, sizeof(char *), cmp_str);
    for (size_t i = 0; i < names.n; i++) {
        size_t n = strlen(dir) + strlen(names.v[i]) + 2;
        char *p = wd_malloc(n);
        if (p == NULL) {
            pack_oom = 1;
            free(names.v[i]);
            continue;
        }
        snprintf(p, n, "%s/%s", dir, names.v[i]);
        free(names.v[i]);
        struct stat st;
        if (lstat(p, &st) != 0) {
            free(p);
            continue;
        }
        int link = S_ISLNK(st.st_mode);
        if (link) {
            char *to = NULL;
            int in = wd_path_within(w->root, p, &to);
            if (in < 0)
                wd_errs_add(w->e, "%s: symbolic link cannot be resolved: %s", p, strerror(errno));
            else if (in == 0)
                wd_errs_add(w->e, "%s: symbolic link to %s points outside the rule pack", p, to);
            if (in <= 0 || stat(p, &st) != 0) {
                free(to);
                free(p);
                continue;
            }
            free(to);
        }
        if (S_ISDIR(st.st_mode)) {
            if (enter_dir(w, &st) != 0)
                wd_errs_add(w->e, "%s: %s a directory already in the rule pack (a loop, or a second copy)", p,
                            link ? "symbolic link to" : "is");
            else
                walk(w, p, depth + 1);
            free(p);
        } else if (S_ISREG(st.st_mode)) {
            pl_add(w->out, p);
        } else {
            free(p);
        }
    }
    free(names.v);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Is path (below dir) a rule file?  counters.lua at the top and anything
 * under lists/ are not. */
static int is_rule_file(const char *dir, const char *path)
{
    if (!ends_with(path, ".lua"))
        return 0;
    const char *rel = path + strlen(dir) + 1;
    if (strcmp(rel, "counters.lua") == 0 || strncmp(rel, "lists/", 6) == 0)
        return 0;
    return 1;
}

/* ---- source lines ------------------------------------------------------ */

/* Line of the last top-level "return" (the rule table), else 1. */
static int return_line(const char *src)
{
    int line = 1, found = 1;
    for (const char *p = src; *p; line++) {
        if (strncmp(p, "return", 6) == 0)
            found = line;
        const char *nl = strchr(p, '\n');
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    return found;
}

/* Line of the rule table's field key, else of the return. */
static int line_of(const char *src, const char *key)
{
    int l = wd_lua_field_line(src, strlen(src), &key, 1);
    return l ? l : return_line(src);
}

/* ---- validation -------------------------------------------------------- */

static int valid_name(const char *s)
{
    if (*s == '\0' || strlen(s) > RULE_MAX_NAME_LEN)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '.'))
            return 0;
    return 1;
}

static int valid_stream(const char *s)
{
    if (*s == '\0' || strlen(s) > RULE_MAX_NAME_LEN)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '.' || *s == '-'))
            return 0;
    return 1;
}

/* A field path: identifiers joined by dots, no "__" prefix (metamethods). */
static int valid_path(const char *s)
{
    int seglen = 0;
    for (const char *p = s;; p++) {
        if (*p == '.' || *p == '\0') {
            if (seglen == 0)
                return 0;
            if (*p == '\0')
                return 1;
            seglen = 0;
            continue;
        }
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            return 0;
        seglen++;
    }
}

static void field_free(rule_field_t *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->nkids; i++)
        field_free(f->kids[i]);
    free(f->kids);
    free((char *)f->name);
    free((char *)f->path);
    free(f);
}

const rule_field_t *rule_field_child(const rule_field_t *f, const char *seg, size_t len)
{
    for (size_t i = 0; i < f->nkids; i++) {
        const rule_field_t *k = f->kids[i];
        if (strlen(k->name) == len && memcmp(k->name, seg, len) == 0)
            return k;
    }
    return NULL;
}

static void field_insert(rule_field_t *root, const char *path)
{
    rule_field_t *cur = root;
    const char *seg = path;
    for (;;) {
        const char *dot = strchr(seg, '.');
        size_t len = dot ? (size_t)(dot - seg) : strlen(seg);
        rule_field_t *k = (rule_field_t *)rule_field_child(cur, seg, len);
        if (k == NULL) {
            k = xcalloc(1, sizeof(*k));
            if (k == NULL)
                return;
            k->name = wd_strndup(seg, len);
            k->path = wd_strndup(path, (size_t)(seg - path) + len);
            rule_field_t **kids = k->name && k->path ?
                wd_realloc(cur->kids, (cur->nkids + 1) * sizeof(*cur->kids)) : NULL;
            if (kids == NULL) {
                pack_oom = 1;
                field_free(k);
                return;
            }
            cur->kids = kids;
            cur->kids[cur->nkids++] = k;
        }
        cur = k;
        if (dot == NULL)
            break;
        seg = dot + 1;
    }
    cur->whole = 1;
}

static void rule_free(lua_State *L, rule_t *r)
{
    if (r == NULL)
        return;
    free(r->name);
    free(r->description);
    for (size_t i = 0; i < r->nstreams; i++)
        free(r->streams[i]);
    free(r->streams);
    for (size_t i = 0; i < r->nfields; i++)
        free(r->fields[i]);
    free(r->fields);
    field_free(r->field_root);
    free(r->file);
    free(r->source);
    if (L) {
        luaL_unref(L, LUA_REGISTRYINDEX, r->eval_ref);
        luaL_unref(L, LUA_REGISTRYINDEX, r->tests_ref);
        luaL_unref(L, LUA_REGISTRYINDEX, r->rng_ref);
    }
    free(r);
}

/* t[k] without metamethods.  The loader runs outside any protected call:
 * a rule table whose __index raised would abort the process (Lua panic),
 * one that looped would hang it. */
static int rawfield(lua_State *L, int t, const char *k)
{
    t = lua_absindex(L, t);
    lua_pushstring(L, k);
    return lua_rawget(L, t);
}

/* The string at idx, or NULL when it is not a string or holds a NUL byte:
 * every name, mode and path of the rule contract is a C string, and
 * "enforce\0x" must not read as "enforce". */
static const char *cstr_at(lua_State *L, int idx)
{
    size_t n;
    if (lua_type(L, idx) != LUA_TSTRING)
        return NULL;
    const char *s = lua_tolstring(L, idx, &n);
    return strlen(s) == n ? s : NULL;
}

/* Reads a list of strings at t[key] into *out; reports problems.  Returns
 * the count, or -1 when the field is absent. */
static long string_list(lua_State *L, int t, const char *key, char ***out, wd_errs_t *e,
                        const char *file, const char *src, int (*ok)(const char *),
                        const char *what)
{
    rawfield(L, t, key);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return -1;
    }
    if (!lua_istable(L, -1)) {
        wd_errs_add(e, "%s:%d: '%s' must be a list of strings, got %s", file, line_of(src, key), key,
                luaL_typename(L, -1));
        lua_pop(L, 1);
        return 0;
    }
    size_t n = lua_rawlen(L, -1);
    *out = xcalloc(n, sizeof(char *));
    if (*out == NULL) {
        lua_pop(L, 1);
        return 0;
    }
    size_t got = 0;
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i);
        if (lua_type(L, -1) != LUA_TSTRING) {
            wd_errs_add(e, "%s:%d: '%s' entry %zu must be a string, got %s", file, line_of(src, key),
                    key, i, luaL_typename(L, -1));
        } else if (cstr_at(L, -1) == NULL || !ok(lua_tostring(L, -1))) {
            wd_errs_add(e, "%s:%d: '%s' entry %zu: invalid %s \"%s\"", file, line_of(src, key), key, i,
                    what, lua_tostring(L, -1));
        } else if (((*out)[got] = xstrdup(lua_tostring(L, -1))) != NULL) {
            got++;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return (long)got;
}

static const char *const rule_keys[] = { "name", "version", "description", "streams", "mode",
                                         "fields", "evaluate", "tests", NULL };

/* Is the table at idx a list (keys 1..#t only)?  If not, describes a key
 * that does not belong in key[] ("'name'", "a boolean"). */
static int is_list(lua_State *L, int idx, char *key, size_t keyn)
{
    idx = lua_absindex(L, idx);
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > n) {
            if (lua_type(L, -1) == LUA_TSTRING)
                snprintf(key, keyn, "'%s'", lua_tostring(L, -1));
            else
                snprintf(key, keyn, "a %s", luaL_typename(L, -1));
            lua_pop(L, 1);
            return 0;
        }
    }
    return 1;
}

/* Checks the tests table at the top of the stack; returns the case count. */
static size_t check_tests(lua_State *L, wd_errs_t *e, const char *file, const char *src)
{
    int line = line_of(src, "tests");
    if (!lua_istable(L, -1)) {
        wd_errs_add(e, "%s:%d: 'tests' must be a list of cases, got %s", file, line,
                luaL_typename(L, -1));
        return 0;
    }
    char key[80];
    if (!is_list(L, -1, key, sizeof(key))) {
        /* Typically one case written without the outer braces. */
        wd_errs_add(e, "%s:%d: 'tests' must be a list of cases { { name=, events=, expect= }, ... }, "
                "not a table with key %s", file, line, key);
        return 0;
    }
    size_t n = lua_rawlen(L, -1);
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i);
        if (!lua_istable(L, -1)) {
            wd_errs_add(e, "%s:%d: test #%zu must be a table, got %s", file, line, i,
                    luaL_typename(L, -1));
            lua_pop(L, 1);
            continue;
        }
        rawfield(L, -1, "name");
        const char *tname = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        char label[160];
        if (tname)
            snprintf(label, sizeof(label), "test #%zu (\"%s\")", i, tname);
        else
            snprintf(label, sizeof(label), "test #%zu", i);
        if (tname == NULL)
            wd_errs_add(e, "%s:%d: %s: 'name' must be a string", file, line, label);
        lua_pop(L, 1);
        rawfield(L, -1, "events");
        if (!lua_istable(L, -1) || lua_rawlen(L, -1) == 0) {
            wd_errs_add(e, "%s:%d: %s: 'events' must be a non-empty list of event tables", file, line,
                    label);
        } else {
            size_t ne = lua_rawlen(L, -1);
            for (size_t j = 1; j <= ne; j++) {
                lua_rawgeti(L, -1, (lua_Integer)j);
                if (!lua_istable(L, -1))
                    wd_errs_add(e, "%s:%d: %s: event #%zu must be a table, got %s", file, line, label,
                            j, luaL_typename(L, -1));
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);
        rawfield(L, -1, "expect");
        if (!lua_istable(L, -1)) {
            wd_errs_add(e, "%s:%d: %s: 'expect' must be a list of expected hits ({} for none)", file,
                    line, label);
        } else if (!is_list(L, -1, key, sizeof(key))) {
            /* { verdict = "block" } would silently mean "no hits". */
            wd_errs_add(e, "%s:%d: %s: 'expect' must be a list of expected hits ({} for none), "
                    "not a table with key %s", file, line, label, key);
        } else {
            size_t nx = lua_rawlen(L, -1);
            for (size_t j = 1; j <= nx; j++) {
                lua_rawgeti(L, -1, (lua_Integer)j);
                if (!lua_istable(L, -1)) {
                    wd_errs_add(e, "%s:%d: %s: expect #%zu must be a table", file, line, label, j);
                } else {
                    int vt = rawfield(L, -1, "verdict");
                    const char *v = vt == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
                    if (v && (cstr_at(L, -1) == NULL ||
                              (strcmp(v, "block") && strcmp(v, "review") && strcmp(v, "flag"))))
                        wd_errs_add(e, "%s:%d: %s: expect #%zu: verdict \"%s\" is not block, review or flag",
                                file, line, label, j, v);
                    else if (vt != LUA_TNIL && vt != LUA_TSTRING)
                        wd_errs_add(e, "%s:%d: %s: expect #%zu: verdict must be \"block\", \"review\" "
                                "or \"flag\", got %s", file, line, label, j, luaL_typename(L, -1));
                    lua_pop(L, 1);
                }
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 2);
    }
    return n;
}

/* Length of the "...tail" that Lua writes for a chunk named "@file" when
 * the name is too long (luaO_chunkid keeps LUA_IDSIZE - 1 characters) and
 * that msg starts with, followed by ':'; 0 if msg does not start so. */
static size_t shortened_name_len(const char *msg, const char *file)
{
    size_t fl = strlen(file);
    if (strncmp(msg, "...", 3) != 0)
        return 0;
    for (size_t k = fl; k > 0; k--)
        if (strncmp(msg + 3, file + fl - k, k) == 0 && msg[3 + k] == ':')
            return 3 + k;
    return 0;
}

/* Adds a message from Lua, which carries "file:line: " when Lua knew the
 * position, with the file name shortened when it is long; some carry none
 * (a binary chunk refused, error(msg, 0), the memory cap): those get file
 * and the fallback line. */
static void err_add_at(wd_errs_t *e, const char *file, int line, const char *msg)
{
    size_t fl = strlen(file), sl;
    if (strncmp(msg, file, fl) == 0 && msg[fl] == ':')
        wd_errs_add(e, "%s", msg);
    else if ((sl = shortened_name_len(msg, file)) > 0)
        wd_errs_add(e, "%s%s", file, msg + sl);
    else
        wd_errs_add(e, "%s:%d: %s", file, line, msg);
}

/* Runs one rule file and validates its table.  Returns the rule or NULL. */
static rule_t *load_rule(wd_lua_t *vm, const char *file, wd_errs_t *e)
{
    lua_State *L = wd_lua_state(vm);
    char msg[1024];
    char *src;
    size_t len;
    if (wd_read_file(file, &src, &len, msg, sizeof(msg)) != 0) {
        wd_errs_add(e, "%s", msg);
        return NULL;
    }
    int before = e->count;
    char chunk[1100];
    snprintf(chunk, sizeof(chunk), "@%s", file);
    if (wd_lua_load_sandboxed(vm, src, len, chunk, msg, sizeof(msg)) != 0) {
        err_add_at(e, file, 1, msg);
        free(src);
        return NULL;
    }
    /* The rule's own math.random and a pairs in a fixed order, before its
     * top level runs. */
    int rng_ref;
    lua_getupvalue(L, -1, 1);
    rule_rng_t *rng = rule_rng_install(L, -1, &rng_ref);
    rule_pairs_install(L, -1);
    lua_pop(L, 1);
    int rc = wd_lua_pcall(vm, 0, 1);
    if (rc != WD_LUA_OK) {
        luaL_unref(L, LUA_REGISTRYINDEX, rng_ref);
        if (lua_type(L, -1) == LUA_TSTRING)
            err_add_at(e, file, return_line(src), lua_tostring(L, -1));
        else
            wd_errs_add(e, "%s:%d: the rule file raised an error that is a %s, not a message", file,
                    return_line(src), luaL_typename(L, -1));
        lua_pop(L, 1);
        free(src);
        return NULL;
    }
    if (!lua_istable(L, -1)) {
        wd_errs_add(e, "%s:%d: a rule file must return a table, got %s", file, return_line(src),
                luaL_typename(L, -1));
        lua_pop(L, 1);
        luaL_unref(L, LUA_REGISTRYINDEX, rng_ref);
        free(src);
        return NULL;
    }
    int t = lua_gettop(L);
    rule_t *r = xcalloc(1, sizeof(*r));
    if (r == NULL) {
        lua_pop(L, 1);
        luaL_unref(L, LUA_REGISTRYINDEX, rng_ref);
        free(src);
        return NULL;
    }
    r->rng = rng;
    r->rng_ref = rng_ref;
    r->file = xstrdup(file);
    r->source = src;
    r->source_len = len;
    r->eval_ref = LUA_NOREF;
    r->tests_ref = LUA_NOREF;
    wd_sha256_hex(src, len, r->sha256);

    /* Unknown keys are typos more often than not. */
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        const char *k = cstr_at(L, -1);
        int known = 0;
        for (const char *const *p = rule_keys; k && *p; p++)
            known |= strcmp(*p, k) == 0;
        if (!known) {
            if (k)
                wd_errs_add(e, "%s:%d: unknown key '%s' in rule table", file, line_of(src, k), k);
            else if (lua_type(L, -1) == LUA_TSTRING)
                wd_errs_add(e, "%s:%d: unknown key '%s' (with a NUL byte) in rule table", file,
                            return_line(src), lua_tostring(L, -1));
            else
                wd_errs_add(e, "%s:%d: rule table has a non-string key", file, return_line(src));
        }
    }

    rawfield(L, t, "name");
    if (lua_type(L, -1) != LUA_TSTRING)
        wd_errs_add(e, "%s:%d: 'name' %s", file, line_of(src, "name"),
                lua_isnil(L, -1) ? "is missing (a string of [a-z0-9_.])" : "must be a string");
    else if (cstr_at(L, -1) == NULL || !valid_name(lua_tostring(L, -1)))
        wd_errs_add(e, "%s:%d: name \"%s\" has characters outside [a-z0-9_.] or is longer than 128", file,
                line_of(src, "name"), lua_tostring(L, -1));
    else
        r->name = xstrdup(lua_tostring(L, -1));
    lua_pop(L, 1);

    rawfield(L, t, "version");
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
        wd_errs_add(e, "%s:%d: 'version' %s", file, line_of(src, "version"),
                lua_isnil(L, -1) ? "is missing (a non-negative integer)"
                                 : "must be a non-negative integer");
    else
        r->version = (long)lua_tointeger(L, -1);
    lua_pop(L, 1);

    rawfield(L, t, "description");
    if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING)
        wd_errs_add(e, "%s:%d: 'description' must be a string", file, line_of(src, "description"));
    else if (!lua_isnil(L, -1))
        r->description = xstrdup(lua_tostring(L, -1));
    lua_pop(L, 1);

    rawfield(L, t, "mode");
    const char *mode = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (mode && cstr_at(L, -1) == NULL)
        wd_errs_add(e, "%s:%d: mode \"%s\" (with a NUL byte) is not one of enforce, shadow, off",
                file, line_of(src, "mode"), mode);
    else if (mode && strcmp(mode, "enforce") == 0)
        r->mode = RULE_MODE_ENFORCE;
    else if (mode && strcmp(mode, "shadow") == 0)
        r->mode = RULE_MODE_SHADOW;
    else if (mode && strcmp(mode, "off") == 0)
        r->mode = RULE_MODE_OFF;
    else if (mode)
        wd_errs_add(e, "%s:%d: mode \"%s\" is not one of enforce, shadow, off", file,
                line_of(src, "mode"), mode);
    else
        wd_errs_add(e, "%s:%d: 'mode' %s (enforce, shadow or off)", file, line_of(src, "mode"),
                lua_isnil(L, -1) ? "is missing" : "must be a string");
    lua_pop(L, 1);

    /* "Empty" only when the list itself had no bad entries (those are
     * reported already); problems elsewhere in the rule do not count. */
    int before_streams = e->count;
    long ns = string_list(L, t, "streams", &r->streams, e, file, src, valid_stream, "stream name");
    if (ns < 0)
        wd_errs_add(e, "%s:%d: 'streams' is missing (a list of stream names)", file,
                line_of(src, "streams"));
    else if (ns == 0 && e->count == before_streams)
        wd_errs_add(e, "%s:%d: 'streams' is empty", file, line_of(src, "streams"));
    r->nstreams = ns > 0 ? (size_t)ns : 0;

    long nf = string_list(L, t, "fields", &r->fields, e, file, src, valid_path, "field path");
    r->nfields = nf > 0 ? (size_t)nf : 0;
    r->field_root = xcalloc(1, sizeof(rule_field_t));
    if (r->field_root) {
        r->field_root->name = xstrdup("");
        r->field_root->path = xstrdup("");
        for (size_t i = 0; i < r->nfields; i++)
            field_insert(r->field_root, r->fields[i]);
    }

    rawfield(L, t, "evaluate");
    if (lua_type(L, -1) != LUA_TFUNCTION) {
        wd_errs_add(e, "%s:%d: 'evaluate' %s", file, line_of(src, "evaluate"),
                lua_isnil(L, -1) ? "is missing (function(ev, ctx))" : "must be a function");
        lua_pop(L, 1);
    } else {
        lua_Debug ar;
        lua_pushvalue(L, -1);
        lua_getinfo(L, ">S", &ar);
        r->eval_line = ar.linedefined;
        r->eval_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }

    rawfield(L, t, "tests");
    if (!lua_isnil(L, -1)) {
        r->ntests = check_tests(L, e, file, src);
        r->tests_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    } else {
        lua_pop(L, 1);
    }
    lua_pop(L, 1); /* the rule table */
    if (e->count != before || pack_oom) {
        rule_free(L, r);
        return NULL;
    }
    return r;
}

static int cmp_rule(const void *a, const void *b)
{
    return strcmp((*(rule_t *const *)a)->name, (*(rule_t *const *)b)->name);
}

static void free_index(rule_pack_t *p)
{
    for (size_t i = 0; i < p->nstreams; i++) {
        free(p->streams[i].name);
        free(p->streams[i].rules);
    }
    free(p->streams);
    p->streams = NULL;
    p->nstreams = 0;
}

/* Returns 0, or -1 when out of memory (the index then misses streams or
 * rules; rule_pack_destroy frees what it holds). */
static int build_index(rule_pack_t *p, int include_off)
{
    free_index(p);
    for (size_t i = 0; i < p->nrules; i++) {
        rule_t *r = p->rules[i];
        if (r->mode == RULE_MODE_OFF && !include_off)
            continue;
        for (size_t j = 0; j < r->nstreams; j++) {
            stream_idx_t *s = NULL;
            for (size_t k = 0; k < p->nstreams; k++)
                if (strcmp(p->streams[k].name, r->streams[j]) == 0)
                    s = &p->streams[k];
            if (s == NULL) {
                stream_idx_t *st = wd_realloc(p->streams, (p->nstreams + 1) * sizeof(*p->streams));
                char *name = st ? wd_strdup(r->streams[j]) : NULL;
                if (st)
                    p->streams = st;
                if (name == NULL)
                    return -1;
                s = &p->streams[p->nstreams++];
                s->name = name;
                s->rules = NULL;
                s->nrules = 0;
            }
            /* A rule listing a stream twice still runs once. */
            if (s->nrules && s->rules[s->nrules - 1] == r)
                continue;
            rule_t **rs = wd_realloc(s->rules, (s->nrules + 1) * sizeof(*s->rules));
            if (rs == NULL)
                return -1;
            s->rules = rs;
            s->rules[s->nrules++] = r; /* rules are visited in name order */
        }
    }
    return 0;
}

rule_pack_t *rule_pack_load(wd_lua_t *vm, const char *rules_dir, char *errstr, size_t errstr_size)
{
    wd_errs_t e = { errstr, errstr_size, 0, 0 };
    if (errstr_size)
        errstr[0] = '\0';
    struct stat st;
    if (stat(rules_dir, &st) != 0) {
        wd_errs_add(&e, "%s: cannot read rule pack: %s", rules_dir, strerror(errno));
        return NULL;
    }
    pack_oom = 0;
    rule_pack_t *p = xcalloc(1, sizeof(*p));
    if (p == NULL || (p->dir = xstrdup(rules_dir)) == NULL) {
        wd_errs_add(&e, "%s: out of memory while loading the rule pack", rules_dir);
        free(p);
        return NULL;
    }
    p->vm = vm;
    pathlist_t files = { 0 };
    if (S_ISDIR(st.st_mode)) {
        size_t dl = strlen(rules_dir);
        while (dl > 1 && p->dir[dl - 1] == '/')
            p->dir[--dl] = '\0';
        walker_t w = { NULL, NULL, 0, 0, &e, &files };
        char *root = realpath(p->dir, NULL);
        if (root == NULL) {
            wd_errs_add(&e, "%s: cannot resolve the rule pack directory: %s", p->dir, strerror(errno));
        } else {
            w.root = root;
            enter_dir(&w, &st);
            walk(&w, p->dir, 0);
        }
        free(root);
        free(w.seen);
    } else {
        char *d = p->dir;
        char *slash = strrchr(d, '/');
        if (slash)
            *slash = '\0';
        else
            d[0] = '.', d[1] = '\0';   /* d holds a file name: room for "." */
        pl_add(&files, xstrdup(rules_dir));
    }
    if (files.n)
        qsort(files.v, files.n, sizeof(char *), cmp_str);

    wd_sha256_t *h = wd_sha256_new();
    for (size_t i = 0; i < files.n; i++) {
        const char *f = files.v[i];
        char *buf;
        size_t len;
        char fhash[65], msg[512];
        if (wd_read_file(f, &buf, &len, msg, sizeof(msg)) == 0) {
            wd_sha256_hex(buf, len, fhash);
            free(buf);
            wd_sha256_update(h, f + strlen(p->dir), strlen(f + strlen(p->dir)) + 1);
            wd_sha256_update(h, fhash, 64);
        } else if (errno == ENOMEM) {
            pack_oom = 1;   /* the hash would miss the file */
        }
        if (S_ISDIR(st.st_mode) && !is_rule_file(p->dir, f))
            continue;
        rule_t *r = load_rule(vm, f, &e);
        if (r == NULL)
            continue;
        for (size_t j = 0; j < p->nrules; j++) {
            if (strcmp(p->rules[j]->name, r->name) == 0) {
                wd_errs_add(&e, "%s:%d: duplicate rule name \"%s\" (also in %s:%d)", f,
                        line_of(r->source, "name"), r->name, p->rules[j]->file,
                        line_of(p->rules[j]->source, "name"));
                rule_free(wd_lua_state(vm), r);
                r = NULL;
                break;
            }
        }
        if (r == NULL)
            continue;
        rule_t **rules = wd_realloc(p->rules, (p->nrules + 1) * sizeof(*p->rules));
        if (rules == NULL) {
            pack_oom = 1;
            rule_free(wd_lua_state(vm), r);
            continue;
        }
        p->rules = rules;
        p->rules[p->nrules++] = r;
    }
    wd_sha256_final(h, p->hash);
    for (size_t i = 0; i < files.n; i++)
        free(files.v[i]);
    free(files.v);
    if (pack_oom)
        wd_errs_add(&e, "%s: out of memory while loading the rule pack", rules_dir);
    else if (e.count == 0 && p->nrules == 0)
        wd_errs_add(&e, "%s: no rule files (*.lua) in the pack", rules_dir);
    if (e.count) {
        rule_pack_destroy(p);
        return NULL;
    }
    qsort(p->rules, p->nrules, sizeof(*p->rules), cmp_rule);
    for (size_t i = 0; i < p->nrules; i++)
        p->rules[i]->index = i;
    if (build_index(p, 0) != 0) {
        wd_errs_add(&e, "%s: out of memory while loading the rule pack", rules_dir);
        rule_pack_destroy(p);
        return NULL;
    }
    return p;
}

void rule_pack_destroy(rule_pack_t *p)
{
    if (p == NULL)
        return;
    lua_State *L = p->vm ? wd_lua_state(p->vm) : NULL;
    for (size_t i = 0; i < p->nrules; i++)
        rule_free(L, p->rules[i]);
    free(p->rules);
    free_index(p);
    free(p->dir);
    free(p);
}

size_t rule_pack_rules(const rule_pack_t *p, rule_t *const **out)
{
    *out = p->rules;
    return p->nrules;
}

size_t rule_pack_stream_rules(const rule_pack_t *p, const char *stream, size_t len,
                              rule_t *const **out)
{
    for (size_t i = 0; i < p->nstreams; i++) {
        const char *n = p->streams[i].name;
        if (strlen(n) == len && memcmp(n, stream, len) == 0) {
            *out = p->streams[i].rules;
            return p->streams[i].nrules;
        }
    }
    *out = NULL;
    return 0;
}

int rule_pack_run_off_rules(rule_pack_t *p)
{
    return build_index(p, 1);
}

const char *rule_pack_hash(const rule_pack_t *p) { return p->hash; }
const char *rule_pack_dir(const rule_pack_t *p) { return p->dir; }

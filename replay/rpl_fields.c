/* Field check (schema-safe deploys): for every field a candidate rule
 * declares, on the window's events of the rule's streams, how often it is
 * present and with which JSON types.  The types a rule expects are those
 * its own tests give the field (numbers as one type); a field absent from
 * every event of its stream, or present with a type its tests never use,
 * is flagged.  Per event: one dotted-path lookup per (stream, field). */
#include "replay/rpl_int.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/wd_lua.h"
#include "rules/rule_types.h"

#define NUMBER_BITS ((1u << WD_JINT) | (1u << WD_JDOUBLE))

const char *rpl_jtype_name(int t)
{
    static const char *const names[] = { "null", "boolean", "number", "number",
                                         "string", "array", "object" };
    return t >= 0 && t <= WD_JOBJECT ? names[t] : "?";
}

static long fpath_get(rpl_t *r, const char *stream, const char *path)
{
    for (size_t i = 0; i < r->nfpaths; i++)
        if (strcmp(r->fpaths[i].stream, stream) == 0 && strcmp(r->fpaths[i].path, path) == 0)
            return (long)i;
    rpl_fpath_t *p = realloc(r->fpaths, (r->nfpaths + 1) * sizeof(*p));
    if (p == NULL)
        return -1;
    r->fpaths = p;
    memset(&p[r->nfpaths], 0, sizeof(*p));
    p[r->nfpaths].stream = stream;
    p[r->nfpaths].path = path;
    size_t s = 0;
    while (s < r->nfstreams && strcmp(r->fstreams[s].name, stream) != 0)
        s++;
    if (s == r->nfstreams) {
        rpl_fstream_t *fs = realloc(r->fstreams, (r->nfstreams + 1) * sizeof(*fs));
        if (fs == NULL)
            return -1;
        r->fstreams = fs;
        memset(&fs[s], 0, sizeof(*fs));
        fs[s].name = stream;
        r->nfstreams++;
    }
    size_t *pp = realloc(r->fstreams[s].paths, (r->fstreams[s].npaths + 1) * sizeof(size_t));
    if (pp == NULL)
        return -1;
    r->fstreams[s].paths = pp;
    pp[r->fstreams[s].npaths++] = r->nfpaths;
    return (long)r->nfpaths++;
}

/* JSON type bit of the Lua value on top of the stack (a table with [1] is
 * an array). */
static unsigned lua_type_bit(lua_State *L)
{
    switch (lua_type(L, -1)) {
    case LUA_TBOOLEAN: return 1u << WD_JBOOL;
    case LUA_TNUMBER: return NUMBER_BITS;
    case LUA_TSTRING: return 1u << WD_JSTRING;
    case LUA_TTABLE: {
        lua_rawgeti(L, -1, 1);
        int arr = !lua_isnil(L, -1);
        lua_pop(L, 1);
        return 1u << (arr ? WD_JARRAY : WD_JOBJECT);
    }
    default: return 0;
    }
}

/* The types the rule's test events give path (bits of enum wd_jtype). */
static unsigned expected_types(lua_State *L, const rule_t *rule, const char *path)
{
    unsigned bits = 0;
    if (rule->tests_ref == LUA_NOREF || rule->tests_ref == LUA_REFNIL)
        return 0;
    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, rule->tests_ref);
    size_t nt = lua_type(L, -1) == LUA_TTABLE ? lua_rawlen(L, -1) : 0;
    for (size_t t = 1; t <= nt; t++) {
        lua_rawgeti(L, top + 1, (lua_Integer)t);
        if (lua_type(L, -1) != LUA_TTABLE) {
            lua_settop(L, top + 1);
            continue;
        }
        lua_pushliteral(L, "events");
        lua_rawget(L, -2);
        size_t ne = lua_type(L, -1) == LUA_TTABLE ? lua_rawlen(L, -1) : 0;
        int evs = lua_gettop(L);
        for (size_t e = 1; e <= ne; e++) {
            lua_rawgeti(L, evs, (lua_Integer)e);
            if (lua_type(L, -1) != LUA_TTABLE) {
                lua_settop(L, evs);
                continue;
            }
            const char *p = path;
            while (lua_type(L, -1) == LUA_TTABLE) {
                const char *dot = strchr(p, '.');
                size_t n = dot ? (size_t)(dot - p) : strlen(p);
                lua_pushlstring(L, p, n);
                lua_rawget(L, -2);
                lua_remove(L, -2);
                if (!dot)
                    break;
                p = dot + 1;
                if (lua_type(L, -1) != LUA_TTABLE) {
                    lua_pop(L, 1);
                    lua_pushnil(L);
                    break;
                }
            }
            bits |= lua_type_bit(L);
            lua_settop(L, evs);
        }
        lua_settop(L, top + 1);
    }
    lua_settop(L, top);
    return bits;
}

int rpl_fields_init(rpl_t *r)
{
    lua_State *L = wd_lua_state(eng_engine_vm(r->eng[RPL_CAND]));
    for (size_t u = 0; u < r->nrules; u++) {
        const rule_t *rule = r->rules[u].def[RPL_CAND];
        if (rule == NULL || rule->mode == RULE_MODE_OFF)
            continue;
        for (size_t s = 0; s < rule->nstreams; s++) {
            for (size_t f = 0; f < rule->nfields; f++) {
                long fp = fpath_get(r, rule->streams[s], rule->fields[f]);
                rpl_frule_t *fr = realloc(r->frules, (r->nfrules + 1) * sizeof(*fr));
                if (fp < 0 || fr == NULL)
                    return -1;
                r->frules = fr;
                fr[r->nfrules].rule = u;
                fr[r->nfrules].fpath = (size_t)fp;
                fr[r->nfrules].expected = expected_types(L, rule, rule->fields[f]);
                r->nfrules++;
            }
        }
    }
    return 0;
}

void rpl_fields_event(rpl_t *r, wd_jval_t root)
{
    wd_jval_t v;
    if (!wd_jval_get(root, r->opts.eng.stream_field, strlen(r->opts.eng.stream_field), &v) ||
        wd_jval_type(v) != WD_JSTRING)
        return;
    size_t n;
    const char *stream = wd_jval_str(v, &n);
    for (size_t s = 0; s < r->nfstreams; s++) {
        rpl_fstream_t *fs = &r->fstreams[s];
        if (strncmp(fs->name, stream, n) != 0 || fs->name[n] != '\0')
            continue;
        fs->events++;
        for (size_t k = 0; k < fs->npaths; k++) {
            rpl_fpath_t *p = &r->fpaths[fs->paths[k]];
            if (!wd_jval_path(root, p->path, &v))
                continue;
            int t = wd_jval_type(v);
            p->types[t]++;
            if (t != WD_JNULL)
                p->present++;
        }
        return;
    }
}

static uint64_t stream_events(const rpl_t *r, const char *stream)
{
    for (size_t s = 0; s < r->nfstreams; s++)
        if (strcmp(r->fstreams[s].name, stream) == 0)
            return r->fstreams[s].events;
    return 0;
}

const char *rpl_fields_flag(const rpl_t *r, const rpl_frule_t *f, char *buf, size_t n)
{
    const rpl_fpath_t *p = &r->fpaths[f->fpath];
    if (stream_events(r, p->stream) == 0)
        return NULL;
    /* A rule on several streams may read a field only some of them carry:
     * absent means absent from every event of all of its streams. */
    uint64_t present = 0;
    for (size_t i = 0; i < r->nfrules; i++) {
        const rpl_fpath_t *q = &r->fpaths[r->frules[i].fpath];
        if (r->frules[i].rule == f->rule && strcmp(q->path, p->path) == 0)
            present += q->present;
    }
    if (present == 0) {
        snprintf(buf, n, "absent from every event of the rule's streams");
        return buf;
    }
    if (p->present == 0)
        return NULL;
    unsigned seen = 0;
    for (int t = WD_JBOOL; t <= WD_JOBJECT; t++)
        if (p->types[t])
            seen |= 1u << t;
    if (f->expected) {
        unsigned odd = seen & ~f->expected;
        if (odd == 0)
            return NULL;
        size_t len = 0;
        for (int t = WD_JBOOL; t <= WD_JOBJECT && len < n; t++) {
            if (!(odd & (1u << t)) || (t == WD_JDOUBLE && (odd & (1u << WD_JINT))))
                continue;
            len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? ", " : "type ",
                                    rpl_jtype_name(t));
        }
        if (len < n)
            snprintf(buf + len, n - len, " never used by the rule's tests");
        return buf;
    }
    unsigned kinds = 0;
    for (int t = WD_JBOOL; t <= WD_JOBJECT; t++)
        if ((seen & (1u << t)) && !(t == WD_JDOUBLE && (seen & (1u << WD_JINT))))
            kinds++;
    if (kinds > 1) {
        snprintf(buf, n, "mixed types (the rule's tests give none)");
        return buf;
    }
    return NULL;
}

void rpl_fields_free(rpl_t *r)
{
    for (size_t s = 0; s < r->nfstreams; s++)
        free(r->fstreams[s].paths);
    free(r->fstreams);
    free(r->fpaths);
    free(r->frules);
}

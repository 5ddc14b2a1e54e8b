/* rules/rule_lua.h — the author-facing Lua API: the read-only event view
 * `ev` (rule_lua_event.c) and `ctx` with verdicts, state reads and effects
 * (rule_lua_ctx.c).  The engine fills a rule_ctx_t per event and calls
 * rules through rule_lua_call(). */
#ifndef WARDEN_RULES_RULE_LUA_H
#define WARDEN_RULES_RULE_LUA_H

#include <stddef.h>
#include <stdint.h>

#include "base/wd_arena.h"
#include "base/wd_json.h"
#include "base/wd_lua.h"
#include "rules/rule_pack.h"

/* State behind ctx.count/distinct/has_label/label/in_list, provided by the
 * engine.  Each returns 0, or -1 with a message (the rule then errors).
 * Every string comes with its length and may hold NUL bytes (Lua strings
 * do): names are compared by length, so "a\0b" is never "a". */
typedef struct rule_str {
    const char *s;
    size_t      len;
} rule_str_t;

typedef struct rule_state_ops {
    /* key.s NULL: nil key (counts 0, but the counter is still checked). */
    int (*count)(void *ud, rule_str_t counter, rule_str_t key, rule_str_t window, int distinct,
                 int64_t *out, char *err, size_t errn);
    int (*has_label)(void *ud, rule_str_t entity, rule_str_t label, int *out, char *err,
                     size_t errn);
    /* Buffered by the engine: visible from the next event on. */
    int (*label)(void *ud, rule_str_t entity, rule_str_t label, int64_t ttl_ms, char *err,
                 size_t errn);
    int (*in_list)(void *ud, rule_str_t list, rule_str_t value, int *out, char *err,
                   size_t errn);
} rule_state_ops_t;

/* Writes s to buf as printable text for messages, non-printable bytes (NUL
 * included) as \xNN, cut with "..." when it does not fit.  Returns buf. */
const char *rule_str_show(rule_str_t s, char *buf, size_t size);

/* One rule's verdict; strings live in the arena given to rule_lua_call. */
typedef struct rule_verdict {
    int         verdict;        /* enum rule_verdict_code; NONE for no hit */
    const char *entity;
    size_t      entity_len;
    const char *entity_type;    /* never NULL: RULE_ENTITY_TYPE_DEFAULT when not given */
    const char *reason;
    size_t      reason_len;
    int         has_score;
    double      score;
    const char *ttl;
} rule_verdict_t;

/* Per-VM evaluation context.  The engine owns it; rules/ reads it through
 * the VM's user pointer while a rule runs. */
typedef struct rule_ctx {
    uint64_t                gen;        /* bumped per event: older `ev` views expire */
    wd_jval_t              root;       /* the current event */
    const char             *event_id;
    int64_t                 ts_ms;
    int                     strict;     /* undeclared field reads are errors */
    const rule_t           *rule;       /* the rule running now */
    const rule_state_ops_t *ops;
    void                   *ops_ud;
    uint64_t                work;       /* set by ops->count: the read's cost, in
                                         * instructions (charged to the rule) */
    int                     ev_ref;     /* registry slot of this event's `ev` */
    int                     ctx_ref;    /* registry slot of the `ctx` object */
    struct rule_trace      *trace;      /* warden explain: what the rules read
                                         * (rules/rule_trace.h); NULL: off */
} rule_ctx_t;

/* Builds the metatables and the ctx object in vm and makes c its context.
 * Call once per VM, after wd_lua_new. */
void rule_lua_init(wd_lua_t *vm, rule_ctx_t *c);

/* Starts an event: expires every earlier `ev` and makes a new one over root. */
void rule_lua_begin_event(wd_lua_t *vm, rule_ctx_t *c, wd_jval_t root);

enum rule_call_status { RULE_CALL_OK = 0, RULE_CALL_ERROR, RULE_CALL_TIMEOUT, RULE_CALL_OOM };

/* Calls r.evaluate(ev, ctx) under the VM's budgets.  On RULE_CALL_OK, *out
 * holds the verdict (verdict NONE: no hit), strings copied into arena.
 * Otherwise errstr has "file:line: message". */
int rule_lua_call(wd_lua_t *vm, rule_ctx_t *c, const rule_t *r, wd_arena_t *arena,
                  rule_verdict_t *out, char *errstr, size_t errstr_size);

/* Internal to rules/: a rule's own math.random/math.randomseed, installed
 * into the math table of the environment at env; *ref anchors the state in
 * the registry (luaL_unref it with the rule).  rule_rng_seed makes its
 * numbers a function of the rule name and event id alone. */
rule_rng_t *rule_rng_install(lua_State *L, int env, int *ref);
void rule_rng_seed(rule_rng_t *g, const char *rule, const char *event_id);
/* Internal to rules/: pairs in a fixed order over the rule's own tables
 * (rules/rule_lua_pairs.c), set in the environment at env. */
void rule_pairs_install(lua_State *L, int env);

/* Internal to rules/: the event metatable, and pushing a JSON value as Lua. */
void rule_lua_event_init(lua_State *L);
void rule_lua_push_event(lua_State *L, rule_ctx_t *c, wd_jval_t root);
/* Pushes v as the lazy view does, with everything below it readable:
 * scalars as Lua values, null as nil, objects and arrays as views. */
void rule_lua_push_json(lua_State *L, rule_ctx_t *c, wd_jval_t v);
/* Pushes a JSON scalar as Lua (bool, integer, float, string; null as nil)
 * and returns 1; returns 0 and pushes nothing for an array or object. */
int rule_lua_push_scalar(lua_State *L, wd_jval_t v);
/* Internal to rules/: the JSON type (WD_JOBJECT, WD_JARRAY) of the lazy
 * view at idx, or -1 when idx is not one. */
int rule_lua_event_jtype(lua_State *L, int idx);
/* luaL_error with the position of the rule line that called into C
 * (level 1: the Lua function that called the running C function). */
int rule_lua_error(lua_State *L, const char *fmt, ...);

#define RULE_EVENT_MT   "warden.event"
#define RULE_VERDICT_MT "warden.verdict"
#define RULE_CTX_MT     "warden.ctx"

#endif

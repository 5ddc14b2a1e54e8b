/* rules/rule_trace.h — the trace recorder behind `warden explain`: for each
 * rule call of one event, the fields it read through `ev` (path, type and
 * value as the rule saw them), the counters and distinct counts it asked
 * for, label reads and sets, list lookups, and how the call ended.  Off
 * unless a recorder is attached to the rule context (rule_ctx_t.trace):
 * rule_lua_call checks that pointer once per call, each ctx.* state call
 * once, and nothing else on the hot path knows about tracing. */
#ifndef WARDEN_RULES_RULE_TRACE_H
#define WARDEN_RULES_RULE_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include <lua.h>

#include "rules/rule_lua.h"

typedef struct rule_trace rule_trace_t;

enum rule_trace_kind {
    RULE_TRACE_FIELD = 0,   /* name: the path read ("user.id", "items[1].sku") */
    RULE_TRACE_COUNT,       /* name: counter; key; window; num: the count */
    RULE_TRACE_DISTINCT,    /* as COUNT, num: the distinct count */
    RULE_TRACE_HAS_LABEL,   /* key: entity; name: label; num: 0 or 1 */
    RULE_TRACE_LABEL,       /* key: entity; name: label; window: the ttl */
    RULE_TRACE_IN_LIST,     /* name: list; key: the value; num: 0 or 1 */
};

typedef struct rule_trace_entry {
    int         kind;       /* enum rule_trace_kind */
    char       *name;
    char       *key;        /* NULL: nil (counts 0, never a member) */
    size_t      key_len;    /* keys are Lua strings: may hold NUL bytes */
    char       *window;     /* NULL when the kind has none */
    const char *type;       /* FIELD: "string" "integer" "number" "boolean" "nil"
                             * "object" "array" (static) */
    char       *value;      /* FIELD: the value as JSON text ("null" for containers,
                             * whose members are entries of their own) */
    int64_t     num;
    char       *error;      /* the call raised this message (no result), else NULL */
} rule_trace_entry_t;

enum rule_trace_end {
    RULE_TRACE_RUNNING = -1,   /* begun, not ended (the call never returned) */
    /* otherwise enum rule_call_status: OK, ERROR, TIMEOUT, OOM */
};

/* One rule call: its entries are [first, first + n). */
typedef struct rule_trace_call {
    const char *rule;       /* borrowed: the rule's name */
    int         status;     /* enum rule_call_status, or RULE_TRACE_RUNNING */
    size_t      first, n;
    size_t      dropped;    /* entries past RULE_TRACE_MAX_ENTRIES, not kept */
} rule_trace_call_t;

/* Entries kept per call: a rule walking a huge array records the first
 * ones and counts the rest. */
#define RULE_TRACE_MAX_ENTRIES 4096

/* NULL when out of memory. */
rule_trace_t *rule_trace_new(void);
void rule_trace_destroy(rule_trace_t *t);
/* Forgets every call and entry (for the next traced event). */
void rule_trace_clear(rule_trace_t *t);
/* Did recording run out of memory since the last clear?  The calls and
 * entries then miss some (counted as dropped where a call holds them). */
int rule_trace_failed(const rule_trace_t *t);

/* The engine brackets each rule call: entries recorded in between belong
 * to it.  rule: borrowed, must outlive the trace's use. */
void rule_trace_begin(rule_trace_t *t, const char *rule);
void rule_trace_end(rule_trace_t *t, int status);

size_t rule_trace_calls(const rule_trace_t *t, const rule_trace_call_t **out);
const rule_trace_entry_t *rule_trace_entry(const rule_trace_t *t, size_t i);

/* Records one entry (strings copied; key by key_len).  A FIELD entry with a
 * path already recorded in the current call is dropped: a rule reading
 * ev.user.id ten times read one field. */
void rule_trace_add(rule_trace_t *t, const rule_trace_entry_t *e);

/* Records a ctx.* state call (rules/rule_lua_ctx.c): name (counter,
 * label or list), key (counter key, entity, list value; s NULL: nil),
 * window (counter window or label ttl; s NULL: none), the answer, or the
 * error it raised. */
void rule_trace_op(rule_trace_t *t, int kind, rule_str_t name, rule_str_t key, rule_str_t window,
                   int64_t num, const char *error);

/* Replaces the `ev` at the top of L's stack by a tracing view of it: every
 * read through it (index, pairs) goes to the real view, then is recorded
 * in c->trace with its path, type and value.  Objects and arrays read are
 * wrapped the same way.  Answers, errors and budgets are the real view's;
 * the wrappers only cost VM memory (a small userdata per container read). */
void rule_trace_wrap_ev(lua_State *L, rule_ctx_t *c);

#endif

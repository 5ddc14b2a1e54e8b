/* rules/rule_counters.h — a rule pack's counters.lua: parsed in a throwaway
 * sandboxed Lua state, validated, and turned into counter specs (the defs
 * state/state.h builds state from), plus the C matcher that decides
 * whether an event feeds a counter and extracts its key and distinct value.
 * Also the duration parser ("30s", "5m", "1h", "7d", "2w") used for
 * windows and TTLs. */
#ifndef WARDEN_RULES_RULE_COUNTERS_H
#define WARDEN_RULES_RULE_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#include "base/wd_json.h"
#include "state/state.h"

/* Parses a positive whole number followed by s, m, h, d or w (no sign, no
 * leading zero, no spaces) into milliseconds.  Returns 0, or -1. */
int rule_parse_duration(const char *s, int64_t *ms);

#define RULE_WINDOW_MIN (60LL * 1000)
#define RULE_WINDOW_MAX (30LL * 86400 * 1000)

enum rule_where_kind {
    RULE_WHERE_STRING,   /* the field is this string */
    RULE_WHERE_NUMBER,   /* the field is a number equal to this one */
    RULE_WHERE_FALSE,    /* the field is the boolean false */
    RULE_WHERE_PRESENT,  /* `true`: the field is present and not null */
};

/* One `where` clause.  Owned by the rule_counters_t. */
typedef struct rule_where {
    const char *path;       /* dotted field path */
    int         kind;       /* enum rule_where_kind */
    const char *str;        /* RULE_WHERE_STRING */
    size_t      str_len;
    double      num;        /* RULE_WHERE_NUMBER */
} rule_where_t;

/* One declared counter.  Owned by the rule_counters_t; read-only. */
typedef struct rule_counter_spec {
    const char         *name;       /* [a-z0-9_]+, unique in the pack */
    const char         *stream;
    const char         *key;        /* key field path */
    const char         *distinct;   /* distinct field path, NULL for a plain counter */
    const rule_where_t *where;      /* all must hold (sorted by path) */
    size_t              nwhere;
    const int64_t      *windows_ms; /* as declared; whole minutes in 1m..30d */
    size_t              nwindows;
    int                 line;       /* line of its name in counters.lua, 0 if unknown */
} rule_counter_spec_t;

typedef struct rule_counters rule_counters_t;

/* Loads DIR/counters.lua.  No such file is an empty, valid set.  Returns 0
 * with *out, or -1 with every problem, one "path:line: message" (or
 * "path: counter #2 (name): message") a line, in errstr. */
int rule_counters_load(const char *pack_dir, rule_counters_t **out, char *errstr,
                       size_t errstr_size);
/* The same from source text; path names it in messages. */
int rule_counters_parse(const char *src, size_t len, const char *path, rule_counters_t **out,
                        char *errstr, size_t errstr_size);
void rule_counters_destroy(rule_counters_t *cs);

size_t rule_counters_count(const rule_counters_t *cs);
/* Borrowed: valid until rule_counters_destroy(cs). */
const rule_counter_spec_t *rule_counters_get(const rule_counters_t *cs, size_t i);
/* Index of the counter named name, or -1. */
int rule_counters_find(const rule_counters_t *cs, const char *name);
/* The specs as state defs, indexed like the specs (rule_counters_count of
 * them): state_new(rule_counters_defs(cs), rule_counters_count(cs), …).
 * Borrowed: valid until rule_counters_destroy(cs). */
const state_counter_def_t *rule_counters_defs(const rule_counters_t *cs);
/* Does counter c declare window_ms? */
int rule_counter_has_window(const rule_counter_spec_t *c, int64_t window_ms);

/* Does the event (its root object) feed counter c?  1 when every where
 * clause holds and the key (and distinct value) is a non-empty string or a
 * number, with the bytes in *key / *val: views into the event, or numbers
 * formatted into kbuf / vbuf the way Lua's tostring does (so a rule passing
 * ev.user.id to ctx.count finds the same key).  0 otherwise.  The stream
 * is the caller's business.  val/vbuf may be NULL for plain counters. */
#define RULE_NUMBUF 48
int rule_counter_match(const rule_counter_spec_t *c, wd_jval_t root, const char **key,
                       size_t *klen, char kbuf[RULE_NUMBUF], const char **val, size_t *vlen,
                       char vbuf[RULE_NUMBUF]);

#endif

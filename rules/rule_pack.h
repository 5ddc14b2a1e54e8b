/* rules/rule_pack.h — loading and validating a rule pack: every *.lua under
 * the pack directory (but counters.lua) is one rule; counters.lua declares
 * the counters; lists/ holds the lists.  Rules are compiled into one Lua VM,
 * each with its own _ENV, and indexed by stream. */
#ifndef WARDEN_RULES_RULE_PACK_H
#define WARDEN_RULES_RULE_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "base/wd_lua.h"

typedef struct rule_pack rule_pack_t;

/* A declared field path as a trie: ev.user.id needs "user" → "id".  A node
 * with whole = 1 was itself declared, so everything below it is readable. */
typedef struct rule_field {
    const char         *name;      /* this segment */
    const char         *path;      /* full dotted path to here */
    int                 whole;
    struct rule_field **kids;
    size_t              nkids;
} rule_field_t;

/* A rule's own math.random state (rules/rule_lua_random.c). */
typedef struct rule_rng rule_rng_t;

/* One loaded rule.  Owned by the pack; read-only for everyone else. */
typedef struct rule {
    char          *name;
    long           version;
    char          *description;
    int            mode;            /* enum rule_mode */
    char         **streams;
    size_t         nstreams;
    char         **fields;          /* as declared */
    size_t         nfields;
    rule_field_t  *field_root;      /* trie of fields */
    char          *file;            /* path as given to the loader */
    int            eval_line;       /* line of evaluate's definition */
    int            eval_ref;        /* registry ref of evaluate */
    int            tests_ref;       /* registry ref of tests, LUA_NOREF if none */
    size_t         ntests;
    char           sha256[65];      /* of the file's bytes */
    size_t         index;           /* position in rule_pack_rules() */
    char          *source;          /* the file's text */
    size_t         source_len;
    rule_rng_t    *rng;             /* behind its math.random; anchored by rng_ref */
    int            rng_ref;
} rule_t;

/* Loads rules_dir (a directory, or a single .lua rule file) into vm.
 * Every problem found is appended to errstr as "file:line: message\n";
 * returns NULL when there was any. */
rule_pack_t *rule_pack_load(wd_lua_t *vm, const char *rules_dir, char *errstr, size_t errstr_size);
void rule_pack_destroy(rule_pack_t *p);

/* All rules, sorted by name. */
size_t rule_pack_rules(const rule_pack_t *p, rule_t *const **out);
/* The rules that run on a stream (mode != off), sorted by name; 0 if none. */
size_t rule_pack_stream_rules(const rule_pack_t *p, const char *stream, size_t len,
                              rule_t *const **out);
/* Indexes mode "off" rules too (warden test evaluates a rule before it is
 * switched on; its hits say mode "off" and never enter a decision).
 * Returns 0, or -1 when out of memory. */
int rule_pack_run_off_rules(rule_pack_t *p);
/* Hex sha256 over all files of the pack, in path order. */
const char *rule_pack_hash(const rule_pack_t *p);
const char *rule_pack_dir(const rule_pack_t *p);

/* Finds the child of f named seg[0..len), or NULL. */
const rule_field_t *rule_field_child(const rule_field_t *f, const char *seg, size_t len);

#endif

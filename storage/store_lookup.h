/* storage/store_lookup.h — reading hits back from a results store: the
 * rule_results rows of one event under one run_id, for `warden explain` to
 * compare with what it reproduces.  mysql:// (MariaDB, MySQL, a StarRocks
 * FE's MySQL port) and jsonl:PATH (the file a sink wrote). */
#ifndef WARDEN_STORAGE_STORE_LOOKUP_H
#define WARDEN_STORAGE_STORE_LOOKUP_H

#include <stddef.h>
#include <stdint.h>

/* One stored hit.  Strings borrowed for the callback only; entity and
 * reason may hold any bytes (lengths given). */
typedef struct store_result {
    const char *rule;
    int         version;
    const char *mode;
    const char *verdict;
    const char *entity;
    size_t      entity_len;
    const char *reason;        /* NULL: none */
    size_t      reason_len;
    int         has_score;
    double      score;
    const char *rule_sha256;   /* NULL: not stored (jsonl, rows before schema v4) */
} store_result_t;

/* Return 0 to go on, nonzero to stop. */
typedef int (*store_result_fn)(void *ud, const store_result_t *r);

/* Calls fn for every row of rule_results with this run_id and event_id, in
 * rule order.  Returns the number of rows, or -1 with a message in errstr
 * (unreachable server, unreadable file, a scheme that cannot be read). */
long store_read_results(const char *url, const char *run_id, const char *event_id,
                        store_result_fn fn, void *ud, char *errstr, size_t errstr_size);

#endif

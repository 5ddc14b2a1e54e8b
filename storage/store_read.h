/* storage/store_read.h — reading the results store back, for the commands
 * that look at what warden already did: an entity's hits and actions
 * (`warden investigate`, GET /entities/…), the actions one rule version
 * produced in a window (`warden undo`), and the undo_runs record.  MySQL
 * protocol stores only (mysql://, a StarRocks FE with ?dialect=starrocks);
 * jsonl: and null: are refused with a message saying so. */
#ifndef WARDEN_STORAGE_STORE_READ_H
#define WARDEN_STORAGE_STORE_READ_H

#include <stddef.h>
#include <stdint.h>

typedef struct store_reader store_reader_t;

/* Connects to url (schema v8 or later).  Returns 0, or -1 with a message in
 * errstr (not a MySQL-protocol URL, unreachable, schema too old). */
int store_reader_open(store_reader_t **out, const char *url, char *errstr, size_t errstr_size);
void store_reader_close(store_reader_t *r);   /* NULL: no-op */

/* One row read back: a hit (rule_results) or an action (actions).  Strings
 * are borrowed for the callback only; NULL where the column is NULL. */
typedef struct store_hist {
    int         is_action;
    const char *run_id, *event_id, *stream;
    const char *rule;          /* hit: its rule; action: NULL */
    const char *rules;         /* action: comma list; hit: NULL */
    int         version;       /* hit only */
    const char *rule_sha256;   /* hit only, may be NULL */
    const char *mode;          /* hit only */
    const char *verdict;
    const char *entity_type;
    const char *entity;
    size_t      entity_len;
    const char *reason;        /* hit only, may be NULL */
    size_t      reason_len;
    int         has_score;
    double      score;
    const char *ttl;           /* action only, may be NULL */
    const char *labels;        /* hit only: rule_results.labels (a JSON array), may be NULL */
    size_t      labels_len;
    int64_t     event_ts_ms;   /* INT64_MIN when NULL */
    const char *topic;         /* NULL for file input */
    int32_t     partition;
    int64_t     offset;
} store_hist_t;

/* Returns 0 to go on, non-zero to stop (store_read_* then return it). */
typedef int (*store_hist_fn)(void *ud, const store_hist_t *h);

/* One item of a hit's labels cell: the entity it is on (the hit's unless
 * the item names another), the label, and its expiry (the hit's event
 * time + ttl_ms).  Borrowed for the callback only; entity and label may
 * hold NUL bytes (use the lengths). */
typedef struct store_label {
    const char *entity;
    size_t      entity_len;
    const char *label;
    size_t      label_len;
    int64_t     expire_ms;
} store_label_t;
typedef int (*store_label_fn)(void *ud, const store_hist_t *h, const store_label_t *l);

/* Calls fn for each label item of h->labels, the JSON array warden writes
 * ([{"label":L,"ttl_ms":N,...[,"entity":E]}]; NULL: no labels, nothing to
 * do).  What cannot be read is counted in *unreadable, never guessed at: a
 * cell that is not a JSON array or a hit with no event time (1), an item
 * without a string label and an integer ttl_ms, or whose entity is not a
 * string (1 each).  Returns 0, -1 out of memory, or fn's non-zero (the
 * walk stops there). */
int store_hist_labels(const store_hist_t *h, store_label_fn fn, void *ud, uint64_t *unreadable);

/* Every hit on the entity of type (NULL: of any type), then every action on
 * it (actions are keyed by type and entity: with type NULL, under each type
 * its hits had), each set in (event_ts, event_id, rule) order, from
 * since_ms on (INT64_MIN: all), of run_id (NULL: every run).  Returns 0, -1
 * with a message, or the callback's non-zero. */
int store_read_entity(store_reader_t *r, const char *type, const char *entity, size_t len,
                      int64_t since_ms, const char *run_id, store_hist_fn fn, void *ud,
                      char *errstr, size_t errstr_size);

/* One action to undo: an action (row of actions, run_id) with an
 * enforce-mode hit of rule in [from_ms, to_ms), version V (-1: any), and
 * what the other enforce-mode rules on the same entity of the same event
 * gave: rest_verdict ("none" when no other rule acted on it) and rest_rules
 * (comma list, "" when none). */
typedef struct store_undo_item {
    store_hist_t action;       /* the original action */
    int          version;      /* the undone rule's version on it */
    const char  *rule_verdict; /* what the undone rule gave */
    const char  *rule_sha256;
    const char  *rest_verdict;
    const char  *rest_rules;
} store_undo_item_t;
typedef int (*store_undo_fn)(void *ud, const store_undo_item_t *it);

/* In (event_ts, event_id, entity_key) order.  0, -1 with a message, or the
 * callback's non-zero. */
int store_read_rule_actions(store_reader_t *r, const char *rule, int version, int64_t from_ms,
                            int64_t to_ms, const char *run_id, store_undo_fn fn, void *ud,
                            char *errstr, size_t errstr_size);

/* Every enforce-mode hit of rule (version V, -1: any) of run_id in
 * [from_ms, to_ms) that set labels (rule_results.labels not NULL), in
 * (event_ts, event_id) order: what `warden undo` removes.  0, -1 with a
 * message, or the callback's non-zero. */
int store_read_rule_labels(store_reader_t *r, const char *rule, int version, int64_t from_ms,
                           int64_t to_ms, const char *run_id, store_hist_fn fn, void *ud,
                           char *errstr, size_t errstr_size);

/* undo_runs: the status of undo_id ("" when there is no row) and its counts. */
int store_read_undo(store_reader_t *r, const char *undo_id, char *status, size_t status_size,
                    uint64_t *revoked, uint64_t *kept, char *errstr, size_t errstr_size);
/* Upserts the undo_runs row (synchronously: the caller orders it against
 * its Kafka transaction). */
int store_write_undo(store_reader_t *r, const char *undo_id, const char *rule, int version,
                     int64_t from_ms, int64_t to_ms, const char *status, uint64_t revoked,
                     uint64_t kept, char *errstr, size_t errstr_size);

#endif

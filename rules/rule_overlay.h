/* rules/rule_overlay.h — runtime list entries and manual labels, changed
 * without a deploy: the records of the control topic (docs/operations.md)
 * kept per entry as a history of changes by effective time, so an event
 * with event time t sees exactly the changes whose time is <= t, whichever
 * process evaluates it and whenever (live or replay).  ctx.in_list asks
 * the overlay first and the file list (rule_lists) when it has no say;
 * ctx.has_label asks the rule state and then the overlay.  Not thread
 * safe: one thread applies records and answers lookups. */
#ifndef WARDEN_RULES_RULE_OVERLAY_H
#define WARDEN_RULES_RULE_OVERLAY_H

#include <stddef.h>
#include <stdint.h>

#include "base/wd_buf.h"

typedef struct rule_overlay rule_overlay_t;

/* Kinds of change, as the record's value says ("op"). */
enum rule_ov_op {
    RULE_OV_FILE = 0,   /* tombstone: the runtime entry is gone, the file answers */
    RULE_OV_ADD = 1,    /* listed / labelled */
    RULE_OV_DEL = 2,    /* not listed (masks a file entry too) / label removed */
};

rule_overlay_t *rule_overlay_new(void);
void rule_overlay_destroy(rule_overlay_t *ov);

/* Applies one control-topic record.  key: "list/NAME/VALUE" or
 * "label/TYPE/LABEL/ID" (NAME, TYPE and LABEL without '/'; VALUE and ID
 * the rest of the key, any bytes).  val: JSON {"op":"add"|"del", "time":
 * RFC 3339 or epoch ms, "ttl":"1d" (label add), "who", "reason",
 * "rule_labels_until": RFC 3339 or epoch ms (label del: also hides the
 * labels rules set with an expiry up to it, rule_overlay_label_hidden)}, or NULL
 * (a tombstone).  A record without "time" (and every tombstone) takes
 * msg_ts_ms, the record's Kafka timestamp.  Changes of one entry are kept
 * sorted by time; equal times: the later record wins.  Returns 0, or -1
 * with the reason in errstr (the overlay is unchanged). */
int rule_overlay_apply(rule_overlay_t *ov, const void *key, size_t klen, const void *val,
                       size_t vlen, int64_t msg_ts_ms, char *errstr, size_t errstr_size);

/* From now on, _apply takes the later of a record's "time" and msg_ts_ms
 * (its Kafka timestamp): a record never takes effect before it was
 * written, so one written with a time in the past cannot change what was
 * already judged, and a replay reading the same record clamps the same.
 * Off by default (the unit tests apply records with any time). */
void rule_overlay_clamp_to_record_time(rule_overlay_t *ov, int on);

/* The list answer for an event at ts_ms: 1 listed, 0 not, -1 the overlay
 * has no change of (name, value) at or before ts_ms (the file answers).
 * One hash lookup; a binary search when the entry changed more than once. */
int rule_overlay_in_list(const rule_overlay_t *ov, const char *name, const char *value,
                         size_t len, int64_t ts_ms);
/* rule_overlay_in_list for a CIDR list: the runtime entries of `name`
 * whose value is an address or range (rule_cidr_parse) containing value;
 * of those with a change at or before ts_ms, the longest prefix decides
 * (equal prefixes: the later change).  1 listed, 0 not (a deleted range
 * masks the file's ranges for the addresses in it), -1 the file answers.
 * A scan of the list's runtime ranges. */
int rule_overlay_in_cidr(const rule_overlay_t *ov, const char *name, const char *value, size_t len,
                         int64_t ts_ms);
/* 1 when a manual label (entity id, label) is set at ts_ms (added at or
 * before ts_ms, not removed since, ts_ms before its expiry), else 0. */
int rule_overlay_has_label(const rule_overlay_t *ov, const char *entity, size_t elen,
                           const char *label, size_t llen, int64_t ts_ms);

/* 1 when a label a rule set on (entity, label), with expiry `expire` in
 * the slot's state, is hidden at ts_ms: a deletion of that label with
 * "rule_labels_until" >= expire and time <= ts_ms is on the topic (what
 * `warden undo` writes).  A rule setting the label again past the bound
 * (a later expiry) brings it back.  One hash lookup when the overlay
 * knows the label, none when it is empty. */
int rule_overlay_label_hidden(const rule_overlay_t *ov, const char *entity, size_t elen,
                              const char *label, size_t llen, int64_t ts_ms, int64_t expire);

/* Every change of every manual label and deletion on entity id, as a JSON
 * array of {"label","op":"add"|"del"|"file","time_ms","expires_ms"
 * (null but for an add),"rule_labels_until_ms" (null when none),"who",
 * "reason"}, in (label, time) order, appended to b.  A scan of the
 * overlay: for investigations, not for the hot path. */
void rule_overlay_entity_labels_json(const rule_overlay_t *ov, const char *id, size_t idlen,
                                     wd_buf_t *b);

/* Record keys and values as warden writes them (what _apply reads). */
void rule_overlay_list_key(wd_buf_t *b, const char *name, const char *value, size_t len);
void rule_overlay_label_key(wd_buf_t *b, const char *type, const char *label, const char *id,
                            size_t idlen);
/* {"op":...,"time":"RFC 3339","who":...,"reason":...[,"ttl":...]
 * [,"rule_labels_until":"RFC 3339"]}; reason and ttl may be NULL;
 * rule_labels_until (a label deletion only) INT64_MIN for none. */
void rule_overlay_value(wd_buf_t *b, int op, int64_t time_ms, const char *who,
                        const char *reason, const char *ttl, int64_t rule_labels_until);

/* The newest change of every entry of list `name` (value order), as a JSON
 * array of {"value","op","time","who","reason"} appended to b; the number
 * of entries whose newest change is an add in *added and a delete in
 * *deleted (tombstoned entries are not shown). */
void rule_overlay_list_json(const rule_overlay_t *ov, const char *name, wd_buf_t *b,
                            size_t *added, size_t *deleted);

typedef struct rule_overlay_stats {
    uint64_t records;     /* applied */
    uint64_t entries;     /* list entries and labels with a history */
    uint64_t changes;     /* changes kept, all entries */
} rule_overlay_stats_t;
void rule_overlay_stats(const rule_overlay_t *ov, rule_overlay_stats_t *out);

#endif

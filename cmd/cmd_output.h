/* cmd/cmd_output.h — turning an evaluation outcome into what leaves the
 * engine: hit rows for a results sink and the action (decision) JSON that
 * `warden run` puts on the actions topic and `warden eval --actions` prints. */
#ifndef WARDEN_CMD_CMD_OUTPUT_H
#define WARDEN_CMD_CMD_OUTPUT_H

#include "base/wd_buf.h"
#include "engine/eng_engine.h"
#include "storage/store.h"

/* Fills rows[0..o->nhits) (rows borrow from o; valid as long as o). */
void cmd_outcome_rows(const eng_outcome_t *o, const char *run_id, const eng_src_t *src,
                      store_row_t *rows);

/* Fills d for the outcome's decision (o->decision != NONE). */
void cmd_outcome_decision(const eng_outcome_t *o, const char *run_id, store_decision_t *d);

/* Fills d for the outcome's action i (< o->nactions); rules are written
 * into names (room for o->nhits), which must outlive d. */
void cmd_outcome_action(const eng_outcome_t *o, size_t i, const char *run_id, const eng_src_t *src,
                        const char **names, store_decision_t *d);

/* Writes the outcome's decision (table decisions) and each of its actions
 * (table actions) to s.  0, or -1 with the sink's message. */
int cmd_outcome_store_decisions(store_t *s, const eng_outcome_t *o, const char *run_id,
                                const eng_src_t *src, char *errstr, size_t errstr_size);

/* The action format (output.actions_format, eval --actions-format). */
enum cmd_actions_format { CMD_ACTIONS_V2 = 0, CMD_ACTIONS_V1 };
/* "v2" / "v1" → the format; -1 for anything else. */
int cmd_actions_format_parse(const char *s);

/* The actions of one outcome, one call per action: how many it has in fmt
 * (v2: o->nactions; v1: 1 when o->decision != NONE, else 0). */
size_t cmd_action_count(const eng_outcome_t *o, int fmt);

/* Appends action i of the outcome in fmt (no newline) to b and its Kafka
 * key to key (both reset first).  v2 (docs/operations.md, "Actions"):
 * {"schema":2,"event_id":…,"stream":…,"entity":…,"entity_type":…,
 *  "verdict":…,"ttl":…|null,"rules":[{"rule":…,"version":…,"sha256":…,
 *  "verdict":…,"reason":…|null,"score":…|null,"ttl":…|null},…],
 *  "event_ts":…,"run_id":…}, key "TYPE:ENTITY".  v1 (deprecated):
 * {"event_id":…,"stream":…,"entity":…,"verdict":…,"rules":[names],
 *  "ttl":…|null,"event_ts":…,"run_id":…}, key ENTITY. */
void cmd_action_json(wd_buf_t *b, wd_buf_t *key, const eng_outcome_t *o, size_t i, int fmt,
                     const char *run_id);

#endif

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

/* Appends the action object (no newline):
 * {"event_id":…,"stream":…,"entity":…,"verdict":…,"rules":[…],"ttl":…|null,
 *  "event_ts":…,"run_id":…}.  Only meaningful when o->decision != NONE. */
void cmd_action_json(wd_buf_t *b, const eng_outcome_t *o, const char *run_id);

#endif

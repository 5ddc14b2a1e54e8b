/* cmd/cmd_repart.h — the repartitioned path of `warden run` (docs/state.md,
 * "Exact counters under any partitioning"): a chain of hops, one per
 * distinct counter key field of a stream.  Hop 0 reads the input topics
 * (any partitioning), hop k (1..H) reads the internal topics
 * GROUP.repartition.K.U (one per upstream slot U, each keyed by the hop's
 * key field), keeps the counters keyed on that field, and hands the event
 * on with the values of those counters for its own key; hop H runs the
 * rules.  Hops 0..H-1 are child processes of `warden run`, hop H is the
 * process itself. */
#ifndef WARDEN_CMD_CMD_REPART_H
#define WARDEN_CMD_CMD_REPART_H

#include <stddef.h>
#include <stdio.h>

#include "base/wd_config.h"
#include "cmd/cmd_kafka.h"
#include "engine/eng_engine.h"
#include "kafka/kfk.h"

typedef struct cmd_rp cmd_rp_t;

/* The plan for engine e under cfg: *out NULL when the path is off
 * (run.repartition "off", or "auto" and no input topic has more than one
 * partition).  Returns 0, or -1 with errstr (Kafka unreachable). */
int cmd_rp_plan(const wd_config_t *cfg, eng_engine_t *e, const char *const *topics, size_t ntopics,
                cmd_rp_t **out, char *errstr, size_t errstr_size);
void cmd_rp_destroy(cmd_rp_t *rp);
/* The chains alone, for `warden check --guarantees` (no Kafka; printed to
 * stdout): enough for cmd_rp_guarantees.  0, or -1 out of memory. */
int cmd_rp_plan_pack(eng_engine_t *e, const char *entity, cmd_rp_t **out);

/* Per rule, the guarantee under the plan: "exact", or "approximate: WHY".
 * Writes one line per rule to f ("RULE: exact" ...).  Returns how many
 * rules are not exact. */
size_t cmd_rp_guarantees(const cmd_rp_t *rp, FILE *f);

/* Creates the internal topics and forks the hops 0..H-1 (a child dies
 * with the parent); the caller goes on as hop H.  stats: the --stats-json
 * path (children write PATH.hopK.json), may be NULL.  0, or -1 with
 * errstr. */
int cmd_rp_start(cmd_rp_t *rp, const char *stats, char *errstr, size_t errstr_size);
/* What hop H's loop reads: its input topics, its group suffix applied to
 * ko (group stays, changelog CHANGELOG.hopH, merge mode). */
void cmd_rp_final_opts(cmd_rp_t *rp, kfk_opts_t *ko);
/* One message of hop H (either internal record format): 1 a watermark
 * (nothing to evaluate), 0 a record with its source in *src, its carried
 * values in *carry (valid until the next call) and the event's bytes in
 * ev[0..evlen) (borrowed from m: the frame left out), -1 a record that is
 * not an internal one (reason in *why). */
int cmd_rp_final_msg(cmd_rp_t *rp, const rd_kafka_message_t *m, eng_src_t *src, const eng_carry_t **carry,
                     const void **ev, size_t *evlen, const char **why);
/* After a reload of rule logic (same counters and fields): the last hop's
 * engine from now on. */
void cmd_rp_set_engine(cmd_rp_t *rp, eng_engine_t *e);
/* 0 while every hop process runs; -1 (logged) once one has exited. */
int cmd_rp_check(cmd_rp_t *rp);
/* Stops the hop processes (SIGTERM, then waits).  Returns 0 when all
 * exited 0. */
int cmd_rp_stop(cmd_rp_t *rp);

#endif

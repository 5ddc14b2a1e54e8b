/* kafka/kfk_rewind.h — the Kafka side of `warden rewind`: whether the
 * live group has active members, its committed offsets, the state slots as
 * `warden run` lays them out (slot keys, changelog partitions), what the
 * changelog holds for each slot, and the one transaction that writes every
 * slot's rebuilt state behind a reset marker and moves the group's offsets.
 * The rebuild itself is not here (replay/rpl_rewind.h). */
#ifndef WARDEN_KAFKA_KFK_REWIND_H
#define WARDEN_KAFKA_KFK_REWIND_H

#include <stddef.h>
#include <stdint.h>

#include "kafka/kfk.h"

typedef struct kfk_rewind kfk_rewind_t;

/* Connects (cfg's kafka settings), reads the partitions of the input
 * topics and the changelog topic, lays out the slots.  txn_id: the
 * rewind's own transactional.id.  Returns NULL with errstr. */
kfk_rewind_t *kfk_rewind_new(const wd_config_t *cfg, const char *const *topics, size_t ntopics,
                             const char *group, const char *changelog, const char *txn_id,
                             char *errstr, size_t errstr_size);
void kfk_rewind_destroy(kfk_rewind_t *r);

/* The group's active members (>= 0; 0 also when the group does not exist)
 * and its state's name in state (e.g. "Stable", "Empty"), or -1 with
 * errstr. */
int kfk_rewind_members(kfk_rewind_t *r, char *state, size_t state_size, char *errstr,
                       size_t errstr_size);

/* The input topic-partitions, in topic then partition order. */
size_t kfk_rewind_nparts(const kfk_rewind_t *r);
/* Part i: its topic (borrowed), partition, slot index and the group's
 * committed offset (-1: none; valid after kfk_rewind_committed). */
void kfk_rewind_part(const kfk_rewind_t *r, size_t i, const char **topic, int32_t *partition,
                     size_t *slot, int64_t *committed);
/* Fetches the group's committed offsets of every part.  0 or -1. */
int kfk_rewind_committed(kfk_rewind_t *r, char *errstr, size_t errstr_size);

size_t kfk_rewind_nslots(const kfk_rewind_t *r);
/* Slot i's changelog key ("* /N" without the space, or "TOPIC/N") and
 * changelog partition. */
const char *kfk_rewind_slot_key(const kfk_rewind_t *r, size_t i);
int32_t kfk_rewind_slot_cl_part(const kfk_rewind_t *r, size_t i);
/* The slot of an input topic-partition, or -1. */
long kfk_rewind_slot_of(const kfk_rewind_t *r, const char *topic, int32_t partition);

/* Reads the slots' changelog partitions (read_committed, start to end) and
 * keeps, per slot, the ids whose newest record is a value.  0 or -1. */
int kfk_rewind_read_changelog(kfk_rewind_t *r, char *errstr, size_t errstr_size);
/* Records of slot i live on the changelog now (after read_changelog). */
uint64_t kfk_rewind_slot_live(const kfk_rewind_t *r, size_t i);

/* Puts slot's rebuilt state through kfk_changelog_put (one record per
 * entry).  KFK_OK, else the transaction is aborted. */
typedef kfk_rc_t (*kfk_rewind_fill_fn)(void *ud, size_t slot, kfk_changelog_t *cl, char *errstr,
                                       size_t errstr_size);

typedef struct kfk_rewind_result {
    uint64_t tombstones;   /* of the records live before (the clock's aside) */
    uint64_t markers;      /* reset markers: one per slot */
    uint64_t records;      /* of the rebuilt states */
} kfk_rewind_result_t;

/* One transaction: per slot, a tombstone for every id live on the
 * changelog, the clock's tombstone (the reset marker: restore starts the
 * slot empty there) and the rebuilt records (fill); then the group's
 * offsets of part i set to offsets[i], sent with the group's id only (no
 * member, no generation: the group must be empty, which the broker does
 * not check for such offsets); commit.
 * Nothing is visible unless everything is.  Returns 0, or -1 with errstr
 * (the transaction aborted), -2 when the broker refused the offsets for the
 * group's membership (a rebalance, a generation). */
int kfk_rewind_commit(kfk_rewind_t *r, const int64_t *offsets, kfk_rewind_fill_fn fill, void *ud,
                      kfk_rewind_result_t *res, char *errstr, size_t errstr_size);

#endif

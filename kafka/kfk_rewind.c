/* kafka/kfk_rewind.c — the Kafka side of `warden rewind` (kafka/kfk_rewind.h).
 * It is a kfk_t without a loop: the same client configs as `warden run`
 * (a consumer that never subscribes, for the group's offsets and the admin
 * calls; the changelog reader; a transactional producer under the rewind's
 * own transactional.id), the same slot layout and changelog keys
 * (kfk_layout, kfk_slot_key, kfk_cl_partition), and kfk_changelog_put for
 * the records, so a rewound changelog is read back by the ordinary
 * restore. */
#include "kafka/kfk_rewind.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/wd_buf.h"
#include "base/wd_config.h"
#include "base/wd_log.h"
#include "base/wd_util.h"
#include "kafka/kfk_int.h"

#define RW_TIMEOUT_MS 10000

/* One id's record on the changelog, in topic order (seq). */
typedef struct rw_id {
    char    *id;
    size_t   len;
    uint64_t seq;
    int      live;     /* a value, not a tombstone */
} rw_id_t;

/* What a slot's changelog holds (kslot_t.user). */
typedef struct rw_slot {
    rw_id_t *ids;
    size_t   n, cap;
    uint64_t live;     /* ids whose newest record is a value */
    int      snapshot; /* a whole-slot snapshot (the old format) is live */
} rw_slot_t;

typedef struct rw_part {
    const char *topic;     /* k->tp_names[] */
    int32_t     partition;
    size_t      slot;
    int64_t     committed;
} rw_part_t;

struct kfk_rewind {
    kfk_t     *k;
    rw_part_t *parts;
    size_t     nparts;
};

static char *dup_s(const char *s) { return s ? strdup(s) : NULL; }

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void slots_free(kfk_t *k)
{
    for (size_t i = 0; i < k->nslots; i++) {
        kslot_t *s = k->slots[i];
        rw_slot_t *u = s->user;
        for (size_t j = 0; u && j < u->n; j++)
            free(u->ids[j].id);
        if (u)
            free(u->ids);
        free(u);
        free(s->topic);
        free(s->key);
        free(s);
    }
    k->nslots = 0;
}

void kfk_rewind_destroy(kfk_rewind_t *r)
{
    if (!r)
        return;
    if (r->k) {
        slots_free(r->k);
        kfk_destroy(r->k);
    }
    free(r->parts);
    free(r);
}

/* The slot with key, added if new.  Its index, or -1 (out of memory). */
static long slot_get(kfk_t *k, const char *topic, int32_t partition)
{
    char key[512];
    kfk_slot_key(k, topic, partition, key, sizeof key);
    for (size_t i = 0; i < k->nslots; i++)
        if (strcmp(k->slots[i]->key, key) == 0)
            return (long)i;
    if (k->nslots == k->capslots) {
        size_t c = k->capslots ? 2 * k->capslots : 16;
        kslot_t **n = realloc(k->slots, c * sizeof(*n));
        if (!n)
            return -1;
        k->slots = n;
        k->capslots = c;
    }
    kslot_t *s = calloc(1, sizeof(*s));
    rw_slot_t *u = calloc(1, sizeof(*u));
    if (!s || !u || !(s->key = strdup(key)) || (!k->copart && !(s->topic = strdup(topic)))) {
        if (s)
            free(s->key);
        free(s);
        free(u);
        return -1;
    }
    s->partition = partition;
    s->cl_part = kfk_cl_partition(k, topic, partition);
    s->user = u;
    k->slots[k->nslots++] = s;
    return (long)k->nslots - 1;
}

kfk_rewind_t *kfk_rewind_new(const wd_config_t *cfg, const char *const *topics, size_t ntopics,
                             const char *group, const char *changelog, const char *txn_id,
                             char *errstr, size_t n)
{
    kfk_rewind_t *r = calloc(1, sizeof(*r));
    kfk_t *k = r ? calloc(1, sizeof(*k)) : NULL;
    if (!k) {
        free(r);
        snprintf(errstr, n, "out of memory");
        return NULL;
    }
    r->k = k;
    k->cfg = cfg;
    k->o.group = dup_s(group);
    k->o.txn_id = dup_s(txn_id);
    k->o.changelog = dup_s(changelog);
    k->o.client_id = dup_s("warden-rewind");
    k->tp_names = calloc(ntopics + 1, sizeof(char *));
    k->tp_base = calloc(ntopics + 1, sizeof(int32_t));
    if (!k->o.group || !k->o.txn_id || !k->o.changelog || !k->o.client_id || !k->tp_names ||
        !k->tp_base) {
        snprintf(errstr, n, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < ntopics; i++)
        if (!(k->tp_names[k->ntp++] = strdup(topics[i]))) {
            snprintf(errstr, n, "out of memory");
            goto fail;
        }
    qsort(k->tp_names, k->ntp, sizeof(char *), cmp_name);

    rd_kafka_conf_t *pc = kfk_conf_producer(k, errstr, n);
    if (!pc)
        goto fail;
    if (!(k->p = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, n))) {
        rd_kafka_conf_destroy(pc);
        goto fail;
    }
    for (size_t i = 0; i < k->ntp; i++)
        if (kfk_partitions(k, k->tp_names[i]) <= 0) {
            snprintf(errstr, n, "input topic %s: not found", k->tp_names[i]);
            goto fail;
        }
    kfk_layout(k);
    k->cl_parts = kfk_partitions(k, changelog);
    if (k->cl_parts <= 0) {
        snprintf(errstr, n, "changelog topic %s: not found (has warden run ever run with this config?)",
                 changelog);
        goto fail;
    }
    /* The consumer never subscribes: committed offsets and admin calls. */
    rd_kafka_conf_t *cc = kfk_conf_consumer(k, errstr, n);
    if (!cc)
        goto fail;
    if (!(k->c = rd_kafka_new(RD_KAFKA_CONSUMER, cc, errstr, n))) {
        rd_kafka_conf_destroy(cc);
        goto fail;
    }
    rd_kafka_conf_t *rc = kfk_conf_restorer(k, errstr, n);
    if (!rc)
        goto fail;
    if (!(k->restorer = rd_kafka_new(RD_KAFKA_CONSUMER, rc, errstr, n))) {
        rd_kafka_conf_destroy(rc);
        goto fail;
    }
    /* The parts, topic by topic (sorted), partition by partition. */
    for (size_t i = 0; i < k->ntp; i++) {
        int np = kfk_partitions(k, k->tp_names[i]);
        rw_part_t *p = realloc(r->parts, (r->nparts + (size_t)np) * sizeof(*p));
        if (!p) {
            snprintf(errstr, n, "out of memory");
            goto fail;
        }
        r->parts = p;
        for (int32_t j = 0; j < np; j++) {
            long s = slot_get(k, k->tp_names[i], j);
            if (s < 0) {
                snprintf(errstr, n, "out of memory");
                goto fail;
            }
            r->parts[r->nparts++] = (rw_part_t){ k->tp_names[i], j, (size_t)s, -1 };
        }
    }
    return r;
fail:
    kfk_rewind_destroy(r);
    return NULL;
}

int kfk_rewind_members(kfk_rewind_t *r, char *state, size_t state_size, char *errstr, size_t n)
{
    kfk_t *k = r->k;
    char e[512];
    const char *groups[1] = { k->o.group };
    rd_kafka_queue_t *q = rd_kafka_queue_new(k->c);
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(k->c, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
    rd_kafka_AdminOptions_set_request_timeout(ao, RW_TIMEOUT_MS, e, sizeof e);
    rd_kafka_DescribeConsumerGroups(k->c, groups, 1, ao, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 2 * RW_TIMEOUT_MS);
    int rc = -1;
    snprintf(state, state_size, "Unknown");
    if (!ev) {
        snprintf(errstr, n, "describe group %s: no answer in %d s", k->o.group, 2 * RW_TIMEOUT_MS / 1000);
    } else if (rd_kafka_event_error(ev)) {
        snprintf(errstr, n, "describe group %s: %s", k->o.group, rd_kafka_event_error_string(ev));
    } else {
        size_t cnt = 0;
        const rd_kafka_ConsumerGroupDescription_t **g =
            rd_kafka_DescribeConsumerGroups_result_groups(rd_kafka_event_DescribeConsumerGroups_result(ev),
                                                          &cnt);
        const rd_kafka_error_t *ge = cnt == 1 ? rd_kafka_ConsumerGroupDescription_error(g[0]) : NULL;
        if (cnt != 1) {
            snprintf(errstr, n, "describe group %s: %zu results", k->o.group, cnt);
        } else if (ge && rd_kafka_error_code(ge) == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) {
            snprintf(state, state_size, "Dead");
            rc = 0;
        } else if (ge) {
            snprintf(errstr, n, "describe group %s: %s", k->o.group, rd_kafka_error_string(ge));
        } else {
            rd_kafka_consumer_group_state_t st = rd_kafka_ConsumerGroupDescription_state(g[0]);
            snprintf(state, state_size, "%s", rd_kafka_consumer_group_state_name(st));
            size_t m = rd_kafka_ConsumerGroupDescription_member_count(g[0]);
            /* A group rebalancing may list no members yet: not idle. */
            rc = m > 0 ? (int)m
                 : st == RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY || st == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD ? 0 : 1;
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_queue_destroy(q);
    return rc;
}

size_t kfk_rewind_nparts(const kfk_rewind_t *r) { return r->nparts; }

void kfk_rewind_part(const kfk_rewind_t *r, size_t i, const char **topic, int32_t *partition,
                     size_t *slot, int64_t *committed)
{
    const rw_part_t *p = &r->parts[i];
    if (topic)
        *topic = p->topic;
    if (partition)
        *partition = p->partition;
    if (slot)
        *slot = p->slot;
    if (committed)
        *committed = p->committed;
}

int kfk_rewind_committed(kfk_rewind_t *r, char *errstr, size_t n)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)r->nparts);
    for (size_t i = 0; i < r->nparts; i++)
        rd_kafka_topic_partition_list_add(l, r->parts[i].topic, r->parts[i].partition);
    rd_kafka_resp_err_t e = rd_kafka_committed(r->k->c, l, 2 * RW_TIMEOUT_MS);
    int rc = 0;
    if (e) {
        snprintf(errstr, n, "committed offsets of group %s: %s", r->k->o.group, rd_kafka_err2str(e));
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < r->nparts; i++) {
        const rd_kafka_topic_partition_t *tp =
            rd_kafka_topic_partition_list_find(l, r->parts[i].topic, r->parts[i].partition);
        if (tp && tp->err) {
            snprintf(errstr, n, "committed offset of %s/%d: %s", tp->topic, (int)tp->partition,
                     rd_kafka_err2str(tp->err));
            rc = -1;
        } else {
            r->parts[i].committed = tp && tp->offset >= 0 ? tp->offset : -1;
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

size_t kfk_rewind_nslots(const kfk_rewind_t *r) { return r->k->nslots; }
const char *kfk_rewind_slot_key(const kfk_rewind_t *r, size_t i) { return r->k->slots[i]->key; }
int32_t kfk_rewind_slot_cl_part(const kfk_rewind_t *r, size_t i) { return r->k->slots[i]->cl_part; }

long kfk_rewind_slot_of(const kfk_rewind_t *r, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < r->nparts; i++)
        if (r->parts[i].partition == partition && strcmp(r->parts[i].topic, topic) == 0)
            return (long)r->parts[i].slot;
    return -1;
}

uint64_t kfk_rewind_slot_live(const kfk_rewind_t *r, size_t i)
{
    const rw_slot_t *u = r->k->slots[i]->user;
    return u->live + (uint64_t)u->snapshot;
}

/* One changelog record: noted under the slot whose key it carries. */
static int note_record(kfk_t *k, const rd_kafka_message_t *m, uint64_t seq)
{
    const char *key = m->key;
    for (size_t i = 0; i < k->nslots; i++) {
        kslot_t *s = k->slots[i];
        size_t sl = strlen(s->key);
        if (s->cl_part != m->partition || m->key_len < sl || memcmp(key, s->key, sl) != 0)
            continue;
        rw_slot_t *u = s->user;
        if (m->key_len == sl) {
            u->snapshot = m->payload != NULL;
            return 0;
        }
        if (key[sl] != '\0')
            continue;   /* another slot whose key starts the same ("t/1" and "t/10") */
        if (u->n == u->cap) {
            size_t c = u->cap ? 2 * u->cap : 256;
            rw_id_t *ni = realloc(u->ids, c * sizeof(*ni));
            if (!ni)
                return -1;
            u->ids = ni;
            u->cap = c;
        }
        rw_id_t *d = &u->ids[u->n];
        d->len = m->key_len - sl - 1;
        if (!(d->id = malloc(d->len ? d->len : 1)))
            return -1;
        memcpy(d->id, key + sl + 1, d->len);
        d->seq = seq;
        d->live = m->payload != NULL;
        u->n++;
        return 0;
    }
    return 0;
}

static int cmp_id(const void *a, const void *b)
{
    const rw_id_t *x = a, *y = b;
    size_t l = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->id, y->id, l);
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Keeps each id's newest record only, and only if it is a value. */
static void keep_live(rw_slot_t *u)
{
    if (u->n)
        qsort(u->ids, u->n, sizeof(*u->ids), cmp_id);
    size_t w = 0;
    for (size_t i = 0; i < u->n; i++) {
        int last = i + 1 == u->n || u->ids[i + 1].len != u->ids[i].len ||
                   memcmp(u->ids[i + 1].id, u->ids[i].id, u->ids[i].len) != 0;
        if (last && u->ids[i].live)
            u->ids[w++] = u->ids[i];
        else
            free(u->ids[i].id);
    }
    u->n = w;
    u->live = w;
}

int kfk_rewind_read_changelog(kfk_rewind_t *r, char *errstr, size_t n)
{
    kfk_t *k = r->k;
    rd_kafka_topic_partition_list_t *a = rd_kafka_topic_partition_list_new((int)k->nslots);
    int want = 0, rc = 0;
    for (size_t i = 0; i < k->nslots && rc == 0; i++) {
        int32_t cp = k->slots[i]->cl_part;
        if (rd_kafka_topic_partition_list_find(a, k->o.changelog, cp))
            continue;
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(k->restorer, k->o.changelog, cp, &lo, &hi, RW_TIMEOUT_MS);
        if (e) {
            snprintf(errstr, n, "watermarks of %s [%d]: %s", k->o.changelog, (int)cp, rd_kafka_err2str(e));
            rc = -1;
        } else if (hi > lo) {
            rd_kafka_topic_partition_list_add(a, k->o.changelog, cp)->offset = RD_KAFKA_OFFSET_BEGINNING;
            want++;
        }
    }
    if (rc == 0 && want > 0) {
        rd_kafka_assign(k->restorer, a);
        int eofs = 0;
        uint64_t seq = 0, last = wd_now_ns();
        while (eofs < want && rc == 0) {
            if (wd_now_ns() - last > (uint64_t)KFK_RESTORE_STALL_S * 1000000000ull) {
                snprintf(errstr, n, "reading %s made no progress for %d s (a transaction pending on it?)",
                         k->o.changelog, KFK_RESTORE_STALL_S);
                rc = -1;
                break;
            }
            rd_kafka_message_t *m = rd_kafka_consumer_poll(k->restorer, 200);
            if (!m)
                continue;
            last = wd_now_ns();
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
                eofs++;
            else if (m->err)
                LOG_WARN("rewind: %s: %s", k->o.changelog, rd_kafka_message_errstr(m));
            else if (m->key && note_record(k, m, seq++) != 0) {
                snprintf(errstr, n, "out of memory");
                rc = -1;
            }
            rd_kafka_message_destroy(m);
        }
        rd_kafka_assign(k->restorer, NULL);
    }
    rd_kafka_topic_partition_list_destroy(a);
    for (size_t i = 0; rc == 0 && i < k->nslots; i++)
        keep_live(k->slots[i]->user);
    return rc;
}

/* Aborts the open transaction after an error (errstr already says why). */
static void abort_txn(kfk_t *k)
{
    rd_kafka_error_t *e = rd_kafka_abort_transaction(k->p, 30000);
    if (e) {
        LOG_WARN("rewind: abort_transaction: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
}

/* -2 when the group refused the offsets for having members, else -1. */
static int txn_failed(kfk_t *k, rd_kafka_error_t *e, const char *what, char *errstr, size_t n)
{
    snprintf(errstr, n, "%s: %s", what, rd_kafka_error_string(e));
    rd_kafka_resp_err_t code = rd_kafka_error_code(e);
    int abortable = rd_kafka_error_txn_requires_abort(e) || !rd_kafka_error_is_fatal(e);
    rd_kafka_error_destroy(e);
    if (abortable)
        abort_txn(k);
    return code == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID || code == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
           code == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS ? -2 : -1;
}

int kfk_rewind_commit(kfk_rewind_t *r, const int64_t *offsets, kfk_rewind_fill_fn fill, void *ud,
                      kfk_rewind_result_t *res, char *errstr, size_t n)
{
    kfk_t *k = r->k;
    memset(res, 0, sizeof(*res));
    if (kfk_txn_init(k, 60, errstr, n) != 0)
        return -1;
    rd_kafka_error_t *e = rd_kafka_begin_transaction(k->p);
    if (e) {
        snprintf(errstr, n, "begin_transaction: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        return -1;
    }
    for (size_t i = 0; i < k->nslots; i++) {
        kslot_t *s = k->slots[i];
        rw_slot_t *u = s->user;
        kfk_changelog_t cl = { k, s, WD_BUF_INIT };
        kfk_rc_t rc = KFK_OK;
        uint64_t t0 = k->st.tombstones;
        /* tombstones first, so compaction forgets the old entries … */
        for (size_t j = 0; rc == KFK_OK && j < u->n; j++)
            if (!(u->ids[j].len == 1 && u->ids[j].id[0] == 'K'))
                rc = kfk_changelog_put(&cl, u->ids[j].id, u->ids[j].len, NULL, 0);
        if (rc == KFK_OK && u->snapshot)
            rc = kfk_changelog_put(&cl, NULL, 0, NULL, 0);
        res->tombstones += k->st.tombstones - t0;
        /* … then the marker, then the state as of the new position */
        if (rc == KFK_OK)
            rc = kfk_changelog_put(&cl, "K", 1, NULL, 0);
        res->markers += rc == KFK_OK;
        uint64_t before = k->st.snapshots;
        char ferr[512] = "";
        if (rc == KFK_OK)
            rc = fill(ud, i, &cl, ferr, sizeof ferr);
        res->records += k->st.snapshots - before;
        wd_buf_free(&cl.key);
        if (rc != KFK_OK) {
            snprintf(errstr, n, "changelog of %s: %s", s->key, ferr[0] ? ferr : "producing a record failed");
            abort_txn(k);
            return -1;
        }
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)r->nparts);
    for (size_t i = 0; i < r->nparts; i++)
        rd_kafka_topic_partition_list_add(l, r->parts[i].topic, r->parts[i].partition)->offset = offsets[i];
    rd_kafka_consumer_group_metadata_t *gm = rd_kafka_consumer_group_metadata_new(k->o.group);
    e = rd_kafka_send_offsets_to_transaction(k->p, l, gm, 2 * RW_TIMEOUT_MS);
    rd_kafka_consumer_group_metadata_destroy(gm);
    rd_kafka_topic_partition_list_destroy(l);
    if (e)
        return txn_failed(k, e, "send_offsets_to_transaction", errstr, n);
    e = rd_kafka_commit_transaction(k->p, 6 * RW_TIMEOUT_MS);
    if (e)
        return txn_failed(k, e, "commit_transaction", errstr, n);
    return 0;
}

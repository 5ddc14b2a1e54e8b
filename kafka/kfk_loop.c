/* kafka/kfk_loop.c — the service loop: poll the consumer, hand each
 * message to the handler inside the open batch (or hold it for event-time
 * alignment), commit at batch_max messages or batch_ms, and act on what the
 * handler returns (kfk.h: KFK_OK, KFK_REDO, KFK_FATAL).  SIGTERM/SIGINT
 * finish the batch and leave the group; SIGHUP (between) and SIGUSR1
 * (report) reach the handler between batches. */
#include "kafka/kfk_int.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "base/wd_log.h"
#include "base/wd_lua.h"
#include "base/wd_util.h"

/* Signals are process-wide by nature: the only file-level state. */
static volatile sig_atomic_t sig_stop;
static volatile sig_atomic_t sig_hup;
static volatile sig_atomic_t sig_usr1;

/* SIGTERM/SIGINT: finish the batch and stop.  A rule evaluation still
 * running a second after (a normal one takes microseconds; one stuck in a
 * C call or under a disabled time limit does not end) is cut short; a
 * second signal cuts it at once (base/wd_lua.h). */
static void on_signal(int sig)
{
    if (sig == SIGHUP) {
        sig_hup = 1;
        return;
    }
    if (sig == SIGUSR1) {
        sig_usr1 = 1;
        return;
    }
    wd_lua_interrupt_in(sig_stop ? 0 : 1000);
    sig_stop = 1;
}

void kfk_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

void kfk_request_stop(void) { sig_stop = 1; }

int kfk_stop_requested(void) { return sig_stop != 0; }

void kfk_stop(kfk_t *k) { k->stopping = 1; }

/* With commits in flight the loop is seldom between batches: every
 * KFK_BETWEEN_MS (and at once for a signal or a stop) a batch commits in
 * full, so that the handler's between runs with nothing open. */
#define KFK_BETWEEN_MS 500

int kfk_between_due(const kfk_t *k)
{
    return sig_stop || sig_hup || sig_usr1 || k->stopping || k->fatal ||
           wd_now_ns() - k->last_between_ns >= (uint64_t)KFK_BETWEEN_MS * 1000000ull;
}

kfk_rc_t kfk_process(kfk_t *k, ktp_t *t, rd_kafka_message_t *m, uint64_t polled_ns)
{
    if (!k->open && k->inflight) {
        /* the commit before is in flight: this batch's outputs are held
         * until it is done and this batch's transaction begins */
        k->open = 1;
        k->pending = 1;
        k->nbatch = 0;
        k->batch_start_ns = wd_now_ns();
    } else if (!k->open && kfk_txn_begin(k) != KFK_OK) {
        rd_kafka_message_destroy(m);
        return KFK_FATAL;
    }
    if (!t->dirty) {
        t->dirty = 1;
        t->batch_first = m->offset;
    }
    t->slot->dirty = 1;
    k->poll_ns[k->nbatch++] = polled_ns;
    if (!k->st.first_ns)
        k->st.first_ns = polled_ns;
    if (k->o.max_events) {
        kfk_pos_t pos;
        int kind = k->o.merge ? kfk_pos_of(m, &pos) : KFK_POS_RECORD;
        if (kind != KFK_POS_WM && kind != KFK_POS_IDLE)
            k->events++;
    }
    kfk_rc_t rc = k->h.message(k->h.ud, k, m, t->slot->user);
    t->next = m->offset + 1;
    k->st.consumed++;
    if (rc == KFK_REDO && !k->fatal) {
        /* The batch (this message included) again from the last commit. */
        char why[512];
        snprintf(why, sizeof why, "the handler asked for a redo at %s [%d] offset %lld", t->topic,
                 (int)t->partition, (long long)m->offset);
        rd_kafka_message_destroy(m);
        return kfk_txn_redo(k, why) == KFK_FATAL ? KFK_FATAL : KFK_OK;
    }
    if (rc != KFK_OK)
        kfk_fatal(k, "the handler failed on %s [%d] offset %lld", t->topic, (int)t->partition,
                  (long long)m->offset);
    rd_kafka_message_destroy(m);
    if (rc != KFK_OK)
        return KFK_FATAL;
    if (k->o.max_events && k->events >= k->o.max_events)
        k->stopping = 1;   /* --max-events: finish like SIGTERM */
    if ((long)k->nbatch >= k->o.batch_max && kfk_txn_commit(k) == KFK_FATAL)
        return KFK_FATAL;
    return KFK_OK;
}

/* Is a slot idle: merge, every upstream's last word is "idle"; else every
 * partition of it caught up for idle_ms with nothing held. */
static int slot_idle(const kfk_t *k, const kslot_t *sl, uint64_t now)
{
    if (k->o.merge)
        return kfk_merge_idle(k, sl);
    int any = 0;
    for (size_t i = 0; i < k->ntps; i++) {
        const ktp_t *t = k->tps[i];
        if (t->slot != sl)
            continue;
        any = 1;
        if (!t->eof || t->qlen > 0 || now - t->eof_ns < (uint64_t)k->o.idle_ms * 1000000ull)
            return 0;
    }
    return any;
}

/* The handler's tick: one transaction, every slot in it (watermarks).  A
 * tick that cannot commit is dropped; the next one says the same again. */
kfk_rc_t kfk_tick(kfk_t *k)
{
    uint64_t now = wd_now_ns();
    k->last_tick_ns = now;
    if (k->nslots == 0)
        return KFK_OK;
    if (kfk_txn_begin(k) != KFK_OK)
        return KFK_FATAL;
    for (size_t i = 0; i < k->nslots && !k->fatal; i++) {
        kfk_rc_t rc = k->h.tick(k->h.ud, k, k->slots[i]->user, slot_idle(k, k->slots[i], now));
        if (rc == KFK_REDO)
            return kfk_txn_redo(k, "a tick's produce found the transaction failed") == KFK_FATAL ? KFK_FATAL
                                                                                                : KFK_OK;
        if (rc != KFK_OK) {
            kfk_fatal(k, "the handler's tick failed");
            return KFK_FATAL;
        }
    }
    return kfk_txn_commit(k) == KFK_FATAL ? KFK_FATAL : KFK_OK;
}

/* The next message (or error event) of the consumer within timeout ms,
 * or NULL.  Messages are taken up to KFK_MBUF at a time: one lock of the
 * consumer's queue and one poll-interval update per call, not per message
 * (bench/kafka: W1).
 * A rebalance callback yields the call (kfk_slots.c), so the messages
 * taken in a call were all delivered before any rebalance it served; a
 * seek drops the taken messages of the partitions it moves
 * (kfk_mbuf_drop), as librdkafka drops the ones it still holds. */
static rd_kafka_message_t *next_message(kfk_t *k, int timeout)
{
    if (k->mpos == k->mn) {
        k->mpos = k->mn = 0;
        if (!k->cq && !(k->cq = rd_kafka_queue_get_consumer(k->c)))
            return rd_kafka_consumer_poll(k->c, timeout);
        /* what is there now; else wait for one (a call waits until its
         * array is full or the time is up) */
        ssize_t got = rd_kafka_consume_batch_queue(k->cq, 0, k->mbuf, KFK_MBUF);
        if (got == 0 && timeout > 0)
            got = rd_kafka_consume_batch_queue(k->cq, timeout, k->mbuf, 1);
        if (got <= 0)
            return NULL;
        k->mn = (size_t)got;
    }
    return k->mbuf[k->mpos++];
}

void kfk_mbuf_drop(kfk_t *k, const ktp_t *t)
{
    size_t w = k->mpos;
    for (size_t i = k->mpos; i < k->mn; i++) {
        rd_kafka_message_t *m = k->mbuf[i];
        if (t == NULL ||
            (m->rkt && m->partition == t->partition && strcmp(rd_kafka_topic_name(m->rkt), t->topic) == 0))
            rd_kafka_message_destroy(m);
        else
            k->mbuf[w++] = m;
    }
    k->mn = w;
}

void kfk_consumer_release(kfk_t *k)
{
    kfk_mbuf_drop(k, NULL);
    k->mpos = k->mn = 0;
    if (k->cq)
        rd_kafka_queue_destroy(k->cq);
    k->cq = NULL;
}

int kfk_run(kfk_t *k, char *errstr, size_t n)
{
    uint64_t batch_ns = (uint64_t)k->o.batch_ms * 1000000ull;
    uint64_t polls = 0;
    k->last_between_ns = wd_now_ns();
    while (!k->fatal) {
        if (k->inflight && kfk_txn_reap(k, 0) == KFK_FATAL)
            break;
        if (!k->open && k->inflight && (sig_stop || k->stopping)) {
            if (kfk_txn_reap(k, 1) == KFK_FATAL)
                break;
            continue;
        }
        if (!k->open && !k->inflight) {
            k->last_between_ns = wd_now_ns();
            if (sig_stop || k->stopping)
                break;
            if (k->h.between) {
                int flags = 0;
                if (sig_hup) {
                    sig_hup = 0;
                    flags |= KFK_IDLE_HUP;
                }
                k->h.between(k->h.ud, k, flags);
            }
            if (sig_usr1) {
                sig_usr1 = 0;
                kfk_report(k);
            }
        }
        int timeout = 100;
        if (k->mpos < k->mn) {
            timeout = 0;   /* a taken message is next: no wait, no clock read */
        } else if (k->open) {
            uint64_t el = wd_now_ns() - k->batch_start_ns;
            timeout = el >= batch_ns ? 0 : (int)((batch_ns - el) / 1000000ull);
            if (timeout > 100)
                timeout = 100;
        }
        if (k->align && k->held > 0 && timeout > 10)
            timeout = 10;
        if (k->inflight && timeout > 1)
            timeout = 1;   /* look for the commit's end often */
        rd_kafka_message_t *m = next_message(k, timeout);
        if (k->fatal) {   /* e.g. from a rebalance callback inside the poll */
            if (m)
                rd_kafka_message_destroy(m);
            break;
        }
        uint64_t now = wd_now_ns();
        if (m && m->err) {
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                ktp_t *t = m->rkt ? kfk_tp_find(k, rd_kafka_topic_name(m->rkt), m->partition) : NULL;
                if (t && !t->eof) {
                    t->eof = 1;
                    t->eof_ns = now;
                }
            } else if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
                char msg[512];
                rd_kafka_fatal_error(k->c, msg, sizeof msg);
                kfk_fatal(k, "consumer: %s", msg);
            } else {
                LOG_WARN("consume err=%s topic=%s msg=\"%s\"", rd_kafka_err2name(m->err),
                         m->rkt ? rd_kafka_topic_name(m->rkt) : "-", rd_kafka_message_errstr(m));
            }
            rd_kafka_message_destroy(m);
            m = NULL;
        }
        if (m) {
            ktp_t *t = kfk_tp_find(k, rd_kafka_topic_name(m->rkt), m->partition);
            if (!t) {
                /* Not assigned (any more): a stale message; skip it. */
                rd_kafka_message_destroy(m);
            } else if (k->align) {
                t->eof = 0;
                t->polled_next = m->offset + 1;
                if (kfk_q_push(k, t, m, now) != 0) {
                    rd_kafka_message_destroy(m);
                    kfk_fatal(k, "out of memory holding messages for alignment");
                    break;
                }
                k->held++;
                if (k->held > k->st.held_max)
                    k->st.held_max = k->held;
            } else {
                t->eof = 0;
                if (kfk_process(k, t, m, now) != KFK_OK)
                    break;
            }
            if ((++polls & 1023) == 0 && !k->inflight)
                rd_kafka_poll(k->p, 0);
        }
        if (k->align && k->held > 0 &&
            (k->o.merge ? kfk_merge_release(k) : kfk_align_release(k, 0)) != KFK_OK)
            break;
        if (!k->open && !k->inflight && k->h.tick && k->o.tick_ms > 0 && !sig_stop && !k->stopping &&
            wd_now_ns() - k->last_tick_ns >= (uint64_t)k->o.tick_ms * 1000000ull) {
            if (kfk_tick(k) != KFK_OK)
                break;
        }
        /* due by the time read after the poll (a batch begun since then
         * is not due) */
        if (k->open && ((now > k->batch_start_ns && now - k->batch_start_ns >= batch_ns) || sig_stop ||
                        k->stopping)) {
            if (kfk_txn_commit(k) == KFK_FATAL)
                break;
        }
    }
    if (!k->fatal && (k->open || k->inflight))
        kfk_txn_drain(k);
    if (k->fatal) {
        kfk_txn_abandon(k);
        kfk_consumer_release(k);
        snprintf(errstr, n, "%s", k->fatal_msg);
        return -1;
    }
    /* Leave the group now (revoke callback, no open batch); messages still
     * held were not processed and come again to the next owner. */
    for (size_t i = 0; i < k->ntps; i++)
        kfk_q_clear(k, k->tps[i]);
    kfk_consumer_release(k);
    rd_kafka_consumer_close(k->c);
    rd_kafka_destroy(k->c);
    k->c = NULL;
    if (k->fatal) {
        snprintf(errstr, n, "%s", k->fatal_msg);
        return -1;
    }
    return 0;
}


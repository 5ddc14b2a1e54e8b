/* warden rewind: moves the live consumer group back (or forward) to a time
 * for re-enforcement after an incident, with its state made consistent
 * with the new position.  Per input partition the new offset is the first
 * message at or after TIME (offsets-for-times; the end when there is none).
 * Per state slot the counters and labels as of that offset are rebuilt from
 * the warm-up window [TIME − warmup, TIME) of the slot's input through the
 * live pack (replay/rpl_rewind.h); then one Kafka transaction writes, per
 * slot, a tombstone for every record the changelog holds, the reset marker
 * (the clock's tombstone: restore starts the slot empty there) and the
 * rebuilt records, and sets the group's offsets (kafka/kfk_rewind.h).
 * Refused while the group has active members.  docs/replay.md, "Rewind". */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/wd_buf.h"
#include "base/wd_config.h"
#include "base/wd_log.h"
#include "base/wd_lua.h"
#include "base/wd_util.h"
#include "cmd/cmd.h"
#include "cmd/cmd_kafka.h"
#include "engine/eng_engine.h"
#include "kafka/kfk_rewind.h"
#include "replay/rpl_kafka.h"
#include "replay/rpl_replay.h"
#include "replay/rpl_rewind.h"
#include "state/state.h"

static void rewind_usage(FILE *f)
{
    fprintf(f,
        "usage: warden rewind -c warden.lua --to TIME [--dry-run] [--json] [--warmup DURATION]\n"
        "Moves the consumer group of warden run (run.group) to TIME for re-enforcement after\n"
        "an incident, and makes the state consistent with the new position: every state\n"
        "slot is rebuilt from its input in [TIME - warmup, TIME) and written to the changelog\n"
        "behind a reset marker, in the same Kafka transaction as the new offsets.  After it,\n"
        "warden run decides every event from TIME on as a fresh run would with that warm-up.\n\n"
        "  -c, --config FILE      the warden run configuration (topics, group, changelog, rules)\n"
        "      --to TIME          RFC 3339, epoch ms, \"now\", \"-24h\" (as warden replay)\n"
        "      --warmup DURATION  the rebuilt window (default: the longest counter window of\n"
        "                         the pack, as warden replay)\n"
        "      --dry-run          print the old and new offsets and what would be written;\n"
        "                         change nothing\n"
        "      --json             the same as one JSON object on stdout\n"
        "  -q, --quiet            no summary on stderr\n"
        "  -h, --help             this help\n\n"
        "Refused (exit 6, nothing changed) while the group has active members: stop every\n"
        "warden run of the group first.\n"
        "Exit status: 0 done (or dry run), 1 config, pack or Kafka error before any change,\n"
        "2 usage error, 4 the transaction failed (nothing changed), 5 stopped by a signal\n"
        "(nothing changed), 6 the group has active members.\n");
}

static volatile sig_atomic_t g_stop;
static void on_signal(int sig)
{
    (void)sig;
    wd_lua_interrupt_in(g_stop ? 0 : 1000);
    g_stop = 1;
}

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static long slot_of(void *ud, const char *topic, int32_t partition)
{
    return kfk_rewind_slot_of(ud, topic, partition);
}

static int count_record(void *ud, const void *id, size_t idlen, const void *val, size_t vlen)
{
    (void)id;
    (void)idlen;
    (void)val;
    (void)vlen;
    (*(uint64_t *)ud)++;
    return 0;
}

static int put_record(void *ud, const void *id, size_t idlen, const void *val, size_t vlen)
{
    kfk_rc_t rc = kfk_changelog_put(ud, id, idlen, val, vlen);
    return rc == KFK_OK ? 0 : 1;
}

static kfk_rc_t fill_slot(void *ud, size_t slot, kfk_changelog_t *cl, char *errstr, size_t n)
{
    state_t **states = ud;
    int rc = state_log_changes(states[slot], put_record, cl);
    if (rc != 0) {
        snprintf(errstr, n, "%s", rc == 1 ? "producing a changelog record failed" : state_strerror(rc));
        return KFK_FATAL;
    }
    return KFK_OK;
}

static void json_str(wd_buf_t *b, const char *s) { wd_buf_json_str(b, s, strlen(s)); }

static void json_offset(wd_buf_t *b, int64_t o)
{
    if (o < 0)
        wd_buf_adds(b, "null");
    else
        wd_buf_printf(b, "%" PRId64, o);
}

int cmd_rewind(int argc, char **argv)
{
    static const struct option lopts[] = {
        { "config", required_argument, NULL, 'c' },  { "to", required_argument, NULL, 1201 },
        { "warmup", required_argument, NULL, 1202 }, { "dry-run", no_argument, NULL, 1203 },
        { "json", no_argument, NULL, 1204 },         { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },          { NULL, 0, NULL, 0 },
    };
    const char *config = NULL, *to = NULL, *warmup = NULL;
    int dry = 0, json = 0, quiet = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:qh", lopts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 1201: to = optarg; break;
        case 1202: warmup = optarg; break;
        case 1203: dry = 1; break;
        case 1204: json = 1; break;
        case 'q': quiet = 1; break;
        case 'h': rewind_usage(stdout); return CMD_EXIT_OK;
        default: rewind_usage(stderr); return CMD_EXIT_USAGE;
        }
    }
#define USAGE(...) do { fprintf(stderr, "warden rewind: " __VA_ARGS__); fputc('\n', stderr); \
                        return CMD_EXIT_USAGE; } while (0)
    if (optind < argc)
        USAGE("unexpected argument '%s' (see --help)", argv[optind]);
    if (!config)
        USAGE("give -c warden.lua (the configuration of the warden run to rewind)");
    if (!to)
        USAGE("give --to TIME");
    int64_t now = now_ms(), to_ms, warmup_ms = -1;
    if (rpl_parse_time(to, now, &to_ms) != 0)
        USAGE("--to: '%s' is not RFC 3339, epoch ms, now or -DURATION", to);
    if (warmup && rpl_parse_warmup(warmup, &warmup_ms) != 0)
        USAGE("--warmup: '%s' is not a duration (\"0\", \"30m\", \"7d\" …)", warmup);
#undef USAGE

    static char err[65536];
    int status = CMD_EXIT_LOAD;
    wd_config_t *cfg = NULL;
    eng_engine_t *eng = NULL;
    kfk_rewind_t *kr = NULL;
    rpl_kafka_t *in = NULL;
    state_t **states = NULL;
    int64_t *offsets = NULL;
    uint64_t *records = NULL;
    size_t nslots = 0;
    wd_buf_t out = WD_BUF_INIT;
    if (!(cfg = wd_config_load(config, WD_CONFIG_NEED_KAFKA, err, sizeof err))) {
        fprintf(stderr, "%s\nwarden rewind: the config failed to load\n", err);
        goto done;
    }
    eng_opts_t eo;
    eng_opts_default(&eo);
    cmd_engine_opts(cfg, &eo);
    const char *rules = wd_config_str(cfg, "rules");
    if (!(eng = eng_engine_new(&eo, rules, err, sizeof err))) {
        fprintf(stderr, "warden rewind: the rule pack in %s failed to load:\n%s", rules, err);
        goto done;
    }
    if (warmup_ms < 0)
        warmup_ms = rpl_longest_window(eng);
    int64_t start_ms = to_ms - warmup_ms;
    const char *const *topics;
    size_t ntopics = wd_config_list(cfg, "run.topics", &topics);
    if (ntopics == 0) {
        fprintf(stderr, "warden rewind: %s: no input topics (set streams.topics or run.topics)\n",
                wd_config_path(cfg));
        goto done;
    }
    const char *group = wd_config_str(cfg, "run.group");
    const char *changelog = wd_config_str(cfg, "run.changelog_topic");
    char txn[512];
    snprintf(txn, sizeof txn, "%s.rewind", group);
    if (!(kr = kfk_rewind_new(cfg, topics, ntopics, group, changelog, txn, err, sizeof err))) {
        fprintf(stderr, "warden rewind: %s\n", err);
        goto done;
    }
    char gstate[64];
    int members = kfk_rewind_members(kr, gstate, sizeof gstate, err, sizeof err);
    if (members < 0) {
        fprintf(stderr, "warden rewind: %s\n", err);
        goto done;
    }
    if (members > 0) {
        fprintf(stderr, "warden rewind: group %s has %d active member%s (state %s): stop every warden run "
                "of the group first; nothing was changed\n", group, members, members == 1 ? "" : "s", gstate);
        status = CMD_EXIT_BUSY;
        goto done;
    }
    if (kfk_rewind_committed(kr, err, sizeof err) != 0) {
        fprintf(stderr, "warden rewind: %s\n", err);
        goto done;
    }

    /* The state as of TIME, slot by slot. */
    nslots = kfk_rewind_nslots(kr);
    states = calloc(nslots + 1, sizeof(*states));
    records = calloc(nslots + 1, sizeof(*records));
    offsets = calloc(kfk_rewind_nparts(kr) + 1, sizeof(*offsets));
    if (!states || !records || !offsets) {
        fprintf(stderr, "warden rewind: out of memory\n");
        goto done;
    }
    for (size_t i = 0; i < nslots; i++)
        if (!(states[i] = state_new_like(eng_engine_state(eng))) || state_log_track(states[i], 1) != 0) {
            fprintf(stderr, "warden rewind: out of memory\n");
            goto done;
        }
    if (!(in = rpl_kafka_open(cfg, topics, ntopics, start_ms, to_ms, eo.ts_field, err, sizeof err))) {
        fprintf(stderr, "warden rewind: %s\n", err);
        goto done;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    uint64_t t0 = wd_now_ns();
    rpl_rebuild_counts_t rb;
    int r = rpl_rebuild(in, eng, &eo, start_ms, states, nslots, slot_of, kr, &g_stop, &rb, err, sizeof err);
    double rebuild_s = (double)(wd_now_ns() - t0) / 1e9;
    if (r != 0) {
        if (r > 0)
            fprintf(stderr, "warden rewind: stopped by a signal while rebuilding the state; nothing was changed\n");
        else
            fprintf(stderr, "warden rewind: rebuilding the state: %s\n", err);
        status = r > 0 ? CMD_EXIT_PARTIAL : CMD_EXIT_LOAD;
        goto done;
    }
    for (size_t i = 0; i < kfk_rewind_nparts(kr); i++) {
        const char *topic;
        int32_t part;
        int64_t s, e;
        kfk_rewind_part(kr, i, &topic, &part, NULL, NULL);
        if (rpl_kafka_range(in, topic, part, &s, &e) != 0) {
            fprintf(stderr, "warden rewind: %s/%d: no offset for the time\n", topic, (int)part);
            goto done;
        }
        offsets[i] = e;
        int64_t old;
        kfk_rewind_part(kr, i, NULL, NULL, NULL, &old);
        if (old >= 0 && e > old)
            fprintf(stderr, "warden rewind: warning: %s/%d moves forward (%" PRId64 " -> %" PRId64 "): the %" PRId64
                    " records between are never evaluated\n", topic, (int)part, old, e, e - old);
    }
    for (size_t i = 0; i < nslots; i++)
        if (state_log_changes(states[i], count_record, &records[i]) != 0) {
            fprintf(stderr, "warden rewind: slot %s: the rebuilt state's records: %s\n",
                    kfk_rewind_slot_key(kr, i), state_strerror(STATE_ENOMEM));
            goto done;
        }
    if (kfk_rewind_read_changelog(kr, err, sizeof err) != 0) {
        fprintf(stderr, "warden rewind: changelog %s: %s\n", changelog, err);
        goto done;
    }

    kfk_rewind_result_t res = { 0, 0, 0 };
    if (!dry) {
        /* Once more just before: a member that joined during the rebuild
         * is refused here (not atomic with the commit: docs/operations.md). */
        members = kfk_rewind_members(kr, gstate, sizeof gstate, err, sizeof err);
        if (members != 0) {
            if (members < 0)
                fprintf(stderr, "warden rewind: %s\n", err);
            else
                fprintf(stderr, "warden rewind: group %s got %d active member%s (state %s) during the "
                        "rebuild; nothing was changed\n", group, members, members == 1 ? "" : "s", gstate);
            status = members < 0 ? CMD_EXIT_LOAD : CMD_EXIT_BUSY;
            goto done;
        }
        int crc = kfk_rewind_commit(kr, offsets, fill_slot, states, &res, err, sizeof err);
        if (crc != 0) {
            fprintf(stderr, "warden rewind: %s%s; nothing was changed\n", err,
                    crc == -2 ? " (the group got a member)" : "");
            status = crc == -2 ? CMD_EXIT_BUSY : CMD_EXIT_FATAL;
            goto done;
        }
    }

    /* The report: per partition old and new offsets, per slot the records. */
    if (json) {
        wd_buf_adds(&out, "{\"group\":");
        json_str(&out, group);
        wd_buf_adds(&out, ",\"changelog\":");
        json_str(&out, changelog);
        wd_buf_printf(&out, ",\"to_ms\":%" PRId64 ",\"to\":\"", to_ms);
        wd_buf_rfc3339(&out, to_ms);
        wd_buf_printf(&out, "\",\"warmup_ms\":%" PRId64 ",\"dry_run\":%s,\"group_state\":", warmup_ms,
                      dry ? "true" : "false");
        json_str(&out, gstate);
        wd_buf_adds(&out, ",\"partitions\":[");
        for (size_t i = 0; i < kfk_rewind_nparts(kr); i++) {
            const char *topic;
            int32_t part;
            size_t slot;
            int64_t old;
            kfk_rewind_part(kr, i, &topic, &part, &slot, &old);
            wd_buf_adds(&out, i ? ",{\"topic\":" : "{\"topic\":");
            json_str(&out, topic);
            wd_buf_printf(&out, ",\"partition\":%d,\"slot\":", (int)part);
            json_str(&out, kfk_rewind_slot_key(kr, slot));
            wd_buf_adds(&out, ",\"old\":");
            json_offset(&out, old);
            wd_buf_printf(&out, ",\"new\":%" PRId64 "}", offsets[i]);
        }
        wd_buf_adds(&out, "],\"slots\":[");
        for (size_t i = 0; i < nslots; i++) {
            wd_buf_adds(&out, i ? ",{\"slot\":" : "{\"slot\":");
            json_str(&out, kfk_rewind_slot_key(kr, i));
            wd_buf_printf(&out, ",\"changelog_partition\":%d,\"records_before\":%" PRIu64
                          ",\"records_rebuilt\":%" PRIu64 "}",
                          (int)kfk_rewind_slot_cl_part(kr, i), kfk_rewind_slot_live(kr, i), records[i]);
        }
        wd_buf_printf(&out, "],\"warmup\":{\"read\":%" PRIu64 ",\"evaluated\":%" PRIu64 ",\"before\":%" PRIu64
                      ",\"rejected\":%" PRIu64 ",\"unrouted\":%" PRIu64 ",\"seconds\":%.3f}",
                      rb.read, rb.evaluated, rb.before, rb.rejected, rb.unrouted, rebuild_s);
        wd_buf_printf(&out, ",\"written\":{\"tombstones\":%" PRIu64 ",\"markers\":%" PRIu64
                      ",\"records\":%" PRIu64 "}}\n", res.tombstones, res.markers, res.records);
    } else {
        wd_buf_printf(&out, "%s group %s to ", dry ? "dry run: would rewind" : "rewound", group);
        wd_buf_rfc3339(&out, to_ms);
        wd_buf_printf(&out, " (warm-up %" PRId64 " s from ", warmup_ms / 1000);
        wd_buf_rfc3339(&out, start_ms);
        wd_buf_adds(&out, ")\n");
        wd_buf_printf(&out, "%-40s %10s %12s %12s\n", "partition", "slot", "old", "new");
        for (size_t i = 0; i < kfk_rewind_nparts(kr); i++) {
            const char *topic;
            int32_t part;
            size_t slot;
            int64_t old;
            kfk_rewind_part(kr, i, &topic, &part, &slot, &old);
            char tp[300], o[32];
            snprintf(tp, sizeof tp, "%s/%d", topic, (int)part);
            if (old < 0)
                snprintf(o, sizeof o, "-");
            else
                snprintf(o, sizeof o, "%" PRId64, old);
            wd_buf_printf(&out, "%-40s %10s %12s %12" PRId64 "\n", tp, kfk_rewind_slot_key(kr, slot), o,
                          offsets[i]);
        }
        for (size_t i = 0; i < nslots; i++)
            wd_buf_printf(&out, "slot %s (changelog partition %d): %" PRIu64 " records now, %" PRIu64
                          " rebuilt\n", kfk_rewind_slot_key(kr, i), (int)kfk_rewind_slot_cl_part(kr, i),
                          kfk_rewind_slot_live(kr, i), records[i]);
    }
    fwrite(out.data, 1, out.len, stdout);
    if (!quiet)
        fprintf(stderr, "warden rewind: warm-up: %" PRIu64 " events read, %" PRIu64 " evaluated, %" PRIu64
                " before the warm-up, %" PRIu64 " rejected in %.2f s; %s\n", rb.read, rb.evaluated, rb.before,
                rb.rejected, rebuild_s, dry ? "dry run: nothing changed" : "offsets and state committed");
    status = CMD_EXIT_OK;
done:
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    wd_buf_free(&out);
    for (size_t i = 0; states && i < nslots; i++)
        state_destroy(states[i]);
    free(states);
    free(records);
    free(offsets);
    rpl_kafka_close(in);
    kfk_rewind_destroy(kr);
    eng_engine_destroy(eng);
    wd_config_destroy(cfg);
    return status;
}

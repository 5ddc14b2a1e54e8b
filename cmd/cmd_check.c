/* warden check: loads and validates a rule pack, runs nothing.  For rule
 * repositories' own CI: exit 0 and a one-line summary, or every problem as
 * file:line: message and exit 1. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/cmd_ctx.h"
#include "cmd/cmd_repart.h"
#include "engine/eng_engine.h"

static void check_usage(FILE *f)
{
    fprintf(f, "usage: warden check [options] RULES_DIR\n"
               "Loads and validates the rule pack (rules, counters.lua, lists/) without\n"
               "running anything.  Exit 0 when it is valid, 1 with every problem listed.\n\n"
               "  --stream-field F, --id-field F, --ts-field F   as for warden eval\n"
               "  --guarantees [--entity-field F]  also print, for input over several partitions\n"
               "                 (warden run's repartitioned path), each stream's hops and per\n"
               "                 rule what is exact (docs/state.md)\n"
               "  -h, --help                                     this help\n");
}

int cmd_check(int argc, char **argv)
{
    static const struct option lopts[] = { CMD_ENGINE_LOPTS, { "help", no_argument, NULL, 'h' },
                                           { "guarantees", no_argument, NULL, 'G' },
                                           { "entity-field", required_argument, NULL, 'E' },
                                           { NULL, 0, NULL, 0 } };
    int guarantees = 0;
    const char *entity = "user.id";
    eng_opts_t opts;
    eng_opts_default(&opts);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
        int h = cmd_engine_opt(c, optarg, &opts);
        if (h < 0)
            return CMD_EXIT_USAGE;
        if (h)
            continue;
        if (c == 'G') {
            guarantees = 1;
            continue;
        }
        if (c == 'E') {
            entity = optarg;
            continue;
        }
        if (c == 'h') {
            check_usage(stdout);
            return CMD_EXIT_OK;
        }
        check_usage(stderr);
        return CMD_EXIT_USAGE;
    }
    if (optind != argc - 1) {
        check_usage(stderr);
        return CMD_EXIT_USAGE;
    }
    static char err[65536];
    cmd_ctx_t *ctx = cmd_ctx_new(&opts, argv[optind], err, sizeof(err));   /* no sink */
    if (ctx == NULL) {
        fprintf(stderr, "%s\nwarden check: %s is not a valid rule pack\n", err, argv[optind]);
        return CMD_EXIT_LOAD;
    }
    eng_engine_t *e = cmd_ctx_engine(ctx);
    const eng_rule_stats_t *st;
    size_t nrules = eng_engine_rule_stats(e, &st);
    const char *const *streams;
    size_t ns = eng_engine_streams(e, &streams);
    printf("warden check: %s: ok, %zu rules on %zu streams (", argv[optind], nrules, ns);
    for (size_t i = 0; i < ns; i++)
        printf("%s%s", i ? ", " : "", streams[i]);
    printf("), pack sha256 %.12s\n", eng_engine_pack_hash(e));
    cmd_rp_t *rp = NULL;
    if (guarantees && cmd_rp_plan_pack(e, entity, &rp) == 0 && rp) {
        cmd_rp_guarantees(rp, stdout);
        cmd_rp_destroy(rp);
    }
    cmd_ctx_destroy(ctx, NULL, 0);
    return CMD_EXIT_OK;
}

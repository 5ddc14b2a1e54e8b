/* cmd/cmd_test.c — `warden test`: finds the pack of the given rule files
 * (or takes RULES_DIR), loads it and runs every rule's tests with
 * engine/eng_test.h. */
#include <getopt.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd/cmd.h"
#include "cmd/cmd_ctx.h"
#include "engine/eng_engine.h"
#include "engine/eng_test.h"
#include "rules/rule_pack.h"

static void test_usage(FILE *f)
{
    fprintf(f, "usage: warden test [options] RULES_DIR | RULE_FILE...\n"
               "Runs the `tests` cases of every rule (or of the given rule files, with the\n"
               "pack they belong to).  Each case starts from fresh state.  Exit 0 when all\n"
               "pass, 1 when any fails or the pack does not load, 2 on usage errors.\n\n"
               "  -k, --filter TEXT   only rules whose name contains TEXT\n"
               "  -v, --verbose       list passing cases too\n"
               "  --stream-field F, --id-field F, --ts-field F, --budget N, --mem-mb N\n"
               "  -h, --help          this help\n");
}

/* The pack a rule file belongs to: the nearest directory upwards holding
 * counters.lua or lists/, else the file's own directory. */
static char *pack_of(const char *file)
{
    char *dir = strdup(file);
    if (dir == NULL)
        cmd_oom("a path");
    char *slash = strrchr(dir, '/');
    if (slash == NULL) {
        free(dir);
        return strdup(".");
    }
    *slash = '\0';
    char *probe = strdup(dir);
    for (;;) {
        char path[4200];
        struct stat st;
        snprintf(path, sizeof(path), "%s/counters.lua", probe);
        int found = stat(path, &st) == 0;
        snprintf(path, sizeof(path), "%s/lists", probe);
        found |= stat(path, &st) == 0 && S_ISDIR(st.st_mode);
        if (found) {
            free(dir);
            return probe;
        }
        char *s = strrchr(probe, '/');
        if (s == NULL)
            break;
        *s = '\0';
    }
    free(probe);
    return dir;
}

int cmd_test(int argc, char **argv)
{
    static const struct option lopts[] = {
        CMD_ENGINE_LOPTS, { "filter", required_argument, NULL, 'k' },
        { "verbose", no_argument, NULL, 'v' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
    };
    eng_opts_t opts;
    eng_opts_default(&opts);
    opts.strict_fields = 1;
    opts.run_off_rules = 1;   /* a rule is tested before it is switched on */
    const char *filter = NULL;
    eng_test_totals_t t = { 0 };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:vh", lopts, NULL)) != -1) {
        int h = cmd_engine_opt(c, optarg, &opts);
        if (h < 0)
            return CMD_EXIT_USAGE;
        if (h)
            continue;
        switch (c) {
        case 'k': filter = optarg; break;
        case 'v': t.verbose = 1; break;
        case 'h': test_usage(stdout); return CMD_EXIT_OK;
        default: test_usage(stderr); return CMD_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        test_usage(stderr);
        return CMD_EXIT_USAGE;
    }
    struct stat st;
    int is_dir = stat(argv[optind], &st) == 0 && S_ISDIR(st.st_mode);
    if (is_dir && optind != argc - 1) {
        fprintf(stderr, "warden test: give one RULES_DIR, or rule files\n");
        return CMD_EXIT_USAGE;
    }
    char *pack = is_dir ? strdup(argv[optind]) : pack_of(argv[optind]);
    static char err[65536];
    cmd_ctx_t *ctx = cmd_ctx_new(&opts, pack, err, sizeof(err));   /* no sink: tests record nothing */
    if (ctx == NULL) {
        fprintf(stderr, "%s\nwarden test: the rule pack %s failed to load\n", err, pack);
        free(pack);
        return CMD_EXIT_LOAD;
    }
    eng_engine_t *e = cmd_ctx_engine(ctx);
    rule_t *const *rules;
    size_t n = rule_pack_rules(eng_engine_pack(e), &rules);
    int untested = 0, matched_files = 0;
    for (size_t i = 0; i < n; i++) {
        const rule_t *r = rules[i];
        if (filter && strstr(r->name, filter) == NULL)
            continue;
        if (!is_dir) {
            int want = 0;
            for (int a = optind; a < argc; a++) {
                struct stat sa, sr;
                if (stat(argv[a], &sa) == 0 && stat(r->file, &sr) == 0 && sa.st_ino == sr.st_ino &&
                    sa.st_dev == sr.st_dev)
                    want = 1;
            }
            if (!want)
                continue;
            matched_files++;
        }
        if (r->tests_ref == LUA_NOREF || r->ntests == 0) {
            untested++;
            printf("  none  %s: no tests  (%s)\n", r->name, r->file);
            continue;
        }
        eng_test_rule(e, &opts, r, &t);
    }
    if (!is_dir && matched_files < argc - optind)
        fprintf(stderr, "warden test: some files given are not rules of the pack %s\n", pack);
    printf("warden test: %d cases in %d rules: %d ok, %d FAILED%s\n", t.cases, t.rules, t.passed,
           t.failed, untested ? " (some rules have no tests)" : "");
    cmd_ctx_destroy(ctx, NULL, 0);
    free(pack);
    if (!is_dir && matched_files < argc - optind)
        return CMD_EXIT_USAGE;
    return t.failed ? CMD_EXIT_LOAD : CMD_EXIT_OK;
}

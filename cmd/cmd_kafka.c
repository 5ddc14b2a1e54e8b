/* cmd/cmd_kafka.c — command-line and config plumbing shared by
 * `warden run` and `warden split`. */
#include "cmd/cmd_kafka.h"

#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "base/wd_log.h"

static int split_kv(const char *arg, char **k, char **v)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return -1;
    *k = strndup(arg, (size_t)(eq - arg));
    *v = strdup(eq + 1);
    return *k && *v ? 0 : -1;
}

static int push_kv(char ***keys, char ***vals, size_t *n, const char *arg)
{
    char *k = NULL, *v = NULL;
    if (split_kv(arg, &k, &v) != 0) {
        free(k);
        free(v);
        return -1;
    }
    char **nk = realloc(*keys, (*n + 1) * sizeof(*nk));
    if (nk)
        *keys = nk;
    char **nv = realloc(*vals, (*n + 1) * sizeof(*nv));
    if (nv)
        *vals = nv;
    if (!nk || !nv) {
        free(k);
        free(v);
        return -1;
    }
    (*keys)[*n] = k;
    (*vals)[*n] = v;
    (*n)++;
    return 0;
}

/* The long options of run and split, and which command needs which:
 * need 0 is shared, else the enum cmd_kafka_extra bit. */
static const struct {
    struct option o;
    unsigned      need;
} kafka_lopts[] = {
    { { "config", required_argument, NULL, 'c' }, 0 },
    { { "instance", required_argument, NULL, CMD_OPT_INSTANCE }, 0 },
    { { "set", required_argument, NULL, CMD_OPT_SET }, 0 },
    { { "help-config", no_argument, NULL, CMD_OPT_HELP_CONFIG }, 0 },
    { { "max-events", required_argument, NULL, CMD_OPT_MAX_EVENTS }, CMD_KAFKA_MAX_EVENTS },
    { { "stats-json", required_argument, NULL, CMD_OPT_STATS_JSON }, 0 },
    { { "help", no_argument, NULL, 'h' }, 0 },
};
#define NKAFKA_LOPTS (sizeof kafka_lopts / sizeof kafka_lopts[0])

int cmd_parse_common(int argc, char **argv, const char *cmd, unsigned extra, cmd_args_t *a,
                     void (*usage)(FILE *))
{
    memset(a, 0, sizeof(*a));
    a->cmd = cmd;
    struct option lopts[NKAFKA_LOPTS + 1];
    size_t nl = 0;
    for (size_t i = 0; i < NKAFKA_LOPTS; i++)
        if ((kafka_lopts[i].need & extra) == kafka_lopts[i].need)
            lopts[nl++] = kafka_lopts[i].o;
    lopts[nl] = (struct option){ NULL, 0, NULL, 0 };
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "c:X:h", lopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            a->config = optarg;
            break;
        case CMD_OPT_INSTANCE:
            a->instance = optarg;
            break;
        case 'X':
            if (push_kv(&a->xkeys, &a->xvals, &a->nx, optarg) != 0) {
                fprintf(stderr, "warden %s: -X wants KEY=VALUE, got \"%s\"\n", cmd, optarg);
                cmd_args_free(a);
                return CMD_EXIT_USAGE;
            }
            break;
        case CMD_OPT_SET:
            if (push_kv(&a->skeys, &a->svals, &a->ns, optarg) != 0) {
                fprintf(stderr, "warden %s: --set wants SECTION.KEY=VALUE, got \"%s\"\n", cmd, optarg);
                cmd_args_free(a);
                return CMD_EXIT_USAGE;
            }
            break;
        case CMD_OPT_MAX_EVENTS: {
            char *end;
            a->max_events = strtoull(optarg, &end, 10);
            if (*end || !*optarg) {
                fprintf(stderr, "warden %s: --max-events wants a number, got \"%s\"\n", cmd, optarg);
                cmd_args_free(a);
                return CMD_EXIT_USAGE;
            }
            break;
        }
        case CMD_OPT_STATS_JSON:
            a->stats_json = optarg;
            break;
        case CMD_OPT_HELP_CONFIG:
            printf("# warden.lua settings\n");
            wd_config_describe(stdout);
            cmd_args_free(a);
            return CMD_EXIT_OK;
        case 'h':
            usage(stdout);
            cmd_args_free(a);
            return CMD_EXIT_OK;
        default:
            usage(stderr);
            cmd_args_free(a);
            return CMD_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "warden %s: unexpected argument \"%s\"\n", cmd, argv[optind]);
        usage(stderr);
        cmd_args_free(a);
        return CMD_EXIT_USAGE;
    }
    if (!a->config) {
        fprintf(stderr, "warden %s: -c CONFIG is required\n", cmd);
        usage(stderr);
        cmd_args_free(a);
        return CMD_EXIT_USAGE;
    }
    return -1;
}

void cmd_args_free(cmd_args_t *a)
{
    for (size_t i = 0; i < a->nx; i++) {
        free(a->xkeys[i]);
        free(a->xvals[i]);
    }
    for (size_t i = 0; i < a->ns; i++) {
        free(a->skeys[i]);
        free(a->svals[i]);
    }
    free(a->xkeys);
    free(a->xvals);
    free(a->skeys);
    free(a->svals);
    memset(a, 0, sizeof(*a));
}

wd_config_t *cmd_load_config(const cmd_args_t *a, char *err, size_t n)
{
    wd_config_t *c = wd_config_load(a->config, 0, err, n);
    if (!c) {
        fprintf(stderr, "warden %s: configuration errors:\n%s\n", a->cmd, err);
        return NULL;
    }
    int bad = 0;
    for (size_t i = 0; i < a->nx; i++)
        if (wd_config_kafka_set(c, a->xkeys[i], a->xvals[i], err, n) != 0) {
            fprintf(stderr, "warden %s: -X %s\n", a->cmd, err);
            bad = 1;
        }
    for (size_t i = 0; i < a->ns; i++)
        if (wd_config_set(c, a->skeys[i], a->svals[i], err, n) != 0) {
            fprintf(stderr, "warden %s: --set %s\n", a->cmd, err);
            bad = 1;
        }
    if (a->instance) {
        char key[64];
        snprintf(key, sizeof key, "%s.instance", a->cmd);
        if (wd_config_set(c, key, a->instance, err, n) != 0) {
            fprintf(stderr, "warden %s: --instance: %s\n", a->cmd, err);
            bad = 1;
        }
    }
    if (!bad && wd_config_check(c, WD_CONFIG_NEED_KAFKA | WD_CONFIG_NEED_RULES, err, n) != 0) {
        fprintf(stderr, "warden %s: configuration errors:\n%s\n", a->cmd, err);
        bad = 1;
    }
    if (bad) {
        wd_config_destroy(c);
        return NULL;
    }
    if (!getenv("WARDEN_LOG")) {
        int lvl = wd_log_parse_level(wd_config_str(c, "log_level"));
        if (lvl >= 0)
            wd_log_level = lvl;
    }
    return c;
}

void cmd_engine_opts(const wd_config_t *c, eng_opts_t *o)
{
    eng_opts_default(o);
    o->stream_field = wd_config_str(c, "streams.field");
    o->id_field = wd_config_str(c, "streams.id_field");
    o->ts_field = wd_config_str(c, "streams.ts_field");
    o->instr_budget = wd_config_int(c, "engine.instr_budget");
    o->mem_cap = (size_t)wd_config_int(c, "engine.mem_cap_mb") << 20;
    o->time_limit_ms = wd_config_int(c, "engine.time_limit_ms");
    o->load_time_limit_ms = wd_config_int(c, "engine.load_time_limit_ms");
    o->state_max_mb = (size_t)wd_config_int(c, "engine.state_max_mb");
    o->max_future_ms = wd_config_int(c, "engine.max_future_ms");
}

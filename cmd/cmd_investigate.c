/* cmd/cmd_investigate.c — `warden investigate ENTITY [--type T] [--since
 * TIME] [--run-id ID] [--store URL | -c warden.lua] [--rules DIR] [--json]`:
 * every hit and action on one entity from the results store, in time
 * order, with rule version, reason and score; the pack's lists the entity
 * is on; for each block the command that reproduces it; its labels with
 * expiry: those the store's hits set, merged with the control topic's
 * manual labels and deletions (with -c), as GET /entities/{type}/{id}
 * answers them. */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/cmd_control.h"
#include "rules/rule_overlay.h"
#include "base/wd_buf.h"
#include "base/wd_config.h"
#include "base/wd_util.h"
#include "admin/adm.h"
#include "rules/rule_types.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: warden investigate ENTITY [options]\n"
        "Every hit and action on ENTITY in the results store, in time order, with the\n"
        "rule version, reason and score; the lists of the pack it is on; for each block\n"
        "the command that reproduces it.\n\n"
        "  -t, --type T        the entity's type (user, ip, …); default: every type\n"
        "      --since TIME    from this event time on (RFC 3339)\n"
        "      --run-id ID     only this run's rows (default: every run: live, replays, evals);\n"
        "                      the labels come from this run's hits (default: run.run_id, live)\n"
        "      --at TIME       the labels in force at TIME (RFC 3339; default: now)\n"
        "      --store URL     the results store (mysql://…); default: the config's store\n"
        "  -c, --config FILE   warden.lua: its store and its rules (for lists)\n"
        "      --rules DIR     the rule pack whose lists are checked (default: the config's)\n"
        "      --json          one JSON object on stdout\n"
        "  -h, --help          this help\n\n"
        "Labels: those the hits set (the store), and with -c the manual labels and\n"
        "deletions of run.control_topic.  Exit status: 0 ok, 1 the store failed, 2 usage.\n");
}

static void print_human(const json_t *out)
{
    json_t *hist = json_object_get(out, "history");
    const char *type = json_string_value(json_object_get(out, "entity_type"));
    printf("entity %s%s%s: %zu hits and actions\n", type ? type : "", type ? ":" : "",
           json_string_value(json_object_get(out, "entity")), json_array_size(hist));
    for (size_t i = 0; i < json_array_size(hist); i++) {
        json_t *h = json_array_get(hist, i);
        const char *ts = json_string_value(json_object_get(h, "event_ts"));
        int action = strcmp(json_string_value(json_object_get(h, "kind")), "action") == 0;
        printf("%-24s %-6s %-7s ", ts ? ts : "-", action ? "action" : "hit",
               json_string_value(json_object_get(h, "verdict")));
        if (action) {
            json_t *rules = json_object_get(h, "rules");
            printf("rules ");
            for (size_t k = 0; k < json_array_size(rules); k++)
                printf("%s%s", k ? "," : "", json_string_value(json_array_get(rules, k)));
            const char *ttl = json_string_value(json_object_get(h, "ttl"));
            if (ttl)
                printf(" ttl %s", ttl);
        } else {
            printf("%s v%" JSON_INTEGER_FORMAT " %s", json_string_value(json_object_get(h, "rule")),
                   json_integer_value(json_object_get(h, "version")),
                   json_string_value(json_object_get(h, "mode")));
            json_t *sc = json_object_get(h, "score");
            if (json_is_number(sc))
                printf(" score %g", json_number_value(sc));
            const char *reason = json_string_value(json_object_get(h, "reason"));
            if (reason)
                printf(" \"%s\"", reason);
        }
        printf("  [%s:%s event %s]\n", json_string_value(json_object_get(h, "entity_type")),
               json_string_value(json_object_get(h, "run_id")),
               json_string_value(json_object_get(h, "event_id")));
        const char *rep = json_string_value(json_object_get(h, "reproduce"));
        if (rep)
            printf("    reproduce: %s\n", rep);
    }
    json_t *lists = json_object_get(out, "lists");
    printf("lists:");
    if (json_array_size(lists) == 0)
        printf(" none");
    for (size_t k = 0; k < json_array_size(lists); k++)
        printf(" %s", json_string_value(json_array_get(lists, k)));
    json_t *labels = json_object_get(out, "labels");
    json_t *items = json_object_get(labels, "items"), *removed = json_object_get(labels, "removed");
    printf("\nlabels at %s:", json_string_value(json_object_get(labels, "at")));
    if (json_array_size(items) == 0)
        printf(" none");
    printf("\n");
    for (size_t k = 0; k < json_array_size(items); k++) {
        json_t *l = json_array_get(items, k);
        const char *src = json_string_value(json_object_get(l, "source"));
        printf("  %-24s until %s  ", json_string_value(json_object_get(l, "label")),
               json_string_value(json_object_get(l, "expires")));
        if (src && strcmp(src, "rule") == 0)
            printf("set by %s v%" JSON_INTEGER_FORMAT " (event %s)\n", json_string_value(json_object_get(l, "rule")),
                   json_integer_value(json_object_get(l, "version")),
                   json_string_value(json_object_get(l, "event_id")));
        else
            printf("manual, by %s: %s\n", json_string_value(json_object_get(l, "who")),
                   json_string_value(json_object_get(l, "reason")) ? json_string_value(json_object_get(l, "reason")) : "");
    }
    for (size_t k = 0; k < json_array_size(removed); k++) {
        json_t *l = json_array_get(removed, k);
        printf("  %-24s removed at %s by %s (set by %s v%" JSON_INTEGER_FORMAT ")\n",
               json_string_value(json_object_get(l, "label")), json_string_value(json_object_get(l, "removed_at")),
               json_string_value(json_object_get(l, "removed_by")), json_string_value(json_object_get(l, "rule")),
               json_integer_value(json_object_get(l, "version")));
    }
    const char *note = json_string_value(json_object_get(labels, "note"));
    if (note)
        printf("  (%s)\n", note);
}

int cmd_investigate(int argc, char **argv)
{
    static const struct option lopts[] = {
        { "type", required_argument, NULL, 't' },
        { "since", required_argument, NULL, 'S' },
        { "run-id", required_argument, NULL, 'R' },
        { "at", required_argument, NULL, 'A' },
        { "store", required_argument, NULL, 's' },
        { "config", required_argument, NULL, 'c' },
        { "rules", required_argument, NULL, 'r' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *at = NULL;
    const char *type = NULL, *since = NULL, *run_id = NULL, *store = NULL, *config = NULL, *rules = NULL;
    int as_json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "t:c:h", lopts, NULL)) != -1) {
        switch (c) {
        case 't': type = optarg; break;
        case 'S': since = optarg; break;
        case 'R': run_id = optarg; break;
        case 'A': at = optarg; break;
        case 's': store = optarg; break;
        case 'c': config = optarg; break;
        case 'r': rules = optarg; break;
        case 'j': as_json = 1; break;
        case 'h': usage(stdout); return CMD_EXIT_OK;
        default: usage(stderr); return CMD_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "warden investigate: want one ENTITY\n\n");
        usage(stderr);
        return CMD_EXIT_USAGE;
    }
    const char *entity = argv[optind];
    if (type && !rule_entity_type_valid(type, strlen(type))) {
        fprintf(stderr, "warden investigate: --type '%s' is not an entity type ([a-z][a-z0-9_]*, "
                        "at most %d bytes)\n", type, RULE_MAX_ENTITY_TYPE_LEN);
        return CMD_EXIT_USAGE;
    }
    int64_t since_ms = INT64_MIN;
    if (since && wd_parse_rfc3339(since, strlen(since), &since_ms) != 0) {
        fprintf(stderr, "warden investigate: --since '%s' is not RFC 3339\n", since);
        return CMD_EXIT_USAGE;
    }
    int64_t at_ms = INT64_MIN;
    if (at && wd_parse_rfc3339(at, strlen(at), &at_ms) != 0) {
        fprintf(stderr, "warden investigate: --at '%s' is not RFC 3339\n", at);
        return CMD_EXIT_USAGE;
    }
    static char err[8192];
    wd_config_t *cfg = NULL;
    if (config && (cfg = wd_config_load(config, 0, err, sizeof err)) == NULL) {
        fprintf(stderr, "%s", err);
        return CMD_EXIT_LOAD;
    }
    if (!store && cfg)
        store = wd_config_str(cfg, "store");
    if (!rules && cfg && *wd_config_str(cfg, "rules"))
        rules = wd_config_str(cfg, "rules");
    if (!store || !*store) {
        fprintf(stderr, "warden investigate: no store: give --store URL or -c warden.lua\n");
        wd_config_destroy(cfg);
        return CMD_EXIT_USAGE;
    }
    int rc = CMD_EXIT_OK;
    /* Manual labels and deletions: the control topic, when a config names
     * brokers (a missing topic has none; an unreachable one is a note). */
    cmd_control_t *ctl = NULL;
    wd_buf_t cl = WD_BUF_INIT;
    char cerr[1024];
    if (cfg && wd_config_check(cfg, WD_CONFIG_NEED_KAFKA, cerr, sizeof cerr) == 0) {
        ctl = cmd_control_open(cfg, 0, 1, cerr, sizeof cerr);
        if (ctl)
            rule_overlay_entity_labels_json(cmd_control_overlay(ctl), entity, strlen(entity), &cl);
        else
            fprintf(stderr, "warden investigate: control topic: %s (manual labels not shown)\n", cerr);
    }
    const char *live = run_id ? run_id : cfg ? wd_config_str(cfg, "run.run_id") : NULL;
    adm_entity_query_t qy = { store, rules, type, entity, since_ms, run_id, live, ctl ? cl.data : NULL, at_ms,
                              config };
    json_t *out = adm_entity_json(&qy, err, sizeof err);
    if (!out) {
        fprintf(stderr, "warden investigate: %s\n", err);
        rc = CMD_EXIT_LOAD;
        goto done;
    }
    if (as_json) {
        char *s = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (s)
            printf("%s\n", s);
        free(s);
    } else {
        print_human(out);
    }
done:
    json_decref(out);
    cmd_control_close(ctl);
    wd_buf_free(&cl);
    wd_config_destroy(cfg);
    return rc;
}

/* cmd/cmd_investigate.c — `warden investigate ENTITY [--type T] [--since
 * TIME] [--run-id ID] [--store URL | -c warden.lua] [--rules DIR] [--json]`:
 * every hit and action on one entity from the results store, in time
 * order, with rule version, reason and score; the pack's lists the entity
 * is on; for each block the command that reproduces it.  Labels live in
 * the state of `warden run`, not in the store: the CLI says so and points
 * at GET /entities/{type}/{id} of the admin API. */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "base/wd_buf.h"
#include "base/wd_config.h"
#include "base/wd_util.h"
#include "rules/rule_lists.h"
#include "rules/rule_types.h"
#include "storage/store_read.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: warden investigate ENTITY [options]\n"
        "Every hit and action on ENTITY in the results store, in time order, with the\n"
        "rule version, reason and score; the lists of the pack it is on; for each block\n"
        "the command that reproduces it.\n\n"
        "  -t, --type T        the entity's type (user, ip, …); default: every type\n"
        "      --since TIME    from this event time on (RFC 3339)\n"
        "      --run-id ID     only this run's rows (default: every run: live, replays, evals)\n"
        "      --store URL     the results store (mysql://…); default: the config's store\n"
        "  -c, --config FILE   warden.lua: its store and its rules (for lists)\n"
        "      --rules DIR     the rule pack whose lists are checked (default: the config's)\n"
        "      --json          one JSON object on stdout\n"
        "  -h, --help          this help\n\n"
        "Labels are held in the state of warden run, not in the store: ask the admin API\n"
        "(GET /entities/TYPE/ID) for them.  Exit status: 0 ok, 1 the store failed, 2 usage.\n");
}

typedef struct item {
    int64_t ts;
    char   *event_id;
    int     is_action;
    char   *rule;
    json_t *j;
} item_t;

typedef struct inv {
    item_t *items;
    size_t  n, cap;
    int     failed;
} inv_t;

static json_t *jstrn(const char *s, size_t n)
{
    return s ? json_stringn_nocheck(s, n) : json_null();
}

static json_t *jstr(const char *s)
{
    return s ? json_string_nocheck(s) : json_null();
}

static json_t *jts(int64_t ms)
{
    if (ms == INT64_MIN)
        return json_null();
    wd_buf_t b = WD_BUF_INIT;
    wd_buf_rfc3339(&b, ms);
    json_t *j = json_stringn(b.data, b.len);
    wd_buf_free(&b);
    return j;
}

/* The command that re-evaluates the event with an explanation. */
static json_t *reproduce(const store_hist_t *h)
{
    char cmd[1024];
    if (h->topic)
        snprintf(cmd, sizeof cmd, "warden explain --event %s/%d/%" PRId64, h->topic, (int)h->partition,
                 h->offset);
    else
        snprintf(cmd, sizeof cmd, "warden explain --input EVENTS.jsonl --id %s", h->event_id);
    return json_string(cmd);
}

static int on_row(void *ud, const store_hist_t *h)
{
    inv_t *v = ud;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        item_t *n = realloc(v->items, cap * sizeof(*n));
        if (!n)
            return -1;
        v->items = n;
        v->cap = cap;
    }
    json_t *j = json_object();
    json_object_set_new(j, "kind", json_string(h->is_action ? "action" : "hit"));
    json_object_set_new(j, "event_ts", jts(h->event_ts_ms));
    json_object_set_new(j, "run_id", jstr(h->run_id));
    json_object_set_new(j, "event_id", jstr(h->event_id));
    json_object_set_new(j, "stream", jstr(h->stream));
    json_object_set_new(j, "entity_type", jstr(h->entity_type));
    if (h->is_action) {
        json_t *rules = json_array();
        const char *p = h->rules ? h->rules : "";
        while (*p) {
            const char *c = strchr(p, ',');
            size_t l = c ? (size_t)(c - p) : strlen(p);
            json_array_append_new(rules, json_stringn(p, l));
            p += l + (c ? 1 : 0);
        }
        json_object_set_new(j, "verdict", jstr(h->verdict));
        json_object_set_new(j, "rules", rules);
        json_object_set_new(j, "ttl", jstr(h->ttl));
    } else {
        json_object_set_new(j, "rule", jstr(h->rule));
        json_object_set_new(j, "version", json_integer(h->version));
        json_object_set_new(j, "sha256", jstr(h->rule_sha256));
        json_object_set_new(j, "mode", jstr(h->mode));
        json_object_set_new(j, "verdict", jstr(h->verdict));
        json_object_set_new(j, "reason", jstrn(h->reason, h->reason_len));
        json_object_set_new(j, "score", h->has_score ? json_real(h->score) : json_null());
    }
    if (h->topic) {
        char src[600];
        snprintf(src, sizeof src, "%s/%d/%" PRId64, h->topic, (int)h->partition, h->offset);
        json_object_set_new(j, "source", json_string(src));
    } else {
        json_object_set_new(j, "source", json_null());
    }
    if (h->verdict && strcmp(h->verdict, "block") == 0)
        json_object_set_new(j, "reproduce", reproduce(h));
    item_t *it = &v->items[v->n++];
    it->ts = h->event_ts_ms;
    it->event_id = strdup(h->event_id ? h->event_id : "");
    it->is_action = h->is_action;
    it->rule = strdup(h->rule ? h->rule : "");
    it->j = j;
    return 0;
}

static int cmp_item(const void *a, const void *b)
{
    const item_t *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    int c = strcmp(x->event_id, y->event_id);
    if (c)
        return c;
    if (x->is_action != y->is_action)
        return x->is_action - y->is_action;
    return strcmp(x->rule, y->rule);
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
    printf("\nlabels: %s\n", json_string_value(json_object_get(json_object_get(out, "labels"), "note")));
}

int cmd_investigate(int argc, char **argv)
{
    static const struct option lopts[] = {
        { "type", required_argument, NULL, 't' },
        { "since", required_argument, NULL, 'S' },
        { "run-id", required_argument, NULL, 'R' },
        { "store", required_argument, NULL, 's' },
        { "config", required_argument, NULL, 'c' },
        { "rules", required_argument, NULL, 'r' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *type = NULL, *since = NULL, *run_id = NULL, *store = NULL, *config = NULL, *rules = NULL;
    int as_json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "t:c:h", lopts, NULL)) != -1) {
        switch (c) {
        case 't': type = optarg; break;
        case 'S': since = optarg; break;
        case 'R': run_id = optarg; break;
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
    store_reader_t *rd = NULL;
    inv_t v = { 0 };
    json_t *out = NULL;
    if (store_reader_open(&rd, store, err, sizeof err) != 0 ||
        store_read_entity(rd, type, entity, strlen(entity), since_ms, run_id, on_row, &v, err,
                          sizeof err) != 0) {
        fprintf(stderr, "warden investigate: %s\n", err);
        rc = CMD_EXIT_LOAD;
        goto done;
    }
    qsort(v.items, v.n, sizeof(*v.items), cmp_item);
    out = json_object();
    json_object_set_new(out, "entity", json_string_nocheck(entity));
    json_object_set_new(out, "entity_type", jstr(type));
    json_object_set_new(out, "since", since ? json_string(since) : json_null());
    json_t *hist = json_array();
    for (size_t i = 0; i < v.n; i++)
        json_array_append(hist, v.items[i].j);
    json_object_set_new(out, "history", hist);
    json_t *lists = json_array();
    if (rules) {
        rule_lists_t *ls = rule_lists_load(rules, err, sizeof err);
        if (!ls) {
            fprintf(stderr, "warden investigate: lists of %s: %s\n", rules, err);
            rc = CMD_EXIT_LOAD;
            json_decref(lists);
            goto done;
        }
        for (size_t i = 0; i < rule_lists_count(ls); i++) {
            const char *name = rule_lists_name(ls, i);
            if (rule_list_contains(rule_lists_get(ls, name), entity, strlen(entity)))
                json_array_append_new(lists, json_string(name));
        }
        rule_lists_destroy(ls);
    }
    json_object_set_new(out, "lists", lists);
    json_t *labels = json_object();
    json_object_set_new(labels, "available", json_false());
    json_object_set_new(labels, "items", json_array());
    json_object_set_new(labels, "note", json_string(
        "labels live in the state of warden run, not in the results store: "
        "GET /entities/TYPE/ID on its admin API lists them with their expiry"));
    json_object_set_new(out, "labels", labels);
    if (as_json) {
        char *s = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (s)
            printf("%s\n", s);
        free(s);
    } else {
        print_human(out);
    }
done:
    for (size_t i = 0; i < v.n; i++) {
        json_decref(v.items[i].j);
        free(v.items[i].event_id);
        free(v.items[i].rule);
    }
    free(v.items);
    json_decref(out);
    store_reader_close(rd);
    wd_config_destroy(cfg);
    return rc;
}

/* warden admin: a client of the admin API of `warden run` over libcurl.
 * Human-readable tables by default, the server's JSON with --json; the
 * token from WARDEN_ADMIN_TOKEN; exit 1 on any HTTP error (the server's
 * message printed), 2 on usage, 3 when the server cannot be reached. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "base/wd_buf.h"
#include "cmd/cmd.h"

static void admin_usage(FILE *f)
{
    fprintf(f,
        "usage: warden admin [--url URL] [--json] COMMAND\n"
        "A client of the admin API of `warden run` (docs/operations.md).\n\n"
        "  status                 health and readiness\n"
        "  rules                  every rule: version, mode and its source, hits, errors, cost\n"
        "  rule NAME              one rule, with its source\n"
        "  reload                 load the rule pack again (a pack that fails is rejected)\n"
        "  mode NAME MODE         shadow | enforce | off (a durable override); MODE file: clear it\n"
        "  replay start|status ID|cancel ID   replay jobs\n\n"
        "      --url URL          default http://127.0.0.1:9100 (or WARDEN_ADMIN_URL)\n"
        "      --json             print the server's JSON\n"
        "  -h, --help             this help\n\n"
        "The token comes from WARDEN_ADMIN_TOKEN.  Exit status: 0 ok, 1 an HTTP error\n"
        "(the server's message on stderr), 2 usage, 3 the server cannot be reached.\n");
}

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
    wd_buf_add(ud, p, sz * n);
    return sz * n;
}

/* One request; the body in out.  Returns the HTTP status, or -1 (message
 * printed) when the server could not be reached. */
static long request(const char *base, const char *method, const char *path, const char *body, wd_buf_t *out)
{
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    char url[2048];
    snprintf(url, sizeof url, "%s%s", base, path);
    struct curl_slist *h = NULL;
    const char *tok = getenv("WARDEN_ADMIN_TOKEN");
    if (tok && *tok) {
        wd_buf_t a = WD_BUF_INIT;
        wd_buf_printf(&a, "Authorization: Bearer %s", tok);
        h = curl_slist_append(h, a.data);
        wd_buf_free(&a);
    }
    h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    else if (strcmp(method, "POST") == 0)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    CURLcode rc = curl_easy_perform(c);
    long status = -1;
    if (rc != CURLE_OK)
        fprintf(stderr, "warden admin: %s: %s\n", url, curl_easy_strerror(rc));
    else
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "-";
}

static void print_rules(json_t *j)
{
    json_t *rules = json_object_get(j, "rules");
    printf("%-32s %7s %-8s %-9s %10s %8s %10s %9s\n", "RULE", "VERSION", "MODE", "SOURCE", "HITS", "ERRORS",
           "MEAN_US", "TRIPS");
    for (size_t i = 0; i < json_array_size(rules); i++) {
        json_t *r = json_array_get(rules, i);
        printf("%-32s %7lld %-8s %-9s %10lld %8lld %10.2f %9lld\n", jstr(r, "name"),
               (long long)json_integer_value(json_object_get(r, "version")), jstr(r, "mode"),
               jstr(r, "mode_source"), (long long)json_integer_value(json_object_get(r, "hits")),
               (long long)json_integer_value(json_object_get(r, "errors")),
               json_number_value(json_object_get(json_object_get(r, "mean_cost"), "us")),
               (long long)json_integer_value(json_object_get(r, "breaker_trips")));
    }
}

static void print_rule(json_t *r)
{
    printf("rule:        %s\nversion:     %lld\nmode:        %s (%s; file says %s)\nfile:        %s\n"
           "sha256:      %s\nevaluations: %lld\nhits:        %lld\nerrors:      %lld\nmean cost:   %.2f us\n\n",
           jstr(r, "name"), (long long)json_integer_value(json_object_get(r, "version")), jstr(r, "mode"),
           jstr(r, "mode_source"), jstr(r, "file_mode"), jstr(r, "file"), jstr(r, "sha256"),
           (long long)json_integer_value(json_object_get(r, "evaluations")),
           (long long)json_integer_value(json_object_get(r, "hits")),
           (long long)json_integer_value(json_object_get(r, "errors")),
           json_number_value(json_object_get(json_object_get(r, "mean_cost"), "us")));
    const char *src = json_string_value(json_object_get(r, "source"));
    if (src)
        fputs(src, stdout);
}

int cmd_admin(int argc, char **argv)
{
    const char *url = getenv("WARDEN_ADMIN_URL");
    if (!url || !*url)
        url = "http://127.0.0.1:9100";
    int as_json = 0, i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            as_json = 1;
        } else if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
            url = argv[++i];
        } else if (strncmp(argv[i], "--url=", 6) == 0) {
            url = argv[i] + 6;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            admin_usage(stdout);
            return CMD_EXIT_OK;
        } else {
            fprintf(stderr, "warden admin: unknown option %s\n", argv[i]);
            admin_usage(stderr);
            return CMD_EXIT_USAGE;
        }
    }
    if (i >= argc) {
        admin_usage(stderr);
        return CMD_EXIT_USAGE;
    }
    const char *cmd = argv[i];
    int nargs = argc - i - 1;
    char **args = argv + i + 1;
    char path[1024], body[256];
    const char *method = "GET", *b = NULL;
    int kind = 0;   /* 0 raw, 1 status, 2 rules, 3 rule */
    if (strcmp(cmd, "status") == 0 && nargs == 0) {
        snprintf(path, sizeof path, "/readyz");
        kind = 1;
    } else if (strcmp(cmd, "rules") == 0 && nargs == 0) {
        snprintf(path, sizeof path, "/rules");
        kind = 2;
    } else if (strcmp(cmd, "rule") == 0 && nargs == 1) {
        snprintf(path, sizeof path, "/rules/%s", args[0]);
        kind = 3;
    } else if (strcmp(cmd, "reload") == 0 && nargs == 0) {
        snprintf(path, sizeof path, "/rules/reload");
        method = "POST";
    } else if (strcmp(cmd, "mode") == 0 && nargs == 2) {
        snprintf(path, sizeof path, "/rules/%s/mode", args[0]);
        if (strcmp(args[1], "file") == 0) {
            method = "DELETE";
        } else {
            json_t *o = json_pack("{ss}", "mode", args[1]);
            char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
            snprintf(body, sizeof body, "%s", s ? s : "{}");
            free(s);
            json_decref(o);
            method = "PUT";
            b = body;
        }
    } else if (strcmp(cmd, "replay") == 0 && nargs >= 1) {
        if (strcmp(args[0], "start") == 0) {
            snprintf(path, sizeof path, "/replays");
            method = "POST";
            b = nargs > 1 ? args[1] : "{}";
        } else if (strcmp(args[0], "status") == 0 && nargs == 2) {
            snprintf(path, sizeof path, "/replays/%s", args[1]);
        } else if (strcmp(args[0], "cancel") == 0 && nargs == 2) {
            snprintf(path, sizeof path, "/replays/%s", args[1]);
            method = "DELETE";
        } else {
            admin_usage(stderr);
            return CMD_EXIT_USAGE;
        }
    } else {
        fprintf(stderr, "warden admin: bad command or arguments: %s\n", cmd);
        admin_usage(stderr);
        return CMD_EXIT_USAGE;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    wd_buf_t out = WD_BUF_INIT;
    long status = request(url, method, path, b, &out);
    int rc = CMD_EXIT_OK;
    json_t *j = out.len ? json_loadb(out.data, out.len, 0, NULL) : NULL;
    if (status < 0) {
        rc = 3;
    } else if (status >= 400 && !(kind == 1 && status == 503)) {
        const char *msg = j ? json_string_value(json_object_get(j, "error")) : NULL;
        fprintf(stderr, "warden admin: %s %s: HTTP %ld: %s\n", method, path, status,
                msg ? msg : (out.data ? out.data : ""));
        json_t *errs = j ? json_object_get(j, "errors") : NULL;
        for (size_t k = 0; k < json_array_size(errs); k++)
            fprintf(stderr, "  %s\n", json_string_value(json_array_get(errs, k)));
        rc = 1;
    } else if (as_json || !j) {
        fwrite(out.data ? out.data : "", 1, out.len, stdout);
    } else if (kind == 1) {
        json_t *ready = json_object_get(j, "ready");
        printf("alive; %s%s%s\n", json_is_true(ready) ? "ready" : "not ready",
               json_is_true(ready) ? "" : ": ", json_is_true(ready) ? "" : jstr(j, "error"));
        if (!json_is_true(ready))
            rc = 1;
    } else if (kind == 2) {
        print_rules(j);
    } else if (kind == 3) {
        print_rule(j);
    } else {
        fwrite(out.data ? out.data : "", 1, out.len, stdout);
    }
    json_decref(j);
    wd_buf_free(&out);
    curl_global_cleanup();
    return rc;
}

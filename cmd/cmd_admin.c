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
        "  replay start OPTIONS   a replay job inside warden run (POST /replays):\n"
        "         --rules DIR --baseline DIR --from TIME --to TIME --warmup DURATION\n"
        "         --truth FILE --topic T (repeatable) --input FILE (repeatable, on the\n"
        "         server) --samples N, as for warden replay; or one JSON object\n"
        "  replay list            every job and its progress\n"
        "  replay status ID       a job: status, progress, per-rule hits when done\n"
        "  replay cancel ID       cancel a running job; forget a finished one\n\n"
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

/* `replay start` options → the POST /replays body (caller frees), or NULL
 * with a message printed. */
static char *replay_body(int n, char **v)
{
    if (n == 1 && v[0][0] == '{')
        return strdup(v[0]);
    json_t *o = json_object(), *topics = NULL, *inputs = NULL;
    static const char *const keys[] = { "rules", "baseline", "from", "to", "warmup", "truth", NULL };
    for (int i = 0; i < n; i++) {
        const char *a = v[i];
        if (strncmp(a, "--", 2) != 0 || i + 1 >= n) {
            fprintf(stderr, "warden admin replay start: %s: want --OPTION VALUE\n", a);
            json_decref(o);
            json_decref(topics);
            json_decref(inputs);
            return NULL;
        }
        const char *k = a + 2, *val = v[++i];
        int done = 0;
        for (size_t j = 0; keys[j]; j++)
            if (strcmp(k, keys[j]) == 0) {
                json_object_set_new(o, k, json_string(val));
                done = 1;
            }
        if (!done && strcmp(k, "topic") == 0) {
            if (!topics)
                topics = json_array();
            json_array_append_new(topics, json_string(val));
            done = 1;
        } else if (!done && strcmp(k, "input") == 0) {
            if (!inputs)
                inputs = json_array();
            json_array_append_new(inputs, json_string(val));
            done = 1;
        } else if (!done && strcmp(k, "samples") == 0) {
            json_object_set_new(o, k, json_integer(strtoll(val, NULL, 10)));
            done = 1;
        }
        if (!done) {
            fprintf(stderr, "warden admin replay start: unknown option %s\n", a);
            json_decref(o);
            json_decref(topics);
            json_decref(inputs);
            return NULL;
        }
    }
    if (topics)
        json_object_set_new(o, "topics", topics);
    if (inputs)
        json_object_set_new(o, "input", inputs);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static long long jint(json_t *o, const char *k) { return (long long)json_integer_value(json_object_get(o, k)); }

static void print_job_line(json_t *j)
{
    json_t *p = json_object_get(j, "progress");
    printf("%-8s %-10s %6.1f%% %12lld %12lld %12lld %12lld %8.2f\n", jstr(j, "id"), jstr(j, "status"),
           100.0 * json_number_value(json_object_get(p, "fraction")), jint(p, "events_read"),
           jint(p, "in_window"), jint(p, "hits_candidate"), jint(p, "hits_baseline"),
           json_number_value(json_object_get(j, "cpu_seconds")));
}

static void print_jobs(json_t *j, int one)
{
    printf("%-8s %-10s %7s %12s %12s %12s %12s %8s\n", "JOB", "STATUS", "DONE", "EVENTS", "IN_WINDOW",
           "HITS_CAND", "HITS_BASE", "CPU_S");
    if (one) {
        print_job_line(j);
    } else {
        json_t *jobs = json_object_get(j, "jobs");
        for (size_t i = 0; i < json_array_size(jobs); i++)
            print_job_line(json_array_get(jobs, i));
        return;
    }
    const char *err = json_string_value(json_object_get(j, "error"));
    if (err)
        printf("\nerror: %s\n", err);
    json_t *rules = json_object_get(json_object_get(j, "report"), "rules");
    if (json_array_size(rules) == 0)
        return;
    printf("\n%-32s %10s %10s %8s %8s\n", "RULE", "CANDIDATE", "BASELINE", "ADDED", "REMOVED");
    for (size_t i = 0; i < json_array_size(rules); i++) {
        json_t *r = json_array_get(rules, i), *c = json_object_get(r, "candidate"),
               *b = json_object_get(r, "baseline");
        char cs[24] = "-", bs[24] = "-";
        if (json_is_object(c))
            snprintf(cs, sizeof cs, "%lld", jint(c, "hits"));
        if (json_is_object(b))
            snprintf(bs, sizeof bs, "%lld", jint(b, "hits"));
        printf("%-32s %10s %10s %8lld %8lld\n", jstr(r, "rule"), cs, bs, jint(r, "added"), jint(r, "removed"));
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
    char *rbody = NULL;
    int kind = 0;   /* 0 raw, 1 status, 2 rules, 3 rule, 4 a job, 5 jobs, 6 started, 7 cancelled */
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
            if (!(rbody = replay_body(nargs - 1, args + 1)))
                return CMD_EXIT_USAGE;
            b = rbody;
            kind = 6;
        } else if (strcmp(args[0], "list") == 0 && nargs == 1) {
            snprintf(path, sizeof path, "/replays");
            kind = 5;
        } else if (strcmp(args[0], "status") == 0 && nargs == 2) {
            snprintf(path, sizeof path, "/replays/%s", args[1]);
            kind = 4;
        } else if (strcmp(args[0], "cancel") == 0 && nargs == 2) {
            snprintf(path, sizeof path, "/replays/%s", args[1]);
            method = "DELETE";
            kind = 7;
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
    } else if (kind == 4) {
        print_jobs(j, 1);
    } else if (kind == 5) {
        print_jobs(j, 0);
    } else if (kind == 6) {
        printf("replay job %s %s\n", jstr(j, "id"), jstr(j, "status"));
    } else if (kind == 7) {
        printf("replay job %s %s\n", jstr(j, "id"), json_is_true(json_object_get(j, "deleted")) ? "deleted"
                                                                                              : jstr(j, "status"));
    } else {
        fwrite(out.data ? out.data : "", 1, out.len, stdout);
    }
    json_decref(j);
    wd_buf_free(&out);
    free(rbody);
    curl_global_cleanup();
    return rc;
}

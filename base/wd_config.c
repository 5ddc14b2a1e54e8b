/* base/wd_config.c — loading and checking warden.lua.
 *
 * The file runs once in its own throwaway sandboxed VM (base/wd_lua.h:
 * text chunks only, no io/os/require/load, an instruction budget and a
 * memory cap) and must return a table.  Every key is checked against the
 * section maps below; all problems are reported together, one a line, and
 * an unknown key names the nearest valid one.  The kafka section is passed
 * through to librdkafka, which validates each property. */
#include "base/wd_config.h"

#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <lauxlib.h>
#include <librdkafka/rdkafka.h>
#include <limits.h>
#include <lua.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/wd_alloc.h"
#include "base/wd_buf.h"
#include "base/wd_lua.h"
#include "base/wd_lua_src.h"
#include "base/wd_util.h"

#define CFG_MEM_CAP  (16u << 20)   /* the config VM may hold 16 MiB */
#define CFG_BUDGET   10000000L     /* and run 10M instructions */
#define CFG_TIME_MS  2000L         /* for 2 s at most, C library calls included */

/* ---- the maps ------------------------------------------------------------ */

static const wd_config_key_t top_keys[] = {
    { "rules", WD_CFG_PATH, "rules", "directory of the rule pack (rules, counters.lua, lists/)", NULL, 0, 0 },
    { "store", WD_CFG_STR, "jsonl:warden-hits.jsonl",
      "results sink URL: jsonl:PATH, mysql://user@host:port/db, starrocks://user@fe:8030/db, null: "
      "(password from WARDEN_STORE_PASSWORD)", NULL, 0, 0 },
    { "log_level", WD_CFG_ENUM, "info", "error | warn | info | debug (WARDEN_LOG overrides)",
      "error|warn|info|debug", 0, 0 },
    { NULL, 0, NULL, NULL, NULL, 0, 0 },
};

static const wd_config_key_t streams_keys[] = {
    { "field", WD_CFG_STR, "type", "event field that names the event's stream (the split field)", NULL, 0, 0 },
    { "id_field", WD_CFG_STR, "id", "event field holding the event id (else topic/partition/offset)", NULL, 0, 0 },
    { "ts_field", WD_CFG_STR, "ts", "event field holding event time, RFC 3339 or epoch ms (else the Kafka timestamp)", NULL, 0, 0 },
    { "topics", WD_CFG_LIST, "", "raw input topics (mixed streams)", NULL, 0, 0 },
    { "prefix", WD_CFG_STR, "warden.stream", "per-stream topics are named PREFIX.STREAM", NULL, 0, 0 },
    { NULL, 0, NULL, NULL, NULL, 0, 0 },
};

static const wd_config_key_t run_keys[] = {
    { "topics", WD_CFG_LIST, "", "input topics (default: streams.topics)", NULL, 0, 0 },
    { "group", WD_CFG_STR, "warden", "consumer group id", NULL, 0, 0 },
    { "instance", WD_CFG_STR, "", "this process's stable name in the group; the transactional.id is "
      "GROUP.INSTANCE (default: host name; --instance overrides)", NULL, 0, 0 },
    { "actions_topic", WD_CFG_STR, "warden.actions", "where enforce-mode actions go (key = TYPE:ENTITY)", NULL, 0, 0 },
    { "dlq_topic", WD_CFG_STR, "warden.dlq", "dead-letter topic (original bytes + warden.* headers)", NULL, 0, 0 },
    { "changelog_topic", WD_CFG_STR, "", "compacted topic of per-partition state snapshots (default: GROUP.changelog)", NULL, 0, 0 },
    { "control_topic", WD_CFG_STR, "", "compacted topic of runtime list entries and manual labels, read from "
      "the start before the first event and followed (default: GROUP.control; docs/operations.md)", NULL, 0, 0 },
    { "unknown_stream", WD_CFG_ENUM, "dlq", "events of a stream no rule uses: dlq (dead-letter) or drop (counted)",
      "dlq|drop", 0, 0 },
    { "batch_max", WD_CFG_INT, "10000", "events per transaction at most", NULL, 1, 1000000 },
    { "batch_ms", WD_CFG_INT, "100", "milliseconds per transaction at most", NULL, 1, 600000 },
    { "commit_overlap", WD_CFG_BOOL, "true", "evaluate the next batch while a batch's transaction commits "
      "(its outputs held until that commit is done; exactly-once either way; docs/operations.md)", NULL, 0, 0 },
    { "run_id", WD_CFG_STR, "live", "run_id of the results written", NULL, 0, 0 },
    { "align_ms", WD_CFG_INT, "10000", "co-partitioned input topics (e.g. split topics): evaluate one partition's "
      "events in timestamp order across topics, waiting at most this long for a topic that is not caught up "
      "(0: arrival order)",
      NULL, 0, 600000 },
    { "create_topics", WD_CFG_BOOL, "true", "create missing actions/DLQ/changelog topics at start", NULL, 0, 0 },
    { "repartition", WD_CFG_ENUM, "off", "exact counters under any partitioning: on (a chain of hops over "
      "internal topics GROUP.repartition.K.U, one per counter key field), off (counters count within an input "
      "partition; a warning at start when an input topic has more than one), auto (on when an input topic has "
      "more than one partition); docs/state.md",
      "auto|on|off", 0, 0 },
    { "partitions", WD_CFG_INT, "0", "partitions of the internal repartition topics (0: the most any input "
      "topic has)", NULL, 0, 100000 },
    { "entity_field", WD_CFG_STR, "user.id", "repartitioned: the key of the last hop (and owner of labels) "
      "for a stream without counters", NULL, 0, 0 },
    { "idle_ms", WD_CFG_INT, "1000", "repartitioned: an input partition caught up this long says it is idle, "
      "so the next hop stops waiting for it (an event it gets later that is older than what was handed on "
      "counts as late)", NULL, 1, 600000 },
    { "tick_ms", WD_CFG_INT, "200", "repartitioned: how often an idle hop repeats its watermarks", NULL, 1, 60000 },
    { "hold_max_kb", WD_CFG_INT, "0", "repartitioned: KiB of messages a hop holds per input partition for its "
      "merge (hop 0: its pacing) before it pauses the partition at the broker (0: 8 MiB, or three "
      "fetches' worth if more)", NULL, 0, 16777216 },
    { NULL, 0, NULL, NULL, NULL, 0, 0 },
};

static const wd_config_key_t split_keys[] = {
    { "topics", WD_CFG_LIST, "", "raw input topics (default: streams.topics)", NULL, 0, 0 },
    { "group", WD_CFG_STR, "warden-split", "consumer group id", NULL, 0, 0 },
    { "instance", WD_CFG_STR, "", "stable process name; transactional.id is GROUP.INSTANCE (default: host name)", NULL, 0, 0 },
    { "prefix", WD_CFG_STR, "", "output topics are PREFIX.STREAM (default: streams.prefix)", NULL, 0, 0 },
    { "dlq_topic", WD_CFG_STR, "warden.dlq", "dead-letter topic for malformed events", NULL, 0, 0 },
    { "partitions", WD_CFG_INT, "0", "partitions of the PREFIX.STREAM topics split creates (0: broker default; "
      "origin partitioning: the input partitions in all)", NULL, 0, 100000 },
    { "partitioning", WD_CFG_ENUM, "auto", "the partition of PREFIX.STREAM an event goes to: key (by the stream's "
      "counter key), origin (the raw record's partition: each split partition holds one raw partition's events "
      "in their order, which warden run's repartitioned path needs to stay exact), auto (origin when "
      "run.repartition is on or auto, else key); docs/operations.md", "auto|key|origin", 0, 0 },
    { "batch_max", WD_CFG_INT, "5000", "events per transaction at most", NULL, 1, 1000000 },
    { "batch_ms", WD_CFG_INT, "200", "milliseconds per transaction at most", NULL, 1, 600000 },
    { NULL, 0, NULL, NULL, NULL, 0, 0 },
};

static const wd_config_key_t output_keys[] = {
    { "actions_format", WD_CFG_ENUM, "v2", "action format: v2 (one action per entity, \"schema\":2) or v1 "
      "(deprecated: one action per event, kept for one release)", "v2|v1", 0, 0 },
    { NULL, 0, NULL, NULL, NULL, 0, 0 },
};

static const wd_config_key_t engine_keys[] = {
    { "instr_budget", WD_CFG_INT, "1000000", "Lua instructions per rule evaluation", NULL, 1000, LONG_MAX },
    { "mem_cap_mb", WD_CFG_INT, "64", "MiB the rules' Lua VM may hold", NULL, 1, 65536 },
    { "time_limit_ms", WD_CFG_INT, "50", "wall-clock milliseconds per rule evaluation, C library "
      "calls and ctx reads included (0: none)", NULL, 0, 3600000 },
    { "load_time_limit_ms", WD_CFG_INT, "1000", "wall-clock milliseconds per rule file "
      "chunk when the pack loads (0: none)", NULL, 0, 3600000 },
    { "state_max_mb", WD_CFG_INT, "2048", "ceiling for all counter/label state of the process in MiB, shared among its partitions (0: none)", NULL, 0, 1048576 },
    { "max_future_ms", WD_CFG_INT, "3600000", "Kafka input: an event time further than this ahead of the "
      "message timestamp is rejected (dead-lettered), so one bad clock cannot expire all state (0: off)",
      NULL, 0, LONG_MAX },
    { NULL, 0, NULL, NULL, NULL, 0, 0 },
};

static const wd_config_key_t admin_keys[] = {
    { "listen", WD_CFG_STR, "", "admin HTTP address of warden run, e.g. 127.0.0.1:9100 (empty: no admin API)",
      NULL, 0, 0 },
    { "token_file", WD_CFG_PATH, "", "file with the admin bearer token (else WARDEN_ADMIN_TOKEN)", NULL, 0, 0 },
    { "open_health", WD_CFG_BOOL, "true", "/metrics, /healthz and /readyz answer without the token", NULL, 0, 0 },
    { "audit_file", WD_CFG_PATH, "", "append-only JSONL audit log of every change (empty: log lines only)",
      NULL, 0, 0 },
    { "overrides_topic", WD_CFG_STR, "", "compacted topic of runtime mode overrides (default: GROUP.overrides)",
      NULL, 0, 0 },
    { "breaker_actions_per_min", WD_CFG_INT, "0", "auto-shadow an enforce rule with more hits than this in one "
      "minute of event time (0: off)", NULL, 0, LONG_MAX },
    { "breaker_error_pct", WD_CFG_INT, "0", "auto-shadow a rule whose errors and budget kills exceed this "
      "percentage of its evaluations in a minute (0: off)", NULL, 0, 100 },
    { "breaker_hit_multiple", WD_CFG_INT, "0", "auto-shadow a rule whose hit rate in a minute exceeds this "
      "multiple of its trailing baseline (0: off)", NULL, 0, 1000000 },
    { "breaker_mean_us", WD_CFG_INT, "0", "auto-shadow a rule whose mean evaluation time in a minute exceeds "
      "this many microseconds (0: off)", NULL, 0, LONG_MAX },
    { "breaker_min_evals", WD_CFG_INT, "100", "evaluations a minute needs before the rate and cost checks judge it",
      NULL, 1, LONG_MAX },
    { "replay_jobs_max", WD_CFG_INT, "2", "replay jobs (POST /replays) running at once; more are refused "
      "with 429", NULL, 1, 64 },
    { "replay_cpu_pct", WD_CFG_INT, "25", "percent of one CPU core the replay jobs together may use "
      "(each job thread measures its own CPU time and sleeps to stay under its share)", NULL, 1, 100 },
    { NULL, 0, NULL, NULL, NULL, 0, 0 },
};

/* Settings of features that are not built yet: they stay in the maps (the
 * file format is the contract) but a value is refused, never silently
 * ignored. */
static const struct {
    const char *full;
    const char *why;
} unbuilt[] = {
    { NULL, NULL },
};

static const wd_config_key_t no_keys[] = { { NULL, 0, NULL, NULL, NULL, 0, 0 } };

static const wd_config_section_t sections[] = {
    { "", top_keys, "" },
    { "kafka", no_keys, "librdkafka properties, passed verbatim to rd_kafka_conf_set "
      "(bootstrap.servers required by run and split)" },
    { "streams", streams_keys, "how raw events map to streams" },
    { "run", run_keys, "warden run: the enforcement service" },
    { "split", split_keys, "warden split: the stateless split & prune stage" },
    { "engine", engine_keys, "evaluation limits" },
    { "output", output_keys, "what leaves warden: the action format" },
    { "admin", admin_keys, "admin HTTP API of warden run (docs/operations.md)" },
    { NULL, NULL, NULL },
};

const wd_config_section_t *wd_config_sections(void) { return sections; }

/* Kafka properties that are secrets: refused in the file, read from
 * WARDEN_KAFKA_<KEY> (upper case, '.' → '_'). */
static const char *const kafka_secrets[] = {
    "sasl.password", "ssl.key.password", "ssl.keystore.password",
    "sasl.oauthbearer.client.secret", "ssl.key.pem", NULL,
};

/* ---- the loaded config ---------------------------------------------------- */

typedef struct cval {
    char                   *full;    /* "run.group" or "rules" */
    const wd_config_key_t *k;
    char                   *s;       /* STR, PATH, ENUM */
    long                    i;
    int                     b;
    char                  **list;
    size_t                  nlist;
    int                     set;
    int                     from_cli;  /* set by --set, not by the file */
} cval_t;

struct wd_config {
    char    *path;
    char    *src;        /* the file's text, for line numbers in later checks */
    size_t   srclen;
    char    *dir;        /* for relative PATHs */
    cval_t  *vals;
    size_t   nvals;
    char   **kkeys;      /* kafka section */
    char   **kvals;
    size_t   nkafka;
};

/* The problems of one load (base/wd_util.h's collector) and what their
 * messages need: the file's path and text, for "path:line: " prefixes. */
typedef struct errs {
    wd_errs_t   w;
    const char *path;
    const char *src;      /* the file's text, for line numbers (may be NULL) */
    size_t      srclen;
} errs_t;

__attribute__((format(printf, 3, 0)))
static void err_vadd(errs_t *e, int line, const char *fmt, va_list ap)
{
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (line > 0)
        wd_errs_add(&e->w, "%s:%d: %s", e->path, line, msg);
    else
        wd_errs_add(&e->w, "%s: %s", e->path, msg);
}

__attribute__((format(printf, 2, 3)))
static void err_add(errs_t *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vadd(e, 0, fmt, ap);
    va_end(ap);
}

__attribute__((format(printf, 3, 4)))
static void err_line(errs_t *e, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vadd(e, line, fmt, ap);
    va_end(ap);
}

/* The line of the file that sets sec.key (sec NULL: a top-level key), or 0
 * when its text does not show one (a table built by code, --set). */
static int setting_line(const errs_t *e, const char *sec, const char *key)
{
    const char *path[2] = { sec, key };
    return sec ? wd_lua_field_line(e->src, e->srclen, path, 2)
               : wd_lua_field_line(e->src, e->srclen, path + 1, 1);
}

/* setting_line by full name: "run.batch_ms", "rules". */
static int full_line(const errs_t *e, const char *full)
{
    const char *dot = strchr(full, '.');
    char sec[64];
    if (!dot || (size_t)(dot - full) >= sizeof sec)
        return setting_line(e, NULL, full);
    memcpy(sec, full, (size_t)(dot - full));
    sec[dot - full] = '\0';
    return setting_line(e, sec, dot + 1);
}

size_t wd_config_distance(const char *a, const char *b, size_t max)
{
    size_t la = strlen(a), lb = strlen(b);
    if ((la > lb ? la - lb : lb - la) > max)
        return max + 1;
    size_t *row = wd_malloc((lb + 1) * sizeof(*row));
    if (!row)
        return max + 1;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0], best;
        row[0] = i;
        best = row[0];
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
            size_t v = diag + cost;
            if (row[j - 1] + 1 < v) v = row[j - 1] + 1;
            if (up + 1 < v) v = up + 1;
            row[j] = v;
            diag = up;
            if (v < best) best = v;
        }
        if (best > max) {
            free(row);
            return max + 1;
        }
    }
    size_t d = row[lb];
    free(row);
    return d > max ? max + 1 : d;
}

/* The nearest candidate to key within a third of its length (at least 2
 * edits), or NULL. */
static const char *nearest(const char *key, const char *const *cands, size_t n)
{
    size_t max = strlen(key) / 3;
    if (max < 2) max = 2;
    const char *best = NULL;
    size_t bestd = max + 1;
    for (size_t i = 0; i < n; i++) {
        size_t d = wd_config_distance(key, cands[i], max);
        if (d < bestd) {
            bestd = d;
            best = cands[i];
        }
    }
    return best;
}

static cval_t *find(const wd_config_t *c, const char *full)
{
    for (size_t i = 0; i < c->nvals; i++)
        if (strcmp(c->vals[i].full, full) == 0)
            return &c->vals[i];
    return NULL;
}

/* Out of memory while loading: a string that cannot be copied becomes
 * the shared empty string nomem (never freed: cfree), and cfg_oom makes
 * the load (or wd_config_set) fail with "out of memory while reading the
 * config" once it is over.  The loader's many string fields so never hold
 * NULL, and its checks run on as if the value were empty. */
static char nomem[1];
static _Thread_local int cfg_oom;

static void cfree(void *p)
{
    if (p != nomem)
        free(p);
}

static void free_list(cval_t *v)
{
    for (size_t i = 0; i < v->nlist; i++)
        cfree(v->list[i]);
    cfree(v->list);
    v->list = NULL;
    v->nlist = 0;
}

static char *xstrdup(const char *s)
{
    char *d = wd_strdup(s ? s : "");
    if (!d) {
        cfg_oom = 1;
        return nomem;
    }
    return d;
}

static void list_push(cval_t *v, const char *s)
{
    char **n = wd_realloc(v->list, (v->nlist + 1) * sizeof(*n));
    if (!n) {
        cfg_oom = 1;
        return;
    }
    v->list = n;
    v->list[v->nlist++] = xstrdup(s);
}

/* Parses text into v per its type.  Returns 0 or -1 with msg. */
static int set_text(cval_t *v, const char *text, char *msg, size_t msgn)
{
    const wd_config_key_t *k = v->k;
    switch (k->type) {
    case WD_CFG_STR:
    case WD_CFG_PATH:
        cfree(v->s);
        v->s = xstrdup(text);
        return 0;
    case WD_CFG_ENUM: {
        size_t tl = strlen(text);
        for (const char *p = k->choices; p && *p;) {
            const char *bar = strchr(p, '|');
            size_t l = bar ? (size_t)(bar - p) : strlen(p);
            if (l == tl && strncmp(p, text, l) == 0) {
                cfree(v->s);
                v->s = xstrdup(text);
                return 0;
            }
            p = bar ? bar + 1 : p + l;
        }
        snprintf(msg, msgn, "\"%s\" is not one of %s", text, k->choices);
        return -1;
    }
    case WD_CFG_INT: {
        char *end;
        errno = 0;
        long n = strtol(text, &end, 10);
        if (errno || end == text || *end) {
            snprintf(msg, msgn, "expected an integer, got \"%s\"", text);
            return -1;
        }
        if (n < k->min || n > k->max) {
            snprintf(msg, msgn, "%ld is out of range [%ld, %ld]", n, k->min, k->max);
            return -1;
        }
        v->i = n;
        return 0;
    }
    case WD_CFG_BOOL:
        if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0) v->b = 1;
        else if (strcmp(text, "false") == 0 || strcmp(text, "0") == 0) v->b = 0;
        else {
            snprintf(msg, msgn, "expected true or false, got \"%s\"", text);
            return -1;
        }
        return 0;
    case WD_CFG_LIST: {
        free_list(v);
        const char *p = text;
        while (*p) {
            const char *comma = strchr(p, ',');
            size_t l = comma ? (size_t)(comma - p) : strlen(p);
            char *item = wd_strndup(p, l);
            if (!item) {
                cfg_oom = 1;
                return 0;
            }
            if (*item) list_push(v, item);
            cfree(item);
            p += l + (comma ? 1 : 0);
        }
        return 0;
    }
    }
    snprintf(msg, msgn, "bad type");
    return -1;
}

static const char *lua_typename_of(lua_State *L, int idx)
{
    if (lua_type(L, idx) == LUA_TNUMBER)
        return lua_isinteger(L, idx) ? "integer" : "number";
    return luaL_typename(L, idx);
}

/* A bad value for the setting v, at the line that sets it. */
__attribute__((format(printf, 3, 4)))
static void err_value(errs_t *e, const cval_t *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vadd(e, full_line(e, v->full), fmt, ap);
    va_end(ap);
}

/* Reads the Lua value at idx into v, or reports why it does not fit. */
static void set_lua(cval_t *v, lua_State *L, int idx, errs_t *e)
{
    const wd_config_key_t *k = v->k;
    char msg[256];
    idx = lua_absindex(L, idx);
    switch (k->type) {
    case WD_CFG_STR:
    case WD_CFG_PATH:
    case WD_CFG_ENUM:
        if (lua_type(L, idx) != LUA_TSTRING) {
            err_value(e, v, "%s: expected a string, got %s", v->full, lua_typename_of(L, idx));
            return;
        }
        if (set_text(v, lua_tostring(L, idx), msg, sizeof msg) != 0) {
            err_value(e, v, "%s: %s", v->full, msg);
            return;
        }
        break;
    case WD_CFG_INT: {
        lua_Integer n;
        if (lua_isinteger(L, idx)) {
            n = lua_tointeger(L, idx);
        } else if (lua_type(L, idx) == LUA_TNUMBER) {
            lua_Number d = lua_tonumber(L, idx);
            if (d != (lua_Number)(lua_Integer)d) {
                err_value(e, v, "%s: expected an integer, got %g", v->full, (double)d);
                return;
            }
            n = (lua_Integer)d;
        } else {
            err_value(e, v, "%s: expected an integer, got %s", v->full, lua_typename_of(L, idx));
            return;
        }
        if (n < k->min || n > k->max) {
            err_value(e, v, "%s: %lld is out of range [%ld, %ld]", v->full, (long long)n, k->min, k->max);
            return;
        }
        v->i = (long)n;
        break;
    }
    case WD_CFG_BOOL:
        if (lua_type(L, idx) != LUA_TBOOLEAN) {
            err_value(e, v, "%s: expected a boolean, got %s", v->full, lua_typename_of(L, idx));
            return;
        }
        v->b = lua_toboolean(L, idx);
        break;
    case WD_CFG_LIST:
        if (lua_type(L, idx) == LUA_TSTRING) {
            free_list(v);
            list_push(v, lua_tostring(L, idx));
            break;
        }
        if (lua_type(L, idx) != LUA_TTABLE) {
            err_value(e, v, "%s: expected a list of strings, got %s", v->full, lua_typename_of(L, idx));
            return;
        }
        {
            lua_Integer n = (lua_Integer)lua_rawlen(L, idx), count = 0;
            lua_pushnil(L);
            while (lua_next(L, idx)) {
                count++;
                lua_pop(L, 1);
            }
            if (count != n) {
                err_value(e, v, "%s: expected a list of strings, got a table with non-list keys", v->full);
                return;
            }
            free_list(v);
            for (lua_Integer i = 1; i <= n; i++) {
                lua_rawgeti(L, idx, i);
                if (lua_type(L, -1) != LUA_TSTRING) {
                    err_value(e, v, "%s[%lld]: expected a string, got %s", v->full, (long long)i,
                            lua_typename_of(L, -1));
                    lua_pop(L, 1);
                    return;
                }
                list_push(v, lua_tostring(L, -1));
                lua_pop(L, 1);
            }
        }
        break;
    }
    v->set = 1;
}

/* WARDEN_KAFKA_SASL_PASSWORD for sasl.password. */
static void secret_env_name(const char *key, char *env, size_t n)
{
    size_t o = (size_t)snprintf(env, n, "WARDEN_KAFKA_");
    for (const char *p = key; *p && o + 1 < n; p++)
        env[o++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
    env[o < n ? o : n - 1] = '\0';
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int is_secret(const char *key)
{
    for (int i = 0; kafka_secrets[i]; i++)
        if (strcmp(key, kafka_secrets[i]) == 0)
            return 1;
    return strstr(key, "password") != NULL || strstr(key, "secret") != NULL;
}

static void kafka_put(wd_config_t *c, const char *key, const char *val)
{
    for (size_t i = 0; i < c->nkafka; i++)
        if (strcmp(c->kkeys[i], key) == 0) {
            cfree(c->kvals[i]);
            c->kvals[i] = xstrdup(val);
            return;
        }
    char **k = wd_realloc(c->kkeys, (c->nkafka + 1) * sizeof(*k));
    if (!k) {
        cfg_oom = 1;
        return;
    }
    c->kkeys = k;
    char **v = wd_realloc(c->kvals, (c->nkafka + 1) * sizeof(*v));
    if (!v) {
        cfg_oom = 1;
        return;
    }
    c->kvals = v;
    c->kkeys[c->nkafka] = xstrdup(key);
    c->kvals[c->nkafka] = xstrdup(val);
    c->nkafka++;
}

/* The kafka section: every key a string, every value a string, number or
 * boolean, each accepted by librdkafka. */
static void read_kafka(wd_config_t *c, lua_State *L, int idx, errs_t *e)
{
    rd_kafka_conf_t *scratch = rd_kafka_conf_new();
    idx = lua_absindex(L, idx);
    /* lua_next order is unspecified: collect the keys and sort them, so
     * errors and the order of rd_kafka_conf_set calls are stable. */
    size_t nk = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        nk++;
        lua_pop(L, 1);
    }
    char **keys = wd_calloc(nk ? nk : 1, sizeof(*keys));
    if (!keys) {
        cfg_oom = 1;
        rd_kafka_conf_destroy(scratch);
        return;
    }
    size_t got = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            err_add(e, "kafka: keys must be librdkafka property names (strings), got %s",
                    lua_typename_of(L, -1));
            continue;
        }
        keys[got++] = xstrdup(lua_tostring(L, -1));
    }
    qsort(keys, got, sizeof(*keys), cmp_str);
    for (size_t i = 0; i < got; i++) {
        const char *key = keys[i];
        char text[64];
        const char *val = NULL;
        lua_getfield(L, idx, key);
        switch (lua_type(L, -1)) {
        case LUA_TSTRING:
            val = lua_tostring(L, -1);
            break;
        case LUA_TBOOLEAN:
            val = lua_toboolean(L, -1) ? "true" : "false";
            break;
        case LUA_TNUMBER:
            if (lua_isinteger(L, -1))
                snprintf(text, sizeof text, "%lld", (long long)lua_tointeger(L, -1));
            else
                snprintf(text, sizeof text, "%.17g", (double)lua_tonumber(L, -1));
            val = text;
            break;
        default:
            err_line(e, setting_line(e, "kafka", key), "kafka[\"%s\"]: expected a string, number or boolean, got %s",
                     key, lua_typename_of(L, -1));
            break;
        }
        if (val && is_secret(key)) {
            char env[128];
            secret_env_name(key, env, sizeof env);
            err_line(e, setting_line(e, "kafka", key),
                     "kafka[\"%s\"]: secrets are not read from the config file; set %s in the environment", key, env);
        } else if (val) {
            char kerr[512];
            if (rd_kafka_conf_set(scratch, key, val, kerr, sizeof kerr) != RD_KAFKA_CONF_OK)
                err_line(e, setting_line(e, "kafka", key), "kafka[\"%s\"]: %s", key, kerr);
            else
                kafka_put(c, key, val);
        }
        lua_pop(L, 1);
        cfree(keys[i]);
    }
    cfree(keys);
    rd_kafka_conf_destroy(scratch);
}

/* Secrets from the environment: WARDEN_KAFKA_SASL_PASSWORD → sasl.password … */
static void kafka_env_secrets(wd_config_t *c, errs_t *e)
{
    rd_kafka_conf_t *scratch = rd_kafka_conf_new();
    for (int i = 0; kafka_secrets[i]; i++) {
        char env[128];
        secret_env_name(kafka_secrets[i], env, sizeof env);
        const char *v = getenv(env);
        if (!v || !*v)
            continue;
        char kerr[512];
        if (rd_kafka_conf_set(scratch, kafka_secrets[i], v, kerr, sizeof kerr) != RD_KAFKA_CONF_OK)
            err_add(e, "%s: %s", env, kerr);
        else
            kafka_put(c, kafka_secrets[i], v);
    }
    rd_kafka_conf_destroy(scratch);
}

static void read_section(wd_config_t *c, const wd_config_section_t *sec, lua_State *L, int idx,
                         errs_t *e)
{
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            err_add(e, "%s: keys must be names, got %s", sec->name, lua_typename_of(L, -2));
            lua_pop(L, 1);
            continue;
        }
        const char *key = lua_tostring(L, -2);
        char full[256];
        snprintf(full, sizeof full, "%s.%s", sec->name, key);
        cval_t *v = find(c, full);
        if (v) {
            set_lua(v, L, -1, e);
        } else {
            const char *cands[32];
            size_t n = 0;
            for (const wd_config_key_t *k = sec->keys; k->key && n < 32; k++)
                cands[n++] = k->key;
            const char *near = nearest(key, cands, n);
            /* A key of another section put here by mistake is worth naming. */
            const char *elsewhere = NULL;
            for (const wd_config_section_t *s = sections; !near && s->name && !elsewhere; s++)
                for (const wd_config_key_t *k = s->keys; k->key; k++)
                    if (s != sec && strcmp(k->key, key) == 0) {
                        elsewhere = s->name;
                        break;
                    }
            int line = setting_line(e, sec->name, key);
            if (near)
                err_line(e, line, "%s: unknown key \"%s\" (did you mean \"%s\"?)", sec->name, key, near);
            else if (elsewhere)
                err_line(e, line, "%s: unknown key \"%s\" (it belongs in section \"%s\")", sec->name, key,
                         *elsewhere ? elsewhere : "top level");
            else
                err_line(e, line, "%s: unknown key \"%s\"", sec->name, key);
        }
        lua_pop(L, 1);
    }
}

static void read_top(wd_config_t *c, lua_State *L, int idx, errs_t *e)
{
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            err_add(e, "top level: keys must be names, got %s", lua_typename_of(L, -2));
            lua_pop(L, 1);
            continue;
        }
        const char *key = lua_tostring(L, -2);
        const wd_config_section_t *sec = NULL;
        for (const wd_config_section_t *s = sections + 1; s->name; s++)
            if (strcmp(s->name, key) == 0)
                sec = s;
        cval_t *v = find(c, key);
        if (sec) {
            if (lua_type(L, -1) != LUA_TTABLE)
                err_line(e, setting_line(e, NULL, key), "%s: expected a table, got %s", key,
                         lua_typename_of(L, -1));
            else if (strcmp(key, "kafka") == 0)
                read_kafka(c, L, -1, e);
            else
                read_section(c, sec, L, -1, e);
        } else if (v) {
            set_lua(v, L, -1, e);
        } else {
            const char *cands[32];
            size_t n = 0;
            for (const wd_config_key_t *k = top_keys; k->key; k++)
                cands[n++] = k->key;
            for (const wd_config_section_t *s = sections + 1; s->name; s++)
                cands[n++] = s->name;
            const char *near = nearest(key, cands, n);
            int line = setting_line(e, NULL, key);
            if (near)
                err_line(e, line, "unknown key \"%s\" (did you mean \"%s\"?)", key, near);
            else
                err_line(e, line, "unknown key \"%s\" (sections: kafka, streams, run, split, engine, admin; "
                         "keys: rules, store, log_level)", key);
        }
        lua_pop(L, 1);
    }
}

static char *resolve(const wd_config_t *c, const char *p)
{
    if (!p || !*p || p[0] == '/' || !c->dir || strcmp(c->dir, ".") == 0)
        return xstrdup(p);
    size_t n = strlen(c->dir) + strlen(p) + 2;
    char *r = wd_malloc(n);
    if (!r) {
        cfg_oom = 1;
        return nomem;
    }
    snprintf(r, n, "%s/%s", c->dir, p);
    return r;
}

/* The line of a top-level setting's value in the file, 0 when --set gave
 * the value in force. */
static int value_line(const wd_config_t *c, const errs_t *e, const char *key)
{
    const cval_t *v = find(c, key);
    return v && v->from_cli ? 0 : setting_line(e, NULL, key);
}

static void check_rules(const wd_config_t *c, errs_t *e)
{
    const char *rules = wd_config_str(c, "rules");
    struct stat st;
    if (stat(rules, &st) != 0) {
        err_line(e, value_line(c, e, "rules"), "rules: cannot read the rule pack \"%s\": %s", rules, strerror(errno));
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(rules);
        if (!d) {
            err_line(e, value_line(c, e, "rules"), "rules: cannot read the rule pack directory \"%s\": %s", rules, strerror(errno));
            return;
        }
        closedir(d);
    } else if (access(rules, R_OK) != 0) {
        err_line(e, value_line(c, e, "rules"), "rules: cannot read \"%s\": %s", rules, strerror(errno));
    } else {
        size_t l = strlen(rules);
        if (l < 4 || strcmp(rules + l - 4, ".lua") != 0)
            err_line(e, value_line(c, e, "rules"), "rules: \"%s\" is neither a directory nor a .lua rule file", rules);
    }
}

static void check_store(wd_config_t *c, errs_t *e)
{
    const char *url = wd_config_str(c, "store");
    static const char *const schemes[] = { "jsonl:", "mysql://", "starrocks://", "null:", NULL };
    int ok = 0;
    for (int i = 0; schemes[i]; i++)
        if (strncmp(url, schemes[i], strlen(schemes[i])) == 0)
            ok = 1;
    if (!ok) {
        const char *colon = strchr(url, ':');
        err_line(e, value_line(c, e, "store"), "store: unknown URL scheme \"%.*s\" in \"%s\" (expected jsonl:PATH, "
                "mysql://user@host:port/db, starrocks://user@fe-host:8030/db or null:)",
                colon ? (int)(colon - url) : (int)strlen(url), url, url);
        return;
    }
    const char *sep = strstr(url, "://");
    if (sep) {
        const char *host = sep + 3;
        const char *at = strchr(host, '@');
        const char *slash = strchr(host, '/');
        if (at && (!slash || at < slash) && memchr(host, ':', (size_t)(at - host)))
            err_line(e, value_line(c, e, "store"), "store: the URL carries a password; give it in WARDEN_STORE_PASSWORD instead");
    }
}

static void check_unbuilt(const wd_config_t *c, errs_t *e)
{
    for (int i = 0; unbuilt[i].full; i++) {
        const cval_t *v = find(c, unbuilt[i].full);
        if (v && v->set && v->s && *v->s)
            err_line(e, v->from_cli ? 0 : full_line(e, v->full), "%s: not supported yet (%s)", v->full,
                     unbuilt[i].why);
    }
}

static void check_flags(const wd_config_t *c, int flags, errs_t *e)
{
    check_unbuilt(c, e);
    if ((flags & WD_CONFIG_NEED_KAFKA) && !wd_config_kafka_get(c, "bootstrap.servers"))
        err_add(e, "kafka: \"bootstrap.servers\" is required (kafka = { [\"bootstrap.servers\"] = \"host:9092\" }, "
                "or -X bootstrap.servers=host:9092)");
    if (flags & WD_CONFIG_NEED_RULES)
        check_rules(c, e);
}

int wd_config_check(const wd_config_t *c, int flags, char *errstr, size_t errstr_size)
{
    errs_t e = { { errstr, errstr_size, 0, 0 }, c->path, c->src, c->srclen };
    if (errstr && errstr_size)
        errstr[0] = '\0';
    check_flags(c, flags, &e);
    return e.w.count ? -1 : 0;
}

int wd_config_kafka_set(wd_config_t *c, const char *key, const char *value, char *errstr,
                         size_t errstr_size)
{
    rd_kafka_conf_t *scratch = rd_kafka_conf_new();
    char kerr[512];
    int rc = 0;
    cfg_oom = 0;
    if (rd_kafka_conf_set(scratch, key, value, kerr, sizeof kerr) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size, "kafka[\"%s\"]: %s", key, kerr);
        rc = -1;
    } else {
        kafka_put(c, key, value);
        if (cfg_oom) {
            snprintf(errstr, errstr_size, "kafka[\"%s\"]: out of memory while setting it", key);
            rc = -1;
        }
    }
    rd_kafka_conf_destroy(scratch);
    return rc;
}

static void derive(wd_config_t *c)
{
    /* Inherited defaults: run/split topics from streams.topics, the split
     * prefix from streams.prefix, the changelog topic from the group. */
    const char *const *st;
    size_t nst = wd_config_list(c, "streams.topics", &st);
    const char *inherit[] = { "run.topics", "split.topics" };
    for (int i = 0; i < 2; i++) {
        cval_t *v = find(c, inherit[i]);
        if (!v->set && v->nlist == 0)
            for (size_t j = 0; j < nst; j++)
                list_push(v, st[j]);
    }
    cval_t *p = find(c, "split.prefix");
    if (!*p->s) {
        cfree(p->s);
        p->s = xstrdup(wd_config_str(c, "streams.prefix"));
    }
    cval_t *cl = find(c, "run.changelog_topic");
    if (!*cl->s) {
        char buf[512];
        snprintf(buf, sizeof buf, "%s.changelog", wd_config_str(c, "run.group"));
        cfree(cl->s);
        cl->s = xstrdup(buf);
    }
    cval_t *ct = find(c, "run.control_topic");
    if (!*ct->s) {
        char buf[512];
        snprintf(buf, sizeof buf, "%s.control", wd_config_str(c, "run.group"));
        cfree(ct->s);
        ct->s = xstrdup(buf);
    }
    cval_t *ov = find(c, "admin.overrides_topic");
    if (!*ov->s) {
        char buf[512];
        snprintf(buf, sizeof buf, "%s.overrides", wd_config_str(c, "run.group"));
        cfree(ov->s);
        ov->s = xstrdup(buf);
    }
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0 || !*host)
        snprintf(host, sizeof host, "warden");
    const char *inst[] = { "run.instance", "split.instance" };
    for (int i = 0; i < 2; i++) {
        cval_t *v = find(c, inst[i]);
        if (!*v->s) {
            cfree(v->s);
            v->s = xstrdup(host);
        }
    }
    /* Relative paths resolve against the config file's directory. */
    for (size_t i = 0; i < c->nvals; i++) {
        cval_t *v = &c->vals[i];
        if (v->k->type == WD_CFG_PATH && v->s && *v->s) {
            char *r = resolve(c, v->s);
            cfree(v->s);
            v->s = r;
        }
    }
    cval_t *store = find(c, "store");
    if (strncmp(store->s, "jsonl:", 6) == 0 && store->s[6] && strcmp(store->s + 6, "-") != 0 &&
        store->s[6] != '/' && c->dir && strcmp(c->dir, ".") != 0) {
        char *r = resolve(c, store->s + 6);
        size_t n = strlen(r) + 7;
        char *u = wd_malloc(n);
        if (!u) {
            cfg_oom = 1;
            u = nomem;
        } else {
            snprintf(u, n, "jsonl:%s", r);
        }
        cfree(r);
        cfree(store->s);
        store->s = u;
    }
}

static wd_config_t *config_new(const char *path)
{
    wd_config_t *c = wd_calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->path = xstrdup(path ? path : "(defaults)");
    if (path) {
        const char *slash = strrchr(path, '/');
        c->dir = slash ? wd_strndup(path, (size_t)(slash - path) ? (size_t)(slash - path) : 1) : xstrdup(".");
        if (!c->dir) {
            cfg_oom = 1;
            c->dir = nomem;
        }
    }
    size_t n = 0;
    for (const wd_config_section_t *s = sections; s->name; s++)
        for (const wd_config_key_t *k = s->keys; k->key; k++)
            n++;
    c->vals = wd_calloc(n ? n : 1, sizeof(*c->vals));
    if (!c->vals) {
        wd_config_destroy(c);
        return NULL;
    }
    for (const wd_config_section_t *s = sections; s->name; s++)
        for (const wd_config_key_t *k = s->keys; k->key; k++) {
            cval_t *v = &c->vals[c->nvals++];
            char full[256];
            snprintf(full, sizeof full, "%s%s%s", s->name, *s->name ? "." : "", k->key);
            v->full = xstrdup(full);
            v->k = k;
            char msg[128];
            int rc = set_text(v, k->def, msg, sizeof msg);
            assert(rc == 0);
            (void)rc;
        }
    if (cfg_oom) {
        /* The table of settings must be whole: lookups go by name. */
        wd_config_destroy(c);
        return NULL;
    }
    return c;
}

/* Lua's messages usually start with "path:line:"; others get the path. */
static void lua_report(errs_t *e, const char *path, const char *msg)
{
    size_t pl = strlen(path);
    if (strncmp(msg, path, pl) == 0 && msg[pl] == ':') {
        wd_errs_add(&e->w, "%s", msg);
    } else {
        err_add(e, "%s", msg);
    }
}

wd_config_t *wd_config_load(const char *path, int flags, char *errstr, size_t errstr_size)
{
    errs_t e = { { errstr, errstr_size, 0, 0 }, path ? path : "config", NULL, 0 };
    if (errstr && errstr_size)
        errstr[0] = '\0';
    cfg_oom = 0;
    wd_config_t *c = config_new(path);
    if (!c) {
        err_add(&e, "out of memory while reading the config");
        return NULL;
    }
    wd_lua_t *vm = NULL;
    char *src = NULL;
    size_t len = 0;

    if (path) {
        char msg[512];
        if (wd_read_file(path, &src, &len, msg, sizeof msg) != 0) {
            err_add(&e, "cannot read the config file: %s", msg);
            goto done;
        }
        e.src = src;
        e.srclen = len;
        vm = wd_lua_new(CFG_MEM_CAP, CFG_BUDGET, msg, sizeof msg);
        if (!vm) {
            err_add(&e, "%s", msg);
            goto done;
        }
        wd_lua_set_time_limit(vm, CFG_TIME_MS);
        lua_State *L = wd_lua_state(vm);
        char chunk[1024];
        snprintf(chunk, sizeof chunk, "@%s", path);
        if (wd_lua_load_sandboxed(vm, src, len, chunk, msg, sizeof msg) != 0) {
            lua_report(&e, path, msg);
            goto done;
        }
        int st = wd_lua_pcall(vm, 0, 1);
        if (st != WD_LUA_OK) {
            const char *m = lua_tostring(L, -1);
            if (st == WD_LUA_TIMEOUT)
                err_add(&e, "the config ran too long (more than %ld Lua instructions or %ld ms): %s",
                        CFG_BUDGET, CFG_TIME_MS, m ? m : "killed");
            else if (st == WD_LUA_OOM)
                err_add(&e, "the config used more than %u MiB of memory", CFG_MEM_CAP >> 20);
            else
                lua_report(&e, path, m ? m : "error in the config file");
            goto done;
        }
        if (lua_type(L, -1) != LUA_TTABLE) {
            err_add(&e, "the file must return a table, got %s", lua_typename_of(L, -1));
            goto done;
        }
        read_top(c, L, -1, &e);
        lua_pop(L, 1);
    }
    kafka_env_secrets(c, &e);
    /* Keys with bad values keep their defaults: the remaining checks still
     * say everything else that is wrong, in one go. */
    derive(c);
    check_store(c, &e);
    check_flags(c, flags, &e);

done:
    c->src = src;
    c->srclen = len;
    wd_lua_destroy(vm);
    if (cfg_oom) {
        /* What was said before may stem from a value that could not be
         * copied: say only the cause. */
        e.w.len = 0;
        e.w.count = 0;
        if (e.w.buf && e.w.size)
            e.w.buf[0] = '\0';
        err_add(&e, "out of memory while reading the config");
    }
    if (e.w.count) {
        wd_config_destroy(c);
        return NULL;
    }
    return c;
}

void wd_config_destroy(wd_config_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nvals; i++) {
        cfree(c->vals[i].full);
        cfree(c->vals[i].s);
        free_list(&c->vals[i]);
    }
    cfree(c->vals);
    for (size_t i = 0; i < c->nkafka; i++) {
        cfree(c->kkeys[i]);
        cfree(c->kvals[i]);
    }
    cfree(c->kkeys);
    cfree(c->kvals);
    cfree(c->path);
    cfree(c->src);
    cfree(c->dir);
    cfree(c);
}

static const cval_t *need(const wd_config_t *c, const char *key, int t1, int t2, int t3)
{
    const cval_t *v = find(c, key);
    assert(v && "wd_config: no such key");
    assert(v->k->type == t1 || v->k->type == t2 || v->k->type == t3);
    (void)t1; (void)t2; (void)t3;
    return v;
}

const char *wd_config_str(const wd_config_t *c, const char *key)
{
    return need(c, key, WD_CFG_STR, WD_CFG_PATH, WD_CFG_ENUM)->s;
}

long wd_config_int(const wd_config_t *c, const char *key)
{
    return need(c, key, WD_CFG_INT, WD_CFG_INT, WD_CFG_INT)->i;
}

int wd_config_bool(const wd_config_t *c, const char *key)
{
    return need(c, key, WD_CFG_BOOL, WD_CFG_BOOL, WD_CFG_BOOL)->b;
}

size_t wd_config_list(const wd_config_t *c, const char *key, const char *const **items)
{
    const cval_t *v = need(c, key, WD_CFG_LIST, WD_CFG_LIST, WD_CFG_LIST);
    *items = (const char *const *)v->list;
    return v->nlist;
}

int wd_config_is_set(const wd_config_t *c, const char *key)
{
    const cval_t *v = find(c, key);
    assert(v);
    return v ? v->set : 0;
}

int wd_config_set(wd_config_t *c, const char *key, const char *value, char *errstr,
                   size_t errstr_size)
{
    cval_t *v = find(c, key);
    if (!v) {
        snprintf(errstr, errstr_size, "unknown setting \"%s\"", key);
        return -1;
    }
    char msg[256];
    cfg_oom = 0;
    if (set_text(v, value, msg, sizeof msg) != 0) {
        snprintf(errstr, errstr_size, "%s: %s", key, msg);
        return -1;
    }
    if (cfg_oom) {
        snprintf(errstr, errstr_size, "%s: out of memory while setting it", key);
        return -1;
    }
    v->set = 1;
    v->from_cli = 1;
    return 0;
}

size_t wd_config_kafka(const wd_config_t *c, const char *const **keys, const char *const **values)
{
    *keys = (const char *const *)c->kkeys;
    *values = (const char *const *)c->kvals;
    return c->nkafka;
}

const char *wd_config_kafka_get(const wd_config_t *c, const char *key)
{
    for (size_t i = 0; i < c->nkafka; i++)
        if (strcmp(c->kkeys[i], key) == 0)
            return c->kvals[i];
    return NULL;
}

int wd_config_kafka_apply(const wd_config_t *c, void *rd_conf, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < c->nkafka; i++) {
        char kerr[512];
        if (rd_kafka_conf_set(rd_conf, c->kkeys[i], c->kvals[i], kerr, sizeof kerr) != RD_KAFKA_CONF_OK) {
            snprintf(errstr, errstr_size, "kafka[\"%s\"]: %s", c->kkeys[i], kerr);
            return -1;
        }
    }
    return 0;
}

const char *wd_config_path(const wd_config_t *c) { return c->path; }

static const char *type_name(int t)
{
    switch (t) {
    case WD_CFG_STR: return "string";
    case WD_CFG_INT: return "integer";
    case WD_CFG_BOOL: return "boolean";
    case WD_CFG_LIST: return "list of strings";
    case WD_CFG_ENUM: return "string";
    case WD_CFG_PATH: return "path";
    }
    return "?";
}

/* Writes s with Markdown table pipes escaped. */
static void md_cell(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputc('\\', out);
        fputc(*s, out);
    }
}

void wd_config_describe(FILE *out)
{
    for (const wd_config_section_t *s = sections; s->name; s++) {
        if (*s->name)
            fprintf(out, "\n### %s = { … }\n\n%s.\n\n", s->name, s->desc);
        else
            fprintf(out, "\n### top level\n\n");
        if (!s->keys[0].key)
            continue;
        fprintf(out, "| key | type | default | description |\n|---|---|---|---|\n");
        for (const wd_config_key_t *k = s->keys; k->key; k++) {
            fprintf(out, "| `%s` | %s | %s%s%s | ", k->key, type_name(k->type), *k->def ? "`" : "",
                    *k->def ? k->def : "—", *k->def ? "`" : "");
            md_cell(out, k->desc);
            fprintf(out, " |\n");
        }
    }
}

/* tests/rules/test_loader.c — the rule pack loader (rules/rule_pack.c):
 * one test per message, each checked for its "path:line: " prefix and its
 * text; every problem of a pack reported in one go; what is and is not a
 * rule file; rule tables that fight back (metatables) do not crash it. */
#include <regex.h>

#include "tests/rules/testutil.h"

/* The lines of a well-formed rule; tests replace one of them. */
#define L_RETURN   "return {\n"                             /* line 1 */
#define L_NAME     "  name = \"r.one\",\n"                  /* line 2 */
#define L_VERSION  "  version = 1,\n"                       /* line 3 */
#define L_STREAMS  "  streams = { \"s\" },\n"               /* line 4 */
#define L_MODE     "  mode = \"enforce\",\n"                /* line 5 */
#define L_EVAL     "  evaluate = function(ev, ctx) end,\n"  /* line 6 */
#define L_END      "}\n"

/* Asserts that every line of err starts with "<dir>/<something>.lua:<n>: ". */
static void assert_lines_prefixed(const tu_pack_t *p, const char *err)
{
    char pat[256];
    snprintf(pat, sizeof pat, "^%s/[a-z0-9_./]+\\.lua:[0-9]+: [^ ]", p->dir);
    regex_t re;
    assert_int_equal(regcomp(&re, pat, REG_EXTENDED | REG_NOSUB), 0);
    char *copy = strdup(err), *save = NULL;
    assert_non_null(copy);
    int lines = 0;
    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        lines++;
        if (regexec(&re, l, 0, NULL, 0) != 0)
            fail_msg("message line lacks \"path:line: \": \"%s\"", l);
    }
    assert_true(lines > 0);
    free(copy);
    regfree(&re);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n + 1;
}

/* Writes file (relative to the pack), loads the pack, and expects exactly
 * one message: "<dir>/<file>:<line>: " followed by text containing want. */
static void expect_one(const char *file, const char *src, int line, const char *want)
{
    tu_pack_t p;
    tu_pack_init(&p);
    tu_write(&p, file, src);
    const char *err = tu_load_err(&p);
    assert_lines_prefixed(&p, err);
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s/%s:%d: ", p.dir, file, line);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("message \"%s\" does not start with \"%s\"", err, prefix);
    if (strstr(err + strlen(prefix), want) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", err, want);
    if (count_lines(err) != 1)
        fail_msg("expected one message, got:\n%s", err);
    tu_pack_free(&p);
}

/* ---- well-formed packs ------------------------------------------------- */

static void test_well_formed_rule_loads(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_write(&p, "spam/one.lua",
             L_RETURN L_NAME L_VERSION L_STREAMS L_MODE
             "  description = \"d\",\n"
             "  fields = { \"user.id\", \"device\" },\n"
             L_EVAL
             "  tests = { { name = \"t\", events = { {} }, expect = {} } },\n"
             L_END);
    tu_write(&p, "README.md", "not a rule\n");
    tu_write(&p, ".hidden.lua", "this is not Lua at all\n");
    tu_write(&p, "lists/words.lua", "neither is this\n");
    eng_engine_t *e = tu_engine(&p, NULL);
    const eng_rule_stats_t *s;
    assert_int_equal(eng_engine_rule_stats(e, &s), 1);
    assert_string_equal(s[0].rule, "r.one");
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_single_rule_file_loads_as_a_pack(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_write(&p, "other.lua", "this would not load\n");
    const char *path = tu_write(&p, "one.lua", L_RETURN L_NAME L_VERSION L_STREAMS L_MODE L_EVAL L_END);
    char err[1024];
    eng_opts_t o = tu_opts();
    eng_engine_t *e = eng_engine_new(&o, path, err, sizeof err);
    if (e == NULL)
        fail_msg("%s", err);
    const eng_rule_stats_t *s;
    assert_int_equal(eng_engine_rule_stats(e, &s), 1);
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_empty_pack_is_an_error(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    const char *err = tu_load_err(&p);
    assert_non_null(strstr(err, p.dir));
    assert_non_null(strstr(err, "no rule files"));
    tu_pack_free(&p);
}

static void test_missing_pack_is_an_error(void **st)
{
    (void)st;
    char err[1024];
    eng_opts_t o = tu_opts();
    assert_null(eng_engine_new(&o, "/nonexistent/warden/pack", err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/warden/pack: "));
}

/* ---- one test per message ---------------------------------------------- */

static void test_syntax_error_has_file_and_line(void **st)
{
    (void)st;
    expect_one("bad.lua", L_RETURN L_NAME "  version = = 1,\n" L_END, 3, "unexpected symbol");
}

static void test_binary_chunk_is_refused(void **st)
{
    (void)st;
    expect_one("bin.lua", "\x1bLua\x54\x00 garbage", 1, "binary");
}

static void test_runtime_error_in_rule_file_has_file_and_line(void **st)
{
    (void)st;
    expect_one("boom.lua", "local x = 1\nlocal y = x.field.more\n" L_RETURN L_END, 2,
               "attempt to index a");
}

static void test_error_without_position_still_names_the_file(void **st)
{
    (void)st;
    expect_one("boom.lua", "\nerror('no position here', 0)\n", 1, "no position here");
}

static void test_error_with_a_table_value_names_the_file(void **st)
{
    (void)st;
    expect_one("boom.lua", "error({ code = 1 })\n", 1, "table");
}

static void test_not_returning_a_table(void **st)
{
    (void)st;
    expect_one("num.lua", "local x = 1\nreturn 42\n", 2, "must return a table, got number");
}

static void test_returning_nothing(void **st)
{
    (void)st;
    expect_one("nil.lua", "local x = 1\n", 1, "must return a table, got nil");
}

static void test_name_missing(void **st)
{
    (void)st;
    expect_one("r.lua", L_RETURN L_VERSION L_STREAMS L_MODE L_EVAL L_END, 1, "'name' is missing");
}

static void test_name_wrong_type(void **st)
{
    (void)st;
    expect_one("r.lua", L_RETURN "  name = 5,\n" L_VERSION L_STREAMS L_MODE L_EVAL L_END, 2,
               "'name' must be a string");
}

static void test_name_invalid_characters(void **st)
{
    (void)st;
    expect_one("r.lua", L_RETURN "  name = \"Spam-Link\",\n" L_VERSION L_STREAMS L_MODE L_EVAL L_END,
               2, "name \"Spam-Link\" has characters outside [a-z0-9_.]");
}

static void test_name_longer_than_the_store_key_is_refused(void **st)
{
    (void)st;
    /* rule_results.rule holds 128 bytes: a longer name could never be stored. */
    char src[1024], name[140];
    memset(name, 'a', 129);
    name[129] = '\0';
    snprintf(src, sizeof src, L_RETURN "  name = \"%s\",\n" L_VERSION L_STREAMS L_MODE L_EVAL L_END, name);
    expect_one("r.lua", src, 2, "is longer than 128");
}

/* A pack with counters.lua (plain "c" and distinct "d", windows 1h/1d) and
 * lists/ok.txt, and one rule whose evaluate body is body (line 4). */
static void expect_ref_error(const char *body, const char *want)
{
    tu_pack_t p;
    tu_pack_init(&p);
    tu_write(&p, "counters.lua",
             "return {\n"
             "  { name = \"c\", stream = \"s\", key = \"user.id\", windows = { \"1h\", \"1d\" } },\n"
             "  { name = \"d\", stream = \"s\", key = \"user.id\", distinct = \"ip\", windows = { \"1h\" } },\n"
             "}\n");
    tu_write(&p, "lists/ok.txt", "x\n");
    char src[1024];
    snprintf(src, sizeof src,
             "return { name = \"r\", version = 1, streams = { \"s\" }, mode = \"shadow\",\n"
             "  fields = { \"user.id\" },\n"
             "  evaluate = function(ev, ctx)\n"
             "    %s\n"
             "  end }\n", body);
    tu_write(&p, "r.lua", src);
    const char *err = tu_load_err(&p);
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s/r.lua:4: ", p.dir);
    if (strncmp(err, prefix, strlen(prefix)) != 0 || strstr(err, want) == NULL)
        fail_msg("message \"%s\" is not \"%s...%s\"", err, prefix, want);
    tu_pack_free(&p);
}

static void test_literal_reference_to_an_undeclared_counter_is_a_load_error(void **st)
{
    (void)st;
    expect_ref_error("return ctx.count(\"nope\", ev.user.id, \"1h\") > 1 and nil",
                     "counter 'nope' is not declared in counters.lua");
}

static void test_literal_reference_to_an_undeclared_window_is_a_load_error(void **st)
{
    (void)st;
    expect_ref_error("local n = ctx.count(\"c\", ev.user.id, \"7d\")",
                     "window \"7d\" is not declared by counter 'c'");
}

static void test_count_on_a_distinct_counter_is_a_load_error(void **st)
{
    (void)st;
    expect_ref_error("local n = ctx.count(\"d\", ev.user.id, \"1h\")", "use ctx.distinct");
    expect_ref_error("local n = ctx.distinct(\"c\", ev.user.id, \"1h\")", "use ctx.count");
}

static void test_literal_reference_to_an_unknown_list_is_a_load_error(void **st)
{
    (void)st;
    expect_ref_error("local b = ctx.in_list(\"nolist\", ev.user.id)", "no list 'nolist'");
}

/* Comments and strings that mention calls are not calls: a valid pack
 * whose comments and strings name an undeclared counter, window or list
 * loads, and a string argument holding ")" or "," does not hide the real
 * window from the check. */
static void test_references_in_comments_and_strings_are_not_checked(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_write(&p, "counters.lua",
             "return { { name = \"c\", stream = \"s\", key = \"user.id\", windows = { \"1h\" } } }\n");
    tu_write(&p, "lists/ok.txt", "x\n");
    tu_write(&p, "r.lua",
             "-- ctx.count(\"gone\", ev.user.id, \"1h\") was the old counter\n"
             "--[[ ctx.in_list(\"nolist\", v)\n"
             "     ctx.distinct(\"nope\", k, \"1d\") ]]\n"
             "--[==[ ctx.count(\"x\", k, \"1h\") ]] still a comment ]==]\n"
             "local doc = \"call ctx.count(\\\"nope\\\", k, \\\"1h\\\") to count\"\n"
             "local doc2 = 'ctx.in_list(\"nolist\", v)'\n"
             "local doc3 = [[ctx.count(\"nope\", k, \"1h\")]]\n"
             "local doc4 = [=[ ]] ctx.count(\"nope\", k, \"7d\") ]=]\n"
             "return { name = \"r\", version = 1, streams = { \"s\" }, mode = \"enforce\",\n"
             "  fields = { \"user.id\" },\n"
             "  evaluate = function(ev, ctx)\n"
             "    local n = ctx.count(\"c\", ev.user.id .. \"),\", \"1h\") -- ctx.count(\"nope\")\n"
             "    local m = ctx.in_list(\"ok\", \"ctx.in_list('nolist', v)\")\n"
             "  end }\n");
    eng_engine_t *e = tu_engine(&p, NULL);
    eng_engine_destroy(e);
    /* The same call in code is still refused. */
    tu_write(&p, "r.lua",
             "-- fine\n"
             "return { name = \"r\", version = 1, streams = { \"s\" }, mode = \"enforce\",\n"
             "  fields = { \"user.id\" },\n"
             "  evaluate = function(ev, ctx) local s = '--' return ctx.count(\"nope\", ev.user.id, \"1h\") end }\n");
    char want[256];
    snprintf(want, sizeof want, "%s/r.lua:4: counter 'nope' is not declared", p.dir);
    const char *err = tu_load_err(&p);
    if (strstr(err, want) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", err, want);
    tu_pack_free(&p);
}

static void test_name_empty(void **st)
{
    (void)st;
    expect_one("r.lua", L_RETURN "  name = \"\",\n" L_VERSION L_STREAMS L_MODE L_EVAL L_END, 2,
               "characters outside");
}

static void test_version_missing(void **st)
{
    (void)st;
    expect_one("r.lua", L_RETURN L_NAME L_STREAMS L_MODE L_EVAL L_END, 1, "'version' is missing");
}

static void test_version_string(void **st)
{
    (void)st;
    expect_one("r.lua", L_RETURN L_NAME "  version = \"3\",\n" L_STREAMS L_MODE L_EVAL L_END, 3,
               "'version' must be a non-negative integer");
}

static void test_version_negative(void **st)
{
    (void)st;
    expect_one("r.lua", L_RETURN L_NAME "  version = -1,\n" L_STREAMS L_MODE L_EVAL L_END, 3,
               "'version' must be a non-negative integer");
}

static void test_version_float(void **st)
{
    (void)st;
    expect_one("r.lua", L_RETURN L_NAME "  version = 1.5,\n" L_STREAMS L_MODE L_EVAL L_END, 3,
               "'version' must be a non-negative integer");
}

static void test_streams_missing(void **st)
{
    (void)st;
    expect_one("r.lua", L_RETURN L_NAME L_VERSION L_MODE L_EVAL L_END, 1, "'streams' is missing");
}

static void test_streams_not_a_list(void **st)
{
    (void)st;
    expect_one("r.lua", L_RETURN L_NAME L_VERSION "  streams = \"s\",\n" L_MODE L_EVAL L_END, 4,
               "'streams' must be a list of strings, got string");
}

static void test_streams_empty(void **st)
{
    (void)st;
    expect_one("r.lua", L_RETURN L_NAME L_VERSION "  streams = {},\n" L_MODE L_EVAL L_END, 4,
               "'streams' is empty");
}

static void test_streams_non_string_entry(void **st)
{
    (void)st;
    expect_one("r.lua", L_RETURN L_NAME L_VERSION "  streams = { \"s\", 5 },\n" L_MODE L_EVAL L_END,
               4, "'streams' entry 2 must be a string, got number");
}

static void test_streams_invalid_name(void **st)
{
    (void)st;
    expect_one("r.lua", L_RETURN L_NAME L_VERSION "  streams = { \"pin create\" },\n" L_MODE L_EVAL
               L_END, 4, "invalid stream name \"pin create\"");
}

static void test_evaluate_missing(void **st)
{
    (void)st;
    expect_one("r.lua", L_RETURN L_NAME L_VERSION L_STREAMS L_MODE L_END, 1, "'evaluate' is missing");
}

static void test_evaluate_not_a_function(void **st)
{
    (void)st;
    expect_one("r.lua", L_RETURN L_NAME L_VERSION L_STREAMS L_MODE "  evaluate = \"return 1\",\n"
               L_END, 6, "'evaluate' must be a function");
}

static void test_mode_bad(void **st)
{
    (void)st;
    expect_one("r.lua", L_RETURN L_NAME L_VERSION L_STREAMS "  mode = \"enforcing\",\n" L_EVAL L_END,
               5, "mode \"enforcing\" is not one of enforce, shadow, off");
}

static void test_mode_missing(void **st)
{
    (void)st;
    expect_one("r.lua", L_RETURN L_NAME L_VERSION L_STREAMS L_EVAL L_END, 1, "'mode' is missing");
}

static void test_mode_wrong_type(void **st)
{
    (void)st;
    expect_one("r.lua", L_RETURN L_NAME L_VERSION L_STREAMS "  mode = true,\n" L_EVAL L_END, 5,
               "'mode' must be a string");
}

static void test_description_wrong_type(void **st)
{
    (void)st;
    expect_one("r.lua", L_RETURN L_NAME L_VERSION L_STREAMS L_MODE "  description = {},\n" L_EVAL
               L_END, 6, "'description' must be a string");
}

static void test_unknown_key_typo(void **st)
{
    (void)st;
    expect_one("r.lua", L_RETURN L_NAME L_VERSION L_STREAMS L_MODE
               "  feilds = { \"user.id\" },\n" L_EVAL L_END, 6, "unknown key 'feilds'");
}

static void test_field_path_invalid(void **st)
{
    (void)st;
    expect_one("r.lua", L_RETURN L_NAME L_VERSION L_STREAMS L_MODE
               "  fields = { \"user.id\", \"user..id\" },\n" L_EVAL L_END, 6,
               "'fields' entry 2: invalid field path \"user..id\"");
}

static void test_fields_not_a_list(void **st)
{
    (void)st;
    expect_one("r.lua", L_RETURN L_NAME L_VERSION L_STREAMS L_MODE "  fields = \"user.id\",\n"
               L_EVAL L_END, 6, "'fields' must be a list of strings");
}

static void test_duplicate_names_name_both_files(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_write(&p, "a/first.lua", L_RETURN L_NAME L_VERSION L_STREAMS L_MODE L_EVAL L_END);
    tu_write(&p, "b/second.lua", "-- same name\n" L_RETURN L_NAME L_VERSION L_STREAMS L_MODE L_EVAL
             L_END);
    const char *err = tu_load_err(&p);
    assert_lines_prefixed(&p, err);
    char want[512];
    snprintf(want, sizeof want,
             "%s/b/second.lua:3: duplicate rule name \"r.one\" (also in %s/a/first.lua:2)", p.dir,
             p.dir);
    if (strstr(err, want) == NULL)
        fail_msg("\"%s\" lacks \"%s\"", err, want);
    tu_pack_free(&p);
}

/* Lua shows at most 59 characters of a chunk name ("..." and the tail
 * beyond); the loader must still name the whole path. */
#define LONG_DIR "a_rather_long_directory_name/another_long_directory_name_too/"

static void test_long_path_syntax_error_names_the_whole_path(void **st)
{
    (void)st;
    expect_one(LONG_DIR "syntax.lua", L_RETURN L_NAME "  version = = 1,\n" L_END, 3,
               "unexpected symbol");
}

static void test_long_path_runtime_error_names_the_whole_path(void **st)
{
    (void)st;
    expect_one(LONG_DIR "runtime.lua", "local x = 1\nlocal y = x.field.more\n" L_RETURN L_END, 2,
               "attempt to index a");
}

/* ---- tests = {...} ----------------------------------------------------- */

#define RULE_WITH_TESTS(t) L_RETURN L_NAME L_VERSION L_STREAMS L_MODE L_EVAL "  tests = " t ",\n" L_END

static void test_tests_not_a_table(void **st)
{
    (void)st;
    expect_one("r.lua", RULE_WITH_TESTS("\"none\""), 7, "'tests' must be a list of cases, got string");
}

static void test_tests_a_single_case_instead_of_a_list(void **st)
{
    (void)st;
    expect_one("r.lua", RULE_WITH_TESTS("{ name = \"t\", events = { {} }, expect = {} }"), 7,
               "'tests' must be a list of cases { { name=, events=, expect= }, ... }, not a table "
               "with key '");
}

static void test_tests_case_not_a_table(void **st)
{
    (void)st;
    expect_one("r.lua", RULE_WITH_TESTS("{ \"t\" }"), 7, "test #1 must be a table, got string");
}

static void test_tests_case_without_name(void **st)
{
    (void)st;
    expect_one("r.lua", RULE_WITH_TESTS("{ { events = { {} }, expect = {} } }"), 7,
               "test #1: 'name' must be a string");
}

static void test_tests_case_without_events(void **st)
{
    (void)st;
    expect_one("r.lua", RULE_WITH_TESTS("{ { name = \"quiet\", expect = {} } }"), 7,
               "test #1 (\"quiet\"): 'events' must be a non-empty list");
}

static void test_tests_case_with_empty_events(void **st)
{
    (void)st;
    expect_one("r.lua", RULE_WITH_TESTS("{ { name = \"quiet\", events = {}, expect = {} } }"), 7,
               "'events' must be a non-empty list");
}

static void test_tests_event_not_a_table(void **st)
{
    (void)st;
    expect_one("r.lua", RULE_WITH_TESTS("{ { name = \"q\", events = { {}, 5 }, expect = {} } }"), 7,
               "event #2 must be a table, got number");
}

static void test_tests_expect_not_a_table(void **st)
{
    (void)st;
    expect_one("r.lua", RULE_WITH_TESTS("{ { name = \"q\", events = { {} }, expect = \"block\" } }"),
               7, "test #1 (\"q\"): 'expect' must be a list of expected hits");
}

static void test_tests_expect_missing(void **st)
{
    (void)st;
    expect_one("r.lua", RULE_WITH_TESTS("{ { name = \"q\", events = { {} } } }"), 7,
               "'expect' must be a list of expected hits");
}

static void test_tests_expect_a_single_hit_instead_of_a_list(void **st)
{
    (void)st;
    expect_one("r.lua",
               RULE_WITH_TESTS("{ { name = \"q\", events = { {} }, expect = { verdict = \"block\" } } }"),
               7, "test #1 (\"q\"): 'expect' must be a list of expected hits ({} for none), "
                  "not a table with key 'verdict'");
}

static void test_tests_expect_entry_not_a_table(void **st)
{
    (void)st;
    expect_one("r.lua", RULE_WITH_TESTS("{ { name = \"q\", events = { {} }, expect = { \"block\" } } }"),
               7, "expect #1 must be a table");
}

static void test_tests_expect_bad_verdict(void **st)
{
    (void)st;
    expect_one("r.lua",
               RULE_WITH_TESTS("{ { name = \"q\", events = { {} }, expect = { { verdict = \"ban\" } } } }"),
               7, "expect #1: verdict \"ban\" is not block, review or flag");
}

static void test_tests_expect_verdict_wrong_type(void **st)
{
    (void)st;
    expect_one("r.lua",
               RULE_WITH_TESTS("{ { name = \"q\", events = { {} }, expect = { { verdict = true } } } }"),
               7, "expect #1: verdict must be \"block\", \"review\" or \"flag\", got boolean");
}

/* ---- all problems together --------------------------------------------- */

static void test_all_problems_of_a_pack_are_reported_together(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_write(&p, "a.lua", L_RETURN "  name = \"Bad Name\",\n" "  version = \"1\",\n"
             "  streams = {},\n" "  mode = \"loud\",\n" "  feilds = {},\n" L_END);
    tu_write(&p, "b.lua", "return {\n  name = ,\n}\n");
    tu_write(&p, "c.lua", "return 1\n");
    tu_write(&p, "d.lua", L_RETURN L_NAME L_VERSION L_STREAMS L_MODE L_EVAL L_END);
    tu_write(&p, "e.lua", L_RETURN L_NAME L_VERSION L_STREAMS L_MODE L_EVAL L_END);
    const char *err = tu_load_err(&p);
    assert_lines_prefixed(&p, err);
    static const struct {
        const char *file;
        int line;
        const char *text;
    } want[] = {
        { "a.lua", 2, "name \"Bad Name\" has characters outside" },
        { "a.lua", 3, "'version' must be a non-negative integer" },
        { "a.lua", 4, "'streams' is empty" },
        { "a.lua", 5, "mode \"loud\" is not one of" },
        { "a.lua", 6, "unknown key 'feilds'" },
        { "a.lua", 1, "'evaluate' is missing" },
        { "b.lua", 2, "unexpected symbol" },
        { "c.lua", 1, "must return a table" },
        { "e.lua", 2, "duplicate rule name \"r.one\"" },
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char needle[512];
        snprintf(needle, sizeof needle, "%s/%s:%d: ", p.dir, want[i].file, want[i].line);
        const char *at = strstr(err, needle);
        const char *eol = at ? strchr(at, '\n') : NULL;
        char line[1024];
        snprintf(line, sizeof line, "%.*s", at ? (int)(eol ? eol - at : (long)strlen(at)) : 0,
                 at ? at : "");
        if (at == NULL || strstr(line, want[i].text) == NULL)
            fail_msg("missing \"%s%s\" in:\n%s", needle, want[i].text, err);
    }
    assert_int_equal(count_lines(err), (int)(sizeof want / sizeof want[0]));
    tu_pack_free(&p);
}

/* ---- rule tables that fight back --------------------------------------- */

static void test_rule_table_with_raising_metatable_does_not_crash(void **st)
{
    (void)st;
    /* The loader must read the table raw: an __index that raises would
     * otherwise escape every protected call and abort the process. */
    expect_one("meta.lua",
               "local t = {\n" "  version = 1,\n" "  streams = { \"s\" },\n" "  mode = \"enforce\",\n"
               "  evaluate = function() end,\n" "}\n"
               "return setmetatable(t, { __index = function() error('gotcha') end })\n",
               7, "'name' is missing");
}

static void test_rule_table_with_looping_metatable_does_not_hang(void **st)
{
    (void)st;
    alarm(60);
    expect_one("meta.lua",
               "local t = {\n" "  version = 1,\n" "  streams = { \"s\" },\n" "  mode = \"enforce\",\n"
               "  evaluate = function() end,\n" "  tests = setmetatable({}, { __index = function() while true do end end,\n"
               "                                  __len = function() while true do end end }),\n" "}\n"
               "return setmetatable(t, { __index = function() while true do end end })\n",
               9, "'name' is missing");
    alarm(0);
}

static void test_streams_list_with_metatable_is_read_raw(void **st)
{
    (void)st;
    expect_one("r.lua", L_RETURN L_NAME L_VERSION
               "  streams = setmetatable({}, { __index = function() error('gotcha') end,\n"
               "                               __len = function() error('gotcha') end }),\n"
               L_MODE L_EVAL L_END, 4, "'streams' is empty");
}

/* ---- the pack walk: symbolic links, loops, depth ----------------------- */

#define GOOD_RULE L_RETURN L_NAME L_VERSION L_STREAMS L_MODE L_EVAL L_END

static void link_in(const tu_pack_t *p, const char *target, const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", p->dir, rel);
    assert_int_equal(symlink(target, path), 0);
}

static void assert_has(const char *err, const char *want)
{
    if (strstr(err, want) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", err, want);
}

/* Two links to "." made the walk branch forever; one to "/" read the
 * machine.  Both are load errors naming the link, found at once. */
static void test_symlink_loops_and_links_out_of_the_pack_are_load_errors(void **st)
{
    (void)st;
    alarm(20);   /* before the fix: an endless walk */
    tu_pack_t p;
    tu_pack_init(&p);
    tu_write(&p, "r.lua", GOOD_RULE);
    link_in(&p, ".", "a");
    link_in(&p, ".", "b");
    link_in(&p, "/", "root");
    const char *err = tu_load_err(&p);
    char want[1200];
    snprintf(want, sizeof want, "%s/a: symbolic link to a directory already in the rule pack", p.dir);
    assert_has(err, want);
    snprintf(want, sizeof want, "%s/b: symbolic link to a directory already in the rule pack", p.dir);
    assert_has(err, want);
    snprintf(want, sizeof want, "%s/root: symbolic link to / points outside the rule pack", p.dir);
    assert_has(err, want);
    assert_int_equal(count_lines(err), 3);
    alarm(0);
    tu_pack_free(&p);
}

static void test_symlink_to_a_parent_directory_is_a_loop(void **st)
{
    (void)st;
    alarm(20);
    tu_pack_t p;
    tu_pack_init(&p);
    tu_write(&p, "x/y/r.lua", GOOD_RULE);
    link_in(&p, "../..", "x/y/up");
    char want[1200];
    snprintf(want, sizeof want, "%s/x/y/up: symbolic link to a directory already in the rule pack", p.dir);
    assert_has(tu_load_err(&p), want);
    alarm(0);
    tu_pack_free(&p);
}

/* Links that stay inside the pack are followed (a rule kept in a hidden
 * directory and linked in loads once). */
static void test_symlink_inside_the_pack_is_followed(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    tu_write(&p, ".store/r1.lua", GOOD_RULE);
    link_in(&p, ".store/r1.lua", "r.lua");
    eng_engine_t *e = tu_engine(&p, NULL);
    const eng_rule_stats_t *rs;
    assert_int_equal(eng_engine_rule_stats(e, &rs), 1);
    assert_string_equal(rs[0].rule, "r.one");
    eng_engine_destroy(e);
    tu_pack_free(&p);
}

static void test_symlinked_rule_file_outside_the_pack_is_refused(void **st)
{
    (void)st;
    tu_pack_t p, q;
    tu_pack_init(&p);
    tu_pack_init(&q);
    const char *out = tu_write(&q, "r.lua", GOOD_RULE);
    link_in(&p, out, "r.lua");
    char want[1200];
    snprintf(want, sizeof want, "%s/r.lua: symbolic link to %s points outside the rule pack", p.dir, out);
    const char *err = tu_load_err(&p);
    assert_has(err, want);
    link_in(&p, "nowhere", "dangling.lua");
    snprintf(want, sizeof want, "%s/dangling.lua: symbolic link cannot be resolved", p.dir);
    assert_has(tu_load_err(&p), want);
    tu_pack_free(&p);
    tu_pack_free(&q);
}

static void test_list_or_counters_linked_out_of_the_pack_are_refused(void **st)
{
    (void)st;
    tu_pack_t p, q;
    tu_pack_init(&p);
    tu_pack_init(&q);
    tu_write(&p, "r.lua", GOOD_RULE);
    tu_write(&p, "lists/ok.txt", "a\n");
    const char *secret = tu_write(&q, "secret.txt", "hunter2\n");
    link_in(&p, secret, "lists/evil.txt");
    char want[1200];
    snprintf(want, sizeof want, "%s/lists/evil.txt: symbolic link to %s points outside the rule pack",
             p.dir, secret);
    assert_has(tu_load_err(&p), want);
    char path[512];
    snprintf(path, sizeof path, "%s/lists/evil.txt", p.dir);
    assert_int_equal(unlink(path), 0);
    const char *ctr = tu_write(&q, "counters.lua", "return {}\n");
    link_in(&p, ctr, "counters.lua");
    snprintf(want, sizeof want, "%s/counters.lua: symbolic link to %s points outside the rule pack", p.dir,
             ctr);
    assert_has(tu_load_err(&p), want);
    tu_pack_free(&p);
    tu_pack_free(&q);
}

static void test_pack_nested_too_deep_is_a_load_error(void **st)
{
    (void)st;
    tu_pack_t p;
    tu_pack_init(&p);
    char rel[128] = "";
    for (int i = 0; i < 40; i++)
        strcat(rel, "d/");
    strcat(rel, "r.lua");
    tu_write(&p, rel, GOOD_RULE);
    assert_has(tu_load_err(&p), "directories nested deeper than 32 levels");
    tu_pack_free(&p);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_well_formed_rule_loads),
        cmocka_unit_test(test_single_rule_file_loads_as_a_pack),
        cmocka_unit_test(test_empty_pack_is_an_error),
        cmocka_unit_test(test_missing_pack_is_an_error),
        cmocka_unit_test(test_syntax_error_has_file_and_line),
        cmocka_unit_test(test_binary_chunk_is_refused),
        cmocka_unit_test(test_runtime_error_in_rule_file_has_file_and_line),
        cmocka_unit_test(test_error_without_position_still_names_the_file),
        cmocka_unit_test(test_error_with_a_table_value_names_the_file),
        cmocka_unit_test(test_not_returning_a_table),
        cmocka_unit_test(test_returning_nothing),
        cmocka_unit_test(test_name_missing),
        cmocka_unit_test(test_name_wrong_type),
        cmocka_unit_test(test_name_invalid_characters),
        cmocka_unit_test(test_name_empty),
        cmocka_unit_test(test_name_longer_than_the_store_key_is_refused),
        cmocka_unit_test(test_literal_reference_to_an_undeclared_counter_is_a_load_error),
        cmocka_unit_test(test_literal_reference_to_an_undeclared_window_is_a_load_error),
        cmocka_unit_test(test_count_on_a_distinct_counter_is_a_load_error),
        cmocka_unit_test(test_literal_reference_to_an_unknown_list_is_a_load_error),
        cmocka_unit_test(test_version_missing),
        cmocka_unit_test(test_version_string),
        cmocka_unit_test(test_version_negative),
        cmocka_unit_test(test_version_float),
        cmocka_unit_test(test_streams_missing),
        cmocka_unit_test(test_streams_not_a_list),
        cmocka_unit_test(test_streams_empty),
        cmocka_unit_test(test_streams_non_string_entry),
        cmocka_unit_test(test_streams_invalid_name),
        cmocka_unit_test(test_evaluate_missing),
        cmocka_unit_test(test_evaluate_not_a_function),
        cmocka_unit_test(test_mode_bad),
        cmocka_unit_test(test_mode_missing),
        cmocka_unit_test(test_mode_wrong_type),
        cmocka_unit_test(test_description_wrong_type),
        cmocka_unit_test(test_unknown_key_typo),
        cmocka_unit_test(test_field_path_invalid),
        cmocka_unit_test(test_fields_not_a_list),
        cmocka_unit_test(test_duplicate_names_name_both_files),
        cmocka_unit_test(test_long_path_syntax_error_names_the_whole_path),
        cmocka_unit_test(test_long_path_runtime_error_names_the_whole_path),
        cmocka_unit_test(test_tests_not_a_table),
        cmocka_unit_test(test_tests_a_single_case_instead_of_a_list),
        cmocka_unit_test(test_tests_case_not_a_table),
        cmocka_unit_test(test_tests_case_without_name),
        cmocka_unit_test(test_tests_case_without_events),
        cmocka_unit_test(test_tests_case_with_empty_events),
        cmocka_unit_test(test_tests_event_not_a_table),
        cmocka_unit_test(test_tests_expect_not_a_table),
        cmocka_unit_test(test_tests_expect_missing),
        cmocka_unit_test(test_tests_expect_a_single_hit_instead_of_a_list),
        cmocka_unit_test(test_tests_expect_entry_not_a_table),
        cmocka_unit_test(test_tests_expect_bad_verdict),
        cmocka_unit_test(test_tests_expect_verdict_wrong_type),
        cmocka_unit_test(test_all_problems_of_a_pack_are_reported_together),
        cmocka_unit_test(test_rule_table_with_raising_metatable_does_not_crash),
        cmocka_unit_test(test_rule_table_with_looping_metatable_does_not_hang),
        cmocka_unit_test(test_streams_list_with_metatable_is_read_raw),
        cmocka_unit_test(test_references_in_comments_and_strings_are_not_checked),
        cmocka_unit_test(test_symlink_loops_and_links_out_of_the_pack_are_load_errors),
        cmocka_unit_test(test_symlink_to_a_parent_directory_is_a_loop),
        cmocka_unit_test(test_symlink_inside_the_pack_is_followed),
        cmocka_unit_test(test_symlinked_rule_file_outside_the_pack_is_refused),
        cmocka_unit_test(test_list_or_counters_linked_out_of_the_pack_are_refused),
        cmocka_unit_test(test_pack_nested_too_deep_is_a_load_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

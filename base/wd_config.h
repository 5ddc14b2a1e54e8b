/* base/wd_config.h — the warden.lua configuration file: loaded in a
 * sandboxed throwaway Lua VM (text only, instruction- and memory-limited),
 * checked against one table of {key, type, default, description} per
 * section, with precise errors.  Secrets never come from the file: they are
 * read from the environment (see docs/operations.md). */
#ifndef WARDEN_BASE_WD_CONFIG_H
#define WARDEN_BASE_WD_CONFIG_H

#include <stddef.h>
#include <stdio.h>

typedef struct wd_config wd_config_t;

enum wd_config_type {
    WD_CFG_STR = 1,
    WD_CFG_INT,
    WD_CFG_BOOL,
    WD_CFG_LIST,   /* list of strings; a single string is taken as a list of one */
    WD_CFG_ENUM,   /* a string out of choices ("drop|dlq") */
    WD_CFG_PATH,   /* a string; relative paths resolve against the config file's dir */
};

/* One setting of a section: the config_map of that section is an array of
 * these ending in { NULL }. */
typedef struct wd_config_key {
    const char *key;
    int         type;          /* enum wd_config_type */
    const char *def;           /* default as text ("" for none; lists: comma-separated) */
    const char *desc;          /* one line for docs and --help */
    const char *choices;       /* WD_CFG_ENUM: "a|b|c" */
    long        min, max;      /* WD_CFG_INT bounds */
} wd_config_key_t;

/* The sections and their maps ("" is the top level; "kafka" has no map:
 * its keys are librdkafka properties).  NULL-terminated by name. */
typedef struct wd_config_section {
    const char             *name;
    const wd_config_key_t *keys;
    const char             *desc;
} wd_config_section_t;
const wd_config_section_t *wd_config_sections(void);

enum wd_config_flags {
    WD_CONFIG_NEED_KAFKA = 1,   /* kafka["bootstrap.servers"] is required */
    WD_CONFIG_NEED_RULES = 2,   /* rules must name a readable directory or .lua file */
};

/* Loads and checks path (NULL: defaults only, as if the file returned {}).
 * Every problem found goes to errstr, one "path: section.key: message" a
 * line (unknown keys name the nearest valid key); returns NULL when there
 * was any. */
wd_config_t *wd_config_load(const char *path, int flags, char *errstr, size_t errstr_size);
void wd_config_destroy(wd_config_t *c);

/* Typed getters by "section.key" ("rules", "run.group").  Asking for a key
 * that is not in the maps, or with the wrong type, is a programming error
 * (assert).  Strings are owned by c. */
const char *wd_config_str(const wd_config_t *c, const char *key);
long        wd_config_int(const wd_config_t *c, const char *key);
int         wd_config_bool(const wd_config_t *c, const char *key);
size_t      wd_config_list(const wd_config_t *c, const char *key, const char *const **items);
/* 1 when the file set key, 0 when it is the default. */
int         wd_config_is_set(const wd_config_t *c, const char *key);

/* Overrides a setting after load (command-line flags).  Returns 0, or -1
 * with a message when key is unknown or value does not fit its type. */
int wd_config_set(wd_config_t *c, const char *key, const char *value,
                   char *errstr, size_t errstr_size);

/* Sets one kafka property (command-line -X key=value), checked by
 * librdkafka.  Returns 0, or -1 with librdkafka's message. */
int wd_config_kafka_set(wd_config_t *c, const char *key, const char *value,
                         char *errstr, size_t errstr_size);

/* The checks of wd_config_load's flags, for after command-line overrides.
 * Returns 0, or -1 with every problem in errstr. */
int wd_config_check(const wd_config_t *c, int flags, char *errstr, size_t errstr_size);

/* The kafka section: librdkafka properties as text, in file order, plus the
 * secrets taken from the environment (WARDEN_KAFKA_SASL_PASSWORD …). */
size_t wd_config_kafka(const wd_config_t *c, const char *const **keys,
                        const char *const **values);
/* The value of one kafka property, or NULL. */
const char *wd_config_kafka_get(const wd_config_t *c, const char *key);

/* Applies the kafka section to a librdkafka conf (rd_kafka_conf_t *, kept
 * void here so this header does not pull in librdkafka).  Returns 0, or -1
 * with "kafka[\"key\"]: librdkafka's message" in errstr. */
int wd_config_kafka_apply(const wd_config_t *c, void *rd_conf, char *errstr, size_t errstr_size);

/* The path the config came from ("(defaults)" without a file). */
const char *wd_config_path(const wd_config_t *c);

/* Writes a Markdown table of every section's keys (for docs/operations.md
 * and `warden run --help-config`). */
void wd_config_describe(FILE *out);

/* Levenshtein distance, bounded: returns max+1 when above max.  Exposed for
 * the "did you mean" suggestions and its test. */
size_t wd_config_distance(const char *a, const char *b, size_t max);

#endif

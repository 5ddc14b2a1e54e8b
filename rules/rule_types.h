/* rules/rule_types.h — the shared words of the rule contract: verdicts and
 * their severity order, rule modes, and the length limits every name and id
 * must fit.  The lowest room that needs them, so rules, the engine, the Kafka
 * loop and the commands all say the same thing. */
#ifndef WARDEN_RULES_RULE_TYPES_H
#define WARDEN_RULES_RULE_TYPES_H

#include <stddef.h>

/* Longest event id, and rule or stream name, warden accepts: the keys of
 * the results store (storage/schema) hold no more.  Longer ids are rejects,
 * longer names load errors, so no result is ever unstorable. */
#define RULE_MAX_ID_LEN   512
#define RULE_MAX_NAME_LEN 128

/* A verdict's entity: longer is a rule error naming the rule (it keys
 * decisions and labels; a cut one would merge entities).  A reason longer
 * than RULE_MAX_REASON_LEN is cut at a UTF-8 boundary and ends with
 * RULE_TRUNCATED, the whole within the limit.  Both fit every store's
 * columns (storage/schema: MEDIUMBLOB, StarRocks VARCHAR(1048576)). */
#define RULE_MAX_ENTITY_LEN 1024
#define RULE_MAX_REASON_LEN 4096
#define RULE_TRUNCATED      "\xe2\x80\xa6[truncated]"   /* "…[truncated]" */

/* A verdict's entity type (`entity_type = "ip"`): [a-z][a-z0-9_]*, at most
 * RULE_MAX_ENTITY_TYPE_LEN bytes, so it is safe in an action key
 * ("ip:1.2.3.4"), a URL path and a column.  A verdict without one has type
 * RULE_ENTITY_TYPE_DEFAULT. */
#define RULE_MAX_ENTITY_TYPE_LEN 32
#define RULE_ENTITY_TYPE_DEFAULT "unknown"

/* 1 when s (n bytes) is a valid entity type. */
int rule_entity_type_valid(const char *s, size_t n);

/* Verdicts in severity order: a larger value wins an event's decision. */
enum rule_verdict_code { RULE_VERDICT_NONE = 0, RULE_VERDICT_FLAG, RULE_VERDICT_REVIEW, RULE_VERDICT_BLOCK };
enum rule_mode { RULE_MODE_OFF = 0, RULE_MODE_SHADOW, RULE_MODE_ENFORCE };

const char *rule_verdict_name(int v);   /* "block" …; "none" for anything else */
const char *rule_mode_name(int m);      /* "enforce" …; "off" for anything else */

#endif

/* rules/rule_prune.h — field pruning for the split stage: the part of an
 * event that a set of declared field paths can read, written as JSON whose
 * kept values are the input's own bytes (numbers keep their text: `1.0`,
 * `-0.0` and 20-digit integers survive; strings keep their escapes).  What
 * it keeps is what the rule views expose (docs/rules.md, `fields`): a path
 * keeps its whole value, objects on the way keep only declared members
 * (an object holding none of them stays as `{}`), arrays on the way keep
 * every element pruned the same way, and scalars on the way stay. */
#ifndef WARDEN_RULES_RULE_PRUNE_H
#define WARDEN_RULES_RULE_PRUNE_H

#include <stddef.h>

#include "base/wd_buf.h"
#include "base/wd_json.h"

typedef struct rule_prune rule_prune_t;

/* A pruner keeping paths[0..n) (dotted, as in a rule's `fields`; copied).
 * NULL only when out of memory. */
rule_prune_t *rule_prune_new(const char *const *paths, size_t n);
void rule_prune_destroy(rule_prune_t *p);

/* Appends to out the object event text[0..len), as pruned by p.  root is
 * text as parsed by wd_json_parse (an object): its member order matches the
 * text, which lets the pruner read keys unescaped from the parse and copy
 * values from the text.  Returns 0, or -1 when root is not an object or the
 * text does not match it (out is then left as it was).  O(len). */
int rule_prune_write(const rule_prune_t *p, wd_jval_t root, const char *text, size_t len,
                     wd_buf_t *out);

#endif

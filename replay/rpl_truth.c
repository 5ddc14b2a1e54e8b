/* Ground truth for a replay: labels on events (by event_id) or entities,
 * and per rule and per pack the labelled items its hits caught.  A label
 * counts once per rule however often the rule hit it.  Recall's
 * denominator: the abusive events met in the window, plus every abusive
 * entity of the file (an entity the window never shows is a miss). */
#include "replay/rpl_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/wd_util.h"

#define COLS(r) (((r)->nrules + 1) * 2)

static int grow(rpl_t *r, size_t need)
{
    rpl_truth_t *t = &r->truth;
    if (need <= t->cap)
        return 0;
    size_t cap = t->cap ? t->cap : 256;
    while (cap < need)
        cap *= 2;
    size_t row = (COLS(r) + 7) / 8;
    uint8_t *seen = realloc(t->seen, cap);
    if (seen == NULL)
        return -1;
    t->seen = seen;
    uint8_t *hit = realloc(t->hit, cap * row);
    if (hit == NULL)
        return -1;
    t->hit = hit;
    memset(t->seen + t->cap, 0, cap - t->cap);
    memset(t->hit + t->cap * row, 0, (cap - t->cap) * row);
    t->cap = cap;
    return 0;
}

int rpl_truth_load(rpl_t *r, const char *path, char *errstr, size_t errstr_size)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(errstr, errstr_size, "%s: cannot open", path);
        return -1;
    }
    wd_json_t *p = wd_json_new(0);
    char *line = NULL, key[1100];
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    int rc = 0;
    while (rc == 0 && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
            n--;
        if (n == 0)
            continue;
        wd_jval_t root, v, lab;
        char perr[256];
        if (wd_json_parse(p, line, (size_t)n, &root, perr, sizeof(perr)) != 0) {
            snprintf(errstr, errstr_size, "%s:%ld: %s", path, lineno, perr);
            rc = -1;
            break;
        }
        size_t llen = 0, vlen = 0;
        const char *ls = NULL, *vs = NULL;
        if (wd_jval_get(root, "label", 5, &lab) && wd_jval_type(lab) == WD_JSTRING)
            ls = wd_jval_str(lab, &llen);
        int abusive = ls && strcmp(ls, "abusive") == 0;
        if (!ls || (!abusive && strcmp(ls, "benign") != 0)) {
            snprintf(errstr, errstr_size, "%s:%ld: label must be \"abusive\" or \"benign\"", path, lineno);
            rc = -1;
            break;
        }
        char kind = 0;
        if (wd_jval_get(root, "event_id", 8, &v))
            kind = 'e';
        else if (wd_jval_get(root, "entity", 6, &v))
            kind = 'n';
        if (kind && wd_jval_type(v) == WD_JSTRING)
            vs = wd_jval_str(v, &vlen);
        if (!kind || !vs || vlen == 0 || vlen > 1024) {
            snprintf(errstr, errstr_size, "%s:%ld: wants a non-empty string \"event_id\" or \"entity\"",
                     path, lineno);
            rc = -1;
            break;
        }
        key[0] = kind;
        key[1] = ':';
        memcpy(key + 2, vs, vlen);
        int isnew;
        long idx = rpl_set_put(&r->truth.labels, key, vlen + 2, abusive, &isnew);
        if (idx < 0) {
            snprintf(errstr, errstr_size, "out of memory");
            rc = -1;
            break;
        }
        if (!isnew) {
            if (r->truth.labels.vals[idx] != abusive) {
                snprintf(errstr, errstr_size, "%s:%ld: %s labelled both abusive and benign", path,
                         lineno, key + 2);
                rc = -1;
            }
            continue;
        }
        if (kind == 'e')
            r->truth.n_event++;
        else {
            r->truth.n_entity++;
            r->truth.abusive_entities += abusive;
        }
    }
    free(line);
    fclose(f);
    wd_json_destroy(p);
    if (rc == 0 && grow(r, r->truth.labels.cap) != 0) {
        snprintf(errstr, errstr_size, "out of memory");
        rc = -1;
    }
    if (rc == 0)
        r->has_truth = 1;
    return rc;
}

static void mark(rpl_t *r, long label, size_t rule, int side)
{
    size_t row = (COLS(r) + 7) / 8;
    size_t bit = rule * 2 + (size_t)side;
    r->truth.hit[(size_t)label * row + bit / 8] |= (uint8_t)(1u << (bit % 8));
}

static int marked(const rpl_t *r, size_t label, size_t rule, int side)
{
    size_t row = (COLS(r) + 7) / 8;
    size_t bit = rule * 2 + (size_t)side;
    return (r->truth.hit[label * row + bit / 8] >> (bit % 8)) & 1;
}

void rpl_truth_event(rpl_t *r, const eng_outcome_t *const o[2])
{
    char key[1100];
    size_t idlen = strlen(o[0]->event_id);
    long ev = -1;
    if (idlen <= 1024) {
        key[0] = 'e';
        key[1] = ':';
        memcpy(key + 2, o[0]->event_id, idlen);
        ev = rpl_set_find(&r->truth.labels, key, idlen + 2);
        if (ev >= 0)
            r->truth.seen[ev] = 1;
    }
    for (size_t s = 0; s < r->nsides; s++) {
        if (o[s]->status != ENG_EVENT_OK)
            continue;
        for (size_t i = 0; i < o[s]->nhits; i++) {
            const eng_hit_t *h = &o[s]->hits[i];
            long u = rpl_rule_find(r, h->rule);
            long lab = ev;
            if (lab < 0 && h->entity_len <= 1024) {
                key[0] = 'n';
                key[1] = ':';
                memcpy(key + 2, h->entity, h->entity_len);
                lab = rpl_set_find(&r->truth.labels, key, h->entity_len + 2);
            }
            if (lab < 0 || u < 0)
                continue;
            mark(r, lab, (size_t)u, (int)s);
            mark(r, lab, r->nrules, (int)s);
        }
    }
}

void rpl_truth_pr(const rpl_t *r, size_t rule, int side, rpl_pr_t *out)
{
    const rpl_truth_t *t = &r->truth;
    memset(out, 0, sizeof(*out));
    uint64_t abusive = t->abusive_entities;
    for (size_t i = 0; i < t->labels.cap; i++) {
        if (t->labels.keys[i] == NULL)
            continue;
        int ab = t->labels.vals[i];
        if (t->labels.keys[i][0] == 'e' && t->seen[i] && ab)
            abusive++;
        if (!marked(r, i, rule, side))
            continue;
        if (ab)
            out->tp++;
        else
            out->fp++;
    }
    out->fn = abusive - out->tp;
}

void rpl_truth_free(rpl_truth_t *t)
{
    rpl_set_free(&t->labels);
    free(t->seen);
    free(t->hit);
    memset(t, 0, sizeof(*t));
}

/* Field pruning; see rules/rule_prune.h.
 *
 * The declared paths become a trie.  The writer walks the event twice in
 * step: the parse (wd_jiter, for member keys already unescaped) and the
 * text (a cursor that finds where each value starts and ends).  The text
 * was accepted by the parser, so the cursor only needs to tell strings,
 * containers and scalars apart; any disagreement between the two walks
 * is reported as -1 rather than written. */
#include "rules/rule_prune.h"

#include "base/wd_alloc.h"

#include <stdlib.h>
#include <string.h>

typedef struct pnode {
    char          *name;
    size_t         nlen;
    int            whole;     /* declared itself: kept whole */
    struct pnode **kids;
    size_t         nkids;
} pnode_t;

struct rule_prune {
    pnode_t root;
};

static void node_free(pnode_t *n)
{
    for (size_t i = 0; i < n->nkids; i++) {
        node_free(n->kids[i]);
        free(n->kids[i]->name);
        free(n->kids[i]);
    }
    free(n->kids);
}

static pnode_t *kid(const pnode_t *n, const char *k, size_t kl)
{
    for (size_t i = 0; i < n->nkids; i++)
        if (n->kids[i]->nlen == kl && memcmp(n->kids[i]->name, k, kl) == 0)
            return n->kids[i];
    return NULL;
}

static pnode_t *kid_add(pnode_t *n, const char *k, size_t kl)
{
    pnode_t *c = kid(n, k, kl);
    if (c)
        return c;
    pnode_t **v = wd_realloc(n->kids, (n->nkids + 1) * sizeof(*v));
    if (v == NULL)
        return NULL;
    n->kids = v;
    c = wd_calloc(1, sizeof(*c));
    if (c == NULL || (c->name = wd_malloc(kl + 1)) == NULL) {
        free(c);
        return NULL;
    }
    memcpy(c->name, k, kl);
    c->name[kl] = '\0';
    c->nlen = kl;
    n->kids[n->nkids++] = c;
    return c;
}

rule_prune_t *rule_prune_new(const char *const *paths, size_t n)
{
    rule_prune_t *p = wd_calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        pnode_t *cur = &p->root;
        const char *seg = paths[i];
        for (;;) {
            const char *dot = strchr(seg, '.');
            size_t sl = dot ? (size_t)(dot - seg) : strlen(seg);
            if ((cur = kid_add(cur, seg, sl)) == NULL) {
                rule_prune_destroy(p);
                return NULL;
            }
            if (dot == NULL)
                break;
            seg = dot + 1;
        }
        cur->whole = 1;
    }
    return p;
}

void rule_prune_destroy(rule_prune_t *p)
{
    if (p == NULL)
        return;
    node_free(&p->root);
    free(p);
}

/* ---- the text cursor ---------------------------------------------------- */

typedef struct cur {
    const char *s;
    size_t      len, i;
} cur_t;

static void ws(cur_t *c)
{
    while (c->i < c->len && (c->s[c->i] == ' ' || c->s[c->i] == '\t' || c->s[c->i] == '\n' ||
                             c->s[c->i] == '\r'))
        c->i++;
}

/* Past the string whose quote is at c->i. */
static int skip_string(cur_t *c)
{
    for (c->i++; c->i < c->len; c->i++) {
        if (c->s[c->i] == '\\')
            c->i++;
        else if (c->s[c->i] == '"')
            return c->i++, 0;
    }
    return -1;
}

/* Past the value starting at c->i (no leading whitespace). */
static int skip_value(cur_t *c)
{
    if (c->i >= c->len)
        return -1;
    char ch = c->s[c->i];
    if (ch == '"')
        return skip_string(c);
    if (ch == '{' || ch == '[') {
        size_t depth = 0;
        while (c->i < c->len) {
            ch = c->s[c->i];
            if (ch == '"') {
                if (skip_string(c) != 0)
                    return -1;
                continue;
            }
            if (ch == '{' || ch == '[')
                depth++;
            else if ((ch == '}' || ch == ']') && --depth == 0)
                return c->i++, 0;
            c->i++;
        }
        return -1;
    }
    size_t b = c->i;
    while (c->i < c->len && !strchr(",]} \t\r\n", c->s[c->i]))
        c->i++;
    return c->i > b ? 0 : -1;
}

static int expect(cur_t *c, char ch)
{
    ws(c);
    if (c->i >= c->len || c->s[c->i] != ch)
        return -1;
    c->i++;
    return 0;
}

/* ---- the writer ---------------------------------------------------------- */

/* Writes the value at c->i (whitespace skipped), v in the parse, as seen
 * through node n (NULL or whole: all of it). */
static int write_node(const pnode_t *n, wd_jval_t v, cur_t *c, wd_buf_t *out)
{
    ws(c);
    size_t start = c->i;
    int t = wd_jval_type(v);
    if (n == NULL || n->whole || (t != WD_JOBJECT && t != WD_JARRAY)) {
        if (skip_value(c) != 0)
            return -1;
        wd_buf_add(out, c->s + start, c->i - start);
        return 0;
    }
    wd_jiter_t it;
    const char *k;
    size_t kl;
    wd_jval_t x;
    int first = 1;
    wd_jiter_begin(v, &it);
    if (t == WD_JARRAY) {
        if (expect(c, '[') != 0)
            return -1;
        wd_buf_addc(out, '[');
        while (wd_jiter_next(&it, &k, &kl, &x)) {
            if (!first && expect(c, ',') != 0)
                return -1;
            if (!first)
                wd_buf_addc(out, ',');
            first = 0;
            if (write_node(n, x, c, out) != 0)
                return -1;
        }
        wd_buf_addc(out, ']');
        return expect(c, ']');
    }
    if (expect(c, '{') != 0)
        return -1;
    wd_buf_addc(out, '{');
    int written = 0;
    while (wd_jiter_next(&it, &k, &kl, &x)) {
        if (!first && expect(c, ',') != 0)
            return -1;
        first = 0;
        ws(c);
        size_t ks = c->i;
        if (c->i >= c->len || c->s[c->i] != '"' || skip_string(c) != 0)
            return -1;
        size_t ke = c->i;
        if (expect(c, ':') != 0)
            return -1;
        const pnode_t *kn = kid(n, k, kl);
        if (kn == NULL) {
            ws(c);
            if (skip_value(c) != 0)
                return -1;
            continue;
        }
        if (written++)
            wd_buf_addc(out, ',');
        wd_buf_add(out, c->s + ks, ke - ks);
        wd_buf_addc(out, ':');
        if (write_node(kn, x, c, out) != 0)
            return -1;
    }
    wd_buf_addc(out, '}');
    return expect(c, '}');
}

int rule_prune_write(const rule_prune_t *p, wd_jval_t root, const char *text, size_t len,
                     wd_buf_t *out)
{
    if (wd_jval_type(root) != WD_JOBJECT)
        return -1;
    cur_t c = { text, len, 0 };
    size_t mark = out->len;
    int rc = write_node(&p->root, root, &c, out);
    ws(&c);
    if (rc != 0 || c.i != c.len) {
        out->len = mark;
        if (out->data)
            out->data[mark] = '\0';
        return -1;
    }
    return 0;
}

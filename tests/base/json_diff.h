/* tests/base/json_diff.h — differential testing of base/wd_json against
 * jansson, shared by tests/base/test_json.c and tests/fuzz/fuzz_json.c:
 * a deterministic generator of random JSON documents, byte mutations, and a
 * comparison of both parsers' verdicts and trees.
 *
 * Documented differences (the only ones the comparison allows):
 * - jansson refuses integers beyond int64 ("too big integer"); wd_json reads
 *   them as doubles.  Such documents are re-read by jansson with
 *   JSON_DECODE_INT_AS_REAL and compared as numbers.
 * - jansson refuses \u0000 in object keys ("NUL byte in object key not
 *   supported"); JSON allows it and so does wd_json.
 * - jansson stops at nesting depth 2048; wd_json at its max_depth
 *   ("nesting deeper than N"), whichever is lower rejects.
 * - jansson 2.14 skips a raw NUL byte right after a number or literal
 *   ("[1\0]", "{\"a\":true\0}" load); that is invalid JSON and wd_json rejects
 *   it.  Detected by re-reading with every NUL byte replaced by 0x01.
 * - duplicate keys: jansson keeps the last value, wd_jval_get() returns the
 *   first, iteration shows all; trees are compared on the last occurrence. */
#ifndef WARDEN_TESTS_BASE_JSON_DIFF_H
#define WARDEN_TESTS_BASE_JSON_DIFF_H

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/wd_json.h"

#define JD_UNUSED __attribute__((unused))

/* ---- a small growable byte string ---------------------------------------- */

typedef struct jd_str {
    char  *p;
    size_t n, cap;
} jd_str_t;

static JD_UNUSED void jd_add(jd_str_t *s, const void *b, size_t n) {
    if (s->n + n + 1 > s->cap) {
        size_t c = s->cap ? s->cap : 256;
        while (c < s->n + n + 1) c *= 2;
        char *np = realloc(s->p, c);
        if (!np) abort();
        s->p = np;
        s->cap = c;
    }
    memcpy(s->p + s->n, b, n);
    s->n += n;
    s->p[s->n] = '\0';
}

static JD_UNUSED void jd_adds(jd_str_t *s, const char *z) { jd_add(s, z, strlen(z)); }
static JD_UNUSED void jd_addc(jd_str_t *s, char c) { jd_add(s, &c, 1); }

static JD_UNUSED void jd_addf(jd_str_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static JD_UNUSED void jd_addf(jd_str_t *s, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    jd_add(s, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* ---- deterministic generator ---------------------------------------------- */

typedef struct jd_rng { uint64_t s; } jd_rng_t;

static JD_UNUSED uint64_t jd_next(jd_rng_t *r) {   /* splitmix64 */
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static JD_UNUSED unsigned jd_below(jd_rng_t *r, unsigned n) { return (unsigned)(jd_next(r) % n); }

static JD_UNUSED void jd_ws(jd_rng_t *r, jd_str_t *s) {
    while (jd_below(r, 8) == 0) jd_addc(s, " \t\n\r"[jd_below(r, 4)]);
}

static JD_UNUSED void jd_put_utf8(jd_str_t *s, uint32_t cp) {
    char b[4];
    size_t n;
    if (cp < 0x80) { b[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { b[0] = (char)(0xC0 | cp >> 6); b[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
    else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | cp >> 12); b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        b[0] = (char)(0xF0 | cp >> 18); b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); b[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
    }
    jd_add(s, b, n);
}

static JD_UNUSED void jd_put_u(jd_rng_t *r, jd_str_t *s, unsigned v) {
    jd_addf(s, jd_below(r, 2) ? "\\u%04x" : "\\u%04X", v);
}

static JD_UNUSED uint32_t jd_bmp_nonsurrogate(jd_rng_t *r) {
    for (;;) {
        uint32_t cp = jd_below(r, 3) ? jd_below(r, 0x800) : jd_below(r, 0x10000);
        if (cp != 0 && (cp < 0xD800 || cp > 0xDFFF)) return cp;
    }
}

/* A JSON string literal; allow_nul: may contain \u0000. */
static JD_UNUSED void jd_gen_string(jd_rng_t *r, jd_str_t *s, int allow_nul) {
    jd_addc(s, '"');
    unsigned pieces = jd_below(r, 4) ? jd_below(r, 10) : jd_below(r, 40);
    for (unsigned i = 0; i < pieces; i++) {
        switch (jd_below(r, 10)) {
        case 0: case 1: case 2: case 3: {
            char c;
            do c = (char)(0x20 + jd_below(r, 0x5F)); while (c == '"' || c == '\\');
            jd_addc(s, c);
            break;
        }
        case 4: {
            static const char *esc[] = { "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t" };
            jd_adds(s, esc[jd_below(r, 8)]);
            break;
        }
        case 5: jd_put_u(r, s, jd_bmp_nonsurrogate(r)); break;
        case 6:
            if (allow_nul && jd_below(r, 2)) jd_adds(s, "\\u0000");
            else jd_put_u(r, s, 1 + jd_below(r, 0x1F));
            break;
        case 7: {
            uint32_t cp = 0x10000 + jd_below(r, 0x100000);
            jd_put_u(r, s, 0xD800 + ((cp - 0x10000) >> 10));
            jd_put_u(r, s, 0xDC00 + ((cp - 0x10000) & 0x3FF));
            break;
        }
        case 8: {
            uint32_t cp = jd_below(r, 2) ? jd_bmp_nonsurrogate(r) : 0x10000 + jd_below(r, 0x100000);
            if (cp < 0x20 || cp == '"' || cp == '\\') cp = 0x7F;
            jd_put_utf8(s, cp);
            break;
        }
        default:
            jd_adds(s, "ab");
            break;
        }
    }
    jd_addc(s, '"');
}

static JD_UNUSED void jd_digits(jd_rng_t *r, jd_str_t *s, unsigned n, int first_nonzero) {
    for (unsigned i = 0; i < n; i++)
        jd_addc(s, (char)('0' + (i == 0 && first_nonzero ? 1 + jd_below(r, 9) : jd_below(r, 10))));
}

static JD_UNUSED void jd_gen_number(jd_rng_t *r, jd_str_t *s) {
    switch (jd_below(r, 12)) {
    case 0: case 1: jd_addf(s, "%d", (int)jd_below(r, 2001) - 1000); break;
    case 2: jd_addf(s, "%lld", (long long)jd_next(r)); break;
    case 3: {
        static const char *edge[] = { "9223372036854775807", "-9223372036854775808", "0", "-0",
            "9223372036854775808", "-9223372036854775809", "18446744073709551615",
            "18446744073709551616", "-0.0", "0e0", "1E+2", "1e-400", "4.9e-324",
            "2.2250738585072014e-308", "1.7976931348623157e308", "0.1", "100000000000000000000" };
        jd_adds(s, edge[jd_below(r, sizeof edge / sizeof *edge)]);
        break;
    }
    case 4:   /* beyond 64 bits */
        if (jd_below(r, 2)) jd_addc(s, '-');
        jd_digits(r, s, 20 + jd_below(r, 30), 1);
        break;
    case 5:   /* unsigned above INT64_MAX */
        jd_addf(s, "%llu", (unsigned long long)(jd_next(r) | 0x8000000000000000ull));
        break;
    default: {  /* a float: d[.ddd][e±dd] */
        if (jd_below(r, 3) == 0) jd_addc(s, '-');
        if (jd_below(r, 4) == 0) jd_addc(s, '0');
        else jd_digits(r, s, 1 + jd_below(r, jd_below(r, 4) ? 3 : 25), 1);
        int frac = jd_below(r, 4) != 0;
        if (frac) { jd_addc(s, '.'); jd_digits(r, s, 1 + jd_below(r, jd_below(r, 4) ? 6 : 25), 0); }
        if (!frac || jd_below(r, 2)) {
            jd_addc(s, jd_below(r, 2) ? 'e' : 'E');
            unsigned k = jd_below(r, 3);
            if (k == 1) jd_addc(s, '+');
            if (k == 2) jd_addc(s, '-');
            jd_addf(s, "%u", k == 2 ? jd_below(r, 340) : jd_below(r, 280));
        }
        break;
    }
    }
}

/* A random value; depth: current nesting; objects' keys are unique after
 * unescaping (each ends in "#<index>") and never contain NUL. */
static JD_UNUSED void jd_gen_value(jd_rng_t *r, jd_str_t *s, unsigned depth, unsigned max_depth) {
    unsigned k = depth == 0 ? (jd_below(r, 10) ? 0 : 1 + jd_below(r, 7))
               : depth >= max_depth ? 2 + jd_below(r, 6) : jd_below(r, 10);
    jd_ws(r, s);
    switch (k) {
    case 0: case 8: {
        unsigned n = jd_below(r, depth == 0 ? 12 : 6);
        jd_addc(s, '{');
        for (unsigned i = 0; i < n; i++) {
            if (i) jd_addc(s, ',');
            jd_ws(r, s);
            jd_gen_string(r, s, 0);
            s->n--;                          /* reopen the key to make it unique */
            jd_addf(s, "#%u\"", i);
            jd_ws(r, s);
            jd_addc(s, ':');
            jd_gen_value(r, s, depth + 1, max_depth);
        }
        jd_ws(r, s);
        jd_addc(s, '}');
        break;
    }
    case 1: case 9: {
        unsigned n = jd_below(r, 7);
        jd_addc(s, '[');
        for (unsigned i = 0; i < n; i++) {
            if (i) jd_addc(s, ',');
            jd_gen_value(r, s, depth + 1, max_depth);
        }
        jd_ws(r, s);
        jd_addc(s, ']');
        break;
    }
    case 2: case 3: jd_gen_string(r, s, 1); break;
    case 4: case 5: jd_gen_number(r, s); break;
    default: jd_adds(s, (const char *[]){ "true", "false", "null" }[jd_below(r, 3)]); break;
    }
    jd_ws(r, s);
}

/* 1–3 random edits of in[0..n) into *out. */
static JD_UNUSED void jd_mutate(jd_rng_t *r, const char *in, size_t n, jd_str_t *out) {
    static const char interesting[] = "{}[],:\"\\-+.eE019tfnul \t\n\r/bu\x00\x1f\x7f\x80\xbf\xc0\xe0\xed\xf0\xf4\xff";
    out->n = 0;
    jd_add(out, in, n);
    unsigned edits = 1 + jd_below(r, 3);
    for (unsigned e = 0; e < edits; e++) {
        size_t len = out->n, pos = len ? jd_next(r) % len : 0;
        char c = jd_below(r, 4) ? interesting[jd_below(r, sizeof interesting - 1)] : (char)jd_below(r, 256);
        switch (jd_below(r, 5)) {
        case 0:                                   /* replace */
            if (len) out->p[pos] = c;
            break;
        case 1:                                   /* delete */
            if (len) { memmove(out->p + pos, out->p + pos + 1, len - pos - 1); out->n--; }
            break;
        case 2:                                   /* insert */
            jd_addc(out, 0);
            memmove(out->p + pos + 1, out->p + pos, len - pos);
            out->p[pos] = c;
            break;
        case 3:                                   /* truncate */
            out->n = pos;
            break;
        default: {                                /* duplicate a span */
            if (!len) break;
            size_t span = 1 + jd_next(r) % (len - pos < 16 ? len - pos : 16);
            size_t at = jd_next(r) % (len + 1);
            char tmp[16];
            memcpy(tmp, out->p + pos, span);
            jd_add(out, tmp, span);
            memmove(out->p + at + span, out->p + at, len - at);
            memcpy(out->p + at, tmp, span);
            break;
        }
        }
    }
    if (out->p) out->p[out->n] = '\0';
}

/* ---- comparison -------------------------------------------------------- */

/* Parses with jansson the way the comparison needs: any root, \u0000 in
 * strings, and integers beyond int64 re-read as reals (*as_real set). */
static JD_UNUSED json_t *jd_jansson(const char *s, size_t n, json_error_t *err, int *as_real) {
    *as_real = 0;
    json_t *j = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, err);
    if (!j && (strstr(err->text, "too big integer") || strstr(err->text, "too big negative integer"))) {
        *as_real = 1;
        j = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, err);
    }
    return j;
}

/* Does jansson accept s[0..n) only because it skips raw NUL bytes? */
static JD_UNUSED int jd_jansson_skips_nul(const char *s, size_t n) {
    if (!n || !memchr(s, 0, n)) return 0;
    char *c = malloc(n);
    if (!c) abort();
    for (size_t i = 0; i < n; i++) c[i] = s[i] ? s[i] : '\x01';
    json_error_t err;
    int as_real;
    json_t *j = jd_jansson(c, n, &err, &as_real);
    free(c);
    json_decref(j);
    return j == NULL;
}

/* Is jansson's rejection one of the documented differences? */
static JD_UNUSED int jd_allowed_jansson_reject(const json_error_t *err) {
    return strstr(err->text, "NUL byte in object key not supported") != NULL ||
           strstr(err->text, "maximum parsing depth reached") != NULL;
}

static JD_UNUSED int jd_same_double(double a, double b) {
    return a == b && signbit(a) == signbit(b);
}

/* 0 when v (wd_json) and j (jansson) hold the same value; else -1 with the
 * JSON path of the first difference in why. */
static JD_UNUSED int jd_compare(wd_jval_t v, const json_t *j, jd_str_t *path, char *why, size_t whysz) {
    int t = wd_jval_type(v);
    size_t plen = path->n;
    int rc = 0;
#define JD_FAIL(...) do { snprintf(why, whysz, __VA_ARGS__); rc = -1; goto done; } while (0)
    switch (t) {
    case WD_JNULL:
        if (!json_is_null(j)) JD_FAIL("%s: null vs jansson type %d", path->p, json_typeof(j));
        break;
    case WD_JBOOL:
        if (!json_is_boolean(j) || json_is_true(j) != wd_jval_bool(v))
            JD_FAIL("%s: bool %d vs jansson type %d", path->p, wd_jval_bool(v), json_typeof(j));
        break;
    case WD_JINT:
        if (json_is_integer(j)) {
            if (json_integer_value(j) != wd_jval_int(v))
                JD_FAIL("%s: int %lld vs %lld", path->p, (long long)wd_jval_int(v),
                        (long long)json_integer_value(j));
        } else if (json_is_real(j)) {   /* jansson in JSON_DECODE_INT_AS_REAL mode */
            if (!jd_same_double((double)wd_jval_int(v), json_real_value(j)) &&
                !(wd_jval_int(v) == 0 && json_real_value(j) == 0))
                JD_FAIL("%s: int %lld vs real %.17g", path->p, (long long)wd_jval_int(v), json_real_value(j));
        } else {
            JD_FAIL("%s: int vs jansson type %d", path->p, json_typeof(j));
        }
        break;
    case WD_JDOUBLE:
        if (!json_is_real(j) || !jd_same_double(wd_jval_double(v), json_real_value(j)))
            JD_FAIL("%s: double %.17g vs jansson type %d (%.17g)", path->p, wd_jval_double(v),
                    json_typeof(j), json_is_real(j) ? json_real_value(j) : 0.0);
        break;
    case WD_JSTRING: {
        size_t n;
        const char *s = wd_jval_str(v, &n);
        if (!json_is_string(j)) JD_FAIL("%s: string vs jansson type %d", path->p, json_typeof(j));
        if (s[n] != '\0') JD_FAIL("%s: string not NUL-terminated", path->p);
        if (n != json_string_length(j) || memcmp(s, json_string_value(j), n) != 0)
            JD_FAIL("%s: string of %zu bytes vs %zu", path->p, n, json_string_length(j));
        break;
    }
    case WD_JARRAY: {
        if (!json_is_array(j)) JD_FAIL("%s: array vs jansson type %d", path->p, json_typeof(j));
        if (wd_jval_count(v) != json_array_size(j))
            JD_FAIL("%s: %zu elements vs %zu", path->p, wd_jval_count(v), json_array_size(j));
        wd_jiter_t it;
        wd_jval_t e;
        const char *key = "x";
        size_t i = 0;
        wd_jiter_begin(v, &it);
        while (wd_jiter_next(&it, &key, NULL, &e)) {
            wd_jval_t e2;
            if (key != NULL) JD_FAIL("%s: array member with a key", path->p);
            if (!wd_jval_at(v, i, &e2) || e2.idx != e.idx) JD_FAIL("%s: wd_jval_at(%zu) differs", path->p, i);
            jd_addf(path, "[%zu]", i);
            if (jd_compare(e, json_array_get(j, i), path, why, whysz)) { rc = -1; goto done; }
            path->n = plen;
            path->p[plen] = '\0';
            i++;
        }
        if (i != json_array_size(j)) JD_FAIL("%s: iterated %zu elements", path->p, i);
        break;
    }
    case WD_JOBJECT: {
        if (!json_is_object(j)) JD_FAIL("%s: object vs jansson type %d", path->p, json_typeof(j));
        wd_jiter_t it, it2;
        wd_jval_t e, e2;
        const char *key, *k2;
        size_t klen, k2len, distinct = 0, members = 0;
        wd_jiter_begin(v, &it);
        while (wd_jiter_next(&it, &key, &klen, &e)) {
            members++;
            int last = 1;
            it2 = it;                           /* a later duplicate wins in jansson */
            while (wd_jiter_next(&it2, &k2, &k2len, &e2))
                if (k2len == klen && memcmp(k2, key, klen) == 0) last = 0;
            if (!last) continue;
            distinct++;
            const json_t *jm = json_object_getn(j, key, klen);
            if (!jm) JD_FAIL("%s: key \"%.*s\" missing in jansson", path->p, (int)klen, key);
            jd_addc(path, '.');
            jd_add(path, key, klen);
            if (jd_compare(e, jm, path, why, whysz)) { rc = -1; goto done; }
            path->n = plen;
            path->p[plen] = '\0';
        }
        if (members != wd_jval_count(v)) JD_FAIL("%s: iterated %zu members, count %zu", path->p, members, wd_jval_count(v));
        if (distinct != json_object_size(j))
            JD_FAIL("%s: %zu distinct keys vs %zu", path->p, distinct, json_object_size(j));
        break;
    }
    default:
        JD_FAIL("%s: unknown type %d", path->p, t);
    }
done:
    path->n = plen;
    if (path->p) path->p[plen] = '\0';
    return rc;
#undef JD_FAIL
}

enum jd_verdict {
    JD_BOTH_ACCEPT, JD_BOTH_REJECT, JD_ALLOWED_DIFF, JD_DISAGREE, JD_VALUES_DIFFER, JD_BAD_MESSAGE
};

/* Parses s[0..n) with both parsers and compares; why says what differs.
 * Every wd_json reject except depth must name a byte offset. */
static JD_UNUSED int jd_check(wd_json_t *p, const char *s, size_t n, char *why, size_t whysz) {
    char err[256];
    wd_jval_t root;
    json_error_t jerr;
    int as_real;
    int ours = wd_json_parse(p, s, n, &root, err, sizeof err) == 0;
    json_t *j = jd_jansson(s, n, &jerr, &as_real);
    int verdict;
    why[0] = '\0';
    if (ours && j) {
        jd_str_t path = { 0 };
        jd_adds(&path, "$");
        verdict = jd_compare(root, j, &path, why, whysz) ? JD_VALUES_DIFFER : JD_BOTH_ACCEPT;
        free(path.p);
    } else if (!ours && !j) {
        verdict = JD_BOTH_REJECT;
        if (strncmp(err, "invalid JSON at byte ", 21) != 0 && strncmp(err, "nesting deeper than ", 20) != 0) {
            snprintf(why, whysz, "message without offset: %s", err);
            verdict = JD_BAD_MESSAGE;
        }
    } else if (ours && jd_allowed_jansson_reject(&jerr)) {
        verdict = JD_ALLOWED_DIFF;
    } else if (!ours && strncmp(err, "nesting deeper than ", 20) == 0) {
        verdict = JD_ALLOWED_DIFF;
    } else if (!ours && jd_jansson_skips_nul(s, n)) {
        verdict = JD_ALLOWED_DIFF;
    } else {
        snprintf(why, whysz, "wd_json %s (%s), jansson %s (%s)", ours ? "accepts" : "rejects",
                 ours ? "-" : err, j ? "accepts" : "rejects", j ? "-" : jerr.text);
        verdict = JD_DISAGREE;
    }
    json_decref(j);
    return verdict;
}

#endif

/* base/wd_json.h — the hot-path event parser: a small C ABI over
 * simdjson's DOM (base/wd_json.cpp).  One parser is reused for every
 * event; values are views into its current document, valid until the next
 * wd_json_parse() on the same parser.  Strings are already unescaped. */
#ifndef WARDEN_BASE_WD_JSON_H
#define WARDEN_BASE_WD_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef struct wd_json wd_json_t;

/* A value in the current document (opaque; copy freely, never dereference). */
typedef struct wd_jval {
    const void *doc;
    size_t      idx;
} wd_jval_t;

/* Iterator over an object's members or an array's elements. */
typedef struct wd_jiter {
    const void *doc;
    size_t      idx;
    size_t      end;
} wd_jiter_t;

enum wd_jtype {
    WD_JNULL = 0, WD_JBOOL, WD_JINT, WD_JDOUBLE, WD_JSTRING, WD_JARRAY, WD_JOBJECT
};

#define WD_JSON_MAX_DEPTH 64

/* max_depth: deepest nesting accepted (0: WD_JSON_MAX_DEPTH). */
wd_json_t *wd_json_new(size_t max_depth);
void wd_json_destroy(wd_json_t *p);

/* Parses buf[0..len) (no padding needed: the parser copies into its own
 * padded buffer).  Integers beyond int64 read as doubles.  Returns 0 with the
 * root in *root, or -1 with a message ("invalid JSON at byte 17: …",
 * "nesting deeper than 64") in errstr. */
int wd_json_parse(wd_json_t *p, const char *buf, size_t len, wd_jval_t *root,
                   char *errstr, size_t errstr_size);

int         wd_jval_type(wd_jval_t v);
int         wd_jval_bool(wd_jval_t v);
int64_t     wd_jval_int(wd_jval_t v);      /* WD_JINT */
double      wd_jval_double(wd_jval_t v);   /* WD_JDOUBLE or WD_JINT */
const char *wd_jval_str(wd_jval_t v, size_t *len);  /* WD_JSTRING; NUL-terminated */
size_t      wd_jval_count(wd_jval_t v);    /* members of an object, elements of an array */

/* Integers beyond int64 (WD_JDOUBLE, as a double they lose digits): the
 * exact decimal text of the literal, "18446744073709551616", in buf or
 * in the parser's copy of the input (not NUL-terminated then; valid as
 * the value), with its length.  NULL for any other value. */
#define WD_JSON_NUMBUF 24
const char *wd_jval_bigint(wd_jval_t v, char buf[WD_JSON_NUMBUF], size_t *len);

/* Object member by key (first match).  Returns 1 and *out, or 0 when v is
 * not an object or has no such key. */
int wd_jval_get(wd_jval_t v, const char *key, size_t keylen, wd_jval_t *out);
/* Array element i (0-based; O(i)).  Returns 1 and *out, or 0. */
int wd_jval_at(wd_jval_t v, size_t i, wd_jval_t *out);
/* wd_jval_at with a cursor that remembers the last element found in v (its
 * index and place), so reading v's elements in increasing order (ipairs,
 * `for i = 1, #a`) costs O(n) in all rather than O(n^2).  A zeroed cursor
 * knows nothing; one cursor belongs to one array value. */
typedef struct wd_jcursor { size_t i; size_t idx; } wd_jcursor_t;
int wd_jval_at_cur(wd_jval_t v, size_t i, wd_jcursor_t *cur, wd_jval_t *out);
/* Follows a dotted path ("user.id") through objects.  Returns 1 and *out, or 0. */
int wd_jval_path(wd_jval_t v, const char *path, wd_jval_t *out);

/* Iteration: wd_jiter_begin(v, &it) then while (wd_jiter_next(&it, &key,
 * &klen, &val)) …; key is NULL for arrays.  Returns 0 at the end. */
void wd_jiter_begin(wd_jval_t v, wd_jiter_t *it);
int  wd_jiter_next(wd_jiter_t *it, const char **key, size_t *klen, wd_jval_t *val);

#endif

/* engine/eng_json.h — the hot-path event parser: a small C ABI over
 * simdjson's DOM (engine/eng_json.cpp).  One parser is reused for every
 * event; values are views into its current document, valid until the next
 * eng_json_parse() on the same parser.  Strings are already unescaped. */
#ifndef WARDEN_ENG_JSON_H
#define WARDEN_ENG_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef struct eng_json eng_json_t;

/* A value in the current document (opaque; copy freely, never dereference). */
typedef struct eng_jval {
    const void *doc;
    size_t      idx;
} eng_jval_t;

/* Iterator over an object's members or an array's elements. */
typedef struct eng_jiter {
    const void *doc;
    size_t      idx;
    size_t      end;
} eng_jiter_t;

enum eng_jtype {
    ENG_JNULL = 0, ENG_JBOOL, ENG_JINT, ENG_JDOUBLE, ENG_JSTRING, ENG_JARRAY, ENG_JOBJECT
};

#define ENG_JSON_MAX_DEPTH 64

/* max_depth: deepest nesting accepted (0: ENG_JSON_MAX_DEPTH). */
eng_json_t *eng_json_new(size_t max_depth);
void eng_json_destroy(eng_json_t *p);

/* Parses buf[0..len) (no padding needed: the parser copies into its own
 * padded buffer).  Integers beyond int64 read as doubles.  Returns 0 with the
 * root in *root, or -1 with a message ("invalid JSON at byte 17: …",
 * "nesting deeper than 64") in errstr. */
int eng_json_parse(eng_json_t *p, const char *buf, size_t len, eng_jval_t *root,
                   char *errstr, size_t errstr_size);

int         eng_jval_type(eng_jval_t v);
int         eng_jval_bool(eng_jval_t v);
int64_t     eng_jval_int(eng_jval_t v);      /* ENG_JINT */
double      eng_jval_double(eng_jval_t v);   /* ENG_JDOUBLE or ENG_JINT */
const char *eng_jval_str(eng_jval_t v, size_t *len);  /* ENG_JSTRING; NUL-terminated */
size_t      eng_jval_count(eng_jval_t v);    /* members of an object, elements of an array */

/* Object member by key (first match).  Returns 1 and *out, or 0 when v is
 * not an object or has no such key. */
int eng_jval_get(eng_jval_t v, const char *key, size_t keylen, eng_jval_t *out);
/* Array element i (0-based; O(i)).  Returns 1 and *out, or 0. */
int eng_jval_at(eng_jval_t v, size_t i, eng_jval_t *out);
/* Follows a dotted path ("user.id") through objects.  Returns 1 and *out, or 0. */
int eng_jval_path(eng_jval_t v, const char *path, eng_jval_t *out);

/* Iteration: eng_jiter_begin(v, &it) then while (eng_jiter_next(&it, &key,
 * &klen, &val)) …; key is NULL for arrays.  Returns 0 at the end. */
void eng_jiter_begin(eng_jval_t v, eng_jiter_t *it);
int  eng_jiter_next(eng_jiter_t *it, const char **key, size_t *klen, eng_jval_t *val);

#endif

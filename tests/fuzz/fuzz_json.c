/* tests/fuzz/fuzz_json.c — libFuzzer target for base/wd_json.cpp.
 *
 * Each input is parsed by wd_json and by jansson: the verdicts must agree
 * (up to the differences documented in tests/base/json_diff.h), accepted
 * documents must read identically, and every reject must carry a byte
 * offset.  Then the tree is walked through every accessor.  Built by
 * `make fuzz` with clang -fsanitize=fuzzer,address,undefined; run e.g.
 *   build/fuzz/fuzz_json -max_total_time=120 -max_len=4096 CORPUS_DIR */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/wd_json.h"
#include "tests/base/json_diff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Touches every value through each accessor: ASan sees any tape or string
 * buffer read out of bounds. */
static size_t walk(wd_jval_t v, unsigned depth) {
    size_t n = 0, len = 0;
    const char *s, *key;
    wd_jval_t e, g;
    wd_jiter_t it;
    switch (wd_jval_type(v)) {
    case WD_JSTRING:
        s = wd_jval_str(v, &len);
        for (size_t i = 0; i <= len; i++) n += (unsigned char)s[i];
        if (s[len] != '\0') abort();
        break;
    case WD_JINT: n += (size_t)wd_jval_int(v); break;
    case WD_JDOUBLE: {
        n += wd_jval_double(v) > 0;
        /* An integer beyond int64: its exact digits, which read as this double. */
        char nb[WD_JSON_NUMBUF], tmp[512];
        s = wd_jval_bigint(v, nb, &len);
        if (s) {
            if (len == 0) abort();
            for (size_t i = 0; i < len; i++)
                if (!(i == 0 && s[i] == '-') && (s[i] < '0' || s[i] > '9')) abort();
            if (len < sizeof tmp) {
                memcpy(tmp, s, len);
                tmp[len] = '\0';
                if (strtod(tmp, NULL) != wd_jval_double(v)) abort();
            }
        }
        break;
    }
    case WD_JBOOL: n += (size_t)wd_jval_bool(v); break;
    case WD_JARRAY: case WD_JOBJECT: {
        size_t i = 0, klen;
        wd_jiter_begin(v, &it);
        while (wd_jiter_next(&it, &key, &klen, &e)) {
            if (key) {
                /* the first member with this key must be found by get() */
                if (!wd_jval_get(v, key, klen, &g)) abort();
                if (klen && memchr(key, '.', klen) == NULL && memchr(key, 0, klen) == NULL &&
                    !wd_jval_path(v, key, &g))
                    abort();
            } else if (!wd_jval_at(v, i, &g) || g.idx != e.idx) {
                abort();
            }
            n += walk(e, depth + 1);
            i++;
        }
        if (i != wd_jval_count(v)) abort();
        break;
    }
    default:
        break;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static wd_json_t *p;
    if (!p && !(p = wd_json_new(1024))) abort();
    char why[512];
    int v = jd_check(p, (const char *)data, size, why, sizeof why);
    if (v == JD_DISAGREE || v == JD_VALUES_DIFFER || v == JD_BAD_MESSAGE) {
        fprintf(stderr, "fuzz_json: verdict %d: %s\n", v, why);
        abort();
    }
    wd_jval_t root;
    if (wd_json_parse(p, (const char *)data, size, &root, NULL, 0) == 0) {
        volatile size_t sink = walk(root, 0);
        (void)sink;
    }
    return 0;
}

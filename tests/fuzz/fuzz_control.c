/* tests/fuzz/fuzz_control.c — libFuzzer target for rules/rule_overlay.c:
 * control-topic records come from a topic anyone with produce rights can
 * write.  The input is split at the first tab into a key and a value (no
 * tab: a tombstone); the record is applied twice (the second time from a
 * copy, so a change that kept a pointer into the input shows under ASan),
 * then looked up as a list entry (exact and CIDR) and a label (and a
 * rule label hidden by a deletion) at its key's parts and
 * several times, and listed.  An apply that fails must leave the stats as
 * they were.  Built by `make fuzz`; run e.g.
 *   build-fuzz/fuzz/fuzz_control -max_total_time=60 tests/fuzz/corpus/control */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rule_overlay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rule_overlay_t *ov = rule_overlay_new();
    if (!ov)
        return 0;
    const char *d = (const char *)data;
    const char *tab = memchr(d, '\t', size);
    size_t klen = tab ? (size_t)(tab - d) : size;
    const char *val = tab ? tab + 1 : NULL;
    size_t vlen = tab ? size - klen - 1 : 0;
    char err[256];
    for (int round = 0; round < 2; round++) {
        char *k = malloc(klen + 1), *v = malloc(vlen + 1);
        if (!k || !v) {
            free(k);
            free(v);
            break;
        }
        memcpy(k, d, klen);
        if (val)
            memcpy(v, val, vlen);
        rule_overlay_stats_t before, after;
        rule_overlay_stats(ov, &before);
        int rc = rule_overlay_apply(ov, k, klen, val ? v : NULL, vlen, 1000 + round, err, sizeof err);
        rule_overlay_stats(ov, &after);
        if (rc != 0 && (after.records != before.records || after.changes != before.changes))
            abort();
        if (rc == 0 && after.records != before.records + 1)
            abort();
        memset(k, 0xa5, klen);   /* the overlay must own its copy */
        memset(v, 0xa5, vlen);
        free(k);
        free(v);
    }
    /* Lookups at the key's parts (split at '/'), at several times. */
    char *parts[5] = { 0 };
    size_t plen[5] = { 0 };
    char *kc = malloc(klen + 1);
    if (kc) {
        memcpy(kc, d, klen);
        kc[klen] = '\0';
        size_t np = 0, start = 0;
        for (size_t i = 0; i <= klen && np < 5; i++)
            if (i == klen || (kc[i] == '/' && np < 3)) {
                parts[np] = kc + start;
                plen[np++] = i - start;
                start = i + 1;
            }
        static const int64_t ts[] = { INT64_MIN, -1, 0, 999, 1000, 1001, 86400000, INT64_MAX };
        for (size_t t = 0; t < sizeof ts / sizeof *ts; t++) {
            if (np >= 3) {
                char name[256];
                snprintf(name, sizeof name, "%.*s", (int)plen[1], parts[1]);
                int r = rule_overlay_in_list(ov, name, parts[2], klen - (size_t)(parts[2] - kc), ts[t]);
                if (r < -1 || r > 1)
                    abort();
                r = rule_overlay_in_cidr(ov, name, parts[2], klen - (size_t)(parts[2] - kc), ts[t]);
                if (r < -1 || r > 1)
                    abort();
            }
            if (np >= 4) {
                (void)rule_overlay_has_label(ov, parts[3], klen - (size_t)(parts[3] - kc), parts[2], plen[2],
                                             ts[t]);
                (void)rule_overlay_label_hidden(ov, parts[3], klen - (size_t)(parts[3] - kc), parts[2], plen[2],
                                                ts[t], ts[t]);
            }
        }
        if (np >= 4) {
            wd_buf_t lb = WD_BUF_INIT;
            rule_overlay_entity_labels_json(ov, parts[3], klen - (size_t)(parts[3] - kc), &lb);
            if (!lb.data || lb.data[0] != '[')
                abort();
            wd_buf_free(&lb);
        }
        wd_buf_t b = WD_BUF_INIT;
        size_t added, deleted;
        char name[256];
        snprintf(name, sizeof name, "%.*s", np >= 2 ? (int)plen[1] : 0, np >= 2 ? parts[1] : "");
        rule_overlay_list_json(ov, name, &b, &added, &deleted);
        if (!b.data || b.data[0] != '[')
            abort();
        wd_buf_free(&b);
        free(kc);
    }
    rule_overlay_destroy(ov);
    return 0;
}

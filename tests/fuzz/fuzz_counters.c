/* tests/fuzz/fuzz_counters.c — libFuzzer target: a counters.lua source
 * through the loader (sandboxed Lua, then validation).  Either it loads or
 * it fails with a message; never a crash, a leak or a hang.
 *   build-fuzz/fuzz/fuzz_counters -max_total_time=60 tests/fuzz/corpus/counters */
#include <stdint.h>
#include <stdlib.h>

#include "rules/rule_counters.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rule_counters_t *cs = NULL;
    char err[4096];
    err[0] = '\0';
    if (rule_counters_parse((const char *)data, size, "counters.lua", &cs, err, sizeof(err)) == 0)
        rule_counters_destroy(cs);
    else if (err[0] == '\0')
        abort();   /* a failure always says why */
    return 0;
}

/* tests/fuzz/fuzz_rule.c — libFuzzer target: bytes as one rule file in a
 * pack beside the example counters and lists, loaded as `warden check`
 * does.  It loads, or fails with "file:line: …" problems.
 *   build-fuzz/fuzz/fuzz_rule -max_total_time=60 tests/fuzz/corpus/rule */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/eng_engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], file[96];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof(dir), "/tmp/warden-fuzz-rule-%d", (int)getpid());
        mkdir(dir, 0700);
        snprintf(file, sizeof(file), "%s/fuzz.lua", dir);
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "cp examples/rules/counters.lua %s/ && cp -r examples/rules/lists %s/",
                 dir, dir);
        if (system(cmd) != 0)
            abort();
    }
    FILE *f = fopen(file, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    eng_opts_t o;
    eng_opts_default(&o);
    static char err[65536];
    err[0] = '\0';
    eng_engine_t *e = eng_engine_new(&o, dir, err, sizeof(err));
    if (e)
        eng_engine_destroy(e);
    else if (err[0] == '\0')
        abort();
    return 0;
}

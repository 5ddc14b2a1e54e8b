/* tests/fuzz/fuzz_config.c — libFuzzer target: bytes as warden.lua through
 * the configuration loader (sandboxed Lua, then every section checked).  It
 * loads, or fails with "path:line: …" problems; never a crash or a hang.
 *   build-fuzz/fuzz/fuzz_config -max_total_time=60 tests/fuzz/corpus/config */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/wd_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!path[0]) {
        snprintf(path, sizeof(path), "/tmp/warden-fuzz-config-%d.lua", (int)getpid());
    }
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    static char err[65536];
    err[0] = '\0';
    wd_config_t *c = wd_config_load(path, 0, err, sizeof(err));
    if (c)
        wd_config_destroy(c);
    else if (err[0] == '\0')
        abort();
    return 0;
}

/* tests/fuzz/fuzz_stream_load.c — libFuzzer target: bytes as a StarRocks
 * Stream Load answer, judged by the starrocks:// sink.  Every answer is one
 * of done, retry or fatal, and anything but done carries a message.
 *   build-fuzz/fuzz/fuzz_stream_load -max_total_time=60 tests/fuzz/corpus/stream_load */
#include <stdint.h>
#include <stdlib.h>

#include "storage/store_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024];
    err[0] = '\0';
    int rc = store_sr_judge("warden_rule_results_x", 3, (const char *)data, size, err, sizeof(err));
    if (rc < -1 || rc > 1)
        abort();
    if (rc != 0 && err[0] == '\0')
        abort();
    return 0;
}

#include "base/wd_jsonl.h"

#include <stdlib.h>
#include <sys/types.h>

int wd_jsonl_each(FILE *in, wd_jsonl_fn fn, void *ud)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    int rc = 0;
    while (rc == 0 && (n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        size_t i = 0;
        while (i < (size_t)n && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i == (size_t)n)
            continue;   /* blank lines are not events */
        rc = fn(ud, line, (size_t)n, lineno);
    }
    free(line);
    if (rc == 0 && ferror(in))
        rc = -1;
    return rc;
}

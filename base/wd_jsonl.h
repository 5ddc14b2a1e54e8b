/* base/wd_jsonl.h — the JSONL line reader of the file commands (eval,
 * replay): one call per non-blank line, trailing CR/LF removed, numbered
 * from 1 as in the file. */
#ifndef WARDEN_BASE_WD_JSONL_H
#define WARDEN_BASE_WD_JSONL_H

#include <stddef.h>
#include <stdio.h>

/* line[0..len) is borrowed for the call.  Return 0 to go on, nonzero to
 * stop reading. */
typedef int (*wd_jsonl_fn)(void *ud, const char *line, size_t len, long lineno);

/* Reads in to its end (or until fn stops it).  Returns 0, -1 on a read
 * error, or fn's nonzero value. */
int wd_jsonl_each(FILE *in, wd_jsonl_fn fn, void *ud);

#endif

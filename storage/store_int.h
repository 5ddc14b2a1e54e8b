/* storage/store_int.h — what a backend implements to live behind store.h.
 * Private to storage/: the engine includes store.h only.  Each backend
 * exports one const store_backend_t; store.c lists them in its registry. */
#ifndef WARDEN_STORAGE_STORE_INT_H
#define WARDEN_STORAGE_STORE_INT_H

#include "storage/store.h"

#include <stdarg.h>

typedef struct store_backend {
    const char *scheme;   /* matched against the URL up to ':' */
    /* url is the whole URL; opts never NULL (defaults filled in). */
    int  (*open)(void **impl, const char *url, const store_opts_t *opts,
                 char *errstr, size_t errstr_size);
    int  (*write)(void *impl, const store_row_t *rows, size_t n,
                  char *errstr, size_t errstr_size);
    /* The following may be NULL: a no-op for that backend. */
    int  (*write_decision)(void *impl, const store_decision_t *d,
                           char *errstr, size_t errstr_size);
    int  (*write_action)(void *impl, const store_decision_t *d,
                         char *errstr, size_t errstr_size);
    int  (*begin_run)(void *impl, const store_run_t *run, char *errstr, size_t errstr_size);
    int  (*end_run)(void *impl, const store_run_t *run, char *errstr, size_t errstr_size);
    int  (*rule_version)(void *impl, const store_rule_version_t *rv,
                         char *errstr, size_t errstr_size);
    int  (*audit)(void *impl, const store_audit_t *a, char *errstr, size_t errstr_size);
    int  (*flush)(void *impl, char *errstr, size_t errstr_size);
    /* Flushes and frees impl. */
    int  (*close)(void *impl, char *errstr, size_t errstr_size);
    void (*stats)(void *impl, store_stats_t *out);
    int  (*health)(void *impl, char *errstr, size_t errstr_size);
} store_backend_t;

extern const store_backend_t store_jsonl_backend;
extern const store_backend_t store_null_backend;
extern const store_backend_t store_mysql_backend;
extern const store_backend_t store_starrocks_backend;

/* snprintf into errstr when it is non-NULL; returns -1 for `return seterr(…)`. */
int store_seterr(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* storage/store_starrocks.c: judges a Stream Load answer (body, len bytes)
 * for a batch of n rows with this label: 0 loaded (or already loaded under
 * the label), 1 retry (overload, a job still running), -1 never (rejected
 * rows, refused request); a message in err for 1 and -1.  Any bytes are a
 * valid input (the fuzz target feeds it garbage). */
int store_sr_judge(const char *label, size_t n, const char *body, size_t len, char *err, size_t errsz);

/* Fills the defaults for unset options. */
void store_opts_fill(store_opts_t *o, size_t batch_rows, int batch_ms, size_t max_buffer_rows);

#endif

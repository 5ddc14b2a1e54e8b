/* storage/store_jsonl.c — the embedded sink: one contract JSON object per
 * hit and line, to a file (truncated at open) or to stdout ("jsonl:-").
 * Lines are formatted into one large buffer and written with fwrite when it
 * fills, at store_flush and at close; flush also fsyncs a regular file.
 * Decisions, runs and rule versions are not kept.  Also the "null:" sink,
 * which counts rows and drops them (benchmarks of the engine alone). */
#include "storage/store_int.h"
#include "base/wd_alloc.h"
#include "base/wd_util.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define JSONL_BUF_FLUSH (1u << 20)   /* write out past 1 MiB */

typedef struct jsonl {
    pthread_mutex_t lock;
    FILE           *fp;
    int             is_stdout;
    int             failed;
    char           *path;
    wd_buf_t       buf;
    uint64_t        rows_queued;
    uint64_t        rows_written;
    uint64_t        rows_buffered;
    uint64_t        batches;
    uint64_t        batch_us_last, batch_us_max, batch_us_total;
    char            lasterr[256];
} jsonl_t;

static int jsonl_open(void **impl, const char *url, const store_opts_t *opts,
                      char *errstr, size_t errstr_size)
{
    (void)opts;
    const char *path = url + strlen("jsonl:");
    if (!*path)
        return store_seterr(errstr, errstr_size, "store: jsonl: needs a path (jsonl:PATH or jsonl:-)");
    jsonl_t *j = wd_calloc(1, sizeof(*j));
    if (!j)
        return store_seterr(errstr, errstr_size, "store: out of memory");
    pthread_mutex_init(&j->lock, NULL);
    if (strcmp(path, "-") == 0) {
        j->fp = stdout;
        j->is_stdout = 1;
    } else {
        j->fp = fopen(path, "w");
        if (!j->fp) {
            store_seterr(errstr, errstr_size, "store: jsonl: cannot open %s: %s", path, strerror(errno));
            pthread_mutex_destroy(&j->lock);
            free(j);
            return -1;
        }
    }
    j->path = wd_strdup(path);
    if (!j->path || wd_buf_reserve(&j->buf, JSONL_BUF_FLUSH + 4096) != 0) {
        store_seterr(errstr, errstr_size, "store: jsonl: out of memory while opening %s", path);
        if (!j->is_stdout)
            fclose(j->fp);
        wd_buf_free(&j->buf);
        free(j->path);
        pthread_mutex_destroy(&j->lock);
        free(j);
        return -1;
    }
    *impl = j;
    return 0;
}

/* Writes the buffer out; caller holds the lock. */
static int jsonl_drain(jsonl_t *j, int sync, char *errstr, size_t errstr_size)
{
    if (j->failed)
        return store_seterr(errstr, errstr_size, "%s", j->lasterr);
    uint64_t t0 = wd_now_ns() / 1000u;
    if (j->buf.len && fwrite(j->buf.data, 1, j->buf.len, j->fp) != j->buf.len)
        goto fail;
    wd_buf_reset(&j->buf);
    if (sync) {
        if (fflush(j->fp) != 0)
            goto fail;
        struct stat st;
        if (!j->is_stdout && fstat(fileno(j->fp), &st) == 0 && S_ISREG(st.st_mode) &&
            fsync(fileno(j->fp)) != 0)
            goto fail;
    }
    if (j->rows_buffered) {
        uint64_t us = wd_now_ns() / 1000u - t0;
        j->rows_written += j->rows_buffered;
        j->rows_buffered = 0;
        j->batches++;
        j->batch_us_last = us;
        j->batch_us_total += us;
        if (us > j->batch_us_max)
            j->batch_us_max = us;
    }
    return 0;
fail:
    j->failed = 1;
    snprintf(j->lasterr, sizeof(j->lasterr), "store: jsonl: write to %s failed: %s",
             j->is_stdout ? "stdout" : j->path, strerror(errno));
    return store_seterr(errstr, errstr_size, "%s", j->lasterr);
}

static int jsonl_write(void *impl, const store_row_t *rows, size_t n,
                       char *errstr, size_t errstr_size)
{
    jsonl_t *j = impl;
    int rc = 0;
    pthread_mutex_lock(&j->lock);
    if (j->failed) {
        rc = store_seterr(errstr, errstr_size, "%s", j->lasterr);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        size_t before = j->buf.len;
        store_row_json_buf(&j->buf, &rows[i]);
        wd_buf_addc(&j->buf, '\n');
        if (wd_buf_failed(&j->buf)) {
            /* The line is taken back whole: the file never holds half a row. */
            j->buf.len = before;
            j->buf.failed = 0;
            if (j->buf.data)
                j->buf.data[before] = '\0';
            rc = store_seterr(errstr, errstr_size, "store: jsonl: out of memory while formatting a row");
            goto done;
        }
        j->rows_queued++;
        j->rows_buffered++;
        if (j->buf.len >= JSONL_BUF_FLUSH && (rc = jsonl_drain(j, 0, errstr, errstr_size)) != 0)
            goto done;
    }
done:
    pthread_mutex_unlock(&j->lock);
    return rc;
}

static int jsonl_flush(void *impl, char *errstr, size_t errstr_size)
{
    jsonl_t *j = impl;
    pthread_mutex_lock(&j->lock);
    int rc = jsonl_drain(j, 1, errstr, errstr_size);
    pthread_mutex_unlock(&j->lock);
    return rc;
}

static int jsonl_close(void *impl, char *errstr, size_t errstr_size)
{
    jsonl_t *j = impl;
    int rc = jsonl_flush(j, errstr, errstr_size);
    if (!j->is_stdout && fclose(j->fp) != 0 && rc == 0)
        rc = store_seterr(errstr, errstr_size, "store: jsonl: close %s: %s", j->path, strerror(errno));
    wd_buf_free(&j->buf);
    free(j->path);
    pthread_mutex_destroy(&j->lock);
    free(j);
    return rc;
}

static void jsonl_stats(void *impl, store_stats_t *out)
{
    jsonl_t *j = impl;
    pthread_mutex_lock(&j->lock);
    out->rows_queued = j->rows_queued;
    out->rows_written = j->rows_written;
    out->batches = j->batches;
    out->failures = j->failed ? 1 : 0;
    out->batch_us_last = j->batch_us_last;
    out->batch_us_max = j->batch_us_max;
    out->batch_us_total = j->batch_us_total;
    out->buffer_rows = (size_t)j->rows_buffered;
    out->buffer_cap = 0;
    out->healthy = !j->failed;
    pthread_mutex_unlock(&j->lock);
}

static int jsonl_health(void *impl, char *errstr, size_t errstr_size)
{
    jsonl_t *j = impl;
    pthread_mutex_lock(&j->lock);
    int rc = j->failed ? store_seterr(errstr, errstr_size, "%s", j->lasterr) : 0;
    pthread_mutex_unlock(&j->lock);
    return rc;
}

const store_backend_t store_jsonl_backend = {
    .scheme = "jsonl",
    .open = jsonl_open,
    .write = jsonl_write,
    .flush = jsonl_flush,
    .close = jsonl_close,
    .stats = jsonl_stats,
    .health = jsonl_health,
};

/* ---- null: counts and drops --------------------------------------------- */

typedef struct nullsink {
    pthread_mutex_t lock;
    uint64_t        rows;
} nullsink_t;

static int null_open(void **impl, const char *url, const store_opts_t *opts,
                     char *errstr, size_t errstr_size)
{
    (void)url; (void)opts;
    nullsink_t *z = wd_calloc(1, sizeof(*z));
    if (!z)
        return store_seterr(errstr, errstr_size, "store: out of memory");
    pthread_mutex_init(&z->lock, NULL);
    *impl = z;
    return 0;
}

static int null_write(void *impl, const store_row_t *rows, size_t n, char *errstr, size_t errstr_size)
{
    (void)rows; (void)errstr; (void)errstr_size;
    nullsink_t *z = impl;
    pthread_mutex_lock(&z->lock);
    z->rows += n;
    pthread_mutex_unlock(&z->lock);
    return 0;
}

static int null_flush(void *impl, char *errstr, size_t errstr_size)
{
    (void)impl; (void)errstr; (void)errstr_size;
    return 0;
}

static int null_close(void *impl, char *errstr, size_t errstr_size)
{
    (void)errstr; (void)errstr_size;
    nullsink_t *z = impl;
    pthread_mutex_destroy(&z->lock);
    free(z);
    return 0;
}

static void null_stats(void *impl, store_stats_t *out)
{
    nullsink_t *z = impl;
    pthread_mutex_lock(&z->lock);
    out->rows_queued = out->rows_written = z->rows;
    pthread_mutex_unlock(&z->lock);
    out->healthy = 1;
}

const store_backend_t store_null_backend = {
    .scheme = "null",
    .open = null_open,
    .write = null_write,
    .flush = null_flush,
    .close = null_close,
    .stats = null_stats,
};

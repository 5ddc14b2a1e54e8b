/* storage/store_mysql.c — the mysql:// backend (being written). */
#include "storage/store_int.h"

static int mysql_open(void **impl, const char *url, const store_opts_t *opts,
                      char *errstr, size_t errstr_size)
{
    (void)impl; (void)opts;
    return store_seterr(errstr, errstr_size, "store: %s: backend not built yet", url);
}

const store_backend_t store_mysql_backend = {
    .scheme = "mysql",
    .open = mysql_open,
};

/* storage/store_url.h — parsing of sink URLs
 * scheme://[user[:password]@]host[:port][/db][?key=value&…] (percent-decoded),
 * used by the mysql:// and starrocks:// backends and by warden migrate. */
#ifndef WARDEN_STORAGE_STORE_URL_H
#define WARDEN_STORAGE_STORE_URL_H

#include <stddef.h>

typedef struct store_url {
    char     *scheme;     /* "mysql" */
    char     *user;       /* NULL when absent */
    char     *password;   /* from the URL, else $WARDEN_STORE_PASSWORD, else NULL */
    char     *host;       /* brackets of an IPv6 literal removed */
    unsigned  port;       /* 0 when absent */
    char     *db;         /* NULL when absent */
    size_t    nparams;
    char    **keys;
    char    **vals;
} store_url_t;

/* Parses url into u (zeroed first).  Returns 0, or -1 with a message naming
 * the problem in errstr; u is freed on failure. */
int store_url_parse(store_url_t *u, const char *url, char *errstr, size_t errstr_size);

/* The last value given for key, or NULL. */
const char *store_url_param(const store_url_t *u, const char *key);

/* Fails with "unknown parameter ?k= (known: a, b)" for a key not in the
 * NULL-terminated list known. */
int store_url_check_params(const store_url_t *u, const char *const *known,
                           char *errstr, size_t errstr_size);

/* Reads a whole-number parameter in [min, max]; *out keeps its value when
 * the parameter is absent.  Returns 0, or -1 with a message. */
int store_url_param_long(const store_url_t *u, const char *key, long min, long max,
                         long *out, char *errstr, size_t errstr_size);

/* The URL without its password, for messages and logs (caller frees). */
char *store_url_redacted(const store_url_t *u);

void store_url_free(store_url_t *u);

#endif

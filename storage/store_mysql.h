/* storage/store_mysql.h — MySQL-protocol connection helpers shared by the
 * mysql:// sink (store_mysql.c) and warden migrate (store_migrate.c):
 * connecting from a URL, dialect detection (MariaDB, MySQL, StarRocks FE),
 * retriable-error classification and the schema version.  Private to
 * storage/. */
#ifndef WARDEN_STORAGE_STORE_MYSQL_H
#define WARDEN_STORAGE_STORE_MYSQL_H

#include <mysql.h>

#include "storage/store_url.h"

enum store_dialect {
    STORE_DIALECT_AUTO = 0,
    STORE_DIALECT_MARIADB,     /* array binding + ON DUPLICATE KEY UPDATE */
    STORE_DIALECT_MYSQL,       /* multi-row INSERT … ON DUPLICATE KEY UPDATE */
    STORE_DIALECT_STARROCKS,   /* multi-row INSERT into Primary Key tables */
};

const char *store_dialect_name(int dialect);
/* "mariadb" | "mysql" | "starrocks" → enum; -1 otherwise. */
int store_dialect_parse(const char *s);

typedef struct store_myconn_opts {
    int dialect;              /* STORE_DIALECT_AUTO: detect from the server */
    unsigned connect_timeout; /* seconds */
    unsigned rw_timeout;      /* seconds, read and write */
    const char *socket;       /* unix socket path or NULL */
} store_myconn_opts_t;

/* Connects to u (host, port default 3306, user, password, db).  Sets the
 * session to UTC, strict sql_mode and (MariaDB/MySQL) the binary character
 * set so strings travel byte-exact.  On success *dialect holds the dialect
 * (detected when o->dialect is AUTO).  Returns the handle, or NULL with a
 * message in errstr and *retriable set when trying again later may help. */
MYSQL *store_my_connect(const store_url_t *u, const store_myconn_opts_t *o, int *dialect,
                        int *retriable, char *errstr, size_t errstr_size);

/* 1 when a statement that failed with this error may succeed if retried on a
 * new connection (server gone, restart, deadlock, lock wait, read-only…). */
int store_my_retriable(unsigned err, const char *msg);

/* Reads MAX(version) from schema_version: 0 when the table is missing.
 * Returns 0, or -1 with a message (and *retriable). */
int store_my_schema_version(MYSQL *m, int *version, int *retriable, char *errstr, size_t errstr_size);

/* Fails on a URL parameter the mysql:// sink does not know. */
int store_my_check_params(const store_url_t *u, char *errstr, size_t errstr_size);

/* Reads ?dialect= ?socket= ?connect_timeout= ?timeout= into o. */
int store_my_opts_from_url(const store_url_t *u, store_myconn_opts_t *o,
                           char *errstr, size_t errstr_size);

#endif

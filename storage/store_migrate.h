/* storage/store_migrate.h — versioned schema migrations for the MySQL-protocol
 * stores (storage/schema/{mariadb,starrocks}/NNNN_*.sql, embedded in the
 * binary), applied by `warden migrate` (cmd/cmd_migrate.c). */
#ifndef WARDEN_STORAGE_STORE_MIGRATE_H
#define WARDEN_STORAGE_STORE_MIGRATE_H

#include <stddef.h>

typedef struct store_migration {
    int                version;      /* 1, 2, … without gaps */
    const char        *description;
    int                destructive;  /* drops or rewrites data: needs --force */
    const char *const *stmts;        /* NULL-terminated */
    const char *const *fresh_stmts;  /* NULL, or run after stmts only when this
                                      * migration run began on an empty database
                                      * (clean-up of what earlier steps of the
                                      * same run made and this one replaced) */
} store_migration_t;

/* The schema version this binary writes; store_open of a mysql:// sink
 * refuses a database below it. */
int store_schema_required(void);

/* The built-in migrations for a dialect ("mariadb", also used for MySQL, or
 * "starrocks"), in version order. */
const store_migration_t *store_migrations(const char *dialect, size_t *n);

/* 1 when m is marked destructive or one of its statements drops, renames,
 * truncates, deletes or changes a column's type. */
int store_migration_is_destructive(const store_migration_t *m);

/* Brings the database at url to version target (0: the last in list; list
 * NULL: the built-in migrations of the server's dialect).  Applies each
 * missing migration in order and records it in schema_version; additive
 * steps run online; a destructive step is refused (nothing after it is
 * applied) unless force, or unless the database had no schema when the run
 * began (nothing to lose).  On StarRocks an ADD COLUMN may run as a
 * background schema-change job: each is waited for (SHOW ALTER TABLE COLUMN)
 * until FINISHED, and a column or table that already exists counts as
 * applied, so a rerun after an interruption completes.  Idempotent.  Progress lines go to stderr unless
 * quiet.  Returns 0, or -1 with a message in errstr. */
int store_migrate(const char *url, const store_migration_t *list, size_t n, int target,
                  int force, int quiet, char *errstr, size_t errstr_size);

/* The database's schema version (0: none yet). */
int store_schema_current(const char *url, int *version, char *errstr, size_t errstr_size);

#endif

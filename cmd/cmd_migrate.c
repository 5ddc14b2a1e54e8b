/* cmd/cmd_migrate.c — `warden migrate URL [--force] [--to N] [--status]
 * [--print]`: the command line over storage/store_migrate.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "storage/store_migrate.h"

static void migrate_usage(FILE *f)
{
    fprintf(f,
            "usage: warden migrate URL [--force] [--to N] [--status] [--quiet]\n"
            "       warden migrate --print [mariadb|starrocks]\n"
            "Brings the results schema at URL (mysql://user@host:port/db, password in\n"
            "WARDEN_STORE_PASSWORD; StarRocks: its FE MySQL port with ?dialect=starrocks)\n"
            "to the version this binary writes (%d).  Idempotent; additive steps run\n"
            "online; a destructive step is refused unless --force (or the database\n"
            "had no schema yet).\n"
            "  --to N     stop at version N\n"
            "  --status   print the database's version and the required one; change nothing\n"
            "  --print    print the DDL of every migration for a dialect\n",
            store_schema_required());
}

int cmd_migrate(int argc, char **argv)
{
    const char *url = NULL, *print = NULL;
    int force = 0, status = 0, quiet = 0, to = 0, doprint = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--force") == 0) {
            force = 1;
        } else if (strcmp(a, "--status") == 0) {
            status = 1;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            quiet = 1;
        } else if (strcmp(a, "--print") == 0) {
            doprint = 1;
            if (i + 1 < argc && argv[i + 1][0] != '-')
                print = argv[++i];
        } else if (strcmp(a, "--to") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 1000000) {
                fprintf(stderr, "migrate: --to %s: not a version number\n", argv[i]);
                return CMD_EXIT_USAGE;
            }
            to = (int)v;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            migrate_usage(stdout);
            return 0;
        } else if (a[0] != '-' && !url) {
            url = a;
        } else {
            fprintf(stderr, "migrate: unexpected argument %s\n", a);
            migrate_usage(stderr);
            return CMD_EXIT_USAGE;
        }
    }
    if (doprint) {
        size_t n;
        const store_migration_t *l = store_migrations(print ? print : "mariadb", &n);
        for (size_t i = 0; i < n; i++) {
            printf("-- version %d: %s\n", l[i].version, l[i].description);
            for (size_t k = 0; l[i].stmts[k]; k++)
                printf("%s;\n\n", l[i].stmts[k]);
        }
        return 0;
    }
    if (!url) {
        migrate_usage(stderr);
        return CMD_EXIT_USAGE;
    }
    char err[1024];
    if (status) {
        int v;
        if (store_schema_current(url, &v, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s\n", err);
            return CMD_EXIT_LOAD;
        }
        int need = store_schema_required();
        printf("schema version %d, required %d%s\n", v, need,
               v < need ? ": run warden migrate URL" : v > need ? " (database is newer)" : "");
        return v < need ? CMD_EXIT_STRICT : CMD_EXIT_OK;
    }
    if (store_migrate(url, NULL, 0, to, force, quiet, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return CMD_EXIT_LOAD;
    }
    return 0;
}

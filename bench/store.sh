#!/bin/bash
# bench/store.sh — runs build/bench/store (1,000,000 result rows through the
# mysql:// sink vs LOAD DATA LOCAL INFILE, same run, one connection each)
# against a private MariaDB started here (tests/db/mariadb.sh, in its own
# directory so it never meets a test server) and stopped afterwards.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export WARDEN_DB_DIR="${TMPDIR:-/tmp}/warden-mariadb-bench-$(id -u)"
[ -x "$BUILD/bench/store" ] || { echo "bench/store.sh: $BUILD/bench/store not built"; exit 1; }
trap 'tests/db/mariadb.sh stop >/dev/null 2>&1' EXIT
tests/db/mariadb.sh start || { echo "bench/store.sh: could not start MariaDB"; exit 1; }
eval "$(tests/db/mariadb.sh env)"
"$BUILD/bench/store"

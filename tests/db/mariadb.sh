#!/bin/bash
# tests/db/mariadb.sh start|stop|restart|env|status — a private MariaDB for
# tests, benchmarks and the demo.  Installs Debian's mariadb-server when it is
# missing, initialises a datadir under $WARDEN_DB_DIR (default
# ${TMPDIR:-/tmp}/warden-mariadb-$UID), runs mariadbd as the current user on a
# free 127.0.0.1 port and a private socket, waits until it answers and creates
# the database `warden`.  It never touches a system-wide server: everything
# lives in that directory, and `stop` shuts down only the pid recorded there
# and removes the directory.  `restart` keeps the data (outage tests);
# `env` prints shell exports (eval "$(tests/db/mariadb.sh env)").
set -u
DIR=${WARDEN_DB_DIR:-${TMPDIR:-/tmp}/warden-mariadb-$(id -u)}
DATA=$DIR/data
SOCK=$DIR/mysqld.sock
PIDF=$DIR/mysqld.pid
PORTF=$DIR/port
LOG=$DIR/mysqld.log
DBNAME=${WARDEN_DB_NAME:-warden}

die() { echo "mariadb.sh: $*" >&2; exit 1; }

need_server() {
  command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] && return 0
  echo "mariadb.sh: installing mariadb-server" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends \
    mariadb-server mariadb-client >&2 || die "cannot install mariadb-server"
}

mariadbd_bin() { command -v mariadbd 2>/dev/null || echo /usr/sbin/mariadbd; }

free_port() {
  python3 - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

running() { [ -f "$PIDF" ] && kill -0 "$(cat "$PIDF")" 2>/dev/null; }

ping() { mariadb-admin --no-defaults --socket="$SOCK" -uroot ping >/dev/null 2>&1; }

launch() {
  local port=$1
  # setsid: the server outlives the calling shell's job control.
  setsid "$(mariadbd_bin)" --no-defaults --datadir="$DATA" --socket="$SOCK" \
    --port="$port" --bind-address=127.0.0.1 --pid-file="$PIDF" --user="$(id -un)" \
    --skip-log-bin --skip-name-resolve --innodb-buffer-pool-size=128M \
    --innodb-log-file-size=256M --innodb-flush-log-at-trx-commit=2 \
    --max-allowed-packet=64M --local-infile=1 --log-error="$LOG" \
    --tmpdir="$DIR" </dev/null >/dev/null 2>&1 &
  for _ in $(seq 1 300); do
    ping && return 0
    sleep 0.1
  done
  tail -20 "$LOG" >&2
  die "mariadbd did not answer within 30 s (log: $LOG)"
}

start() {
  if running && ping; then return 0; fi
  need_server
  mkdir -p "$DIR"
  if [ ! -d "$DATA/mysql" ]; then
    rm -rf "$DATA"
    # its own temporary directory: bootstraps that ran at once in one
    # TMPDIR collided on their temporary tables ("Unknown table
    # mysql.tmp_user_sys")
    TMPDIR="$DIR" mariadb-install-db --no-defaults --datadir="$DATA" --user="$(id -un)" \
      --auth-root-authentication-method=normal --skip-test-db >"$DIR/install.log" 2>&1 \
      || { cat "$DIR/install.log" >&2; die "mariadb-install-db failed"; }
  fi
  local port
  port=$(cat "$PORTF" 2>/dev/null || true)
  [ -n "$port" ] || { port=$(free_port); echo "$port" > "$PORTF"; }
  launch "$port"
  mariadb --no-defaults --socket="$SOCK" -uroot \
    -e "CREATE DATABASE IF NOT EXISTS \`$DBNAME\`" || die "cannot create database $DBNAME"
  echo "mariadb.sh: MariaDB on 127.0.0.1:$port (socket $SOCK, datadir $DATA)" >&2
}

shutdown_server() {
  running || return 0
  local pid; pid=$(cat "$PIDF")
  mariadb-admin --no-defaults --socket="$SOCK" -uroot shutdown >/dev/null 2>&1 || kill "$pid" 2>/dev/null
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null
}

case "${1:-}" in
  start) start ;;
  stop) shutdown_server; rm -rf "$DIR" ;;
  # Stops the server but keeps the data and port (outage tests).
  pause) shutdown_server ;;
  resume|restart)
    [ "$1" = restart ] && shutdown_server
    [ -f "$PORTF" ] || die "not initialised: run start first"
    running && ping || launch "$(cat "$PORTF")" ;;
  env)
    [ -f "$PORTF" ] || die "not started"
    port=$(cat "$PORTF")
    echo "export WARDEN_DB_URL=mysql://root@127.0.0.1:$port/$DBNAME"
    echo "export WARDEN_DB_PORT=$port"
    echo "export WARDEN_DB_SOCKET=$SOCK"
    echo "export WARDEN_DB_DIR=$DIR" ;;
  status) if running && ping; then echo "running on port $(cat "$PORTF")"; else echo "stopped"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|pause|resume|restart|env|status" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# A PostgreSQL server on loopback for the integration suite and the benchmarks.
#
#   scripts/postgres.sh setup     new cluster in target/integration/postgres (port 5433),
#                                 role `callvault` (password, CREATEDB), database `callvault`
#   scripts/postgres.sh start     start it (data kept)
#   scripts/postgres.sh stop      stop it (fast shutdown)
#   scripts/postgres.sh env       the variables the tests read (CALLVAULT_IT_PG*)
#
# Debian's postgresql package; the server runs as the `postgres` user, as it must.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=5433
DIR="$PWD/target/integration/postgres"
PASSWORD=callvault-integration-only
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$BIN" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  if as_pg "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then return 0; fi
  as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start >/dev/null
}

stop() {
  [ -d "$DIR/data" ] || return 0
  as_pg "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
}

setup() {
  stop
  rm -rf "$DIR"
  mkdir -p "$DIR/sock"
  printf '%s\n' "$PASSWORD" > "$DIR/pwfile"
  if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$DIR"; fi
  chmod 700 "$DIR"
  as_pg "$BIN/initdb" -D "$DIR/data" -U postgres --pwfile="$DIR/pwfile" \
    --auth-local=peer --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
  cat >> "$DIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR/sock'
# Durability as in production: every commit waits for its WAL flush.
fsync = on
synchronous_commit = on
max_connections = 200
shared_buffers = 256MB
CONF
  start
  PGPASSWORD=$PASSWORD psql -q -h 127.0.0.1 -p $PORT -U postgres -d postgres -v ON_ERROR_STOP=1 <<SQL
CREATE ROLE callvault LOGIN CREATEDB PASSWORD '$PASSWORD';
CREATE DATABASE callvault OWNER callvault;
SQL
}

env_vars() {
  cat <<ENV
export CALLVAULT_IT_PG='host=127.0.0.1 port=$PORT user=callvault dbname=callvault'
export CALLVAULT_IT_PG_PASSWORD=$PASSWORD
ENV
}

case "${1:-}" in
  setup) setup ;;
  start) start ;;
  stop) stop ;;
  env) env_vars ;;
  *) sed -n '2,10p' "$0"; exit 2 ;;
esac

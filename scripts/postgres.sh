#!/usr/bin/env bash
# A PostgreSQL server on loopback for the integration suite and the benchmarks.
#
#   scripts/postgres.sh setup     new cluster in target/integration/postgres (port 5433),
#                                 role `callvault` (password, CREATEDB), database `callvault`;
#                                 TLS with a CA of its own (tls/ca.pem), and a role
#                                 `callvault_tls` that may only connect over TLS
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
  # A CA and a server certificate for 127.0.0.1 (openssl), for the TLS connection tests.
  mkdir -p "$DIR/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=callvault integration CA" -keyout "$DIR/tls/ca.key" -out "$DIR/tls/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$DIR/tls/server.key" -out "$DIR/tls/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$DIR/tls/ext.cnf"
  openssl x509 -req -in "$DIR/tls/server.csr" -CA "$DIR/tls/ca.pem" -CAkey "$DIR/tls/ca.key" \
    -CAcreateserial -days 30 -extfile "$DIR/tls/ext.cnf" -out "$DIR/tls/server.pem" 2>/dev/null
  chmod 600 "$DIR/tls/server.key" "$DIR/tls/ca.key"
  if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$DIR/tls"; fi
  chmod 755 "$DIR/tls"; chmod 644 "$DIR/tls/ca.pem"
  # callvault_tls: TLS only (the first matching line wins).
  { printf 'hostssl all callvault_tls 127.0.0.1/32 scram-sha-256\nhostnossl all callvault_tls 127.0.0.1/32 reject\n'
    cat "$DIR/data/pg_hba.conf"; } > "$DIR/pg_hba.tmp"
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$DIR/pg_hba.tmp"; fi
  mv "$DIR/pg_hba.tmp" "$DIR/data/pg_hba.conf"
  cat >> "$DIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR/sock'
# Durability as in production: every commit waits for its WAL flush.
fsync = on
synchronous_commit = on
max_connections = 200
shared_buffers = 256MB
ssl = on
ssl_cert_file = '$DIR/tls/server.pem'
ssl_key_file = '$DIR/tls/server.key'
ssl_min_protocol_version = 'TLSv1.2'
CONF
  start
  PGPASSWORD=$PASSWORD psql -q -h 127.0.0.1 -p $PORT -U postgres -d postgres -v ON_ERROR_STOP=1 <<SQL
CREATE ROLE callvault LOGIN CREATEDB PASSWORD '$PASSWORD';
CREATE ROLE callvault_tls LOGIN PASSWORD '$PASSWORD';
GRANT callvault_tls TO callvault;
CREATE DATABASE callvault OWNER callvault;
SQL
}

env_vars() {
  cat <<ENV
export CALLVAULT_IT_PG='host=127.0.0.1 port=$PORT user=callvault dbname=callvault'
export CALLVAULT_IT_PG_PASSWORD=$PASSWORD
export CALLVAULT_IT_PG_TLS_CA=$DIR/tls/ca.pem
ENV
}

case "${1:-}" in
  setup) setup ;;
  start) start ;;
  stop) stop ;;
  env) env_vars ;;
  *) sed -n '2,10p' "$0"; exit 2 ;;
esac

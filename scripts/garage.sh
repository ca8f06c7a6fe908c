#!/usr/bin/env bash
# One single-node Garage server per site on loopback, for the integration suite.
#
#   scripts/garage.sh install        build garage (cargo install --locked, cached in
#                                    $CALLVAULT_TOOL_CACHE, default ~/.cache/callvault-tools)
#   scripts/garage.sh setup a|b      first start: config, layout, bucket, access key
#   scripts/garage.sh start a|b      start the server of site a or b (data kept)
#   scripts/garage.sh stop a|b       stop it (SIGTERM, then wait)
#   scripts/garage.sh env            the variables the tests read (CALLVAULT_IT_S3_*)
#
# State lives in target/integration/garage-<site>/ (meta, data, garage.toml, garage.pid,
# garage.log). Site a listens on 127.0.0.1:3900 (S3) / 3901 (RPC) / 3903 (admin), site b
# on 3910 / 3911 / 3913: two independent servers, each with its own data directory.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/tools.sh
source scripts/lib/tools.sh

GARAGE_VERSION=2.5.0
CACHE="${CALLVAULT_TOOL_CACHE:-$HOME/.cache/callvault-tools}"
GARAGE="$CACHE/garage-$GARAGE_VERSION/bin/garage"
STATE="$PWD/target/integration"
# Fixed test credentials (loopback only): one key imported into both servers.
KEY_ID=GK0c411a0175e0a000000000a1
SECRET=5e5e7a11c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00

port_base() { case "$1" in a) echo 3900 ;; b) echo 3910 ;; *) echo "site must be a or b" >&2; exit 2 ;; esac; }

install() {
  GARAGE=$(cached_tool garage "$GARAGE_VERSION")
  "$GARAGE" --version >/dev/null
}

g() { local site=$1; shift; "$GARAGE" -c "$STATE/garage-$site/garage.toml" "$@"; }

write_config() {
  local site=$1 base dir
  base=$(port_base "$site")
  dir="$STATE/garage-$site"
  mkdir -p "$dir/meta" "$dir/data"
  chmod 700 "$dir"
  [ -f "$dir/rpc_secret" ] || { openssl rand -hex 32 > "$dir/rpc_secret"; chmod 600 "$dir/rpc_secret"; }
  cat > "$dir/garage.toml" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
metadata_fsync = true
data_fsync = true
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$((base + 1))"
rpc_public_addr = "127.0.0.1:$((base + 1))"
rpc_secret_file = "$dir/rpc_secret"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$base"

[admin]
api_bind_addr = "127.0.0.1:$((base + 3))"
TOML
}

start() {
  local site=$1 dir base
  dir="$STATE/garage-$site"
  base=$(port_base "$site")
  [ -f "$dir/garage.toml" ] || write_config "$site"
  if [ -f "$dir/garage.pid" ] && kill -0 "$(cat "$dir/garage.pid")" 2>/dev/null; then
    return 0
  fi
  setsid "$GARAGE" -c "$dir/garage.toml" server >>"$dir/garage.log" 2>&1 < /dev/null &
  echo $! > "$dir/garage.pid"
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$base/" && g "$site" status >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  echo "garage $site did not start; see $dir/garage.log" >&2
  tail -20 "$dir/garage.log" >&2
  exit 1
}

stop() {
  local site=$1 dir pid
  dir="$STATE/garage-$site"
  [ -f "$dir/garage.pid" ] || return 0
  pid=$(cat "$dir/garage.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/garage.pid"
}

setup() {
  local site=$1 node
  stop "$site"
  rm -rf "$STATE/garage-$site"
  write_config "$site"
  start "$site"
  node=$(g "$site" node id -q 2>/dev/null | cut -d@ -f1)
  [ -n "$node" ] || { echo "garage $site: no node id in status" >&2; g "$site" status >&2; exit 1; }
  g "$site" layout assign -z "dc-$site" -c 1G "$node" >/dev/null
  g "$site" layout apply --version 1 >/dev/null
  g "$site" bucket create "callvault-$site" >/dev/null
  g "$site" key import --yes -n callvault "$KEY_ID" "$SECRET" >/dev/null
  g "$site" bucket allow --read --write --owner "callvault-$site" --key "$KEY_ID" >/dev/null
}

env_vars() {
  cat <<ENV
export CALLVAULT_IT_S3_ENDPOINT_A=http://127.0.0.1:3900
export CALLVAULT_IT_S3_ENDPOINT_B=http://127.0.0.1:3910
export CALLVAULT_IT_S3_BUCKET_A=callvault-a
export CALLVAULT_IT_S3_BUCKET_B=callvault-b
export CALLVAULT_IT_S3_KEY_ID=$KEY_ID
export CALLVAULT_IT_S3_SECRET=$SECRET
export CALLVAULT_IT_GARAGE_CONTROL=$PWD/scripts/garage.sh
ENV
}

case "${1:-}" in
  install) install ;;
  setup) setup "${2:?site}" ;;
  start) start "${2:?site}" ;;
  stop) stop "${2:?site}" ;;
  env) env_vars ;;
  *) sed -n '2,13p' "$0"; exit 2 ;;
esac

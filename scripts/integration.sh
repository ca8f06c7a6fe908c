#!/usr/bin/env bash
# The integration suite (run by .ci/run after the README's test command): installs what is
# missing, starts PostgreSQL (scripts/postgres.sh) and two independent single-node Garage
# servers on loopback (sites A and B, scripts/garage.sh), gives the tests SoftHSM2 tokens,
# runs every test marked `#[ignore = "integration: …"]`, and stops the servers again,
# whatever happened.
#
#   scripts/integration.sh [-- <cargo test filter and options>]
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -e /usr/lib/softhsm/libsofthsm2.so ] || missing+=(softhsm2)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v setsid >/dev/null 2>&1 || missing+=(util-linux)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${missing[@]}"
  else
    echo "scripts/integration.sh: missing ${missing[*]}; install them" >&2
    exit 1
  fi
fi

# shellcheck source=scripts/lib/servers.sh
. scripts/lib/servers.sh
servers_up

# Tests make their own SoftHSM2 tokens under target/softhsm (SOFTHSM2_CONF from
# .cargo/config.toml); those of earlier runs go.
rm -rf target/softhsm/tokens

started=$(date +%s)
# The fault-injection tests (also ignored: they mount filesystems) are scripts/faults'.
cargo test --workspace --all-targets --locked -- --ignored --skip faults:: "$@"
echo "integration suite: passed in $(( $(date +%s) - started )) s (PostgreSQL, Garage ×2, SoftHSM2)"

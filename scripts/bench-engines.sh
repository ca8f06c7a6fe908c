#!/usr/bin/env bash
# The engines benchmark of BENCHMARKS.md: import and audited playback with the catalog in
# PostgreSQL, two Garage S3 sites and the keys in a SoftHSM2 token, beside the embedded
# default, in one run.
#
#   scripts/bench-engines.sh [--recordings N] [--mib N]
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib/servers.sh
. scripts/lib/servers.sh
servers_up

# A token of its own (the benchmark process initialises SoftHSM2 after it exists).
export SOFTHSM2_CONF="$PWD/target/bench-softhsm/softhsm2.conf"
rm -rf target/bench-softhsm
mkdir -p target/bench-softhsm/tokens
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
  "$PWD/target/bench-softhsm/tokens" > "$SOFTHSM2_CONF"
export CALLVAULT_BENCH_TOKEN=cv-bench CALLVAULT_BENCH_PIN=4711-bench
softhsm2-util --init-token --free --label "$CALLVAULT_BENCH_TOKEN" --so-pin 4711-so \
  --pin "$CALLVAULT_BENCH_PIN" >/dev/null

cargo run --release --locked -p callvault-bench -- engines --dir target "$@"

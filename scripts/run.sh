#!/usr/bin/env bash
# Runs the daemon on its embedded defaults (API on 127.0.0.1:9736, state in ./cacheplane-data), installing
# redis-server first if it is missing. Extra arguments go to `cacheplane serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ensure_redis
cargo build --release --quiet --bin cacheplane
exec target/release/cacheplane serve "$@"

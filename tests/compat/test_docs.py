"""The user's path, as written. From a clean copy of the checkout (the files git has, nothing built, no data):
`./scripts/run.sh` with no arguments, on its default data directory and ports; the README's tour; Ctrl-C; a second
start that adopts what the first one ran; then every runnable example of docs/ (see docs_runner), file by file, on
that daemon; and at the end, nothing left running.

These tests share one daemon and run in the order written. CACHEPLANE_FIRST_RUN_DIR names a directory to hold the
copy instead of a temporary one (its target/ is kept between runs, everything else is copied afresh)."""

import glob
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import boto3
import pytest

import docs_runner

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUTPUT = os.path.join(ROOT, "tests", "compat", "output", "first-run")
DOCS = sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))


def clean_copy():
    """A copy of the checkout's files as git sees them (tracked, and untracked but not ignored)."""
    keep = os.environ.get("CACHEPLANE_FIRST_RUN_DIR")
    if keep:
        os.makedirs(keep, exist_ok=True)
        for name in os.listdir(keep):
            if name != "target":
                p = os.path.join(keep, name)
                shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.remove(p)
        dest = keep
    else:
        dest = tempfile.mkdtemp(prefix="cacheplane-first-run-")
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           check=True, capture_output=True).stdout.decode().split("\0")
    for f in filter(None, files):
        src = os.path.join(ROOT, f)
        if not os.path.lexists(src):
            continue  # deleted in the working tree
        os.makedirs(os.path.dirname(os.path.join(dest, f)), exist_ok=True)
        shutil.copy2(src, os.path.join(dest, f), follow_symlinks=False)
    return dest


def user_env(extra=None):
    """The environment of a user who has configured nothing of Cacheplane or AWS; the test clients (aws, python
    with boto3) on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CACHEPLANE_", "AWS_"))}
    # Not the user's: the AWS CLI's check of every answer against AWS's model (conftest).
    for k in ("AWS_CONFIG_FILE", "CACHEPLANE_MODEL_VIOLATIONS", "PYTHONPATH"):
        if k in os.environ:
            env[k] = os.environ[k]
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.update(extra or {})
    return env


class Daemon:
    """`./scripts/run.sh` started as a user starts it, in its own process group as a shell's foreground job."""

    def __init__(self, copy, n):
        self.copy = copy
        os.makedirs(OUTPUT, exist_ok=True)
        self.log_path = os.path.join(OUTPUT, f"start-{n}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(["./scripts/run.sh"], cwd=copy, env=user_env(), stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, start_new_session=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_listening(self, timeout):
        """The `API listening` line, within `timeout` seconds (the first start builds the daemon)."""
        deadline = time.time() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.time()))
            except queue.Empty:
                line = None
            if line and "API listening" in line:
                return line
            if line is None or time.time() > deadline:
                with open(self.log_path) as f:
                    tail = f.read()[-3000:]
                raise AssertionError(f"./scripts/run.sh did not say the API listens within {timeout} s "
                                     f"(exit {self.proc.poll()}):\n{tail}")

    def interrupt(self):
        """Ctrl-C: SIGINT to the foreground process group; the daemon's exit code."""
        os.killpg(self.proc.pid, signal.SIGINT)
        code = self.proc.wait(timeout=60)
        self.log.close()
        return code


def processes_under(path):
    """Pids of processes whose command line or working directory is under `path`."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(f"/proc/{d}/cwd")
        except OSError:
            continue
        if path in cmd or cwd == path or cwd.startswith(path + "/"):
            pids.append(int(d))
    return pids


def node_pids(data_dir):
    pids = []
    for pidfile in glob.glob(os.path.join(data_dir, "nodes", "*", "*.pid")):
        try:
            with open(pidfile) as f:
                pids.append(int(f.read().strip()))
        except (OSError, ValueError):
            pass
    return sorted(pids)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def credentials(copy):
    """What `eval "$(target/release/cacheplane credentials)"` exports, as a user's shell would have it."""
    out = subprocess.run(["bash", "-c", 'eval "$(target/release/cacheplane credentials)" && env -0'], cwd=copy,
                         env=user_env(), check=True, capture_output=True).stdout.decode()
    return {k: v for k, _, v in (e.partition("=") for e in out.split("\0") if e) if k.startswith("AWS_")}


def aws(copy, *args):
    p = subprocess.run(["aws", "elasticache", *args, "--output", "json"], cwd=copy,
                       env=user_env(credentials(copy)), capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout) if p.stdout.strip() else None


def redis_cli(endpoint, *args):
    return subprocess.run(["redis-cli", "-h", endpoint["Address"], "-p", str(endpoint["Port"]), *args],
                          check=True, capture_output=True, text=True).stdout.strip()


def wait_group(copy, group, status="available", timeout=60):
    deadline = time.time() + timeout
    while True:
        g = aws(copy, "describe-replication-groups", "--replication-group-id", group)["ReplicationGroups"][0]
        if g["Status"] == status:
            return g
        assert time.time() < deadline, f"{group} is {g['Status']} after {timeout} s"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def user():
    """The copy and its running daemon (replaced by the test that restarts it); everything stopped at the end."""
    copy = clean_copy()
    state = {"copy": copy, "daemon": Daemon(copy, 1)}
    try:
        yield state
    finally:
        d = state["daemon"]
        if d.proc.poll() is None:
            os.killpg(d.proc.pid, signal.SIGKILL)
            d.proc.wait()
        for pid in processes_under(copy):
            os.kill(pid, signal.SIGKILL)
        if not os.environ.get("CACHEPLANE_FIRST_RUN_DIR"):
            shutil.rmtree(copy, ignore_errors=True)


def test_first_command_as_written_then_the_tour_then_a_second_start(user):
    copy = user["copy"]
    line = user["daemon"].wait_listening(timeout=1800)
    data_dir = os.path.join(copy, "cacheplane-data")
    assert f"data {data_dir}" in line, line
    assert os.path.isfile(os.path.join(data_dir, "credentials"))

    # The README's tour, its runnable blocks as a reader runs them (they set up their own credentials).
    r = docs_runner.run(os.path.join(copy, "README.md"), cwd=copy, env=user_env())
    assert r.returncode == 0, f"README.md's examples failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"

    # Something to adopt: a group with a key in it.
    aws(copy, "create-replication-group", "--replication-group-id", "first-run",
        "--replication-group-description", "kept across a restart", "--num-cache-clusters", "2")
    g = wait_group(copy, "first-run")
    primary = g["NodeGroups"][0]["PrimaryEndpoint"]
    assert redis_cli(primary, "SET", "greeting", "still here") == "OK"
    pids = node_pids(data_dir)
    assert len(pids) == 2

    # Ctrl-C: the daemon stops, its nodes keep serving.
    assert user["daemon"].interrupt() == 0
    assert all(alive(p) for p in pids)
    assert redis_cli(primary, "GET", "greeting") == "still here"

    # The second start adopts the same processes, with their data.
    user["daemon"] = Daemon(copy, 2)
    user["daemon"].wait_listening(timeout=600)
    g = wait_group(copy, "first-run")
    assert node_pids(data_dir) == pids
    assert g["NodeGroups"][0]["PrimaryEndpoint"] == primary
    assert redis_cli(primary, "GET", "greeting") == "still here"
    aws(copy, "delete-replication-group", "--replication-group-id", "first-run")
    deadline = time.time() + 60
    while aws(copy, "describe-replication-groups")["ReplicationGroups"]:
        assert time.time() < deadline, "first-run was never deleted"
        time.sleep(0.2)
    assert not any(alive(p) for p in pids)


def leftovers(copy):
    """What a doc created and did not delete."""
    env = credentials(copy)
    ec = boto3.client("elasticache", endpoint_url=env["AWS_ENDPOINT_URL"], region_name=env["AWS_DEFAULT_REGION"],
                      aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    left = [g["ReplicationGroupId"] for g in ec.describe_replication_groups()["ReplicationGroups"]]
    left += [c["CacheClusterId"] for c in ec.describe_cache_clusters()["CacheClusters"]]
    left += [s["SnapshotName"] for s in ec.describe_snapshots()["Snapshots"]]
    left += [u["UserId"] for u in ec.describe_users()["Users"] if u["UserId"] != "default"]
    left += [u["UserGroupId"] for u in ec.describe_user_groups()["UserGroups"]]
    left += [p["CacheParameterGroupName"] for p in ec.describe_cache_parameter_groups()["CacheParameterGroups"]
             if not p["CacheParameterGroupName"].startswith("default.")]
    left += [s["CacheSubnetGroupName"] for s in ec.describe_cache_subnet_groups()["CacheSubnetGroups"]
             if s["CacheSubnetGroupName"] != "default"]
    return left


@pytest.mark.parametrize("doc", DOCS)
def test_the_docs_examples_run(user, doc):
    copy = user["copy"]
    assert user["daemon"].proc.poll() is None, "the daemon is not running (see the first test)"
    env = user_env(credentials(copy))
    env["PATH"] = os.path.join(copy, "target", "release") + os.pathsep + env["PATH"]
    r = docs_runner.run(os.path.join(copy, doc), cwd=copy, env=env)
    assert r.returncode == 0, f"{doc}'s examples failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    deadline = time.time() + 60
    while (left := leftovers(copy)) and time.time() < deadline:
        time.sleep(0.5)  # deletions finish in the background
    assert not left, f"{doc}'s examples left {left}"


def test_nothing_is_left_running(user):
    copy = user["copy"]
    assert user["daemon"].interrupt() == 0
    assert processes_under(copy) == []


def test_api_coverage_is_current():
    """docs/api-coverage.md is what AWS's model and the daemon's list of actions say today (CACHEPLANE_BLESS=1
    rewrites it)."""
    import api_coverage
    text = api_coverage.generate(ROOT)
    path = os.path.join(ROOT, "docs", "api-coverage.md")
    if os.environ.get("CACHEPLANE_BLESS"):
        with open(path, "w") as f:
            f.write(text)
    with open(path) as f:
        assert f.read() == text, "docs/api-coverage.md is out of date: regenerate it (see api_coverage.py)"

"""Compatibility: the same create/describe/delete as users do it, with boto3 and with the AWS CLI (both from
PyPI), against the real daemon, checking effects on the Redis nodes with redis-cli."""

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import boto3
import botocore.exceptions
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("CACHEPLANE_BIN", os.path.join(ROOT, "target", "debug", "cacheplane"))
KEY_ID = "AKIDCOMPATTEST"
SECRET = "compat-secret-0123456789"
REGION = "us-east-1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_pids(data_dir):
    pids = []
    nodes = os.path.join(data_dir, "nodes")
    if os.path.isdir(nodes):
        for name in os.listdir(nodes):
            for pidfile in ("redis.pid", "memcached.pid"):
                try:
                    with open(os.path.join(nodes, name, pidfile)) as f:
                        pids.append(int(f.read().strip()))
                except (OSError, ValueError):
                    pass
    return pids


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except OSError:
        return False


@contextlib.contextmanager
def running_daemon(log=None, engines=(), extra=()):
    """A daemon on a free port with a fresh data directory; yields (endpoint, data_dir, process). Killed, with every
    node it started (by pid), on exit. `engines`: binaries to register (default: the redis-server on PATH)."""
    data_dir = tempfile.mkdtemp(prefix="cacheplane-compat-")
    port = free_port()
    env = dict(os.environ, CACHEPLANE_ACCESS_KEY_ID=KEY_ID, CACHEPLANE_SECRET_ACCESS_KEY=SECRET)
    if log:
        env["CACHEPLANE_LOG"] = log
    registered = [a for e in engines for a in ("--engine-binary", e)]
    # The default metrics port is the README daemon's (test_docs.py runs beside this file).
    if "--metrics-listen" not in extra:
        extra = (*extra, "--metrics-listen", "off")
    proc = subprocess.Popen(
        [BINARY, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir, *registered, *extra],
        stdout=subprocess.PIPE, env=env, text=True,
    )
    try:
        line = proc.stdout.readline()
        assert "API listening" in line, line
        yield f"http://127.0.0.1:{port}", data_dir, proc
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for pid in node_pids(data_dir):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(data_dir, ignore_errors=True)
        # The deployment's private directory for long-path admin sockets (engine::private::prepare_socket_dir).
        digest = hashlib.sha256(data_dir.encode()).hexdigest()[:16]
        shutil.rmtree(os.path.join(tempfile.gettempdir(), f"cacheplane-{os.geteuid()}-{digest}"), ignore_errors=True)


@pytest.fixture()
def daemon():
    with running_daemon() as (endpoint, data_dir, _):
        yield endpoint, data_dir


@pytest.fixture()
def valkey_daemon():
    """A daemon with Debian's redis-server and the valkey-server 9.1 and 9.0 builds scripts/test.sh installs."""
    engines = [shutil.which("redis-server"), os.environ["CACHEPLANE_VALKEY_9_1"], os.environ["CACHEPLANE_VALKEY_9_0"]]
    with running_daemon(engines=engines) as (endpoint, data_dir, _):
        yield endpoint, data_dir


def redis_cli(ep, *args):
    return subprocess.run(
        ["redis-cli", "-h", ep["Address"], "-p", str(ep["Port"]), *args],
        check=True, capture_output=True, text=True,
    ).stdout.strip()


def wait_status(describe, want, timeout=30):
    deadline = time.time() + timeout
    while True:
        g = describe()
        if g["Status"] == want:
            return g
        assert time.time() < deadline, f"status {g['Status']} after {timeout}s"
        time.sleep(0.05)


def check_data_path(group):
    ng = group["NodeGroups"][0]
    assert redis_cli(ng["PrimaryEndpoint"], "SET", "compat", "yes") == "OK"
    # Replication is asynchronous: each replica must show the key within a few seconds.
    for ep in [m["ReadEndpoint"] for m in ng["NodeGroupMembers"]] + [ng["ReaderEndpoint"]]:
        deadline = time.time() + 10
        while redis_cli(ep, "GET", "compat") != "yes":
            assert time.time() < deadline, f"{ep} never showed the key"
            time.sleep(0.02)


def test_boto3_create_describe_delete(daemon):
    endpoint, data_dir = daemon
    ec = boto3.client("elasticache", endpoint_url=endpoint, region_name=REGION,
                      aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
    r = ec.create_replication_group(
        ReplicationGroupId="boto-rg", ReplicationGroupDescription="from boto3", NumCacheClusters=2,
        CacheNodeType="cache.t3.micro", Tags=[{"Key": "owner", "Value": "boto3"}],
    )
    assert r["ReplicationGroup"]["Status"] == "creating"
    g = wait_status(lambda: ec.describe_replication_groups(ReplicationGroupId="boto-rg")["ReplicationGroups"][0], "available")
    assert g["MemberClusters"] == ["boto-rg-001", "boto-rg-002"]
    roles = [m["CurrentRole"] for m in g["NodeGroups"][0]["NodeGroupMembers"]]
    assert roles == ["primary", "replica"]
    check_data_path(g)
    # botocore's paginator and waiter machinery read the same shapes.
    pages = list(ec.get_paginator("describe_replication_groups").paginate())
    assert [x["ReplicationGroupId"] for p in pages for x in p["ReplicationGroups"]] == ["boto-rg"]
    clusters = ec.describe_cache_clusters(ShowCacheNodeInfo=True)["CacheClusters"]
    assert {c["CacheClusterId"] for c in clusters} == {"boto-rg-001", "boto-rg-002"}
    assert all(c["CacheNodes"][0]["CacheNodeStatus"] == "available" for c in clusters)
    tags = ec.list_tags_for_resource(ResourceName=g["ARN"])["TagList"]
    assert tags == [{"Key": "owner", "Value": "boto3"}]
    with pytest.raises(ec.exceptions.ReplicationGroupAlreadyExistsFault):
        ec.create_replication_group(ReplicationGroupId="boto-rg", ReplicationGroupDescription="again")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec.create_replication_group(ReplicationGroupId="x", ReplicationGroupDescription="d", NumCacheClusters=9)
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"

    pids = node_pids(data_dir)
    assert len(pids) == 2
    d = ec.delete_replication_group(ReplicationGroupId="boto-rg")
    assert d["ReplicationGroup"]["Status"] == "deleting"
    waiter = ec.get_waiter("replication_group_deleted")
    waiter.wait(ReplicationGroupId="boto-rg", WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    with pytest.raises(ec.exceptions.ReplicationGroupNotFoundFault):
        ec.describe_replication_groups(ReplicationGroupId="boto-rg")
    assert not any(alive(p) for p in pids)


def aws(endpoint, *args):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET, AWS_DEFAULT_REGION=REGION)
    env.pop("AWS_PROFILE", None)
    p = subprocess.run(["aws", "elasticache", *args, "--endpoint-url", endpoint, "--output", "json"],
                       capture_output=True, text=True, env=env)
    return p.returncode, (json.loads(p.stdout) if p.stdout.strip() else None), p.stderr


def test_aws_cli_create_describe_delete(daemon):
    endpoint, data_dir = daemon
    rc, out, err = aws(endpoint, "create-replication-group", "--replication-group-id", "cli-rg",
                       "--replication-group-description", "from the CLI", "--num-cache-clusters", "3",
                       "--preferred-cache-cluster-a-zs", "us-east-1a", "us-east-1b", "us-east-1c")
    assert rc == 0, err
    assert out["ReplicationGroup"]["Status"] == "creating"

    def describe():
        rc, out, err = aws(endpoint, "describe-replication-groups", "--replication-group-id", "cli-rg")
        assert rc == 0, err
        return out["ReplicationGroups"][0]

    g = wait_status(describe, "available")
    assert len(g["NodeGroups"][0]["NodeGroupMembers"]) == 3
    check_data_path(g)
    rc, out, err = aws(endpoint, "describe-events", "--source-identifier", "cli-rg", "--source-type", "replication-group")
    assert rc == 0, err
    assert "Replication group cli-rg created" in [e["Message"] for e in out["Events"]]

    pids = node_pids(data_dir)
    rc, out, err = aws(endpoint, "delete-replication-group", "--replication-group-id", "cli-rg")
    assert rc == 0, err
    rc, out, err = aws(endpoint, "wait", "replication-group-deleted", "--replication-group-id", "cli-rg")
    assert rc == 0, err
    rc, out, err = aws(endpoint, "describe-replication-groups", "--replication-group-id", "cli-rg")
    assert rc != 0 and "ReplicationGroupNotFoundFault" in err
    assert not any(alive(p) for p in pids)


def test_failover_and_replica_count_with_boto3_and_cli(daemon):
    endpoint, data_dir = daemon
    ec = boto3.client("elasticache", endpoint_url=endpoint, region_name=REGION,
                      aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
    ec.create_replication_group(
        ReplicationGroupId="ha-rg", ReplicationGroupDescription="failover", NumCacheClusters=2,
        AutomaticFailoverEnabled=True, MultiAZEnabled=True,
    )
    describe = lambda: ec.describe_replication_groups(ReplicationGroupId="ha-rg")["ReplicationGroups"][0]
    g = wait_status(describe, "available")
    assert g["AutomaticFailover"] == "enabled" and g["MultiAZ"] == "enabled"
    ng = g["NodeGroups"][0]
    assert redis_cli(ng["PrimaryEndpoint"], "SET", "survivor", "yes") == "OK"
    old = next(m["CacheClusterId"] for m in ng["NodeGroupMembers"] if m["CurrentRole"] == "primary")

    # The AWS CLI's test-failover, then the same primary endpoint serves writes on the other node.
    rc, out, err = aws(endpoint, "test-failover", "--replication-group-id", "ha-rg", "--node-group-id", "0001")
    assert rc == 0, err
    assert out["ReplicationGroup"]["Status"] == "available"
    deadline = time.time() + 20
    while True:
        members = describe()["NodeGroups"][0]["NodeGroupMembers"]
        roles = {m["CacheClusterId"]: m.get("CurrentRole") for m in members}
        if roles.get(old) == "replica" and list(roles.values()).count("primary") == 1:
            break
        assert time.time() < deadline, roles
        time.sleep(0.05)
    assert redis_cli(ng["PrimaryEndpoint"], "GET", "survivor") == "yes"
    assert redis_cli(ng["PrimaryEndpoint"], "SET", "after", "failover") == "OK"
    events = [e["Message"] for e in ec.describe_events(SourceIdentifier="ha-rg")["Events"]]
    assert "Test Failover API called for node group 0001" in events
    assert any(m.startswith(f"Failover from primary node {old} to replica node") for m in events)
    with pytest.raises(ec.exceptions.NodeGroupNotFoundFault):
        ec.test_failover(ReplicationGroupId="ha-rg", NodeGroupId="0002")

    # boto3's increase/decrease: a third node that really holds the data, then back to two.
    wait_status(describe, "available")
    r = ec.increase_replica_count(ReplicationGroupId="ha-rg", NewReplicaCount=2, ApplyImmediately=True)
    assert r["ReplicationGroup"]["Status"] == "modifying"
    g = wait_status(describe, "available")
    assert g["MemberClusters"] == ["ha-rg-001", "ha-rg-002", "ha-rg-003"]
    new = next(m for m in g["NodeGroups"][0]["NodeGroupMembers"] if m["CacheClusterId"] == "ha-rg-003")
    deadline = time.time() + 10
    while redis_cli(new["ReadEndpoint"], "GET", "survivor") != "yes":
        assert time.time() < deadline
        time.sleep(0.02)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec.decrease_replica_count(ReplicationGroupId="ha-rg", NewReplicaCount=0, ApplyImmediately=True)
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"
    rc, out, err = aws(endpoint, "decrease-replica-count", "--replication-group-id", "ha-rg",
                       "--replicas-to-remove", "ha-rg-003", "--apply-immediately")
    assert rc == 0, err
    g = wait_status(describe, "available")
    assert g["MemberClusters"] == ["ha-rg-001", "ha-rg-002"]
    assert not os.path.exists(os.path.join(data_dir, "nodes", "ha-rg-003"))


def test_modify_with_boto3_and_cli(daemon):
    endpoint, data_dir = daemon
    ec = boto3.client("elasticache", endpoint_url=endpoint, region_name=REGION,
                      aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
    ec.create_replication_group(ReplicationGroupId="mod-rg", ReplicationGroupDescription="before",
                                NumCacheClusters=2, CacheNodeType="cache.t3.micro")
    describe = lambda: ec.describe_replication_groups(ReplicationGroupId="mod-rg")["ReplicationGroups"][0]
    g = wait_status(describe, "available")
    ng = g["NodeGroups"][0]
    assert redis_cli(ng["PrimaryEndpoint"], "SET", "kept", "yes") == "OK"

    # boto3: description and node type, applied now; every node gets the new maxmemory.
    r = ec.modify_replication_group(ReplicationGroupId="mod-rg", ReplicationGroupDescription="after",
                                    CacheNodeType="cache.t3.small", ApplyImmediately=True)
    assert r["ReplicationGroup"]["Description"] == "after"
    assert r["ReplicationGroup"]["Status"] == "modifying"
    g = wait_status(describe, "available")
    assert g["CacheNodeType"] == "cache.t3.small"
    for m in g["NodeGroups"][0]["NodeGroupMembers"]:
        deadline = time.time() + 10
        while "maxmemory:1103269724" not in redis_cli(m["ReadEndpoint"], "INFO", "memory"):
            assert time.time() < deadline, m["CacheClusterId"]
            time.sleep(0.05)
    # Without ApplyImmediately the change waits, shown on the member clusters.
    ec.modify_replication_group(ReplicationGroupId="mod-rg", CacheNodeType="cache.t3.medium")
    cc = ec.describe_cache_clusters(CacheClusterId="mod-rg-001")["CacheClusters"][0]
    assert cc["CacheNodeType"] == "cache.t3.small"
    assert cc["PendingModifiedValues"]["CacheNodeType"] == "cache.t3.medium"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec.modify_replication_group(ReplicationGroupId="mod-rg", MultiAZEnabled=True)
    assert e.value.response["Error"]["Code"] == "InvalidParameterCombination"

    # The AWS CLI: a planned switchover; the same primary endpoint then reaches the other node.
    rc, out, err = aws(endpoint, "modify-replication-group", "--replication-group-id", "mod-rg",
                       "--primary-cluster-id", "mod-rg-002", "--apply-immediately")
    assert rc == 0, err
    assert out["ReplicationGroup"]["PendingModifiedValues"]["PrimaryClusterId"] == "mod-rg-002"
    deadline = time.time() + 20
    while True:
        g = describe()
        roles = {m["CacheClusterId"]: m.get("CurrentRole") for m in g["NodeGroups"][0]["NodeGroupMembers"]}
        if g["Status"] == "available" and roles.get("mod-rg-002") == "primary":
            break
        assert time.time() < deadline, roles
        time.sleep(0.05)
    assert redis_cli(ng["PrimaryEndpoint"], "GET", "kept") == "yes"
    assert redis_cli(ng["PrimaryEndpoint"], "SET", "after", "switch") == "OK"
    rc, out, err = aws(endpoint, "modify-replication-group", "--replication-group-id", "mod-rg",
                       "--preferred-maintenance-window", "sun:05:00-sun:05:10")
    assert rc != 0 and "InvalidParameterValue" in err


def test_dual_stack_and_ip_discovery_with_cli_and_boto3(daemon):
    endpoint, data_dir = daemon
    ec = boto3.client("elasticache", endpoint_url=endpoint, region_name=REGION,
                      aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
    rc, out, err = aws(endpoint, "create-replication-group", "--replication-group-id", "ds-rg",
                       "--replication-group-description", "dual stack", "--num-cache-clusters", "2",
                       "--network-type", "dual_stack")
    assert rc == 0, err
    assert out["ReplicationGroup"]["NetworkType"] == "dual_stack"
    assert out["ReplicationGroup"]["IpDiscovery"] == "ipv4"
    describe = lambda: ec.describe_replication_groups(ReplicationGroupId="ds-rg")["ReplicationGroups"][0]
    wait_status(describe, "available")
    r = ec.modify_replication_group(ReplicationGroupId="ds-rg", IpDiscovery="ipv6", ApplyImmediately=True)
    assert r["ReplicationGroup"]["IpDiscovery"] == "ipv6"
    g = wait_status(describe, "available")
    ng = g["NodeGroups"][0]
    for ep in [ng["PrimaryEndpoint"], ng["ReaderEndpoint"]] + [m["ReadEndpoint"] for m in ng["NodeGroupMembers"]]:
        assert ep["Address"] == "::1", ep
    # redis-cli over IPv6: written through the primary endpoint, read from every node and the reader endpoint.
    check_data_path(g)
    replica = [m for m in ng["NodeGroupMembers"] if m["CurrentRole"] == "replica"][0]
    assert "master_host:::1" in redis_cli(replica["ReadEndpoint"], "INFO", "replication")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec.create_replication_group(ReplicationGroupId="v4-rg", ReplicationGroupDescription="x",
                                    IpDiscovery="ipv6")
    assert e.value.response["Error"]["Code"] == "InvalidParameterCombination"


def test_migration_with_boto3_and_cli(daemon):
    endpoint, data_dir = daemon
    ec = boto3.client("elasticache", endpoint_url=endpoint, region_name=REGION,
                      aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
    src_port = free_port()
    src_dir = tempfile.mkdtemp(prefix="cacheplane-source-")
    source = subprocess.Popen(["redis-server", "--port", str(src_port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", src_dir],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        src = {"Address": "127.0.0.1", "Port": src_port}
        deadline = time.time() + 10
        while True:
            try:
                if redis_cli(src, "PING") == "PONG":
                    break
            except subprocess.CalledProcessError:
                pass
            assert time.time() < deadline, "source did not start"
            time.sleep(0.05)
        for i in range(100):
            redis_cli(src, "SET", f"src:{i}", str(i))
        ec.create_replication_group(ReplicationGroupId="mig-rg", ReplicationGroupDescription="target",
                                    NumCacheClusters=2, AutomaticFailoverEnabled=True, MultiAZEnabled=True)
        describe = lambda: ec.describe_replication_groups(ReplicationGroupId="mig-rg")["ReplicationGroups"][0]
        g = wait_status(describe, "available")
        events = lambda: [e["Message"] for e in ec.describe_events(SourceIdentifier="mig-rg")["Events"]]

        # The AWS CLI: test-migration, then its outcome as an event.
        rc, out, err = aws(endpoint, "test-migration", "--replication-group-id", "mig-rg",
                           "--customer-node-endpoint-list", f"Address=127.0.0.1,Port={src_port}")
        assert rc == 0, err
        assert out["ReplicationGroup"]["Status"] == "available"
        deadline = time.time() + 20
        while not any(m.startswith("Test migration succeeded for mig-rg") for m in events()):
            assert time.time() < deadline, events()
            time.sleep(0.05)

        # boto3: start; the target follows the source and refuses writes.
        r = ec.start_migration(ReplicationGroupId="mig-rg", CustomerNodeEndpointList=[src])
        assert r["ReplicationGroup"]["Status"] == "modifying"
        g = wait_status(describe, "migrating")
        ng = g["NodeGroups"][0]
        redis_cli(src, "SET", "during", "yes")
        deadline = time.time() + 20
        while redis_cli(ng["PrimaryEndpoint"], "GET", "during") != "yes":
            assert time.time() < deadline
            time.sleep(0.05)
        assert "READONLY" in redis_cli(ng["PrimaryEndpoint"], "SET", "x", "y")
        with pytest.raises(botocore.exceptions.ClientError) as e:
            ec.start_migration(ReplicationGroupId="mig-rg", CustomerNodeEndpointList=[src])
        assert e.value.response["Error"]["Code"] == "ReplicationGroupAlreadyUnderMigrationFault"

        # The AWS CLI: complete; the group is available and takes writes.
        rc, out, err = aws(endpoint, "complete-migration", "--replication-group-id", "mig-rg")
        assert rc == 0, err
        wait_status(describe, "available")
        assert redis_cli(ng["PrimaryEndpoint"], "GET", "src:99") == "99"
        assert redis_cli(ng["PrimaryEndpoint"], "SET", "x", "y") == "OK"
        deadline = time.time() + 5
        while "Complete Migration successful for mig-rg" not in events():
            assert time.time() < deadline, events()
            time.sleep(0.05)
        rc, out, err = aws(endpoint, "complete-migration", "--replication-group-id", "mig-rg")
        assert rc != 0 and "ReplicationGroupNotUnderMigrationFault" in err
    finally:
        source.kill()
        source.wait()
        shutil.rmtree(src_dir, ignore_errors=True)


def redis_cli_tls(ep, ca, *args, token=None):
    """redis-cli over TLS, checking the node certificate against the CA bundle; (exit code, output)."""
    auth = ["--no-auth-warning", "-a", token] if token else []
    r = subprocess.run(
        ["redis-cli", "--tls", "--cacert", ca, "-h", ep["Address"], "-p", str(ep["Port"]), *auth, *args],
        capture_output=True, text=True, timeout=10,
    )
    return r.returncode, (r.stdout + r.stderr).strip()


def test_tls_and_auth_tokens_with_boto3_and_cli(daemon):
    endpoint, data_dir = daemon
    ca = os.path.join(data_dir, "tls", "ca.pem")
    ec = boto3.client("elasticache", endpoint_url=endpoint, region_name=REGION,
                      aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)

    # boto3: a group with TLS and a token; only TLS with the token gets in.
    ec.create_replication_group(ReplicationGroupId="sec-rg", ReplicationGroupDescription="tls and auth",
                                NumCacheClusters=2, TransitEncryptionEnabled=True,
                                AuthToken="first-token-0123456789")
    describe = lambda: ec.describe_replication_groups(ReplicationGroupId="sec-rg")["ReplicationGroups"][0]
    g = wait_status(describe, "available")
    assert g["TransitEncryptionEnabled"] is True
    assert g["TransitEncryptionMode"] == "required"
    assert g["AuthTokenEnabled"] is True
    ep = g["NodeGroups"][0]["PrimaryEndpoint"]
    assert redis_cli_tls(ep, ca, "SET", "k", "v", token="first-token-0123456789") == (0, "OK")
    assert "NOAUTH" in redis_cli_tls(ep, ca, "SET", "k", "v")[1]
    plain = subprocess.run(["redis-cli", "-h", ep["Address"], "-p", str(ep["Port"]), "PING"],
                           capture_output=True, text=True, timeout=10)
    assert "PONG" not in plain.stdout

    # The AWS CLI: ROTATE, then both tokens work; SET, then only the new one.
    rc, out, err = aws(endpoint, "modify-replication-group", "--replication-group-id", "sec-rg",
                       "--auth-token", "second-token-0123456789", "--auth-token-update-strategy", "ROTATE",
                       "--apply-immediately")
    assert rc == 0, err
    assert out["ReplicationGroup"]["PendingModifiedValues"]["AuthTokenStatus"] == "ROTATING"
    wait_status(describe, "available")
    assert redis_cli_tls(ep, ca, "GET", "k", token="first-token-0123456789") == (0, "v")
    assert redis_cli_tls(ep, ca, "GET", "k", token="second-token-0123456789") == (0, "v")
    rc, out, err = aws(endpoint, "modify-replication-group", "--replication-group-id", "sec-rg",
                       "--auth-token", "second-token-0123456789", "--auth-token-update-strategy", "SET",
                       "--apply-immediately")
    assert rc == 0, err
    wait_status(describe, "available")
    assert "WRONGPASS" in redis_cli_tls(ep, ca, "GET", "k", token="first-token-0123456789")[1]
    assert redis_cli_tls(ep, ca, "GET", "k", token="second-token-0123456789") == (0, "v")
    rc, out, err = aws(endpoint, "modify-replication-group", "--replication-group-id", "sec-rg",
                       "--auth-token", "short", "--apply-immediately")
    assert rc != 0 and "InvalidParameterValue" in err

    # TLS on an existing group in two steps, with the CLI and boto3.
    ec.create_replication_group(ReplicationGroupId="step-rg", ReplicationGroupDescription="plaintext first",
                                NumCacheClusters=2)
    describe2 = lambda: ec.describe_replication_groups(ReplicationGroupId="step-rg")["ReplicationGroups"][0]
    g = wait_status(describe2, "available")
    ep = g["NodeGroups"][0]["PrimaryEndpoint"]
    assert redis_cli(ep, "SET", "kept", "yes") == "OK"
    rc, out, err = aws(endpoint, "modify-replication-group", "--replication-group-id", "step-rg",
                       "--transit-encryption-mode", "required", "--apply-immediately")
    assert rc != 0 and "InvalidParameterCombination" in err
    rc, out, err = aws(endpoint, "modify-replication-group", "--replication-group-id", "step-rg",
                       "--transit-encryption-enabled", "--transit-encryption-mode", "preferred",
                       "--apply-immediately")
    assert rc == 0, err
    g = wait_status(describe2, "available")
    assert g["TransitEncryptionMode"] == "preferred"
    assert redis_cli(ep, "GET", "kept") == "yes"
    assert redis_cli_tls(ep, ca, "GET", "kept") == (0, "yes")
    ec.modify_replication_group(ReplicationGroupId="step-rg", TransitEncryptionMode="required",
                                ApplyImmediately=True)
    g = wait_status(describe2, "available")
    assert g["TransitEncryptionMode"] == "required"
    assert redis_cli_tls(ep, ca, "GET", "kept") == (0, "yes")
    plain = subprocess.run(["redis-cli", "-h", ep["Address"], "-p", str(ep["Port"]), "GET", "kept"],
                           capture_output=True, text=True, timeout=10)
    assert "yes" not in plain.stdout


def test_users_and_user_groups_with_boto3_and_cli(daemon):
    endpoint, data_dir = daemon
    ca = os.path.join(data_dir, "tls", "ca.pem")
    ec = boto3.client("elasticache", endpoint_url=endpoint, region_name=REGION,
                      aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
    # The AWS CLI creates the users and the group; boto3 attaches it and changes a user.
    rc, out, err = aws(endpoint, "create-user", "--user-id", "reader", "--user-name", "reader", "--engine", "redis",
                       "--access-string", "on ~cache:* +get", "--passwords", "reader-password-0123456789")
    assert rc == 0, err
    assert out["Authentication"] == {"Type": "password", "PasswordCount": 1}
    rc, out, err = aws(endpoint, "create-user", "--user-id", "closed-default", "--user-name", "default",
                       "--engine", "redis", "--access-string", "off -@all", "--no-password-required")
    assert rc == 0, err
    rc, out, err = aws(endpoint, "create-user-group", "--user-group-id", "ug-cli", "--engine", "redis",
                       "--user-ids", "reader")
    assert rc != 0 and "DefaultUserRequired" in err
    rc, out, err = aws(endpoint, "create-user-group", "--user-group-id", "ug-cli", "--engine", "redis",
                       "--user-ids", "closed-default", "reader")
    assert rc == 0, err
    deadline = time.time() + 20
    while ec.describe_user_groups(UserGroupId="ug-cli")["UserGroups"][0]["Status"] != "active":
        assert time.time() < deadline
        time.sleep(0.05)
    ec.create_replication_group(ReplicationGroupId="rbac-rg", ReplicationGroupDescription="rbac",
                                NumCacheClusters=2, TransitEncryptionEnabled=True, UserGroupIds=["ug-cli"])
    describe = lambda: ec.describe_replication_groups(ReplicationGroupId="rbac-rg")["ReplicationGroups"][0]
    g = wait_status(describe, "available")
    assert g["UserGroupIds"] == ["ug-cli"]
    ep = g["NodeGroups"][0]["PrimaryEndpoint"]

    def as_reader(*args):
        r = subprocess.run(["redis-cli", "--tls", "--cacert", ca, "-h", ep["Address"], "-p", str(ep["Port"]),
                            "--user", "reader", "--pass", "reader-password-0123456789", "--no-auth-warning", *args],
                           capture_output=True, text=True, timeout=10)
        return (r.stdout + r.stderr).strip()

    assert "NOPERM" in as_reader("SET", "cache:1", "x")
    assert "NOAUTH" in redis_cli_tls(ep, ca, "GET", "cache:1")[1] or "NOPERM" in redis_cli_tls(ep, ca, "GET", "cache:1")[1]
    r = ec.modify_user(UserId="reader", AccessString="on ~cache:* +get +set")
    assert r["Status"] == "modifying"
    wait_status(describe, "available")
    assert as_reader("SET", "cache:1", "x") == "OK"
    assert as_reader("GET", "cache:1") == "x"
    assert "NOPERM" in as_reader("GET", "other")
    users = ec.describe_users(Filters=[{"Name": "user-group-id", "Values": ["ug-cli"]}])["Users"]
    assert sorted(u["UserId"] for u in users) == ["closed-default", "reader"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec.delete_user_group(UserGroupId="ug-cli")
    assert e.value.response["Error"]["Code"] == "InvalidUserGroupState"


def test_snapshots_with_boto3_and_cli(daemon):
    endpoint, data_dir = daemon
    ec = boto3.client("elasticache", endpoint_url=endpoint, region_name=REGION,
                      aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
    ec.create_replication_group(ReplicationGroupId="bk-rg", ReplicationGroupDescription="backups",
                                NumCacheClusters=2)
    describe = lambda: ec.describe_replication_groups(ReplicationGroupId="bk-rg")["ReplicationGroups"][0]
    g = wait_status(describe, "available")
    ep = g["NodeGroups"][0]["PrimaryEndpoint"]
    for i in range(100):
        redis_cli(ep, "SET", f"bk:{i}", f"value-{i}")

    # The AWS CLI takes a snapshot; boto3 describes it and restores it into a new group.
    rc, out, err = aws(endpoint, "create-snapshot", "--replication-group-id", "bk-rg", "--snapshot-name", "bk-1")
    assert rc == 0, err
    assert out["Snapshot"]["SnapshotStatus"] == "creating"
    deadline = time.time() + 30
    while True:
        s = ec.describe_snapshots(SnapshotName="bk-1")["Snapshots"][0]
        if s["SnapshotStatus"] == "available":
            break
        assert time.time() < deadline
        time.sleep(0.05)
    assert s["SnapshotSource"] == "manual"
    assert s["NodeSnapshots"][0]["CacheClusterId"] == "bk-rg-002"
    ec.create_replication_group(ReplicationGroupId="bk-restored", ReplicationGroupDescription="restored",
                                NumCacheClusters=2, SnapshotName="bk-1")
    describe2 = lambda: ec.describe_replication_groups(ReplicationGroupId="bk-restored")["ReplicationGroups"][0]
    g2 = wait_status(describe2, "available")
    for m in g2["NodeGroups"][0]["NodeGroupMembers"]:
        deadline = time.time() + 10
        while redis_cli(m["ReadEndpoint"], "GET", "bk:42") != "value-42":
            assert time.time() < deadline, m["CacheClusterId"]
            time.sleep(0.05)
    rc, out, err = aws(endpoint, "copy-snapshot", "--source-snapshot-name", "bk-1", "--target-snapshot-name", "bk-2")
    assert rc == 0, err
    rc, out, err = aws(endpoint, "describe-snapshots", "--replication-group-id", "bk-rg")
    assert rc == 0, err
    assert sorted(s["SnapshotName"] for s in out["Snapshots"]) == ["bk-1", "bk-2"]
    rc, out, err = aws(endpoint, "delete-snapshot", "--snapshot-name", "bk-2")
    assert rc == 0, err
    rc, out, err = aws(endpoint, "delete-snapshot", "--snapshot-name", "bk-2")
    assert rc != 0 and "SnapshotNotFoundFault" in err
    # A final snapshot with the CLI's delete.
    rc, out, err = aws(endpoint, "delete-replication-group", "--replication-group-id", "bk-restored",
                       "--final-snapshot-identifier", "bk-final")
    assert rc == 0, err
    deadline = time.time() + 30
    while True:
        snaps = ec.describe_snapshots(SnapshotName="bk-final")["Snapshots"] if any(
            s["SnapshotName"] == "bk-final" for s in ec.describe_snapshots()["Snapshots"]) else []
        if snaps and snaps[0]["SnapshotStatus"] == "available":
            break
        assert time.time() < deadline
        time.sleep(0.1)


def test_cluster_mode_with_boto3_cli_and_cluster_clients(daemon):
    """Cluster mode enabled end to end: boto3 and the AWS CLI create, describe, fail over and resize node groups;
    redis-py's RedisCluster and `redis-cli -c`, given only the configuration endpoint, find the shards."""
    from redis.cluster import RedisCluster

    endpoint, data_dir = daemon
    ec = boto3.client("elasticache", endpoint_url=endpoint, region_name=REGION,
                      aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
    r = ec.create_replication_group(
        ReplicationGroupId="cme", ReplicationGroupDescription="sharded",
        NumNodeGroups=3, ReplicasPerNodeGroup=1, CacheParameterGroupName="default.redis7.cluster.on",
    )
    assert r["ReplicationGroup"]["ClusterEnabled"] is True
    describe = lambda: ec.describe_replication_groups(ReplicationGroupId="cme")["ReplicationGroups"][0]
    g = wait_status(describe, "available")
    assert g["ClusterMode"] == "enabled"
    assert [n["Slots"] for n in g["NodeGroups"]] == ["0-5461", "5462-10922", "10923-16383"]
    assert all("PrimaryEndpoint" not in n and "ReaderEndpoint" not in n for n in g["NodeGroups"])
    assert all("ReadEndpoint" not in m and "CurrentRole" not in m
               for n in g["NodeGroups"] for m in n["NodeGroupMembers"])
    cfg = g["ConfigurationEndpoint"]

    rc = RedisCluster(host=cfg["Address"], port=cfg["Port"])
    # (Redis lists a replica in CLUSTER SLOTS only once it has replicated something: the primaries at first.)
    assert len([n for n in rc.get_nodes() if n.server_type == "primary"]) == 3
    for i in range(3000):
        rc.set(f"k{i}", i)
    assert [int(v) for v in rc.mget_nonatomic([f"k{i}" for i in range(3000)])] == list(range(3000))
    primaries = [n for n in rc.get_nodes() if n.server_type == "primary"]
    sizes = [rc.execute_command("DBSIZE", target_nodes=n) for n in primaries]
    assert sum(sizes) == 3000 and all(s > 800 for s in sizes), sizes
    # redis-cli follows MOVED from the configuration endpoint to the node that owns the key.
    out = subprocess.run(["redis-cli", "-c", "-h", cfg["Address"], "-p", str(cfg["Port"]), "GET", "k42"],
                         check=True, capture_output=True, text=True).stdout.strip()
    assert out == "42"

    # DescribeCacheClusters per member, as Terraform reads them.
    cc = ec.describe_cache_clusters(CacheClusterId="cme-0002-001", ShowCacheNodeInfo=True)["CacheClusters"][0]
    assert cc["ReplicationGroupId"] == "cme" and cc["CacheParameterGroup"]["CacheParameterGroupName"] == \
        "default.redis7.cluster.on"
    assert cc["CacheNodes"][0]["Endpoint"]["Port"] == cfg["Port"]

    # The CLI's test-failover of one node group; the cluster client keeps every key.
    rc_, out, err = aws(endpoint, "test-failover", "--replication-group-id", "cme", "--node-group-id", "0002")
    assert rc_ == 0, err
    deadline = time.time() + 30
    while True:
        events = [e["Message"] for e in ec.describe_events(SourceIdentifier="cme")["Events"]]
        if "Failover from primary node cme-0002-001 to replica node cme-0002-002 completed" in events:
            break
        assert time.time() < deadline, events
        time.sleep(0.05)
    assert "Test Failover API called for node group 0002" in events
    rc2 = RedisCluster(host=cfg["Address"], port=cfg["Port"])
    assert [int(v) for v in rc2.mget_nonatomic([f"k{i}" for i in range(3000)])] == list(range(3000))

    # Cluster mode's refusals through both clients.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec.modify_replication_group(ReplicationGroupId="cme", AutomaticFailoverEnabled=False,
                                    ApplyImmediately=True)
    assert e.value.response["Error"]["Code"] == "InvalidParameterCombination"
    rc_, out, err = aws(endpoint, "create-replication-group", "--replication-group-id", "bad",
                        "--replication-group-description", "x", "--num-node-groups", "2",
                        "--cache-parameter-group-name", "default.redis7")
    assert rc_ != 0 and "InvalidParameterCombination" in err

    # Replicas per node group with the CLI: one more in every node group, then none.
    wait_deadline = time.time() + 30
    while True:
        rc_, out, err = aws(endpoint, "increase-replica-count", "--replication-group-id", "cme",
                            "--new-replica-count", "2", "--apply-immediately")
        if rc_ == 0 or "InvalidReplicationGroupState" not in err:
            break
        assert time.time() < wait_deadline, err
        time.sleep(0.1)
    assert rc_ == 0, err
    g = wait_status(describe, "available", timeout=60)
    assert [len(n["NodeGroupMembers"]) for n in g["NodeGroups"]] == [3, 3, 3]
    rc_, out, err = aws(endpoint, "decrease-replica-count", "--replication-group-id", "cme",
                        "--new-replica-count", "0", "--apply-immediately")
    assert rc_ == 0, err
    g = wait_status(describe, "available", timeout=60)
    assert sorted(g["MemberClusters"]) == ["cme-0001-001", "cme-0002-002", "cme-0003-001"]
    rc3 = RedisCluster(host=cfg["Address"], port=cfg["Port"])
    assert [int(v) for v in rc3.mget_nonatomic([f"k{i}" for i in range(3000)])] == list(range(3000))

    # Online resharding: boto3 scales out to 4 node groups, the CLI back in (by NodeGroupsToRemove); a cluster
    # client reads every key after each.
    r = ec.modify_replication_group_shard_configuration(ReplicationGroupId="cme", NodeGroupCount=4,
                                                        ApplyImmediately=True)
    assert r["ReplicationGroup"]["Status"] == "modifying"
    g = wait_status(describe, "available", timeout=120)
    assert [n["NodeGroupId"] for n in g["NodeGroups"]] == ["0001", "0002", "0003", "0004"]
    assert g["NodeGroups"][3]["Slots"] == "0-1365,5462-6826,10923-12287"
    rc4 = RedisCluster(host=cfg["Address"], port=cfg["Port"])
    assert [int(v) for v in rc4.mget_nonatomic([f"k{i}" for i in range(3000)])] == list(range(3000))
    rc_, out, err = aws(endpoint, "modify-replication-group-shard-configuration", "--replication-group-id", "cme",
                        "--node-group-count", "3", "--node-groups-to-remove", "0004", "--apply-immediately")
    assert rc_ == 0, err
    g = wait_status(describe, "available", timeout=120)
    assert [n["NodeGroupId"] for n in g["NodeGroups"]] == ["0001", "0002", "0003"]
    rc_, out, err = aws(endpoint, "modify-replication-group-shard-configuration", "--replication-group-id", "cme",
                        "--node-group-count", "3", "--apply-immediately")
    assert rc_ != 0 and "uniformly distributed. Nothing to do." in err, err
    rc5 = RedisCluster(host=cfg["Address"], port=cfg["Port"])
    assert [int(v) for v in rc5.mget_nonatomic([f"k{i}" for i in range(3000)])] == list(range(3000))

    pids = node_pids(data_dir)
    ec.delete_replication_group(ReplicationGroupId="cme")
    rc_, out, err = aws(endpoint, "wait", "replication-group-deleted", "--replication-group-id", "cme")
    assert rc_ == 0, err
    assert not any(alive(p) for p in pids)


def test_cluster_mode_change_snapshots_and_tls_with_boto3_and_cli(daemon):
    """The seed's ClusterMode through both clients (disabled → compatible → enabled, a plain client on the primary
    endpoint and RedisCluster on the configuration endpoint), snapshots of node groups restored into another count
    with the CLI, and a TLS cluster with a user group reached by RedisCluster over TLS."""
    import redis
    from redis.cluster import RedisCluster

    endpoint, data_dir = daemon
    ca = os.path.join(data_dir, "tls", "ca.pem")
    ec = boto3.client("elasticache", endpoint_url=endpoint, region_name=REGION,
                      aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
    ec.create_replication_group(ReplicationGroupId="modes", ReplicationGroupDescription="mode change",
                                NumCacheClusters=2, AutomaticFailoverEnabled=True)
    describe = lambda: ec.describe_replication_groups(ReplicationGroupId="modes")["ReplicationGroups"][0]
    g = wait_status(describe, "available")
    pe = g["NodeGroups"][0]["PrimaryEndpoint"]
    plain = redis.Redis(host=pe["Address"], port=pe["Port"])
    for i in range(500):
        plain.set(f"m{i}", i)

    # AWS's refusals: straight to enabled, or with another parameter.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec.modify_replication_group(ReplicationGroupId="modes", ClusterMode="enabled", ApplyImmediately=True)
    assert e.value.response["Error"]["Code"] == "InvalidParameterCombination"
    rc_, out, err = aws(endpoint, "modify-replication-group", "--replication-group-id", "modes",
                        "--cluster-mode", "compatible", "--snapshot-retention-limit", "1", "--apply-immediately")
    assert rc_ != 0 and "InvalidParameterCombination" in err and "SnapshotRetentionLimit" in err, err

    # The CLI sets compatible: both endpoints serve, the plain client never noticing.
    rc_, out, err = aws(endpoint, "modify-replication-group", "--replication-group-id", "modes",
                        "--cluster-mode", "compatible", "--cache-parameter-group-name",
                        "default.redis7.cluster.on", "--apply-immediately")
    assert rc_ == 0, err
    assert out["ReplicationGroup"]["PendingModifiedValues"]["ClusterMode"] == "compatible"
    g = wait_status(describe, "available", timeout=120)
    assert g["ClusterMode"] == "compatible" and g["ClusterEnabled"] is True
    assert g["NodeGroups"][0]["PrimaryEndpoint"] == pe
    cfg = g["ConfigurationEndpoint"]
    rc = RedisCluster(host=cfg["Address"], port=cfg["Port"])
    assert [int(v) for v in rc.mget_nonatomic([f"m{i}" for i in range(500)])] == list(range(500))
    plain.set("after", "compatible")
    assert rc.get("after") == b"compatible"
    cc = ec.describe_cache_clusters(CacheClusterId="modes-001")["CacheClusters"][0]
    assert cc["CacheParameterGroup"]["CacheParameterGroupName"] == "default.redis7.cluster.on"

    # boto3 sets enabled: the configuration endpoint only, for good.
    r = ec.modify_replication_group(ReplicationGroupId="modes", ClusterMode="enabled", ApplyImmediately=True)
    g = wait_status(describe, "available", timeout=60)
    assert g["ClusterMode"] == "enabled"
    assert "PrimaryEndpoint" not in g["NodeGroups"][0] and g["ConfigurationEndpoint"] == cfg
    assert RedisCluster(host=cfg["Address"], port=cfg["Port"]).get("m499") == b"499"
    rc_, out, err = aws(endpoint, "modify-replication-group", "--replication-group-id", "modes",
                        "--cluster-mode", "compatible", "--apply-immediately")
    assert rc_ != 0 and "cannot be changed once it is enabled" in err, err

    # Snapshots of node groups: boto3 takes one of a 2-shard group, the CLI restores it into 3.
    ec.create_replication_group(ReplicationGroupId="two", ReplicationGroupDescription="two shards",
                                NumNodeGroups=2, ReplicasPerNodeGroup=0)
    g2 = wait_status(lambda: ec.describe_replication_groups(ReplicationGroupId="two")["ReplicationGroups"][0],
                     "available")
    c2 = g2["ConfigurationEndpoint"]
    r2 = RedisCluster(host=c2["Address"], port=c2["Port"])
    for i in range(2000):
        r2.set(f"s{i}", i)
    ec.create_snapshot(ReplicationGroupId="two", SnapshotName="two-snap")
    deadline = time.time() + 30
    while True:
        snap = ec.describe_snapshots(SnapshotName="two-snap", ShowNodeGroupConfig=True)["Snapshots"][0]
        if snap["SnapshotStatus"] == "available":
            break
        assert time.time() < deadline, snap
        time.sleep(0.05)
    assert snap["NumNodeGroups"] == 2
    assert [n["NodeGroupConfiguration"]["Slots"] for n in snap["NodeSnapshots"]] == ["0-8191", "8192-16383"]
    rc_, out, err = aws(endpoint, "create-replication-group", "--replication-group-id", "three",
                        "--replication-group-description", "restored", "--num-node-groups", "3",
                        "--replicas-per-node-group", "0", "--snapshot-name", "two-snap")
    assert rc_ == 0, err
    rc_, out, err = aws(endpoint, "wait", "replication-group-available", "--replication-group-id", "three")
    assert rc_ == 0, err
    g3 = ec.describe_replication_groups(ReplicationGroupId="three")["ReplicationGroups"][0]
    c3 = g3["ConfigurationEndpoint"]
    r3 = RedisCluster(host=c3["Address"], port=c3["Port"])
    assert [int(v) for v in r3.mget_nonatomic([f"s{i}" for i in range(2000)])] == list(range(2000))
    primaries = [n for n in r3.get_nodes() if n.server_type == "primary"]
    assert sum(r3.execute_command("DBSIZE", target_nodes=n) for n in primaries) == 2000

    # TLS and a user group on a cluster mode enabled group: RedisCluster over TLS as the group's user.
    rc_, out, err = aws(endpoint, "create-user", "--user-id", "app", "--user-name", "app", "--engine", "redis",
                        "--access-string", "on ~* +@all", "--passwords", "app-password-0123456789")
    assert rc_ == 0, err
    rc_, out, err = aws(endpoint, "create-user", "--user-id", "nodefault", "--user-name", "default",
                        "--engine", "redis", "--access-string", "off -@all", "--no-password-required")
    assert rc_ == 0, err
    rc_, out, err = aws(endpoint, "create-user-group", "--user-group-id", "ug-cme", "--engine", "redis",
                        "--user-ids", "nodefault", "app")
    assert rc_ == 0, err
    deadline = time.time() + 20
    while ec.describe_user_groups(UserGroupId="ug-cme")["UserGroups"][0]["Status"] != "active":
        assert time.time() < deadline
        time.sleep(0.05)
    ec.create_replication_group(ReplicationGroupId="tlscme", ReplicationGroupDescription="tls cluster",
                                NumNodeGroups=2, ReplicasPerNodeGroup=1, TransitEncryptionEnabled=True,
                                UserGroupIds=["ug-cme"])
    gt = wait_status(lambda: ec.describe_replication_groups(ReplicationGroupId="tlscme")["ReplicationGroups"][0],
                     "available", timeout=60)
    assert gt["TransitEncryptionEnabled"] is True and gt["UserGroupIds"] == ["ug-cme"]
    ct = gt["ConfigurationEndpoint"]
    rt = RedisCluster(host=ct["Address"], port=ct["Port"], ssl=True, ssl_ca_certs=ca,
                      username="app", password="app-password-0123456789")
    for i in range(300):
        rt.set(f"t{i}", i)
    assert [int(v) for v in rt.mget_nonatomic([f"t{i}" for i in range(300)])] == list(range(300))
    code, out = redis_cli_tls(ct, ca, "GET", "t1")
    assert "NOAUTH" in out or "NOPERM" in out, out


def engine_of(ep):
    info = redis_cli(ep, "INFO", "server")
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    if "valkey_version" in fields:
        return "valkey", fields["valkey_version"].strip()
    return "redis", fields["redis_version"].strip()


def test_valkey_and_redis_to_valkey_with_boto3_and_cli(valkey_daemon):
    endpoint, _ = valkey_daemon
    ec = boto3.client("elasticache", endpoint_url=endpoint, region_name=REGION,
                      aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
    versions = ec.describe_cache_engine_versions(Engine="valkey")["CacheEngineVersions"]
    assert [(v["Engine"], v["EngineVersion"], v["CacheParameterGroupFamily"]) for v in versions] == [
        ("valkey", "9.1.2", "valkey9"), ("valkey", "9.0.0", "valkey9")]
    rc, out, err = aws(endpoint, "describe-cache-engine-versions", "--default-only")
    assert rc == 0, err
    defaults = [(v["Engine"], v["EngineVersion"], v["CacheParameterGroupFamily"]) for v in out["CacheEngineVersions"]]
    assert defaults[:2] == [("redis", "7.0.15", "redis7"), ("valkey", "9.1.2", "valkey9")], defaults
    # Debian's memcached, found on PATH, comes last.
    assert [(e, f) for e, _, f in defaults[2:]] == [("memcached", "memcached1.6")], defaults

    # A Valkey group through the CLI, used through its endpoints.
    rc, out, err = aws(endpoint, "create-replication-group", "--replication-group-id", "cli-vk",
                       "--replication-group-description", "valkey", "--engine", "valkey", "--engine-version", "9.0",
                       "--num-cache-clusters", "2")
    assert rc == 0, err
    assert out["ReplicationGroup"]["Engine"] == "valkey"
    g = wait_status(lambda: ec.describe_replication_groups(ReplicationGroupId="cli-vk")["ReplicationGroups"][0],
                    "available")
    check_data_path(g)
    assert {engine_of(m["ReadEndpoint"]) for m in g["NodeGroups"][0]["NodeGroupMembers"]} == {("valkey", "9.0.0")}

    # A Redis group made with boto3 moves to Valkey through the CLI; its data stays.
    ec.create_replication_group(ReplicationGroupId="boto-mv", ReplicationGroupDescription="to valkey",
                                NumCacheClusters=2)
    g = wait_status(lambda: ec.describe_replication_groups(ReplicationGroupId="boto-mv")["ReplicationGroups"][0],
                    "available")
    assert g["Engine"] == "redis"
    assert redis_cli(g["NodeGroups"][0]["PrimaryEndpoint"], "SET", "before", "the move") == "OK"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec.modify_replication_group(ReplicationGroupId="boto-mv", Engine="valkey", ApplyImmediately=True)
    assert e.value.response["Error"]["Code"] == "InvalidParameterCombination"
    rc, out, err = aws(endpoint, "modify-replication-group", "--replication-group-id", "boto-mv", "--engine", "valkey",
                       "--engine-version", "9.1", "--apply-immediately")
    assert rc == 0, err
    assert out["ReplicationGroup"]["Status"] == "modifying"
    g = wait_status(lambda: ec.describe_replication_groups(ReplicationGroupId="boto-mv")["ReplicationGroups"][0],
                    "available", timeout=90)
    assert g["Engine"] == "valkey"
    for m in g["NodeGroups"][0]["NodeGroupMembers"]:
        assert engine_of(m["ReadEndpoint"]) == ("valkey", "9.1.2")
        assert redis_cli(m["ReadEndpoint"], "GET", "before") == "the move"
    clusters = ec.describe_cache_clusters(CacheClusterId="boto-mv-001")["CacheClusters"]
    assert (clusters[0]["Engine"], clusters[0]["EngineVersion"]) == ("valkey", "9.1.2")
    assert clusters[0]["CacheParameterGroup"]["CacheParameterGroupName"] == "default.valkey9"
    rc, out, err = aws(endpoint, "modify-replication-group", "--replication-group-id", "boto-mv", "--engine", "redis",
                       "--engine-version", "7.0", "--apply-immediately")
    assert rc != 0 and "InvalidParameterCombination" in err


def test_subnet_groups_with_boto3_and_cli(daemon):
    endpoint, _ = daemon
    ec = boto3.client("elasticache", endpoint_url=endpoint, region_name=REGION,
                      aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
    default = ec.describe_cache_subnet_groups(CacheSubnetGroupName="default")["CacheSubnetGroups"][0]
    assert default["CacheSubnetGroupDescription"] == "Default CacheSubnetGroup"
    assert len(default["Subnets"]) == 3
    # Terraform's subnet group resource: create with tags, read it back and its tags.
    r = ec.create_cache_subnet_group(CacheSubnetGroupName="tf-sg", CacheSubnetGroupDescription="terraform",
                                     SubnetIds=["subnet-0a1b2c3d"], Tags=[{"Key": "Name", "Value": "tf"}])
    sg = r["CacheSubnetGroup"]
    zone = sg["Subnets"][0]["SubnetAvailabilityZone"]["Name"]
    assert sg["VpcId"].startswith("vpc-") and sg["ARN"].endswith(":subnetgroup:tf-sg")
    assert ec.list_tags_for_resource(ResourceName=sg["ARN"])["TagList"] == [{"Key": "Name", "Value": "tf"}]
    with pytest.raises(ec.exceptions.CacheSubnetGroupAlreadyExistsFault):
        ec.create_cache_subnet_group(CacheSubnetGroupName="tf-sg", CacheSubnetGroupDescription="again",
                                     SubnetIds=["subnet-0a1b2c3d"])
    with pytest.raises(ec.exceptions.InvalidSubnet):
        ec.create_cache_subnet_group(CacheSubnetGroupName="bad", CacheSubnetGroupDescription="d", SubnetIds=["x"])
    # A group in it through the CLI: its nodes in the subnet's zone, the name on every member cluster.
    rc, out, err = aws(endpoint, "create-replication-group", "--replication-group-id", "sg-rg",
                       "--replication-group-description", "in tf-sg", "--num-cache-clusters", "2",
                       "--cache-subnet-group-name", "tf-sg")
    assert rc == 0, err
    g = wait_status(lambda: ec.describe_replication_groups(ReplicationGroupId="sg-rg")["ReplicationGroups"][0],
                    "available")
    assert {m["PreferredAvailabilityZone"] for m in g["NodeGroups"][0]["NodeGroupMembers"]} == {zone}
    check_data_path(g)
    rc, out, err = aws(endpoint, "describe-cache-clusters")
    assert rc == 0, err
    assert {c["CacheSubnetGroupName"] for c in out["CacheClusters"]} == {"tf-sg"}
    rc, out, err = aws(endpoint, "delete-cache-subnet-group", "--cache-subnet-group-name", "tf-sg")
    assert rc != 0 and "CacheSubnetGroupInUse" in err
    rc, out, err = aws(endpoint, "modify-cache-subnet-group", "--cache-subnet-group-name", "tf-sg",
                       "--cache-subnet-group-description", "changed")
    assert rc == 0, err
    assert out["CacheSubnetGroup"]["CacheSubnetGroupDescription"] == "changed"
    ec.delete_replication_group(ReplicationGroupId="sg-rg")
    rc, out, err = aws(endpoint, "wait", "replication-group-deleted", "--replication-group-id", "sg-rg")
    assert rc == 0, err
    rc, out, err = aws(endpoint, "delete-cache-subnet-group", "--cache-subnet-group-name", "tf-sg")
    assert rc == 0, err
    with pytest.raises(ec.exceptions.CacheSubnetGroupNotFoundFault):
        ec.describe_cache_subnet_groups(CacheSubnetGroupName="tf-sg")


def test_read_only_actions_with_boto3_and_cli(daemon):
    endpoint, _ = daemon
    ec = boto3.client("elasticache", endpoint_url=endpoint, region_name=REGION,
                      aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
    ec.create_replication_group(ReplicationGroupId="ro", ReplicationGroupDescription="ro", NumCacheClusters=1,
                                CacheNodeType="cache.t3.micro")
    wait_status(lambda: ec.describe_replication_groups(ReplicationGroupId="ro")["ReplicationGroups"][0], "available")
    mods = ec.list_allowed_node_type_modifications(ReplicationGroupId="ro")
    assert "cache.t3.small" in mods["ScaleUpModifications"]
    assert "cache.t3.micro" not in mods["ScaleUpModifications"] + mods["ScaleDownModifications"]
    rc, out, err = aws(endpoint, "list-allowed-node-type-modifications", "--cache-cluster-id", "ro-001")
    assert rc == 0, err
    assert out["ScaleUpModifications"] == mods["ScaleUpModifications"]
    assert ec.describe_reserved_cache_nodes()["ReservedCacheNodes"] == []
    assert ec.describe_reserved_cache_nodes_offerings()["ReservedCacheNodesOfferings"] == []
    assert ec.describe_service_updates()["ServiceUpdates"] == []
    rc, out, err = aws(endpoint, "describe-update-actions", "--replication-group-ids", "ro")
    assert rc == 0, err
    assert out["UpdateActions"] == []
    with pytest.raises(ec.exceptions.ReservedCacheNodeNotFoundFault):
        ec.describe_reserved_cache_nodes(ReservedCacheNodeId="r1")
    rc, out, err = aws(endpoint, "describe-cache-security-groups")
    assert rc != 0 and "InvalidParameterValue" in err and "not permitted" in err
    # Still unimplemented: answered by name.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec.describe_global_replication_groups()
    assert e.value.response["Error"]["Code"] == "InvalidAction"


def test_standalone_cache_clusters_with_boto3_and_cli(daemon):
    endpoint, _ = daemon
    ec = boto3.client("elasticache", endpoint_url=endpoint, region_name=REGION,
                      aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
    # Terraform's aws_elasticache_cluster: create, wait, read with ShowCacheNodeInfo.
    r = ec.create_cache_cluster(CacheClusterId="tf-cc", Engine="redis", CacheNodeType="cache.t3.micro",
                                NumCacheNodes=1, Tags=[{"Key": "Name", "Value": "tf"}])
    assert r["CacheCluster"]["CacheClusterStatus"] == "creating"
    ec.get_waiter("cache_cluster_available").wait(CacheClusterId="tf-cc", WaiterConfig={"Delay": 1})
    cc = ec.describe_cache_clusters(CacheClusterId="tf-cc", ShowCacheNodeInfo=True)["CacheClusters"][0]
    assert "ReplicationGroupId" not in cc and cc["NumCacheNodes"] == 1
    node = cc["CacheNodes"][0]["Endpoint"]
    assert redis_cli(node, "SET", "from", "boto3") == "OK"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ec.create_cache_cluster(CacheClusterId="two", Engine="redis", NumCacheNodes=2, CacheNodeType="cache.t3.micro")
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"
    # The CLI modifies it and snapshots it.
    rc, out, err = aws(endpoint, "modify-cache-cluster", "--cache-cluster-id", "tf-cc", "--cache-node-type",
                       "cache.t3.small", "--apply-immediately")
    assert rc == 0, err
    rc, out, err = aws(endpoint, "wait", "cache-cluster-available", "--cache-cluster-id", "tf-cc")
    assert rc == 0, err
    assert "maxmemory:1103269724" in redis_cli(node, "INFO", "memory")
    rc, out, err = aws(endpoint, "create-snapshot", "--cache-cluster-id", "tf-cc", "--snapshot-name", "tf-snap")
    assert rc == 0, err
    assert out["Snapshot"]["CacheClusterId"] == "tf-cc" and "ReplicationGroupId" not in out["Snapshot"]
    wait_status(lambda: dict(Status=ec.describe_snapshots(SnapshotName="tf-snap")["Snapshots"][0]["SnapshotStatus"]),
                "available")
    # It becomes a group's primary with its data.
    rc, out, err = aws(endpoint, "create-replication-group", "--replication-group-id", "tf-rg",
                       "--replication-group-description", "from tf-cc", "--primary-cluster-id", "tf-cc",
                       "--num-cache-clusters", "2")
    assert rc == 0, err
    g = wait_status(lambda: ec.describe_replication_groups(ReplicationGroupId="tf-rg")["ReplicationGroups"][0],
                    "available")
    for m in g["NodeGroups"][0]["NodeGroupMembers"]:
        deadline = time.time() + 10
        while redis_cli(m["ReadEndpoint"], "GET", "from") != "boto3":
            assert time.time() < deadline, m
            time.sleep(0.02)
    ec.delete_replication_group(ReplicationGroupId="tf-rg", RetainPrimaryCluster=True)
    ec.get_waiter("replication_group_deleted").wait(ReplicationGroupId="tf-rg", WaiterConfig={"Delay": 1})
    rc, out, err = aws(endpoint, "delete-cache-cluster", "--cache-cluster-id", "tf-cc",
                       "--final-snapshot-identifier", "tf-final")
    assert rc == 0, err
    ec.get_waiter("cache_cluster_deleted").wait(CacheClusterId="tf-cc", WaiterConfig={"Delay": 1})
    snap = ec.describe_snapshots(SnapshotName="tf-final")["Snapshots"][0]
    assert snap["CacheClusterId"] == "tf-cc" and snap["SnapshotStatus"] == "available"


def memcached_ask(addr, port, request, end=b"END\r\n"):
    with socket.create_connection((addr, port), timeout=2) as s:
        s.sendall(request)
        got = b""
        while not got.endswith(end):
            chunk = s.recv(65536)
            assert chunk, got
            got += chunk
        return got.decode()


def discovered(cfg):
    """The configuration endpoint's answer to auto discovery: (version, [(ip, port)])."""
    lines = memcached_ask(cfg["Address"], cfg["Port"], b"config get cluster\r\n").split("\n")
    assert lines[0].startswith("CONFIG cluster 0 "), lines
    nodes = [n.split("|") for n in lines[2].split()]
    return int(lines[1]), [(n[1], int(n[2])) for n in nodes]


def test_memcached_with_boto3_cli_and_auto_discovery_clients(daemon):
    import warnings
    warnings.simplefilter("ignore", DeprecationWarning)
    from elasticache_auto_discovery import discover
    from elasticache_pyclient import MemcacheClient

    endpoint, data_dir = daemon
    ec = boto3.client("elasticache", endpoint_url=endpoint, region_name=REGION,
                      aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
    # TLS in transit: discovery over TLS (Python's ssl, trusting the deployment's CA), nothing in the clear.
    import ssl
    r = ec.create_cache_cluster(CacheClusterId="mc-tls", Engine="memcached", NumCacheNodes=1, CacheNodeType="cache.t3.micro",
                                TransitEncryptionEnabled=True)
    assert r["CacheCluster"]["TransitEncryptionEnabled"] is True
    ec.get_waiter("cache_cluster_available").wait(CacheClusterId="mc-tls", WaiterConfig={"Delay": 1})
    tcfg = ec.describe_cache_clusters(CacheClusterId="mc-tls")["CacheClusters"][0]["ConfigurationEndpoint"]
    ctx = ssl.create_default_context(cafile=os.path.join(data_dir, "tls", "ca.pem"))
    with socket.create_connection((tcfg["Address"], tcfg["Port"]), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=tcfg["Address"]) as t:
            t.sendall(b"config get cluster\r\n")
            got = b""
            while not got.endswith(b"END\r\n"):
                got += t.recv(4096)
    assert got.startswith(b"CONFIG cluster 0 "), got
    ec.delete_cache_cluster(CacheClusterId="mc-tls")
    # Terraform's aws_elasticache_cluster with engine memcached.
    r = ec.create_cache_cluster(CacheClusterId="mc-tf", Engine="memcached", CacheNodeType="cache.t3.micro",
                                NumCacheNodes=2, AZMode="cross-az", Port=11211,
                                Tags=[{"Key": "Name", "Value": "tf"}])
    assert r["CacheCluster"]["CacheClusterStatus"] == "creating"
    assert r["CacheCluster"]["ConfigurationEndpoint"]["Port"] == 11211
    ec.get_waiter("cache_cluster_available").wait(CacheClusterId="mc-tf", WaiterConfig={"Delay": 1})
    cc = ec.describe_cache_clusters(CacheClusterId="mc-tf", ShowCacheNodeInfo=True)["CacheClusters"][0]
    assert cc["Engine"] == "memcached" and cc["NumCacheNodes"] == 2 and len(cc["CacheNodes"]) == 2
    cfg = cc["ConfigurationEndpoint"]
    cfg_str = f"{cfg['Address']}:{cfg['Port']}"
    # Two auto-discovery clients from PyPI find both nodes through the configuration endpoint.
    found = discover(cfg_str)
    assert sorted((n[1].decode(), int(n[2])) for n in found) == sorted(
        (n["Endpoint"]["Address"], n["Endpoint"]["Port"]) for n in cc["CacheNodes"])
    mc = MemcacheClient(cfg_str)
    for i in range(200):
        assert mc.set(f"k{i}", f"v{i}")
    assert all(mc.get(f"k{i}") == f"v{i}" for i in range(200))
    # The client spread the keys over both nodes: each holds some of them.
    for n in cc["CacheNodes"]:
        stats = memcached_ask(n["Endpoint"]["Address"], n["Endpoint"]["Port"], b"stats\r\n")
        items = int(next(line.split()[2] for line in stats.splitlines() if line.startswith("STAT curr_items")))
        assert 0 < items < 200, stats
    version, _ = discovered(cfg)

    # The CLI adds a node; discovery sees three under a new version.
    rc, out, err = aws(endpoint, "modify-cache-cluster", "--cache-cluster-id", "mc-tf", "--num-cache-nodes", "3",
                       "--apply-immediately")
    assert rc == 0, err
    assert out["CacheCluster"]["PendingModifiedValues"]["NumCacheNodes"] == 3
    rc, out, err = aws(endpoint, "wait", "cache-cluster-available", "--cache-cluster-id", "mc-tf")
    assert rc == 0, err
    v2, nodes = discovered(cfg)
    assert v2 > version and len(nodes) == 3
    assert len(discover(cfg_str)) == 3
    # Pending in the window, without ApplyImmediately: shown as pending, nothing removed yet.
    rc, out, err = aws(endpoint, "modify-cache-cluster", "--cache-cluster-id", "mc-tf", "--num-cache-nodes", "2",
                       "--cache-node-ids-to-remove", "0002")
    assert rc == 0, err
    pending = out["CacheCluster"]["PendingModifiedValues"]
    assert pending == {"NumCacheNodes": 2, "CacheNodeIdsToRemove": ["0002"]}, pending
    assert discovered(cfg) == (v2, nodes)
    # boto3 removes it now.
    ec.modify_cache_cluster(CacheClusterId="mc-tf", NumCacheNodes=2, CacheNodeIdsToRemove=["0002"],
                            ApplyImmediately=True)
    ec.get_waiter("cache_cluster_available").wait(CacheClusterId="mc-tf", WaiterConfig={"Delay": 1})
    cc = ec.describe_cache_clusters(CacheClusterId="mc-tf", ShowCacheNodeInfo=True)["CacheClusters"][0]
    assert [n["CacheNodeId"] for n in cc["CacheNodes"]] == ["0001", "0003"]
    assert "NumCacheNodes" not in cc["PendingModifiedValues"]
    v3, nodes = discovered(cfg)
    assert v3 > v2 and nodes == [(n["Endpoint"]["Address"], n["Endpoint"]["Port"]) for n in cc["CacheNodes"]]
    # Reboot of one node through the CLI.
    rc, out, err = aws(endpoint, "reboot-cache-cluster", "--cache-cluster-id", "mc-tf",
                       "--cache-node-ids-to-reboot", "0001")
    assert rc == 0, err
    assert out["CacheCluster"]["CacheClusterStatus"] == "rebooting cluster nodes"
    ec.get_waiter("cache_cluster_available").wait(CacheClusterId="mc-tf", WaiterConfig={"Delay": 1})
    events = [e["Message"] for e in ec.describe_events(SourceIdentifier="mc-tf", SourceType="cache-cluster")["Events"]]
    assert "Cache node 0001 restarted" in events and "Removed cache nodes 0002" in events, events
    # Tags on its ARN; AWS's refusals.
    assert ec.list_tags_for_resource(ResourceName=cc["ARN"])["TagList"] == [{"Key": "Name", "Value": "tf"}]
    for call, code in [
        (lambda: ec.create_snapshot(CacheClusterId="mc-tf", SnapshotName="s"), "SnapshotFeatureNotSupportedFault"),
        (lambda: ec.create_replication_group(ReplicationGroupId="mc-rg", ReplicationGroupDescription="x",
                                             Engine="memcached"), "InvalidParameterValue"),
        (lambda: ec.create_cache_cluster(CacheClusterId="mc-41", Engine="memcached", NumCacheNodes=41,
                                         CacheNodeType="cache.t3.micro"),
         "NodeQuotaForClusterExceeded"),
        (lambda: ec.modify_cache_cluster(CacheClusterId="mc-tf", NumCacheNodes=1, ApplyImmediately=True),
         "InvalidParameterValue"),
    ]:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == code
    # Deleted by the CLI: nodes and the endpoint gone.
    rc, out, err = aws(endpoint, "delete-cache-cluster", "--cache-cluster-id", "mc-tf")
    assert rc == 0, err
    rc, out, err = aws(endpoint, "wait", "cache-cluster-deleted", "--cache-cluster-id", "mc-tf")
    assert rc == 0, err
    for a in [cfg] + [n["Endpoint"] for n in cc["CacheNodes"]]:
        with pytest.raises(OSError):
            socket.create_connection((a["Address"], a["Port"]), timeout=1).close()


def test_parameter_groups_with_boto3_and_cli(daemon):
    endpoint, _ = daemon
    ec = boto3.client("elasticache", endpoint_url=endpoint, region_name=REGION,
                      aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
    # boto3's paginators: DescribeEngineDefaultParameters pages with EngineDefaults.Marker.
    pages = list(ec.get_paginator("describe_engine_default_parameters").paginate(
        CacheParameterGroupFamily="redis7", PaginationConfig={"PageSize": 20}))
    defaults = [p for page in pages for p in page["EngineDefaults"]["Parameters"]]
    assert len(pages) >= 3 and len({p["ParameterName"] for p in defaults}) == len(defaults)
    assert {"maxmemory-policy", "timeout", "reserved-memory-percent", "databases"} <= {
        p["ParameterName"] for p in defaults}
    names = [g["CacheParameterGroupName"] for page in ec.get_paginator("describe_cache_parameter_groups").paginate()
             for g in page["CacheParameterGroups"]]
    assert "default.redis7" in names and "default.redis7.cluster.on" in names
    # Memcached has no cluster mode, and AWS no `.cluster.on` group for it.
    assert "default.memcached1.6" in names and not any(n.startswith("default.memcached") and n.endswith(
        ".cluster.on") for n in names)
    # Terraform's aws_elasticache_parameter_group: create with tags, modify in batches of 20, read the user page.
    g = ec.create_cache_parameter_group(CacheParameterGroupName="tf-pg", CacheParameterGroupFamily="redis7",
                                        Description="terraform", Tags=[{"Key": "Name", "Value": "tf"}])
    arn = g["CacheParameterGroup"]["ARN"]
    assert arn.endswith(":parametergroup:tf-pg")
    assert ec.list_tags_for_resource(ResourceName=arn)["TagList"] == [{"Key": "Name", "Value": "tf"}]
    r = ec.modify_cache_parameter_group(CacheParameterGroupName="tf-pg", ParameterNameValues=[
        {"ParameterName": "notify-keyspace-events", "ParameterValue": "KEA"},
        {"ParameterName": "maxmemory-policy", "ParameterValue": "allkeys-lfu"}])
    assert r["CacheParameterGroupName"] == "tf-pg"
    user = ec.describe_cache_parameters(CacheParameterGroupName="tf-pg", Source="user")["Parameters"]
    assert sorted((p["ParameterName"], p["ParameterValue"]) for p in user) == [
        ("maxmemory-policy", "allkeys-lfu"), ("notify-keyspace-events", "KEA")]
    with pytest.raises(ec.exceptions.InvalidParameterValueException):
        ec.modify_cache_parameter_group(CacheParameterGroupName="tf-pg", ParameterNameValues=[
            {"ParameterName": "maxmemory-policy", "ParameterValue": "sometimes"}])
    with pytest.raises(ec.exceptions.CacheParameterGroupAlreadyExistsFault):
        ec.create_cache_parameter_group(CacheParameterGroupName="tf-pg", CacheParameterGroupFamily="redis7",
                                        Description="again")
    with pytest.raises(ec.exceptions.CacheParameterGroupNotFoundFault):
        ec.describe_cache_parameters(CacheParameterGroupName="nope")
    # A group using it, through the CLI: the nodes run its values (the policy is what INFO reports).
    rc, out, err = aws(endpoint, "create-replication-group", "--replication-group-id", "pg-rg",
                       "--replication-group-description", "with tf-pg", "--num-cache-clusters", "2",
                       "--cache-parameter-group-name", "tf-pg")
    assert rc == 0, err
    rc, out, err = aws(endpoint, "wait", "replication-group-available", "--replication-group-id", "pg-rg")
    assert rc == 0, err
    g = ec.describe_replication_groups(ReplicationGroupId="pg-rg")["ReplicationGroups"][0]
    primary = g["NodeGroups"][0]["PrimaryEndpoint"]
    assert "maxmemory_policy:allkeys-lfu" in redis_cli(primary, "INFO", "memory")
    # Terraform reads the group's parameter group name from the first member cluster.
    cc = ec.describe_cache_clusters(CacheClusterId=g["MemberClusters"][0])["CacheClusters"][0]
    assert cc["CacheParameterGroup"]["CacheParameterGroupName"] == "tf-pg"
    # The CLI changes a value; every node takes it live.
    rc, out, err = aws(endpoint, "modify-cache-parameter-group", "--cache-parameter-group-name", "tf-pg",
                       "--parameter-name-values", "ParameterName=maxmemory-policy,ParameterValue=allkeys-random")
    assert rc == 0, err
    deadline = time.time() + 10
    while "maxmemory_policy:allkeys-random" not in redis_cli(primary, "INFO", "memory"):
        assert time.time() < deadline, "the new policy never reached the primary"
        time.sleep(0.05)
    rc, out, err = aws(endpoint, "describe-cache-parameters", "--cache-parameter-group-name", "tf-pg",
                       "--source", "user")
    assert rc == 0, err
    assert {p["ParameterName"] for p in out["Parameters"]} == {"maxmemory-policy", "notify-keyspace-events"}
    rc, out, err = aws(endpoint, "describe-cache-parameter-groups", "--cache-parameter-group-name", "tf-pg")
    assert rc == 0, err
    assert out["CacheParameterGroups"][0]["CacheParameterGroupFamily"] == "redis7"
    rc, out, err = aws(endpoint, "describe-engine-default-parameters", "--cache-parameter-group-family", "redis7")
    assert rc == 0, err
    assert len(out["EngineDefaults"]["Parameters"]) == len(defaults)
    rc, out, err = aws(endpoint, "delete-cache-parameter-group", "--cache-parameter-group-name", "tf-pg")
    assert rc != 0 and "InvalidCacheParameterGroupState" in err
    # Reset (CLI), then back to the default group (boto3): the node's policy is the default again.
    rc, out, err = aws(endpoint, "reset-cache-parameter-group", "--cache-parameter-group-name", "tf-pg",
                       "--parameter-name-values", "ParameterName=maxmemory-policy")
    assert rc == 0, err
    assert [p["ParameterName"] for p in ec.describe_cache_parameters(
        CacheParameterGroupName="tf-pg", Source="user")["Parameters"]] == ["notify-keyspace-events"]
    deadline = time.time() + 10
    while "maxmemory_policy:volatile-lru" not in redis_cli(primary, "INFO", "memory"):
        assert time.time() < deadline, "the reset never reached the primary"
        time.sleep(0.05)
    rc, out, err = aws(endpoint, "reset-cache-parameter-group", "--cache-parameter-group-name", "tf-pg",
                       "--reset-all-parameters")
    assert rc == 0, err
    ec.modify_replication_group(ReplicationGroupId="pg-rg", CacheParameterGroupName="default.redis7",
                                ApplyImmediately=True)
    cc = ec.describe_cache_clusters(CacheClusterId=g["MemberClusters"][0])["CacheClusters"][0]
    assert cc["CacheParameterGroup"]["CacheParameterGroupName"] == "default.redis7"
    rc, out, err = aws(endpoint, "delete-cache-parameter-group", "--cache-parameter-group-name", "tf-pg")
    assert rc == 0, err
    ec.delete_replication_group(ReplicationGroupId="pg-rg")
    rc, out, err = aws(endpoint, "wait", "replication-group-deleted", "--replication-group-id", "pg-rg")
    assert rc == 0, err


def logs_cli(endpoint, *args):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET, AWS_DEFAULT_REGION=REGION)
    env.pop("AWS_PROFILE", None)
    p = subprocess.run(["aws", "logs", *args, "--endpoint-url", endpoint, "--output", "json"],
                       capture_output=True, text=True, env=env)
    return p.returncode, (json.loads(p.stdout) if p.stdout.strip() else None), p.stderr


def test_cloudwatch_logs_subset_with_boto3_and_cli(daemon):
    endpoint, _ = daemon
    logs = boto3.client("logs", endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
    logs.create_log_group(logGroupName="/elasticache/compat")
    with pytest.raises(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName="/elasticache/compat")
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.create_log_group(logGroupName="no spaces allowed")
    groups = logs.describe_log_groups(logGroupNamePrefix="/elasticache")["logGroups"]
    assert [g["logGroupName"] for g in groups] == ["/elasticache/compat"]
    assert groups[0]["arn"].startswith(f"arn:aws:logs:{REGION}:")
    assert logs.describe_log_streams(logGroupName="/elasticache/compat")["logStreams"] == []
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.get_log_events(logGroupName="/elasticache/compat", logStreamName="none")
    assert logs.filter_log_events(logGroupName="/elasticache/compat")["events"] == []
    # The CLI, the same way.
    rc, out, err = logs_cli(endpoint, "describe-log-groups")
    assert rc == 0, err
    assert [g["logGroupName"] for g in out["logGroups"]] == ["/elasticache/compat"]
    rc, out, err = logs_cli(endpoint, "delete-log-group", "--log-group-name", "/elasticache/compat")
    assert rc == 0, err
    rc, out, err = logs_cli(endpoint, "delete-log-group", "--log-group-name", "/elasticache/compat")
    assert rc != 0 and "ResourceNotFoundException" in err


def test_log_delivery_with_boto3_and_cli(daemon):
    endpoint, data_dir = daemon
    ec = boto3.client("elasticache", endpoint_url=endpoint, region_name=REGION,
                      aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
    logs = boto3.client("logs", endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
    ec.create_cache_parameter_group(CacheParameterGroupName="slow0", CacheParameterGroupFamily="redis7",
                                    Description="every command")
    ec.modify_cache_parameter_group(CacheParameterGroupName="slow0", ParameterNameValues=[
        {"ParameterName": "slowlog-log-slower-than", "ParameterValue": "0"}])
    logs.create_log_group(logGroupName="/tf/slow")
    # Terraform's create: the log delivery block with the group.
    ec.create_replication_group(
        ReplicationGroupId="ld-rg", ReplicationGroupDescription="logs", NumCacheClusters=2,
        CacheParameterGroupName="slow0",
        LogDeliveryConfigurations=[{"LogType": "slow-log", "DestinationType": "cloudwatch-logs",
                                    "DestinationDetails": {"CloudWatchLogsDetails": {"LogGroup": "/tf/slow"}},
                                    "LogFormat": "json"}])
    ec.get_waiter("replication_group_available").wait(ReplicationGroupId="ld-rg", WaiterConfig={"Delay": 1})
    g = wait_status(lambda: ec.describe_replication_groups(ReplicationGroupId="ld-rg")["ReplicationGroups"][0],
                    "available")
    deadline = time.time() + 10
    while g["LogDeliveryConfigurations"][0]["Status"] != "active":
        assert time.time() < deadline, g["LogDeliveryConfigurations"]
        time.sleep(0.05)
        g = ec.describe_replication_groups(ReplicationGroupId="ld-rg")["ReplicationGroups"][0]
    # Terraform reads the destination of every entry (it must be there).
    assert g["LogDeliveryConfigurations"][0]["DestinationDetails"]["CloudWatchLogsDetails"]["LogGroup"] == "/tf/slow"
    primary = g["NodeGroups"][0]["PrimaryEndpoint"]
    redis_cli(primary, "SET", "compat-key", "v")
    stream = "elasticache/redis/ld-rg-001/0001/slow-log"
    deadline = time.time() + 5
    while True:
        rc, out, err = logs_cli(endpoint, "get-log-events", "--log-group-name", "/tf/slow",
                                "--log-stream-name", stream, "--start-from-head")
        msgs = [json.loads(e["message"]) for e in (out or {}).get("events", [])] if rc == 0 else []
        if any(m["Command"] == "SET ... (2 more arguments)" for m in msgs):
            break
        assert time.time() < deadline, (rc, err, msgs)
        time.sleep(0.1)
    assert all("Duration (us)" in m and m["CacheClusterId"] == "ld-rg-001" for m in msgs)
    # boto3's paginated FilterLogEvents (what `aws logs tail` of CLI v2 calls) sees the same records.
    events = [e for page in logs.get_paginator("filter_log_events").paginate(logGroupName="/tf/slow")
              for e in page["events"]]
    assert any(e["logStreamName"] == stream and "SET ..." in e["message"] for e in events)
    # The CLI: the engine log to a Firehose delivery stream (a local sink file), slow log off.
    rc, out, err = aws(endpoint, "modify-replication-group", "--replication-group-id", "ld-rg",
                       "--log-delivery-configurations",
                       json.dumps([{"LogType": "slow-log", "Enabled": False}]))
    assert rc != 0 and "apply-immediately" in err
    rc, out, err = aws(endpoint, "modify-replication-group", "--replication-group-id", "ld-rg", "--apply-immediately",
                       "--log-delivery-configurations", json.dumps([
                           {"LogType": "slow-log", "Enabled": False},
                           {"LogType": "engine-log", "DestinationType": "kinesis-firehose",
                            "DestinationDetails": {"KinesisFirehoseDetails": {"DeliveryStream": "eng"}},
                            "LogFormat": "text"}]))
    assert rc == 0, err
    statuses = {l["LogType"]: l["Status"] for l in out["ReplicationGroup"]["LogDeliveryConfigurations"]}
    assert statuses == {"slow-log": "disabling", "engine-log": "enabling"}, statuses
    deadline = time.time() + 10
    while True:
        g = ec.describe_replication_groups(ReplicationGroupId="ld-rg")["ReplicationGroups"][0]
        if [(l["LogType"], l["Status"]) for l in g["LogDeliveryConfigurations"]] == [("engine-log", "active")]:
            break
        assert time.time() < deadline, g["LogDeliveryConfigurations"]
        time.sleep(0.05)
    rc, out, err = aws(endpoint, "reboot-cache-cluster", "--cache-cluster-id", "ld-rg-002",
                       "--cache-node-ids-to-reboot", "0001")
    assert rc == 0, err
    sink = os.path.join(data_dir, "firehose", "eng.log")
    deadline = time.time() + 15
    while True:
        text = open(sink).read() if os.path.exists(sink) else ""
        if "Ready to accept connections" in text:
            break
        assert time.time() < deadline, text
        time.sleep(0.1)
    assert all(l.startswith("ld-rg-00") and " UTC " in l for l in text.splitlines())
    ec.delete_replication_group(ReplicationGroupId="ld-rg")
    rc, out, err = aws(endpoint, "wait", "replication-group-deleted", "--replication-group-id", "ld-rg")
    assert rc == 0, err


def test_memcached_parameter_groups_with_boto3_and_cli(daemon):
    endpoint, _ = daemon
    ec = boto3.client("elasticache", endpoint_url=endpoint, region_name=REGION,
                      aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
    # The memcached1.6 catalogue through boto3's paginator, with its node-type-specific parameters.
    pages = list(ec.get_paginator("describe_engine_default_parameters").paginate(
        CacheParameterGroupFamily="memcached1.6", PaginationConfig={"PageSize": 20}))
    defaults = {p["ParameterName"]: p for page in pages for p in page["EngineDefaults"]["Parameters"]}
    assert defaults["chunk_size_growth_factor"]["DataType"] == "float"
    assert defaults["max_item_size"]["ParameterValue"] == "1048576"
    specific = pages[0]["EngineDefaults"]["CacheNodeTypeSpecificParameters"]
    assert [p["ParameterName"] for p in specific] == ["max_cache_memory", "num_threads"]
    # The CLI: a group with larger items, a cluster created with it.
    rc, _, err = aws(endpoint, "create-cache-parameter-group", "--cache-parameter-group-name", "cli-mc",
                     "--cache-parameter-group-family", "memcached1.6", "--description", "from the CLI")
    assert rc == 0, err
    rc, _, err = aws(endpoint, "modify-cache-parameter-group", "--cache-parameter-group-name", "cli-mc",
                     "--parameter-name-values", "ParameterName=max_item_size,ParameterValue=4194304",
                     "ParameterName=chunk_size_growth_factor,ParameterValue=1.5")
    assert rc == 0, err
    rc, _, err = aws(endpoint, "modify-cache-parameter-group", "--cache-parameter-group-name", "cli-mc",
                     "--parameter-name-values", "ParameterName=chunk_size_growth_factor,ParameterValue=1.0")
    assert rc != 0 and "InvalidParameterValue" in err, err
    rc, _, err = aws(endpoint, "create-cache-cluster", "--cache-cluster-id", "cli-mcp", "--engine", "memcached",
                     "--num-cache-nodes", "1", "--cache-node-type", "cache.t3.small",
                     "--cache-parameter-group-name", "cli-mc")
    assert rc == 0, err
    ec.get_waiter("cache_cluster_available").wait(CacheClusterId="cli-mcp", WaiterConfig={"Delay": 1})
    cc = ec.describe_cache_clusters(CacheClusterId="cli-mcp", ShowCacheNodeInfo=True)["CacheClusters"][0]
    assert cc["CacheParameterGroup"]["ParameterApplyStatus"] == "in-sync"
    node = cc["CacheNodes"][0]["Endpoint"]
    settings = memcached_ask(node["Address"], node["Port"], b"stats settings\r\n")
    assert "STAT item_size_max 4194304\r\n" in settings and "STAT growth_factor 1.50\r\n" in settings, settings
    big = b"y" * 3_000_000
    assert memcached_ask(node["Address"], node["Port"], b"set big 0 0 %d\r\n%s\r\n" % (len(big), big),
                         end=b"\r\n") == "STORED\r\n"
    # boto3: the item memory live, then back to the defaults (start-time ones wait for a reboot).
    ec.modify_cache_parameter_group(CacheParameterGroupName="cli-mc", ParameterNameValues=[
        {"ParameterName": "cache_memlimit", "ParameterValue": "64"}])
    deadline = time.time() + 20
    while "STAT limit_maxbytes 67108864\r\n" not in memcached_ask(node["Address"], node["Port"], b"stats\r\n"):
        assert time.time() < deadline, "cache_memlimit not applied"
        time.sleep(0.05)
    ec.reset_cache_parameter_group(CacheParameterGroupName="cli-mc", ResetAllParameters=True)
    assert ec.describe_cache_parameters(CacheParameterGroupName="cli-mc", Source="user")["Parameters"] == []
    deadline = time.time() + 20
    while True:
        cc = ec.describe_cache_clusters(CacheClusterId="cli-mcp", ShowCacheNodeInfo=True)["CacheClusters"][0]
        if cc["CacheParameterGroup"]["ParameterApplyStatus"] == "pending-reboot":
            break
        assert time.time() < deadline, cc["CacheParameterGroup"]
        time.sleep(0.05)
    assert cc["CacheParameterGroup"]["CacheNodeIdsToReboot"] == ["0001"]
    assert cc["CacheNodes"][0]["ParameterGroupStatus"] == "pending-reboot"
    ec.delete_cache_cluster(CacheClusterId="cli-mcp")
    ec.get_waiter("cache_cluster_deleted").wait(CacheClusterId="cli-mcp", WaiterConfig={"Delay": 1})
    rc, _, err = aws(endpoint, "delete-cache-parameter-group", "--cache-parameter-group-name", "cli-mc")
    assert rc == 0, err


def test_prometheus_metrics_parse_with_prometheus_client():
    import redis
    import urllib.error
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
    import urllib.request
    metrics_port = free_port()
    with running_daemon(extra=("--metrics-listen", f"127.0.0.1:{metrics_port}", "--metrics-interval", "1")) as (
            endpoint, _, _):
        ec = boto3.client("elasticache", endpoint_url=endpoint, region_name=REGION,
                          aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
        ec.create_replication_group(ReplicationGroupId="prom-rg", ReplicationGroupDescription="metrics",
                                    NumCacheClusters=2)
        g = wait_status(lambda: ec.describe_replication_groups(ReplicationGroupId="prom-rg")["ReplicationGroups"][0],
                        "available")
        ep = g["NodeGroups"][0]["PrimaryEndpoint"]
        r = redis.Redis(host=ep["Address"], port=ep["Port"])
        for i in range(500):
            r.set(f"k{i}", "v")
        deadline = time.time() + 20
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as resp:
                assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
                text = resp.read().decode()
            # The OpenMetrics parser of the Prometheus Python client: it refuses anything malformed.
            families = {f.name: f for f in text_string_to_metric_families(text)}
            commands = {s.labels["cache_cluster"]: s.value for s in families["cacheplane_node_commands_processed"].samples
                        if s.name.endswith("_total")}
            if commands.get("prom-rg-001", 0) >= 500:
                break
            assert time.time() < deadline, commands
            time.sleep(0.3)
        assert families["cacheplane_node_commands_processed"].type == "counter"
        assert families["cacheplane_node_up"].type == "gauge"
        assert families["cacheplane_api_request_duration_seconds"].type == "histogram"
        up = {s.labels["cache_cluster"]: (s.labels["role"], s.value) for s in families["cacheplane_node_up"].samples}
        assert up == {"prom-rg-001": ("primary", 1.0), "prom-rg-002": ("replica", 1.0)}
        requests = {(s.labels["action"], s.labels["code"]): s.value
                    for s in families["cacheplane_api_requests"].samples if s.name.endswith("_total")}
        assert requests[("CreateReplicationGroup", "OK")] == 1.0
        # Not the API: no signature, and nothing but /metrics.
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/", timeout=5)
        assert e.value.code == 404

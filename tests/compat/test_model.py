"""AWS's own request/response examples (botocore's examples-1.json for ElastiCache), replayed against the daemon in
their order (deletions last): every answer is checked against the operation's model (conftest), and the examples that apply here (no
resource of another account, no feature refused by name) must succeed with the members AWS's example shows."""

import json
import os

import boto3
import botocore
import botocore.exceptions

from test_compat import KEY_ID, REGION, SECRET, running_daemon

EXAMPLES = os.path.join(os.path.dirname(botocore.__file__), "data", "elasticache", "2015-02-02", "examples-1.json")

# The examples that do not apply here, and why: every other example must succeed.
REFUSED = {
    # ARNs of AWS's example account (1234567890, <my-account-id>), not this deployment's.
    "AddTagsToResource": "InvalidARN", "RemoveTagsFromResource": "InvalidARN", "ListTagsForResource": "InvalidARN",
    # Cache security groups: refused as AWS refuses an account in a VPC; reserved nodes: none are offered.
    "AuthorizeCacheSecurityGroupIngress": "InvalidAction", "CreateCacheSecurityGroup": "InvalidAction",
    "DeleteCacheSecurityGroup": "InvalidAction", "RevokeCacheSecurityGroupIngress": "InvalidAction",
    "DescribeCacheSecurityGroups": "InvalidParameterValue", "PurchaseReservedCacheNodesOffering": "InvalidAction",
    # CopySnapshot to an S3 bucket (TargetBucket), which is not built.
    "CopySnapshot": "InvalidParameterValue",
    # Node types of old generations (cache.r3, cache.m3; one misspelt) and engine versions (Redis 2.8, 3.2) and
    # families (redis2.8) that no engine here runs.
    "CreateCacheCluster": "InvalidParameterValue", "CreateReplicationGroup": "InvalidParameterValue",
    "CreateCacheParameterGroup": "InvalidParameterValue", "DescribeEngineDefaultParameters": "InvalidParameterValue",
    "DescribeCacheParameters": "CacheParameterGroupNotFound",
    # Resources the examples name but never create (nor does any example before them): a cluster mode enabled group
    # "clusteredredis", a cluster "my-memcached", subnet groups "my-sn-grp" and "my-subnet-group".
    "CreateSnapshot": "ReplicationGroupNotFoundFault", "DeleteCacheCluster": "CacheClusterNotFound",
    "DeleteCacheSubnetGroup": "CacheSubnetGroupNotFoundFault", "ModifyCacheSubnetGroup": "CacheSubnetGroupNotFoundFault",
    # An offering id no offering has (none is offered here).
    "DescribeReservedCacheNodesOfferings": "ReservedCacheNodesOfferingNotFound",
    # A cluster id with trailing spaces ("custom-mem1-4  "): not a valid identifier.
    "RebootCacheCluster": "InvalidParameterValue",
}

# The examples that apply although another example of their operation does not (by the operation and the example's
# place among its examples): the snapshots of onenoderedis and threenoderedis-001; the listing of every offering.
APPLY_BESIDE_A_REFUSAL = {("CreateSnapshot", 0), ("CreateSnapshot", 1), ("DescribeReservedCacheNodesOfferings", 0)}


def expected(op, i):
    return "applied" if op not in REFUSED or (op, i) in APPLY_BESIDE_A_REFUSAL else REFUSED[op]

# What the examples assume exists, made here first (Memcached 1.6 stands for AWS's memcached1.4 group).
def prerequisites(ec):
    ec.create_cache_cluster(CacheClusterId="my-mem-cluster", Engine="memcached", NumCacheNodes=2,
                            CacheNodeType="cache.t3.micro")
    ec.create_cache_cluster(CacheClusterId="redis-cluster", Engine="redis", CacheNodeType="cache.t3.micro")
    ec.create_cache_cluster(CacheClusterId="mycluster", Engine="redis", CacheNodeType="cache.t3.micro")
    ec.create_cache_cluster(CacheClusterId="onenoderedis", Engine="redis", CacheNodeType="cache.t3.micro")
    ec.create_replication_group(ReplicationGroupId="threenoderedis", ReplicationGroupDescription="example",
                                NumCacheClusters=3, CacheNodeType="cache.t3.micro")
    for g in ("my-redis-rg", "myreplgroup"):
        ec.create_replication_group(ReplicationGroupId=g, ReplicationGroupDescription="example",
                                    NumCacheClusters=2, CacheNodeType="cache.t3.micro")
    ec.create_cache_parameter_group(CacheParameterGroupName="custom-mem1-4", CacheParameterGroupFamily="memcached1.6",
                                    Description="stands for AWS's memcached1.4 example group")
    for c in ("my-mem-cluster", "redis-cluster", "mycluster", "onenoderedis"):
        ec.get_waiter("cache_cluster_available").wait(CacheClusterId=c, WaiterConfig={"Delay": 1})
    for g in ("my-redis-rg", "myreplgroup", "threenoderedis"):
        ec.get_waiter("replication_group_available").wait(ReplicationGroupId=g, WaiterConfig={"Delay": 1})
    ec.create_snapshot(CacheClusterId="onenoderedis", SnapshotName="snapshot-20161212")
    ec.get_waiter("cache_cluster_available").wait(CacheClusterId="onenoderedis", WaiterConfig={"Delay": 1})


def snake(ec, op):
    return next(m for m, o in ec.meta.method_to_api_mapping.items() if o == op)


def test_aws_examples_replay_within_the_model():
    with running_daemon() as (endpoint, _, _):
        ec = boto3.client("elasticache", endpoint_url=endpoint, region_name=REGION,
                          aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET)
        with open(EXAMPLES) as f:
            examples = json.load(f)["examples"]
        prerequisites(ec)
        applied, refused = set(), {}
        outcomes = {}
        # Deletions last, so that what they delete has been used by the others first.
        settled = False
        for op, cases in sorted(examples.items(), key=lambda e: e[0].startswith("Delete")):
            if op.startswith("Delete") and not settled:
                # What the others started (the snapshots of CreateSnapshot's examples) is over before anything is
                # deleted, as the examples assume.
                settled = True
                for c in ("my-mem-cluster", "redis-cluster", "mycluster", "onenoderedis"):
                    ec.get_waiter("cache_cluster_available").wait(CacheClusterId=c, WaiterConfig={"Delay": 1})
                for g in ("my-redis-rg", "myreplgroup", "threenoderedis"):
                    ec.get_waiter("replication_group_available").wait(ReplicationGroupId=g,
                                                                      WaiterConfig={"Delay": 1})
            for i, case in enumerate(cases):
                try:
                    out = getattr(ec, snake(ec, op))(**case["input"])
                except botocore.exceptions.ParamValidationError:
                    refused[op] = outcomes[(op, i)] = "botocore refuses the example's own input"
                    continue
                except botocore.exceptions.ClientError as e:
                    refused[op] = outcomes[(op, i)] = e.response["Error"]["Code"]
                    continue
                applied.add(op)
                outcomes[(op, i)] = "applied"
                # The example's top-level members that carry data (not a paging marker) are in our answer too.
                for key, value in case.get("output", {}).items():
                    if key != "Marker" and value not in (None, [], {}):
                        assert key in out, f"{op}: AWS's example answers {key}, we do not"
        assert refused == REFUSED, f"refused: {refused}"
        # Each example's own outcome: an operation with several examples may have some apply and some not.
        wrong = {k: v for k, v in outcomes.items() if v != expected(*k)}
        assert not wrong, f"examples with another outcome than expected: {wrong}"
        assert applied >= set(examples) - set(REFUSED), "every example of the others applies"
        # Whatever the examples created is deleted again.
        for c in ec.describe_cache_clusters()["CacheClusters"]:
            if not c.get("ReplicationGroupId") and c["CacheClusterStatus"] != "deleting":
                ec.delete_cache_cluster(CacheClusterId=c["CacheClusterId"])
        for g in ec.describe_replication_groups()["ReplicationGroups"]:
            if g["Status"] != "deleting":
                ec.delete_replication_group(ReplicationGroupId=g["ReplicationGroupId"])
        for s in ec.describe_snapshots()["Snapshots"]:
            if s["SnapshotStatus"] == "available":
                ec.delete_snapshot(SnapshotName=s["SnapshotName"])
        for c in ("my-mem-cluster", "redis-cluster", "mycluster", "onenoderedis"):
            ec.get_waiter("cache_cluster_deleted").wait(CacheClusterId=c, WaiterConfig={"Delay": 1})


def test_the_aws_cli_answers_are_checked_too():
    """The AWS CLI plugin (conftest) is loaded: an answer the CLI receives is seen by the check."""
    import os
    import subprocess

    checked = os.environ["CACHEPLANE_MODEL_VIOLATIONS"] + ".checked"
    if os.path.exists(checked):
        os.remove(checked)
    with running_daemon() as (endpoint, _, _):
        env = dict(os.environ, AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET, AWS_DEFAULT_REGION=REGION)
        subprocess.run(["aws", "elasticache", "describe-cache-engine-versions", "--endpoint-url", endpoint],
                       env=env, check=True, capture_output=True)
    with open(checked) as f:
        assert "DescribeCacheEngineVersions" in f.read().split()

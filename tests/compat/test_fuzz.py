"""Mutated inputs over every action (structured by botocore's model of each action's input): the daemon answers
every one with an AWS error or a result — no 5xx, no dropped connection — and is alive and answering afterwards.
The long run is in scripts/bench.sh."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fuzz_inputs import client, fuzz  # noqa: E402
from test_compat import KEY_ID, SECRET, alive, daemon  # noqa: E402,F401


def test_mutated_inputs_over_every_action(daemon):
    endpoint, _ = daemon
    ec = client(endpoint, KEY_ID, SECRET)
    # Something for the plausible ids to find, so inputs reach the rules behind "not found".
    ec.create_replication_group(ReplicationGroupId="fz-group", ReplicationGroupDescription="fuzz",
                                NumCacheClusters=2)
    per_action = 6
    counts, problems = fuzz(endpoint, KEY_ID, SECRET, per_action=per_action,
                            seed=int(os.environ.get("FUZZ_SEED", "12")))
    print(dict(counts))
    assert counts["requests"] == per_action * len(ec.meta.service_model.operation_names)
    assert problems == [], problems[:10]
    # Still serving, and its state readable.
    client(endpoint, KEY_ID, SECRET).describe_replication_groups()

"""The long mutated-input run (scripts/bench.sh): N generated inputs per action against a fresh daemon, then a
table of answers by HTTP status class, 5xx and dropped connections, and whether the daemon still answers."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fuzz_inputs import client, fuzz  # noqa: E402
from test_compat import KEY_ID, SECRET, running_daemon  # noqa: E402


def main():
    per_action = int(os.environ.get("FUZZ_PER_ACTION", "100"))
    with running_daemon(log="error") as (endpoint, _, proc):
        ec = client(endpoint, KEY_ID, SECRET)
        ec.create_replication_group(ReplicationGroupId="fz-group", ReplicationGroupDescription="fuzz",
                                    NumCacheClusters=2)
        counts, problems = fuzz(endpoint, KEY_ID, SECRET, per_action=per_action, seed=1)
        ec.describe_replication_groups()
        print(f"mutated inputs, {per_action} per action over {len(ec.meta.service_model.operation_names)} actions: "
              f"{dict(counts)}; 5xx and dropped connections: {len(problems)}; daemon alive: {proc.poll() is None}")
        for p in problems[:20]:
            print("  ", p)


if __name__ == "__main__":
    main()

"""The long mutated-input run (scripts/bench.sh): N generated inputs per action against a fresh daemon, then a
table of answers by HTTP status class, 5xx and dropped connections, and whether the daemon still answers."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fuzz_inputs import client, fuzz  # noqa: E402
from test_compat import BINARY, KEY_ID, SECRET, alive, free_port, node_pids  # noqa: E402


def main():
    per_action = int(os.environ.get("FUZZ_PER_ACTION", "100"))
    data_dir = tempfile.mkdtemp(prefix="cacheplane-fuzz-")
    port = free_port()
    env = dict(os.environ, CACHEPLANE_ACCESS_KEY_ID=KEY_ID, CACHEPLANE_SECRET_ACCESS_KEY=SECRET,
               CACHEPLANE_LOG="error")
    proc = subprocess.Popen([BINARY, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir],
                            stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert "API listening" in proc.stdout.readline()
        endpoint = f"http://127.0.0.1:{port}"
        ec = client(endpoint, KEY_ID, SECRET)
        ec.create_replication_group(ReplicationGroupId="fz-group", ReplicationGroupDescription="fuzz",
                                    NumCacheClusters=2)
        counts, problems = fuzz(endpoint, KEY_ID, SECRET, per_action=per_action, seed=1)
        ec.describe_replication_groups()
        print(f"mutated inputs, {per_action} per action over {len(ec.meta.service_model.operation_names)} actions: "
              f"{dict(counts)}; 5xx and dropped connections: {len(problems)}; daemon alive: {proc.poll() is None}")
        for p in problems[:20]:
            print("  ", p)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for pid in node_pids(data_dir):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()

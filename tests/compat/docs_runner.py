"""The docs' runnable examples: fenced blocks whose info string is `sh run` or `python run`, taken from a Markdown
file in order and joined into one bash script (a Python block becomes `python - <<'PY' … PY` in it), so that a file's
examples run as a reader runs them, one after the other in one shell.

Run one file by hand against a daemon on the defaults (`./scripts/run.sh`):
    eval "$(target/release/cacheplane credentials)"; python tests/compat/docs_runner.py docs/cluster-mode.md
"""

import os
import re
import subprocess
import sys

FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^`]*)$")
RUNNABLE = {"sh run": "sh", "bash run": "sh", "python run": "python"}


def blocks(path):
    """[(kind, first line number, text)] of the runnable blocks of `path`, `kind` being `sh` or `python`."""
    out = []
    with open(path) as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info = m.group(1), m.group(2), " ".join(m.group(3).split())
        body = []
        j = i + 1
        while j < len(lines) and not (lines[j].strip().startswith(fence[0] * len(fence))
                                      and lines[j].strip().strip(fence[0]) == ""):
            line = lines[j]
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
            j += 1
        if j == len(lines):
            raise ValueError(f"{path}:{i + 1}: a fenced block that never closes")
        kind = RUNNABLE.get(info)
        if kind:
            out.append((kind, i + 1, "\n".join(body)))
        i = j + 1
    return out


def script(path):
    """One bash script of `path`'s runnable blocks, each announced on standard error with its line."""
    name = os.path.relpath(path)
    parts = ["set -euo pipefail"]
    for n, (kind, line, text) in enumerate(blocks(path), 1):
        parts.append(f"echo '--- {name}:{line} (block {n}, {kind})' >&2")
        if kind == "sh":
            parts.append(text)
        else:
            assert "\nPY_END_OF_BLOCK\n" not in f"\n{text}\n"
            parts.append(f"python - <<'PY_END_OF_BLOCK'\n{text}\nPY_END_OF_BLOCK")
    return "\n".join(parts) + "\n"


def run(path, cwd, env, timeout=300):
    """Runs `path`'s runnable blocks; a CompletedProcess with standard output and error as text. A file whose blocks
    are still running after `timeout` seconds (a wait for a state that never comes) fails with what they printed,
    the last block announced among it."""
    try:
        return subprocess.run(["bash", "-c", script(path)], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as e:
        def text(b):
            return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")
        return subprocess.CompletedProcess(e.cmd, 124, text(e.stdout),
                                           text(e.stderr) + f"\n(still running after {timeout} s: stopped)")


if __name__ == "__main__":
    for p in sys.argv[1:]:
        r = subprocess.run(["bash", "-c", script(p)])
        if r.returncode:
            sys.exit(r.returncode)

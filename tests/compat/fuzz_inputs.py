"""Structured mutated inputs for every ElastiCache action: botocore's own model of the service gives each action's
input shape, and a value is generated for every member by its type — often plausible (known ids, engine names,
node types), often hostile (every printable character, control characters, non-ASCII, empty, 10,000
characters, negative and huge numbers, long lists) — then sent with boto3 with client-side validation off, so the
daemon sees what a careless or hostile client could send. Used by test_fuzz.py (short) and scripts/bench.sh
(long); prints a table: requests, answers by HTTP status class, 5xx, connection failures."""

import collections
import datetime
import random
import string

import boto3
import botocore.config
import botocore.exceptions

PLAUSIBLE_STRINGS = [
    "redis", "valkey", "memcached", "cache.t3.micro", "cache.r6g.large", "7.0", "6.2", "6.x",
    "default.redis7", "fz-group", "fz-group-001", "0001", "fz-snap", "fz-user", "fz-ug", "default",
    "us-east-1a", "sun:05:00-sun:06:00", "03:00-04:00", "on ~* +@all", "ipv4", "dual_stack", "ipv6",
    "required", "preferred", "ROTATE", "SET", "DELETE", "enabled", "disabled", "compatible", "true",
    "arn:aws:elasticache:us-east-1:000000000000:replicationgroup:fz-group", "a-long-password-0123456789",
]


def hostile_string(rng):
    kind = rng.randrange(8)
    if kind == 0:
        return ""
    if kind == 1:
        return "".join(rng.choice(string.printable) for _ in range(rng.randrange(1, 40)))
    if kind == 2:
        return "".join(chr(rng.randrange(0, 32)) for _ in range(rng.randrange(1, 8)))
    if kind == 3:
        return "".join(chr(rng.randrange(0x80, 0x2FFF)) for _ in range(rng.randrange(1, 20)))
    if kind == 4:
        return rng.choice(string.printable) * rng.choice([255, 256, 1000, 10000])
    if kind == 5:
        return rng.choice(['"', "'", "\\", "\n", "%", "&", "=", "+", "..", "../../etc/passwd", "\u0000"]) * rng.randrange(1, 5)
    if kind == 6:
        return str(rng.choice([-1, 0, 2**31, 2**63, -(2**63), 10**30]))
    return rng.choice(PLAUSIBLE_STRINGS) + rng.choice(["", "x", "-", "--", " ", "\t", "A"])


def value_for(shape, rng, depth=0):
    t = shape.type_name
    if t == "structure":
        out = {}
        for name, member in shape.members.items():
            if name in shape.required_members or rng.random() < 0.5:
                out[name] = value_for(member, rng, depth + 1)
        return out
    if t == "list":
        n = rng.choice([0, 1, 1, 2, 3, 200]) if depth < 3 else rng.choice([0, 1])
        return [value_for(shape.member, rng, depth + 1) for _ in range(n)]
    if t == "map":
        return {hostile_string(rng): value_for(shape.value, rng, depth + 1) for _ in range(rng.randrange(3))}
    if t == "string":
        enum = getattr(shape, "enum", None)
        if enum and rng.random() < 0.6:
            return rng.choice(enum)
        return rng.choice(PLAUSIBLE_STRINGS) if rng.random() < 0.4 else hostile_string(rng)
    if t in ("integer", "long"):
        return rng.choice([-(2**31), -1, 0, 1, 2, 3, 5, 6, 90, 500, 2**31 - 1, 2**40, rng.randrange(-1000, 1000)])
    if t == "boolean":
        return rng.random() < 0.5
    if t == "double" or t == "float":
        return rng.choice([-1.5, 0.0, 1e308, 3.14])
    if t == "timestamp":
        return rng.choice([
            datetime.datetime(1970, 1, 1), datetime.datetime(2026, 1, 1), datetime.datetime(9999, 12, 31),
        ])
    return None


def client(endpoint, key_id, secret, region="us-east-1"):
    return boto3.client(
        "elasticache", endpoint_url=endpoint, region_name=region,
        aws_access_key_id=key_id, aws_secret_access_key=secret,
        config=botocore.config.Config(
            parameter_validation=False, retries={"total_max_attempts": 1},
            connect_timeout=10, read_timeout=60,
        ),
    )


def fuzz(endpoint, key_id, secret, per_action, seed=12):
    """Sends `per_action` generated inputs to every action; returns (counts, problems)."""
    rng = random.Random(seed)
    ec = client(endpoint, key_id, secret)
    model = ec.meta.service_model
    counts = collections.Counter()
    problems = []
    for op_name in model.operation_names:
        op = model.operation_model(op_name)
        method = getattr(ec, botocore.xform_name(op_name))
        for _ in range(per_action):
            params = value_for(op.input_shape, rng) if op.input_shape is not None else {}
            counts["requests"] += 1
            try:
                method(**params)
                counts["2xx"] += 1
            except botocore.exceptions.ClientError as e:
                status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                counts[f"{status // 100}xx"] += 1
                if status >= 500:
                    problems.append((op_name, status, e.response.get("Error", {}), repr(params)[:300]))
            except (botocore.exceptions.ParamValidationError, TypeError, ValueError, OverflowError):
                # The client itself could not serialize the value: nothing was sent.
                counts["not sent"] += 1
            except botocore.exceptions.BotoCoreError as e:
                counts["connection failure"] += 1
                problems.append((op_name, "connection", str(e), repr(params)[:300]))
    return counts, problems

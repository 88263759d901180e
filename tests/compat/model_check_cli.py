"""An AWS CLI plugin (loaded through the config file conftest writes): every answer the CLI receives in the tests is
checked against AWS's model (model_check), and violations are appended to the file CACHEPLANE_MODEL_VIOLATIONS
names, which the tests read after each test."""

import os

import model_check


def _after_call(http_response, model, **_):
    path = os.environ.get("CACHEPLANE_MODEL_VIOLATIONS")
    if not path:
        return
    body = http_response.content.decode("utf-8", errors="replace")
    found = model_check.check(model, http_response.status_code, body)
    with open(path, "a") as f:
        for v in found:
            f.write(f"(aws cli) {v}\n")
    # That an answer was checked at all (so a plugin that is not loaded cannot pass for one that finds nothing).
    with open(path + ".checked", "a") as f:
        f.write(f"{model.name}\n")


def awscli_initialize(events):
    events.register("after-call.elasticache", _after_call)
    events.register("after-call.cloudwatch-logs", _after_call)

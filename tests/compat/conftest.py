"""Shared by the compatibility tests: every answer a boto3 client or the AWS CLI receives is checked against AWS's
model of the operation (model_check); a test during which any answer broke the model fails, naming the violations.
The CLI is given the check as a plugin (model_check_cli) through a config file of its own (AWS_CONFIG_FILE) and
PYTHONPATH."""

import atexit
import os
import shutil
import tempfile

import boto3
import pytest

import model_check

VIOLATIONS = []

_dir = tempfile.mkdtemp(prefix="cacheplane-model-check-")
atexit.register(shutil.rmtree, _dir, ignore_errors=True)
CLI_VIOLATIONS = os.path.join(_dir, "violations")
with open(os.path.join(_dir, "config"), "w") as f:
    f.write("[plugins]\nmodel_check = model_check_cli\n")
os.environ["AWS_CONFIG_FILE"] = os.path.join(_dir, "config")
# AWS CLI v1 imports plugins by module name.
_here = os.path.dirname(os.path.abspath(__file__))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [_here, os.environ.get("PYTHONPATH")]))
os.environ["CACHEPLANE_MODEL_VIOLATIONS"] = CLI_VIOLATIONS


def _after_call(http_response, model, **_):
    body = http_response.content.decode("utf-8", errors="replace")
    for v in model_check.check(model, http_response.status_code, body):
        VIOLATIONS.append(v)


def _record_on(session):
    session.events.register("after-call.elasticache", _after_call)
    session.events.register("after-call.cloudwatch-logs", _after_call)


# boto3.client(...) uses the default session: register before any client is made. (A client's events are copied
# from its session when it is made.)
boto3.setup_default_session()
_record_on(boto3.DEFAULT_SESSION)
_original_session_init = boto3.session.Session.__init__


def _session_init(self, *args, **kwargs):
    _original_session_init(self, *args, **kwargs)
    _record_on(self)


boto3.session.Session.__init__ = _session_init


@pytest.fixture(autouse=True)
def answers_match_the_model():
    """Fails the test if an answer it received does not match the model."""
    VIOLATIONS.clear()
    open(CLI_VIOLATIONS, "w").close()
    yield
    with open(CLI_VIOLATIONS) as f:
        VIOLATIONS.extend(line.strip() for line in f if line.strip())
    found = sorted(set(VIOLATIONS))
    VIOLATIONS.clear()
    assert not found, "answers that do not match AWS's model:\n" + "\n".join(found[:50])

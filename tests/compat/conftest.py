"""Shared by the compatibility tests: every answer a boto3 client receives is checked against AWS's model of the
operation (model_check); a test during which any answer broke the model fails, naming the violations."""

import boto3
import pytest

import model_check

VIOLATIONS = []


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
    yield
    found = sorted(set(VIOLATIONS))
    VIOLATIONS.clear()
    assert not found, "answers that do not match AWS's model:\n" + "\n".join(found[:50])

"""Which Kubernetes API answers are repeated, and how a create answered 5xx stays a single object."""

import pytest
from kubernetes.client.rest import ApiException

from ansible_collections.signalcraft.ops.plugins.module_utils.services import k8s


def test_the_transport_repeats_idempotent_requests_on_transient_statuses_and_a_create_only_on_429():
    retry = k8s.api_retries()
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        assert all(retry.is_retry(method, status) for status in (429, 500, 502, 503, 504)), method
        assert not retry.is_retry(method, 404) and not retry.is_retry(method, 409) and not retry.is_retry(method, 403)
    # API priority and fairness rejects with 429 before processing; a 5xx on a create may come after it was stored.
    assert retry.is_retry("POST", 429) and not retry.is_retry("POST", 500) and not retry.is_retry("POST", 503)
    # Each copy urllib3 makes while counting keeps the rule.
    assert not retry.new(total=3).is_retry("POST", 500) and retry.new(total=3).is_retry("GET", 500)
    assert retry.respect_retry_after_header


def failing(*statuses, result="done"):
    answers = list(statuses)

    def call():
        if answers:
            raise ApiException(status=answers.pop(0), reason="x")
        return result
    return call


def test_create_once_accepts_the_object_a_5xx_create_stored():
    slept = []
    assert k8s.create_once(failing(500, 409), lambda: {"kind": "Job"}, sleep=slept.append) == {"kind": "Job"}
    assert slept == [0.5]
    # A 409 on the first try is someone else's object: not ours to take.
    with pytest.raises(ApiException) as caught:
        k8s.create_once(failing(409), lambda: {"kind": "Job"}, sleep=slept.append)
    assert caught.value.status == 409
    # Not transient: raised at once; transient every time: raised after the attempts.
    with pytest.raises(ApiException):
        k8s.create_once(failing(422), lambda: None, sleep=slept.append)
    with pytest.raises(ApiException):
        k8s.create_once(failing(503, 503, 503, 503), lambda: None, sleep=slept.append)


def test_retry_transient_repeats_only_transient_statuses():
    slept = []
    assert k8s.retry_transient(failing(500, 429), sleep=slept.append) == "done" and slept == [0.5, 1.0]
    with pytest.raises(ApiException) as caught:
        k8s.retry_transient(failing(403), sleep=slept.append)
    assert caught.value.status == 403

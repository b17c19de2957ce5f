import random

import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import RetryPolicy


class FakeHttp:
    def __init__(self, status):
        self.status_code = status


def response(code, status=400):
    return (FakeHttp(status), {"Error": {"Code": code}})


def test_throttling_and_transient_errors_are_retried_with_bounded_jitter():
    policy = RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=3.0, rng=random.Random(7))
    for attempt in (1, 2, 3):
        delay = policy.needs_retry(response=response("SlowDown", 503), attempts=attempt)
        assert 0 <= delay <= min(3.0, 2 ** (attempt - 1))
    assert policy.needs_retry(response=response("SlowDown", 503), attempts=4) is None
    assert policy.retries == 3 and policy.retries_by_code == {"SlowDown": 3}


@pytest.mark.parametrize("code,status,retried", [
    ("ThrottlingException", 400, True), ("RequestLimitExceeded", 503, True), ("InternalError", 500, True),
    ("AccessDenied", 403, False), ("NoSuchKey", 404, False), ("PreconditionFailed", 412, False), ("", 502, True),
])
def test_only_retryable_errors_are_retried(code, status, retried):
    policy = RetryPolicy(max_attempts=3)
    assert (policy.needs_retry(response=response(code, status), attempts=1) is not None) is retried


def test_invalid_attempt_count_is_refused():
    with pytest.raises(ValueError, match="aws_max_attempts"):
        RetryPolicy(max_attempts=0)

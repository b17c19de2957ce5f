"""The client factory's one retry policy, exercised with faults injected by the sandbox."""

import uuid

import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.services import aws


def factory_for(sandbox, **kwargs):
    return aws.AwsClientFactory(region=sandbox["AWS_DEFAULT_REGION"], endpoint_url=sandbox["AWS_ENDPOINT_URL"],
                                access_key="testing", secret_key="testing", **kwargs)


def test_throttling_on_a_fifth_of_calls_still_writes_every_object_once(clean_faults):
    sandbox = clean_faults
    sandbox.control("aws", "faults", {"seed": 7, "rules": [{"service": "s3", "operation": "PutObject", "fraction": 0.2, "error": "slowdown"}]})
    factory = factory_for(sandbox, retry_policy=aws.RetryPolicy(max_attempts=10, base_delay=0.01, max_delay=0.05))
    s3 = factory.client("s3")
    prefix = "tests/retry/%s/" % uuid.uuid4().hex
    bucket = sandbox["SANDBOX_ARTIFACT_BUCKET"]
    for index in range(40):
        s3.put_object(Bucket=bucket, Key="%s%02d" % (prefix, index), Body=b"x")
    injected = sandbox.control("aws", "faults")["injected"].get("s3:PutObject", 0)
    assert injected > 0
    assert factory.retries == injected
    listed = sandbox.boto3_client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
    assert sorted(o["Key"] for o in listed["Contents"]) == ["%s%02d" % (prefix, i) for i in range(40)]


def test_retries_stop_at_the_attempt_limit(clean_faults):
    sandbox = clean_faults
    sandbox.control("aws", "faults", {"rules": [{"service": "sts", "operation": "*", "fraction": 1.0, "error": "throttle"}]})
    factory = factory_for(sandbox, retry_policy=aws.RetryPolicy(max_attempts=3, base_delay=0.01))
    with pytest.raises(aws.ClientError) as info:
        factory.caller_identity()
    assert aws.is_throttling(info.value)
    assert factory.retries == 2


def test_caller_identity_and_missing_region(sandbox):
    assert factory_for(sandbox).caller_identity()["account"] == sandbox["SANDBOX_ACCOUNT_ID"]
    with pytest.raises(ValueError, match="region"):
        aws.AwsClientFactory(region=None, profile=None, endpoint_url=sandbox["AWS_ENDPOINT_URL"],
                             access_key="testing", secret_key="testing").client("s3")

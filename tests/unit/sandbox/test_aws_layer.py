"""Tests of the sandbox AWS layer: a real server subprocess, read back with boto3."""

import json
import os
import re
import sys
import threading
import time

import pytest

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

boto3 = pytest.importorskip("boto3")
from botocore.config import Config  # noqa: E402  pylint: disable=wrong-import-position
from botocore.exceptions import ClientError  # noqa: E402  pylint: disable=wrong-import-position

from tests.sandbox.aws_layer import jobintel  # noqa: E402  pylint: disable=wrong-import-position
from tests.sandbox.aws_layer.classify import classify  # noqa: E402  pylint: disable=wrong-import-position
from tests.sandbox.aws_layer.process import SandboxEndpoint  # noqa: E402  pylint: disable=wrong-import-position
from tests.sandbox.seed import compute  # noqa: E402  pylint: disable=wrong-import-position

# "total_max_attempts" is botocore's unambiguous spelling: 1 attempt in all, no retry (with
# "max_attempts" the meaning differs between the legacy and standard retry modes).
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})
BUCKET = "layer-test-bucket"
OUTBOX_BUCKET = "layer-test-outbox"


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    """One layer process for the module."""
    with SandboxEndpoint(tmp_path_factory.mktemp("aws-layer")) as running:
        yield running


@pytest.fixture(scope="module")
def client(endpoint):
    """``client("s3")`` -> boto3 client without retries, bound to the layer."""
    def make(service):
        return boto3.client(service, endpoint_url=endpoint.url, region_name="us-east-1", aws_access_key_id="testing",
                            aws_secret_access_key="testing", config=NO_RETRIES)
    s3 = make("s3")
    for name in (BUCKET, OUTBOX_BUCKET):
        s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=OUTBOX_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return make


@pytest.fixture(autouse=True)
def clean_faults(request):
    """No rule leaks from one test into the next."""
    yield
    if "endpoint" in request.fixturenames:
        request.getfixturevalue("endpoint").control("DELETE", "/_sandbox/faults")


def set_faults(endpoint, *rules, seed=42):
    """POST the rules; fails the test on a rejected configuration."""
    status, body = endpoint.control("POST", "/_sandbox/faults", {"seed": seed, "rules": list(rules)})
    assert status == 200, body
    return body


def error_of(call):
    """``(code, HTTP status)`` of the ClientError that ``call()`` raises."""
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_ready_file_and_health(endpoint):
    """The ready file names the real port; health answers."""
    assert endpoint.ready["port"] > 0 and endpoint.ready["pid"] == endpoint.process.pid
    assert endpoint.ready["url"] == "http://127.0.0.1:%d" % endpoint.ready["port"]
    assert endpoint.control("GET", "/_sandbox/health") == (200, {"ok": True})


def test_moto_account_id(client):
    """MOTO_ACCOUNT_ID was set before moto was imported."""
    assert client("sts").get_caller_identity()["Account"] == "111122223333"


def test_step_functions_execute(client):
    """Execution was switched on at startup: a Pass machine really runs and returns its output."""
    sfn = client("stepfunctions")
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "Result": {"gate": "open"}, "End": True}}}
    machine = sfn.create_state_machine(name="layer-test-gate", definition=json.dumps(definition),
                                       roleArn="arn:aws:iam::111122223333:role/sfn")["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    for _attempt in range(50):
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            break
        time.sleep(0.1)
    assert described["status"] == "SUCCEEDED" and json.loads(described["output"]) == {"gate": "open"}


_CALLS = {
    "s3": lambda c: c.list_objects_v2(Bucket=BUCKET),
    "ecs": lambda c: c.list_clusters(),
    "ecr": lambda c: c.describe_repositories(),
    "stepfunctions": lambda c: c.list_state_machines(),
    "sts": lambda c: c.get_caller_identity(),
    "ec2": lambda c: c.describe_vpcs(),
}


@pytest.mark.parametrize("client_name,rule_service,kind,code,status", [
    ("s3", "s3", "throttle", "SlowDown", 503),
    ("s3", "s3", "slowdown", "SlowDown", 503),
    ("s3", "s3", "500", "InternalError", 500),
    ("s3", "s3", "503", "ServiceUnavailable", 503),
    ("ecs", "ecs", "throttle", "ThrottlingException", 400),
    ("ecs", "ecs", "500", "InternalFailure", 500),
    ("ecr", "ecr", "throttle", "ThrottlingException", 400),
    ("stepfunctions", "states", "throttle", "ThrottlingException", 400),
    ("stepfunctions", "states", "503", "ServiceUnavailable", 503),
    ("sts", "sts", "throttle", "Throttling", 400),
    ("sts", "sts", "500", "InternalFailure", 500),
    ("ec2", "ec2", "throttle", "RequestLimitExceeded", 503),
    ("ec2", "ec2", "500", "InternalError", 500),
    ("ec2", "*", "503", "Unavailable", 503),
])
def test_fault_parsed_by_botocore(endpoint, client, client_name, rule_service, kind, code, status):  # pylint: disable=too-many-arguments
    """Each injected error is parsed by botocore as the real service's error code."""
    call = _CALLS[client_name]
    set_faults(endpoint, {"service": rule_service, "error": kind})
    assert error_of(lambda: call(client(client_name))) == (code, status)
    endpoint.control("DELETE", "/_sandbox/faults")
    call(client(client_name))


def test_latency_fault_delays_then_succeeds(endpoint, client):
    """``latency`` lets the call through after the delay and is logged as injected."""
    set_faults(endpoint, {"service": "s3", "operation": "HeadBucket", "error": "latency", "latency_ms": 250})
    started = time.monotonic()
    client("s3").head_bucket(Bucket=BUCKET)
    assert time.monotonic() - started >= 0.25
    _status, log = endpoint.control("GET", "/_sandbox/requests?operation=HeadBucket&limit=1")
    assert log[0]["injected"] is True and log[0]["status"] == 200 and log[0]["fault"] == "latency"


def test_skip_first_and_count(endpoint, client):
    """'Fail every PutObject after the 3rd', capped at two failures."""
    set_faults(endpoint, {"service": "s3", "operation": "PutObject", "error": "slowdown", "skip_first": 3, "count": 2})
    s3 = client("s3")
    outcomes = []
    for index in range(6):
        try:
            s3.put_object(Bucket=BUCKET, Key="skip/%d" % index, Body=b"x")
            outcomes.append("ok")
        except ClientError as exc:
            outcomes.append(exc.response["Error"]["Code"])
    assert outcomes == ["ok", "ok", "ok", "SlowDown", "SlowDown", "ok"]
    _status, state = endpoint.control("GET", "/_sandbox/faults")
    assert state["injected"] == {"s3:PutObject": 2}
    assert state["rules"][0]["matched"] == 6 and state["rules"][0]["injected"] == 2


def _injection_pattern(endpoint, s3, seed):
    set_faults(endpoint, {"service": "s3", "operation": "PutObject", "key_prefix": "flaky/", "fraction": 0.5, "error": "500"}, seed=seed)
    pattern = []
    for index in range(12):
        try:
            s3.put_object(Bucket=BUCKET, Key="flaky/%d" % index, Body=b"x")
            pattern.append(0)
        except ClientError:
            pattern.append(1)
    s3.put_object(Bucket=BUCKET, Key="steady/key", Body=b"x")  # outside key_prefix: never injected
    return pattern


def test_fraction_is_seeded_and_key_prefix_scoped(endpoint, client):
    """The same seed gives the same injection sequence; other keys are untouched."""
    first = _injection_pattern(endpoint, client("s3"), seed=7)
    assert first == _injection_pattern(endpoint, client("s3"), seed=7)
    assert 0 < sum(first) < len(first)


def test_bad_fault_config_rejected(endpoint):
    """Unknown error kinds and fields are a 400, and the old rules stay."""
    assert endpoint.control("POST", "/_sandbox/faults", {"rules": [{"error": "explode"}]})[0] == 400
    assert endpoint.control("POST", "/_sandbox/faults", {"rules": [{"colour": "red"}]})[0] == 400
    assert endpoint.control("GET", "/_sandbox/faults")[1]["rules"] == []


def test_request_log_filters_and_clear(endpoint, client):
    """The log records service/operation/bucket/key/status and can be filtered and cleared."""
    s3 = client("s3")
    endpoint.control("DELETE", "/_sandbox/requests")
    s3.put_object(Bucket=BUCKET, Key="log/a", Body=b"a")
    s3.put_object(Bucket=BUCKET, Key="log/b", Body=b"b")
    s3.get_object(Bucket=BUCKET, Key="log/a")
    _status, puts = endpoint.control("GET", "/_sandbox/requests?service=s3&operation=PutObject")
    assert [(e["bucket"], e["key"], e["status"], e["injected"]) for e in puts] == [
        (BUCKET, "log/a", 200, False), (BUCKET, "log/b", 200, False)]
    assert all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$", e["ts"]) for e in puts)
    _status, prefixed = endpoint.control("GET", "/_sandbox/requests?key_prefix=log/a")
    assert [e["operation"] for e in prefixed] == ["PutObject", "GetObject"]
    endpoint.control("DELETE", "/_sandbox/requests")
    assert endpoint.control("GET", "/_sandbox/requests")[1] == []


def _s3_operation_calls(s3):
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="ops/mpu")["UploadId"]
    part = s3.upload_part(Bucket=BUCKET, Key="ops/mpu", UploadId=upload, PartNumber=1, Body=b"p")
    aborted = s3.create_multipart_upload(Bucket=BUCKET, Key="ops/aborted")["UploadId"]
    return [
        ("PutObject", lambda: s3.put_object(Bucket=BUCKET, Key="ops/a", Body=b"a")),
        ("HeadObject", lambda: s3.head_object(Bucket=BUCKET, Key="ops/a")),
        ("GetObject", lambda: s3.get_object(Bucket=BUCKET, Key="ops/a")),
        ("CopyObject", lambda: s3.copy_object(Bucket=BUCKET, Key="ops/b", CopySource={"Bucket": BUCKET, "Key": "ops/a"})),
        ("UploadPart", lambda: s3.upload_part(Bucket=BUCKET, Key="ops/mpu", UploadId=upload, PartNumber=2, Body=b"q")),
        ("CompleteMultipartUpload", lambda: s3.complete_multipart_upload(
            Bucket=BUCKET, Key="ops/mpu", UploadId=upload, MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]})),
        ("AbortMultipartUpload", lambda: s3.abort_multipart_upload(Bucket=BUCKET, Key="ops/aborted", UploadId=aborted)),
        ("ListObjectsV2", lambda: s3.list_objects_v2(Bucket=BUCKET, Prefix="ops/")),
        ("ListObjects", lambda: s3.list_objects(Bucket=BUCKET, Prefix="ops/")),
        ("ListObjectVersions", lambda: s3.list_object_versions(Bucket=BUCKET, Prefix="ops/")),
        ("HeadBucket", lambda: s3.head_bucket(Bucket=BUCKET)),
        ("GetBucketVersioning", lambda: s3.get_bucket_versioning(Bucket=BUCKET)),
        ("GetBucketLifecycleConfiguration", lambda: s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)),
        ("GetPublicAccessBlock", lambda: s3.get_public_access_block(Bucket=BUCKET)),
        ("GetBucketEncryption", lambda: s3.get_bucket_encryption(Bucket=BUCKET)),
        ("GetBucketReplication", lambda: s3.get_bucket_replication(Bucket=BUCKET)),
        ("GetObjectLegalHold", lambda: s3.get_object_legal_hold(Bucket=BUCKET, Key="ops/a")),
        ("RestoreObject", lambda: s3.restore_object(Bucket=BUCKET, Key="ops/a", RestoreRequest={"Days": 1})),
        ("DeleteObject", lambda: s3.delete_object(Bucket=BUCKET, Key="ops/b")),
        ("DeleteObjects", lambda: s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "ops/a"}]})),
    ]


def test_s3_operation_names(endpoint, client):
    """S3 REST requests are named like the API operations (errors from moto are logged too)."""
    calls = _s3_operation_calls(client("s3"))
    endpoint.control("DELETE", "/_sandbox/requests")
    for _name, call in calls:
        try:
            call()
        except ClientError:
            pass  # e.g. no lifecycle configuration: the request is still named and logged
    _status, log = endpoint.control("GET", "/_sandbox/requests?service=s3")
    assert [entry["operation"] for entry in log] == [name for name, _call in calls]


@pytest.mark.parametrize("environ,expected", [
    ({"REQUEST_METHOD": "PUT", "PATH_INFO": "/b/k", "QUERY_STRING": "legal-hold"}, ("s3", "PutObjectLegalHold", "b", "k")),
    ({"REQUEST_METHOD": "PUT", "PATH_INFO": "/b", "QUERY_STRING": "lifecycle"}, ("s3", "PutBucketLifecycleConfiguration", "b", None)),
    ({"REQUEST_METHOD": "DELETE", "PATH_INFO": "/b", "QUERY_STRING": "lifecycle"}, ("s3", "DeleteBucketLifecycle", "b", None)),
    ({"REQUEST_METHOD": "PUT", "PATH_INFO": "/b", "QUERY_STRING": "replication"}, ("s3", "PutBucketReplication", "b", None)),
    ({"REQUEST_METHOD": "GET", "PATH_INFO": "/k/x", "HTTP_HOST": "bkt.s3.us-east-1.amazonaws.com"}, ("s3", "GetObject", "bkt", "k/x")),
    ({"REQUEST_METHOD": "POST", "PATH_INFO": "/", "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/sts/aws4_request, "
      "SignedHeaders=host", "CONTENT_TYPE": "application/x-www-form-urlencoded"}, ("sts", "GetCallerIdentity", None, None)),
])
def test_classify_without_server(environ, expected):
    """Naming of requests that the live tests do not make."""
    body = b"Action=GetCallerIdentity&Version=2011-06-15" if environ.get("CONTENT_TYPE") else b""
    info = classify(environ, body)
    assert (info.service, info.operation, info.bucket, info.key) == expected


def test_delete_objects_limit(client):
    """More than 1,000 keys is MalformedXML (as in real S3); exactly 1,000 works."""
    s3 = client("s3")
    keys = [{"Key": "bulk/%04d" % i} for i in range(1001)]
    assert error_of(lambda: s3.delete_objects(Bucket=BUCKET, Delete={"Objects": keys, "Quiet": True})) == ("MalformedXML", 400)
    assert "Errors" not in s3.delete_objects(Bucket=BUCKET, Delete={"Objects": keys[:1000], "Quiet": True})


def test_conditional_put_object(client):
    """If-Match moves the object; a stale ETag is 412; a missing key is 404; If-None-Match * is 412."""
    s3 = client("s3")
    first = s3.put_object(Bucket=BUCKET, Key="cas/pointer", Body=b"v1")["ETag"]
    second = s3.put_object(Bucket=BUCKET, Key="cas/pointer", Body=b"v2", IfMatch=first)["ETag"]
    assert s3.get_object(Bucket=BUCKET, Key="cas/pointer")["Body"].read() == b"v2"
    assert error_of(lambda: s3.put_object(Bucket=BUCKET, Key="cas/pointer", Body=b"v3", IfMatch=first)) == ("PreconditionFailed", 412)
    assert error_of(lambda: s3.put_object(Bucket=BUCKET, Key="cas/pointer", Body=b"v3", IfNoneMatch="*")) == ("PreconditionFailed", 412)
    assert error_of(lambda: s3.put_object(Bucket=BUCKET, Key="cas/absent", Body=b"v", IfMatch=second)) == ("NoSuchKey", 404)
    s3.put_object(Bucket=BUCKET, Key="cas/new", Body=b"v", IfNoneMatch="*")


def test_conditional_complete_multipart_upload(client):
    """moto ignores If-Match on CompleteMultipartUpload; the layer enforces it."""
    s3 = client("s3")
    current = s3.put_object(Bucket=BUCKET, Key="cas/mpu", Body=b"v1")["ETag"]
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="cas/mpu")["UploadId"]
    part = s3.upload_part(Bucket=BUCKET, Key="cas/mpu", UploadId=upload, PartNumber=1, Body=b"v2")
    parts = {"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]}
    assert error_of(lambda: s3.complete_multipart_upload(
        Bucket=BUCKET, Key="cas/mpu", UploadId=upload, MultipartUpload=parts, IfMatch='"0000"')) == ("PreconditionFailed", 412)
    s3.complete_multipart_upload(Bucket=BUCKET, Key="cas/mpu", UploadId=upload, MultipartUpload=parts, IfMatch=current)
    assert s3.get_object(Bucket=BUCKET, Key="cas/mpu")["Body"].read() == b"v2"


def _race(s3_clients, expected_etag):
    """All clients PutObject cas/race with the same If-Match at once; returns [(outcome, index)]."""
    results, barrier = [], threading.Barrier(len(s3_clients))

    def write(s3, index):
        barrier.wait()
        try:
            s3.put_object(Bucket=BUCKET, Key="cas/race", Body=b"writer-%d" % index, IfMatch=expected_etag)
            results.append(("won", index))
        except ClientError as exc:
            results.append((exc.response["Error"]["Code"], index))

    threads = [threading.Thread(target=write, args=(s3, index)) for index, s3 in enumerate(s3_clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_concurrent_cas_writers_one_wins(client):
    """Writers racing with the same If-Match: exactly one succeeds, the rest get 412."""
    for round_number in range(3):
        etag = client("s3").put_object(Bucket=BUCKET, Key="cas/race", Body=b"base-%d" % round_number)["ETag"]
        results = _race([client("s3") for _writer in range(6)], etag)
        winners = [index for outcome, index in results if outcome == "won"]
        assert len(winners) == 1 and sorted(outcome for outcome, _index in results if outcome != "won") == ["PreconditionFailed"] * 5
        assert client("s3").get_object(Bucket=BUCKET, Key="cas/race")["Body"].read() == b"writer-%d" % winners[0]


@pytest.fixture(scope="module")
def ecs_setup(client):
    """Cluster, network and a task definition whose container writes to OUTBOX_BUCKET with no prefix."""
    ecs = client("ecs")
    network = compute.ensure_network(client("ec2"), "us-east-1")
    ecs.create_cluster(clusterName="layer-test")
    ecs.register_task_definition(
        family="layer-test", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "app", "image": "111122223333.dkr.ecr.us-east-1.amazonaws.com/jobintel@sha256:" + "ab" * 32,
                               "memory": 512, "environment": [{"name": "JOBINTEL_S3_BUCKET", "value": OUTBOX_BUCKET},
                                                              {"name": "JOBINTEL_PROVIDERS", "value": "openai,anthropic"}]}])
    return {"ecs": ecs, "s3": client("s3"), "network": {"awsvpcConfiguration": {
        "subnets": network["subnets"], "securityGroups": network["security_groups"]}}}


def run_task(setup, **env):
    """RunTask with environment overrides; returns the task ARN."""
    response = setup["ecs"].run_task(
        cluster="layer-test", taskDefinition="layer-test", launchType="FARGATE", networkConfiguration=setup["network"],
        overrides={"containerOverrides": [{"name": "app", "environment": [{"name": k, "value": v} for k, v in env.items()]}]})
    task = response["tasks"][0]
    assert all("exitCode" not in container for container in task["containers"])
    return task["taskArn"]


def wait_stopped(setup, arn):
    """DescribeTasks until STOPPED (moto needs four calls); returns the task."""
    for _attempt in range(10):
        task = setup["ecs"].describe_tasks(cluster="layer-test", tasks=[arn])["tasks"][0]
        if task["lastStatus"] == "STOPPED":
            return task
        assert all("exitCode" not in container for container in task["containers"])
    raise AssertionError("task never stopped")


def outbox(setup, run_id):
    """``{relative path: parsed or raw content}`` of a run's outbox (no prefix configured)."""
    s3 = setup["s3"]
    listing = s3.list_object_versions(Bucket=OUTBOX_BUCKET, Prefix="outbox/%s/" % run_id).get("Versions", [])
    files = {}
    for version in listing:
        relative = version["Key"][len("outbox/%s/" % run_id):]
        assert relative not in files, "artifact written more than once: " + relative
        body = s3.get_object(Bucket=OUTBOX_BUCKET, Key=version["Key"])["Body"].read()
        files[relative] = json.loads(body) if relative.endswith(".json") else body
    return files


def test_ecs_success_writes_artifacts_once(endpoint, ecs_setup):
    """Exit code 0, EssentialContainerExited, artifacts (run id from start time + task id) written once."""
    arn = run_task(ecs_setup, JOBINTEL_GIT_SHA="abc123")
    task = wait_stopped(ecs_setup, arn)
    assert task["containers"][0]["exitCode"] == 0 and task["stopCode"] == "EssentialContainerExited"
    assert task["stoppedReason"] == "Essential container in task exited" and task["desiredStatus"] == "STOPPED"
    wait_stopped(ecs_setup, arn)  # seen STOPPED again: nothing is rewritten
    _status, tasks = endpoint.control("GET", "/_sandbox/ecs-tasks")
    run_id = next(t["run_id"] for t in tasks if t["task_arn"] == arn)
    assert re.match(r"^\d{8}T\d{6}Z-%s$" % arn.rsplit("/", 1)[1][:8], run_id)
    files = outbox(ecs_setup, run_id)
    summary = files["run_summary.v1.json"]
    assert summary["status"] == "success" and summary["ecs_task_arn"] == arn and summary["git_sha"] == "abc123"
    assert summary["image"].endswith("@sha256:" + "ab" * 32) and summary["providers"] == ["openai", "anthropic"]
    assert files["run_health.v1.json"]["status"] == "healthy"
    assert {"openai/cs/ranked_jobs.openai.cs.json", "openai/cs/ranked_jobs.openai.cs.csv", "anthropic/cs/shortlist.anthropic.cs.md"} <= set(files)


def test_ecs_forced_failure_is_fail_closed(ecs_setup):
    """A forced early failure: exit 1, failed health, every provider unavailable, no profile outputs."""
    arn = run_task(ecs_setup, JOBINTEL_FORCE_FAIL_STAGE="scrape", JOBINTEL_RUN_ID="forced-scrape", JOBINTEL_PROVIDERS_DISABLED="anthropic")
    assert wait_stopped(ecs_setup, arn)["containers"][0]["exitCode"] == 1
    files = outbox(ecs_setup, "forced-scrape")
    assert set(files) == {jobintel.SUMMARY_FILE, jobintel.HEALTH_FILE, jobintel.AVAILABILITY_FILE}
    health = files[jobintel.HEALTH_FILE]
    assert health["status"] == "failed" and health["failed_stage"] == "scrape" and "FORCED_FAILURE" in health["failure_codes"]
    assert health["stages"] == {"startup": "ok", "scrape": "failed", "classify": "skipped", "score": "skipped", "publish": "skipped"}
    assert files[jobintel.AVAILABILITY_FILE]["providers"] == [
        {"provider": "openai", "enabled": True, "availability": "unavailable", "reason_code": "early_failure_unknown"},
        {"provider": "anthropic", "enabled": False, "availability": "unavailable", "reason_code": "not_enabled"}]
    assert files[jobintel.SUMMARY_FILE]["status"] == "failed"


def test_ecs_explicit_exit_code_and_reason(ecs_setup):
    """SANDBOX_EXIT_CODE and SANDBOX_STOP_REASON are reported verbatim."""
    arn = run_task(ecs_setup, SANDBOX_EXIT_CODE="137", SANDBOX_STOP_REASON="OutOfMemoryError: Container killed due to memory usage")
    task = wait_stopped(ecs_setup, arn)
    assert task["containers"][0]["exitCode"] == 137
    assert task["stoppedReason"] == "OutOfMemoryError: Container killed due to memory usage"


def test_ecs_stop_task_is_user_initiated(endpoint, ecs_setup):
    """StopTask: exit 143, stopCode UserInitiated, the killed container writes nothing."""
    arn = run_task(ecs_setup)
    ecs_setup["ecs"].stop_task(cluster="layer-test", task=arn, reason="operator abort")
    task = wait_stopped(ecs_setup, arn)
    assert (task["stopCode"], task["stoppedReason"], task["containers"][0]["exitCode"]) == ("UserInitiated", "operator abort", 143)
    _status, tasks = endpoint.control("GET", "/_sandbox/ecs-tasks")
    assert next(t for t in tasks if t["task_arn"] == arn)["artifacts"] is None


def test_ecs_task_metadata_endpoint(endpoint, ecs_setup):
    """``$ECS_CONTAINER_METADATA_URI_V4/task`` shape for tasks started through the layer."""
    arn = run_task(ecs_setup)
    _status, tasks = endpoint.control("GET", "/_sandbox/ecs-tasks")
    uri = next(t["metadata_uri"] for t in tasks if t["task_arn"] == arn)
    assert uri == endpoint.url + "/_sandbox/ecs-task-metadata/" + arn.rsplit("/", 1)[1]
    status, document = endpoint.control("GET", uri[len(endpoint.url):] + "/task")
    assert status == 200 and document["TaskARN"] == arn and document["Family"] == "layer-test" and document["Revision"] == "1"
    assert document["Cluster"].endswith(":cluster/layer-test")
    assert document["Containers"][0]["Name"] == "app" and document["Containers"][0]["ImageID"] == "sha256:" + "ab" * 32
    assert endpoint.control("GET", uri[len(endpoint.url):])[1]["Labels"]["com.amazonaws.ecs.task-arn"] == arn
    assert endpoint.control("GET", "/_sandbox/ecs-task-metadata/nope/task")[0] == 404


def _spec(**changes):
    base = {"run_id": "r1", "started_at": "2026-01-01T06:00:00Z", "finished_at": "2026-01-01T06:01:00Z",
            "providers": ("openai", "anthropic", "google")}
    base.update(changes)
    return jobintel.RunSpec(**base)


def test_degraded_and_late_failure_documents():
    """Provider outcomes degrade a successful run; a late failure keeps them (not fail-closed)."""
    outcomes = jobintel.parse_outcomes("anthropic=policy_snapshot,google=network")
    files = jobintel.run_files(_spec(provider_outcomes=outcomes))
    health = json.loads(files[jobintel.HEALTH_FILE])
    assert (health["status"], health["failure_codes"]) == ("degraded", ["network", "policy_snapshot"])
    assert "openai/cs/shortlist.openai.cs.md" in files and not any(path.startswith("anthropic/") for path in files)
    late = json.loads(jobintel.run_files(_spec(provider_outcomes=outcomes, failed_stage="publish"))[jobintel.AVAILABILITY_FILE])
    assert [row["reason_code"] for row in late["providers"]] == [None, "policy_snapshot", "network"]


def test_sigterm_stops_cleanly(tmp_path):
    """SIGTERM: exit status 0 and the ready file is gone."""
    second = SandboxEndpoint(tmp_path).start()
    assert second.control("GET", "/_sandbox/health")[0] == 200
    assert second.stop() == 0
    assert not os.path.exists(second.ready_file)

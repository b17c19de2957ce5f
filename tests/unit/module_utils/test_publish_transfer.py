"""module_utils s3_transfer, run_publish, run_pointers and provenance against the sandbox's S3 and ECS.

The edge cases live here (fast, no ansible-playbook): throttling on 20% of S3 calls, refusals before
any write, conflicts, checksum verification, DeleteObjects batching, provenance from the ECS task
metadata endpoint, and every verify_ops reason token. State is read back with boto3 and the
sandbox request log.
"""

import json
import os
from collections import Counter

import pytest
from botocore.exceptions import ClientError

from ansible_collections.signalcraft.ops.plugins.module_utils.services import aws
from ansible_collections.signalcraft.ops.plugins.module_utils.services import pointers
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import provenance
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import run_pointers
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import publish as run_publish
from ansible_collections.signalcraft.ops.plugins.module_utils.services import s3 as s3_transfer
from tests.integration.publish_support import (extra_files, log_mark, make_run, new_prefix, put_files, read_json,
                                               requests_since, seed_copy, sha256_b64, write_dir, writes_since)

RUN = "20260301T060000Z"


@pytest.fixture
def factory(sandbox):
    return aws.AwsClientFactory(region=sandbox["AWS_DEFAULT_REGION"], endpoint_url=sandbox["AWS_ENDPOINT_URL"],
                                access_key="testing", secret_key="testing")


@pytest.fixture
def bucket(sandbox):
    return sandbox["SANDBOX_ARTIFACT_BUCKET"]


def params(bucket, prefix, **extra):
    values = {"publish_enabled": True, "bucket": bucket, "prefix": prefix, "concurrency": 8}
    values.update(extra)
    return values


# -- refusals before any write ----------------------------------------------------------------
@pytest.mark.parametrize("changes, reason", [
    ({"publish_enabled": False}, "publish_disabled"),
    ({"bucket": ""}, "bucket_unset"),
    ({"bucket": "REPLACE_WITH_PROD_ARTIFACT_BUCKET"}, "inventory_placeholder"),
    ({"bucket": "Not_A_Bucket"}, "bucket_invalid"),
    ({"prefix": "/jobintel"}, "invalid_prefix"),
    ({"prefix": "a/../b"}, "invalid_prefix"),
    ({"run_id": "2026/01"}, "run_id_invalid"),
    ({"run_dir": "/nonexistent/run"}, "run_dir_missing"),
    ({"providers": ["OpenAI"]}, "invalid_name"),
])
def test_bad_inputs_are_refused_without_any_aws_call(sandbox, clean_faults, bucket, changes, reason):
    mark = log_mark(sandbox)
    with pytest.raises(run_publish.PublishError) as refused:
        run_publish.validate(dict(params(bucket, "jobintel", run_dir="/tmp"), **changes))
    assert refused.value.reason == reason
    assert requests_since(sandbox, mark) == []


def test_disabled_publish_names_the_switch_and_writes_nothing(sandbox, clean_faults, factory, bucket, tmp_path):
    prefix = new_prefix("u-disabled")
    run_dir = write_dir(tmp_path / "run", make_run(RUN))
    mark = log_mark(sandbox)
    with pytest.raises(run_publish.PublishError) as refused:
        run_publish.Publisher(factory.client("s3"), params(bucket, prefix, run_dir=run_dir, publish_enabled=False)).run()
    assert refused.value.reason == "publish_disabled" and "publish_enabled" in refused.value.message
    assert requests_since(sandbox, mark) == [], [(e.get("service"), e.get("operation"), e.get("seq")) for e in requests_since(sandbox, mark)]


def test_a_run_directory_without_run_health_is_refused(sandbox, clean_faults, factory, bucket, tmp_path):
    files = make_run(RUN)
    del files["run_health.v1.json"]
    prefix = new_prefix("u-nohealth")
    mark = log_mark(sandbox)
    with pytest.raises(run_publish.PublishError) as refused:
        run_publish.Publisher(factory.client("s3"), params(bucket, prefix, run_dir=write_dir(tmp_path / "run", files))).run()
    assert refused.value.reason == "run_health_missing"
    assert writes_since(sandbox, mark, bucket, prefix.split("/")[0]) == []


def test_run_id_must_match_the_run_summary(sandbox, factory, bucket, tmp_path):
    with pytest.raises(run_publish.PublishError) as refused:
        run_publish.Publisher(factory.client("s3"), params(bucket, new_prefix("u-mismatch"), run_id="20990101T000000Z",
                                                           run_dir=write_dir(tmp_path / "run", make_run(RUN)))).run()
    assert refused.value.reason == "run_id_mismatch"


# -- concurrency, retries, idempotence --------------------------------------------------------
def test_twenty_percent_throttling_still_writes_every_object_exactly_once(sandbox, clean_faults, factory, bucket, tmp_path):
    prefix = new_prefix("u-throttle")
    seed_copy(sandbox.boto3_client("s3"), bucket, prefix)
    files = make_run(RUN)
    files.update(extra_files(60, seed="unit-throttle"))
    run_dir = write_dir(tmp_path / "run", files)
    sandbox.control("aws", "faults", {"seed": 5, "rules": [{"service": "s3", "operation": "*", "fraction": 0.2, "error": "throttle"}]})
    mark = log_mark(sandbox)
    result = run_publish.Publisher(factory.client("s3"), params(bucket, prefix, run_dir=run_dir, concurrency=16)).run()
    injected = sandbox.control("aws", "faults")["injected"]
    sandbox.clear_faults()
    assert sum(injected.values()) >= 20 and factory.retries >= sum(injected.values())
    run_keys = "%s/runs/%s/" % (prefix, RUN)
    entries = requests_since(sandbox, mark, service="s3", bucket=bucket)
    puts = Counter(e["key"] for e in entries if e["operation"] == "PutObject" and e["status"] == 200 and e["key"].startswith(run_keys))
    assert puts == Counter(run_keys + rel for rel in files)
    assert any(e["injected"] and e["operation"] == "PutObject" for e in entries)
    s3 = sandbox.boto3_client("s3")
    for rel, data in files.items():
        assert s3.head_object(Bucket=bucket, Key=run_keys + rel, ChecksumMode="ENABLED")["ChecksumSHA256"] == sha256_b64(data)
    assert result["pointers_moved"] and read_json(s3, bucket, "%s/state/last_success.json" % prefix)["run_id"] == RUN


def test_outbox_copies_are_server_side_verified_and_idempotent(sandbox, clean_faults, factory, bucket):
    s3 = sandbox.boto3_client("s3")
    prefix = new_prefix("u-outbox")
    files = make_run(RUN)
    files.update(extra_files(5, seed="outbox"))
    put_files(s3, bucket, "%s/outbox/%s" % (prefix, RUN), files)
    mark = log_mark(sandbox)
    first = run_publish.Publisher(factory.client("s3"), params(bucket, prefix, run_id=RUN)).run()  # default: <prefix>/outbox/<run_id>/
    assert first["copied_count"] == len(files) and first["uploaded_count"] == 0 and first["changed"]
    ops = Counter(e["operation"] for e in writes_since(sandbox, mark, bucket, prefix))
    assert ops["CopyObject"] == len(files) + 3 and ops["PutObject"] == 2  # run + latest/ copies; the two pointers
    mark = log_mark(sandbox)
    second = run_publish.Publisher(factory.client("s3"), params(bucket, prefix, run_id=RUN)).run()
    assert second["changed"] is False and second["skipped_count"] == len(files)
    assert writes_since(sandbox, mark, bucket, prefix) == []


def test_different_content_under_a_published_run_is_a_conflict(sandbox, clean_faults, factory, bucket, tmp_path):
    s3 = sandbox.boto3_client("s3")
    prefix = new_prefix("u-conflict")
    files = make_run(RUN)
    run_publish.Publisher(factory.client("s3"), params(bucket, prefix, run_dir=write_dir(tmp_path / "a", files))).run()
    files["openai/cs/shortlist.openai.cs.md"] = b"rewritten\n"
    mark = log_mark(sandbox)
    with pytest.raises(run_publish.PublishError) as refused:
        run_publish.Publisher(factory.client("s3"), params(bucket, prefix, run_dir=write_dir(tmp_path / "b", files))).run()
    assert refused.value.reason == "run_object_conflict"
    assert writes_since(sandbox, mark, bucket, prefix) == []
    replaced = run_publish.Publisher(factory.client("s3"), params(bucket, prefix, run_dir=str(tmp_path / "b"), replace_changed=True)).run()
    assert replaced["uploaded"] == ["%s/runs/%s/openai/cs/shortlist.openai.cs.md" % (prefix, RUN)]
    assert s3.get_object(Bucket=bucket, Key="%s/latest/openai/cs/shortlist.openai.cs.md" % prefix)["Body"].read() == b"rewritten\n"


def test_an_older_run_does_not_rewind_the_pointers(sandbox, clean_faults, factory, bucket, tmp_path):
    s3 = sandbox.boto3_client("s3")
    prefix = new_prefix("u-rewind")
    seed_copy(s3, bucket, prefix)  # pointers at 20260101T060000Z
    older = "20251231T060000Z"
    result = run_publish.Publisher(factory.client("s3"), params(bucket, prefix, run_dir=write_dir(tmp_path / "old", make_run(older)))).run()
    assert [p["action"] for p in result["pointers"]] == ["held", "held"] and not result["pointers_moved"]
    assert read_json(s3, bucket, "%s/state/last_success.json" % prefix)["run_id"] == "20260101T060000Z"
    assert result["pointers_word"] == "held" and result["pointer_run_id"] == "20260101T060000Z"
    assert result["pointers_held"] == ["%s/state/openai/cs/last_success.json" % prefix, "%s/state/last_success.json" % prefix]


def _pointer_run_ids(s3, bucket, prefix):
    """The run each pointer object names, read back from the bucket."""
    return [read_json(s3, bucket, "%s/%s" % (prefix, rel))["run_id"]
            for rel in ("state/openai/cs/last_success.json", "state/last_success.json")]


def test_runs_are_ordered_by_their_own_time_not_as_strings(sandbox, clean_faults, factory, bucket, tmp_path):
    """issue 14: once manual-1 was published, string order held every later timestamp run forever."""
    s3 = sandbox.boto3_client("s3")
    prefix = new_prefix("u-order")
    seed_copy(s3, bucket, prefix)  # pointers at 20260101T060000Z (started 2026-01-01T06:00:00Z)

    def publish(run_id, **run):
        return run_publish.Publisher(factory.client("s3"), params(bucket, prefix, run_dir=write_dir(tmp_path / run_id,
                                                                                                    make_run(run_id, **run)))).run()

    # A manual run that started after the seeded one moves the pointers although "manual-1" > "2026...".
    manual = publish("manual-1", started_at="2026-01-15T06:00:00Z")
    assert manual["pointers_moved"] and manual["pointers"][-1]["order"]["pointer_run_time_source"] == "run_summary"
    assert _pointer_run_ids(s3, bucket, prefix) == ["manual-1", "manual-1"]
    # The next daily run (a timestamp id that sorts before "manual-1") moves them on: ordered by started_at.
    daily = publish("20260201T060000Z")
    assert daily["pointers_moved"] and [p["action"] for p in daily["pointers"]] == ["moved", "moved"]
    assert daily["pointers"][-1]["order"] == {"pointer_run_time": "2026-01-15T06:00:00Z", "pointer_run_time_source": "run_summary",
                                              "run_time": "2026-02-01T06:00:00Z", "run_time_source": "run_summary"}
    assert _pointer_run_ids(s3, bucket, prefix) == ["20260201T060000Z", "20260201T060000Z"]
    # A run that started before the one the pointers name is held, and says which run they still name.
    before = [pointers.read_pointer(s3, bucket, "%s/%s" % (prefix, rel))["etag"]
              for rel in ("state/openai/cs/last_success.json", "state/last_success.json")]
    late = publish("manual-2", started_at="2026-01-20T06:00:00Z")
    assert [p["action"] for p in late["pointers"]] == ["held", "held"] and late["pointer_run_id"] == "20260201T060000Z"
    assert _pointer_run_ids(s3, bucket, prefix) == ["20260201T060000Z", "20260201T060000Z"]
    assert [pointers.read_pointer(s3, bucket, "%s/%s" % (prefix, rel))["etag"]
            for rel in ("state/openai/cs/last_success.json", "state/last_success.json")] == before


def test_a_run_that_cannot_be_ordered_is_refused_before_any_write(sandbox, clean_faults, factory, bucket, tmp_path):
    s3 = sandbox.boto3_client("s3")
    prefix = new_prefix("u-unordered")
    seed_copy(s3, bucket, prefix)
    run_dir = write_dir(tmp_path / "run", make_run("manual-3", started_at="", finished_at=""))
    mark = log_mark(sandbox)
    with pytest.raises(run_publish.PublishError) as refused:
        run_publish.Publisher(factory.client("s3"), params(bucket, prefix, run_dir=run_dir)).run()
    assert refused.value.reason == "run_order_unknown" and "publish_allow_rewind" in refused.value.message
    assert writes_since(sandbox, mark, bucket, prefix) == []
    assert _pointer_run_ids(s3, bucket, prefix) == ["20260101T060000Z", "20260101T060000Z"]
    # Rewinding allowed: the operator's explicit choice moves the pointers to it.
    forced = run_publish.Publisher(factory.client("s3"), params(bucket, prefix, run_dir=run_dir, allow_rewind=True)).run()
    assert forced["pointers_moved"] and _pointer_run_ids(s3, bucket, prefix) == ["manual-3", "manual-3"]


def test_a_pointer_naming_a_run_without_a_summary_is_ordered_by_its_publish_time(sandbox, clean_faults, factory, bucket, tmp_path):
    s3 = sandbox.boto3_client("s3")
    prefix = new_prefix("u-legacy")
    for rel in ("state/openai/cs/last_success.json", "state/last_success.json"):
        provider, profile = ("openai", "cs") if "openai" in rel else (None, None)
        target = "s3://%s/%s/runs/legacy/%s" % (bucket, prefix, "openai/cs/" if provider else "")
        pointers.write_pointer(s3, bucket, "%s/%s" % (prefix, rel), run_pointers.pointer_document(
            "legacy", target, 1, {}, "2026-01-31T00:00:00Z", provider, profile))
    held = run_publish.Publisher(factory.client("s3"), params(bucket, prefix, run_dir=write_dir(
        tmp_path / "a", make_run("20260130T060000Z")))).run()
    assert held["pointer_run_id"] == "legacy" and held["pointers"][-1]["order"]["pointer_run_time_source"] == "published_at"
    moved = run_publish.Publisher(factory.client("s3"), params(bucket, prefix, run_dir=write_dir(
        tmp_path / "b", make_run("20260201T060000Z")))).run()
    assert moved["pointers_moved"] and _pointer_run_ids(s3, bucket, prefix) == ["20260201T060000Z", "20260201T060000Z"]


def test_verify_detects_an_object_that_does_not_match(sandbox, factory, bucket):
    s3 = sandbox.boto3_client("s3")
    key = "%s/x.bin" % new_prefix("u-verify")
    s3.put_object(Bucket=bucket, Key=key, Body=b"actual")
    expected = s3_transfer.SourceObject("x.bin", key, sha256_b64(b"expected"), 8)
    with pytest.raises(s3_transfer.TransferError) as mismatch:
        s3_transfer.verify(factory.client("s3"), bucket, [expected], 4)
    assert mismatch.value.reason == "checksum_mismatch" and mismatch.value.keys == [key]


def test_delete_keys_batches_past_the_thousand_key_limit(sandbox, factory, bucket):
    """The sandbox answers MalformedXML past 1,000 keys per DeleteObjects, as S3 does; absent keys delete quietly."""
    s3 = sandbox.boto3_client("s3")
    prefix = new_prefix("u-delete")
    keys = ["%s/k%04d" % (prefix, i) for i in range(1005)]
    for key in keys[::400]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    mark = log_mark(sandbox)
    s3_transfer.delete_keys(factory.client("s3"), bucket, keys)
    assert s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("KeyCount") == 0
    batches = requests_since(sandbox, mark, operation="DeleteObjects", bucket=bucket)
    assert [e["status"] for e in batches] == [200, 200]


def test_parallel_stops_starting_work_after_the_first_failure():
    started = []

    def work(item):
        started.append(item)
        if item == 0:
            raise RuntimeError("boom")
        return item

    results, errors = s3_transfer.parallel(work, range(50), 1)
    assert started == [0] and len(errors) == 1 and results[0] is None


# -- provenance -------------------------------------------------------------------------------
def _start_task(sandbox):
    ecs = sandbox.boto3_client("ecs")
    task = ecs.run_task(cluster=sandbox["SANDBOX_ECS_CLUSTER"], taskDefinition=sandbox["SANDBOX_TASK_FAMILY"], launchType="FARGATE",
                        networkConfiguration={"awsvpcConfiguration": {"subnets": sandbox["SANDBOX_ECS_SUBNETS"].split(","),
                                                                      "securityGroups": sandbox["SANDBOX_ECS_SECURITY_GROUPS"].split(",")}},
                        overrides={"containerOverrides": [{"name": "jobintel", "environment": [{"name": "SANDBOX_SKIP_ARTIFACTS", "value": "1"}]}]})
    arn = task["tasks"][0]["taskArn"]
    tracked = [t for t in sandbox.control("aws", "ecs-tasks") if t["task_arn"] == arn][0]
    return arn, tracked["metadata_uri"]


def test_provenance_comes_from_the_task_metadata_when_the_run_does_not_say(sandbox, clean_faults, factory, bucket, tmp_path):
    arn, metadata_uri = _start_task(sandbox)
    digest = provenance.image_digest(sandbox["SANDBOX_IMAGE_REF"])
    prefix = new_prefix("u-prov")
    files = make_run(RUN, git_sha="abc0000000000000000000000000000000000003")  # no image, no task ARN in run_summary
    result = run_publish.Publisher(factory.client("s3"), params(bucket, prefix, run_dir=write_dir(tmp_path / "run", files),
                                                                task_metadata_uri=metadata_uri)).run()
    assert result["provenance"] == {"git_sha": "abc0000000000000000000000000000000000003", "image_digest": digest, "ecs_task_arn": arn}
    assert result["provenance_sources"] == {"git_sha": "run_summary", "image_digest": "task_metadata", "ecs_task_arn": "task_metadata"}
    s3 = sandbox.boto3_client("s3")
    for key in ("state/last_success.json", "state/openai/cs/last_success.json"):
        assert read_json(s3, bucket, "%s/%s" % (prefix, key))["provenance"] == result["provenance"]


def test_provenance_order_override_then_run_summary_and_no_call_outside_ecs():
    calls = []
    summary = {"git_sha": "summary", "image": "r@sha256:" + "b" * 64, "ecs_task_arn": "arn:task"}
    values, sources = provenance.resolve({"git_sha": "override"}, summary, "http://unused", fetch=calls.append)
    assert values == {"git_sha": "override", "image_digest": "sha256:" + "b" * 64, "ecs_task_arn": "arn:task"}
    assert sources == {"git_sha": "override", "image_digest": "run_summary", "ecs_task_arn": "run_summary"} and calls == []
    values, sources = provenance.resolve({}, {}, None)
    assert values == {"git_sha": None, "image_digest": None, "ecs_task_arn": None} and set(sources.values()) == {"unknown"}
    with pytest.raises(provenance.ProvenanceError):
        provenance.fetch_task_metadata("http://127.0.0.1:9/unreachable", timeout=0.5)


def test_task_metadata_provenance_skips_the_containers_ecs_adds():
    # An awsvpc task on EC2 lists the agent's pause container too (Type CNI_PAUSE), possibly first.
    document = {"TaskARN": "arn:aws:ecs:us-east-1:111122223333:task/c/abc", "Cluster": "c", "Containers": [
        {"Name": "~internal~ecs~pause", "Type": "CNI_PAUSE", "Image": "amazon/amazon-ecs-pause:0.1.0", "ImageID": "sha256:" + "c" * 64},
        {"Name": "jobintel", "Type": "NORMAL", "Image": "r@sha256:" + "d" * 64, "ImageID": "sha256:" + "e" * 64}]}
    assert provenance.from_task_metadata(document)["image_digest"] == "sha256:" + "d" * 64


def test_task_metadata_of_another_task_never_supplies_the_image_digest():
    own = {"TaskARN": "arn:aws:ecs:us-east-1:111122223333:task/c/controller", "Containers": [
        {"Name": "awx", "Type": "NORMAL", "Image": "awx@sha256:" + "f" * 64}]}
    run_task = "arn:aws:ecs:us-east-1:111122223333:task/c/job"
    values, sources = provenance.resolve({"ecs_task_arn": run_task}, {}, "http://metadata", fetch=lambda uri: own)
    assert values["ecs_task_arn"] == run_task and values["image_digest"] is None and sources["image_digest"] == "unknown"
    values, sources = provenance.resolve({"ecs_task_arn": own["TaskARN"]}, {}, "http://metadata", fetch=lambda uri: own)
    assert values["image_digest"] == "sha256:" + "f" * 64 and sources["image_digest"] == "task_metadata"


# -- verify_ops reasons -----------------------------------------------------------------------
def test_check_pointer_tells_every_failure_kind_apart(sandbox, clean_faults, factory, bucket):
    s3 = sandbox.boto3_client("s3")
    client = factory.client("s3")
    prefix = new_prefix("u-check")
    seed_copy(s3, bucket, prefix)
    assert run_pointers.check_pointer(client, bucket, prefix, "openai", "cs")["status"] == "ok"
    assert run_pointers.check_pointer(client, bucket, prefix, "openai", "de")["reason"] == "pointer_missing"

    s3.put_object(Bucket=bucket, Key="%s/latest/openai/cs/extra.md" % prefix, Body=b"not in the run")
    mismatch = run_pointers.check_pointer(client, bucket, prefix, "openai", "cs")
    assert mismatch["reason"] == "latest_mismatch" and mismatch["latest_differs"] == ["extra.md"]
    assert run_pointers.check_pointer(client, bucket, prefix, "openai", "cs", check_latest=False)["status"] == "ok"

    s3.delete_object(Bucket=bucket, Key="%s/runs/20260101T060000Z/run_health.v1.json" % prefix)
    assert run_pointers.check_pointer(client, bucket, prefix)["reason"] == "target_incomplete"

    key = "%s/state/last_success.json" % prefix
    s3.put_object(Bucket=bucket, Key=key, Body=b"[1, 2]")
    assert run_pointers.check_pointer(client, bucket, prefix)["reason"] == "pointer_invalid"
    document = read_json(s3, bucket, "%s/state/openai/cs/last_success.json" % prefix)
    s3.delete_object(Bucket=bucket, Key=key)
    pointers.write_pointer(s3, bucket, key, dict(document))  # a pair pointer where the top-level one belongs
    assert run_pointers.check_pointer(client, bucket, prefix)["reason"] == "pointer_invalid"

    pointers.write_pointer(s3, bucket, key, dict(document, provider=None, profile=None,
                                                 target="s3://%s/%s/runs/19990101T000000Z/" % (bucket, prefix)))
    assert run_pointers.check_pointer(client, bucket, prefix)["reason"] == "target_missing"

    sandbox.control("aws", "faults", {"rules": [{"service": "s3", "operation": "GetObject", "key_prefix": key, "error": "access_denied"}]})
    assert run_pointers.check_pointer(client, bucket, prefix)["reason"] == "access_denied"


def test_pointer_documents_keep_the_seeded_format(sandbox, bucket):
    seeded = read_json(sandbox.boto3_client("s3"), bucket, "jobintel/state/openai/cs/last_success.json")
    built = run_pointers.pointer_document(seeded["run_id"], seeded["target"], seeded["object_count"], seeded["provenance"],
                                          seeded["published_at"], "openai", "cs")
    assert built == seeded and run_pointers.document_problems(built, "openai", "cs") == []
    assert run_pointers.same_publication(dict(built, published_at="later"), built)
    assert json.loads(pointers.serialize(built)) == seeded


def test_local_files_skips_symlinks(tmp_path):
    write_dir(tmp_path, {"a.json": b"{}", "sub/b.csv": b"x"})
    os.symlink("/etc/hostname", str(tmp_path / "link"))
    assert s3_transfer.local_files(str(tmp_path)) == ["a.json", "sub/b.csv"]


# -- small documents (receipts, summaries, harness proofs) -------------------------------------
def test_put_if_changed_compares_sha256_and_never_replaces_a_create_only_object(sandbox, bucket):
    s3 = sandbox.boto3_client("s3")
    key = new_prefix("doc") + "/doc.json"
    assert s3_transfer.put_if_changed(s3, bucket, key, b'{"a": 1}\n') is True
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == sha256_b64(b'{"a": 1}\n')
    assert s3_transfer.put_if_changed(s3, bucket, key, b'{"a": 1}\n') is False
    assert s3_transfer.put_if_changed(s3, bucket, key, b'{"a": 2}\n') is True
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b'{"a": 2}\n'
    # create_only: an object someone else wrote first stays as it is.
    assert s3_transfer.put_if_changed(s3, bucket, key, b'{"a": 3}\n', create_only=True) is False
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b'{"a": 2}\n'


class ConflictingWriter:
    """Stand-in S3 client: PutObject with If-None-Match answers 409 ConditionalRequestConflict (a
    concurrent write in flight, which real S3 can return), and the key exists afterwards or not."""

    def __init__(self, exists_after):
        self.exists_after = exists_after
        self.heads = 0

    def head_object(self, **kwargs):
        self.heads += 1
        if self.heads > 1 and self.exists_after:
            return {"ContentLength": 2, "ETag": '"e"', "ChecksumSHA256": sha256_b64(b"{}")}
        raise _client_error("404", "head_object")

    def put_object(self, **kwargs):
        assert kwargs["IfNoneMatch"] == "*"
        raise _client_error("ConditionalRequestConflict", "put_object", 409)


def _client_error(code, operation, status=404):
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation)


def test_create_only_409_conflict_is_not_written_only_when_the_other_write_landed():
    assert s3_transfer.put_if_changed(ConflictingWriter(exists_after=True), "b", "k", b"{}", create_only=True) is False
    with pytest.raises(Exception) as in_flight:  # the other write did not land: nothing is there, say so
        s3_transfer.put_if_changed(ConflictingWriter(exists_after=False), "b", "k", b"{}", create_only=True)
    assert s3_transfer.error_code(in_flight.value) == "ConditionalRequestConflict"

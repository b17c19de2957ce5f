"""runbooks/jobintel/layout: every jobintel path and document name, and the outbox checks of a run."""

import io
import json

import pytest
from botocore.exceptions import ClientError

from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import layout
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import run_pointers
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import runs


def test_paths_under_a_prefix_and_without_one():
    assert layout.run_prefix("jobintel/", "r1") == "jobintel/runs/r1/"
    assert layout.run_prefix("", "r1") == "runs/r1/"
    assert layout.pair_run_prefix("p", "r1", "openai", "cs") == "p/runs/r1/openai/cs/"
    assert layout.latest_prefix("/p/", "openai", "cs") == "p/latest/openai/cs/"
    assert layout.outbox_prefix("p", "r1") == "p/outbox/r1/"
    assert layout.pointer_key("p") == "p/state/last_success.json"
    assert layout.pointer_key("p", "openai", "cs") == "p/state/openai/cs/last_success.json"
    assert layout.pointer_key("p", "openai") == "p/state/last_success.json"  # a pair needs both names
    assert layout.run_base("p", "published", "r1") == "p/runs/r1/"
    assert layout.run_base("p", "outbox", "r1") == "p/outbox/r1/"
    assert layout.source_prefix("", "outbox") == "outbox/"


def test_document_names():
    assert (layout.RUN_HEALTH, layout.RUN_SUMMARY) == ("run_health.v1.json", "run_summary.v1.json")
    assert layout.RUN_ARTIFACTS == ("run_health.v1.json", "run_summary.v1.json", "artifacts/provider_availability_v1.json")


def test_older_names_are_the_layout_s():
    assert run_pointers.pointer_key is layout.pointer_key and run_pointers.run_prefix is layout.run_prefix
    assert run_pointers.RUN_SUMMARY == runs.SUMMARY_FILE == layout.RUN_SUMMARY
    assert runs.run_base is layout.run_base and runs.pointer_key is layout.pointer_key


def test_artifact_location():
    location = layout.artifact_location({"JOBINTEL_S3_BUCKET": "b", "JOBINTEL_S3_PREFIX": "jobintel/"}, "r1")
    assert location["uri"] == "s3://b/jobintel/outbox/r1/" and location["prefix"] == "jobintel/outbox/r1/"
    assert location["paths"][0] == "s3://b/jobintel/outbox/r1/run_health.v1.json"
    assert layout.artifact_location({"JOBINTEL_S3_BUCKET": "b"}, "r1")["prefix"] == "outbox/r1/"
    assert layout.artifact_location({}, "r1") is None


def _client_error(code, operation="HeadObject"):
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


class FakeS3:
    def __init__(self, heads=None, bodies=None):
        self.heads, self.bodies, self.calls = heads or {}, bodies or {}, []

    def head_object(self, Bucket, Key):
        self.calls.append(("head_object", Bucket, Key))
        if Key not in self.heads:
            raise _client_error("404")
        return self.heads[Key]

    def get_object(self, Bucket, Key):
        self.calls.append(("get_object", Bucket, Key))
        found = self.bodies.get(Key)
        if isinstance(found, Exception):
            raise found
        if found is None:
            raise _client_error("NoSuchKey", "GetObject")
        return {"Body": io.BytesIO(found)}


def test_require_new_run_refuses_an_outbox_with_a_summary():
    location = layout.artifact_location({"JOBINTEL_S3_BUCKET": "b"}, "r1")
    layout.require_new_run(FakeS3(), location, "r1")
    layout.require_new_run(FakeS3(), None, "r1")
    with pytest.raises(GuardError) as refused:
        layout.require_new_run(FakeS3(heads={"outbox/r1/run_summary.v1.json": {}}), location, "r1")
    assert refused.value.reason == "run_id_exists" and "s3://b/outbox/r1/" in refused.value.message

    class Denied(FakeS3):
        def head_object(self, **_kwargs):
            raise _client_error("AccessDenied")

    with pytest.raises(ClientError):
        layout.require_new_run(Denied(), location, "r1")


def test_read_run_health():
    location = layout.artifact_location({"JOBINTEL_S3_BUCKET": "b"}, "r1")
    key = "outbox/r1/run_health.v1.json"
    health = {"status": "failed", "failed_stage": "classify", "failure_codes": ["FORCED_FAILURE"], "run_id": "r1"}
    assert layout.read_run_health(FakeS3(bodies={key: json.dumps(health).encode()}), location) == health
    assert layout.read_run_health(FakeS3(), location) is None
    assert layout.read_run_health(FakeS3(bodies={key: _client_error("AccessDenied", "GetObject")}), location) is None
    assert layout.read_run_health(FakeS3(bodies={key: b"not json"}), location)["status"] == "unreadable"
    assert layout.read_run_health(FakeS3(), None) is None
    with pytest.raises(ClientError):
        layout.read_run_health(FakeS3(bodies={key: _client_error("InternalError", "GetObject")}), location)


def test_run_id_time_reads_the_timestamp_a_run_id_begins_with():
    moment = layout.run_id_time("20260301T060000Z-retry")
    assert moment.isoformat() == "2026-03-01T06:00:00+00:00"
    assert layout.run_id_time("manual-1") is None
    assert layout.run_id_time("20261399T000000Z") is None  # not a date
    assert layout.run_id_time(None) is None and layout.run_id_time(20260301) is None

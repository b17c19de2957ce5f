"""module_utils/harness.py: schedule, resumable proof files, verdicts, and observations against the sandbox."""

import datetime
import json
import os
import time
import uuid

import jsonschema
import pytest
import yaml

from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import harness
from ansible_collections.signalcraft.ops.plugins.module_utils.services import k8s
from ansible_collections.signalcraft.ops.plugins.module_utils.services import pointers
from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import runs
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError
from tests.conftest import REPO_ROOT
from tests.sandbox.aws_layer import jobintel

with open(os.path.join(REPO_ROOT, "schemas", "receipt.v1.schema.json")) as _handle:
    RECEIPT_SCHEMA = json.load(_handle)

T0 = datetime.datetime(2026, 3, 1, 0, 0, 0, tzinfo=datetime.timezone.utc)


def at(seconds):
    return T0 + datetime.timedelta(seconds=seconds)


PARAMS = {"duration_s": 4.0, "interval_s": 1.0, "candidate_id": "local", "provider": "openai", "jobintel_profile": "cs",
          "bucket": "b", "prefix": "p", "namespace": "jobintel", "cronjob": "jobintel-daily", "context": "ctx",
          "max_pointer_age_hours": 0}


# --- inputs and schedule ---------------------------------------------------------------------------

@pytest.mark.parametrize("text,seconds", [("72h", 259200), ("60m", 3600), ("1h30m", 5400), ("90s", 90), ("1d", 86400),
                                          ("4", 4), (4, 4), ("0.5s", 0.5), (" 2H ", 7200)])
def test_parse_duration(text, seconds):
    assert harness.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", None, "soon", "5 minutes", "0", "0s", "h", "-1"])
def test_parse_duration_refuses_bad_input(text):
    with pytest.raises(harness.HarnessError) as err:
        harness.parse_duration(text, "duration")
    assert err.value.reason == "invalid_duration" and "duration" in err.value.message


def test_schedule_counts_both_ends():
    assert harness.schedule(T0, 72 * 3600, 3600)["checkpoints_planned"] == 73
    assert harness.schedule(T0, 4, 1)["checkpoints_planned"] == 5
    sched = harness.schedule(T0, 10, 3)
    assert sched["checkpoints_planned"] == 4 and sched["ends_at"] == "2026-03-01T00:00:10.000Z"
    assert harness.due_at(sched, 3) == at(9)
    with pytest.raises(harness.HarnessError) as err:
        harness.schedule(T0, 1, 2)
    assert err.value.reason == "invalid_interval"


def test_slot_states():
    sched = harness.schedule(T0, 4, 1)
    assert harness.slot_state(sched, 2, at(1.5), {}) == "upcoming"
    assert harness.slot_state(sched, 2, at(2.5), {}) == "due"
    assert harness.slot_state(sched, 2, at(3.0), {}) == "missed"
    assert harness.slot_state(sched, 2, at(9), {2: {}}) == "taken"
    assert harness.slots(sched, at(2.2), {0: {}}) == {"taken": [0], "missed": [1], "pending": [2, 3, 4]}


def module_params(**overrides):
    params = {"run_id": "m21-x", "duration": "72h", "interval": "60m", "missed_after": None, "candidate_id": "local",
              "provider": "openai", "jobintel_profile": "cs", "bucket": "b", "prefix": "jobintel", "namespace": "jobintel",
              "cronjob": "jobintel-daily", "context": "ctx", "kubeconfig": None}
    params.update(overrides)
    return params


def test_validate_params_completes_the_durations():
    values = harness.validate_params(module_params())
    assert (values["duration_s"], values["interval_s"], values["missed_after_s"]) == (259200, 3600, 3600)
    assert harness.validate_params(module_params(missed_after="2h"))["missed_after_s"] == 7200


@pytest.mark.parametrize("overrides,reason", [
    ({"context": "REPLACE_WITH_KUBE_CONTEXT"}, "inventory_placeholder"),
    ({"bucket": "REPLACE_WITH_PROD_ARTIFACT_BUCKET"}, "inventory_placeholder"),
    ({"jobintel_profile": None}, "provider_profile_pair"),
    ({"prefix": "/jobintel/"}, "invalid_prefix"),
    ({"namespace": "Not_A_Name"}, "invalid_name"),
    ({"run_id": "../up"}, "run_id_invalid"),
    ({"interval": "2h", "duration": "1h"}, "invalid_interval"),
    ({"duration": "forever"}, "invalid_duration"),
    ({"interval": "30s"}, "interval_too_short"),
    ({"interval": "0.5"}, "interval_too_short"),
])
def test_validate_params_refuses_bad_input(overrides, reason):
    with pytest.raises((harness.HarnessError, GuardError)) as err:
        harness.validate_params(module_params(**overrides))
    assert err.value.reason == reason


@pytest.mark.parametrize("run_id", ["", "../x", "a/b", None, ".x"])
def test_run_ids_must_be_directory_names(run_id, tmp_path):
    with pytest.raises(harness.HarnessError):
        harness.ProofDir(str(tmp_path), run_id)


# --- proof files -----------------------------------------------------------------------------------

def checkpoint(run_id, sched, index, problems=(), run_id_seen="r1", late=0.0):
    pipeline = {"pointers": [], "run": {"run_id": run_id_seen, "status": "healthy"}, "problems": list(problems)}
    doc = harness.build_checkpoint(run_id, sched, index, harness.due_at(sched, index) + datetime.timedelta(seconds=late),
                                   pipeline, {"problems": []})
    return doc


def test_start_is_written_once_and_a_resume_keeps_it(tmp_path):
    proof = harness.ProofDir(str(tmp_path), "m21-a")
    receipt, created = harness.start(proof, PARAMS, T0)
    assert created
    jsonschema.validate(receipt, RECEIPT_SCHEMA)
    with open(proof.file(harness.START_FILE), "rb") as handle:
        first = handle.read()
    again, created = harness.start(proof, PARAMS, at(100))
    assert not created and again == receipt
    with open(proof.file(harness.START_FILE), "rb") as handle:
        assert handle.read() == first
    assert receipt["outputs"]["schedule"]["started_at"] == "2026-03-01T00:00:00.000Z"
    changed = dict(PARAMS, interval_s=2.0, candidate_id="other")
    with pytest.raises(harness.HarnessError) as err:
        harness.start(proof, changed, at(100))
    assert err.value.reason == "harness_params_mismatch"
    assert "interval_s=1.0" in err.value.message and 'candidate_id="local"' in err.value.message
    # Connection details may differ on resume (another machine, another kubeconfig context name).
    assert not harness.start(proof, dict(PARAMS, context="other-ctx"), at(100))[1]


def test_start_in_check_mode_writes_nothing(tmp_path):
    proof = harness.ProofDir(str(tmp_path), "m21-check")
    receipt, created = harness.start(proof, PARAMS, T0, check_mode=True)
    assert created and receipt["phase"] == "start"
    assert not os.path.exists(proof.path)


def test_checkpoints_are_never_recorded_twice_and_index_stays_sorted(tmp_path):
    proof = harness.ProofDir(str(tmp_path), "m21-b")
    start, _created = harness.start(proof, PARAMS, T0)
    sched = start["outputs"]["schedule"]
    assert proof.add_checkpoint(checkpoint("m21-b", sched, 2))
    assert proof.add_checkpoint(checkpoint("m21-b", sched, 0))
    assert not proof.add_checkpoint(checkpoint("m21-b", sched, 2, problems=["cronjob_missing"]))
    with open(proof.file(harness.JSONL_FILE)) as handle:
        lines = [json.loads(line) for line in handle]
    assert [line["index"] for line in lines] == [0, 2] and lines[1]["status"] == "ok"
    with open(proof.checkpoint_path(2)) as handle:
        assert json.load(handle) == lines[1]


def test_a_checkpoint_file_left_out_of_the_index_by_a_kill_is_recovered(tmp_path):
    proof = harness.ProofDir(str(tmp_path), "m21-c")
    start, _created = harness.start(proof, PARAMS, T0)
    sched = start["outputs"]["schedule"]
    proof.add_checkpoint(checkpoint("m21-c", sched, 0))
    orphan = checkpoint("m21-c", sched, 1)
    receipts.write_atomic(proof.checkpoint_path(1), harness.serialize(orphan))  # killed before the index was rewritten
    assert sorted(proof.recorded()) == [0, 1]
    assert not proof.add_checkpoint(checkpoint("m21-c", sched, 1, problems=["cronjob_missing"]))
    assert proof.add_checkpoint(checkpoint("m21-c", sched, 2))
    with open(proof.file(harness.JSONL_FILE)) as handle:
        assert [json.loads(line)["index"] for line in handle] == [0, 1, 2]
    assert proof.recorded()[1]["status"] == "ok"


def test_evaluate_severity():
    assert harness.evaluate({"problems": []}, {"problems": []}) == ("ok", [])
    assert harness.evaluate({"problems": ["run_degraded"]}, {"problems": ["job_failed"]}) == ("degraded", ["run_degraded", "job_failed"])
    assert harness.evaluate({"problems": ["pointer_stale"]}, {"problems": ["cronjob_missing"]})[0] == "fail"
    assert all(severity in ("fail", "degraded") for severity in harness.PROBLEMS.values())


def verdict_for(tmp_path, name, docs, now):
    proof = harness.ProofDir(str(tmp_path), name)
    start, _created = harness.start(proof, PARAMS, T0)
    sched = start["outputs"]["schedule"]
    for index, kwargs in docs.items():
        proof.add_checkpoint(checkpoint(name, sched, index, **kwargs))
    return proof, start, harness.summarize(proof, start, now)


def test_verdicts(tmp_path):
    all_ok = dict((i, {}) for i in range(5))
    assert verdict_for(tmp_path, "v-pass", all_ok, at(4.5))[2]["verdict"] == "pass"
    assert verdict_for(tmp_path, "v-progress", {0: {}}, at(0.5))[2]["verdict"] == "in_progress"
    degraded = dict(all_ok)
    degraded[3] = {"problems": ["run_degraded"]}
    summary = verdict_for(tmp_path, "v-degraded", degraded, at(9))[2]
    assert summary["verdict"] == "degraded" and summary["problem_counts"] == {"run_degraded": 1}
    missed = {0: {}, 1: {}, 4: {}}
    summary = verdict_for(tmp_path, "v-missed", missed, at(9))[2]
    assert summary["verdict"] == "incomplete" and summary["checkpoints_missed"] == [2, 3] and summary["complete"]
    failed = dict(missed)
    failed[1] = {"problems": ["cronjob_missing"]}
    assert verdict_for(tmp_path, "v-fail", failed, at(9))[2]["verdict"] == "fail"


def test_summary_tracks_runs_and_lateness_and_final_receipt_is_reproducible(tmp_path):
    docs = {0: {"run_id_seen": "r1"}, 1: {"run_id_seen": "r1", "late": 0.25}, 2: {"run_id_seen": "r2"}, 3: {"run_id_seen": "r2"},
            4: {"run_id_seen": "r2"}}
    proof, start, summary = verdict_for(tmp_path, "v-runs", docs, at(9))
    assert [r["run_id"] for r in summary["observed_runs"]] == ["r1", "r2"] and summary["observed_runs"][1]["checkpoint"] == 2
    assert summary["max_late_s"] == 0.25
    final = harness.final_receipt(start, summary)
    jsonschema.validate(final, RECEIPT_SCHEMA)
    assert final["status"] == "success" and final["finished_at"] == "2026-03-01T00:00:04.000Z"
    assert receipts.serialize(harness.final_receipt(start, harness.summarize(proof, start, at(99)))) == receipts.serialize(final)
    _proof, start, summary = verdict_for(tmp_path, "v-bad", {0: {}}, at(9))
    final = harness.final_receipt(start, summary)
    assert final["status"] == "failed" and final["failure_code"] == "stability_incomplete"
    assert harness.summary_line(summary).startswith("m21 status=incomplete run_id=v-bad checkpoints=1/5 missed=4")


# --- observations against the sandbox --------------------------------------------------------------

@pytest.fixture
def pipeline(sandbox):
    """A private layout: ``publish(run_id, **spec)`` writes a run and moves both pointers to it."""
    s3 = sandbox.boto3_client("s3")
    bucket = sandbox["SANDBOX_ARTIFACT_BUCKET"]
    prefix = "tests/harness-unit/%s" % uuid.uuid4().hex[:12]

    def publish(run_id, published_at="2026-03-01T00:00:00Z", write_run=True, **spec_args):
        spec = jobintel.RunSpec(run_id=run_id, started_at="2026-03-01T00:00:00Z", finished_at="2026-03-01T00:04:00Z", **spec_args)
        if write_run:
            for name, body in jobintel.run_files(spec).items():
                s3.put_object(Bucket=bucket, Key=runs.run_base(prefix, "published", run_id) + name, Body=body)
        for key in (runs.pointer_key(prefix, "openai", "cs"), runs.pointer_key(prefix)):
            pointers.write_pointer(s3, bucket, key, {"schema_version": "pointer.v1", "run_id": run_id, "published_at": published_at})

    return s3, bucket, prefix, publish


def observe(pipeline_fixture, candidate="local", max_age=0, now=at(3600)):
    s3, bucket, prefix, _publish = pipeline_fixture
    return harness.observe_pipeline(s3, bucket, prefix, candidate, "openai", "cs", now, max_age)


def test_pipeline_observations(pipeline):
    _s3, _bucket, prefix, publish = pipeline
    missing = observe(pipeline)
    assert missing["problems"] == ["pointer_missing"] and missing["run"] is None
    publish("20260301T000000Z")
    healthy = observe(pipeline)
    assert healthy["problems"] == [] and healthy["run"]["status"] == "healthy"
    assert [p["name"] for p in healthy["pointers"]] == ["provider_profile", "last_success"]
    assert healthy["pointers"][0]["uri"].endswith("%s/state/openai/cs/last_success.json" % prefix)
    assert healthy["pointers"][0]["age_hours"] == 1.0
    assert observe(pipeline, max_age=0.5)["problems"] == ["pointer_stale"]
    assert observe(pipeline, candidate="other")["problems"] == ["candidate_mismatch"]
    publish("20260301T010000Z", providers=("openai", "google"), provider_outcomes={"google": "timeout"})
    degraded = observe(pipeline)
    assert degraded["problems"] == ["run_degraded"] and degraded["run"]["providers"] == {"openai": "available", "google": "network_issue"}
    publish("20260301T020000Z", failed_stage="classify")
    failed = observe(pipeline)
    assert failed["problems"] == ["run_failed"] and failed["run"]["failed_stage"] == "classify"
    publish("20260301T030000Z", write_run=False)
    assert observe(pipeline)["problems"] == ["pointer_target_missing"]


@pytest.fixture
def namespace(sandbox):
    from kubernetes import client

    api = sandbox.k8s_api_client("primary")
    name = "m21-unit-%s" % uuid.uuid4().hex[:8]
    client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    yield api, name
    client.CoreV1Api(api).delete_namespace(name)


def test_cluster_observations(sandbox, namespace):
    from kubernetes import client

    api, name = namespace
    kubeconfig = sandbox["SANDBOX_PRIMARY_KUBECONFIG"]
    ours = k8s.api_client(kubeconfig, "sandbox-primary")
    empty = harness.observe_cluster(ours, name, "jobintel-daily")
    assert empty["reachable"] and empty["problems"] == ["cronjob_missing"] and empty["nodes"][0]["ready"]
    assert harness.observe_cluster(ours, "m21-absent-%s" % uuid.uuid4().hex[:6], "jobintel-daily")["problems"] == ["namespace_missing"]

    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    template = {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1"}]}}
    batch.create_namespaced_cron_job(name, {"metadata": {"name": "jobintel-daily"}, "spec": {
        "schedule": "0 6 * * *", "suspend": True, "jobTemplate": {"spec": {"template": template}}}})
    failing = {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1", "env": [
        {"name": "SANDBOX_EXIT_CODE", "value": "1"}, {"name": "SANDBOX_RUN_SECONDS", "value": "0.1"}]}]}}
    batch.create_namespaced_job(name, {"metadata": {"name": "jobintel-daily-failed"}, "spec": {"backoffLimit": 0, "template": failing}})
    core.create_namespaced_pod(name, {"metadata": {"name": "unpullable"}, "spec": {"containers": [{
        "name": "c", "image": "%s.dkr.ecr.us-east-1.amazonaws.com/jobintel:no-such-tag" % sandbox["SANDBOX_ACCOUNT_ID"]}]}})
    deadline = time.time() + 20
    observed = None
    while time.time() < deadline:
        observed = harness.observe_cluster(ours, name, "jobintel-daily")
        if {"job_failed", "pods_waiting"} <= set(observed["problems"]):
            break
        time.sleep(0.3)
    assert observed["problems"][0] == "cronjob_suspended"
    assert {"job_failed", "pods_waiting"} <= set(observed["problems"])
    live = batch.read_namespaced_cron_job("jobintel-daily", name)
    assert observed["cronjob"]["suspend"] is live.spec.suspend is True
    assert observed["jobs"][0]["name"] == "jobintel-daily-failed" and observed["jobs"][0]["state"] == "failed"
    assert set(observed["pods"]["waiting_reasons"]) & {"ErrImagePull", "ImagePullBackOff"}
    assert harness.evaluate({"problems": []}, observed)[0] == "degraded"


def test_an_unreachable_cluster_is_a_failed_observation(sandbox, tmp_path):
    with open(sandbox["SANDBOX_PRIMARY_KUBECONFIG"]) as handle:
        config = yaml.safe_load(handle)
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:9"  # discard port: nothing listens
    path = tmp_path / "unreachable.yaml"
    path.write_text(yaml.safe_dump(config))
    api = k8s.api_client(str(path), "sandbox-primary")
    api.configuration.retries = 0
    observed = harness.observe_cluster(api, "jobintel", "jobintel-daily", request_timeout=2)
    assert observed["problems"] == ["cluster_unreachable"] and not observed["reachable"] and observed["error"]["message"]


def test_proof_mirror_uploads_create_only_restores_and_syncs(sandbox, tmp_path):
    s3 = sandbox.boto3_client("s3")
    bucket = sandbox["SANDBOX_RECEIPT_BUCKET"]
    prefix = "tests/harness-mirror/%s" % uuid.uuid4().hex[:8]
    proof = harness.ProofDir(str(tmp_path / "a"), "m21-m")
    start, _created = harness.start(proof, PARAMS, T0)
    sched = start["outputs"]["schedule"]
    proof.add_checkpoint(checkpoint("m21-m", sched, 0))
    mirror = harness.ProofMirror(s3, bucket, prefix, "m21-m")
    relative = "checkpoints/checkpoint-0000/checkpoint.json"
    assert mirror.upload(proof, relative, create_only=True)
    assert not mirror.upload(proof, relative, create_only=True)  # never replaced in S3
    assert mirror.sync(proof) == [harness.JSONL_FILE, harness.START_FILE]
    assert mirror.sync(proof) == []
    assert sorted(mirror.remote()) == sorted([relative, harness.JSONL_FILE, harness.START_FILE])
    assert mirror.uri() == "s3://%s/%s/m21-m/" % (bucket, prefix)

    fresh = harness.ProofDir(str(tmp_path / "b"), "m21-m")  # another container
    assert mirror.restore(fresh) == sorted([relative, harness.JSONL_FILE, harness.START_FILE])
    assert fresh.recorded() == proof.recorded() and fresh.read_json(harness.START_FILE) == start
    assert mirror.restore(fresh) == []
    proof.add_checkpoint(checkpoint("m21-m", sched, 1))
    assert mirror.sync(proof) == sorted(["checkpoints/checkpoint-0001/checkpoint.json", harness.JSONL_FILE])


def test_a_bare_interval_is_minutes_and_a_short_one_needs_the_allowance():
    # -e interval=60 used to be 60 seconds (4,321 checkpoints for 72 h); a bare number is minutes, like interval_minutes.
    assert harness.validate_params(module_params(interval="60"))["interval_s"] == 3600
    assert harness.parse_interval("90s") == 90 and harness.parse_interval("1h") == 3600
    with pytest.raises(harness.HarnessError) as err:
        harness.validate_params(module_params(interval="1s"))
    assert "-e allow_short_interval=true" in err.value.message and "259201 checkpoints" in err.value.message
    assert harness.validate_params(module_params(duration="4s", interval="1s", allow_short_interval=True))["interval_s"] == 1

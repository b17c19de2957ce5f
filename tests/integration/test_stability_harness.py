"""playbooks/stability_harness.yml against the sandbox, for seconds instead of hours.

Each test publishes its own run and pointers under a private prefix and seeds its own namespace in
the primary cluster with the kubernetes client. Assertions read the proof files from disk, S3 with
boto3 and the cluster with the kubernetes client.
"""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
import uuid

import jsonschema
import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.services import pointers
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import runs
from tests.conftest import REPO_ROOT
from tests.sandbox.aws_layer import jobintel

with open(os.path.join(REPO_ROOT, "schemas", "receipt.v1.schema.json")) as _handle:
    RECEIPT_SCHEMA = json.load(_handle)

RUN_ID = "20260301T060000Z"


@pytest.fixture
def workload(sandbox):
    """A published healthy run with both pointers under a private prefix, and a namespace with the
    CronJob jobintel-daily and the dashboard Deployment."""
    from kubernetes import client

    s3 = sandbox.boto3_client("s3")
    bucket = sandbox["SANDBOX_ARTIFACT_BUCKET"]
    prefix = "tests/m21/%s" % uuid.uuid4().hex[:12]
    spec = jobintel.RunSpec(run_id=RUN_ID, started_at="2026-03-01T06:00:00Z", finished_at="2026-03-01T06:04:00Z")
    for name, body in jobintel.run_files(spec).items():
        s3.put_object(Bucket=bucket, Key=runs.run_base(prefix, "published", RUN_ID) + name, Body=body)
    for key in (runs.pointer_key(prefix, "openai", "cs"), runs.pointer_key(prefix)):
        pointers.write_pointer(s3, bucket, key, {"schema_version": "pointer.v1", "run_id": RUN_ID, "published_at": "2026-03-01T06:05:00Z"})

    api = sandbox.k8s_api_client("primary")
    namespace = "m21-%s" % uuid.uuid4().hex[:8]
    core, batch, apps = client.CoreV1Api(api), client.BatchV1Api(api), client.AppsV1Api(api)
    core.create_namespace({"metadata": {"name": namespace}})
    template = {"spec": {"restartPolicy": "Never", "containers": [{"name": "jobintel", "image": "busybox:1"}]}}
    batch.create_namespaced_cron_job(namespace, {"metadata": {"name": "jobintel-daily"}, "spec": {
        "schedule": "0 6 * * *", "suspend": False, "jobTemplate": {"spec": {"template": template}}}})
    apps.create_namespaced_deployment(namespace, {"metadata": {"name": "jobintel-dashboard"}, "spec": {
        "replicas": 1, "selector": {"matchLabels": {"app": "dashboard"}},
        "template": {"metadata": {"labels": {"app": "dashboard"}}, "spec": {"containers": [{"name": "web", "image": "busybox:1"}]}}}})
    yield {"prefix": prefix, "namespace": namespace, "batch": batch, "apps": apps, "s3": s3}
    core.delete_namespace(namespace)


def harness_vars(tmp_path, workload, run_id, duration, interval, **extra):
    values = {"jobintel_prefix": workload["prefix"], "kube_namespace": workload["namespace"], "run_id": run_id,
              "duration_seconds": duration, "interval_seconds": interval, "allow_short_interval": True,
              "m21_proof_root": str(tmp_path / "proofs"),
              "signalcraft_receipt_root": str(tmp_path / "receipts")}
    values.update(extra)
    return values


def load(path):
    with open(path) as handle:
        return json.load(handle)


def jsonl(path):
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def digests(directory):
    """sha256 of every file under ``directory`` (the lock file excluded)."""
    found = {}
    for root, _dirs, files in os.walk(directory):
        for name in files:
            if name != ".lock":
                path = os.path.join(root, name)
                with open(path, "rb") as handle:
                    found[os.path.relpath(path, directory)] = hashlib.sha256(handle.read()).hexdigest()
    return found


def test_harness_writes_its_proof_and_a_rerun_changes_nothing(sandbox, run_playbook, tmp_path, workload):
    run_id = "m21-%s" % uuid.uuid4().hex[:8]
    result = run_playbook("stability_harness.yml", harness_vars(tmp_path, workload, run_id, 2, 1))
    assert result.rc == 0, result.stdout
    proof = tmp_path / "proofs" / run_id
    start = load(str(proof / "start_receipt.json"))
    jsonschema.validate(start, RECEIPT_SCHEMA)
    assert start["phase"] == "start" and start["inputs"]["duration_s"] == 2 and start["inputs"]["namespace"] == workload["namespace"]
    assert start["outputs"]["schedule"]["checkpoints_planned"] == 3

    lines = jsonl(str(proof / "checkpoints.jsonl"))
    assert [line["index"] for line in lines] == [0, 1, 2]
    assert sorted(os.listdir(str(proof / "checkpoints"))) == ["checkpoint-%04d" % i for i in range(3)]
    cron = workload["batch"].read_namespaced_cron_job("jobintel-daily", workload["namespace"])
    deployments = sorted(d.metadata.name for d in workload["apps"].list_namespaced_deployment(workload["namespace"]).items)
    for line in lines:
        assert load(str(proof / "checkpoints" / line["name"] / "checkpoint.json")) == line
        assert line["status"] == "ok" and line["problems"] == []
        assert line["pipeline"]["pointers"][0]["uri"] == "s3://%s/%s" % (
            sandbox["SANDBOX_ARTIFACT_BUCKET"], runs.pointer_key(workload["prefix"], "openai", "cs"))
        assert line["pipeline"]["run"]["run_id"] == RUN_ID and line["pipeline"]["run"]["status"] == "healthy"
        assert line["cluster"]["cronjob"]["schedule"] == cron.spec.schedule and line["cluster"]["cronjob"]["suspend"] is False
        assert sorted(d["name"] for d in line["cluster"]["deployments"]) == deployments
        assert line["taken_at"] >= line["scheduled_at"]

    summary = load(str(proof / "summary.json"))
    assert summary["verdict"] == "pass" and summary["checkpoints_taken"] == 3 and summary["checkpoints_missed"] == []
    assert summary["observed_runs"] == [{"run_id": RUN_ID, "first_seen_at": lines[0]["taken_at"], "checkpoint": 0}]
    final = load(str(proof / "final_receipt.json"))
    jsonschema.validate(final, RECEIPT_SCHEMA)
    assert final["status"] == "success" and final["outputs"]["verdict"] == "pass" and final["execution_id"] == run_id
    # Every step's receipt is filed under the harness run id, on disk and in the receipt bucket; the finish
    # step's (phase final) carries the final receipt the proof holds.
    receipts_dir = tmp_path / "receipts" / run_id
    assert sorted(os.listdir(str(receipts_dir))) == ["checkpoint-%04d.json" % i for i in range(3)] + ["final.json", "start.json"]
    finished = load(str(receipts_dir / "final.json"))
    jsonschema.validate(finished, RECEIPT_SCHEMA)
    assert finished["status"] == "success" and finished["execution_id"] == run_id and finished["operation"] == "stability_harness"
    assert finished["outputs"]["final_receipt"] == final and finished["outputs"]["verdict"] == "pass"
    s3_copy = sandbox.boto3_client("s3").get_object(Bucket=sandbox["SANDBOX_RECEIPT_BUCKET"], Key="receipts/%s/final.json" % run_id)
    assert json.loads(s3_copy["Body"].read()) == finished
    assert load(str(receipts_dir / "checkpoint-0001.json"))["outputs"]["checkpoint"] == lines[1]
    assert "m21 status=pass run_id=%s checkpoints=3/3 missed=0" % run_id in " ".join(result.stdout.split())

    # The proof is mirrored to the receipt bucket (m21_proof_bucket), file for file.
    before = digests(str(proof))
    s3 = sandbox.boto3_client("s3")
    mirror_base = "proofs/m21/%s/" % run_id
    listed = s3.list_objects_v2(Bucket=sandbox["SANDBOX_RECEIPT_BUCKET"], Prefix=mirror_base)["Contents"]
    copy = dict((item["Key"][len(mirror_base):], hashlib.sha256(s3.get_object(
        Bucket=sandbox["SANDBOX_RECEIPT_BUCKET"], Key=item["Key"])["Body"].read()).hexdigest()) for item in listed)
    assert copy == before

    # A rerun in a fresh container (no local proof): restored from S3, nothing changes, nothing is taken twice.
    shutil.rmtree(str(proof))
    again = run_playbook("stability_harness.yml", harness_vars(tmp_path, workload, run_id, 2, 1))
    assert again.rc == 0, again.stdout
    assert "changed=0" in again.stdout and "restored=%d" % len(before) in again.stdout
    assert digests(str(proof)) == before


def process_tree(pid):
    """``pid`` and every descendant, from /proc (ansible's workers call setsid, so a process group
    kill would leave them running the rest of the loop)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        task_dir = "/proc/%d/task" % current
        for task in (os.listdir(task_dir) if os.path.isdir(task_dir) else []):
            try:
                with open(os.path.join(task_dir, task, "children")) as handle:
                    queue.extend(int(child) for child in handle.read().split())
            except OSError:
                pass
    return found


def kill_tree(process):
    """A hard crash: SIGKILL the playbook we started and everything it started, by pid."""
    for _round in range(3):  # a worker may fork its module between reading the tree and the kill
        for pid in process_tree(process.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    process.wait()


def test_a_killed_harness_resumes_without_duplicating_checkpoints(sandbox, run_playbook, tmp_path, workload):
    run_id = "m21-kill-%s" % uuid.uuid4().hex[:8]
    # missed_after: a slot may be taken up to an hour late, so the resume continues however slow
    # this machine is (what a slot whose window closed looks like is covered in test_harness.py).
    values = harness_vars(tmp_path, workload, run_id, 3, 1, missed_after="1h")
    extravars = tmp_path / "extravars.json"
    extravars.write_text(json.dumps(values))
    env = sandbox.process_env()
    env.update(ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO_ROOT, "collections"))
    proof = tmp_path / "proofs" / run_id
    index = proof / "checkpoints.jsonl"
    with open(str(tmp_path / "killed.log"), "w") as log:
        process = subprocess.Popen(["ansible-playbook", "-i", os.path.join(REPO_ROOT, "inventories", "local"),
                                    os.path.join(REPO_ROOT, "playbooks", "stability_harness.yml"), "-e", "@%s" % extravars],
                                   cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 90
            while time.time() < deadline and not (index.exists() and len(jsonl(str(index))) >= 2):
                assert process.poll() is None, "the harness ended before it could be interrupted"
                time.sleep(0.1)
        finally:
            kill_tree(process)
    with open(str(proof / "start_receipt.json"), "rb") as handle:
        start_bytes = handle.read()
    before = dict((line["index"], line) for line in jsonl(str(index)))
    assert len(before) >= 2 and not (proof / "final_receipt.json").exists()

    # Check mode on the interrupted harness: it observes the pending checkpoints and writes nothing.
    files_before = digests(str(proof))
    receipts_dir = tmp_path / "receipts" / run_id
    receipts_before = digests(str(receipts_dir))  # what the killed run's steps receipted
    checked = run_playbook("stability_harness.yml", values, check=True)
    assert checked.rc == 0, checked.stdout
    assert digests(str(proof)) == files_before and digests(str(receipts_dir)) == receipts_before

    resumed = run_playbook("stability_harness.yml", values)
    assert resumed.rc == 0, resumed.stdout
    assert "m21 status=ok step=start run_id=%s start=resumed" % run_id in " ".join(resumed.stdout.split())
    with open(str(proof / "start_receipt.json"), "rb") as handle:
        assert handle.read() == start_bytes
    lines = jsonl(str(index))
    assert [line["index"] for line in lines] == list(range(4))  # continued after the last checkpoint, none twice
    for line in lines:
        if line["index"] in before:
            assert line == before[line["index"]]  # what was recorded before the kill is kept as it was
        assert load(str(proof / "checkpoints" / line["name"] / "checkpoint.json")) == line
    assert sorted(os.listdir(str(proof / "checkpoints"))) == [line["name"] for line in lines]
    summary = load(str(proof / "summary.json"))
    assert summary["complete"] and summary["checkpoints_planned"] == 4 and summary["checkpoints_missed"] == []
    assert summary["verdict"] == "pass"
    final = load(str(proof / "final_receipt.json"))
    jsonschema.validate(final, RECEIPT_SCHEMA)
    assert final["status"] == "success" and final["inputs"]["missed_after_s"] == 3600


def test_an_interval_under_a_minute_is_refused_before_anything_is_written(run_playbook, tmp_path, workload):
    run_id = "m21-short-%s" % uuid.uuid4().hex[:8]
    values = harness_vars(tmp_path, workload, run_id, 4, 1)
    del values["allow_short_interval"]
    refused = run_playbook("stability_harness.yml", values)
    assert refused.rc != 0
    assert "reason=interval_too_short" in refused.stdout and "-e allow_short_interval=true" in " ".join(refused.stdout.split())
    assert not (tmp_path / "proofs" / run_id).exists()


def test_a_resumed_slice_takes_the_due_checkpoint_and_ends(sandbox, run_playbook, tmp_path, workload):
    """max_checkpoints=1 on an hourly schedule (docs/runs.md): the first run takes checkpoint 0; a resume
    within the hour finds nothing due and ends at once instead of sleeping until the next slot."""
    run_id = "m21-slice-%s" % uuid.uuid4().hex[:8]
    values = harness_vars(tmp_path, workload, run_id, None, None, max_checkpoints=1)
    for name in ("duration_seconds", "interval_seconds", "allow_short_interval"):
        del values[name]
    values.update(duration="72h", interval="60m")
    first = run_playbook("stability_harness.yml", values)
    assert first.rc == 0, first.stdout
    proof = tmp_path / "proofs" / run_id
    assert [line["index"] for line in jsonl(str(proof / "checkpoints.jsonl"))] == [0]
    assert load(str(proof / "summary.json"))["verdict"] == "in_progress"

    started = time.monotonic()
    resumed = run_playbook("stability_harness.yml", values)
    elapsed = time.monotonic() - started
    assert resumed.rc == 0, resumed.stdout
    assert elapsed < 120  # checkpoint 1 is due in an hour: it is not waited for
    text = " ".join(resumed.stdout.split())
    assert "start=resumed" in text and "checkpoint=checkpoint-0001 state=upcoming" in text
    assert [line["index"] for line in jsonl(str(proof / "checkpoints.jsonl"))] == [0]  # nothing made up
    summary = load(str(proof / "summary.json"))
    assert summary["verdict"] == "in_progress" and summary["checkpoints_taken"] == 1

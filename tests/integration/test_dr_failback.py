"""dr_failback.yml against the sandbox: the full failback, each gate refusing, a dry run and --check.

The promoted DR state is created directly with the clients, not by running the drill (test_dr_drill.py proves the
drill and promote; a drill per test would cost minutes): per test its own namespace in both emulators (a running DR
CronJob, one the backup had suspended, the primary's CronJob paused as it is while DR is live), its own primary prefix
and DR publish prefix in the artifact bucket (primary run r1 published before the promotion, DR run r2 after it), the
canonical pointer as dr_promote writes it (canonical=dr, run_id, publish_prefix, promoted_at) and one DR runner tagged
with the run id. Everything is read back with boto3 (S3 objects and pointers, EC2 DescribeInstances) and the
kubernetes client on both emulators, and compared with a snapshot taken before the run.
"""

import json
import os
import time
import uuid

import pytest
import yaml
from kubernetes import client as k8s_client

from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import runner
from ansible_collections.signalcraft.ops.plugins.module_utils.services import k8s
from tests.integration.test_guard_matrix import k8s_audit_marks, k8s_writes_since

PHASES = ("confirm", "promoted", "freeze", "divergence", "primary", "teardown")
PAIR = "openai/cs"
R1_ONLY = "ranked_jobs.r1-only.json"


def uid():
    return uuid.uuid4().hex[:8]


def cronjob(name, suspend, image):
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
            "spec": {"schedule": "0 6 * * *", "suspend": suspend, "concurrencyPolicy": "Forbid",
                     "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never",
                                                                    "containers": [{"name": "jobintel", "image": image}]}}}}}}


def put_json(s3, bucket, key, document):
    s3.put_object(Bucket=bucket, Key=key, Body=(json.dumps(document, indent=2, sort_keys=True) + "\n").encode(),
                  ContentType="application/json")


def pointer(bucket, prefix, run_id, pair=None):
    provider, profile = pair.split("/") if pair else (None, None)
    return {"schema_version": "pointer.v1", "run_id": run_id, "provider": provider, "profile": profile,
            "target": "s3://%s/%s/runs/%s/%s" % (bucket, prefix, run_id, (pair + "/") if pair else ""),
            "published_at": "2026-01-01T00:00:00.000Z", "object_count": 1, "provenance": {}}


def publish(s3, bucket, prefix, run_id, body):
    """A run as publish leaves it: the run's object, latest/ copy, run and pair pointers."""
    s3.put_object(Bucket=bucket, Key="%s/runs/%s/%s/run_summary.v1.json" % (prefix, run_id, PAIR), Body=body)
    s3.put_object(Bucket=bucket, Key="%s/latest/%s/run_summary.v1.json" % (prefix, PAIR), Body=body)
    put_json(s3, bucket, "%s/state/last_success.json" % prefix, pointer(bucket, prefix, run_id))
    put_json(s3, bucket, "%s/state/%s/last_success.json" % (prefix, PAIR), pointer(bucket, prefix, run_id, PAIR))


@pytest.fixture
def promoted(sandbox):
    """A promoted DR run: both namespaces, both prefixes, the canonical pointer, one runner."""
    tag = uid()
    state = {"run_id": "dr-fb-%s" % tag, "namespace": "fb-%s" % tag, "prefix": "failback-%s" % tag,
             "dr_prefix": "failback-%s-dr" % tag, "bucket": sandbox["SANDBOX_ARTIFACT_BUCKET"], "image": sandbox["SANDBOX_IMAGE_REF"]}
    state["pointer_key"] = "%s/dr/canonical.json" % state["prefix"]
    s3 = sandbox.boto3_client("s3")
    for cluster, running in (("dr", True), ("primary", False)):
        api = sandbox.k8s_api_client(cluster)
        k8s_client.CoreV1Api(api).create_namespace({"metadata": {"name": state["namespace"]}})
        batch = k8s_client.BatchV1Api(api)
        batch.create_namespaced_cron_job(state["namespace"], cronjob("jobintel-daily", not running, state["image"]))
        if cluster == "dr":
            # Suspended in the backup: the freeze leaves it alone and a refusal does not resume it.
            batch.create_namespaced_cron_job(state["namespace"], cronjob("jobintel-weekly", True, state["image"]))
    publish(s3, state["bucket"], state["prefix"], "r1", b'{"run": "r1", "side": "primary"}\n')
    # r1 had a file DR's run does not: carrying DR's latest/ over must leave the primary's without it, as publish would.
    s3.put_object(Bucket=state["bucket"], Key="%s/latest/%s/%s" % (state["prefix"], PAIR, R1_ONLY), Body=b'{"r1": "only"}\n')
    # S3 keeps LastModified to the second: the promotion comes after the primary's last write.
    time.sleep(1.2)
    put_json(s3, state["bucket"], state["pointer_key"], {
        "schema_version": "dr_canonical.v1", "canonical": "dr", "run_id": state["run_id"], "publish_prefix": state["dr_prefix"],
        "image_ref": state["image"], "bundle_uri": None, "bundle_sha256": None,
        "approval": {"mode": "bypass", "approver": None, "ticket": None, "execution_arn": None},
        "promoted_at": receipts.format_timestamp(receipts.utc_now())})
    publish(s3, state["bucket"], state["dr_prefix"], "r2", b'{"run": "r2", "side": "dr"}\n')
    ec2 = sandbox.boto3_client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ec2.run_instances(ImageId=image, InstanceType="t4g.medium", MinCount=1, MaxCount=1, TagSpecifications=[{
        "ResourceType": "instance", "Tags": [{"Key": runner.RUN_ID_TAG, "Value": state["run_id"]},
                                             {"Key": runner.ROLE_TAG, "Value": runner.ROLE_VALUE}]}])
    return state


def extravars(sandbox, state, receipt_dir, **extra):
    values = {"dr_run_id": state["run_id"], "confirm1": "FAILBACK", "confirm2": "CONFIRM-%s" % state["run_id"],
              "kubeconfig_dr": sandbox["SANDBOX_DR_KUBECONFIG"], "kubeconfig_primary": sandbox["SANDBOX_PRIMARY_KUBECONFIG"],
              "namespace": state["namespace"], "prefix": state["prefix"], "bucket": state["bucket"], "image_ref": state["image"],
              "provider": "openai", "profile": "cs", "receipt_dir": str(receipt_dir), "job_wait_timeout": 3,
              "dr_failback_poll_interval": 0.5, "dr_failback_teardown_wait_timeout": 60}
    values.update(extra)
    return values


def live_runners(sandbox, run_id):
    reservations = sandbox.boto3_client("ec2").describe_instances(Filters=[
        {"Name": "tag:%s" % runner.RUN_ID_TAG, "Values": [run_id]},
        {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped", "shutting-down"]}])
    return [i["InstanceId"] for r in reservations["Reservations"] for i in r["Instances"]]


def cluster_objects(sandbox, namespace, comparable=False):
    """Every CronJob and Job of the namespace in both clusters (as the server has them, or without volatile metadata)."""
    found = {}
    for cluster in ("dr", "primary"):
        batch = k8s_client.BatchV1Api(sandbox.k8s_api_client(cluster))
        api = batch.api_client
        for kind, items in (("CronJob", batch.list_namespaced_cron_job(namespace).items), ("Job", batch.list_namespaced_job(namespace).items)):
            for item in items:
                obj = api.sanitize_for_serialization(item)
                found["%s/%s/%s" % (cluster, kind, item.metadata.name)] = k8s.comparable(obj) if comparable else obj
    return found


def s3_objects(sandbox, state):
    """Every object under both prefixes: key -> (ETag, LastModified, body)."""
    s3, found = sandbox.boto3_client("s3"), {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=state["bucket"], Prefix=state["prefix"]):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=state["bucket"], Key=item["Key"])["Body"].read()
            found[item["Key"]] = (item["ETag"], item["LastModified"].isoformat(), body)
    return found


def suspended(sandbox, cluster, namespace, name):
    return k8s_client.BatchV1Api(sandbox.k8s_api_client(cluster)).read_namespaced_cron_job(name, namespace).spec.suspend


def s3_json(sandbox, bucket, key):
    return json.loads(sandbox.boto3_client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def phase_receipts(receipt_dir):
    folder = os.path.join(str(receipt_dir), "phases")
    return {name[:-5]: json.load(open(os.path.join(folder, name))) for name in os.listdir(folder) if name.endswith(".json")}


def summary(receipt_dir):
    with open(os.path.join(str(receipt_dir), "failback.summary.json")) as handle:
        return json.load(handle)


def transitions(receipt_dir):
    with open(os.path.join(str(receipt_dir), "state_transitions.log")) as handle:
        return handle.read().splitlines()


def test_full_failback_then_a_second_run_changes_nothing(sandbox, run_playbook, tmp_path, promoted):
    state = promoted
    assert live_runners(sandbox, state["run_id"])
    done = run_playbook("dr_failback.yml", extravars(sandbox, state, tmp_path / "fb"))
    assert done.rc == 0, done.stdout
    assert "dr_failback status=ok" in done.stdout
    found = phase_receipts(tmp_path / "fb")
    assert {p: found[p]["status"] for p in PHASES} == dict.fromkeys(PHASES, "success")

    # DR frozen: the running CronJob suspended, the one the backup had suspended still suspended.
    assert suspended(sandbox, "dr", state["namespace"], "jobintel-daily") is True
    assert suspended(sandbox, "dr", state["namespace"], "jobintel-weekly") is True
    assert found["freeze"]["outputs"]["frozen"] == ["jobintel-daily"]
    # The primary's scheduling resumed.
    assert suspended(sandbox, "primary", state["namespace"], "jobintel-daily") is False
    # The canonical pointer back on the primary, naming the DR run it came back from.
    canonical = s3_json(sandbox, state["bucket"], state["pointer_key"])
    assert canonical["canonical"] == "primary" and canonical["failed_back_from"]["run_id"] == state["run_id"]
    assert canonical["publish_prefix"] == state["prefix"]
    # DR's run carried over byte for byte; the primary's pointers name it, at the primary's prefix.
    s3 = sandbox.boto3_client("s3")
    copied = s3.get_object(Bucket=state["bucket"], Key="%s/runs/r2/%s/run_summary.v1.json" % (state["prefix"], PAIR))["Body"].read()
    assert copied == b'{"run": "r2", "side": "dr"}\n'
    latest = s3.get_object(Bucket=state["bucket"], Key="%s/latest/%s/run_summary.v1.json" % (state["prefix"], PAIR))["Body"].read()
    assert latest == copied
    # latest/ is DR's: the file only r1 had is gone from the primary's latest/ (and recorded), r1's run keeps its objects.
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=state["bucket"], Prefix="%s/latest/%s/" % (state["prefix"], PAIR))["Contents"]]
    assert listed == ["%s/latest/%s/run_summary.v1.json" % (state["prefix"], PAIR)]
    assert found["primary"]["outputs"]["delete"] == ["latest/%s/%s" % (PAIR, R1_ONLY)]
    assert s3.head_object(Bucket=state["bucket"], Key="%s/runs/r1/%s/run_summary.v1.json" % (state["prefix"], PAIR))
    for key in ("state/last_success.json", "state/%s/last_success.json" % PAIR):
        document = s3_json(sandbox, state["bucket"], "%s/%s" % (state["prefix"], key))
        assert document["run_id"] == "r2"
        assert document["target"].startswith("s3://%s/%s/runs/r2/" % (state["bucket"], state["prefix"]))
    # The runners of the DR run: none left.
    assert live_runners(sandbox, state["run_id"]) == []
    assert found["teardown"]["outputs"]["remaining"] == 0

    record = summary(tmp_path / "fb")
    assert record["status"] == "success" and record["dr_run_id"] == state["run_id"] and record["runner_count_after_teardown"] == 0
    lines = transitions(tmp_path / "fb")
    assert any(line.endswith("freeze transition dr_cronjob/jobintel-daily: running -> suspended") for line in lines)
    assert any(line.endswith("primary transition primary_cronjob/jobintel-daily: suspended -> running") for line in lines)
    assert any(line.endswith("primary transition canonical: dr/%s -> primary" % state["run_id"]) for line in lines)
    assert any(line.endswith("primary transition latest/%s/%s: present -> deleted" % (PAIR, R1_ONLY)) for line in lines)
    assert lines[-1].split(" ", 1)[1] == "teardown success"

    # Again: the promoted gate sees the completed failback, nothing changes anywhere.
    objects, clusters = s3_objects(sandbox, state), cluster_objects(sandbox, state["namespace"])
    again = run_playbook("dr_failback.yml", extravars(sandbox, state, tmp_path / "again"))
    assert again.rc == 0, again.stdout
    repeat = phase_receipts(tmp_path / "again")
    assert repeat["promoted"]["outputs"]["state"] == "failed_back"
    assert not any(repeat[p]["changed"] for p in PHASES)
    assert s3_objects(sandbox, state) == objects
    assert cluster_objects(sandbox, state["namespace"]) == clusters


def make_divergent(sandbox, state):
    """The primary holds another r2 object at the key DR's run would be copied to."""
    sandbox.boto3_client("s3").put_object(Bucket=state["bucket"], Key="%s/runs/r2/%s/run_summary.v1.json" % (state["prefix"], PAIR),
                                          Body=b'{"run": "r2", "side": "primary, on its own"}\n')


def start_job(sandbox, state):
    """A Job in the DR namespace that keeps running (the emulated pods run for 10 minutes)."""
    sandbox.control("dr", "config", {"pod_run_seconds": 600})
    k8s_client.BatchV1Api(sandbox.k8s_api_client("dr")).create_namespaced_job(state["namespace"], {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "jobintel-daily-manual"},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
                                                          "containers": [{"name": "jobintel", "image": state["image"]}]}}}})
    deadline = time.time() + 30
    while time.time() < deadline:
        pods = k8s_client.CoreV1Api(sandbox.k8s_api_client("dr")).list_namespaced_pod(state["namespace"]).items
        if pods and all(p.status.phase == "Running" for p in pods):
            return
        time.sleep(0.5)


def primary_may_only_read(sandbox, state):
    """A primary kubeconfig whose identity may list the CronJobs but not patch them (failback's primary step resumes them)."""
    identity = sandbox.control("primary", "identities", {"name": "cj-reader-%s" % uid(), "rules": [
        {"apiGroups": ["batch"], "resources": ["cronjobs", "jobs"], "verbs": ["get", "list", "watch"]}]})
    with open(sandbox["SANDBOX_PRIMARY_KUBECONFIG"]) as handle:
        document = yaml.safe_load(handle)
    document["users"][0]["user"]["token"] = identity["token"]
    path = os.path.join(sandbox.dir, "cj-reader-%s.kubeconfig" % uid())
    with open(path, "w") as handle:
        yaml.safe_dump(document, handle)
    os.chmod(path, 0o600)
    return {"kubeconfig_primary": path}


CASES = {
    # case: (extravars, setup (may return more extravars), failed phase, token, the freeze ran and was undone)
    "wrong_confirmation": ({"confirm2": "CONFIRM-dr-someone-else"}, None, "confirm", "confirmation_missing", False),
    "not_promoted": ({"dr_run_id": "dr-fb-never", "confirm2": "CONFIRM-dr-fb-never"}, None, "promoted", "not_promoted", False),
    "job_in_flight": ({}, start_job, "freeze", "jobs_in_flight", True),
    "divergence": ({}, make_divergent, "divergence", "failback_divergence", True),
    # Asked before the freeze (SelfSubjectAccessReview): nothing was frozen, so nothing is thawed.
    "primary_forbidden": ({}, primary_may_only_read, "freeze", "k8s_forbidden", False),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_gate_refuses_and_leaves_both_clusters_and_s3_unchanged(sandbox, run_playbook, tmp_path, promoted, case):
    extra, setup, phase, token, thawed = CASES[case]
    state = promoted
    original = sandbox.control("dr", "config")
    try:
        if setup:
            extra = dict(extra, **(setup(sandbox, state) or {}))
        objects, clusters = s3_objects(sandbox, state), cluster_objects(sandbox, state["namespace"], comparable=True)
        marks = k8s_audit_marks(sandbox)
        done = run_playbook("dr_failback.yml", extravars(sandbox, state, tmp_path / case, **extra))
        assert done.rc != 0
        # (a refused access check prints its own line instead of the step's: checked below)
        assert case == "primary_forbidden" or "%s status=fail reason=%s" % (phase, token) in done.stdout
        assert "dr_failback status=fail reason=%s" % token in done.stdout, done.stdout[-3000:]
        # Both clusters hold what they held (a CronJob the freeze suspended is running again), S3 is untouched.
        assert cluster_objects(sandbox, state["namespace"], comparable=True) == clusters
        assert suspended(sandbox, "dr", state["namespace"], "jobintel-daily") is False
        assert suspended(sandbox, "dr", state["namespace"], "jobintel-weekly") is True
        assert s3_objects(sandbox, state) == objects
        assert live_runners(sandbox, state["run_id"])
    finally:
        sandbox.control("dr", "config", {"pod_run_seconds": original.get("pod_run_seconds", 1.0)})
    found = phase_receipts(tmp_path / case)
    assert found[phase]["status"] == "failed" and found[phase]["failure_code"] == token
    later = PHASES[PHASES.index(phase) + 1:]
    assert all(found[p]["status"] == "skipped" for p in later)
    if thawed:
        assert found[phase]["outputs"]["thawed"] == ["jobintel-daily"]
    if case == "divergence":
        assert found[phase]["outputs"]["conflict"] == ["runs/r2/%s/run_summary.v1.json" % PAIR]
    if case == "job_in_flight":
        assert found[phase]["outputs"]["in_flight"] == ["jobintel-daily-manual"]
    if case == "primary_forbidden":
        message = found[phase]["message"]
        assert "cluster=primary denied=1 verb=patch resource=cronjobs namespace=%s" % state["namespace"] in message, message
        assert "kubeconfig_primary" in message  # names the operator's variable that chose the kubeconfig
        assert "k8s_access status=fail reason=k8s_forbidden cluster=primary" in done.stdout
        # Refused before the freeze: no write request reached either cluster (their audit logs).
        assert k8s_writes_since(sandbox, marks) == []
    record = summary(tmp_path / case)
    assert record["status"] == "failed" and record["failed_phase"] == phase and record["failure_code"] == token
    assert any(line.endswith("%s failed reason=%s" % (phase, token)) for line in transitions(tmp_path / case))


def test_divergence_allowed_by_name_overwrites_it(sandbox, run_playbook, tmp_path, promoted):
    state = promoted
    make_divergent(sandbox, state)
    key = "runs/r2/%s/run_summary.v1.json" % PAIR
    done = run_playbook("dr_failback.yml", extravars(sandbox, state, tmp_path / "allow", allow_overwrite=[key], teardown=False))
    assert done.rc == 0, done.stdout
    found = phase_receipts(tmp_path / "allow")
    assert found["divergence"]["outputs"]["overwrite"] == [key]
    assert found["teardown"]["status"] == "skipped" and found["teardown"]["skip_reason"] == "teardown=false"
    body = sandbox.boto3_client("s3").get_object(Bucket=state["bucket"], Key="%s/%s" % (state["prefix"], key))["Body"].read()
    assert body == b'{"run": "r2", "side": "dr"}\n'
    assert live_runners(sandbox, state["run_id"])


def test_a_dry_run_and_check_mode_change_nothing(sandbox, run_playbook, tmp_path, promoted):
    state = promoted
    objects, clusters = s3_objects(sandbox, state), cluster_objects(sandbox, state["namespace"])
    dry = run_playbook("dr_failback.yml", extravars(sandbox, state, tmp_path / "dry", dry_run=True))
    assert dry.rc == 0, dry.stdout
    assert "primary status=planned canonical=would_move" in dry.stdout
    # Byte for byte: every object (ETag, LastModified, body) and every Kubernetes object (resourceVersion included).
    assert s3_objects(sandbox, state) == objects
    assert cluster_objects(sandbox, state["namespace"]) == clusters
    assert live_runners(sandbox, state["run_id"])
    found = phase_receipts(tmp_path / "dry")
    assert {p: found[p]["status"] for p in PHASES} == dict.fromkeys(PHASES, "success")
    assert found["freeze"]["outputs"]["would_freeze"] == ["jobintel-daily"] and found["freeze"]["outputs"]["frozen"] == []
    assert found["divergence"]["outputs"]["copy"] == ["runs/r2/%s/run_summary.v1.json" % PAIR]
    assert found["primary"]["outputs"]["canonical"] == "would_move"
    assert summary(tmp_path / "dry")["dry_run"] is True
    assert all(line.endswith("dry_run=true") for line in transitions(tmp_path / "dry") if line.endswith(("success", "dry_run=true")))

    checked = run_playbook("dr_failback.yml", extravars(sandbox, state, tmp_path / "check"), check=True)
    assert checked.rc == 0, checked.stdout
    assert s3_objects(sandbox, state) == objects
    assert cluster_objects(sandbox, state["namespace"]) == clusters
    assert not os.path.exists(str(tmp_path / "check" / "failback.summary.json"))

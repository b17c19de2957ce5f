"""dr_drill.yml and dr_approve.yml against the sandbox: every iteration mode, read back independently.

State is read back with boto3 (EC2 runners by their run-id tag, Step Functions executions, the canonical
pointer and the receipt copies in the receipt bucket), the kubernetes client on the ``dr`` emulator
(Namespace, ConfigMaps, Secret, ServiceAccount, CronJob, Jobs) and the receipt files on disk. Each test
uses its own run id, receipt dir and (except the headline command) its own namespace; faults and
emulator config set here are reset in ``finally``/``clean_faults``.
"""

import json
import os
import subprocess
import threading
import time
import uuid

import pytest
import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException

from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import bundle
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import control_plane
from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.services import k8s
from tests.conftest import REPO_ROOT

PHASES = ("bringup", "restore", "validate", "promote", "teardown")
RUN_ID_TAG = "signalcraft:dr-run-id"
# Fast retries and a short pod run for tests; the roles' defaults are 2 retries, 15 s backoff.
FAST = {"dr_validate_retry_backoff_seconds": 0, "dr_validate_poll_interval": 0.3, "dr_promote_poll_interval": 0.5}


def uid():
    return uuid.uuid4().hex[:8]


def drill(run_playbook, receipt_dir, envvars=None, **extravars):
    values = dict(FAST, receipt_dir=str(receipt_dir))
    values.update(extravars)
    return run_playbook("dr_drill.yml", values, envvars=envvars)


def phase_receipts(receipt_dir):
    folder = os.path.join(str(receipt_dir), "phases")
    return {name[:-5]: json.load(open(os.path.join(folder, name))) for name in os.listdir(folder) if name.endswith(".json")}


def summary(receipt_dir):
    with open(os.path.join(str(receipt_dir), "drill.summary.json")) as handle:
        return json.load(handle)


def statuses(found):
    return {phase: found[phase]["status"] for phase in PHASES if phase in found}


def s3_json(sandbox, bucket, key):
    return json.loads(sandbox.boto3_client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def s3_receipt(sandbox, run_id, phase):
    return s3_json(sandbox, sandbox["SANDBOX_RECEIPT_BUCKET"], "receipts/%s/%s.json" % (run_id, phase))


def runners(sandbox, run_id, states=("pending", "running", "stopping", "stopped", "shutting-down", "terminated")):
    reservations = sandbox.boto3_client("ec2").describe_instances(
        Filters=[{"Name": "tag:%s" % RUN_ID_TAG, "Values": [run_id]}, {"Name": "instance-state-name", "Values": list(states)}])
    return [i for r in reservations["Reservations"] for i in r["Instances"]]


def live_runners(sandbox, run_id):
    return runners(sandbox, run_id, states=("pending", "running", "stopping", "stopped"))


def apis(sandbox):
    api_client = sandbox.k8s_api_client("dr")
    return k8s_client.CoreV1Api(api_client), k8s_client.BatchV1Api(api_client)


def namespace_exists(core, name):
    return name in [n.metadata.name for n in core.list_namespace().items]


def validate_jobs(batch, namespace, run_id):
    return batch.list_namespaced_job(namespace, label_selector="signalcraft.io/dr-run-id=%s" % run_id).items


def assert_restored(core, batch, namespace):
    """What restore leaves in the namespace: control-plane ConfigMaps, the pull secret linked to the SA, the suspended CronJob."""
    names = [c.metadata.name for c in core.list_namespaced_config_map(namespace).items]
    for section in bundle.SECTIONS:
        assert "control-plane-%s" % section in names
    secret = core.read_namespaced_secret("ecr-pull", namespace)
    assert secret.type == "kubernetes.io/dockerconfigjson"
    account = core.read_namespaced_service_account("jobintel", namespace)
    assert "ecr-pull" in [s.name for s in account.image_pull_secrets or []]
    # Restore always leaves the CronJob suspended (and marked as suspended by it); promote resumes it.
    cronjob = batch.read_namespaced_cron_job("jobintel-daily", namespace)
    assert cronjob.spec.suspend is True
    assert (cronjob.metadata.annotations or {}).get("signalcraft.io/suspended-by") == "dr-restore"


def approve_when_requested(sandbox, run_id, receipt_dir, outcome):
    """The approver's side: once the drill's gate execution exists, run dr_approve.yml (as AWX's job after the approval node)."""
    sfn = sandbox.boto3_client("stepfunctions")
    deadline = time.time() + 120
    while time.time() < deadline:
        executions = [e for m in sfn.list_state_machines()["stateMachines"]
                      for e in sfn.list_executions(stateMachineArn=m["stateMachineArn"])["executions"]
                      if e["name"] == "dr-promote-%s" % run_id]
        if executions:
            break
        time.sleep(0.5)
    env = sandbox.process_env()
    env.update(ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO_ROOT, "collections"),
               ANSIBLE_NOCOLOR="1")
    done = subprocess.run(["ansible-playbook", "-i", os.path.join(REPO_ROOT, "inventories", "local"),
                           os.path.join(REPO_ROOT, "playbooks", "dr_approve.yml"), "-e", "receipt_dir=%s" % receipt_dir,
                           "-e", "approver=alice", "-e", "ticket=CHG-4242", "-e", "dr_approve_wait_delay=1"],
                          capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=300, check=False)
    outcome.update(rc=done.returncode, stdout=done.stdout + done.stderr)


def test_headline_stop_after_validate_then_approved_promote_and_teardown(sandbox, run_playbook, tmp_path, clean_faults):
    """The headline command with inventory defaults only, then drill start_at=promote approved through dr_approve.yml."""
    run_id, receipt_dir = "test-headline-%s" % uid(), tmp_path / "headline"
    first = drill(run_playbook, receipt_dir, stop_after="validate", run_id=run_id)
    assert first.rc == 0, first.stdout
    found = phase_receipts(receipt_dir)
    assert found["guards"]["status"] == "success"
    assert statuses(found) == {"bringup": "success", "restore": "success", "validate": "success",
                               "promote": "skipped", "teardown": "skipped"}
    assert found["promote"]["skip_reason"] == found["teardown"]["skip_reason"] == "stop_after=validate"
    assert {r["execution_id"] for r in found.values()} == {run_id}
    assert summary(receipt_dir)["status"] == "success"

    # Bringup: one t4g runner tagged with the run id, the kubeconfig captured 0600 into the receipt dir.
    running = live_runners(sandbox, run_id)
    assert len(running) == 1 and running[0]["InstanceType"].startswith("t4g.")
    assert {"signalcraft:role": "dr-runner"}.items() <= {t["Key"]: t["Value"] for t in running[0]["Tags"]}.items()
    kubeconfig = receipt_dir / "kubeconfig.yaml"
    assert kubeconfig.is_file() and (kubeconfig.stat().st_mode & 0o777) == 0o600
    assert found["bringup"]["outputs"]["instances"] == [running[0]["InstanceId"]]

    # Restore (inventory namespace) and validate: the Job ran the digest-pinned image with the pinned resources.
    core, batch = apis(sandbox)
    assert_restored(core, batch, "jobintel")
    jobs = validate_jobs(batch, "jobintel", run_id)
    assert len(jobs) == 1 and jobs[0].status.succeeded == 1
    container = jobs[0].spec.template.spec.containers[0]
    assert container.image == sandbox["SANDBOX_IMAGE_REF"]
    assert container.resources.requests == {"cpu": "250m", "memory": "512Mi"}
    assert container.resources.limits == {"cpu": "1", "memory": "2Gi"}
    assert found["restore"]["outputs"]["bundle_sha256"] == s3_json(
        sandbox, sandbox["SANDBOX_ARTIFACT_BUCKET"], "%s/control-plane/current.json" % sandbox["SANDBOX_PREFIX"])["bundle_sha256"]

    # Receipts are copied to the receipt bucket, byte-for-byte the same documents.
    for phase in ("guards",) + PHASES:
        assert s3_receipt(sandbox, run_id, phase) == found[phase]
    assert s3_receipt(sandbox, run_id, "drill.summary")["run_id"] == run_id

    # Promote: the drill waits on the gate; the approver answers through dr_approve.yml; then teardown.
    outcome = {}
    approver = threading.Thread(target=approve_when_requested, args=(sandbox, run_id, str(receipt_dir), outcome))
    approver.start()
    second = drill(run_playbook, receipt_dir, start_at="promote", dr_promote_approval_timeout_seconds=240)
    approver.join(timeout=300)
    assert outcome.get("rc") == 0, outcome.get("stdout")
    assert second.rc == 0, second.stdout
    found = phase_receipts(receipt_dir)
    assert statuses(found) == {phase: "success" for phase in PHASES}
    assert found["approve"]["outputs"]["approver"] == "alice" and found["approve"]["outputs"]["decision"] == "approved"
    assert s3_receipt(sandbox, run_id, "approve")["outputs"]["ticket"] == "CHG-4242"
    promoted = found["promote"]["outputs"]
    assert (promoted["approval_mode"], promoted["bypass"], promoted["approver"], promoted["ticket"]) == ("manual", False, "alice", "CHG-4242")
    execution = sandbox.boto3_client("stepfunctions").describe_execution(executionArn=promoted["execution_arn"])
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"])["approval"]["approver"] == "alice"
    pointer = s3_json(sandbox, sandbox["SANDBOX_ARTIFACT_BUCKET"], "%s/dr/canonical.json" % sandbox["SANDBOX_PREFIX"])
    assert pointer["run_id"] == run_id and pointer["canonical"] == "dr"
    assert pointer["approval"] == {"mode": "manual", "approver": "alice", "ticket": "CHG-4242", "execution_arn": promoted["execution_arn"]}
    assert pointer["bundle_sha256"] == found["restore"]["outputs"]["bundle_sha256"]
    # Promote made DR live: the CronJob restore suspended runs again (read back from the DR cluster), and the
    # receipt (local and in the receipt bucket) records it beside the pointer.
    assert batch.read_namespaced_cron_job("jobintel-daily", "jobintel").spec.suspend is False
    assert (promoted["scheduling"], promoted["resumed_cronjobs"], promoted["keep_suspended"]) == ("resumed", ["jobintel-daily"], False)
    assert {"name": "jobintel-daily", "action": "resumed", "suspend": False} in promoted["cronjobs"]
    assert promoted["pointer_uri"].endswith("/dr/canonical.json") and promoted["pointer_version_id"]
    assert s3_receipt(sandbox, run_id, "promote")["outputs"]["resumed_cronjobs"] == ["jobintel-daily"]
    assert "scheduling=resumed" in second.stdout and "resumed=jobintel-daily" in second.stdout
    # Teardown: back to zero runners of this run.
    assert live_runners(sandbox, run_id) == []
    assert [i["State"]["Name"] for i in runners(sandbox, run_id)] == ["terminated"]
    final = summary(receipt_dir)
    assert final["status"] == "success" and final["runner_count_after_teardown"] == 0
    assert final["promotion"] == {"promoted": True, "approval_mode": "manual", "bypass": False, "approver": "alice", "ticket": "CHG-4242"}

    # dr_status.yml lists the drill with its recovery point and time, read from the index entry its summary wrote.
    s3 = sandbox.boto3_client("s3")
    [key] = [o["Key"] for o in s3.list_objects_v2(Bucket=sandbox["SANDBOX_RECEIPT_BUCKET"], Prefix="receipts/index/dr_drill/")["Contents"]
             if o["Key"].endswith("-%s.json" % run_id)]
    entry = s3_json(sandbox, sandbox["SANDBOX_RECEIPT_BUCKET"], key)
    assert (entry["run_id"], entry["status"], entry["promoted"]) == (run_id, "success", True)
    assert entry["recovery_time"] == final["objectives"]["recovery_time"] and entry["recovery_point"] == final["objectives"]["recovery_point"]
    assert entry["recovery_time"]["to_promote_minutes"] >= entry["recovery_time"]["to_validate_minutes"] > 0
    status = run_playbook("dr_status.yml", {"drills": 3})
    assert status.rc == 0, status.stdout
    text = " ".join(status.stdout.split())
    assert "drill %s success" % run_id in text and "rto_validate_min=%s" % entry["recovery_time"]["to_validate_minutes"] in text, text[-3000:]
    assert "rto_promote_min=%s" % entry["recovery_time"]["to_promote_minutes"] in text and "drills=" in text


# Eight drill runs in sequence: longer than the suite's per-test timeout on a loaded machine.
@pytest.mark.timeout(2400)
def test_cost_discipline_sequence_with_retries_and_bypass(sandbox, run_playbook, tmp_path, clean_faults):
    """bringup only -> restore only -> validate (image pull fails, memory short, override) -> bypass promote -> teardown."""
    run_id, receipt_dir, namespace = "test-cost-%s" % uid(), tmp_path / "cost", "dr-cost-%s" % uid()
    core, batch = apis(sandbox)
    pointer_key = "test-drill-%s/dr/canonical.json" % uid()
    extra = {"dr_namespace": namespace, "dr_promote_pointer_key": pointer_key}

    # 1) Bringup only: a runner and the kubeconfig; nothing in the cluster yet.
    step = drill(run_playbook, receipt_dir, start_at="bringup", stop_after="bringup", teardown=False, max_attempts=1, run_id=run_id, **extra)
    assert step.rc == 0, step.stdout
    found = phase_receipts(receipt_dir)
    assert statuses(found) == {"bringup": "success", "restore": "skipped", "validate": "skipped", "promote": "skipped", "teardown": "skipped"}
    assert {found[p]["skip_reason"] for p in ("restore", "validate", "promote", "teardown")} == {"stop_after=bringup"}
    assert len(live_runners(sandbox, run_id)) == 1 and not namespace_exists(core, namespace)
    assert found["bringup"]["changed"] is True

    # ... run again: the same runner is found by its tag, nothing launched, changed=false.
    step = drill(run_playbook, receipt_dir, start_at="bringup", stop_after="bringup", teardown=False, **extra)
    assert step.rc == 0, step.stdout
    found = phase_receipts(receipt_dir)
    assert (found["bringup"]["changed"], found["bringup"]["outputs"]["launched"]) == (False, [])
    assert [i["InstanceId"] for i in live_runners(sandbox, run_id)] == found["bringup"]["outputs"]["instances"]
    bringup_receipt = found["bringup"]

    # 2) Restore only, the run id and kubeconfig found from the receipt dir; bringup's receipt is kept.
    step = drill(run_playbook, receipt_dir, start_at="restore", stop_after="restore", teardown=False, **extra)
    assert step.rc == 0, step.stdout
    found = phase_receipts(receipt_dir)
    assert found["bringup"] == bringup_receipt
    assert found["restore"]["status"] == "success" and found["restore"]["execution_id"] == run_id
    assert found["validate"]["skip_reason"] == "stop_after=restore"
    assert_restored(core, batch, namespace)
    assert len(live_runners(sandbox, run_id)) == 1

    # 3) Validate with every pull failing: retried once after refreshing the pull secret, then a clean failure with
    #    the pod's reason; the promote phase after it is skipped.
    secret_before = core.read_namespaced_secret("ecr-pull", namespace).metadata.resource_version
    digest = sandbox["SANDBOX_IMAGE_REF"].split("@")[1]
    sandbox.control("dr", "faults", {"pull": {"fail_images": [digest], "reason": "ErrImagePull"}})
    try:
        step = drill(run_playbook, receipt_dir, start_at="validate", stop_after="promote", teardown=False, envvars={"DR_VALIDATE_MAX_RETRIES": "1"},
                     **extra)
    finally:
        sandbox.control("dr", "faults", method="DELETE")
    assert step.rc != 0 and "validate failed: image_pull" in step.stdout
    found = phase_receipts(receipt_dir)
    validate = found["validate"]
    assert (validate["status"], validate["failure_code"], validate["attempts"]) == ("failed", "image_pull", 2)
    assert [a["category"] for a in validate["outputs"]["attempts"]] == ["image_pull", "image_pull"]
    assert {a["pod_reason"] for a in validate["outputs"]["attempts"]} <= {"ErrImagePull", "ImagePullBackOff"}
    assert "ImagePull" in validate["message"]
    assert found["promote"]["status"] == "skipped" and found["promote"]["skip_reason"].startswith("stopped: validate failed")
    assert core.read_namespaced_secret("ecr-pull", namespace).metadata.resource_version != secret_before
    assert summary(receipt_dir)["failed_phase"] == "validate"
    assert s3_receipt(sandbox, run_id, "validate")["failure_code"] == "image_pull"

    # 4) Validate only on a node short of memory: retried once, then insufficient_memory; 5) the same with a
    #    smaller request override, and the pull credentials revoked meanwhile: the first attempt fails to pull,
    #    the secret is rewritten with fresh ECR credentials and the retry succeeds.
    config = sandbox.control("dr", "config")
    sandbox.control("dr", "config", {"node_allocatable_memory": "384Mi"})
    try:
        step = drill(run_playbook, receipt_dir, validate_only=True, teardown=False, envvars={"DR_VALIDATE_MAX_RETRIES": "1"}, **extra)
        assert step.rc != 0
        validate = phase_receipts(receipt_dir)["validate"]
        assert (validate["status"], validate["failure_code"], validate["attempts"]) == ("failed", "insufficient_memory", 2)
        assert all(a["pod_reason"] == "FailedScheduling" for a in validate["outputs"]["attempts"])
        assert [a["category"] for a in validate["outputs"]["attempts"]] == ["insufficient_memory"] * 2
        secret_before = core.read_namespaced_secret("ecr-pull", namespace).metadata.resource_version
        sandbox.control("dr", "faults", {"pull": {"revoke_credentials": True}})
        step = drill(run_playbook, receipt_dir, validate_only=True, teardown=False, dr_validate_request_memory="128Mi", **extra)
        assert step.rc == 0, step.stdout
    finally:
        sandbox.control("dr", "config", {"node_allocatable_memory": config["node_allocatable_memory"]})
        sandbox.control("dr", "faults", method="DELETE")
    found = phase_receipts(receipt_dir)
    validate = found["validate"]
    assert (validate["status"], validate["attempts"]) == ("success", 2)
    assert [a["category"] for a in validate["outputs"]["attempts"]] == ["image_pull", "succeeded"]
    assert validate["outputs"]["resources"]["requests"]["memory"] == "128Mi"
    assert core.read_namespaced_secret("ecr-pull", namespace).metadata.resource_version != secret_before
    succeeded = [j for j in validate_jobs(batch, namespace, run_id) if j.status.succeeded]
    assert [j.spec.template.spec.containers[0].resources.requests["memory"] for j in succeeded] == ["128Mi"]
    # validate_only: bringup and restore keep their receipts (start_at=validate), later phases are skipped.
    assert found["bringup"] == bringup_receipt and found["restore"]["status"] == "success"
    assert found["promote"]["skip_reason"] == "stop_after=validate"

    # 6) Promote with the rehearsal bypass and keep_suspended: recorded as a bypass, no gate execution, the pointer moves
    #    and the CronJob stays suspended (read back); check mode first says what it would do and changes nothing.
    check = run_playbook("dr_drill.yml", dict(FAST, receipt_dir=str(receipt_dir), start_at="promote", stop_after="promote", auto_promote=True,
                                              allow_promote_bypass=True, **extra), check=True)
    assert check.rc == 0, check.stdout
    # (the output callback may wrap the line: its fields are checked one by one)
    assert all(f in check.stdout for f in ("pointer=would_move", "scheduling=would_resume", "resumed=jobintel-daily")), check.stdout
    assert batch.read_namespaced_cron_job("jobintel-daily", namespace).spec.suspend is True
    step = drill(run_playbook, receipt_dir, start_at="promote", stop_after="promote", auto_promote=True, allow_promote_bypass=True,
                 keep_suspended=True, **extra)
    assert step.rc == 0, step.stdout
    promoted = phase_receipts(receipt_dir)["promote"]["outputs"]
    assert (promoted["approval_mode"], promoted["bypass"], promoted["approver"]) == ("bypass", True, None)
    assert (promoted["scheduling"], promoted["resumed_cronjobs"], promoted["keep_suspended"]) == ("kept_suspended", [], True)
    assert batch.read_namespaced_cron_job("jobintel-daily", namespace).spec.suspend is True
    pointer = s3_json(sandbox, sandbox["SANDBOX_ARTIFACT_BUCKET"], pointer_key)
    assert pointer["run_id"] == run_id and pointer["approval"]["mode"] == "bypass" and pointer["approval"]["approver"] is None
    sfn = sandbox.boto3_client("stepfunctions")
    names = [e["name"] for m in sfn.list_state_machines()["stateMachines"] for e in sfn.list_executions(stateMachineArn=m["stateMachineArn"])["executions"]]
    assert "dr-promote-%s" % run_id not in names

    # 7) Final teardown: start_at=teardown with the receipt dir; runner count back to zero.
    step = drill(run_playbook, receipt_dir, start_at="teardown", **extra)
    assert step.rc == 0, step.stdout
    found = phase_receipts(receipt_dir)
    assert found["teardown"]["status"] == "success" and found["teardown"]["outputs"]["remaining"] == 0
    assert live_runners(sandbox, run_id) == []
    final = summary(receipt_dir)
    assert final["status"] == "success" and final["promotion"]["bypass"] is True
    assert [r["status"] for r in final["phases"] if r["phase"] in PHASES] == ["success"] * 5


def test_check_mode_writes_nothing(sandbox, run_playbook, tmp_path):
    run_id, receipt_dir, namespace = "test-check-%s" % uid(), tmp_path / "check", "dr-check-%s" % uid()
    # Through restore: bringup would launch, restore cannot reach a cluster without the kubeconfig and says so.
    # An own bundle prefix without current.json: the local bootstrap publish runs in check mode too.
    prefix = "test-drill-check-%s" % uid()
    run = run_playbook("dr_drill.yml", dict(FAST, receipt_dir=str(receipt_dir), run_id=run_id, stop_after="restore", dr_namespace=namespace,
                                            jobintel_prefix=prefix), check=True)
    assert run.rc == 0, run.stdout
    assert "publish_bundle status=" in run.stdout
    # Check mode says what it would do and names no file it did not write (issue 14).
    assert "dr_drill status=planned run_id=%s" % run_id in run.stdout
    assert "summary=" not in run.stdout
    artifacts = sandbox.boto3_client("s3").list_objects_v2(Bucket=sandbox["SANDBOX_ARTIFACT_BUCKET"], Prefix=prefix + "/")
    assert artifacts.get("KeyCount", 0) == 0
    core, batch = apis(sandbox)
    assert runners(sandbox, run_id) == [] and not namespace_exists(core, namespace)
    assert not receipt_dir.exists()
    listed = sandbox.boto3_client("s3").list_objects_v2(Bucket=sandbox["SANDBOX_RECEIPT_BUCKET"], Prefix="receipts/%s/" % run_id)
    assert listed.get("KeyCount", 0) == 0


def tampered_bundle_prefix(sandbox):
    prefix = "test-drill-tampered-%s" % uid()
    built = bundle.build_bundle(bundle.collect_sources(sandbox["SANDBOX_CONTROL_PLANE_SOURCE"]))
    s3 = sandbox.boto3_client("s3")
    published = control_plane.publish(s3, sandbox["SANDBOX_ARTIFACT_BUCKET"], prefix, built, "0" * 40, sandbox["SANDBOX_IMAGE_REF"],
                                      receipts.format_timestamp(receipts.utc_now()))
    body = s3.get_object(Bucket=sandbox["SANDBOX_ARTIFACT_BUCKET"], Key=published["bundle_key"])["Body"].read()
    s3.put_object(Bucket=sandbox["SANDBOX_ARTIFACT_BUCKET"], Key=published["bundle_key"], Body=body + b"\0")
    return prefix


def backup_missing_state(sandbox):
    """A copy of the seeded backup under our own prefix without state.tar.zst."""
    s3 = sandbox.boto3_client("s3")
    bucket, source = sandbox["SANDBOX_BACKUP_URI"][len("s3://"):].split("/", 1)
    target = "test-drill-backup-%s/backups/b1/" % uid()
    for name in ("metadata.json", "manifests.tar.zst"):
        s3.copy_object(Bucket=bucket, Key=target + name, CopySource={"Bucket": bucket, "Key": source.rstrip("/") + "/" + name})
    return "s3://%s/%s" % (bucket, target)


def last_seq(sandbox):
    entries = sandbox.control("aws", "requests?limit=1")
    return entries[-1]["seq"] if entries else 0


def aws_requests_since(sandbox, seq):
    return [(e["service"], e["operation"]) for e in sandbox.control("aws", "requests?limit=5000") if e["seq"] > seq]


@pytest.mark.parametrize("case", ["tag_image", "full_drill_not_allowed", "bypass_not_allowed", "tampered_bundle", "missing_backup_object"])
def test_refused_before_any_change(sandbox, run_playbook, tmp_path, case):
    run_id, receipt_dir, namespace = "test-refused-%s" % uid(), tmp_path / "refused", "dr-refused-%s" % uid()
    values, envvars = {"run_id": run_id, "dr_namespace": namespace}, None
    expected = {
        "tag_image": "image_ref_not_pinned",
        "full_drill_not_allowed": "full_drill_not_allowed",
        "bypass_not_allowed": "promote_bypass_not_allowed",
        "tampered_bundle": "bundle_hash_mismatch",
        "missing_backup_object": "backup_object_missing",
    }[case]
    if case == "tag_image":
        values.update(stop_after="validate", image_ref=sandbox["SANDBOX_IMAGE_TAG_REF"])
    elif case == "full_drill_not_allowed":
        values.update(teardown=True)
    elif case == "bypass_not_allowed":
        values.update(start_at="promote", stop_after="promote", auto_promote=True)
    elif case == "tampered_bundle":
        values.update(stop_after="validate", jobintel_prefix=tampered_bundle_prefix(sandbox))
    else:
        values.update(stop_after="validate", backup_uri=backup_missing_state(sandbox))
    core, batch = apis(sandbox)
    run = drill(run_playbook, receipt_dir, envvars=envvars, **values)
    assert run.rc != 0 and "status=fail" in run.stdout
    # The drill's line names the token itself (issue 14: never "reason=guards failed: ...").
    assert "dr_drill status=fail reason=%s run_id=%s failed_phase=guards" % (expected, run_id) in run.stdout, run.stdout
    assert "reason=guards failed" not in run.stdout
    if case in ("full_drill_not_allowed", "bypass_not_allowed"):
        assert "plan status=fail reason=%s" % expected in run.stdout
    found = phase_receipts(receipt_dir)
    assert found["guards"]["status"] == "failed" and found["guards"]["failure_code"] == expected, found["guards"]
    assert s3_receipt(sandbox, run_id, "guards")["failure_code"] == expected
    # Nothing ran: every phase is skipped; those the plan would have run say the guards stopped them.
    assert {found[p]["status"] for p in PHASES if p in found} <= {"skipped"}
    planned = [p for p in PHASES if p in found and not found[p]["skip_reason"].startswith(("stop_after=", "start_at=", "teardown="))]
    assert all(found[p]["skip_reason"].startswith("stopped: guards failed") for p in planned)
    assert len(planned) == {"full_drill_not_allowed": 0, "bypass_not_allowed": 0}.get(case, 3)
    assert summary(receipt_dir)["status"] == "failed"
    # ... and nothing changed: no runner with the run id, no namespace, no Job.
    assert runners(sandbox, run_id) == []
    assert not namespace_exists(core, namespace)
    assert batch.list_job_for_all_namespaces(label_selector="signalcraft.io/dr-run-id=%s" % run_id).items == []


def test_wrong_account_full_drill_allowed_is_refused_before_any_write(sandbox, run_playbook, tmp_path):
    """A full drill with ALLOW_FULL_DRILL=1 passes the plan and is stopped by the account guard: no write request, nothing uploaded."""
    run_id, receipt_dir, namespace = "test-account-%s" % uid(), tmp_path / "account", "dr-account-%s" % uid()
    core, batch = apis(sandbox)
    mark = last_seq(sandbox)
    run = drill(run_playbook, receipt_dir, envvars={"ALLOW_FULL_DRILL": "1"}, run_id=run_id, dr_namespace=namespace,
                signalcraft_expected_account_id="999999999999")
    assert run.rc != 0 and "account_guard status=fail reason=account_mismatch" in run.stdout, run.stdout
    # The refusal is recorded locally; an unverified account gets no upload, and no phase ran.
    refusal = json.load(open(str(receipt_dir / "account_guard.json")))
    assert (refusal["status"], refusal["failure_code"]) == ("failed", "account_mismatch")
    assert not (receipt_dir / "phases").exists() and not (receipt_dir / "drill.summary.json").exists()
    listed = sandbox.boto3_client("s3").list_objects_v2(Bucket=sandbox["SANDBOX_RECEIPT_BUCKET"], Prefix="receipts/%s/" % run_id)
    assert listed.get("KeyCount", 0) == 0
    made = aws_requests_since(sandbox, mark)
    assert all(op.startswith(("Get", "List", "Describe", "Head")) for _service, op in made), made
    assert runners(sandbox, run_id) == []
    assert not namespace_exists(core, namespace)
    assert batch.list_job_for_all_namespaces(label_selector="signalcraft.io/dr-run-id=%s" % run_id).items == []


ALONE = """
- name: Tear down a run alone
  hosts: localhost
  gather_facts: false
  roles:
    - role: signalcraft.ops.dr_teardown

- name: Guard alone with the wrong account
  hosts: localhost
  gather_facts: false
  roles:
    - role: signalcraft.ops.dr_guards
      vars: {dr_guards_expected_account_id: "999999999999"}
"""


def test_phase_roles_alone_write_their_own_receipts(sandbox, run_playbook, tmp_path):
    """Alone, a phase role's modules are receipted by the action plugin under the suite's execution id."""
    run_id, root = "test-alone-%s" % uid(), tmp_path / "receipts"
    playbook = tmp_path / "alone.yml"
    playbook.write_text(ALONE)
    run = run_playbook(str(playbook), {"signalcraft_execution_id": run_id, "signalcraft_receipt_root": str(root)})
    assert run.rc != 0  # the guards play fails, after the teardown play succeeded
    assert "teardown status=ok terminated=0 remaining=0" in run.stdout
    teardown = json.load(open(str(root / run_id / "teardown.json")))
    assert (teardown["status"], teardown["operation"], teardown["outputs"]["remaining"]) == ("success", "dr_teardown", 0)
    assert s3_receipt(sandbox, run_id, "teardown")["status"] == "success"
    guards = json.load(open(str(root / run_id / "guards.json")))
    assert (guards["status"], guards["failure_code"]) == ("failed", "account_mismatch")
    assert "guards status=fail reason=account_mismatch" in run.stdout
    assert runners(sandbox, run_id) == []


def approve(sandbox, run_id, extravars=None):
    env = sandbox.process_env()
    env.update(ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"), ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO_ROOT, "collections"),
               ANSIBLE_NOCOLOR="1")
    command = ["ansible-playbook", "-i", os.path.join(REPO_ROOT, "inventories", "local"), os.path.join(REPO_ROOT, "playbooks", "dr_approve.yml"),
               "-e", "run_id=%s" % run_id]
    for name, value in (extravars or {}).items():
        command += ["-e", "%s=%s" % (name, value)]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=300, check=False)


# What approval_gate asks of Step Functions and SNS (none of it may happen before the guard and the input checks).
SFN_OPERATIONS = ("ListStateMachines", "DescribeStateMachine", "CreateStateMachine", "UpdateStateMachine", "CreateTopic",
                  "DescribeExecution", "StartExecution", "GetExecutionHistory", "SendTaskSuccess", "SendTaskFailure")


def test_dr_approve_checks_the_account_and_names_the_missing_requirement(sandbox, tmp_path):
    run_id = "test-approve-%s" % uid()
    # The expected account is the inventory's; a wrong one is refused before any Step Functions call.
    mark = last_seq(sandbox)
    done = approve(sandbox, run_id, {"approver": "alice", "ticket": "CHG-1", "signalcraft_expected_account_id": "999999999999",
                                     "signalcraft_receipt_root": str(tmp_path), "signalcraft_execution_id": "approve-guard"})
    assert done.returncode != 0 and "account_guard status=fail reason=account_mismatch" in done.stdout, done.stdout
    made = aws_requests_since(sandbox, mark)
    assert [op for _service, op in made if op in SFN_OPERATIONS] == [], made
    assert all(op.startswith(("Get", "List", "Describe", "Head")) for _service, op in made), made
    refusal = json.load(open(str(tmp_path / "approve-guard" / "account_guard.json")))
    assert refusal["failure_code"] == "account_mismatch"
    # Without a ticket it says that the ticket is what is missing (issue 14), and asks nothing of AWS.
    mark = last_seq(sandbox)
    done = approve(sandbox, run_id, {"approver": "alice"})
    assert done.returncode != 0
    assert "reason=approval_incomplete missing=ticket" in done.stdout and "missing=approver" not in done.stdout, done.stdout
    made = aws_requests_since(sandbox, mark)
    assert [op for _service, op in made if op in SFN_OPERATIONS] == [], made
    assert all(op.startswith(("Get", "List", "Describe", "Head")) for _service, op in made), made


@pytest.mark.parametrize("case", ["invalid_plan", "run_id_mismatch"])
def test_refused_plan_keeps_an_earlier_runs_receipts(sandbox, run_playbook, tmp_path, case):
    """A typo'd rerun against a live drill's receipt dir records its refusal in refusals/plan.json, never over phases/guards.json."""
    run_id, receipt_dir = "test-keep-%s" % uid(), tmp_path / "keep"
    started = receipts.format_timestamp(receipts.utc_now())
    earlier = receipts.build("dr_drill", "guards", "success", run_id, started, message="guards passed")
    guards_path = receipts.write(earlier, str(receipt_dir / "phases"))
    summary_path = receipt_dir / "drill.summary.json"
    summary_path.write_text(json.dumps({"run_id": run_id, "status": "success"}))
    before = (open(guards_path, "rb").read(), summary_path.read_bytes())
    if case == "invalid_plan":
        values = dict(run_id=run_id, start_at="validate", stop_after="restore")
    else:
        values = dict(run_id=run_id + "x", stop_after="validate")
    run = drill(run_playbook, receipt_dir, **values)
    assert run.rc != 0 and "reason=%s" % case in run.stdout, run.stdout
    # The earlier run's receipt and summary are byte for byte what they were; the drill still says it was refused.
    assert (open(guards_path, "rb").read(), summary_path.read_bytes()) == before
    assert sorted(os.listdir(str(receipt_dir / "phases"))) == ["guards.json"]
    refusal = json.load(open(str(receipt_dir / "refusals" / "plan.json")))
    assert refusal["status"] == "failed" and refusal["failure_code"] == case and refusal["phase"] == "plan", refusal
    s3 = sandbox.boto3_client("s3")
    listed = s3.list_objects_v2(Bucket=sandbox["SANDBOX_RECEIPT_BUCKET"], Prefix="receipts/%s/" % refusal["execution_id"])
    assert [o["Key"].rsplit("/", 1)[1] for o in listed.get("Contents", [])] == ["plan.json"]


@pytest.mark.timeout(1800)
def test_resume_after_a_failed_validate_then_teardown_on_failure(sandbox, run_playbook, tmp_path, clean_faults):
    """On the phase engine: resume reruns the drill from the phase that failed (bringup and restore keep their receipts,
    the guards run again); teardown_on_failure tears the runners down after a failed promote."""
    run_id, receipt_dir, namespace = "test-resume-%s" % uid(), tmp_path / "resume", "dr-resume-%s" % uid()
    core, batch = apis(sandbox)
    extra = {"dr_namespace": namespace}
    no_retry = {"DR_VALIDATE_MAX_RETRIES": "0"}

    # 1) Validate fails (every pull fails): bringup and restore are done, the runner stays up.
    digest = sandbox["SANDBOX_IMAGE_REF"].split("@")[1]
    sandbox.control("dr", "faults", {"pull": {"fail_images": [digest], "reason": "ErrImagePull"}})
    try:
        step = drill(run_playbook, receipt_dir, envvars=no_retry, run_id=run_id, stop_after="validate", **extra)
    finally:
        sandbox.control("dr", "faults", method="DELETE")
    assert step.rc != 0 and "dr_drill status=fail reason=image_pull run_id=%s failed_phase=validate" % run_id in step.stdout, step.stdout
    first = phase_receipts(receipt_dir)
    assert statuses(first) == {"bringup": "success", "restore": "success", "validate": "failed", "promote": "skipped", "teardown": "skipped"}
    assert len(live_runners(sandbox, run_id)) == 1

    # 2) resume=true in the same receipt dir: only what did not succeed runs; the guards check again.
    step = drill(run_playbook, receipt_dir, envvars=no_retry, resume=True, stop_after="validate", **extra)
    assert step.rc == 0, step.stdout
    found = phase_receipts(receipt_dir)
    assert found["bringup"] == first["bringup"] and found["restore"] == first["restore"]
    assert found["guards"]["status"] == "success" and found["guards"]["started_at"] != first["guards"]["started_at"]
    assert (found["validate"]["status"], found["validate"]["execution_id"]) == ("success", run_id)
    assert [j for j in validate_jobs(batch, namespace, run_id) if j.status.succeeded]
    assert found["promote"]["skip_reason"] == "stop_after=validate"
    assert summary(receipt_dir)["status"] == "success"
    assert s3_receipt(sandbox, run_id, "validate")["status"] == "success"
    assert len(live_runners(sandbox, run_id)) == 1

    # 3) Promote fails (its pointer bucket does not exist); with teardown_on_failure the teardown still runs.
    step = drill(run_playbook, receipt_dir, start_at="promote", auto_promote=True, allow_promote_bypass=True, teardown_on_failure=True,
                 dr_promote_bucket="test-no-such-bucket-%s" % uid(), **extra)
    assert step.rc != 0 and "failed_phase=promote" in step.stdout, step.stdout
    found = phase_receipts(receipt_dir)
    assert found["promote"]["status"] == "failed" and found["promote"]["failure_code"]
    assert (found["teardown"]["status"], found["teardown"]["outputs"]["remaining"]) == ("success", 0)
    assert live_runners(sandbox, run_id) == []
    assert [i["State"]["Name"] for i in runners(sandbox, run_id)] == ["terminated"]
    final = summary(receipt_dir)
    assert (final["status"], final["failed_phase"], final["runner_count_after_teardown"]) == ("failed", "promote", 0)
    assert s3_receipt(sandbox, run_id, "teardown")["status"] == "success"


def boot_runner(sandbox, run_id, outcome, timeout=120):
    """The emulated runner "boots": once bringup launched it, take the user data EC2 holds for it (what the role
    rendered from roles/dr_bringup/templates/k3s-user-data.yaml.j2), and run its script's publish step with the
    AWS CLI against the sandbox's SSM -- publishing the DR cluster's kubeconfig, as k3s on a real runner would."""
    import base64
    import yaml
    deadline = time.time() + timeout
    try:
        while time.time() < deadline and not live_runners(sandbox, run_id):
            time.sleep(0.5)
        instance = live_runners(sandbox, run_id)[0]["InstanceId"]
        encoded = sandbox.boto3_client("ec2").describe_instance_attribute(InstanceId=instance, Attribute="userData")["UserData"]["Value"]
        user_data = base64.b64decode(encoded).decode("utf-8")
        document = yaml.safe_load(user_data)
        script = next(f["content"] for f in document["write_files"] if f["path"] == "/usr/local/sbin/signalcraft-dr-k3s.sh")
        path = os.path.join(sandbox.dir, "runner-%s.sh" % run_id)
        with open(path, "w") as handle:
            handle.write(script)
        env = sandbox.process_env()
        env["PATH"] = "%s:%s" % (os.path.join(REPO_ROOT, ".venv-awscli", "bin"), env["PATH"])
        done = subprocess.run(["bash", path, "publish", sandbox["SANDBOX_DR_KUBECONFIG"]], env=env, capture_output=True, text=True,
                              timeout=120, check=False)
        outcome.update(rc=done.returncode, stderr=done.stderr, user_data=user_data)
    except Exception as exc:  # reported by the test, not lost in the thread
        outcome.update(rc=-1, stderr=repr(exc))


def test_real_bringup_user_data_publishes_the_kubeconfig_that_bringup_and_restore_use(sandbox, run_playbook, tmp_path, clean_faults):
    """kubeconfig_source=ssm_parameter as in dev/staging/prod: the rendered cloud-config's publish step is the only source of the
    kubeconfig; bringup waits for the SecureString, restore uses it. The inventory's RPO/RTO targets are missed: status=warn, rc 0."""
    run_id, receipt_dir, namespace = "test-userdata-%s" % uid(), tmp_path / "userdata", "dr-userdata-%s" % uid()
    parameter = "/signalcraft/dr/%s/kubeconfig" % run_id
    outcome = {}
    booter = threading.Thread(target=boot_runner, args=(sandbox, run_id, outcome))
    booter.start()
    run = drill(run_playbook, receipt_dir, run_id=run_id, stop_after="validate", dr_namespace=namespace,
                dr_bringup_kubeconfig_source="ssm_parameter", dr_rpo_target_minutes=60, dr_rto_target_minutes=0.01)
    booter.join(timeout=180)
    assert outcome.get("rc") == 0, outcome
    assert run.rc == 0, run.stdout
    # The user data the runner got is the shipped template, rendered with the inventory's values.
    assert outcome["user_data"].startswith("#cloud-config\n")
    assert "PARAMETER=%s" % parameter in outcome["user_data"] and "REGION=us-east-1" in outcome["user_data"]
    # The runner published a SecureString; bringup saved exactly it, and restore ran against that cluster.
    published = sandbox.boto3_client("ssm").get_parameter(Name=parameter, WithDecryption=True)["Parameter"]
    assert published["Type"] == "SecureString"
    with open(sandbox["SANDBOX_DR_KUBECONFIG"]) as handle:
        assert published["Value"] == handle.read()
    assert (receipt_dir / "kubeconfig.yaml").read_text() == published["Value"]
    found = phase_receipts(receipt_dir)
    assert statuses(found) == {"bringup": "success", "restore": "success", "validate": "success", "promote": "skipped", "teardown": "skipped"}
    assert found["bringup"]["outputs"]["image"]["platforms"] == ["linux/amd64", "linux/arm64"]
    core, batch = apis(sandbox)
    assert_restored(core, batch, namespace)

    # RPO/RTO: the summary in S3 (and on disk) against the receipts and the backup's metadata, read back independently.
    assert "dr_drill status=warn reason=rpo_target_missed run_id=%s" % run_id in run.stdout
    stored = s3_json(sandbox, sandbox["SANDBOX_RECEIPT_BUCKET"], "receipts/%s/drill.summary.json" % run_id)
    assert stored == summary(receipt_dir) and stored["status"] == "success"
    bucket, prefix = sandbox["SANDBOX_BACKUP_URI"][len("s3://"):].split("/", 1)
    metadata = s3_json(sandbox, bucket, prefix.rstrip("/") + "/metadata.json")
    point, spent = stored["objectives"]["recovery_point"], stored["objectives"]["recovery_time"]
    assert point["backup_created_at"] == metadata["created_at"].replace(".000Z", "Z")
    assert point["restored_at"] == found["restore"]["started_at"][:19] + "Z"
    started, validated = (receipts.parse_timestamp(found[p][k]) for p, k in (("bringup", "started_at"), ("validate", "finished_at")))
    assert spent["to_validate_minutes"] == round((validated - started).total_seconds() / 60.0, 2) > 0
    assert spent["to_promote_minutes"] is None
    pointer = s3_json(sandbox, sandbox["SANDBOX_ARTIFACT_BUCKET"], "jobintel/control-plane/current.json")
    assert stored["objectives"]["recovery_point"]["bundle_created_at"].startswith(pointer["created_at"][:19])
    assert stored["objectives"]["targets"]["status"] == "warn"
    assert [w["reason"] for w in stored["warnings"]] == ["rpo_target_missed", "rto_target_missed"]


def test_an_amd64_only_image_is_refused_before_any_runner_is_launched(sandbox, run_playbook, tmp_path):
    from tests.sandbox.seed import compute
    run_id, receipt_dir = "test-amd64-%s" % uid(), tmp_path / "amd64"
    registry = sandbox["SANDBOX_IMAGE_REF"].split("/")[0]
    image_ref = "%s/jobintel@%s" % (registry, compute.push_index(sandbox.boto3_client("ecr"), "amd64-only", ("amd64",)))
    seq = last_seq(sandbox)
    run = drill(run_playbook, receipt_dir, run_id=run_id, stop_after="bringup", image_ref=image_ref)
    assert run.rc != 0
    assert "bringup status=fail reason=image_arch_missing" in run.stdout, run.stdout
    assert "linux/amd64" in run.stdout and image_ref in run.stdout
    found = phase_receipts(receipt_dir)
    assert found["bringup"]["status"] == "failed" and found["bringup"]["failure_code"] == "image_arch_missing"
    requests = aws_requests_since(sandbox, seq)
    assert ("ecr", "BatchGetImage") in requests
    assert ("ec2", "RunInstances") not in requests
    assert runners(sandbox, run_id) == []


def test_a_kubeconfig_that_may_not_touch_secrets_fails_in_guards_before_a_runner_starts(sandbox, run_playbook, tmp_path):
    """An identity that may read ConfigMaps but not Secrets: the guards ask the DR cluster (SelfSubjectAccessReview) and
    refuse with k8s_forbidden naming verb, resource and namespace; no runner is started, nothing is written."""
    run_id, receipt_dir, namespace = "test-forbidden-%s" % uid(), tmp_path / "forbidden", "dr-forbidden-%s" % uid()
    identity = sandbox.control("dr", "identities", {"name": "cm-reader-%s" % uid(), "rules": [
        {"apiGroups": [""], "resources": ["configmaps", "namespaces"], "verbs": ["get", "list", "watch"]}]})
    document = yaml.safe_load(open(sandbox["SANDBOX_DR_KUBECONFIG"]))
    document["users"][0]["user"]["token"] = identity["token"]
    kubeconfig = tmp_path / "cm-reader.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(document))
    kubeconfig.chmod(0o600)
    core, batch = apis(sandbox)
    mark = last_seq(sandbox)
    run = drill(run_playbook, receipt_dir, run_id=run_id, stop_after="validate", dr_namespace=namespace,
                dr_bringup_kubeconfig_source_path=str(kubeconfig))
    assert run.rc != 0
    assert "dr_drill status=fail reason=k8s_forbidden run_id=%s failed_phase=guards" % run_id in run.stdout, run.stdout
    assert "k8s_access status=fail reason=k8s_forbidden cluster=dr" in run.stdout
    guards = phase_receipts(receipt_dir)["guards"]
    assert (guards["status"], guards["failure_code"]) == ("failed", "k8s_forbidden")
    assert "get secrets in namespace %s (restore)" % namespace in guards["message"]
    assert "create secrets in namespace %s" % namespace in guards["message"]
    assert "get configmaps" not in guards["message"]  # what it may do is not named
    assert s3_receipt(sandbox, run_id, "guards")["failure_code"] == "k8s_forbidden"
    # No runner was started (the request log has no RunInstances) and nothing reached the DR cluster.
    assert [op for _service, op in aws_requests_since(sandbox, mark) if op == "RunInstances"] == []
    assert runners(sandbox, run_id) == []
    assert not namespace_exists(core, namespace)
    # A 403 met later (the same identity reading the Secret) maps to the same token.
    reader = k8s_config.new_client_from_config(config_file=str(kubeconfig))
    with pytest.raises(ApiException) as refused:
        k8s_client.CoreV1Api(reader).read_namespaced_secret("ecr-pull", "jobintel")
    assert refused.value.status == 403
    assert k8s.to_ops_error(refused.value).reason == "k8s_forbidden"
    assert 'cannot get resource "secrets" in API group "" in the namespace "jobintel"' in str(k8s.to_ops_error(refused.value))

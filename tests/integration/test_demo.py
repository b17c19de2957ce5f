"""playbooks/demo.yml (what `make demo` runs) = daily.yml, then the DR drill up to validate, on the local inventory.

Only the task family and the S3 prefix are private to this test (a copy of the seeded task
definition and of the seeded pointers), so the seeded state other tests read is never moved.
Everything is read back: receipts from disk and the receipt bucket, the task from ECS, the
published run and the pointers from S3.
"""

import json
import os

import jsonschema

from tests.conftest import REPO_ROOT
from tests.integration.ecs_sandbox import copy_seeded_pointers, latest, private_family, read_pointer, read_receipt, revisions

PHASES = ("verify", "deploy", "run_once", "publish", "verify_ops", "provenance")
with open(os.path.join(REPO_ROOT, "schemas", "receipt.v1.schema.json")) as _handle:
    RECEIPT_SCHEMA = json.load(_handle)


def test_demo_runs_the_daily_chain_and_moves_the_pointers_to_the_new_run(sandbox, run_playbook, tmp_path):
    family, prefix = private_family(sandbox)
    seeded_pointers = copy_seeded_pointers(sandbox, prefix)
    before = revisions(sandbox, family)
    root = tmp_path / "receipts"
    result = run_playbook("demo.yml", {"signalcraft_receipt_root": str(root), "jobintel_task_family": family, "jobintel_prefix": prefix})
    assert result.rc == 0, result.stdout

    [execution_id] = [p.name for p in root.iterdir() if (p / "verify.json").exists()]
    receipts = {phase: read_receipt(sandbox, str(root), phase, execution_id) for phase in PHASES}
    for phase, receipt in receipts.items():
        jsonschema.validate(receipt, RECEIPT_SCHEMA)
        assert receipt["status"] == "success" and receipt["execution_id"] == execution_id, phase
    assert receipts["verify"]["operation"] == "preflight"
    # The demo ends with the daily run's report: one row per phase receipt, its path printed.
    page = (root / execution_id / "report.html").read_text()
    assert all('<tr class="phase"><td>%s</td>' % phase in page for phase in PHASES)
    assert "html=%s" % (root / execution_id / "report.html") in result.stdout

    # Deploy with inventory defaults found nothing to change: no revision, the run used the latest one.
    assert revisions(sandbox, family) == before and receipts["deploy"]["changed"] is False
    run = receipts["run_once"]["outputs"]
    assert run["task_definition_arn"] == latest(sandbox, family)["taskDefinitionArn"]
    [task] = sandbox.boto3_client("ecs").describe_tasks(cluster=sandbox["SANDBOX_ECS_CLUSTER"], tasks=[run["task_arn"]])["tasks"]
    assert task["lastStatus"] == "STOPPED" and task["containers"][0]["exitCode"] == 0

    # Publish took the run from the task's outbox to runs/<run_id>/ and moved both pointers to it.
    bucket = sandbox["SANDBOX_ARTIFACT_BUCKET"]
    s3 = sandbox.boto3_client("s3")
    summary = json.loads(s3.get_object(Bucket=bucket, Key="%s/runs/%s/run_summary.v1.json" % (prefix, run["run_id"]))["Body"].read())
    assert summary["run_id"] == run["run_id"] and summary["ecs_task_arn"] == run["task_arn"]
    for key, old_etag in seeded_pointers.items():
        pointer, etag = read_pointer(sandbox, key)
        assert etag != old_etag and pointer["run_id"] == run["run_id"], key
        assert pointer["target"].startswith("s3://%s/%s/runs/%s/" % (bucket, prefix, run["run_id"]))
        assert pointer["provenance"]["ecs_task_arn"] == run["task_arn"]
    latest_keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="%s/latest/openai/cs/" % prefix)["Contents"]]
    assert "%s/latest/openai/cs/ranked_jobs.openai.cs.json" % prefix in latest_keys
    assert receipts["provenance"]["outputs"]["run_id"] == run["run_id"]

    # Then the DR drill's headline: bringup -> restore -> validate, promote and teardown skipped.
    [drill_dir] = [p for p in root.iterdir() if (p / "drill.summary.json").exists()]
    with open(str(drill_dir / "drill.summary.json")) as handle:
        summary = json.load(handle)
    assert summary["status"] == "success"
    # On a fresh sandbox the restore first publishes the control plane from the primary (bootstrap).
    phases = [(p["phase"], p["status"]) for p in summary["phases"] if p["phase"] != "publish"]
    assert phases == [("guards", "success"), ("bringup", "success"), ("restore", "success"), ("validate", "success"),
                      ("promote", "skipped"), ("teardown", "skipped")]
    assert all(p["status"] == "success" for p in summary["phases"] if p["phase"] == "publish")
    runners = sandbox.boto3_client("ec2").describe_instances(Filters=[
        {"Name": "tag:signalcraft:dr-run-id", "Values": [summary["run_id"]]},
        {"Name": "instance-state-name", "Values": ["running"]}])["Reservations"]
    assert len(runners) == 1  # stop_after=validate keeps the runner for the next step

"""playbooks/runs.yml against the sandbox: list/show/artifacts of a candidate's runs.

Runs come from the sandbox's simulated ECS task (forced failure, degraded providers, disabled
providers) writing to ``<private prefix>/outbox/<run_id>/``, plus one published run of another
candidate under ``<private prefix>/runs/``. Assertions read S3 (boto3), the receipts on disk and in
the receipt bucket, and the sandbox request log -- never only our own output.
"""

import json
import os
import uuid

import pytest

from tests.sandbox.aws_layer import jobintel

FAILED_RUN = "20260201T060000Z-failscr"
DEGRADED_RUN = "20260202T060000Z-degrade"
OTHER_CANDIDATE_RUN = "20260203T060000Z"


def run_ecs_task(sandbox, prefix, env):
    """Run the seeded task definition with env overrides and poll until STOPPED (artifacts written)."""
    ecs = sandbox.boto3_client("ecs")
    overrides = [{"name": "jobintel", "environment": [{"name": "JOBINTEL_S3_PREFIX", "value": prefix}]
                  + [{"name": k, "value": v} for k, v in env.items()]}]
    task = ecs.run_task(cluster=sandbox["SANDBOX_ECS_CLUSTER"], taskDefinition=sandbox["SANDBOX_TASK_FAMILY"], launchType="FARGATE",
                        networkConfiguration={"awsvpcConfiguration": {"subnets": sandbox["SANDBOX_ECS_SUBNETS"].split(","),
                                                                      "securityGroups": sandbox["SANDBOX_ECS_SECURITY_GROUPS"].split(",")}},
                        overrides={"containerOverrides": overrides})["tasks"][0]
    for _attempt in range(10):
        described = ecs.describe_tasks(cluster=sandbox["SANDBOX_ECS_CLUSTER"], tasks=[task["taskArn"]])["tasks"][0]
        if described["lastStatus"] == "STOPPED":
            return described
    raise AssertionError("task never stopped")


def flat(stdout):
    """The callback wraps long YAML lines; compare on single-spaced text."""
    return " ".join(stdout.split())


def s3_json(s3, bucket, key):
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


@pytest.fixture(scope="module")
def layout(sandbox):
    """A private jobintel layout: two runs of candidate cand-<uuid> from the ECS layer, one of another candidate."""
    prefix = "tests/runs/%s" % uuid.uuid4().hex[:12]
    candidate = "cand-%s" % uuid.uuid4().hex[:6]
    run_ecs_task(sandbox, prefix, {"JOBINTEL_RUN_ID": FAILED_RUN, "JOBINTEL_CANDIDATE_ID": candidate,
                                   "JOBINTEL_FORCE_FAIL_STAGE": "scrape", "JOBINTEL_PROVIDERS": "openai,google",
                                   "JOBINTEL_PROVIDERS_DISABLED": "anthropic"})
    run_ecs_task(sandbox, prefix, {"JOBINTEL_RUN_ID": DEGRADED_RUN, "JOBINTEL_CANDIDATE_ID": candidate,
                                   "JOBINTEL_PROVIDERS": "openai,anthropic,google,mistral", "JOBINTEL_PROVIDERS_DISABLED": "cohere",
                                   "SANDBOX_PROVIDER_OUTCOMES": "anthropic=policy_snapshot,google=timeout,mistral=snapshot_disabled"})
    s3 = sandbox.boto3_client("s3")
    bucket = sandbox["SANDBOX_ARTIFACT_BUCKET"]
    spec = jobintel.RunSpec(run_id=OTHER_CANDIDATE_RUN, started_at="2026-02-03T06:00:00Z", finished_at="2026-02-03T06:04:00Z",
                            candidate_id="someone-else")
    for name, body in jobintel.run_files(spec).items():
        s3.put_object(Bucket=bucket, Key="%s/runs/%s/%s" % (prefix, OTHER_CANDIDATE_RUN, name), Body=body)
    return {"prefix": prefix, "candidate": candidate, "bucket": bucket, "s3": s3}


def run_vars(tmp_path, layout, execution_id, **extra):
    values = {"jobintel_prefix": layout["prefix"], "candidate_id": layout["candidate"], "execution_id": execution_id,
              "signalcraft_receipt_root": str(tmp_path / "receipts")}
    values.update(extra)
    return values


def read_receipt(sandbox, tmp_path, execution_id, phase):
    with open(os.path.join(str(tmp_path / "receipts"), execution_id, "%s.json" % phase)) as handle:
        on_disk = json.load(handle)
    in_s3 = s3_json(sandbox.boto3_client("s3"), sandbox["SANDBOX_RECEIPT_BUCKET"], "receipts/%s/%s.json" % (execution_id, phase))
    assert in_s3 == on_disk
    return on_disk


def test_show_classifies_a_forced_early_failure_fail_closed(sandbox, run_playbook, tmp_path, layout):
    execution_id = "runs-show-%s" % uuid.uuid4().hex[:8]
    result = run_playbook("runs.yml", run_vars(tmp_path, layout, execution_id, action="show", run_id=FAILED_RUN))
    assert result.rc == 0, result.stdout
    base = "%s/outbox/%s/" % (layout["prefix"], FAILED_RUN)
    health = s3_json(layout["s3"], layout["bucket"], base + "run_health.v1.json")
    availability = s3_json(layout["s3"], layout["bucket"], base + "artifacts/provider_availability_v1.json")
    # What the ECS layer wrote, read independently, is what the playbook reports.
    assert health["failed_stage"] == "scrape" and health["failure_codes"] == ["FORCED_FAILURE"]
    out = flat(result.stdout)
    assert "run %s status=failed failed_stage=scrape failure_codes=FORCED_FAILURE" % FAILED_RUN in out
    assert "provider openai: early_failure (early_failure_unknown) -> the failed stage [fail-closed]" in out
    assert "provider anthropic: config_disable (not_enabled) -> config" in out
    assert "next: fix the scrape stage first" in out
    module = result.task_results("Read the runs from the artifact bucket")[0]
    run = module["outputs"]["run"]
    assert run["source"] == "outbox" and run["candidate_id"] == layout["candidate"]
    assert [(p["provider"], p["reason_code"]) for p in run["providers"]] == [
        (row["provider"], row["reason_code"]) for row in availability["providers"]]
    assert [p["category"] for p in run["providers"]] == ["early_failure", "early_failure", "config_disable"]
    assert all(p["fail_closed"] for p in run["providers"][:2]) and run["findings"] == []
    receipt = read_receipt(sandbox, tmp_path, execution_id, "show")
    assert receipt["status"] == "success" and receipt["operation"] == "runs"
    assert receipt["outputs"]["run"]["failed_stage"] == "scrape" and receipt["outputs"]["run"]["provider_categories"]["early_failure"] == 2


def test_list_filters_the_candidate_and_artifacts_match_s3(sandbox, run_playbook, tmp_path, layout):
    listed = run_playbook("runs.yml", run_vars(tmp_path, layout, "runs-list-%s" % uuid.uuid4().hex[:8], runs_action="list", limit=5))
    assert listed.rc == 0, listed.stdout
    runs = listed.task_results("Read the runs from the artifact bucket")[0]["outputs"]["runs"]
    # Newest first, only this candidate's runs (the other candidate's published run is newer but excluded).
    assert [r["run_id"] for r in runs] == [DEGRADED_RUN, FAILED_RUN]
    assert [r["status"] for r in runs] == ["degraded", "failed"]
    assert runs[0]["failure_codes"] == sorted(["policy_snapshot", "snapshot_disabled", "timeout"])
    assert "changed=0" in listed.stdout

    execution_id = "runs-art-%s" % uuid.uuid4().hex[:8]
    shown = run_playbook("runs.yml", run_vars(tmp_path, layout, execution_id, runs_action="artifacts", run_id=DEGRADED_RUN))
    assert shown.rc == 0, shown.stdout
    result = shown.task_results("Read the runs from the artifact bucket")[0]["outputs"]
    base = "%s/outbox/%s/" % (layout["prefix"], DEGRADED_RUN)
    objects = layout["s3"].list_objects_v2(Bucket=layout["bucket"], Prefix=base)["Contents"]
    assert sorted((a["key"], a["size"]) for a in result["artifacts"]) == sorted((o["Key"][len(base):], o["Size"]) for o in objects)
    assert result["missing"] == []
    categories = {p["provider"]: p["category"] for p in result["run"]["providers"]}
    assert categories == {"openai": "available", "anthropic": "policy_block", "google": "network_issue",
                          "mistral": "policy_block", "cohere": "config_disable"}
    out = flat(shown.stdout)
    assert "%d object(s)" % len(objects) in out and "output openai/cs/ranked_jobs.openai.cs.json" in out
    assert "missing " not in out
    assert read_receipt(sandbox, tmp_path, execution_id, "artifacts")["status"] == "success"


def test_unknown_run_fails_clearly(sandbox, run_playbook, tmp_path, layout):
    """(A run of another candidate is refused with run_candidate_mismatch: tests/unit/module_utils/test_runs.py.)"""
    execution_id = "runs-unknown-%s" % uuid.uuid4().hex[:8]
    result = run_playbook("runs.yml", run_vars(tmp_path, layout, execution_id, runs_action="show", run_id="20990101T000000Z"))
    assert result.rc != 0
    out = flat(result.stdout)
    assert "runs status=fail reason=run_not_found: run 20990101T000000Z not found" in out
    assert "%s/runs/20990101T000000Z/" % layout["prefix"] in out and "%s/outbox/20990101T000000Z/" % layout["prefix"] in out
    receipt = read_receipt(sandbox, tmp_path, execution_id, "show")
    assert receipt["status"] == "failed" and receipt["failure_code"] == "run_not_found"


def test_check_mode_reads_and_writes_nothing(sandbox, run_playbook, tmp_path, layout):
    execution_id = "runs-check-%s" % uuid.uuid4().hex[:8]
    result = run_playbook("runs.yml", run_vars(tmp_path, layout, execution_id, runs_action="show", run_id=DEGRADED_RUN), check=True)
    assert result.rc == 0, result.stdout
    assert result.task_results("Read the runs from the artifact bucket")[0]["outputs"]["run"]["status"] == "degraded"
    assert not (tmp_path / "receipts" / execution_id).exists()
    writes = sandbox.control("aws", "requests?service=s3&operation=PutObject&key_prefix=receipts/%s" % execution_id)
    assert writes == []
    s3 = sandbox.boto3_client("s3")
    assert s3.list_objects_v2(Bucket=sandbox["SANDBOX_RECEIPT_BUCKET"], Prefix="receipts/%s/" % execution_id)["KeyCount"] == 0

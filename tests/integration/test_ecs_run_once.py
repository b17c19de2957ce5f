"""run_once.yml, force_fail_demo.yml and verify_task.yml against the sandbox's ECS outcomes.

Tasks, exit codes and artifacts are read back with boto3 (ECS DescribeTasks, S3); receipts from disk
and from the receipt bucket; check mode is read back from the sandbox's request log.
"""

import json

from tests.integration.ecs_sandbox import last_request_seq, private_family, read_receipt, requests_since


def test_a_run_succeeds_writes_its_artifacts_and_verify_task_reads_it(sandbox, run_playbook, tmp_path):
    family, prefix = private_family(sandbox)
    run = run_playbook("run_once.yml", {"jobintel_task_family": family, "taskdef_rev": 1, "run_id": "ecs-ok-run",
                                        "signalcraft_receipt_root": str(tmp_path / "run"), "run_env": {"JOBINTEL_PROFILES": "cs"}})
    assert run.rc == 0, run.stdout
    receipt = read_receipt(sandbox, str(tmp_path / "run"), "run_once")
    [ran] = run.task_results("Run the task and wait until it stops")
    assert ran["token_line"].startswith("run_once status=ok run_id=ecs-ok-run task=%s exit_code=0 artifacts=s3://" % receipt["outputs"]["task_arn"])
    assert receipt["status"] == "success" and receipt["outputs"]["run_id"] == "ecs-ok-run"
    task_arn = receipt["outputs"]["task_arn"]
    [task] = sandbox.boto3_client("ecs").describe_tasks(cluster=sandbox["SANDBOX_ECS_CLUSTER"], tasks=[task_arn])["tasks"]
    assert task["lastStatus"] == "STOPPED" and task["containers"][0]["exitCode"] == 0
    assert task["taskDefinitionArn"].endswith("/%s:1" % family)
    assert receipt["outputs"]["exit_code"] == 0 and receipt["outputs"]["containers"][0]["exit_code"] == 0
    outbox = "%s/outbox/ecs-ok-run/" % prefix
    assert receipt["outputs"]["artifacts"]["uri"] == "s3://%s/%s" % (sandbox["SANDBOX_ARTIFACT_BUCKET"], outbox)
    keys = [o["Key"] for o in sandbox.boto3_client("s3").list_objects_v2(Bucket=sandbox["SANDBOX_ARTIFACT_BUCKET"], Prefix=outbox)["Contents"]]
    assert outbox + "run_health.v1.json" in keys and outbox + "openai/cs/ranked_jobs.openai.cs.json" in keys

    verify = run_playbook("verify_task.yml", {"task_arn": task_arn, "signalcraft_receipt_root": str(tmp_path / "verify")})
    assert verify.rc == 0, verify.stdout
    assert "task status=STOPPED exit_code=0 stop_code=EssentialContainerExited" in verify.stdout
    checked = read_receipt(sandbox, str(tmp_path / "verify"), "verify_task")
    assert checked["outputs"]["last_status"] == task["lastStatus"] and checked["outputs"]["stopped_reason"] == task["stoppedReason"]


def test_forced_failure_fails_with_the_code_the_paths_and_a_failed_receipt(sandbox, run_playbook, tmp_path):
    family, prefix = private_family(sandbox)
    result = run_playbook("force_fail_demo.yml", {"jobintel_task_family": family, "stage": "classify", "run_id": "ecs-forced",
                                                  "signalcraft_receipt_root": str(tmp_path / "receipts")})
    assert result.rc != 0
    outbox = "s3://%s/%s/outbox/ecs-forced/" % (sandbox["SANDBOX_ARTIFACT_BUCKET"], prefix)
    assert "reason=task_failed failure_code=FORCED_FAILURE" in result.stdout
    for name in ("run_health.v1.json", "run_summary.v1.json", "artifacts/provider_availability_v1.json"):
        assert outbox + name in result.stdout
    receipt = read_receipt(sandbox, str(tmp_path / "receipts"), "run_once")
    assert receipt["operation"] == "force_fail_demo" and receipt["status"] == "failed"
    assert receipt["failure_code"] == "FORCED_FAILURE" and receipt["outputs"]["run_health"]["failed_stage"] == "classify"
    [task] = sandbox.boto3_client("ecs").describe_tasks(cluster=sandbox["SANDBOX_ECS_CLUSTER"], tasks=[receipt["outputs"]["task_arn"]])["tasks"]
    assert task["containers"][0]["exitCode"] == 1 == receipt["outputs"]["exit_code"]
    health = json.loads(sandbox.boto3_client("s3").get_object(Bucket=sandbox["SANDBOX_ARTIFACT_BUCKET"],
                                                              Key="%s/outbox/ecs-forced/run_health.v1.json" % prefix)["Body"].read())
    assert health["failed_stage"] == "classify" and "FORCED_FAILURE" in health["failure_codes"]


def test_check_mode_plans_the_run_and_starts_nothing(sandbox, run_playbook, tmp_path):
    family, prefix = private_family(sandbox)
    seq = last_request_seq(sandbox)
    plan = run_playbook("run_once.yml", {"jobintel_task_family": family, "run_id": "ecs-plan-run",
                                         "signalcraft_receipt_root": str(tmp_path / "plan")}, check=True)
    assert plan.rc == 0, plan.stdout
    outbox = "s3://%s/%s/outbox/ecs-plan-run/" % (sandbox["SANDBOX_ARTIFACT_BUCKET"], prefix)
    [planned] = plan.task_results("Run the task and wait until it stops")
    assert planned["token_line"].startswith("run_once status=planned run_id=ecs-plan-run task_definition=")
    assert planned["token_line"].endswith("artifacts=%s" % outbox) and planned["outputs"]["task_arn"] is None
    assert requests_since(sandbox, seq, service="ecs", operation="RunTask") == []
    assert not (tmp_path / "plan").exists()

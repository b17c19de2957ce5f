"""daily.yml --check writes nothing (no revision, no task, no S3 write); a failed run stops the chain.

The end-to-end run of daily.yml is tests/integration/test_demo.py (demo.yml imports daily.yml), so
the suite pays for one full chain, not two.
"""

from tests.integration.ecs_sandbox import (copy_seeded_pointers, last_request_seq, private_family, read_pointer, read_receipt,
                                           requests_since, revisions)

S3_WRITES = ("PutObject", "CopyObject", "DeleteObject", "DeleteObjects", "CompleteMultipartUpload", "CreateMultipartUpload")


def outputs(result):
    """A module's outputs (under ``outputs`` for modules on the skeleton)."""
    return result["outputs"] if isinstance(result.get("outputs"), dict) else result


def test_daily_check_mode_writes_nothing_anywhere(sandbox, run_playbook, tmp_path):
    family, prefix = private_family(sandbox)
    pointers = copy_seeded_pointers(sandbox, prefix)
    before = revisions(sandbox, family)
    seq = last_request_seq(sandbox)
    overlay = {"REDACTION_ENFORCE": "1", "JOBINTEL_S3_BUCKET": sandbox["SANDBOX_ARTIFACT_BUCKET"], "JOBINTEL_S3_PREFIX": prefix,
               "RELEASE": "check"}
    result = run_playbook("daily.yml", {"jobintel_task_family": family, "jobintel_prefix": prefix, "jobintel_deploy_environment": overlay,
                                        "signalcraft_receipt_root": str(tmp_path / "receipts")}, check=True)
    assert result.rc == 0, result.stdout
    assert "preflight status=ok" in result.stdout
    [planned] = result.task_results("Register a revision when the image or environment differs")
    assert planned["changed"] is True and "container jobintel environment RELEASE added (check)" in outputs(planned)["changes"]
    [run] = result.task_results("Run the task and wait until it stops")
    assert outputs(run)["task_arn"] is None and outputs(run)["artifacts"]["prefix"].startswith(prefix + "/outbox/")
    # Read back: nothing registered, started or written.
    assert revisions(sandbox, family) == before
    assert requests_since(sandbox, seq, service="ecs", operation="RunTask") == []
    assert requests_since(sandbox, seq, service="ecs", operation="RegisterTaskDefinition") == []
    writes = [r for r in requests_since(sandbox, seq, service="s3") if r["operation"] in S3_WRITES]
    assert writes == []
    assert not (tmp_path / "receipts").exists()
    for key, etag in pointers.items():
        assert read_pointer(sandbox, key)[1] == etag


def test_a_failed_run_stops_the_chain_and_resume_finishes_it(sandbox, run_playbook, tmp_path):
    """The phase engine: a failed run_once stops daily before publish; -e resume=true finishes it."""
    family, prefix = private_family(sandbox)
    pointers = copy_seeded_pointers(sandbox, prefix)
    root = tmp_path / "receipts"
    base = {"jobintel_task_family": family, "jobintel_prefix": prefix, "signalcraft_receipt_root": str(root),
            "signalcraft_execution_id": "daily-resume-1"}
    result = run_playbook("daily.yml", dict(base, jobintel_run_once_environment={"JOBINTEL_FORCE_FAIL_STAGE": "scrape"}))
    assert result.rc != 0 and "failure_code=FORCED_FAILURE" in result.stdout
    assert "daily status=fail reason=task_failed" in result.stdout
    failed = read_receipt(sandbox, str(root), "run_once", "daily-resume-1")
    assert failed["status"] == "failed" and failed["failure_code"] == "FORCED_FAILURE"
    for phase in ("publish", "verify_ops", "provenance"):
        assert read_receipt(sandbox, str(root), phase, "daily-resume-1")["skip_reason"] == "stopped: run_once failed"
    for key, etag in pointers.items():
        assert read_pointer(sandbox, key)[1] == etag
    s3 = sandbox.boto3_client("s3")
    runs = s3.list_objects_v2(Bucket=sandbox["SANDBOX_ARTIFACT_BUCKET"], Prefix="%s/runs/" % prefix)
    assert runs["KeyCount"] == 0
    verify_before = read_receipt(sandbox, str(root), "verify", "daily-resume-1")
    revisions_before = revisions(sandbox, family)

    seq = last_request_seq(sandbox)
    resumed = run_playbook("daily.yml", dict(base, resume=True))
    assert resumed.rc == 0, resumed.stdout[-3000:]
    assert "plan status=ok run=run_once,publish,verify_ops,provenance skip=verify,deploy" in resumed.stdout
    # verify and deploy are done in their receipts: kept as they were, no new revision registered.
    assert read_receipt(sandbox, str(root), "verify", "daily-resume-1") == verify_before
    assert revisions(sandbox, family) == revisions_before
    assert requests_since(sandbox, seq, service="ecs", operation="RegisterTaskDefinition") == []
    run = read_receipt(sandbox, str(root), "run_once", "daily-resume-1")
    assert run["status"] == "success"
    published = s3.list_objects_v2(Bucket=sandbox["SANDBOX_ARTIFACT_BUCKET"], Prefix="%s/runs/%s/" % (prefix, run["outputs"]["run_id"]))
    assert published["KeyCount"] > 0
    assert read_receipt(sandbox, str(root), "publish", "daily-resume-1")["status"] == "success"

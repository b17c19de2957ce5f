"""retention.yml against the sandbox: thousands of recordings, legal holds, window, 20% throttling.

State is read back with boto3 (objects left), psycopg (rows marked), the sandbox request log
(DeleteObjects sizes) and the receipt on disk.
"""

import json
import os
import uuid

import psycopg

from tests.unit.module_utils.test_retention import make_recordings, state

SWEEP_TASK = "Delete expired recordings outside the window and not under legal hold"


def test_sweep_of_2500_expired_recordings_under_throttling(sandbox, clean_faults, run_playbook, tmp_path):
    bucket = "test-ret-big-%s" % uuid.uuid4().hex[:10]
    rows = [("exp/%05d" % i, True, False, False, False, True) for i in range(2500)]
    rows += [("window/%03d" % i, True, True, False, False, True) for i in range(30)]
    rows += [("hold/%03d" % i, True, False, True, False, True) for i in range(20)]
    rows += [("future/%03d" % i, False, False, False, False, True) for i in range(10)]
    make_recordings(sandbox, bucket, rows)
    base = {"retention_buckets": [bucket], "retention_window_days": 7, "signalcraft_receipt_root": str(tmp_path / "receipts")}

    dry = run_playbook("retention.yml", dict(base, signalcraft_execution_id="ret-dry"))
    assert dry.rc == 0, dry.stdout
    res = dry.task_results(SWEEP_TASK)[0]
    assert res["token_line"].startswith("retention status=ok mode=dry_run deleted_count=0 would_delete_count=2500 skipped_legal_hold=20 "
                                        "skipped_in_window=30 errors=0 backlog=2500 iam_preflight=ok")
    assert state(sandbox, bucket)[1] == set() and len(state(sandbox, bucket)[0]) == 2560

    sandbox.control("aws", "requests", method="DELETE")
    sandbox.control("aws", "faults", {"seed": 11, "rules": [{"service": "s3", "operation": "*", "fraction": 0.2, "error": "slowdown"}]})
    progress = tmp_path / "progress.jsonl"
    done = run_playbook("retention.yml", dict(base, retention_apply=True, signalcraft_execution_id="ret-apply",
                                              retention_progress_file=str(progress)))
    injected = sandbox.control("aws", "faults")["injected"]
    sandbox.clear_faults()
    assert done.rc == 0, done.stdout
    assert sum(injected.values()) > 100  # throttling really happened
    res = done.task_results(SWEEP_TASK)[0]
    assert res["changed"] is True
    res = res["outputs"]
    assert (res["deleted_count"], res["skipped_legal_hold"], res["errors"]) == (2500, 20, 0)
    assert len(res["progress"]) == 3
    keys, marked = state(sandbox, bucket)
    assert keys == {row[0] for row in rows if not row[0].startswith("exp/")}
    assert marked == {row[0] for row in rows if row[0].startswith("exp/")}
    # Every DeleteObjects request carried at most 1,000 keys (read from the sandbox's request log).
    deletes = sandbox.control("aws", "requests?operation=DeleteObjects&bucket=%s&injected=false" % bucket)
    assert deletes and all(e["status"] == 200 for e in deletes)
    receipt = json.load(open(os.path.join(tmp_path, "receipts", "ret-apply", "apply.json")))
    assert receipt["status"] == "success" and receipt["outputs"]["deleted_count"] == 2500
    assert max(receipt["outputs"]["delete_requests"]) <= 1000 and sum(receipt["outputs"]["delete_requests"]) == 2500
    assert receipt["outputs"]["after"]["unexplained"] == 0
    assert len(progress.read_text().splitlines()) == 3
    with psycopg.connect(sandbox["SANDBOX_PG_DSN"]) as conn:
        left = conn.execute("select count(*) from recordings where bucket = %s and deleted_at is null and expires_at < now()",
                            (bucket,)).fetchone()[0]
    assert left == 50  # 30 inside the window + 20 under legal hold, nothing else
    assert sandbox["SANDBOX_PG_DSN"].split("@")[0].split(":")[-1] not in done.stdout  # the DSN password never printed

    again = run_playbook("retention.yml", dict(base, retention_apply=True, signalcraft_execution_id="ret-again"))
    assert again.rc == 0 and again.task_results(SWEEP_TASK)[0]["outputs"]["deleted_count"] == 0
    assert again.task_results(SWEEP_TASK)[0]["changed"] is False
    assert json.load(open(os.path.join(tmp_path, "receipts", "ret-again", "apply.json")))["changed"] is False


def test_check_mode_with_apply_reports_the_change_and_deletes_nothing(sandbox, run_playbook, tmp_path):
    bucket = "test-ret-check-%s" % uuid.uuid4().hex[:10]
    rows = [("exp/%d" % i, True, False, False, False, True) for i in range(3)] + [("window/0", True, True, False, False, True)]
    make_recordings(sandbox, bucket, rows)
    run = run_playbook("retention.yml", {"retention_buckets": [bucket], "retention_window_days": 7, "retention_apply": True,
                                         "signalcraft_execution_id": "ret-check", "signalcraft_receipt_root": str(tmp_path / "r"),
                                         "retention_progress_file": str(tmp_path / "progress" / "p.jsonl")},
                       check=True)
    assert run.rc == 0, run.stdout
    res = run.task_results(SWEEP_TASK)[0]
    assert res["changed"] is True and res["outputs"]["would_delete_count"] == 3 and res["outputs"]["deleted_count"] == 0
    assert res["diff"] == {"before": {"expired_unmarked": 4}, "after": {"expired_unmarked": 1}}
    assert res["token_line"].startswith("retention status=planned mode=dry_run deleted_count=0 would_delete_count=3")
    assert state(sandbox, bucket) == ({row[0] for row in rows}, set())  # read back: every object and row untouched
    assert len(res["outputs"]["progress"]) == 1 and not (tmp_path / "progress").exists()  # nor the progress log
    assert not (tmp_path / "r").exists()  # nor a receipt


def _role(sandbox, name, actions):
    """An IAM role with one inline policy allowing ``actions`` on everything; returns its assumed-role credentials as the
    inventory's signalcraft_aws_* variables (the local inventory sets the sandbox's anonymous keys there)."""
    iam = sandbox.boto3_client("iam")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    iam.put_role_policy(RoleName=name, PolicyName="retention", PolicyDocument=json.dumps(policy))
    creds = sandbox.boto3_client("sts").assume_role(RoleArn=arn, RoleSessionName="ansible")["Credentials"]
    return {"signalcraft_aws_access_key": creds["AccessKeyId"], "signalcraft_aws_secret_key": creds["SecretAccessKey"],
            "signalcraft_aws_session_token": creds["SessionToken"]}


READ_ACTIONS = ["s3:ListBucket", "s3:GetObject", "s3:GetBucketVersioning", "s3:GetBucketObjectLockConfiguration",
                "s3:GetObjectLegalHold", "s3:ListBucketVersions"]


def _deletes(sandbox, bucket):
    return [e for op in ("DeleteObject", "DeleteObjects")
            for e in sandbox.control("aws", "requests?operation=%s&bucket=%s" % (op, bucket))]


def test_a_role_without_delete_object_is_refused_before_any_delete(sandbox, run_playbook, tmp_path):
    bucket = "test-ret-iam-%s" % uuid.uuid4().hex[:10]
    rows = [("rec/%d" % i, True, False, False, False, True) for i in range(4)]
    make_recordings(sandbox, bucket, rows)
    base = {"retention_buckets": [bucket], "retention_window_days": 7, "retention_apply": True,
            "signalcraft_receipt_root": str(tmp_path / "r")}
    suffix = uuid.uuid4().hex[:8]
    no_delete = _role(sandbox, "ret-nodelete-%s" % suffix, READ_ACTIONS + ["iam:SimulatePrincipalPolicy"])
    no_simulate = _role(sandbox, "ret-nosim-%s" % suffix, READ_ACTIONS + ["s3:DeleteObject"])

    refused = run_playbook("retention.yml", dict(base, signalcraft_execution_id="ret-iam", **no_delete))
    assert refused.rc != 0
    res = refused.task_results(SWEEP_TASK)[0]
    assert res["token_line"].startswith("retention status=fail reason=iam_action_denied"), res["token_line"]
    assert "s3:DeleteObject on arn:aws:s3:::%s/rec/0" % bucket in res["msg"]
    assert res["outputs"]["iam_preflight"]["principal"] == "arn:aws:iam::%s:role/ret-nodelete-%s" % (sandbox["SANDBOX_ACCOUNT_ID"], suffix)
    receipt = json.load(open(os.path.join(tmp_path, "r", "ret-iam", "apply.json")))
    assert receipt["status"] == "failed" and receipt["failure_code"] == "iam_action_denied"

    denied = run_playbook("retention.yml", dict(base, signalcraft_execution_id="ret-nosim", **no_simulate))
    res = denied.task_results(SWEEP_TASK)[0]
    assert denied.rc != 0 and res["token_line"].startswith("retention status=fail reason=iam_simulation_denied")
    assert "iam:SimulatePrincipalPolicy" in res["msg"] and "retention_skip_iam_preflight=true" in res["msg"]
    # Read back: every object still exists, no row marked, and no delete request reached S3.
    assert state(sandbox, bucket) == ({row[0] for row in rows}, set())
    assert _deletes(sandbox, bucket) == []

    skipped = run_playbook("retention.yml", dict(base, retention_apply=False, retention_skip_iam_preflight=True,
                                                 signalcraft_execution_id="ret-skip", **no_simulate))
    assert skipped.rc == 0, skipped.stdout
    assert "iam_preflight=skipped" in skipped.task_results(SWEEP_TASK)[0]["token_line"]
    receipt = json.load(open(os.path.join(tmp_path, "r", "ret-skip", "dry_run.json")))
    assert receipt["outputs"]["iam_preflight"]["status"] == "skipped"


def test_an_allowed_role_deletes_and_the_backlog_triggers_apply(sandbox, run_playbook, tmp_path):
    bucket = "test-ret-backlog-%s" % uuid.uuid4().hex[:10]
    rows = [("rec/%d" % i, True, False, False, False, True) for i in range(5)]
    rows += [("window/0", True, True, False, False, True), ("hold/0", True, False, True, False, True)]
    make_recordings(sandbox, bucket, rows)
    creds = _role(sandbox, "ret-ok-%s" % uuid.uuid4().hex[:8], READ_ACTIONS + ["s3:DeleteObject", "iam:SimulatePrincipalPolicy"])
    base = {"retention_buckets": [bucket], "retention_window_days": 7, "signalcraft_receipt_root": str(tmp_path / "r")}

    plan = run_playbook("retention.yml", dict(base, retention_backlog_threshold=4, signalcraft_execution_id="ret-plan", **creds))
    assert plan.rc == 0, plan.stdout
    line = plan.task_results(SWEEP_TASK)[0]["token_line"]
    assert line.endswith("backlog=5 recommendation=manual_run iam_preflight=ok"), line
    assert state(sandbox, bucket)[0] == {row[0] for row in rows}

    auto = run_playbook("retention.yml", dict(base, retention_auto_run_above=4, signalcraft_execution_id="ret-auto", **creds))
    assert auto.rc == 0, auto.stdout
    res = auto.task_results(SWEEP_TASK)[0]
    assert "mode=apply deleted_count=5" in res["token_line"] and "backlog=5 auto_run=applied iam_preflight=ok" in res["token_line"]
    receipt = json.load(open(os.path.join(tmp_path, "r", "ret-auto", "apply.json")))
    assert receipt["outputs"]["backlog"] == {"stale_objects": 5, "threshold": 10000, "above_threshold": False,
                                             "recommend_manual_run": False, "auto_run_above": 4, "auto_applied": True}
    assert state(sandbox, bucket) == ({"window/0", "hold/0"}, {"rec/%d" % i for i in range(5)})
    assert len(_deletes(sandbox, bucket)) >= 1

    again = run_playbook("retention.yml", dict(base, retention_auto_run_above=4, signalcraft_execution_id="ret-again2", **creds))
    assert again.rc == 0 and "mode=dry_run" in again.task_results(SWEEP_TASK)[0]["token_line"]
    assert "backlog=0" in again.task_results(SWEEP_TASK)[0]["token_line"]


def test_schedule_rule_is_created_disabled_and_enabled_only_on_request(sandbox, run_playbook, tmp_path):
    rule = "test-retention-%s" % uuid.uuid4().hex[:8]
    events = sandbox.boto3_client("events")
    base = {"retention_schedule_rule": rule, "signalcraft_receipt_root": str(tmp_path / "r")}
    task = "Keep the retention EventBridge schedule rule (DISABLED unless retention_enable_schedule)"

    check = run_playbook("retention_schedule.yml", base, check=True)
    assert check.rc == 0, check.stdout
    assert [r["Name"] for r in events.list_rules(NamePrefix=rule)["Rules"]] == []
    first = run_playbook("retention_schedule.yml", base)
    assert first.rc == 0, first.stdout
    got = events.describe_rule(Name=rule)
    assert (got["State"], got["ScheduleExpression"]) == ("DISABLED", "cron(0 2 * * ? *)")
    second = run_playbook("retention_schedule.yml", base)
    assert second.task_results(task)[0]["changed"] is False
    enabled = run_playbook("retention_schedule.yml", dict(base, retention_enable_schedule=True,
                                                          retention_schedule_expression="rate(1 hour)"))
    assert enabled.rc == 0 and enabled.task_results(task)[0]["changed"] is True
    got = events.describe_rule(Name=rule)
    assert (got["State"], got["ScheduleExpression"]) == ("ENABLED", "rate(1 hour)")
    bad = run_playbook("retention_schedule.yml", dict(base, retention_schedule_expression="hourly"))
    assert bad.rc != 0 and "reason=eventbridge_schedule_invalid" in bad.task_results(task)[0]["token_line"]

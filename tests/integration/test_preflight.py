"""preflight.yml against the sandbox: the prod redaction contract, account guard, config contract.

Assertions read the receipts back from disk and from the sandbox's S3, never from our stdout alone.
"""

import json
import os

import jsonschema

from tests.conftest import REPO_ROOT

with open(os.path.join(REPO_ROOT, "schemas", "receipt.v1.schema.json")) as _handle:
    RECEIPT_SCHEMA = json.load(_handle)


def read_receipts(sandbox, receipt_root, execution_id):
    """The receipt on disk and its S3 copy, both schema-checked."""
    with open(os.path.join(receipt_root, execution_id, "verify.json")) as handle:
        on_disk = json.load(handle)
    s3 = sandbox.boto3_client("s3")
    obj = s3.get_object(Bucket=sandbox["SANDBOX_RECEIPT_BUCKET"], Key="receipts/%s/verify.json" % execution_id)
    in_s3 = json.loads(obj["Body"].read())
    jsonschema.validate(on_disk, RECEIPT_SCHEMA)
    assert in_s3 == on_disk
    return on_disk


def prod_vars(tmp_path, execution_id, **workload_env):
    env = {"JOBINTEL_S3_BUCKET": "b", "JOBINTEL_S3_PREFIX": "p"}
    env.update(workload_env)
    return {"signalcraft_deployment_env": "prod", "signalcraft_receipt_root": str(tmp_path / "receipts"),
            "jobintel_workload_env": env, "signalcraft_execution_id": execution_id}


def test_prod_preflight_fails_without_redaction_enforce(sandbox, run_playbook, tmp_path):
    extravars = prod_vars(tmp_path, "pf-noredact")
    extravars.update(jobintel_task_family="", jobintel_required_config_names=["JOBINTEL_S3_BUCKET"])
    result = run_playbook("preflight.yml", extravars)
    assert result.rc != 0
    assert "preflight status=fail reason=redaction_not_enforced" in result.stdout
    receipt = read_receipts(sandbox, str(tmp_path / "receipts"), "pf-noredact")
    assert receipt["status"] == "failed" and receipt["failure_code"] == "redaction_not_enforced"


def test_the_inventory_overlay_wins_over_the_task_definition(sandbox, run_playbook, tmp_path):
    """The seeded task definition has REDACTION_ENFORCE=1; an overlay that sets 0 is what the workload gets."""
    result = run_playbook("preflight.yml", prod_vars(tmp_path, "pf-overlay", REDACTION_ENFORCE="0"))
    assert result.rc != 0
    receipt = read_receipts(sandbox, str(tmp_path / "receipts"), "pf-overlay")
    assert receipt["failure_code"] == "redaction_not_enforced"


def test_the_task_definition_flag_counts_when_the_overlay_is_silent(sandbox, run_playbook, tmp_path):
    result = run_playbook("preflight.yml", prod_vars(tmp_path, "pf-taskdef"))
    assert result.rc == 0, result.stdout
    assert read_receipts(sandbox, str(tmp_path / "receipts"), "pf-taskdef")["status"] == "success"


def test_prod_preflight_passes_with_redaction_enforce(sandbox, run_playbook, tmp_path):
    result = run_playbook("preflight.yml", prod_vars(tmp_path, "pf-ok", REDACTION_ENFORCE="1"))
    assert result.rc == 0, result.stdout
    assert "preflight status=ok" in result.stdout
    receipt = read_receipts(sandbox, str(tmp_path / "receipts"), "pf-ok")
    assert receipt["status"] == "success"
    assert receipt["message"] == "preflight status=ok"
    checks = {c["name"]: c["status"] for c in receipt["outputs"]["checks"]}
    assert checks == {"account_region": "ok", "redaction_contract": "ok", "config_contract": "ok"}
    # OPENAI_API_KEY is required and comes from the seeded task definition's secrets (names only).
    assert receipt["outputs"]["missing_config_names"] == []


def test_wrong_account_is_refused(sandbox, run_playbook, tmp_path):
    extravars = prod_vars(tmp_path, "pf-account", REDACTION_ENFORCE="1")
    extravars["signalcraft_expected_account_id"] = "999999999999"
    result = run_playbook("preflight.yml", extravars)
    assert result.rc != 0
    # The action plugin's account guard answers before the preflight module runs; its refusal's receipt
    # stays local (an unverified account gets no upload). Preflight's own check gives the same token.
    root = tmp_path / "receipts" / "pf-account"
    if "account_guard status=fail reason=account_mismatch" in result.stdout:
        with open(str(root / "account_guard.json")) as handle:
            receipt = json.load(handle)
        jsonschema.validate(receipt, RECEIPT_SCHEMA)
        assert not (root / "verify.json").exists()
        s3 = sandbox.boto3_client("s3")
        assert s3.list_objects_v2(Bucket=sandbox["SANDBOX_RECEIPT_BUCKET"], Prefix="receipts/pf-account/").get("KeyCount", 0) == 0
    else:
        assert "preflight status=fail reason=account_mismatch" in result.stdout
        receipt = read_receipts(sandbox, str(tmp_path / "receipts"), "pf-account")
    assert receipt["status"] == "failed" and receipt["failure_code"] == "account_mismatch"


def test_missing_config_names_are_reported_by_name_only(sandbox, run_playbook, tmp_path):
    extravars = prod_vars(tmp_path, "pf-contract", REDACTION_ENFORCE="1")
    extravars["jobintel_required_config_names"] = ["JOBINTEL_S3_BUCKET", "SLACK_WEBHOOK_URL"]
    result = run_playbook("preflight.yml", extravars)
    assert result.rc != 0
    receipt = read_receipts(sandbox, str(tmp_path / "receipts"), "pf-contract")
    assert receipt["failure_code"] == "missing_config"
    assert receipt["outputs"]["missing_config_names"] == ["SLACK_WEBHOOK_URL"]


def test_secret_values_never_reach_output_or_receipts_even_at_vvv(sandbox, run_playbook, tmp_path):
    secret = "pw-never-print-7f3a9c"
    extravars = prod_vars(tmp_path, "pf-secret", REDACTION_ENFORCE="1", DB_PASSWORD=secret)
    result = run_playbook("preflight.yml", extravars, verbosity=3)
    assert result.rc == 0, result.stdout
    assert "DB_PASSWORD" in result.stdout  # the name is reported ...
    assert secret not in result.stdout  # ... its value never is
    receipt_text = open(os.path.join(str(tmp_path / "receipts"), "pf-secret", "verify.json")).read()
    assert secret not in receipt_text


def test_check_mode_runs_the_checks_and_writes_no_receipt(sandbox, run_playbook, tmp_path):
    result = run_playbook("preflight.yml", prod_vars(tmp_path, "pf-check", REDACTION_ENFORCE="1"), check=True)
    assert result.rc == 0, result.stdout
    assert "preflight status=ok" in result.stdout
    assert not os.path.exists(os.path.join(str(tmp_path / "receipts"), "pf-check"))
    s3 = sandbox.boto3_client("s3")
    listed = s3.list_objects_v2(Bucket=sandbox["SANDBOX_RECEIPT_BUCKET"], Prefix="receipts/pf-check/")
    assert listed.get("KeyCount", 0) == 0


def test_an_unknown_task_definition_fails_with_a_receipt_naming_the_cause(sandbox, run_playbook, tmp_path):
    extravars = prod_vars(tmp_path, "pf-notaskdef", REDACTION_ENFORCE="1")
    extravars["jobintel_task_family"] = "no-such-family"
    result = run_playbook("preflight.yml", extravars)
    assert result.rc != 0
    assert "preflight status=fail reason=task_definition_not_found" in result.stdout
    receipt = read_receipts(sandbox, str(tmp_path / "receipts"), "pf-notaskdef")
    assert receipt["status"] == "failed" and receipt["failure_code"] == "task_definition_not_found"
    assert "'no-such-family'" in receipt["message"]


def test_report_mode_warns_without_failing_and_records_the_reason(sandbox, run_playbook, tmp_path):
    extravars = prod_vars(tmp_path, "pf-report", REDACTION_ENFORCE="0")
    extravars["preflight_mode"] = "report"
    result = run_playbook("preflight.yml", extravars)
    assert result.rc == 0, result.stdout
    assert "preflight status=warn reason=redaction_not_enforced" in result.stdout
    receipt = read_receipts(sandbox, str(tmp_path / "receipts"), "pf-report")
    assert receipt["message"].startswith("preflight status=warn reason=redaction_not_enforced")
    assert {c["name"]: c["status"] for c in receipt["outputs"]["checks"]}["redaction_contract"] == "fail"

"""verify_ops.yml: pointer missing, access denied and target missing fail with distinct reason tokens
and a non-zero outcome, next to pointers that pass (one prefix, one pointer per failure kind; one
playbook run). The remaining tokens (pointer_invalid, target_incomplete, latest_mismatch) are
covered in tests/unit/module_utils/test_publish_transfer.py.
"""

from ansible_collections.signalcraft.ops.plugins.module_utils.services import pointers
from tests.integration.publish_support import read_json, read_receipt, seed_copy, new_prefix

VERIFY_TASK = "Verify that the pointers exist, parse and name objects that exist"


def test_verify_ops_tells_missing_denied_and_target_missing_apart(sandbox, clean_faults, run_playbook, tmp_path):
    s3 = sandbox.boto3_client("s3")
    bucket = sandbox["SANDBOX_ARTIFACT_BUCKET"]
    prefix = new_prefix("vops-bad")
    seed_copy(s3, bucket, prefix)
    pair = read_json(s3, bucket, "%s/state/openai/cs/last_success.json" % prefix)
    # anthropic/cs: a pointer the caller may not read. google/cs: a pointer naming a run that is not there.
    # mistral/cs: no pointer at all.
    pointers.write_pointer(s3, bucket, "%s/state/anthropic/cs/last_success.json" % prefix, dict(pair, provider="anthropic"))
    pointers.write_pointer(s3, bucket, "%s/state/google/cs/last_success.json" % prefix,
                           dict(pair, provider="google", target="s3://%s/%s/runs/20990101T000000Z/google/cs/" % (bucket, prefix)))
    sandbox.control("aws", "faults", {"rules": [{"service": "s3", "operation": "GetObject", "error": "access_denied",
                                                 "key_prefix": "%s/state/anthropic/" % prefix}]})
    result = run_playbook("verify_ops.yml", {
        "jobintel_prefix": prefix, "signalcraft_receipt_root": str(tmp_path / "receipts"), "signalcraft_execution_id": "vops-bad",
        "jobintel_publish_providers": ["openai", "anthropic", "google", "mistral"], "jobintel_verify_ops_check_latest": False})
    assert result.rc != 0
    checks = dict((c["name"], c["reason"]) for c in result.task_results(VERIFY_TASK)[0]["outputs"]["checks"])
    assert checks == {"last_success": None, "openai/cs": None, "anthropic/cs": "access_denied",
                      "google/cs": "target_missing", "mistral/cs": "pointer_missing"}
    ok = [c for c in result.task_results(VERIFY_TASK)[0]["outputs"]["checks"] if c["status"] == "ok"]
    expected = [("last_success", 6, "20260101T060000Z"), ("openai/cs", 3, "20260101T060000Z")]
    assert [(c["name"], c["found_count"], c["run_id"]) for c in ok] == expected
    assert "verify_ops status=fail reason=access_denied" in result.stdout
    receipt = read_receipt(sandbox, tmp_path, "vops-bad", "verify_ops")
    assert receipt["status"] == "failed" and receipt["failure_code"] == "access_denied"
    assert sorted(c["reason"] for c in receipt["outputs"]["checks"] if c["reason"]) == ["access_denied", "pointer_missing", "target_missing"]

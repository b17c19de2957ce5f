"""s3_hardening.yml against the sandbox on buckets of this test: --check, plan, apply, empty second plan.

Controls are read back with boto3, receipts from disk; the request log proves check mode wrote nothing.
"""

import json
import os
import uuid

HARDEN_TASK = "Plan the hardening of the buckets (apply when asked)"
WRITE_OPERATIONS = ("PutBucketVersioning", "PutBucketLifecycleConfiguration", "PutBucketReplication", "PutPublicAccessBlock",
                    "PutBucketEncryption")


def _writes(sandbox, buckets):
    return [e for op in WRITE_OPERATIONS for bucket in buckets
            for e in sandbox.control("aws", "requests?operation=%s&bucket=%s" % (op, bucket))]


def test_plan_check_apply_and_second_plan_empty(sandbox, run_playbook, tmp_path):
    s3 = sandbox.boto3_client("s3")
    rec, backup = ("test-hard-%s-%s" % (n, uuid.uuid4().hex[:8]) for n in ("rec", "bak"))
    for name in (rec, backup):
        s3.create_bucket(Bucket=name)
    buckets = [{"bucket": backup, "versioning": "enabled", "lifecycle_profile": "backup"},
               {"bucket": rec, "versioning": "enabled", "lifecycle_profile": "recordings",
                "replication": {"role_arn": "arn:aws:iam::111122223333:role/replication", "destination_bucket": backup}}]
    root = tmp_path / "receipts"
    extravars = {"storage_hardening_buckets": buckets, "signalcraft_receipt_root": str(root), "signalcraft_execution_id": "hard-1"}

    def controls():
        out = {}
        for name in (rec, backup):
            out[name] = s3.get_bucket_versioning(Bucket=name).get("Status")
            try:
                out[name + ":lifecycle"] = s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
            except s3.exceptions.ClientError:
                out[name + ":lifecycle"] = None
        return out

    untouched = controls()
    # --check with apply=true writes nothing (read back, request log) but reports what would change,
    # in "would" words, without the "apply with" hint and without a receipt.
    checked = run_playbook("s3_hardening.yml", dict(extravars, s3_hardening_apply=True, signalcraft_execution_id="hard-check"),
                           check=True)
    assert checked.rc == 0, checked.stdout
    result = checked.task_results(HARDEN_TASK)[0]
    assert result["changed"] is True and result["status"] == "planned"
    assert "s3_hardening status=planned mode=check buckets=2 would_change=" in checked.stdout
    assert "would be applied" in checked.stdout and "%s would change versioning: Disabled -> Enabled" % rec in checked.stdout
    assert "apply with -e s3_hardening_apply=true" not in checked.stdout and "receipt" not in checked.stdout.lower()
    assert controls() == untouched and untouched[rec] is None and _writes(sandbox, (rec, backup)) == []
    assert not (root / "hard-check").exists()
    # Dry run: the plan of unhardened buckets, nothing written; the receipt is filed under -e signalcraft_execution_id.
    plan = run_playbook("s3_hardening.yml", extravars)
    assert plan.rc == 0, plan.stdout
    outputs = plan.task_results(HARDEN_TASK)[0]["outputs"]
    assert "versioning: Disabled -> Enabled" in outputs["plan"][rec]
    assert "lifecycle: +recordings-tiering" in outputs["plan"][rec] and "replication: +replicate-to-backup" in outputs["plan"][rec]
    assert not plan.task_results(HARDEN_TASK)[0]["changed"] and controls() == untouched
    assert "pending (apply with -e s3_hardening_apply=true)" in plan.stdout
    receipt = json.load(open(os.path.join(str(root), "hard-1", "plan.json")))
    assert receipt["operation"] == "s3_hardening" and receipt["execution_id"] == "hard-1"
    assert receipt["outputs"]["pending_changes"] == sum(len(v) for v in outputs["plan"].values()) > 0
    assert receipt["inputs"]["buckets"] == [backup, rec] and receipt["inputs"]["apply"] is False
    # Apply, read back independently.
    applied = run_playbook("s3_hardening.yml", dict(extravars, s3_hardening_apply=True, signalcraft_execution_id="hard-2"))
    assert applied.rc == 0, applied.stdout
    assert "s3_hardening status=ok mode=apply buckets=2 applied=" in applied.stdout
    assert s3.get_bucket_versioning(Bucket=rec)["Status"] == "Enabled"
    tiers = s3.get_bucket_lifecycle_configuration(Bucket=rec)["Rules"][0]["Transitions"]
    assert sorted((t["Days"], t["StorageClass"]) for t in tiers) == [(7, "GLACIER_IR"), (30, "DEEP_ARCHIVE")]
    assert s3.get_bucket_replication(Bucket=rec)["ReplicationConfiguration"]["Rules"][0]["Destination"]["Bucket"] == "arn:aws:s3:::" + backup
    assert s3.get_public_access_block(Bucket=rec)["PublicAccessBlockConfiguration"]["BlockPublicAcls"] is True
    assert applied.task_results(HARDEN_TASK)[0]["outputs"]["controls"][rec]["versioning"] == {"Status": "Enabled"}
    receipt = json.load(open(os.path.join(str(root), "hard-2", "apply.json")))
    assert receipt["status"] == "success" and receipt["changed"] is True and receipt["outputs"]["applied"][rec]
    # Second plan (even with apply) is empty and changes nothing.
    again = run_playbook("s3_hardening.yml", dict(extravars, s3_hardening_apply=True, signalcraft_execution_id="hard-3"))
    assert again.rc == 0
    result = again.task_results(HARDEN_TASK)[0]
    assert result["outputs"]["pending_changes"] == 0 and not result["changed"]
    assert json.load(open(os.path.join(str(root), "hard-3", "apply.json")))["changed"] is False


def test_placeholder_and_unset_buckets_refused_before_any_request(sandbox, run_playbook, tmp_path):
    root = tmp_path / "receipts"
    for bucket, reason in (("REPLACE_WITH_PROD_BUCKET", "inventory_placeholder"), ("", "bucket_unset")):
        run = run_playbook("s3_hardening.yml", {"storage_hardening_buckets": [{"bucket": bucket, "versioning": "enabled"}],
                                                "signalcraft_receipt_root": str(root), "signalcraft_execution_id": "hard-bad"})
        assert run.rc != 0 and "s3_hardening status=fail reason=%s" % reason in run.stdout
        assert "storage_hardening_buckets[0]" in run.stdout
        receipt = json.load(open(os.path.join(str(root), "hard-bad", "plan.json")))
        assert receipt["status"] == "failed" and receipt["failure_code"] == reason

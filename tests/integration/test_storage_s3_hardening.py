"""s3_hardening.yml against the sandbox on buckets of this test: plan, --check, apply, empty second plan."""

import json
import os
import uuid

HARDEN_TASK = "Plan the hardening of each bucket (apply when asked)"


def test_plan_check_apply_and_second_plan_empty(sandbox, run_playbook, tmp_path):
    s3 = sandbox.boto3_client("s3")
    rec, backup = ("test-hard-%s-%s" % (n, uuid.uuid4().hex[:8]) for n in ("rec", "bak"))
    for name in (rec, backup):
        s3.create_bucket(Bucket=name)
    buckets = [{"bucket": backup, "versioning": "enabled", "lifecycle_profile": "backup"},
               {"bucket": rec, "versioning": "enabled", "lifecycle_profile": "recordings",
                "replication": {"role_arn": "arn:aws:iam::111122223333:role/replication", "destination_bucket": backup}}]
    extravars = {"storage_hardening_buckets": buckets, "signalcraft_receipt_root": str(tmp_path / "receipts"),
                 "s3_hardening_execution_id": "hard-1"}

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
    # --check with apply=true writes nothing (read back) but reports what would change.
    checked = run_playbook("s3_hardening.yml", dict(extravars, s3_hardening_apply=True), check=True)
    assert checked.rc == 0, checked.stdout
    assert all(r["changed"] for r in checked.task_results(HARDEN_TASK)[0]["results"])
    assert controls() == untouched and untouched[rec] is None
    # Dry run: the plan of unhardened buckets, nothing written.
    plan = run_playbook("s3_hardening.yml", extravars)
    assert plan.rc == 0, plan.stdout
    results = {r["bucket"]: r for r in plan.task_results(HARDEN_TASK)[0]["results"]}
    assert "versioning: Disabled -> Enabled" in results[rec]["summary"]
    assert "lifecycle: +recordings-tiering" in results[rec]["summary"] and "replication: +replicate-to-backup" in results[rec]["summary"]
    assert not any(r["changed"] for r in results.values()) and controls() == untouched
    receipt = json.load(open(os.path.join(tmp_path, "receipts", "hard-1", "plan.json")))
    assert receipt["outputs"]["pending_changes"] == sum(len(r["summary"]) for r in results.values())
    # Apply, read back independently.
    applied = run_playbook("s3_hardening.yml", dict(extravars, s3_hardening_apply=True, s3_hardening_execution_id="hard-2"))
    assert applied.rc == 0, applied.stdout
    assert s3.get_bucket_versioning(Bucket=rec)["Status"] == "Enabled"
    tiers = s3.get_bucket_lifecycle_configuration(Bucket=rec)["Rules"][0]["Transitions"]
    assert sorted((t["Days"], t["StorageClass"]) for t in tiers) == [(7, "GLACIER_IR"), (30, "DEEP_ARCHIVE")]
    assert s3.get_bucket_replication(Bucket=rec)["ReplicationConfiguration"]["Rules"][0]["Destination"]["Bucket"] == "arn:aws:s3:::" + backup
    assert s3.get_public_access_block(Bucket=rec)["PublicAccessBlockConfiguration"]["BlockPublicAcls"] is True
    applied_res = {r["bucket"]: r for r in applied.task_results(HARDEN_TASK)[0]["results"]}
    assert applied_res[rec]["controls"]["versioning"] == {"Status": "Enabled"}
    # Second plan (even with apply) is empty and changes nothing.
    again = run_playbook("s3_hardening.yml", dict(extravars, s3_hardening_apply=True, s3_hardening_execution_id="hard-3"))
    assert again.rc == 0
    assert all(r["summary"] == [] and not r["changed"] for r in again.task_results(HARDEN_TASK)[0]["results"])

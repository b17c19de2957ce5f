"""storage_orphans.yml, temp_uploads_cleanup.yml and archive_restore.yml against the sandbox.

Each test uses its own bucket and rows (uuid) passed with -e over the inventory's buckets; state is
read back with boto3, psycopg, the sandbox request log and the receipts on disk. Few playbook runs:
the edge cases (not archived, check mode of a restore, a second cleanup, thresholds between old and
new objects) are in tests/unit/module_utils/test_storage.py.
"""

import json
import os
import uuid

import psycopg

from tests.unit.module_utils.test_storage import _keys, _put_many, _requests, _rows

ORPHANS_TASK = "List objects without a metadata row and rows without an object"
CLEANUP_TASK = "Delete temporary uploads older than the threshold (count only unless apply)"
RESTORE_TASK = "Restore the archived recording and read its restore status"


def _receipt(root, execution_id, phase):
    with open(os.path.join(str(root), execution_id, "%s.json" % phase)) as handle:
        return json.load(handle)


def test_orphans_playbook_reports_both_ways_and_can_alert(sandbox, run_playbook, tmp_path):
    s3 = sandbox.boto3_client("s3")
    bucket = "test-maint-pb-orph-%s" % uuid.uuid4().hex[:10]
    s3.create_bucket(Bucket=bucket)
    strays = [("rec/stray-a", b"12345", None), ("rec/stray-b", b"1", None)]
    _put_many(s3, bucket, [("rec/%02d" % i, b"data", None) for i in range(6)] + strays)
    ids = _rows(sandbox, bucket, [("rec/%02d" % i, None, False, "3 days") for i in range(6)]
                + [("rec/lost-1", None, False, "3 days"), ("rec/lost-2", None, False, "3 days")])
    base = {"storage_recordings_bucket": bucket, "storage_orphans_prefix": "rec/", "storage_orphans_grace_minutes": 0,
            "signalcraft_receipt_root": str(tmp_path / "receipts")}
    run = run_playbook("storage_orphans.yml", dict(base, signalcraft_execution_id="orph-1"))
    assert run.rc == 0, run.stdout
    result = run.task_results(ORPHANS_TASK)[0]
    assert result["changed"] is False
    res = result["outputs"]
    assert (res["objects_scanned"], res["rows_scanned"], res["objects_without_row"], res["objects_without_row_bytes"]) == (8, 8, 2, 6)
    assert [s["key"] for s in res["objects_without_row_sample"]] == ["rec/stray-a", "rec/stray-b"]
    assert res["rows_without_object"] == 2 and [s["id"] for s in res["rows_without_object_sample"]] == [ids["rec/lost-1"], ids["rec/lost-2"]]
    assert result["token_line"].startswith("storage_orphans status=ok bucket=%s prefix=rec/ objects_scanned=8 rows_scanned=8 "
                                           "objects_without_row=2" % bucket)
    assert "row without object: id=%d" % ids["rec/lost-1"] in run.stdout and "object without row: rec/stray-a" in run.stdout
    receipt = _receipt(tmp_path / "receipts", "orph-1", "report")
    assert receipt["operation"] == "storage_orphans" and receipt["status"] == "success" and receipt["outputs"]["orphans_total"] == 4
    # Read-only: every object and row is still there, unmarked.
    assert len(_keys(s3, bucket)) == 8 and not _requests(sandbox, "DeleteObjects", bucket)
    with psycopg.connect(sandbox["SANDBOX_PG_DSN"]) as conn:
        assert conn.execute("select count(*) from recordings where bucket = %s and deleted_at is null", (bucket,)).fetchone()[0] == 8
    assert sandbox["SANDBOX_PG_DSN"].split("@")[0].split(":")[-1] not in run.stdout  # the DSN password never printed

    alert = run_playbook("storage_orphans.yml", dict(base, storage_orphans_fail_on_orphans=True, signalcraft_execution_id="orph-2"))
    assert alert.rc != 0 and "reason=orphans_found" in alert.stdout
    failure = alert.task_results(ORPHANS_TASK)[0]
    assert failure["msg"].startswith("storage_orphans status=fail reason=orphans_found bucket=%s prefix=rec/" % bucket)
    assert failure["outputs"]["orphans_total"] == 4
    failed = _receipt(tmp_path / "receipts", "orph-2", "report")
    assert failed["status"] == "failed" and failed["failure_code"] == "orphans_found" and failed["outputs"]["orphans_total"] == 4
    assert "exception" not in failed and "traceback" not in json.dumps(failed)


def test_temp_cleanup_playbook_dry_run_check_then_apply(sandbox, run_playbook, tmp_path):
    s3 = sandbox.boto3_client("s3")
    bucket = "test-maint-pb-tmp-%s" % uuid.uuid4().hex[:10]
    s3.create_bucket(Bucket=bucket)
    _put_many(s3, bucket, [("uploads/%03d" % i, b"z" * 10, None) for i in range(25)] + [("keep/readme", b"keep", None)])
    upload = s3.create_multipart_upload(Bucket=bucket, Key="uploads/big.bin")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="uploads/big.bin", UploadId=upload, PartNumber=1, Body=b"p" * 7)
    # Objects written now cannot be 24 h old through the S3 API: threshold 0 (the module_util tests place a
    # threshold between old and new objects with an injected "now").
    base = {"storage_temporary_uploads_bucket": bucket, "storage_temp_uploads_prefix": "uploads/", "storage_temp_uploads_older_than_hours": 0,
            "signalcraft_receipt_root": str(tmp_path / "receipts")}

    dry = run_playbook("temp_uploads_cleanup.yml", dict(base, signalcraft_execution_id="tmp-dry"))
    assert dry.rc == 0, dry.stdout
    assert dry.task_results(CLEANUP_TASK)[0]["changed"] is False
    res = dry.task_results(CLEANUP_TASK)[0]["outputs"]
    assert res["before"] == {"count": 25, "bytes": 250} and res["would_delete_count"] == 25
    assert res["multipart_stale"] == 1 and res["multipart_stale_bytes"] == 7 and res["deleted_count"] == 0
    assert dry.task_results(CLEANUP_TASK)[0]["token_line"].startswith("temp_uploads_cleanup status=ok mode=dry_run bucket=%s" % bucket)
    check = run_playbook("temp_uploads_cleanup.yml", dict(base, storage_maintenance_apply=True, signalcraft_execution_id="tmp-check"),
                         check=True)
    assert check.rc == 0, check.stdout
    assert check.task_results(CLEANUP_TASK)[0]["changed"] is True  # would change
    assert check.task_results(CLEANUP_TASK)[0]["token_line"].startswith("temp_uploads_cleanup status=planned")
    assert not (tmp_path / "receipts" / "tmp-check").exists()  # check mode writes no receipt
    assert len(_keys(s3, bucket)) == 26 and len(s3.list_multipart_uploads(Bucket=bucket)["Uploads"]) == 1
    assert not _requests(sandbox, "DeleteObjects", bucket) and not _requests(sandbox, "AbortMultipartUpload", bucket)
    assert _receipt(tmp_path / "receipts", "tmp-dry", "dry_run")["outputs"]["eligible"] == {"count": 25, "bytes": 250}

    done = run_playbook("temp_uploads_cleanup.yml", dict(base, storage_maintenance_apply=True, signalcraft_execution_id="tmp-apply"))
    assert done.rc == 0, done.stdout
    assert done.task_results(CLEANUP_TASK)[0]["changed"] is True
    res = done.task_results(CLEANUP_TASK)[0]["outputs"]
    assert (res["deleted_count"], res["deleted_bytes"], res["multipart_aborted"]) == (25, 250, 1)
    assert res["after"] == {"count": 0, "bytes": 0} and res["delete_requests"] == [25]
    assert _keys(s3, bucket) == {"keep/readme"} and not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
    receipt = _receipt(tmp_path / "receipts", "tmp-apply", "apply")
    assert receipt["operation"] == "temp_uploads_cleanup" and receipt["status"] == "success" and receipt["changed"] is True
    assert receipt["outputs"]["before"] == {"count": 25, "bytes": 250} and receipt["outputs"]["after"] == {"count": 0, "bytes": 0}


def test_archive_restore_playbook(sandbox, run_playbook, tmp_path):
    s3 = sandbox.boto3_client("s3")
    bucket = "test-maint-pb-rst-%s" % uuid.uuid4().hex[:10]
    s3.create_bucket(Bucket=bucket)
    _put_many(s3, bucket, [("archive/exam-1.webm", b"deep", "DEEP_ARCHIVE")])
    ids = _rows(sandbox, bucket, [("rec/exam-1.webm", "archive/exam-1.webm", False, "40 days")])
    base = {"storage_recordings_bucket": bucket, "signalcraft_receipt_root": str(tmp_path / "receipts")}

    refused = run_playbook("archive_restore.yml", dict(
        base, storage_maintenance_restore_recording_id=ids["rec/exam-1.webm"],
        storage_restore_tier="Expedited", signalcraft_execution_id="rst-exp"))
    assert refused.rc != 0 and "reason=restore_tier_invalid" in refused.stdout
    message = refused.task_results(RESTORE_TASK)[0]["msg"]
    assert message.startswith("archive_restore status=fail reason=restore_tier_invalid")
    assert "-e storage_restore_tier=Standard" in message  # the hint names the -e variable
    failed = _receipt(tmp_path / "receipts", "rst-exp", "restore")
    assert failed["failure_code"] == "restore_tier_invalid" and "exception" not in failed
    assert not _requests(sandbox, "RestoreObject", bucket)  # refused before any write

    # Real S3 takes hours: hold the restore in progress in the sandbox, as S3 would.
    sandbox.control("aws", "s3-restore-delay", {"seconds": 3600})
    try:
        first = run_playbook("archive_restore.yml", dict(
            base, storage_maintenance_restore_object_key="rec/exam-1.webm",
            storage_restore_days=2, signalcraft_execution_id="rst-1"))
        assert first.rc == 0, first.stdout
        assert first.task_results(RESTORE_TASK)[0]["changed"] is True
        res = first.task_results(RESTORE_TASK)[0]["outputs"]
        assert res["requested"] is True and res["key"] == "archive/exam-1.webm"
        assert res["recording_id"] == ids["rec/exam-1.webm"] and res["after"]["storage_class"] == "DEEP_ARCHIVE"
        assert (res["result"], res["after"]["ongoing"]) == ("in_progress", True) and "result=in_progress" in first.task_results(RESTORE_TASK)[0]["token_line"]
        head = s3.head_object(Bucket=bucket, Key="archive/exam-1.webm")  # read back independently
        assert head["Restore"] == 'ongoing-request="true"'
        receipt = _receipt(tmp_path / "receipts", "rst-1", "restore")
        assert receipt["status"] == "success" and receipt["changed"] is True and receipt["outputs"]["result"] == "in_progress"

        # Run again to read the status: no second request, changed=false.
        second = run_playbook("archive_restore.yml", dict(base, storage_maintenance_restore_recording_id=ids["rec/exam-1.webm"]))
        assert second.rc == 0, second.stdout
        res = second.task_results(RESTORE_TASK)[0]
        assert (res["changed"], res["outputs"]["result"]) == (False, "in_progress")
        assert len(_requests(sandbox, "RestoreObject", bucket)) == 1
    finally:
        sandbox.control("aws", "s3-restore-delay", method="DELETE")
    # Once S3 finishes, the header carries the expiry date (the restored case is covered in test_storage.py).
    assert 'ongoing-request="false", expiry-date=' in s3.head_object(Bucket=bucket, Key="archive/exam-1.webm")["Restore"]

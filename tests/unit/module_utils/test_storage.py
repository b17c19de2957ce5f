"""storage.py against the sandbox's S3 and PostgreSQL: orphans both ways, temp uploads cleanup, archive restores.

Every test uses its own bucket (uuid) and rows; state is read back with boto3 and psycopg, and the
sandbox's request log proves which writes were (not) made.
"""

import datetime
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from ansible_collections.signalcraft.ops.plugins.module_utils.services import db
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.storage import maintenance as storage
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError

UTC = datetime.timezone.utc


def _bucket(sandbox, kind):
    name = "test-maint-%s-%s" % (kind, uuid.uuid4().hex[:10])
    sandbox.boto3_client("s3").create_bucket(Bucket=name)
    return name


def _put_many(s3, bucket, items):
    """items: [(key, body_bytes, storage_class or None)]."""
    def put(item):
        kwargs = {"Bucket": bucket, "Key": item[0], "Body": item[1]}
        if item[2]:
            kwargs["StorageClass"] = item[2]
        s3.put_object(**kwargs)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, items))


def _rows(sandbox, bucket, rows):
    """rows: [(object_key, archive_key, deleted, age_sql)] -> {object_key: id}."""
    ids = {}
    with psycopg.connect(sandbox["SANDBOX_PG_DSN"]) as conn, conn.cursor() as cur:
        for key, archive_key, deleted, age in rows:
            cur.execute("insert into recordings (bucket, object_key, archive_key, size_bytes, created_at, expires_at, deleted_at) "
                        "values (%%s, %%s, %%s, 3, now() - interval '%s', now() + interval '30 days', %s) returning id"
                        % (age, "now()" if deleted else "null"), (bucket, key, archive_key))
            ids[key] = cur.fetchone()[0]
    return ids


def _keys(s3, bucket):
    found = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        found |= {o["Key"] for o in page.get("Contents", [])}
    return found


def _requests(sandbox, operation, bucket):
    return sandbox.control("aws", "requests?operation=%s&bucket=%s" % (operation, bucket))


# --- Orphans --------------------------------------------------------------------------------

def test_orphans_both_ways_paginated_in_byte_order(sandbox):
    s3 = sandbox.boto3_client("s3")
    bucket = _bucket(sandbox, "orph")
    # Keys whose order differs between byte order and a locale collation (upper/lower case, accents).
    objects = ["rec/Zeta", "rec/alpha", "rec/b\u00e9ta", "rec/beta", "rec/gamma", "rec/only-object-1", "rec/only-object-2",
               "rec/deleted-but-present", "rec/arch/alpha.archived", "other/no-row-outside-prefix"]
    _put_many(s3, bucket, [(k, b"abc", None) for k in objects])
    ids = _rows(sandbox, bucket, [
        ("rec/Zeta", None, False, "2 days"), ("rec/alpha", "rec/arch/alpha.archived", False, "2 days"),
        ("rec/b\u00e9ta", None, False, "2 days"), ("rec/beta", None, False, "2 days"), ("rec/gamma", None, False, "2 days"),
        ("rec/deleted-but-present", None, True, "2 days"),
        ("rec/missing-1", None, False, "2 days"), ("rec/missing-2", None, False, "2 days"),
        ("rec/missing-but-archived", "rec/arch/alpha.archived", False, "2 days"),  # its archive copy exists: not missing
        ("rec/deleted-and-gone", None, True, "2 days"),                          # as it should be
        ("rec/young-row", None, False, "-50 minutes"),                           # upload in flight (see "now" below)
        ("other/row-outside-prefix", None, False, "2 days"),
    ])
    # S3 sets LastModified itself: judge "an hour from now" so the objects are past the 30-minute grace,
    # while the row created 50 minutes from now is still inside it.
    soon = datetime.datetime.now(UTC) + datetime.timedelta(hours=1)
    with db.Database(sandbox["SANDBOX_PG_DSN"]) as database:
        report = storage.OrphanScan(s3, database, bucket, "rec/", sample_size=1, page_size=2, grace_minutes=30, now=soon).run()
    assert report["objects_scanned"] == 9 and report["rows_scanned"] == 11
    assert report["objects_without_row"] == 2 and report["objects_without_row_bytes"] == 6
    assert report["objects_without_row_sample"][0]["key"] == "rec/only-object-1" and len(report["objects_without_row_sample"]) == 1
    assert report["rows_without_object"] == 2
    assert report["rows_without_object_sample"] == [{"id": ids["rec/missing-1"], "key": "rec/missing-1", "archive_key": None}]
    assert report["objects_with_deleted_row"] == 1 and report["objects_with_deleted_row_sample"][0]["id"] == ids["rec/deleted-but-present"]
    assert report["archive_copies"] == 1 and report["skipped_recent"] == 1 and report["orphans_total"] == 4
    # Read-only: nothing was written to the bucket, no row changed.
    assert _keys(s3, bucket) == set(objects)
    assert not _requests(sandbox, "DeleteObjects", bucket) and not _requests(sandbox, "DeleteObject", bucket)
    with psycopg.connect(sandbox["SANDBOX_PG_DSN"]) as conn:
        assert conn.execute("select count(*) from recordings where bucket = %s and deleted_at is not null", (bucket,)).fetchone()[0] == 2

    # A "now" a day later judges the young row too; a sample size of 0 keeps only counts. With the real
    # "now" every fresh object is inside the grace period and none is judged.
    later = datetime.datetime.now(UTC) + datetime.timedelta(days=1)
    with db.Database(sandbox["SANDBOX_PG_DSN"]) as database:
        again = storage.OrphanScan(s3, database, bucket, "rec/", sample_size=0, grace_minutes=30, now=later).run()
    assert again["rows_without_object"] == 3 and again["skipped_recent"] == 0 and again["rows_without_object_sample"] == []
    assert "objects_without_row=2" in storage.orphans_line(again)
    with db.Database(sandbox["SANDBOX_PG_DSN"]) as database:
        fresh = storage.OrphanScan(s3, database, bucket, "rec/", grace_minutes=30).run()
    assert fresh["objects_without_row"] == 0 and fresh["skipped_recent"] >= 2


def test_orphan_scan_guards(sandbox):
    s3 = sandbox.boto3_client("s3")
    with db.Database(sandbox["SANDBOX_PG_DSN"]) as database:
        for kwargs, reason in ((dict(bucket="REPLACE_WITH_PROD_RECORDINGS_BUCKET"), "inventory_placeholder"),
                               (dict(bucket="b", page_size=0), "page_size_invalid"), (dict(bucket="b", sample_size=5000), "sample_size_invalid"),
                               (dict(bucket="b", grace_minutes=-1), "grace_minutes_invalid")):
            with pytest.raises(GuardError) as err:
                storage.OrphanScan(s3, database, **kwargs)
            assert err.value.reason == reason
        with pytest.raises(GuardError) as err:
            storage.OrphanScan(s3, database, "test-maint-nosuch-%s" % uuid.uuid4().hex[:8]).run()
        assert err.value.reason == "bucket_not_found"


# --- Temporary uploads ----------------------------------------------------------------------

def test_temp_cleanup_dry_run_then_apply_in_batches_keeps_new_objects(sandbox):
    s3 = sandbox.boto3_client("s3")
    bucket = _bucket(sandbox, "tmp")
    old = [("up/old-%04d" % i, b"x" * (i % 7 + 1), None) for i in range(1003)]
    _put_many(s3, bucket, old)
    stale = s3.create_multipart_upload(Bucket=bucket, Key="up/stale-mpu")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="up/stale-mpu", UploadId=stale, PartNumber=1, Body=b"12345678")
    time.sleep(1.2)
    boundary = datetime.datetime.now(UTC)  # LastModified has second precision: keep a second either side
    time.sleep(1.2)
    new = [("up/new-%d" % i, b"fresh", None) for i in range(3)]
    _put_many(s3, bucket, new)
    fresh = s3.create_multipart_upload(Bucket=bucket, Key="up/fresh-mpu")["UploadId"]
    now = boundary + datetime.timedelta(hours=24)  # "24 hours later": the old objects are older than 24 h, the new ones not
    old_bytes = sum(len(b) for _k, b, _c in old)

    dry = storage.clean_temp_uploads(s3, bucket, 24, apply=False, now=now, sample_size=3)
    assert dry["before"] == {"count": 1006, "bytes": old_bytes + 15} and dry["after"] == dry["before"]
    assert dry["eligible"] == {"count": 1003, "bytes": old_bytes} and dry["eligible_sample"] == ["up/old-0000", "up/old-0001", "up/old-0002"]
    assert (dry["would_delete_count"], dry["would_delete_bytes"], dry["deleted_count"]) == (1003, old_bytes, 0)
    assert (dry["multipart_uploads"], dry["multipart_stale"], dry["multipart_stale_bytes"], dry["would_abort"]) == (2, 1, 8, 1)
    assert len(_keys(s3, bucket)) == 1006 and not _requests(sandbox, "DeleteObjects", bucket)
    assert len(s3.list_multipart_uploads(Bucket=bucket)["Uploads"]) == 2

    done = storage.clean_temp_uploads(s3, bucket, 24, apply=True, now=now)
    assert (done["deleted_count"], done["deleted_bytes"], done["multipart_aborted"], done["errors"]) == (1003, old_bytes, 1, 0)
    assert done["delete_requests"] == [1000, 3]
    assert done["after"] == {"count": 3, "bytes": 15}
    # Read back: old objects and the stale upload gone, the new ones kept.
    assert _keys(s3, bucket) == {k for k, _b, _c in new}
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])] == [fresh]
    assert all(r["status"] == 200 for r in _requests(sandbox, "DeleteObjects", bucket))
    assert "deleted_count=1003" in storage.temp_cleanup_line(done)

    again = storage.clean_temp_uploads(s3, bucket, 24, apply=True, now=now)
    assert (again["deleted_count"], again["multipart_aborted"], again["delete_requests"]) == (0, 0, [])


def test_temp_cleanup_guards_and_threshold(sandbox):
    s3 = sandbox.boto3_client("s3")
    for args, reason in ((("REPLACE_WITH_DEV_TEMPORARY_UPLOADS_BUCKET", 24), "inventory_placeholder"), (("b", -1), "older_than_hours_invalid")):
        with pytest.raises(GuardError) as err:
            storage.clean_temp_uploads(s3, *args)
        assert err.value.reason == reason
    bucket = _bucket(sandbox, "tmpthr")
    _put_many(s3, bucket, [("k%d" % i, b"y" * 100, None) for i in range(3)])
    report = storage.clean_temp_uploads(s3, bucket, 0, backlog_threshold_bytes=250)
    assert report["backlog_over_threshold"] is True and report["eligible"]["count"] == 3 and len(_keys(s3, bucket)) == 3


def test_temp_cleanup_reports_a_failed_delete_and_keeps_going(sandbox, clean_faults):
    s3 = sandbox.boto3_client("s3")  # one attempt per call: the injected error is seen, not retried
    bucket = _bucket(sandbox, "tmpfail")
    _put_many(s3, bucket, [("f/%d" % i, b"q", None) for i in range(4)])
    s3.create_multipart_upload(Bucket=bucket, Key="f/mpu")
    sandbox.control("aws", "faults", {"seed": 1, "rules": [{"service": "s3", "operation": "DeleteObjects", "error": "500", "count": 1}]})
    report = storage.clean_temp_uploads(s3, bucket, 0, apply=True)
    sandbox.clear_faults()
    assert (report["errors"], report["deleted_count"], report["multipart_aborted"]) == (1, 0, 1)
    assert report["error_samples"][0]["code"] == "InternalError" and report["after"] == {"count": 4, "bytes": 4}
    assert len(_keys(s3, bucket)) == 4  # nothing claimed deleted that is not
    retry = storage.clean_temp_uploads(s3, bucket, 0, apply=True)
    assert (retry["errors"], retry["deleted_count"]) == (0, 4) and _keys(s3, bucket) == set()


# --- Archive restores -----------------------------------------------------------------------

def test_restore_header_and_state_parsing():
    assert storage.parse_restore_header(None) is None
    assert storage.parse_restore_header('ongoing-request="true"') == {"ongoing": True, "expiry_date": None}
    assert storage.parse_restore_header('ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"') == {
        "ongoing": False, "expiry_date": "Fri, 21 Dec 2012 00:00:00 GMT"}
    with pytest.raises(ValueError):
        storage.parse_restore_header("garbage")
    now = datetime.datetime(2026, 1, 1, tzinfo=UTC)
    assert storage.restore_state({}, now)["state"] == "not_archived"
    assert storage.restore_state({"StorageClass": "GLACIER_IR"}, now)["state"] == "not_archived"
    assert storage.restore_state({"StorageClass": "DEEP_ARCHIVE"}, now)["state"] == "archived"
    assert storage.restore_state({"StorageClass": "GLACIER", "Restore": 'ongoing-request="true"'}, now)["state"] == "in_progress"
    done = storage.restore_state({"StorageClass": "GLACIER", "Restore": 'ongoing-request="false", expiry-date="Fri, 09 Jan 2026 00:00:00 GMT"'}, now)
    assert (done["state"], done["ongoing"], done["expiry_date"]) == ("restored", False, "Fri, 09 Jan 2026 00:00:00 GMT")
    # Past the expiry date the copy is gone again.
    stale = {"StorageClass": "GLACIER", "Restore": 'ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"'}
    assert storage.restore_state(stale, now)["state"] == "archived"
    assert storage.restore_state({"StorageClass": "INTELLIGENT_TIERING", "ArchiveStatus": "DEEP_ARCHIVE_ACCESS"}, now)["state"] == "archived"
    assert storage.restore_state({"StorageClass": "INTELLIGENT_TIERING"}, now)["state"] == "not_archived"
    for days, tier, reason in ((0, "Standard", "restore_days_invalid"), (5, "Fast", "restore_tier_invalid")):
        with pytest.raises(GuardError) as err:
            storage.validate_restore(days, tier)
        assert err.value.reason == reason


def test_restore_deep_archive_found_by_archive_key(sandbox, clean_faults):
    s3 = sandbox.boto3_client("s3")
    bucket = _bucket(sandbox, "rst")
    _put_many(s3, bucket, [("archive/deep.webm", b"deep", "DEEP_ARCHIVE"), ("archive/glacier.webm", b"gl", "GLACIER"),
                           ("live/standard.webm", b"std", None)])
    ids = _rows(sandbox, bucket, [("rec/deep.webm", "archive/deep.webm", False, "40 days"),
                                  ("rec/glacier.webm", "archive/glacier.webm", False, "40 days"),
                                  ("rec/standard.webm", "live/standard.webm", False, "1 day"),
                                  ("rec/never-archived.webm", None, False, "1 day"),
                                  ("rec/gone.webm", "archive/gone.webm", True, "90 days"),
                                  ("rec/stale-archive-key.webm", "archive/missing.webm", False, "40 days")])
    with db.Database(sandbox["SANDBOX_PG_DSN"]) as database:
        assert storage.find_recording(database, recording_id=ids["rec/deep.webm"])["archive_key"] == "archive/deep.webm"
        assert storage.find_recording(database, object_key="rec/deep.webm", bucket=bucket)["id"] == ids["rec/deep.webm"]
        assert storage.find_recording(database, object_key="archive/deep.webm", bucket=bucket)["id"] == ids["rec/deep.webm"]
        for kwargs, reason in ((dict(recording_id=ids["rec/never-archived.webm"]), "archive_key_missing"),
                               (dict(recording_id=ids["rec/gone.webm"]), "recording_deleted"),
                               (dict(recording_id=ids["rec/deep.webm"], bucket="another-bucket"), "recording_bucket_mismatch"),
                               (dict(object_key="rec/nope", bucket=bucket), "recording_not_found"),
                               (dict(object_key="rec/deep.webm"), "bucket_unset"), (dict(), "recording_required")):
            with pytest.raises(GuardError) as err:
                storage.find_recording(database, **kwargs)
            assert err.value.reason == reason

    # Expedited on Deep Archive: refused before any write.
    with pytest.raises(GuardError) as err:
        storage.restore_archived(s3, bucket, "archive/deep.webm", 5, "Expedited")
    assert err.value.reason == "restore_tier_invalid" and "Deep Archive" in err.value.message
    # Check mode (apply=False): says it would restore, writes nothing.
    would = storage.restore_archived(s3, bucket, "archive/deep.webm", 5, "Standard", apply=False)
    assert (would["result"], would["changed"], would["requested"]) == ("would_restore", True, False)
    assert not _requests(sandbox, "RestoreObject", bucket)
    assert "Restore" not in s3.head_object(Bucket=bucket, Key="archive/deep.webm")

    first = storage.restore_archived(s3, bucket, "archive/deep.webm", 3, "Bulk")
    assert first["changed"] is True and first["requested"] is True and first["before"]["state"] == "archived"
    head = s3.head_object(Bucket=bucket, Key="archive/deep.webm")  # read back independently
    assert head["StorageClass"] == "DEEP_ARCHIVE" and 'ongoing-request="false"' in head["Restore"]
    assert first["after"]["state"] == "restored" and first["after"]["expiry_date"] in head["Restore"]
    assert len(_requests(sandbox, "RestoreObject", bucket)) == 1

    second = storage.restore_archived(s3, bucket, "archive/deep.webm", 3, "Bulk")
    assert (second["changed"], second["requested"], second["result"]) == (False, False, "restored")
    assert len(_requests(sandbox, "RestoreObject", bucket)) == 1  # no second request

    # Expedited is fine on GLACIER (Flexible Retrieval).
    assert storage.restore_archived(s3, bucket, "archive/glacier.webm", 1, "Expedited")["changed"] is True

    standard = storage.restore_archived(s3, bucket, "live/standard.webm", 5, "Standard")
    assert (standard["result"], standard["changed"]) == ("not_archived", False) and "STANDARD" in standard["detail"]
    with pytest.raises(GuardError) as err:
        storage.restore_archived(s3, bucket, "archive/missing.webm", 5, "Standard")
    assert err.value.reason == "archive_object_missing"
    assert len(_requests(sandbox, "RestoreObject", bucket)) == 2


def test_restore_in_progress_while_the_sandbox_holds_it(sandbox):
    """Real S3 takes hours: with the sandbox's restore delay the object shows ongoing-request="true"."""
    s3 = sandbox.boto3_client("s3")
    bucket = _bucket(sandbox, "rstdelay")
    _put_many(s3, bucket, [("archive/slow.webm", b"slow", "GLACIER")])
    sandbox.control("aws", "s3-restore-delay", {"seconds": 3600})
    try:
        first = storage.restore_archived(s3, bucket, "archive/slow.webm", 1, "Standard")
        assert (first["changed"], first["requested"], first["result"]) == (True, True, "in_progress")
        assert first["after"]["ongoing"] is True and first["after"]["expiry_date"] is None
        head = s3.head_object(Bucket=bucket, Key="archive/slow.webm")
        assert head["Restore"] == 'ongoing-request="true"' and head["StorageClass"] == "GLACIER"
        with pytest.raises(Exception) as err:  # the copy is not readable yet
            s3.get_object(Bucket=bucket, Key="archive/slow.webm")
        assert "InvalidObjectState" in str(err.value)
        with pytest.raises(Exception) as err:  # what a second, unguarded request gets from S3
            s3.restore_object(Bucket=bucket, Key="archive/slow.webm", RestoreRequest={"Days": 1})
        assert "RestoreAlreadyInProgress" in str(err.value)

        second = storage.restore_archived(s3, bucket, "archive/slow.webm", 1, "Standard")
        assert (second["changed"], second["requested"], second["result"]) == (False, False, "in_progress")
        assert "already running" in second["detail"]
        restores = [r for r in _requests(sandbox, "RestoreObject", bucket) if r["status"] == 202]
        assert len(restores) == 1
    finally:
        sandbox.control("aws", "s3-restore-delay", method="DELETE")  # completes the pending restore
    done = storage.restore_archived(s3, bucket, "archive/slow.webm", 1, "Standard")
    assert (done["changed"], done["result"]) == (False, "restored") and done["after"]["expiry_date"]
    assert s3.get_object(Bucket=bucket, Key="archive/slow.webm")["Body"].read() == b"slow"

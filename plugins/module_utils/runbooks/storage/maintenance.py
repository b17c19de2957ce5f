# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Storage maintenance of the recordings runbook: orphans, temporary uploads, archive restores.

* ``find_orphans`` -- read-only. Objects under a prefix with no ``recordings`` row, and rows
  (``deleted_at is null``) whose object is missing. Both sides are walked in the same byte order
  (S3 lists keys in UTF-8 binary order; PostgreSQL sorts ``collate "C"`` the same way) as a streaming
  merge join, so memory stays one page per side however large the bucket.
* ``clean_temp_uploads`` -- objects (and incomplete multipart uploads) older than a threshold;
  counts and bytes before/after; DeleteObjects in batches of at most 1,000 keys; dry run unless
  ``apply``.
* ``restore_archived`` and ``restore_state`` -- RestoreObject for a GLACIER/DEEP_ARCHIVE object (or an
  Intelligent-Tiering archive tier) and its state read from HeadObject's ``Restore`` header.

``now`` is a parameter of the functions that compare ages (never a module option), so tests can
place the threshold between objects without faking S3's ``LastModified``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

from ansible_collections.signalcraft.ops.plugins.module_utils.core import status_line
from ansible_collections.signalcraft.ops.plugins.module_utils.core.concurrency import MAX_WORKERS_LIMIT, bounded_map
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError
from ansible_collections.signalcraft.ops.plugins.module_utils.services import s3 as s3_helpers
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import describe_error, error_code

MAX_DELETE_KEYS = s3_helpers.MAX_DELETE_KEYS
MAX_SAMPLE = 1000
ARCHIVE_STORAGE_CLASSES = ("GLACIER", "DEEP_ARCHIVE")
RESTORE_TIERS = ("Standard", "Bulk", "Expedited")
# The runbook: "trigger it manually if backlog > 1 GB".
DEFAULT_BACKLOG_THRESHOLD_BYTES = 1024 ** 3
_GONE_CODES = s3_helpers.ALREADY_GONE
_NOT_TOKEN = re.compile(r"[^A-Za-z0-9_.:/+-]")
_RESTORE_RE = re.compile(r'ongoing-request\s*=\s*"(?P<ongoing>true|false)"(?:\s*,\s*expiry-date\s*=\s*"(?P<expiry>[^"]+)")?', re.IGNORECASE)


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def _aware(moment):
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.timezone.utc)
    return moment


def validate_bucket(bucket, variable="bucket"):
    """Fail closed on an empty bucket (``bucket_unset``) or an inventory placeholder (``inventory_placeholder``).

    ``variable`` is the inventory / ``-e`` variable the operator sets (``storage_recordings_bucket``).
    """
    if not bucket or not str(bucket).strip():
        raise GuardError("bucket_unset", "%s is empty; set it in inventories/<env>/group_vars/all/storage.yml "
                         "(or with -e %s=<bucket>)." % (variable, variable))
    if str(bucket).startswith("REPLACE_"):
        raise GuardError("inventory_placeholder", "%s is the placeholder %r; set it in "
                         "inventories/<env>/group_vars/all/storage.yml." % (variable, bucket))


def line_value(value):
    """A value the status line can carry (a token: no spaces, no ``=``; other characters become ``_``).

    Empty is ``none`` (no prefix, no expiry date); a value that cannot start a token is ``see_outputs``.
    """
    text = "none" if value in (None, "") else _NOT_TOKEN.sub("_", str(value))
    return text if text[0].isalnum() else "see_outputs"


def _check_bucket(s3, bucket):
    """Prove the bucket exists and can be listed; GuardError with a token otherwise."""
    try:
        s3_helpers.check_bucket(s3, bucket, request="list")
    except s3_helpers.BucketError as exc:
        if exc.reason == "bucket_not_found":
            raise GuardError("bucket_not_found", "Bucket %r does not exist; fix the bucket in the inventory." % bucket)
        raise GuardError("access_denied", "The AWS role cannot list bucket %r (%s); it needs s3:ListBucket." % (bucket, exc.code))


def iter_objects(s3, bucket, prefix="", page_size=1000):
    """Every object under ``prefix`` (dicts with Key, Size, LastModified), in S3's key order, page by page."""
    return s3_helpers.list_objects(s3, bucket, prefix, page_size=page_size)


def _pool_map(func, items, concurrency=16):
    return bounded_map(func, items, max(1, min(int(concurrency), MAX_WORKERS_LIMIT)))


def _exists(s3, bucket, key):
    return s3_helpers.exists(s3, bucket, key)


def _sample(target, item, limit):
    if len(target) < limit:
        target.append(item)


# --- Orphans ----------------------------------------------------------------------------------

_ROWS_SQL = """
select id, object_key, archive_key, deleted_at, created_at, size_bytes from recordings
where bucket = %(bucket)s and starts_with(object_key, %(prefix)s) and object_key collate "C" > %(after)s
order by object_key collate "C" limit %(limit)s
"""
_ARCHIVE_REFS_SQL = "select archive_key from recordings where bucket = %s and archive_key = any(%s)"


def _iter_rows(database, bucket, prefix, page_size):
    after = ""
    while True:
        rows = database.query(_ROWS_SQL, {"bucket": bucket, "prefix": prefix or "", "after": after, "limit": int(page_size)})
        yield from rows
        if len(rows) < int(page_size):
            return
        after = rows[-1]["object_key"]


class OrphanScan:
    """One read-only orphan scan of ``bucket``/``prefix`` against ``recordings``; ``run()`` returns the report.

    Objects modified, and rows created, within ``grace_minutes`` of ``now`` are counted as
    ``skipped_recent`` rather than orphans: an upload writes its object and its row one after the
    other, and a scan must not report the gap between the two.
    """

    def __init__(self, s3, database, bucket, prefix="", sample_size=20, page_size=1000, grace_minutes=60, now=None, concurrency=16):
        validate_bucket(bucket, "storage_recordings_bucket")
        if not 0 <= int(sample_size) <= MAX_SAMPLE:
            raise GuardError("sample_size_invalid", "storage_orphans_sample_size must be between 0 and %d; got %r."
                             % (MAX_SAMPLE, sample_size))
        if not 1 <= int(page_size) <= 1000:
            raise GuardError("page_size_invalid", "page_size must be between 1 and 1000 (the ListObjectsV2 maximum); got %r." % page_size)
        if int(grace_minutes) < 0:
            raise GuardError("grace_minutes_invalid", "storage_orphans_grace_minutes must be 0 or more; got %r." % grace_minutes)
        self.s3, self.db, self.bucket, self.prefix = s3, database, bucket, prefix or ""
        self.sample_size, self.page_size, self.concurrency = int(sample_size), int(page_size), int(concurrency)
        self.cutoff = _aware(now or utc_now()) - datetime.timedelta(minutes=int(grace_minutes))
        self.report = {
            "bucket": bucket, "prefix": self.prefix, "objects_scanned": 0, "objects_scanned_bytes": 0, "rows_scanned": 0,
            "objects_without_row": 0, "objects_without_row_bytes": 0, "objects_without_row_sample": [],
            "rows_without_object": 0, "rows_without_object_sample": [],
            "objects_with_deleted_row": 0, "objects_with_deleted_row_sample": [],
            "archive_copies": 0, "skipped_recent": 0, "grace_cutoff": self.cutoff.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        self._pending_objects = []
        self._pending_rows = []

    def run(self):
        _check_bucket(self.s3, self.bucket)
        objects = iter_objects(self.s3, self.bucket, self.prefix, self.page_size)
        rows = _iter_rows(self.db, self.bucket, self.prefix, self.page_size)
        obj, row = next(objects, None), next(rows, None)
        while obj is not None or row is not None:
            if row is None or (obj is not None and obj["Key"] < row["object_key"]):
                self._object_only(obj)
                obj = next(objects, None)
            elif obj is None or row["object_key"] < obj["Key"]:
                self._row_only(row)
                row = next(rows, None)
            else:
                self._matched(obj, row)
                obj, row = next(objects, None), next(rows, None)
        self._flush_objects()
        self._flush_rows()
        self.report["orphans_total"] = self.report["objects_without_row"] + self.report["rows_without_object"]
        return self.report

    def _count_object(self, obj):
        self.report["objects_scanned"] += 1
        self.report["objects_scanned_bytes"] += int(obj.get("Size", 0))

    def _matched(self, obj, row):
        self._count_object(obj)
        self.report["rows_scanned"] += 1
        if row["deleted_at"] is not None:
            # The retention sweep marks a row only once its object is confirmed gone: this one is back or left over.
            self.report["objects_with_deleted_row"] += 1
            _sample(self.report["objects_with_deleted_row_sample"], {"id": row["id"], "key": obj["Key"]}, self.sample_size)

    def _object_only(self, obj):
        self._count_object(obj)
        self._defer(obj, obj["LastModified"], self._pending_objects, self._flush_objects)

    def _row_only(self, row):
        self.report["rows_scanned"] += 1
        if row["deleted_at"] is not None:
            return  # deleted and gone: as it should be
        self._defer(row, row["created_at"], self._pending_rows, self._flush_rows)

    def _defer(self, item, created, pending, flush):
        """Queue an unmatched object or row for its batched check, unless it is younger than the grace period."""
        if _aware(created) > self.cutoff:
            self.report["skipped_recent"] += 1
            return
        pending.append(item)
        if len(pending) >= self.page_size:
            flush()

    def _flush_objects(self):
        """Objects with no row by object_key: still referenced when a row names them as its archive_key."""
        pending, self._pending_objects = self._pending_objects, []
        if not pending:
            return
        referenced = {r["archive_key"] for r in self.db.query(_ARCHIVE_REFS_SQL, (self.bucket, [o["Key"] for o in pending]))}
        for obj in pending:
            if obj["Key"] in referenced:
                self.report["archive_copies"] += 1
                continue
            self.report["objects_without_row"] += 1
            self.report["objects_without_row_bytes"] += int(obj.get("Size", 0))
            entry = {"key": obj["Key"], "size": int(obj.get("Size", 0)),
                     "last_modified": _aware(obj["LastModified"]).strftime("%Y-%m-%dT%H:%M:%SZ")}
            _sample(self.report["objects_without_row_sample"], entry, self.sample_size)

    def _flush_rows(self):
        """Rows whose object is missing: unless the row's archive_key object exists."""
        pending, self._pending_rows = self._pending_rows, []
        if not pending:
            return
        with_archive = [r for r in pending if r["archive_key"]]
        present = _pool_map(lambda r: _exists(self.s3, self.bucket, r["archive_key"]), with_archive, self.concurrency)
        archived = {r["id"] for r, ok in zip(with_archive, present) if ok}
        for row in pending:
            if row["id"] in archived:
                continue
            self.report["rows_without_object"] += 1
            entry = {"id": row["id"], "key": row["object_key"], "archive_key": row["archive_key"]}
            _sample(self.report["rows_without_object_sample"], entry, self.sample_size)


def orphans_fields(report):
    """The status line's fields of an orphan scan."""
    return [("bucket", line_value(report["bucket"])), ("prefix", line_value(report["prefix"]))] + [
        (name, int(report[name])) for name in ("objects_scanned", "rows_scanned", "objects_without_row", "objects_without_row_bytes",
                                               "rows_without_object", "objects_with_deleted_row", "skipped_recent")]


def orphans_line(report, status="ok", reason=None):
    return status_line.format_line("storage_orphans", status, reason, orphans_fields(report))


# --- Temporary uploads ------------------------------------------------------------------------

def _multipart_uploads(s3, bucket, prefix):
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix or ""):
        yield from page.get("Uploads", [])


def _upload_bytes(s3, bucket, upload):
    total = 0
    for page in s3.get_paginator("list_parts").paginate(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]):
        total += sum(int(p.get("Size", 0)) for p in page.get("Parts", []))
    return total


def backlog(s3, bucket, prefix="", cutoff=None, on_old=None):
    """Count and bytes of every object under ``prefix`` and of those modified before ``cutoff``.

    Streams: ``on_old(obj)`` is called for each old object as the listing goes, so a backlog of
    millions never sits in memory (deleting listed keys does not disturb ListObjectsV2's
    continuation, which resumes after the last key returned).
    """
    totals = {"count": 0, "bytes": 0, "old_count": 0, "old_bytes": 0}
    for obj in iter_objects(s3, bucket, prefix):
        totals["count"] += 1
        totals["bytes"] += int(obj.get("Size", 0))
        if cutoff is not None and _aware(obj["LastModified"]) < cutoff:
            totals["old_count"] += 1
            totals["old_bytes"] += int(obj.get("Size", 0))
            if on_old is not None:
                on_old(obj)
    return totals


class _BatchDeleter:
    """Collects keys and deletes them with DeleteObjects, at most MAX_DELETE_KEYS per request."""

    def __init__(self, s3, bucket, report):
        self.s3, self.bucket, self.report = s3, bucket, report
        self.batch = []

    def add(self, obj):
        self.batch.append(obj)
        if len(self.batch) >= MAX_DELETE_KEYS:
            self.flush()

    def flush(self):
        chunk, self.batch = self.batch, []
        if not chunk:
            return
        report = self.report
        report["delete_requests"].append(len(chunk))
        deleted, failed = s3_helpers.delete_objects(self.s3, self.bucket, chunk)
        whole = [f for f in failed if f.get("Request")]
        if whole:
            _error(report, chunk[0]["Key"], whole[0]["Code"], "DeleteObjects of %d keys failed: %s" % (
                len(chunk), describe_error(whole[0]["Error"])))
            return
        for err in failed:
            _error(report, err["Key"], err.get("Code", "error"), err.get("Message", ""))
        for obj in deleted:
            report["deleted_count"] += 1
            report["deleted_bytes"] += int(obj.get("Size", 0))


def validate_temp_cleanup(bucket, older_than_hours, sample_size=20):
    """The cleanup's inputs, checked before any request."""
    validate_bucket(bucket, "storage_temporary_uploads_bucket")
    if older_than_hours is None or float(older_than_hours) < 0:
        raise GuardError("older_than_hours_invalid", "storage_temp_uploads_older_than_hours must be 0 or more; got %r." % older_than_hours)
    if not 0 <= int(sample_size) <= MAX_SAMPLE:
        raise GuardError("sample_size_invalid", "sample_size must be between 0 and %d; got %r." % (MAX_SAMPLE, sample_size))


def clean_temp_uploads(s3, bucket, older_than_hours=24, apply=False, prefix="", sample_size=20,
                       backlog_threshold_bytes=DEFAULT_BACKLOG_THRESHOLD_BYTES, now=None):
    """Delete objects and abort multipart uploads older than ``older_than_hours``; a dry run unless ``apply``.

    Returns the report: ``before`` (count, bytes as listed), ``eligible``, ``deleted_count``/``deleted_bytes``
    (or ``would_delete_*``), multipart uploads found/aborted, ``delete_requests`` (keys per request),
    ``errors`` and ``after``, which is listed again from S3 after an apply, never computed.
    """
    validate_temp_cleanup(bucket, older_than_hours, sample_size)
    now = _aware(now or utc_now())
    cutoff = now - datetime.timedelta(hours=float(older_than_hours))
    _check_bucket(s3, bucket)
    versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    report = {
        "bucket": bucket, "prefix": prefix or "", "apply": bool(apply), "older_than_hours": older_than_hours,
        "cutoff": cutoff.strftime("%Y-%m-%dT%H:%M:%SZ"), "versioned": versioning in ("Enabled", "Suspended"),
        "eligible_sample": [], "backlog_threshold_bytes": int(backlog_threshold_bytes),
        "deleted_count": 0, "deleted_bytes": 0, "multipart_aborted": 0, "delete_requests": [], "errors": 0, "error_samples": [],
    }
    deleter = _BatchDeleter(s3, bucket, report) if apply else None

    def on_old(obj):
        _sample(report["eligible_sample"], obj["Key"], int(sample_size))
        if deleter is not None:
            deleter.add(obj)

    totals = backlog(s3, bucket, prefix, cutoff, on_old)
    if deleter is not None:
        deleter.flush()
    uploads = list(_multipart_uploads(s3, bucket, prefix))
    stale = [u for u in uploads if _aware(u["Initiated"]) < cutoff]
    stale_bytes = sum(_upload_bytes(s3, bucket, u) for u in stale)
    report.update({
        "before": {"count": totals["count"], "bytes": totals["bytes"]},
        "eligible": {"count": totals["old_count"], "bytes": totals["old_bytes"]},
        "backlog_over_threshold": totals["bytes"] + stale_bytes > int(backlog_threshold_bytes),
        "multipart_uploads": len(uploads), "multipart_stale": len(stale), "multipart_stale_bytes": stale_bytes,
        "would_delete_count": 0 if apply else totals["old_count"], "would_delete_bytes": 0 if apply else totals["old_bytes"],
        "would_abort": 0 if apply else len(stale),
    })
    if report["versioned"]:
        report["warnings"] = ["Bucket %s is versioned: deleting leaves noncurrent versions (still billed) until the "
                              "lifecycle's noncurrent-version expiration removes them." % bucket]
    if not apply:
        report["after"] = dict(report["before"])
        return report
    for upload in stale:
        try:
            s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
            report["multipart_aborted"] += 1
        except Exception as exc:
            if error_code(exc) == "NoSuchUpload":  # completed or aborted since the listing
                continue
            _error(report, upload["Key"], error_code(exc) or "error", "AbortMultipartUpload %s: %s" % (upload["UploadId"], describe_error(exc)))
    after = backlog(s3, bucket, prefix)
    report["after"] = {"count": after["count"], "bytes": after["bytes"]}
    return report


def _error(report, key, code, detail):
    report["errors"] += 1
    if len(report["error_samples"]) < 50:
        report["error_samples"].append({"key": key, "code": code, "detail": detail})


def temp_cleanup_fields(report):
    """The status line's fields of a temporary-uploads cleanup."""
    return [("mode", "apply" if report["apply"] else "dry_run"), ("bucket", line_value(report["bucket"])),
            ("before_count", report["before"]["count"]), ("before_bytes", report["before"]["bytes"]),
            ("eligible_count", report["eligible"]["count"]), ("eligible_bytes", report["eligible"]["bytes"]),
            ("deleted_count", report["deleted_count"]), ("deleted_bytes", report["deleted_bytes"]),
            ("multipart_stale", report["multipart_stale"]), ("multipart_aborted", report["multipart_aborted"]),
            ("after_count", report["after"]["count"]), ("after_bytes", report["after"]["bytes"]), ("errors", report["errors"])]


def temp_cleanup_line(report, status="ok", reason=None):
    return status_line.format_line("temp_uploads_cleanup", status, reason, temp_cleanup_fields(report))


# --- Archive restores -------------------------------------------------------------------------

_RECORDING_COLUMNS = "id, bucket, object_key, archive_key, deleted_at"


def find_recording(database, recording_id=None, object_key=None, bucket=None):
    """The ``recordings`` row named by id, or by key (its object_key or archive_key) within ``bucket``."""
    if recording_id is not None:
        rows = database.query("select %s from recordings where id = %%s" % _RECORDING_COLUMNS, (int(recording_id),))
        what = "recording id %s" % recording_id
    elif object_key:
        if not bucket:
            raise GuardError("bucket_unset", "Looking a recording up by storage_maintenance_restore_object_key needs the "
                             "recordings bucket; set storage_recordings_bucket in the inventory.")
        rows = database.query("select %s from recordings where bucket = %%s and (object_key = %%s or archive_key = %%s) order by id"
                              % _RECORDING_COLUMNS, (bucket, object_key, object_key))
        what = "key %r in bucket %r" % (object_key, bucket)
    else:
        raise GuardError("recording_required", "Name the recording: -e storage_maintenance_restore_recording_id=<id> or "
                         "-e storage_maintenance_restore_object_key=<key>.")
    if not rows:
        raise GuardError("recording_not_found", "No row in recordings for %s; check storage_maintenance_restore_recording_id or "
                         "storage_maintenance_restore_object_key." % what)
    if len(rows) > 1:
        raise GuardError("recording_ambiguous", "%d rows in recordings match %s (ids %s); use -e storage_maintenance_restore_recording_id=<id>."
                         % (len(rows), what, ", ".join(str(r["id"]) for r in rows)))
    row = rows[0]
    if bucket and row["bucket"] != bucket:
        raise GuardError("recording_bucket_mismatch", "Recording %s is in bucket %r, not %r; fix storage_recordings_bucket or the id."
                         % (row["id"], row["bucket"], bucket))
    if row["deleted_at"] is not None:
        raise GuardError("recording_deleted", "Recording %s was deleted by retention at %s; there is nothing to restore."
                         % (row["id"], row["deleted_at"]))
    if not row["archive_key"]:
        raise GuardError("archive_key_missing", "Recording %s has no archive_key in recordings; it was never archived "
                         "(its object is %s)." % (row["id"], row["object_key"]))
    return row


def parse_restore_header(value):
    """HeadObject's ``Restore`` header -> ``{"ongoing": bool, "expiry_date": str|None}``, or None when absent.

    Examples: ``ongoing-request="true"`` (restore running) and
    ``ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"`` (a copy is readable until then).
    """
    if not value:
        return None
    match = _RESTORE_RE.search(value)
    if not match:
        raise ValueError("Unrecognised Restore header %r" % value)
    return {"ongoing": match.group("ongoing").lower() == "true", "expiry_date": match.group("expiry")}


def _http_date(text):
    try:
        return _aware(datetime.datetime.strptime(text, "%a, %d %b %Y %H:%M:%S GMT"))
    except (TypeError, ValueError):
        return None


def restore_state(head, now=None):
    """What HeadObject says about an object's archive: storage class, archive tier and restore state.

    ``state`` is ``not_archived`` (readable now: STANDARD, STANDARD_IA, GLACIER_IR, ...),
    ``archived`` (no readable copy), ``in_progress`` or ``restored`` (a temporary copy until ``expiry_date``).
    """
    storage_class = head.get("StorageClass") or "STANDARD"
    archive_status = head.get("ArchiveStatus")
    restore = parse_restore_header(head.get("Restore"))
    out = {"storage_class": storage_class, "archive_status": archive_status, "restore_header": head.get("Restore"),
           "ongoing": None, "expiry_date": None}
    archived = storage_class in ARCHIVE_STORAGE_CLASSES or (storage_class == "INTELLIGENT_TIERING" and bool(archive_status))
    if restore:
        out["ongoing"], out["expiry_date"] = restore["ongoing"], restore["expiry_date"]
    if not archived:
        out["state"] = "not_archived"
    elif restore and restore["ongoing"]:
        out["state"] = "in_progress"
    elif restore:
        expiry = _http_date(restore["expiry_date"])
        # Past its expiry date the temporary copy is gone, whatever a stale header says.
        out["state"] = "restored" if expiry is None or expiry > _aware(now or utc_now()) else "archived"
    else:
        out["state"] = "archived"
    return out


def _deep_archive(state):
    return state["storage_class"] == "DEEP_ARCHIVE" or state["archive_status"] == "DEEP_ARCHIVE_ACCESS"


def validate_restore(days, tier):
    if tier not in RESTORE_TIERS:
        raise GuardError("restore_tier_invalid", "storage_restore_tier must be one of %s; got %r." % (", ".join(RESTORE_TIERS), tier))
    if days is None or int(days) < 1:
        raise GuardError("restore_days_invalid", "storage_restore_days (how long the restored copy stays readable) must be at least 1; "
                         "got %r." % days)


def restore_archived(s3, bucket, key, days, tier="Standard", apply=True, now=None):
    """Request a restore of ``bucket``/``key`` unless one is running or done; returns the report.

    Reads HeadObject first (read-only): a not-archived object, a running restore and a restored copy
    are reported with ``changed`` false and no RestoreObject call; Expedited on Deep Archive is
    refused before any write. ``apply=False`` (check mode) stops before RestoreObject.
    """
    validate_restore(days, tier)
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        if error_code(exc) in _GONE_CODES:
            raise GuardError("archive_object_missing", "The archived object s3://%s/%s does not exist; the recording's "
                             "archive_key is stale (run storage_orphans.yml)." % (bucket, key))
        raise
    before = restore_state(head, now)
    report = {"bucket": bucket, "key": key, "days": int(days), "tier": tier, "before": before, "changed": False,
              "requested": False}
    if before["state"] == "not_archived":
        report.update(after=before, result="not_archived",
                      detail="s3://%s/%s is in storage class %s and readable now; no restore is needed." % (bucket, key, before["storage_class"]))
        return report
    if tier == "Expedited" and _deep_archive(before):
        raise GuardError("restore_tier_invalid", "Expedited retrieval is not available for Deep Archive (s3://%s/%s is %s); "
                         "use -e storage_restore_tier=Standard (within 12 hours) or Bulk (within 48 hours)."
                         % (bucket, key, before["archive_status"] or before["storage_class"]))
    if before["state"] in ("in_progress", "restored"):
        report.update(after=before, result=before["state"],
                      detail=("A restore of s3://%s/%s is already running." % (bucket, key)) if before["state"] == "in_progress"
                      else "s3://%s/%s is restored and readable until %s." % (bucket, key, before["expiry_date"]))
        return report
    if not apply:
        report.update(after=before, result="would_restore", changed=True,
                      detail="Would request a %s restore of s3://%s/%s for %d day(s)." % (tier, bucket, key, int(days)))
        return report
    request = {"GlacierJobParameters": {"Tier": tier}}
    if before["storage_class"] != "INTELLIGENT_TIERING":  # archive tiers of Intelligent-Tiering take no Days
        request["Days"] = int(days)
    try:
        s3.restore_object(Bucket=bucket, Key=key, RestoreRequest=request)
        report.update(requested=True, changed=True)
    except Exception as exc:
        if error_code(exc) != "RestoreAlreadyInProgress":  # a concurrent request won: not an error
            raise
    after = restore_state(s3.head_object(Bucket=bucket, Key=key), now)
    result = after["state"] if after["state"] in ("in_progress", "restored") else "requested"
    report.update(after=after, result=result,
                  detail="Restore of s3://%s/%s (%s, %d day(s)): %s." % (bucket, key, tier, int(days), result.replace("_", " ")))
    return report


def restore_fields(report):
    """The status line's fields of an archive restore (the expiry date as ``YYYY-MM-DDTHH:MM:SSZ``)."""
    expiry = report["after"]["expiry_date"]
    moment = _http_date(expiry) if expiry else None
    return [("bucket", line_value(report["bucket"])), ("key", line_value(report["key"])),
            ("storage_class", line_value(report["after"]["storage_class"])), ("tier", report["tier"]), ("days", report["days"]),
            ("result", report["result"]), ("ongoing", str(report["after"]["ongoing"]).lower()),
            ("expiry_date", moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else line_value(expiry))]


def restore_line(report, status="ok", reason=None):
    return status_line.format_line("archive_restore", status, reason, restore_fields(report))

# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The retention sweep: delete expired recordings from S3 and mark their metadata rows, crash-safe.

A row is eligible when ``deleted_at is null``, ``expires_at < now()``, it was created more than the
retention window ago, no outstanding legal hold names it (``legal_holds.released_at is null``) and,
on Object Lock buckets, no version of its object has an S3 legal hold.

Order of writes, per batch of at most 1,000 keys (the DeleteObjects limit):

1. re-read the table's holds for the batch (a hold placed since the batch was selected wins);
2. DeleteObjects (every version on versioned buckets, so the data is really gone);
3. HeadObject each key: only keys confirmed gone go on;
4. ``update recordings set deleted_at = now()`` for those rows, in one transaction.

A crash after 2 leaves objects gone and rows unmarked: the next run selects them again, the delete is
a no-op, step 3 confirms them gone and step 4 marks them. A row is never marked while its object
exists. A database failure stops the sweep at once so the set to repair stays one batch.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import time

from ansible_collections.signalcraft.ops.plugins.module_utils.core import status_line
from ansible_collections.signalcraft.ops.plugins.module_utils.core.concurrency import MAX_WORKERS_LIMIT, bounded_map
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError
from ansible_collections.signalcraft.ops.plugins.module_utils.services import s3 as s3_helpers
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import describe_error, error_code
from ansible_collections.signalcraft.ops.plugins.module_utils.services.db import DbError

MAX_DELETE_KEYS = s3_helpers.MAX_DELETE_KEYS
_GONE_CODES = s3_helpers.ALREADY_GONE
_DENIED_CODES = ("AccessDenied", "403", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch")
_MAX_ERRORS_LISTED = 50

# The seed's validation query, and its breakdown for the swept buckets.
SEED_CHECK_SQL = "select count(*) as n from recordings where deleted_at is null and expires_at < now()"
_BREAKDOWN_SQL = """
select count(*) as expired,
       count(*) filter (where h.recording_id is not null) as held,
       count(*) filter (where h.recording_id is null and r.created_at >= now() - make_interval(days => %(window)s)) as in_window
from recordings r
left join (select distinct recording_id from legal_holds where released_at is null) h on h.recording_id = r.id
where r.deleted_at is null and r.expires_at < now() and r.bucket = any(%(buckets)s)
"""
_CANDIDATES_SQL = """
select r.id, r.bucket, r.object_key from recordings r
where r.deleted_at is null and r.expires_at < now() and r.bucket = any(%(buckets)s)
  and r.created_at < now() - make_interval(days => %(window)s)
  and r.id > %(after_id)s
  and not exists (select 1 from legal_holds h where h.recording_id = r.id and h.released_at is null)
order by r.id limit %(limit)s
"""


class SweepStopped(OpsError):
    """The sweep stopped part-way (database failure); ``result`` holds what was done so far.

    Objects were already deleted when it is raised, so ``changed_so_far`` is true.
    """

    def __init__(self, reason, message, result):
        super(SweepStopped, self).__init__(reason, message, details=result, changed_so_far=True)
        self.result = result


# The runbook: "Run the job manually when backlog thresholds exceed 10k stale objects".
DEFAULT_BACKLOG_THRESHOLD = 10000
# One representative object per bucket and top-level prefix of what the sweep would delete: policies are
# usually scoped by prefix, so simulating these keys asks IAM exactly what the deletes will ask.
_IAM_SAMPLE_SQL = """
select r.bucket, min(r.object_key) as object_key from recordings r
where r.deleted_at is null and r.expires_at < now() and r.bucket = any(%(buckets)s)
  and r.created_at < now() - make_interval(days => %(window)s)
  and not exists (select 1 from legal_holds h where h.recording_id = r.id and h.released_at is null)
group by r.bucket, split_part(r.object_key, '/', 1)
order by 1, 2 limit %(limit)s
"""
_IAM_SAMPLE_LIMIT = 100


def validate_inputs(buckets, window_days, batch_size):
    if not buckets:
        raise GuardError("retention_buckets_missing", "No buckets to sweep; set retention_buckets in the inventory.")
    for bucket in buckets:
        if not bucket or not str(bucket).strip():
            raise GuardError("bucket_unset", "retention_buckets has an empty bucket; set the recordings bucket in "
                             "inventories/<env>/group_vars/all/storage.yml.")
        if str(bucket).startswith("REPLACE_"):
            raise GuardError("inventory_placeholder", "retention_buckets has the placeholder %r; set the recordings bucket in "
                             "inventories/<env>/group_vars/all/storage.yml." % bucket)
    if window_days is None or int(window_days) < 1:
        raise GuardError("retention_window_invalid", "retention_window_days must be a positive number of days; got %r." % window_days)
    if not 1 <= int(batch_size) <= MAX_DELETE_KEYS:
        raise GuardError("batch_size_invalid", "retention_batch_size must be between 1 and %d (the DeleteObjects limit); got %r."
                         % (MAX_DELETE_KEYS, batch_size))


def bucket_features(s3, bucket):
    """``{"versioned": bool, "object_lock": bool}``; also proves read access to the bucket."""
    status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    try:
        lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"].get("ObjectLockEnabled") == "Enabled"
    except Exception as exc:
        if error_code(exc) not in ("ObjectLockConfigurationNotFoundError", "ObjectLockConfigurationNotFound"):
            raise
        lock = False
    return {"versioned": status in ("Enabled", "Suspended") or lock, "object_lock": lock}


def preflight(s3, database, buckets, legal_hold_mode="skip", window_days=30):
    """The runbook's pre-flight checklist as checks; raises GuardError on the first that fails.

    Returns ``(checks, features)``. Permissions are probed without writing: the role must be able to
    read and update ``recordings``, read ``legal_holds`` and list/read each bucket's configuration.
    """
    checks = []
    missing = [("%s %s" % (priv, table)) for table, priv in (("recordings", "SELECT"), ("recordings", "UPDATE"), ("legal_holds", "SELECT"))
               if not database.has_table_privilege(table, priv)]
    if missing:
        raise GuardError("access_denied", "The database role lacks %s; grant them to the retention role." % ", ".join(missing))
    checks.append({"name": "db_permissions", "status": "ok", "detail": "SELECT/UPDATE recordings, SELECT legal_holds"})
    features = {}
    for bucket in buckets:
        try:
            s3.list_objects_v2(Bucket=bucket, MaxKeys=1)
            features[bucket] = bucket_features(s3, bucket)
        except Exception as exc:
            code = error_code(exc)
            if code in _DENIED_CODES:
                raise GuardError("access_denied", "The AWS role cannot read bucket %r (%s); it needs s3:ListBucket, "
                                 "s3:GetBucketVersioning, s3:GetBucketObjectLockConfiguration, s3:GetObjectLegalHold, "
                                 "s3:DeleteObject and s3:DeleteObjectVersion." % (bucket, code))
            if code in ("NoSuchBucket", "404"):
                raise GuardError("bucket_not_found", "Bucket %r does not exist; fix retention_buckets in the inventory." % bucket)
            raise
    checks.append({"name": "s3_access", "status": "ok", "detail": "list and configuration read on %d bucket(s)" % len(buckets)})
    held = database.scalar(
        "select count(distinct h.recording_id) from legal_holds h join recordings r on r.id = h.recording_id "
        "where h.released_at is null and r.deleted_at is null and r.expires_at < now() and r.bucket = any(%s)", (list(buckets),))
    if held and legal_hold_mode == "block":
        raise GuardError("legal_hold_outstanding", "%d expired recording(s) have outstanding legal holds and legal_hold_mode is "
                         "'block'; release the holds (legal_holds.released_at) or run with -e retention_legal_hold_mode=skip." % held)
    checks.append({"name": "legal_holds", "status": "ok",
                   "detail": "%d expired recording(s) under outstanding legal hold will be skipped" % (held or 0)})
    return checks, features


def validate_backlog_inputs(threshold, auto_run_above):
    if threshold is None or int(threshold) < 0:
        raise GuardError("backlog_threshold_invalid", "retention_backlog_threshold must be 0 or more stale objects; got %r." % threshold)
    if auto_run_above is not None and int(auto_run_above) < 0:
        raise GuardError("backlog_threshold_invalid", "retention_auto_run_above must be 0 or more stale objects (or unset); got %r." % auto_run_above)


def backlog_plan(stale, threshold, auto_run_above=None, apply=False):
    """Pure: the backlog report and whether a plan-only run proceeds to apply.

    ``stale`` is the sweep's backlog: expired, unmarked, created before the window, not under a
    table legal hold (S3 Object Lock holds are only found during the sweep).
    """
    stale = int(stale)
    above = stale > int(threshold)
    auto = (not apply) and auto_run_above is not None and stale > int(auto_run_above)
    return {"stale_objects": stale, "threshold": int(threshold), "above_threshold": above,
            "recommend_manual_run": above and not apply and not auto,
            "auto_run_above": None if auto_run_above is None else int(auto_run_above), "auto_applied": auto}


def iam_samples(database, buckets, window_days):
    """``[(bucket, key)]``: one object per bucket and top-level prefix that the sweep would delete."""
    rows = database.query(_IAM_SAMPLE_SQL, {"buckets": list(buckets), "window": int(window_days), "limit": _IAM_SAMPLE_LIMIT})
    return [(r["bucket"], r["object_key"]) for r in rows]


def iam_requirements(samples, features, glacier_vault_arns=()):
    """Pure: the ``(action, resource)`` pairs the sweep needs.

    s3:DeleteObject on each sampled object (the runbook's check); s3:DeleteObjectVersion as well on
    versioned/Object Lock buckets, where the sweep deletes every version by VersionId. Recordings in
    S3 Glacier storage classes (GLACIER_IR, DEEP_ARCHIVE) are S3 objects: s3:DeleteObject covers them.
    glacier:DeleteArchive is an S3 Glacier *vault* permission; it is checked on the vaults named
    (retention_glacier_vaults), for accounts that still keep recordings in vaults.
    """
    pairs = []
    for bucket, key in samples:
        arn = "arn:aws:s3:::%s/%s" % (bucket, key)
        pairs.append(("s3:DeleteObject", arn))
        if (features.get(bucket) or {}).get("versioned"):
            pairs.append(("s3:DeleteObjectVersion", arn))
    pairs.extend(("glacier:DeleteArchive", vault) for vault in glacier_vault_arns)
    return pairs


def glacier_vault_arn(vault, region, account):
    return vault if vault.startswith("arn:") else "arn:aws:glacier:%s:%s:vaults/%s" % (region, account, vault)


def iam_verdict(principal, required, missing):
    """Pure: the IAM pre-flight check for the result, or GuardError ``iam_action_denied`` naming what is missing."""
    if missing:
        named = "; ".join("%s on %s (%s)" % (m["action"], m["resource"], m["decision"]) for m in missing[:5])
        more = " and %d more" % (len(missing) - 5) if len(missing) > 5 else ""
        raise GuardError("iam_action_denied", "IAM policy simulation for %s denies %s%s; grant the action(s) to the retention role "
                         "(nothing was deleted)." % (principal, named, more),
                         details={"iam_preflight": {"status": "fail", "principal": principal, "required": len(required),
                                                    "denied": missing}})
    return {"status": "ok", "principal": principal, "required": len(required),
            "actions": sorted({a for a, _r in required}), "denied": []}


def breakdown(database, buckets, window_days):
    """What is left: the seed's count and, for the swept buckets, held / in-window / unexplained."""
    row = database.query(_BREAKDOWN_SQL, {"buckets": list(buckets), "window": int(window_days)})[0]
    out = {"dangling_count": database.scalar(SEED_CHECK_SQL), "expired_unmarked": row["expired"],
           "held": row["held"], "in_window": row["in_window"]}
    out["unexplained"] = row["expired"] - row["held"] - row["in_window"]
    return out


def _pool_map(func, items, concurrency):
    return bounded_map(func, items, max(1, min(int(concurrency), MAX_WORKERS_LIMIT)))


def _versions(s3, bucket, key):
    """Every (VersionId) of ``key`` including delete markers."""
    found = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
        for entry in page.get("Versions", []) + page.get("DeleteMarkers", []):
            if entry["Key"] == key:
                found.append(entry["VersionId"])
    return found


def _s3_held(s3, bucket, key, version_ids):
    for vid in version_ids or [None]:
        kwargs = {"Bucket": bucket, "Key": key}
        if vid:
            kwargs["VersionId"] = vid
        try:
            if s3.get_object_legal_hold(**kwargs)["LegalHold"].get("Status") == "ON":
                return True
        except Exception as exc:
            code = error_code(exc)
            # No hold configured on that version, a delete marker (MethodNotAllowed) or gone already.
            if code in _GONE_CODES or code in ("NoSuchObjectLockConfiguration", "MethodNotAllowed", "InvalidRequest"):
                continue
            raise
    return False


def _gone(s3, bucket, key):
    return not s3_helpers.exists(s3, bucket, key)


class Sweep:
    """One retention sweep; ``run()`` returns the structured result.

    ``progress(line)`` receives each batch's line (the result's ``progress``, the progress file);
    ``tick(done, total, **counts)`` (the module's ``ops.progress``) the rows examined so far out of
    the candidates the sweep started with, with the running totals, for the operator's live lines.
    """

    def __init__(self, s3, database, buckets, window_days, apply=False, batch_size=MAX_DELETE_KEYS, concurrency=16,
                 legal_hold_mode="skip", max_batches=0, progress=None, features=None, tick=None):
        validate_inputs(buckets, window_days, batch_size)
        self.s3, self.db = s3, database
        self.buckets, self.window_days = list(buckets), int(window_days)
        self.apply, self.batch_size, self.concurrency = apply, int(batch_size), max(1, int(concurrency))
        self.legal_hold_mode, self.max_batches = legal_hold_mode, int(max_batches or 0)
        self.progress = progress or (lambda line: None)
        self.tick = tick
        self.candidates = None
        self.features = features
        self.result = {"apply": bool(apply), "deleted_count": 0, "would_delete_count": 0, "skipped_legal_hold": 0,
                       "skipped_legal_hold_s3": 0, "skipped_legal_hold_table": 0, "skipped_in_window": 0, "errors": 0,
                       "error_samples": [], "batches": [], "delete_requests": [], "complete": False}

    def _error(self, bucket, key, code, detail):
        self.result["errors"] += 1
        if len(self.result["error_samples"]) < _MAX_ERRORS_LISTED:
            self.result["error_samples"].append({"bucket": bucket, "key": key, "code": code, "detail": detail})

    def run(self, before=None):
        """``before``: the breakdown already read for the plan (the backlog), else read here."""
        started = time.time()
        if self.features is None:
            self.features = {b: bucket_features(self.s3, b) for b in self.buckets}
        before = before or breakdown(self.db, self.buckets, self.window_days)
        self.result["before"] = before
        self.result["skipped_in_window"] = before["in_window"]
        self.result["skipped_legal_hold_table"] = before["held"]
        # What _CANDIDATES_SQL selects: expired, outside the window, not held (the breakdown's unexplained).
        self.candidates = max(0, before["unexplained"])
        after_id = 0
        while True:
            if self.max_batches and len(self.result["batches"]) >= self.max_batches:
                break
            rows = self.db.query(_CANDIDATES_SQL, {"buckets": self.buckets, "window": self.window_days,
                                                   "after_id": after_id, "limit": self.batch_size})
            if not rows:
                self.result["complete"] = True
                break
            after_id = rows[-1]["id"]
            self._batch(rows)
        self.result["skipped_legal_hold"] = self.result["skipped_legal_hold_s3"] + self.result["skipped_legal_hold_table"]
        after = breakdown(self.db, self.buckets, self.window_days)
        # S3 Object Lock holds are only known from S3: count the ones this sweep met.
        after["held_s3"] = self.result["skipped_legal_hold_s3"]
        after["unexplained"] -= after["held_s3"]
        self.result["after"] = after
        self.result["duration_s"] = round(time.time() - started, 3)
        return self.result

    def _batch(self, rows):
        number = len(self.result["batches"]) + 1
        stats = {"batch": number, "rows": len(rows), "deleted": 0, "skipped_legal_hold": 0, "errors": 0}
        # 1. A hold placed since the rows were selected wins.
        held_now = {r["recording_id"] for r in self.db.query(
            "select recording_id from legal_holds where released_at is null and recording_id = any(%s)", ([r["id"] for r in rows],))}
        for row in rows:
            if row["id"] in held_now:
                self.result["skipped_legal_hold_table"] += 1
                stats["skipped_legal_hold"] += 1
        rows = [r for r in rows if r["id"] not in held_now]

        # Versions (versioned buckets) and S3 Object Lock legal holds, read in parallel.
        def inspect(row):
            feats = self.features[row["bucket"]]
            try:
                versions = _versions(self.s3, row["bucket"], row["object_key"]) if feats["versioned"] else None
                held = _s3_held(self.s3, row["bucket"], row["object_key"], versions) if feats["object_lock"] else False
                return row, versions, held, None
            except Exception as exc:  # one object's failure must not stop the batch
                return row, None, False, exc

        keep = []
        for row, versions, held, exc in _pool_map(inspect, rows, self.concurrency):
            if exc is not None:
                self._error(row["bucket"], row["object_key"], error_code(exc) or "error", describe_error(exc))
                stats["errors"] += 1
            elif held:
                self.result["skipped_legal_hold_s3"] += 1
                stats["skipped_legal_hold"] += 1
            else:
                keep.append((row, versions))
        if not self.apply:
            self.result["would_delete_count"] += len(keep)
            stats["would_delete"] = len(keep)
            self._record(stats)
            return

        # 2. Delete (at most MAX_DELETE_KEYS entries per request), per bucket.
        failed = set()
        for bucket in sorted({r["bucket"] for r, _v in keep}):
            entries = []
            for row, versions in keep:
                if row["bucket"] != bucket:
                    continue
                if versions is None:
                    entries.append({"Key": row["object_key"]})
                else:
                    entries.extend({"Key": row["object_key"], "VersionId": v} for v in versions)
            _deleted, refused = s3_helpers.delete_objects(self.s3, bucket, entries, on_batch=self.result["delete_requests"].append)
            reported = set()
            for err in refused:
                failed.add((bucket, err["Key"]))
                if err.get("Request"):
                    request = id(err["Error"])
                    if request in reported:
                        continue
                    reported.add(request)
                    size = len([f for f in refused if f.get("Error") is err["Error"]])
                    self._error(bucket, err["Key"], err["Code"], "DeleteObjects of %d keys failed: %s" % (size, describe_error(err["Error"])))
                else:
                    self._error(bucket, err["Key"], err.get("Code", "error"), err.get("Message", ""))
                stats["errors"] += 1

        # 3. Confirm gone.
        pending = [row for row, _v in keep if (row["bucket"], row["object_key"]) not in failed]

        def confirm(row):
            try:
                return row, _gone(self.s3, row["bucket"], row["object_key"]), None
            except Exception as exc:
                return row, False, exc

        gone_ids = []
        for row, gone, exc in _pool_map(confirm, pending, self.concurrency):
            if exc is not None:
                self._error(row["bucket"], row["object_key"], error_code(exc) or "error", "confirming the delete: %s" % describe_error(exc))
                stats["errors"] += 1
            elif gone:
                gone_ids.append(row["id"])
            else:
                self._error(row["bucket"], row["object_key"], "still_present", "the object is still there after DeleteObjects")
                stats["errors"] += 1

        # 4. Mark only rows whose object is confirmed gone.
        if gone_ids:
            try:
                with self.db.transaction() as cur:
                    cur.execute("update recordings set deleted_at = now() where id = any(%s) and deleted_at is null", (gone_ids,))
                    marked = cur.rowcount
            except DbError as exc:
                stats["db_error"] = exc.message
                self._record(stats)
                raise SweepStopped("db_error", "Stopped after batch %d: %d object(s) are deleted but their rows are not marked (%s); "
                                   "rerun the sweep once the database is reachable -- it marks them." % (number, len(gone_ids), exc.message),
                                   self.result)
            self.result["deleted_count"] += marked
            stats["deleted"] = marked
        self._record(stats)

    def _record(self, stats):
        self.result["batches"].append(stats)
        self.progress(progress_line(stats, self.result))
        if self.tick is not None:
            done = sum(b["rows"] for b in self.result["batches"])
            counts = {"deleted": self.result["deleted_count"]} if self.apply else {"would_delete": self.result["would_delete_count"]}
            counts.update(skipped_legal_hold=sum(b["skipped_legal_hold"] for b in self.result["batches"]), errors=self.result["errors"])
            self.tick(done, max(done, self.candidates or 0), **counts)


def progress_line(stats, totals):
    return ("retention batch=%d rows=%d deleted=%d skipped_legal_hold=%d errors=%d total_deleted=%d"
            % (stats["batch"], stats["rows"], stats.get("deleted", 0), stats["skipped_legal_hold"], stats["errors"], totals["deleted_count"]))


def line_fields(result):
    """The status line's fields (after ``retention status=<status> [reason=<token>]``)."""
    return [("mode", "apply" if result.get("apply") else "dry_run"),
            ("deleted_count", int(result.get("deleted_count", 0))),
            ("would_delete_count", int(result.get("would_delete_count", 0))),
            ("skipped_legal_hold", int(result.get("skipped_legal_hold", 0))),
            ("skipped_in_window", int(result.get("skipped_in_window", 0))),
            ("errors", int(result.get("errors", 0)))] + plan_fields(result)


def plan_fields(result):
    """The backlog and the IAM pre-flight, when the result has them (appended to the line)."""
    fields = []
    backlog = result.get("backlog")
    if backlog:
        fields.append(("backlog", backlog["stale_objects"]))
        if backlog.get("auto_applied"):
            fields.append(("auto_run", "applied"))
        elif backlog.get("recommend_manual_run"):
            fields.append(("recommendation", "manual_run"))
    if result.get("iam_preflight"):
        fields.append(("iam_preflight", result["iam_preflight"]["status"]))
    return fields


def token_line(result, reason=None, status=None):
    """The structured log line operators grep for (CloudWatch /author/retention)."""
    status = status or ("fail" if reason or result.get("errors") else "ok")
    return status_line.format_line("retention", status, reason, line_fields(result))


def json_log(result):
    """One JSON object per run, the structured log the runbook's CloudWatch check reads."""
    keys = ("apply", "deleted_count", "would_delete_count", "skipped_legal_hold", "skipped_in_window", "errors", "complete")
    out = {k: result.get(k) for k in keys}
    if result.get("backlog"):
        out["backlog"] = result["backlog"]["stale_objects"]
    return json.dumps(out, sort_keys=True)

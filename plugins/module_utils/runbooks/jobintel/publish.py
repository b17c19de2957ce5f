# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Publish one run: objects to ``runs/<run_id>/``, verified, then ``latest/`` and the pointers.

The order is what makes it safe to interrupt anywhere and simply rerun:

1. inputs and buckets are checked before any write (``publish_disabled``, ``bucket_unset``,
   ``inventory_placeholder``, ``bucket_not_found``, ...), and a run that would move pointers must
   be orderable (``run_order_unknown``);
2. the run's objects are written under ``runs/<run_id>/`` (only those not already there with the
   same SHA-256), then every one of them is read back and its SHA-256 compared;
3. only for a run whose ``run_health.v1.json`` is not ``failed``: for each provider/profile,
   ``latest/<provider>/<profile>/`` gets the new objects (server-side copies, verified), stale keys
   are deleted, and the pair's pointer moves by compare-and-swap; ``state/last_success.json``
   moves last.

So a pointer never names a run that is not fully published, and a second publish of the same run
writes nothing and reports ``changed=false``.

Runs are ordered by what they are, not by how their ids sort as strings: by the run's own start
time (``started_at``, else ``finished_at``, in ``run_summary.v1.json``), else by the UTC timestamp
a run id begins with (``YYYYMMDDTHHMMSSZ``). A pointer never moves to an older run unless rewinding
is allowed; a pointer held that way makes the publish ``status=warn reason=pointer_held``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os
import re

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError

from ansible_collections.signalcraft.ops.plugins.module_utils.services import pointers
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import layout
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import provenance
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel import run_pointers
from ansible_collections.signalcraft.ops.plugins.module_utils.services import s3 as s3_transfer
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel.layout import RUN_HEALTH, RUN_SUMMARY

SUCCESS_STATUSES = ("healthy", "degraded")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PLACEHOLDER = "REPLACE_"
# The -e variable an operator sets for each module option named in a message.
OPTION_VARIABLES = {"bucket": "jobintel_bucket", "source_bucket": "publish_source_bucket", "prefix": "jobintel_prefix",
                    "run_id": "publish_run_id", "run_dir": "publish_run_dir", "providers": "jobintel_publish_providers",
                    "profiles": "jobintel_publish_profiles", "concurrency": "publish_concurrency"}


class PublishError(OpsError):
    """Publishing stopped; ``reason`` is a registered token, ``message`` names the input and the fix."""

    def __init__(self, reason, message, details=None, changed_so_far=False):
        super(PublishError, self).__init__(reason, message, details=details, changed_so_far=changed_so_far)


def _parse_time(text):
    """A timezone-aware datetime from an ISO-8601 UTC timestamp, or None."""
    if not isinstance(text, str) or not text:
        return None
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc)


def run_time(run_id, summary=None):
    """``(when, source)``: what orders a run -- its own start time from run_summary, else its id's timestamp.

    ``source`` is ``run_summary`` or ``run_id``; ``(None, None)`` when the run cannot be ordered.
    """
    summary = summary if isinstance(summary, dict) else {}
    for field in ("started_at", "finished_at"):
        moment = _parse_time(summary.get(field))
        if moment is not None:
            return moment, "run_summary"
    moment = layout.run_id_time(run_id)
    return (moment, "run_id") if moment is not None else (None, None)


def read_run_summary(s3, bucket, prefix, run_id):
    """The published ``run_summary.v1.json`` of ``run_id`` (None when absent or unreadable)."""
    try:
        body = s3.get_object(Bucket=bucket, Key=layout.run_prefix(prefix, run_id) + RUN_SUMMARY)["Body"].read()
        document = json.loads(body.decode("utf-8"))
    except Exception:  # pylint: disable=broad-except  # absent, forbidden or corrupt: fall back to the pointer
        return None
    return document if isinstance(document, dict) else None


def utc_timestamp(moment=None):
    moment = moment or datetime.datetime.now(datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _variable(option):
    return OPTION_VARIABLES.get(option, option)


def check_bucket_name(bucket, option="bucket"):
    """Refuse an unset (``bucket_unset``), placeholder (``inventory_placeholder``) or malformed bucket before any AWS call."""
    variable = _variable(option)
    if bucket is None or not str(bucket).strip():
        raise PublishError("bucket_unset", "%s is empty; set the artifact bucket in the inventory (group_vars) or pass "
                           "-e %s=<bucket>. Nothing was written." % (variable, variable))
    if str(bucket).startswith(_PLACEHOLDER) or "REPLACE_WITH" in str(bucket):
        raise PublishError("inventory_placeholder", "%s is still the placeholder %r; set the real bucket in the inventory "
                           "(group_vars) or pass -e %s=<bucket>. Nothing was written." % (variable, bucket, variable))
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise PublishError("bucket_invalid", "%s %r is not a valid S3 bucket name." % (variable, bucket))


def check_bucket_exists(s3, bucket, option="bucket"):
    """HeadBucket: ``bucket_not_found`` (404) or ``access_denied`` (403), named, before any write."""
    variable = _variable(option)
    try:
        s3_transfer.check_bucket(s3, bucket)
    except s3_transfer.BucketError as exc:
        if exc.reason == "bucket_not_found":
            raise PublishError("bucket_not_found", "%s %r does not exist (HeadBucket 404); create it or fix %s in the "
                               "inventory. Nothing was written." % (variable, bucket, variable))
        raise PublishError("access_denied", "access denied to %s %r (HeadBucket 403); the caller needs s3:ListBucket "
                           "on it. Nothing was written." % (variable, bucket))


def validate(params):
    """Every input check that needs no AWS call; raises PublishError."""
    if not params.get("publish_enabled"):
        raise PublishError("publish_disabled", "publishing is disabled (jobintel_publish_enabled=false in the inventory, "
                           "the old PUBLISH_S3=1); set -e jobintel_publish_enabled=true to publish. Nothing was written.")
    check_bucket_name(params.get("bucket"), "bucket")
    prefix = params.get("prefix") or ""
    if prefix.startswith("/") or prefix.endswith("/") or "//" in prefix or ".." in prefix.split("/"):
        raise PublishError("invalid_prefix", "jobintel_prefix %r must not start or end with '/', contain '//' or '..'." % prefix)
    run_id = params.get("run_id")
    if run_id and not run_pointers.valid_run_id(run_id):
        raise PublishError("run_id_invalid", "publish_run_id %r must be letters, digits and _.:- (no '/')." % run_id)
    if params.get("run_dir"):
        if not os.path.isdir(params["run_dir"]):
            raise PublishError("run_dir_missing", "publish_run_dir %s is not a directory; point it at the run's output "
                               "directory (the one holding run_summary.v1.json)." % params["run_dir"])
    elif params.get("source_prefix") is not None:
        check_bucket_name(params.get("source_bucket") or params.get("bucket"), "source_bucket")
    for option in ("providers", "profiles"):
        for name in params.get(option) or []:
            if not run_pointers.valid_name(name):
                raise PublishError("invalid_name", "%s entry %r must be a lowercase token (a-z, 0-9, _.-)." % (_variable(option), name))
    if int(params.get("concurrency") or 1) < 1:
        raise PublishError("invalid_concurrency", "publish_concurrency must be at least 1.")


class RunSource:
    """The run to publish: its objects (relative paths, SHA-256, size), summary, health and run id."""

    def __init__(self, objects, summary, health, location):
        self.objects = objects
        self.summary = summary
        self.health = health
        self.location = location

    def object(self, rel):
        for obj in self.objects:
            if obj.rel == rel:
                return obj
        return None


def _json_document(raw, name, location):
    try:
        document = json.loads(raw.decode("utf-8"))
    except ValueError as exc:
        raise PublishError("run_document_invalid", "%s in %s is not valid JSON: %s" % (name, location, exc))
    if not isinstance(document, dict):
        raise PublishError("run_document_invalid", "%s in %s is not a JSON object." % (name, location))
    return document


def _require_documents(rels, location):
    for name, reason in ((RUN_SUMMARY, "run_summary_missing"), (RUN_HEALTH, "run_health_missing")):
        if name not in rels:
            raise PublishError(reason, "%s has no %s; every finished run writes one (the terminal run invariant), so this "
                               "is not a run directory or the run did not finish." % (location, name))


def load_local_source(run_dir, concurrency, progress=None):
    rels = s3_transfer.local_files(run_dir)
    if not rels:
        raise PublishError("source_empty", "run_dir %s holds no files." % run_dir)
    _require_documents(rels, run_dir)
    docs = {}
    for name in (RUN_SUMMARY, RUN_HEALTH):
        with open(os.path.join(run_dir, name), "rb") as handle:
            docs[name] = _json_document(handle.read(), name, run_dir)
    objects = s3_transfer.describe_local(run_dir, rels, "", concurrency, progress=progress)
    return RunSource(objects, docs[RUN_SUMMARY], docs[RUN_HEALTH], run_dir)


def load_s3_source(s3, bucket, source_prefix, concurrency, progress=None):
    source_prefix = source_prefix.strip("/") + "/" if source_prefix.strip("/") else ""
    location = "s3://%s/%s" % (bucket, source_prefix)
    objects = s3_transfer.describe_s3(s3, bucket, source_prefix, "", concurrency, progress=progress)
    if not objects:
        raise PublishError("source_empty", "%s holds no objects; check the run id and the outbox prefix." % location)
    _require_documents(set(o.rel for o in objects), location)
    docs = {}
    for name in (RUN_SUMMARY, RUN_HEALTH):
        obj = [o for o in objects if o.rel == name][0]
        kwargs = {"Bucket": bucket, "Key": obj.source_key}
        if obj.source_etag:
            kwargs["IfMatch"] = obj.source_etag
        docs[name] = _json_document(s3.get_object(**kwargs)["Body"].read(), name, location)
    return RunSource(objects, docs[RUN_SUMMARY], docs[RUN_HEALTH], location)


def run_status(health, summary):
    """``healthy``/``degraded`` (pointers may move) or ``failed``; anything else is refused."""
    status = health.get("status")
    if status not in SUCCESS_STATUSES + ("failed",):
        raise PublishError("run_health_invalid", "run_health.v1.json status is %r; expected healthy, degraded or failed." % (status,))
    if status != "failed" and summary.get("status") == "failed":
        return "failed"
    return status


def resolve_run_id(given, source):
    found = source.summary.get("run_id") or source.health.get("run_id")
    if given and found and given != found:
        raise PublishError("run_id_mismatch", "publish_run_id %s was given but %s in %s says %s; publish the right run." % (
            given, RUN_SUMMARY, source.location, found))
    run_id = given or found
    if not run_pointers.valid_run_id(run_id):
        raise PublishError("run_id_invalid", "run id %r (from %s) is not a valid run id." % (run_id, source.location))
    return run_id


def _newer(current_time, new_time):
    """True when the run a pointer names started after the run being published (never by id strings)."""
    return current_time is not None and new_time is not None and current_time > new_time


class Publisher:
    """One publish of one run; ``run()`` returns the module result (without the receipt).

    ``progress`` is the module's ``ops.progress``: the operator sees the source being read
    (``publish read``), the uploads (``publish``), the read-back (``publish verify``) and the copies
    to latest/ (``publish latest``) as they go.
    """

    def __init__(self, s3, params, check_mode=False, now=None, metadata_fetch=provenance.fetch_task_metadata, progress=None):
        self.s3 = s3
        self.progress = progress
        self.params = params
        self.check_mode = check_mode
        self.now = now
        self.metadata_fetch = metadata_fetch
        self.bucket = params["bucket"]
        self.prefix = params.get("prefix") or ""
        self.concurrency = int(params.get("concurrency") or 16)
        self.result = {"changed": False, "uploaded": [], "copied": [], "skipped_count": 0, "latest": [], "pointers": [],
                       "pairs_skipped": [], "pointers_moved": False}
        self._verified_heads = {}
        self._run_times = {}
        self.new_time = None
        self.new_time_source = None

    def reporter(self, what):
        """``progress(done, total)`` for one stage, or None when no one listens."""
        if self.progress is None:
            return None
        return lambda done, total: self.progress(done, total, what=what)

    # -- ordering ----------------------------------------------------------------------------
    def current_run_time(self, document):
        """``(when, source)`` of the run a pointer names: its run_summary, its id, else the pointer's publish time."""
        run_id = document.get("run_id")
        if run_id not in self._run_times:
            summary = read_run_summary(self.s3, self.bucket, self.prefix, run_id) if run_pointers.valid_run_id(run_id) else None
            moment, source = run_time(run_id, summary)
            if moment is None:
                moment = _parse_time(document.get("published_at"))
                source = "published_at" if moment is not None else None
            self._run_times[run_id] = (moment, source)
        return self._run_times[run_id]

    def check_orderable(self, run_id):
        """A run that may move pointers must be orderable against the runs they name (unless rewinding is allowed)."""
        if self.new_time is None and not self.params.get("allow_rewind"):
            raise PublishError("run_order_unknown", "run %s cannot be ordered against the run the pointers name: its "
                               "run_summary.v1.json has no started_at/finished_at and its id does not begin with a UTC "
                               "timestamp (YYYYMMDDTHHMMSSZ). Publish it under a timestamped run id, or set "
                               "-e publish_allow_rewind=true to move the pointers to it regardless. Nothing was written." % run_id,
                               {"run_id": run_id})

    # -- steps -------------------------------------------------------------------------------
    def load(self):
        params = self.params
        if params.get("run_dir"):
            return load_local_source(params["run_dir"], self.concurrency, progress=self.reporter("publish read"))
        source_bucket = params.get("source_bucket") or self.bucket
        if source_bucket != self.bucket:
            check_bucket_exists(self.s3, source_bucket, "source_bucket")
        prefix = params.get("source_prefix")
        if prefix in (None, "") and params.get("run_id"):
            prefix = layout.outbox_prefix(self.prefix, params["run_id"])
        return load_s3_source(self.s3, source_bucket, prefix, self.concurrency, progress=self.reporter("publish read"))

    def pairs(self, source, run_id):
        providers = self.params.get("providers") or source.summary.get("providers") or []
        profiles = self.params.get("profiles") or source.summary.get("profiles") or []
        chosen, skipped = [], []
        for provider in providers:
            for profile in profiles:
                if not (run_pointers.valid_name(provider) and run_pointers.valid_name(profile)):
                    raise PublishError("invalid_name", "run_summary names provider/profile %r/%r, which are not valid names." % (
                        provider, profile))
                rel = "%s/%s/" % (provider, profile)
                objects = [o for o in source.objects if o.rel.startswith(rel)]
                if objects:
                    chosen.append((provider, profile, objects))
                else:
                    skipped.append({"provider": provider, "profile": profile, "reason": "no_outputs",
                                    "detail": "run %s has no outputs under %s (provider unavailable or not run)" % (run_id, rel)})
        return chosen, skipped

    def desired_pointer(self, run_id, object_count, prov, published_at, provider=None, profile=None):
        key_prefix = layout.pair_run_prefix(self.prefix, run_id, provider, profile) if provider else \
            layout.run_prefix(self.prefix, run_id)
        return run_pointers.pointer_document(run_id, pointers.s3_uri(self.bucket, key_prefix), object_count, prov,
                                             published_at, provider, profile)

    def pointer_update(self, desired, allow_rewind, outcome):
        """The compare-and-swap update function: keep an equal publication, never rewind by default.

        Runs are compared by their own time (``current_run_time``/``run_time``), never as id strings.
        """
        def update(current):
            outcome.pop("held_reason", None)
            if run_pointers.same_publication(current, desired):
                outcome["action"] = "unchanged"
                return current
            if current and current.get("run_id") != desired["run_id"]:
                current_time, current_source = self.current_run_time(current)
                outcome["order"] = {"pointer_run_time": _format(current_time), "pointer_run_time_source": current_source,
                                    "run_time": _format(self.new_time), "run_time_source": self.new_time_source}
                if not allow_rewind and _newer(current_time, self.new_time):
                    outcome["action"] = "held"
                    outcome["held_reason"] = "pointer_newer"
                    return current
            outcome["action"] = "moved"
            return desired
        return update

    def plan_pointer(self, key, desired):
        current = pointers.read_pointer(self.s3, self.bucket, key)
        outcome = {"key": key, "before_run_id": current["document"].get("run_id") if current else None}
        doc = self.pointer_update(desired, self.params.get("allow_rewind"), outcome)(current["document"] if current else None)
        outcome["after_run_id"] = doc.get("run_id") if doc else None
        return outcome

    def move_pointer(self, key, desired):
        outcome = {"key": key}
        before = pointers.read_pointer(self.s3, self.bucket, key)
        outcome["before_run_id"] = before["document"].get("run_id") if before else None
        written = pointers.move_pointer(self.s3, self.bucket, key, self.pointer_update(desired, self.params.get("allow_rewind"), outcome))
        outcome["after_run_id"] = desired["run_id"] if outcome["action"] == "moved" else outcome["before_run_id"]
        outcome.update(changed=written["changed"], etag=written.get("etag"), version_id=written.get("version_id"),
                       cas_attempts=written.get("attempts", 1))
        return outcome

    def move_latest(self, provider, profile, run_id, verified):
        """Copy the pair's verified run objects to latest/<provider>/<profile>/, verify, then delete stale keys."""
        latest = layout.latest_prefix(self.prefix, provider, profile)
        pair_prefix = layout.pair_run_prefix(self.prefix, run_id, provider, profile)
        wanted = []
        for key, obj in verified:
            if key.startswith(pair_prefix):
                rel = key[len(pair_prefix):]
                wanted.append(obj.retarget(latest + rel, self.bucket, key, obj_etag(key, self._verified_heads)))
        latest_plan = s3_transfer.plan(self.s3, self.bucket, wanted, self.concurrency, replace_changed=True, listing_prefix=latest)
        stale = sorted(set(latest_plan.present) - set(o.key for o in wanted))
        if not self.params.get("delete_stale_latest", True):
            stale = []
        outcome = {"provider": provider, "profile": profile, "prefix": latest, "copy": [o.key for o in latest_plan.write],
                   "skip_count": len(latest_plan.skip), "delete": stale}
        if self.check_mode:
            return outcome
        s3_transfer.write(self.s3, self.bucket, latest_plan.write, self.concurrency, progress=self.reporter("publish latest"))
        s3_transfer.verify(self.s3, self.bucket, wanted, self.concurrency,
                           known=dict((o.key, latest_plan.existing[o.key]) for o in latest_plan.skip))
        if stale:
            s3_transfer.delete_keys(self.s3, self.bucket, stale)
        return outcome

    # -- the whole publish -------------------------------------------------------------------
    def run(self):
        params = self.params
        validate(params)
        check_bucket_exists(self.s3, self.bucket, "bucket")
        source = self.load()
        run_id = resolve_run_id(params.get("run_id"), source)
        status = run_status(source.health, source.summary)
        self.new_time, self.new_time_source = run_time(run_id, source.summary)
        if status in SUCCESS_STATUSES:
            self.check_orderable(run_id)
        base = layout.run_prefix(self.prefix, run_id)
        objects = [s3_transfer.SourceObject(o.rel, base + o.rel, o.sha256, o.size, path=o.path, source_bucket=o.source_bucket,
                                            source_key=o.source_key, source_etag=o.source_etag) for o in source.objects]
        result = self.result
        result.update(run_id=run_id, run_status=status, source=source.location, object_count=len(objects),
                      target=pointers.s3_uri(self.bucket, base), failed_stage=source.health.get("failed_stage"),
                      failure_codes=source.health.get("failure_codes") or [])

        run_plan = s3_transfer.plan(self.s3, self.bucket, objects, self.concurrency,
                                    replace_changed=bool(params.get("replace_changed")), listing_prefix=base)
        if run_plan.conflict:
            raise PublishError("run_object_conflict", "%d object(s) of run %s are already published with different content (%s); "
                               "a published run is immutable. Publish under a new run id, or set -e publish_replace_changed=true "
                               "to overwrite them. Nothing was written." % (
                                   len(run_plan.conflict), run_id, ", ".join(o.key for o in run_plan.conflict[:5])),
                               {"conflicts": [o.key for o in run_plan.conflict]})
        writes = run_plan.write
        result["skipped_count"] = len(run_plan.skip)
        result["skipped_by_etag_count"] = len(run_plan.matched_md5)
        for obj in writes:
            result["copied" if obj.is_copy else "uploaded"].append(obj.key)

        pairs, result["pairs_skipped"] = self.pairs(source, run_id)
        moving = status in SUCCESS_STATUSES
        prov, sources = ({}, {})
        if moving:
            overrides = dict((k, params.get(k)) for k in provenance.PROVENANCE_FIELDS)
            prov, sources = provenance.resolve(overrides, source.summary, params.get("task_metadata_uri"), self.metadata_fetch)
        result.update(provenance=prov, provenance_sources=sources)
        if not moving:
            result["pointer_skip_reason"] = "run_failed"

        if self.check_mode:
            result["changed"] = bool(writes)
            if moving:
                self._verified_heads = dict((o.key, run_plan.existing.get(o.key)) for o in objects)
                self._plan_moves(pairs, run_id, objects, prov)
            return self._finish()

        s3_transfer.write(self.s3, self.bucket, writes, self.concurrency, progress=self.reporter("publish"))
        known = dict((o.key, run_plan.existing[o.key]) for o in run_plan.skip)
        self._verified_heads = s3_transfer.verify(self.s3, self.bucket, objects, self.concurrency, known=known,
                                                  progress=self.reporter("publish verify"))
        result["verified_count"] = len(objects)
        result["changed"] = bool(writes)
        if not moving:
            return self._finish()

        published_at = utc_timestamp(self.now)
        verified = [(o.key, o) for o in objects]
        for provider, profile, pair_objects in pairs:
            desired = self.desired_pointer(run_id, len(pair_objects), prov, published_at, provider, profile)
            key = layout.pointer_key(self.prefix, provider, profile)
            preview = self.plan_pointer(key, desired)
            if preview["action"] == "held":
                result["latest"].append({"provider": provider, "profile": profile, "held_reason": preview.get("held_reason")})
                result["pointers"].append(dict(preview, changed=False))
                continue
            latest = self.move_latest(provider, profile, run_id, verified)
            result["latest"].append(latest)
            result["changed"] = result["changed"] or bool(latest["copy"] or latest["delete"])
            result["pointers"].append(self.move_pointer(key, desired))
        desired = self.desired_pointer(run_id, len(objects), prov, published_at)
        result["pointers"].append(self.move_pointer(layout.pointer_key(self.prefix), desired))
        for moved in result["pointers"]:
            result["changed"] = result["changed"] or bool(moved.get("changed"))
        result["pointers_moved"] = any(p.get("action") == "moved" and p.get("changed") for p in result["pointers"])
        return self._finish()

    def _plan_moves(self, pairs, run_id, objects, prov):
        """Check mode: what latest/ and the pointers would do, from reads only."""
        result = self.result
        published_at = utc_timestamp(self.now)
        verified = [(o.key, o) for o in objects]
        for provider, profile, pair_objects in pairs:
            desired = self.desired_pointer(run_id, len(pair_objects), prov, published_at, provider, profile)
            preview = self.plan_pointer(layout.pointer_key(self.prefix, provider, profile), desired)
            result["pointers"].append(dict(preview, changed=preview["action"] == "moved"))
            if preview["action"] != "held":
                latest = self.move_latest(provider, profile, run_id, verified)
                result["latest"].append(latest)
                result["changed"] = result["changed"] or bool(latest["copy"] or latest["delete"])
        desired = self.desired_pointer(run_id, len(objects), prov, published_at)
        preview = self.plan_pointer(layout.pointer_key(self.prefix), desired)
        result["pointers"].append(dict(preview, changed=preview["action"] == "moved"))
        result["changed"] = result["changed"] or any(p["changed"] for p in result["pointers"])
        result["pointers_moved"] = any(p["changed"] for p in result["pointers"])

    def _finish(self):
        result = self.result
        result["uploaded_count"] = len(result["uploaded"])
        result["copied_count"] = len(result["copied"])
        result["diff"] = {
            "before": dict((p["key"], p.get("before_run_id")) for p in result["pointers"]),
            "after": dict((p["key"], p.get("after_run_id")) for p in result["pointers"]),
        }
        held = [p for p in result["pointers"] if p.get("action") == "held"]
        if result.get("pointer_skip_reason"):
            pointer_word = "skipped"
        elif result["pointers_moved"]:
            pointer_word = "moved"
        elif held:
            pointer_word = "held"
        else:
            pointer_word = "unchanged"
        result["pointers_word"] = pointer_word
        if held:
            # The pointer that decides what readers see: last_success (moved last), else the first held pair.
            top = [p for p in held if p["key"] == layout.pointer_key(self.prefix)]
            result["pointers_held"] = [p["key"] for p in held]
            result["pointer_run_id"] = (top or held)[0].get("before_run_id")
        result["written_count"] = result["uploaded_count"] + result["copied_count"]
        return result


def _format(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None


def obj_etag(key, heads):
    head = (heads or {}).get(key)
    return head.get("etag") if head else None

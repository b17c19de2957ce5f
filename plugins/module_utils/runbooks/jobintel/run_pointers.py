# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a pointer to a published run must hold, and how it is checked.

Where runs and pointers live in the artifact bucket (``state/last_success.json``,
``state/<provider>/<profile>/last_success.json`` -> ``runs/<run_id>/...``) is ``layout.py``'s.

Pointers are read and written only through ``pointers.py`` (compare-and-swap). ``check_pointer``
tells the failure kinds apart with stable reason tokens: ``pointer_missing``, ``access_denied``,
``pointer_invalid``, ``target_missing``, ``target_incomplete``, ``latest_mismatch``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# The layout's names, kept here for callers that import them from run_pointers.
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.jobintel.layout import (  # noqa: F401 pylint: disable=unused-import
    LATEST, OUTBOX, POINTER_NAME, RUN_HEALTH, RUN_SUMMARY, RUNS, STATE, join, latest_prefix, outbox_prefix, pair_run_prefix,
    pointer_key, run_prefix, valid_run_id)
from ansible_collections.signalcraft.ops.plugins.module_utils.services import pointers
from ansible_collections.signalcraft.ops.plugins.module_utils.services import s3 as s3_transfer

POINTER_FIELDS = ("schema_version", "run_id", "provider", "profile", "target", "published_at", "object_count", "provenance")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
_TARGET = re.compile(r"^s3://(?P<bucket>[^/]+)/(?P<key>.*)$")


def pair_label(provider=None, profile=None):
    return "%s/%s" % (provider, profile) if provider and profile else "last_success"


def valid_name(name):
    return isinstance(name, str) and bool(_NAME.match(name))


def parse_target(target):
    """``(bucket, key_prefix)`` of an ``s3://bucket/key/`` target, or None when it is not one."""
    match = _TARGET.match(target or "") if isinstance(target, str) else None
    return (match.group("bucket"), match.group("key")) if match else None


def pointer_document(run_id, target, object_count, provenance, published_at, provider=None, profile=None):
    """A pointer.v1 document, field for field the format the seeded pointers have."""
    return {
        "schema_version": pointers.POINTER_SCHEMA_VERSION, "run_id": run_id, "provider": provider, "profile": profile,
        "target": target, "published_at": published_at, "object_count": int(object_count),
        "provenance": dict((k, provenance.get(k)) for k in ("git_sha", "image_digest", "ecs_task_arn")),
    }


def same_publication(current, desired):
    """True when ``current`` already says what ``desired`` says, apart from when it was published."""
    if not isinstance(current, dict):
        return False
    return all(current.get(k) == desired.get(k) for k in POINTER_FIELDS if k != "published_at")


def document_problems(document, provider=None, profile=None):
    """Every way ``document`` is not a pointer.v1 for this provider/profile (empty list when it is)."""
    problems = []
    missing = [k for k in POINTER_FIELDS if k not in document]
    if missing:
        problems.append("missing field(s) %s" % ", ".join(missing))
    if document.get("schema_version") != pointers.POINTER_SCHEMA_VERSION:
        problems.append("schema_version is %r, not %r" % (document.get("schema_version"), pointers.POINTER_SCHEMA_VERSION))
    if not valid_run_id(document.get("run_id")):
        problems.append("run_id %r is not a run id" % (document.get("run_id"),))
    if parse_target(document.get("target")) is None:
        problems.append("target %r is not an s3:// URI" % (document.get("target"),))
    count = document.get("object_count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        problems.append("object_count %r is not a non-negative integer" % (count,))
    if (document.get("provider"), document.get("profile")) != (provider, profile):
        problems.append("names provider/profile %s/%s, expected %s/%s" % (
            document.get("provider"), document.get("profile"), provider, profile))
    if not isinstance(document.get("provenance"), dict):
        problems.append("provenance is not an object")
    return problems


def _check(name, key, status, reason, detail, **extra):
    result = {"name": name, "pointer_key": key, "status": status, "reason": reason, "detail": detail}
    result.update(extra)
    return result


def _same_content(left, right):
    """Two head_checksum results hold the same bytes (SHA-256 when both have one, else the ETag)."""
    if left is None or right is None or left["size"] != right["size"]:
        return False
    if left["sha256"] and right["sha256"]:
        return left["sha256"] == right["sha256"]
    return bool(left["etag"]) and left["etag"] == right["etag"]


def _compare_latest(s3, bucket, target_bucket, target_prefix, latest, concurrency):
    """Keys that differ between ``latest`` and the pointer's target (missing, extra or other content)."""
    target_keys = s3_transfer.list_prefix(s3, target_bucket, target_prefix)
    latest_keys = s3_transfer.list_prefix(s3, bucket, latest)
    target_rel = set(k[len(target_prefix):] for k in target_keys)
    latest_rel = set(k[len(latest):] for k in latest_keys)
    differ = sorted(target_rel.symmetric_difference(latest_rel))
    common = sorted(target_rel & latest_rel)

    def pair(rel):
        return _same_content(s3_transfer.head_checksum(s3, target_bucket, target_prefix + rel),
                             s3_transfer.head_checksum(s3, bucket, latest + rel))

    same, errors = s3_transfer.parallel(pair, common, concurrency, stop_on_error=False)
    if errors:
        raise errors[0][1]
    differ.extend(rel for rel, ok in zip(common, same) if not ok)
    return sorted(differ)


def check_pointer(s3, bucket, prefix, provider=None, profile=None, check_latest=True, concurrency=8):
    """Verify one pointer: it exists, parses, and names objects that exist.

    Returns a check dict: ``name``, ``pointer_key``, ``status`` (ok|fail), ``reason`` (token or None),
    ``detail``, and when readable ``run_id``, ``target``, ``object_count``, ``found_count``.
    """
    name = pair_label(provider, profile)
    key = pointer_key(prefix, provider, profile)
    uri = pointers.s3_uri(bucket, key)
    try:
        current = pointers.read_pointer(s3, bucket, key)
    except pointers.PointerAccessDenied as exc:
        return _check(name, key, "fail", "access_denied", str(exc))
    except pointers.PointerInvalid as exc:
        return _check(name, key, "fail", "pointer_invalid", str(exc))
    except Exception as exc:  # botocore ClientError
        reason = s3_transfer.classify_error(exc)
        return _check(name, key, "fail", reason, "cannot read %s: %s" % (uri, exc))
    if current is None:
        return _check(name, key, "fail", "pointer_missing", "%s does not exist; publish a run (playbooks/publish.yml) "
                      "or restore it from the bucket's version history." % uri)
    document = current["document"]
    problems = document_problems(document, provider, profile)
    if problems:
        return _check(name, key, "fail", "pointer_invalid", "%s is not a valid pointer.v1: %s." % (uri, "; ".join(problems)),
                      run_id=document.get("run_id"))
    target_bucket, target_prefix = parse_target(document["target"])
    info = {"run_id": document["run_id"], "target": document["target"], "object_count": document["object_count"],
            "published_at": document.get("published_at"), "etag": current["etag"]}
    try:
        found = s3_transfer.list_prefix(s3, target_bucket, target_prefix)
    except Exception as exc:  # botocore ClientError
        reason = s3_transfer.classify_error(exc)
        reason = "target_missing" if reason == "bucket_not_found" else reason
        return _check(name, key, "fail", reason, "cannot list the target %s of %s: %s" % (document["target"], uri, exc), **info)
    info["found_count"] = len(found)
    if not found:
        return _check(name, key, "fail", "target_missing", "%s names %s (run %s) but no object exists there." % (
            uri, document["target"], document["run_id"]), **info)
    if len(found) < document["object_count"]:
        return _check(name, key, "fail", "target_incomplete", "%s names %s with object_count %d but only %d object(s) exist." % (
            uri, document["target"], document["object_count"], len(found)), **info)
    if check_latest and provider and profile:
        latest = latest_prefix(prefix, provider, profile)
        try:
            differ = _compare_latest(s3, bucket, target_bucket, target_prefix, latest, concurrency)
        except Exception as exc:  # botocore ClientError
            return _check(name, key, "fail", s3_transfer.classify_error(exc), "cannot compare %s with %s: %s" % (
                pointers.s3_uri(bucket, latest), document["target"], exc), **info)
        if differ:
            info["latest_differs"] = differ
            detail = (pointers.s3_uri(bucket, latest), uri, len(differ), ", ".join(differ[:5]), document["run_id"])
            return _check(name, key, "fail", "latest_mismatch",
                          "%s does not hold the run %s names (%d key(s) differ: %s); rerun the publish of run %s." % detail, **info)
    return _check(name, key, "ok", None, "%s -> %s (%d objects)" % (uri, document["target"], len(found)), **info)


def summarize(checks):
    """``(status, reason)``: ok, or fail with the first failing check's reason."""
    for check in checks:
        if check["status"] == "fail":
            return "fail", check["reason"]
    return "ok", None


def token_line(operation, status, reason=None):
    return "%s status=%s" % (operation, status) + (" reason=%s" % reason if reason else "")

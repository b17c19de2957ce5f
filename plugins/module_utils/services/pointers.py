# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pointers: small JSON objects in S3 that name something immutable, moved by compare-and-swap.

A pointer (``latest/...``, ``state/last_success.json``, ``control-plane/current.json``) is only
ever replaced with S3 conditional writes: ``If-Match: <etag it was read with>`` to move it,
``If-None-Match: *`` to create it. Two writers racing can therefore never lose an update: the
loser gets ``PointerConflict`` and re-reads. Rollback is a move back to a value from the bucket's
version history. This file imports nothing from Ansible so the sandbox seed can use it as well.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

try:
    from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
except ImportError:  # the sandbox seed imports this file as plugins.module_utils.services.pointers
    from ..core.errors import OpsError  # pylint: disable=relative-beyond-top-level

POINTER_SCHEMA_VERSION = "pointer.v1"
_CONFLICT_CODES = ("PreconditionFailed", "ConditionalRequestConflict", "412")
_MISSING_CODES = ("NoSuchKey", "404", "NotFound")
_DENIED_CODES = ("AccessDenied", "403", "Forbidden", "AllAccessDisabled")


class PointerError(OpsError):
    """Base class; ``reason`` is a stable token for status lines and receipts (an ``OpsError``).

    Raised with the message only (``PointerConflict("...")``); each subclass names its token.
    """

    reason = "pointer_error"

    def __init__(self, message, reason=None, details=None, changed_so_far=False):
        super(PointerError, self).__init__(reason or type(self).reason, message, details=details, changed_so_far=changed_so_far)


class PointerConflict(PointerError):
    """Someone else moved the pointer since it was read (or created it first)."""

    reason = "pointer_conflict"


class PointerAccessDenied(PointerError):
    """S3 refused to read or write the pointer (also what S3 answers for a missing key without s3:ListBucket)."""

    reason = "access_denied"


class PointerInvalid(PointerError):
    """The pointer object exists but is not a JSON object."""

    reason = "pointer_invalid"


def _code(exc):
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def serialize(document):
    """Canonical bytes so that equal documents have equal bodies (and ETags)."""
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")


def s3_uri(bucket, key):
    return "s3://%s/%s" % (bucket, key)


def read_pointer(s3, bucket, key, version_id=None):
    """Return ``{"document", "etag", "version_id", "last_modified"}`` or None when the key is absent.

    Raises PointerAccessDenied and PointerInvalid so callers can tell "pointer missing" from
    "access denied" from "not a pointer".
    """
    kwargs = {"Bucket": bucket, "Key": key}
    if version_id:
        kwargs["VersionId"] = version_id
    try:
        response = s3.get_object(**kwargs)
    except Exception as exc:  # botocore ClientError; its class lives on the client
        code = _code(exc)
        if code in _MISSING_CODES or code == "NoSuchVersion":
            return None
        if code in _DENIED_CODES:
            raise PointerAccessDenied("access denied reading %s (%s); the caller needs s3:GetObject (and s3:ListBucket "
                                      "to tell a missing pointer from a forbidden one)." % (s3_uri(bucket, key), code))
        raise
    body = response["Body"].read()
    try:
        document = json.loads(body.decode("utf-8"))
    except ValueError as exc:
        raise PointerInvalid("%s is not valid JSON: %s" % (s3_uri(bucket, key), exc))
    if not isinstance(document, dict):
        raise PointerInvalid("%s holds JSON %s, not an object." % (s3_uri(bucket, key), type(document).__name__))
    return {
        "document": document,
        "etag": response.get("ETag"),
        "version_id": response.get("VersionId"),
        "last_modified": response["LastModified"].isoformat() if response.get("LastModified") else None,
    }


def conditional_put(s3, bucket, key, document, if_match=None):
    """Create (``If-None-Match: *``) or replace (``If-Match: <if_match>``) the object; PointerConflict when it moved."""
    kwargs = {
        "Bucket": bucket, "Key": key, "Body": serialize(document),
        "ContentType": "application/json", "CacheControl": "no-cache",
    }
    if if_match:
        kwargs["IfMatch"] = if_match
    else:
        kwargs["IfNoneMatch"] = "*"
    try:
        response = s3.put_object(**kwargs)
    except Exception as exc:
        code = _code(exc)
        if code in _CONFLICT_CODES or (code in _MISSING_CODES and if_match):
            raise PointerConflict("%s changed since it was read (%s); re-read it and retry." % (s3_uri(bucket, key), code))
        if code in _DENIED_CODES:
            raise PointerAccessDenied("access denied writing %s (%s); the caller needs s3:PutObject." % (s3_uri(bucket, key), code))
        raise
    return {"etag": response.get("ETag"), "version_id": response.get("VersionId")}


def write_pointer(s3, bucket, key, document, expected_etag=None):
    """Set the pointer to ``document`` atomically.

    With ``expected_etag`` the write succeeds only if the pointer still has that ETag. Without it,
    the current value is read first and the write is conditional on that read (or on absence), so
    a concurrent writer still causes PointerConflict rather than a lost update. Writing the value
    the pointer already holds changes nothing. Returns ``{"changed", "etag", "version_id",
    "previous"}`` where ``previous`` is the replaced document (or None).
    """
    current = read_pointer(s3, bucket, key)
    if expected_etag is not None and (current is None or current["etag"] != expected_etag):
        raise PointerConflict("%s is no longer at ETag %s; re-read it and retry." % (s3_uri(bucket, key), expected_etag))
    if current is not None and current["document"] == document:
        return {"changed": False, "etag": current["etag"], "version_id": current["version_id"], "previous": current["document"]}
    written = conditional_put(s3, bucket, key, document, if_match=current["etag"] if current else None)
    written.update({"changed": True, "previous": current["document"] if current else None})
    return written


def move_pointer(s3, bucket, key, update, max_attempts=5):
    """Compare-and-swap loop: ``update(current_document_or_None) -> new document``.

    ``update`` is called again with the fresh value after each conflict, so it must be a pure
    function of its input. Returns write_pointer's result plus ``attempts``.
    """
    last_error = None
    for attempt in range(1, max_attempts + 1):
        current = read_pointer(s3, bucket, key)
        desired = update(current["document"] if current else None)
        try:
            result = write_pointer(s3, bucket, key, desired, expected_etag=current["etag"] if current else None) \
                if current else write_pointer(s3, bucket, key, desired)
        except PointerConflict as exc:
            last_error = exc
            continue
        result["attempts"] = attempt
        return result
    raise PointerConflict("gave up moving %s after %d conflicting writers: %s" % (s3_uri(bucket, key), max_attempts, last_error))


def pointer_history(s3, bucket, key, limit=20):
    """Earlier values of a pointer from the bucket's version history, newest first."""
    versions = []
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, Prefix=key):
        for version in page.get("Versions", []):
            if version["Key"] == key:
                versions.append({
                    "version_id": version["VersionId"], "etag": version.get("ETag"), "is_latest": version.get("IsLatest", False),
                    "last_modified": version["LastModified"].isoformat(),
                })
    versions.sort(key=lambda v: v["last_modified"], reverse=True)
    return versions[:limit]


def rollback_pointer(s3, bucket, key, version_id, expected_etag=None):
    """Move the pointer back to the value it had at ``version_id`` (a new version; history is kept)."""
    old = read_pointer(s3, bucket, key, version_id=version_id)
    if old is None:
        raise PointerError("%s has no version %s to roll back to." % (s3_uri(bucket, key), version_id))
    return write_pointer(s3, bucket, key, old["document"], expected_etag=expected_etag)

# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The control-plane bundle in S3: immutable bundle objects and the ``current.json`` pointer.

Bundles live at ``<prefix>/control-plane/bundles/<UTC timestamp>-<first 12 hex of sha256>.tar.gz``
and are never overwritten (``If-None-Match: *``). A bundle with the same sha256 is found again
instead of uploaded twice, so publishing unchanged content writes nothing. ``current.json`` names
one bundle by URI and sha256 and is moved only by compare-and-swap (pointers.py), after the bundle
it names is in S3.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.signalcraft.ops.plugins.module_utils.services import archives
from ansible_collections.signalcraft.ops.plugins.module_utils.services import pointers
from ansible_collections.signalcraft.ops.plugins.module_utils.services import s3 as s3_helpers
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import error_code
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr.backup import parse_s3_uri
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError, validate_s3_prefix

POINTER_SCHEMA_VERSION = "control_plane_pointer.v1"
POINTER_FIELDS = ("bundle_uri", "bundle_sha256", "created_at", "git_sha", "image_ref_digest")
SHORT_SHA_LEN = 12
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_META_SHA = "sha256"
_META_CREATED = "created-at"


_code = error_code


_join = s3_helpers.join_key


def require_bucket(bucket, variable="dr_bundle_bucket"):
    """The bundle bucket, or GuardError: empty is ``bucket_unset``, a ``REPLACE_`` value ``inventory_placeholder``.

    Checked before any client is built, so a half-filled inventory never reaches AWS.
    """
    if not bucket or not str(bucket).strip():
        raise GuardError("bucket_unset", "%s is empty; set the artifact bucket in inventories/<env>/group_vars/all/ "
                                         "(jobintel_bucket) or pass -e %s=<bucket>. Nothing was changed." % (variable, variable))
    if "REPLACE_" in str(bucket):
        raise GuardError("inventory_placeholder", "%s is still the placeholder %r; set it in inventories/<env>/group_vars/all/ "
                                                  "or pass -e %s=<bucket>. Nothing was changed." % (variable, bucket, variable))
    return bucket


def require_location(bucket, prefix):
    """The bundle bucket and key prefix (``dr_bundle_bucket``, ``dr_bundle_prefix``), checked before any client is built."""
    return require_bucket(bucket, "dr_bundle_bucket"), validate_s3_prefix(prefix, option_name="dr_bundle_prefix")


def pointer_key(prefix):
    return _join(prefix, "control-plane", "current.json")


def bundles_prefix(prefix):
    return _join(prefix, "control-plane", "bundles") + "/"


def bundle_key(prefix, timestamp, sha256):
    return "%s%s-%s.tar.gz" % (bundles_prefix(prefix), timestamp, sha256[:SHORT_SHA_LEN])


def find_bundle(s3, bucket, prefix, sha256):
    """An already uploaded bundle with this sha256: ``{"key", "created_at"}`` or None."""
    suffix = "-%s.tar.gz" % sha256[:SHORT_SHA_LEN]
    candidates = [key for key in s3_helpers.list_keys(s3, bucket, bundles_prefix(prefix)) if key.endswith(suffix)]
    for key in sorted(candidates):
        metadata = s3.head_object(Bucket=bucket, Key=key).get("Metadata", {})
        if metadata.get(_META_SHA) == sha256:
            return {"key": key, "created_at": metadata.get(_META_CREATED)}
    return None


def _named_bundle(s3, bucket, document, sha256):
    try:
        named_bucket, key = parse_s3_uri(document.get("bundle_uri"), "bundle_uri", want_key=True)
        if named_bucket != bucket:
            return None
        metadata = s3.head_object(Bucket=bucket, Key=key).get("Metadata", {})
    except GuardError:
        return None
    except Exception as exc:  # botocore ClientError: the named object is gone
        if _code(exc) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    if metadata.get(_META_SHA) != sha256:
        return None
    return {"key": key, "created_at": document.get("created_at") or metadata.get(_META_CREATED)}


def pointer_document(bucket, key, sha256, created_at, git_sha, image_ref_digest):
    return {
        "schema_version": POINTER_SCHEMA_VERSION,
        "bundle_uri": "s3://%s/%s" % (bucket, key),
        "bundle_sha256": sha256,
        "created_at": created_at,
        "git_sha": git_sha,
        "image_ref_digest": image_ref_digest,
    }


def publish(s3, bucket, prefix, bundle, git_sha, image_ref_digest, now, check_mode=False):
    """Upload the bundle (unless its sha256 is already there) and move ``current.json`` to it.

    ``now`` is a receipt timestamp (``YYYY-MM-DDTHH:MM:SS.mmmZ``). Returns ``{"changed", "uploaded",
    "bundle_key", "bundle_uri", "pointer_key", "before", "after"}``. Raises PointerConflict when
    another publisher moved the pointer between our read and our write.
    """
    key_of_pointer = pointer_key(prefix)
    try:
        current = pointers.read_pointer(s3, bucket, key_of_pointer)
    except pointers.PointerError as exc:
        raise GuardError(exc.reason, str(exc))
    existing = None
    if current and current["document"].get("bundle_sha256") == bundle["sha256"]:
        # Prefer the object the pointer already names, so an identical re-publish changes nothing.
        existing = _named_bundle(s3, bucket, current["document"], bundle["sha256"])
    existing = existing or find_bundle(s3, bucket, prefix, bundle["sha256"])
    uploaded = False
    if existing:
        key, created_at = existing["key"], existing["created_at"] or now
    else:
        stamp = now[:19].replace("-", "").replace(":", "") + "Z"
        key, created_at = bundle_key(prefix, stamp, bundle["sha256"]), now
        if not check_mode:
            try:
                s3.put_object(Bucket=bucket, Key=key, Body=bundle["archive"], ContentType="application/gzip", IfNoneMatch="*",
                              Metadata={_META_SHA: bundle["sha256"], _META_CREATED: created_at})
            except Exception as exc:  # botocore ClientError: someone uploaded this very key in the same second
                if _code(exc) not in ("PreconditionFailed", "412"):
                    raise
            uploaded = True
    desired = pointer_document(bucket, key, bundle["sha256"], created_at, git_sha, image_ref_digest)
    before = current["document"] if current else None
    changed = uploaded or before != desired
    if before != desired and not check_mode:
        try:
            pointers.write_pointer(s3, bucket, key_of_pointer, desired, expected_etag=current["etag"] if current else None)
        except pointers.PointerError as exc:
            # The bundle may already be uploaded: say so (changed_so_far), the pointer did not move.
            raise OpsError(exc.reason, "%s; current.json was not moved, rerun the publish." % exc,
                           details={"bundle_uri": desired["bundle_uri"], "uploaded": uploaded}, changed_so_far=uploaded)
    return {"changed": changed, "uploaded": uploaded or (check_mode and not existing), "bundle_key": key,
            "bundle_uri": desired["bundle_uri"], "pointer_key": key_of_pointer,
            "pointer_uri": "s3://%s/%s" % (bucket, key_of_pointer), "before": before, "after": desired}


def read_current(s3, bucket, prefix):
    """``current.json`` as ``{"document", "etag", ...}``; GuardError telling the operator to publish first."""
    key = pointer_key(prefix)
    try:
        current = pointers.read_pointer(s3, bucket, key)
    except pointers.PointerError as exc:
        raise GuardError(exc.reason, str(exc))
    if current is None:
        raise GuardError("control_plane_pointer_missing",
                         "s3://%s/%s does not exist: publish from primary first (ansible-playbook playbooks/publish_bundle.yml), "
                         "then rerun. Nothing was changed." % (bucket, key))
    document = current["document"]
    missing = [f for f in ("bundle_uri", "bundle_sha256") if not document.get(f)]
    if missing or not _SHA256.match(str(document.get("bundle_sha256"))):
        raise GuardError("control_plane_pointer_invalid", "s3://%s/%s lacks a bundle_uri or a 64-hex bundle_sha256; republish "
                                                          "from primary." % (bucket, key))
    parse_s3_uri(document["bundle_uri"], "current.json bundle_uri", want_key=True)
    return current


def download_bundle(s3, bundle_uri):
    """The bundle's bytes; GuardError ``bundle_object_missing`` when current.json names a missing object."""
    bucket, key = parse_s3_uri(bundle_uri, "bundle_uri", want_key=True)
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:
        if _code(exc) in ("NoSuchKey", "404", "NotFound"):
            raise GuardError("bundle_object_missing", "%s (named by current.json) does not exist; republish from primary." % bundle_uri)
        raise


def verify_sha256(data, expected, label):
    actual = archives.sha256_hex(data)
    if actual != expected:
        raise GuardError("bundle_hash_mismatch", "%s has sha256 %s but current.json says %s; republish from primary. "
                                                 "Nothing was applied." % (label, actual, expected))
    return actual

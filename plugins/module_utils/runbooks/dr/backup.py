# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DR backup contract and reading a backup's archives.

A backup at ``s3://<bucket>/<prefix>/backups/<backup_id>/`` holds ``metadata.json``
(``backup_metadata.v1``: per-object sha256 and size), ``state.tar.zst`` and ``manifests.tar.zst``.
Restore trusts none of it until every object exists, is non-empty, the metadata parses and the
checksums it lists match -- all checked before the cluster is touched.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import re

from ansible_collections.signalcraft.ops.plugins.module_utils.services import archives
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import scheduling
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import error_code

METADATA = "metadata.json"
STATE_ARCHIVE = "state.tar.zst"
MANIFESTS_ARCHIVE = "manifests.tar.zst"
CONTRACT_OBJECTS = (METADATA, STATE_ARCHIVE, MANIFESTS_ARCHIVE)
_S3_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(?P<key>.*))?$")
_SHA256 = re.compile(r"^(?:sha256:)?(?P<hex>[0-9a-fA-F]{64})$")
_MISSING = ("404", "NoSuchKey", "NotFound")
_DENIED = ("403", "AccessDenied", "Forbidden")
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
# Server-populated metadata a backup of live objects may carry; applying it back is refused or meaningless.
_SERVER_METADATA = ("resourceVersion", "uid", "creationTimestamp", "managedFields", "generation", "selfLink", "deletionTimestamp",
                    "deletionGracePeriodSeconds", "ownerReferences")


_code = error_code


def argument_spec():
    """The options of the modules that read a backup (documented by doc fragment signalcraft.ops.dr_backup)."""
    return dict(backup_uri=dict(type="str", required=True), verify_checksums=dict(type="bool", default=True),
                require_checksums=dict(type="bool", default=False))


def parse_s3_uri(uri, option_name="uri", want_key=False):
    """``(bucket, key)`` of ``s3://bucket/key``; the key loses surrounding slashes. GuardError when malformed.

    A ``REPLACE_`` placeholder from an unfilled inventory is ``inventory_placeholder``, like an unset bucket elsewhere.
    """
    if uri and "REPLACE_" in str(uri):
        raise GuardError("inventory_placeholder", "%s is still the placeholder %r; set it in inventories/<env>/group_vars/all/ "
                                                  "or pass -e %s=s3://<bucket>/<key>. Nothing was changed." % (option_name, uri, option_name))
    match = _S3_URI.match(uri or "")
    if not match:
        raise GuardError("invalid_s3_uri", "%s %r is not an s3://<bucket>/<key> URI." % (option_name, uri))
    key = (match.group("key") or "").strip("/")
    if ".." in key.split("/") or "//" in key:
        raise GuardError("invalid_s3_uri", "%s %r must not contain '..' or '//' in its key." % (option_name, uri))
    if want_key and not key:
        raise GuardError("invalid_s3_uri", "%s %r names a bucket but no object key." % (option_name, uri))
    return match.group("bucket"), key


def _join(prefix, name):
    return "%s/%s" % (prefix, name) if prefix else name


def head(s3, bucket, key, label):
    """HeadObject; GuardError ``backup_object_missing``/``access_denied`` with the URI in the message."""
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except Exception as exc:  # botocore ClientError
        code = _code(exc)
        if code in _MISSING:
            raise GuardError("backup_object_missing", "%s s3://%s/%s does not exist; the backup is incomplete -- pick another "
                                                      "dr_bundle_backup_uri or rerun the backup. Nothing was changed." % (label, bucket, key))
        if code in _DENIED:
            raise GuardError("access_denied", "access denied reading s3://%s/%s (%s); the caller needs s3:GetObject." % (bucket, key, code))
        raise


def get_bytes(s3, bucket, key):
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def expected_checksums(metadata):
    """``{object name: {"sha256": hex or None, "size": int or None}}`` from the metadata's ``objects``
    (backup_metadata.v1) or a flat ``checksums``/``sha256`` map."""
    found = {}
    objects = metadata.get("objects")
    if isinstance(objects, dict):
        for name, value in objects.items():
            if isinstance(value, dict):
                found[name] = {"sha256": value.get("sha256"), "size": value.get("size")}
            elif isinstance(value, str):
                found[name] = {"sha256": value, "size": None}
    for field in ("checksums", "sha256"):
        if isinstance(metadata.get(field), dict):
            for name, value in metadata[field].items():
                found.setdefault(name, {"sha256": value, "size": None})
    result = {}
    for name, entry in found.items():
        sha = entry["sha256"]
        if sha is not None:
            match = _SHA256.match(str(sha))
            if not match:
                raise GuardError("backup_metadata_invalid", "metadata.json lists %r as the sha256 of %s; expected 64 hex digits." % (sha, name))
            sha = match.group("hex").lower()
        size = entry["size"]
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            raise GuardError("backup_metadata_invalid", "metadata.json lists %r as the size of %s; expected a non-negative integer." % (size, name))
        result[name] = {"sha256": sha, "size": size}
    return result


def load_backup(s3, backup_uri, verify_checksums=True, require_checksums=False, fetch=()):
    """Check the backup contract; return ``{"contract": {...}, "blobs": {name: bytes}}``.

    ``contract`` holds the bucket, prefix, each object's key/size/sha256/verified and a metadata
    summary. Archives are downloaded when ``verify_checksums`` or when named in ``fetch``. Every
    failure is a GuardError raised before the caller writes anything.
    """
    bucket, prefix = parse_s3_uri(backup_uri, "dr_bundle_backup_uri")
    objects, blobs = {}, {}
    for name in CONTRACT_OBJECTS:
        key = _join(prefix, name)
        response = head(s3, bucket, key, name)
        size = response.get("ContentLength", 0)
        if not size:
            raise GuardError("backup_object_empty", "%s s3://%s/%s is empty; the backup is incomplete -- pick another "
                                                    "dr_bundle_backup_uri or rerun the backup. Nothing was changed." % (name, bucket, key))
        modified = response.get("LastModified")
        # LastModified: the backup's recovery point when metadata.json records no created_at (drill RPO).
        objects[name] = {"key": key, "uri": "s3://%s/%s" % (bucket, key), "size": size, "sha256": None, "verified": False,
                         "last_modified": modified.isoformat() if hasattr(modified, "isoformat") else modified}
    blobs[METADATA] = get_bytes(s3, bucket, objects[METADATA]["key"])
    try:
        metadata = json.loads(blobs[METADATA].decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise GuardError("backup_metadata_invalid", "%s is not valid JSON (%s); the backup cannot be trusted. Nothing was changed." % (
            objects[METADATA]["uri"], exc))
    if not isinstance(metadata, dict):
        raise GuardError("backup_metadata_invalid", "%s holds JSON %s, not an object." % (objects[METADATA]["uri"], type(metadata).__name__))
    expected = expected_checksums(metadata)
    objects[METADATA]["sha256"] = archives.sha256_hex(blobs[METADATA])
    for name in (STATE_ARCHIVE, MANIFESTS_ARCHIVE):
        want = expected.get(name, {})
        if require_checksums and not want.get("sha256"):
            raise GuardError("backup_checksum_missing", "metadata.json lists no sha256 for %s and "
                                                        "dr_bundle_require_checksums is set; rerun the backup with checksums." % name)
        if want.get("size") is not None and want["size"] != objects[name]["size"]:
            raise GuardError("backup_checksum_mismatch", "%s is %d bytes but metadata.json says %d; the object was changed after the "
                                                         "backup. Nothing was changed." % (objects[name]["uri"], objects[name]["size"], want["size"]))
        if not (verify_checksums or name in fetch):
            continue
        data = get_bytes(s3, bucket, objects[name]["key"])
        actual = archives.sha256_hex(data)
        objects[name]["sha256"] = actual
        if verify_checksums and want.get("sha256"):
            if actual != want["sha256"]:
                raise GuardError("backup_checksum_mismatch", "%s has sha256 %s but metadata.json says %s; the object was changed after "
                                                             "the backup. Nothing was changed." % (objects[name]["uri"], actual, want["sha256"]))
            objects[name]["verified"] = True
        blobs[name] = data
    summary = {k: metadata.get(k) for k in ("schema_version", "backup_id", "created_at", "namespace", "source_cluster", "image_ref_digest")}
    contract = {"backup_uri": backup_uri, "bucket": bucket, "prefix": prefix, "objects": objects, "metadata": summary,
                "checksums_listed": sorted(n for n, v in expected.items() if v.get("sha256"))}
    return {"contract": contract, "blobs": blobs}


def manifests_from_archive(data):
    """The Kubernetes objects in ``manifests.tar.zst``, in archive path order (each file's documents in order)."""
    import yaml

    files = archives.read_members(archives.decompress(data, "zst"), label=MANIFESTS_ARCHIVE)
    documents = []
    for path in sorted(files):
        if not path.endswith(MANIFEST_SUFFIXES):
            continue
        try:
            loaded = list(yaml.safe_load_all(files[path].decode("utf-8")))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise GuardError("backup_manifest_invalid", "%s in %s is not valid YAML: %s" % (path, MANIFESTS_ARCHIVE, exc))
        for index, doc in enumerate(loaded):
            if doc is None:
                continue
            items = doc.get("items") if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") else [doc]
            for item in items or []:
                if not isinstance(item, dict) or not item.get("apiVersion") or not item.get("kind") \
                        or not (item.get("metadata") or {}).get("name"):
                    raise GuardError("backup_manifest_invalid", "%s document %d in %s lacks apiVersion, kind or metadata.name." % (
                        path, index, MANIFESTS_ARCHIVE))
                documents.append({"source": path, "manifest": item})
    if not documents:
        raise GuardError("backup_manifest_invalid", "%s holds no Kubernetes manifests (.yaml/.yml/.json files)." % MANIFESTS_ARCHIVE)
    return documents


# Labels the Job controller adds to a Job's selector and pod template when it generates the selector.
_JOB_CONTROLLER_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid")


def controller_owned(manifest):
    """True for an object a controller made (a Job's Pods, a Deployment's ReplicaSets, a CronJob's Jobs).

    Restoring it would leave an orphan next to the one its owner recreates, so restores skip it.
    """
    refs = (manifest.get("metadata") or {}).get("ownerReferences") or []
    return any(isinstance(ref, dict) and ref.get("controller") for ref in refs)


def prepare_manifest(manifest, namespace):
    """A copy ready to apply: target namespace, no server-populated fields, CronJobs always suspended.

    DR scheduling starts only when promote resumes it (scheduling.py): a CronJob restore suspends is
    marked so, and promote resumes exactly those.

    A Job whose selector the API server generated (no ``manualSelector``) loses that selector and the
    controller-uid labels: they name the old Job's uid, and the API server refuses a Job that brings
    them without ``manualSelector: true``.
    """
    prepared = copy.deepcopy(manifest)
    prepared.pop("status", None)
    metadata = prepared.setdefault("metadata", {})
    for name in _SERVER_METADATA:
        metadata.pop(name, None)
    metadata["namespace"] = namespace
    batch = str(prepared.get("apiVersion", "")).startswith("batch/")
    if prepared.get("kind") == "CronJob" and batch:
        scheduling.suspend_for_restore(prepared)
    if prepared.get("kind") == "Job" and batch and not (prepared.get("spec") or {}).get("manualSelector"):
        spec = prepared.setdefault("spec", {})
        spec.pop("selector", None)
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        for label in _JOB_CONTROLLER_LABELS:
            labels.pop(label, None)
    return prepared


def state_files(data):
    """``{path: bytes}`` of ``state.tar.zst``, every member checked before anything is returned."""
    return archives.read_members(archives.decompress(data, "zst"), label=STATE_ARCHIVE)

# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run manifests of the pipeline: one ``manifest.json`` per step (asset) of a partition's run.

Layout under the manifest root (a local directory or ``s3://<bucket>/<prefix>``)::

    <asset>/<partition_key>=<value>/run=<run_id>/manifest.json     one step of one run
    backfills/<backfill_id>/summary.json                            one backfill (pipeline_backfill)

A partition's ``run_id`` is shared by all its steps; a step writes only under its own ``run=<run_id>/``
directory, so a retry in place (same ``run_id``) or a new run (new ``run_id``) never needs a cleanup.

``MANIFEST_V1_SCHEMA`` is the one definition of ``pipeline_manifest.v1``;
``schemas/pipeline_manifest.v1.json`` is generated from it (``make schemas``). ``validate`` implements
the JSON Schema subset the schema uses (no network, no jsonschema library on the host), and every
write and every read goes through it. The functions above the "stores" line are pure; the stores do
the I/O (local: temp file + fsync + rename; S3: the services/s3.py helpers).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

from ansible_collections.signalcraft.ops.plugins.module_utils.core import schema as json_schema
from ansible_collections.signalcraft.ops.plugins.module_utils.core import receipts
from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.services import s3 as s3_service

MANIFEST_SCHEMA_VERSION = "pipeline_manifest.v1"
SUMMARY_SCHEMA_VERSION = "pipeline_backfill_summary.v1"
MANIFEST_NAME = "manifest.json"
STATUSES = ("running", "success", "failed", "skipped")
FAILURE_CLASSES = ("network", "missing_input", "contract", "permission", "port_conflict", "stale_snapshot", "timeout", "unknown")
CATEGORIES = ("A", "B", "C")

# Names that become path components: never '/', never '..', never empty.
ASSET_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
PARTITION_KEY_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
PARTITION_VALUE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
RUN_ID_PATTERN = r"^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
_TIMESTAMP = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$"
_SHA256 = r"^[0-9a-f]{64}$"

_NULLABLE_TIMESTAMP = {"type": ["string", "null"], "pattern": _TIMESTAMP}

MANIFEST_V1_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://signalcraft.invalid/schemas/pipeline_manifest.v1.json",
    "title": "signalcraft.ops pipeline_manifest.v1",
    "description": "One step (asset) of one pipeline run of one partition: what it read, wrote, checked, and how it ended.",
    "type": "object",
    "additionalProperties": False,
    "required": [
        "schema_version", "asset", "partition", "run_id", "run_as_of_ts", "status", "attempts", "attempt_history",
        "started_at", "finished_at", "duration_s", "executor", "inputs", "outputs", "checks", "failure", "skip_reason",
        "backfill_id", "execution_id",
    ],
    "properties": {
        "schema_version": {"type": "string", "enum": [MANIFEST_SCHEMA_VERSION]},
        "asset": {"type": "string", "pattern": ASSET_PATTERN},
        "partition": {
            "type": "object", "additionalProperties": False, "required": ["key", "value"],
            "properties": {"key": {"type": "string", "pattern": PARTITION_KEY_PATTERN},
                           "value": {"type": "string", "pattern": PARTITION_VALUE_PATTERN}},
        },
        "run_id": {"type": "string", "pattern": RUN_ID_PATTERN},
        "run_as_of_ts": {"type": "string", "pattern": _TIMESTAMP},
        "status": {"type": "string", "enum": list(STATUSES)},
        "attempts": {"type": "integer", "minimum": 0},
        "attempt_history": {
            "type": "array",
            "items": {
                "type": "object", "additionalProperties": False,
                "required": ["attempt", "started_at", "finished_at", "exit_code", "failure_class"],
                "properties": {
                    "attempt": {"type": "integer", "minimum": 1},
                    "started_at": {"type": "string", "pattern": _TIMESTAMP},
                    "finished_at": _NULLABLE_TIMESTAMP,
                    "exit_code": {"type": ["integer", "null"]},
                    "failure_class": {"type": ["string", "null"], "enum": list(FAILURE_CLASSES) + [None]},
                },
            },
        },
        "started_at": {"type": "string", "pattern": _TIMESTAMP},
        "finished_at": _NULLABLE_TIMESTAMP,
        "duration_s": {"type": ["number", "null"], "minimum": 0},
        "executor": {
            "type": "object", "additionalProperties": False, "required": ["kind", "ref"],
            "properties": {"kind": {"type": "string", "enum": ["local", "ecs", "prefect"]},
                           "ref": {"type": ["string", "null"]},
                           "detail": {"type": "object"}},
        },
        "inputs": {
            "type": "array",
            "items": {
                "type": "object", "additionalProperties": False, "required": ["asset", "run_id", "manifest", "status"],
                "properties": {"asset": {"type": "string", "pattern": ASSET_PATTERN},
                               "run_id": {"type": "string", "pattern": RUN_ID_PATTERN},
                               "manifest": {"type": "string", "minLength": 1},
                               "status": {"type": "string", "enum": list(STATUSES)}},
            },
        },
        "outputs": {
            "type": "array",
            "items": {
                "type": "object", "additionalProperties": False, "required": ["path", "bytes", "sha256", "rows"],
                "properties": {"path": {"type": "string", "minLength": 1},
                               "bytes": {"type": "integer", "minimum": 0},
                               "sha256": {"type": ["string", "null"], "pattern": _SHA256},
                               "rows": {"type": ["integer", "null"], "minimum": 0}},
            },
        },
        "checks": {
            "type": "array",
            "items": {
                "type": "object", "additionalProperties": False, "required": ["name", "status"],
                "properties": {"name": {"type": "string", "minLength": 1},
                               "status": {"type": "string", "enum": ["pass", "fail", "warn"]},
                               "detail": {"type": ["string", "null"]}},
            },
        },
        "failure": {
            "type": ["object", "null"], "additionalProperties": False,
            "required": ["reason", "class", "category", "message"],
            "properties": {"reason": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9_]*$"},
                           "class": {"type": "string", "enum": list(FAILURE_CLASSES)},
                           "category": {"type": "string", "enum": list(CATEGORIES)},
                           "message": {"type": "string"},
                           "action": {"type": ["string", "null"]},
                           "upstream_asset": {"type": ["string", "null"]},
                           "log_tail": {"type": ["string", "null"]}},
        },
        "skip_reason": {"type": ["string", "null"]},
        "backfill_id": {"type": ["string", "null"], "pattern": RUN_ID_PATTERN},
        "execution_id": {"type": ["string", "null"]},
        # Optional (manifests written before model promotion have none): the model runs the step was
        # handed, read from <pointer_root>/<model>_current_run.json when its partition's run started.
        "models": {
            "type": "array",
            "items": {
                "type": "object", "additionalProperties": False, "required": ["model", "run_id", "selector"],
                "properties": {"model": {"type": "string", "pattern": ASSET_PATTERN},
                               "run_id": {"type": ["string", "null"], "minLength": 1},
                               "artifact_uri": {"type": ["string", "null"]},
                               "selector": {"type": ["string", "null"]},
                               "selector_etag": {"type": ["string", "null"]}},
            },
        },
    },
    "allOf": [
        {"if": {"properties": {"status": {"const": "failed"}}},
         "then": {"properties": {"failure": {"type": "object"}}}},
        {"if": {"properties": {"status": {"const": "success"}}},
         "then": {"properties": {"failure": {"type": "null"}, "finished_at": {"type": "string"}}}},
        {"if": {"properties": {"status": {"const": "skipped"}}},
         "then": {"properties": {"skip_reason": {"type": "string", "minLength": 1}}}},
    ],
}


class ManifestError(OpsError):
    """A manifest (or summary) does not match its schema, or cannot be read or written."""

    def __init__(self, reason, message, details=None, changed_so_far=False):
        super(ManifestError, self).__init__(reason, message, details=details, changed_so_far=changed_so_far)


# ---------------------------------------------------------------- validation (pure)

def problems_of(document, schema=None):
    """Every way ``document`` differs from the schema (default pipeline_manifest.v1), as strings."""
    return json_schema.problems_of(document, schema or MANIFEST_V1_SCHEMA, "manifest")


def validate(document, where="manifest"):
    """``document`` when it is a valid pipeline_manifest.v1; ManifestError(manifest_invalid) otherwise."""
    problems = problems_of(document)
    if problems:
        raise ManifestError("manifest_invalid", "%s is not a valid %s: %s" % (where, MANIFEST_SCHEMA_VERSION, "; ".join(problems[:8])),
                            details={"problems": problems})
    return document


def valid_name(value, pattern):
    return isinstance(value, str) and re.match(pattern, value) is not None


def require_name(value, pattern, what, variable):
    """``value`` when it is a safe path component of the form ``pattern``; ManifestError(pipeline_id_invalid) otherwise."""
    if not valid_name(value, pattern):
        raise ManifestError("pipeline_id_invalid", "%s %r is not allowed (it becomes a path component: letters, digits, '_', '.', '-', "
                                                   "no '..' or '/'); fix -e %s." % (what, value, variable))
    return value


# ---------------------------------------------------------------- building (pure)

def partition_dir(asset, partition_key, partition_value, run_id):
    """``<asset>/<partition_key>=<value>/run=<run_id>`` (validated: no traversal)."""
    require_name(asset, ASSET_PATTERN, "asset", "assets")
    require_name(partition_key, PARTITION_KEY_PATTERN, "partition key", "pipeline_partition_key")
    require_name(partition_value, PARTITION_VALUE_PATTERN, "partition", "start / -e end / -e partition")
    require_name(run_id, RUN_ID_PATTERN, "run_id", "run_id")
    return "%s/%s=%s/run=%s" % (asset, partition_key, partition_value, run_id)


def manifest_path(asset, partition_key, partition_value, run_id):
    """The manifest's path relative to the manifest root."""
    return "%s/%s" % (partition_dir(asset, partition_key, partition_value, run_id), MANIFEST_NAME)


def runs_prefix(asset, partition_key, partition_value):
    """``<asset>/<partition_key>=<value>/``: where the partition's runs of an asset are listed."""
    require_name(asset, ASSET_PATTERN, "asset", "assets")
    require_name(partition_value, PARTITION_VALUE_PATTERN, "partition", "partition")
    return "%s/%s=%s/" % (asset, partition_key, partition_value)


def summary_path(backfill_id):
    require_name(backfill_id, RUN_ID_PATTERN, "backfill_id", "backfill_id")
    return "backfills/%s/summary.json" % backfill_id


def build(asset, partition_key, partition_value, run_id, run_as_of_ts, status, started_at, executor_kind, executor_ref=None,
          executor_detail=None, finished_at=None, duration_s=None, attempts=1, attempt_history=None, inputs=None, outputs=None,
          checks=None, failure=None, skip_reason=None, backfill_id=None, execution_id=None, models=None):
    """A validated pipeline_manifest.v1 document (ManifestError(manifest_invalid) when a field is wrong).

    ``models`` (only for a step that uses models): ``[{"model", "run_id", "artifact_uri", "selector", "selector_etag"}]``.
    """
    executor = {"kind": executor_kind, "ref": executor_ref}
    if executor_detail:
        executor["detail"] = executor_detail
    document = {
        "schema_version": MANIFEST_SCHEMA_VERSION, "asset": asset,
        "partition": {"key": partition_key, "value": partition_value},
        "run_id": run_id, "run_as_of_ts": run_as_of_ts, "status": status,
        "attempts": attempts, "attempt_history": list(attempt_history or []),
        "started_at": started_at, "finished_at": finished_at,
        "duration_s": None if duration_s is None else round(float(duration_s), 3),
        "executor": executor, "inputs": list(inputs or []), "outputs": list(outputs or []), "checks": list(checks or []),
        "failure": failure, "skip_reason": skip_reason, "backfill_id": backfill_id, "execution_id": execution_id,
    }
    if models:
        document["models"] = [dict((k, m.get(k)) for k in ("model", "run_id", "artifact_uri", "selector", "selector_etag")) for m in models]
    return validate(document, "manifest of %s %s=%s run=%s" % (asset, partition_key, partition_value, run_id))


def serialize(document):
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")


def parse(data, where):
    """The validated manifest in ``data`` (bytes); ManifestError(manifest_invalid) when it is not one."""
    try:
        document = json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)
    except ValueError as exc:
        raise ManifestError("manifest_invalid", "%s is not JSON (%s); the step that wrote it was interrupted or it was edited by hand: "
                                                "rerun the partition (a new run never needs it)." % (where, exc))
    return validate(document, where)


def succeeded(document):
    return bool(document) and document.get("status") == "success"


# ---------------------------------------------------------------- stores (I/O)

def parse_root(root):
    """``("s3", bucket, prefix)`` for ``s3://bucket/prefix``, ``("local", path, "")`` for an absolute path."""
    text = (root or "").strip()
    if text.startswith("s3://"):
        try:
            bucket, prefix = s3_service.parse_uri(text)
        except ValueError:
            bucket, prefix = "", ""
        if not bucket or ".." in prefix.split("/") or "//" in prefix:
            raise ManifestError("manifest_root_invalid", "pipeline_manifest_root %r is not s3://<bucket>/<prefix>; fix "
                                                         "signalcraft_pipeline_manifest_root in the inventory (or -e pipeline_manifest_root)." % root)
        return "s3", bucket, prefix.strip("/")
    if not text or not os.path.isabs(os.path.expanduser(text)):
        raise ManifestError("manifest_root_invalid", "pipeline_manifest_root %r is neither an absolute directory nor s3://<bucket>/<prefix>; "
                                                     "set signalcraft_pipeline_manifest_root in the inventory (or -e pipeline_manifest_root)." % root)
    return "local", os.path.abspath(os.path.expanduser(text)), ""


class LocalStore:
    """Manifests under a local directory; every write is atomic (temp file + fsync + rename)."""

    kind = "local"

    def __init__(self, root):
        self.root = root

    def uri(self, rel):
        return os.path.join(self.root, rel)

    def write_bytes(self, rel, data):
        path = self.uri(rel)
        try:
            receipts.write_atomic(path, data, mode=0o644)
        except OSError as exc:
            raise ManifestError("local_write_failed", "cannot write %s (%s); fix the directory's permissions or space, or point "
                                                      "signalcraft_pipeline_manifest_root elsewhere." % (path, exc))
        return path

    def read_bytes(self, rel):
        try:
            with open(self.uri(rel), "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def list_dirs(self, rel):
        """Names of the sub-directories of ``rel`` (sorted)."""
        try:
            return sorted(name for name in os.listdir(self.uri(rel)) if os.path.isdir(os.path.join(self.uri(rel), name)))
        except (FileNotFoundError, NotADirectoryError):
            return []


class S3Store(s3_service.Location):
    """Manifests under ``s3://<bucket>/<prefix>/`` (one PutObject per document: S3 writes are atomic)."""

    def write_bytes(self, rel, data):
        self.client.put_object(Bucket=self.bucket, Key=self.key(rel), Body=data, ContentType="application/json")
        return self.uri(rel)

    def read_bytes(self, rel):
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.key(rel))["Body"].read()
        except Exception as exc:  # botocore ClientError
            if s3_service.error_code(exc) in s3_service.ALREADY_GONE:
                return None
            raise

    def list_dirs(self, rel):
        base = self.key(rel).rstrip("/") + "/"
        return sorted(p[len(base):].strip("/") for p in s3_service.list_common_prefixes(self.client, self.bucket, base))


def open_store(root, s3_client_factory=None):
    """The store of ``root``; ``s3_client_factory()`` builds the S3 client only for an s3:// root."""
    kind, where, prefix = parse_root(root)
    if kind == "s3":
        return S3Store(s3_client_factory(), where, prefix)
    return LocalStore(where)


def write_manifest(store, document):
    """Validate and write ``document`` at its place; returns its path or URI."""
    validate(document)
    rel = manifest_path(document["asset"], document["partition"]["key"], document["partition"]["value"], document["run_id"])
    return store.write_bytes(rel, serialize(document))


def read_manifest(store, asset, partition_key, partition_value, run_id):
    """The validated manifest, or None when the step never wrote one for that run."""
    rel = manifest_path(asset, partition_key, partition_value, run_id)
    data = store.read_bytes(rel)
    return None if data is None else parse(data, store.uri(rel))


def run_ids(store, asset, partition_key, partition_value):
    """The run ids that have a directory for ``asset`` in the partition (sorted)."""
    rel = runs_prefix(asset, partition_key, partition_value)
    return [name[len("run="):] for name in store.list_dirs(rel) if name.startswith("run=") and valid_name(name[len("run="):], RUN_ID_PATTERN)]


def write_summary(store, backfill_id, summary):
    return store.write_bytes(summary_path(backfill_id), serialize(summary))


def read_summary(store, backfill_id):
    data = store.read_bytes(summary_path(backfill_id))
    if data is None:
        return None
    try:
        document = json.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise ManifestError("manifest_invalid", "%s is not JSON (%s); pass a new -e backfill_id." % (store.uri(summary_path(backfill_id)), exc))
    if not isinstance(document, dict) or document.get("schema_version") != SUMMARY_SCHEMA_VERSION:
        raise ManifestError("manifest_invalid", "%s is not a %s document; pass a new -e backfill_id." % (
            store.uri(summary_path(backfill_id)), SUMMARY_SCHEMA_VERSION))
    return document

# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Receipts: the audit record every phase of every runbook writes, success or not.

``RECEIPT_V1_SCHEMA`` is the one definition of ``receipt.v1``; ``schemas/receipt.v1.schema.json``
in the repository is generated from it (``make schemas``) for people and other tools, and the tests
check that the two agree. ``validate`` implements the small subset of JSON Schema the schema uses,
so modules validate receipts on hosts that have no jsonschema library.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os
import tempfile

from ansible_collections.signalcraft.ops.plugins.module_utils.core import schema
from ansible_collections.signalcraft.ops.plugins.module_utils.core.redaction import Redactor

RECEIPT_SCHEMA_VERSION = "receipt.v1"
STATUSES = ("success", "failed", "skipped")
_TIMESTAMP = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$"
_TOKEN = r"^[a-z0-9][a-z0-9_.-]*$"

RECEIPT_V1_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://signalcraft.invalid/schemas/receipt.v1.schema.json",
    "title": "signalcraft.ops receipt.v1",
    "description": "One phase of one runbook execution. Inputs and outputs are redacted before writing.",
    "type": "object",
    "additionalProperties": False,
    "required": [
        "schema_version", "execution_id", "operation", "phase", "status", "skip_reason", "failure_code",
        "message", "attempts", "changed", "started_at", "finished_at", "duration_s", "inputs", "outputs", "producer",
    ],
    "properties": {
        "schema_version": {"type": "string", "enum": [RECEIPT_SCHEMA_VERSION]},
        "execution_id": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"},
        "operation": {"type": "string", "pattern": _TOKEN},
        "phase": {"type": "string", "pattern": _TOKEN},
        "status": {"type": "string", "enum": list(STATUSES)},
        "skip_reason": {"type": ["string", "null"]},
        "failure_code": {"type": ["string", "null"]},
        "message": {"type": ["string", "null"]},
        "attempts": {"type": "integer", "minimum": 0},
        "changed": {"type": "boolean"},
        "started_at": {"type": "string", "pattern": _TIMESTAMP},
        "finished_at": {"type": "string", "pattern": _TIMESTAMP},
        "duration_s": {"type": "number", "minimum": 0},
        "inputs": {"type": "object"},
        "outputs": {"type": "object"},
        "producer": {
            "type": "object",
            "additionalProperties": False,
            "required": ["collection", "version", "module"],
            "properties": {
                "collection": {"type": "string"},
                "version": {"type": "string"},
                "module": {"type": "string"},
            },
        },
    },
    # Conditional rules the subset validator below also enforces.
    "allOf": [
        {"if": {"properties": {"status": {"const": "skipped"}}},
         "then": {"properties": {"skip_reason": {"type": "string", "minLength": 1}}}},
        {"if": {"properties": {"status": {"const": "failed"}}},
         "then": {"properties": {"failure_code": {"type": "string", "minLength": 1}}}},
    ],
}

COLLECTION_NAME = "signalcraft.ops"
COLLECTION_VERSION = "0.1.0"


class ReceiptError(ValueError):
    """A receipt does not match receipt.v1; the message lists every problem."""


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def format_timestamp(moment):
    """ISO 8601 UTC with a trailing Z, millisecond precision."""
    moment = moment.astimezone(datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (moment.microsecond // 1000)


def parse_timestamp(text):
    return datetime.datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z") if "." in text else \
        datetime.datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S%z")


def validate(receipt):
    """Raise ReceiptError listing every way ``receipt`` differs from receipt.v1."""
    problems = schema.problems_of(receipt, RECEIPT_V1_SCHEMA, "receipt")
    if problems:
        raise ReceiptError("invalid %s: %s" % (RECEIPT_SCHEMA_VERSION, "; ".join(problems)))
    return receipt


def execution_id(given, prefix, started):
    """The execution id receipts are filed under: the one given, else ``<prefix>-<UTC start, compact>``."""
    return given or "%s-%s" % (prefix, started.strftime("%Y%m%dT%H%M%SZ"))


def build(operation, phase, status, execution_id, started_at, finished_at=None, inputs=None, outputs=None,
          failure_code=None, skip_reason=None, message=None, attempts=1, changed=False, module="receipt",
          secret_values=None):
    """Assemble, redact and validate a receipt.v1 document.

    ``started_at``/``finished_at`` are datetimes or receipt timestamps; inputs and outputs are
    redacted here (secret-looking names and the listed ``secret_values``), so a caller cannot forget.
    """
    started = parse_timestamp(started_at) if isinstance(started_at, str) else started_at
    finished = finished_at or utc_now()
    finished = parse_timestamp(finished) if isinstance(finished, str) else finished
    redactor = Redactor(secret_values)
    receipt = {
        "schema_version": RECEIPT_SCHEMA_VERSION,
        "execution_id": execution_id,
        "operation": operation,
        "phase": phase,
        "status": status,
        "skip_reason": skip_reason if status == "skipped" else None,
        "failure_code": failure_code if status == "failed" else None,
        "message": redactor.redact(message) if message is not None else None,
        "attempts": int(attempts if status != "skipped" else 0),
        "changed": bool(changed),
        "started_at": format_timestamp(started),
        "finished_at": format_timestamp(finished),
        "duration_s": round(max(0.0, (finished - started).total_seconds()), 3),
        "inputs": redactor.redact(inputs or {}),
        "outputs": redactor.redact(outputs or {}),
        "producer": {"collection": COLLECTION_NAME, "version": COLLECTION_VERSION, "module": module},
    }
    return validate(receipt)


def serialize(receipt):
    """Canonical bytes: sorted keys, two-space indent, trailing newline."""
    return (json.dumps(receipt, indent=2, sort_keys=True) + "\n").encode("utf-8")


def write_atomic(path, data, mode=0o600):
    """Write bytes to ``path`` so readers see the old file or the new one, never a torn one."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, tmp_path = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(handle, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)
        raise
    return path


def write_if_changed(path, data, mode=0o600):
    """Atomically write ``data`` unless ``path`` already holds exactly it; True when written.

    A rerun that records the same receipt or summary leaves the file (and its mtime) alone, so a
    second run can honestly report nothing written.
    """
    if os.path.exists(path):
        with open(path, "rb") as handle:
            if handle.read() == data:
                return False
    write_atomic(path, data, mode)
    return True


def receipt_filename(receipt):
    return "%s.json" % receipt["phase"]


def write(receipt, receipt_dir, filename=None):
    """Validate and atomically write ``receipt`` to ``<receipt_dir>/<filename or phase.json>``."""
    validate(receipt)
    return write_atomic(os.path.join(receipt_dir, filename or receipt_filename(receipt)), serialize(receipt))


def s3_key(prefix, receipt):
    """``<prefix>/<execution_id>/<phase>.json`` -- the orchestrator's receipt layout."""
    parts = [p for p in ((prefix or "").strip("/"), receipt["execution_id"], receipt_filename(receipt)) if p]
    return "/".join(parts)


def load(path):
    with open(path, "rb") as handle:
        return validate(json.loads(handle.read().decode("utf-8")))

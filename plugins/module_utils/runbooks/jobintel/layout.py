# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The jobintel run layout in the artifact bucket: the one place for its paths and document names.

Under the configured prefix (``jobintel_prefix``)::

    runs/<run_id>/                          the run, immutable once published
    runs/<run_id>/<provider>/<profile>/     one provider/profile's outputs
    latest/<provider>/<profile>/            a copy of the newest successful run's outputs
    state/last_success.json                 pointer.v1 -> runs/<run_id>/            (provider, profile null)
    state/<provider>/<profile>/last_success.json  pointer.v1 -> runs/<run_id>/<provider>/<profile>/
    outbox/<run_id>/                        where an ECS task leaves a run for publishing

A run holds ``run_summary.v1.json``, ``run_health.v1.json`` and
``artifacts/provider_availability_v1.json``. The ECS task is told its bucket and prefix through
``JOBINTEL_S3_BUCKET`` and ``JOBINTEL_S3_PREFIX``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import re

from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError
from ansible_collections.signalcraft.ops.plugins.module_utils.services import s3 as s3_helpers
from ansible_collections.signalcraft.ops.plugins.module_utils.services.aws import error_code

RUNS, LATEST, STATE, OUTBOX = "runs", "latest", "state", "outbox"
POINTER_NAME = "last_success.json"
RUN_SUMMARY = "run_summary.v1.json"
RUN_HEALTH = "run_health.v1.json"
PROVIDER_AVAILABILITY = "artifacts/provider_availability_v1.json"
# Files a jobintel task writes under <prefix>/outbox/<run_id>/ (the failure playbook reads them in this order).
RUN_ARTIFACTS = (RUN_HEALTH, RUN_SUMMARY, PROVIDER_AVAILABILITY)
# Where each source keeps its runs, relative to the prefix; published runs win over the outbox copy.
SOURCE_DIRS = (("published", RUNS), ("outbox", OUTBOX))
BUCKET_ENV, PREFIX_ENV = "JOBINTEL_S3_BUCKET", "JOBINTEL_S3_PREFIX"
# What reading run_health.v1.json may meet and still report "no health document".
_UNREADABLE_HEALTH = ("NoSuchKey", "404", "NotFound", "AccessDenied", "403", "NoSuchBucket")

# A run id is one path component of the layout (runs/<run_id>/): no '/', nothing that could escape it.
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
# A run id that begins with its UTC start time (20260301T060000Z, 20260301T060000Z-retry) orders by it.
_RUN_ID_TIME = re.compile(r"^(\d{8}T\d{6}Z)")

join = s3_helpers.join_key


def valid_run_id(run_id):
    """Whether ``run_id`` can name a run directory: letters, digits, '_', '.', ':', '-', starting alphanumeric, at most 128."""
    return isinstance(run_id, str) and bool(_RUN_ID.match(run_id))


def run_id_time(run_id):
    """The UTC time a run id begins with (``YYYYMMDDTHHMMSSZ...``), or None (``manual-1``, not a string)."""
    match = _RUN_ID_TIME.match(run_id) if isinstance(run_id, str) else None
    if not match:
        return None
    try:
        return datetime.datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def run_prefix(prefix, run_id):
    """``<prefix>/runs/<run_id>/``."""
    return join(prefix, RUNS, run_id) + "/"


def pair_run_prefix(prefix, run_id, provider, profile):
    """``<prefix>/runs/<run_id>/<provider>/<profile>/``."""
    return join(prefix, RUNS, run_id, provider, profile) + "/"


def latest_prefix(prefix, provider, profile):
    """``<prefix>/latest/<provider>/<profile>/``."""
    return join(prefix, LATEST, provider, profile) + "/"


def outbox_prefix(prefix, run_id):
    """``<prefix>/outbox/<run_id>/``."""
    return join(prefix, OUTBOX, run_id) + "/"


def pointer_key(prefix, provider=None, profile=None):
    """``<prefix>/state/last_success.json`` or ``<prefix>/state/<provider>/<profile>/last_success.json``."""
    if provider and profile:
        return join(prefix, STATE, provider, profile, POINTER_NAME)
    return join(prefix, STATE, POINTER_NAME)


def source_dir(source):
    """``runs`` for ``published``, ``outbox`` for ``outbox``."""
    return dict(SOURCE_DIRS)[source]


def source_prefix(prefix, source):
    """``<prefix>/runs/`` or ``<prefix>/outbox/``: where one source's run ids are the next level."""
    return join(prefix, source_dir(source)) + "/"


def run_base(prefix, source, run_id):
    """``<prefix>/runs/<run_id>/`` (published) or ``<prefix>/outbox/<run_id>/``."""
    return join(prefix, source_dir(source), run_id) + "/"


def artifact_location(environment, run_id):
    """``{"bucket", "prefix", "uri", "paths"}`` where an ECS task with ``environment`` writes this run, or None."""
    bucket = environment.get(BUCKET_ENV)
    if not bucket:
        return None
    prefix = outbox_prefix(environment.get(PREFIX_ENV, ""), run_id)
    return {"bucket": bucket, "prefix": prefix, "uri": s3_helpers.format_uri(bucket, prefix),
            "paths": [s3_helpers.format_uri(bucket, prefix + name) for name in RUN_ARTIFACTS]}


def require_new_run(s3, location, run_id):
    """Refuse a run id whose outbox already holds a run: a second task would overwrite its artifacts."""
    if not location:
        return
    if not s3_helpers.exists(s3, location["bucket"], location["prefix"] + RUN_SUMMARY):
        return
    raise GuardError("run_id_exists", "run_id %r already has artifacts at %s; give a new -e run_id (or none, to generate one) "
                                      "instead of overwriting a finished run." % (run_id, location["uri"]))


def read_run_health(s3, location):
    """``run_health.v1.json`` of a run (failed_stage, failure_codes, status), or None when absent."""
    if not location:
        return None
    try:
        body = s3.get_object(Bucket=location["bucket"], Key=location["prefix"] + RUN_HEALTH)["Body"].read()
    except Exception as exc:  # botocore ClientError
        if error_code(exc) in _UNREADABLE_HEALTH:
            return None
        raise
    try:
        document = json.loads(body.decode("utf-8"))
    except ValueError:
        return {"status": "unreadable", "failed_stage": None, "failure_codes": []}
    return {"status": document.get("status"), "failed_stage": document.get("failed_stage"),
            "failure_codes": list(document.get("failure_codes") or []), "run_id": document.get("run_id")}

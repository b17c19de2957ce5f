# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build provenance of a run: git sha, image digest and the ECS task that produced it.

Pointers carry ``provenance: {git_sha, image_digest, ecs_task_arn}``. Each value comes from the
first source that has it: an explicit override, the run's own ``run_summary.v1.json`` (written by
the task that ran), then the ECS task metadata endpoint v4 of the task this code runs in
(``$ECS_CONTAINER_METADATA_URI_V4/task``, set by the ECS agent inside every task). Outside ECS
there is no metadata endpoint and nothing is guessed: a value nobody knows stays null.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible.module_utils.urls import open_url

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError

PROVENANCE_FIELDS = ("git_sha", "image_digest", "ecs_task_arn")
METADATA_ENV = "ECS_CONTAINER_METADATA_URI_V4"
_DIGEST_IN_REF = re.compile(r"@(sha256:[0-9a-f]{64})$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class ProvenanceError(OpsError):
    """The task metadata endpoint was given but could not be read; ``reason`` is a registered token."""

    def __init__(self, message, reason="task_metadata_unavailable", details=None):
        super(ProvenanceError, self).__init__(reason, message, details=details)


def image_digest(image_ref):
    """``sha256:<hex>`` from ``repo@sha256:<hex>`` or a bare digest; None for a tag-only reference."""
    if not image_ref or not isinstance(image_ref, str):
        return None
    if _DIGEST.match(image_ref):
        return image_ref
    match = _DIGEST_IN_REF.search(image_ref)
    return match.group(1) if match else None


def fetch_task_metadata(base_uri, timeout=3.0, opener=None):
    """GET ``<base_uri>/task`` (ECS task metadata v4) and return the parsed document."""
    url = base_uri.rstrip("/") + "/task"
    try:
        # The ECS agent's endpoint is plain HTTP on a link-local address; no proxy may sit in between.
        response = (opener or open_url)(url, headers={"Accept": "application/json"}, timeout=timeout, use_proxy=False)
        try:
            document = json.loads(response.read().decode("utf-8"))
        finally:
            response.close()
    except Exception as exc:  # pylint: disable=broad-except  # any failure means "could not read it"
        raise ProvenanceError("cannot read ECS task metadata from %s: %s" % (url, exc))
    if not isinstance(document, dict):
        raise ProvenanceError("ECS task metadata at %s is not a JSON object." % url)
    return document


def from_task_metadata(document, container_name=None):
    """``{"ecs_task_arn", "image_digest", "cluster"}`` from a task metadata v4 document.

    The image digest is taken from the essential container's image reference when it is
    digest-pinned, else from its ``ImageID``. Containers ECS adds itself (``Type`` other than
    ``NORMAL``, e.g. the ``CNI_PAUSE`` container of an awsvpc task on EC2) are never chosen.
    """
    containers = document.get("Containers") or []
    chosen = None
    for container in containers:
        if container.get("Type", "NORMAL") != "NORMAL":
            continue
        if container_name and container.get("Name") != container_name:
            continue
        chosen = container
        break
    digest = None
    if chosen:
        digest = image_digest(chosen.get("Image")) or image_digest(chosen.get("ImageID"))
    return {"ecs_task_arn": document.get("TaskARN"), "image_digest": digest, "cluster": document.get("Cluster")}


def resolve(overrides=None, run_summary=None, metadata_uri=None, fetch=fetch_task_metadata):
    """The provenance dict and, per field, where it came from (override, run_summary, task_metadata, unknown).

    The metadata endpoint is only called when a field is still unknown after the overrides and the
    run summary, so a publish outside ECS makes no network call at all.
    """
    overrides = overrides or {}
    summary = run_summary or {}
    from_summary = {
        "git_sha": summary.get("git_sha"),
        "image_digest": image_digest(summary.get("image")) or image_digest(summary.get("image_digest")),
        "ecs_task_arn": summary.get("ecs_task_arn"),
    }
    values, sources = {}, {}
    for name in PROVENANCE_FIELDS:
        if overrides.get(name):
            values[name], sources[name] = overrides[name], "override"
        elif from_summary.get(name):
            values[name], sources[name] = from_summary[name], "run_summary"
        else:
            values[name], sources[name] = None, "unknown"
    missing = [n for n in ("image_digest", "ecs_task_arn") if values[n] is None]
    if missing and metadata_uri:
        metadata = from_task_metadata(fetch(metadata_uri))
        # The endpoint describes the task this code runs in. When the run names another task (e.g. an
        # Ansible controller in ECS publishing a task it started), that task's image is not the run's.
        same_task = values["ecs_task_arn"] is None or values["ecs_task_arn"] == metadata.get("ecs_task_arn")
        for name in missing if same_task else []:
            if metadata.get(name):
                values[name], sources[name] = metadata[name], "task_metadata"
    if values["image_digest"] and not _DIGEST.match(values["image_digest"]):
        raise ValueError("image_digest %r is not sha256:<64 hex>; pass the digest, not a tag." % values["image_digest"])
    return values, sources


def line_fields(pointer_document):
    """The status line fields ``run_id=... [provider=... profile=...] git_sha=... image_digest=... ecs_task_arn=...``
    (``none`` for unknown: a status line field is a token)."""
    prov = pointer_document.get("provenance") or {}
    fields = [("run_id", pointer_document.get("run_id") or "none")]
    if pointer_document.get("provider"):
        fields += [("provider", pointer_document.get("provider")), ("profile", pointer_document.get("profile"))]
    fields.extend((name, prov.get(name) or "none") for name in PROVENANCE_FIELDS)
    return fields


def token_line(pointer_document):
    """``provenance status=ok run_id=... git_sha=... image_digest=... ecs_task_arn=...`` (``none`` for unknown)."""
    return "provenance status=ok " + " ".join("%s=%s" % field for field in line_fields(pointer_document))

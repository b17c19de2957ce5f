# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Promotion in batch mode: DR scheduling resumed, and, by compare-and-swap on one pointer, the DR publish pointers canonical.

Promote does not cut DNS or switch traffic. It moves ``<prefix>/dr/canonical.json`` (pointers.py, If-Match)
to a document naming the drill run, the image, the control-plane bundle and who approved it (or that the
gate was bypassed in a rehearsal), and resumes the CronJobs the restore suspended (scheduling.py), unless a
rehearsal keeps them suspended: a promoted DR that runs nothing would leave no daily job running anywhere.
Promoting the same run again with the same approval changes nothing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.signalcraft.ops.plugins.module_utils.services import pointers
from ansible_collections.signalcraft.ops.plugins.module_utils.services import k8s
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.dr import scheduling
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError

CANONICAL_SCHEMA_VERSION = "dr_canonical.v1"


def canonical_document(run_id, approval, image_ref=None, bundle_uri=None, bundle_sha256=None, publish_prefix=None, promoted_at=None):
    """The pointer's value. ``approval`` is ``{"mode": manual|bypass, "approver", "ticket", "execution_arn"}``."""
    if approval.get("mode") == "manual" and not (approval.get("approver") and approval.get("ticket")):
        raise GuardError("approval_incomplete", "a manual promotion needs the approver and the ticket from the gate.")
    if approval.get("mode") not in ("manual", "bypass"):
        raise GuardError("approval_incomplete", "approval mode %r is neither manual nor bypass." % approval.get("mode"))
    return {
        "schema_version": CANONICAL_SCHEMA_VERSION,
        "canonical": "dr",
        "run_id": run_id,
        "publish_prefix": publish_prefix,
        "image_ref": image_ref,
        "bundle_uri": bundle_uri,
        "bundle_sha256": bundle_sha256,
        "approval": {k: approval.get(k) for k in ("mode", "approver", "ticket", "execution_arn")},
        "promoted_at": promoted_at,
    }


def promote(s3, bucket, key, document, check_mode=False):
    """Move the pointer by compare-and-swap. ``promoted_at`` is kept when the same run is promoted the same way again.

    Returns ``{"changed", "previous", "document", "etag", "version_id"}``.
    """
    def update(current):
        if current and all(current.get(k) == document.get(k) for k in document if k != "promoted_at"):
            return current
        return document

    if check_mode:
        current = pointers.read_pointer(s3, bucket, key)
        desired = update(current["document"] if current else None)
        return {"changed": current is None or current["document"] != desired, "previous": current["document"] if current else None,
                "document": desired, "etag": None, "version_id": None}
    moved = pointers.move_pointer(s3, bucket, key, update)
    current = pointers.read_pointer(s3, bucket, key)
    return {"changed": moved["changed"], "previous": moved["previous"], "document": current["document"],
            "etag": moved["etag"], "version_id": moved.get("version_id")}


def resume_scheduling(dyn, namespace, plan, keep_suspended=False, dry_run=False):
    """Resume the CronJobs ``plan`` (scheduling.plan_resume) names, unless ``keep_suspended``; ``dry_run`` is ``dryRun=All``.

    Returns ``{"scheduling": resumed|would_resume|running|kept_suspended|none, "resumed": [names], "cronjobs": [{"name",
    "action", "suspend"}]}`` -- what the receipt and the status line record.
    """
    rows = [{"name": n, "action": "running", "suspend": False} for n in plan["running"]]
    rows += [{"name": n, "action": "left_suspended", "suspend": True} for n in plan["left"]]
    resumed = []
    if keep_suspended:
        rows += [{"name": n, "action": "kept_suspended", "suspend": True} for n in plan["resume"]]
        state = "kept_suspended"
    else:
        try:
            patched = scheduling.set_suspend(dyn, namespace, plan["resume"], False, dry_run=dry_run)
        # pylint: disable-next=catching-non-exception  # a tuple of exception classes pylint cannot infer
        except k8s.K8S_ERRORS as exc:
            raise k8s.to_ops_error(exc, action="resuming the CronJobs %s in namespace %s" % (",".join(plan["resume"]), namespace))
        rows += [{"name": r["name"], "action": "would_resume" if dry_run else "resumed", "suspend": r["suspend_after"]} for r in patched]
        resumed = [r["name"] for r in patched]
        state = ("would_resume" if dry_run else "resumed") if resumed else ("running" if plan["running"] else "none")
    return {"scheduling": state, "resumed": resumed, "cronjobs": sorted(rows, key=lambda r: r["name"])}

# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""DR scheduling: restore leaves every CronJob suspended, promote resumes the ones restore suspended.

Why: a restored DR namespace must not start publishing before an operator promotes it, and after a
promotion it must run (else no daily job runs anywhere). Restore marks every CronJob it restores (and so
leaves suspended) with the annotation SUSPENDED_BY -- a backup's own ``suspend: true`` is the primary's
backup convention, not a sign the primary had it paused -- so promote resumes exactly the restored
CronJobs and leaves any other CronJob of the namespace alone. Failback freezes DR scheduling with the
same patch (suspend=true).

``enable_triggers`` is not about CronJobs: it is the orchestrator's EventBridge schedule and alarm switch.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.signalcraft.ops.plugins.module_utils.services import k8s

SUSPENDED_BY = "signalcraft.io/suspended-by"
RESTORE_MARK = "dr-restore"
# Its own field manager: the patch is an Update of spec.suspend only, never an apply that could prune.
FIELD_MANAGER = "signalcraft.ops-dr-scheduling"


def suspend_for_restore(cronjob):
    """Suspend a CronJob manifest about to be restored (in place) and mark it as left suspended by the restore."""
    cronjob.setdefault("metadata", {}).setdefault("annotations", {})[SUSPENDED_BY] = RESTORE_MARK
    cronjob.setdefault("spec", {})["suspend"] = True
    return cronjob


def plan_resume(cronjobs):
    """Which CronJobs promote resumes. Pure.

    ``cronjobs`` are CronJob objects of the namespace. Returns ``{"resume": [...], "running": [...], "left": [...]}``:
    suspended and restored (to resume), already running, and suspended but not restored by a DR restore (left alone).
    """
    plan = {"resume": [], "running": [], "left": []}
    for cronjob in sorted(cronjobs, key=lambda c: c["metadata"]["name"]):
        name = cronjob["metadata"]["name"]
        annotations = cronjob["metadata"].get("annotations") or {}
        if not (cronjob.get("spec") or {}).get("suspend"):
            plan["running"].append(name)
        elif annotations.get(SUSPENDED_BY) == RESTORE_MARK:
            plan["resume"].append(name)
        else:
            plan["left"].append(name)
    return plan


def list_cronjobs(dyn, namespace):
    """Every CronJob in ``namespace`` as dicts."""
    resource = dyn.resources.get(api_version="batch/v1", kind="CronJob")
    return [item.to_dict() for item in resource.get(namespace=namespace).items]


def set_suspend(dyn, namespace, names, suspend, dry_run=False):
    """Patch ``spec.suspend`` of each named CronJob (a merge patch, ``dryRun=All`` in check mode).

    Returns ``[{"name", "suspend_before", "suspend_after", "changed"}]`` as the server answered.
    """
    resource = dyn.resources.get(api_version="batch/v1", kind="CronJob")
    results = []
    for name in names:
        before = k8s.get_object(dyn, "batch/v1", "CronJob", name, namespace)
        kwargs = {"body": {"spec": {"suspend": bool(suspend)}}, "name": name, "namespace": namespace,
                  "content_type": "application/merge-patch+json", "field_manager": FIELD_MANAGER}
        if dry_run:
            kwargs["dry_run"] = "All"
        after = resource.patch(**kwargs).to_dict()
        was, now = bool(((before or {}).get("spec") or {}).get("suspend")), bool((after.get("spec") or {}).get("suspend"))
        results.append({"name": name, "suspend_before": was, "suspend_after": now, "changed": was != now})
    return results


def freeze_for_restore(dyn, namespace, manifests, dry_run=False):
    """Suspend (by this module's patch) each live CronJob a restore is about to re-apply while it runs.

    After a promotion this module's manager owns ``spec.suspend=false``; restore's apply of ``suspend=true``
    would then be a field-manager conflict (409). Suspending first with the same manager that resumed it makes
    the apply agree on the value, so a restore over a promoted namespace leaves it suspended, as every restore
    does. Returns the names frozen (would be, with ``dry_run``: the caller forces the dry-run apply of those,
    since the dry-run patch is not persisted).
    """
    names = [m["metadata"]["name"] for m in manifests if m.get("kind") == "CronJob"]
    live = [c for c in list_cronjobs(dyn, namespace) if c["metadata"]["name"] in names and not (c.get("spec") or {}).get("suspend")]
    frozen = [c["metadata"]["name"] for c in live]
    set_suspend(dyn, namespace, frozen, True, dry_run=dry_run)
    return frozen

# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the DR phases need to be allowed to do in a cluster, derived from the phases a plan runs.

The guards ask the cluster (SelfSubjectAccessReview) for exactly these before any phase runs, so a
kubeconfig whose identity lacks one is refused with ``k8s_forbidden`` before bringup starts a runner
or restore writes anything. Each entry mirrors a request the phase's modules make (restore.py,
pull_secret.py, k8s_job.py, cronjobs.py); change one together with the other. Pure: no cluster here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The kinds a namespace restore applies by default (the backup's workloads, the bundle's ConfigMaps, the
# pull secret and its ServiceAccount); a backup with other kinds names them through ``restore_kinds``.
DEFAULT_RESTORE_KINDS = (("", "configmaps"), ("", "secrets"), ("", "serviceaccounts"), ("apps", "deployments"), ("batch", "cronjobs"))
# Server-side apply reads the object first and patches it; an apply that creates it also needs create.
_APPLY_VERBS = ("get", "create", "patch")


def _entry(phase, verb, group, resource, namespace=None, subresource=None):
    entry = {"phase": phase, "verb": verb, "group": group, "resource": resource}
    if namespace:
        entry["namespace"] = namespace
    if subresource:
        entry["subresource"] = subresource
    return entry


def requirements(phases, namespace, namespace_exists=True, keep_suspended=False, restore_kinds=DEFAULT_RESTORE_KINDS):
    """``[{"phase", "verb", "group", "resource", "namespace"?, "subresource"?}]`` for the phases that run, without duplicates.

    ``phases`` are the planned phases that run (bringup and teardown need nothing of the cluster).
    ``namespace_exists``: restore creates a missing namespace (cluster scope create/patch), else only reads it.
    ``keep_suspended``: promote (a rehearsal) leaves the CronJobs suspended and needs no CronJob access.
    """
    wanted = []
    if "restore" in phases:
        wanted.append(_entry("restore", "get", "", "namespaces"))
        if not namespace_exists:
            wanted += [_entry("restore", verb, "", "namespaces") for verb in ("create", "patch")]
        for group, resource in restore_kinds:
            wanted += [_entry("restore", verb, group, resource, namespace) for verb in _APPLY_VERBS]
        # A CronJob a promotion resumed is suspended again before the apply (scheduling.freeze_for_restore).
        wanted.append(_entry("restore", "list", "batch", "cronjobs", namespace))
    if "validate" in phases:
        # The Job is created, watched and replaced; its pods and their log read; the pull secret refreshed before a retry.
        wanted += [_entry("validate", verb, "batch", "jobs", namespace) for verb in ("get", "create", "delete")]
        wanted += [_entry("validate", verb, "", "pods", namespace) for verb in ("get", "list")]
        wanted.append(_entry("validate", "get", "", "pods", namespace, subresource="log"))
        wanted += [_entry("validate", verb, "", "secrets", namespace) for verb in _APPLY_VERBS]
        wanted += [_entry("validate", verb, "", "serviceaccounts", namespace) for verb in ("get", "patch")]
    if "promote" in phases and not keep_suspended:
        wanted += [_entry("promote", verb, "batch", "cronjobs", namespace) for verb in ("list", "patch")]
    # The failback's steps (runbooks/dr/failback.py): freeze suspends every DR CronJob and watches the DR Jobs (a
    # refusal resumes the CronJobs it froze); primary resumes the primary's CronJobs. Each is asked of its own cluster.
    if "freeze" in phases:
        wanted += [_entry("freeze", verb, "batch", "cronjobs", namespace) for verb in ("list", "patch")]
        wanted.append(_entry("freeze", "list", "batch", "jobs", namespace))
    if "primary" in phases:
        wanted += [_entry("primary", verb, "batch", "cronjobs", namespace) for verb in ("list", "patch")]
    seen, unique = set(), []
    for entry in wanted:
        key = (entry["verb"], entry["group"], entry["resource"], entry.get("subresource"), entry.get("namespace"))
        if key not in seen:
            seen.add(key)
            unique.append(entry)
    return unique

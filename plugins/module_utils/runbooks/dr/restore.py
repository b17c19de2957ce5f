# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restoring objects into one namespace: ensure it, apply a validated list, gate on what must exist.

Everything goes through k8s.py (server-side apply, ``dryRun=All`` in check mode). A list is
resolved and checked completely (kinds known to the server, namespaced) before the first write, so
a bad manifest in the middle of a backup never leaves half a namespace behind.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.signalcraft.ops.plugins.module_utils.services import k8s
from ansible_collections.signalcraft.ops.plugins.module_utils.core.guards import GuardError, validate_k8s_name
from ansible_collections.signalcraft.ops.plugins.module_utils.core.redaction import REDACTED

_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _label(manifest):
    return "%s/%s" % (manifest.get("kind"), manifest.get("metadata", {}).get("name"))


def ensure_namespace(dyn, name, dry_run=False, labels=None):
    """Create the namespace when missing (an existing one is left alone). ``{"changed", "existed"}``.

    A namespace being deleted (``Terminating``) refuses every create with 403 until it is gone, so a
    restore into it would fail half-way: GuardError ``namespace_terminating`` before any write.
    """
    validate_k8s_name(name, kind="namespace", label=True)
    current = k8s.get_object(dyn, "v1", "Namespace", name)
    if current is not None:
        if (current.get("metadata") or {}).get("deletionTimestamp") or (current.get("status") or {}).get("phase") == "Terminating":
            raise GuardError("namespace_terminating", "namespace %s is being deleted (Terminating); wait until it is gone "
                                                      "(kubectl get namespace %s) or restore into another namespace. Nothing was applied."
                             % (name, name))
        return {"changed": False, "existed": True}
    manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    if labels:
        manifest["metadata"]["labels"] = dict(labels)
    k8s.apply(dyn, manifest, dry_run=dry_run)
    return {"changed": True, "existed": False}


def resolve(dyn, manifests, namespace):
    """Check every manifest against discovery before anything is applied; GuardError otherwise."""
    for manifest in manifests:
        try:
            resource = k8s.resource_for(dyn, manifest)
        except Exception as exc:  # kubernetes.dynamic ResourceNotFoundError
            raise GuardError("unknown_kind", "%s (%s) is not served by the cluster: %s. Nothing was applied." % (
                _label(manifest), manifest.get("apiVersion"), exc))
        if not resource.namespaced:
            raise GuardError("cluster_scoped_object", "%s is cluster-scoped; a namespace restore applies only namespaced objects "
                                                      "(remove it from the backup). Nothing was applied." % _label(manifest))
        validate_k8s_name(manifest["metadata"]["name"], kind=manifest.get("kind", "object"))
        if manifest["metadata"].get("namespace") != namespace:
            raise GuardError("namespace_mismatch", "%s targets namespace %r, not %r." % (
                _label(manifest), manifest["metadata"].get("namespace"), namespace))


def masked(obj, before=None):
    """``obj`` for a diff or a result: a Secret's values (and kubectl's last-applied copy of them) are masked.

    With ``before``, a key whose value differs from it is marked so that a diff still says what changed.
    """
    if not isinstance(obj, dict) or obj.get("kind") != "Secret":
        return obj
    result = copy.deepcopy(obj)
    for field in ("data", "stringData"):
        if isinstance(result.get(field), dict):
            old = (before or {}).get(field) or {}
            result[field] = dict((key, REDACTED if before is None or old.get(key) == value else REDACTED + " (changed)")
                                 for key, value in result[field].items())
    annotations = (result.get("metadata") or {}).get("annotations") or {}
    if _LAST_APPLIED in annotations:
        annotations[_LAST_APPLIED] = REDACTED
    return result


def apply_all(dyn, manifests, namespace, dry_run=False, namespace_exists=True, force=False, field_manager=k8s.FIELD_MANAGER, forced=()):
    """Server-side apply each manifest in order; ``[{"kind", "name", "changed", "diff"}]``.

    ``forced`` names ``(kind, name)`` pairs applied with ``force`` whatever ``force`` says.

    In check mode for a namespace that does not exist yet the server cannot dry-run namespaced
    objects (it answers 404), so each is reported as a would-be creation instead.
    """
    resolve(dyn, manifests, namespace)
    results = []
    for manifest in manifests:
        entry = {"kind": manifest["kind"], "api_version": manifest["apiVersion"], "name": manifest["metadata"]["name"]}
        if dry_run and not namespace_exists:
            entry.update(changed=True, diff={"before": None, "after": masked(manifest)})
        else:
            outcome = k8s.apply(dyn, manifest, field_manager=field_manager, force=force or (manifest["kind"], manifest["metadata"]["name"]) in forced,
                                dry_run=dry_run)
            # A restored Secret's values never reach the result, the diff or -v output.
            entry.update(changed=outcome["changed"], diff={"before": masked(outcome["before"]),
                                                           "after": masked(outcome["after"], outcome["before"] or {})})
        results.append(entry)
    return results


def require_object(dyn, api_version, kind, name, namespace):
    """The restore gate: GuardError ``restore_gate_failed`` unless the object exists."""
    found = k8s.get_object(dyn, api_version, kind, name, namespace)
    if found is None:
        raise GuardError("restore_gate_failed", "%s.%s/%s does not exist in namespace %s after the restore; the backup's "
                                                "manifests.tar.zst must contain it." % (
                                                    kind.lower(), api_version.split("/")[0] if "/" in api_version else "core",
                                                    name, namespace))
    return found

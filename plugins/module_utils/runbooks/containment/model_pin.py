# -*- coding: utf-8 -*-
# Copyright: signalcraft.ops contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pin the previous detector model (runbook 003: "pin previous model version by setting
DETECTOR_MODEL_VERSION in SSM Parameter Store and redeploy workers").

The workers take ``DETECTOR_MODEL_VERSION`` from an SSM ``String`` parameter: their task definition's
container lists it under ``secrets`` (``valueFrom`` = the parameter's name or ARN), and ECS resolves
secrets when it starts a task. A task keeps the value it started with, so a new value reaches the
workers only through new tasks: a new deployment of the service (UpdateService with
``forceNewDeployment``, the deploy role's ``ecs_service_update``), which the role runs after the pin.

Which version is "previous": the value of the newest history version before the current one whose
value differs from the current value (or an explicit version, which must be a value the parameter has
held). The version a pin writes gets the label ``containment-pinned``, so a second run sees the pin in
place instead of stepping back once more. A rollback removes that label again: at Parameter Store's
100-version limit a labelled oldest version blocks every new version (ParameterMaxVersionLimitExceeded),
so a label is never left behind on purpose.

A redeploy is needed when the pin wrote, or when no deployment of the service started after the
parameter last changed (the running tasks may predate the value) -- so a run that pinned but failed
to redeploy redeploys when rerun, and a run after a finished redeploy does nothing.

``plan_*`` and ``redeploy_needed`` are pure; ``apply``/``apply_rollback`` write.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.signalcraft.ops.plugins.module_utils.core.errors import OpsError
from ansible_collections.signalcraft.ops.plugins.module_utils.runbooks.containment import rollback
from ansible_collections.signalcraft.ops.plugins.module_utils.services import ssm as ssm_service

PHASE = "model_pin"
PIN_LABEL = "containment-pinned"
ENV_NAME = "DETECTOR_MODEL_VERSION"


def previous_value(history, current):
    """The newest history entry before ``current`` whose value differs from it; ``no_previous_model_version`` otherwise."""
    for entry in sorted(history, key=lambda e: e["version"], reverse=True):
        if entry["version"] < current["version"] and entry["value"] != current["value"]:
            return entry
    raise OpsError("no_previous_model_version", "SSM parameter %r has held no other value than %r in its stored history (%d "
                   "versions); pass the model version to pin: -e containment_model_version=<version>."
                   % (current["name"], current["value"], len(history)))


def plan_apply(current, history, version=None, label=PIN_LABEL):
    """``{"action", "changed", "value", "source", "before", "after"}``: what to pin and whether it is already pinned.

    ``source`` says where the value came from: ``explicit``, ``history`` (the previous value, version N)
    or ``pinned`` (the current version carries ``label``: an earlier run pinned it; nothing to do).
    """
    values = [e["value"] for e in history]
    # GetParameter returns no labels; the history entry of the current version has them.
    labels = next((e["labels"] for e in history if e["version"] == current["version"]), current.get("labels") or [])
    if version:
        if version not in values:
            raise OpsError("model_version_unknown", "model version %r is not a value SSM parameter %r has held (its history: %s); "
                           "pin a version the workers have run before, or omit containment_model_version to pin the previous one."
                           % (version, current["name"], ", ".join(sorted(set(values))) or "empty"))
        value, source = version, {"kind": "explicit"}
    elif label in labels:
        value, source = current["value"], {"kind": "pinned", "version": current["version"]}
    else:
        entry = previous_value(history, current)
        value, source = entry["value"], {"kind": "history", "version": entry["version"]}
    return {"action": rollback.APPLY, "changed": value != current["value"], "value": value, "source": source,
            "before": {"value": current["value"], "version": current["version"]}, "after": {"value": value}}


def plan_rollback(current, history, recorded, label=PIN_LABEL):
    """Re-pin the value that was current before the recorded pin, and take the pin's label off its version."""
    decision = rollback.decide(current["value"], recorded["previous_value"], recorded["value"],
                               "SSM parameter %s" % current["name"])
    # Only the label that run put on (a run that found the pin in place labelled nothing).
    pinned_version = recorded.get("labelled_version")
    unlabel = [e["version"] for e in history if pinned_version is not None and e["version"] == pinned_version and label in e["labels"]]
    return {"action": rollback.ROLLBACK, "changed": decision == "restore" or bool(unlabel), "write": decision == "restore",
            "value": recorded["previous_value"], "unlabel_version": unlabel[0] if unlabel else None,
            "before": {"value": current["value"], "version": current["version"]}, "after": {"value": recorded["previous_value"]}}


def primary_created_at(service):
    """``createdAt`` of the service's PRIMARY deployment (a datetime from boto3), or None."""
    for deployment in service.get("deployments") or []:
        if deployment.get("status") == "PRIMARY":
            return deployment.get("createdAt")
    return None


def redeploy_needed(wrote, parameter_last_modified, service):
    """Whether the workers need a new deployment to run the parameter's value (see the module docstring)."""
    if wrote:
        return True
    created = primary_created_at(service)
    if created is None or parameter_last_modified is None:
        return True
    return created < parameter_last_modified


def reads_parameter(task_definition, name):
    """The containers whose ``secrets`` take a variable from the parameter: ``[(container, variable)]``."""
    found = []
    for container in task_definition.get("containerDefinitions") or []:
        for secret in container.get("secrets") or []:
            if ssm_service.references(secret.get("valueFrom"), name):
                found.append((container.get("name"), secret.get("name")))
    return found


# -- doing -------------------------------------------------------------------------------------

def apply(ssm, current, plan, label=PIN_LABEL):
    """Write the pinned value (a new version), read it back and label that version; the parameter as written."""
    written = ssm_service.put_and_read_back(ssm, current, plan["value"])
    try:
        ssm_service.label_version(ssm, current["name"], written["version"], label)
    except OpsError as exc:
        exc.changed_so_far = True
        raise
    return dict(written, labels=[label])


def apply_rollback(ssm, current, plan, label=PIN_LABEL):
    """Write the previous value back (when the pin is still in place) and remove the pin's label."""
    after = current
    if plan["write"]:
        after = ssm_service.put_and_read_back(ssm, current, plan["value"])
    if plan["unlabel_version"] is not None:
        ssm_service.unlabel_version(ssm, current["name"], plan["unlabel_version"], label)
    return after
